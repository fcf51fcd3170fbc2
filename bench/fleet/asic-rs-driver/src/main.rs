//! Benchmark driver for asic-rs (crates.io `asic-rs`): runs asic-rs's own network scan
//! (`MinerFactory::with_range(...)` then `scan()`) over an IPv4 range and prints one JSON line per
//! identified miner, `{"address","make","model","firmware"}`, then one summary line
//! `{"summary":{...}}` with the elapsed seconds and the factory settings in force.
//!
//!     asic-rs-driver FIRST-LAST [--concurrency N] [--identification-timeout SECS]
//!
//! FIRST-LAST (e.g. `127.1.0.1-127.1.39.16`) is turned into the smallest list of asic-rs octet
//! ranges (`127.1.0.1-255`, `127.1.1-38.0-255`, `127.1.39.0-16`) that covers exactly those
//! addresses; a plain asic-rs range string (`127.1.0.1-255`) is passed through as it is. Without
//! options asic-rs's defaults apply (adaptive concurrency, 10 s identification timeout, 1 s
//! connectivity timeout with 3 retries, port check on, nofile raised when the OS allows).

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Instant;

use asic_rs::MinerFactory;

fn usage() -> ! {
    eprintln!("usage: asic-rs-driver FIRST-LAST [--concurrency N] [--identification-timeout SECS]");
    std::process::exit(2);
}

/// Octet-range strings (asic-rs's `a.b.c.d` syntax, each octet `N` or `N-M`) covering exactly
/// `first..=last`. Works on aligned /24 blocks: a partial head block, whole /24s grouped by their
/// second octet, and a partial tail block.
fn octet_ranges(first: Ipv4Addr, last: Ipv4Addr) -> Vec<String> {
    let (mut a, b) = (u32::from(first), u32::from(last));
    let mut out = Vec::new();
    while a <= b {
        let o = Ipv4Addr::from(a).octets();
        let block_end = a | 0xff;
        if o[3] != 0 || block_end > b {
            // Partial /24: one range in the last octet.
            let end = block_end.min(b);
            let e = Ipv4Addr::from(end).octets()[3];
            out.push(format!("{}.{}.{}.{}-{}", o[0], o[1], o[2], o[3], e));
            if end == u32::MAX {
                break;
            }
            a = end + 1;
            continue;
        }
        // Whole /24s: extend over the third octet while staying in the same /16 and within b.
        let mut c_end = o[2] as u32;
        while c_end < 255 {
            let next_block_last = (a & 0xffff_0000) | ((c_end + 1) << 8) | 0xff;
            if next_block_last > b {
                break;
            }
            c_end += 1;
        }
        out.push(format!("{}.{}.{}-{}.0-255", o[0], o[1], o[2], c_end));
        let end = (a & 0xffff_0000) | (c_end << 8) | 0xff;
        if end == u32::MAX {
            break;
        }
        a = end + 1;
    }
    out
}

fn parse_targets(spec: &str) -> Vec<String> {
    if let Some((f, l)) = spec.split_once('-')
        && let (Ok(first), Ok(last)) = (f.parse::<Ipv4Addr>(), l.parse::<Ipv4Addr>())
    {
        if first > last {
            eprintln!("asic-rs-driver: {first} comes after {last}");
            std::process::exit(2);
        }
        return octet_ranges(first, last);
    }
    vec![spec.to_owned()]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec = None;
    let mut concurrency: Option<usize> = None;
    let mut ident_timeout: Option<u64> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--concurrency" => concurrency = it.next().and_then(|v| v.parse().ok()).or_else(|| usage()),
            "--identification-timeout" => ident_timeout = it.next().and_then(|v| v.parse().ok()).or_else(|| usage()),
            "-h" | "--help" => usage(),
            s if s.starts_with('-') => usage(),
            s if spec.is_none() => spec = Some(s.to_owned()),
            _ => usage(),
        }
    }
    let Some(spec) = spec else { usage() };
    let ranges = parse_targets(&spec);

    let mut factory = MinerFactory::new();
    for r in &ranges {
        factory = match factory.with_range(r) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("asic-rs-driver: bad range {r}: {e}");
                std::process::exit(2);
            }
        };
    }
    if let Some(n) = concurrency {
        factory = factory.with_concurrent_limit(n);
    }
    if let Some(s) = ident_timeout {
        factory = factory.with_identification_timeout_secs(s);
    }
    let hosts = factory.len();
    // What scan() will use when no limit was given (asic-rs picks it from the host count).
    let mut effective = factory.clone();
    effective.update_adaptive_concurrency();
    let settings = format!("{effective:?}");

    let started = Instant::now();
    let miners = match factory.scan().await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("asic-rs-driver: scan failed: {e}");
            std::process::exit(1);
        }
    };
    let elapsed = started.elapsed().as_secs_f64();

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for m in &miners {
        let info = m.get_device_info();
        let line = serde_json::json!({
            "address": m.get_ip().to_string(),
            "make": info.make,
            "model": info.model,
            "firmware": info.firmware,
        });
        let _ = writeln!(out, "{line}");
    }
    let summary = serde_json::json!({"summary": {
        "tool": "asic-rs",
        "hosts": hosts,
        "ranges": ranges,
        "miners": miners.len(),
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "factory": settings,
    }});
    let _ = writeln!(out, "{summary}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_exactly() {
        let f = Ipv4Addr::new(127, 1, 0, 1);
        let l = Ipv4Addr::new(127, 1, 39, 16);
        assert_eq!(
            octet_ranges(f, l),
            vec!["127.1.0.1-255", "127.1.1-38.0-255", "127.1.39.0-16"]
        );
        assert_eq!(octet_ranges(f, Ipv4Addr::new(127, 1, 1, 244)), vec!["127.1.0.1-255", "127.1.1.0-244"]);
        assert_eq!(octet_ranges(f, f), vec!["127.1.0.1-1"]);
        assert_eq!(
            octet_ranges(Ipv4Addr::new(127, 1, 255, 0), Ipv4Addr::new(127, 2, 0, 9)),
            vec!["127.1.255-255.0-255", "127.2.0.0-9"]
        );
    }
}
