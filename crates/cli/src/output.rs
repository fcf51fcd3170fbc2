//! Printing the output contract: text for people, one JSON envelope, or JSON lines.

use std::io::{self, IsTerminal, Write};

use hashward_model::{Envelope, EnvelopeRef, Finding, ResultParts};

use crate::args::Format;

/// Where and how results are printed.
pub struct Output {
    pub format: Format,
    pub quiet: bool,
}

impl Output {
    pub fn new(format: Option<Format>, quiet: bool) -> Output {
        let format = format.unwrap_or(if io::stdout().is_terminal() {
            Format::Text
        } else {
            Format::Json
        });
        Output { format, quiet }
    }

    /// Print `env`; `text` renders the command-specific part for people.
    pub fn emit(&self, env: &Envelope, text: &dyn Fn(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        self.emit_ref(&env.as_ref(), text)
    }

    /// Print a borrowed envelope (large results are written without being copied).
    pub fn emit_ref<R: ResultParts>(
        &self,
        env: &EnvelopeRef<'_, R>,
        text: &dyn Fn(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let stdout = io::stdout();
        let mut w = io::BufWriter::new(stdout.lock());
        match self.format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut w, env)?;
                writeln!(w)?;
            }
            Format::Jsonl => env.write_jsonl(&mut w)?,
            Format::Text => {
                text(&mut w)?;
                write_findings(&mut w, env.findings)?;
            }
            // main refuses the format for every command but `firmware inspect`, which prints
            // its SBOM itself; reaching here is a wiring mistake, reported rather than ignored.
            Format::Cyclonedx => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--format cyclonedx is only available for `hashward firmware inspect`",
                ));
            }
            // Likewise `sites assess` writes its map itself.
            Format::Geojson => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--format geojson is only available for `hashward sites assess`",
                ));
            }
        }
        w.flush()
    }
}

/// Findings for people, most severe first.
pub fn write_findings(w: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(w, "\nno findings");
    }
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
    writeln!(w, "\nfindings ({}):", findings.len())?;
    for f in sorted {
        writeln!(
            w,
            "  {:<8} {}  {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.message
        )?;
    }
    Ok(())
}

/// `1.2 MiB` style sizes.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(10), "10 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
