//! Grid large-load thresholds (grid.toml): which rules a facility's load reaches in its region
//! on the assessment date (SITE-006).

use chrono::NaiveDate;

use crate::rules::{Grid, GridThreshold, Status};

/// A threshold a load reaches.
#[derive(Debug, Clone)]
pub struct GridHit<'a> {
    /// The rule.
    pub rule: &'a GridThreshold,
    /// The threshold applied (the co-located one when the facility is co-located and the rule
    /// has one).
    pub threshold_mw: f64,
    /// Whether the co-located threshold was applied.
    pub colocated: bool,
}

/// Thresholds of `grid` in `region` in force on `date` that `load_mw` reaches (>=).
pub fn hits<'a>(
    grid: &'a Grid,
    region: &str,
    colocated: bool,
    load_mw: f64,
    date: NaiveDate,
) -> Vec<GridHit<'a>> {
    grid.thresholds
        .iter()
        .filter(|t| t.region.eq_ignore_ascii_case(region.trim()))
        .filter(|t| t.status == Status::InForce && t.effective <= date)
        .filter_map(|t| {
            let (threshold_mw, colocated) = match (colocated, t.colocated_threshold_mw) {
                (true, Some(c)) => (c, true),
                _ => (t.threshold_mw, false),
            };
            (load_mw >= threshold_mw).then_some(GridHit {
                rule: t,
                threshold_mw,
                colocated,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn seventy_five_stand_alone_twenty_co_located() {
        let r = Rules::builtin().unwrap();
        let today = day("2026-01-01");
        assert!(hits(&r.grid, "ERCOT", false, 74.99, today).is_empty());
        let ids: Vec<_> = hits(&r.grid, "ercot", false, 75.0, today)
            .iter()
            .map(|h| h.rule.id.as_str())
            .collect();
        assert_eq!(ids, ["ercot-ll-interim-2022", "tx-sb6-2025-large-load"]);
        assert!(hits(&r.grid, "ERCOT", true, 19.9, today).is_empty());
        let h = hits(&r.grid, "ERCOT", true, 20.0, today);
        assert_eq!((h.len(), h[0].threshold_mw, h[0].colocated), (1, 20.0, true));
        assert!(hits(&r.grid, "PJM", false, 500.0, today).is_empty());
    }

    #[test]
    fn rules_not_yet_effective_do_not_fire() {
        let r = Rules::builtin().unwrap();
        let ids: Vec<_> = hits(&r.grid, "ERCOT", false, 80.0, day("2025-06-19"))
            .iter()
            .map(|h| h.rule.id.clone())
            .collect();
        assert_eq!(ids, ["ercot-ll-interim-2022"]);
        assert!(hits(&r.grid, "ERCOT", false, 80.0, day("2022-03-24")).is_empty());
    }
}
