//! A facility's load in MW: given, or computed from its fleet with the model power table of
//! `models.toml` (P_site = Σ count × watts / 10⁶ × overhead).

use std::collections::HashMap;

use serde::Serialize;

use crate::facility::Load;
use crate::rules::Models;

/// Fleets larger than this many miners are refused (a typo, not a facility: 10⁹ S21s would be
/// 3.5 TW).
const MAX_MINERS: u64 = 100_000_000;

/// Model power, looked up by a normalised name.
#[derive(Debug, Clone)]
pub struct ModelTable<'a> {
    models: &'a Models,
    by_key: HashMap<String, usize>,
}

/// How a facility's load was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadCalc {
    /// `given`, `fleet` or `unknown`.
    pub method: &'static str,
    /// Site load, MW (`None` when unknown).
    pub load_mw: Option<f64>,
    /// Miner load before overhead, MW (fleets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miners_mw: Option<f64>,
    /// The overhead factor used (fleets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead: Option<f64>,
    /// Whether the overhead is the table's default (an assumption) or the facility's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead_source: Option<&'static str>,
    /// One row per fleet entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fleet: Vec<FleetLine>,
    /// The formula, in symbols.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formula: Option<&'static str>,
}

/// One fleet entry's share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetLine {
    /// Model as given.
    pub model: String,
    /// Model matched in the table.
    pub matched: String,
    /// Units.
    pub count: u64,
    /// Watts per unit.
    pub watts: f64,
    /// count × watts / 10⁶.
    pub mw: f64,
}

/// A fleet entry that could not be turned into MW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetError {
    /// The field, e.g. `fleet[2].model`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The formula reported as evidence.
pub const FORMULA: &str = "P_site [MW] = sum(count_i x watts_i) / 1e6 x overhead";

/// Lower case, without spaces, hyphens, underscores, a leading `bitmain` or `antminer`.
pub fn model_key(name: &str) -> String {
    let mut k: String = name
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    for prefix in ["bitmain", "antminer"] {
        if let Some(rest) = k.strip_prefix(prefix) {
            k = rest.to_owned();
        }
    }
    k
}

impl<'a> ModelTable<'a> {
    /// Index the models of `models.toml`.
    pub fn new(models: &'a Models) -> ModelTable<'a> {
        let mut by_key = HashMap::new();
        for (i, m) in models.models.iter().enumerate() {
            for name in std::iter::once(&m.name).chain(&m.aliases) {
                by_key.entry(model_key(name)).or_insert(i);
            }
        }
        ModelTable { models, by_key }
    }

    /// The default overhead factor.
    pub fn default_overhead(&self) -> f64 {
        self.models.overhead.default
    }

    /// The load of a facility: given MW, or its fleet in MW with `overhead` (the facility's
    /// own factor, else the table's default). An unknown model, a zero count or an absurd
    /// overhead makes the load unknown and is reported as an error naming the field.
    pub fn load(&self, load: &Load, overhead: Option<f64>) -> (LoadCalc, Vec<FleetError>) {
        let unknown = LoadCalc {
            method: "unknown",
            load_mw: None,
            miners_mw: None,
            overhead: None,
            overhead_source: None,
            fleet: Vec::new(),
            formula: None,
        };
        match load {
            Load::Mw(mw) if mw.is_finite() && *mw >= 0.0 => (
                LoadCalc {
                    method: "given",
                    load_mw: Some(*mw),
                    ..unknown
                },
                Vec::new(),
            ),
            Load::Mw(mw) => (
                unknown,
                vec![FleetError {
                    field: "load_mw".into(),
                    message: format!("{mw} is not a load in MW"),
                }],
            ),
            Load::Unknown => (unknown, Vec::new()),
            Load::Fleet(entries) => {
                let mut errors = Vec::new();
                let (k, source) = match overhead {
                    Some(k) if k.is_finite() && (1.0..=3.0).contains(&k) => (k, "facility"),
                    Some(k) => {
                        errors.push(FleetError {
                            field: "overhead".into(),
                            message: format!("{k} is not an overhead factor (1 to 3)"),
                        });
                        (self.default_overhead(), "default (assumption)")
                    }
                    None => (self.default_overhead(), "default (assumption)"),
                };
                let mut lines = Vec::with_capacity(entries.len());
                let mut total_units: u64 = 0;
                for (i, e) in entries.iter().enumerate() {
                    let Some(m) = self
                        .by_key
                        .get(&model_key(&e.model))
                        .and_then(|&i| self.models.models.get(i))
                    else {
                        errors.push(FleetError {
                            field: format!("fleet[{i}].model"),
                            message: format!(
                                "unknown model {:?} (models.toml has no power figure for it)",
                                e.model
                            ),
                        });
                        continue;
                    };
                    total_units = total_units.saturating_add(e.count);
                    if e.count == 0 || total_units > MAX_MINERS {
                        errors.push(FleetError {
                            field: format!("fleet[{i}].count"),
                            message: format!("{} is not a fleet size (1 to {MAX_MINERS} in all)", e.count),
                        });
                        continue;
                    }
                    lines.push(FleetLine {
                        model: e.model.clone(),
                        matched: m.name.clone(),
                        count: e.count,
                        watts: m.watts,
                        mw: e.count as f64 * m.watts / 1e6,
                    });
                }
                if !errors.is_empty() || lines.is_empty() {
                    if lines.is_empty() && errors.is_empty() {
                        errors.push(FleetError {
                            field: "fleet".into(),
                            message: "an empty fleet".into(),
                        });
                    }
                    return (
                        LoadCalc {
                            method: "fleet",
                            fleet: lines,
                            ..unknown
                        },
                        errors,
                    );
                }
                let miners: f64 = lines.iter().map(|l| l.mw).sum();
                (
                    LoadCalc {
                        method: "fleet",
                        load_mw: Some(miners * k),
                        miners_mw: Some(miners),
                        overhead: Some(k),
                        overhead_source: Some(source),
                        fleet: lines,
                        formula: Some(FORMULA),
                    },
                    errors,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facility::FleetEntry;
    use crate::rules::Rules;

    fn fleet(model: &str, count: u64) -> Load {
        Load::Fleet(vec![FleetEntry {
            model: model.into(),
            count,
        }])
    }

    #[test]
    fn sixteen_thousand_s21_is_56_mw_of_miners_and_58_8_at_1_05() {
        let rules = Rules::builtin().unwrap();
        let t = ModelTable::new(&rules.models);
        let (calc, errors) = t.load(&fleet("Antminer S21", 16_000), None);
        assert!(errors.is_empty());
        assert!((calc.miners_mw.unwrap() - 56.0).abs() < 1e-9);
        assert!((calc.load_mw.unwrap() - 58.8).abs() < 1e-9);
        assert_eq!(calc.overhead_source, Some("default (assumption)"));
        let (calc, _) = t.load(&fleet("bitmain antminer s21", 16_000), Some(1.10));
        assert!((calc.load_mw.unwrap() - 61.6).abs() < 1e-9);
    }

    #[test]
    fn unknown_models_and_zero_counts_leave_the_load_unknown() {
        let rules = Rules::builtin().unwrap();
        let t = ModelTable::new(&rules.models);
        let (calc, errors) = t.load(&fleet("Antminer S21+", 10), None);
        assert_eq!(calc.load_mw, None);
        assert_eq!(errors[0].field, "fleet[0].model");
        let (calc, errors) = t.load(&fleet("S19", 0), None);
        assert_eq!(calc.load_mw, None);
        assert_eq!(errors[0].field, "fleet[0].count");
        let (calc, errors) = t.load(&Load::Mw(f64::NAN), None);
        assert_eq!((calc.load_mw, errors.len()), (None, 1));
    }

    #[test]
    fn model_keys_ignore_vendor_case_and_spacing() {
        assert_eq!(model_key("Antminer S19j Pro"), "s19jpro");
        assert_eq!(model_key("S19J-PRO"), "s19jpro");
        assert_eq!(model_key("Bitmain Antminer S21 XP"), "s21xp");
    }
}
