//! Braiins OS (BOS, BOS+): cgminer-compatible API (`BOSminer`/`BOSer`), web 80, gRPC 50051,
//! REST login on newer versions. Default root with an empty password up to 25.05, root/root
//! from 25.07 (asic-rs `default_auth`).

use super::{
    Answers, Ask, Discovery, Family, PlanOptions, credentials, exchange, privilege_asks, read_privilege, rpc,
};
use crate::device::{Device, Firmware, Observations};
use crate::proto::cgminer;

/// Braiins OS.
pub struct BraiinsOs;

const LOGIN: &str = "/api/v1/auth/login";

impl Family for BraiinsOs {
    fn id(&self) -> &'static str {
        "braiins"
    }

    fn stock(&self) -> bool {
        false
    }

    fn recognise(&self, d: &Discovery) -> bool {
        let t = d.api_text_upper();
        t.contains("BOSMINER") || t.contains("BOSER") || d.web_body().contains("Braiins OS")
    }

    fn plan(&self, d: &Discovery, opts: &PlanOptions) -> Vec<Ask> {
        let mut asks = Vec::new();
        if d.api_port.is_some() {
            asks.extend([Ask::rpc("devdetails"), Ask::rpc("summary"), Ask::rpc("pools")]);
            asks.extend(privilege_asks());
        }
        if opts.check_default_credentials && d.ports.contains(&80) {
            for c in credentials::for_protocol(self.id()).filter(|c| c.check == credentials::Check::RestLogin)
            {
                asks.push(Ask::Login {
                    path: LOGIN.into(),
                    body: serde_json::json!({"username": c.user, "password": c.password}).to_string(),
                    label: c.label(),
                });
            }
        }
        asks
    }

    fn interpret(&self, d: &Discovery, answers: &Answers, dev: &mut Device, obs: &mut Observations) {
        let row = d.version_row();
        dev.api_version = row.and_then(|r| cgminer::text_field(r, "API"));
        let version = row
            .and_then(|r| cgminer::text_field(r, "BOSer").or_else(|| cgminer::text_field(r, "BOSminer")))
            .or_else(|| Some(d.description()).filter(|s| !s.is_empty()));
        dev.firmware = Some(Firmware {
            family: "Braiins OS".into(),
            version,
        });
        if let Some(r) = rpc(answers, "devdetails")
            && let Some(row) = cgminer::section(&r.decoded.value, "DEVDETAILS").first()
        {
            dev.model = cgminer::text_field(row, "Model");
        }
        dev.make = dev.model.as_deref().map(make_of);
        if let Some(s) = rpc(answers, "summary") {
            dev.hashrate_ths = super::summary_ths(&s.decoded.value);
        }
        super::read_pools(d, answers, dev, obs);
        read_privilege(d, answers, obs);
        // The first default that yields a token is proof enough.
        if let Some((label, r)) = super::token_login(answers) {
            obs.default_credentials
                .push(("REST API login".into(), label.clone(), exchange(80, &r.raw)));
        }
    }
}

/// Hardware maker from a model name that Braiins OS or Vnish reports.
pub fn make_of(model: &str) -> String {
    let m = model.to_ascii_lowercase();
    if m.contains("antminer") {
        "Bitmain"
    } else if m.contains("whatsminer") {
        "MicroBT"
    } else if m.contains("avalon") {
        "Canaan"
    } else {
        "unknown"
    }
    .into()
}
