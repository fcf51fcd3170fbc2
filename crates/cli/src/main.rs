//! The `hashward` binary: parse arguments, call the libraries, record the run, print, exit 0/1/2.

mod alloc;
mod args;
mod case;
mod commands;
mod output;
mod progress;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command, FailOn, FirmwareCmd, Format};

fn main() -> ExitCode {
    alloc::configure();
    match run() {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(io::stderr(), "hashward: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if cli.global.format == Some(Format::Cyclonedx)
        && !matches!(cli.command, Command::Firmware(FirmwareCmd::Inspect(_)))
    {
        // A usage error like clap's own: message, usage line, exit status 2.
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--format cyclonedx is only available for `hashward firmware inspect`",
            )
            .exit();
    }
    if cli.global.format == Some(Format::Geojson) && !matches!(cli.command, Command::Sites(_)) {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--format geojson is only available for `hashward sites assess`",
            )
            .exit();
    }
    init_tracing(cli.global.verbose, cli.global.quiet);
    let out = output::Output::new(cli.global.format, cli.global.quiet);
    let outcome = match &cli.command {
        Command::Firmware(cmd) => commands::firmware::run(cmd, &cli.global, &out)?,
        Command::Fleet(cmd) => commands::fleet::run(cmd, &cli.global, &out)?,
        Command::Traffic(cmd) => match commands::traffic::run(cmd, &cli.global, &out)? {
            Some(o) => o,
            None => return Ok(ExitCode::SUCCESS),
        },
        Command::Customs(cmd) => return commands::customs::run(cmd, &cli.global, &out),
        Command::Sites(cmd) => commands::sites::run(cmd, &cli.global, &out)?,
        Command::Case(cmd) => return commands::case::run(cmd, &cli.global, &out),
        Command::Demo(a) => commands::demo::run(a, &cli.global, &out)?,
        Command::Rules(a) => return commands::rules::run(a, &out),
        Command::Emulate(a) => return commands::emulate::run(a),
    };
    Ok(exit_code(outcome.worst, cli.global.fail_on))
}

/// The severity `--fail-on` names (`None` for `never`).
pub fn fail_threshold(fail_on: FailOn) -> Option<hashward_model::Severity> {
    use hashward_model::Severity;
    match fail_on {
        FailOn::Never => None,
        FailOn::Info => Some(Severity::Info),
        FailOn::Low => Some(Severity::Low),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::High => Some(Severity::High),
        FailOn::Critical => Some(Severity::Critical),
    }
}

/// 1 when the most severe finding reaches `--fail-on`, else 0.
fn exit_code(worst: Option<hashward_model::Severity>, fail_on: FailOn) -> ExitCode {
    match (fail_threshold(fail_on), worst) {
        (Some(t), Some(w)) if w >= t => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "hashward={level},hashward_firmware={level},hashward_fleet={level},hashward_store={level},hashward_sites={level}"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .without_time()
        .try_init();
}
