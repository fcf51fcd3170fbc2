//! ubi: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `ubi` format.
pub struct Ubi;

static UBI_INFO: FormatInfo = FormatInfo {
    id: "ubi",
    description: "ubi (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for Ubi {
    fn info(&self) -> &'static FormatInfo {
        &UBI_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("ubi reader not written yet".into()))
    }
}
