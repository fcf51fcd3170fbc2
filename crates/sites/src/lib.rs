//! Facility siting: proximity of mining facilities to military installations and critical
//! infrastructure under CFIUS (31 CFR 802) and state laws kept as dated data, and grid load.
//!
//! Data flow: [`facility::read_facilities`] and [`layer::read_layer`] (or
//! [`sample::builtin_layer`]) → [`rules::Rules`] (rules/siting/*.toml, built in or `--rules DIR`)
//! → [`assess::assess`] (geometry from [`geo`] and [`index`]) → findings SITE-001..007 and a
//! [`report::SitesResult`], or a map with [`geojson_out::feature_collection`].

#![forbid(unsafe_code)]

pub mod facility;
pub mod geo;
pub mod index;
pub mod layer;

pub mod assess;
pub mod geojson_out;
pub mod grid;
pub mod power;
pub mod report;
pub mod rules;
pub mod sample;

pub use assess::{Assessment, Assessor, FacilityOutcome, Options, assess};
pub use report::SitesResult;
pub use rules::{Rules, RulesError};
