//! Scan targets: CIDRs, ranges, lists and files, expanded to a bounded set of IPv4 addresses.
//!
//! Accepted forms (combine freely, separated by commas or whitespace):
//! `10.0.0.7`, `10.0.0.0/22` (network and broadcast addresses dropped below /31),
//! `10.0.0.1-10.0.3.254`, octet ranges as pyasic writes them (`10.1-2.0.1-50`), and `@FILE` or
//! the path of an existing file with one target per line (`#` comments). Every address must be
//! private (RFC 1918), shared (RFC 6598), link-local or loopback unless public targets are
//! explicitly allowed: a typo must not point a scanner at someone else's network.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;

/// At most this many addresses per scan (a /12): a farm of 16,000 machines needs far fewer,
/// and a mistaken `/8` must not turn into sixteen million probes.
pub const MAX_TARGETS: usize = 1 << 20;

/// Why targets were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Not a form listed in the module docs.
    #[error("target {0:?} is not an IPv4 address, CIDR, range or file")]
    Syntax(String),
    /// A range whose start is after its end.
    #[error("target {0:?}: range start is after its end")]
    Backwards(String),
    /// A public address without `--allow-public`.
    #[error(
        "target {spec:?} includes {address}, which is not a private, shared, link-local or loopback address (pass --allow-public to scan it)"
    )]
    Public {
        /// The target as written.
        spec: String,
        /// The first public address in it.
        address: Ipv4Addr,
    },
    /// More than [`MAX_TARGETS`] addresses.
    #[error("targets expand to more than {MAX_TARGETS} addresses")]
    TooMany,
    /// A target file that cannot be read.
    #[error("reading target file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No targets at all.
    #[error("no targets given")]
    Empty,
}

/// Where an address may be scanned without `--allow-public`.
pub fn is_internal(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_private() || a.is_loopback() || a.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
}

/// Expand `specs` into a sorted, de-duplicated address list.
pub fn expand(specs: &[String], allow_public: bool) -> Result<Vec<Ipv4Addr>, TargetError> {
    let mut set = BTreeSet::new();
    for spec in specs {
        for part in spec
            .split([',', ' ', '\t', '\n'])
            .filter(|p| !p.trim().is_empty())
        {
            add(part.trim(), allow_public, &mut set, 0)?;
        }
    }
    if set.is_empty() {
        return Err(TargetError::Empty);
    }
    Ok(set.into_iter().map(Ipv4Addr::from).collect())
}

fn add(spec: &str, allow_public: bool, set: &mut BTreeSet<u32>, depth: u8) -> Result<(), TargetError> {
    let file = spec.strip_prefix('@').map(Path::new).or_else(|| {
        let p = Path::new(spec);
        (spec.contains('/') && p.is_file() || !looks_like_address(spec) && p.is_file()).then_some(p)
    });
    if let Some(path) = file {
        if depth > 0 {
            // A file naming another file could loop; one level is enough.
            return Err(TargetError::Syntax(spec.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| TargetError::File {
            path: path.display().to_string(),
            source,
        })?;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            for part in line.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
                add(part, allow_public, set, depth + 1)?;
            }
        }
        return Ok(());
    }
    let (lo, hi) = range_of(spec)?;
    let count = (hi - lo) as usize + 1;
    // Checked before expanding, so a mistaken /8 costs nothing.
    if count > MAX_TARGETS {
        return Err(TargetError::TooMany);
    }
    if let Some(octets) = octet_ranges(spec) {
        // Octet ranges are a product, not an interval.
        let mut addrs = Vec::new();
        for a in octets[0].0..=octets[0].1 {
            for b in octets[1].0..=octets[1].1 {
                for c in octets[2].0..=octets[2].1 {
                    for d in octets[3].0..=octets[3].1 {
                        addrs.push(u32::from(Ipv4Addr::new(a, b, c, d)));
                    }
                }
            }
        }
        for a in addrs {
            check(spec, a, allow_public)?;
            set.insert(a);
        }
    } else {
        for a in lo..=hi {
            check(spec, a, allow_public)?;
            set.insert(a);
        }
    }
    if set.len() > MAX_TARGETS {
        return Err(TargetError::TooMany);
    }
    Ok(())
}

fn looks_like_address(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'/')
}

fn check(spec: &str, a: u32, allow_public: bool) -> Result<(), TargetError> {
    let address = Ipv4Addr::from(a);
    if allow_public || is_internal(address) {
        Ok(())
    } else {
        Err(TargetError::Public {
            spec: spec.to_string(),
            address,
        })
    }
}

/// The inclusive interval a single spec covers (for octet ranges, its bounding interval).
fn range_of(spec: &str) -> Result<(u32, u32), TargetError> {
    let bad = || TargetError::Syntax(spec.to_string());
    if spec.contains('/') {
        let net: Ipv4Net = spec.parse().map_err(|_| bad())?;
        let net = net.trunc();
        let (lo, hi) = (u32::from(net.network()), u32::from(net.broadcast()));
        return Ok(if net.prefix_len() < 31 {
            (lo + 1, hi - 1)
        } else {
            (lo, hi)
        });
    }
    if let Ok(a) = spec.parse::<Ipv4Addr>() {
        return Ok((a.into(), a.into()));
    }
    if let Some((a, b)) = spec.split_once('-')
        && let (Ok(a), Ok(b)) = (a.parse::<Ipv4Addr>(), b.parse::<Ipv4Addr>())
    {
        let (a, b) = (u32::from(a), u32::from(b));
        return if a <= b {
            Ok((a, b))
        } else {
            Err(TargetError::Backwards(spec.to_string()))
        };
    }
    match octet_ranges(spec) {
        Some(o) => {
            if o.iter().any(|(a, b)| a > b) {
                return Err(TargetError::Backwards(spec.to_string()));
            }
            Ok((
                Ipv4Addr::new(o[0].0, o[1].0, o[2].0, o[3].0).into(),
                Ipv4Addr::new(o[0].1, o[1].1, o[2].1, o[3].1).into(),
            ))
        }
        None => Err(bad()),
    }
}

/// `10.1-2.0.1-50`: four dot-separated octets, each a number or `a-b`.
fn octet_ranges(spec: &str) -> Option<[(u8, u8); 4]> {
    let parts: Vec<&str> = spec.split('.').collect();
    if parts.len() != 4 || !spec.contains('-') {
        return None;
    }
    let mut out = [(0u8, 0u8); 4];
    for (i, p) in parts.iter().enumerate() {
        out[i] = match p.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let v = p.parse().ok()?;
                (v, v)
            }
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(s: &[&str]) -> Result<Vec<Ipv4Addr>, TargetError> {
        expand(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>(), false)
    }

    #[test]
    fn forms() {
        assert_eq!(exp(&["10.0.0.7"]).unwrap(), [Ipv4Addr::new(10, 0, 0, 7)]);
        let cidr = exp(&["10.0.0.0/30"]).unwrap();
        assert_eq!(cidr, [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(exp(&["10.0.0.0/22"]).unwrap().len(), 1022);
        assert_eq!(exp(&["127.0.0.9/32"]).unwrap().len(), 1);
        assert_eq!(exp(&["10.0.0.254-10.0.1.1"]).unwrap().len(), 4);
        let oct = exp(&["10.1-2.0.1-3"]).unwrap();
        assert_eq!(oct.len(), 6);
        assert!(oct.contains(&Ipv4Addr::new(10, 2, 0, 3)));
        assert!(!oct.contains(&Ipv4Addr::new(10, 1, 0, 4)));
        // Lists, duplicates and whitespace.
        assert_eq!(exp(&["10.0.0.1,10.0.0.1 10.0.0.2", "10.0.0.2"]).unwrap().len(), 2);
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("targets.txt");
        std::fs::write(
            &f,
            "# farm A\n192.168.1.10\n192.168.1.20-192.168.1.21  # rack 2\n\n",
        )
        .unwrap();
        let got = exp(&[&format!("@{}", f.display())]).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(exp(&[f.to_str().unwrap()]).unwrap().len(), 3);
        assert!(matches!(exp(&["@/nonexistent/x"]), Err(TargetError::File { .. })));
    }

    #[test]
    fn public_targets_need_opt_in() {
        let e = exp(&["8.8.8.8"]).unwrap_err();
        assert!(e.to_string().contains("--allow-public"), "{e}");
        assert!(exp(&["192.168.255.250-192.169.0.2"]).is_err());
        assert!(expand(&["8.8.8.8".into()], true).is_ok());
        for ok in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "127.1.0.1",
            "100.64.0.1",
            "169.254.1.1",
        ] {
            assert!(exp(&[ok]).is_ok(), "{ok}");
        }
        for bad in ["172.32.0.1", "100.128.0.1", "1.1.1.1"] {
            assert!(exp(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_and_huge_targets() {
        for bad in [
            "10.0.0",
            "10.0.0.300",
            "host.example",
            "10.0.0.0/33",
            "10.0.0.1-x",
            "",
        ] {
            assert!(exp(&[bad]).is_err(), "{bad:?}");
        }
        assert!(matches!(
            exp(&["10.0.0.9-10.0.0.1"]),
            Err(TargetError::Backwards(_))
        ));
        assert!(matches!(exp(&["10.0.0.0/8"]), Err(TargetError::TooMany)));
        assert!(exp(&["10.0.0.0/12"]).is_ok());
    }
}
