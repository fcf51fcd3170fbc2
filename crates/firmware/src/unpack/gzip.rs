//! gzip (RFC 1952), including concatenated members; trailing data after the last member is left
//! for the carver rather than treated as an error.

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

use super::codec::{Consumed, unpack_stream};
use super::{Access, Ctx, Format, FormatError, FormatInfo, Input, Magic, Sink, Unpacked};

/// The gzip format.
pub struct Gzip;

static INFO: FormatInfo = FormatInfo {
    id: "gzip",
    description: "gzip stream (RFC 1952), concatenated members",
    access: Access::Stream,
    magics: &[Magic {
        offset: 0,
        bytes: &[0x1f, 0x8b, 0x08],
    }],
    codec: true,
};

const SUFFIXES: &[(&str, &str)] = &[(".tar.gz", ".tar"), (".tgz", ".tar"), (".gz", ""), (".gzip", "")];

/// Whether `h` starts a plausible gzip member header.
pub(crate) fn is_member(h: &[u8]) -> bool {
    // Magic, deflate, reserved flag bits clear, a known extra-flags value.
    h.len() >= 10 && h[..3] == [0x1f, 0x8b, 0x08] && h[3] & 0xe0 == 0 && matches!(h[8], 0 | 2 | 4)
}

impl Format for Gzip {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn probe(&self, head: &[u8], _len: Option<u64>) -> bool {
        is_member(head)
    }

    fn unpack(&self, input: Input<'_>, ctx: &Ctx<'_>, sink: &mut dyn Sink) -> Result<Unpacked, FormatError> {
        unpack_stream(input, ctx, sink, SUFFIXES, |src, emit| {
            let mut members = Members {
                src: Some(src),
                cur: None,
            };
            emit(&mut members)
        })
    }
}

/// Decodes gzip members one after another while the next bytes start a member.
struct Members<'a, 'b> {
    src: Option<&'b mut Consumed<'a>>,
    cur: Option<GzDecoder<&'b mut Consumed<'a>>>,
}

impl Read for Members<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(dec) = self.cur.as_mut() {
                let n = dec.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                // Member finished: look for another.
                if let Some(dec) = self.cur.take() {
                    self.src = Some(dec.into_inner());
                }
            }
            let Some(src) = self.src.take() else { return Ok(0) };
            let head = src.fill_buf()?;
            if head.is_empty()
                || (head.len() >= 10 && !is_member(head))
                || (head.len() < 10 && head[0] != 0x1f)
            {
                self.src = Some(src);
                return Ok(0);
            }
            self.cur = Some(GzDecoder::new(src));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::unpack::run_in_memory;

    pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn members_concatenate_and_trailing_data_is_left() {
        let mut img = gz(b"hello ");
        img.extend(gz(b"world"));
        let stream_len = img.len() as u64;
        img.extend(b"TRAILING GARBAGE THAT IS NOT GZIP");
        let (r, sink) = run_in_memory("gzip", &img, 1 << 20);
        let r = r.unwrap();
        assert_eq!(sink.file("fuzz.decompressed").unwrap(), b"hello world");
        assert_eq!(r.consumed, Some(stream_len));
    }

    #[test]
    fn truncated_stream_is_an_error_with_partial_output() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let img = gz(&data);
        let (r, _) = run_in_memory("gzip", &img[..img.len() / 2], 1 << 30);
        assert!(r.is_err());
    }

    #[test]
    fn probe_wants_a_real_header() {
        assert!(Gzip.probe(&gz(b"x"), None));
        assert!(!Gzip.probe(&[0x1f, 0x8b, 0x08, 0xff, 0, 0, 0, 0, 0, 3], None));
        assert!(!Gzip.probe(&[0x1f, 0x8b], None));
    }
}
