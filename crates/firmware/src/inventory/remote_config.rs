//! Vendor-signed remote reconfiguration handlers: scripts that take a signed package and
//! rewrite the mining pools (`.pools = …` into the miner configuration) or unlock root
//! (`NOPASSWD:ALL` appended to sudoers, a setuid sudo), as the S19/S21-era `updateporc.sh`
//! does (brief §4.3). They are remote control by design: whoever holds the vendor key (or can
//! get a package signed) decides where the hashrate goes and who is root.
//!
//! The conditions that make it worse are noted: the package unpacked before its signature is
//! checked, a serial-number test that accepts `all` (every unit at once), a substring match of
//! the serial, and an empty local serial accepted.

use serde::Serialize;

/// One handler branch.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteHandler {
    /// Path of the script in the output.
    pub file: String,
    /// Byte offset of the line that does it.
    pub offset: u64,
    /// `pool_rewrite` or `root_unlock`.
    pub kind: String,
    /// The line that does it.
    pub line: String,
    /// The public key the package must be signed with, when the script names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What makes it worse.
    pub conditions: Vec<String>,
}

impl RemoteHandler {
    /// Whether one package can reach every unit (`sn == all`).
    pub fn fleet_wide(&self) -> bool {
        self.conditions.iter().any(|c| c.contains("\"all\""))
    }
}

/// The handler branches of one script.
pub(crate) fn scan(path: &str, bytes: &[u8]) -> Vec<RemoteHandler> {
    if !bytes.starts_with(b"#!") || bytes.len() > 256 << 10 {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(bytes);
    let mut lines = Vec::new();
    let mut offset = 0u64;
    for raw in text.split_inclusive('\n') {
        lines.push((offset, raw.split('#').next().unwrap_or("").trim().to_owned()));
        offset += raw.len() as u64;
    }
    let mut out = Vec::new();
    for (i, (at, l)) in lines.iter().enumerate() {
        let kind = if l.contains(".pools =") || l.contains(".pools=") {
            "pool_rewrite"
        } else if (l.contains("NOPASSWD") && l.contains("sudoers") && l.contains(">>"))
            || (l.contains("chmod") && l.contains("4755") && l.contains("sudo"))
        {
            "root_unlock"
        } else {
            continue;
        };
        if out.iter().any(|h: &RemoteHandler| h.kind == kind) {
            continue;
        }
        // The branch: back to the `case` pattern or the start of the script.
        let start = lines[..i]
            .iter()
            .rposition(|(_, l)| l.ends_with(')') && l.contains('*'))
            .unwrap_or(0);
        let branch = &lines[start..=i];
        let verify = branch
            .iter()
            .position(|(_, l)| l.contains("openssl") && l.contains("verify"));
        let unpack = branch
            .iter()
            .position(|(_, l)| l.starts_with("tar ") || l.contains(" tar ") || l.contains("&& tar"));
        let key = verify.and_then(|v| {
            let l = &branch[v].1;
            let w: Vec<&str> = l.split_whitespace().collect();
            w.iter()
                .position(|x| *x == "-verify")
                .and_then(|p| w.get(p + 1))
                .map(|k| k.to_string())
        });
        let mut conditions = Vec::new();
        if let (Some(u), Some(v)) = (unpack, verify)
            && u < v
        {
            conditions.push("the package is unpacked before its signature is checked".to_owned());
        }
        if verify.is_none() {
            conditions.push("no signature check in this branch".to_owned());
        }
        let body = branch
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        if body.contains("= \"all\"") || body.contains("== \"all\"") || body.contains("=\"all\"") {
            conditions.push("a serial list of \"all\" selects every unit".to_owned());
        }
        if body.contains("grep -q \"$local_sn\"") || (body.contains("grep -q") && body.contains("sn")) {
            conditions.push("the serial is matched as a substring".to_owned());
        }
        if body.contains("-z \"$local_sn\"") || body.contains("-z $local_sn") {
            conditions.push("a unit without a serial number accepts any package".to_owned());
        }
        out.push(RemoteHandler {
            file: path.to_owned(),
            offset: *at,
            kind: kind.to_owned(),
            line: l.clone(),
            key,
            conditions,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDLER: &str = r#"#!/bin/sh
FILE=$1
local_sn=$(cat /config/sn)
case "$head" in
  *"{type:pool}"*)
    cd /tmp/pool && tar -zxvf "$FILE"
    openssl dgst -sha256 -verify /etc/bitmain-adv.pub -signature pool.json.sig pool.json || exit 1
    if [ "$sn_list" = "all" ] || echo "$sn_list" | grep -q "$local_sn"; then
      jq --argjson pools "$pools" '.pools = $pools' /config/cgminer.conf > /tmp/c
    fi ;;
  *"{type:root}"*)
    openssl dgst -sha256 -verify /etc/bitmain-adv.pub -signature root.json.sig root.json || exit 1
    if [ -z "$local_sn" ]; then
      echo "miner ALL=(ALL) NOPASSWD:ALL" >> /etc/sudoers
    fi ;;
esac
"#;

    #[test]
    fn pool_rewrite_and_root_unlock_branches_with_their_conditions() {
        let h = scan("usr/sbin/updateporc.sh", HANDLER.as_bytes());
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0].kind, "pool_rewrite");
        assert_eq!(h[0].key.as_deref(), Some("/etc/bitmain-adv.pub"));
        assert!(h[0].fleet_wide());
        assert!(h[0].conditions.iter().any(|c| c.contains("unpacked before")));
        assert!(h[0].conditions.iter().any(|c| c.contains("substring")));
        assert_eq!(h[1].kind, "root_unlock");
        assert!(!h[1].conditions.iter().any(|c| c.contains("unpacked before")));
        assert!(h[1].conditions.iter().any(|c| c.contains("without a serial")));
    }

    #[test]
    fn ordinary_scripts_are_not_handlers() {
        assert!(scan("x.sh", b"#!/bin/sh\n# .pools = nothing\necho hi\n").is_empty());
        assert!(scan("x.sh", b"not a script .pools =").is_empty());
    }
}
