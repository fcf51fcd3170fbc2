//! Smaller cgminer-derived families recognised from their `version` reply alone: Auradine
//! (GCMiner / FluxOS) and SealMiner (bdminer). Identity only; their exposures are audited with
//! the shared cgminer privilege probes.

use super::{
    Answers, Ask, Discovery, Family, PlanOptions, privilege_asks, read_privilege, read_summary_pools,
};
use crate::device::{Device, Firmware, Observations};
use crate::proto::cgminer;

/// Auradine.
pub struct Auradine;

/// SealMiner.
pub struct SealMiner;

fn generic(
    d: &Discovery,
    answers: &Answers,
    dev: &mut Device,
    obs: &mut Observations,
    make: &str,
    fw: &str,
    key: &str,
) {
    dev.make = Some(make.into());
    let row = d.version_row();
    dev.api_version = row.and_then(|r| cgminer::text_field(r, "API"));
    dev.firmware = Some(Firmware {
        family: fw.into(),
        version: row.and_then(|r| cgminer::text_field(r, key)),
    });
    if let Some(r) = d
        .devdetails_json()
        .and_then(|v| cgminer::section(v, "DEVDETAILS").first())
    {
        dev.model = cgminer::text_field(r, "Model");
    }
    read_summary_pools(d, answers, "summary+pools", dev, obs);
    read_privilege(d, answers, obs);
}

impl Family for Auradine {
    fn id(&self) -> &'static str {
        "auradine"
    }
    fn stock(&self) -> bool {
        true
    }
    fn recognise(&self, d: &Discovery) -> bool {
        let t = d.api_text_upper();
        t.contains("GCMINER") || t.contains("FLUXOS")
    }
    fn plan(&self, d: &Discovery, _o: &PlanOptions) -> Vec<Ask> {
        plan(d)
    }
    fn interpret(&self, d: &Discovery, a: &Answers, dev: &mut Device, obs: &mut Observations) {
        generic(d, a, dev, obs, "Auradine", "Auradine stock", "GCMiner");
    }
}

impl Family for SealMiner {
    fn id(&self) -> &'static str {
        "sealminer"
    }
    fn stock(&self) -> bool {
        true
    }
    fn recognise(&self, d: &Discovery) -> bool {
        d.api_text_upper().contains("BDMINER")
    }
    fn plan(&self, d: &Discovery, _o: &PlanOptions) -> Vec<Ask> {
        plan(d)
    }
    fn interpret(&self, d: &Discovery, a: &Answers, dev: &mut Device, obs: &mut Observations) {
        generic(d, a, dev, obs, "SealMiner", "SealMiner stock", "BDMiner");
    }
}

fn plan(d: &Discovery) -> Vec<Ask> {
    if d.api_port.is_none() {
        return Vec::new();
    }
    let mut asks = vec![Ask::rpc("summary+pools")];
    asks.extend(privilege_asks());
    asks
}
