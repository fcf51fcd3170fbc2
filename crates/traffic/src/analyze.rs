//! The analysis pass: inputs (captures, Zeek logs) → observations, in parallel.
//!
//! Captures are split between worker threads by address pair: every worker walks the whole
//! capture's framing (cheap: the records are read in place) and decodes each packet's headers,
//! but only tracks the flows it owns. Nothing is handed between threads, so the pass scales
//! with cores without a dispatcher, and the workers' observations are merged at the end.
//! Several captures are read as one stream in the order given (a capture rotated by
//! `tcpdump -C` continues its flows in the next file).

use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::capture::{Capture, CaptureFormat, CaptureLimits};
use crate::decode::{self, DecodeError, Fragment, L4};
use crate::flow::{FlowLimits, FlowTable};
use crate::observe::{App, At, ConnSummary, MANAGEMENT_PORTS, MgmtAt, Observations, ObserveLimits};
use crate::zeek::{self, LogKind, ZeekLog};

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Flow table limits (the memory cap).
    pub flows: FlowLimits,
    /// What the observation keeps.
    pub observe: ObserveLimits,
    /// Capture reading limits.
    pub capture: CaptureLimits,
    /// Worker threads (0: one per core).
    pub workers: usize,
}

/// One input as read.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    /// Path as given.
    pub path: String,
    /// sha256 of the file as given (compressed or not).
    pub sha256: String,
    /// Size of the file.
    pub size: u64,
    /// `pcap`, `pcapng`, `zeek-conn`, `zeek-dns`, `zeek-ssl`, `zeek-http`, `zeek-other`.
    pub kind: String,
    /// Gzip-compressed.
    pub compressed: bool,
    /// Packets or log records read.
    pub records: u64,
    /// Why reading stopped early (a truncated capture): what was read before is analysed.
    pub error: Option<String>,
    /// Rows of a log that could not be read (at most 20 listed).
    pub row_errors: Vec<String>,
    /// Rows with errors in all.
    pub row_error_count: u64,
}

/// Whether an input is a capture (evidence by frame) or a log (evidence by line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputClass {
    /// pcap or pcapng.
    Capture,
    /// A Zeek log.
    Log,
}

/// What the analysis pass produced.
pub struct Analysis {
    /// The inputs, in the order given.
    pub inputs: Vec<InputReport>,
    /// Class of each input.
    pub classes: Vec<InputClass>,
    /// Everything observed.
    pub obs: Observations,
    /// Worker threads used.
    pub workers: usize,
    /// Wall time of the pass, seconds.
    pub seconds: f64,
}

/// An input that could not be used at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The input.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Neither a capture nor a Zeek log.
    #[error("{path}: {message}")]
    Format {
        /// The input.
        path: String,
        /// What is wrong.
        message: String,
    },
}

enum Loaded {
    Capture(Capture),
    Log(ZeekLog),
}

/// Read and analyse the inputs.
pub fn analyze(paths: &[PathBuf], opts: &Options) -> Result<Analysis, AnalyzeError> {
    let started = Instant::now();
    let mut loaded = Vec::new();
    let mut inputs = Vec::new();
    for path in paths {
        let (l, report) = load(path, opts)?;
        loaded.push(l);
        inputs.push(report);
    }
    let workers = if opts.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.workers
    }
    .clamp(1, 64);
    let captures: Vec<(u16, &Capture)> = loaded
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            Loaded::Capture(c) => Some((i as u16, c)),
            Loaded::Log(_) => None,
        })
        .collect();

    // Hash the files while the workers read them.
    let (mut obs, hashes, errors) = std::thread::scope(|scope| {
        // Plain captures are hashed by worker 0 from the reads that frame them; the rest
        // (compressed captures, logs) by a thread of their own.
        let plain: Vec<bool> = loaded
            .iter()
            .map(|l| matches!(l, Loaded::Capture(c) if !c.compressed()))
            .collect();
        let hasher = scope.spawn(move || {
            paths
                .iter()
                .zip(plain)
                .map(|(p, plain)| if plain { Ok(String::new()) } else { sha256_file(p) })
                .collect::<Vec<_>>()
        });
        let handles: Vec<_> = (0..workers)
            .map(|me| {
                let captures = &captures;
                scope.spawn(move || run_worker(captures, me, workers, opts))
            })
            .collect();
        let mut obs = Observations::new(opts.observe);
        let mut errors = Vec::new();
        for h in handles {
            match h.join() {
                Ok((o, e)) => {
                    obs.merge(o);
                    if errors.is_empty() {
                        errors = e;
                    }
                }
                Err(_) => errors.push(InputRead {
                    input: 0,
                    error: Some("a worker thread failed".into()),
                    packets: 0,
                    sha256: None,
                }),
            }
        }
        let hashes = hasher.join().unwrap_or_default();
        (obs, hashes, errors)
    });
    for (i, h) in hashes.into_iter().enumerate() {
        if let (Some(r), Ok(h)) = (inputs.get_mut(i), h) {
            r.sha256 = h;
        }
    }
    for e in errors {
        if let Some(r) = inputs.get_mut(e.input as usize) {
            r.error = e.error;
            r.records = e.packets;
            if let Some(h) = e.sha256 {
                r.sha256 = h;
            }
        }
    }
    // Packet counts per capture come from worker 0, which sees every record.
    let mut classes = Vec::new();
    for (i, l) in loaded.iter().enumerate() {
        match l {
            Loaded::Capture(_) => classes.push(InputClass::Capture),
            Loaded::Log(log) => {
                classes.push(InputClass::Log);
                if let Some(r) = inputs.get_mut(i) {
                    r.records = log.rows;
                }
            }
        }
    }
    let logs: Vec<(u16, &ZeekLog)> = loaded
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            Loaded::Log(z) => Some((i as u16, z)),
            Loaded::Capture(_) => None,
        })
        .collect();
    observe_logs(&logs, &mut obs);
    Ok(Analysis {
        inputs,
        classes,
        obs,
        workers,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The whole pass over captures already in memory, without files (for the fuzz targets):
/// observations, detections and the result, with placeholder input records.
#[doc(hidden)]
pub fn analyze_in_memory(captures: &[Capture], opts: &Options) -> Analysis {
    let started = Instant::now();
    let list: Vec<(u16, &Capture)> = captures.iter().enumerate().map(|(i, c)| (i as u16, c)).collect();
    let workers = opts.workers.clamp(1, 64);
    let mut obs = Observations::new(opts.observe);
    let mut inputs = Vec::new();
    for (i, c) in captures.iter().enumerate() {
        inputs.push(InputReport {
            path: format!("capture {i}"),
            sha256: String::new(),
            size: c.len(),
            kind: "pcap".into(),
            compressed: c.compressed(),
            records: 0,
            error: None,
            row_errors: Vec::new(),
            row_error_count: 0,
        });
    }
    for me in 0..workers {
        let (o, _) = run_worker(&list, me, workers, opts);
        obs.merge(o);
    }
    Analysis {
        classes: vec![InputClass::Capture; inputs.len()],
        inputs,
        obs,
        workers,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn load(path: &Path, opts: &Options) -> Result<(Loaded, InputReport), AnalyzeError> {
    let shown = path.display().to_string();
    let io = |source| AnalyzeError::Io {
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mut head = [0u8; 64];
    let n = {
        let mut f = std::fs::File::open(path).map_err(io)?;
        read_up_to(&mut f, &mut head).map_err(io)?
    };
    let head = &head[..n];
    let compressed = head.starts_with(&[0x1f, 0x8b]);
    let inner: Vec<u8> = if compressed {
        let f = std::fs::File::open(path).map_err(io)?;
        let mut d = flate2::read::MultiGzDecoder::new(f);
        let mut b = [0u8; 64];
        let n = read_up_to(&mut d, &mut b).unwrap_or(0);
        b[..n].to_vec()
    } else {
        head.to_vec()
    };
    let mut report = InputReport {
        path: shown.clone(),
        sha256: String::new(),
        size: meta.len(),
        kind: String::new(),
        compressed,
        records: 0,
        error: None,
        row_errors: Vec::new(),
        row_error_count: 0,
    };
    if is_capture_magic(&inner) {
        let c = Capture::open(path, &opts.capture).map_err(|e| AnalyzeError::Format {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        report.kind = match c.format() {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        }
        .into();
        return Ok((Loaded::Capture(c), report));
    }
    let text_start = inner
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| inner[i]);
    if matches!(text_start, Some(b'#' | b'{')) {
        let log = zeek::read_path(path).map_err(|e| AnalyzeError::Format {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        report.kind = match &log.kind {
            LogKind::Conn => "zeek-conn".into(),
            LogKind::Dns => "zeek-dns".into(),
            LogKind::Ssl => "zeek-ssl".into(),
            LogKind::Http => "zeek-http".into(),
            LogKind::Other(k) => format!("zeek-{k}"),
        };
        report.row_error_count = log.errors.len() as u64;
        report.row_errors = log
            .errors
            .iter()
            .take(20)
            .map(|e| match &e.field {
                Some(f) => format!("line {}: field {f}: {}", e.line, e.message),
                None => format!("line {}: {}", e.line, e.message),
            })
            .collect();
        return Ok((Loaded::Log(log), report));
    }
    Err(AnalyzeError::Format {
        path: shown,
        message: format!(
            "not a pcap, pcapng or Zeek log (starts with {})",
            hex::encode(&inner[..inner.len().min(8)])
        ),
    })
}

fn read_up_to(r: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn is_capture_magic(b: &[u8]) -> bool {
    matches!(
        b.get(..4),
        Some(
            [0xa1, 0xb2, 0xc3, 0xd4]
                | [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0x0a, 0x0d, 0x0d, 0x0a]
        )
    )
}

/// How worker 0 read one capture.
struct InputRead {
    input: u16,
    error: Option<String>,
    packets: u64,
    sha256: Option<String>,
}

/// One worker: every packet of every capture, keeping the flows it owns.
fn run_worker(
    captures: &[(u16, &Capture)],
    me: usize,
    workers: usize,
    opts: &Options,
) -> (Observations, Vec<InputRead>) {
    let mut flows: FlowTable<App> = FlowTable::new(opts.flows);
    let mut obs = Observations::new(opts.observe);
    let mut errors = Vec::new();
    let mut now = i64::MIN;
    let mut since_expire = 0u32;
    for &(input, capture) in captures {
        let mut read = 0u64;
        let mut error = None;
        let mut packets = if me == 0 && !capture.compressed() {
            capture.packets_hashed()
        } else {
            capture.packets()
        };
        while let Some(item) = packets.next_packet() {
            let p = match item {
                Ok(p) => p,
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            };
            read += 1;
            // Untagged IPv4 over Ethernet, the common case: skip another worker's packet
            // without decoding it.
            if workers > 1
                && p.linktype == 1
                && let (Some([0x08, 0x00]), Some(s), Some(d)) =
                    (p.data.get(12..14), p.data.get(26..30), p.data.get(30..34))
            {
                let ip = |b: &[u8]| b.iter().fold(0u32, |acc, x| acc << 8 | u32::from(*x));
                if crate::observe::owner_v4(ip(s), ip(d), workers) != me {
                    continue;
                }
            }
            let d = match decode::decode(p.linktype, p.data) {
                Ok(d) => d,
                Err(e) => {
                    if me == 0 {
                        obs.counters.packets += 1;
                        obs.counters.bytes += p.data.len() as u64;
                        match e {
                            DecodeError::NotIp { .. } => obs.counters.non_ip += 1,
                            _ => obs.counters.decode_errors += 1,
                        }
                    }
                    continue;
                }
            };
            if crate::observe::owner(d.src, d.dst, workers) != me {
                continue;
            }
            obs.counters.packets += 1;
            obs.counters.bytes += p.data.len() as u64;
            obs.saw_time(p.ts_us);
            if p.ts_us > now {
                now = p.ts_us;
            }
            if matches!(d.fragment, Fragment::Later) {
                obs.counters.fragments += 1;
                continue;
            }
            let at = At {
                input,
                frame: p.frame,
                ts_us: p.ts_us,
            };
            let tracked = flows.track(p.ts_us, p.frame, &d, &mut |f, r| obs.flow_done(f, r));
            if let Some((flow, dir)) = tracked {
                match &d.l4 {
                    L4::Tcp(t) => obs.tcp(flow, dir, t, at),
                    L4::Udp {
                        sport,
                        dport,
                        payload,
                    } => obs.udp(flow, dir, *sport, *dport, payload, at),
                    _ => {}
                }
            }
            since_expire += 1;
            if since_expire >= 4096 {
                since_expire = 0;
                flows.expire(now, &mut |f, r| obs.flow_done(f, r));
            }
        }
        if me == 0 {
            let sha256 = match packets.finish_sha256() {
                Some(Ok(h)) => Some(h),
                Some(Err(e)) => {
                    error.get_or_insert_with(|| format!("reading the capture to hash it: {e}"));
                    None
                }
                None => None,
            };
            errors.push(InputRead {
                input,
                error,
                packets: read,
                sha256,
            });
        }
    }
    flows.finish(&mut |f, r| obs.flow_done(f, r));
    (obs, errors)
}

/// Zeek records → the same observations a capture gives (without payload: no Stratum), through
/// the same recording calls, so the same caps hold.
fn observe_logs(logs: &[(u16, &ZeekLog)], obs: &mut Observations) {
    use foldhash::HashMap;
    // The name each connection asked for (SNI, else HTTP Host), for beacon pairs.
    let mut names_by_uid: HashMap<&str, Arc<str>> = HashMap::default();
    let at = |input: u16, line: u64, ts_us: i64| At {
        input,
        frame: line,
        ts_us,
    };
    for &(input, log) in logs {
        for r in &log.ssl {
            if let Some(n) = r.server_name.as_deref().filter(|n| !n.is_empty()) {
                let name: Arc<str> = Arc::from(n.to_ascii_lowercase().as_str());
                names_by_uid.insert(&r.uid, name.clone());
                let ja4 = r.ja4.as_deref().unwrap_or_default();
                obs.record_tls(r.orig.ip(), r.resp, name, &[], ja4, at(input, r.line, r.ts_us));
            }
        }
        for r in &log.http {
            let host: Arc<str> = Arc::from(r.host.as_deref().unwrap_or("").to_ascii_lowercase().as_str());
            if !host.is_empty() {
                names_by_uid.entry(&r.uid).or_insert_with(|| host.clone());
            }
            let (path, method) = (r.uri.as_deref().unwrap_or(""), r.method.as_deref().unwrap_or(""));
            let agent = r.user_agent.as_deref();
            obs.record_http(
                r.orig.ip(),
                r.resp,
                host,
                path,
                method,
                agent,
                at(input, r.line, r.ts_us),
            );
        }
        for r in &log.dns {
            let Some(q) = r.query.as_deref() else { continue };
            let name = q.trim_end_matches('.').to_ascii_lowercase();
            let answers: Vec<IpAddr> = r.answers.iter().filter_map(|a| a.parse().ok()).take(16).collect();
            let answered = r.rcode_name.is_some();
            let error = answered && r.rcode_name.as_deref() != Some("NOERROR");
            let qtype = qtype_static(r.qtype_name.as_deref());
            let place = at(input, r.line, r.ts_us);
            let (client, resolver) = (r.orig.ip(), r.resp.ip());
            obs.record_dns(
                client,
                resolver,
                &name,
                qtype,
                1,
                u64::from(answered),
                error,
                &answers,
                place,
            );
        }
    }
    for &(input, log) in logs {
        for r in &log.conns {
            obs.counters.flows += 1;
            obs.saw_time(r.ts_us);
            let place = at(input, r.line, r.ts_us);
            let proto = match r.proto.as_str() {
                "tcp" => 6,
                "udp" => 17,
                "icmp" => 1,
                _ => 0,
            };
            let state = r.conn_state.as_deref().unwrap_or("");
            let failed = matches!(state, "S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" | "SHR");
            let end_us = r.ts_us + (r.duration_s.unwrap_or(0.0).max(0.0) * 1e6) as i64;
            let key = (r.orig.ip(), r.resp.ip(), r.resp.port(), proto);
            let (out, back) = (r.orig_bytes.unwrap_or(0), r.resp_bytes.unwrap_or(0));
            obs.record_dest(key, out, back, end_us, None, place);
            if proto == 6 && MANAGEMENT_PORTS.contains(&r.resp.port()) {
                let answered = !failed && r.resp_pkts.unwrap_or(1) > 0;
                let mgmt_at = MgmtAt {
                    first: place,
                    said: None,
                };
                obs.record_mgmt(
                    r.orig.ip(),
                    r.resp.ip(),
                    r.resp.port(),
                    answered,
                    mgmt_at,
                    None,
                    None,
                );
            }
            obs.record_conn(ConnSummary {
                ts_s: r.ts_us.div_euclid(1_000_000),
                src: r.orig.ip(),
                dst: r.resp.ip(),
                dport: r.resp.port(),
                proto,
                orig_ip_bytes: r.orig_ip_bytes.unwrap_or(0),
                failed,
                fqdn: names_by_uid.get(r.uid.as_str()).cloned(),
                at: place,
            });
        }
    }
}

fn qtype_static(name: Option<&str>) -> &'static str {
    match name {
        Some("A") => "A",
        Some("AAAA") => "AAAA",
        Some("CNAME") => "CNAME",
        Some("TXT") => "TXT",
        Some("MX") => "MX",
        Some("NS") => "NS",
        Some("PTR") => "PTR",
        Some("SRV") => "SRV",
        Some("SOA") => "SOA",
        Some("HTTPS") => "HTTPS",
        None => "-",
        Some(_) => "other",
    }
}
