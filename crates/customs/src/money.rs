//! Money and rates without floating point: USD in integer cents, rates in millionths of the
//! base (0.3464 % = 3,464 / 1,000,000), and the one rounding rule (half-up to the cent).

use std::fmt;

use serde::{Serialize, Serializer};

/// USD in cents. Arithmetic is integer; the JSON form is a number rounded to the cent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub i64);

/// A rate in millionths (1,000,000 = 100 %): exact to 0.0001 %.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub i64);

/// The largest amount accepted anywhere: $1 trillion. Bounds every product below i128 range.
pub const MAX_CENTS: i64 = 100_000_000_000_000;

/// Why a money or rate text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Empty text.
    #[error("empty")]
    Empty,
    /// A minus sign.
    #[error("negative value {0:?}")]
    Negative(String),
    /// Not digits with at most one point.
    #[error("not a number: {0:?}")]
    NotANumber(String),
    /// More decimals than the unit holds.
    #[error("{0:?} has more decimals than {1} (amounts are in cents, rates in 0.0001 %)")]
    TooPrecise(String, usize),
    /// Beyond [`MAX_CENTS`] (or 100,000 % for rates).
    #[error("{0:?} is implausibly large")]
    TooLarge(String),
}

/// Parse `digits[.digits]` into an integer scaled by 10^`scale`.
fn parse_scaled(text: &str, scale: usize, max: i64) -> Result<i64, AmountError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AmountError::Empty);
    }
    if t.starts_with('-') {
        return Err(AmountError::Negative(t.to_owned()));
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(AmountError::NotANumber(t.to_owned()));
    }
    if frac.len() > scale {
        // Trailing zeros beyond the unit are harmless ("19625.000").
        if frac.bytes().skip(scale).any(|b| b != b'0') {
            return Err(AmountError::TooPrecise(t.to_owned(), scale));
        }
    }
    if int.len() > 15 {
        return Err(AmountError::TooLarge(t.to_owned()));
    }
    let mut v: i64 = 0;
    for b in int
        .bytes()
        .chain(frac.bytes().chain(std::iter::repeat(b'0')).take(scale))
    {
        v = v * 10 + i64::from(b - b'0');
    }
    if v > max {
        return Err(AmountError::TooLarge(t.to_owned()));
    }
    Ok(v)
}

impl Cents {
    /// Parse USD text (`19625`, `19625.5`, `19625.50`).
    pub fn parse(text: &str) -> Result<Cents, AmountError> {
        parse_scaled(text, 2, MAX_CENTS).map(Cents)
    }

    /// `amount × rate`, rounded half-up to the cent: the single rounding rule of the engine
    /// (applied per measure per line, and per fee per entry).
    pub fn times(self, rate: Rate) -> Cents {
        // |cents| <= 1e14 and |rate| <= 1e9 (100,000 %): the product fits an i128 easily.
        let p = i128::from(self.0) * i128::from(rate.0);
        let q = (p + 500_000 * p.signum()) / 1_000_000;
        Cents(i64::try_from(q).unwrap_or(i64::MAX))
    }

    /// Dollars as a JSON number (output only; never used in arithmetic).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// `self / by`, rounded half-up (unit values).
    pub fn div_round(self, by: i64) -> Cents {
        if by <= 0 {
            return Cents(0);
        }
        Cents((self.0 * 2 + by) / (by * 2))
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;
    fn add(self, o: Cents) -> Cents {
        Cents(self.0.saturating_add(o.0))
    }
}

impl std::ops::Sub for Cents {
    type Output = Cents;
    fn sub(self, o: Cents) -> Cents {
        Cents(self.0.saturating_sub(o.0))
    }
}

impl std::iter::Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        iter.fold(Cents(0), |a, b| a + b)
    }
}

impl fmt::Display for Cents {
    /// `-$1,234,567.89`: thousands separators, as people write dollar amounts. Built right to
    /// left on the stack (messages print several amounts per line; no allocation).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // At most 17 dollar digits, 5 separators, the point, 2 cents, "$" and "-": 27 bytes.
        let mut b = [0u8; 32];
        let mut at = b.len();
        let mut put = |c: u8| {
            if let Some(i) = at.checked_sub(1)
                && let Some(slot) = b.get_mut(i)
            {
                *slot = c;
                at = i;
            }
        };
        let a = self.0.unsigned_abs();
        let (mut d, c) = (a / 100, a % 100);
        put(b'0' + (c % 10) as u8);
        put(b'0' + (c / 10) as u8);
        put(b'.');
        let mut n = 0;
        loop {
            if n > 0 && n % 3 == 0 {
                put(b',');
            }
            put(b'0' + (d % 10) as u8);
            n += 1;
            d /= 10;
            if d == 0 {
                break;
            }
        }
        put(b'$');
        if self.0 < 0 {
            put(b'-');
        }
        let text = b.get(at..).unwrap_or_default();
        f.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl Rate {
    /// Parse `2.6%`, `0.3464 %`, `Free` (0) or `10` (percent without the sign).
    pub fn parse_percent(text: &str) -> Result<Rate, AmountError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("free") {
            return Ok(Rate(0));
        }
        let t = t.strip_suffix('%').unwrap_or(t).trim_end();
        parse_scaled(t, 4, 1_000_000_000).map(Rate)
    }

    /// The rate as a percent number (output only).
    pub fn percent(self) -> f64 {
        self.0 as f64 / 10_000.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, frac) = (self.0 / 10_000, self.0 % 10_000);
        if frac == 0 {
            write!(f, "{i}%")
        } else {
            let s = format!("{frac:04}");
            write!(f, "{i}.{}%", s.trim_end_matches('0'))
        }
    }
}

impl std::ops::Add for Rate {
    type Output = Rate;
    fn add(self, o: Rate) -> Rate {
        Rate(self.0.saturating_add(o.0))
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.percent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(Cents::parse("19625"), Ok(Cents(1_962_500)));
        assert_eq!(Cents::parse("19625.5"), Ok(Cents(1_962_550)));
        assert_eq!(Cents::parse("0.07"), Ok(Cents(7)));
        assert_eq!(Cents::parse("12.300"), Ok(Cents(1230)));
        assert!(matches!(Cents::parse("-1"), Err(AmountError::Negative(_))));
        assert!(matches!(Cents::parse("1.234"), Err(AmountError::TooPrecise(..))));
        assert!(matches!(Cents::parse("1e5"), Err(AmountError::NotANumber(_))));
        assert!(matches!(Cents::parse("."), Err(AmountError::NotANumber(_))));
        assert!(matches!(
            Cents::parse("9999999999999999"),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn rates_parse_exactly() {
        assert_eq!(Rate::parse_percent("2.6%"), Ok(Rate(26_000)));
        assert_eq!(Rate::parse_percent("0.3464%"), Ok(Rate(3_464)));
        assert_eq!(Rate::parse_percent("Free"), Ok(Rate(0)));
        assert_eq!(Rate::parse_percent("125%"), Ok(Rate(1_250_000)));
        assert_eq!(Rate(26_000).to_string(), "2.6%");
        assert_eq!(Rate(1_726_000).to_string(), "172.6%");
    }

    #[test]
    fn amounts_print_with_thousands_separators() {
        // The former formatting (two strings per amount), kept as the reference.
        fn reference(v: i64) -> String {
            let sign = if v < 0 { "-" } else { "" };
            let a = v.unsigned_abs();
            let (d, c) = (a / 100, a % 100);
            let digits = d.to_string();
            let mut grouped = String::new();
            for (i, ch) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            format!("{sign}${grouped}.{c:02}")
        }
        let mut values = vec![
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            99_999,
            100_000,
            123_456_789,
            i64::MAX,
            i64::MIN,
        ];
        let mut p = 1i64;
        for _ in 0..18 {
            values.extend([p - 1, p, p + 1, 7 * p, -p, -(p - 1)]);
            p = p.saturating_mul(10);
        }
        for v in values {
            assert_eq!(Cents(v).to_string(), reference(v), "{v}");
        }
        assert_eq!(Cents(-123_456_789).to_string(), "-$1,234,567.89");
        assert_eq!(format!("{}", Cents(5)), "$0.05");
    }

    #[test]
    fn rounding_is_half_up_to_the_cent() {
        // $19,625 × 27.6 % = $5,416.50 exactly.
        assert_eq!(Cents(1_962_500).times(Rate(276_000)), Cents(541_650));
        // $1.01 × 0.125 % = 0.126… cents → 0; $4.00 × 0.125 % = 0.5 cent → 1 (half-up).
        assert_eq!(Cents(101).times(Rate(1_250)), Cents(0));
        assert_eq!(Cents(400).times(Rate(1_250)), Cents(1));
        assert_eq!(Cents(399).times(Rate(1_250)), Cents(0));
        assert_eq!(Cents(1_962_500).to_string(), "$19,625.00");
    }
}
