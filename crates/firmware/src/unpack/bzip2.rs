//! bzip2 streams (concatenated streams allowed), decoded by the pure-Rust libbz2 port.

use std::io::Read;

use super::codec::unpack_stream;
use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked};

/// The bzip2 format.
pub struct Bzip2;

static INFO: FormatInfo = FormatInfo {
    id: "bzip2",
    description: "bzip2 stream",
    access: Access::Stream,
    magics: &[Magic {
        offset: 0,
        bytes: b"BZh",
    }],
    codec: true,
};

impl Format for Bzip2 {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        // "BZh", block size digit, then a block header (pi) or the end-of-stream marker (sqrt pi).
        head.len() >= 10
            && head.starts_with(b"BZh")
            && (b'1'..=b'9').contains(&head[3])
            && (head[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
                || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        unpack_stream(
            input,
            ctx,
            sink,
            &[(".tar.bz2", ".tar"), (".tbz2", ".tar"), (".bz2", "")],
            |src, emit| {
                let mut d = bzip2::bufread::MultiBzDecoder::new(src);
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
    fn decodes_bzip2() {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(&b"lighttpd ".repeat(300)).unwrap();
        let b = e.finish().unwrap();
        assert!(Bzip2.probe(&b, None));
        let (r, sink) = run_in_memory("bzip2", &b, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("fuzz.decompressed").unwrap(), b"lighttpd ".repeat(300));
    }
}
