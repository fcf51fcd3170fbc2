//! Facility siting: proximity of mining facilities to military installations and critical
//! infrastructure under CFIUS (31 CFR 802) and state laws kept as dated data, and grid load.

pub mod facility;
pub mod geo;
pub mod index;
pub mod layer;
