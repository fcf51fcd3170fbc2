//! Errors a format reports while reading hostile bytes.

use std::fmt;
use std::io;

/// Which unpacking limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Total bytes written for the whole image.
    TotalSize,
    /// Bytes of one extracted file.
    FileSize,
    /// Output much larger than the compressed or container input.
    Ratio,
    /// Container nesting depth.
    Depth,
    /// Number of entries.
    Entries,
    /// Wall-clock time.
    Time,
    /// A format-internal bound (metadata size, node count, carve candidates).
    Structure,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::TotalSize => "total output size",
            LimitKind::FileSize => "file size",
            LimitKind::Ratio => "expansion ratio",
            LimitKind::Depth => "nesting depth",
            LimitKind::Entries => "entry count",
            LimitKind::Time => "time",
            LimitKind::Structure => "structure size",
        })
    }
}

/// A limit hit, carried through `io::Error` so that readers deep in a decoder can stop a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    /// Which limit.
    pub kind: LimitKind,
    /// What exactly, e.g. "file exceeds 1073741824 bytes".
    pub detail: String,
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} limit: {}", self.kind, self.detail)
    }
}

impl std::error::Error for LimitHit {}

impl LimitHit {
    /// As an `io::Error`, for use inside `Read` implementations.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// Why a format could not (fully) unpack its input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The bytes do not follow the format.
    #[error("malformed at offset {offset:#x}: {reason}")]
    Malformed {
        /// Offset inside the container where the problem is.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The input ends before a structure does.
    #[error("truncated at offset {offset:#x}: needed {needed} more bytes")]
    Truncated {
        /// Offset of the read.
        offset: u64,
        /// Bytes that were missing.
        needed: u64,
    },
    /// A limit stopped this branch.
    #[error("{0}")]
    Limit(LimitHit),
    /// A valid feature hashward does not read yet.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Reading the input or writing the output failed.
    #[error("i/o: {0}")]
    Io(io::Error),
}

impl FormatError {
    /// A malformed-input error.
    pub fn malformed(offset: u64, reason: impl Into<String>) -> FormatError {
        FormatError::Malformed {
            offset,
            reason: reason.into(),
        }
    }

    /// A structure limit (an internal bound of the format reader).
    pub fn structure(detail: impl Into<String>) -> FormatError {
        FormatError::Limit(LimitHit {
            kind: LimitKind::Structure,
            detail: detail.into(),
        })
    }
}

impl From<io::Error> for FormatError {
    fn from(e: io::Error) -> FormatError {
        // Limits travel through decoders as io errors; bring them back out.
        if e.get_ref().is_some_and(|inner| inner.is::<LimitHit>()) {
            if let Some(hit) = e.into_inner().and_then(|b| b.downcast::<LimitHit>().ok()) {
                return FormatError::Limit(*hit);
            }
            return FormatError::Io(io::Error::other("limit"));
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof => FormatError::Truncated { offset: 0, needed: 0 },
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => FormatError::Malformed {
                offset: 0,
                reason: e.to_string(),
            },
            _ => FormatError::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_survive_the_trip_through_io() {
        let hit = LimitHit {
            kind: LimitKind::Ratio,
            detail: "x".into(),
        };
        let back: FormatError = hit.clone().into_io().into();
        match back {
            FormatError::Limit(h) => assert_eq!(h, hit),
            other => panic!("{other:?}"),
        }
        let eof: FormatError = io::Error::from(io::ErrorKind::UnexpectedEof).into();
        assert!(matches!(eof, FormatError::Truncated { .. }));
    }
}
