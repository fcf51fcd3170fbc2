//! The request log: every request any device received, classified, bounded, with counters past the cap.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// Entries kept; past this only the counters move.
pub const LOG_CAP: usize = 100_000;

/// What a request asks of the device.
///
/// The class is the request's, not the outcome's: an `addpool` refused with Code 45 is still
/// state-changing, because what a test proves is that a scanner never *sends* one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    /// Reads, probes (`version`, `privileged`, `check`), banners, unparsable input.
    Read,
    /// Issues a session or token without changing the device (LuxOS `logon`, Vnish `unlock`,
    /// Braiins `auth/login`).
    SessionCreating,
    /// Asks to change configuration or state (cgminer privileged writes, web POSTs, Whatsminer encrypted
    /// commands, Whatsminer v3 `set.*`, Avalon `ascset` set-operations…).
    StateChanging,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLog {
    /// The device that received it.
    pub address: Ipv4Addr,
    /// The port it came in on.
    pub port: u16,
    /// The command (`version`, `summary+pools`, `ascset|0,softoff`), `METHOD /path` for HTTP, or a short
    /// description (`ssh connection`).
    pub request: String,
    /// Its class.
    pub kind: RequestKind,
}

impl RequestLog {
    /// Whether the request asked to change the device.
    pub fn is_state_changing(&self) -> bool {
        self.kind == RequestKind::StateChanging
    }
}

/// Shared by every connection of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Log {
    entries: Mutex<Vec<RequestLog>>,
    total: AtomicUsize,
    state_changing: AtomicUsize,
    session_creating: AtomicUsize,
}

impl Log {
    pub(crate) fn record(&self, address: Ipv4Addr, port: u16, request: &str, kind: RequestKind) {
        self.total.fetch_add(1, Ordering::Relaxed);
        match kind {
            RequestKind::StateChanging => {
                self.state_changing.fetch_add(1, Ordering::Relaxed);
            }
            RequestKind::SessionCreating => {
                self.session_creating.fetch_add(1, Ordering::Relaxed);
            }
            RequestKind::Read => {}
        }
        // A poisoned lock only means another connection task panicked mid-push; the Vec is still valid.
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() < LOG_CAP {
            // Requests are client-chosen text: keep the log line short.
            let request: String = request.chars().take(200).collect();
            e.push(RequestLog {
                address,
                port,
                request,
                kind,
            });
        }
    }

    pub(crate) fn entries(&self) -> Vec<RequestLog> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub(crate) fn state_changing(&self) -> usize {
        self.state_changing.load(Ordering::Relaxed)
    }

    pub(crate) fn session_creating(&self) -> usize {
        self.session_creating.load(Ordering::Relaxed)
    }
}
