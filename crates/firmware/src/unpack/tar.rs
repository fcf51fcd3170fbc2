//! tar: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `tar` format.
pub struct Tar;

static TAR_INFO: FormatInfo = FormatInfo {
    id: "tar",
    description: "tar (not yet implemented)",
    access: Access::Stream,
    magics: &[],
    codec: false,
};

impl Format for Tar {
    fn info(&self) -> &'static FormatInfo {
        &TAR_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("tar reader not written yet".into()))
    }
}
