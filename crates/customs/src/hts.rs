//! HTS numbers (normalised to their digits) and the USITC HTS CSV export: parsed with its
//! quirks (byte-order mark, quoted fields, inherited rates, JSON-ish unit lists, Chapter 99 text
//! rates), refused when truncated, and kept as a compact table that `customs check --hts` reads.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use crate::money::Rate;

/// An HTS number as its digits (4 to 10 of them): `8543.70.98.60` is `8543709860`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hts(String);

impl Hts {
    /// Parse `8543.70.98.60`, `8543.70.9860` or `8543709860` (4, 6, 8 or 10 digits).
    pub fn parse(text: &str) -> Option<Hts> {
        let t = text.trim();
        if t.is_empty() || t.len() > 16 {
            return None;
        }
        let mut digits = String::with_capacity(10);
        for c in t.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '.' | ' ' => {}
                _ => return None,
            }
        }
        matches!(digits.len(), 4 | 6 | 8 | 10).then_some(Hts(digits))
    }

    /// The digits.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// Whether `prefix` (digits) starts this number.
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix)
    }

    /// The chapter (first two digits).
    pub fn chapter(&self) -> &str {
        self.0.get(..2).unwrap_or("")
    }
}

impl fmt::Display for Hts {
    /// `8543.70.98.60`: groups of 4, 2, 2, 2 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        let parts = [d.get(..4), d.get(4..6), d.get(6..8), d.get(8..10)];
        let mut first = true;
        for p in parts.into_iter().flatten() {
            if !first {
                f.write_str(".")?;
            }
            f.write_str(p)?;
            first = false;
        }
        Ok(())
    }
}

impl serde::Serialize for Hts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a USITC export or a compact table was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HtsError {
    /// Reading failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The header is not the USITC CSV header.
    #[error("{path}: not a USITC HTS CSV export: header {found:?}")]
    Header {
        /// The file.
        path: String,
        /// What the first line held.
        found: String,
    },
    /// A row could not be read.
    #[error("{path}: row {row}, field {field}: {message}")]
    Row {
        /// The file.
        path: String,
        /// 1-based data row.
        row: u64,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The export looks cut or partial.
    #[error("{path}: truncated or partial export: {message}")]
    Truncated {
        /// The file.
        path: String,
        /// What gave it away.
        message: String,
    },
    /// A compact table that is not one.
    #[error("{path}: not a hashward HTS table: {message}")]
    Table {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// One statistical or tariff line of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtsLine {
    /// The number.
    pub hts: Hts,
    /// The general (column 1) rate as written, own or inherited from its 8-digit line.
    pub general: String,
    /// The general rate as an ad valorem rate, when it is one (`Free`, `2.6%`).
    pub ad_valorem: Option<Rate>,
    /// The additional rate a Chapter 99 heading adds ("… + 10%").
    pub ch99_additional: Option<Rate>,
}

/// The schedule: every numbered line, by digits.
#[derive(Debug, Clone, Default)]
pub struct HtsTable {
    lines: HashMap<String, HtsLine>,
    /// Data rows read from the export (text rows included).
    pub rows: u64,
    /// sha256 of the export the table came from, when known.
    pub source_sha256: String,
}

/// Fewest data rows a complete export has (one project refuses exports under 30,000 rows; the
/// 2026 Rev 4 file has 35,766).
pub const MIN_ROWS: u64 = 30_000;

/// The header of the USITC CSV export.
pub const USITC_HEADER: [&str; 9] = [
    "HTS Number",
    "Indent",
    "Description",
    "Unit of Quantity",
    "General Rate of Duty",
    "Special Rate of Duty",
    "Column 2 Rate of Duty",
    "Quota Quantity",
    "Additional Duties",
];

/// Largest export accepted (the 2026 file is 4 MB).
pub const MAX_EXPORT_BYTES: u64 = 64 << 20;

/// The chapters a complete schedule has: 01 to 99 except 77 (reserved).
fn expected_chapters() -> impl Iterator<Item = String> {
    (1..=99u32).filter(|c| *c != 77).map(|c| format!("{c:02}"))
}

/// Parse the ad valorem part of a general rate: `Free`, `2.6%`; `None` for specific or compound
/// rates (`5.2¢/kg`, `2.6% + 5¢/kg`).
fn ad_valorem(general: &str) -> Option<Rate> {
    let g = general.trim();
    if g.eq_ignore_ascii_case("free") {
        return Some(Rate(0));
    }
    let pct = g.strip_suffix('%')?;
    Rate::parse_percent(pct).ok()
}

/// The addition a Chapter 99 text rate makes: "The duty provided in the applicable subheading
/// + 10%" is 10 %, the plain text is 0.
fn ch99_addition(general: &str) -> Option<Rate> {
    let g = general.trim();
    if !g.starts_with("The duty provided in the applicable subheading") {
        return None;
    }
    let rest = g
        .trim_start_matches("The duty provided in the applicable subheading")
        .trim();
    if rest.is_empty() {
        return Some(Rate(0));
    }
    let rest = rest
        .strip_prefix('+')
        .or_else(|| rest.strip_prefix("plus"))
        .unwrap_or(rest)
        .trim();
    Rate::parse_percent(rest).ok()
}

impl HtsTable {
    /// Parse a USITC HTS CSV export, refusing a truncated or implausible one: fewer than
    /// `min_rows` data rows, a chapter missing, a last row cut short.
    pub fn from_usitc_csv(path: &str, bytes: &[u8], min_rows: u64) -> Result<HtsTable, HtsError> {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        // A cut export ends inside a row: the last byte of a complete one closes a quoted field
        // (or ends the line).
        match body.last() {
            None => {
                return Err(HtsError::Truncated {
                    path: path.into(),
                    message: "empty file".into(),
                });
            }
            Some(b'"' | b'\n' | b'\r') => {}
            Some(_) => {
                return Err(HtsError::Truncated {
                    path: path.into(),
                    message: "the last row is cut (the file does not end with a closed field)".into(),
                });
            }
        }
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(body);
        let header = rdr.byte_headers().map_err(|e| HtsError::Header {
            path: path.into(),
            found: e.to_string(),
        })?;
        if header.len() != USITC_HEADER.len()
            || header.iter().zip(USITC_HEADER).any(|(a, b)| a != b.as_bytes())
        {
            return Err(HtsError::Header {
                path: path.into(),
                found: String::from_utf8_lossy(&header.as_slice()[..header.as_slice().len().min(200)])
                    .into_owned(),
            });
        }
        let mut table = HtsTable::default();
        let mut chapters = std::collections::HashSet::new();
        // The general rate of each 8-digit line, inherited by its 10-digit suffixes.
        let mut inherited: HashMap<String, String> = HashMap::new();
        let mut rec = csv::ByteRecord::new();
        loop {
            let row = table.rows + 1;
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    return Err(HtsError::Row {
                        path: path.into(),
                        row,
                        field: "(record)",
                        message: e.to_string(),
                    });
                }
            }
            table.rows = row;
            if rec.len() != USITC_HEADER.len() {
                return Err(HtsError::Truncated {
                    path: path.into(),
                    message: format!("row {row} has {} fields, not {}", rec.len(), USITC_HEADER.len()),
                });
            }
            let field = |i: usize, name: &'static str| -> Result<&str, HtsError> {
                std::str::from_utf8(rec.get(i).unwrap_or_default()).map_err(|_| HtsError::Row {
                    path: path.into(),
                    row,
                    field: name,
                    message: "not UTF-8".into(),
                })
            };
            let number = field(0, "HTS Number")?;
            if number.is_empty() {
                continue; // a "superior" text row
            }
            let Some(hts) = Hts::parse(number) else {
                return Err(HtsError::Row {
                    path: path.into(),
                    row,
                    field: "HTS Number",
                    message: format!("{number:?} is not an HTS number"),
                });
            };
            field(1, "Indent")?.parse::<u8>().map_err(|_| HtsError::Row {
                path: path.into(),
                row,
                field: "Indent",
                message: "not a small number".into(),
            })?;
            chapters.insert(hts.chapter().to_owned());
            let own = field(4, "General Rate of Duty")?.trim().to_owned();
            let general = if own.is_empty() && hts.digits().len() == 10 {
                inherited.get(&hts.digits()[..8]).cloned().unwrap_or_default()
            } else {
                own
            };
            if hts.digits().len() == 8 && !general.is_empty() {
                inherited.insert(hts.digits().to_owned(), general.clone());
            }
            let line = HtsLine {
                ad_valorem: ad_valorem(&general),
                ch99_additional: if hts.chapter() == "99" {
                    ch99_addition(&general)
                } else {
                    None
                },
                general,
                hts,
            };
            table.lines.insert(line.hts.digits().to_owned(), line);
        }
        if table.rows < min_rows {
            return Err(HtsError::Truncated {
                path: path.into(),
                message: format!("{} rows, a complete export has at least {min_rows}", table.rows),
            });
        }
        let missing: Vec<String> = expected_chapters().filter(|c| !chapters.contains(c)).collect();
        if !missing.is_empty() {
            return Err(HtsError::Truncated {
                path: path.into(),
                message: format!("chapter(s) {} missing", missing.join(", ")),
            });
        }
        use sha2::Digest as _;
        table.source_sha256 = hex::encode(sha2::Sha256::digest(bytes));
        Ok(table)
    }

    /// A USITC export from a reader, at most [`MAX_EXPORT_BYTES`].
    pub fn read_usitc(path: &str, r: impl Read, min_rows: u64) -> Result<HtsTable, HtsError> {
        let mut bytes = Vec::new();
        r.take(MAX_EXPORT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| HtsError::Io {
                path: path.into(),
                source,
            })?;
        if bytes.len() as u64 > MAX_EXPORT_BYTES {
            return Err(HtsError::Truncated {
                path: path.into(),
                message: format!("larger than {MAX_EXPORT_BYTES} bytes: not an HTS export"),
            });
        }
        HtsTable::from_usitc_csv(path, &bytes, min_rows)
    }

    /// Numbered lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The line for `hts` exactly.
    pub fn get(&self, hts: &Hts) -> Option<&HtsLine> {
        self.lines.get(hts.digits())
    }

    /// The compact form: a header line, then `digits<TAB>general` per line, sorted.
    pub fn to_compact(&self) -> String {
        let mut keys: Vec<&String> = self.lines.keys().collect();
        keys.sort();
        let mut out = format!(
            "# hashward-hts-table v1 rows={} lines={} source_sha256={}\n",
            self.rows,
            self.lines.len(),
            self.source_sha256
        );
        for k in keys {
            if let Some(l) = self.lines.get(k) {
                out.push_str(k);
                out.push('\t');
                // Tabs and newlines never occur in rates; replaced to keep the format line-based.
                out.push_str(&l.general.replace(['\t', '\n', '\r'], " "));
                out.push('\n');
            }
        }
        out
    }

    /// Read the compact form written by [`HtsTable::to_compact`].
    pub fn from_compact(path: &str, text: &str) -> Result<HtsTable, HtsError> {
        let bad = |message: String| HtsError::Table {
            path: path.into(),
            message,
        };
        let mut it = text.lines();
        let head = it.next().unwrap_or_default();
        let rest = head
            .strip_prefix("# hashward-hts-table v1 ")
            .ok_or_else(|| bad("first line is not the table header (run `customs import-hts`)".into()))?;
        let mut table = HtsTable::default();
        let mut want_lines = None;
        for kv in rest.split(' ') {
            match kv.split_once('=') {
                Some(("rows", v)) => table.rows = v.parse().map_err(|_| bad(format!("rows={v}")))?,
                Some(("lines", v)) => {
                    want_lines = Some(v.parse::<usize>().map_err(|_| bad(format!("lines={v}")))?)
                }
                Some(("source_sha256", v)) => table.source_sha256 = v.to_owned(),
                _ => return Err(bad(format!("unknown header item {kv:?}"))),
            }
        }
        for (n, l) in it.enumerate() {
            let (code, general) = l
                .split_once('\t')
                .ok_or_else(|| bad(format!("line {}: no tab", n + 2)))?;
            let hts = Hts::parse(code)
                .ok_or_else(|| bad(format!("line {}: {code:?} is not an HTS number", n + 2)))?;
            let line = HtsLine {
                ad_valorem: ad_valorem(general),
                ch99_additional: if hts.chapter() == "99" {
                    ch99_addition(general)
                } else {
                    None
                },
                general: general.to_owned(),
                hts,
            };
            table.lines.insert(line.hts.digits().to_owned(), line);
        }
        if want_lines != Some(table.lines.len()) {
            return Err(bad(format!(
                "header says {want_lines:?} lines, the file has {} (cut?)",
                table.lines.len()
            )));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise() {
        let h = Hts::parse("8471.50.0150").unwrap();
        assert_eq!(h.digits(), "8471500150");
        assert_eq!(h.to_string(), "8471.50.01.50");
        assert_eq!(Hts::parse("8543709860").unwrap().to_string(), "8543.70.98.60");
        assert_eq!(Hts::parse("8543.70.98").unwrap().to_string(), "8543.70.98");
        assert!(Hts::parse("8543.7").is_none());
        assert!(Hts::parse("85437098601").is_none());
        assert!(Hts::parse("8543-70").is_none());
        assert!(Hts::parse("").is_none());
    }

    #[test]
    fn chapter99_text_rates() {
        assert_eq!(
            ch99_addition("The duty provided in the applicable subheading + 10%"),
            Some(Rate(100_000))
        );
        assert_eq!(
            ch99_addition("The duty provided in the applicable subheading +25%"),
            Some(Rate(250_000))
        );
        assert_eq!(
            ch99_addition("The duty provided in the applicable subheading plus 25%"),
            Some(Rate(250_000))
        );
        assert_eq!(
            ch99_addition("The duty provided in the applicable subheading"),
            Some(Rate(0))
        );
        assert_eq!(ad_valorem("5.2¢/kg"), None);
        assert_eq!(ad_valorem("2.6%"), Some(Rate(26_000)));
    }

    fn tiny_export(rows: &[&str]) -> Vec<u8> {
        let mut s = String::from("\u{feff}");
        s.push_str(&USITC_HEADER.map(|h| h.to_string()).join(","));
        s.push('\n');
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s.into_bytes()
    }

    #[test]
    fn rates_are_inherited_from_the_eight_digit_line() {
        let mut rows = vec![
            r#""8543.70.98","4","Other","","2.6%","Free (A*,AU)","35%","","""#.to_string(),
            r#""8543.70.98.60","5","Other","[""No.""]","","","","","""#.to_string(),
            r#""","1","Horses:","","","","","","""#.to_string(),
            r#""8471.80.10.00","2","Control","[""No.""]","Free","","35%","","""#.to_string(),
        ];
        // Every other chapter, once, to pass the completeness check.
        for c in expected_chapters() {
            rows.push(format!(r#""{c}01","0","Chapter {c}","","","","","","""#));
        }
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let t = HtsTable::from_usitc_csv("t.csv", &tiny_export(&refs), 10).unwrap();
        let l = t.get(&Hts::parse("8543.70.98.60").unwrap()).unwrap();
        assert_eq!(l.general, "2.6%");
        assert_eq!(l.ad_valorem, Some(Rate(26_000)));
        assert_eq!(
            t.get(&Hts::parse("8471.80.10.00").unwrap()).unwrap().ad_valorem,
            Some(Rate(0))
        );
        let back = HtsTable::from_compact("t.tsv", &t.to_compact()).unwrap();
        assert_eq!(back.len(), t.len());
        assert!(HtsTable::from_compact("t.tsv", &t.to_compact()[..60]).is_err());
        // Too few rows, a missing chapter, a cut last row.
        assert!(matches!(
            HtsTable::from_usitc_csv("t.csv", &tiny_export(&refs), 1000),
            Err(HtsError::Truncated { .. })
        ));
        let without_84: Vec<&str> = refs.iter().copied().filter(|r| !r.starts_with("\"84")).collect();
        let e = HtsTable::from_usitc_csv("t.csv", &tiny_export(&without_84), 10).unwrap_err();
        assert!(e.to_string().contains("chapter(s) 84 missing"), "{e}");
        let mut cut = tiny_export(&refs);
        cut.truncate(cut.len() - 5);
        assert!(matches!(
            HtsTable::from_usitc_csv("t.csv", &cut, 10),
            Err(HtsError::Truncated { .. })
        ));
        assert!(matches!(
            HtsTable::from_usitc_csv("t.csv", b"a,b\n1,2\n", 10),
            Err(HtsError::Header { .. })
        ));
    }
}
