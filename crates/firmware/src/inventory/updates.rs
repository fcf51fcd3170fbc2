//! Firmware update paths: shell handlers (upgrade CGIs, update scripts) that unpack an
//! uploaded package and run something from it, and how (or whether) they check a signature
//! first. A handler that hands the package to a binary (`daemonc`, `FileParser`) is listed as
//! delegated: what the binary checks is beyond a script reading.
//!
//! Weaknesses recognised, each seen in Bitmain handlers (brief §4.4, §5 UPD-1):
//! - no verification at all before running the package's script;
//! - the verification status compared with one value (`-eq 1`) instead of "not zero", so any
//!   other failure status lets the package run;
//! - a missing signature only reported (`echo`), not refused;
//! - the verification run after the package is already unpacked and its script run.

use serde::Serialize;

/// Verifier commands that check a signature.
const VERIFIERS: &[&str] = &[
    "openssl dgst",
    "openssl pkeyutl",
    "gpg --verify",
    "signify",
    "minisign",
    "usign",
];
/// Binaries that a handler may delegate the whole package to.
const DELEGATES: &[&str] = &[
    "daemonc",
    "FileParser",
    "sysupgrade",
    "fwupgrade",
    "rauc",
    "swupdate",
];

/// One update handler.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatePath {
    /// Path of the script in the output.
    pub file: String,
    /// Byte offset of the line that runs the package's content (or delegates it).
    pub offset: u64,
    /// That line.
    pub runs: String,
    /// Signature checks, as written.
    pub verifies: Vec<String>,
    /// The binary the package is handed to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated_to: Option<String>,
    /// What is wrong with the check, in words; empty when nothing is.
    pub weaknesses: Vec<String>,
}

/// Read a shell script as an update handler, if it is one.
pub(crate) fn parse(path: &str, bytes: &[u8]) -> Option<UpdatePath> {
    if !bytes.starts_with(b"#!") || bytes.len() > 256 << 10 {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    let mut lines = Vec::new();
    let mut offset = 0u64;
    for raw in text.split_inclusive('\n') {
        let code = raw.split('#').next().unwrap_or("").trim().to_owned();
        lines.push((offset, code));
        offset += raw.len() as u64;
    }
    let unpacks = lines.iter().position(|(_, l)| {
        (l.starts_with("tar ") || l.contains(" tar ") || l.contains("| tar"))
            && (l.contains('x') && (l.contains(" -") || l.contains(" zx") || l.contains(" x")))
    });
    let delegate = lines.iter().find_map(|(o, l)| {
        DELEGATES
            .iter()
            .find(|d| l.split_whitespace().any(|w| w.rsplit('/').next() == Some(**d)))
            .map(|d| (*o, l.clone(), (*d).to_owned()))
    });
    // Running something the package brought: `sh runme.sh`, `./runme.sh`, `. ./x.sh`.
    let runs = lines.iter().enumerate().find(|(i, (_, l))| {
        unpacks.is_some_and(|u| *i > u)
            && l.split([';', '&', '|']).any(|part| {
                let mut w: Vec<&str> = part.split_whitespace().collect();
                // `then sh runme.sh`, `else ./x.sh`, `do . ./y.sh`: the command follows.
                while w.first().is_some_and(|k| ["then", "else", "do", "{"].contains(k)) {
                    w.remove(0);
                }
                match w.as_slice() {
                    ["sh" | "bash" | "ash" | "." | "source", s, ..] => s.ends_with(".sh"),
                    [s, ..] => s.starts_with("./") && s.ends_with(".sh"),
                    [] => false,
                }
            })
    });
    let (offset, runs_line, delegated_to) = match (runs, delegate) {
        (Some((_, (o, l))), _) => (*o, l.clone(), None),
        (None, Some((o, l, d))) => (o, l, Some(d)),
        (None, None) => return None,
    };
    let verifies: Vec<String> = lines
        .iter()
        .filter(|(_, l)| {
            VERIFIERS.iter().any(|v| l.contains(v)) && (l.contains("verify") || !l.contains("openssl"))
        })
        .map(|(_, l)| l.clone())
        .collect();
    let mut weaknesses = Vec::new();
    if delegated_to.is_none() {
        let run_at = runs.map_or(usize::MAX, |(i, _)| i);
        let verify_at = lines
            .iter()
            .position(|(_, l)| VERIFIERS.iter().any(|v| l.contains(v)));
        match verify_at {
            None => weaknesses.push("the package's script runs with no signature check".to_owned()),
            Some(v) if v > run_at => {
                weaknesses.push("the signature is checked only after the package's script has run".to_owned())
            }
            Some(v) => {
                let checked = &lines[v..run_at.min(lines.len())];
                let fails_closed = checked.iter().any(|(_, l)| {
                    l.contains("|| exit")
                        || l.contains("-ne 0")
                        || l.contains("!= 0")
                        || l.contains("-gt 0")
                        || (l.starts_with("if ") && l.contains("openssl") && l.contains("!"))
                });
                let one_value = checked
                    .iter()
                    .any(|(_, l)| l.contains("-eq 1") || l.contains("= 1 ]"));
                if !fails_closed && one_value {
                    weaknesses.push(
                        "the check's status is compared with 1 only: any other failure status lets the package run"
                            .to_owned(),
                    );
                } else if !fails_closed {
                    weaknesses.push("a failed signature check does not stop the package's script".to_owned());
                }
                let missing_only_logged = lines[..run_at.min(lines.len())].iter().any(|(_, l)| {
                    l.contains("! -f") && l.contains(".sig") && l.contains("echo") && !l.contains("exit")
                });
                if missing_only_logged {
                    weaknesses.push("a missing signature file is only reported, not refused".to_owned());
                }
            }
        }
    }
    Some(UpdatePath {
        file: path.to_owned(),
        offset,
        runs: runs_line,
        verifies,
        delegated_to,
        weaknesses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_handlers_are_weak_and_checked_ones_are_not() {
        let unsigned = b"#!/bin/sh\ncd /tmp\ntar zxf -\nif [ -f runme.sh ]; then sh runme.sh; fi\n";
        let u = parse("www/pages/cgi-bin/upgrade.cgi", unsigned).unwrap();
        assert_eq!(
            u.weaknesses,
            ["the package's script runs with no signature check"]
        );
        assert_eq!(u.offset, 28);
        let good = b"#!/bin/sh\ntar zxf -\nopenssl dgst -sha256 -verify k.pem -signature runme.sh.sig runme.sh || exit 1\nsh runme.sh\n";
        assert!(parse("upgrade.cgi", good).unwrap().weaknesses.is_empty());
    }

    #[test]
    fn one_value_status_checks_and_logged_missing_signatures_are_weak() {
        let s = b"#!/bin/sh -e\ntar zxf -\nif [ ! -f runme.sh.sig ]; then echo \"Cannot Find Signature!!!\"; fi\n\
openssl dgst -sha256 -verify /etc/k.pem -signature runme.sh.sig runme.sh\nres=$?\nif [ $res -eq 1 ]; then exit 1; fi\nsh runme.sh\n";
        let u = parse("upgrade.cgi", s).unwrap();
        assert_eq!(u.weaknesses.len(), 2, "{:?}", u.weaknesses);
        assert!(u.weaknesses[0].contains("compared with 1"));
        assert!(u.weaknesses[1].contains("only reported"));
    }

    #[test]
    fn delegation_and_non_handlers() {
        let d = parse(
            "upgrade.cgi",
            b"#!/bin/sh\ncat > /tmp/u.bmu\n/usr/sbin/daemonc /tmp/u.bmu\n",
        )
        .unwrap();
        assert_eq!(d.delegated_to.as_deref(), Some("daemonc"));
        assert!(d.weaknesses.is_empty());
        assert!(parse("x.sh", b"#!/bin/sh\necho hello\nsh other.sh\n").is_none());
        assert!(parse("x", b"\x7fELF").is_none());
    }
}
