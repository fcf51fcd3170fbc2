//! ext: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `ext` format.
pub struct Ext;

static EXT_INFO: FormatInfo = FormatInfo {
    id: "ext",
    description: "ext (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for Ext {
    fn info(&self) -> &'static FormatInfo {
        &EXT_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("ext reader not written yet".into()))
    }
}
