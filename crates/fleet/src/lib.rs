//! Live fleet audit: find the miners on a network, name them, and show what a stranger on that
//! network can do to each one right now — without changing anything on any of them.
//!
//! ```text
//! targets ─► targets::expand ─► scan::scan (sweep → discover → family plan → answers)
//!         ─► audit::audit (NET-001..006, 008, 009) + changes::changes (NET-007) ─► findings
//! ```
//!
//! Safety is structural: every request is built from a read-only table
//! ([`proto::cgminer::READ_ONLY`], `get.*` on Whatsminer v3, GETs, and the token-issuing login
//! endpoints in [`family::LOGIN_PATHS`]), credential checks run only when asked for, targets
//! outside private and loopback space are refused unless allowed, and every connection goes
//! through [`net::Net`]'s rate, concurrency, time and size limits.

#![forbid(unsafe_code)]

pub mod audit;
pub mod changes;
pub mod device;
pub mod family;
pub mod net;
pub mod proto;
pub mod scan;
pub mod targets;

pub use device::{Device, DeviceStatus, Firmware, Pool};
pub use scan::{Examined, ScanOptions, ScanStats};

/// A finished scan: devices, findings (without NET-007, which needs the case) and statistics.
pub struct FleetScan {
    /// Examined devices, sorted by address.
    pub devices: Vec<Examined>,
    /// NET findings.
    pub findings: Vec<hashward_model::Finding>,
    /// Counts and timings.
    pub stats: ScanStats,
}

/// Scan `targets` on a runtime of its own and audit the result against `policy`.
pub fn run(
    targets: &[std::net::Ipv4Addr],
    opts: &ScanOptions,
    policy: &hashward_model::Policy,
) -> std::io::Result<FleetScan> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()).min(8))
        .enable_all()
        .build()?;
    let (devices, stats) = rt.block_on(scan::scan(targets, opts));
    let findings = audit::audit(&devices, policy);
    Ok(FleetScan {
        devices,
        findings,
        stats,
    })
}
