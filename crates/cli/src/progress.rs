//! A progress spinner on stderr for work that takes more than a second, on a terminal only.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows entries and bytes once a second has passed; invisible otherwise.
pub struct Spinner {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl Spinner {
    pub fn new(quiet: bool, what: &str) -> Spinner {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(what.to_owned());
            b
        });
        Spinner {
            bar,
            started: Instant::now(),
            shown: false.into(),
        }
    }

    /// Report entries and bytes so far.
    pub fn update(&self, entries: u64, bytes: u64) {
        let Some(b) = &self.bar else { return };
        if !self.shown.load(std::sync::atomic::Ordering::Relaxed)
            && self.started.elapsed() > Duration::from_secs(1)
        {
            self.shown.store(true, std::sync::atomic::Ordering::Relaxed);
            b.set_draw_target(ProgressDrawTarget::stderr());
            b.enable_steady_tick(Duration::from_millis(120));
        }
        if entries.is_multiple_of(64) {
            b.set_message(format!("{entries} entries, {}", crate::output::human(bytes)));
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
