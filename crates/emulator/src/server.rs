//! Listeners, the per-connection loop for each protocol, and the faults.
//!
//! Every listener binds one device address (127.0.0.0/8 only, checked again here) on one port. Connections
//! are tasks on one current-thread runtime: the machine is shared, and the work is waiting on sockets.
//! Every read is bounded ([`MAX_REQUEST`] bytes, a read timeout); past either the connection is closed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::{sleep, timeout};

use crate::cgminer;
use crate::device::Device;
use crate::error::EmulatorError;
use crate::family::{Proto, TELNET_GREETING, behaviour};
use crate::fleet::{DeviceSpec, Fault, Fleet, Port};
use crate::http::{self, MAX_REQUEST, Parse};
use crate::log::{Log, RequestKind, RequestLog};

/// Descriptors kept free of connections (runtime, pipes, logs).
const FD_RESERVE: u64 = 256;

/// Concurrent connections this process can serve next to `listeners` listening sockets: what
/// the open-file limit leaves (at least 1,024). More are accepted and closed at once.
fn max_connections(listeners: usize) -> usize {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let free = limit.saturating_sub(listeners as u64 + FD_RESERVE);
    usize::try_from(free).unwrap_or(usize::MAX).clamp(1024, 1 << 20)
}
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may stall before the client is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a silent or holding connection is kept.
const HOLD: Duration = Duration::from_secs(120);
/// The slow-drip interval.
const DRIP: Duration = Duration::from_secs(2);
/// Size of a `huge` reply.
const HUGE: usize = 100 * 1024 * 1024;
/// Whatsminer v3 frames per connection.
const MAX_FRAMES: usize = 16;

/// An emulated fleet serving in this process. Stops on [`Running::stop`] or drop.
pub struct Running {
    devices: Vec<DeviceSpec>,
    log: Arc<Log>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl Running {
    /// The devices served (resolved specs).
    pub fn devices(&self) -> &[DeviceSpec] {
        &self.devices
    }

    /// Every request received so far (the first 100,000; counters go on past that).
    pub fn requests(&self) -> Vec<RequestLog> {
        self.log.entries()
    }

    /// How many requests asked to change a device (counted past the log cap too).
    pub fn state_changing_requests(&self) -> usize {
        self.log.state_changing()
    }

    /// How many requests created a session or token (LuxOS `logon`, Vnish unlock, Braiins login).
    pub fn session_creating_requests(&self) -> usize {
        self.log.session_creating()
    }

    /// How many requests in all.
    pub fn total_requests(&self) -> usize {
        self.log.total()
    }

    /// Close every listener and connection and wait for the runtime thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Bind every device's ports and serve them on a background runtime thread; returns once all are bound.
pub fn spawn(fleet: &Fleet) -> Result<Running, EmulatorError> {
    fleet.validate()?;
    let devices: Vec<DeviceSpec> = fleet
        .devices
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.resolve();
            d
        })
        .collect();
    // Bind here, synchronously, so that a failure names its address and port and nothing is left half up.
    let mut bound = Vec::new();
    for spec in &devices {
        if !spec.address.is_loopback() {
            // validate() refuses these; this re-check keeps the loopback-only promise local to binding.
            return Err(EmulatorError::NotLoopback {
                index: 0,
                address: spec.address,
            });
        }
        let dev = Arc::new(Device::new(spec.clone()));
        for port in spec.ports() {
            let addr = SocketAddr::from((spec.address, port.number));
            let l = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| EmulatorError::Bind {
                    address: spec.address,
                    port: port.number,
                    source,
                })?;
            bound.push((dev.clone(), port, l));
        }
    }
    let log = Arc::new(Log::default());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), EmulatorError>>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| EmulatorError::Io {
            what: "start the emulator runtime".to_owned(),
            source,
        })?;
    let thread_log = log.clone();
    let max_conns = max_connections(bound.len());
    let thread = std::thread::Builder::new()
        .name("hashward-emulator".to_owned())
        .spawn(move || {
            rt.block_on(async move {
                let conns = Arc::new(Semaphore::new(max_conns));
                for (dev, port, l) in bound {
                    let addr = (dev.spec.address, port.number);
                    let listener = match TcpListener::from_std(l) {
                        Ok(l) => l,
                        Err(source) => {
                            let _ = ready_tx.send(Err(EmulatorError::Bind {
                                address: addr.0,
                                port: addr.1,
                                source,
                            }));
                            return;
                        }
                    };
                    tokio::spawn(accept_loop(
                        listener,
                        dev,
                        port,
                        thread_log.clone(),
                        conns.clone(),
                    ));
                }
                let _ = ready_tx.send(Ok(()));
                let _ = stop_rx.await;
            });
            // Dropping the runtime cancels every task, closing listeners and connections.
            drop(rt);
        })
        .map_err(|source| EmulatorError::Io {
            what: "start the emulator thread".to_owned(),
            source,
        })?;
    let mut running = Running {
        devices,
        log,
        stop: Some(stop_tx),
        thread: Some(thread),
    };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(running),
        Ok(Err(e)) => {
            running.shutdown();
            Err(e)
        }
        Err(_) => {
            running.shutdown();
            Err(EmulatorError::Io {
                what: "emulator runtime".to_owned(),
                source: std::io::Error::other("the runtime thread ended before it was ready"),
            })
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    dev: Arc<Device>,
    port: Port,
    log: Arc<Log>,
    conns: Arc<Semaphore>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors or a transient error: back off instead of spinning.
                sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let dev = dev.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            handle(stream, peer, &dev, port, &log).await;
        });
    }
}

fn peer_v4(peer: SocketAddr) -> Ipv4Addr {
    match peer.ip() {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
    }
}

async fn handle(mut s: TcpStream, peer: SocketAddr, dev: &Device, port: Port, log: &Log) {
    let addr = dev.spec.address;
    let fault = dev.spec.fault;
    let fam = behaviour(dev.spec.family);
    match port.proto {
        Proto::Ssh | Proto::Telnet => {
            let what = if port.proto == Proto::Ssh {
                "ssh connection"
            } else {
                "telnet connection"
            };
            log.record(addr, port.number, what, RequestKind::Read);
            let greeting: Vec<u8> = match (port.proto, fault) {
                (_, Fault::WrongProtocol) => wrong_protocol(dev, Proto::Ssh),
                (Proto::Ssh, _) => fam.ssh_banner().as_bytes().to_vec(),
                _ => TELNET_GREETING.to_vec(),
            };
            deliver(&mut s, greeting, fault, port.proto, dev).await;
            if fault == Fault::None {
                // Let the client talk (bounded), then close as a server that got no valid handshake would.
                drain(&mut s, Duration::from_secs(10)).await;
            }
        }
        Proto::Hold => {
            log.record(addr, port.number, "connection", RequestKind::Read);
            if fault == Fault::WrongProtocol {
                let bytes = wrong_protocol(dev, Proto::Hold);
                deliver(&mut s, bytes, Fault::None, port.proto, dev).await;
                return;
            }
            // A scanner that only connects finds the port open and held. A client that speaks (a gRPC
            // preface, WhatsMinerTool) gets no answer and is closed, as by a peer that does not understand it.
            let mut first = [0u8; 4096];
            if let Ok(Ok(n)) = timeout(HOLD, s.read(&mut first)).await
                && n > 0
            {
                drain(&mut s, Duration::from_millis(300)).await;
            }
        }
        Proto::Cgminer => {
            let Some(raw) = read_api_request(&mut s).await else {
                return;
            };
            if fault == Fault::WrongProtocol {
                log.record(addr, port.number, &printable(&raw), RequestKind::Read);
                let bytes = wrong_protocol(dev, Proto::Cgminer);
                deliver(&mut s, bytes, Fault::None, port.proto, dev).await;
                return;
            }
            let out = fam.api(dev, peer_v4(peer), port.number, &raw);
            for (line, kind) in &out.log {
                log.record(addr, port.number, line, *kind);
            }
            if let Some(reply) = out.reply {
                deliver(&mut s, reply, fault, port.proto, dev).await;
            }
        }
        Proto::Http => {
            let mut buf = Vec::new();
            let req = loop {
                match http::parse(&buf) {
                    Parse::Done(r) => break r,
                    Parse::Bad(why) => {
                        log.record(
                            addr,
                            port.number,
                            &format!("bad HTTP request: {why}"),
                            RequestKind::Read,
                        );
                        let r =
                            http::Response::html(400, "<html><body><h1>400 Bad Request</h1></body></html>");
                        let _ = timeout(WRITE_TIMEOUT, s.write_all(&r.to_bytes(fam.server()))).await;
                        return;
                    }
                    Parse::Partial => {
                        if read_some(&mut s, &mut buf, READ_TIMEOUT).await == 0 {
                            return;
                        }
                    }
                }
            };
            if fault == Fault::WrongProtocol {
                log.record(addr, port.number, &req.line(), RequestKind::Read);
                let bytes = wrong_protocol(dev, Proto::Http);
                deliver(&mut s, bytes, Fault::None, port.proto, dev).await;
                return;
            }
            let (resp, kind) = fam.web(dev, &req);
            log.record(addr, port.number, &req.line(), kind);
            let bytes = if req.method == "HEAD" {
                let mut b = resp.to_bytes(fam.server());
                let n = b.len() - resp.body.len();
                b.truncate(n);
                b
            } else {
                resp.to_bytes(fam.server())
            };
            deliver(&mut s, bytes, fault, port.proto, dev).await;
        }
        Proto::LengthPrefixed => {
            for _ in 0..MAX_FRAMES {
                let mut len = [0u8; 4];
                match timeout(READ_TIMEOUT, s.read_exact(&mut len)).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                let n = u32::from_le_bytes(len) as usize;
                if n > MAX_REQUEST {
                    log.record(
                        addr,
                        port.number,
                        &format!("oversized frame ({n} bytes)"),
                        RequestKind::Read,
                    );
                    return;
                }
                let mut body = vec![0u8; n];
                match timeout(READ_TIMEOUT, s.read_exact(&mut body)).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                if fault == Fault::WrongProtocol {
                    log.record(addr, port.number, &printable(&body), RequestKind::Read);
                    let bytes = wrong_protocol(dev, Proto::LengthPrefixed);
                    deliver(&mut s, bytes, Fault::None, port.proto, dev).await;
                    return;
                }
                let out = fam.api(dev, peer_v4(peer), port.number, &body);
                for (line, kind) in &out.log {
                    log.record(addr, port.number, line, *kind);
                }
                let Some(reply) = out.reply else { return };
                let mut framed = (reply.len() as u32).to_le_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if fault != Fault::None {
                    deliver(&mut s, framed, fault, port.proto, dev).await;
                    return;
                }
                if timeout(WRITE_TIMEOUT, s.write_all(&framed)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Read one cgminer request: a JSON object (braces balanced), or the first text read; bounded in size
/// and time. `None` when the client sent nothing.
///
/// cgminer serves whatever one `recv()` returned; an unfinished JSON object here gets a short grace
/// period for the rest (a request split across segments), then is answered as it is (Code 23).
async fn read_api_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    loop {
        let wait = if buf.is_empty() {
            READ_TIMEOUT
        } else {
            Duration::from_millis(300)
        };
        if read_some(s, &mut buf, wait).await == 0 {
            return if buf.is_empty() { None } else { Some(buf) };
        }
        let start = buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(buf.len());
        let body = &buf[start..];
        let done = if body.first() == Some(&b'{') {
            json_complete(body)
        } else {
            // cgminer serves a text request from a single recv().
            true
        };
        if done || buf.contains(&0) || buf.len() >= MAX_REQUEST {
            return Some(buf);
        }
    }
}

/// Whether a JSON text starting with `{` has closed its outermost brace.
fn json_complete(b: &[u8]) -> bool {
    let (mut depth, mut in_str, mut esc) = (0i64, false, false);
    for &c in b {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth <= 0 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Append one read to `buf` (bounded by [`MAX_REQUEST`] and `wait`); 0 on EOF, error or timeout.
async fn read_some(s: &mut TcpStream, buf: &mut Vec<u8>, wait: Duration) -> usize {
    let room = MAX_REQUEST.saturating_sub(buf.len());
    if room == 0 {
        return 0;
    }
    let mut chunk = vec![0u8; room.min(16 * 1024)];
    match timeout(wait, s.read(&mut chunk)).await {
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            n
        }
        _ => 0,
    }
}

/// Read and discard until EOF, an error, [`MAX_REQUEST`] bytes or `limit`.
async fn drain(s: &mut TcpStream, limit: Duration) {
    let mut chunk = [0u8; 4096];
    let mut total = 0usize;
    let _ = timeout(limit, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n;
                    if total >= MAX_REQUEST {
                        break;
                    }
                }
            }
        }
    })
    .await;
}

fn printable(raw: &[u8]) -> String {
    String::from_utf8_lossy(&raw[..raw.len().min(120)])
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_owned()
}

/// Send `bytes` as the fault says.
async fn deliver(s: &mut TcpStream, bytes: Vec<u8>, fault: Fault, proto: Proto, dev: &Device) {
    match fault {
        Fault::None | Fault::WrongProtocol => {
            let _ = timeout(WRITE_TIMEOUT, s.write_all(&bytes)).await;
            let _ = timeout(WRITE_TIMEOUT, s.shutdown()).await;
        }
        Fault::SlowDrip => {
            for b in bytes {
                if timeout(WRITE_TIMEOUT, s.write_all(&[b]))
                    .await
                    .map_or(true, |r| r.is_err())
                {
                    return;
                }
                sleep(DRIP).await;
            }
        }
        Fault::Silent => drain(s, HOLD).await,
        Fault::Reset => {
            let half = bytes.len() / 2;
            let _ = timeout(WRITE_TIMEOUT, s.write_all(&bytes[..half])).await;
            let _ = s.flush().await;
            // SO_LINGER 0 turns the close into an RST, so the client sees ECONNRESET.
            let _ = s.set_zero_linger();
        }
        Fault::Huge => huge(s, proto, dev).await,
        Fault::InvalidJson => {
            let body = invalid_json(dev);
            let out = match proto {
                Proto::Cgminer => {
                    let mut b = body;
                    b.push(0);
                    b
                }
                Proto::Http => http::Response::new(200, "application/json", body)
                    .to_bytes(behaviour(dev.spec.family).server()),
                Proto::LengthPrefixed => {
                    let mut b = (body.len() as u32).to_le_bytes().to_vec();
                    b.extend_from_slice(&body);
                    b
                }
                Proto::Ssh | Proto::Telnet | Proto::Hold => b"SSH-2.0-\xff\xfe\x00garbage\r\n".to_vec(),
            };
            let _ = timeout(WRITE_TIMEOUT, s.write_all(&out)).await;
            let _ = timeout(WRITE_TIMEOUT, s.shutdown()).await;
        }
    }
}

/// A reply no repair can make JSON: it ends in `}` (so truncation repairs do nothing) but holds `:::`.
fn invalid_json(dev: &Device) -> Vec<u8> {
    format!(
        "{{\"STATUS\":[{{\"STATUS\":\"S\",\"When\":{},\"Code\":11,\"Msg\":\"Summary\",\"Description\":\"{}\"}}],\"SUMMARY\":[{{\"Elapsed\":{},\"GHS 5s\":::,<<{}>>}}]],,\"id\":1}}",
        cgminer::now(),
        dev.spec.family.as_str(),
        dev.uptime(),
        dev.spec.model
    )
    .into_bytes()
}

/// Stream a 100 MB reply in 64 KiB chunks (never allocated whole); stop when the client goes.
async fn huge(s: &mut TcpStream, proto: Proto, dev: &Device) {
    let json_head = format!(
        "{{\"STATUS\":[{{\"STATUS\":\"S\",\"When\":{},\"Code\":70,\"Msg\":\"CGMiner stats\",\"Description\":\"cgminer 1.0.0\"}}],\"STATS\":[{{\"ID\":\"{}\",\"filler\":\"",
        cgminer::now(),
        dev.spec.model
    );
    let tail = "\"}],\"id\":1}";
    let filler_len = HUGE.saturating_sub(json_head.len() + tail.len());
    let head: Vec<u8> = match proto {
        Proto::Http => {
            let total = json_head.len() + filler_len + tail.len();
            let mut h = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n").into_bytes();
            h.extend_from_slice(json_head.as_bytes());
            h
        }
        Proto::LengthPrefixed => {
            let total = (json_head.len() + filler_len + tail.len()) as u32;
            let mut h = total.to_le_bytes().to_vec();
            h.extend_from_slice(json_head.as_bytes());
            h
        }
        _ => json_head.into_bytes(),
    };
    if timeout(WRITE_TIMEOUT, s.write_all(&head))
        .await
        .map_or(true, |r| r.is_err())
    {
        return;
    }
    let chunk = vec![b'A'; 64 * 1024];
    let mut left = filler_len;
    while left > 0 {
        let n = left.min(chunk.len());
        if timeout(WRITE_TIMEOUT, s.write_all(&chunk[..n]))
            .await
            .map_or(true, |r| r.is_err())
        {
            return;
        }
        left -= n;
    }
    let mut end = tail.as_bytes().to_vec();
    if proto == Proto::Cgminer {
        end.push(0);
    }
    let _ = timeout(WRITE_TIMEOUT, s.write_all(&end)).await;
    let _ = timeout(WRITE_TIMEOUT, s.shutdown()).await;
}

/// What a port answers when it speaks the wrong protocol.
fn wrong_protocol(dev: &Device, proto: Proto) -> Vec<u8> {
    match proto {
        // 4028 answers like a web server on odd addresses and like an SSH server on even ones.
        Proto::Cgminer | Proto::LengthPrefixed => {
            if dev.spec.address.octets()[3] % 2 == 1 {
                http::Response::html(400, "<html><body><h1>400 Bad Request</h1></body></html>").to_bytes("nginx")
            } else {
                b"SSH-2.0-OpenSSH_8.4\r\n".to_vec()
            }
        }
        Proto::Http => format!(
            "STATUS=S,When={},Code=22,Msg=CGMiner versions,Description=cgminer 1.0.0|VERSION,CGMiner=4.9.0,API=3.1|\0",
            cgminer::now()
        )
        .into_bytes(),
        Proto::Ssh | Proto::Telnet | Proto::Hold => {
            http::Response::html(400, "<html><body><h1>400 Bad Request</h1></body></html>").to_bytes("nginx")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_completeness() {
        assert!(json_complete(br#"{"command":"version"}"#));
        assert!(!json_complete(br#"{"command":"ver"#));
        assert!(!json_complete(br#"{"command":"}"#));
        assert!(json_complete(br#"{"a":"\"}"}"#));
    }

    #[test]
    fn invalid_json_is_beyond_repair() {
        let d = Device::new(DeviceSpec::default());
        let t = String::from_utf8(invalid_json(&d)).unwrap();
        assert!(t.ends_with('}'));
        assert!(serde_json::from_str::<serde_json::Value>(&t).is_err());
        // pyasic's repairs.
        let r = t.replace(",}", "}").replace("}{", "},{").replace("[,{", "[{");
        assert!(serde_json::from_str::<serde_json::Value>(&r).is_err());
    }
}
