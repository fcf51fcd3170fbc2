//! Multi-process serving: a fleet too large for one process's open-file limit is split into shards, each
//! served by a worker process (the same binary re-executed in worker mode).
//!
//! Protocol: the parent writes the shard as one line of JSON on the worker's stdin and keeps stdin open;
//! the worker raises its soft `RLIMIT_NOFILE` to the hard limit, binds, and prints `ready N` (or
//! `error MESSAGE`) on stdout; it serves until its stdin reaches EOF, so workers end with the parent even
//! when the parent is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::error::EmulatorError;
use crate::fleet::Fleet;

/// Listeners per worker: a quarter of the 20,000 descriptors a process may hold here, so that
/// each worker has room for some 14,000 open connections. A real fleet has no shared limit —
/// every device serves its own connections — and clients such as asic-rs keep thousands of
/// hosts in flight at once; a tight per-process cap would make the emulator refuse what
/// devices accept.
pub const MAX_LISTENERS_PER_WORKER: usize = 5_000;

/// Raise the soft open-file limit to the hard limit; returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// Split a fleet into consecutive shards of at most `max_listeners` listeners each (at least one device
/// per shard).
pub fn split(fleet: &Fleet, max_listeners: usize) -> Vec<Fleet> {
    let mut shards = Vec::new();
    let mut cur = Fleet::default();
    let mut n = 0usize;
    for d in &fleet.devices {
        let k = d.ports().len();
        if !cur.devices.is_empty() && n + k > max_listeners {
            shards.push(std::mem::take(&mut cur));
            n = 0;
        }
        cur.devices.push(d.clone());
        n += k;
    }
    if !cur.devices.is_empty() {
        shards.push(cur);
    }
    shards
}

/// Worker processes serving a fleet.
#[derive(Debug)]
pub struct Sharded {
    workers: Vec<(Child, Option<ChildStdin>)>,
}

impl Sharded {
    /// Start one worker per shard (`exe` with `args`), hand each its shard and wait until every worker
    /// has bound its listeners.
    pub fn start(
        fleet: &Fleet,
        exe: &Path,
        args: &[&str],
        max_listeners: usize,
    ) -> Result<Sharded, EmulatorError> {
        fleet.validate()?;
        let mut sharded = Sharded { workers: Vec::new() };
        let shards = split(fleet, max_listeners.max(1));
        for (i, shard) in shards.iter().enumerate() {
            let mut child = Command::new(exe)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|source| EmulatorError::Io {
                    what: format!("start emulator worker {i} ({})", exe.display()),
                    source,
                })?;
            let mut stdin = child.stdin.take();
            let line = serde_json::to_string(shard).map_err(|e| EmulatorError::Worker {
                worker: i,
                message: format!("cannot encode the shard: {e}"),
            })?;
            if let Some(s) = stdin.as_mut() {
                s.write_all(line.as_bytes())
                    .and_then(|()| s.write_all(b"\n"))
                    .and_then(|()| s.flush())
                    .map_err(|source| EmulatorError::Io {
                        what: format!("send the shard to worker {i}"),
                        source,
                    })?;
            }
            sharded.workers.push((child, stdin));
        }
        // Wait for every worker in turn; they bind in parallel meanwhile.
        for i in 0..sharded.workers.len() {
            let Some(out) = sharded.workers[i].0.stdout.take() else {
                return Err(EmulatorError::Worker {
                    worker: i,
                    message: "no stdout".to_owned(),
                });
            };
            let mut reader = BufReader::new(out);
            let mut line = String::new();
            let _ = reader.by_ref().take(64 * 1024).read_line(&mut line);
            let line = line.trim();
            if line.starts_with("ready") {
                continue;
            }
            let message = line.strip_prefix("error ").unwrap_or(if line.is_empty() {
                "exited before it was ready"
            } else {
                line
            });
            return Err(EmulatorError::Worker {
                worker: i,
                message: message.to_owned(),
            });
        }
        Ok(sharded)
    }

    /// Number of worker processes.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Process ids of the workers.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|(c, _)| c.id()).collect()
    }

    /// Close the workers' stdin (they exit) and wait for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        for (_, stdin) in self.workers.iter_mut() {
            stdin.take();
        }
        for (child, _) in self.workers.iter_mut() {
            let _ = child.wait();
        }
        self.workers.clear();
    }
}

impl Drop for Sharded {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Block until SIGINT or SIGTERM arrives, or `limit` has elapsed (when given).
pub fn wait_for_stop(limit: Option<std::time::Duration>) -> Result<(), EmulatorError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| EmulatorError::Io {
            what: "start the signal runtime".to_owned(),
            source,
        })?;
    rt.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|source| {
                EmulatorError::Io {
                    what: "listen for SIGTERM".to_owned(),
                    source,
                }
            })?;
        let sleep = async {
            match limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            () = sleep => {}
        }
        Ok(())
    })
}

/// The worker side: read the shard from stdin, bind, report on stdout, serve until stdin's EOF.
pub fn worker_main() -> Result<(), EmulatorError> {
    raise_nofile_limit();
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    let mut line = String::new();
    // A shard of 12,000 listeners is a few MB of JSON; bound the read all the same.
    lock.by_ref()
        .take(512 * 1024 * 1024)
        .read_line(&mut line)
        .map_err(|source| EmulatorError::Io {
            what: "read the shard from stdin".to_owned(),
            source,
        })?;
    let report = |msg: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{msg}");
        let _ = out.flush();
    };
    let fleet: Fleet = match serde_json::from_str(&line) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("the shard is not valid JSON: {e}");
            report(&format!("error {msg}"));
            return Err(EmulatorError::FleetFile { message: msg });
        }
    };
    let running = match crate::spawn(&fleet) {
        Ok(r) => r,
        Err(e) => {
            // One line with the whole chain: the parent only sees this text.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            report(&format!("error {msg}"));
            return Err(e);
        }
    };
    report(&format!("ready {}", fleet.devices.len()));
    // Serve until the parent closes our stdin (or dies).
    let mut sink = [0u8; 4096];
    loop {
        match lock.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    running.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::GenerateOptions;

    #[test]
    fn split_respects_the_cap() {
        let f = Fleet::generate(&GenerateOptions {
            count: 1000,
            ..GenerateOptions::default()
        });
        let shards = split(&f, 700);
        assert!(shards.len() >= 3);
        assert_eq!(shards.iter().map(|s| s.devices.len()).sum::<usize>(), 1000);
        for s in &shards {
            assert!(s.listener_count() <= 700);
        }
        assert_eq!(shards[0].devices[0].address, f.devices[0].address);
    }
}
