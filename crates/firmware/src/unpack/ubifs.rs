//! ubifs: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `ubifs` format.
pub struct Ubifs;

static UBIFS_INFO: FormatInfo = FormatInfo {
    id: "ubifs",
    description: "ubifs (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for Ubifs {
    fn info(&self) -> &'static FormatInfo {
        &UBIFS_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("ubifs reader not written yet".into()))
    }
}
