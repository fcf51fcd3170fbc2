//! Ways to root without a password: `sudoers` rules tagged `NOPASSWD`, and login helpers that
//! run `login -f root` (log in as root without asking, like the S21's `antlogin`), in binaries
//! or scripts.

use serde::Serialize;

/// A way to root without a password.
#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    /// Path of the file in the output.
    pub file: String,
    /// Byte offset of the rule or string.
    pub offset: u64,
    /// What it is: `sudoers NOPASSWD` or `login -f root helper`.
    pub how: String,
    /// Who gets it (sudoers user or `%group`), when the file says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// The commands allowed without a password (`ALL` for everything).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// The line or bytes as found.
    pub excerpt: String,
}

impl Escalation {
    /// Whether any command at all may be run as root.
    pub fn is_total(&self) -> bool {
        self.how.starts_with("login") || self.commands.iter().any(|c| c == "ALL")
    }
}

/// Whether `path` is a sudoers file.
pub(crate) fn is_sudoers(path: &str) -> bool {
    path == "etc/sudoers" || path.ends_with("/etc/sudoers") || path.contains("etc/sudoers.d/")
}

/// `NOPASSWD` rules of a sudoers file.
pub(crate) fn sudoers(path: &str, bytes: &[u8]) -> Vec<Escalation> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for raw in bytes.split_inclusive(|b| *b == b'\n').take(5000) {
        let at = offset;
        offset += raw.len() as u64;
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.starts_with('#') || line.starts_with("Defaults") || !line.contains("NOPASSWD:") {
            continue;
        }
        let who = line.split_whitespace().next().map(str::to_owned);
        // Everything after the last NOPASSWD: tag, up to another tag, is the command list.
        let after = line.rsplit("NOPASSWD:").next().unwrap_or("");
        let commands: Vec<String> = after
            .split(',')
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .map(|c| c.split_once(':').map_or(c, |(_, rest)| rest.trim()).to_owned())
            .take(64)
            .collect();
        out.push(Escalation {
            file: path.to_owned(),
            offset: at,
            how: "sudoers NOPASSWD".into(),
            who,
            commands,
            excerpt: line.to_owned(),
        });
    }
    out
}

/// `login -f root` in a script, or its argument strings side by side in a binary's data.
pub(crate) fn login_helper(path: &str, bytes: &[u8]) -> Option<Escalation> {
    let found = if bytes.starts_with(b"\x7fELF") {
        // execlp("login", "login", "-f", "root", …): the strings sit together in .rodata.
        memchr::memmem::find_iter(bytes, b"-f\0root\0").find(|&at| {
            let from = at.saturating_sub(16);
            memchr::memmem::find(&bytes[from..at], b"login\0").is_some()
        })
    } else if bytes.starts_with(b"#!") {
        let text = String::from_utf8_lossy(bytes);
        let mut offset = 0usize;
        let mut hit = None;
        for line in text.split_inclusive('\n') {
            let code = line.split('#').next().unwrap_or("");
            let words: Vec<&str> = code.split_whitespace().collect();
            if words
                .windows(3)
                .any(|w| w[0].ends_with("login") && w[1] == "-f" && w[2] == "root")
            {
                hit = Some(offset);
                break;
            }
            offset += line.len();
        }
        hit
    } else {
        None
    }?;
    let end = (found + 24).min(bytes.len());
    let from = found.saturating_sub(8);
    Some(Escalation {
        file: path.to_owned(),
        offset: found as u64,
        how: "login -f root helper".into(),
        who: None,
        commands: Vec::new(),
        excerpt: String::from_utf8_lossy(&bytes[from..end]).replace('\0', "\\0"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nopasswd_rules_are_read_with_their_commands() {
        let s = b"# miner ALL=(ALL) NOPASSWD: ALL\nroot ALL=(ALL) ALL\nwww-data ALL=(root) NOPASSWD: /etc/init.d/S70cgminer, /bin/hostname\n%admin ALL=(ALL) NOPASSWD:ALL\n";
        let e = sudoers("etc/sudoers", s);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].who.as_deref(), Some("www-data"));
        assert_eq!(e[0].commands, ["/etc/init.d/S70cgminer", "/bin/hostname"]);
        assert!(!e[0].is_total());
        assert!(e[1].is_total());
        assert_eq!(e[0].offset, 51);
    }

    #[test]
    fn login_helpers_in_binaries_and_scripts() {
        let mut elf = b"\x7fELF\x01\x01\x01\0".to_vec();
        elf.extend_from_slice(b"usage\0login\0-f\0root\0");
        assert!(login_helper("usr/sbin/antlogin", &elf).is_some());
        let mut far = b"\x7fELF\x01\x01\x01\0login\0".to_vec();
        far.extend(std::iter::repeat_n(b'x', 64));
        far.extend_from_slice(b"\0-f\0root\0");
        assert!(login_helper("usr/bin/x", &far).is_none());
        assert!(login_helper("bin/l", b"#!/bin/sh\nexec /bin/login -f root\n").is_some());
        assert!(login_helper("bin/l", b"#!/bin/sh\n# never: login -f root\nlogin\n").is_none());
    }
}
