//! Version strings as firmware components report them, parsed into something that orders the
//! way their projects release them.
//!
//! A version is `[v]RELEASE[SUFFIX][SEP LABEL]`:
//!
//! - **RELEASE**: one to eight dot-separated numbers (`1.4.39`, `2019.78`, `2.6.32.68`).
//!   Compared numerically, a missing trailing number counting as 0 (`3.0` = `3.0.0`).
//! - **SUFFIX**, written straight after the release: either a pre-release marker (`alpha`,
//!   `beta`, `pre`, `rc`, each with an optional number: `4.0rc1`), or a patch-level suffix of
//!   letters and digits (`1.0.2k`, `1.0.2za`, `7.4p1`). Suffixes compare piece by piece (letter
//!   runs as text, digit runs as numbers, letters before digits, a prefix first), so
//!   `1.0.2 < 1.0.2a < 1.0.2z < 1.0.2za` and `7.4 < 7.4p1 < 7.4p2 < 7.4p10`.
//! - **LABEL**, after `-`, `_`, `+`, `~`, a space, or a dot followed by a letter: a pre-release
//!   marker (`2.6.39-rc1`, `1.0.2-beta1`), or else a local build label that does not take part
//!   in the ordering (`3.14.0-xilinx-g1234` = `3.14.0`, `1.27.2-buildroot`): vendors append
//!   those to an upstream release, and a vendor backport cannot be seen in a version anyway.
//! - A pre-release sorts before its release (`alpha < beta < pre < rc`, then by number):
//!   `1.0.2-beta1 < 1.0.2 < 1.0.2a`.
//!
//! Anything else does not parse and so never matches a vulnerable range: a string that does
//! not start with a digit (`OpenSSH_7.4p1` must be normalised by the finder first), an epoch
//! or any other separator straight after the release (`1:2.17`), a number over 18 digits, more
//! than eight release numbers, a suffix over eight characters, or more than 64 characters in
//! all.

use std::cmp::Ordering;
use std::fmt;

/// Longest version string considered.
const MAX_LEN: usize = 64;
/// Most release numbers.
const MAX_RELEASE: usize = 8;
/// Most digits in one number (fits a `u64`).
const MAX_DIGITS: usize = 18;
/// Longest attached suffix (`za`, `p1`, `rc12`).
const MAX_SUFFIX: usize = 8;

/// One piece of a patch-level suffix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Piece {
    /// Letters (sorts before numbers at the same position).
    Alpha(String),
    /// Digits.
    Num(u64),
}

/// Pre-release kinds, in release order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Alpha,
    Beta,
    Pre,
    Rc,
}

/// A parsed version. Equality and order follow the rules in the module documentation, so
/// `3.0` equals `3.0.0` and `4.6.0-xilinx` equals `4.6.0`.
#[derive(Debug, Clone)]
pub struct Version {
    release: Vec<u64>,
    suffix: Vec<Piece>,
    pre: Option<(Stage, u64)>,
}

impl Version {
    /// Parse `s`; `None` when it does not follow the documented shape.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        if s.is_empty() || s.len() > MAX_LEN || !s.is_ascii() {
            return None;
        }
        let s = s.to_ascii_lowercase();
        let b = s.as_bytes();
        let mut i = usize::from(b[0] == b'v' && b.get(1).is_some_and(u8::is_ascii_digit));
        // RELEASE
        let mut release = Vec::new();
        loop {
            let (n, next) = number(b, i)?;
            release.push(n);
            i = next;
            if release.len() > MAX_RELEASE {
                return None;
            }
            if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
            } else {
                break;
            }
        }
        let mut v = Version {
            release,
            suffix: Vec::new(),
            pre: None,
        };
        // SUFFIX, attached
        if b.get(i).is_some_and(u8::is_ascii_alphabetic) {
            let end = b[i..]
                .iter()
                .position(|c| !c.is_ascii_alphanumeric())
                .map_or(b.len(), |p| i + p);
            let token = &s[i..end];
            if token.len() > MAX_SUFFIX {
                return None;
            }
            match pre_release(token) {
                Some(p) => v.pre = Some(p),
                None => v.suffix = pieces(token)?,
            }
            i = end;
        }
        // LABEL
        if i < b.len() {
            let sep = b[i];
            let dot_label = sep == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic);
            if !matches!(sep, b'-' | b'_' | b'+' | b'~' | b' ') && !dot_label {
                return None;
            }
            let rest = &s[i + 1..];
            let word = rest
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or("");
            if v.pre.is_none() {
                v.pre = pre_release(word);
            }
        }
        Some(v)
    }

    fn cmp_release(&self, other: &Version) -> Ordering {
        let n = self.release.len().max(other.release.len());
        (0..n)
            .map(|k| {
                let a = self.release.get(k).copied().unwrap_or(0);
                let b = other.release.get(k).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.cmp_release(other)
            .then_with(|| self.suffix.cmp(&other.suffix))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        f.write_str(&release.join("."))?;
        for p in &self.suffix {
            match p {
                Piece::Alpha(a) => f.write_str(a)?,
                Piece::Num(n) => write!(f, "{n}")?,
            }
        }
        if let Some((kind, n)) = self.pre {
            let word = match kind {
                Stage::Alpha => "alpha",
                Stage::Beta => "beta",
                Stage::Pre => "pre",
                Stage::Rc => "rc",
            };
            f.write_str("-")?;
            f.write_str(word)?;
            if n != 0 {
                write!(f, "{n}")?;
            }
        }
        Ok(())
    }
}

/// The number starting at `i` and the index after it; `None` if there is none or it is too
/// long.
fn number(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let len = b.get(i..)?.iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || len > MAX_DIGITS {
        return None;
    }
    let n = std::str::from_utf8(&b[i..i + len]).ok()?.parse().ok()?;
    Some((n, i + len))
}

/// `rc1`, `beta`, `pre2`, `alpha3` as a pre-release marker.
fn pre_release(token: &str) -> Option<(Stage, u64)> {
    let digits = token.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let word = &token[..token.len() - digits.len()];
    let kind = match word {
        "alpha" => Stage::Alpha,
        "beta" => Stage::Beta,
        "pre" => Stage::Pre,
        "rc" => Stage::Rc,
        _ => return None,
    };
    if !digits.bytes().all(|c| c.is_ascii_digit()) || digits.len() > MAX_DIGITS {
        return None;
    }
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some((kind, n))
}

/// A suffix as alternating letter and digit runs.
fn pieces(token: &str) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut rest = token;
    while !rest.is_empty() {
        let alpha = rest.as_bytes()[0].is_ascii_alphabetic();
        let len = rest
            .bytes()
            .take_while(|c| c.is_ascii_alphabetic() == alpha)
            .count();
        let (run, tail) = rest.split_at(len);
        out.push(if alpha {
            Piece::Alpha(run.to_owned())
        } else {
            Piece::Num(run.parse().ok()?)
        });
        rest = tail;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        match Version::parse(s) {
            Some(v) => v,
            None => panic!("{s:?} should parse"),
        }
    }

    /// Each list is in strictly increasing order.
    fn ascending(list: &[&str]) {
        for w in list.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
            assert!(v(w[1]) > v(w[0]), "{} > {}", w[1], w[0]);
        }
    }

    #[test]
    fn numeric_releases_compare_by_number_not_text() {
        ascending(&["1.4.9", "1.4.39", "1.4.40", "1.4.100", "1.10"]);
        ascending(&["0.52", "2011.54", "2016.73", "2016.74", "2019.78", "2020.79"]);
        ascending(&[
            "2.6.29",
            "2.6.32.68",
            "3.8.13",
            "4.4.181",
            "4.4.182",
            "4.6.0",
            "5.1.11",
        ]);
    }

    #[test]
    fn openssl_letter_releases() {
        ascending(&[
            "1.0.1", "1.0.1a", "1.0.1f", "1.0.1g", "1.0.1u", "1.0.2", "1.0.2k", "1.0.2u", "1.0.2z",
            "1.0.2za", "1.0.2zc", "1.0.2zd", "1.1.0", "1.1.1", "1.1.1n", "3.0.0",
        ]);
    }

    #[test]
    fn openssh_portable_patch_levels() {
        ascending(&["7.4", "7.4p1", "7.4p2", "7.4p10", "7.5p1", "9.7p1", "9.8p1"]);
    }

    #[test]
    fn pre_releases_sort_before_their_release() {
        ascending(&[
            "1.0.2-alpha",
            "1.0.2-beta1",
            "1.0.2-beta2",
            "1.0.2-pre1",
            "1.0.2-rc1",
            "1.0.2-rc10",
            "1.0.2",
            "1.0.2a",
        ]);
        ascending(&["4.0rc1", "4.0", "4.0.1"]);
        ascending(&["5.1.11", "5.2-rc6", "5.2.0"]);
        assert_eq!(v("2.6.39-rc1").to_string(), "2.6.39-rc1");
    }

    #[test]
    fn local_labels_do_not_order() {
        assert_eq!(v("3.14.0-xilinx-g1234"), v("3.14.0"));
        assert_eq!(v("4.6.0-xilinx-g03c746f7"), v("4.6"));
        assert_eq!(v("1.27.2_buildroot"), v("1.27.2"));
        assert_eq!(v("1.36.1.git"), v("1.36.1"));
        assert_eq!(v("1.0.2k-fips"), v("1.0.2k"));
        assert_eq!(v("3.12.0 (bitmain)"), v("3.12.0"));
        assert!(v("4.4.182-rt") > v("4.4.181"));
    }

    #[test]
    fn equal_forms() {
        assert_eq!(v("3.0"), v("3.0.0"));
        assert_eq!(v("v1.2.3"), v("1.2.3"));
        assert_eq!(v("1.0.2K"), v("1.0.2k"));
        assert_eq!(v(" 2.17 "), v("2.17"));
        assert_ne!(v("2.17"), v("2.17.1"));
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(v("V1.0.2ZA").to_string(), "1.0.2za");
        assert_eq!(v("7.4p1").to_string(), "7.4p1");
        assert_eq!(v("4.6.0-xilinx").to_string(), "4.6.0");
    }

    #[test]
    fn unparseable_versions() {
        for s in [
            "",
            " ",
            "OpenSSH_7.4p1",
            "unknown",
            "v",
            ".1",
            "1:2.17-1",
            "1..2",
            "1.2.3.4.5.6.7.8.9",
            "1.0.2abcdefghi",
            "1234567890123456789",
            "1.2/3",
            "1.0é",
            &"1".repeat(65),
        ] {
            assert!(Version::parse(s).is_none(), "{s:?} must not parse");
        }
        // The edge of each bound still parses.
        assert!(Version::parse("1.2.3.4.5.6.7.8").is_some());
        assert!(Version::parse("123456789012345678").is_some());
        assert!(Version::parse("1.0.2abcdefgh").is_some());
    }

    #[test]
    fn order_is_total_and_consistent() {
        let all = [
            "1.0.2",
            "1.0.2a",
            "1.0.2-rc1",
            "1.0.2.0",
            "7.4p1",
            "7.4",
            "3.14.0-xilinx",
            "3.14",
            "2019.78",
            "1.2b3",
            "1.2b",
            "1.2-beta3",
        ];
        for a in all {
            for b in all {
                let (x, y) = (v(a), v(b));
                assert_eq!(x.cmp(&y), y.cmp(&x).reverse(), "{a} vs {b}");
                assert_eq!(x == y, x.cmp(&y) == Ordering::Equal, "{a} vs {b}");
            }
        }
    }
}
