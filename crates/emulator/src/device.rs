//! A running device: its spec, parsed access rules and the mutable state that writes change.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use crate::cgminer::{ApiAllow, ApiGroups};
use crate::fleet::DeviceSpec;

/// Most tokens, sessions or nonces a device remembers (oldest dropped first).
const MAX_TOKENS: usize = 64;

/// One pool as the device currently has it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolState {
    pub(crate) url: String,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) enabled: bool,
    pub(crate) priority: usize,
    pub(crate) quota: u32,
    /// LuxOS group index.
    pub(crate) group: usize,
}

impl PoolState {
    pub(crate) fn new(url: &str, user: &str, password: &str, priority: usize) -> PoolState {
        PoolState {
            url: url.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            enabled: true,
            priority,
            quota: 1,
            group: 0,
        }
    }
}

/// A LuxOS pool group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupState {
    pub(crate) name: String,
    pub(crate) quota: u32,
}

/// What writes change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) pools: Vec<PoolState>,
    pub(crate) groups: Vec<GroupState>,
    /// Current web/API password (changed by password writes).
    pub(crate) password: String,
    /// Mining or soft-off / powered off.
    pub(crate) mining: bool,
    /// LuxOS session id, if a `logon` is in force.
    pub(crate) session: Option<String>,
    /// Whatsminer v2 `get_token` answers `(time, newsalt)` still valid.
    pub(crate) wm_tokens: VecDeque<(String, String)>,
    /// Web bearer tokens issued (Vnish unlock, Braiins login).
    pub(crate) web_tokens: VecDeque<String>,
    /// Counter for tokens and nonces, so each differs.
    pub(crate) counter: u64,
    /// Whatsminer write switch (WhatsMinerTool).
    pub(crate) api_write: bool,
}

impl State {
    pub(crate) fn push_token(list: &mut VecDeque<String>, t: String) {
        if list.len() >= MAX_TOKENS {
            list.pop_front();
        }
        list.push_back(t);
    }

    pub(crate) fn push_wm_token(&mut self, t: (String, String)) {
        if self.wm_tokens.len() >= MAX_TOKENS {
            self.wm_tokens.pop_front();
        }
        self.wm_tokens.push_back(t);
    }

    /// A fresh token of `len` characters derived from the device and a counter: unpredictable enough for a
    /// test peer, and deterministic per device so tests can pin known-answer values.
    pub(crate) fn fresh(&mut self, seed: &str, len: usize) -> String {
        self.counter += 1;
        let h = crate::crypto::sha256(format!("{seed}:{}", self.counter).as_bytes());
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        h.iter()
            .cycle()
            .take(len)
            .enumerate()
            .map(|(i, b)| char::from(ALNUM[(usize::from(*b) + i * 7) % ALNUM.len()]))
            .collect()
    }
}

/// A device as served.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) spec: DeviceSpec,
    pub(crate) allow: ApiAllow,
    pub(crate) groups: ApiGroups,
    /// Epoch second the device "booted" (uptime, nonces).
    pub(crate) boot: u64,
    state: Mutex<State>,
}

impl Device {
    pub(crate) fn new(spec: DeviceSpec) -> Device {
        let mut spec = spec;
        spec.resolve();
        let mut groups: Vec<GroupState> = Vec::new();
        let mut pools = Vec::new();
        for (i, p) in spec.pools.iter().enumerate() {
            let gname = p.group.clone().unwrap_or_else(|| "default".to_owned());
            let g = match groups.iter().position(|g| g.name == gname) {
                Some(g) => g,
                None => {
                    groups.push(GroupState {
                        name: gname,
                        quota: p.quota.unwrap_or(1),
                    });
                    groups.len() - 1
                }
            };
            if let Some(q) = p.quota {
                groups[g].quota = q;
            }
            let mut ps = PoolState::new(&p.url, &p.user, &p.password, i);
            ps.group = g;
            ps.quota = p.quota.unwrap_or(1);
            pools.push(ps);
        }
        if groups.is_empty() {
            groups.push(GroupState {
                name: "default".to_owned(),
                quota: 1,
            });
        }
        let state = State {
            pools,
            groups,
            password: spec.password().to_owned(),
            mining: true,
            session: None,
            wm_tokens: VecDeque::new(),
            web_tokens: VecDeque::new(),
            counter: 0,
            api_write: spec.api_write,
        };
        Device {
            allow: ApiAllow::parse(&spec.api_allow),
            groups: ApiGroups::parse(&spec.api_groups),
            boot: crate::cgminer::now().saturating_sub(50_000 + u64::from(spec.address.octets()[3]) * 97),
            spec,
            state: Mutex::new(state),
        }
    }

    /// The mutable state. Critical sections are short and never await.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a task panicked while holding it; the state is plain data, keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds since boot.
    pub(crate) fn uptime(&self) -> u64 {
        crate::cgminer::now().saturating_sub(self.boot)
    }

    /// A per-device pseudo-random number in [0, 1) for `salt`, stable across calls.
    pub(crate) fn jitter(&self, salt: &str) -> f64 {
        let h = crate::crypto::sha256(format!("{}:{salt}", self.spec.address).as_bytes());
        f64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]])) / f64::from(u32::MAX)
    }

    /// Hashrate in GH/s with a small stable per-device wobble for `salt`.
    pub(crate) fn ghs(&self, salt: &str) -> f64 {
        if !self.lock().mining {
            return 0.0;
        }
        let g = self.spec.hashrate_ths * 1000.0 * (0.985 + 0.03 * self.jitter(salt));
        (g * 100.0).round() / 100.0
    }
}
