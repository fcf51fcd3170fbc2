//! The platform: OS release and build system, kernel, miner family and model, firmware
//! version, and the vendor trust anchors (public keys) an image carries.
//!
//! Each fact names the file it came from, so an investigator can check it.

use serde::Serialize;

/// A fact about the platform and where it was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PlatformFact {
    /// The value (`Buildroot 2019.02`, `Antminer S9`, `4.6.0-xilinx`).
    pub value: String,
    /// File in the tree.
    pub file: String,
    /// How it was read (`os-release`, `file name`, `uImage name`, `web page title`).
    pub how: String,
}

/// A public key that the firmware trusts to sign updates or configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustAnchor {
    /// File in the tree.
    pub file: String,
    /// Byte offset of the key block.
    pub offset: u64,
    /// PEM label.
    pub label: String,
    /// SHA-256 of the key's DER, hex: its fingerprint.
    pub sha256: String,
}

/// What the image runs on and as.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Platform {
    /// OS or build system release (os-release, openwrt_release, Ångström version, issue).
    pub os: Vec<PlatformFact>,
    /// Kernel versions (uImage name, module directories, `Linux version` strings).
    pub kernel: Vec<PlatformFact>,
    /// Miner family (`antminer`, `whatsminer`, `avalon`, `braiins-os`, `luxos`, `vnish`).
    pub miner_family: Vec<PlatformFact>,
    /// Model names seen (`Antminer S9`).
    pub model: Vec<PlatformFact>,
    /// Firmware build or version files (`ant_version`, `version_number`, `fw_version`).
    pub firmware_version: Vec<PlatformFact>,
    /// Public keys that sign what the firmware accepts.
    pub trust_anchors: Vec<TrustAnchor>,
}

/// Facts per list at most.
const MAX_FACTS: usize = 64;

fn fact(value: impl Into<String>, file: &str, how: &str) -> PlatformFact {
    PlatformFact {
        value: value.into(),
        file: file.to_owned(),
        how: how.to_owned(),
    }
}

/// `KEY=value` / `KEY="value"` / `KEY='value'` from a shell-style release file.
fn release_field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
        let v = v.trim().trim_matches(['"', '\'']);
        (!v.is_empty()).then_some(v)
    })
}

/// Printable first line of a small text file, at most 80 characters.
fn first_line(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes.get(..bytes.len().min(4096))?).ok()?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line: String = line.chars().filter(|c| !c.is_control()).take(80).collect();
    // "\n \l" escapes of /etc/issue say nothing.
    let line = line.replace("\\n", "").replace("\\l", "").trim().to_owned();
    (!line.is_empty()).then_some(line)
}

/// Model name markers and how far a model name may run after them.
const MODELS: &[&str] = &["Antminer ", "Whatsminer ", "AvalonMiner ", "Avalon "];

/// Add what file `path` (content `bytes`) says about the platform.
pub(crate) fn scan(p: &mut Platform, path: &str, bytes: &[u8]) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_etc = path.contains("etc/") || path.starts_with("usr/lib/");
    let text = || String::from_utf8_lossy(&bytes[..bytes.len().min(64 << 10)]).into_owned();
    match name {
        "os-release" if in_etc => {
            let t = text();
            let n = release_field(&t, "NAME").or_else(|| release_field(&t, "ID"));
            if let Some(n) = n {
                let v = release_field(&t, "VERSION_ID").or_else(|| release_field(&t, "VERSION"));
                let value = v.map_or(n.to_owned(), |v| format!("{n} {v}"));
                push(&mut p.os, fact(value, path, "os-release"));
            }
        }
        "openwrt_release" if in_etc => {
            let t = text();
            if let Some(id) = release_field(&t, "DISTRIB_ID") {
                let v = release_field(&t, "DISTRIB_RELEASE").unwrap_or("?");
                push(&mut p.os, fact(format!("{id} {v}"), path, "openwrt_release"));
            }
        }
        "version" | "angstrom-version" | "issue" | "debian_version" if path.contains("etc/") => {
            if let Some(l) = first_line(bytes) {
                let is_os = [
                    "ngstr",
                    "Buildroot",
                    "OpenWrt",
                    "Poky",
                    "Yocto",
                    "Debian",
                    "Ubuntu",
                    "LEDE",
                ]
                .iter()
                .any(|k| l.contains(k));
                if name == "debian_version" {
                    push(&mut p.os, fact(format!("Debian {l}"), path, "debian_version"));
                } else if is_os {
                    push(&mut p.os, fact(l, path, name));
                }
            }
        }
        "ant_version" | "version_number" | "fw_version" | "compile_time" => {
            if let Some(l) = first_line(bytes).filter(|l| l.len() <= 64) {
                push(&mut p.firmware_version, fact(l, path, name));
            }
        }
        _ => {}
    }
    if let Some(fam) = family_by_name(path) {
        push(&mut p.miner_family, fact(fam, path, "file name"));
    }
    // Model names in text: web pages, configuration, compile_time. Binaries are left out:
    // a miner daemon lists every model it supports.
    if !bytes.starts_with(b"\x7fELF") && bytes.len() <= 1 << 20 {
        for marker in MODELS {
            for at in memchr::memmem::find_iter(bytes, marker.as_bytes()).take(4) {
                if let Some(m) = model_at(marker, &bytes[at + marker.len()..]) {
                    push(&mut p.model, fact(m, path, "model name in text"));
                }
            }
        }
    }
}

/// `S9`, `S19j Pro`, `M30S++`, `1246`: a letter or digit run starting with an upper-case
/// model letter or digit, with up to two short words (`Pro`, `Hyd.`, `XP`) after it.
fn model_at(marker: &str, rest: &[u8]) -> Option<String> {
    let rest = &rest[..rest.len().min(24)];
    let text = std::str::from_utf8(rest)
        .ok()
        .or_else(|| std::str::from_utf8(&rest[..rest.iter().position(|b| !b.is_ascii())?]).ok())?;
    let mut words = text.split(' ');
    let head = words.next()?;
    let head: String = head
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '+')
        .collect();
    let mut chars = head.chars();
    let first = chars.next()?;
    if !(first.is_ascii_uppercase() || first.is_ascii_digit()) || !head.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut model = format!("{}{head}", marker.trim_end().to_owned() + " ");
    for w in words.take(2) {
        if ["Pro", "Pro+", "XP", "Hyd.", "Hydro", "Plus", "SE", "Imm."].contains(&w) {
            model.push(' ');
            model.push_str(w);
        } else {
            break;
        }
    }
    Some(model)
}

/// The miner family a program or configuration file's name points to.
fn family_by_name(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_bin = path.contains("bin/");
    Some(match name {
        "bmminer" | "bmminer.conf" => "antminer",
        "get_miner_conf.cgi" | "get_system_info.cgi" => "antminer",
        "btminer" if in_bin => "whatsminer",
        "bosminer" | "bosminer.toml" => "braiins-os",
        "luxminer" | "luxos.toml" => "luxos",
        _ => return None,
    })
}

/// Keep a fact unless the list is full, has it, or already shows the same value from three
/// files (enough evidence; the rest is noise).
fn push(list: &mut Vec<PlatformFact>, f: PlatformFact) {
    let same = list.iter().filter(|g| g.value == f.value).count();
    if list.len() < MAX_FACTS && same < 3 && !list.contains(&f) {
        list.push(f);
    }
}

impl Platform {
    /// Join another run's facts.
    pub(crate) fn extend(&mut self, other: Platform) {
        for (mine, theirs) in [
            (&mut self.os, other.os),
            (&mut self.kernel, other.kernel),
            (&mut self.miner_family, other.miner_family),
            (&mut self.model, other.model),
            (&mut self.firmware_version, other.firmware_version),
        ] {
            for f in theirs {
                push(mine, f);
            }
        }
        self.trust_anchors.extend(other.trust_anchors);
    }

    /// Facts that need the whole inventory: kernels from components, trust anchors from keys,
    /// the family from what the model names say.
    pub(crate) fn finish(&mut self, components: &[super::Component], keys: &[super::Key]) {
        for c in components
            .iter()
            .filter(|c| c.kind == super::ComponentKind::Kernel)
        {
            if let (Some(v), Some(e)) = (&c.version, c.evidence.first()) {
                push(&mut self.kernel, fact(v.clone(), &e.file, &e.how));
            }
        }
        for c in components
            .iter()
            .filter(|c| ["cgminer", "btminer", "bmminer", "bosminer"].contains(&c.name.as_str()))
        {
            if let Some(e) = c.evidence.first() {
                let v = c.version.as_deref().map_or(String::new(), |v| format!(" {v}"));
                push(
                    &mut self.miner_family,
                    fact(format!("{}{v}", c.name), &e.file, "mining daemon"),
                );
            }
        }
        let families: Vec<String> = self
            .model
            .iter()
            .filter_map(|m| {
                let f = m.value.split(' ').next()?.to_ascii_lowercase();
                Some(match f.as_str() {
                    "avalonminer" => "avalon".to_owned(),
                    _ => f,
                })
            })
            .collect();
        for (f, m) in families.into_iter().zip(self.model.clone()) {
            push(&mut self.miner_family, fact(f, &m.file, "model name"));
        }
        self.trust_anchors = keys
            .iter()
            .filter(|k| k.kind == super::KeyKind::PublicKey)
            .map(|k| TrustAnchor {
                file: k.file.clone(),
                offset: k.offset,
                label: k.label.clone(),
                sha256: k.sha256.clone(),
            })
            .collect();
        for l in [
            &mut self.os,
            &mut self.kernel,
            &mut self.miner_family,
            &mut self.model,
            &mut self.firmware_version,
        ] {
            l.sort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_versions_and_models() {
        let mut p = Platform::default();
        scan(
            &mut p,
            "r/etc/os-release",
            b"NAME=Buildroot\nVERSION_ID=2019.02\n",
        );
        scan(
            &mut p,
            "r/etc/openwrt_release",
            b"DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='15.05'\n",
        );
        scan(&mut p, "r/etc/version", "Ångström v2013.06\n".as_bytes());
        scan(&mut p, "r/etc/version", b"2017-08-15 12:00\n");
        scan(&mut p, "r/etc/ant_version", b"5968\n");
        scan(
            &mut p,
            "r/www/index.html",
            b"<title>Antminer S19j Pro 104T</title> Antminer and more",
        );
        scan(&mut p, "r/usr/bin/bmminer", b"\x7fELF Antminer S9 Antminer S17");
        let os: Vec<&str> = p.os.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(os, ["Buildroot 2019.02", "OpenWrt 15.05", "Ångström v2013.06"]);
        assert_eq!(p.firmware_version[0].value, "5968");
        let models: Vec<&str> = p.model.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(models, ["Antminer S19j Pro"]);
        assert_eq!(p.miner_family[0].value, "antminer");
    }
}
