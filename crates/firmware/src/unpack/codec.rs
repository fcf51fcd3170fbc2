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
        Codec::Zlib => inflate(input, max_out, true),
        Codec::Deflate => inflate(input, max_out, false),
        Codec::Lzma => bounded(&mut lzma_reader(input)?),
        Codec::Xz => match simple_xz(input) {
            Some(x) => x.decode(input, max_out),
            None => bounded(&mut xz_reader(input)),
        },
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

thread_local! {
    /// One inflater per thread, reset between blocks: a new one costs a 40 KiB allocation and
    /// its initialisation, more than inflating a 4 KiB UBIFS or JFFS2 node.
    static INFLATER: std::cell::RefCell<Option<(flate2::Decompress, bool)>> =
        const { std::cell::RefCell::new(None) };
}

/// Inflate one zlib (`zlib`) or raw deflate block of at most `max_out` bytes. A block cut
/// short yields what it held, as a streaming decoder would; a corrupt one is an error.
fn inflate(input: &[u8], max_out: usize, zlib: bool) -> Result<Vec<u8>, FormatError> {
    use flate2::{Decompress, FlushDecompress, Status};
    INFLATER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match &mut *slot {
            Some((d, z)) if *z == zlib => {
                d.reset(zlib);
                d
            }
            other => &mut other.insert((Decompress::new(zlib), zlib)).0,
        };
        let mut out = Vec::with_capacity(max_out.min(1 << 20) + 1);
        loop {
            let consumed = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
            let rest = input.get(consumed..).unwrap_or_default();
            let before = (d.total_in(), out.len());
            let status = d
                .decompress_vec(rest, &mut out, FlushDecompress::Finish)
                .map_err(|e| FormatError::malformed(0, format!("corrupt deflate stream: {e}")))?;
            if out.len() > max_out {
                return Err(FormatError::malformed(
                    0,
                    format!(
                        "{} block inflates past {max_out} bytes",
                        if zlib { "Zlib" } else { "Deflate" }
                    ),
                ));
            }
            if status == Status::StreamEnd {
                return Ok(out);
            }
            if out.len() == out.capacity() {
                // Room for one byte past the bound, to tell "exactly max_out" from "more".
                out.reserve((out.capacity()).min(max_out + 1 - out.len()).max(1));
                continue;
            }
            if (d.total_in(), out.len()) == before {
                return Ok(out);
            }
        }
    })
}

/// The layout of an `.xz` stream of one block with one LZMA2 filter and a CRC32 or no check:
/// what `mksquashfs` writes for every block. Such a stream is decoded as raw LZMA2 and its
/// check computed with `crc32fast` (the general reader's byte-at-a-time CRC32 costs a tenth
/// of the decoding time).
struct SimpleXz {
    /// The LZMA2 data.
    data: std::ops::Range<usize>,
    dict_size: u32,
    /// Where the CRC32 is stored, if the stream has one.
    crc_at: Option<usize>,
    uncompressed: u64,
}

/// Parse `b` as a [`SimpleXz`]; `None` for anything else (the general reader takes it).
fn simple_xz(b: &[u8]) -> Option<SimpleXz> {
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..9 {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let crc = |r: std::ops::Range<usize>| Some(crc32fast::hash(b.get(r)?));
    let le32 = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    // Stream header (magic, flags with the check type, CRC32 of the flags) and footer: a
    // stream shorter than both is not one.
    let n = b.len();
    if n < 12 + 12 || &b[..6] != b"\xfd7zXZ\0" || b[6] != 0 || le32(8)? != crc(6..8)? {
        return None;
    }
    let check = b[7];
    let check_len = match check {
        0 => 0,
        1 => 4,
        _ => return None,
    };
    // Stream footer: CRC32, backward size, flags, "YZ".
    if &b[n - 2..] != b"YZ" || b[n - 4..n - 2] != b[6..8] || le32(n - 12)? != crc(n - 8..n - 2)? {
        return None;
    }
    let index_len = (u64::from(le32(n - 8)?) + 1) * 4;
    let index_at = n.checked_sub(12)?.checked_sub(usize::try_from(index_len).ok()?)?;
    // Index: indicator, one record (unpadded size, uncompressed size), padding, CRC32.
    let mut at = index_at;
    if *b.get(at)? != 0 {
        return None;
    }
    at += 1;
    if varint(b, &mut at)? != 1 {
        return None;
    }
    let unpadded = usize::try_from(varint(b, &mut at)?).ok()?;
    let uncompressed = varint(b, &mut at)?;
    let index_end = n - 12;
    if le32(index_end - 4)? != crc(index_at..index_end - 4)? {
        return None;
    }
    // Block header: size, flags, optional sizes, one filter (LZMA2, one property byte).
    let bh = 12;
    let header_len = (usize::from(*b.get(bh)?) + 1) * 4;
    if *b.get(bh)? == 0 || le32(bh + header_len - 4)? != crc(bh..bh + header_len - 4)? {
        return None;
    }
    let flags = *b.get(bh + 1)?;
    if flags & 0x3f != 0 {
        return None; // more than one filter, or reserved bits
    }
    let mut at = bh + 2;
    if flags & 0x40 != 0 {
        varint(b, &mut at)?;
    }
    if flags & 0x80 != 0 {
        varint(b, &mut at)?;
    }
    if varint(b, &mut at)? != 0x21 || varint(b, &mut at)? != 1 {
        return None;
    }
    let props = *b.get(at)?;
    if props > 40 {
        return None;
    }
    let dict_size = if props == 40 {
        u32::MAX
    } else {
        (2 | (u32::from(props) & 1)) << (props / 2 + 11)
    };
    // Block padding aligns the header and data to four bytes; the check follows.
    let data_start = bh + header_len;
    let data_end = bh.checked_add(unpadded)?.checked_sub(check_len)?;
    let check_at = data_end.div_ceil(4) * 4;
    if data_end <= data_start || check_at + check_len != index_at {
        return None;
    }
    Some(SimpleXz {
        data: data_start..data_end,
        dict_size,
        crc_at: (check_len == 4).then_some(check_at),
        uncompressed,
    })
}

impl SimpleXz {
    fn decode(&self, b: &[u8], max_out: usize) -> Result<Vec<u8>, FormatError> {
        if self.uncompressed > max_out as u64 {
            return Err(FormatError::malformed(
                0,
                format!("Xz block inflates past {max_out} bytes"),
            ));
        }
        let data = b.get(self.data.clone()).unwrap_or_default();
        let mut r = lzma_rust2::Lzma2Reader::new_mem_limit(data, self.dict_size, LZMA_MEM_LIMIT_KB, None)
            .map_err(|e| FormatError::malformed(0, format!("xz: {e}")))?;
        let mut out = Vec::with_capacity(self.uncompressed as usize);
        (&mut r).take(self.uncompressed + 1).read_to_end(&mut out)?;
        if out.len() as u64 != self.uncompressed {
            return Err(FormatError::malformed(
                0,
                format!(
                    "xz block holds {} bytes, its index says {}",
                    out.len(),
                    self.uncompressed
                ),
            ));
        }
        if let Some(at) = self.crc_at {
            let stored = b
                .get(at..at + 4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            if stored != Some(crc32fast::hash(&out)) {
                return Err(FormatError::malformed(0, "xz block fails its CRC32 check"));
            }
        }
        Ok(out)
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

    fn xz(data: &[u8], check: lzma_rust2::CheckType) -> Vec<u8> {
        let mut o = lzma_rust2::XzOptions::with_preset(1);
        o.set_check_sum_type(check);
        let mut w = lzma_rust2::XzWriter::new(Vec::new(), o).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn single_block_xz_takes_the_fast_path_and_is_checked() {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 997) as u8)
            .collect();
        for check in [lzma_rust2::CheckType::Crc32, lzma_rust2::CheckType::None] {
            let x = xz(&data, check);
            assert!(simple_xz(&x).is_some(), "{check:?}");
            assert_eq!(decompress(Codec::Xz, &x, data.len()).unwrap(), data);
            assert!(decompress(Codec::Xz, &x, data.len() - 1).is_err());
        }
        // A flipped byte in the data is caught by the CRC32 or by the decoder.
        let mut x = xz(&data, lzma_rust2::CheckType::Crc32);
        let mid = x.len() / 2;
        x[mid] ^= 0x40;
        assert!(decompress(Codec::Xz, &x, data.len()).is_err());
        // A wrong stored CRC32 is caught by the fast path itself.
        let mut x = xz(&data, lzma_rust2::CheckType::Crc32);
        let s = simple_xz(&x).unwrap();
        let at = s.crc_at.unwrap();
        x[at] ^= 1;
        assert!(simple_xz(&x).is_some());
        assert!(decompress(Codec::Xz, &x, data.len()).is_err());
        // Other checks go to the general reader, which still decodes them.
        let x = xz(&data, lzma_rust2::CheckType::Crc64);
        assert!(simple_xz(&x).is_none());
        assert_eq!(decompress(Codec::Xz, &x, data.len()).unwrap(), data);
        // Truncations never panic, including a bare magic and every length around the
        // header and footer sizes.
        let x = xz(&data, lzma_rust2::CheckType::Crc32);
        for n in (0..40).chain((40..x.len()).step_by(97)) {
            let _ = decompress(Codec::Xz, &x[..n], data.len());
            let _ = simple_xz(&x[..n]);
        }
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
