//! ELF binaries: architecture, type, linked libraries and hardening (NX stack, PIE, RELRO,
//! stack protector, FORTIFY), read with `goblin` from the file's headers and dynamic section.

use goblin::elf::Elf;
use goblin::elf::dynamic::{DF_1_NOW, DF_BIND_NOW, DT_FLAGS, DT_FLAGS_1};
use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_X, PT_GNU_RELRO, PT_GNU_STACK, PT_INTERP};
use serde::Serialize;

/// Hardening of one binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hardening {
    /// The stack is not executable (`PT_GNU_STACK` without `X`).
    pub nx: bool,
    /// Position-independent executable.
    pub pie: bool,
    /// `none`, `partial` (`PT_GNU_RELRO`) or `full` (and bound now).
    pub relro: &'static str,
    /// Stack protector (`__stack_chk_fail` imported).
    pub canary: bool,
    /// FORTIFY_SOURCE (`__*_chk` imported).
    pub fortify: bool,
}

/// One ELF file.
#[derive(Debug, Clone, Serialize)]
pub struct Binary {
    /// Path of the file in the output.
    pub file: String,
    /// Machine (`arm`, `aarch64`, `x86_64`, `mips`, …).
    pub arch: String,
    /// 32 or 64.
    pub bits: u8,
    /// `executable`, `shared-object` (libraries and PIE executables) or `other`.
    pub kind: &'static str,
    /// Shared libraries it needs.
    pub needed: Vec<String>,
    /// How it is hardened.
    pub hardening: Hardening,
}

/// Read an ELF file's headers; `None` if it is not one or does not parse.
pub(crate) fn parse(path: &str, bytes: &[u8]) -> Option<Binary> {
    if !bytes.starts_with(b"\x7fELF") {
        return None;
    }
    let elf = Elf::parse(bytes).ok()?;
    let interp = elf.program_headers.iter().any(|p| p.p_type == PT_INTERP);
    let nx = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == PT_GNU_STACK)
        .is_some_and(|p| p.p_flags & PF_X == 0);
    let has_relro = elf.program_headers.iter().any(|p| p.p_type == PT_GNU_RELRO);
    let now = elf.dynamic.as_ref().is_some_and(|d| {
        d.dyns.iter().any(|e| {
            (e.d_tag == DT_FLAGS && e.d_val & DF_BIND_NOW != 0)
                || (e.d_tag == DT_FLAGS_1 && e.d_val & DF_1_NOW != 0)
        })
    });
    let imported = |pred: &dyn Fn(&str) -> bool| {
        elf.dynsyms
            .iter()
            .take(100_000)
            .filter(|s| s.is_import())
            .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
            .any(pred)
    };
    let kind = match elf.header.e_type {
        ET_EXEC => "executable",
        ET_DYN => "shared-object",
        _ => "other",
    };
    Some(Binary {
        file: path.to_owned(),
        arch: goblin::elf::header::machine_to_str(elf.header.e_machine).to_ascii_lowercase(),
        bits: if elf.is_64 { 64 } else { 32 },
        kind,
        needed: elf.libraries.iter().take(256).map(|s| s.to_string()).collect(),
        hardening: Hardening {
            nx,
            pie: elf.header.e_type == ET_DYN && interp,
            relro: match (has_relro, now) {
                (false, _) => "none",
                (true, false) => "partial",
                (true, true) => "full",
            },
            canary: imported(&|n| n == "__stack_chk_fail" || n == "__stack_chk_guard"),
            fortify: imported(&|n| n.starts_with("__") && n.ends_with("_chk") && n != "__stack_chk_fail"),
        },
    })
}

impl Binary {
    /// Whether it is a program (an executable, or a PIE one), not a library.
    pub fn is_program(&self) -> bool {
        self.kind == "executable" || (self.kind == "shared-object" && self.hardening.pie)
    }

    /// The protections it lacks, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let h = self.hardening;
        let mut m = Vec::new();
        if !h.nx {
            m.push("NX stack");
        }
        if !h.pie {
            m.push("PIE");
        }
        if h.relro == "none" {
            m.push("RELRO");
        }
        if !h.canary {
            m.push("stack canary");
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_binaries_parse_with_their_hardening() {
        let spec = hashward_fixtures::elf::ElfSpec {
            rodata: &["hello"],
            nx_stack: true,
            ..Default::default()
        };
        let b = parse("usr/bin/x", &hashward_fixtures::elf::arm_elf(&spec)).expect("parses");
        assert_eq!((b.arch.as_str(), b.bits, b.kind), ("arm", 32, "executable"));
        assert!(b.hardening.nx && !b.hardening.pie && !b.hardening.canary);
        assert!(b.is_program());
        assert_eq!(b.missing(), ["PIE", "RELRO", "stack canary"]);
        let exec_stack = hashward_fixtures::elf::arm_elf(&hashward_fixtures::elf::ElfSpec {
            nx_stack: false,
            ..spec
        });
        assert!(
            parse("usr/bin/y", &exec_stack)
                .unwrap()
                .missing()
                .contains(&"NX stack")
        );
    }

    #[test]
    fn garbage_and_truncation_are_not_binaries() {
        assert!(parse("x", b"not elf").is_none());
        let b = hashward_fixtures::elf::arm_elf(&hashward_fixtures::elf::ElfSpec::default());
        for n in [4, 20, 52, b.len() / 2] {
            let _ = parse("x", &b[..n]);
        }
    }
}
