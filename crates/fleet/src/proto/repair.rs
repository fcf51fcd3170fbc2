//! Repairs for the malformed JSON real miner firmwares send on the cgminer API.
//!
//! Each repair is named after what a real firmware gets wrong (research brief §1.1): bmminer
//! joins sections as `}{` and writes `[,{`; btminer embeds raw newlines and writes `""temp0`;
//! Avalon writes bare `inf`/`nan`, a leading comma, and dangling commas; every firmware can be
//! cut off mid-reply. Repairs only ever apply to bytes outside string literals, so a pool URL
//! or worker name containing `}{` is left alone. The caller records which repairs were needed,
//! so a report can say the device's reply was not valid JSON as sent.

/// One kind of repair, named for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Repair {
    /// A raw control character (newline, tab) inside a string, escaped.
    ControlInString,
    /// `}{` between sections (bmminer), joined with a comma.
    MissingComma,
    /// `[,` or `{,` or a leading comma (bmminer, Avalon), dropped.
    LeadingComma,
    /// `,}` or `,]`, dropped.
    TrailingComma,
    /// `""key"` (btminer 2023-01-06), one quote dropped.
    DoubledQuote,
    /// A bare `inf`, `-inf` or `nan` number (Avalon), written as `null`.
    NonFiniteNumber,
    /// The reply ends early; open strings, arrays and objects closed.
    Truncated,
}

/// Parse `text` as JSON, repairing it if needed. Returns the value and the repairs applied, or
/// the parse error of the repaired text.
pub fn parse_lenient(text: &str) -> Result<(serde_json::Value, Vec<Repair>), serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok((v, Vec::new())),
        Err(first) => {
            let (fixed, repairs) = repair(text);
            if repairs.is_empty() {
                return Err(first);
            }
            serde_json::from_str(&fixed).map(|v| (v, repairs))
        }
    }
}

/// Rewrite `text` with every repair that applies; the list says which did.
pub fn repair(text: &str) -> (String, Vec<Repair>) {
    let mut out = String::with_capacity(text.len() + 16);
    let mut repairs = Vec::new();
    let note = |r: Repair, repairs: &mut Vec<Repair>| {
        if !repairs.contains(&r) {
            repairs.push(r);
        }
    };
    // Stack of open containers, for closing a truncated reply.
    let mut open: Vec<char> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            if escaped {
                escaped = false;
                out.push(c);
            } else if c == '\\' {
                escaped = true;
                out.push(c);
            } else if c == '"' {
                in_string = false;
                out.push(c);
            } else if (c as u32) < 0x20 {
                note(Repair::ControlInString, &mut repairs);
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                // `""key"`: an empty string directly followed by a name character is never
                // valid JSON; the firmware doubled the opening quote.
                if chars.get(i + 1) == Some(&'"')
                    && chars
                        .get(i + 2)
                        .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
                {
                    note(Repair::DoubledQuote, &mut repairs);
                    i += 1;
                }
                in_string = true;
                out.push('"');
            }
            '{' | '[' => {
                // `}{` / `]{` / `}[`: two values with nothing between them inside a container.
                if matches!(last_significant(&out), Some('}' | ']')) && !open.is_empty() {
                    note(Repair::MissingComma, &mut repairs);
                    out.push(',');
                }
                open.push(if c == '{' { '}' } else { ']' });
                out.push(c);
            }
            '}' | ']' => {
                if last_significant(&out) == Some(',') {
                    note(Repair::TrailingComma, &mut repairs);
                    trim_last_comma(&mut out);
                }
                if open.last() == Some(&c) {
                    open.pop();
                }
                out.push(c);
            }
            ',' => match last_significant(&out) {
                None | Some('[' | '{' | ',') => note(Repair::LeadingComma, &mut repairs),
                _ => out.push(','),
            },
            'i' | 'n' | '-' if starts_non_finite(&chars[i..]) => {
                let len = if c == '-' { 4 } else { 3 };
                note(Repair::NonFiniteNumber, &mut repairs);
                out.push_str("null");
                i += len;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    if in_string || !open.is_empty() {
        note(Repair::Truncated, &mut repairs);
        if escaped {
            out.pop();
        }
        if in_string {
            out.push('"');
        }
        // A reply cut after a key or a comma cannot be closed into valid JSON by brackets alone.
        match last_significant(&out) {
            Some(',') => trim_last_comma(&mut out),
            Some(':') => out.push_str("null"),
            _ => {}
        }
        while let Some(close) = open.pop() {
            out.push(close);
        }
    }
    (out, repairs)
}

fn last_significant(s: &str) -> Option<char> {
    s.chars().rev().find(|c| !c.is_whitespace())
}

fn trim_last_comma(s: &mut String) {
    let keep = s.trim_end().len();
    s.truncate(keep);
    if s.ends_with(',') {
        s.pop();
    }
}

/// `inf`, `-inf` or `nan` as a bare value (not part of a longer name such as `null`).
fn starts_non_finite(rest: &[char]) -> bool {
    let word: String = rest.iter().take(5).collect::<String>().to_ascii_lowercase();
    let bare = |len: usize| {
        rest.get(len)
            .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != '_')
    };
    (word.starts_with("inf") && bare(3))
        || (word.starts_with("nan") && bare(3))
        || (word.starts_with("-inf") && bare(4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixed(s: &str) -> (serde_json::Value, Vec<Repair>) {
        parse_lenient(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn valid_json_is_untouched() {
        let (v, r) = fixed(r#"{"a":[1,2],"b":"}{"}"#);
        assert_eq!(v, json!({"a":[1,2],"b":"}{"}));
        assert!(r.is_empty());
    }

    #[test]
    fn bmminer_joined_sections_and_leading_commas() {
        let (v, r) = fixed(r#"{"STATS":[{"a":1}{"b":2}],"x":[,{"c":3}]}"#);
        assert_eq!(v, json!({"STATS":[{"a":1},{"b":2}],"x":[{"c":3}]}));
        assert_eq!(r, [Repair::MissingComma, Repair::LeadingComma]);
    }

    #[test]
    fn trailing_commas_and_a_leading_comma_at_the_start() {
        let (v, r) = fixed(r#",{"a":1,"b":[1,2,],}"#);
        assert_eq!(v, json!({"a":1,"b":[1,2]}));
        assert!(r.contains(&Repair::TrailingComma) && r.contains(&Repair::LeadingComma));
    }

    #[test]
    fn btminer_newlines_and_doubled_quotes() {
        let (v, r) = fixed("{\"Msg\":\"line one\nline two\",\"x\":{\"\"temp0\":41.5,\"e\":\"\"}}");
        assert_eq!(v["Msg"], "line one\nline two");
        assert_eq!(v["x"]["temp0"], 41.5);
        assert_eq!(v["x"]["e"], "");
        assert_eq!(r, [Repair::ControlInString, Repair::DoubledQuote]);
    }

    #[test]
    fn avalon_non_finite_numbers() {
        let (v, r) = fixed(r#"{"a":inf,"b":-inf,"c":nan,"d":null,"e":"inf"}"#);
        assert_eq!(v, json!({"a":null,"b":null,"c":null,"d":null,"e":"inf"}));
        assert_eq!(r, [Repair::NonFiniteNumber]);
    }

    #[test]
    fn truncated_replies_are_closed() {
        for cut in [
            r#"{"STATUS":[{"STATUS":"S","Msg":"Summ"#,
            r#"{"STATUS":[{"STATUS":"S"},"#,
            r#"{"STATUS":[{"STATUS":"S","Code":"#,
            r#"{"STATUS":[{"STATUS":"S","Msg":"a\"#,
        ] {
            let (v, r) = fixed(cut);
            assert_eq!(v["STATUS"][0]["STATUS"], "S", "{cut}");
            assert!(r.contains(&Repair::Truncated), "{cut}");
        }
    }

    #[test]
    fn garbage_stays_an_error() {
        for s in ["", "hello", "<html>", "{\"a\" 1}", "STATUS=S|"] {
            assert!(parse_lenient(s).is_err(), "{s}");
        }
    }

    #[test]
    fn every_prefix_of_a_reply_is_handled_without_panicking() {
        let full = r#"{"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary","Description":"cgminer 1.0.0"}],"SUMMARY":[{"GHS 5s":"110566.89","x":[1,2,{"y":"a,b}{"}]}],"id":1}"#;
        for n in 0..full.len() {
            let _ = parse_lenient(&full[..n]);
        }
    }
}
