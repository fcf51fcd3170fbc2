//! xz streams (concatenated streams allowed), decoded in pure Rust with a dictionary ceiling.

use std::io::Read;

use super::codec::{unpack_stream, xz_reader};
use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked};

/// The xz format.
pub struct Xz;

const MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

static INFO: FormatInfo = FormatInfo {
    id: "xz",
    description: "xz stream",
    access: Access::Stream,
    magics: &[Magic {
        offset: 0,
        bytes: MAGIC,
    }],
    codec: true,
};

impl Format for Xz {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        // Magic, then stream flags (first byte zero, check type < 16) and their CRC32.
        head.len() >= 12
            && head.starts_with(MAGIC)
            && head[6] == 0
            && head[7] < 0x10
            && crc32fast::hash(&head[6..8]).to_le_bytes() == head[8..12]
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        unpack_stream(
            input,
            ctx,
            sink,
            &[(".tar.xz", ".tar"), (".txz", ".tar"), (".xz", "")],
            |src, emit| {
                let mut d = xz_reader(src);
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
    fn decodes_an_xz_stream() {
        let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        w.write_all(&b"cgminer 3.12.0 ".repeat(100)).unwrap();
        let x = w.finish().unwrap();
        assert!(Xz.probe(&x, None));
        let (r, sink) = run_in_memory("xz", &x, 1 << 20);
        r.unwrap();
        assert_eq!(
            sink.file("fuzz.decompressed").unwrap(),
            b"cgminer 3.12.0 ".repeat(100)
        );
    }
}
