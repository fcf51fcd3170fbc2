//! Beacon scoring: RITA v5's connection-level beacon score (timestamp, data-size, histogram and
//! duration sub-scores), reimplemented from `shared/research/traffic.md` §1.3, and the grouping of
//! connections into (source, destination IP) and (source, FQDN) pairs the way RITA's import does.
//!
//! Where each rule comes from in RITA (`activecm/rita`, GPL-3.0, read for semantics only):
//! * scores: `analysis/beacons.go`; eligibility and strobes: `analysis/analysis.go`
//!   (`ts_unique >= 4 && count < 86400`; `count >= 86400` is a strobe, never beacon-scored);
//! * the 24-hour window: `database` `GetBeaconMinMaxTimestamps` (dataset start = max(first ts,
//!   last ts − 24 h)) and `analysis/spagooper.go` (rows from the start of that hour on);
//! * FQDN pairs: `importer/ssl.go`, `importer/http.go` and the `usni` views — a connection whose
//!   `uid` has an SSL record with a server name, or whose last HTTP request has a `Host`, counts
//!   towards (source, that name) with the *conn* record's timestamp and `orig_ip_bytes`;
//! * IP pairs: the `uconn` view holds every connection; `spagooper.go` drops an IP pair whose
//!   connections were used by a beacon-eligible FQDN pair.
//!
//! Quartiles are Tukey's hinges as `montanaflynn/stats` `Quartile` computes them (halves exclude
//! the median for odd counts); golden figures depend on it.

use std::net::IpAddr;

use hashbrown::HashMap;
use serde::Serialize;

use crate::zeek::{ConnRecord, HttpRecord, SslRecord};

/// RITA's score tiers (`score_thresholds`), as fractions of 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreThresholds {
    /// Below this a beacon is not reported (RITA: 50).
    pub base: f64,
    /// Start of the "low" tier (RITA: 70).
    pub low: f64,
    /// Start of the "medium" tier (RITA: 90).
    pub medium: f64,
    /// Start of the "high" tier (RITA: 100).
    pub high: f64,
}

/// Every knob of the beacon score; [`Default`] is RITA v5's `default_config.hjson`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeaconConfig {
    /// Fewest distinct connection timestamps (seconds) for a pair to be scored (RITA: 4; values
    /// below 4 act as 4, the timestamp score needs three non-zero intervals).
    pub unique_connection_threshold: u64,
    /// Connections in the window at which a pair is a strobe and not scored (RITA: 86,400,
    /// one per second for a day). Also the most connections kept per pair. 0 disables.
    pub strobe_connections: u64,
    /// Only the last this-many hours of the input are scored, from the start of the hour (RITA:
    /// 24). 0 scores the whole input.
    pub window_hours: u32,
    /// Histogram bins over the dataset span (RITA: 24, one per hour of the window).
    pub histogram_bins: usize,
    /// Width of the bimodal fit's frequency buckets, as a fraction of the tallest bar (0.05).
    pub hist_mode_sensitivity: f64,
    /// Bars the bimodal fit may ignore as outliers (1).
    pub hist_bimodal_outlier_removal: u32,
    /// Fewest non-empty bins for the bimodal fit (11; RITA resets values below 6 to 11).
    pub hist_bimodal_min_hours_seen: u32,
    /// Fewest non-empty bins for a duration score (6).
    pub dur_min_hours_seen: u32,
    /// Consecutive non-empty bins that give a full consistency score (12).
    pub dur_consistency_ideal_hours_seen: u32,
    /// Weight of the timestamp score (0.25).
    pub ts_weight: f64,
    /// Weight of the data-size score (0.25).
    pub ds_weight: f64,
    /// Weight of the histogram score (0.25).
    pub hist_weight: f64,
    /// Weight of the duration score (0.25).
    pub dur_weight: f64,
    /// Tier thresholds.
    pub thresholds: ScoreThresholds,
    /// Leave failed connections (no answer, rejected) out of the score. RITA v5 keeps them
    /// (default `false`); their count is reported either way.
    pub skip_failed: bool,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig {
            unique_connection_threshold: 4,
            strobe_connections: 86_400,
            window_hours: 24,
            histogram_bins: 24,
            hist_mode_sensitivity: 0.05,
            hist_bimodal_outlier_removal: 1,
            hist_bimodal_min_hours_seen: 11,
            dur_min_hours_seen: 6,
            dur_consistency_ideal_hours_seen: 12,
            ts_weight: 0.25,
            ds_weight: 0.25,
            hist_weight: 0.25,
            dur_weight: 0.25,
            thresholds: ScoreThresholds {
                base: 0.50,
                low: 0.70,
                medium: 0.90,
                high: 1.00,
            },
            skip_failed: false,
        }
    }
}

/// Everything that went into a score, so a report can answer "why this score".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factors {
    /// Timestamp score: mean of (1 − |Bowley skew|) and the MAD score of the intervals.
    pub ts_score: f64,
    /// Data-size score: the same on originator IP bytes (MAD score 0 when the median < 1).
    pub ds_score: f64,
    /// Histogram score: max of the CV and bimodal scores.
    pub hist_score: f64,
    /// Duration score: max of coverage and consistency (0 with too few hours seen).
    pub dur_score: f64,
    /// Bowley skew of the non-zero intervals (0 when forced: IQR < 10 or median on a quartile).
    pub ts_skew: f64,
    /// Median absolute deviation of the intervals, seconds.
    pub ts_mad_s: f64,
    /// Median interval, seconds.
    pub ts_median_interval_s: f64,
    /// Most frequent interval (zeros included, smallest on ties), seconds.
    pub ts_mode_interval_s: f64,
    /// How often the most frequent interval occurs.
    pub ts_mode_count: u64,
    /// Bowley skew of the sizes.
    pub ds_skew: f64,
    /// Median absolute deviation of the sizes, bytes.
    pub ds_mad_bytes: f64,
    /// Median size, bytes.
    pub ds_median_bytes: f64,
    /// Most frequent size, bytes.
    pub ds_mode_bytes: f64,
    /// 1 − coefficient of variation of the bin counts (0 when CV > 1).
    pub hist_cv_score: f64,
    /// Share of bars in the two most common height buckets (0 below the hours minimum).
    pub hist_bimodal_score: f64,
    /// Connections per histogram bin over the dataset span.
    pub histogram: Vec<u32>,
    /// (last − first connection) / dataset span, capped at 1.
    pub dur_coverage: f64,
    /// Longest run of consecutive non-empty bins (wrapping) / ideal hours, capped at 1.
    pub dur_consistency: f64,
    /// Longest run of consecutive non-empty bins, wrapping around the span.
    pub longest_run_hours: u32,
    /// Connections scored.
    pub connections: u64,
    /// Distinct timestamps (whole seconds).
    pub unique_timestamps: u64,
    /// Non-empty histogram bins.
    pub hours_seen: u32,
    /// First connection, Unix seconds.
    pub first_ts: i64,
    /// Last connection, Unix seconds.
    pub last_ts: i64,
    /// Dataset span the histogram and coverage use, Unix seconds.
    pub dataset: (i64, i64),
}

/// Where a score falls among the [`ScoreThresholds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Below `base`: not reported as a beacon.
    None,
    /// From `base` to `low` (RITA shows these with its lowest threat category).
    Base,
    /// From `low` to `medium`.
    Low,
    /// From `medium` to `high`.
    Medium,
    /// `high` and above.
    High,
}

/// A scored pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Beacon {
    /// Weighted score in 0..=1, rounded to 3 decimals.
    pub score: f64,
    /// Tier of `score`.
    pub tier: Tier,
    /// RITA's bucketed threat score (`calculateBucketedScore`): 0 below base, then linear
    /// 0.2 → 0.4 → 0.6 → 0.8 across base, low, medium, high.
    pub threat_score: f64,
    /// The inputs and intermediate values.
    pub factors: Factors,
}

/// The outcome for one pair.
// One verdict per pair, built once and rarely moved: boxing the scored case buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Scored.
    Scored(Beacon),
    /// At least `strobe_connections` connections: a strobe, not beacon-scored.
    Strobe {
        /// Connections in the window.
        connections: u64,
    },
    /// Fewer than `unique_connection_threshold` distinct timestamps.
    TooFew {
        /// Distinct timestamps seen.
        unique_timestamps: u64,
    },
}

impl Verdict {
    /// The beacon, when scored.
    pub fn beacon(&self) -> Option<&Beacon> {
        match self {
            Verdict::Scored(b) => Some(b),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics (montanaflynn/stats semantics)

/// Median of sorted, non-empty data (mean of the middle two for even counts).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n.is_multiple_of(2) => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        _ => sorted[n / 2],
    }
}

/// Tukey's hinges: medians of the lower and upper halves, the median excluded for odd counts.
fn quartiles(sorted: &[f64]) -> (f64, f64, f64) {
    let n = sorted.len();
    if n < 2 {
        let m = median(sorted);
        return (m, m, m);
    }
    let (c1, c2) = if n.is_multiple_of(2) {
        (n / 2, n / 2)
    } else {
        ((n - 1) / 2, (n - 1) / 2 + 1)
    };
    (median(&sorted[..c1]), median(sorted), median(&sorted[c2..]))
}

/// Median absolute deviation about the median.
fn mad(sorted: &[f64], med: f64) -> f64 {
    let mut dev: Vec<f64> = sorted.iter().map(|x| (x - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    median(&dev)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ceil3(x: f64) -> f64 {
    (x * 1000.0).ceil() / 1000.0
}

/// Bowley skew, forced to 0 unless IQR ≥ 10 and the median differs from both quartiles.
fn bowley(sorted: &[f64]) -> f64 {
    let (q1, q2, q3) = quartiles(sorted);
    let den = q3 - q1;
    if den >= 10.0 && q2 != q1 && q2 != q3 {
        (q1 + q3 - 2.0 * q2) / den
    } else {
        0.0
    }
}

struct Stat {
    score: f64,
    skew: f64,
    mad: f64,
    median: f64,
}

/// round3(((1 − |skew|) + MAD score) / 2) over sorted values.
fn statistical_score(sorted: &[f64], default_mad_score: f64) -> Stat {
    let skew = bowley(sorted);
    let med = median(sorted);
    let m = mad(sorted, med);
    let mut mad_score = default_mad_score;
    if med >= 1.0 {
        mad_score = (med - m) / med;
    }
    if mad_score.is_nan() || mad_score < 0.0 {
        mad_score = 0.0;
    }
    Stat {
        score: round3(((1.0 - skew.abs()) + mad_score) / 2.0),
        skew,
        mad: m,
        median: med,
    }
}

/// Most frequent value of sorted data, the smallest on ties, with its count.
fn mode(sorted: &[f64]) -> (f64, u64) {
    let mut best = (f64::NAN, 0u64);
    let mut i = 0;
    while i < sorted.len() {
        let v = sorted[i];
        let mut j = i;
        while j < sorted.len() && sorted[j] == v {
            j += 1;
        }
        let count = (j - i) as u64;
        if count > best.1 {
            best = (v, count);
        }
        i = j;
    }
    best
}

// ---------------------------------------------------------------------------------------------
// Histogram and duration

struct Histogram {
    counts: Vec<u32>,
    bars: u32,
    longest_run: u32,
    cv_score: f64,
    bimodal_score: f64,
}

fn histogram(sorted_ts: &[i64], dataset: (i64, i64), cfg: &BeaconConfig) -> Histogram {
    let bins = cfg.histogram_bins.clamp(1, 10_000);
    let (lo, hi) = (dataset.0 as f64, dataset.1 as f64);
    let step = (hi - lo) / bins as f64;
    let edge = |i: usize| {
        if i == bins { hi } else { lo + i as f64 * step }
    };
    // Timestamps before the first edge land in the first bin, after the last in the last.
    let mut counts = vec![0u32; bins];
    let mut cur = 0usize;
    for &t in sorted_ts {
        let t = t as f64;
        while cur + 1 < bins && t >= edge(cur + 1) {
            cur += 1;
        }
        counts[cur] = counts[cur].saturating_add(1);
    }

    let bars = counts.iter().filter(|&&c| c > 0).count() as u32;
    let largest = counts.iter().copied().max().unwrap_or(0);

    // Longest run of non-empty bins, wrapping from the end back to the start.
    let (mut longest, mut run) = (0u32, 0u32);
    for i in 0..bins * 2 {
        if counts[i % bins] > 0 {
            run += 1;
        } else {
            longest = longest.max(run);
            run = 0;
        }
    }
    let longest_run = longest.max(run).min(bins as u32);

    // Coefficient of variation of the bin counts.
    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    let cv_score = if total > 0.0 {
        let mean = total / bins as f64;
        let var = counts.iter().map(|&c| (f64::from(c) - mean).powi(2)).sum::<f64>() / bins as f64;
        let cv = var.sqrt() / mean;
        if cv > 1.0 { 0.0 } else { round3(1.0 - cv).min(1.0) }
    } else {
        0.0
    };

    // Bimodal fit: bars grouped into buckets of width ceil(largest × sensitivity); the two
    // most common buckets' share of the bars (less the allowed outliers).
    let mut min_hours = cfg.hist_bimodal_min_hours_seen;
    if min_hours < 6 {
        min_hours = 11;
    }
    let mut bimodal_score = 0.0;
    if bars >= min_hours && bars > 0 {
        let width = (f64::from(largest) * cfg.hist_mode_sensitivity).ceil();
        let width = if width.is_finite() && width >= 1.0 {
            width
        } else {
            1.0
        };
        let mut buckets: Vec<(u64, u32)> = Vec::new();
        for &c in counts.iter().filter(|&&c| c > 0) {
            let key = ((f64::from(c) / width).floor() * width) as u64;
            match buckets.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => buckets.push((key, 1)),
            }
        }
        let (mut first, mut second) = (0u32, 0u32);
        for &(_, n) in &buckets {
            if n > first {
                second = first;
                first = n;
            } else if n > second {
                second = n;
            }
        }
        let denom = (f64::from(bars) - f64::from(cfg.hist_bimodal_outlier_removal)).max(1.0);
        bimodal_score = round3(f64::from(first + second) / denom).min(1.0);
    }

    Histogram {
        counts,
        bars,
        longest_run,
        cv_score,
        bimodal_score,
    }
}

/// (coverage, consistency, score).
fn duration(
    first: i64,
    last: i64,
    dataset: (i64, i64),
    hist: &Histogram,
    cfg: &BeaconConfig,
) -> (f64, f64, f64) {
    if hist.bars < cfg.dur_min_hours_seen.max(1) {
        return (0.0, 0.0, 0.0);
    }
    let span = (dataset.1 as f64) - (dataset.0 as f64);
    let coverage = ceil3(((last as f64) - (first as f64)) / span).clamp(0.0, 1.0);
    let ideal = f64::from(cfg.dur_consistency_ideal_hours_seen.max(1));
    let consistency = ceil3(f64::from(hist.longest_run) / ideal).min(1.0);
    (coverage, consistency, coverage.max(consistency))
}

fn tier(score: f64, t: &ScoreThresholds) -> Tier {
    if score >= t.high {
        Tier::High
    } else if score >= t.medium {
        Tier::Medium
    } else if score >= t.low {
        Tier::Low
    } else if score >= t.base {
        Tier::Base
    } else {
        Tier::None
    }
}

/// RITA's `calculateBucketedScore` with its category scores 0.2 / 0.4 / 0.6 / 0.8.
fn threat_score(v: f64, t: &ScoreThresholds) -> f64 {
    let lerp = |from: f64, to: f64, x: f64, a: f64, b: f64| {
        if b > a {
            from + (x - a) / (b - a) * (to - from)
        } else {
            to
        }
    };
    if v < t.base {
        0.0
    } else if v < t.low {
        lerp(0.2, 0.4, v, t.base, t.low)
    } else if v < t.medium {
        lerp(0.4, 0.6, v, t.low, t.medium)
    } else {
        lerp(0.6, 0.8, v.min(t.high), t.medium, t.high)
    }
}

// ---------------------------------------------------------------------------------------------
// Scoring one pair

/// Scores one pair. `conns`: (timestamp in whole seconds, orig IP bytes) of one pair, any order;
/// `dataset`: (min ts, max ts) of the whole input (RITA's histogram/duration span; when
/// `max <= min` the pair's own first and last timestamps are used).
pub fn score(conns: &[(i64, u64)], dataset: (i64, i64), cfg: &BeaconConfig) -> Verdict {
    score_counted(conns, 0, dataset, cfg)
}

/// [`score`] with `extra` connections counted towards the strobe limit but not stored.
fn score_counted(conns: &[(i64, u64)], extra: u64, dataset: (i64, i64), cfg: &BeaconConfig) -> Verdict {
    let connections = conns.len() as u64 + extra;
    if cfg.strobe_connections > 0 && connections >= cfg.strobe_connections {
        return Verdict::Strobe { connections };
    }
    let mut ts: Vec<i64> = conns.iter().map(|c| c.0).collect();
    ts.sort_unstable();
    let unique = unique_count(&ts);
    if unique < cfg.unique_connection_threshold.max(4) {
        return Verdict::TooFew {
            unique_timestamps: unique,
        };
    }
    let (first, last) = (ts[0], ts[ts.len() - 1]);
    let dataset = if dataset.1 > dataset.0 {
        dataset
    } else {
        (first, last)
    };

    // Intervals between consecutive connections; the zero ones (same second) count for the mode
    // only, the score uses the rest.
    let mut deltas: Vec<f64> = ts
        .windows(2)
        .map(|w| (i128::from(w[1]) - i128::from(w[0])) as f64)
        .collect();
    deltas.sort_by(f64::total_cmp);
    let (ts_mode, ts_mode_count) = mode(&deltas);
    let nonzero_from = deltas.partition_point(|&d| d <= 0.0);
    let ts_stat = statistical_score(&deltas[nonzero_from..], 1.0);

    let mut sizes: Vec<f64> = conns.iter().map(|c| c.1 as f64).collect();
    sizes.sort_by(f64::total_cmp);
    let (ds_mode, _) = mode(&sizes);
    let ds_stat = statistical_score(&sizes, 0.0);

    let hist = histogram(&ts, dataset, cfg);
    let hist_score = hist.cv_score.max(hist.bimodal_score);
    let (coverage, consistency, dur_score) = duration(first, last, dataset, &hist, cfg);

    let mut weights = [cfg.ts_weight, cfg.ds_weight, cfg.hist_weight, cfg.dur_weight]
        .map(|w| if w.is_finite() && w > 0.0 { w } else { 0.0 });
    let mut sum: f64 = weights.iter().sum();
    if sum <= 0.0 || !sum.is_finite() {
        weights = [0.25; 4];
        sum = 1.0;
    }
    let weighted = (ts_stat.score * weights[0]
        + ds_stat.score * weights[1]
        + hist_score * weights[2]
        + dur_score * weights[3])
        / sum;
    let score = round3(weighted).clamp(0.0, 1.0);

    Verdict::Scored(Beacon {
        score,
        tier: tier(score, &cfg.thresholds),
        threat_score: threat_score(score, &cfg.thresholds),
        factors: Factors {
            ts_score: ts_stat.score,
            ds_score: ds_stat.score,
            hist_score,
            dur_score,
            ts_skew: ts_stat.skew,
            ts_mad_s: ts_stat.mad,
            ts_median_interval_s: ts_stat.median,
            ts_mode_interval_s: ts_mode,
            ts_mode_count,
            ds_skew: ds_stat.skew,
            ds_mad_bytes: ds_stat.mad,
            ds_median_bytes: ds_stat.median,
            ds_mode_bytes: ds_mode,
            hist_cv_score: hist.cv_score,
            hist_bimodal_score: hist.bimodal_score,
            dur_coverage: coverage,
            dur_consistency: consistency,
            longest_run_hours: hist.longest_run,
            connections,
            unique_timestamps: unique,
            hours_seen: hist.bars,
            first_ts: first,
            last_ts: last,
            dataset,
            histogram: hist.counts,
        },
    })
}

fn unique_count(sorted: &[i64]) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    1 + sorted.windows(2).filter(|w| w[0] != w[1]).count() as u64
}

// ---------------------------------------------------------------------------------------------
// Pairs

/// The destination side of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairDst {
    /// A destination address (connections with no SNI or HTTP Host).
    Ip(IpAddr),
    /// A server name from TLS SNI or the HTTP `Host` header (lower-cased, trailing dot removed,
    /// any `:port` kept as RITA keeps it).
    Fqdn(String),
}

/// One pair's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairScore {
    /// Source address.
    pub src: IpAddr,
    /// Destination address or name.
    pub dst: PairDst,
    /// Scored, strobe or too few.
    pub verdict: Verdict,
    /// Failed connections (no answer, rejected) among the pair's connections in the window.
    pub failed: u64,
}

/// Longest server name kept; longer names are cut (at a character boundary).
const MAX_FQDN_BYTES: usize = 1024;
/// Most FQDN pairs remembered per IP pair for the "used by an FQDN beacon" rule.
const MAX_LINKS: usize = 64;
/// Most connections stored over all pairs (16 bytes each); beyond it they are only counted.
pub const MAX_TOTAL_CONNECTIONS: usize = 16 << 20;
/// Top bit of a stored size: the connection failed.
const FAILED_BIT: u64 = 1 << 63;

struct PairAcc {
    src: IpAddr,
    dst: PairDst,
    /// (ts, size | FAILED_BIT).
    conns: Vec<(i64, u64)>,
    /// Connections not stored because the pair was full.
    overflow: u64,
    /// Stored connections before this time were pruned (outside every later window).
    pruned_below: i64,
    /// For IP pairs: FQDN pairs their connections also went to.
    links: Vec<u32>,
}

/// Connections grouped per pair as RITA groups them, bounded by a pair limit, the per-pair
/// strobe limit and [`MAX_TOTAL_CONNECTIONS`].
pub struct Pairs {
    max_pairs: usize,
    per_pair: usize,
    window_s: i64,
    index: HashMap<(IpAddr, PairDst), u32, foldhash::fast::RandomState>,
    pairs: Vec<PairAcc>,
    stored: usize,
    dropped: u64,
    span: Option<(i64, i64)>,
}

impl std::fmt::Debug for Pairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairs")
            .field("pairs", &self.pairs.len())
            .field("stored", &self.stored)
            .field("dropped", &self.dropped)
            .field("span", &self.span)
            .finish()
    }
}

fn floor_hour(t: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(3600))
}

fn normalize_fqdn(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.');
    if name.is_empty() {
        return None;
    }
    let mut end = name.len().min(MAX_FQDN_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    Some(name[..end].to_ascii_lowercase())
}

/// Zeek states for connections that were never answered or were refused.
fn is_failed(c: &ConnRecord) -> bool {
    match c.conn_state.as_deref() {
        Some(state) => matches!(state, "S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" | "SHR"),
        // Not from Zeek (e.g. built from a capture): no reply packet at all means failed.
        None => c.resp_pkts == Some(0),
    }
}

impl Pairs {
    /// An empty set holding at most `max_pairs` pairs, with RITA's default limits (86,400
    /// connections per pair, 24-hour window).
    pub fn new(max_pairs: usize) -> Self {
        Self::with_config(max_pairs, &BeaconConfig::default())
    }

    /// Like [`Pairs::new`] with the per-pair limit and window of `cfg`.
    pub fn with_config(max_pairs: usize, cfg: &BeaconConfig) -> Self {
        let per_pair = match cfg.strobe_connections {
            0 => 86_400,
            n => usize::try_from(n).unwrap_or(usize::MAX).min(1 << 24),
        };
        Pairs {
            max_pairs,
            per_pair,
            window_s: i64::from(cfg.window_hours) * 3600,
            index: HashMap::default(),
            pairs: Vec::new(),
            stored: 0,
            dropped: 0,
            span: None,
        }
    }

    /// Pairs held.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no connection was added.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Connections lost to the pair limit or [`MAX_TOTAL_CONNECTIONS`] (their pairs are scored
    /// without them, or not at all).
    pub fn dropped_connections(&self) -> u64 {
        self.dropped
    }

    /// (first, last) connection time over everything added, Unix seconds.
    pub fn span(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// Adds one connection to one pair.
    pub fn add(&mut self, src: IpAddr, dst: PairDst, ts_s: i64, orig_ip_bytes: u64, failed: bool) {
        let dst = match dst {
            PairDst::Fqdn(name) => match normalize_fqdn(&name) {
                Some(n) => PairDst::Fqdn(n),
                None => return,
            },
            ip => ip,
        };
        self.add_inner(src, dst, ts_s, orig_ip_bytes, failed);
    }

    /// Adds one connection the way RITA's import does: always to (src, dst IP), and also to
    /// (src, name) for each server name it carried (SNI, HTTP Host). The IP pair remembers the
    /// names, so [`Pairs::score_all`] can drop it when one of them is beacon-eligible.
    pub fn add_conn(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        names: &[&str],
        ts_s: i64,
        orig_ip_bytes: u64,
        failed: bool,
    ) {
        let ip = self.add_inner(src, PairDst::Ip(dst), ts_s, orig_ip_bytes, failed);
        let mut seen: Vec<String> = Vec::new();
        for name in names {
            let Some(name) = normalize_fqdn(name) else {
                continue;
            };
            if seen.contains(&name) {
                continue;
            }
            seen.push(name.clone());
            let fq = self.add_inner(src, PairDst::Fqdn(name), ts_s, orig_ip_bytes, failed);
            if let (Some(ip), Some(fq)) = (ip, fq) {
                let links = &mut self.pairs[ip as usize].links;
                if !links.contains(&fq) && links.len() < MAX_LINKS {
                    links.push(fq);
                }
            }
        }
    }

    /// Adds Zeek records: each conn record with the server names its `uid` carries in `ssl`
    /// (`server_name`) and `http` (`host` of the uid's last request, as RITA links only that
    /// one). Timestamps are the conn record's, in whole seconds; sizes are `orig_ip_bytes`, or
    /// `orig_bytes` when a record (e.g. one built from a capture) has no IP byte count; failed
    /// means Zeek state S0/REJ/RSTOS0/RSTRH/SH/SHR, or, without a state, no responder packet.
    pub fn add_zeek(&mut self, conns: &[ConnRecord], ssl: &[SslRecord], http: &[HttpRecord]) {
        let mut last_http: HashMap<&str, (i64, &str), foldhash::fast::RandomState> = HashMap::default();
        for h in http.iter().filter(|h| !h.uid.is_empty()) {
            let host = h.host.as_deref().unwrap_or("");
            let e = last_http.entry(h.uid.as_str()).or_insert((h.ts_us, host));
            if h.ts_us >= e.0 {
                *e = (h.ts_us, host);
            }
        }
        let mut sni: HashMap<&str, Vec<&str>, foldhash::fast::RandomState> = HashMap::default();
        for s in ssl.iter().filter(|s| !s.uid.is_empty()) {
            if let Some(name) = s.server_name.as_deref().filter(|n| !n.is_empty()) {
                let names = sni.entry(s.uid.as_str()).or_default();
                if names.len() < 4 && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for c in conns {
            names.clear();
            if !c.uid.is_empty() {
                if let Some((_, host)) = last_http.get(c.uid.as_str()) {
                    names.push(host);
                }
                if let Some(s) = sni.get(c.uid.as_str()) {
                    names.extend(s.iter().copied());
                }
            }
            let bytes = c.orig_ip_bytes.or(c.orig_bytes).unwrap_or(0);
            let ts = c.ts_us.div_euclid(1_000_000);
            self.add_conn(c.orig.ip(), c.resp.ip(), &names, ts, bytes, is_failed(c));
        }
    }

    fn add_inner(&mut self, src: IpAddr, dst: PairDst, ts: i64, bytes: u64, failed: bool) -> Option<u32> {
        self.span = Some(match self.span {
            None => (ts, ts),
            Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
        });
        let idx = match self.index.get(&(src, dst.clone())) {
            Some(&i) => i,
            None => {
                if self.pairs.len() >= self.max_pairs || self.pairs.len() >= u32::MAX as usize {
                    self.dropped += 1;
                    return None;
                }
                let i = self.pairs.len() as u32;
                self.pairs.push(PairAcc {
                    src,
                    dst: dst.clone(),
                    conns: Vec::new(),
                    overflow: 0,
                    pruned_below: i64::MIN,
                    links: Vec::new(),
                });
                self.index.insert((src, dst), i);
                i
            }
        };
        let latest = self.span.map_or(ts, |s| s.1);
        let window_s = self.window_s;
        let per_pair = self.per_pair;
        let pair = &mut self.pairs[idx as usize];
        if pair.conns.len() >= per_pair && window_s > 0 {
            // Full: forget what has left every future window (once per hour of progress).
            let cutoff = floor_hour(latest.saturating_sub(window_s));
            if cutoff > pair.pruned_below {
                let before = pair.conns.len();
                pair.conns.retain(|c| c.0 >= cutoff);
                self.stored -= before - pair.conns.len();
                pair.pruned_below = cutoff;
            }
        }
        let size = bytes.min(FAILED_BIT - 1) | if failed { FAILED_BIT } else { 0 };
        if pair.conns.len() < per_pair && self.stored < MAX_TOTAL_CONNECTIONS {
            pair.conns.push((ts, size));
            self.stored += 1;
        } else if pair.conns.len() >= per_pair {
            pair.overflow += 1;
        } else {
            self.dropped += 1;
        }
        Some(idx)
    }

    /// Scores every pair over the window ending at the last connection added. IP pairs whose
    /// connections also went to a beacon-eligible FQDN pair are left out (RITA's rule); the rest
    /// come back scored first (highest score first), then strobes, then pairs with too few
    /// connections.
    pub fn score_all(&self, cfg: &BeaconConfig) -> Vec<PairScore> {
        let Some((lo, hi)) = self.span else {
            return Vec::new();
        };
        let window_s = i64::from(cfg.window_hours) * 3600;
        let (start, cutoff) = if window_s > 0 {
            let start = lo.max(hi.saturating_sub(window_s));
            (start, floor_hour(start))
        } else {
            (lo, i64::MIN)
        };
        let dataset = (start, hi);
        let threshold = cfg.unique_connection_threshold.max(4);

        struct Windowed {
            conns: Vec<(i64, u64)>,
            failed: u64,
            unique: u64,
        }
        let windowed: Vec<Windowed> = self
            .pairs
            .iter()
            .map(|p| {
                let mut failed = 0;
                let mut conns = Vec::with_capacity(p.conns.len());
                for &(t, size) in p.conns.iter().filter(|c| c.0 >= cutoff) {
                    let is_failed = size & FAILED_BIT != 0;
                    failed += u64::from(is_failed);
                    if !(cfg.skip_failed && is_failed) {
                        conns.push((t, size & !FAILED_BIT));
                    }
                }
                let mut ts: Vec<i64> = conns.iter().map(|c| c.0).collect();
                ts.sort_unstable();
                let unique = unique_count(&ts);
                Windowed {
                    conns,
                    failed,
                    unique,
                }
            })
            .collect();
        let eligible = |i: usize| {
            let p = &self.pairs[i];
            let w = &windowed[i];
            let n = w.conns.len() as u64 + p.overflow;
            w.unique >= threshold && (cfg.strobe_connections == 0 || n < cfg.strobe_connections)
        };

        let mut out = Vec::new();
        for (i, p) in self.pairs.iter().enumerate() {
            let w = &windowed[i];
            if w.conns.is_empty() && p.overflow == 0 {
                continue;
            }
            if matches!(p.dst, PairDst::Ip(_)) && p.links.iter().any(|&l| eligible(l as usize)) {
                continue;
            }
            out.push(PairScore {
                src: p.src,
                dst: p.dst.clone(),
                verdict: score_counted(&w.conns, p.overflow, dataset, cfg),
                failed: w.failed,
            });
        }
        out.sort_by(|a, b| {
            let rank = |v: &Verdict| match v {
                Verdict::Scored(b) => (0, -b.score),
                Verdict::Strobe { connections } => (1, -(*connections as f64)),
                Verdict::TooFew { unique_timestamps } => (2, -(*unique_timestamps as f64)),
            };
            let (ra, rb) = (rank(&a.verdict), rank(&b.verdict));
            ra.0.cmp(&rb.0)
                .then(ra.1.total_cmp(&rb.1))
                .then_with(|| (a.src, &a.dst).cmp(&(b.src, &b.dst)))
        });
        out
    }
}

/// Builds the pairs from Zeek records (conn joined with ssl/http by uid), as RITA's import does;
/// see [`Pairs::add_zeek`]. Records built from a capture work the same way: give each flow a
/// `uid` shared with its SSL/HTTP records, and `orig_ip_bytes` (else `orig_bytes` is used).
pub fn pairs_from_zeek(
    conns: &[ConnRecord],
    ssl: &[SslRecord],
    http: &[HttpRecord],
    max_pairs: usize,
) -> Pairs {
    let mut pairs = Pairs::new(max_pairs);
    pairs.add_zeek(conns, ssl, http);
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BeaconConfig {
        BeaconConfig::default()
    }

    fn scored(v: &Verdict) -> &Beacon {
        match v {
            Verdict::Scored(b) => b,
            other => panic!("not scored: {other:?}"),
        }
    }

    /// Deterministic xorshift in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn quartiles_match_montanaflynn() {
        // Odd count: halves exclude the median.
        let q = quartiles(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(q, (2.0, 4.0, 6.0));
        // Even count: halves split evenly.
        let q = quartiles(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(q, (2.5, 4.5, 6.5));
        let q = quartiles(&[7.0, 15.0, 36.0, 39.0, 40.0, 41.0]);
        assert_eq!(q, (15.0, 37.5, 40.0));
        assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), 2.5);
        assert_eq!(mad(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0], 2.0), 1.0);
    }

    #[test]
    fn perfect_beacon_scores_one() {
        // Every 60 s for the whole day, same size.
        let conns: Vec<(i64, u64)> = (0..1440).map(|i| (i * 60, 512)).collect();
        let b = scored(&score(&conns, (0, 86_340), &cfg())).clone();
        let f = &b.factors;
        assert_eq!(f.ts_score, 1.0);
        assert_eq!(f.ds_score, 1.0);
        assert_eq!(f.hist_score, 1.0);
        assert_eq!(f.dur_score, 1.0);
        assert_eq!(b.score, 1.0);
        assert_eq!(b.tier, Tier::High);
        assert_eq!(b.threat_score, 0.8);
        assert_eq!(f.ts_median_interval_s, 60.0);
        assert_eq!(f.ts_mode_interval_s, 60.0);
        assert_eq!(f.ts_mode_count, 1439);
        assert_eq!(f.hours_seen, 24);
        assert_eq!(f.longest_run_hours, 24);
        assert_eq!(f.connections, 1440);
        assert_eq!(f.unique_timestamps, 1440);
    }

    #[test]
    fn jittered_beacon_scores_high() {
        // 60 s ± 10 %, sizes 500 ± 2 %.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut t = 0i64;
        let mut conns = Vec::new();
        while t < 86_400 {
            conns.push((t, 490 + (rng.next() * 20.0) as u64));
            t += 54 + (rng.next() * 13.0) as i64;
        }
        let b = scored(&score(&conns, (0, 86_400), &cfg())).clone();
        let f = &b.factors;
        // MAD of uniform ±6 s jitter ≈ 3 s → MAD score ≈ 0.95; skew ≈ 0.
        assert!(f.ts_score > 0.9, "{f:?}");
        // Sizes 490..510: MAD 5 of 500 (0.99), Bowley ≈ −0.09 → ≈ 0.95.
        assert!(f.ds_score > 0.9, "{f:?}");
        assert_eq!(f.hist_score, 1.0);
        assert!(f.hist_cv_score > 0.9);
        assert_eq!(f.dur_score, 1.0);
        assert!(b.score > 0.95, "{b:?}");
        assert!(b.tier >= Tier::Medium);
    }

    #[test]
    fn poisson_background_scores_lower() {
        let mut rng = Rng(42);
        let mut t = 0i64;
        let mut conns = Vec::new();
        while t < 86_400 {
            conns.push((t, 200 + (rng.next() * 3000.0) as u64));
            // Exponential, mean 180 s.
            t += (-(1.0 - rng.next()).ln() * 180.0).ceil() as i64;
        }
        let b = scored(&score(&conns, (0, 86_400), &cfg())).clone();
        let f = &b.factors;
        // For exponential intervals MAD/median ≈ 0.6 and Bowley skew ≈ 0.26.
        assert!(f.ts_score < 0.7, "{f:?}");
        assert!(f.ts_skew > 0.1, "{f:?}");
        assert!(f.ds_score < 0.8, "{f:?}");
        assert!(b.score < 0.85, "{b:?}");
        let jittered: Vec<(i64, u64)> = (0..1440).map(|i| (i * 60 + (i % 7), 500)).collect();
        let j = scored(&score(&jittered, (0, 86_400), &cfg())).clone();
        assert!(j.score > b.score);
    }

    #[test]
    fn strobe_at_limit() {
        let conns: Vec<(i64, u64)> = (0..86_400).map(|i| (i, 60)).collect();
        assert_eq!(
            score(&conns, (0, 86_399), &cfg()),
            Verdict::Strobe { connections: 86_400 }
        );
        assert!(matches!(
            score(&conns[..86_399], (0, 86_399), &cfg()),
            Verdict::Scored(_)
        ));
    }

    #[test]
    fn too_few_unique_timestamps() {
        // Many connections but only three distinct seconds (retries within the same second).
        let conns = vec![(10, 1), (10, 1), (10, 1), (70, 1), (70, 1), (130, 1), (130, 1)];
        assert_eq!(
            score(&conns, (0, 1000), &cfg()),
            Verdict::TooFew { unique_timestamps: 3 }
        );
        // A lower configured threshold still needs four (three non-zero intervals).
        let low = BeaconConfig {
            unique_connection_threshold: 2,
            ..cfg()
        };
        assert!(matches!(score(&conns, (0, 1000), &low), Verdict::TooFew { .. }));
        assert!(matches!(score(&[], (0, 1), &cfg()), Verdict::TooFew { .. }));
    }

    #[test]
    fn bowley_forced_to_zero() {
        // IQR < 10: skew 0 even though the data is lopsided.
        assert_eq!(bowley(&[1.0, 2.0, 2.0, 2.0, 3.0, 9.0, 10.0]), 0.0);
        // Median equal to Q1.
        assert_eq!(bowley(&[10.0, 10.0, 10.0, 10.0, 50.0, 90.0, 100.0]), 0.0);
        // Median equal to Q3.
        assert_eq!(bowley(&[10.0, 20.0, 90.0, 90.0, 90.0, 90.0, 95.0]), 0.0);
        // Otherwise (Q1 + Q3 − 2 Q2) / (Q3 − Q1): Q = (10, 20, 50) → 20/40.
        assert_eq!(bowley(&[5.0, 10.0, 15.0, 20.0, 40.0, 50.0, 60.0]), 0.5);
        let s = statistical_score(&[5.0, 10.0, 15.0, 20.0, 40.0, 50.0, 60.0], 1.0);
        // median 20, |x − 20| = 15 10 5 0 20 30 40 → MAD 15; MAD score 0.25; (0.5 + 0.25)/2.
        assert_eq!((s.skew, s.mad, s.score), (0.5, 15.0, 0.375));
        // Median < 1: default MAD score (1 for timestamps, 0 for sizes).
        assert_eq!(statistical_score(&[0.0, 0.0, 0.0], 0.0).score, 0.5);
        assert_eq!(statistical_score(&[0.0, 0.0, 0.0], 1.0).score, 1.0);
    }

    #[test]
    fn histogram_bimodal_path() {
        // 12 busy hours (60 conns) alternating with 12 quiet ones (10 conns): CV is high, the
        // two height buckets hold every bar → bimodal fit 24/23 capped at 1.
        let mut conns = Vec::new();
        for h in 0..24i64 {
            let n = if h % 2 == 0 { 60 } else { 10 };
            for k in 0..n {
                conns.push((h * 3600 + k * (3600 / n), 100));
            }
        }
        let b = scored(&score(&conns, (0, 86_400), &cfg())).clone();
        let f = &b.factors;
        // counts: mean 35, sd 25 → CV 0.714 → 0.286.
        assert_eq!(f.hist_cv_score, 0.286);
        assert_eq!(f.hist_bimodal_score, 1.0);
        assert_eq!(f.hist_score, 1.0);

        // Three height groups over 12 bars: (4 + 4) / (12 − 1).
        let mut conns = Vec::new();
        for h in 0..12i64 {
            let n = [5, 30, 60][(h % 3) as usize];
            for k in 0..n {
                conns.push((h * 3600 + k * (3600 / n), 100));
            }
        }
        let h = histogram(
            &{
                let mut t: Vec<i64> = conns.iter().map(|c| c.0).collect();
                t.sort_unstable();
                t
            },
            (0, 86_400),
            &cfg(),
        );
        assert_eq!(h.bars, 12);
        assert_eq!(h.bimodal_score, round3(8.0 / 11.0));
        // Below 11 bars there is no bimodal score.
        let few: Vec<i64> = (0..10).map(|h| h * 3600).collect();
        assert_eq!(histogram(&few, (0, 86_400), &cfg()).bimodal_score, 0.0);
    }

    #[test]
    fn duration_needs_six_hours_and_wraps() {
        // Five hours seen: no duration score.
        let conns: Vec<(i64, u64)> = (0..50).map(|i| (i * 360, 1)).collect();
        let f = scored(&score(&conns, (0, 86_400), &cfg())).factors.clone();
        assert_eq!(f.hours_seen, 5);
        assert_eq!(f.dur_score, 0.0);
        // Hours 0–3 and 21–23: the run wraps to 7; coverage spans the whole day.
        let mut conns: Vec<(i64, u64)> = Vec::new();
        for h in [0i64, 1, 2, 3, 21, 22, 23] {
            conns.push((h * 3600 + 10, 1));
            conns.push((h * 3600 + 20, 1));
        }
        let f = scored(&score(&conns, (0, 86_400), &cfg())).factors.clone();
        assert_eq!(f.longest_run_hours, 7);
        assert_eq!(f.dur_consistency, 0.584); // ceil(7/12, 3 decimals)
        assert_eq!(f.dur_coverage, 0.959); // ceil((82_820 − 10) / 86_400, 3 decimals)
        assert_eq!(f.dur_score, 0.959);
        // Six consecutive hours in the middle: coverage 0.25, consistency 0.5.
        let conns: Vec<(i64, u64)> = (0..6)
            .flat_map(|h| [(36_000 + h * 3600, 1), (36_000 + h * 3600 + 1800, 1)])
            .collect();
        let f = scored(&score(&conns, (0, 86_400), &cfg())).factors.clone();
        assert_eq!(f.dur_consistency, 0.5);
        assert_eq!(f.dur_coverage, 0.23); // ceil(19_800 / 86_400, 3 decimals)
        assert_eq!(f.dur_score, 0.5);
    }

    #[test]
    fn tiers_and_threat_score() {
        let t = cfg().thresholds;
        assert_eq!(tier(0.49, &t), Tier::None);
        assert_eq!(tier(0.5, &t), Tier::Base);
        assert_eq!(tier(0.7, &t), Tier::Low);
        assert_eq!(tier(0.95, &t), Tier::Medium);
        assert_eq!(tier(1.0, &t), Tier::High);
        assert_eq!(threat_score(0.4, &t), 0.0);
        assert!((threat_score(0.6, &t) - 0.3).abs() < 1e-9);
        assert!((threat_score(0.979, &t) - 0.758).abs() < 1e-9);
    }

    #[test]
    fn hostile_numbers_do_not_panic() {
        let conns = vec![
            (i64::MIN, u64::MAX),
            (i64::MAX, 0),
            (0, u64::MAX),
            (1, 1),
            (-5, 7),
        ];
        let _ = score(&conns, (i64::MIN, i64::MAX), &cfg());
        let _ = score(&conns, (5, -5), &cfg());
        let weird = BeaconConfig {
            histogram_bins: 0,
            hist_mode_sensitivity: f64::NAN,
            ts_weight: f64::INFINITY,
            ds_weight: -1.0,
            dur_consistency_ideal_hours_seen: 0,
            ..cfg()
        };
        let _ = score(&conns, (0, 10), &weird);
        let zero_weights = BeaconConfig {
            ts_weight: 0.0,
            ds_weight: 0.0,
            hist_weight: 0.0,
            dur_weight: 0.0,
            ..cfg()
        };
        let conns: Vec<(i64, u64)> = (0..10).map(|i| (i * 60, 1)).collect();
        assert!(matches!(
            score(&conns, (0, 600), &zero_weights),
            Verdict::Scored(_)
        ));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pairs_group_and_link_like_rita() {
        let mut p = Pairs::new(100);
        let (src, dst) = (ip("10.0.0.5"), ip("203.0.113.9"));
        // An SNI beacon over the IP pair: the IP pair is dropped once the FQDN pair is eligible.
        for i in 0..10 {
            p.add_conn(src, dst, &["Pool.Example.COM."], i * 60, 300, false);
        }
        // Plain connections to another address stay an IP pair.
        for i in 0..10 {
            p.add_conn(src, ip("198.51.100.1"), &[], i * 90, 100, i % 2 == 0);
        }
        // An FQDN pair with too few timestamps leaves its IP pair in.
        for i in 0..3 {
            p.add_conn(src, ip("192.0.2.1"), &["rare.example"], i * 60, 50, false);
        }
        let out = p.score_all(&cfg());
        let dsts: Vec<&PairDst> = out.iter().map(|s| &s.dst).collect();
        assert!(dsts.contains(&&PairDst::Fqdn("pool.example.com".into())));
        assert!(!dsts.contains(&&PairDst::Ip(dst)));
        assert!(dsts.contains(&&PairDst::Ip(ip("198.51.100.1"))));
        assert!(dsts.contains(&&PairDst::Ip(ip("192.0.2.1"))));
        let plain = out
            .iter()
            .find(|s| s.dst == PairDst::Ip(ip("198.51.100.1")))
            .unwrap();
        assert_eq!(plain.failed, 5);
        assert_eq!(scored(&plain.verdict).factors.connections, 10);
        // Scored first, then too-few.
        assert!(matches!(out.last().unwrap().verdict, Verdict::TooFew { .. }));

        // skip_failed leaves failed connections out of the score.
        let skip = BeaconConfig {
            skip_failed: true,
            ..cfg()
        };
        let out = p.score_all(&skip);
        let plain = out
            .iter()
            .find(|s| s.dst == PairDst::Ip(ip("198.51.100.1")))
            .unwrap();
        assert_eq!(scored(&plain.verdict).factors.connections, 5);
        assert_eq!(plain.failed, 5);
    }

    #[test]
    fn pairs_are_bounded() {
        let mut p = Pairs::new(2);
        for i in 0..5u8 {
            p.add(
                ip("10.0.0.1"),
                PairDst::Ip(IpAddr::from([1, 1, 1, i])),
                0,
                1,
                false,
            );
        }
        assert_eq!(p.len(), 2);
        assert_eq!(p.dropped_connections(), 3);

        // A pair never stores more than the strobe limit but keeps counting → strobe.
        let small = BeaconConfig {
            strobe_connections: 100,
            ..cfg()
        };
        let mut p = Pairs::with_config(10, &small);
        for i in 0..250 {
            p.add(ip("10.0.0.1"), PairDst::Fqdn("x.example".into()), i, 1, false);
        }
        assert_eq!(p.pairs[0].conns.len(), 100);
        let out = p.score_all(&small);
        assert_eq!(out[0].verdict, Verdict::Strobe { connections: 250 });
    }

    #[test]
    fn window_keeps_the_last_day_from_the_hour() {
        let mut p = Pairs::new(10);
        // Two days of a 10-minute beacon; only hour-aligned last 24 h (+ the partial hour) count.
        for i in 0..288 {
            p.add(
                ip("10.0.0.1"),
                PairDst::Ip(ip("192.0.2.9")),
                1_000 + i * 600,
                1,
                false,
            );
        }
        let out = p.score_all(&cfg());
        let f = &scored(&out[0].verdict).factors;
        let hi = 1_000 + 287 * 600;
        assert_eq!(f.dataset, (hi - 86_400, hi));
        let cutoff = floor_hour(hi - 86_400);
        let expected = (0..288).filter(|i| 1_000 + i * 600 >= cutoff).count() as u64;
        assert_eq!(f.connections, expected);
        // Window off: everything.
        let all = BeaconConfig {
            window_hours: 0,
            ..cfg()
        };
        let out = p.score_all(&all);
        assert_eq!(scored(&out[0].verdict).factors.connections, 288);
    }

    #[test]
    fn rita_golden_proxy_beacons() {
        let Some(dir) = crate::shared_traffic_dir() else {
            eprintln!("shared test data not found; skipping");
            return;
        };
        let dir = dir.join("rita-golden-zeek-logs");
        let conn = crate::zeek::read_path(&dir.join("conn.log")).unwrap();
        let ssl = crate::zeek::read_path(&dir.join("ssl.log")).unwrap();
        let http = crate::zeek::read_path(&dir.join("http.log")).unwrap();
        let pairs = pairs_from_zeek(&conn.conns, &ssl.ssl, &http.http, 100_000);
        let out = pairs.score_all(&cfg());
        let src = ip("10.136.0.18");
        let find = |name: &str| {
            out.iter()
                .find(|s| s.src == src && s.dst == PairDst::Fqdn(name.into()))
                .unwrap_or_else(|| panic!("{name} not found"))
        };
        // RITA integration/beacons_test.go TestProxyBeacons: (connections, score, ts, ds, dur, hist)
        let expected = [
            ("www.honestimnotevil.com", 357, 0.979, 0.921, 0.995, 1.0, 1.0),
            ("www.google.com", 6, 0.586, 0.48, 0.865, 1.0, 0.0),
        ];
        for (name, n, total, ts, ds, dur, hist) in expected {
            let b = scored(&find(name).verdict);
            let f = &b.factors;
            eprintln!(
                "{name}: n={} score={} ts={} ds={} dur={} hist={}",
                f.connections, b.score, f.ts_score, f.ds_score, f.dur_score, f.hist_score
            );
            assert_eq!(f.connections, n, "{name}");
            for (what, got, want) in [
                ("score", b.score, total),
                ("ts", f.ts_score, ts),
                ("ds", f.ds_score, ds),
                ("dur", f.dur_score, dur),
                ("hist", f.hist_score, hist),
            ] {
                assert!((got - want).abs() <= 0.05, "{name} {what}: {got} vs {want}");
            }
        }
        // Two proxied beacons (RITA: "there should be two beacons with proxy connections"),
        // and the proxy itself never shows up as an IP destination.
        let beacons = out
            .iter()
            .filter(|s| matches!(s.dst, PairDst::Fqdn(_)) && s.verdict.beacon().is_some())
            .count();
        assert_eq!(beacons, 2);
        assert!(!out.iter().any(|s| s.dst == PairDst::Ip(ip("10.136.0.16"))));
    }

    #[test]
    fn pairs_survive_extreme_timestamps() {
        let mut p = Pairs::with_config(
            10,
            &BeaconConfig {
                strobe_connections: 5,
                ..cfg()
            },
        );
        for t in [i64::MIN, i64::MIN + 1, 0, i64::MAX, i64::MAX - 1, 7, 8, 9] {
            p.add(ip("10.0.0.1"), PairDst::Ip(ip("10.0.0.2")), t, u64::MAX, true);
            p.add_conn(ip("10.0.0.1"), ip("10.0.0.3"), &["a", " ", "."], t, 1, false);
        }
        let _ = p.score_all(&cfg());
        let _ = p.score_all(&BeaconConfig {
            window_hours: u32::MAX,
            ..cfg()
        });
    }

    #[test]
    fn factors_serialize() {
        let conns: Vec<(i64, u64)> = (0..10).map(|i| (i * 60, 1)).collect();
        let v = score(&conns, (0, 600), &cfg());
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["verdict"], "scored");
        assert!(json["factors"]["ts_mad_s"].is_number());
        assert_eq!(
            serde_json::to_value(PairDst::Fqdn("a".into())).unwrap(),
            serde_json::json!({"fqdn": "a"})
        );
    }
}
