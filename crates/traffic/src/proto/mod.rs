//! Application-layer parsers: pure functions over bytes with explicit limits.

pub mod dns;
pub mod http;
pub mod mgmt;
pub mod stratum;
pub mod sv2;
pub mod tls;
