//! bmu: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `bmu-merge` format.
pub struct BmuMerge;

static BMUMERGE_INFO: FormatInfo = FormatInfo {
    id: "bmu-merge",
    description: "bmu-merge (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for BmuMerge {
    fn info(&self) -> &'static FormatInfo {
        &BMUMERGE_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("bmu-merge reader not written yet".into()))
    }
}

/// The `bmu` format.
pub struct BmuSingle;

static BMUSINGLE_INFO: FormatInfo = FormatInfo {
    id: "bmu",
    description: "bmu (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for BmuSingle {
    fn info(&self) -> &'static FormatInfo {
        &BMUSINGLE_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("bmu reader not written yet".into()))
    }
}
