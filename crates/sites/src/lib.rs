//! Facility siting: proximity of mining facilities to military installations and critical
//! infrastructure under CFIUS (31 CFR 802) and state laws kept as dated data, and grid load.
