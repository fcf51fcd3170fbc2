//! Firmware images taken apart layer by layer (formats, the recursive unpacker and its safety
//! rules), inventoried, and searched for remote-control paths, weak credentials and the like.

#![forbid(unsafe_code)]

pub mod detect;
pub mod diff;
pub mod inspect;
pub mod inventory;
pub mod sbom;
pub mod scan;
pub mod unpack;
pub mod vulns;

pub use diff::{FirmwareDiff, diff};
pub use inspect::{InspectReport, inspect, inspect_with};
pub use unpack::{Limits, UnpackOptions, UnpackReport, unpack_image};
