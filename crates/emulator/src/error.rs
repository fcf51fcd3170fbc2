//! The emulator's typed errors: each names the address, port, device or file it is about.
//!
//! Messages leave the underlying OS error to the `source` chain (the binary prints it with `{:#}`).

use std::net::Ipv4Addr;

/// What can go wrong loading a fleet, binding it or running workers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The fleet file is not valid TOML or not of the fleet-file shape.
    #[error("fleet file: {message}")]
    FleetFile {
        /// The parser's description, with line and column where it has them.
        message: String,
    },
    /// One device entry of a fleet file has a bad or unknown field.
    #[error("fleet file: device {index} ([[device]] table number {ordinal}): field `{field}`: {message}")]
    Device {
        /// Zero-based index of the `[[device]]` table.
        index: usize,
        /// One-based, for people.
        ordinal: usize,
        /// The key at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A device address outside 127.0.0.0/8: the emulator never listens beyond loopback.
    #[error("device {index}: address {address} is not a loopback address (127.0.0.0/8 only)")]
    NotLoopback {
        /// Zero-based device index in the fleet.
        index: usize,
        /// The refused address.
        address: Ipv4Addr,
    },
    /// Two devices on one address.
    #[error("devices {first} and {second} both use address {address}")]
    DuplicateAddress {
        /// The shared address.
        address: Ipv4Addr,
        /// Index of the first device.
        first: usize,
        /// Index of the second device.
        second: usize,
    },
    /// A listener could not be bound (address in use, out of file descriptors…).
    #[error("cannot listen on {address}:{port}")]
    Bind {
        /// The device address.
        address: Ipv4Addr,
        /// The port.
        port: u16,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The runtime or a worker could not be started or talked to.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A worker process failed or sent something other than its readiness line.
    #[error("emulator worker {worker}: {message}")]
    Worker {
        /// Index of the worker process.
        worker: usize,
        /// What it said or what went wrong.
        message: String,
    },
}
