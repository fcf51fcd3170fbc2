//! zlib (RFC 1950) streams. The two-byte header is weak, so zlib is only recognised at the start
//! of a file, and only when the first bytes actually inflate.

use std::io::Read;

use flate2::bufread::ZlibDecoder;

use super::codec::unpack_stream;
use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Sink, Unpacked};

/// The zlib format.
pub struct Zlib;

static INFO: FormatInfo = FormatInfo {
    id: "zlib",
    description: "zlib stream (RFC 1950), recognised at offset 0 only",
    access: Access::Stream,
    magics: &[],
    codec: true,
};

impl Format for Zlib {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        if head.len() < 8 {
            return false;
        }
        let (cmf, flg) = (head[0], head[1]);
        let header_ok = cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
        if !header_ok || flg & 0x20 != 0 {
            return false;
        }
        // The header alone matches one pair in 31; demand that the start inflates.
        let mut out = [0u8; 1024];
        let mut d = flate2::Decompress::new(true);
        match d.decompress(head, &mut out, flate2::FlushDecompress::None) {
            Ok(_) => d.total_out() > 0 || d.total_in() as usize == head.len(),
            Err(_) => false,
        }
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        unpack_stream(input, ctx, sink, &[(".zlib", ""), (".z", "")], |src, emit| {
            let mut d = ZlibDecoder::new(src);
            emit(&mut d as &mut dyn Read)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::unpack::run_in_memory;

    #[test]
    fn inflates_and_probes_strictly() {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&b"bmminer.conf ".repeat(50)).unwrap();
        let z = e.finish().unwrap();
        assert!(Zlib.probe(&z, None));
        assert!(!Zlib.probe(b"\x78\x9cnot deflate data at all", None));
        let (r, sink) = run_in_memory("zlib", &z, 1 << 20);
        r.unwrap();
        assert_eq!(
            sink.file("fuzz.decompressed").unwrap(),
            b"bmminer.conf ".repeat(50)
        );
    }
}
