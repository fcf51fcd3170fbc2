//! fit: placeholder until its reader lands (not registered as done).

use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The `fit` format.
pub struct Fit;

static FIT_INFO: FormatInfo = FormatInfo {
    id: "fit",
    description: "fit (not yet implemented)",
    access: Access::Random,
    magics: &[],
    codec: false,
};

impl Format for Fit {
    fn info(&self) -> &'static FormatInfo {
        &FIT_INFO
    }
    fn probe(&self, _head: &[u8], _len: Option<u64>) -> bool {
        false
    }
    fn unpack(&self, _input: Input<'_>, _ctx: &Ctx<'_>, _sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        Err(FormatError::Unsupported("fit reader not written yet".into()))
    }
}
