//! The checks: for each line the expected heading, the duty stacks (declared and expected) on
//! the entry date, per-entry fees, and the CUS-001..006 findings.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use chrono::NaiveDate;
use hashward_model::{Evidence, Finding, RuleId, Severity, Subject};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::entry::{EntryLine, RowError};
use crate::hts::{Hts, HtsTable};
use crate::json;
use crate::money::{Cents, Rate};
use crate::rules::{CodeMap, Condition, Hint, Maker, Model, Rules};
use crate::stream::Totals;

/// One measure of a stack, with its amount on the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeasureAmount<'r> {
    /// Measure id (`MFN`, `S301-L2`, …).
    pub id: &'r str,
    /// Its group (`mfn`, `s301`, `fentanyl`, `reciprocal`, `s122`, `s232`, …).
    pub group: &'r str,
    /// Chapter 99 heading ("" for MFN and headings not established).
    pub chapter99: &'r str,
    /// Percent of the entered value.
    pub rate: Rate,
    /// Entered value × rate, half-up to the cent.
    pub amount: Cents,
    /// An IEEPA measure (refundable).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ieepa: bool,
    /// The heading must be declared.
    #[serde(skip)]
    pub require_declared: bool,
}

/// A duty stack for one HTS number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stack<'r> {
    /// The number it is for.
    pub hts: Hts,
    /// MFN first, then the Chapter 99 measures in rules order.
    pub measures: Vec<MeasureAmount<'r>>,
    /// Sum of the rates.
    pub rate: Rate,
    /// Sum of the amounts.
    pub total: Cents,
    /// Sum of the IEEPA amounts.
    pub ieepa: Cents,
}

/// The checker: rules, and optionally the full schedule.
pub struct Checker {
    /// The rules.
    pub rules: Rules,
    /// The imported schedule (`--hts`), when given.
    pub hts: Option<HtsTable>,
}

/// What a line was found to be.
#[derive(Debug, Clone, Serialize)]
pub struct Classification<'r> {
    /// Hint id.
    pub hint: &'r str,
    /// `miner`, `hashboard`.
    pub kind: &'r str,
    /// Rulings supporting the expected heading.
    pub rulings: &'r [String],
    /// Model id from models.toml, when recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'r str>,
}

/// Valuation of a line against its band.
#[derive(Debug, Clone, Serialize)]
pub struct Valuation<'r> {
    /// Model id.
    pub model: &'r str,
    /// Nominal TH/s per unit (as a number, output only).
    pub ths_per_unit: f64,
    /// USD per TH.
    pub value_per_th: Cents,
    /// Band id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<&'r str>,
    /// Band floor, USD per TH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band_low: Option<Cents>,
    /// Band ceiling, USD per TH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band_high: Option<Cents>,
    /// Below this, CUS-002.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_below: Option<Cents>,
}

/// Fees allocated to a line (the entry's fees pro rata to entered value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LineFees {
    /// Merchandise processing fee share.
    pub mpf: Cents,
    /// Harbor maintenance fee share.
    pub hmf: Cents,
}

/// The result for one line (`result.lines`).
#[derive(Debug, Clone, Serialize)]
pub struct LineResult<'r> {
    /// Entry number.
    pub entry_number: String,
    /// Line number.
    pub line: u32,
    /// Input row.
    pub row: u64,
    /// Entry date.
    pub entry_date: NaiveDate,
    /// As declared (normalised).
    pub declared_hts: Hts,
    /// The current number a legacy declaration maps to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_hts_current: Option<Hts>,
    /// What the line should be entered under.
    pub expected_hts: Hts,
    /// Why (hint and rulings), when recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification<'r>>,
    /// Origin.
    pub origin_country: String,
    /// Units.
    pub quantity: u64,
    /// Entered value.
    pub entered_value: Cents,
    /// Entered value per unit.
    pub unit_value: Cents,
    /// $/TH against the band, when the model is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valuation: Option<Valuation<'r>>,
    /// The expected stack's measures.
    pub measures: Vec<MeasureAmount<'r>>,
    /// The expected stack's rate.
    pub duty_rate: Rate,
    /// The expected stack's total.
    pub duty_total: Cents,
    /// The declared stack, when the heading differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_measures: Option<Vec<MeasureAmount<'r>>>,
    /// The declared stack's total.
    pub declared_duty_total: Cents,
    /// Expected − declared.
    pub duty_difference: Cents,
    /// Chapter 99 headings declared.
    pub chapter99_declared: Vec<String>,
    /// Chapter 99 headings the declared number needs on this date.
    pub chapter99_expected: Vec<&'r str>,
    /// Fees allocated to the line.
    pub fees: LineFees,
    /// Duties paid, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duties_paid: Option<Cents>,
    /// IEEPA duties of the declared stack (capped at duties paid): refundable.
    pub refundable: Cents,
    /// Rules this line raised.
    pub findings: Vec<&'static str>,
}

/// MPF of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct MpfFee<'r> {
    /// Fee record (`MPF-FY2026`).
    pub id: &'r str,
    /// Rate.
    pub rate: Rate,
    /// Before min/max.
    pub uncapped: Cents,
    /// Fiscal-year minimum.
    pub min: Cents,
    /// Fiscal-year maximum.
    pub max: Cents,
    /// Charged.
    pub amount: Cents,
}

/// HMF of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct HmfFee<'r> {
    /// Fee record.
    pub id: &'r str,
    /// Rate.
    pub rate: Rate,
    /// Charged.
    pub amount: Cents,
}

/// The result for one entry (`result.entries`).
#[derive(Debug, Clone, Serialize)]
pub struct EntryResult<'r> {
    /// Entry number.
    pub entry_number: String,
    /// Entry date.
    pub entry_date: NaiveDate,
    /// Mode.
    pub mode: String,
    /// Port.
    pub port: String,
    /// Lines checked.
    pub lines: usize,
    /// Total entered value of the lines checked.
    pub entered_value: Cents,
    /// MPF.
    pub mpf: Option<MpfFee<'r>>,
    /// HMF (ocean only).
    pub hmf: Option<HmfFee<'r>>,
    /// MPF + HMF.
    pub fees_total: Cents,
    /// Fees paid as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpf_paid: Option<Cents>,
    /// HMF paid as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmf_paid: Option<Cents>,
    /// MPF + HMF paid as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fees_paid: Option<Cents>,
    /// Expected duty.
    pub duty_total: Cents,
    /// Duty of the declarations.
    pub declared_duty_total: Cents,
    /// Refundable IEEPA duties.
    pub refundable: Cents,
}

/// Everything one entry produced.
#[derive(Debug, Default)]
pub struct EntryOutcome<'r> {
    /// Lines checked.
    pub lines: Vec<LineResult<'r>>,
    /// The entry summary (absent when no line could be checked).
    pub entry: Option<EntryResult<'r>>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Rows refused.
    pub errors: Vec<RowError>,
}

/// A value of a finding's calculation: the common kinds typed, so that a finding written
/// straight to JSON needs no `Value` tree; the rest as the `Value` it always was.
pub(crate) enum Ev<'a> {
    /// An amount (`json!(cents)`).
    Cents(Cents),
    /// An amount or `null`.
    OptCents(Option<Cents>),
    /// A date (`"YYYY-MM-DD"`).
    Date(NaiveDate),
    /// A string.
    Str(&'a str),
    /// Anything else.
    Value(Value),
}

impl Ev<'_> {
    /// The `Value` the finding's evidence holds (what `json!` of the typed value gives).
    fn into_value(self) -> Value {
        match self {
            Ev::Cents(c) => json!(c),
            Ev::OptCents(c) => json!(c),
            Ev::Date(d) => json!(d),
            Ev::Str(s) => json!(s),
            Ev::Value(v) => v,
        }
    }

    /// The bytes serde_json writes for [`Ev::into_value`] (the fast writers are tested
    /// against serde_json for each kind).
    pub(crate) fn write(&self, buf: &mut Vec<u8>) -> json::Res {
        match self {
            Ev::Cents(c) | Ev::OptCents(Some(c)) => json::cents(buf, *c),
            Ev::OptCents(None) => {
                buf.extend_from_slice(b"null");
                Ok(())
            }
            Ev::Date(d) => json::date(buf, *d),
            Ev::Str(s) => json::string(buf, s),
            Ev::Value(v) => json::value(buf, v),
        }
    }
}

/// A finding about one line (or the first line of an entry), before it becomes a model
/// [`Finding`] or a JSON line: one calculation as its evidence.
pub(crate) struct Draft<'a> {
    pub(crate) rule: RuleId,
    /// `None`: the rule's default.
    pub(crate) severity: Option<Severity>,
    pub(crate) entry: &'a str,
    pub(crate) line: u32,
    pub(crate) message: String,
    pub(crate) inputs: Vec<(&'static str, Ev<'a>)>,
    pub(crate) formula: &'static str,
    pub(crate) result: Ev<'a>,
}

impl Draft<'_> {
    pub(crate) fn severity(&self) -> Severity {
        self.severity.unwrap_or(self.rule.info().severity)
    }

    fn into_finding(self) -> Finding {
        let severity = self.severity();
        let mut m = Map::new();
        for (k, v) in self.inputs {
            m.insert(k.to_owned(), v.into_value());
        }
        Finding::new(
            self.rule,
            Subject::EntryLine {
                entry: self.entry.to_owned(),
                line: self.line,
            },
            self.message,
        )
        .with_severity(severity)
        .with_evidence(Evidence::Calculation {
            inputs: m,
            formula: self.formula.to_owned(),
            result: self.result.into_value(),
        })
    }
}

/// Where findings go: kept as model [`Finding`]s (for the case store and the JSON envelope),
/// or, when nothing else needs them, written straight as JSON lines and counted.
pub(crate) enum FindingOut<'a> {
    /// Kept, in order.
    Keep(&'a mut Vec<Finding>),
    /// Written (the bytes [`json::finding`] writes for the kept finding) and counted.
    Write {
        /// The JSON lines.
        buf: &'a mut Vec<u8>,
        /// Findings per rule and the highest severity.
        totals: &'a mut Totals,
        /// The first writing error (the caller stops the run on it).
        error: &'a mut Option<serde_json::Error>,
    },
}

impl FindingOut<'_> {
    fn push(&mut self, d: Draft<'_>) {
        match self {
            FindingOut::Keep(v) => v.push(d.into_finding()),
            FindingOut::Write { buf, totals, error } => {
                totals.count_finding(d.rule, d.severity());
                if error.is_none()
                    && let Err(e) = json::draft(buf, &d)
                {
                    **error = Some(e);
                }
            }
        }
    }
}

/// Lines per cache of a worker before it is emptied: a hostile input whose every line differs
/// cannot make a cache grow without bound.
pub const CACHE_CAP: usize = 4096;

/// A fast hash of short keys (FxHash's multiply and rotate per word). Not collision resistant:
/// a memo chain holds at most [`MAX_CHAIN`] keys, so crafted collisions cost a computation, not
/// a long search.
#[derive(Default)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            if let Some(d) = w.get_mut(..chunk.len()) {
                d.copy_from_slice(chunk);
            }
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Keys of one hash in a memo at most (more are computed, not kept).
const MAX_CHAIN: usize = 4;

/// A bounded memo keyed by a hash, compared on hit (so a lookup needs no owned key).
struct Memo<K, V> {
    slots: HashMap<u64, Vec<(K, V)>, BuildHasherDefault<Fx>>,
    len: usize,
    cap: usize,
}

impl<K, V> Memo<K, V> {
    fn new(cap: usize) -> Self {
        Memo {
            slots: HashMap::default(),
            len: 0,
            cap,
        }
    }

    fn get(&self, h: u64, eq: impl Fn(&K) -> bool) -> Option<&V> {
        self.slots.get(&h)?.iter().find(|(k, _)| eq(k)).map(|(_, v)| v)
    }

    fn insert(&mut self, h: u64, k: K, v: V) {
        if self.len >= self.cap {
            // Emptied rather than evicted one by one: simple, and a cap is rarely reached.
            self.slots.clear();
            self.len = 0;
        }
        if self.cap > 0 {
            let chain = self.slots.entry(h).or_default();
            if chain.len() < MAX_CHAIN {
                chain.push((k, v));
                self.len += 1;
            }
        }
    }
}

fn hash_of(parts: impl Hash) -> u64 {
    let mut h = Fx::default();
    parts.hash(&mut h);
    h.finish()
}

/// What a stack depends on besides the entered value.
struct StackKey {
    hts: Hts,
    mfn: Rate,
    date: NaiveDate,
    origin: String,
    declared: Vec<String>,
    transshipment: bool,
}

type Class<'r> = Option<(&'r Hint, Option<&'r Model>)>;

/// What lines with the same goods share, computed once per worker: the classification per
/// (model, description), the stack's measures and rates per (number, date, origin, declared
/// headings, transshipment), the maker signals per manufacturer. Amounts are not cached: they
/// depend on each line's value. Each memo holds at most [`CACHE_CAP`] keys.
pub struct Cache<'r> {
    class: Memo<(String, String), Class<'r>>,
    stacks: Memo<StackKey, Vec<MeasureAmount<'r>>>,
    makers: Memo<String, (Option<&'r str>, Option<&'r Maker>)>,
}

impl Cache<'_> {
    /// An empty cache holding at most `cap` keys per memo (0: no caching).
    pub fn new(cap: usize) -> Self {
        Cache {
            class: Memo::new(cap),
            stacks: Memo::new(cap),
            makers: Memo::new(cap),
        }
    }
}

impl Default for Cache<'_> {
    fn default() -> Self {
        Cache::new(CACHE_CAP)
    }
}

fn stack_json(s: &Stack<'_>) -> Value {
    json!(
        s.measures
            .iter()
            .map(|m| json!({"id": m.id, "chapter99": m.chapter99, "rate": m.rate, "amount": m.amount}))
            .collect::<Vec<_>>()
    )
}

/// What a stack is computed for, besides the number.
#[derive(Debug, Clone, Copy)]
pub struct Goods<'a> {
    /// Entry date.
    pub date: NaiveDate,
    /// Country of origin.
    pub origin: &'a str,
    /// Chapter 99 headings declared.
    pub declared: &'a [String],
    /// CBP found the goods transshipped.
    pub transshipment: bool,
    /// Entered value.
    pub value: Cents,
}

struct Resolved<'r> {
    used: Hts,
    legacy: Option<&'r CodeMap>,
    mfn: Rate,
}

/// A stack from its measures and rates: each amount is the value × its rate, half-up.
fn priced<'r>(hts: &Hts, mut measures: Vec<MeasureAmount<'r>>, value: Cents) -> Stack<'r> {
    for m in &mut measures {
        m.amount = value.times(m.rate);
    }
    Stack {
        hts: hts.clone(),
        rate: measures.iter().fold(Rate(0), |a, m| a + m.rate),
        total: measures.iter().map(|m| m.amount).sum(),
        ieepa: measures.iter().filter(|m| m.ieepa).map(|m| m.amount).sum(),
        measures,
    }
}

impl Checker {
    /// A checker over `rules`, with the imported schedule when given.
    pub fn new(rules: Rules, hts: Option<HtsTable>) -> Checker {
        Checker { rules, hts }
    }

    /// The number to compute with (a legacy number mapped) and its MFN rate.
    fn resolve(&self, hts: &Hts) -> Result<Resolved<'_>, String> {
        let legacy = self.rules.legacy(hts);
        let used = legacy.map_or_else(|| hts.clone(), |m| m.current.clone());
        if let Some(table) = &self.hts {
            let Some(line) = table.get(&used) else {
                return Err(format!("unknown HTS code {hts}: not in the imported schedule"));
            };
            if let Some(r) = line.ad_valorem {
                return Ok(Resolved { used, legacy, mfn: r });
            }
            if !line.general.is_empty() {
                return Err(format!(
                    "HTS {used}: general rate {:?} is not ad valorem; the engine computes ad valorem duties only",
                    line.general
                ));
            }
        }
        match self.rules.line_for(&used) {
            Some(l) => Ok(Resolved {
                used,
                legacy,
                mfn: l.mfn,
            }),
            None => Err(format!(
                "unknown HTS code {hts}: not among the lines of rules/customs/hts-lines.toml (pass --hts with an imported schedule for other goods)"
            )),
        }
    }

    /// The duty stack for `hts` (MFN `mfn`) for the goods `g`.
    pub fn stack(&self, hts: &Hts, mfn: Rate, g: &Goods<'_>) -> Stack<'_> {
        priced(hts, self.rate_stack(hts, mfn, g), g.value)
    }

    /// [`Checker::stack`] through `cache`: the measures and rates are looked up, the amounts
    /// computed for this line's value.
    fn stack_cached<'r>(&'r self, hts: &Hts, mfn: Rate, g: &Goods<'_>, cache: &mut Cache<'r>) -> Stack<'r> {
        let h = hash_of((hts, mfn.0, g.date, g.origin, g.declared, g.transshipment));
        let eq = |k: &StackKey| {
            k.hts == *hts
                && k.mfn == mfn
                && k.date == g.date
                && k.origin == g.origin
                && k.declared == g.declared
                && k.transshipment == g.transshipment
        };
        if let Some(t) = cache.stacks.get(h, eq) {
            return priced(hts, t.clone(), g.value);
        }
        let t = self.rate_stack(hts, mfn, g);
        let stack = priced(hts, t.clone(), g.value);
        cache.stacks.insert(
            h,
            StackKey {
                hts: hts.clone(),
                mfn,
                date: g.date,
                origin: g.origin.to_owned(),
                declared: g.declared.to_vec(),
                transshipment: g.transshipment,
            },
            t,
        );
        stack
    }

    /// The measures of the stack with their rates (amounts zero: they depend on the value).
    fn rate_stack(&self, hts: &Hts, mfn: Rate, g: &Goods<'_>) -> Vec<MeasureAmount<'_>> {
        let Goods {
            date,
            origin,
            declared,
            transshipment,
            ..
        } = *g;
        let value = Cents(0);
        let mut chosen: Vec<&crate::rules::Measure> = Vec::new();
        let mut exemptions: Vec<&crate::rules::Measure> = Vec::new();
        for m in self.rules.measures_for(origin) {
            if !m.covers(date, origin, hts) {
                continue;
            }
            let holds = match m.condition {
                Condition::Always => true,
                Condition::Transshipment => transshipment,
                Condition::Declared => declared.contains(&m.chapter99),
            };
            if !holds || m.exempt_headings.iter().any(|h| declared.contains(h)) {
                continue;
            }
            if !m.exempts.is_empty() {
                exemptions.push(m);
                continue;
            }
            // One measure per group: the highest priority (the first on a tie).
            match chosen.iter_mut().find(|c| c.group == m.group) {
                Some(c) if m.priority > c.priority => *c = m,
                Some(_) => {}
                None => chosen.push(m),
            }
        }
        let mut measures = vec![MeasureAmount {
            id: "MFN",
            group: "mfn",
            chapter99: "",
            rate: mfn,
            amount: value.times(mfn),
            ieepa: false,
            require_declared: false,
        }];
        let mut applied: Vec<(usize, MeasureAmount<'_>)> = Vec::new();
        for x in &exemptions {
            if chosen.iter().any(|c| x.exempts.contains(&c.group)) {
                applied.push((self.index_of(x), self.amount(x, Rate(0), value)));
            }
        }
        for c in &chosen {
            if exemptions.iter().any(|x| x.exempts.contains(&c.group)) {
                continue;
            }
            applied.push((self.index_of(c), self.amount(c, c.rate, value)));
        }
        applied.sort_by_key(|(i, _)| *i);
        measures.extend(applied.into_iter().map(|(_, m)| m));
        measures
    }

    fn index_of(&self, m: &crate::rules::Measure) -> usize {
        self.rules
            .measures
            .iter()
            .position(|x| std::ptr::eq(x, m))
            .unwrap_or(usize::MAX)
    }

    fn amount<'r>(&'r self, m: &'r crate::rules::Measure, rate: Rate, value: Cents) -> MeasureAmount<'r> {
        MeasureAmount {
            id: &m.id,
            group: &m.group,
            chapter99: &m.chapter99,
            rate,
            amount: value.times(rate),
            ieepa: m.ieepa,
            require_declared: m.require_declared,
        }
    }

    /// [`Checker::classify`] through `cache`.
    fn classify_cached<'r>(&'r self, l: &EntryLine, cache: &mut Cache<'r>) -> Class<'r> {
        let h = hash_of((&l.model, &l.description));
        if let Some(c) = cache.class.get(h, |(m, d)| *m == l.model && *d == l.description) {
            return *c;
        }
        let c = self.classify(l);
        cache.class.insert(h, (l.model.clone(), l.description.clone()), c);
        c
    }

    /// The PRC marker and the known maker a manufacturer's name contains, through `cache`.
    fn maker_signals<'r>(
        &'r self,
        manufacturer: &str,
        cache: &mut Cache<'r>,
    ) -> (Option<&'r str>, Option<&'r Maker>) {
        let h = hash_of(manufacturer);
        if let Some(c) = cache.makers.get(h, |m| m == manufacturer) {
            return *c;
        }
        let rules = &self.rules;
        let maker_l = manufacturer.to_lowercase();
        let c = (
            rules
                .prc_markers
                .iter()
                .find(|mk| maker_l.contains(mk.as_str()))
                .map(String::as_str),
            rules
                .makers
                .iter()
                .find(|m| m.names.iter().any(|n| maker_l.contains(n.as_str()))),
        );
        cache.makers.insert(h, manufacturer.to_owned(), c);
        c
    }

    /// The hint a line matches (by model or description).
    fn classify(&self, l: &EntryLine) -> Option<(&Hint, Option<&crate::rules::Model>)> {
        let model = self.rules.model(&l.model);
        let model_l = l.model.to_lowercase();
        let desc_l = l.description.to_lowercase();
        for h in &self.rules.hints {
            if h.patterns
                .iter()
                .any(|p| model_l.contains(p) || desc_l.contains(p))
            {
                return Some((h, model));
            }
        }
        if model.is_some() {
            return self
                .rules
                .hints
                .iter()
                .find(|h| h.kind == "miner")
                .map(|h| (h, model));
        }
        None
    }

    /// Check one entry: its lines (in input order, all with the same entry number).
    pub fn check_entry<'r>(&'r self, lines: &[EntryLine]) -> EntryOutcome<'r> {
        self.check_entry_cached(lines, &mut Cache::default())
    }

    /// [`Checker::check_entry`] with a worker's [`Cache`] (the same outcome, computed once
    /// per distinct goods).
    pub fn check_entry_cached<'r>(&'r self, lines: &[EntryLine], cache: &mut Cache<'r>) -> EntryOutcome<'r> {
        let mut findings = Vec::new();
        let mut out = self.check_entry_into(lines, &mut FindingOut::Keep(&mut findings), cache);
        out.findings = findings;
        out
    }

    /// Check one entry, its findings sent to `sink` (the outcome's own list stays empty).
    pub(crate) fn check_entry_into<'r>(
        &'r self,
        lines: &[EntryLine],
        sink: &mut FindingOut<'_>,
        cache: &mut Cache<'r>,
    ) -> EntryOutcome<'r> {
        let mut out = EntryOutcome::default();
        let Some(first) = lines.first() else {
            return out;
        };
        let mut ok: Vec<(&EntryLine, LineResult<'r>)> = Vec::new();
        for l in lines {
            if l.entry_date != first.entry_date || l.mode != first.mode {
                out.errors.push(RowError::at(
                    l,
                    if l.entry_date != first.entry_date {
                        "entry_date"
                    } else {
                        "mode"
                    },
                    format!("differs from line {} of the same entry", first.line),
                ));
                continue;
            }
            match self.line(l, sink, cache) {
                Ok(r) => ok.push((l, r)),
                Err(e) => out.errors.push(e),
            }
        }
        if ok.is_empty() {
            return out;
        }
        // Fees per entry summary, then shared out to the lines pro rata.
        let rules = &self.rules;
        let date = first.entry_date;
        let value: Cents = ok.iter().map(|(l, _)| l.entered_value).sum();
        let mpf = rules.mpf(date).map(|m| {
            let uncapped = value.times(m.rate);
            MpfFee {
                id: &m.id,
                rate: m.rate,
                uncapped,
                min: m.min,
                max: m.max,
                amount: uncapped.clamp(m.min, m.max),
            }
        });
        let hmf = rules.hmf(&first.mode, date).map(|h| HmfFee {
            id: &h.id,
            rate: h.rate,
            amount: value.times(h.rate),
        });
        let values: Vec<Cents> = ok.iter().map(|(l, _)| l.entered_value).collect();
        let mpf_share = allocate(mpf.as_ref().map_or(Cents(0), |m| m.amount), &values);
        let hmf_share = allocate(hmf.as_ref().map_or(Cents(0), |h| h.amount), &values);
        for (i, (_, r)) in ok.iter_mut().enumerate() {
            r.fees = LineFees {
                mpf: mpf_share.get(i).copied().unwrap_or_default(),
                hmf: hmf_share.get(i).copied().unwrap_or_default(),
            };
        }
        let paid = |f: fn(&EntryLine) -> Option<Cents>| ok.iter().find_map(|(l, _)| f(l));
        let (mpf_paid, hmf_paid, fees_paid) =
            (paid(|l| l.mpf_paid), paid(|l| l.hmf_paid), paid(|l| l.fees_paid));
        let mpf_amt = mpf.as_ref().map_or(Cents(0), |m| m.amount);
        let hmf_amt = hmf.as_ref().map_or(Cents(0), |h| h.amount);
        let mut mismatches = Vec::new();
        for (what, paid, due) in [
            ("MPF", mpf_paid, mpf_amt),
            ("HMF", hmf_paid, hmf_amt),
            ("MPF + HMF", fees_paid, mpf_amt + hmf_amt),
        ] {
            if let Some(p) = paid
                && p != due
            {
                mismatches.push((what, p, due));
            }
        }
        if let (Some((fl, fr)), false) = (ok.first_mut(), mismatches.is_empty()) {
            let text: Vec<String> = mismatches
                .iter()
                .map(|(w, p, d)| format!("{w} paid {p}, due {d}"))
                .collect();
            let mpf_desc = mpf.as_ref().map_or_else(
                || "no MPF record for the date".to_owned(),
                |m| {
                    format!(
                        "MPF {} × {} = {} clamped to [{}, {}] ({})",
                        value, m.rate, m.uncapped, m.min, m.max, m.id
                    )
                },
            );
            sink.push(Draft {
                rule: RuleId::CUS_FEES,
                severity: None,
                entry: &fl.entry_number,
                line: fl.line,
                message: format!("entry {}: {}; {mpf_desc}", fl.entry_number, text.join("; ")),
                inputs: vec![
                    ("entered_value", Ev::Cents(value)),
                    ("entry_date", Ev::Date(date)),
                    ("mode", Ev::Str(&fl.mode)),
                    ("mpf", Ev::Value(json!(mpf))),
                    ("hmf", Ev::Value(json!(hmf))),
                    ("mpf_paid", Ev::OptCents(mpf_paid)),
                    ("hmf_paid", Ev::OptCents(hmf_paid)),
                    ("fees_paid", Ev::OptCents(fees_paid)),
                ],
                formula: "MPF = clamp(entered value × 0.3464 %, FY min, FY max) per entry summary; HMF = entered value × 0.125 % for ocean cargo; each rounded half-up to the cent",
                result: Ev::Value(json!({"mpf": mpf_amt, "hmf": hmf_amt})),
            });
            fr.findings.push("CUS-005");
        }
        out.entry = Some(EntryResult {
            entry_number: first.entry_number.clone(),
            entry_date: date,
            mode: first.mode.clone(),
            port: first.port.clone(),
            lines: ok.len(),
            entered_value: value,
            fees_total: mpf_amt + hmf_amt,
            mpf,
            hmf,
            mpf_paid,
            hmf_paid,
            fees_paid,
            duty_total: ok.iter().map(|(_, r)| r.duty_total).sum(),
            declared_duty_total: ok.iter().map(|(_, r)| r.declared_duty_total).sum(),
            refundable: ok.iter().map(|(_, r)| r.refundable).sum(),
        });
        out.lines = ok.into_iter().map(|(_, r)| r).collect();
        out
    }

    /// Check one line; findings are appended to `findings`.
    pub fn check_line<'r>(
        &'r self,
        l: &EntryLine,
        findings: &mut Vec<Finding>,
    ) -> Result<LineResult<'r>, RowError> {
        self.line(l, &mut FindingOut::Keep(findings), &mut Cache::new(0))
    }

    /// Check one line; findings go to `findings`.
    fn line<'r>(
        &'r self,
        l: &EntryLine,
        findings: &mut FindingOut<'_>,
        cache: &mut Cache<'r>,
    ) -> Result<LineResult<'r>, RowError> {
        let rules = &self.rules;
        if !rules.coverage.contains(l.entry_date) {
            return Err(RowError::at(
                l,
                "entry_date",
                format!(
                    "{} is outside every window of the rules (they cover {} to {}: {})",
                    l.entry_date,
                    rules.coverage.from.map(|d| d.to_string()).unwrap_or_default(),
                    rules.coverage.to.map(|d| d.to_string()).unwrap_or_default(),
                    rules.coverage_source
                ),
            ));
        }
        let declared = self
            .resolve(&l.declared_hts)
            .map_err(|m| RowError::at(l, "declared_hts", m))?;
        let mut raised: Vec<&'static str> = Vec::new();
        let class = self.classify_cached(l, cache);
        let misclassified = class.filter(|(h, _)| !declared.used.starts_with(&h.heading));
        let expected = match misclassified {
            Some((h, _)) => self
                .resolve(&h.expected)
                .map_err(|m| RowError::at(l, "declared_hts", m))?,
            None => Resolved {
                used: declared.used.clone(),
                legacy: None,
                mfn: declared.mfn,
            },
        };
        let (date, origin, value) = (l.entry_date, l.origin_country.as_str(), l.entered_value);
        let goods = Goods {
            date,
            origin,
            declared: &l.chapter99,
            transshipment: l.transshipment,
            value,
        };
        let decl_stack = self.stack_cached(&declared.used, declared.mfn, &goods, cache);
        // The expected heading's stack with the headings it needs (its declared measures such
        // as Section 232 do not carry over); when the line is not misclassified it is the
        // declared stack itself, borrowed rather than copied.
        let other_stack = misclassified.map(|_| {
            self.stack_cached(
                &expected.used,
                expected.mfn,
                &Goods {
                    declared: &[],
                    ..goods
                },
                cache,
            )
        });
        let exp_stack = other_stack.as_ref().unwrap_or(&decl_stack);
        let difference = exp_stack.total - decl_stack.total;

        // CUS-001: a miner outside its heading, or a legacy number on a date it is invalid.
        if let Some((h, model)) = misclassified {
            raised.push("CUS-001");
            let what = model.map_or_else(|| l.description.clone(), |m| format!("{} {}", m.maker, m.id));
            findings.push(Draft {
                rule: RuleId::CUS_MISCLASSIFIED,
                entry: &l.entry_number,
                line: l.line,
                message: format!(
                    "entry {} line {}: {what} declared {} but a {} is classified {} ({}); duty {} ({}) instead of {} ({}) on {} from {origin} on {date}: difference {}",
                    l.entry_number,
                    l.line,
                    l.declared_hts,
                    h.kind,
                    h.expected,
                    h.rulings.join(", "),
                    exp_stack.total,
                    exp_stack.rate,
                    decl_stack.total,
                    decl_stack.rate,
                    value,
                    difference
                ),
                severity: Some(if h.verified { Severity::High } else { Severity::Medium }),
                inputs: vec![
                    ("entered_value", Ev::Cents(value)),
                    ("entry_date", Ev::Date(date)),
                    ("origin_country", Ev::Str(origin)),
                    ("declared_hts", Ev::Value(json!(l.declared_hts))),
                    ("expected_hts", Ev::Value(json!(h.expected))),
                    ("rulings", Ev::Value(json!(h.rulings))),
                    ("declared_stack", Ev::Value(stack_json(&decl_stack))),
                    ("expected_stack", Ev::Value(stack_json(exp_stack))),
                ],
                formula: "difference = Σ expected measures − Σ declared measures; each measure = entered value × rate, rounded half-up to the cent",
                result: Ev::Cents(difference),
            });
        } else if let Some(m) = declared.legacy.filter(|m| date >= m.invalid_from) {
            raised.push("CUS-001");
            findings.push(Draft {
                rule: RuleId::CUS_MISCLASSIFIED,
                entry: &l.entry_number,
                line: l.line,
                message: format!(
                    "entry {} line {}: {} is a legacy number, invalid for entries from {}; the current number is {} (same duty, computed under it)",
                    l.entry_number, l.line, l.declared_hts, m.invalid_from, m.current
                ),
                severity: Some(Severity::Low),
                inputs: vec![
                    ("declared_hts", Ev::Value(json!(l.declared_hts))),
                    ("entry_date", Ev::Date(date)),
                    ("map", Ev::Value(json!(m.id))),
                    ("source", Ev::Value(json!(m.source))),
                ],
                formula: "legacy number on or after the date it stopped being valid → mapped to the current number",
                result: Ev::Value(json!(m.current)),
            });
        }

        // CUS-002: value per TH against the dated band for the model.
        let model = class.and_then(|(_, m)| m);
        let unit_value = value.div_round(i64::try_from(l.quantity).unwrap_or(i64::MAX));
        let valuation = model.map(|m| {
            let milli_th = i128::from(m.milli_ths) * i128::from(l.quantity);
            // cents per TH = value cents × 1000 / milli-TH, half-up.
            let per_th = if milli_th > 0 {
                Cents(
                    i64::try_from((i128::from(value.0) * 2000 + milli_th) / (milli_th * 2))
                        .unwrap_or(i64::MAX),
                )
            } else {
                Cents(0)
            };
            let band = rules.band(&m.tier, date);
            Valuation {
                model: &m.id,
                ths_per_unit: m.milli_ths as f64 / 1000.0,
                value_per_th: per_th,
                band: band.map(|b| b.id.as_str()),
                band_low: band.map(|b| b.low),
                band_high: band.map(|b| b.high),
                flag_below: band.map(|b| b.low.times(rules.flag_below)),
            }
        });
        if let (Some(v), Some(m)) = (&valuation, model)
            && let (Some(floor), Some(band)) = (v.flag_below, rules.band(&m.tier, date))
            && v.value_per_th < floor
        {
            raised.push("CUS-002");
            findings.push(Draft {
                rule: RuleId::CUS_UNDERVALUED,
                entry: &l.entry_number,
                line: l.line,
                message: format!(
                    "entry {} line {}: {} × {} entered at {} ({} per unit) is {}/TH, below {} ({} of the {}/TH floor of band {} for {} on {date}; {})",
                    l.entry_number,
                    l.line,
                    l.quantity,
                    m.id,
                    value,
                    unit_value,
                    v.value_per_th,
                    floor,
                    rules.flag_below,
                    band.low,
                    band.id,
                    m.tier,
                    band.source
                ),
                severity: None,
                inputs: vec![
                    ("entered_value", Ev::Cents(value)),
                    ("quantity", Ev::Value(json!(l.quantity))),
                    ("ths_per_unit", Ev::Value(json!(v.ths_per_unit))),
                    ("model_source", Ev::Value(json!(m.source))),
                    ("band", Ev::Value(json!(band.id))),
                    ("band_low", Ev::Value(json!(band.low))),
                    ("band_high", Ev::Value(json!(band.high))),
                    ("flag_below", Ev::Value(json!(rules.flag_below))),
                ],
                formula: "value per TH = entered value / (quantity × TH/s per unit); flagged below flag_below × band floor",
                result: Ev::Value(json!(v.value_per_th)),
            });
        }

        // CUS-003: origin and transshipment signals.
        let mut signals: Vec<(Severity, String)> = Vec::new();
        if let Some(mid) = &l.mid {
            let prefix = mid.get(..2).unwrap_or(mid).to_ascii_uppercase();
            if prefix != l.origin_country {
                signals.push((
                    Severity::High,
                    format!(
                        "MID {mid} names {prefix}, not the declared origin {}",
                        l.origin_country
                    ),
                ));
            }
        }
        if !l.export_country.is_empty() && l.export_country != l.origin_country {
            signals.push((
                Severity::Medium,
                format!(
                    "exported from {} but declared origin {}",
                    l.export_country, l.origin_country
                ),
            ));
        }
        let (prc_marker, known_maker) = self.maker_signals(&l.manufacturer, cache);
        if rules.se_asia.contains(&l.origin_country) {
            if let Some(mk) = prc_marker {
                signals.push((
                    Severity::High,
                    format!(
                        "manufacturer {:?} reads as a PRC entity ({mk:?}) for goods declared of {} origin",
                        l.manufacturer, l.origin_country
                    ),
                ));
            }
            if let Some(p) = &l.port_of_lading
                && let Some(c) = rules.lading_signal.iter().find(|c| p.starts_with(c.as_str()))
            {
                signals.push((
                    Severity::High,
                    format!(
                        "port of lading {p} is in {c}, for goods declared of {} origin",
                        l.origin_country
                    ),
                ));
            }
        }
        if let Some(mk) = known_maker
            && !mk.countries.contains(&l.origin_country)
        {
            signals.push((
                Severity::Medium,
                format!(
                    "{} is not known to produce in {} (known: {}; {})",
                    mk.id,
                    l.origin_country,
                    mk.countries.join(", "),
                    mk.source
                ),
            ));
        }
        if l.transshipment {
            signals.push((
                Severity::High,
                "CBP determined the goods were transshipped".into(),
            ));
        }
        if let Some(sev) = signals.iter().map(|(s, _)| *s).max() {
            raised.push("CUS-003");
            let texts: Vec<&str> = signals.iter().map(|(_, t)| t.as_str()).collect();
            findings.push(Draft {
                rule: RuleId::CUS_ORIGIN,
                entry: &l.entry_number,
                line: l.line,
                message: format!("entry {} line {}: {}", l.entry_number, l.line, texts.join("; ")),
                severity: Some(sev),
                inputs: vec![
                    ("origin_country", Ev::Value(json!(l.origin_country))),
                    ("export_country", Ev::Value(json!(l.export_country))),
                    ("mid", Ev::Value(json!(l.mid))),
                    ("manufacturer", Ev::Value(json!(l.manufacturer))),
                    ("port_of_lading", Ev::Value(json!(l.port_of_lading))),
                    ("transshipment", Ev::Value(json!(l.transshipment))),
                ],
                formula: "MID prefix = origin; export country = origin; no PRC entity or CN/HK lading for SE Asian origin; origin among the maker's known countries",
                result: Ev::Value(json!(texts)),
            });
        }

        // CUS-004: Chapter 99 headings for the declared number on this date.
        let expected_headings: Vec<&'r str> = decl_stack
            .measures
            .iter()
            .filter(|m| m.require_declared && !m.chapter99.is_empty())
            .map(|m| m.chapter99)
            .collect();
        let mut problems: Vec<String> = Vec::new();
        for h in &expected_headings {
            if !l.chapter99.iter().any(|d| d == h) {
                let m = decl_stack.measures.iter().find(|m| m.chapter99 == *h);
                problems.push(format!(
                    "{h} missing ({} applies to {} from {origin} on {date})",
                    m.map_or("", |m| m.id),
                    declared.used
                ));
            }
        }
        for d in &l.chapter99 {
            if rules.known_headings.contains(d) && !decl_stack.measures.iter().any(|m| m.chapter99 == d) {
                problems.push(format!(
                    "{d} declared but does not apply to {} from {origin} on {date}",
                    declared.used
                ));
            }
        }
        for dec in &rules.declarations {
            if dec.window.contains(date)
                && dec.hts.iter().any(|p| declared.used.starts_with(p))
                && !l.chapter99.iter().any(|d| dec.any_of.contains(d))
            {
                problems.push(format!(
                    "no {} declaration ({}…) for {} ({})",
                    dec.id,
                    dec.any_of.first().map_or("", String::as_str),
                    declared.used,
                    dec.source
                ));
            }
        }
        if !problems.is_empty() {
            raised.push("CUS-004");
            findings.push(Draft {
                rule: RuleId::CUS_CHAPTER99,
                entry: &l.entry_number,
                line: l.line,
                message: format!("entry {} line {}: {}", l.entry_number, l.line, problems.join("; ")),
                severity: None,
                inputs: vec![
                    ("declared_hts", Ev::Value(json!(declared.used))),
                    ("entry_date", Ev::Date(date)),
                    ("origin_country", Ev::Str(origin)),
                    ("declared", Ev::Value(json!(l.chapter99))),
                    ("expected", Ev::Value(json!(expected_headings))),
                ],
                formula: "the headings of the measures that apply to the declared number, origin and date, against those declared",
                result: Ev::Value(json!(problems)),
            });
        }

        // CUS-006: IEEPA duties are refundable after the ruling.
        let refundable = match l.duties_paid {
            Some(p) => decl_stack.ieepa.min(p),
            None => decl_stack.ieepa,
        };
        if refundable > Cents(0) || exp_stack.ieepa > Cents(0) {
            raised.push("CUS-006");
            // Written piece by piece into one string (this finding comes on most lines of
            // entries before the ruling).
            let mut message = String::with_capacity(192);
            let _ = write!(
                message,
                "entry {} line {}: {} of IEEPA duties (",
                l.entry_number, l.line, refundable
            );
            let mut ids = decl_stack.measures.iter().filter(|m| m.ieepa).map(|m| m.id);
            match ids.next() {
                None => message.push_str("none declared"),
                Some(first) => {
                    message.push_str(first);
                    for id in ids {
                        message.push_str(" + ");
                        message.push_str(id);
                    }
                }
            }
            let _ = write!(
                message,
                ") on an entry of {date}, before IEEPA collection ended on {}: refundable (CAPE)",
                rules.ieepa_end
            );
            if exp_stack.ieepa != decl_stack.ieepa {
                let _ = write!(
                    message,
                    "; {} under the expected heading is no longer due",
                    exp_stack.ieepa
                );
            }
            findings.push(Draft {
                rule: RuleId::CUS_REFUNDABLE,
                entry: &l.entry_number,
                line: l.line,
                message,
                severity: None,
                inputs: vec![
                    ("entered_value", Ev::Cents(value)),
                    ("declared_ieepa", Ev::Cents(decl_stack.ieepa)),
                    ("expected_ieepa", Ev::Cents(exp_stack.ieepa)),
                    ("duties_paid", Ev::OptCents(l.duties_paid)),
                    ("ieepa_end", Ev::Date(rules.ieepa_end)),
                ],
                formula: "refundable = fentanyl + reciprocal + transshipment amounts of the declared stack, at most the duties paid",
                result: Ev::Cents(refundable),
            });
        }

        let (duty_rate, duty_total) = (exp_stack.rate, exp_stack.total);
        // The declared measures are listed too when the heading differs.
        let (measures, declared_measures) = match other_stack {
            Some(e) => (e.measures, Some(decl_stack.measures)),
            None => (decl_stack.measures, None),
        };
        Ok(LineResult {
            entry_number: l.entry_number.clone(),
            line: l.line,
            row: l.row,
            entry_date: date,
            declared_hts: l.declared_hts.clone(),
            declared_hts_current: declared.legacy.map(|m| m.current.clone()),
            expected_hts: expected.used,
            classification: class.map(|(h, m)| Classification {
                hint: &h.id,
                kind: &h.kind,
                rulings: &h.rulings,
                model: m.map(|m| m.id.as_str()),
            }),
            origin_country: l.origin_country.clone(),
            quantity: l.quantity,
            entered_value: value,
            unit_value,
            valuation,
            duty_rate,
            duty_total,
            declared_duty_total: decl_stack.total,
            measures,
            declared_measures,
            duty_difference: difference,
            chapter99_declared: l.chapter99.clone(),
            chapter99_expected: expected_headings,
            fees: LineFees::default(),
            duties_paid: l.duties_paid,
            refundable,
            findings: raised,
        })
    }
}

/// Share `total` out over `weights` pro rata, to the cent, the shares summing to `total`
/// (largest remainders get the leftover cents; ties to the earlier line).
pub fn allocate(total: Cents, weights: &[Cents]) -> Vec<Cents> {
    let sum: i128 = weights.iter().map(|w| i128::from(w.0.max(0))).sum();
    if sum == 0 {
        let mut v = vec![Cents(0); weights.len()];
        if let Some(f) = v.first_mut() {
            *f = total;
        }
        return v;
    }
    let t = i128::from(total.0);
    let mut shares: Vec<(i64, i128, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let p = t * i128::from(w.0.max(0));
            (i64::try_from(p / sum).unwrap_or(0), p % sum, i)
        })
        .collect();
    let given: i64 = shares.iter().map(|s| s.0).sum();
    let mut left = total.0 - given;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    // Indexes come from 0..shares.len(): in range.
    order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
    for i in order {
        if left <= 0 {
            break;
        }
        if let Some(s) = shares.get_mut(i) {
            s.0 += 1;
            left -= 1;
        }
    }
    shares.into_iter().map(|s| Cents(s.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rows: &[&str]) -> Vec<EntryLine> {
        let csv = format!("{}\n{}\n", crate::sample::HEADER, rows.join("\n"));
        crate::entry::read_all(csv.as_bytes(), crate::entry::InputFormat::Csv)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn lines_differing_in_value_share_a_cached_stack_with_their_own_amounts() {
        let c = Checker::new(Rules::embedded().unwrap(), None);
        let ls = lines(&[
            "E1,2025-06-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer S21,3,9000.00,CN,CN,Bitmain,9903.88.02;9903.01.24,,,,",
            "E1,2025-06-10,ocean,2704,2,8543.70.98.60,Bitcoin mining machine,Antminer S21,1,3000.01,CN,CN,Bitmain,9903.88.02;9903.01.24,,,,",
        ]);
        let mut cache = Cache::default();
        let cached = c.check_entry_cached(&ls, &mut cache);
        assert_eq!(cache.stacks.len, 1, "one stack for both lines");
        assert_eq!(cache.class.len, 1);
        let plain = c.check_entry_cached(&ls, &mut Cache::new(0));
        assert_eq!(cache.stacks.len, 1);
        for (a, b) in cached.lines.iter().zip(&plain.lines) {
            assert_eq!(a.measures, b.measures);
            assert_eq!(a.duty_total, b.duty_total);
            for m in &a.measures {
                assert_eq!(m.amount, a.entered_value.times(m.rate), "{}", m.id);
            }
        }
        let (a, b) = (&cached.lines[0], &cached.lines[1]);
        assert_eq!(
            a.measures.iter().map(|m| (m.id, m.rate)).collect::<Vec<_>>(),
            b.measures.iter().map(|m| (m.id, m.rate)).collect::<Vec<_>>()
        );
        assert_ne!(a.duty_total, b.duty_total);
        assert_eq!(cached.findings, plain.findings);
    }

    #[test]
    fn a_memo_at_its_cap_is_emptied_and_stays_bounded() {
        let mut m: Memo<u32, u32> = Memo::new(3);
        for i in 0..10 {
            m.insert(u64::from(i), i, i * 2);
            assert!(m.len <= 3);
        }
        assert_eq!(m.get(9, |k| *k == 9), Some(&18));
        assert_eq!(m.get(0, |k| *k == 0), None);
        let mut chained: Memo<u32, u32> = Memo::new(100);
        for i in 0..10 {
            chained.insert(7, i, i);
        }
        assert_eq!(chained.len, MAX_CHAIN);
        assert_eq!(chained.get(7, |k| *k == 3), Some(&3));
        assert_eq!(chained.get(7, |k| *k == 9), None);
        let mut off: Memo<u32, u32> = Memo::new(0);
        off.insert(1, 1, 1);
        assert_eq!((off.len, off.get(1, |_| true)), (0, None));
    }

    #[test]
    fn allocation_sums_to_the_total() {
        let a = allocate(Cents(65_150), &[Cents(100), Cents(100), Cents(100)]);
        assert_eq!(a.iter().copied().sum::<Cents>(), Cents(65_150));
        assert_eq!(a, [Cents(21_717), Cents(21_717), Cents(21_716)]);
        assert_eq!(allocate(Cents(5), &[Cents(0)]), [Cents(5)]);
    }
}
