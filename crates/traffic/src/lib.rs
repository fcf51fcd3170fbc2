//! Traffic analysis: read packet captures (pcap, pcapng, gzip) or Zeek logs, rebuild flows and
//! the miner-relevant application messages (DNS, TLS ClientHello, HTTP/1, Stratum v1/V2, the
//! cgminer API), and report every connection that is not mining for the fleet's owner.

#![forbid(unsafe_code)]

pub mod analyze;
pub mod beacon;
pub mod capture;
pub mod decode;
pub mod detect;
pub mod flow;
pub mod indicators;
pub mod lines;
pub mod observe;
pub mod proto;
pub mod reassembly;
pub mod report;
pub mod zeek;

use std::path::PathBuf;

use hashward_model::{Finding, InputRecord, Policy};

pub use analyze::{AnalyzeError, Options};

/// The outcome of `traffic analyze`.
pub struct Report {
    /// The inputs with their sha256.
    pub inputs: Vec<InputRecord>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// The command's `result`.
    pub result: serde_json::Value,
    /// Every input's own report (format, records, errors).
    pub input_reports: Vec<analyze::InputReport>,
}

/// Analyse captures and Zeek logs against a policy.
pub fn run(
    paths: &[PathBuf],
    policy: &Policy,
    policy_given: bool,
    opts: &Options,
) -> Result<Report, AnalyzeError> {
    let a = analyze::analyze(paths, opts)?;
    let detected = detect::detect(
        &a,
        policy,
        &indicators::Indicators::builtin(),
        &beacon::BeaconConfig::default(),
    );
    let result = report::result(&a, &detected, policy_given);
    let inputs = a
        .inputs
        .iter()
        .map(|r| InputRecord {
            path: r.path.clone(),
            sha256: r.sha256.clone(),
            size: r.size,
        })
        .collect();
    Ok(Report {
        inputs,
        findings: detected.findings,
        result,
        input_reports: a.inputs,
    })
}

/// The shared test captures (`shared/testdata/traffic`): `HASHWARD_TESTDATA`, then
/// `shared/testdata` beside any ancestor of this crate, then `/work/shared/testdata`. Tests read
/// them from there; they are never copied into the repository.
#[doc(hidden)]
pub fn shared_traffic_dir() -> Option<std::path::PathBuf> {
    hashward_model::shared_testdata_candidates(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .into_iter()
        .map(|c| c.join("traffic"))
        .find(|p| p.join("bitcoin-mining.pcap").is_file())
}
