//! squashfs: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `squashfs` format.
pub struct Squashfs;

static SQUASHFS_INFO: FormatInfo = FormatInfo {
    id: "squashfs",
    description: "squashfs (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for Squashfs {
    fn info(&self) -> &'static FormatInfo {
        &SQUASHFS_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("squashfs reader not written yet".into()))
    }
}
