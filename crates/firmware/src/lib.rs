//! Firmware images taken apart layer by layer: formats, the recursive unpacker and its safety rules.

pub mod unpack;

pub use unpack::{Limits, UnpackOptions, UnpackReport, unpack_image};
