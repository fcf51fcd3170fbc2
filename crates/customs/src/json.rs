//! Hand-written JSON for the hot records of the JSON-lines output (a line, an entry, a finding):
//! the bytes serde_json writes for them (tests compare the two), without its per-value cost.

use chrono::Datelike as _;
use hashward_model::{Finding, jsonl};
use serde::Serialize;
use serde_json::Value;

use crate::check::{Draft, EntryResult, LineResult, MeasureAmount};
use crate::hts::Hts;
use crate::money::{Cents, Rate};

/// The result of writing into a `Vec<u8>`: only serde_json's fallbacks can fail.
pub(crate) use hashward_model::jsonl::Res;

/// `sep"key":` as one literal (copied in one go).
macro_rules! key {
    ($sep:literal, $k:literal) => {
        concat!($sep, "\"", $k, "\":").as_bytes()
    };
}

/// Below 10^15 a scaled integer has at most 15 significant digits, so the shortest decimal
/// that round-trips its `f64` (what serde_json prints) is the integer's own decimal form.
const EXACT_BELOW: u64 = 1_000_000_000_000_000;

fn fallback<T: Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) -> Res {
    serde_json::to_writer(&mut *buf, v)
}

/// A number's text written right to left on the stack, then copied into the buffer once (one
/// copy instead of a push per digit).
struct Digits {
    b: [u8; 24],
    at: usize,
}

impl Digits {
    fn new() -> Digits {
        Digits { b: [0; 24], at: 24 }
    }

    /// Prepend `c` (24 bytes hold any number written here: at most 20 digits, a point, a sign).
    fn put(&mut self, c: u8) {
        if let Some(i) = self.at.checked_sub(1)
            && let Some(slot) = self.b.get_mut(i)
        {
            *slot = c;
            self.at = i;
        }
    }

    /// Prepend the decimal digits of `n`.
    fn put_u64(&mut self, mut n: u64) {
        loop {
            self.put(b'0' + (n % 10) as u8);
            n /= 10;
            if n == 0 {
                break;
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        self.b.get(self.at..).unwrap_or_default()
    }
}

/// Decimal digits of `n`.
pub(crate) fn push_u64(buf: &mut Vec<u8>, n: u64) {
    let mut d = Digits::new();
    d.put_u64(n);
    buf.extend_from_slice(d.bytes());
}

/// `v / 10^SCALE` as serde_json prints the `f64` of it (`15000.0`, `0.05`, `2.6`), when
/// |v| < [`EXACT_BELOW`]; `false` (nothing written) otherwise.
fn push_scaled<const SCALE: u32>(buf: &mut Vec<u8>, v: i64) -> bool {
    let a = v.unsigned_abs();
    if a >= EXACT_BELOW {
        return false;
    }
    // A constant: the divisions below compile to multiplications.
    let unit = 10u64.pow(SCALE);
    let mut frac = a % unit;
    // The fraction's `SCALE` digits with their trailing zeros dropped ("0" when all are).
    let mut width = 1;
    if frac != 0 {
        width = SCALE;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
    }
    let mut d = Digits::new();
    for _ in 0..width {
        d.put(b'0' + (frac % 10) as u8);
        frac /= 10;
    }
    d.put(b'.');
    d.put_u64(a / unit);
    if v < 0 {
        d.put(b'-');
    }
    buf.extend_from_slice(d.bytes());
    true
}

/// A dollar amount (as `Cents` serialises).
pub(crate) fn cents(buf: &mut Vec<u8>, c: Cents) -> Res {
    if push_scaled::<2>(buf, c.0) {
        Ok(())
    } else {
        fallback(buf, &c)
    }
}

/// A rate as a percent number (as `Rate` serialises).
pub(crate) fn rate(buf: &mut Vec<u8>, r: Rate) -> Res {
    if push_scaled::<4>(buf, r.0) {
        Ok(())
    } else {
        fallback(buf, &r)
    }
}

/// A JSON string.
pub(crate) fn string(buf: &mut Vec<u8>, s: &str) -> Res {
    jsonl::push_str(buf, s)
}

/// `"key":`.
fn key(buf: &mut Vec<u8>, k: &str) {
    buf.push(b'"');
    buf.extend_from_slice(k.as_bytes());
    buf.extend_from_slice(b"\":");
}

pub(crate) fn date(buf: &mut Vec<u8>, d: chrono::NaiveDate) -> Res {
    let y = d.year();
    if !(0..=9999).contains(&y) {
        return fallback(buf, &d);
    }
    buf.push(b'"');
    for (v, w) in [(y as u32, 4), (d.month(), 2), (d.day(), 2)] {
        if w == 2 {
            buf.push(b'-');
        }
        let mut div = 10u32.pow(w - 1);
        while div > 0 {
            buf.push(b'0' + ((v / div) % 10) as u8);
            div /= 10;
        }
    }
    buf.push(b'"');
    Ok(())
}

fn hts(buf: &mut Vec<u8>, h: &Hts) -> Res {
    let d = h.digits();
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return fallback(buf, h);
    }
    // The Display form: groups of 4, 2, 2, 2 digits.
    buf.push(b'"');
    for (i, b) in d.bytes().enumerate() {
        if i == 4 || i == 6 || i == 8 {
            buf.push(b'.');
        }
        buf.push(b);
    }
    buf.push(b'"');
    Ok(())
}

fn strings<S: AsRef<str>>(buf: &mut Vec<u8>, items: &[S]) -> Res {
    buf.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        string(buf, s.as_ref())?;
    }
    buf.push(b']');
    Ok(())
}

fn measures(buf: &mut Vec<u8>, ms: &[MeasureAmount<'_>]) -> Res {
    buf.push(b'[');
    for (i, m) in ms.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        at_str(buf, key!("{", "id"), m.id)?;
        at_str(buf, key!(",", "group"), m.group)?;
        at_str(buf, key!(",", "chapter99"), m.chapter99)?;
        buf.extend_from_slice(b",\"rate\":");
        rate(buf, m.rate)?;
        buf.extend_from_slice(b",\"amount\":");
        cents(buf, m.amount)?;
        if m.ieepa {
            buf.extend_from_slice(b",\"ieepa\":true");
        }
        buf.push(b'}');
    }
    buf.push(b']');
    Ok(())
}

/// A key from [`key!`], then a string.
fn at_str(buf: &mut Vec<u8>, key: &[u8], v: &str) -> Res {
    buf.extend_from_slice(key);
    string(buf, v)
}

/// A key from [`key!`], then an amount.
fn at_cents(buf: &mut Vec<u8>, key: &[u8], v: Cents) -> Res {
    buf.extend_from_slice(key);
    cents(buf, v)
}

/// `sep"key":amount`.
fn key_cents(buf: &mut Vec<u8>, sep: &str, k: &str, v: Cents) -> Res {
    buf.extend_from_slice(sep.as_bytes());
    key(buf, k);
    cents(buf, v)
}

/// The record of one line: `{"type":"item","key":"lines","item":{…}}` and a newline.
pub(crate) fn line_item(buf: &mut Vec<u8>, l: &LineResult<'_>) -> Res {
    buf.extend_from_slice(b"{\"type\":\"item\",\"key\":\"lines\",\"item\":");
    at_str(buf, key!("{", "entry_number"), &l.entry_number)?;
    buf.extend_from_slice(b",\"line\":");
    push_u64(buf, u64::from(l.line));
    buf.extend_from_slice(b",\"row\":");
    push_u64(buf, l.row);
    buf.extend_from_slice(b",\"entry_date\":");
    date(buf, l.entry_date)?;
    buf.extend_from_slice(b",\"declared_hts\":");
    hts(buf, &l.declared_hts)?;
    if let Some(h) = &l.declared_hts_current {
        buf.extend_from_slice(b",\"declared_hts_current\":");
        hts(buf, h)?;
    }
    buf.extend_from_slice(b",\"expected_hts\":");
    hts(buf, &l.expected_hts)?;
    if let Some(c) = &l.classification {
        buf.extend_from_slice(b",\"classification\":");
        at_str(buf, key!("{", "hint"), c.hint)?;
        at_str(buf, key!(",", "kind"), c.kind)?;
        buf.extend_from_slice(b",\"rulings\":");
        strings(buf, c.rulings)?;
        if let Some(m) = c.model {
            at_str(buf, key!(",", "model"), m)?;
        }
        buf.push(b'}');
    }
    at_str(buf, key!(",", "origin_country"), &l.origin_country)?;
    buf.extend_from_slice(b",\"quantity\":");
    push_u64(buf, l.quantity);
    at_cents(buf, key!(",", "entered_value"), l.entered_value)?;
    at_cents(buf, key!(",", "unit_value"), l.unit_value)?;
    if let Some(v) = &l.valuation {
        buf.extend_from_slice(b",\"valuation\":");
        at_str(buf, key!("{", "model"), v.model)?;
        buf.extend_from_slice(b",\"ths_per_unit\":");
        fallback(buf, &v.ths_per_unit)?;
        at_cents(buf, key!(",", "value_per_th"), v.value_per_th)?;
        if let Some(b) = v.band {
            at_str(buf, key!(",", "band"), b)?;
        }
        for (k, c) in [
            ("band_low", v.band_low),
            ("band_high", v.band_high),
            ("flag_below", v.flag_below),
        ] {
            if let Some(c) = c {
                key_cents(buf, ",", k, c)?;
            }
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b",\"measures\":");
    measures(buf, &l.measures)?;
    buf.extend_from_slice(b",\"duty_rate\":");
    rate(buf, l.duty_rate)?;
    at_cents(buf, key!(",", "duty_total"), l.duty_total)?;
    if let Some(d) = &l.declared_measures {
        buf.extend_from_slice(b",\"declared_measures\":");
        measures(buf, d)?;
    }
    at_cents(buf, key!(",", "declared_duty_total"), l.declared_duty_total)?;
    at_cents(buf, key!(",", "duty_difference"), l.duty_difference)?;
    buf.extend_from_slice(b",\"chapter99_declared\":");
    strings(buf, &l.chapter99_declared)?;
    buf.extend_from_slice(b",\"chapter99_expected\":");
    strings(buf, &l.chapter99_expected)?;
    at_cents(buf, key!(",\"fees\":{", "mpf"), l.fees.mpf)?;
    at_cents(buf, key!(",", "hmf"), l.fees.hmf)?;
    buf.push(b'}');
    if let Some(p) = l.duties_paid {
        at_cents(buf, key!(",", "duties_paid"), p)?;
    }
    at_cents(buf, key!(",", "refundable"), l.refundable)?;
    buf.extend_from_slice(b",\"findings\":");
    strings(buf, &l.findings)?;
    buf.extend_from_slice(b"}}\n");
    Ok(())
}

/// The record of one entry: `{"type":"item","key":"entries","item":{…}}` and a newline.
pub(crate) fn entry_item(buf: &mut Vec<u8>, e: &EntryResult<'_>) -> Res {
    buf.extend_from_slice(b"{\"type\":\"item\",\"key\":\"entries\",\"item\":");
    at_str(buf, key!("{", "entry_number"), &e.entry_number)?;
    buf.extend_from_slice(b",\"entry_date\":");
    date(buf, e.entry_date)?;
    at_str(buf, key!(",", "mode"), &e.mode)?;
    at_str(buf, key!(",", "port"), &e.port)?;
    buf.extend_from_slice(b",\"lines\":");
    push_u64(buf, e.lines as u64);
    at_cents(buf, key!(",", "entered_value"), e.entered_value)?;
    buf.extend_from_slice(b",\"mpf\":");
    match &e.mpf {
        Some(m) => {
            at_str(buf, key!("{", "id"), m.id)?;
            buf.extend_from_slice(b",\"rate\":");
            rate(buf, m.rate)?;
            at_cents(buf, key!(",", "uncapped"), m.uncapped)?;
            at_cents(buf, key!(",", "min"), m.min)?;
            at_cents(buf, key!(",", "max"), m.max)?;
            at_cents(buf, key!(",", "amount"), m.amount)?;
            buf.push(b'}');
        }
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"hmf\":");
    match &e.hmf {
        Some(h) => {
            at_str(buf, key!("{", "id"), h.id)?;
            buf.extend_from_slice(b",\"rate\":");
            rate(buf, h.rate)?;
            at_cents(buf, key!(",", "amount"), h.amount)?;
            buf.push(b'}');
        }
        None => buf.extend_from_slice(b"null"),
    }
    at_cents(buf, key!(",", "fees_total"), e.fees_total)?;
    for (k, c) in [
        ("mpf_paid", e.mpf_paid),
        ("hmf_paid", e.hmf_paid),
        ("fees_paid", e.fees_paid),
    ] {
        if let Some(c) = c {
            key_cents(buf, ",", k, c)?;
        }
    }
    at_cents(buf, key!(",", "duty_total"), e.duty_total)?;
    at_cents(buf, key!(",", "declared_duty_total"), e.declared_duty_total)?;
    at_cents(buf, key!(",", "refundable"), e.refundable)?;
    buf.extend_from_slice(b"}}\n");
    Ok(())
}

/// A number as serde_json prints it; an f64 that is exactly the double of a whole number of
/// cents prints as that number of cents over 100 (see EXACT_BELOW) without a float formatter.
fn number(buf: &mut Vec<u8>, n: &serde_json::Number) -> Res {
    let as_cents = n
        .as_f64()
        .filter(|f| n.is_f64() && !(*f == 0.0 && f.is_sign_negative()))
        .and_then(|f| {
            let c = (f * 100.0).round();
            (c.abs() < 1e15 && c / 100.0 == f).then_some(c as i64)
        });
    match as_cents {
        Some(c) if push_scaled::<2>(buf, c) => Ok(()),
        _ => fallback(buf, n),
    }
}

/// A JSON value as serde_json prints it (numbers that are dollar amounts take the fast path).
pub(crate) fn value(buf: &mut Vec<u8>, v: &Value) -> Res {
    jsonl::push_value_with(buf, v, &number)
}

/// The record of one finding: `{"type":"finding",…the finding's fields}` and a newline.
pub(crate) fn finding(buf: &mut Vec<u8>, f: &Finding) -> Res {
    jsonl::push_finding_record_with(buf, f, &number)?;
    buf.push(b'\n');
    Ok(())
}

/// The record of a finding not yet made a [`Finding`]: the bytes [`finding`] writes for the
/// finding it would become (tests compare the two), without building its `Value` tree.
pub(crate) fn draft(buf: &mut Vec<u8>, d: &Draft<'_>) -> Res {
    at_str(buf, key!("{\"type\":\"finding\",", "rule"), d.rule.as_str())?;
    at_str(buf, key!(",", "severity"), d.severity().as_str())?;
    at_str(buf, key!(",", "title"), d.rule.info().title)?;
    at_str(
        buf,
        key!(",\"subject\":{\"type\":\"entry_line\",", "entry"),
        d.entry,
    )?;
    buf.extend_from_slice(b",\"line\":");
    push_u64(buf, u64::from(d.line));
    buf.push(b'}');
    at_str(buf, key!(",", "message"), &d.message)?;
    buf.extend_from_slice(b",\"evidence\":[{\"type\":\"calculation\",\"inputs\":{");
    // In insertion order, as the finding's `Map` keeps them (serde_json's `preserve_order` is on
    // in every build: the workspace's Cargo.toml).
    for (j, (k, x)) in d.inputs.iter().enumerate() {
        if j > 0 {
            buf.push(b',');
        }
        string(buf, k)?;
        buf.push(b':');
        x.write(buf)?;
    }
    buf.push(b'}');
    at_str(buf, key!(",", "formula"), d.formula)?;
    buf.extend_from_slice(b",\"result\":");
    d.result.write(buf)?;
    buf.extend_from_slice(b"}]}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast<T>(f: impl Fn(&mut Vec<u8>, T) -> Res, v: T) -> String {
        let mut b = Vec::new();
        f(&mut b, v).unwrap();
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn amounts_and_rates_print_as_serde_json_prints_their_f64() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut values = vec![0i64, 1, 5, 10, 99, 100, 101, 1234, 100_000, 999_999_999_999_999];
        for shift in [4, 8, 14, 20, 27, 34, 40, 46, 50] {
            for _ in 0..2000 {
                // xorshift: deterministic spread over each magnitude.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                values.push((x >> (64 - shift)) as i64);
            }
        }
        for v in values {
            for v in [v, -v] {
                assert_eq!(
                    fast(cents, Cents(v)),
                    serde_json::to_string(&Cents(v)).unwrap(),
                    "{v}"
                );
                assert_eq!(
                    fast(rate, Rate(v)),
                    serde_json::to_string(&Rate(v)).unwrap(),
                    "{v}"
                );
                let n = serde_json::json!(Cents(v));
                assert_eq!(fast(value, &n), serde_json::to_string(&n).unwrap(), "{v}");
            }
        }
        for v in [i64::MAX, i64::MIN, 1_000_000_000_000_000, 12_345_678_901_234_567] {
            assert_eq!(
                fast(cents, Cents(v)),
                serde_json::to_string(&Cents(v)).unwrap(),
                "{v}"
            );
            assert_eq!(
                fast(rate, Rate(v)),
                serde_json::to_string(&Rate(v)).unwrap(),
                "{v}"
            );
        }
        for f in [0.1, 1.0 / 3.0, -0.0, 1e21, 0.001, 2.675, 123.456] {
            let n = serde_json::json!(f);
            assert_eq!(fast(value, &n), serde_json::to_string(&n).unwrap(), "{f}");
        }
    }

    #[test]
    fn strings_and_dates_print_as_serde_json_prints_them() {
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "tab\tnl\n",
            "\u{1}",
            "日本",
        ] {
            assert_eq!(fast(string, s), serde_json::to_string(s).unwrap());
        }
        for d in ["2025-01-05", "0001-12-31", "9999-12-31"] {
            let d: chrono::NaiveDate = d.parse().unwrap();
            assert_eq!(fast(date, d), serde_json::to_string(&d).unwrap());
        }
        let d = chrono::NaiveDate::from_ymd_opt(-5, 1, 1).unwrap();
        assert_eq!(fast(date, d), serde_json::to_string(&d).unwrap());
    }
}
