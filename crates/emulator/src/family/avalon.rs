//! Canaan Avalon (cgminer 4.11.1): the cgminer engine with Avalon shapes, `ascset` control (pools,
//! password, power, work mode — writable from the network on stock firmware) and the web UI on 80 with
//! pyasic's static cookie (`auth=ff0000ff` + sha256(password)[:24]).
//!
//! Shapes follow the asic-rs `avalonminer` captures: Avalon Q (`version`, `stats`, `litestats`, `ascset_*`)
//! and Avalon 1246 (`avalon_a_stats`, the `MM ID0` bracket string).

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::{Behaviour, Proto, page, port};
use crate::cgminer::{self, Answer, Cmd, Dialect, Outcome, reply, status};
use crate::device::{Device, PoolState};
use crate::fleet::{DeviceSpec, Family, Port};
use crate::http::{Request, Response};
use crate::log::RequestKind;

/// Avalon.
pub(crate) struct Avalon;

struct Cg;

const DESC: &str = "cgminer 4.11.1";

/// `ascset` options of the Avalon Q help reply.
const ASCSET_HELP: &str = "help|voltage|fan-spd|lcd|hash-sn-read|hash-sn-write|volt-tuning|workmode|worklevel|work_mode_lvl|reboot|softon|softoff|filter-clean|facopts|faclock|activate|solo-allowed|frequency|loop|password|qr_auth|time|";

fn is_q(dev: &Device) -> bool {
    let m = dev.spec.model.to_ascii_uppercase();
    m.ends_with(" Q") || m.contains("NANO") || m.contains("MINI")
}

/// `MODEL` of `version` (`Q`, `1246`).
fn short_model(dev: &Device) -> String {
    dev.spec.model.rsplit(' ').next().unwrap_or("").to_owned()
}

fn dna(dev: &Device) -> String {
    hex::encode(&crate::crypto::sha256(dev.spec.serial.as_bytes())[..16])
}

/// The bracketed `MM ID0` status string.
fn mm_string(dev: &Device) -> String {
    let fw = &dev.spec.firmware;
    let ghs = dev.ghs("av");
    let state = if dev.lock().mining {
        "Work: In Work, Hash Board: 3 "
    } else {
        "Work: In Idle, Hash Board: 3 "
    };
    if is_q(dev) {
        format!(
            "'STATS':{{Ver[{m}-{fw}] LVer[{fw}] BVer[{fw}] HashMcu0Ver[Q_hb_v1.1] FanMcuVer[Q_fb_v1.2] CPU[K230] FW[Release] DNA[{dna}] STATE[2] MEMFREE[67896] NETFAIL[0 0 0 0 0 0 0 0] SSID[] RSSI[0] NetDevType[0] SYSTEMSTATU[{state}] Elapsed[{el}] BOOTBY[0x01.00000000] LW[16987598] MH[0] DHW[0] HW[0] DH[2.449%] ITemp[26] HBITemp[27] HBOTemp[27] TMax[70] TAvg[64] TarT[65] Fan1[2100] Fan2[2100] Fan3[0] Fan4[0] FanR[40%] SoftOffTime[0] SoftOnTime[0] Filter[19145] FanErr[0] SoloAllowed[1] PS[0 1221 4 0 0 2245 146] PCOMM_E[0] GHSspd[{ghs:.2}] DHspd[0.000%] GHSmm[{ghs:.2}] GHSavg[{ghs:.2}] WU[619573.88] Freq[282.86] MGHS[{ghs:.2}] TA[160] Core[A3197S] BIN[36] PING[17] SoftOFF[0] ECHU[0] ECMM[0] PLL0[8843 5769 5098 4610] SF0[258 276 297 318] CRC[0] COMCRC[0] ATA0[800-65-2264-258-20] LcdOnoff[1] Activation[0] WORKMODE[0] WORKLEVEL[0] MPO[800] CALIALL[7] ADJ[1] Nonce Mask[25]}}",
            m = short_model(dev),
            dna = dna(dev),
            el = dev.uptime(),
        )
    } else {
        let g3 = ghs / 3.0;
        format!(
            "Ver[{m}-83-{fw}] DNA[{dna}] MEMFREE[1201472.0] NETFAIL[0 0 0 0 0 0 0 0] SYSTEMSTATU[{state}] Elapsed[{el}] BOOTBY[0x08.00000000] LW[24558724] MH[999 697 1039] HW[2735] DH[2.732%] Temp[30] TMax[77] TAvg[65] Fan1[5344] Fan2[5392] Fan3[5349] Fan4[5309] FanR[72%] Vo[329] PS[0 1214 1316 242 3189 1320 3504] PLL0[1796 4524 5435 2165] PLL1[5106 4977 3262 575] PLL2[2553 5158 4450 1759] GHSspd[{ghs:.2}] DHspd[2.732%] GHSmm[{ghs:.2}] GHSavg[{ghs:.2}] WU[1112790.28] Freq[502.41] Led[0] MGHS[{g3:.2} {g3:.2} {g3:.2}] MTmax[77 77 76] MTavg[66 65 64] TA[360] Core[A3201] PING[443] POWS[0] HASHS[0 0 0] POOLS[0] SoftOFF[0] ECHU[0 0 0] ECMM[0] SF0[472 492 512 532] SF1[472 492 512 532] SF2[472 492 512 532] CRC[0 0 0] POW_I2C[OK] FACOPTS0[0] FACOPTS1[0] ATAOPTS0[0] ATAOPTS1[0] ADJ[1] COP[0 0 0] MPO[3315] MVL[87] WORKMODE[1]",
            m = short_model(dev),
            dna = &dna(dev)[..16],
            el = dev.uptime(),
        )
    }
}

fn pool_stats(dev: &Device) -> Vec<Value> {
    let n = dev.lock().pools.len();
    (0..n)
        .map(|i| {
            json!({
                "Bytes Recv": 876_632, "Bytes Sent": 146_476, "Calls": 0, "Elapsed": dev.uptime(), "ID": format!("POOL{i}"),
                "Max": 0.0, "Max Diff": 524_288.0, "Max Diff Count": 60, "Min": 99_999_999.0, "Min Diff": 100_000.0,
                "Min Diff Count": 1, "Net Bytes Recv": 876_632, "Net Bytes Sent": 146_476, "Pool Attempts": 0,
                "Pool Av": 0.0, "Pool Calls": 0, "Pool Max": 0.0, "Pool Min": 99_999_999.0, "Pool Wait": 0.0,
                "STATS": i + 1, "Times Recv": 1580, "Times Sent": 895, "Wait": 0.0, "Work Can Roll": false,
                "Work Diff": 524_288.0, "Work Had Expire": false, "Work Had Roll Time": false, "Work Roll Time": 0,
            })
        })
        .collect()
}

fn stats(dev: &Device) -> Vec<Value> {
    let head = if is_q(dev) {
        json!({
            "Calls": 0, "Elapsed": dev.uptime(),
            "HBinfo": "'HB0':{PVT_T0[ 58  59  59  61] PVT_V0[282 278 276 275] MW0[526 664 642 628]}",
            "ID": "AVALON0", "MM ID0:Summary": mm_string(dev), "Max": 0.0, "Min": 99_999_999.0, "STATS": 0, "Wait": 0.0,
        })
    } else {
        json!({
            "Calls": 0, "Elapsed": dev.uptime(), "ID": "AVA100", "MM Count": 1, "MM ID0": mm_string(dev), "Max": 0.0,
            "Min": 99_999_999.0, "Nonce Mask": 25, "STATS": 0, "Smart Speed": 1, "Voltage Level Offset": 0, "Wait": 0.0,
        })
    };
    let mut v = vec![head];
    v.extend(pool_stats(dev));
    v
}

fn pools(dev: &Device) -> Vec<Value> {
    let st = dev.lock();
    let el = dev.uptime();
    st.pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let active = i == 0 && st.mining;
            json!({
                "Accepted": if active { el / 40 } else { 0 }, "Bad Work": 0, "Best Share": if active { 354_914_572 } else { 0 },
                "Current Block Height": if active { 907_089 } else { 0 }, "Current Block Version": 536_870_912,
                "Diff1 Shares": 0, "Difficulty Accepted": 0.0, "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0,
                "Discarded": 0, "Get Failures": 0, "Getworks": el / 55, "Has GBT": false, "Has Stratum": true,
                "Has Vmask": true, "Last Share Difficulty": 524_288.0, "Last Share Time": 31279, "Long Poll": "N",
                "POOL": i, "Password": p.password, "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Priority": p.priority,
                "Proxy": "", "Proxy Type": "", "Quota": p.quota, "Rejected": 0, "Remote Failures": 0, "Stale": 0,
                "Status": if p.enabled { "Alive" } else { "Disabled" }, "Stratum Active": active,
                "Stratum Difficulty": 524_288.0, "Stratum URL": p.url, "URL": p.url, "User": p.user,
                "Work Difficulty": 524_288.0, "Works": el * 2,
            })
        })
        .collect()
}

pub(crate) fn summary(dev: &Device) -> Value {
    let el = dev.uptime();
    let mhs = dev.ghs("av") * 1000.0;
    json!({
        "Accepted": el / 40, "Best Share": 354_914_572, "Device Hardware%": 0.0, "Device Rejected%": 0.2007,
        "Difficulty Accepted": (el / 40 * 524_288) as f64, "Difficulty Rejected": 786_432.0, "Difficulty Stale": 0.0,
        "Discarded": 0, "Elapsed": el, "Found Blocks": 0, "Get Failures": 0, "Getworks": el / 55, "Hardware Errors": 0,
        "Last getwork": 0, "Local Work": el * 5, "MHS 15m": mhs, "MHS 1m": mhs, "MHS 5m": mhs,
        "MHS 5s": dev.ghs("5s") * 1000.0, "MHS av": mhs, "Network Blocks": el / 600, "Pool Rejected%": 0.2129,
        "Pool Stale%": 0.0, "Rejected": 2, "Remote Failures": 0, "Stale": 0, "Total MH": (mhs * el as f64).round(),
        "Utility": 1.42, "Work Utility": 623_462.2,
    })
}

fn devs(dev: &Device) -> Value {
    let el = dev.uptime();
    let mhs = dev.ghs("av") * 1000.0;
    json!({
        "ASC": 0, "Accepted": el / 40, "Device Elapsed": el, "Device Hardware%": 0.0, "Device Rejected%": 0.2007,
        "Diff1 Work": el * 10_000, "Difficulty Accepted": (el / 40 * 524_288) as f64, "Difficulty Rejected": 786_432.0,
        "Enabled": "Y", "Hardware Errors": 0, "ID": 0, "Last Share Difficulty": 524_288.0, "Last Share Pool": 0,
        "Last Share Time": 31279, "Last Valid Work": cgminer::now(), "MHS 15m": mhs, "MHS 1m": mhs, "MHS 5m": mhs,
        "MHS 5s": dev.ghs("5s") * 1000.0, "MHS av": mhs, "Name": "AVALON", "Rejected": 2, "Status": "Alive",
        "Temperature": 0.0, "Total MH": (mhs * el as f64).round(), "Utility": 1.4,
    })
}

/// `ascset|0,<op>,…`.
fn ascset(dev: &Device, param: Option<&str>) -> Value {
    let p = param.unwrap_or("");
    let mut it = p.split(',');
    let id = it.next().unwrap_or("").trim();
    let op = it.next().unwrap_or("").trim().to_ascii_lowercase();
    let args: Vec<&str> = it.collect();
    if id != "0" {
        return cgminer::error(111, &format!("Invalid ASC id {id} - range is 0 - 0"), DESC);
    }
    let info = |msg: String| reply(status("I", 118, &format!("ASC 0 set info: {msg}"), DESC), None);
    let ok = || reply(status("S", 119, "ASC 0 set OK", DESC), None);
    let fail = |msg: &str| reply(status("E", 120, &format!("ASC 0 set failed: {msg}"), DESC), None);
    let auth_failed = || fail("Auth Failed! password invalid!");
    let now = cgminer::now();
    match op.as_str() {
        "" => fail("missing option"),
        "help" => info(ASCSET_HELP.to_owned()),
        "softoff" => {
            dev.lock().mining = false;
            info(format!("success softoff:{now}"))
        }
        "softon" => {
            dev.lock().mining = true;
            info(format!("success softon:{now}"))
        }
        "password" => {
            let mut st = dev.lock();
            match args.as_slice() {
                [old, new, ..] if *old == st.password && !new.is_empty() => {
                    st.password = (*new).to_owned();
                    ok()
                }
                _ => auth_failed(),
            }
        }
        "setpool" => {
            // setpool,<user>,<password>,<index>,<url>,<worker>,<worker password>
            let mut st = dev.lock();
            match args.as_slice() {
                [user, pass, idx, url, worker, wpass, ..]
                    if *user == dev.spec.user() && *pass == st.password =>
                {
                    let Ok(i) = idx.trim().parse::<usize>() else {
                        return fail("invalid pool index");
                    };
                    if i > 2 {
                        return fail("invalid pool index");
                    }
                    let ps = PoolState::new(url, worker, wpass, i);
                    if i < st.pools.len() {
                        st.pools[i] = ps;
                    } else {
                        st.pools.push(ps);
                    }
                    ok()
                }
                _ => auth_failed(),
            }
        }
        "reboot" => {
            dev.lock().mining = false;
            ok()
        }
        o if ASCSET_HELP.split('|').any(|h| h == o) => ok(),
        o => fail(&format!("unknown option '{o}'")),
    }
}

impl Dialect for Cg {
    fn description(&self, _dev: &Device) -> String {
        DESC.to_owned()
    }

    fn command(&self, name: &str) -> Option<Cmd> {
        match name {
            "litestats" => Some(Cmd {
                privileged: false,
                joinable: true,
            }),
            _ => None,
        }
    }

    fn classify(&self, cmd: &str, param: Option<&str>) -> RequestKind {
        match cmd {
            "ascset" => {
                let op = param
                    .unwrap_or("")
                    .split(',')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if op == "help" {
                    RequestKind::Read
                } else {
                    RequestKind::StateChanging
                }
            }
            "privileged" | "litestats" => RequestKind::Read,
            c => match cgminer::standard(c) {
                Some(x) if x.privileged => RequestKind::StateChanging,
                _ => RequestKind::Read,
            },
        }
    }

    fn answer(&self, dev: &Device, cmd: &str, param: Option<&str>) -> Answer {
        let ok = |code: u32, msg: &str| status("S", code, msg, DESC);
        let fw = &dev.spec.firmware;
        let v = match cmd {
            "version" => reply(
                ok(22, "CGMiner versions"),
                Some((
                    "VERSION",
                    vec![json!({
                        "API": "3.7", "BVERSION": fw, "CGMiner": "4.11.1", "CGVERSION": fw, "DNA": dna(dev),
                        "FANMCUVERSION": format!("{}_fb_v1.2", short_model(dev)),
                        "HBMCUVERSION": format!("{}_hb_v1.1", short_model(dev)),
                        "HWTYPE": format!("{}_MM1v1_X1", short_model(dev)), "LVERSION": fw, "MAC": dev.spec.mac.replace(':', "").to_ascii_lowercase(),
                        "MODEL": short_model(dev), "PROD": dev.spec.model, "SWTYPE": "MM319",
                    })],
                )),
            ),
            "summary" => reply(ok(11, "Summary"), Some(("SUMMARY", vec![summary(dev)]))),
            "devs" => reply(ok(9, "1 ASC(s)"), Some(("DEVS", vec![devs(dev)]))),
            "pools" => {
                let p = pools(dev);
                reply(ok(7, &format!("{} Pool(s)", p.len())), Some(("POOLS", p)))
            }
            "stats" | "estats" => reply(ok(70, "CGMiner stats"), Some(("STATS", stats(dev)))),
            "litestats" => reply(
                ok(70, "CGMiner stats"),
                Some(("STATS", vec![json!({"MM ID0:Summary": mm_string(dev)})])),
            ),
            "devdetails" => reply(
                ok(69, "Device Details"),
                Some((
                    "DEVDETAILS",
                    vec![
                        json!({"DEVDETAILS": 0, "Device Path": "", "Driver": "avalon", "ID": 0, "Kernel": "", "Model": "", "Name": "AVALON"}),
                    ],
                )),
            ),
            "config" => reply(
                ok(33, "CGMiner config"),
                Some((
                    "CONFIG",
                    vec![
                        json!({"ASC Count": 1, "Device Code": "AVALON", "Hotplug": "None", "Log Interval": 5, "OS": "Linux", "PGA Count": 0, "Pool Count": dev.lock().pools.len(), "Strategy": "Failover"}),
                    ],
                )),
            ),
            "coin" => reply(
                ok(78, "CGMiner coin"),
                Some((
                    "COIN",
                    vec![
                        json!({"Current Block Hash": "00000000000000000001d0ccaffecb937ee444cb056356abc59b9066666000ab", "Current Block Time": 37_310.18, "Hash Method": "sha256", "LP": true, "Network Difficulty": 126_271_255_279_306.98}),
                    ],
                )),
            ),
            "ascset" => ascset(dev, param),
            _ => return Answer::Standard,
        };
        Answer::Reply(v)
    }
}

/// pyasic's Avalon web cookie: `ff0000ff` + the first 24 hex digits of sha256(password).
fn cookie_for(password: &str) -> String {
    let h = hex::encode(crate::crypto::sha256(password.as_bytes()));
    format!("ff0000ff{}", &h[..24])
}

impl Behaviour for Avalon {
    fn family(&self) -> Family {
        Family::Avalon
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![port(4028, Proto::Cgminer), port(80, Proto::Http)]
    }

    fn api(&self, dev: &Device, peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome {
        cgminer::serve(&Cg, dev, peer, raw)
    }

    fn web(&self, dev: &Device, req: &Request) -> (Response, RequestKind) {
        let path = req.path();
        let kind = match path {
            "/" | "/login.cgi" | "/get_minerinfo.cgi" | "/get_status.cgi" | "/get_home.cgi" => {
                RequestKind::Read
            }
            _ if req.method == "GET" && !path.starts_with("/set") && !path.contains("reboot") => {
                RequestKind::Read
            }
            _ => RequestKind::StateChanging,
        };
        if path == "/" || path == "/index.html" {
            let body = page(
                &format!("{} Web", dev.spec.model),
                "<div id=\"app\">Avalon Device Management</div><script src=\"/js/login.js\"></script>",
            );
            return (Response::html(200, &body), kind);
        }
        let authed = req
            .cookie("auth")
            .is_some_and(|c| c == cookie_for(&dev.lock().password));
        if !authed {
            return (
                Response::html(403, &page("Avalon", "<h1>Please login</h1>")),
                kind,
            );
        }
        let Some(cmd) = path.strip_prefix('/').and_then(|p| p.strip_suffix(".cgi")) else {
            return (Response::not_found(), kind);
        };
        let data = match cmd {
            "get_minerinfo" => json!({
                "mac": dev.spec.mac, "hwtype": format!("{}_MM1v1_X1", short_model(dev)), "sn": dev.spec.serial,
                "version": dev.spec.firmware, "model": dev.spec.model, "ip": dev.spec.address.to_string(),
            }),
            "get_status" | "get_home" => {
                json!({"elapsed": dev.uptime(), "ghsav": dev.ghs("av"), "ghsmm": dev.ghs("5s"), "state": if dev.lock().mining { "mining" } else { "idle" }})
            }
            _ => return (Response::not_found(), kind),
        };
        let body = format!("minerinfoCallback({data})");
        (Response::new(200, "application/javascript", body), kind)
    }

    fn server(&self) -> &'static str {
        "lighttpd/1.4.59"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::new(DeviceSpec::new(Family::Avalon, Ipv4Addr::new(127, 77, 252, 1)))
    }

    #[test]
    fn version_and_ascset() {
        let d = dev();
        let out = Avalon.api(&d, Ipv4Addr::LOCALHOST, 4028, br#"{"command":"version"}"#);
        let b = out.reply.unwrap();
        let v: Value = serde_json::from_slice(&b[..b.len() - 1]).unwrap();
        assert_eq!(v["VERSION"][0]["PROD"], "Avalon Q");
        assert_eq!(v["VERSION"][0]["MODEL"], "Q");
        let out = Avalon.api(&d, Ipv4Addr::LOCALHOST, 4028, b"ascset|0,softoff,1:1753434821");
        assert_eq!(out.log[0].1, RequestKind::StateChanging);
        assert!(!d.lock().mining);
        let out = Avalon.api(&d, Ipv4Addr::LOCALHOST, 4028, b"ascset|0,password,wrong,new");
        let t = String::from_utf8(out.reply.unwrap()).unwrap();
        assert!(t.starts_with("STATUS=E,When="), "{t}");
        assert!(
            t.contains(
                ",Code=120,Msg=ASC 0 set failed: Auth Failed! password invalid!,Description=cgminer 4.11.1|"
            ),
            "{t}"
        );
        let out = Avalon.api(&d, Ipv4Addr::LOCALHOST, 4028, b"ascset|0,help");
        assert_eq!(out.log[0].1, RequestKind::Read);
    }

    #[test]
    fn cookie_matches_scheme() {
        assert_eq!(cookie_for("root").len(), 32);
        assert!(cookie_for("root").starts_with("ff0000ff"));
    }
}
