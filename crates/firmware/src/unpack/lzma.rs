//! Legacy `.lzma` ("LZMA alone") streams: no magic, so recognised at offset 0 only, from a
//! plausible properties byte, dictionary size and length.

use std::io::Read;

use super::codec::{lzma_reader, unpack_stream};
use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The lzma format.
pub struct Lzma;

static INFO: FormatInfo = FormatInfo {
    id: "lzma",
    description: "LZMA alone (.lzma), recognised at offset 0 only",
    access: Access::Stream,
    magics: &[],
    codec: true,
};

impl Format for Lzma {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], len: Option<u64>) -> bool {
        if head.len() < 14 || head[0] >= 9 * 5 * 5 {
            return false;
        }
        let dict = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let size = u64::from_le_bytes(head[5..13].try_into().unwrap_or([0; 8]));
        // Encoders write 2^n or 2^n + 2^(n-1) dictionaries between 4 KiB and 1.5 GiB.
        let dict_ok = (4096..=(3 << 29)).contains(&dict) && {
            let low = dict & dict.wrapping_neg();
            dict == low || dict == low * 3
        };
        let size_ok = size == u64::MAX || (size > 0 && size < (1 << 40));
        // The range coder's first byte is always zero.
        dict_ok && size_ok && head[13] == 0 && len.is_none_or(|l| l > 18)
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        unpack_stream(
            input,
            ctx,
            sink,
            &[(".tar.lzma", ".tar"), (".lzma", "")],
            |src, emit| {
                let mut d = lzma_reader(src)?;
                emit(&mut d as &mut dyn Read)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::unpack::run_in_memory;

    #[test]
    fn decodes_lzma_alone() {
        let opts = lzma_rust2::LzmaOptions::with_preset(1);
        let mut w = lzma_rust2::LzmaWriter::new_use_header(Vec::new(), &opts, None).unwrap();
        w.write_all(&b"uImage ".repeat(200)).unwrap();
        let x = w.finish().unwrap();
        assert!(Lzma.probe(&x, Some(x.len() as u64)));
        let (r, sink) = run_in_memory("lzma", &x, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("fuzz.decompressed").unwrap(), b"uImage ".repeat(200));
    }
}
