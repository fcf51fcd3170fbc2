//! Shell CGI handlers and where request values reach commands.
//!
//! A small taint reading of each shell CGI, line by line, in order: the request is tainted
//! (`$QUERY_STRING`, and what `read` takes from standard input, the POST body); a variable
//! assigned from a tainted one is tainted. A tainted variable expanded **unquoted** in a
//! command is a sink: the shell splits and globs it, a leading `-` becomes an option, and
//! handlers that URL-decode `%3B`, `%7C`, `%24` first hand the shell `;`, `|` and `$` to
//! re-read wherever the value reaches `eval`, `sh -c` or backquotes (brief §4.4). A sink after
//! an anchored validation of the same variable that exits on failure is kept but marked
//! validated (the S17 handler), as are quoted uses, which are not sinks at all.

use serde::Serialize;

/// A request value reaching a command.
#[derive(Debug, Clone, Serialize)]
pub struct CgiSink {
    /// Path of the script in the output.
    pub file: String,
    /// Byte offset of the line.
    pub offset: u64,
    /// The line.
    pub line: String,
    /// The tainted variable.
    pub variable: String,
    /// The command it reaches.
    pub command: String,
    /// The handler decodes shell metacharacters (`%3B` `;`, `%7C` `|`, `%24` `$`, `%60`).
    pub decodes_metacharacters: bool,
    /// The value is validated with an anchored pattern (and the script exits otherwise) first.
    pub validated: bool,
    /// The value is re-read by a shell (`eval`, `sh -c`, backquotes): command injection as such.
    pub reevaluated: bool,
}

/// Whether `path` is a shell CGI handler.
pub(crate) fn is_cgi(path: &str, bytes: &[u8]) -> bool {
    (path.contains("cgi-bin/") || path.ends_with(".cgi")) && bytes.starts_with(b"#!") && {
        let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
        first.ends_with(b"sh") || memchr::memmem::find(first, b"sh ").is_some() || first.ends_with(b"sh\r")
    }
}

/// The sinks of one shell CGI.
pub(crate) fn sinks(path: &str, bytes: &[u8]) -> Vec<CgiSink> {
    let text = String::from_utf8_lossy(bytes);
    let decodes = ["%3B", "%3b", "%7C", "%7c", "%24", "%60"]
        .iter()
        .any(|m| text.contains(m));
    let mut tainted: Vec<String> = vec!["QUERY_STRING".into()];
    let mut validated: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut offset = 0u64;
    for raw in text.split_inclusive('\n').take(5000) {
        let at = offset;
        offset += raw.len() as u64;
        let line = raw.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        // `read -r VAR` / `read VAR`: the POST body.
        if let Some(rest) = line.strip_prefix("read ") {
            for w in rest.split_whitespace().filter(|w| !w.starts_with('-')) {
                push(&mut tainted, w);
            }
            continue;
        }
        // NAME=value: tainted if the value uses a tainted variable.
        if let Some((name, value)) = assignment(line) {
            if uses(value, &tainted).is_some() {
                push(&mut tainted, name);
            }
            continue;
        }
        // An anchored pattern check that exits on failure validates the variable.
        if (line.contains("grep -E") || line.contains("grep -q") || line.contains("expr "))
            && line.contains('^')
            && line.contains('$')
            && (line.contains("exit") || line.contains("then"))
        {
            if let Some(v) = uses(line, &tainted) {
                push(&mut validated, &v);
            }
            continue;
        }
        let reevaluated = line.starts_with("eval ") || line.contains("sh -c") || line.contains('`');
        for (var, quoted) in expansions(line) {
            if quoted || !tainted.contains(&var) {
                continue;
            }
            let command = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned();
            if [
                "echo", "printf", "[", "test", "if", "case", "for", "local", "export",
            ]
            .contains(&command.as_str())
            {
                continue;
            }
            out.push(CgiSink {
                file: path.to_owned(),
                offset: at,
                line: line.to_owned(),
                validated: validated.contains(&var),
                variable: var,
                command,
                decodes_metacharacters: decodes,
                reevaluated,
            });
            break;
        }
    }
    out
}

fn push(list: &mut Vec<String>, name: &str) {
    if list.len() < 256 && !list.iter().any(|v| v == name) {
        list.push(name.to_owned());
    }
}

/// `NAME=value` at the start of a line (with `local`/`export` allowed before it).
fn assignment(line: &str) -> Option<(&str, &str)> {
    let line = line
        .strip_prefix("local ")
        .or_else(|| line.strip_prefix("export "))
        .unwrap_or(line);
    let (name, value) = line.split_once('=')?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some((name, value))
}

/// The first tainted variable `text` expands, quoted or not.
fn uses(text: &str, tainted: &[String]) -> Option<String> {
    expansions(text)
        .into_iter()
        .map(|(v, _)| v)
        .find(|v| tainted.contains(v))
}

/// Every `$NAME` / `${NAME}` in a line, with whether it sits inside double quotes (single
/// quotes expand nothing).
fn expansions(line: &str) -> Vec<(String, bool)> {
    let b = line.as_bytes();
    let (mut out, mut i, mut dq, mut sq) = (Vec::new(), 0, false, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'\'' if !dq => sq = !sq,
            b'"' if !sq => dq = !dq,
            b'$' if !sq => {
                let start = i + 1;
                let (name_start, braced) = if b.get(start) == Some(&b'{') {
                    (start + 1, true)
                } else {
                    (start, false)
                };
                let mut j = name_start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j > name_start {
                    out.push((line[name_start..j].to_owned(), dq));
                    i = if braced { j } else { j - 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNQUOTED: &str = "#!/bin/sh\nread -r QUERY\nip=$(echo \"$QUERY\" | sed -e 's/%3B/;/g' -e 's/.*ip=//')\n\
echo \"Content-type: text/plain\"\nping ${ip} -c 6\ntraceroute $ip\n";

    #[test]
    fn a_request_value_reaching_ping_unquoted_is_a_sink() {
        let s = sinks("www/cgi-bin/network_diag.cgi", UNQUOTED.as_bytes());
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].command, "ping");
        assert_eq!(s[0].variable, "ip");
        assert!(s[0].decodes_metacharacters && !s[0].validated && !s[0].reevaluated);
        assert_eq!(s[0].line, "ping ${ip} -c 6");
    }

    #[test]
    fn quoted_uses_and_validated_values_are_told_apart() {
        let quoted = UNQUOTED
            .replace("ping ${ip}", "ping \"${ip}\"")
            .replace("traceroute $ip", "traceroute \"$ip\"");
        assert!(sinks("x.cgi", quoted.as_bytes()).is_empty());
        let checked = UNQUOTED.replace(
            "echo \"Content",
            "if ! echo \"$ip\" | grep -Eq '^[0-9.]+$'; then exit 1; fi\necho \"Content",
        );
        let s = sinks("x.cgi", checked.as_bytes());
        assert!(s.iter().all(|s| s.validated), "{s:?}");
        // Single quotes expand nothing; values not from the request are not tainted.
        assert!(
            sinks(
                "x.cgi",
                b"#!/bin/sh\nHOST=$(hostname)\nping $HOST\necho '$QUERY_STRING'\n"
            )
            .is_empty()
        );
        let e = sinks("x.cgi", b"#!/bin/sh\neval ping $QUERY_STRING\n");
        assert!(e[0].reevaluated);
    }

    #[test]
    fn cgi_scripts_are_recognised() {
        assert!(is_cgi("www/pages/cgi-bin/a.cgi", b"#!/bin/sh\n"));
        assert!(is_cgi("www/pages/cgi-bin/a", b"#!/bin/ash -e\n"));
        assert!(!is_cgi("www/pages/cgi-bin/a.cgi", b"\x7fELF"));
        assert!(!is_cgi("usr/bin/x.sh", b"#!/bin/sh\n"));
    }
}
