//! Wire formats of miner management interfaces: pure functions over bytes, no I/O.
//!
//! Each is fuzzed (`fuzz/fuzz_targets/fleet_*.rs`): replies come from devices that may be
//! hostile.

pub mod cgminer;
pub mod digest;
pub mod http;
pub mod repair;
pub mod whatsminer;
