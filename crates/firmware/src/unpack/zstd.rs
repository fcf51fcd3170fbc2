//! zstd frames, decoded by ruzstd with a bounded window.

use std::io::Read;

use super::codec::{unpack_stream, zstd_reader};
use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked};

/// The zstd format.
pub struct Zstd;

const MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

static INFO: FormatInfo = FormatInfo {
    id: "zstd",
    description: "zstd frame",
    access: Access::Stream,
    magics: &[Magic {
        offset: 0,
        bytes: MAGIC,
    }],
    codec: true,
};

impl Format for Zstd {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        // Frame header descriptor: reserved bit 3 must be clear.
        head.len() >= 6 && head.starts_with(MAGIC) && head[4] & 0x08 == 0
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        unpack_stream(
            input,
            ctx,
            sink,
            &[(".tar.zst", ".tar"), (".zst", ""), (".zstd", "")],
            |src, emit| {
                let mut d = zstd_reader(src)?;
                emit(&mut d as &mut dyn Read)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::run_in_memory;

    #[test]
    fn decodes_zstd() {
        let data = b"stratum+tcp://stratum.antpool.com:3333 ".repeat(50);
        let z = ruzstd::encoding::compress_to_vec(&data[..], ruzstd::encoding::CompressionLevel::Fastest);
        assert!(Zstd.probe(&z, None));
        let (r, sink) = run_in_memory("zstd", &z, 1 << 20);
        r.unwrap();
        assert_eq!(sink.file("fuzz.decompressed").unwrap(), data);
    }
}
