//! The bounds every unpacking run works within, and the readers that enforce them.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{LimitHit, LimitKind};

/// Bounds for one run. Reaching one stops the branch it happened in (finding FW-100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes written for the whole image.
    pub max_total_bytes: u64,
    /// Bytes of any one extracted file.
    pub max_file_bytes: u64,
    /// Output over input for one codec or container, checked once the output passes `ratio_floor`.
    pub max_ratio: u64,
    /// Output below which the ratio is not checked (small files compress extremely well).
    pub ratio_floor: u64,
    /// Container nesting depth.
    pub max_depth: u32,
    /// Entries (files, directories, links) over the whole run.
    pub max_entries: u64,
    /// Wall-clock time for the whole run.
    pub max_time: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_total_bytes: 16 << 30,
            max_file_bytes: 2 << 30,
            max_ratio: 200,
            ratio_floor: 64 << 20,
            max_depth: 16,
            max_entries: 500_000,
            max_time: Duration::from_secs(30 * 60),
        }
    }
}

impl Limits {
    /// The error for the time limit, if `started` is too long ago.
    pub fn check_time(&self, started: Instant) -> Result<(), LimitHit> {
        if started.elapsed() > self.max_time {
            return Err(LimitHit {
                kind: LimitKind::Time,
                detail: format!("run exceeded {} s", self.max_time.as_secs()),
            });
        }
        Ok(())
    }
}

/// Counts the bytes read through it into a shared cell.
pub(crate) struct CountingReader<R> {
    pub(crate) inner: R,
    pub(crate) count: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.count.set(self.count.get() + amt as u64);
        self.inner.consume(amt);
    }
}

/// Stops a decoder's output when it grows more than `max_ratio` times its consumed input.
pub(crate) struct RatioReader<'a> {
    pub(crate) inner: &'a mut dyn Read,
    pub(crate) input: Rc<Cell<u64>>,
    pub(crate) out: u64,
    pub(crate) max_ratio: u64,
    pub(crate) floor: u64,
}

impl Read for RatioReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if self.out > self.floor && self.out / self.input.get().max(1) > self.max_ratio {
            return Err(LimitHit {
                kind: LimitKind::Ratio,
                detail: format!(
                    "{} bytes out of {} bytes in exceeds ratio {}",
                    self.out,
                    self.input.get(),
                    self.max_ratio
                ),
            }
            .into_io());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_reader_stops_a_bomb() {
        let input = Rc::new(Cell::new(10));
        let mut zeros = io::repeat(0).take(1 << 20);
        let mut r = RatioReader {
            inner: &mut zeros,
            input,
            out: 0,
            max_ratio: 100,
            floor: 4096,
        };
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("ratio"));
    }

    #[test]
    fn ratio_reader_lets_normal_data_through() {
        let input = Rc::new(Cell::new(1 << 20));
        let mut data = io::repeat(1).take(4 << 20);
        let mut r = RatioReader {
            inner: &mut data,
            input,
            out: 0,
            max_ratio: 100,
            floor: 4096,
        };
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 4 << 20);
    }
}
