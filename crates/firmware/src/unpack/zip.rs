//! zip: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `zip` format.
pub struct Zip;

static ZIP_INFO: FormatInfo = FormatInfo {
    id: "zip",
    description: "zip (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for Zip {
    fn info(&self) -> &'static FormatInfo {
        &ZIP_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("zip reader not written yet".into()))
    }
}
