//! Splits a reassembled stream into LF-terminated lines for the line protocols (Stratum v1, the
//! cgminer text API), copying only the tail of a line that spans chunks.

use crate::reassembly::Chunk;

/// One line of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its LF and a trailing CR (at most `max_line` bytes).
    pub bytes: &'a [u8],
    /// Frame that carried the first byte.
    pub first_frame: u64,
    /// Frame that carried the last byte.
    pub last_frame: u64,
    /// Timestamp (µs) of the frame that completed the line.
    pub ts_us: i64,
    /// A gap precedes or interrupts the line: it may be a fragment.
    pub after_gap: bool,
    /// The line was longer than `max_line`: only its first `max_line` bytes are here.
    pub truncated: bool,
}

/// Turns stream chunks into lines. Holds only the unfinished tail of the current line, never more
/// than `max_line + 1` bytes.
#[derive(Debug)]
pub struct LineSplitter {
    max_line: usize,
    /// The unfinished line (one byte beyond `max_line` is kept so that a CR can be stripped).
    buf: Vec<u8>,
    /// A line has started and not yet been delivered.
    started: bool,
    first_frame: u64,
    last_frame: u64,
    last_ts: i64,
    /// More bytes arrived for the current line than it may keep.
    overflow: bool,
    /// The current line started after a gap.
    cur_gap: bool,
    /// The next line to start follows a gap.
    next_gap: bool,
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

impl LineSplitter {
    /// A splitter for lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            buf: Vec::new(),
            started: false,
            first_frame: 0,
            last_frame: 0,
            last_ts: 0,
            overflow: false,
            cur_gap: false,
            next_gap: false,
        }
    }

    /// Feeds one chunk; complete lines go to `out`, borrowed from the chunk when a line lies
    /// wholly inside it.
    pub fn push(&mut self, chunk: &Chunk<'_>, out: &mut dyn FnMut(Line<'_>)) {
        let (bytes, frame, ts_us) = match *chunk {
            Chunk::Data { bytes, frame, ts_us } => (bytes, frame, ts_us),
            Chunk::Gap { .. } => {
                // The unfinished line will never be completed: hand it over as a fragment.
                if self.started {
                    self.cur_gap = true;
                    self.emit(self.last_frame, self.last_ts, out);
                }
                self.next_gap = true;
                return;
            }
        };
        let mut rest = bytes;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let seg = rest.get(..i).unwrap_or_default();
            if self.started {
                self.append(seg);
                self.emit(frame, ts_us, out);
            } else {
                let line = strip_cr(seg);
                let truncated = line.len() > self.max_line;
                out(Line {
                    bytes: line.get(..self.max_line).unwrap_or(line),
                    first_frame: frame,
                    last_frame: frame,
                    ts_us,
                    after_gap: std::mem::take(&mut self.next_gap),
                    truncated,
                });
            }
            rest = rest.get(i + 1..).unwrap_or_default();
        }
        if !rest.is_empty() {
            if !self.started {
                self.started = true;
                self.first_frame = frame;
                self.cur_gap = std::mem::take(&mut self.next_gap);
            }
            self.append(rest);
            self.last_frame = frame;
            self.last_ts = ts_us;
        }
    }

    /// End of stream: an unterminated last line is delivered too.
    pub fn finish(&mut self, out: &mut dyn FnMut(Line<'_>)) {
        if self.started {
            self.emit(self.last_frame, self.last_ts, out);
        }
    }

    fn append(&mut self, seg: &[u8]) {
        let room = (self.max_line + 1).saturating_sub(self.buf.len());
        if seg.len() > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(seg.get(..room).unwrap_or(seg));
    }

    fn emit(&mut self, frame: u64, ts_us: i64, out: &mut dyn FnMut(Line<'_>)) {
        let line = if self.overflow {
            &self.buf[..]
        } else {
            strip_cr(&self.buf)
        };
        let truncated = self.overflow || line.len() > self.max_line;
        out(Line {
            bytes: line.get(..self.max_line).unwrap_or(line),
            first_frame: self.first_frame,
            last_frame: frame,
            ts_us,
            after_gap: self.cur_gap,
            truncated,
        });
        self.buf.clear();
        // A long line's buffer is given back rather than kept for the flow's lifetime.
        if self.buf.capacity() > 4096 {
            self.buf.shrink_to(4096);
        }
        self.started = false;
        self.overflow = false;
        self.cur_gap = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = (String, u64, u64, bool, bool);

    fn split(max: usize, chunks: &[Chunk<'_>]) -> Vec<Got> {
        let mut s = LineSplitter::new(max);
        let mut got = Vec::new();
        let mut push = |l: Line<'_>| {
            got.push((
                String::from_utf8(l.bytes.to_vec()).unwrap(),
                l.first_frame,
                l.last_frame,
                l.after_gap,
                l.truncated,
            ))
        };
        for c in chunks {
            s.push(c, &mut push);
        }
        s.finish(&mut push);
        got
    }

    fn data(bytes: &[u8], frame: u64) -> Chunk<'_> {
        Chunk::Data {
            bytes,
            frame,
            ts_us: frame as i64,
        }
    }

    fn line(s: &str, first: u64, last: u64) -> Got {
        (s.to_string(), first, last, false, false)
    }

    #[test]
    fn several_per_chunk_and_crlf() {
        let got = split(100, &[data(b"a\r\nbb\n\nccc\n", 1)]);
        assert_eq!(
            got,
            vec![
                line("a", 1, 1),
                line("bb", 1, 1),
                line("", 1, 1),
                line("ccc", 1, 1)
            ]
        );
    }

    #[test]
    fn split_across_chunks() {
        let got = split(
            100,
            &[
                data(b"{\"id\":1,", 1),
                data(b"\"result\":", 2),
                data(b"true}\r", 3),
                data(b"\nnext", 4),
            ],
        );
        assert_eq!(
            got,
            vec![line("{\"id\":1,\"result\":true}", 1, 4), line("next", 4, 4)]
        );
    }

    #[test]
    fn overlong_line_is_truncated_then_resyncs() {
        let got = split(4, &[data(b"abcdefgh", 1), data(b"ij\nok\nabcd\r\nabcde\n", 2)]);
        assert_eq!(
            got,
            vec![
                ("abcd".into(), 1, 2, false, true),
                line("ok", 2, 2),
                line("abcd", 2, 2),
                ("abcd".into(), 2, 2, false, true),
            ]
        );
        // Exactly max_line bytes plus a CR split from its LF is not truncated.
        let got = split(4, &[data(b"abcd\r", 1), data(b"\n", 2)]);
        assert_eq!(got, vec![line("abcd", 1, 2)]);
    }

    #[test]
    fn gap_marks_the_cut_line_and_the_next() {
        let got = split(
            100,
            &[
                data(b"one\ntw", 1),
                Chunk::Gap { len: 5 },
                data(b"ree\nfour\n", 3),
            ],
        );
        assert_eq!(
            got,
            vec![
                line("one", 1, 1),
                ("tw".into(), 1, 1, true, false),
                ("ree".into(), 3, 3, true, false),
                line("four", 3, 3),
            ]
        );
        // A gap that lands between lines still marks the next one.
        let got = split(
            100,
            &[
                data(b"a\n", 1),
                Chunk::Gap { len: 1 },
                data(b"b", 2),
                data(b"c\n", 3),
            ],
        );
        assert_eq!(got, vec![line("a", 1, 1), ("bc".into(), 2, 3, true, false)]);
    }

    #[test]
    fn unterminated_tail_is_delivered_at_finish() {
        assert_eq!(
            split(100, &[data(b"x\ny", 7)]),
            vec![line("x", 7, 7), line("y", 7, 7)]
        );
    }
}
