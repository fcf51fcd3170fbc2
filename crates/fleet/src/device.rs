//! What a scan reports per device: the `fleet scan` result contract, plus the evidence the
//! audit turns into findings.

use serde::{Deserialize, Serialize};

use hashward_model::Excerpt;

/// One device, as `result.devices[]` in the JSON envelope (docs/architecture.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Device {
    /// IPv4 address.
    pub address: String,
    /// Miner ports that accepted a connection.
    pub ports: Vec<u16>,
    /// `identified`, `unidentified` (answers, no signature matches) or `error` (the device
    /// misbehaved before it could be identified; `errors` says how).
    pub status: DeviceStatus,
    /// Which signature matched (`antminer`, `luxos`, `whatsminer`…).
    pub protocol: Option<String>,
    /// Manufacturer of the hardware.
    pub make: Option<String>,
    /// Model as the device names it, e.g. `Antminer S19 Pro`.
    pub model: Option<String>,
    /// Firmware family and version.
    pub firmware: Option<Firmware>,
    /// Mining API version.
    pub api_version: Option<String>,
    /// MAC address, where readable.
    pub mac: Option<String>,
    /// Serial number, where readable.
    pub serial: Option<String>,
    /// Current hashrate in TH/s.
    pub hashrate_ths: Option<f64>,
    /// Configured pools, from every surface read.
    pub pools: Vec<Pool>,
    /// Requests that failed, with the reason (slow, silent, reset, oversized, malformed…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProbeFailure>,
}

/// [`Device::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// A signature matched.
    Identified,
    /// Something answers on a miner port, but no signature matched.
    #[default]
    Unidentified,
    /// The device failed every identification probe.
    Error,
}

/// Firmware family and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    /// `Bitmain stock`, `LuxOS`, `Braiins OS`, `Vnish`, `MicroBT stock`, `Canaan stock`…
    pub family: String,
    /// The version string the device reports.
    pub version: Option<String>,
}

/// A configured pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Pool {
    /// URL as configured (`stratum+tcp://host:port`).
    pub url: String,
    /// Worker / account.
    pub user: Option<String>,
    /// `Alive`, `Dead`… as reported.
    pub status: Option<String>,
    /// Failover priority (0 first).
    pub priority: Option<i64>,
    /// Load-balance quota, where the firmware has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<f64>,
    /// Pool group (LuxOS, Braiins OS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Where it was read (`rpc pools`, `web get_miner_conf`…).
    pub source: String,
}

/// A request that did not get a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeFailure {
    /// TCP port.
    pub port: u16,
    /// What was asked.
    pub request: String,
    /// Why it failed.
    pub error: String,
}

/// One request and its answer, as evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// TCP port.
    pub port: u16,
    /// What was sent (credentials masked).
    pub request: String,
    /// What came back.
    pub response: Excerpt,
}

/// Exposures seen while examining a device; the audit turns them into findings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observations {
    /// The cgminer `privileged` probe or `check|<write command>` said yes (NET-001).
    pub privileged: Vec<(String, Exchange)>,
    /// A control interface that needs no credentials (NET-003): what it is, and the proof.
    pub unauthenticated: Vec<(String, Exchange)>,
    /// Default credentials accepted (NET-002): channel, user, proof.
    pub default_credentials: Vec<(String, String, Exchange)>,
    /// A remote shell answered (NET-006): port and banner.
    pub shells: Vec<(u16, Exchange)>,
    /// First bytes heard from a host no signature matched (NET-009).
    pub unrecognised: Vec<Exchange>,
    /// For each pool URL read, the part of the reply it was read from (kept as an excerpt, not
    /// the whole reply: a scan holds ten thousand devices).
    pub pool_evidence: Vec<(String, Exchange)>,
}
