//! Bidirectional TCP/UDP flow table with Zeek-style originator, counters and `conn_state`,
//! a hard cap on live flows and amortised idle eviction.
//!
//! Flows live in a slab indexed by a hashbrown map keyed by the canonical 5-tuple + VLAN,
//! hashed with foldhash (randomly seeded: the keys are attacker-chosen; SipHash's cost shows in
//! the research brief §1.5). Expiry uses a deadline wheel: every flow has one entry in a
//! `BTreeMap` bucket for the second of its deadline, written when the flow is created or
//! closed, never on ordinary packets. [`FlowTable::expire`] pops only buckets that are due and
//! re-files a flow whose deadline moved, so each flow costs O(1) per idle period, whatever the
//! table size. At the cap, the least recently seen 1/16 of the flows are evicted in one batch
//! (a linear selection, so O(16) amortised per new flow); the table never exceeds the cap.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use hashbrown::HashMap;

use crate::decode::{Decoded, L4, Tcp};

/// Bounds and timeouts of a [`FlowTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    /// Most live flows (default 1,000,000).
    pub max_flows: usize,
    /// A TCP flow silent this long is evicted (default 300 s).
    pub tcp_idle_us: i64,
    /// A UDP flow silent this long is evicted (default 60 s).
    pub udp_idle_us: i64,
    /// A closed TCP flow (FIN both ways or a RST) is kept this long for late packets (5 s).
    pub closed_linger_us: i64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        Self {
            max_flows: 1_000_000,
            tcp_idle_us: 300_000_000,
            udp_idle_us: 60_000_000,
            closed_linger_us: 5_000_000,
        }
    }
}

/// Direction of a packet within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the originator.
    Orig,
    /// From the responder.
    Resp,
}

/// Why a flow left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvictReason {
    /// Silent longer than its idle timeout.
    Idle,
    /// Closed (FIN both ways or RST) and lingered, or replaced by a new SYN on the same ports.
    Closed,
    /// Pushed out because the table was full.
    Cap,
    /// End of the capture.
    End,
}

/// TCP state of one endpoint, as Zeek names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndState {
    /// Nothing sent.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK.
    SynAckSent,
    /// Sent data or ACKs without a handshake seen (mid-stream start).
    Partial,
    /// Handshake completed.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

impl EndState {
    fn inactive(self) -> bool {
        matches!(self, EndState::Inactive | EndState::Partial)
    }
}

/// TCP state of a flow: each endpoint's state and Zeek's history letters (first occurrence of
/// each: `S` SYN, `H` SYN-ACK, `A` pure ACK, `D` data, `F` FIN, `R` RST; upper case from the
/// originator, lower case from the responder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpState {
    /// The originator's state.
    pub orig: EndState,
    /// The responder's state.
    pub resp: EndState,
    /// The originator sent a SYN.
    pub orig_syn: bool,
    /// The responder sent a SYN-ACK.
    pub resp_synack: bool,
    seen: u16,
    hist: [u8; 12],
    hist_len: u8,
}

impl TcpState {
    /// Zeek's history string (first occurrence of each event).
    pub fn history(&self) -> &str {
        std::str::from_utf8(self.hist.get(..usize::from(self.hist_len)).unwrap_or_default()).unwrap_or("")
    }

    /// FIN seen both ways, or a RST.
    pub fn closed(&self) -> bool {
        self.orig == EndState::Reset
            || self.resp == EndState::Reset
            || (self.orig == EndState::Closed && self.resp == EndState::Closed)
    }

    fn note(&mut self, bit: u16, letter: u8) {
        if self.seen & bit == 0 {
            self.seen |= bit;
            if let Some(h) = self.hist.get_mut(usize::from(self.hist_len)) {
                *h = letter;
                self.hist_len += 1;
            }
        }
    }

    fn update(&mut self, dir: Dir, flags: u8, has_data: bool) {
        let (shift, case) = match dir {
            Dir::Orig => (0, 0),
            Dir::Resp => (6, 0x20),
        };
        let syn = flags & Tcp::SYN != 0;
        let ack = flags & Tcp::ACK != 0;
        let (me, other) = match dir {
            Dir::Orig => (&mut self.orig, &mut self.resp),
            Dir::Resp => (&mut self.resp, &mut self.orig),
        };
        if flags & Tcp::RST != 0 {
            *me = EndState::Reset;
        } else if syn {
            if *me == EndState::Inactive || *me == EndState::SynSent {
                *me = if ack {
                    EndState::SynAckSent
                } else {
                    EndState::SynSent
                };
            }
        } else if flags & Tcp::FIN != 0 {
            if *me != EndState::Reset {
                *me = EndState::Closed;
            }
        } else {
            match *me {
                EndState::Inactive => *me = EndState::Partial,
                // The third packet of the handshake (or data after it) establishes both ends.
                EndState::SynSent | EndState::SynAckSent
                    if matches!(
                        *other,
                        EndState::SynSent | EndState::SynAckSent | EndState::Established
                    ) =>
                {
                    *me = EndState::Established;
                    if *other != EndState::Established {
                        *other = EndState::Established;
                    }
                }
                _ => {}
            }
        }
        match dir {
            Dir::Orig if syn && !ack => self.orig_syn = true,
            Dir::Resp if syn && ack => self.resp_synack = true,
            _ => {}
        }
        let events = [
            (syn && !ack, 0, b'S'),
            (syn && ack, 1, b'H'),
            (
                !syn && ack && !has_data && flags & (Tcp::FIN | Tcp::RST) == 0,
                2,
                b'A',
            ),
            (has_data, 3, b'D'),
            (flags & Tcp::FIN != 0, 4, b'F'),
            (flags & Tcp::RST != 0, 5, b'R'),
        ];
        for (on, bit, letter) in events {
            if on {
                self.note(1 << (bit + shift), letter | case);
            }
        }
    }
}

/// One bidirectional flow with the caller's per-flow state `S`.
#[derive(Debug, Clone)]
pub struct Flow<S> {
    /// IP protocol (6 or 17).
    pub proto: u8,
    /// Originator address and port.
    pub orig: SocketAddr,
    /// Responder address and port.
    pub resp: SocketAddr,
    /// Originator MAC address, when the link layer has one.
    pub orig_mac: Option<[u8; 6]>,
    /// Responder MAC address, when the link layer has one.
    pub resp_mac: Option<[u8; 6]>,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Timestamp (µs) of the first packet.
    pub first_us: i64,
    /// Timestamp (µs) of the latest packet.
    pub last_us: i64,
    /// Frame number of the first packet.
    pub first_frame: u64,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// L4 payload bytes from the originator (as declared by the IP header).
    pub orig_bytes: u64,
    /// L4 payload bytes from the responder.
    pub resp_bytes: u64,
    /// IP bytes from the originator (Zeek's `orig_ip_bytes`).
    pub orig_ip_bytes: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// TCP endpoint states and history (default for UDP).
    pub tcp: TcpState,
    /// The caller's per-flow state.
    pub app: S,
}

impl<S> Flow<S> {
    /// Zeek's `conn_state`: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH.
    pub fn conn_state(&self) -> &'static str {
        use EndState::*;
        if self.proto != crate::decode::ipproto::TCP {
            return match (self.orig_pkts > 0, self.resp_pkts > 0) {
                (true, true) => "SF",
                (true, false) => "S0",
                (false, true) => "SHR",
                (false, false) => "OTH",
            };
        }
        let (o, r) = (self.tcp.orig, self.tcp.resp);
        if r == Reset {
            if matches!(o, SynSent | SynAckSent)
                || (o == Reset && self.orig_bytes == 0 && self.resp_bytes == 0)
            {
                "REJ"
            } else if o.inactive() {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if o == Reset {
            if !r.inactive() {
                "RSTO"
            } else if self.tcp.orig_syn && !self.tcp.resp_synack {
                "RSTOS0"
            } else {
                "OTH"
            }
        } else if o == Closed && r == Closed {
            "SF"
        } else if o == Closed {
            if r.inactive() { "SH" } else { "S2" }
        } else if r == Closed {
            if o.inactive() { "SHR" } else { "S3" }
        } else if o == SynSent && r == Inactive {
            "S0"
        } else if o == Established && r == Established {
            "S1"
        } else {
            "OTH"
        }
    }
}

/// Counters of a [`FlowTable`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows created.
    pub created: u64,
    /// Flows evicted as idle.
    pub evicted_idle: u64,
    /// Flows evicted after closing (including port reuse).
    pub evicted_closed: u64,
    /// Flows evicted by the cap.
    pub evicted_cap: u64,
    /// Flows still live at the end.
    pub evicted_end: u64,
    /// Of the closed evictions: a new SYN reused the ports of a closed flow.
    pub port_reuse: u64,
    /// Most flows live at once.
    pub peak: usize,
}

/// Canonical flow key: the lower endpoint first, so both directions find the same flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    proto: u8,
    vlan: Option<u16>,
}

#[derive(Debug)]
struct Slot<S> {
    flow: Flow<S>,
    key: Key,
    /// Second of the wheel bucket holding this flow's live entry.
    queued_sec: i64,
}

/// The flow table; see the module doc for its bounds.
#[derive(Debug)]
pub struct FlowTable<S> {
    limits: FlowLimits,
    map: HashMap<Key, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Slot<S>>>,
    /// Bumped whenever a slot is reused, so that stale wheel entries are recognised.
    gens: Vec<u32>,
    free: Vec<u32>,
    wheel: BTreeMap<i64, Vec<(u32, u32)>>,
    stats: FlowStats,
}

const SEC: i64 = 1_000_000;

impl<S: Default> FlowTable<S> {
    /// An empty table.
    pub fn new(limits: FlowLimits) -> Self {
        Self {
            limits: FlowLimits {
                max_flows: limits.max_flows.clamp(1, u32::MAX as usize),
                ..limits
            },
            map: HashMap::default(),
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            wheel: BTreeMap::new(),
            stats: FlowStats::default(),
        }
    }

    /// Looks up or creates the flow of a decoded packet (TCP/UDP; `None` for fragments without
    /// ports and other protocols), updates its counters and TCP state, and returns it with the
    /// packet's direction. `on_evict` receives flows pushed out by the cap or by port reuse.
    pub fn track(
        &mut self,
        ts_us: i64,
        frame: u64,
        d: &Decoded<'_>,
        on_evict: &mut dyn FnMut(Flow<S>, EvictReason),
    ) -> Option<(&mut Flow<S>, Dir)> {
        let (sport, dport, flags, proto) = match d.l4 {
            L4::Tcp(t) => (t.sport, t.dport, Some(t.flags), crate::decode::ipproto::TCP),
            L4::Udp { sport, dport, .. } => (sport, dport, None, crate::decode::ipproto::UDP),
            L4::Fragment { .. } | L4::Other { .. } => return None,
        };
        let a = (d.src, sport);
        let b = (d.dst, dport);
        let key = if a <= b {
            Key {
                lo: a,
                hi: b,
                proto,
                vlan: d.vlan,
            }
        } else {
            Key {
                lo: b,
                hi: a,
                proto,
                vlan: d.vlan,
            }
        };
        let fresh_syn = flags.is_some_and(|f| f & (Tcp::SYN | Tcp::ACK | Tcp::RST) == Tcp::SYN);
        let idx = match self.map.get(&key).copied() {
            Some(i) if fresh_syn && self.flow_closed(i) => {
                // Port reuse: the old connection is over, a new one starts.
                self.stats.port_reuse += 1;
                self.remove(i, EvictReason::Closed, on_evict);
                self.create(key, ts_us, frame, d, a, b, flags, on_evict)
            }
            Some(i) => i,
            None => self.create(key, ts_us, frame, d, a, b, flags, on_evict),
        };
        let linger = self.limits.closed_linger_us;
        let slot = self.slots.get_mut(idx as usize)?.as_mut()?;
        let f = &mut slot.flow;
        let dir = if f.orig == SocketAddr::new(a.0, a.1) {
            Dir::Orig
        } else {
            Dir::Resp
        };
        let payload = u64::from(d.l4_len);
        let (src_mac, dst_mac) = match dir {
            Dir::Orig => {
                f.orig_pkts += 1;
                f.orig_bytes += payload;
                f.orig_ip_bytes += u64::from(d.ip_bytes);
                (&mut f.orig_mac, &mut f.resp_mac)
            }
            Dir::Resp => {
                f.resp_pkts += 1;
                f.resp_bytes += payload;
                f.resp_ip_bytes += u64::from(d.ip_bytes);
                (&mut f.resp_mac, &mut f.orig_mac)
            }
        };
        // Cooked captures only know the sender's address: fill each side as it speaks.
        if src_mac.is_none() {
            *src_mac = d.src_mac;
        }
        if dst_mac.is_none() {
            *dst_mac = d.dst_mac;
        }
        f.last_us = f.last_us.max(ts_us);
        let mut requeue = None;
        if let Some(flags) = flags {
            let was_closed = f.tcp.closed();
            f.tcp.update(dir, flags, payload > 0);
            if !was_closed && f.tcp.closed() {
                requeue = Some(f.last_us.saturating_add(linger));
            }
        }
        if let Some(deadline) = requeue {
            // File the earlier, closed deadline; the old entry goes stale.
            let sec = deadline.div_euclid(SEC);
            slot.queued_sec = sec;
            let generation = self.gens.get(idx as usize).copied().unwrap_or(0);
            self.wheel.entry(sec).or_default().push((idx, generation));
        }
        let slot = self.slots.get_mut(idx as usize)?.as_mut()?;
        Some((&mut slot.flow, dir))
    }

    fn flow_closed(&self, idx: u32) -> bool {
        self.slots
            .get(idx as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.flow.tcp.closed())
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        key: Key,
        ts_us: i64,
        frame: u64,
        d: &Decoded<'_>,
        a: (IpAddr, u16),
        b: (IpAddr, u16),
        flags: Option<u8>,
        on_evict: &mut dyn FnMut(Flow<S>, EvictReason),
    ) -> u32 {
        if self.map.len() >= self.limits.max_flows {
            self.evict_batch(on_evict);
        }
        // Originator: SYN sender, SYN-ACK receiver, else the higher (ephemeral) port, else the
        // first sender.
        let src_orig = match flags {
            Some(f) if f & Tcp::SYN != 0 => f & Tcp::ACK == 0,
            _ if a.1 != b.1 => a.1 > b.1,
            _ => true,
        };
        let (o, r, om, rm) = if src_orig {
            (a, b, d.src_mac, d.dst_mac)
        } else {
            (b, a, d.dst_mac, d.src_mac)
        };
        let flow = Flow {
            proto: key.proto,
            orig: SocketAddr::new(o.0, o.1),
            resp: SocketAddr::new(r.0, r.1),
            orig_mac: om,
            resp_mac: rm,
            vlan: d.vlan,
            first_us: ts_us,
            last_us: ts_us,
            first_frame: frame,
            orig_pkts: 0,
            resp_pkts: 0,
            orig_bytes: 0,
            resp_bytes: 0,
            orig_ip_bytes: 0,
            resp_ip_bytes: 0,
            tcp: TcpState::default(),
            app: S::default(),
        };
        let deadline = ts_us.saturating_add(self.idle(key.proto));
        let sec = deadline.div_euclid(SEC);
        let slot = Slot {
            flow,
            key,
            queued_sec: sec,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = Some(slot);
                }
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.gens.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.gens.get(idx as usize).copied().unwrap_or(0);
        self.wheel.entry(sec).or_default().push((idx, generation));
        self.map.insert(key, idx);
        self.stats.created += 1;
        self.stats.peak = self.stats.peak.max(self.map.len());
        idx
    }

    fn idle(&self, proto: u8) -> i64 {
        if proto == crate::decode::ipproto::TCP {
            self.limits.tcp_idle_us
        } else {
            self.limits.udp_idle_us
        }
    }

    fn remove(&mut self, idx: u32, reason: EvictReason, on_evict: &mut dyn FnMut(Flow<S>, EvictReason)) {
        let Some(slot) = self.slots.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        self.map.remove(&slot.key);
        if let Some(g) = self.gens.get_mut(idx as usize) {
            *g = g.wrapping_add(1);
        }
        self.free.push(idx);
        match reason {
            EvictReason::Idle => self.stats.evicted_idle += 1,
            EvictReason::Closed => self.stats.evicted_closed += 1,
            EvictReason::Cap => self.stats.evicted_cap += 1,
            EvictReason::End => self.stats.evicted_end += 1,
        }
        on_evict(slot.flow, reason);
    }

    /// Evicts the least recently seen sixteenth of the flows (at least one).
    fn evict_batch(&mut self, on_evict: &mut dyn FnMut(Flow<S>, EvictReason)) {
        let mut live: Vec<(i64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.flow.last_us, i as u32)))
            .collect();
        let k = (self.limits.max_flows / 16).max(1).min(live.len());
        if k == 0 {
            return;
        }
        if k < live.len() {
            live.select_nth_unstable(k - 1);
        }
        live.truncate(k);
        live.sort_unstable();
        for (_, idx) in live {
            self.remove(idx, EvictReason::Cap, on_evict);
        }
    }

    /// Evicts flows idle past their timeout and closed flows past their linger. Costs O(due
    /// wheel entries), not O(table): call it every few thousand packets.
    pub fn expire(&mut self, now_us: i64, on_evict: &mut dyn FnMut(Flow<S>, EvictReason)) {
        let now_sec = now_us.div_euclid(SEC);
        while let Some(entry) = self.wheel.first_entry() {
            if *entry.key() >= now_sec {
                break;
            }
            let (sec, list) = entry.remove_entry();
            for (idx, generation) in list {
                if self.gens.get(idx as usize) != Some(&generation) {
                    continue;
                }
                let Some(slot) = self.slots.get(idx as usize).and_then(Option::as_ref) else {
                    continue;
                };
                if slot.queued_sec != sec {
                    continue; // superseded by a later filing
                }
                let closed = slot.flow.tcp.closed();
                let deadline = slot.flow.last_us.saturating_add(if closed {
                    self.limits.closed_linger_us
                } else {
                    self.idle(slot.flow.proto)
                });
                if deadline <= now_us {
                    let reason = if closed {
                        EvictReason::Closed
                    } else {
                        EvictReason::Idle
                    };
                    self.remove(idx, reason, on_evict);
                } else {
                    let sec = deadline.div_euclid(SEC);
                    if let Some(Some(s)) = self.slots.get_mut(idx as usize) {
                        s.queued_sec = sec;
                    }
                    self.wheel.entry(sec).or_default().push((idx, generation));
                }
            }
        }
    }

    /// End of input: every remaining flow goes to `on_evict` with [`EvictReason::End`], in the
    /// order they started.
    pub fn finish(mut self, on_evict: &mut dyn FnMut(Flow<S>, EvictReason)) {
        let mut live: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.flow.first_frame, i as u32)))
            .collect();
        live.sort_unstable();
        for (_, idx) in live {
            self.remove(idx, EvictReason::End, on_evict);
        }
    }

    /// Live flows.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no flow is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Entries in the expiry wheel (live and stale); for tests and diagnostics.
    pub fn wheel_entries(&self) -> usize {
        self.wheel.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::build::*;
    use crate::decode::{decode, linktype};

    const C: [u8; 4] = [10, 0, 0, 2];
    const P: [u8; 4] = [74, 84, 128, 158];

    type Evicted = Vec<(Flow<()>, EvictReason)>;

    struct T {
        table: FlowTable<()>,
        out: Evicted,
        frame: u64,
    }

    impl T {
        fn new(limits: FlowLimits) -> Self {
            Self {
                table: FlowTable::new(limits),
                out: Vec::new(),
                frame: 0,
            }
        }

        /// One TCP packet at `t` seconds from `from` to the other host.
        #[allow(clippy::too_many_arguments)]
        fn tcp(
            &mut self,
            t: i64,
            from: [u8; 4],
            to: [u8; 4],
            sport: u16,
            dport: u16,
            flags: u8,
            payload: &[u8],
        ) -> Dir {
            self.frame += 1;
            let frame = eth(
                0x0800,
                &ipv4_tcp((from, sport), (to, dport), 0, 0, flags, payload),
            );
            let d = decode(linktype::ETHERNET, &frame).unwrap();
            let out = &mut self.out;
            let (_, dir) = self
                .table
                .track(t * SEC, self.frame, &d, &mut |f, r| out.push((f, r)))
                .unwrap();
            dir
        }

        fn udp(&mut self, t: i64, sport: u16, dport: u16) {
            self.frame += 1;
            let mut ip = ipv4_tcp(([1, 1, 1, 1], 0), ([2, 2, 2, 2], 0), 0, 0, 0, b"");
            ip[9] = 17;
            ip.truncate(20);
            ip.extend_from_slice(&sport.to_be_bytes());
            ip.extend_from_slice(&dport.to_be_bytes());
            ip.extend_from_slice(&8u16.to_be_bytes());
            ip.extend_from_slice(&[0, 0]);
            ip[2..4].copy_from_slice(&28u16.to_be_bytes());
            let d = decode(linktype::RAW, &ip).unwrap();
            let out = &mut self.out;
            self.table
                .track(t * SEC, self.frame, &d, &mut |f, r| out.push((f, r)))
                .unwrap();
        }

        fn finish(self) -> Evicted {
            let mut out = self.out;
            self.table.finish(&mut |f, r| out.push((f, r)));
            out
        }
    }

    const S: u8 = Tcp::SYN;
    const SA: u8 = Tcp::SYN | Tcp::ACK;
    const A: u8 = Tcp::ACK;
    const PA: u8 = Tcp::PSH | Tcp::ACK;
    const FA: u8 = Tcp::FIN | Tcp::ACK;
    const R: u8 = Tcp::RST;
    const RA: u8 = Tcp::RST | Tcp::ACK;

    #[test]
    fn originator_rules() {
        let mut t = T::new(FlowLimits::default());
        // SYN sender.
        assert_eq!(t.tcp(0, C, P, 3333, 50000, S, b""), Dir::Orig);
        // SYN-ACK seen first: its receiver.
        assert_eq!(t.tcp(0, P, C, 3333, 50001, SA, b""), Dir::Resp);
        // Mid-stream: the higher port, even when the lower port speaks first.
        assert_eq!(t.tcp(0, P, C, 3333, 50002, PA, b"x"), Dir::Resp);
        // Same ports: the first sender.
        assert_eq!(t.tcp(0, P, C, 4000, 4000, PA, b"x"), Dir::Orig);
        let flows = t.finish();
        let origs: Vec<String> = flows.iter().map(|(f, _)| f.orig.to_string()).collect();
        assert_eq!(
            origs,
            [
                "10.0.0.2:3333",
                "10.0.0.2:50001",
                "10.0.0.2:50002",
                "74.84.128.158:4000"
            ]
        );
        assert!(flows.iter().all(|(_, r)| *r == EvictReason::End));
        assert_eq!(flows[0].0.resp_mac, Some([2, 0, 0, 0, 0, 2]));
    }

    #[test]
    fn counters_and_sf_history() {
        let mut t = T::new(FlowLimits::default());
        t.tcp(0, C, P, 50000, 3333, S, b"");
        t.tcp(0, P, C, 3333, 50000, SA, b"");
        t.tcp(0, C, P, 50000, 3333, A, b"");
        t.tcp(1, C, P, 50000, 3333, PA, b"hello");
        t.tcp(1, P, C, 3333, 50000, PA, b"world!!");
        t.tcp(2, C, P, 50000, 3333, FA, b"");
        t.tcp(2, P, C, 3333, 50000, FA, b"");
        t.tcp(2, C, P, 50000, 3333, A, b"");
        let flows = t.finish();
        let f = &flows[0].0;
        assert_eq!(
            (f.orig_pkts, f.resp_pkts, f.orig_bytes, f.resp_bytes),
            (5, 3, 5, 7)
        );
        assert_eq!((f.orig_ip_bytes, f.resp_ip_bytes), (5 * 40 + 5, 3 * 40 + 7));
        assert_eq!((f.first_us, f.last_us, f.first_frame), (0, 2 * SEC, 1));
        assert_eq!(f.conn_state(), "SF");
        assert_eq!(f.tcp.history(), "ShADdFf");
    }

    fn state(pkts: &[(bool, u8, &[u8])]) -> &'static str {
        let mut t = T::new(FlowLimits::default());
        for (from_client, flags, data) in pkts {
            if *from_client {
                t.tcp(0, C, P, 50000, 3333, *flags, data);
            } else {
                t.tcp(0, P, C, 3333, 50000, *flags, data);
            }
        }
        t.finish()[0].0.conn_state()
    }

    #[test]
    fn conn_states() {
        let (c, s) = (true, false);
        let hs: &[(bool, u8, &[u8])] = &[(c, S, b""), (s, SA, b""), (c, A, b"")];
        assert_eq!(state(&[(c, S, b"")]), "S0");
        assert_eq!(state(&[(c, S, b""), (c, S, b"")]), "S0");
        assert_eq!(state(hs), "S1");
        assert_eq!(state(&[(c, S, b""), (s, RA, b"")]), "REJ");
        assert_eq!(state(&[hs, &[(c, FA, b"")]].concat()), "S2");
        assert_eq!(state(&[hs, &[(s, FA, b"")]].concat()), "S3");
        assert_eq!(state(&[hs, &[(c, PA, b"x"), (c, R, b"")]].concat()), "RSTO");
        assert_eq!(state(&[hs, &[(s, R, b"")]].concat()), "RSTR");
        assert_eq!(state(&[(c, S, b""), (c, R, b"")]), "RSTOS0");
        assert_eq!(state(&[(s, SA, b""), (s, R, b"")]), "RSTRH");
        assert_eq!(state(&[(c, S, b""), (c, FA, b"")]), "SH");
        assert_eq!(state(&[(s, SA, b""), (s, FA, b"")]), "SHR");
        assert_eq!(state(&[(c, PA, b"x"), (s, PA, b"y")]), "OTH");
        assert_eq!(state(&[(c, PA, b"x"), (s, FA, b""), (c, FA, b"")]), "SF");
    }

    #[test]
    fn idle_and_closed_eviction() {
        let mut t = T::new(FlowLimits::default());
        t.tcp(0, C, P, 50000, 3333, S, b"");
        t.udp(0, 5353, 53);
        t.tcp(0, C, P, 50001, 3333, S, b"");
        t.tcp(0, P, C, 3333, 50001, RA, b"");
        t.table.expire(3 * SEC, &mut |_, _| panic!("nothing due yet"));
        let mut got = Vec::new();
        t.table
            .expire(10 * SEC, &mut |f, r| got.push((f.resp.port(), f.proto, r)));
        assert_eq!(got, [(3333, 6, EvictReason::Closed)]);
        got.clear();
        // Keep the first TCP flow alive: its deadline moves, the wheel re-files it.
        t.tcp(200, C, P, 50000, 3333, A, b"");
        t.table
            .expire(100 * SEC, &mut |f, r| got.push((f.resp.port(), f.proto, r)));
        assert_eq!(got, [(53, 17, EvictReason::Idle)]);
        got.clear();
        t.table
            .expire(400 * SEC, &mut |f, r| got.push((f.resp.port(), f.proto, r)));
        assert!(got.is_empty());
        t.table
            .expire(502 * SEC, &mut |f, r| got.push((f.resp.port(), f.proto, r)));
        assert_eq!(got, [(3333, 6, EvictReason::Idle)]);
        assert!(t.table.is_empty());
        let s = t.table.stats();
        assert_eq!(
            (s.created, s.evicted_idle, s.evicted_closed, s.peak),
            (3, 2, 1, 3)
        );
    }

    #[test]
    fn cap_evicts_oldest_batch_and_never_exceeds() {
        let max = 64;
        let mut t = T::new(FlowLimits {
            max_flows: max,
            ..FlowLimits::default()
        });
        for i in 0..1000u16 {
            t.tcp(i64::from(i), C, P, 10000 + i, 3333, S, b"");
            assert!(t.table.len() <= max);
        }
        let s = t.table.stats();
        assert_eq!(s.peak, max);
        assert_eq!(s.created, 1000);
        assert_eq!(s.evicted_cap as usize, 1000 - t.table.len());
        // The evicted ones are the oldest.
        let evicted: Vec<u16> = t.out.iter().map(|(f, _)| f.orig.port()).collect();
        assert_eq!(&evicted[..4], &[10000, 10001, 10002, 10003]);
        assert!(t.out.iter().all(|(_, r)| *r == EvictReason::Cap));
    }

    #[test]
    fn port_reuse_after_close_starts_a_new_flow() {
        let mut t = T::new(FlowLimits::default());
        t.tcp(0, C, P, 50000, 3333, S, b"");
        t.tcp(0, P, C, 3333, 50000, SA, b"");
        t.tcp(0, C, P, 50000, 3333, A, b"");
        t.tcp(1, C, P, 50000, 3333, FA, b"");
        t.tcp(1, P, C, 3333, 50000, FA, b"");
        // A retransmitted SYN of an open flow does not split it; a SYN after close does.
        t.tcp(2, C, P, 50000, 3333, S, b"");
        t.tcp(2, P, C, 3333, 50000, SA, b"");
        assert_eq!(t.out.len(), 1);
        assert_eq!(t.out[0].1, EvictReason::Closed);
        assert_eq!(t.out[0].0.conn_state(), "SF");
        assert_eq!(t.table.stats().port_reuse, 1);
        let rest = t.finish();
        assert_eq!(rest.last().unwrap().0.first_frame, 6);
        assert_eq!(rest.last().unwrap().0.tcp.history(), "Sh");
    }

    #[test]
    fn expire_cost_is_bounded_by_due_entries() {
        let mut t = T::new(FlowLimits::default());
        for i in 0..10_000u16 {
            t.tcp(0, C, P, 10000 + (i % 50000), 3333, S, b"");
        }
        // Frequent calls with nothing due touch no entry and leave the wheel as it was.
        let before = t.table.wheel_entries();
        for s in 0..250 {
            t.table.expire(s * SEC, &mut |_, _| panic!("nothing is due"));
        }
        assert_eq!(t.table.wheel_entries(), before);
        let mut n = 0;
        t.table.expire(302 * SEC, &mut |_, _| n += 1);
        assert_eq!(n, 10_000);
        assert_eq!(t.table.wheel_entries(), 0);
    }

    #[test]
    fn fragments_and_icmp_are_not_tracked() {
        let mut table: FlowTable<()> = FlowTable::new(FlowLimits::default());
        let mut ip = ipv4_tcp(([1, 1, 1, 1], 1), ([2, 2, 2, 2], 2), 0, 0, 0, b"");
        ip[9] = 1;
        let d = decode(linktype::RAW, &ip).unwrap();
        assert!(table.track(0, 1, &d, &mut |_, _| {}).is_none());
    }

    #[test]
    fn shared_bitcoin_mining_has_15_tcp_conversations() {
        let Some(dir) = crate::shared_traffic_dir() else {
            eprintln!("shared test captures not found; skipped");
            return;
        };
        let cap =
            crate::capture::Capture::open(&dir.join("bitcoin-mining.pcap"), &Default::default()).unwrap();
        let mut table: FlowTable<()> = FlowTable::new(FlowLimits::default());
        let mut flows = Vec::new();
        cap.for_each_packet(|p| {
            if let Ok(d) = decode(p.linktype, p.data) {
                table.track(p.ts_us, p.frame, &d, &mut |f, r| flows.push((f, r)));
                table.expire(p.ts_us, &mut |f, r| flows.push((f, r)));
            }
        })
        .unwrap();
        table.finish(&mut |f, r| flows.push((f, r)));
        let tcp: Vec<_> = flows.iter().filter(|(f, _)| f.proto == 6).collect();
        assert_eq!(tcp.len(), 15);
        let stratum = tcp
            .iter()
            .find(|(f, _)| f.orig.to_string() == "10.0.2.15:53288")
            .expect("the Stratum session Zeek flags");
        assert_eq!(stratum.0.resp.to_string(), "74.84.128.158:3333");
    }

    /// Throughput of capture framing + decode + flow tracking on ~200 MB of synthetic Ethernet/TCP
    /// (10,000 flows; a mix of ACKs and 1,000-byte segments). Run by hand:
    /// `cargo test --release -p hashward-traffic --lib -- --ignored --nocapture throughput`.
    #[test]
    #[ignore]
    fn throughput_capture_decode_flow() {
        use std::time::Instant;
        let payload = vec![b'x'; 1000];
        let mut bytes = Vec::with_capacity(210 << 20);
        bytes.extend_from_slice(&crate::capture::tests::pcap(false, false, 1, &[]));
        let mut n = 0u64;
        while bytes.len() < 200 << 20 {
            let flow = (n % 10_000) as u16;
            let data: &[u8] = if n % 5 < 2 { b"" } else { &payload };
            let (from, to, sport, dport) = if n.is_multiple_of(2) {
                (C, P, 20_000 + flow, 3333)
            } else {
                (P, C, 3333, 20_000 + flow)
            };
            let frame = eth(
                0x0800,
                &ipv4_tcp((from, sport), (to, dport), n as u32, 0, PA, data),
            );
            let ts = 1_700_000_000 + (n / 100_000) as u32;
            bytes.extend_from_slice(&ts.to_le_bytes());
            bytes.extend_from_slice(&((n % 100_000) as u32).to_le_bytes());
            bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&frame);
            n += 1;
        }
        let len = bytes.len() as f64;
        let cap = crate::capture::Capture::from_bytes(bytes, &Default::default()).unwrap();
        for round in 0..3 {
            let start = Instant::now();
            let stats = cap.for_each_packet(|_| {}).unwrap();
            let framing = start.elapsed().as_secs_f64();

            let start = Instant::now();
            let mut ok = 0u64;
            cap.for_each_packet(|p| ok += u64::from(decode(p.linktype, p.data).is_ok()))
                .unwrap();
            let decoding = start.elapsed().as_secs_f64();

            let start = Instant::now();
            let mut table: FlowTable<()> = FlowTable::new(FlowLimits::default());
            let mut evicted = 0u64;
            cap.for_each_packet(|p| {
                if let Ok(d) = decode(p.linktype, p.data) {
                    table.track(p.ts_us, p.frame, &d, &mut |_, _| evicted += 1);
                    if p.frame % 4096 == 0 {
                        table.expire(p.ts_us, &mut |_, _| evicted += 1);
                    }
                }
            })
            .unwrap();
            let flows = table.len();
            let all = start.elapsed().as_secs_f64();
            assert_eq!((stats.packets, ok, flows), (n, n, 10_000));
            eprintln!(
                "round {round}: {:.0} MB, {n} packets: framing {:.2} GB/s; +decode {:.2} GB/s ({:.1} ns/pkt); +flow {:.2} GB/s ({:.1} Mpps, {:.1} ns/pkt)",
                len / 1e6,
                len / framing / 1e9,
                len / decoding / 1e9,
                (decoding - framing) * 1e9 / n as f64,
                len / all / 1e9,
                n as f64 / all / 1e6,
                all * 1e9 / n as f64,
            );
        }
    }
}
