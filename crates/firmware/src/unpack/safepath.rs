//! Turning hostile entry names into paths that stay inside the extraction root.
//!
//! Names are resolved lexically against the container's root: `..` may climb back up inside
//! the container but never above it; absolute names are rebased onto the container root; bytes
//! that are not printable UTF-8 are percent-escaped. Link targets are resolved the same way,
//! and by the engine again against the links already extracted (see `engine.rs`).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// Longest single component written as is; longer ones are shortened with a hash suffix.
const MAX_COMPONENT: usize = 200;
/// Deepest path accepted inside one container.
pub(crate) const MAX_COMPONENTS: usize = 256;

/// A name that resolved inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Components relative to the container root, each safe to create.
    pub(crate) parts: Vec<String>,
    /// The raw name was absolute.
    pub(crate) absolute: bool,
    /// Some bytes were escaped or a component shortened.
    pub(crate) renamed: bool,
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `..` climbs above the container root.
    Traversal,
    /// The name has a NUL byte.
    Nul,
    /// Too many components.
    TooDeep,
}

impl Refusal {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Refusal::Traversal => "climbs above the extraction root with `..`",
            Refusal::Nul => "contains a NUL byte",
            Refusal::TooDeep => "has too many path components",
        }
    }
}

/// Resolve `raw` relative to `base` (components already inside the container root).
pub(crate) fn resolve(base: &[String], raw: &[u8]) -> Result<Resolved, Refusal> {
    if raw.contains(&0) {
        return Err(Refusal::Nul);
    }
    let absolute = raw.first() == Some(&b'/');
    let mut parts: Vec<String> = if absolute { Vec::new() } else { base.to_vec() };
    let mut renamed = false;
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    if absolute {
                        // `/..` is `/` in POSIX: stays at the root.
                        continue;
                    }
                    return Err(Refusal::Traversal);
                }
            }
            _ => {
                let (name, changed) = clean_component(comp);
                renamed |= changed;
                parts.push(name);
                if parts.len() > MAX_COMPONENTS {
                    return Err(Refusal::TooDeep);
                }
            }
        }
    }
    Ok(Resolved {
        parts,
        absolute,
        renamed,
    })
}

/// A component safe to create: control bytes and invalid UTF-8 escaped as `%XX`, `%` itself
/// escaped only when something else was, very long names shortened with a hash.
fn clean_component(comp: &[u8]) -> (String, bool) {
    let printable = |c: char| !c.is_control();
    let mut out = match std::str::from_utf8(comp) {
        Ok(s) if s.chars().all(printable) => {
            if s.len() <= MAX_COMPONENT {
                return (s.to_owned(), false);
            }
            s.to_owned()
        }
        _ => {
            let mut s = String::new();
            for chunk in comp.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if printable(c) && c != '%' {
                        s.push(c);
                    } else {
                        let mut b = [0u8; 4];
                        for byte in c.encode_utf8(&mut b).bytes() {
                            let _ = write!(s, "%{byte:02X}");
                        }
                    }
                }
                for byte in chunk.invalid() {
                    let _ = write!(s, "%{byte:02X}");
                }
            }
            s
        }
    };
    if out.len() > MAX_COMPONENT {
        let digest = hex::encode(&Sha256::digest(out.as_bytes())[..8]);
        let mut cut = MAX_COMPONENT - 17;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('~');
        out.push_str(&digest);
    }
    (out, true)
}

/// Where a symlink at `link` (container-relative components) with raw `target` points,
/// lexically, as container-relative components; `None` if it climbs out.
pub(crate) fn link_destination(link: &[String], target: &[u8]) -> Option<Vec<String>> {
    let parent = &link[..link.len().saturating_sub(1)];
    resolve(parent, target).ok().map(|r| r.parts)
}

/// A relative target equivalent to an absolute one, for a link at `link`: `/bin/busybox` seen
/// from `bin/ls` becomes `busybox`'s path relative to `bin/`, i.e. `../bin/busybox`.
pub(crate) fn relative_target(link: &[String], dest: &[String]) -> String {
    let up = link.len().saturating_sub(1);
    let mut s = String::new();
    for _ in 0..up {
        s.push_str("../");
    }
    s.push_str(&dest.join("/"));
    if s.is_empty() {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ordinary_names() {
        let r = resolve(&[], b"./etc/init.d/S70cgminer").unwrap();
        assert_eq!(r.parts, parts(&["etc", "init.d", "S70cgminer"]));
        assert!(!r.absolute && !r.renamed);
        assert_eq!(resolve(&[], b"a/b/../c").unwrap().parts, parts(&["a", "c"]));
    }

    #[test]
    fn traversal_is_refused() {
        assert_eq!(resolve(&[], b"../etc/passwd"), Err(Refusal::Traversal));
        assert_eq!(resolve(&[], b"a/../../x"), Err(Refusal::Traversal));
        assert_eq!(resolve(&[], b"a\0b"), Err(Refusal::Nul));
        assert_eq!(resolve(&[], &b"a/".repeat(300)), Err(Refusal::TooDeep));
    }

    #[test]
    fn absolute_names_are_rebased() {
        let r = resolve(&parts(&["x"]), b"/../../etc/shadow").unwrap();
        assert_eq!(r.parts, parts(&["etc", "shadow"]));
        assert!(r.absolute);
    }

    #[test]
    fn odd_bytes_are_escaped() {
        let r = resolve(&[], b"bad\nname\xff%").unwrap();
        assert_eq!(r.parts, parts(&["bad%0Aname%FF%25"]));
        assert!(r.renamed);
        let long = resolve(&[], &[b'a'; 300]).unwrap();
        assert!(long.parts[0].len() <= 200 && long.renamed);
    }

    #[test]
    fn link_targets() {
        let link = parts(&["bin", "ls"]);
        assert_eq!(
            link_destination(&link, b"busybox"),
            Some(parts(&["bin", "busybox"]))
        );
        assert_eq!(
            link_destination(&link, b"/bin/busybox"),
            Some(parts(&["bin", "busybox"]))
        );
        assert_eq!(link_destination(&link, b"../../etc"), None);
        assert_eq!(
            relative_target(&link, &parts(&["bin", "busybox"])),
            "../bin/busybox"
        );
        assert_eq!(relative_target(&parts(&["a"]), &[]), ".");
    }
}
