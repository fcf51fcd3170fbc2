//! Random access to a container's bytes without holding them in memory.
//!
//! A [`Blob`] is a window onto a file (read with positional reads) or onto bytes in memory (tests
//! and fuzzing). Slicing is free and bounds-checked, so a format can hand out a component of its
//! input as a child without copying it.

use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::FormatError;

#[derive(Debug)]
enum Source {
    File(File),
    Memory(Vec<u8>),
}

/// A bounded window of bytes with random access.
#[derive(Debug, Clone)]
pub struct Blob {
    src: Arc<Source>,
    start: u64,
    len: u64,
}

/// Largest single buffer a format may ask [`Blob::read_vec`] for. Formats with larger
/// structures read them piecewise.
pub const MAX_READ_VEC: u64 = 64 << 20;

impl Blob {
    /// The whole of an open file.
    pub fn from_file(file: File) -> io::Result<Blob> {
        let len = file.metadata()?.len();
        Ok(Blob {
            src: Arc::new(Source::File(file)),
            start: 0,
            len,
        })
    }

    /// Bytes in memory.
    pub fn from_vec(bytes: Vec<u8>) -> Blob {
        let len = bytes.len() as u64;
        Blob {
            src: Arc::new(Source::Memory(bytes)),
            start: 0,
            len,
        }
    }

    /// Length of the window.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where this window starts inside the original source (for evidence offsets).
    pub fn origin(&self) -> u64 {
        self.start
    }

    /// The sub-window `[offset, offset + len)`; an error if it does not fit.
    pub fn slice(&self, offset: u64, len: u64) -> Result<Blob, FormatError> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| FormatError::malformed(offset, "range overflows"))?;
        if end > self.len {
            return Err(FormatError::Truncated {
                offset,
                needed: end - self.len,
            });
        }
        Ok(Blob {
            src: self.src.clone(),
            start: self.start + offset,
            len,
        })
    }

    /// The window from `offset` to the end.
    pub fn slice_from(&self, offset: u64) -> Result<Blob, FormatError> {
        if offset > self.len {
            return Err(FormatError::Truncated {
                offset,
                needed: offset - self.len,
            });
        }
        self.slice(offset, self.len - offset)
    }

    /// Fill `buf` from `offset`; an error if the window ends first.
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), FormatError> {
        let want = buf.len() as u64;
        let end = offset
            .checked_add(want)
            .ok_or_else(|| FormatError::malformed(offset, "range overflows"))?;
        if end > self.len {
            return Err(FormatError::Truncated {
                offset,
                needed: end - self.len,
            });
        }
        match &*self.src {
            Source::File(f) => f.read_exact_at(buf, self.start + offset).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    FormatError::Truncated { offset, needed: want }
                } else {
                    FormatError::Io(e)
                }
            }),
            Source::Memory(v) => {
                let s = (self.start + offset) as usize;
                buf.copy_from_slice(&v[s..s + buf.len()]);
                Ok(())
            }
        }
    }

    /// Read up to `buf.len()` bytes at `offset`; returns how many (0 at the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, FormatError> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.len - offset) as usize;
        self.read_exact_at(offset, &mut buf[..n])?;
        Ok(n)
    }

    /// `len` bytes at `offset` as a vector. `len` must not exceed [`MAX_READ_VEC`].
    pub fn read_vec(&self, offset: u64, len: u64) -> Result<Vec<u8>, FormatError> {
        if len > MAX_READ_VEC {
            return Err(FormatError::structure(format!(
                "read of {len} bytes at {offset:#x}"
            )));
        }
        let mut v = vec![0; len as usize];
        self.read_exact_at(offset, &mut v)?;
        Ok(v)
    }

    /// Up to `n` bytes from the start (fewer if the window is shorter).
    pub fn head(&self, n: usize) -> Result<Vec<u8>, FormatError> {
        let n = (n as u64).min(self.len);
        self.read_vec(0, n)
    }

    /// A buffered reader over the window (implements `Read`, `BufRead` and `Seek`).
    pub fn reader(&self) -> BlobReader {
        BlobReader {
            blob: self.clone(),
            pos: 0,
            buf: Vec::new(),
            buf_pos: 0,
        }
    }
}

/// Sequential reader over a [`Blob`], with its own 64 KiB buffer.
#[derive(Debug)]
pub struct BlobReader {
    blob: Blob,
    /// Position of the next byte not yet in `buf`.
    pos: u64,
    buf: Vec<u8>,
    buf_pos: usize,
}

impl BlobReader {
    /// Bytes consumed so far (what the caller has read, not what was buffered).
    pub fn position(&self) -> u64 {
        self.pos - (self.buf.len() - self.buf_pos) as u64
    }
}

const READER_BUF: usize = 64 << 10;

impl BufRead for BlobReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buf_pos >= self.buf.len() {
            let n = (READER_BUF as u64).min(self.blob.len.saturating_sub(self.pos)) as usize;
            self.buf.resize(n, 0);
            self.blob
                .read_exact_at(self.pos, &mut self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()))?;
            self.pos += n as u64;
            self.buf_pos = 0;
        }
        Ok(&self.buf[self.buf_pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.buf_pos = (self.buf_pos + amt).min(self.buf.len());
    }
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // Large reads bypass the buffer.
        if self.buf_pos >= self.buf.len() && out.len() >= READER_BUF {
            let n = self
                .blob
                .read_at(self.pos, out)
                .map_err(|e| io::Error::other(e.to_string()))?;
            self.pos += n as u64;
            return Ok(n);
        }
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let cur = self.position() as i128;
        let target: i128 = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => self.blob.len as i128 + d as i128,
            SeekFrom::Current(d) => cur + d as i128,
        };
        if target < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before start"));
        }
        let target = target as u64;
        self.pos = target;
        self.buf.clear();
        self.buf_pos = 0;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_bounds_checked() {
        let b = Blob::from_vec((0u8..100).collect());
        let s = b.slice(10, 20).unwrap();
        assert_eq!(s.len(), 20);
        assert_eq!(s.origin(), 10);
        let mut buf = [0u8; 5];
        s.read_exact_at(15, &mut buf).unwrap();
        assert_eq!(buf, [25, 26, 27, 28, 29]);
        assert!(s.read_exact_at(16, &mut buf).is_err());
        assert!(b.slice(90, 20).is_err());
        assert!(b.slice(u64::MAX, 2).is_err());
        assert!(b.read_vec(0, MAX_READ_VEC + 1).is_err());
    }

    #[test]
    fn reader_reads_and_seeks() {
        let b = Blob::from_vec((0u8..=255).cycle().take(200_000).collect());
        let mut r = b.slice(1, 150_000).unwrap().reader();
        let mut first = [0u8; 3];
        r.read_exact(&mut first).unwrap();
        assert_eq!(first, [1, 2, 3]);
        assert_eq!(r.position(), 3);
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 150_000 - 3);
        r.seek(SeekFrom::Start(255)).unwrap();
        let mut one = [0u8];
        r.read_exact(&mut one).unwrap();
        assert_eq!(one[0], 0);
    }

    #[test]
    fn file_blobs_use_positional_reads() {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, b"hello world").unwrap();
        let b = Blob::from_file(f).unwrap();
        assert_eq!(b.slice(6, 5).unwrap().head(100).unwrap(), b"world");
    }
}
