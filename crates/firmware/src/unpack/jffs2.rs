//! jffs2: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `jffs2` format.
pub struct Jffs2;

static JFFS2_INFO: FormatInfo = FormatInfo {
    id: "jffs2",
    description: "jffs2 (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for Jffs2 {
    fn info(&self) -> &'static FormatInfo {
        &JFFS2_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("jffs2 reader not written yet".into()))
    }
}
