//! uimage: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `uimage` format.
pub struct UImage;

static UIMAGE_INFO: FormatInfo = FormatInfo {
    id: "uimage",
    description: "uimage (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for UImage {
    fn info(&self) -> &'static FormatInfo {
        &UIMAGE_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("uimage reader not written yet".into()))
    }
}
