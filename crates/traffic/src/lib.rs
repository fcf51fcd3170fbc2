//! Traffic analysis: read packet captures (pcap, pcapng, gzip) or Zeek logs, rebuild flows and
//! the miner-relevant application messages (DNS, TLS ClientHello, HTTP/1, Stratum v1/V2, the
//! cgminer API), and report every connection that is not mining for the fleet's owner.

pub mod beacon;
pub mod capture;
pub mod decode;
pub mod flow;
pub mod lines;
pub mod proto;
pub mod reassembly;
pub mod zeek;

/// The shared test captures (`shared/testdata/traffic`): `HASHWARD_TESTDATA`, then
/// `shared/testdata` beside any ancestor of this crate, then `/work/shared/testdata`. Tests read
/// them from there; they are never copied into the repository.
#[doc(hidden)]
pub fn shared_traffic_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut candidates: Vec<PathBuf> = std::env::var_os("HASHWARD_TESTDATA")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(manifest.ancestors().map(|a| a.join("shared/testdata")));
    candidates.push(PathBuf::from("/work/shared/testdata"));
    candidates
        .into_iter()
        .map(|c| c.join("traffic"))
        .find(|p| p.join("bitcoin-mining.pcap").is_file())
}
