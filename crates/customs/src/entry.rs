//! Entry lines (the Form 7501 fields of the input contract) read from CSV or JSON: one row per
//! line item; a bad row becomes a [`RowError`] naming the row and the field, and reading goes on.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};

use chrono::NaiveDate;
use serde::Serialize;

use crate::hts::Hts;
use crate::money::Cents;

/// One line item of an entry summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLine {
    /// 1-based data row in the input (the header is not counted).
    pub row: u64,
    /// Entry number (block 1).
    pub entry_number: String,
    /// Entry date (block 7).
    pub entry_date: NaiveDate,
    /// Mode of transport, lower case (`ocean`, `air`, …).
    pub mode: String,
    /// US port code.
    pub port: String,
    /// Line number.
    pub line: u32,
    /// The declared HTS number, normalised.
    pub declared_hts: Hts,
    /// Description.
    pub description: String,
    /// Model.
    pub model: String,
    /// Units.
    pub quantity: u64,
    /// Entered value of the line, USD.
    pub entered_value: Cents,
    /// Country of origin (block 10), ISO alpha-2.
    pub origin_country: String,
    /// Exporting country (block 14), ISO alpha-2.
    pub export_country: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Declared Chapter 99 headings, normalised (`9903.88.02`).
    pub chapter99: Vec<String>,
    /// Duties paid on the line, when given.
    pub duties_paid: Option<Cents>,
    /// Manufacturer ID (block 13), optional.
    pub mid: Option<String>,
    /// Foreign port of lading (block 19; UN/LOCODE or country), optional.
    pub port_of_lading: Option<String>,
    /// Related-party flag (block 33C), optional.
    pub relationship: Option<String>,
    /// CBP found the goods transshipped to evade duties (the 40 % measure), optional.
    pub transshipment: bool,
    /// MPF paid for the entry, optional (any line of the entry; the first given is used).
    pub mpf_paid: Option<Cents>,
    /// HMF paid for the entry, optional.
    pub hmf_paid: Option<Cents>,
    /// MPF + HMF paid for the entry, optional.
    pub fees_paid: Option<Cents>,
}

/// A row that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("row {row}{}, field {field}: {message}", entry_suffix(.entry_number, .line))]
#[non_exhaustive]
pub struct RowError {
    /// 1-based data row.
    pub row: u64,
    /// The entry number, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_number: Option<String>,
    /// The line number, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The field at fault (`(row)` for the row as a whole).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn entry_suffix(entry: &Option<String>, line: &Option<u32>) -> String {
    match (entry, line) {
        (Some(e), Some(l)) => format!(" (entry {e} line {l})"),
        (Some(e), None) => format!(" (entry {e})"),
        _ => String::new(),
    }
}

impl RowError {
    /// An error about `field` of `row`.
    pub fn new(row: u64, field: &str, message: impl Into<String>) -> RowError {
        RowError {
            row,
            entry_number: None,
            line: None,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The same error about a line already read.
    pub fn at(l: &EntryLine, field: &str, message: impl Into<String>) -> RowError {
        RowError {
            row: l.row,
            entry_number: Some(l.entry_number.clone()),
            line: Some(l.line),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The columns every row must have (the input contract).
pub const REQUIRED: [&str; 14] = [
    "entry_number",
    "entry_date",
    "mode",
    "port",
    "line",
    "declared_hts",
    "description",
    "model",
    "quantity",
    "entered_value",
    "origin_country",
    "export_country",
    "manufacturer",
    "chapter99",
];

/// Optional columns the checks read.
pub const OPTIONAL: [&str; 8] = [
    "duties_paid",
    "mid",
    "port_of_lading",
    "relationship",
    "transshipment",
    "mpf_paid",
    "hmf_paid",
    "fees_paid",
];

/// Longest accepted field (a description is a few hundred bytes at most).
pub const MAX_FIELD: usize = 4096;

/// Most units on one line.
pub const MAX_QUANTITY: u64 = 10_000_000;

/// Every field [`parse_row`] reads: [`REQUIRED`] then [`OPTIONAL`]. Readers look a field up by
/// its index here, so a row costs no name comparisons.
const FIELDS: [&str; 22] = {
    let mut all = [""; 22];
    let mut i = 0;
    while i < REQUIRED.len() {
        all[i] = REQUIRED[i];
        i += 1;
    }
    let mut j = 0;
    while j < OPTIONAL.len() {
        all[REQUIRED.len() + j] = OPTIONAL[j];
        j += 1;
    }
    all
};

/// The index of `name` in [`FIELDS`] (evaluated at compile time for the names below; an
/// unknown name gives an index past the end, which every reader treats as an absent field).
const fn field(name: &str) -> usize {
    let mut i = 0;
    while i < FIELDS.len() {
        let f = FIELDS[i].as_bytes();
        let n = name.as_bytes();
        if f.len() == n.len() {
            let mut k = 0;
            while k < n.len() && f[k] == n[k] {
                k += 1;
            }
            if k == n.len() {
                return i;
            }
        }
        i += 1;
    }
    FIELDS.len()
}

/// `YYYY-MM-DD` read without chrono's format interpreter; anything else (or an impossible
/// date) goes to chrono, so the dates accepted are exactly those of `%Y-%m-%d`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let fast = if b.len() == 10 && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') {
        match (digits(0..4), digits(5..7), digits(8..10)) {
            (Some(y), Some(m), Some(d)) => i32::try_from(y)
                .ok()
                .and_then(|y| NaiveDate::from_ymd_opt(y, m, d)),
            _ => None,
        }
    } else {
        None
    };
    fast.or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
}

/// Read one row through `get` (field name → text, `None` when absent).
pub fn parse_row<'a>(row: u64, get: impl Fn(&str) -> Option<Cow<'a, str>>) -> Result<EntryLine, RowError> {
    parse_fields(row, |i| get(FIELDS.get(i)?))
}

/// [`parse_row`] with fields looked up by their index in [`FIELDS`].
fn parse_fields<'a>(row: u64, get: impl Fn(usize) -> Option<Cow<'a, str>>) -> Result<EntryLine, RowError> {
    let mut entry_number = None;
    let mut line_no = None;
    let err = |field: &str, msg: String, e: &Option<String>, l: &Option<u32>| RowError {
        row,
        entry_number: e.clone(),
        line: *l,
        field: field.to_owned(),
        message: msg,
    };
    // Every field passes here: absent, or present and at most MAX_FIELD bytes.
    macro_rules! bounded {
        ($name:expr) => {{
            match get(const { field($name) }) {
                Some(v) if v.len() > MAX_FIELD => {
                    return Err(err(
                        $name,
                        format!("longer than {MAX_FIELD} bytes"),
                        &entry_number,
                        &line_no,
                    ));
                }
                v => v,
            }
        }};
    }
    macro_rules! req {
        ($name:expr) => {{
            match bounded!($name) {
                None => {
                    return Err(err(
                        $name,
                        "missing (a required field)".into(),
                        &entry_number,
                        &line_no,
                    ));
                }
                Some(v) => v,
            }
        }};
    }
    macro_rules! nonempty {
        ($name:expr) => {{
            let v = req!($name);
            let t = v.trim();
            if t.is_empty() {
                return Err(err($name, "empty".into(), &entry_number, &line_no));
            }
            t.to_owned()
        }};
    }
    macro_rules! opt {
        ($name:expr) => {{
            match bounded!($name) {
                Some(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
                _ => None,
            }
        }};
    }
    macro_rules! money {
        ($name:expr, $text:expr) => {{ Cents::parse(&$text).map_err(|e| err($name, e.to_string(), &entry_number, &line_no))? }};
    }
    let en = nonempty!("entry_number");
    entry_number = Some(en.clone());
    let ln = nonempty!("line");
    let line = ln.parse::<u32>().ok().filter(|l| *l > 0).ok_or_else(|| {
        err(
            "line",
            format!("{ln:?} is not a positive line number"),
            &entry_number,
            &None,
        )
    })?;
    line_no = Some(line);
    let date_text = nonempty!("entry_date");
    let entry_date = parse_date(&date_text).ok_or_else(|| {
        err(
            "entry_date",
            format!("{date_text:?} is not an ISO date (YYYY-MM-DD)"),
            &entry_number,
            &line_no,
        )
    })?;
    let mode = nonempty!("mode").to_ascii_lowercase();
    let port = req!("port").trim().to_owned();
    let hts_text = nonempty!("declared_hts");
    let declared_hts = Hts::parse(&hts_text)
        .filter(|h| h.digits().len() >= 8)
        .ok_or_else(|| {
            err(
                "declared_hts",
                format!("{hts_text:?} is not an 8- or 10-digit HTS number"),
                &entry_number,
                &line_no,
            )
        })?;
    let description = req!("description").trim().to_owned();
    let model = req!("model").trim().to_owned();
    let q = nonempty!("quantity");
    let quantity = q
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_QUANTITY).contains(n))
        .ok_or_else(|| {
            err(
                "quantity",
                format!("{q:?} is not a whole number of units from 1 to {MAX_QUANTITY}"),
                &entry_number,
                &line_no,
            )
        })?;
    let entered_value = money!("entered_value", nonempty!("entered_value"));
    let country = |name: &str, v: String| -> Result<String, RowError> {
        let c = v.to_ascii_uppercase();
        if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(c)
        } else {
            Err(err(
                name,
                format!("{v:?} is not an ISO 3166 alpha-2 code"),
                &entry_number,
                &line_no,
            ))
        }
    };
    let origin_country = country("origin_country", nonempty!("origin_country"))?;
    let export_country = match req!("export_country").trim() {
        "" => String::new(),
        v => country("export_country", v.to_owned())?,
    };
    let manufacturer = req!("manufacturer").trim().to_owned();
    let mut chapter99 = Vec::new();
    for h in req!("chapter99")
        .split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match Hts::parse(h) {
            Some(x) if x.chapter() == "99" && x.digits().len() == 8 => chapter99.push(x.to_string()),
            _ => {
                return Err(err(
                    "chapter99",
                    format!("{h:?} is not a Chapter 99 heading (9903.xx.xx)"),
                    &entry_number,
                    &line_no,
                ));
            }
        }
    }
    let duties_paid = match opt!("duties_paid") {
        Some(v) => Some(money!("duties_paid", v)),
        None => None,
    };
    let transshipment = match opt!("transshipment").map(|s| s.to_ascii_lowercase()) {
        None => false,
        Some(v) if ["true", "yes", "1", "y"].contains(&v.as_str()) => true,
        Some(v) if ["false", "no", "0", "n"].contains(&v.as_str()) => false,
        Some(v) => {
            return Err(err(
                "transshipment",
                format!("{v:?} is not true or false"),
                &entry_number,
                &line_no,
            ));
        }
    };
    let fee = |name: &str, index: usize| -> Result<Option<Cents>, RowError> {
        match get(index) {
            Some(v) if !v.trim().is_empty() => Cents::parse(&v)
                .map(Some)
                .map_err(|e| err(name, e.to_string(), &entry_number, &line_no)),
            _ => Ok(None),
        }
    };
    let mpf_paid = fee("mpf_paid", const { field("mpf_paid") })?;
    let hmf_paid = fee("hmf_paid", const { field("hmf_paid") })?;
    let fees_paid = fee("fees_paid", const { field("fees_paid") })?;
    Ok(EntryLine {
        row,
        entry_number: en,
        entry_date,
        mode,
        port,
        line,
        declared_hts,
        description,
        model,
        quantity,
        entered_value,
        origin_country,
        export_country,
        manufacturer,
        chapter99,
        duties_paid,
        mid: opt!("mid"),
        port_of_lading: opt!("port_of_lading").map(|p| p.to_ascii_uppercase()),
        relationship: opt!("relationship"),
        transshipment,
        mpf_paid,
        hmf_paid,
        fees_paid,
    })
}

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// CSV with a header row.
    Csv,
    /// A JSON array of line objects, or JSON lines (one object per line).
    Json,
}

/// A reading failure that stops the whole input (not a bad row).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// I/O.
    #[error("reading the entries: {0}")]
    Io(#[from] std::io::Error),
    /// The CSV header is unusable.
    #[error("CSV header: {0}")]
    Header(String),
    /// A JSON array larger than the in-memory limit.
    #[error("a JSON array larger than {0} bytes: use CSV or JSON lines for large inputs")]
    TooLarge(u64),
    /// A JSON document that is not an array of objects.
    #[error("JSON: {0}")]
    Json(String),
}

/// Largest JSON array read into memory.
pub const MAX_JSON_ARRAY: u64 = 256 << 20;

/// Longest physical line accepted (bounds the memory one record can take).
pub const MAX_LINE: usize = 1 << 20;

/// A reader that fails when a line grows past [`MAX_LINE`]: a hostile file cannot make one
/// record take all memory.
struct LineBound<R> {
    inner: R,
    since_newline: usize,
}

impl<R: Read> Read for LineBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        // Only the bytes after the last newline count (one backward search, not a test per byte).
        match got.iter().rposition(|&b| b == b'\n') {
            Some(i) => self.since_newline = n - i - 1,
            None => self.since_newline += n,
        }
        if self.since_newline > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE} bytes"),
            ));
        }
        Ok(n)
    }
}

/// Rows in input order: a line, or the error of a row that could not be used.
pub type Row = Result<EntryLine, RowError>;

/// Reads rows one at a time (CSV and JSON lines stream; a JSON array is read whole).
pub struct EntryReader<R: Read> {
    inner: Inner<R>,
    row: u64,
}

enum Inner<R: Read> {
    Csv {
        rdr: csv::Reader<LineBound<R>>,
        /// (name, column, index in FIELDS), in header order.
        columns: Vec<(String, usize, usize)>,
        width: usize,
        rec: csv::ByteRecord,
    },
    JsonLines {
        rdr: BufReader<LineBound<R>>,
        buf: String,
        source: Option<R>,
    },
    JsonArray {
        items: std::vec::IntoIter<serde_json::Value>,
        source: Option<R>,
    },
}

fn json_get<'a>(obj: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<Cow<'a, str>> {
    match obj.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
        serde_json::Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        // A list of headings, as JSON users write them.
        serde_json::Value::Array(a) => Some(Cow::Owned(
            a.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(";"),
        )),
        serde_json::Value::Object(_) => Some(Cow::Borrowed("")),
    }
}

fn json_row(row: u64, v: &serde_json::Value) -> Row {
    match v.as_object() {
        Some(obj) => parse_row(row, |k| json_get(obj, k)),
        None => Err(RowError::new(row, "(row)", "not a JSON object")),
    }
}

impl<R: Read> EntryReader<R> {
    /// Start reading `r` as `format`.
    pub fn new(r: R, format: InputFormat) -> Result<EntryReader<R>, ReadError> {
        let bounded = LineBound {
            inner: r,
            since_newline: 0,
        };
        let inner = match format {
            InputFormat::Csv => {
                let mut rdr = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(bounded);
                let header = rdr
                    .byte_headers()
                    .map_err(|e| ReadError::Header(e.to_string()))?
                    .clone();
                let mut columns = Vec::new();
                for (i, h) in header.iter().enumerate() {
                    let h = h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h);
                    let name = std::str::from_utf8(h)
                        .map_err(|_| ReadError::Header(format!("column {} is not UTF-8", i + 1)))?
                        .trim();
                    if let Some(f) = FIELDS.iter().position(|f| *f == name) {
                        if columns.iter().any(|(n, _, _)| n == name) {
                            return Err(ReadError::Header(format!("column {name} appears twice")));
                        }
                        columns.push((name.to_owned(), i, f));
                    }
                    // Unknown extra columns are kept in the file and ignored here.
                }
                if columns.is_empty() {
                    return Err(ReadError::Header(
                        "none of the entry columns (entry_number, entry_date, …) is present".into(),
                    ));
                }
                Inner::Csv {
                    width: header.len(),
                    rdr,
                    columns,
                    rec: csv::ByteRecord::new(),
                }
            }
            InputFormat::Json => {
                let mut rdr = BufReader::new(bounded);
                let first = loop {
                    let buf = rdr.fill_buf()?;
                    match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                        Some(i) => {
                            let b = buf.get(i).copied();
                            rdr.consume(i);
                            break b;
                        }
                        None if buf.is_empty() => break None,
                        None => {
                            let n = buf.len();
                            rdr.consume(n);
                        }
                    }
                };
                if first == Some(b'[') {
                    let mut text = Vec::new();
                    // The whole array is parsed at once: bounded by MAX_JSON_ARRAY.
                    (&mut rdr).take(MAX_JSON_ARRAY + 1).read_to_end(&mut text)?;
                    if text.len() as u64 > MAX_JSON_ARRAY {
                        return Err(ReadError::TooLarge(MAX_JSON_ARRAY));
                    }
                    let v: Vec<serde_json::Value> =
                        serde_json::from_slice(&text).map_err(|e| ReadError::Json(e.to_string()))?;
                    Inner::JsonArray {
                        items: v.into_iter(),
                        source: Some(rdr.into_inner().inner),
                    }
                } else {
                    Inner::JsonLines {
                        rdr,
                        buf: String::new(),
                        source: None,
                    }
                }
            }
        };
        Ok(EntryReader { inner, row: 0 })
    }

    /// The next row, `Ok(None)` at the end; `Err` only for failures that stop the input.
    pub fn next_row(&mut self) -> Result<Option<Row>, ReadError> {
        match &mut self.inner {
            Inner::Csv {
                rdr,
                columns,
                width,
                rec,
            } => {
                match rdr.read_byte_record(rec) {
                    Ok(false) => return Ok(None),
                    Ok(true) => {}
                    Err(e) => {
                        if let csv::ErrorKind::Io(_) = e.kind() {
                            return Err(ReadError::Io(std::io::Error::other(e.to_string())));
                        }
                        self.row += 1;
                        return Ok(Some(Err(RowError::new(
                            self.row,
                            "(row)",
                            format!("broken CSV row: {e}"),
                        ))));
                    }
                }
                self.row += 1;
                let row = self.row;
                if rec.len() != *width {
                    return Ok(Some(Err(RowError::new(
                        row,
                        "(row)",
                        format!("broken CSV row: {} fields, the header has {width}", rec.len()),
                    ))));
                }
                // Each column read is checked as UTF-8 once, in header order (the first bad
                // one is named), and then borrowed from the record.
                let mut fields: [Option<&str>; FIELDS.len()] = [None; FIELDS.len()];
                for (name, i, f) in columns.iter() {
                    match std::str::from_utf8(rec.get(*i).unwrap_or_default()) {
                        Ok(text) => {
                            if let Some(slot) = fields.get_mut(*f) {
                                *slot = Some(text);
                            }
                        }
                        Err(_) => return Ok(Some(Err(RowError::new(row, name, "not UTF-8")))),
                    }
                }
                Ok(Some(parse_fields(row, |f| {
                    fields.get(f).copied().flatten().map(Cow::Borrowed)
                })))
            }
            Inner::JsonLines { rdr, buf, .. } => loop {
                buf.clear();
                if rdr.read_line(buf)? == 0 {
                    return Ok(None);
                }
                if buf.trim().is_empty() {
                    continue;
                }
                self.row += 1;
                let row = self.row;
                return Ok(Some(match serde_json::from_str::<serde_json::Value>(buf) {
                    Ok(v) => json_row(row, &v),
                    Err(e) => Err(RowError::new(row, "(row)", format!("not JSON: {e}"))),
                }));
            },
            Inner::JsonArray { items, .. } => match items.next() {
                None => Ok(None),
                Some(v) => {
                    self.row += 1;
                    Ok(Some(json_row(self.row, &v)))
                }
            },
        }
    }

    /// The underlying reader, once the rows are read (to finish a hash, say).
    pub fn into_inner(self) -> Option<R> {
        match self.inner {
            Inner::Csv { rdr, .. } => Some(rdr.into_inner().inner),
            Inner::JsonLines { rdr, source, .. } => source.or(Some(rdr.into_inner().inner)),
            Inner::JsonArray { source, .. } => source,
        }
    }
}

/// Read every row of `bytes` (tests, fuzzing, small inputs).
pub fn read_all(bytes: &[u8], format: InputFormat) -> Result<Vec<Row>, ReadError> {
    let mut r = EntryReader::new(bytes, format)?;
    let mut rows = Vec::new();
    while let Some(row) = r.next_row()? {
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "entry_number,entry_date,mode,port,line,declared_hts,description,model,quantity,entered_value,origin_country,export_country,manufacturer,chapter99,duties_paid,extra";

    #[test]
    fn a_good_row_and_bad_rows_each_name_their_field() {
        let csv = format!(
            "{HEADER}\n\
             E1,2025-04-15,ocean,2704,1,8543.70.9860,Antminer,U3S21EXPH,1,19625,CN,CN,Bitmain,9903.88.02;9903.01.24,,x\n\
             E2,2025-04-15,ocean,2704,1,8543.70.9860,Antminer,U3S21EXPH,1,-5,CN,CN,Bitmain,,,x\n\
             E3,2025-13-01,ocean,2704,1,8543.70.9860,Antminer,U3S21EXPH,1,5,CN,CN,Bitmain,,,x\n\
             E4,2025-04-15,ocean,2704,1,8543.70.9860,Antminer\n\
             E5,2025-04-15,ocean,2704,1,84,Antminer,U3S21EXPH,1,5,CN,CN,Bitmain,,,x\n"
        );
        let rows = read_all(csv.as_bytes(), InputFormat::Csv).unwrap();
        assert_eq!(rows.len(), 5);
        let l = rows[0].as_ref().unwrap();
        assert_eq!(l.entered_value, Cents(1_962_500));
        assert_eq!(l.chapter99, ["9903.88.02", "9903.01.24"]);
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!((e.row, e.field.as_str()), (2, "entered_value"));
        assert!(e.message.contains("negative"), "{e}");
        assert_eq!(rows[2].as_ref().unwrap_err().field, "entry_date");
        let e = rows[3].as_ref().unwrap_err();
        assert_eq!((e.row, e.field.as_str()), (4, "(row)"));
        assert_eq!(rows[4].as_ref().unwrap_err().field, "declared_hts");
        assert!(
            e.to_string().starts_with("row 4, field (row): broken CSV row"),
            "{e}"
        );
    }

    #[test]
    fn dates_read_as_chrono_reads_them() {
        for t in [
            "2025-03-20",
            "2024-02-29",
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "0000-01-01",
            "2025-3-20",
            "+2025-03-20",
            "20250320",
            "2025-03-2x",
            "2025/03/20",
            "",
        ] {
            assert_eq!(
                parse_date(t),
                NaiveDate::parse_from_str(t, "%Y-%m-%d").ok(),
                "{t:?}"
            );
        }
        assert!(FIELDS.iter().enumerate().all(|(i, f)| field(f) == i));
        assert_eq!(field("unknown"), FIELDS.len());
    }

    #[test]
    fn a_missing_column_is_an_error_naming_the_field() {
        let csv = "entry_number,entry_date,line\nE1,2025-01-01,1\n";
        let rows = read_all(csv.as_bytes(), InputFormat::Csv).unwrap();
        let e = rows[0].as_ref().unwrap_err();
        assert_eq!(e.field, "mode");
        assert!(e.to_string().contains("entry E1 line 1"), "{e}");
    }

    #[test]
    fn json_array_and_json_lines() {
        let obj = r#"{"entry_number":"E1","entry_date":"2026-03-01","mode":"air","port":"2720","line":1,"declared_hts":"8543.70.98.60","description":"miner","model":"S21","quantity":2,"entered_value":7000.5,"origin_country":"my","export_country":"MY","manufacturer":"Bitmain","chapter99":["9903.03.01"],"other":{"a":1}}"#;
        let rows = read_all(format!("[{obj}, 5]").as_bytes(), InputFormat::Json).unwrap();
        let l = rows[0].as_ref().unwrap();
        assert_eq!(
            (l.quantity, l.entered_value, l.origin_country.as_str()),
            (2, Cents(700_050), "MY")
        );
        assert_eq!(rows[1].as_ref().unwrap_err().field, "(row)");
        let rows = read_all(
            format!("{obj}\n\n{{broken\n{obj}\n").as_bytes(),
            InputFormat::Json,
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[1].is_err() && rows[2].is_ok());
    }
}
