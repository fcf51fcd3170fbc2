//! What one pass over the packets observes: per-flow application state (which protocol a flow
//! speaks, its reassembled streams, its Stratum session) and the bounded aggregates the
//! detections read afterwards (DNS, TLS, HTTP, management access, connection summaries).
//!
//! A flow's protocol is decided once, from the first payload either side sends. HTTP flows are
//! read up to their first request and response (the head is what the detections use); TLS up to
//! the ClientHello; Stratum and the cgminer API to the end.
//!
//! Everything here is sized by the flow cap and by explicit per-aggregate caps, never by the
//! capture: a capture with more distinct names, sessions or connections than a cap keeps the
//! first ones and counts the rest in `dropped`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;

use crate::decode::Tcp;
use crate::flow::{Dir, EvictReason, Flow};
use crate::lines::{Line, LineSplitter};
use crate::proto::{dns, http, mgmt, stratum, sv2, tls};
use crate::reassembly::{Chunk, Reassembler, StreamLimits};

/// Where something was seen: which input, which frame, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct At {
    /// Index of the input (capture) in the order given.
    pub input: u16,
    /// 1-based frame number in that input.
    pub frame: u64,
    /// Time of the frame, µs since the epoch.
    pub ts_us: i64,
}

/// Caps on what the observation keeps.
#[derive(Debug, Clone, Copy)]
pub struct ObserveLimits {
    /// Longest line kept whole for the line protocols.
    pub max_line: usize,
    /// Bytes buffered per direction to parse a TLS ClientHello, an HTTP head or an API request.
    pub max_head: usize,
    /// Connection summaries kept for beacon scoring.
    pub max_conns: usize,
    /// Distinct keys per aggregate (DNS names per client and resolver, TLS names, destinations…).
    pub max_keys: usize,
    /// Stratum sessions kept.
    pub max_sessions: usize,
    /// TCP reassembly limits per direction.
    pub stream: StreamLimits,
}

impl Default for ObserveLimits {
    fn default() -> Self {
        ObserveLimits {
            max_line: 64 * 1024,
            max_head: 16 * 1024,
            max_conns: 4_000_000,
            max_keys: 1_000_000,
            max_sessions: 1_000_000,
            stream: StreamLimits::default(),
        }
    }
}

/// What a TCP flow speaks, decided from its first payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    /// No payload yet.
    #[default]
    Unknown,
    /// Stratum v1 (JSON lines).
    Stratum,
    /// HTTP/1.
    Http,
    /// TLS; after the ClientHello the rest is opaque.
    Tls,
    /// Plaintext Stratum V2 frames.
    Sv2,
    /// The client sent exactly 64 high-entropy bytes: a Noise act 1, if the server answers 234.
    MaybeNoise,
    /// Stratum V2 over Noise.
    Noise,
    /// The cgminer API.
    Api,
    /// SSH.
    Ssh,
    /// DNS over TCP.
    DnsTcp,
    /// Anything else.
    Other,
}

impl Kind {
    /// Payload of this kind is not looked at any more.
    fn opaque(self) -> bool {
        matches!(self, Kind::Other | Kind::Noise)
    }
}

/// One direction of a TCP flow that is still being read.
#[derive(Default)]
struct Side {
    re: Reassembler,
    lines: Option<LineSplitter>,
    head: Vec<u8>,
    done: bool,
    seen: bool,
    framer: Option<dns::TcpFramer>,
}

/// Per-flow application state, stored in the flow table.
#[derive(Default)]
pub struct App {
    kind: Kind,
    orig: Option<Box<Side>>,
    resp: Option<Box<Side>>,
    session: Option<Box<StratumSession>>,
    /// The input the flow was first seen in.
    input: Option<u16>,
    /// First payload bytes the originator sent (at most 128), for evidence.
    first_orig: Option<Box<[u8]>>,
    first_orig_at: Option<At>,
    sni: Option<Arc<str>>,
    host: Option<Arc<str>>,
    api: Option<Box<ApiSeen>>,
    banner: Option<Box<str>>,
    /// Chunks looked at without recognising the protocol.
    probes: u8,
}

/// A cgminer API request seen on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct ApiSeen {
    /// The commands.
    pub commands: Vec<String>,
    /// Whether any is privileged.
    pub privileged: bool,
    /// Whether any changes pools.
    pub changes_pools: bool,
    /// The request as sent (excerpt).
    pub request: String,
    /// The device's STATUS answer, `E`/`S` and code.
    pub status: Option<String>,
    /// Where the request was seen.
    pub at: At,
}

/// The transport of a Stratum session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// JSON lines in the clear.
    Plaintext,
    /// Inside TLS (stratum+ssl): only the name and the shape are visible.
    Tls,
    /// Stratum V2 frames in the clear.
    Sv2Plaintext,
    /// Stratum V2 over Noise.
    Sv2Noise,
    /// HTTP getwork / getblocktemplate.
    HttpGetwork,
}

/// A worker or wallet a session authorised.
#[derive(Debug, Clone, Serialize)]
pub struct UserSeen {
    /// `account.worker`, a wallet, or a login.
    pub user: String,
    /// Where.
    pub at: At,
    /// The line that carried it.
    pub excerpt: String,
}

/// A `client.reconnect` (or SV2 `Reconnect`) the pool sent.
#[derive(Debug, Clone, Serialize)]
pub struct ReconnectSeen {
    /// Host asked for (`None`: the current one).
    pub host: Option<String>,
    /// Port asked for (`None`: the current one).
    pub port: Option<u16>,
    /// Seconds to wait.
    pub wait_s: Option<u64>,
    /// Where.
    pub at: At,
    /// The line.
    pub excerpt: String,
}

/// One Stratum session: a TCP connection from a device to a pool.
#[derive(Debug, Clone, Serialize)]
pub struct StratumSession {
    /// The device (client) address.
    pub device: IpAddr,
    /// The device's source port.
    pub device_port: u16,
    /// The device's MAC, as seen in its frames.
    pub mac: Option<String>,
    /// The pool's address.
    pub pool: IpAddr,
    /// The pool's port.
    pub pool_port: u16,
    /// The pool's name: TLS SNI, or the DNS name the capture resolved to this address.
    pub pool_name: Option<String>,
    /// Transport.
    pub transport: Transport,
    /// `bitcoin`, `monero`, `ethereum`, `sv2` or `unknown`.
    pub dialect: &'static str,
    /// Miner software from `mining.subscribe`, `login` agent or SV2 SetupConnection.
    pub agent: Option<String>,
    /// Workers / wallets authorised, in order.
    pub users: Vec<UserSeen>,
    /// First packet.
    pub start: At,
    /// Last packet time, µs.
    pub end_us: i64,
    /// Whether the capture saw the subscribe (else it started mid-session).
    pub subscribed: bool,
    /// Shares submitted.
    pub submitted: u64,
    /// Shares the pool accepted.
    pub accepted: u64,
    /// Shares the pool rejected.
    pub rejected: u64,
    /// Jobs (`mining.notify` / `job`) received.
    pub notifies: u64,
    /// Last difficulty set.
    pub difficulty: Option<f64>,
    /// Extranonce changes.
    pub extranonce_changes: u64,
    /// Reconnects the pool sent.
    pub reconnects: Vec<ReconnectSeen>,
    /// `client.show_message` texts.
    pub messages: Vec<String>,
    /// Lines that did not parse as Stratum.
    pub bad_lines: u64,
    /// SV2 SetupConnection: vendor, hardware, firmware, device id.
    pub sv2_setup: Option<String>,
    /// Pending submit ids (not serialised).
    #[serde(skip)]
    pending: Vec<i64>,
}

impl StratumSession {
    fn add_user(&mut self, user: String, at: At, line: &[u8]) {
        if self.users.last().is_some_and(|u| u.user == user) || self.users.len() >= 16 {
            return;
        }
        self.users.push(UserSeen {
            user,
            at,
            excerpt: excerpt(line),
        });
    }

    fn line(&mut self, dir: Dir, line: &Line<'_>, at: At) {
        use stratum::Message as M;
        let msg = match stratum::parse_line(line.bytes) {
            Ok(m) => m,
            Err(_) => {
                if !line.bytes.iter().all(u8::is_ascii_whitespace) {
                    self.bad_lines += 1;
                }
                return;
            }
        };
        match msg {
            M::Subscribe { agent, .. } => {
                self.subscribed = true;
                if agent.is_some() {
                    self.agent = agent;
                }
                self.dialect = "bitcoin";
            }
            M::Authorize { user, .. } => {
                self.dialect = "bitcoin";
                self.add_user(user, at, line.bytes);
            }
            M::Login { login, agent, .. } => {
                self.subscribed = true;
                self.dialect = "monero";
                if agent.is_some() {
                    self.agent = agent;
                }
                self.add_user(login, at, line.bytes);
            }
            M::EthSubmitLogin { user, .. } => {
                self.subscribed = true;
                self.dialect = "ethereum";
                self.add_user(user, at, line.bytes);
            }
            M::Submit { id, user, .. } => {
                self.submitted += 1;
                if let stratum::Id::Num(n) = id {
                    if self.pending.len() >= 64 {
                        self.pending.remove(0);
                    }
                    self.pending.push(n);
                }
                // A share submitted for another worker than the one authorised is a switch too.
                if let Some(u) = user
                    && !u.is_empty()
                    && self.users.last().is_some_and(|l| l.user != u)
                {
                    self.add_user(u, at, line.bytes);
                }
            }
            M::Notify { .. } | M::Job => self.notifies += 1,
            M::SetDifficulty { difficulty } => self.difficulty = Some(difficulty),
            M::SetExtranonce { .. } => self.extranonce_changes += 1,
            M::Reconnect { host, port, wait_s } if self.reconnects.len() < 16 => {
                self.reconnects.push(ReconnectSeen {
                    host,
                    port,
                    wait_s,
                    at,
                    excerpt: excerpt(line.bytes),
                });
            }
            M::ShowMessage { text } if self.messages.len() < 8 => {
                self.messages.push(text.chars().take(256).collect());
            }
            M::Response { id, result, error } if dir == Dir::Resp => {
                if let stratum::Id::Num(n) = id
                    && let Some(i) = self.pending.iter().position(|p| *p == n)
                {
                    self.pending.swap_remove(i);
                    if matches!(result, stratum::ResultKind::True) && error.is_none() {
                        self.accepted += 1;
                    } else {
                        self.rejected += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

/// DNS seen for one (client, resolver, name).
#[derive(Debug, Clone, Serialize)]
pub struct DnsSeen {
    /// Query type of the first question.
    pub qtype: &'static str,
    /// Queries.
    pub queries: u64,
    /// Responses.
    pub responses: u64,
    /// Responses with an error code (NXDOMAIN…).
    pub errors: u64,
    /// Addresses answered (at most 16).
    pub answers: Vec<IpAddr>,
    /// The first message.
    pub first: At,
}

/// A TLS ClientHello seen for one (client, server, SNI).
#[derive(Debug, Clone, Serialize)]
pub struct TlsSeen {
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
    /// JA4 fingerprint.
    pub ja4: String,
    /// Connections.
    pub connections: u64,
    /// The first ClientHello.
    pub first: At,
}

/// An HTTP request seen for one (client, server, host, path).
#[derive(Debug, Clone, Serialize)]
pub struct HttpSeen {
    /// Method.
    pub method: String,
    /// User agent.
    pub user_agent: Option<String>,
    /// Requests.
    pub requests: u64,
    /// The request line and Host, as an excerpt.
    pub excerpt: String,
    /// The first request.
    pub first: At,
}

/// TCP connections from one client to one device's management port.
#[derive(Debug, Clone, Serialize)]
pub struct MgmtSeen {
    /// Connections.
    pub connections: u64,
    /// Connections that were answered (handshake completed or data both ways).
    pub established: u64,
    /// cgminer API requests seen (at most 8).
    pub api: Vec<ApiSeen>,
    /// First HTTP request line or SSH/telnet banner (excerpt).
    pub excerpt: Option<String>,
    /// The first connection.
    pub first: At,
    /// Its frames (first packet; first payload).
    pub frames: Vec<u64>,
}

/// Traffic from one device to one destination port.
#[derive(Debug, Clone, Serialize)]
pub struct DestSeen {
    /// Connections (flows).
    pub connections: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// The first connection.
    pub first: At,
    /// Last packet, µs.
    pub last_us: i64,
    /// First payload the device sent on the first connection (excerpt).
    pub excerpt: Option<String>,
}

/// One finished connection, for beacon scoring.
#[derive(Debug, Clone)]
pub struct ConnSummary {
    /// First packet, whole seconds.
    pub ts_s: i64,
    /// Originator.
    pub src: IpAddr,
    /// Responder.
    pub dst: IpAddr,
    /// Responder port.
    pub dport: u16,
    /// 6 TCP, 17 UDP.
    pub proto: u8,
    /// Originator IP bytes.
    pub orig_ip_bytes: u64,
    /// Never answered (S0, REJ…).
    pub failed: bool,
    /// The name the originator asked for: TLS SNI or HTTP Host.
    pub fqdn: Option<Arc<str>>,
    /// Where.
    pub at: At,
}

/// Counters of the pass.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Packets read.
    pub packets: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Frames that are not IP (ARP, LLDP…).
    pub non_ip: u64,
    /// Frames that did not decode.
    pub decode_errors: u64,
    /// IP fragments after the first.
    pub fragments: u64,
    /// TCP/UDP flows.
    pub flows: u64,
    /// Flows pushed out by the flow cap before they ended.
    pub flows_evicted_by_cap: u64,
    /// TCP bytes skipped over holes the reassembler could not fill.
    pub gap_bytes: u64,
    /// Observations not kept because a cap was reached.
    pub dropped: u64,
}

type Map<K, V> = foldhash::HashMap<K, V>;

/// Everything one pass keeps. Merged across worker threads.
#[derive(Default)]
pub struct Observations {
    /// Counters.
    pub counters: Counters,
    /// Finished Stratum sessions.
    pub sessions: Vec<StratumSession>,
    /// DNS by (client, resolver, name).
    pub dns: Map<(IpAddr, IpAddr, Arc<str>), DnsSeen>,
    /// Names answered for an address (last answer wins), for naming destinations.
    pub names: Map<IpAddr, Arc<str>>,
    /// TLS by (client, server, SNI).
    pub tls: Map<(IpAddr, SocketAddr, Arc<str>), TlsSeen>,
    /// HTTP by (client, server, host, path).
    pub http: Map<(IpAddr, SocketAddr, Arc<str>, Arc<str>), HttpSeen>,
    /// Management access by (client, device, port).
    pub mgmt: Map<(IpAddr, IpAddr, u16), MgmtSeen>,
    /// Destinations by (device, destination, port, proto).
    pub dests: Map<(IpAddr, IpAddr, u16, u8), DestSeen>,
    /// MAC per source address (first seen).
    pub macs: Map<IpAddr, [u8; 6]>,
    /// Connection summaries.
    pub conns: Vec<ConnSummary>,
    /// Earliest and latest packet time, µs.
    pub span: Option<(i64, i64)>,
    limits: ObserveLimits,
}

/// The ports whose access from outside the management network TRF-007 is about.
pub const MANAGEMENT_PORTS: [u16; 4] = [4028, 80, 22, 23];

impl Observations {
    /// Empty observations with these caps.
    pub fn new(limits: ObserveLimits) -> Observations {
        Observations {
            limits,
            ..Observations::default()
        }
    }

    /// Widen the time span.
    pub fn saw_time(&mut self, ts_us: i64) {
        self.span = Some(match self.span {
            Some((a, b)) => (a.min(ts_us), b.max(ts_us)),
            None => (ts_us, ts_us),
        });
    }

    /// Record a MAC for a source address.
    pub fn saw_mac(&mut self, ip: IpAddr, mac: Option<[u8; 6]>) {
        if let Some(m) = mac
            && !self.macs.contains_key(&ip)
            && self.macs.len() < self.limits.max_keys
        {
            self.macs.insert(ip, m);
        }
    }

    /// A UDP datagram of a tracked flow.
    pub fn udp(&mut self, flow: &mut Flow<App>, dir: Dir, sport: u16, dport: u16, payload: &[u8], at: At) {
        stamp(flow, at, payload, dir);
        if (sport == 53 || dport == 53)
            && let Ok(m) = dns::parse(payload)
        {
            {
                let (src, dst) = match dir {
                    Dir::Orig => (flow.orig.ip(), flow.resp.ip()),
                    Dir::Resp => (flow.resp.ip(), flow.orig.ip()),
                };
                // The resolver is the side on port 53, whichever way this datagram goes.
                let (client, resolver) = if dport == 53 { (src, dst) } else { (dst, src) };
                self.dns_message(client, resolver, &m, at);
            }
        }
    }

    fn dns_message(&mut self, client: IpAddr, resolver: IpAddr, m: &dns::DnsMessage, at: At) {
        let Some(q) = m.questions.first() else { return };
        let answers: Vec<IpAddr> = m
            .answers
            .iter()
            .filter_map(|a| match a.data {
                dns::AnswerData::A(v4) => Some(IpAddr::V4(v4)),
                dns::AnswerData::Aaaa(v6) => Some(IpAddr::V6(v6)),
                _ => None,
            })
            .collect();
        let (queries, responses) = if m.response { (0, 1) } else { (1, 0) };
        let error = m.response && m.rcode != 0;
        let qtype = dns::qtype_name(q.qtype);
        self.record_dns(
            client, resolver, &q.name, qtype, queries, responses, error, &answers, at,
        );
    }

    /// A TCP segment of a tracked flow.
    pub fn tcp(&mut self, flow: &mut Flow<App>, dir: Dir, t: &Tcp<'_>, at: At) {
        stamp(flow, at, t.payload, dir);
        if flow.app.kind.opaque() || (t.payload.is_empty() && t.flags & Tcp::FIN == 0) {
            return;
        }
        let limits = self.limits;
        let ctx = Ctx::of(flow);
        let app = &mut flow.app;
        let side = side_mut(app, dir);
        if side.done {
            return;
        }
        // The reassembler is taken out of the flow while it hands out chunks, so that the
        // chunk handler may borrow the rest of the flow's state; in-order data is not copied.
        let mut re = std::mem::replace(&mut side.re, Reassembler::new());
        re.segment(
            t.seq,
            t.flags,
            t.payload,
            at.frame,
            at.ts_us,
            &limits.stream,
            &mut |c| match c {
                Chunk::Data { bytes, frame, ts_us } => {
                    self.stream_data(app, dir, bytes, At { frame, ts_us, ..at }, false, &limits, ctx)
                }
                Chunk::Gap { .. } => self.stream_data(app, dir, &[], at, true, &limits, ctx),
            },
        );
        side_mut(app, dir).re = re;
    }
}

/// The flow's first-seen input and first originator payload, for evidence.
fn stamp(flow: &mut Flow<App>, at: At, payload: &[u8], dir: Dir) {
    let app = &mut flow.app;
    app.input.get_or_insert(at.input);
    if dir == Dir::Orig && app.first_orig.is_none() && !payload.is_empty() {
        app.first_orig = Some(payload[..payload.len().min(128)].into());
        app.first_orig_at = Some(at);
    }
}

/// The endpoints of the flow being read, copied out so that its state can be borrowed.
#[derive(Clone, Copy)]
struct Ctx {
    orig: SocketAddr,
    resp: SocketAddr,
    orig_mac: Option<[u8; 6]>,
    start: At,
}

impl Ctx {
    fn of(flow: &Flow<App>) -> Ctx {
        Ctx {
            orig: flow.orig,
            resp: flow.resp,
            orig_mac: flow.orig_mac,
            start: At {
                input: flow.app.input.unwrap_or(0),
                frame: flow.first_frame,
                ts_us: flow.first_us,
            },
        }
    }

    fn session(&self, transport: Transport, dialect: &'static str) -> StratumSession {
        StratumSession {
            device: self.orig.ip(),
            device_port: self.orig.port(),
            mac: self.orig_mac.map(mac_text),
            pool: self.resp.ip(),
            pool_port: self.resp.port(),
            pool_name: None,
            transport,
            dialect,
            agent: None,
            users: Vec::new(),
            start: self.start,
            end_us: self.start.ts_us,
            subscribed: false,
            submitted: 0,
            accepted: 0,
            rejected: 0,
            notifies: 0,
            difficulty: None,
            extranonce_changes: 0,
            reconnects: Vec::new(),
            messages: Vec::new(),
            bad_lines: 0,
            sv2_setup: None,
            pending: Vec::new(),
        }
    }
}

/// Shannon entropy of a byte string, bits per byte.
fn entropy(b: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &x in b {
        counts[x as usize] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn classify(bytes: &[u8], dir: Dir, resp_port: u16) -> Kind {
    if dir == Dir::Orig && tls::is_handshake_record(bytes) {
        return Kind::Tls;
    }
    if (dir == Dir::Orig && http::looks_like_request(bytes))
        || (dir == Dir::Resp && bytes.starts_with(b"HTTP/1."))
    {
        return Kind::Http;
    }
    if bytes.starts_with(b"SSH-") {
        return Kind::Ssh;
    }
    if resp_port == 53 {
        return Kind::DnsTcp;
    }
    if dir == Dir::Orig && matches!(mgmt::api_request(bytes), Ok(Some(_))) {
        return Kind::Api;
    }
    if resp_port == 4028 && dir == Dir::Resp && mgmt::api_status(bytes).is_some() {
        return Kind::Api;
    }
    // A capture that starts mid-session may cut the first line: look after its end too.
    let next_line = memchr::memchr(b'\n', bytes).and_then(|i| bytes.get(i + 1..));
    if stratum::looks_like_stratum(bytes) || next_line.is_some_and(stratum::looks_like_stratum) {
        return Kind::Stratum;
    }
    if dir == Dir::Orig && matches!(sv2::setup_connection(bytes), Ok(Some(_))) {
        return Kind::Sv2;
    }
    if dir == Dir::Orig && bytes.len() == sv2::NOISE_ACT1_LEN && entropy(bytes) > 5.0 {
        return Kind::MaybeNoise;
    }
    if resp_port == 23 && dir == Dir::Resp {
        return Kind::Ssh; // a telnet banner: kept like an SSH one
    }
    Kind::Other
}

impl Observations {
    #[allow(clippy::too_many_arguments)]
    fn stream_data(
        &mut self,
        app: &mut App,
        dir: Dir,
        bytes: &[u8],
        at: At,
        gap: bool,
        limits: &ObserveLimits,
        ctx: Ctx,
    ) {
        let resp_port = ctx.resp.port();
        let side_seen = match dir {
            Dir::Orig => app.orig.as_ref().is_some_and(|s| s.seen),
            Dir::Resp => app.resp.as_ref().is_some_and(|s| s.seen),
        };
        if gap {
            let side = side_mut(app, dir);
            if let Some(l) = side.lines.as_mut() {
                l.push(&Chunk::Gap { len: 0 }, &mut |_| {});
            }
            return;
        }
        if bytes.is_empty() {
            return;
        }
        if !side_seen {
            if app.kind == Kind::Unknown {
                let kind = classify(bytes, dir, resp_port);
                // A capture that starts mid-session may begin with the tail of a message: look
                // at a few more chunks before calling the flow opaque.
                if kind == Kind::Other && app.probes < 4 {
                    app.probes += 1;
                    return;
                }
                app.kind = kind;
            }
            side_mut(app, dir).seen = true;
            match app.kind {
                Kind::MaybeNoise if dir == Dir::Resp => {
                    app.kind = if bytes.len() == sv2::NOISE_ACT2_LEN {
                        Kind::Noise
                    } else {
                        Kind::Other
                    };
                    if app.kind == Kind::Noise {
                        app.session = Some(Box::new(ctx.session(Transport::Sv2Noise, "sv2")));
                    }
                    return;
                }
                _ => {}
            }
        }
        match app.kind {
            Kind::Stratum => {
                let session = app
                    .session
                    .get_or_insert_with(|| Box::new(ctx.session(Transport::Plaintext, "unknown")));
                session.end_us = session.end_us.max(at.ts_us);
                let side = side_slot(&mut app.orig, &mut app.resp, dir);
                let lines = side
                    .lines
                    .get_or_insert_with(|| LineSplitter::new(limits.max_line));
                let chunk = Chunk::Data {
                    bytes,
                    frame: at.frame,
                    ts_us: at.ts_us,
                };
                lines.push(&chunk, &mut |line| {
                    let at = At {
                        frame: line.last_frame,
                        ts_us: line.ts_us,
                        ..at
                    };
                    session.line(dir, &line, at);
                });
            }
            Kind::Tls => {
                if dir != Dir::Orig {
                    return;
                }
                let side = side_mut(app, dir);
                let head = extend_head(&mut side.head, bytes, limits.max_head);
                match tls::client_hello(head) {
                    Ok(Some(ch)) => {
                        let sni = ch.sni.clone();
                        side.done = true;
                        side.head = Vec::new();
                        if let Some(s) = sni.as_deref() {
                            app.sni = Some(Arc::from(s));
                        }
                        let name: Arc<str> = app.sni.clone().unwrap_or_else(|| Arc::from(""));
                        self.record_tls(ctx.orig.ip(), ctx.resp, name, &ch.alpn, &ch.ja4, at);
                        // A pool over TLS on a Stratum port: a session with what is visible.
                        if is_stratum_port(ctx.resp.port()) {
                            let mut s = ctx.session(Transport::Tls, "unknown");
                            s.pool_name = sni;
                            app.session = Some(Box::new(s));
                        }
                        app.kind = Kind::Other;
                    }
                    Ok(None) if head.len() < limits.max_head => {}
                    _ => {
                        side.done = true;
                        side.head = Vec::new();
                        app.kind = Kind::Other;
                    }
                }
            }
            Kind::Http => {
                let side = side_mut(app, dir);
                let head = extend_head(&mut side.head, bytes, limits.max_head);
                if dir == Dir::Orig {
                    match http::request(head) {
                        Ok(Some(req)) => {
                            side.done = true;
                            side.head = Vec::new();
                            if let Some(h) = req.host.as_deref() {
                                let host = h.rsplit_once(':').map_or(h, |(n, p)| {
                                    if p.bytes().all(|b| b.is_ascii_digit()) {
                                        n
                                    } else {
                                        h
                                    }
                                });
                                app.host = Some(Arc::from(host.to_ascii_lowercase().as_str()));
                            }
                            if req.mining_extensions.is_some() && app.session.is_none() {
                                let mut s = ctx.session(Transport::HttpGetwork, "bitcoin");
                                s.agent = req.user_agent.clone();
                                app.session = Some(Box::new(s));
                            }
                            let host: Arc<str> = app.host.clone().unwrap_or_else(|| Arc::from(""));
                            let (client, server) = (ctx.orig.ip(), ctx.resp);
                            let agent = req.user_agent.as_deref();
                            self.record_http(client, server, host, &req.path, &req.method, agent, at);
                        }
                        Ok(None) if head.len() < limits.max_head => {}
                        _ => {
                            side.done = true;
                            side.head = Vec::new();
                        }
                    }
                } else {
                    match http::response(head) {
                        Ok(None) if head.len() < limits.max_head => {}
                        _ => {
                            side.done = true;
                            side.head = Vec::new();
                        }
                    }
                }
            }
            Kind::Api => {
                let side = side_mut(app, dir);
                let head = extend_head(&mut side.head, bytes, 4096);
                if dir == Dir::Orig {
                    if let Ok(Some(req)) = mgmt::api_request(head) {
                        let api = ApiSeen {
                            commands: req.commands.clone(),
                            privileged: req.privileged,
                            changes_pools: req.changes_pools,
                            request: excerpt(head),
                            status: None,
                            at,
                        };
                        side.done = true;
                        side.head = Vec::new();
                        app.api = Some(Box::new(api));
                    } else if head.len() >= 4096 {
                        side.done = true;
                    }
                } else if let Some(st) = mgmt::api_status(head) {
                    side.done = true;
                    side.head = Vec::new();
                    let text = match st.code {
                        Some(c) => format!("{} {}: {}", st.status, c, st.msg),
                        None => format!("{}: {}", st.status, st.msg),
                    };
                    if let Some(a) = app.api.as_mut() {
                        a.status = Some(text);
                    }
                } else if head.len() >= 4096 {
                    side.done = true;
                }
            }
            Kind::Ssh => {
                let side = side_mut(app, dir);
                let head = extend_head(&mut side.head, bytes, 512);
                if let Some(end) = memchr::memchr(b'\n', head).or((head.len() >= 255).then_some(head.len())) {
                    let line = String::from_utf8_lossy(&head[..end]).trim_end().to_string();
                    side.done = true;
                    side.head = Vec::new();
                    if app.banner.is_none() && !line.is_empty() {
                        app.banner = Some(line.into_boxed_str());
                    }
                }
            }
            Kind::Sv2 => {
                if dir != Dir::Orig {
                    let side = side_mut(app, dir);
                    let head = extend_head(&mut side.head, bytes, 4096);
                    if let Some((host, port)) = sv2::reconnect(head) {
                        side.done = true;
                        let session = app
                            .session
                            .get_or_insert_with(|| Box::new(ctx.session(Transport::Sv2Plaintext, "sv2")));
                        session.reconnects.push(ReconnectSeen {
                            host: Some(host),
                            port: Some(port),
                            wait_s: None,
                            at,
                            excerpt: String::from("SV2 Reconnect"),
                        });
                    }
                    return;
                }
                let side = side_mut(app, dir);
                let head = extend_head(&mut side.head, bytes, 4096);
                match sv2::setup_connection(head) {
                    Ok(Some(sc)) => {
                        side.done = true;
                        side.head = Vec::new();
                        let mut s = ctx.session(Transport::Sv2Plaintext, "sv2");
                        s.subscribed = true;
                        s.agent = Some(format!("{} {}", sc.vendor, sc.firmware).trim().to_string());
                        s.sv2_setup = Some(format!(
                            "vendor {:?}, hardware {:?}, firmware {:?}, device {:?}, endpoint {}:{}",
                            sc.vendor,
                            sc.hardware_version,
                            sc.firmware,
                            sc.device_id,
                            sc.endpoint_host,
                            sc.endpoint_port
                        ));
                        app.session = Some(Box::new(s));
                    }
                    Ok(None) if head.len() < 4096 => {}
                    _ => side.done = true,
                }
            }
            Kind::DnsTcp => {
                // Over TCP the client opened the connection, whichever side this data comes from.
                let (client, resolver) = (ctx.orig.ip(), ctx.resp.ip());
                let side = side_mut(app, dir);
                let framer = side.framer.get_or_insert_with(dns::TcpFramer::new);
                let mut msgs = Vec::new();
                framer.push(bytes, &mut |m| {
                    if msgs.len() < 64 {
                        msgs.push(m.to_vec());
                    }
                });
                for m in msgs {
                    if let Ok(m) = dns::parse(&m) {
                        self.dns_message(client, resolver, &m, at);
                    }
                }
            }
            Kind::Unknown | Kind::MaybeNoise | Kind::Noise | Kind::Other => {}
        }
    }

    /// A flow left the table: finish its streams and keep what it showed.
    pub fn flow_done(&mut self, mut flow: Flow<App>, reason: EvictReason) {
        let limits = self.limits;
        self.counters.flows += 1;
        if matches!(reason, EvictReason::Cap) {
            self.counters.flows_evicted_by_cap += 1;
        }
        // Deliver held segments and unterminated last lines.
        let ctx = Ctx::of(&flow);
        for dir in [Dir::Orig, Dir::Resp] {
            let present = match dir {
                Dir::Orig => flow.app.orig.is_some(),
                Dir::Resp => flow.app.resp.is_some(),
            };
            if !present {
                continue;
            }
            let app = &mut flow.app;
            let side = side_mut(app, dir);
            let mut re = std::mem::replace(&mut side.re, Reassembler::new());
            re.flush(&mut |c| match c {
                Chunk::Data { bytes, frame, ts_us } => {
                    let at = At {
                        frame,
                        ts_us,
                        ..ctx.start
                    };
                    self.stream_data(app, dir, bytes, at, false, &limits, ctx)
                }
                Chunk::Gap { .. } => self.stream_data(app, dir, &[], ctx.start, true, &limits, ctx),
            });
            self.counters.gap_bytes += re.gap_bytes();
            if app.kind == Kind::Stratum
                && let Some(session) = app.session.as_mut()
                && let Some(lines) = side_slot(&mut app.orig, &mut app.resp, dir).lines.as_mut()
            {
                lines.finish(&mut |line: Line<'_>| {
                    let at = At {
                        frame: line.last_frame,
                        ts_us: line.ts_us,
                        ..ctx.start
                    };
                    session.line(dir, &line, at);
                });
            }
        }
        let first = ctx.start;
        self.finish_flow(flow, first);
    }

    fn finish_flow(&mut self, flow: Flow<App>, first: At) {
        let limits = self.limits;
        let state = flow.conn_state();
        // Never answered, as Zeek's states say it (and as RITA reads them).
        let failed = flow.resp_pkts == 0 || matches!(state, "S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" | "SHR");
        let established = !failed;
        // MACs per address, taken once per flow rather than per packet.
        self.saw_mac(flow.orig.ip(), flow.orig_mac);
        self.saw_mac(flow.resp.ip(), flow.resp_mac);
        let app = flow.app;
        // Stratum session.
        // A JSON exchange that never said anything Stratum (an Antbleed check-in also starts
        // with `{"id":…`) is not a mining session.
        let mining = |s: &StratumSession| {
            s.transport != Transport::Plaintext
                || s.subscribed
                || !s.users.is_empty()
                || s.notifies > 0
                || s.submitted > 0
                || s.difficulty.is_some()
                || !s.reconnects.is_empty()
        };
        if let Some(mut s) = app.session.filter(|s| mining(s)) {
            s.end_us = s.end_us.max(flow.last_us);
            s.start = first;
            if s.pool_name.is_none() {
                s.pool_name = app.sni.as_deref().map(str::to_owned);
            }
            if self.sessions.len() < limits.max_sessions {
                self.sessions.push(*s);
            } else {
                self.counters.dropped += 1;
            }
        }
        let first_payload = app.first_orig.as_deref().map(excerpt);
        if flow.proto == 6 && MANAGEMENT_PORTS.contains(&flow.resp.port()) {
            // What was said: the API request, else a banner, else the first bytes sent.
            let said = app
                .banner
                .as_deref()
                .map(str::to_owned)
                .or_else(|| first_payload.clone());
            let at = MgmtAt {
                first,
                said: app.first_orig_at,
            };
            let (client, device, port) = (flow.orig.ip(), flow.resp.ip(), flow.resp.port());
            self.record_mgmt(client, device, port, established, at, app.api.map(|a| *a), said);
        }
        let key = (flow.orig.ip(), flow.resp.ip(), flow.resp.port(), flow.proto);
        self.record_dest(
            key,
            flow.orig_bytes,
            flow.resp_bytes,
            flow.last_us,
            first_payload,
            first,
        );
        self.record_conn(ConnSummary {
            ts_s: flow.first_us.div_euclid(1_000_000),
            src: flow.orig.ip(),
            dst: flow.resp.ip(),
            dport: flow.resp.port(),
            proto: flow.proto,
            orig_ip_bytes: flow.orig_ip_bytes,
            failed,
            fqdn: app.sni.or(app.host),
            at: first,
        });
    }

    /// One DNS message or transaction for a name: `queries` and `responses` seen, whether the
    /// answer was an error, and the addresses answered (which also name those addresses).
    #[allow(clippy::too_many_arguments)]
    pub fn record_dns(
        &mut self,
        client: IpAddr,
        resolver: IpAddr,
        name: &str,
        qtype: &'static str,
        queries: u64,
        responses: u64,
        error: bool,
        answers: &[IpAddr],
        at: At,
    ) {
        let name: Arc<str> = Arc::from(name);
        let max = self.limits.max_keys;
        let init = || DnsSeen {
            qtype,
            queries: 0,
            responses: 0,
            errors: 0,
            answers: Vec::new(),
            first: at,
        };
        if let Some(e) = capped(
            &mut self.dns,
            (client, resolver, name.clone()),
            max,
            &mut self.counters.dropped,
            init,
        ) {
            e.queries += queries;
            e.responses += responses;
            e.errors += u64::from(error);
            for ip in answers {
                if !e.answers.contains(ip) && e.answers.len() < 16 {
                    e.answers.push(*ip);
                }
            }
        }
        // The question's name, not a CNAME target: that is what the device asked for.
        for ip in answers {
            if self.names.len() < max || self.names.contains_key(ip) {
                self.names.insert(*ip, name.clone());
            }
        }
    }

    /// One TLS ClientHello (or Zeek ssl record).
    pub fn record_tls(
        &mut self,
        client: IpAddr,
        server: SocketAddr,
        sni: Arc<str>,
        alpn: &[String],
        ja4: &str,
        at: At,
    ) {
        let init = || TlsSeen {
            alpn: alpn.to_vec(),
            ja4: ja4.to_owned(),
            connections: 0,
            first: at,
        };
        let max = self.limits.max_keys;
        if let Some(e) = capped(
            &mut self.tls,
            (client, server, sni),
            max,
            &mut self.counters.dropped,
            init,
        ) {
            e.connections += 1;
        }
    }

    /// One HTTP request (or Zeek http record).
    #[allow(clippy::too_many_arguments)]
    pub fn record_http(
        &mut self,
        client: IpAddr,
        server: SocketAddr,
        host: Arc<str>,
        path: &str,
        method: &str,
        user_agent: Option<&str>,
        at: At,
    ) {
        let path: Arc<str> = Arc::from(path.chars().take(256).collect::<String>().as_str());
        let shown = format!(
            "{method} {path} Host: {}",
            if host.is_empty() { "-" } else { &host }
        );
        let init = || HttpSeen {
            method: method.to_owned(),
            user_agent: user_agent.map(str::to_owned),
            requests: 0,
            excerpt: shown,
            first: at,
        };
        let max = self.limits.max_keys;
        if let Some(e) = capped(
            &mut self.http,
            (client, server, host, path),
            max,
            &mut self.counters.dropped,
            init,
        ) {
            e.requests += 1;
        }
    }

    /// One connection to a management port: answered or not, the API request it carried and
    /// what else was said first.
    #[allow(clippy::too_many_arguments)]
    pub fn record_mgmt(
        &mut self,
        client: IpAddr,
        device: IpAddr,
        port: u16,
        established: bool,
        at: MgmtAt,
        api: Option<ApiSeen>,
        said: Option<String>,
    ) {
        let first = at.first;
        let init = || MgmtSeen {
            connections: 0,
            established: 0,
            api: Vec::new(),
            excerpt: None,
            first,
            frames: vec![first.frame],
        };
        let max = self.limits.max_keys;
        let Some(e) = capped(
            &mut self.mgmt,
            (client, device, port),
            max,
            &mut self.counters.dropped,
            init,
        ) else {
            return;
        };
        e.connections += 1;
        e.established += u64::from(established);
        if let Some(a) = api
            && e.api.len() < 8
            && !e.api.iter().any(|x| x.request == a.request)
        {
            if e.frames.len() < 8 {
                e.frames.push(a.at.frame);
            }
            e.api.push(a);
        }
        if e.excerpt.is_none() && said.is_some() {
            e.excerpt = said;
            if let Some(a) = at.said
                && e.frames.len() < 8
                && !e.frames.contains(&a.frame)
            {
                e.frames.push(a.frame);
            }
        }
    }

    /// One connection from `src` to a destination port (`key`: src, dst, port, proto).
    pub fn record_dest(
        &mut self,
        key: (IpAddr, IpAddr, u16, u8),
        bytes_out: u64,
        bytes_in: u64,
        last_us: i64,
        excerpt: Option<String>,
        at: At,
    ) {
        let init = || DestSeen {
            connections: 0,
            bytes_out: 0,
            bytes_in: 0,
            first: at,
            last_us,
            excerpt,
        };
        let max = self.limits.max_keys;
        if let Some(e) = capped(&mut self.dests, key, max, &mut self.counters.dropped, init) {
            e.connections += 1;
            e.bytes_out += bytes_out;
            e.bytes_in += bytes_in;
            e.last_us = e.last_us.max(last_us);
        }
    }

    /// One finished connection, for beacon scoring.
    pub fn record_conn(&mut self, c: ConnSummary) {
        if self.conns.len() < self.limits.max_conns {
            self.conns.push(c);
        } else {
            self.counters.dropped += 1;
        }
    }

    /// Fold another worker's observations into these.
    pub fn merge(&mut self, other: Observations) {
        let c = &mut self.counters;
        let o = other.counters;
        c.packets += o.packets;
        c.bytes += o.bytes;
        c.non_ip += o.non_ip;
        c.decode_errors += o.decode_errors;
        c.fragments += o.fragments;
        c.flows += o.flows;
        c.flows_evicted_by_cap += o.flows_evicted_by_cap;
        c.gap_bytes += o.gap_bytes;
        c.dropped += o.dropped;
        self.sessions.extend(other.sessions);
        absorb_all(&mut self.dns, other.dns);
        self.names.extend(other.names);
        absorb_all(&mut self.tls, other.tls);
        absorb_all(&mut self.http, other.http);
        absorb_all(&mut self.mgmt, other.mgmt);
        absorb_all(&mut self.dests, other.dests);
        for (k, v) in other.macs {
            self.macs.entry(k).or_insert(v);
        }
        self.conns.extend(other.conns);
        if let Some((a, b)) = other.span {
            self.saw_time(a);
            self.saw_time(b);
        }
    }
}

fn side_mut(app: &mut App, dir: Dir) -> &mut Side {
    side_slot(&mut app.orig, &mut app.resp, dir)
}

fn side_slot<'a>(orig: &'a mut Option<Box<Side>>, resp: &'a mut Option<Box<Side>>, dir: Dir) -> &'a mut Side {
    match dir {
        Dir::Orig => orig.get_or_insert_with(Box::default),
        Dir::Resp => resp.get_or_insert_with(Box::default),
    }
}

/// The entry of `key` in a map capped at `max` keys, created by `init` while there is room;
/// `None`, counted in `dropped`, once the map is full.
fn capped<'m, K: std::hash::Hash + Eq, V>(
    map: &'m mut Map<K, V>,
    key: K,
    max: usize,
    dropped: &mut u64,
    init: impl FnOnce() -> V,
) -> Option<&'m mut V> {
    if map.len() >= max && !map.contains_key(&key) {
        *dropped += 1;
        return None;
    }
    Some(map.entry(key).or_insert_with(init))
}

/// Where a management connection began, and where its first payload was (for the frames).
#[derive(Debug, Clone, Copy)]
pub struct MgmtAt {
    /// The connection's first packet.
    pub first: At,
    /// The packet that carried the first payload, when there was one.
    pub said: Option<At>,
}

/// A per-key aggregate that another worker's value for the same key folds into.
trait Absorb {
    fn absorb(&mut self, other: Self);
}

fn absorb_all<K: std::hash::Hash + Eq, V: Absorb>(into: &mut Map<K, V>, from: Map<K, V>) {
    use std::collections::hash_map::Entry;
    for (k, v) in from {
        match into.entry(k) {
            Entry::Occupied(mut e) => e.get_mut().absorb(v),
            Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
}

impl Absorb for DnsSeen {
    fn absorb(&mut self, v: Self) {
        self.queries += v.queries;
        self.responses += v.responses;
        self.errors += v.errors;
        for a in v.answers {
            if !self.answers.contains(&a) && self.answers.len() < 16 {
                self.answers.push(a);
            }
        }
        if v.first.ts_us < self.first.ts_us {
            self.first = v.first;
        }
    }
}

impl Absorb for TlsSeen {
    fn absorb(&mut self, v: Self) {
        self.connections += v.connections;
    }
}

impl Absorb for HttpSeen {
    fn absorb(&mut self, v: Self) {
        self.requests += v.requests;
    }
}

impl Absorb for MgmtSeen {
    fn absorb(&mut self, v: Self) {
        self.connections += v.connections;
        self.established += v.established;
        for a in v.api {
            if self.api.len() < 8 {
                self.api.push(a);
            }
        }
    }
}

impl Absorb for DestSeen {
    fn absorb(&mut self, v: Self) {
        self.connections += v.connections;
        self.bytes_out += v.bytes_out;
        self.bytes_in += v.bytes_in;
        self.last_us = self.last_us.max(v.last_us);
        if v.first.ts_us < self.first.ts_us {
            self.first = v.first;
            self.excerpt = v.excerpt;
        }
    }
}

/// Append to a bounded head buffer and return it.
fn extend_head<'a>(head: &'a mut Vec<u8>, bytes: &[u8], max: usize) -> &'a [u8] {
    let room = max.saturating_sub(head.len());
    head.extend_from_slice(&bytes[..bytes.len().min(room)]);
    head
}

/// Ports pools listen on (brief §4.5): a TLS flow there is probably stratum+ssl.
pub fn is_stratum_port(p: u16) -> bool {
    matches!(
        p,
        3333 | 3334
            | 3335
            | 3336
            | 25
            | 443
            | 700
            | 1314
            | 1800
            | 4444
            | 5555
            | 7777
            | 9999
            | 14444
            | 33334
            | 34254
            | 45560
    )
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Up to 256 bytes as text (lossy), for evidence and reports.
pub fn excerpt(b: &[u8]) -> String {
    let cut = &b[..b.len().min(256)];
    String::from_utf8_lossy(cut)
        .trim_end_matches(['\r', '\n', '\0'])
        .to_string()
}

/// Which worker owns the flows between two addresses: flows are split between workers by their
/// address pair, so every packet of a flow, and all flows between two hosts, meet in one.
pub fn owner(src: IpAddr, dst: IpAddr, workers: usize) -> usize {
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => owner_v4(u32::from(a), u32::from(b), workers),
        _ => {
            let fold = |ip: IpAddr| match ip {
                IpAddr::V4(v) => u64::from(u32::from(v)),
                IpAddr::V6(v) => {
                    let x = u128::from(v);
                    (x as u64) ^ ((x >> 64) as u64)
                }
            };
            mix(fold(src).min(fold(dst)), fold(src).max(fold(dst)), workers)
        }
    }
}

/// [`owner`] for two IPv4 addresses as integers: cheap enough to run on the raw frame before
/// decoding, so a worker skips the packets it does not own without decoding them.
#[inline]
pub fn owner_v4(a: u32, b: u32, workers: usize) -> usize {
    mix(u64::from(a.min(b)), u64::from(a.max(b)), workers)
}

/// Worker 0 also hashes the capture (sha256 runs at about 1.2 GB/s here, a third of the work on
/// a mining capture), so it owns a smaller share of the address pairs: 60 % of an equal share,
/// the rest split evenly.
#[inline]
fn mix(lo: u64, hi: u64, workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    let x = (lo.rotate_left(32) ^ hi).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let bucket = ((x >> 32) % 1000) as usize;
    let first = 600 / workers;
    if bucket < first {
        0
    } else {
        1 + (bucket - first) * (workers - 1) / (1000 - first)
    }
}
