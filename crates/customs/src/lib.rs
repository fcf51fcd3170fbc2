//! Import compliance for miner entries: expected tariff heading, the dated duty stack, fees,
//! valuation and origin checks, from measures kept as data (`rules/customs/`).
//!
//! Flow: [`entry`] reads CSV/JSON rows into [`EntryLine`]s (bad rows become [`RowError`]s),
//! [`stream::check_stream`] cuts them into chunks at entry boundaries and checks the entries in
//! parallel with a [`Checker`] ([`check`]: stacks, fees, CUS-001..006), over [`Rules`] loaded
//! from the TOML files ([`rules`]) and optionally a USITC schedule ([`hts`]). Money is integer
//! cents and rates are millionths ([`money`]); the one rounding rule is half-up to the cent,
//! per measure per line and per fee per entry.

#![forbid(unsafe_code)]

pub mod check;
pub mod entry;
pub mod hts;
mod json;
pub mod money;
pub mod rules;
pub mod sample;
pub mod stream;

pub use check::{Cache, Checker, EntryOutcome, EntryResult, LineResult, MeasureAmount, Stack};
pub use entry::{EntryLine, InputFormat, ReadError, RowError};
pub use hts::{Hts, HtsError, HtsTable};
pub use money::{Cents, Rate};
pub use rules::{Rules, RulesError};
pub use sample::{generate, sample_entries};
pub use stream::{Chunk, JsonChunk, Totals, check_stream, check_stream_jsonl, write_chunk_jsonl};
