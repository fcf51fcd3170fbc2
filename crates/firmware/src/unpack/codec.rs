//! Decompressors, wrapped with memory bounds: streams for codec formats, blocks for filesystems.
//!
//! All pure Rust. Dictionary-based decoders get a memory ceiling so that a header declaring a
//! 4 GiB dictionary is refused instead of allocated.

use std::io::{self, BufRead, Read};

use super::FormatError;

/// Memory ceiling for LZMA/XZ dictionaries, in KiB (128 MiB).
pub const LZMA_MEM_LIMIT_KB: u32 = 128 << 10;
/// Largest zstd window accepted.
pub const ZSTD_MAX_WINDOW: u64 = 128 << 20;

/// Block compressions used inside filesystems (squashfs, UBIFS, JFFS2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Stored.
    None,
    /// zlib (RFC 1950) around deflate.
    Zlib,
    /// Raw deflate (RFC 1951).
    Deflate,
    /// Legacy `.lzma` ("LZMA alone": props, dictionary, size, then data).
    Lzma,
    /// `.xz`.
    Xz,
    /// LZO1X.
    Lzo,
    /// LZ4 block format (no frame).
    Lz4,
    /// zstd frame.
    Zstd,
}

/// Decompress one block of at most `max_out` bytes.
pub fn decompress(codec: Codec, input: &[u8], max_out: usize) -> Result<Vec<u8>, FormatError> {
    let bounded = |r: &mut dyn Read| -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::with_capacity(max_out.min(1 << 20));
        r.take(max_out as u64 + 1).read_to_end(&mut out)?;
        if out.len() > max_out {
            return Err(FormatError::malformed(
                0,
                format!("{codec:?} block inflates past {max_out} bytes"),
            ));
        }
        Ok(out)
    };
    match codec {
        Codec::None => {
            if input.len() > max_out {
                return Err(FormatError::malformed(0, "stored block larger than allowed"));
            }
            Ok(input.to_vec())
        }
        Codec::Zlib => bounded(&mut flate2::read::ZlibDecoder::new(input)),
        Codec::Deflate => bounded(&mut flate2::read::DeflateDecoder::new(input)),
        Codec::Lzma => bounded(&mut lzma_reader(input)?),
        Codec::Xz => bounded(&mut xz_reader(input)),
        Codec::Zstd => bounded(&mut zstd_reader(input)?),
        Codec::Lzo => {
            lzo::decompress(input, max_out).map_err(|e| FormatError::malformed(0, format!("lzo: {e:?}")))
        }
        Codec::Lz4 => {
            let mut out = vec![0u8; max_out];
            let n = lz4_flex::block::decompress_into(input, &mut out)
                .map_err(|e| FormatError::malformed(0, format!("lz4: {e}")))?;
            out.truncate(n);
            Ok(out)
        }
    }
}

/// A `.lzma` ("alone") decoder with the memory ceiling.
pub fn lzma_reader<R: Read>(r: R) -> Result<lzma_rust2::LzmaReader<R>, FormatError> {
    lzma_rust2::LzmaReader::new_mem_limit(r, LZMA_MEM_LIMIT_KB, None)
        .map_err(|e| FormatError::malformed(0, format!("lzma header: {e}")))
}

/// An `.xz` decoder (several concatenated streams allowed) with the memory ceiling.
pub fn xz_reader<R: Read>(r: R) -> lzma_rust2::XzReader<R> {
    lzma_rust2::XzReader::new_mem_limit(r, true, LZMA_MEM_LIMIT_KB)
}

/// A zstd decoder with a bounded window.
pub fn zstd_reader<R: Read>(r: R) -> Result<impl Read, FormatError> {
    ruzstd::decoding::StreamingDecoder::new_with_max_window_size(r, ZSTD_MAX_WINDOW)
        .map_err(|e| FormatError::malformed(0, format!("zstd frame: {e}")))
}

/// Reads a `BufRead` but never more than `limit` bytes, remembering how many it consumed;
/// lets a codec report its stream length for carving.
pub struct Consumed<'a> {
    inner: &'a mut dyn BufRead,
    used: u64,
}

impl<'a> Consumed<'a> {
    /// Wrap a reader.
    pub fn new(inner: &'a mut dyn BufRead) -> Consumed<'a> {
        Consumed { inner, used: 0 }
    }
    /// Bytes consumed so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}

impl Read for Consumed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.used += n as u64;
        Ok(n)
    }
}

impl BufRead for Consumed<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.used += amt as u64;
        self.inner.consume(amt);
    }
}

/// The name a codec gives its output: the input name without the codec's suffix, or with
/// `.decompressed` appended when there is none.
pub fn output_name(input: &str, suffixes: &[(&str, &str)]) -> String {
    let lower = input.to_ascii_lowercase();
    for (suffix, replacement) in suffixes {
        if lower.len() > suffix.len() && lower.ends_with(suffix) {
            return format!("{}{}", &input[..input.len() - suffix.len()], replacement);
        }
    }
    format!("{input}.decompressed")
}

/// Run a stream codec format: open `input` as a `BufRead`, wrap it with `decoder`, and hand
/// the single decoded stream to the sink under the derived name. Reports the bytes consumed.
pub(crate) fn unpack_stream<F>(
    input: super::Input<'_>,
    ctx: &super::Ctx<'_>,
    sink: &mut dyn super::Sink,
    suffixes: &[(&str, &str)],
    decoder: F,
) -> Result<super::Unpacked, FormatError>
where
    F: FnOnce(
        &mut Consumed<'_>,
        &mut dyn FnMut(&mut dyn Read) -> Result<(), FormatError>,
    ) -> Result<(), FormatError>,
{
    let mut blob_reader;
    let src: &mut dyn BufRead = match input {
        super::Input::Stream(s) => s,
        super::Input::Blob(b) => {
            blob_reader = b.reader();
            &mut blob_reader
        }
    };
    let mut counted = Consumed::new(src);
    let name = output_name(ctx.name, suffixes);
    decoder(&mut counted, &mut |r: &mut dyn Read| {
        sink.entry(super::file(name.as_bytes(), r, Some(0)))
    })?;
    Ok(super::Unpacked {
        consumed: Some(counted.used()),
        details: serde_json::Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn blocks_round_trip_and_are_bounded() {
        let data = b"antminer ".repeat(1000);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        let zc = z.finish().unwrap();
        assert_eq!(decompress(Codec::Zlib, &zc, data.len()).unwrap(), data);
        assert!(decompress(Codec::Zlib, &zc, data.len() - 1).is_err());
        let l4 = lz4_flex::block::compress(&data);
        assert_eq!(decompress(Codec::Lz4, &l4, 1 << 20).unwrap(), data);
        assert!(decompress(Codec::Lz4, &l4, 100).is_err());
        assert!(decompress(Codec::Lzo, b"\x00\x01garbage", 1000).is_err());
        assert!(decompress(Codec::Xz, b"garbage", 1000).is_err());
    }

    #[test]
    fn huge_lzma_dictionaries_are_refused() {
        // props 0x5d, dictionary 0xFFFFFFFF, unknown size.
        let hdr = [
            0x5d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(lzma_reader(&hdr[..]).is_err());
    }

    #[test]
    fn output_names() {
        let s = [(".tar.gz", ".tar"), (".tgz", ".tar"), (".gz", "")];
        assert_eq!(output_name("fw.tar.gz", &s), "fw.tar");
        assert_eq!(output_name("minerfs.image.gz", &s), "minerfs.image");
        assert_eq!(output_name("x.TGZ", &s), "x.tar");
        assert_eq!(output_name("blob", &s), "blob.decompressed");
        assert_eq!(output_name(".gz", &s), ".gz.decompressed");
    }
}
