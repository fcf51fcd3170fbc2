//! Canaan Avalon (cgminer 4.11.1): `version` carries `PROD`/`MODEL`/`MAC`; control goes through
//! `ascset`, which stock firmware accepts from the network (asic-rs's `softoff` capture).

use super::{
    Answers, Ask, Discovery, Family, PlanOptions, check_allows, exchange, read_privilege, read_summary_pools,
};
use crate::device::{Device, Firmware, Observations};
use crate::proto::cgminer;

/// Avalon.
pub struct Avalon;

impl Family for Avalon {
    fn id(&self) -> &'static str {
        "avalon"
    }

    fn stock(&self) -> bool {
        true
    }

    fn recognise(&self, d: &Discovery) -> bool {
        d.api_text_upper().contains("AVALON") || (d.version.is_none() && d.web_body().contains("Avalon"))
    }

    fn plan(&self, d: &Discovery, _opts: &PlanOptions) -> Vec<Ask> {
        if d.api_port.is_none() {
            return Vec::new();
        }
        vec![
            Ask::rpc("summary+pools"),
            Ask::rpc("privileged"),
            Ask::rpc_param("check", Some("addpool")),
            Ask::rpc_param("check", Some("ascset")),
        ]
    }

    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
        dev.make = Some("Canaan".into());
        if let Some(row) = d.version_row() {
            dev.model = cgminer::text_field(row, "PROD")
                .or_else(|| cgminer::text_field(row, "MODEL").map(|m| format!("Avalon {m}")));
            dev.mac = cgminer::text_field(row, "MAC");
            dev.api_version = cgminer::text_field(row, "API");
            dev.firmware = Some(Firmware {
                family: "Canaan stock".into(),
                version: cgminer::text_field(row, "LVERSION")
                    .or_else(|| cgminer::text_field(row, "CGVERSION")),
            });
        }
        read_summary_pools(d, answers, "summary+pools", dev, obs);
        read_privilege(d, answers, obs);
        if let Some(r) = check_allows(answers, "ascset") {
            obs.unauthenticated.push((
                "Avalon `ascset` (pools, power, reboot, password) accepted from this host without credentials".into(),
                exchange(d.api_port.unwrap_or(4028), &r.raw),
            ));
        }
    }
}
