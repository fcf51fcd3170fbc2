//! Every connection hashward opens to a device goes through here: rate-limited, bounded in
//! number, time and bytes, and only ever carrying read-only requests.
//!
//! The limits are what keep a scan safe on a live network and alive against hostile devices:
//! a global rate of new connections (`--rate`, a GCRA limiter from `governor`), a cap on open
//! connections (`--concurrency`, also bounded by the process's open-file limit), a connect
//! timeout, a deadline per reply (a device that drips one byte a second cannot hold a slot
//! longer than that), and a byte budget per reply (a device that answers 100 MB costs 256 KiB).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::proto::cgminer::{self, Decoded, ReadCommand};
use crate::proto::http;
use crate::proto::whatsminer;

/// Connection limits and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Limits {
    /// New connections per second, across the whole scan.
    pub rate: u32,
    /// Connections open at once.
    pub concurrency: usize,
    /// Time to wait for a TCP connect.
    pub connect_timeout: Duration,
    /// Time to wait for a complete reply, from sending the request.
    pub reply_timeout: Duration,
    /// Time one device may take in all (identification and audit).
    pub device_timeout: Duration,
    /// Largest reply read, in bytes.
    pub max_reply: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            rate: 10_000,
            concurrency: 2048,
            connect_timeout: Duration::from_millis(1000),
            reply_timeout: Duration::from_secs(3),
            device_timeout: Duration::from_secs(12),
            max_reply: 256 * 1024,
        }
    }
}

/// Why a probe got no usable answer. The message is what the report shows for a faulty device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The port is closed.
    #[error("connection refused")]
    Refused,
    /// No answer to the connect.
    #[error("no answer to connect within {0:?}")]
    ConnectTimeout(Duration),
    /// Another connect error.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The reply did not complete in time.
    #[error("no complete reply within {after:?} ({received} bytes received)")]
    Timeout {
        /// The deadline.
        after: Duration,
        /// Bytes received before it.
        received: usize,
    },
    /// The device reset the connection.
    #[error("connection reset after {received} bytes")]
    Reset {
        /// Bytes received before the reset.
        received: usize,
    },
    /// The reply was larger than the budget.
    #[error("reply exceeds the {limit}-byte limit")]
    TooLarge {
        /// The budget.
        limit: usize,
    },
    /// Closed without a byte.
    #[error("closed without replying")]
    Empty,
    /// A read or write error.
    #[error("i/o error: {0}")]
    Io(String),
    /// The bytes are not the protocol expected.
    #[error("{0}")]
    Protocol(String),
}

impl ProbeError {
    /// The port did not accept a connection at all (as opposed to a device that misbehaved).
    pub fn not_listening(&self) -> bool {
        matches!(self, ProbeError::Refused | ProbeError::ConnectTimeout(_))
    }
}

/// Raw bytes of a reply, kept for evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    /// What was sent, as shown in evidence.
    pub request: String,
    /// What came back.
    pub bytes: Vec<u8>,
}

/// A decoded cgminer-API reply with its raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcReply {
    /// Request and raw reply.
    pub raw: Raw,
    /// The decoded reply.
    pub decoded: Decoded,
}

/// An HTTP response with the request that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebReply {
    /// Request (credentials masked) and raw head+body.
    pub raw: Raw,
    /// The parsed response.
    pub response: http::Response,
}

/// The connection budget shared by one scan.
pub struct Net {
    limits: Limits,
    limiter: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
}

impl Net {
    /// A budget with these limits.
    pub fn new(limits: Limits) -> Net {
        let rate = NonZeroU32::new(limits.rate.max(1)).unwrap_or(NonZeroU32::MIN);
        // A burst of a tenth of a second's worth lets the sweep start without a ramp.
        let burst = NonZeroU32::new((limits.rate / 10).max(1)).unwrap_or(NonZeroU32::MIN);
        Net {
            limits,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Open a connection within the budget. The slot is held until the stream is dropped.
    pub async fn connect(&self, ip: Ipv4Addr, port: u16) -> Result<Conn, ProbeError> {
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| ProbeError::Io("scan stopped".into()))?;
        self.limiter.until_ready().await;
        let addr = SocketAddr::V4(SocketAddrV4::new(ip, port));
        let stream = match tokio::time::timeout(self.limits.connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ProbeError::ConnectTimeout(self.limits.connect_timeout)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(ProbeError::Refused);
            }
            Ok(Err(e)) => return Err(ProbeError::Connect(e.to_string())),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            _slot: permit,
            limits: self.limits,
        })
    }

    /// Whether `port` accepts a connection. The connection is closed straight away with a
    /// reset, as connect scanners do: nothing was said on it, and a reset leaves no TIME_WAIT
    /// entry behind for each of the tens of thousands of sweep connections.
    pub async fn port_open(&self, ip: Ipv4Addr, port: u16) -> Result<(), ProbeError> {
        let c = self.connect(ip, port).await?;
        let _ = c.stream.set_zero_linger();
        Ok(())
    }

    /// Send a read-only cgminer API request and decode the reply.
    pub async fn rpc(&self, ip: Ipv4Addr, port: u16, cmd: &ReadCommand) -> Result<RpcReply, ProbeError> {
        let mut c = self.connect(ip, port).await?;
        let request = cmd.to_json();
        c.send(request.as_bytes()).await?;
        let bytes = c.read_reply(Frame::Cgminer).await?;
        let decoded = cgminer::decode(&bytes).map_err(|e| protocol_error(&e, &bytes))?;
        Ok(RpcReply {
            raw: Raw {
                request: cmd.to_json(),
                bytes,
            },
            decoded,
        })
    }

    /// A Whatsminer v2 encrypted read-only request (credential check). The reply is returned
    /// raw: whether it opens with the session key is the caller's question.
    pub async fn whatsminer_encrypted(
        &self,
        ip: Ipv4Addr,
        port: u16,
        session: &whatsminer::Session,
        cmd: &ReadCommand,
    ) -> Result<RpcReply, ProbeError> {
        let mut c = self.connect(ip, port).await?;
        c.send(session.request(cmd.command()).as_bytes()).await?;
        let bytes = c.read_reply(Frame::Cgminer).await?;
        let decoded = cgminer::decode(&bytes).map_err(|e| protocol_error(&e, &bytes))?;
        Ok(RpcReply {
            raw: Raw {
                request: format!("{{\"enc\":1,\"data\":…}} (encrypted {:?})", cmd.command()),
                bytes,
            },
            decoded,
        })
    }

    /// One HTTP request.
    pub async fn http(&self, ip: Ipv4Addr, port: u16, req: &http::Request) -> Result<WebReply, ProbeError> {
        let mut c = self.connect(ip, port).await?;
        c.send(&req.encode(&ip.to_string())).await?;
        let bytes = c.read_reply(Frame::Http).await?;
        let response = match http::parse(&bytes, true) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(ProbeError::Protocol("incomplete HTTP response".into())),
            Err(e) => return Err(ProbeError::Protocol(e.to_string())),
        };
        Ok(WebReply {
            raw: Raw {
                request: req.display(),
                bytes,
            },
            response,
        })
    }

    /// A Whatsminer API v3 request (length-prefixed JSON on 4433); only `get.*` commands.
    pub async fn v3(
        &self,
        ip: Ipv4Addr,
        cmd: &str,
        param: Option<&str>,
    ) -> Result<(Raw, serde_json::Value), ProbeError> {
        if !cmd.starts_with("get.") {
            return Err(ProbeError::Protocol(format!(
                "refusing to send non-read command {cmd}"
            )));
        }
        let mut req = serde_json::json!({"cmd": cmd});
        if let Some(p) = param {
            req["param"] = serde_json::Value::String(p.to_string());
        }
        let json = req.to_string();
        let mut c = self.connect(ip, 4433).await?;
        c.send(&whatsminer::v3_frame(&json)).await?;
        let bytes = c.read_reply(Frame::V3).await?;
        let payload = match whatsminer::v3_unframe(&bytes, self.limits.max_reply) {
            Ok(Some(p)) => p,
            _ => return Err(ProbeError::Protocol("not a Whatsminer v3 frame".into())),
        };
        let v = serde_json::from_slice(payload)
            .map_err(|e| ProbeError::Protocol(format!("invalid JSON in v3 frame: {e}")))?;
        Ok((Raw { request: json, bytes }, v))
    }

    /// The first bytes a service sends unprompted (SSH and telnet banners), within a short wait.
    pub async fn banner(&self, ip: Ipv4Addr, port: u16) -> Result<Vec<u8>, ProbeError> {
        let mut c = self.connect(ip, port).await?;
        c.read_reply(Frame::Banner).await
    }
}

/// An open connection holding one slot of the budget.
pub struct Conn {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    limits: Limits,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Ends at NUL, at close, or when the bytes so far are one complete JSON value (some
    /// firmwares keep the socket open after the reply).
    Cgminer,
    /// Ends when the response is complete or at close.
    Http,
    /// 4-byte length prefix.
    V3,
    /// Whatever arrives first.
    Banner,
}

impl Conn {
    async fn send(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        match tokio::time::timeout(self.limits.reply_timeout, self.stream.write_all(bytes)).await {
            Err(_) => Err(ProbeError::Timeout {
                after: self.limits.reply_timeout,
                received: 0,
            }),
            Ok(Err(e)) => Err(io_error(e, 0)),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn read_reply(&mut self, frame: Frame) -> Result<Vec<u8>, ProbeError> {
        let deadline = Instant::now()
            + match frame {
                Frame::Banner => self.limits.reply_timeout.min(Duration::from_secs(2)),
                _ => self.limits.reply_timeout,
            };
        let max = self.limits.max_reply;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Err(_) => {
                    if frame == Frame::Banner && !buf.is_empty() {
                        return Ok(buf);
                    }
                    return Err(ProbeError::Timeout {
                        after: self.limits.reply_timeout,
                        received: buf.len(),
                    });
                }
                Ok(Err(e)) => return Err(io_error(e, buf.len())),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return if buf.is_empty() {
                    Err(ProbeError::Empty)
                } else {
                    Ok(buf)
                };
            }
            let start = buf.len();
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > max {
                return Err(ProbeError::TooLarge { limit: max });
            }
            match frame {
                Frame::Cgminer => {
                    if buf[start..].contains(&0) {
                        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
                        buf.truncate(end + 1);
                        return Ok(buf);
                    }
                    if complete_json(&buf) {
                        return Ok(buf);
                    }
                }
                // Complete, or not HTTP at all (no point waiting for more): either way, done.
                Frame::Http => {
                    if !matches!(http::parse(&buf, false), Ok(None)) {
                        return Ok(buf);
                    }
                }
                Frame::V3 => match whatsminer::v3_unframe(&buf, max) {
                    Ok(Some(p)) => {
                        let len = p.len() + 4;
                        buf.truncate(len);
                        return Ok(buf);
                    }
                    Ok(None) => {}
                    Err(_) => return Err(ProbeError::TooLarge { limit: max }),
                },
                Frame::Banner => {
                    if buf.len() >= 64 || buf.contains(&b'\n') || buf.ends_with(b": ") {
                        return Ok(buf);
                    }
                }
            }
        }
    }
}

/// A reply that is not the cgminer API, with how it starts (what the device said instead).
fn protocol_error(e: &cgminer::DecodeError, bytes: &[u8]) -> ProbeError {
    let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    ProbeError::Protocol(format!("{e} (starts {head:?})"))
}

/// Whether `buf` holds one complete JSON value (checked only when it ends like one). Broken
/// JSON counts when its brackets balance and the known repairs make it parse: bmminer's `}{`
/// replies are complete even though they are not JSON.
fn complete_json(buf: &[u8]) -> bool {
    let trimmed = buf.trim_ascii_end();
    if !(trimmed.ends_with(b"}") || trimmed.ends_with(b"]")) {
        return false;
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok() {
        return true;
    }
    let Ok(text) = std::str::from_utf8(trimmed) else {
        return false;
    };
    let (fixed, repairs) = crate::proto::repair::repair(text);
    !repairs.contains(&crate::proto::repair::Repair::Truncated)
        && serde_json::from_str::<serde::de::IgnoredAny>(&fixed).is_ok()
}

fn io_error(e: std::io::Error, received: usize) -> ProbeError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe => ProbeError::Reset { received },
        _ => ProbeError::Io(e.to_string()),
    }
}

/// Raise this process's open-file limit to its hard limit and return the usable soft limit:
/// the scan's concurrency must stay below it.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft),
    }
}
