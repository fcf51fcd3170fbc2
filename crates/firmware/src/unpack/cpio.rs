//! cpio: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `cpio` format.
pub struct Cpio;

static CPIO_INFO: FormatInfo = FormatInfo {
    id: "cpio",
    description: "cpio (not yet implemented)",
    access: Access::Stream,
    magics: &[],
    codec: false,
};

impl Format for Cpio {
    fn info(&self) -> &'static FormatInfo {
        &CPIO_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("cpio reader not written yet".into()))
    }
}
