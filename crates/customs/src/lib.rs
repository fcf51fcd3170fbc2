//! Import compliance for miner entries: expected tariff heading, the dated duty stack, fees,
//! valuation and origin checks, from measures kept as data.
