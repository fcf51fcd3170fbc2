//! LZ4 frame format (the `.lz4` container; squashfs's raw LZ4 blocks are in `codec`).

use std::io::Read;

use super::codec::unpack_stream;
use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked};

/// The lz4 frame format.
pub struct Lz4;

const MAGIC: &[u8] = &[0x04, 0x22, 0x4d, 0x18];

static INFO: FormatInfo = FormatInfo {
    id: "lz4",
    description: "LZ4 frame",
    access: Access::Stream,
    magics: &[Magic {
        offset: 0,
        bytes: MAGIC,
    }],
    codec: true,
};

impl Format for Lz4 {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        // FLG: version 01 in the top two bits, reserved bit 1 clear; BD: only bits 4-6 used.
        head.len() >= 7
            && head.starts_with(MAGIC)
            && head[4] >> 6 == 1
            && head[4] & 0x02 == 0
            && head[5] & 0x8f == 0
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        unpack_stream(
            input,
            ctx,
            sink,
            &[(".tar.lz4", ".tar"), (".lz4", "")],
            |src, emit| {
                let mut d = lz4_flex::frame::FrameDecoder::new(src);
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
    fn decodes_lz4_frames() {
        let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
        e.write_all(&b"dropbear ".repeat(400)).unwrap();
        let z = e.finish().unwrap();
        assert!(Lz4.probe(&z, None));
        let (r, sink) = run_in_memory("lz4", &z, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("fuzz.decompressed").unwrap(), b"dropbear ".repeat(400));
    }
}
