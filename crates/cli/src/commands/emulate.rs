//! `hashward emulate`: serve emulated ASIC miners on loopback addresses until a signal, `--duration`, or
//! (worker mode) the end of stdin. A test peer for fleet scans; it records nothing in the case.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use hashward_emulator::shard::{self, MAX_LISTENERS_PER_WORKER, Sharded};
use hashward_emulator::{Fleet, GenerateOptions};

use crate::args::EmulateArgs;

pub fn run(a: &EmulateArgs) -> anyhow::Result<ExitCode> {
    if a.worker {
        // Errors were already reported to the parent on stdout; the exit status says the rest.
        return Ok(match shard::worker_main() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        });
    }
    let fleet = match (&a.fleet, a.count) {
        (Some(path), _) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Fleet::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        (None, Some(count)) => {
            anyhow::ensure!(
                a.base.is_loopback(),
                "--base {} is not a loopback address (127.0.0.0/8 only)",
                a.base
            );
            anyhow::ensure!(
                (0.0..=100.0).contains(&a.faulty),
                "--faulty takes a percentage (0-100)"
            );
            let f = Fleet::generate(&GenerateOptions {
                count,
                base: a.base,
                seed: a.seed,
                faulty_percent: a.faulty,
                exposures: a.exposures,
            });
            anyhow::ensure!(
                f.devices.len() == count,
                "--count {count} from {} runs out of 127.0.0.0/8",
                a.base
            );
            f
        }
        (None, None) => anyhow::bail!("give --fleet FILE or --count N"),
    };
    anyhow::ensure!(!fleet.devices.is_empty(), "the fleet has no devices");
    if let Some(path) = &a.manifest {
        let json = serde_json::to_string_pretty(&fleet.manifest())?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    let started = Instant::now();
    shard::raise_nofile_limit();
    let listeners = fleet.listener_count();
    // Small fleets run in this process; large ones are spread over worker processes, since one process may
    // hold only so many descriptors.
    let (_running, _workers, how) = if listeners <= MAX_LISTENERS_PER_WORKER {
        (
            Some(hashward_emulator::spawn(&fleet)?),
            None,
            "1 process".to_owned(),
        )
    } else {
        let exe = std::env::current_exe().context("locating the hashward binary for the workers")?;
        let s = Sharded::start(&fleet, &exe, &["emulate", "--worker"], MAX_LISTENERS_PER_WORKER)?;
        let n = s.workers();
        (None, Some(s), format!("{n} worker processes"))
    };
    let first = fleet.devices.first().map(|d| d.address);
    let last = fleet.devices.last().map(|d| d.address);
    if let (Some(first), Some(last)) = (first, last) {
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "hashward emulate: {} devices on {first}-{last} ready ({listeners} listeners, {how}, {:.1} s)",
            fleet.devices.len(),
            started.elapsed().as_secs_f64()
        )?;
    }
    shard::wait_for_stop(a.duration.map(Duration::from_secs))?;
    Ok(ExitCode::SUCCESS)
}
