//! FW-004: the mining API lets hosts other than the miner itself run state-changing commands
//! (switch or add pools, restart, change settings), as the configuration files grant it.

use hashward_model::{Finding, RuleId, Severity};

use super::{Context, Detector};

/// The mining API detector.
pub(crate) struct MinerApi;

impl Detector for MinerApi {
    fn id(&self) -> &'static str {
        "miner-api"
    }

    fn rules(&self) -> &'static [RuleId] {
        &[RuleId::FW_MINER_API]
    }

    fn detect(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for api in &cx.inventory.miner_api {
            let open: Vec<_> = api.remote_privileged().collect();
            if open.is_empty() {
                continue;
            }
            // Anyone who can reach port 4028 can redirect the hashrate: remote control.
            let everyone = open.iter().any(|a| a.hosts.ends_with("/0"));
            let hosts: Vec<&str> = open.iter().map(|a| a.hosts.as_str()).collect();
            let cmds = open[0]
                .privileged
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let factory = if api.file.ends_with(".factory") {
                " (the factory copy: a reset restores it)"
            } else {
                ""
            };
            let msg = format!(
                "{}{factory} lets {} run privileged API commands ({cmds}, …) on port 4028: api-allow \"{}\"",
                api.file,
                if everyone {
                    "any host".to_owned()
                } else {
                    hosts.join(", ")
                },
                api.allow.as_deref().unwrap_or("")
            );
            let excerpt = format!(
                "\"api-listen\": {}, \"api-network\": {}, \"api-allow\": \"{}\"",
                api.listen,
                api.network,
                api.allow.as_deref().unwrap_or("")
            );
            out.push(cx.file_finding(
                RuleId::FW_MINER_API,
                everyone.then_some(Severity::Critical),
                &api.file,
                api.offset,
                excerpt.as_bytes(),
                msg,
            ));
        }
    }
}
