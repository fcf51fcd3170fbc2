//! NET-007: what changed since the previous scan recorded in the same case — devices whose
//! firmware, pools or identity changed, and devices that appeared or vanished.
//!
//! Only addresses inside the current scan's targets are compared, so scanning one rack does
//! not report the rest of the farm as vanished. A device that vanished from one address and
//! appeared at another with the same serial or MAC is reported once, as moved.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use hashward_model::{Evidence, Finding, RuleId, Severity};

use crate::audit::{label, subject_of};
use crate::device::{Device, DeviceStatus};

/// Compare `previous` (from the last recorded scan) with `current`; `in_scope` says whether an
/// address was part of this scan's targets. `previous_run` names the earlier run in messages.
pub fn changes(
    previous: &[Device],
    current: &[Device],
    in_scope: &dyn Fn(Ipv4Addr) -> bool,
    previous_run: &str,
) -> Vec<Finding> {
    let prev: BTreeMap<&str, &Device> = previous
        .iter()
        .filter(|d| d.address.parse().is_ok_and(in_scope))
        .map(|d| (d.address.as_str(), d))
        .collect();
    let cur: BTreeMap<&str, &Device> = current.iter().map(|d| (d.address.as_str(), d)).collect();
    let mut out = Vec::new();
    let mut moved_from = BTreeSet::new();
    let mut moved_to = BTreeSet::new();
    // Moves first, so they are not also reported as a vanish and an appearance.
    for (addr, old) in &prev {
        if cur.contains_key(addr) {
            continue;
        }
        if let Some((new_addr, new)) = cur
            .iter()
            .find(|(a, n)| !prev.contains_key(*a) && same_unit(old, n) && !moved_to.contains(*a))
        {
            moved_from.insert(*addr);
            moved_to.insert(*new_addr);
            out.push(finding(
                new,
                Severity::Medium,
                format!(
                    "{} moved from {addr} to {new_addr} since {previous_run}",
                    label(new)
                ),
                vec![("address", addr.to_string(), new_addr.to_string())],
            ));
        }
    }
    for (addr, old) in &prev {
        if !cur.contains_key(addr) && !moved_from.contains(addr) {
            out.push(finding(
                old,
                Severity::Medium,
                format!("{} no longer answers (seen in {previous_run})", label(old)),
                vec![("present", "yes".into(), "no".into())],
            ));
        }
    }
    for (addr, new) in &cur {
        let Some(old) = prev.get(addr) else {
            if !moved_to.contains(addr) && new.status != DeviceStatus::Error {
                out.push(finding(
                    new,
                    Severity::Medium,
                    format!("{} appeared since {previous_run}", label(new)),
                    vec![("present", "no".into(), "yes".into())],
                ));
            }
            continue;
        };
        // A device that failed this time says nothing about what changed on it.
        if new.status == DeviceStatus::Error || old.status == DeviceStatus::Error {
            continue;
        }
        let mut diffs = Vec::new();
        let fw = |d: &Device| {
            d.firmware.as_ref().map(|f| {
                format!("{} {}", f.family, f.version.clone().unwrap_or_default())
                    .trim()
                    .to_string()
            })
        };
        for (what, a, b) in [
            ("make", old.make.clone(), new.make.clone()),
            ("model", old.model.clone(), new.model.clone()),
            ("serial", old.serial.clone(), new.serial.clone()),
            ("mac", old.mac.clone(), new.mac.clone()),
            ("firmware", fw(old), fw(new)),
        ] {
            // A field read last time but not this time (e.g. without credentials) is not a change.
            if let (Some(a), Some(b)) = (&a, &b)
                && a != b
            {
                diffs.push((what, a.clone(), b.clone()));
            }
        }
        let pools = |d: &Device| -> BTreeSet<String> {
            d.pools
                .iter()
                .map(|p| {
                    format!("{} {}", p.url, p.user.clone().unwrap_or_default())
                        .trim()
                        .to_string()
                })
                .collect()
        };
        let (pa, pb) = (pools(old), pools(new));
        // No pools this time because the read failed is not a change.
        let pools_changed = pa != pb && (!pb.is_empty() || new.errors.is_empty());
        if pools_changed {
            diffs.push((
                "pools",
                pa.into_iter().collect::<Vec<_>>().join(", "),
                pb.into_iter().collect::<Vec<_>>().join(", "),
            ));
        }
        if diffs.is_empty() {
            continue;
        }
        let severity = if pools_changed || diffs.iter().any(|(w, ..)| *w == "firmware") {
            Severity::High
        } else {
            Severity::Medium
        };
        let what: Vec<String> = diffs
            .iter()
            .map(|(w, a, b)| format!("{w} {a:?} → {b:?}"))
            .collect();
        out.push(finding(
            new,
            severity,
            format!("{} changed since {previous_run}: {}", label(new), what.join("; ")),
            diffs.iter().map(|(w, a, b)| (*w, a.clone(), b.clone())).collect(),
        ));
    }
    out
}

fn same_unit(a: &Device, b: &Device) -> bool {
    let eq = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if !x.is_empty() && x.eq_ignore_ascii_case(y));
    eq(&a.serial, &b.serial) || eq(&a.mac, &b.mac)
}

fn finding(dev: &Device, severity: Severity, message: String, diffs: Vec<(&str, String, String)>) -> Finding {
    let mut inputs = serde_json::Map::new();
    for (what, before, after) in diffs {
        inputs.insert(
            what.to_string(),
            serde_json::json!({"before": before, "after": after}),
        );
    }
    Finding::new(RuleId::NET_CHANGED, subject_of(dev), message)
        .with_severity(severity)
        .with_evidence(Evidence::Calculation {
            inputs,
            formula: "previous scan in this case compared with this scan".into(),
            result: serde_json::Value::Bool(true),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Firmware, Pool};

    fn dev(addr: &str, serial: &str, pool: &str, fw: &str) -> Device {
        Device {
            address: addr.into(),
            status: DeviceStatus::Identified,
            model: Some("Antminer S19 Pro".into()),
            serial: Some(serial.into()),
            firmware: Some(Firmware {
                family: "Bitmain stock".into(),
                version: Some(fw.into()),
            }),
            pools: vec![Pool {
                url: pool.into(),
                user: Some("acct.1".into()),
                source: "rpc pools".into(),
                ..Pool::default()
            }],
            ..Device::default()
        }
    }

    #[test]
    fn changes_appearances_vanishings_and_moves() {
        let all = |_: Ipv4Addr| true;
        let prev = vec![
            dev("10.0.0.1", "S1", "stratum+tcp://a.example:3333", "v1"),
            dev("10.0.0.2", "S2", "stratum+tcp://a.example:3333", "v1"),
            dev("10.0.0.3", "S3", "stratum+tcp://a.example:3333", "v1"),
            dev("10.0.0.4", "S4", "stratum+tcp://a.example:3333", "v1"),
        ];
        let cur = vec![
            dev("10.0.0.1", "S1", "stratum+tcp://a.example:3333", "v1"), // unchanged
            dev("10.0.0.2", "S2", "stratum+tcp://evil.example:3333", "v1"), // pools
            dev("10.0.0.3", "S3", "stratum+tcp://a.example:3333", "v2"), // firmware
            dev("10.0.0.9", "S4", "stratum+tcp://a.example:3333", "v1"), // moved
            dev("10.0.0.5", "S5", "stratum+tcp://a.example:3333", "v1"), // new
        ];
        let f = changes(&prev, &cur, &all, "run 1");
        let msgs: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(f.len(), 4, "{msgs:#?}");
        assert!(
            msgs.iter()
                .any(|m| m.contains("10.0.0.2") && m.contains("pools") && m.contains("evil.example"))
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("10.0.0.3") && m.contains("firmware"))
        );
        assert!(msgs.iter().any(|m| m.contains("moved from 10.0.0.4 to 10.0.0.9")));
        assert!(
            msgs.iter()
                .any(|m| m.contains("10.0.0.5") && m.contains("appeared"))
        );
        assert!(f.iter().all(|f| f.rule == RuleId::NET_CHANGED));
    }

    #[test]
    fn out_of_scope_and_unreadable_fields_are_not_changes() {
        let prev = vec![
            dev("10.0.0.1", "S1", "stratum+tcp://a.example:3333", "v1"),
            dev("10.0.1.1", "T1", "stratum+tcp://a.example:3333", "v1"),
        ];
        let mut now = dev("10.0.0.1", "S1", "stratum+tcp://a.example:3333", "v1");
        now.serial = None; // not read this time (no credentials)
        let only_first_rack = |a: Ipv4Addr| a.octets()[2] == 0;
        assert!(changes(&prev, &[now.clone()], &only_first_rack, "run 1").is_empty());
        // With the whole farm in scope, the second rack's device vanished.
        let all = |_: Ipv4Addr| true;
        let f = changes(&prev, &[now], &all, "run 1");
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("no longer answers"));
    }
}
