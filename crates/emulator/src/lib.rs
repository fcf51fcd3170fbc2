//! A faithful loopback emulator of ASIC miners: a test peer for the fleet scanner, the benchmark and the demo.
//!
//! A [`Fleet`] (from a TOML fleet file or [`Fleet::generate`]) lists devices, one loopback address each.
//! [`spawn`] binds every device's ports in this process on a background runtime thread; [`shard`] spreads a
//! large fleet over worker processes (the per-process open-file limit cannot hold 10,000 devices).
//!
//! Every device speaks its firmware's real protocols with the reply shapes of real captures (cgminer/bmminer
//! RPC on 4028 with its trailing NUL, text mode, joined commands and api-allow privileges; the Antminer web
//! CGI behind HTTP digest; Whatsminer's string-STATUS API with token and AES-256-ECB writes; the Whatsminer
//! v3 length-prefixed API; Avalon `ascset`; LuxOS pool groups and sessions; Braiins and Vnish REST), and
//! every request it receives is logged and classified, so a test can prove that a scanner never sent a
//! state-changing command. Nothing here reaches beyond 127.0.0.0/8.

#![forbid(unsafe_code)]
#![recursion_limit = "256"]

mod cgminer;
mod crypto;
mod device;
mod error;
pub(crate) mod family;
mod fleet;
mod http;
mod log;
mod server;
pub mod shard;

pub use error::EmulatorError;
pub use family::Proto;
pub use fleet::{
    ALLOWLIST_HOSTS, DeviceSpec, Family, Fault, Fleet, GenerateOptions, ManifestEntry, Planted, PoolSpec,
    Port,
};
pub use log::{RequestKind, RequestLog};
pub use server::{Running, spawn};

/// The real device replies the emulator's shapes follow (`shared/testdata/fleet/asic-rs`, read
/// in place and never copied): `HASHWARD_TESTDATA` if set, else `shared/testdata` beside any
/// ancestor of this crate's source (the repository's sibling), else `/work/shared/testdata`.
/// Returns the directory and every place looked in. Tests of this crate and of the scanner
/// use it, and fail when the captures are missing rather than skip.
pub fn asic_rs_captures() -> (Option<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let candidates =
        hashward_model::shared_testdata_candidates(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let found = candidates
        .iter()
        .map(|c| c.join("fleet/asic-rs"))
        .find(|p| p.join("MANIFEST.tsv").is_file());
    (found, candidates)
}
