//! Capture files: pcap and pcapng, plain or gzip-compressed, framed into packets.
//!
//! **No mmap.** memmap2 offers no safe constructor (`Mmap::map` is `unsafe`; `MmapRaw` only hands
//! out raw pointers) and the workspace forbids `unsafe`. So a plain capture up to
//! [`IN_MEMORY_MAX`] is read into one `Vec` (shared by every iteration and worker thread, and
//! packets borrow straight from it); a larger one stays a `File` that each iteration reads with
//! positional reads (`pread`, no shared cursor, so `Capture: Sync`) into its own window of
//! [`WINDOW`] bytes, and packets borrow from that window. Copying page-cache data costs far less
//! than the 1 GB/s budget (memcpy runs at ~10 GB/s).
//!
//! **Lending, not `Iterator`.** A packet borrows the window, which the next read overwrites, so
//! [`PacketIter::next_packet`] is a lending cursor (`while let Some(p) = it.next_packet()`) and
//! [`Capture::for_each_packet`] wraps it; neither is a `std::iter::Iterator`.
//!
//! **Own framer, not pcap-parser.** The framing is 16 bytes per pcap record and three fixed fields
//! per pcapng block; writing it here gives one code path over a memory slice or a file window,
//! errors that name the frame and byte offset, per-interface `if_tsresol`/`if_tsoffset`
//! converted to µs with precomputed factors, and hard caps on record sizes before any allocation.
//! pcap-parser stays a dependency and serves as the differential oracle in the tests.
//!
//! Gzip (magic `1f 8b`, multi-member) is inflated into an anonymous temporary file, bounded by
//! [`CaptureLimits::max_decompressed`], and then read like a plain file, so memory stays bounded.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Default of [`CaptureLimits::in_memory_max`]: a plain capture up to this size is read into
/// memory once; larger ones are read in windows.
pub const IN_MEMORY_MAX: u64 = 64 << 20;
/// Size of the read window of one iteration over a file-backed capture.
pub const WINDOW: usize = 8 << 20;
/// Largest pcap record or pcapng block accepted; beyond it the capture is corrupt. Wireshark's
/// own ceiling for ordinary link types is 256 KiB, so 16 MiB is generous and still cheap.
pub const MAX_RECORD: usize = 16 << 20;

const PCAP_USEC: u32 = 0xa1b2_c3d4;
const PCAP_NSEC: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

/// Resource limits for opening a capture.
#[derive(Debug, Clone)]
pub struct CaptureLimits {
    /// Largest decompressed size of a gzip capture (default 64 GiB).
    pub max_decompressed: u64,
    /// A plain (or decompressed) capture up to this size is held in memory; larger ones are
    /// read in windows (default [`IN_MEMORY_MAX`]).
    pub in_memory_max: u64,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        Self {
            max_decompressed: 64 << 30,
            in_memory_max: IN_MEMORY_MAX,
        }
    }
}

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format (either byte order, µs or ns timestamps).
    Pcap,
    /// pcapng (any number of sections and interfaces).
    PcapNg,
}

/// Why a capture could not be opened or read to its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The capture file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A read failed while iterating.
    #[error("read error at byte offset {offset}: {source}")]
    Read {
        /// Byte offset of the failed read.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The gzip stream is corrupt or the temporary file could not be written.
    #[error("cannot decompress the gzip capture after {written} bytes: {source}")]
    Gzip {
        /// Decompressed bytes written before the failure.
        written: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The decompressed capture exceeds [`CaptureLimits::max_decompressed`].
    #[error("decompressed capture exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The first bytes are neither pcap nor pcapng.
    #[error("not a pcap or pcapng capture (starts with {magic:02x?})")]
    UnknownFormat {
        /// Up to the first four bytes.
        magic: Vec<u8>,
    },
    /// The capture ends in the middle of a header, record or block.
    #[error("capture truncated in frame {frame} at byte offset {offset}: incomplete {what}")]
    Truncated {
        /// The frame (1-based) being read when the data ran out.
        frame: u64,
        /// Byte offset (of the uncompressed capture) where the record or block starts.
        offset: u64,
        /// What was incomplete.
        what: &'static str,
    },
    /// A record or block is malformed.
    #[error("corrupt capture in frame {frame} at byte offset {offset}: {what}")]
    Corrupt {
        /// The frame (1-based) being read.
        frame: u64,
        /// Byte offset where the record or block starts.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A record or block claims a length beyond [`MAX_RECORD`].
    #[error("corrupt capture in frame {frame} at byte offset {offset}: length {len} exceeds {max}")]
    RecordTooLong {
        /// The frame (1-based) being read.
        frame: u64,
        /// Byte offset where the record or block starts.
        offset: u64,
        /// The declared length.
        len: u64,
        /// The accepted maximum.
        max: usize,
    },
}

/// One captured packet, borrowed from the capture or the iteration's read window.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Frame number, 1-based like Wireshark.
    pub frame: u64,
    /// Timestamp in µs since the Unix epoch.
    pub ts_us: i64,
    /// Link type of the packet's interface (LINKTYPE_* value).
    pub linktype: u32,
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// The captured bytes (may be shorter than `orig_len`).
    pub data: &'a [u8],
}

/// Totals of one complete iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets delivered.
    pub packets: u64,
    /// Captured packet bytes delivered.
    pub bytes: u64,
}

#[derive(Debug)]
enum Source {
    Mem(Vec<u8>),
    File { file: File, len: u64 },
}

#[derive(Debug, Clone, Copy)]
struct PcapHeader {
    be: bool,
    nsec: bool,
    linktype: u32,
}

/// An opened capture. Cheap to iterate any number of times, from several threads at once.
#[derive(Debug)]
pub struct Capture {
    src: Source,
    format: CaptureFormat,
    pcap: Option<PcapHeader>,
    compressed: bool,
}

impl Capture {
    /// Opens a capture file (pcap or pcapng, plain or gzip).
    pub fn open(path: &Path, limits: &CaptureLimits) -> Result<Capture, CaptureError> {
        let io_err = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut head = [0u8; 2];
        let n = pread_full(&file, &mut head, 0).map_err(io_err)?;
        if n == 2 && head == [0x1f, 0x8b] {
            let reader = io::BufReader::with_capacity(1 << 20, &mut file);
            let src = gunzip(reader, limits)?;
            return Self::from_source(src, true);
        }
        let src = if len <= limits.in_memory_max {
            let mut v = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            file.read_to_end(&mut v).map_err(io_err)?;
            Source::Mem(v)
        } else {
            Source::File { file, len }
        };
        Self::from_source(src, false)
    }

    /// Wraps capture bytes already in memory (pcap or pcapng, plain or gzip).
    pub fn from_bytes(bytes: Vec<u8>, limits: &CaptureLimits) -> Result<Capture, CaptureError> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let src = gunzip(bytes.as_slice(), limits)?;
            return Self::from_source(src, true);
        }
        Self::from_source(Source::Mem(bytes), false)
    }

    fn from_source(src: Source, compressed: bool) -> Result<Capture, CaptureError> {
        let mut head = [0u8; 24];
        let n = match &src {
            Source::Mem(v) => {
                let n = v.len().min(24);
                head[..n].copy_from_slice(v.get(..n).unwrap_or_default());
                n
            }
            Source::File { file, .. } => {
                pread_full(file, &mut head, 0).map_err(|source| CaptureError::Read { offset: 0, source })?
            }
        };
        let unknown = || CaptureError::UnknownFormat {
            magic: head[..n.min(4)].to_vec(),
        };
        if n < 4 {
            return Err(unknown());
        }
        let le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let be = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let (format, pcap) = if le == PCAPNG_SHB {
            (CaptureFormat::PcapNg, None)
        } else {
            let (big, nsec) = match (le, be) {
                (PCAP_USEC, _) => (false, false),
                (PCAP_NSEC, _) => (false, true),
                (_, PCAP_USEC) => (true, false),
                (_, PCAP_NSEC) => (true, true),
                _ => return Err(unknown()),
            };
            if n < 24 {
                return Err(CaptureError::Truncated {
                    frame: 0,
                    offset: 0,
                    what: "pcap file header",
                });
            }
            // The upper bits of the link-type field carry FCS information (pcap spec §LinkType).
            let linktype = rd32(&head, 20, big).unwrap_or(0) & 0xffff;
            (
                CaptureFormat::Pcap,
                Some(PcapHeader {
                    be: big,
                    nsec,
                    linktype,
                }),
            )
        };
        Ok(Capture {
            src,
            format,
            pcap,
            compressed,
        })
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Whether the capture was gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Size of the uncompressed capture in bytes.
    pub fn len(&self) -> u64 {
        match &self.src {
            Source::Mem(v) => v.len() as u64,
            Source::File { len, .. } => *len,
        }
    }

    /// Whether the capture holds no bytes at all (never true for an opened capture).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts an iteration over all packets (a lending cursor; see the module doc).
    pub fn packets(&self) -> PacketIter<'_> {
        let (pos, fmt) = match self.pcap {
            Some(h) => (24, Fmt::Pcap(h)),
            None => (
                0,
                Fmt::Ng {
                    be: false,
                    ifaces: Vec::new(),
                },
            ),
        };
        // A file window starts empty at the first record; memory is indexed from byte 0.
        let (window, win_off, pos) = match &self.src {
            Source::Mem(_) => (Vec::new(), 0, pos),
            Source::File { len, .. } => {
                let size = usize::try_from(*len).unwrap_or(WINDOW).min(WINDOW);
                (vec![0; size], pos as u64, 0)
            }
        };
        PacketIter {
            cap: self,
            window,
            filled: 0,
            win_off,
            pos,
            frame: 0,
            fmt,
            done: false,
            last_ts: 0,
            tap: None,
            tapped: 0,
        }
    }

    /// Like [`Capture::packets`], and also hashes the capture file while reading it; call
    /// [`PacketIter::finish_sha256`] at the end. For a gzip capture this is the hash of the
    /// decompressed bytes, not of the file as given: hash that file separately.
    pub fn packets_hashed(&self) -> PacketIter<'_> {
        let mut it = self.packets();
        let mut h = Sha256::new();
        if let Source::File { file, len } = &self.src {
            // The header the cursor starts after.
            let mut head = vec![0u8; usize::try_from(it.win_off.min(*len)).unwrap_or(0)];
            if let Ok(n) = pread_full(file, &mut head, 0) {
                h.update(head.get(..n).unwrap_or_default());
                it.tapped = n as u64;
            }
        }
        it.tap = Some(Box::new(h));
        it
    }

    /// Calls `f` for every packet in order. On a truncated or corrupt capture the packets before
    /// the damage have been delivered and the error names the frame and byte offset.
    pub fn for_each_packet(&self, mut f: impl FnMut(Packet<'_>)) -> Result<Stats, CaptureError> {
        let mut it = self.packets();
        let mut stats = Stats::default();
        while let Some(p) = it.next_packet() {
            let p = p?;
            stats.packets += 1;
            stats.bytes += p.data.len() as u64;
            f(p);
        }
        Ok(stats)
    }
}

/// Inflates a (multi-member) gzip stream into an anonymous temporary file, bounded by the limit;
/// small results are read back into memory.
fn gunzip(reader: impl Read, limits: &CaptureLimits) -> Result<Source, CaptureError> {
    let gz_err = |written, source| CaptureError::Gzip { written, source };
    let mut dec = flate2::read::MultiGzDecoder::new(reader);
    let mut out = tempfile::tempfile().map_err(|e| gz_err(0, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut written: u64 = 0;
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(gz_err(written, e)),
        };
        written += n as u64;
        if written > limits.max_decompressed {
            return Err(CaptureError::TooLarge {
                limit: limits.max_decompressed,
            });
        }
        out.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| gz_err(written, e))?;
    }
    if written <= limits.in_memory_max {
        let mut v = Vec::with_capacity(usize::try_from(written).unwrap_or(0));
        out.rewind().map_err(|e| gz_err(written, e))?;
        out.read_to_end(&mut v).map_err(|e| gz_err(written, e))?;
        return Ok(Source::Mem(v));
    }
    Ok(Source::File {
        file: out,
        len: written,
    })
}

#[cfg(unix)]
fn pread(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, off)
}

#[cfg(windows)]
fn pread(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, off)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn pread_full(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..) {
        if rest.is_empty() {
            break;
        }
        match pread(file, rest, off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[inline]
fn rd16(b: &[u8], at: usize, be: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if be {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    })
}

#[inline]
fn rd32(b: &[u8], at: usize, be: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if be {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    })
}

/// Timestamp conversion of one pcapng interface, precomputed from `if_tsresol`/`if_tsoffset`.
#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: u32,
    snaplen: u32,
    /// Units per second as 10^n (`Pow10`) or 2^n (`Pow2`).
    res: TsRes,
    offset_us: i64,
}

#[derive(Debug, Clone, Copy)]
enum TsRes {
    Micro,
    Mul(u64),
    Div(u64),
    Pow2(u8),
}

impl TsRes {
    fn from_tsresol(v: u8) -> TsRes {
        let n = u32::from(v & 0x7f);
        if v & 0x80 != 0 {
            return TsRes::Pow2(n.min(127) as u8);
        }
        match n.cmp(&6) {
            std::cmp::Ordering::Equal => TsRes::Micro,
            std::cmp::Ordering::Less => TsRes::Mul(10u64.pow(6 - n)),
            // 10^19 still fits in u64; finer resolutions make every timestamp 0 µs.
            std::cmp::Ordering::Greater => TsRes::Div(10u64.checked_pow(n - 6).unwrap_or(u64::MAX)),
        }
    }

    #[inline]
    fn to_us(self, ts: u64) -> i64 {
        let us = match self {
            TsRes::Micro => ts,
            TsRes::Mul(m) => ts.saturating_mul(m),
            TsRes::Div(d) => ts / d,
            TsRes::Pow2(n) => u64::try_from((u128::from(ts) * 1_000_000) >> n).unwrap_or(u64::MAX),
        };
        i64::try_from(us).unwrap_or(i64::MAX)
    }
}

#[derive(Debug)]
enum Fmt {
    Pcap(PcapHeader),
    Ng { be: bool, ifaces: Vec<Iface> },
}

/// Where a packet lies in the window, with its metadata; turned into a [`Packet`] at the end.
struct Found {
    start: usize,
    len: usize,
    ts_us: i64,
    linktype: u32,
    orig_len: u32,
}

/// A lending cursor over the packets of a [`Capture`]: call [`PacketIter::next_packet`] until it
/// returns `None`. After an error it returns `None`.
#[derive(Debug)]
pub struct PacketIter<'c> {
    cap: &'c Capture,
    /// Read window of a file-backed capture (unused for in-memory ones).
    window: Vec<u8>,
    filled: usize,
    /// Capture offset of `window[0]`.
    win_off: u64,
    /// Cursor in the window (or in the in-memory bytes).
    pos: usize,
    frame: u64,
    fmt: Fmt,
    done: bool,
    last_ts: i64,
    /// sha256 of the bytes read so far, when asked for: every byte is read once, in order, so
    /// the file is hashed from the same reads that frame it.
    tap: Option<Box<Sha256>>,
    /// Capture offset up to which `tap` has seen the bytes.
    tapped: u64,
}

impl<'c> PacketIter<'c> {
    /// The next packet, an error (after which iteration ends), or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, CaptureError>> {
        if self.done {
            return None;
        }
        let found = match self.advance() {
            Ok(Some(f)) => f,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.frame += 1;
        let data = self
            .win()
            .get(found.start..found.start + found.len)
            .unwrap_or_default();
        Some(Ok(Packet {
            frame: self.frame,
            ts_us: found.ts_us,
            linktype: found.linktype,
            orig_len: found.orig_len,
            data,
        }))
    }

    /// The sha256 (hex) of the whole capture file, for an iteration started with
    /// [`Capture::packets_hashed`]: what the iteration did not read (after an early stop) is
    /// read now. `None` for a plain iteration.
    pub fn finish_sha256(mut self) -> Option<io::Result<String>> {
        let mut h = self.tap.take()?;
        match &self.cap.src {
            Source::Mem(v) => h.update(v),
            Source::File { file, len } => {
                let mut buf = vec![0u8; 1 << 20];
                while self.tapped < *len {
                    match pread(file, &mut buf, self.tapped) {
                        Ok(0) => break,
                        Ok(n) => {
                            h.update(buf.get(..n).unwrap_or_default());
                            self.tapped += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Some(Err(e)),
                    }
                }
            }
        }
        Some(Ok(hex::encode(h.finalize())))
    }

    /// Byte offset in the capture of the next record or block.
    pub fn offset(&self) -> u64 {
        self.win_off + self.pos as u64
    }

    #[inline]
    fn win(&self) -> &[u8] {
        match &self.cap.src {
            Source::Mem(v) => v,
            Source::File { .. } => self.window.get(..self.filled).unwrap_or_default(),
        }
    }

    /// Makes `need` bytes available from `pos`; false if the capture ends before.
    #[inline]
    fn fill(&mut self, need: usize) -> Result<bool, CaptureError> {
        let (file, len) = match &self.cap.src {
            Source::Mem(v) => return Ok(v.len().saturating_sub(self.pos) >= need),
            Source::File { file, len } => (file, *len),
        };
        if self.filled.saturating_sub(self.pos) >= need {
            return Ok(true);
        }
        // Slide the unread tail to the front, grow the window for an oversized record, refill.
        self.window.copy_within(self.pos.min(self.filled)..self.filled, 0);
        self.filled = self.filled.saturating_sub(self.pos);
        self.win_off += self.pos as u64;
        self.pos = 0;
        if need > self.window.len() {
            self.window.resize(need, 0);
        }
        while self.filled < self.window.len() {
            let off = self.win_off + self.filled as u64;
            if off >= len {
                break;
            }
            let buf = self.window.get_mut(self.filled..).unwrap_or_default();
            match pread(file, buf, off) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(h) = self.tap.as_mut()
                        && off == self.tapped
                    {
                        h.update(buf.get(..n).unwrap_or_default());
                        self.tapped += n as u64;
                    }
                    self.filled += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(CaptureError::Read { offset: off, source }),
            }
        }
        Ok(self.filled >= need)
    }

    fn remaining(&self) -> usize {
        self.win().len().saturating_sub(self.pos)
    }

    fn advance(&mut self) -> Result<Option<Found>, CaptureError> {
        match self.fmt {
            Fmt::Pcap(h) => self.pcap_record(h),
            Fmt::Ng { .. } => self.ng_block(),
        }
    }

    fn truncated(&self, what: &'static str) -> CaptureError {
        CaptureError::Truncated {
            frame: self.frame + 1,
            offset: self.offset(),
            what,
        }
    }

    fn corrupt(&self, what: &'static str) -> CaptureError {
        CaptureError::Corrupt {
            frame: self.frame + 1,
            offset: self.offset(),
            what,
        }
    }

    fn too_long(&self, len: u64) -> CaptureError {
        CaptureError::RecordTooLong {
            frame: self.frame + 1,
            offset: self.offset(),
            len,
            max: MAX_RECORD,
        }
    }

    #[inline]
    fn pcap_record(&mut self, h: PcapHeader) -> Result<Option<Found>, CaptureError> {
        if !self.fill(16)? {
            if self.remaining() == 0 {
                return Ok(None);
            }
            return Err(self.truncated("record header"));
        }
        let p = self.pos;
        let w = self.win();
        let (Some(sec), Some(frac), Some(caplen), Some(orig_len)) = (
            rd32(w, p, h.be),
            rd32(w, p + 4, h.be),
            rd32(w, p + 8, h.be),
            rd32(w, p + 12, h.be),
        ) else {
            return Err(self.truncated("record header"));
        };
        let caplen_usize = caplen as usize;
        if caplen_usize > MAX_RECORD {
            return Err(self.too_long(u64::from(caplen)));
        }
        if !self.fill(16 + caplen_usize)? {
            return Err(self.truncated("packet data"));
        }
        let frac_us = if h.nsec { frac / 1000 } else { frac };
        let ts_us = i64::from(sec) * 1_000_000 + i64::from(frac_us);
        let start = self.pos + 16;
        self.pos = start + caplen_usize;
        Ok(Some(Found {
            start,
            len: caplen_usize,
            ts_us,
            linktype: h.linktype,
            orig_len,
        }))
    }

    /// Reads pcapng blocks until one carries a packet.
    fn ng_block(&mut self) -> Result<Option<Found>, CaptureError> {
        loop {
            if !self.fill(12)? {
                if self.remaining() == 0 {
                    return Ok(None);
                }
                return Err(self.truncated("block header"));
            }
            let p = self.pos;
            let Fmt::Ng { be, .. } = self.fmt else {
                return Ok(None);
            };
            let mut be = be;
            let w = self.win();
            let btype = rd32(w, p, be).unwrap_or(0);
            if btype == PCAPNG_SHB {
                // The byte-order magic decides how everything in the section is read.
                be = match rd32(w, p + 8, false) {
                    Some(PCAPNG_BOM) => false,
                    Some(m) if m.swap_bytes() == PCAPNG_BOM => true,
                    _ => return Err(self.corrupt("bad byte-order magic in section header")),
                };
            }
            let blen = rd32(self.win(), p + 4, be).unwrap_or(0);
            let blen_usize = blen as usize;
            if blen_usize > MAX_RECORD {
                return Err(self.too_long(u64::from(blen)));
            }
            if blen < 12 || (btype == PCAPNG_SHB && blen < 28) {
                return Err(self.corrupt("block length too small"));
            }
            if !self.fill(blen_usize)? {
                return Err(self.truncated("block"));
            }
            let p = self.pos;
            let w = self.win();
            let block = w.get(p..p + blen_usize).unwrap_or_default();
            if rd32(block, blen_usize - 4, be) != Some(blen) {
                return Err(self.corrupt("trailing block length differs"));
            }
            let found = match btype {
                PCAPNG_SHB => {
                    self.fmt = Fmt::Ng {
                        be,
                        ifaces: Vec::new(),
                    };
                    None
                }
                1 => {
                    let iface = parse_idb(block, be)
                        .ok_or_else(|| self.corrupt("short interface description block"))?;
                    if let Fmt::Ng { ifaces, .. } = &mut self.fmt {
                        // A section with thousands of interfaces is hostile; cap the table.
                        if ifaces.len() >= 65_536 {
                            return Err(self.corrupt("too many interfaces"));
                        }
                        ifaces.push(iface);
                    }
                    None
                }
                6 | 2 => Some(self.ng_packet(block, be, btype == 2)?),
                3 => Some(self.ng_simple(block, be)?),
                _ => None,
            };
            self.pos = p + blen_usize;
            if let Some(mut f) = found {
                f.start += p;
                self.last_ts = f.ts_us;
                return Ok(Some(f));
            }
        }
    }

    fn iface(&self, id: u32) -> Option<Iface> {
        match &self.fmt {
            Fmt::Ng { ifaces, .. } => ifaces.get(id as usize).copied(),
            Fmt::Pcap(_) => None,
        }
    }

    /// Enhanced (type 6) or obsolete (type 2) packet block; `start` is relative to the block.
    fn ng_packet(&self, block: &[u8], be: bool, obsolete: bool) -> Result<Found, CaptureError> {
        let id = if obsolete {
            rd16(block, 8, be).map(u32::from)
        } else {
            rd32(block, 8, be)
        };
        let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig_len)) = (
            id,
            rd32(block, 12, be),
            rd32(block, 16, be),
            rd32(block, 20, be),
            rd32(block, 24, be),
        ) else {
            return Err(self.corrupt("short packet block"));
        };
        let iface = self
            .iface(id)
            .ok_or_else(|| self.corrupt("packet block names an undeclared interface"))?;
        let caplen = caplen as usize;
        if 28 + caplen > block.len() - 4 {
            return Err(self.corrupt("packet length exceeds its block"));
        }
        let ts = (u64::from(hi) << 32) | u64::from(lo);
        Ok(Found {
            start: 28,
            len: caplen,
            ts_us: iface.res.to_us(ts).saturating_add(iface.offset_us),
            linktype: iface.linktype,
            orig_len,
        })
    }

    /// Simple packet block: interface 0, no timestamp (the previous packet's is used so that
    /// time never jumps back to 1970 for the flow logic).
    fn ng_simple(&self, block: &[u8], be: bool) -> Result<Found, CaptureError> {
        let iface = self
            .iface(0)
            .ok_or_else(|| self.corrupt("simple packet block without an interface"))?;
        let orig_len = rd32(block, 8, be).ok_or_else(|| self.corrupt("short simple packet block"))?;
        let mut caplen = (orig_len as usize).min(block.len().saturating_sub(16));
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Found {
            start: 12,
            len: caplen,
            ts_us: self.last_ts,
            linktype: iface.linktype,
            orig_len,
        })
    }
}

/// Interface description block: link type, snap length, `if_tsresol` (9), `if_tsoffset` (14).
fn parse_idb(block: &[u8], be: bool) -> Option<Iface> {
    let linktype = u32::from(rd16(block, 8, be)?);
    let snaplen = rd32(block, 12, be)?;
    let mut iface = Iface {
        linktype,
        snaplen,
        res: TsRes::Micro,
        offset_us: 0,
    };
    let opts = block.get(16..block.len().checked_sub(4)?)?;
    let mut at = 0usize;
    while let (Some(code), Some(len)) = (rd16(opts, at, be), rd16(opts, at + 2, be)) {
        let len = usize::from(len);
        let Some(val) = opts.get(at + 4..at + 4 + len) else {
            break;
        };
        match (code, val) {
            (0, _) => break,
            (9, [r]) => iface.res = TsRes::from_tsresol(*r),
            (14, v) if v.len() == 8 => {
                let secs = rd32(v, 0, be)
                    .zip(rd32(v, 4, be))
                    .map(|(a, b)| {
                        if be {
                            (u64::from(a) << 32) | u64::from(b)
                        } else {
                            (u64::from(b) << 32) | u64::from(a)
                        }
                    })
                    .unwrap_or(0) as i64;
                iface.offset_us = secs.saturating_mul(1_000_000);
            }
            _ => {}
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    Some(iface)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pcap file: global header then records of (sec, frac, data).
    pub(crate) fn pcap(be: bool, nsec: bool, linktype: u32, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        let w16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        let mut v = Vec::new();
        w32(&mut v, if nsec { PCAP_NSEC } else { PCAP_USEC });
        w16(&mut v, 2);
        w16(&mut v, 4);
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, 65535);
        w32(&mut v, linktype);
        for (sec, frac, data) in recs {
            w32(&mut v, *sec);
            w32(&mut v, *frac);
            w32(&mut v, data.len() as u32);
            w32(&mut v, data.len() as u32 + 4);
            v.extend_from_slice(data);
        }
        v
    }

    struct Ng {
        be: bool,
        v: Vec<u8>,
    }

    impl Ng {
        fn w32(&self, x: u32) -> [u8; 4] {
            if self.be { x.to_be_bytes() } else { x.to_le_bytes() }
        }
        fn block(&mut self, btype: u32, body: &[u8]) {
            let len = 12 + body.len().div_ceil(4) * 4;
            let (t, l) = (self.w32(btype), self.w32(len as u32));
            self.v.extend_from_slice(&t);
            self.v.extend_from_slice(&l);
            self.v.extend_from_slice(body);
            self.v.resize(self.v.len() + (len - 12 - body.len()), 0);
            self.v.extend_from_slice(&l);
        }
        fn shb(&mut self) {
            let mut b = self.w32(PCAPNG_BOM).to_vec();
            b.extend_from_slice(&[0; 12]); // version 0.0 (ignored) and section length
            b[4] = 1;
            self.block(PCAPNG_SHB, &b);
        }
        fn idb(&mut self, linktype: u16, tsresol: Option<u8>) {
            let lt = if self.be {
                linktype.to_be_bytes()
            } else {
                linktype.to_le_bytes()
            };
            let mut b = lt.to_vec();
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&self.w32(0));
            if let Some(r) = tsresol {
                let (c, l) = if self.be {
                    ([0, 9], [0, 1])
                } else {
                    ([9, 0], [1, 0])
                };
                b.extend_from_slice(&c);
                b.extend_from_slice(&l);
                b.extend_from_slice(&[r, 0, 0, 0]);
                b.extend_from_slice(&[0; 4]); // opt_endofopt
            }
            self.block(1, &b);
        }
        fn epb(&mut self, iface: u32, ts: u64, data: &[u8]) {
            let mut b = Vec::new();
            for x in [
                iface,
                (ts >> 32) as u32,
                ts as u32,
                data.len() as u32,
                data.len() as u32,
            ] {
                b.extend_from_slice(&self.w32(x));
            }
            b.extend_from_slice(data);
            self.block(6, &b);
        }
    }

    type Framed = Vec<(u64, i64, u32, Vec<u8>)>;

    fn all(cap: &Capture) -> (Framed, Option<CaptureError>) {
        let mut out = Vec::new();
        let mut it = cap.packets();
        while let Some(p) = it.next_packet() {
            match p {
                Ok(p) => out.push((p.frame, p.ts_us, p.linktype, p.data.to_vec())),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn capture_is_shared_by_worker_threads() {
        fn sync_send<T: Sync + Send>() {}
        sync_send::<Capture>();
        let cap = Capture::from_bytes(
            pcap(false, false, 1, &[(1, 0, b"a"), (2, 0, b"b")]),
            &CaptureLimits::default(),
        )
        .unwrap();
        let counts: Vec<u64> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|_| s.spawn(|| cap.for_each_packet(|_| {}).unwrap().packets))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(counts, [2, 2]);
    }

    #[test]
    fn pcap_both_orders_and_resolutions() {
        for be in [false, true] {
            for nsec in [false, true] {
                let frac = if nsec { 250_000_000 } else { 250_000 };
                let bytes = pcap(be, nsec, 1, &[(10, frac, b"abc"), (11, 0, b"")]);
                let cap = Capture::from_bytes(bytes, &CaptureLimits::default()).unwrap();
                assert_eq!(cap.format(), CaptureFormat::Pcap);
                assert!(!cap.compressed());
                let (pk, err) = all(&cap);
                assert!(err.is_none());
                assert_eq!(
                    pk,
                    vec![(1, 10_250_000, 1, b"abc".to_vec()), (2, 11_000_000, 1, vec![])]
                );
            }
        }
    }

    #[test]
    fn pcapng_interfaces_with_own_linktype_and_tsresol_over_two_sections() {
        for be in [false, true] {
            let mut ng = Ng { be, v: Vec::new() };
            ng.shb();
            ng.idb(1, None); // µs
            ng.idb(101, Some(9)); // ns
            ng.epb(0, 5_000_001, b"eth");
            ng.epb(1, 7_000_000_123, b"raw");
            ng.block(5, &[0; 8]); // statistics block: skipped
            ng.shb(); // new section: interfaces reset
            ng.idb(113, Some(0x80 | 10)); // 2^-10 s
            ng.epb(0, 2048, b"sll");
            let cap = Capture::from_bytes(ng.v, &CaptureLimits::default()).unwrap();
            assert_eq!(cap.format(), CaptureFormat::PcapNg);
            let (pk, err) = all(&cap);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(
                pk,
                vec![
                    (1, 5_000_001, 1, b"eth".to_vec()),
                    (2, 7_000_000, 101, b"raw".to_vec()),
                    (3, 2_000_000, 113, b"sll".to_vec()),
                ]
            );
        }
    }

    #[test]
    fn pcapng_undeclared_interface_is_corrupt() {
        let mut ng = Ng {
            be: false,
            v: Vec::new(),
        };
        ng.shb();
        ng.idb(1, None);
        ng.epb(3, 0, b"x");
        let cap = Capture::from_bytes(ng.v, &CaptureLimits::default()).unwrap();
        let (pk, err) = all(&cap);
        assert!(pk.is_empty());
        assert!(
            matches!(err, Some(CaptureError::Corrupt { frame: 1, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn gzip_pcap_and_pcapng() {
        let plain = pcap(false, false, 1, &[(1, 2, b"hello")]);
        let cap = Capture::from_bytes(gz(&plain), &CaptureLimits::default()).unwrap();
        assert!(cap.compressed());
        assert_eq!(cap.len(), plain.len() as u64);
        assert_eq!(all(&cap).0.len(), 1);

        let mut ng = Ng {
            be: false,
            v: Vec::new(),
        };
        ng.shb();
        ng.idb(1, None);
        ng.epb(0, 1, b"x");
        // Two gzip members concatenated (like `cat a.gz b.gz`) still read as one stream.
        let half = ng.v.len() / 2;
        let mut two = gz(&ng.v[..half]);
        two.extend(gz(&ng.v[half..]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pcapng.gz");
        std::fs::write(&path, &two).unwrap();
        let cap = Capture::open(&path, &CaptureLimits::default()).unwrap();
        assert!(cap.compressed());
        assert_eq!(cap.format(), CaptureFormat::PcapNg);
        assert_eq!(all(&cap).0.len(), 1);

        let small = CaptureLimits {
            max_decompressed: 10,
            ..CaptureLimits::default()
        };
        let err = Capture::from_bytes(gz(&plain), &small).unwrap_err();
        assert!(matches!(err, CaptureError::TooLarge { limit: 10 }));
        let err = Capture::from_bytes(vec![0x1f, 0x8b, 8, 0, 1, 2], &small).unwrap_err();
        assert!(matches!(err, CaptureError::Gzip { .. }), "{err}");
    }

    #[test]
    fn truncated_record_keeps_earlier_packets_and_names_frame_and_offset() {
        let mut bytes = pcap(false, false, 1, &[(1, 0, b"one"), (2, 0, b"two!")]);
        bytes.truncate(bytes.len() - 2);
        let cap = Capture::from_bytes(bytes, &CaptureLimits::default()).unwrap();
        let (pk, err) = all(&cap);
        assert_eq!(pk.len(), 1);
        let err = err.unwrap();
        assert!(matches!(
            err,
            CaptureError::Truncated {
                frame: 2,
                offset: 43,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "capture truncated in frame 2 at byte offset 43: incomplete packet data"
        );
        let mut it = cap.packets();
        while it.next_packet().is_some_and(|r| r.is_ok()) {}
        assert!(it.next_packet().is_none(), "None after the error");
        // for_each_packet reports the same error after delivering the first packet.
        let mut n = 0;
        assert!(cap.for_each_packet(|_| n += 1).is_err());
        assert_eq!(n, 1);
    }

    #[test]
    fn absurd_lengths_are_errors_not_allocations() {
        let mut bytes = pcap(false, false, 1, &[(1, 0, b"x")]);
        bytes[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let cap = Capture::from_bytes(bytes, &CaptureLimits::default()).unwrap();
        let err = all(&cap).1.unwrap();
        assert!(matches!(
            err,
            CaptureError::RecordTooLong {
                frame: 1,
                offset: 24,
                len: 0xffff_ffff,
                ..
            }
        ));

        let mut ng = Ng {
            be: false,
            v: Vec::new(),
        };
        ng.shb();
        ng.idb(1, None);
        ng.epb(0, 1, b"x");
        let at = ng.v.len() - 32 - 4 + 20; // the EPB's caplen field
        ng.v[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let cap = Capture::from_bytes(ng.v.clone(), &CaptureLimits::default()).unwrap();
        assert!(matches!(all(&cap).1, Some(CaptureError::Corrupt { .. })));
        let blen = ng.v.len() - 36 + 4;
        ng.v[blen..blen + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let cap = Capture::from_bytes(ng.v, &CaptureLimits::default()).unwrap();
        assert!(matches!(all(&cap).1, Some(CaptureError::RecordTooLong { .. })));
    }

    #[test]
    fn wrong_magic_and_empty_inputs() {
        let err = Capture::from_bytes(b"GIF89a....".to_vec(), &CaptureLimits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a pcap or pcapng capture (starts with [47, 49, 46, 38])"
        );
        assert!(Capture::from_bytes(Vec::new(), &CaptureLimits::default()).is_err());
        let short = pcap(false, false, 1, &[])[..10].to_vec();
        assert!(matches!(
            Capture::from_bytes(short, &CaptureLimits::default()),
            Err(CaptureError::Truncated { frame: 0, .. })
        ));
        // A header and no packets is a valid, empty capture.
        let cap = Capture::from_bytes(pcap(true, false, 1, &[]), &CaptureLimits::default()).unwrap();
        assert_eq!(cap.for_each_packet(|_| {}).unwrap(), Stats::default());
    }

    #[test]
    fn file_windows_agree_with_memory() {
        // Above `in_memory_max` a file is read in windows: records straddle window edges and a
        // record larger than the window grows it.
        let payload = vec![0xabu8; 1499];
        let n = 2 * WINDOW / 765;
        let mut recs: Vec<(u32, u32, &[u8])> = (0..n).map(|i| (i as u32, 0, &payload[..i % 1499])).collect();
        let huge = vec![7u8; WINDOW + 100];
        recs.push((n as u32, 0, &huge));
        let bytes = pcap(false, false, 1, &recs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.pcap");
        std::fs::write(&path, &bytes).unwrap();
        let limits = CaptureLimits {
            in_memory_max: 0,
            ..CaptureLimits::default()
        };
        let cap = Capture::open(&path, &limits).unwrap();
        assert!(matches!(cap.src, Source::File { .. }));
        let mut count = 0u64;
        let stats = cap
            .for_each_packet(|p| {
                if p.frame as usize <= n {
                    assert_eq!(p.data.len() as u64, (p.frame - 1) % 1499);
                } else {
                    assert_eq!(p.data, &huge[..]);
                }
                assert_eq!(p.ts_us, (p.frame as i64 - 1) * 1_000_000);
                count += 1;
            })
            .unwrap();
        assert_eq!(stats.packets, n as u64 + 1);
        assert_eq!(count, n as u64 + 1);
        // The same bytes in memory give the same packets.
        let mem = Capture::from_bytes(bytes, &limits).unwrap();
        assert_eq!(mem.for_each_packet(|_| {}).unwrap(), stats);
    }

    #[test]
    fn shared_captures_frame_like_tshark_and_pcap_parser() {
        let Some(dir) = crate::shared_traffic_dir() else {
            eprintln!("shared test captures not found; skipped");
            return;
        };
        for (name, want) in [
            ("bitcoin-mining.pcap", 188u64),
            ("bitcoin-mining-in-progress.pcap", 111),
            ("coinhive-stratum.pcap", 320),
            ("suricata-verify-tls-subjectaltname.pcap", 3138),
        ] {
            let path = dir.join(name);
            let cap = Capture::open(&path, &CaptureLimits::default()).unwrap();
            let (mut first, mut last) = (None, 0);
            let stats = cap
                .for_each_packet(|p| {
                    first.get_or_insert(p.ts_us);
                    last = p.ts_us;
                })
                .unwrap();
            assert_eq!(stats.packets, want, "{name}");
            let first = first.unwrap();
            // 2018..2023 and a capture spanning less than 5 minutes.
            assert!(
                (1_514_764_800_000_000..1_704_067_200_000_000).contains(&first),
                "{name}"
            );
            assert!((0..300_000_000).contains(&(last - first)), "{name}");

            // Differential check against pcap-parser's legacy reader.
            let bytes = std::fs::read(&path).unwrap();
            let (mut rest, _) = pcap_parser::parse_pcap_header(&bytes).unwrap();
            let mut theirs = Vec::new();
            while !rest.is_empty() {
                let (r, b) = pcap_parser::parse_pcap_frame(rest).unwrap();
                theirs.push((b.ts_sec, b.data.len()));
                rest = r;
            }
            let mut ours = Vec::new();
            cap.for_each_packet(|p| ours.push(((p.ts_us / 1_000_000) as u32, p.data.len())))
                .unwrap();
            assert_eq!(ours, theirs, "{name}");
        }
    }
}
