//! LuxOS (Luxor) on Antminer hardware: cgminer API plus LUXminer commands. It answers
//! `version` with a spoofed `"Type":"Antminer S9"`; the real identity is the `LUXminer` key,
//! the `Description` and `config`'s `Model`. Pool commands need no session token
//! (docs.luxor.tech, "sessions"), so a reachable LuxOS API is an unauthenticated control
//! interface by design.

use super::{Answers, Ask, Discovery, Family, PlanOptions, exchange, read_privilege, rpc};
use crate::device::{Device, Firmware, Observations};
use crate::proto::cgminer;

/// LuxOS.
pub struct LuxOs;

impl Family for LuxOs {
    fn id(&self) -> &'static str {
        "luxos"
    }

    fn stock(&self) -> bool {
        false
    }

    fn recognise(&self, d: &Discovery) -> bool {
        d.version_row()
            .is_some_and(|r| cgminer::text_field(r, "LUXminer").is_some())
            || d.description().to_ascii_lowercase().starts_with("luxminer")
            || d.api_text_upper().contains("LUXMINER")
            || d.web_body().contains("Luxor Firmware")
    }

    fn plan(&self, d: &Discovery, _opts: &PlanOptions) -> Vec<Ask> {
        if d.api_port.is_none() {
            return Vec::new();
        }
        vec![
            Ask::rpc("summary"),
            Ask::rpc("pools"),
            Ask::rpc("config"),
            Ask::rpc("privileged"),
            Ask::rpc_param("check", Some("addpool")),
        ]
    }

    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
        dev.make = Some("Bitmain".into());
        let row = d.version_row();
        dev.api_version = row.and_then(|r| cgminer::text_field(r, "API"));
        dev.firmware = Some(Firmware {
            family: "LuxOS".into(),
            version: row.and_then(|r| cgminer::text_field(r, "LUXminer")).or_else(|| {
                let desc = d.description();
                desc.split_whitespace().nth(1).map(String::from)
            }),
        });
        // `version`'s Type may be the spoof; `config` carries the real model.
        if let Some(c) = rpc(answers, "config")
            && let Some(cfg) = cgminer::section(&c.decoded.value, "CONFIG").first()
        {
            dev.model = cgminer::text_field(cfg, "Model");
            dev.mac = cgminer::text_field(cfg, "MACAddr");
            dev.serial = cgminer::text_field(cfg, "SerialNumber");
        }
        if dev.model.is_none() {
            dev.model = row.and_then(|r| cgminer::text_field(r, "Type"));
        }
        if let Some(s) = rpc(answers, "summary") {
            dev.hashrate_ths = super::summary_ths(&s.decoded.value);
        }
        super::read_pools(d, answers, dev, obs);
        read_privilege(d, answers, obs);
        if let (Some(port), Some(Ok(v))) = (d.api_port, &d.version) {
            obs.unauthenticated.push((
                "LuxOS API: pool commands (addpool, switchpool, removepool) and `logon` need no password"
                    .into(),
                exchange(port, &v.raw),
            ));
        }
    }
}
