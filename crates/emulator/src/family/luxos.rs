//! Luxor LuxOS (LUXminer) on Antminer hardware: the cgminer engine open to every address, the documented
//! `version` spoof (`Type: Antminer S9`, `BMMiner`, `Miner: uart_trans.1.3` beside the real `LUXminer` key),
//! pool groups with quotas, password-less `logon` sessions, and pool writes that need no session at all.
//!
//! Shapes follow the asic-rs `luxminer/v1` captures (LUXminer 2025.4.8 on an S19k Pro); a spec with
//! `real_type = true` answers `version` with the capture's un-spoofed form.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::antminer;
use super::{Behaviour, Proto, page, port};
use crate::cgminer::{self, Answer, Cmd, Dialect, Outcome, reply, status};
use crate::device::{Device, GroupState};
use crate::fleet::{DeviceSpec, Family, Port};
use crate::http::{Request, Response};
use crate::log::RequestKind;

/// LuxOS.
pub(crate) struct Luxos;

struct Cg;

/// LUXminer's own commands: `(name, kind)`; the standard cgminer ones come from the engine's table.
const LUX_COMMANDS: &[(&str, RequestKind)] = &[
    ("addgroup", RequestKind::StateChanging),
    ("atm", RequestKind::Read),
    ("atmset", RequestKind::StateChanging),
    ("curtail", RequestKind::StateChanging),
    ("events", RequestKind::Read),
    ("fans", RequestKind::Read),
    ("fanset", RequestKind::StateChanging),
    ("frequencyset", RequestKind::StateChanging),
    ("groupquota", RequestKind::StateChanging),
    ("groups", RequestKind::Read),
    ("kill", RequestKind::SessionCreating),
    ("ledset", RequestKind::StateChanging),
    ("logoff", RequestKind::SessionCreating),
    ("logon", RequestKind::SessionCreating),
    ("power", RequestKind::Read),
    ("profiles", RequestKind::Read),
    ("profileset", RequestKind::StateChanging),
    ("rebootdevice", RequestKind::StateChanging),
    ("removegroup", RequestKind::StateChanging),
    ("resetminer", RequestKind::StateChanging),
    ("session", RequestKind::Read),
    ("tempctrl", RequestKind::Read),
    ("temps", RequestKind::Read),
    ("updaterun", RequestKind::StateChanging),
    ("voltageset", RequestKind::StateChanging),
];

/// Commands that need the session id as first parameter.
const NEEDS_SESSION: &[&str] = &[
    "atmset",
    "curtail",
    "fanset",
    "frequencyset",
    "ledset",
    "profileset",
    "rebootdevice",
    "resetminer",
    "voltageset",
];

fn desc(dev: &Device) -> String {
    format!("LUXminer {}", dev.spec.firmware)
}

/// "2025.4.8.220305-57b389c7" → "Tue Apr  8 22:05:35 UTC 2025".
fn compile_time(fw: &str) -> String {
    let nums: Vec<u32> = fw
        .split(['.', '-'])
        .take(4)
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let (y, m, d) = (
        nums.first().copied().unwrap_or(2025),
        nums.get(1).copied().unwrap_or(1),
        nums.get(2).copied().unwrap_or(1),
    );
    let hms = nums.get(3).copied().unwrap_or(0);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    // Sakamoto's day-of-week.
    let t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let yy = if m < 3 { y.saturating_sub(1) } else { y };
    let mi = (m.clamp(1, 12) - 1) as usize;
    let dow = (yy + yy / 4 - yy / 100 + yy / 400 + t[mi] + d) % 7;
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} UTC {y}",
        DAYS[dow as usize],
        MONTHS[mi],
        d,
        (hms / 10_000) % 24,
        (hms / 100) % 100,
        hms % 100
    )
}

fn miner_ver(fw: &str) -> &str {
    fw.split('-').next().unwrap_or(fw)
}

fn pools(dev: &Device) -> Vec<Value> {
    let st = dev.lock();
    let el = dev.uptime();
    st.pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // The first enabled pool of each group is the one hashing for it.
            let active = st.mining && st.pools.iter().position(|q| q.group == p.group && q.enabled) == Some(i);
            let quota = st.groups.get(p.group).map_or(1, |g| g.quota);
            json!({
                "Accepted": if active { el / 5 } else { 0 }, "AsicBoost": true, "Bad Work": 0,
                "Best Share": if active { 32_768 } else { 0 }, "Current Block Height": 0,
                "Current Block Version": if active { 536_870_912 } else { 0 }, "Diff": if active { "32K" } else { "0" },
                "Diff1 Shares": 0, "Difficulty Accepted": 0, "Difficulty Rejected": 0, "Difficulty Stale": 0,
                "Discarded": 0, "GROUP": p.group, "Get Failures": 0, "Getworks": if active { el / 10 } else { 0 },
                "Has GBT": false, "Has Stratum": true, "Has Vmask": true,
                "Last Share Difficulty": if active { 32_768 } else { 0 },
                "Last Share Time": if active { "00:00:01" } else { "00:57:33" }, "Long Pool": "N", "POOL": i,
                "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Priority": p.priority, "Proxy": "", "Proxy Type": "",
                "Quota": f64::from(quota), "Rejected": 0, "Remote Failures": 0, "Stale": 0,
                "Status": if !p.enabled { "Disabled" } else if active { "Alive" } else { "Dead" },
                "Stratum Active": active, "Stratum Difficulty": if active { 32_768 } else { 0 },
                "Stratum URL": crate::fleet::pool_host(&p.url), "URL": p.url, "User": p.user,
                "Work Difficulty": if active { 32_768 } else { 0 }, "Works": 0,
            })
        })
        .collect()
}

fn config(dev: &Device) -> Value {
    let st = dev.lock();
    json!({
        "ASC Count": 3, "BcastAddr": "127.255.255.255", "ControlBoardType": "cvitek", "Cooling": "Air",
        "CurtailMode": if st.mining { "None" } else { "Sleep" }, "DHCP": true, "DNS Servers": "", "Device Code": "",
        "FPGABuildIdHex": "0x18351835", "FPGABuildIdStr": "2018-35-18 35:00", "FeeStatus": "Ok", "Gateway": "",
        "GreenLed": "auto", "Hostname": "luxos", "Hotplug": "None", "IPAddr": dev.spec.address.to_string(),
        "ImmersionMode": false, "IsAtmEnabled": true, "IsPowerSupplyOn": true, "IsSingleVoltage": true,
        "IsTuning": false, "Log Interval": 0, "LogFileLevel": "info", "MACAddr": dev.spec.mac.to_ascii_lowercase(),
        "Model": dev.spec.model, "NameplateTHS": dev.spec.hashrate_ths, "Netmask": "255.255.255.0", "OS": "LuxOS",
        "PGA Count": 0, "PSUHwVersion": "75", "PSULabel": "APW121215e", "Pool Count": st.pools.len(),
        "Profile": "default", "ProfileStep": "0", "RedLed": "auto", "SerialNumber": dev.spec.serial,
        "Strategy": "Failover", "SystemStatus": "Normal", "UpdateOnStartup": "off", "UpdateOnTimeout": "off",
        "UpdateOnUser": "full", "UpdateSource": "stable", "UpdateTimeout": 60,
    })
}

fn summary(dev: &Device) -> Value {
    let el = dev.uptime();
    let g = |s: &str| dev.ghs(s);
    json!({
        "Accepted": el / 3, "Best Share": 32_768, "Device Hardware%": 0.0, "Device Rejected%": 0.0,
        "Difficulty Accepted": el / 3 * 32_768, "Difficulty Rejected": 32_768, "Difficulty Stale": 0, "Discarded": 0,
        "Elapsed": el, "Found Blocks": 0, "GHS 15m": g("15m"), "GHS 1m": g("1m"), "GHS 24h": g("24h"),
        "GHS 30m": g("30m"), "GHS 5m": g("5m"), "GHS 5s": g("5s"), "GHS av": g("av"), "Get Failures": 0,
        "Getworks": el / 5, "Hardware Errors": 0, "Last getwork": cgminer::now(), "Local Work": 0,
        "Network Blocks": 0, "Pool Rejected%": 0.0773, "Pool Stale%": 0.0, "Rejected": 1, "Remote Failures": 0,
        "Stale": 0, "Total MH": g("av") * 1000.0, "Utility": 26.03, "Work Utility": 11.5,
    })
}

fn devs(dev: &Device) -> Vec<Value> {
    let el = dev.uptime();
    (0..3usize)
        .map(|i| {
            let mhs = dev.ghs(&format!("b{i}")) * 1000.0 / 3.0;
            json!({
                "ASC": i, "Accepted": el / 9, "Board": "BHB56903", "Connector": format!("J{}", 7 + i),
                "ControllerIPVersionHex": "0x18351835", "ControllerIPVersionStr": "N/A", "Device Elapsed": el,
                "Device Hardware%": 0, "Device Rejected%": 0, "Diff1 Work": el / 9 * 32_768,
                "Difficulty Accepted": el / 9 * 32_768, "Difficulty Rejected": 0, "Enabled": "Y",
                "Hardware Error MHS 15m": 0, "Hardware Errors": 0, "ID": i, "IsRamping": false, "IsUserShutdown": false,
                "Last Share Difficulty": 32_768, "Last Share Pool": 0, "Last Share Time": cgminer::now(),
                "Last Valid Work": cgminer::now(), "MHS 15m": mhs, "MHS 1m": mhs, "MHS 30m": mhs, "MHS 5m": mhs,
                "MHS 5s": mhs, "MHS 60m": mhs, "MHS av": mhs, "Name": "",
                "Nominal MHS": dev.spec.hashrate_ths * 1e6 / 3.0, "Profile": "default", "Rejected": 0,
                "SerialNumber": format!("{}{i}", dev.spec.serial), "Status": "Alive", "Temperature": 47.0,
                "Total MH": mhs, "Utility": 0,
            })
        })
        .collect()
}

fn session_item(id: Option<&str>) -> Value {
    json!({"SessionID": id.unwrap_or("")})
}

impl Dialect for Cg {
    fn description(&self, dev: &Device) -> String {
        desc(dev)
    }

    fn command(&self, name: &str) -> Option<Cmd> {
        LUX_COMMANDS.iter().find(|(n, _)| *n == name).map(|(_, k)| Cmd {
            privileged: false,
            joinable: *k == RequestKind::Read,
        })
    }

    fn classify(&self, cmd: &str, _param: Option<&str>) -> RequestKind {
        if let Some((_, k)) = LUX_COMMANDS.iter().find(|(n, _)| *n == cmd) {
            return *k;
        }
        match cgminer::standard(cmd) {
            Some(c) if c.privileged && cmd != "privileged" => RequestKind::StateChanging,
            _ => RequestKind::Read,
        }
    }

    fn group_of(&self, _dev: &Device, _peer: Ipv4Addr) -> Option<char> {
        // LuxOS has no api-allow: every address gets everything, writes included.
        Some('W')
    }

    fn answer(&self, dev: &Device, cmd: &str, param: Option<&str>) -> Answer {
        let d = desc(dev);
        let ok = |code: u32, msg: &str| status("S", code, msg, &d);
        let fw = dev.spec.firmware.clone();
        let session_ok = || {
            let sid = param
                .unwrap_or("")
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            dev.lock().session.as_deref() == Some(sid.as_str()) && !sid.is_empty()
        };
        let v = match cmd {
            "version" => {
                let item = if dev.spec.real_type {
                    json!({"API": "3.7", "CompileTime": compile_time(&fw), "LUXminer": fw, "Miner": miner_ver(&fw), "Type": dev.spec.model})
                } else {
                    json!({"API": "3.7", "BMMiner": "1.0.0", "CompileTime": compile_time(&fw), "LUXminer": fw, "Miner": "uart_trans.1.3", "Type": "Antminer S9"})
                };
                reply(ok(22, "LUXminer versions"), Some(("VERSION", vec![item])))
            }
            "config" => reply(ok(33, "LUXminer config"), Some(("CONFIG", vec![config(dev)]))),
            "pools" => {
                let p = pools(dev);
                reply(ok(7, &format!("{} Pool(s)", p.len())), Some(("POOLS", p)))
            }
            "summary" => reply(ok(11, "Summary"), Some(("SUMMARY", vec![summary(dev)]))),
            "devs" => reply(ok(9, "3 ASC(s)"), Some(("DEVS", devs(dev)))),
            "stats" => {
                let head = json!({"CompileTime": compile_time(&fw), "Miner": miner_ver(&fw), "Type": dev.spec.model});
                reply(
                    ok(70, "LUXminer stats"),
                    Some(("STATS", vec![head, antminer::stats(dev, miner_ver(&fw))])),
                )
            }
            "groups" => {
                let st = dev.lock();
                let items: Vec<Value> = st
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let pools: Vec<Value> = st
                            .pools
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| p.group == i)
                            .map(|(n, p)| json!({"POOL": n, "URL": p.url, "User": p.user}))
                            .collect();
                        json!({"GROUP": i, "Name": g.name, "Quota": g.quota, "Strategy": "Failover", "Pool Count": pools.len(), "Pools": pools})
                    })
                    .collect();
                reply(
                    ok(7, &format!("{} Group(s)", items.len())),
                    Some(("GROUPS", items)),
                )
            }
            "session" => {
                let s = dev.lock().session.clone();
                reply(
                    ok(300, "Session"),
                    Some(("SESSION", vec![session_item(s.as_deref())])),
                )
            }
            "logon" => {
                let mut st = dev.lock();
                if st.session.is_some() {
                    return Answer::Reply(cgminer::error(302, "Another session is active", &d));
                }
                let id = st.fresh(&dev.spec.serial, 8);
                st.session = Some(id.clone());
                reply(ok(301, "Logon"), Some(("SESSION", vec![session_item(Some(&id))])))
            }
            "logoff" | "kill" => {
                if cmd == "logoff" && !session_ok() {
                    return Answer::Reply(cgminer::error(304, "Session ID is invalid", &d));
                }
                dev.lock().session = None;
                reply(ok(303, "Logoff"), None)
            }
            "addgroup" => {
                let mut it = param.unwrap_or("").split(',');
                let name = it.next().unwrap_or("").trim().to_owned();
                let quota = it.next().and_then(|q| q.trim().parse::<u32>().ok()).unwrap_or(1);
                if name.is_empty() {
                    return Answer::Reply(cgminer::error(406, "Missing group name", &d));
                }
                let mut st = dev.lock();
                st.groups.push(GroupState { name, quota });
                let n = st.groups.len() - 1;
                reply(ok(400, &format!("Added group {n}")), None)
            }
            "groupquota" => {
                let mut it = param.unwrap_or("").split(',');
                let g = it.next().and_then(|g| g.trim().parse::<usize>().ok());
                let q = it.next().and_then(|q| q.trim().parse::<u32>().ok());
                let mut st = dev.lock();
                match (g, q) {
                    (Some(g), Some(q)) if g < st.groups.len() => {
                        st.groups[g].quota = q;
                        reply(ok(401, &format!("Set group {g} quota {q}")), None)
                    }
                    _ => cgminer::error(407, "Invalid group", &d),
                }
            }
            "removegroup" => {
                let g = param.and_then(|g| g.trim().parse::<usize>().ok());
                let mut st = dev.lock();
                match g {
                    Some(g) if g > 0 && g < st.groups.len() => {
                        st.groups.remove(g);
                        st.pools.retain(|p| p.group != g);
                        for p in st.pools.iter_mut() {
                            if p.group > g {
                                p.group -= 1;
                            }
                        }
                        reply(ok(402, &format!("Removed group {g}")), None)
                    }
                    _ => cgminer::error(407, "Invalid group", &d),
                }
            }
            "addpool" => {
                // addpool|url,user,pass[,group]: no session needed (pyasic sends it bare).
                let p: Vec<&str> = param.unwrap_or("").split(',').collect();
                if p.len() < 3 || p[0].is_empty() {
                    return Answer::Reply(cgminer::error(52, "Invalid addpool details", &d));
                }
                let mut st = dev.lock();
                let group = p
                    .get(3)
                    .and_then(|g| g.trim().parse::<usize>().ok())
                    .filter(|g| *g < st.groups.len())
                    .unwrap_or(0);
                let n = st.pools.len();
                let mut ps = crate::device::PoolState::new(p[0], p[1], p[2], n);
                ps.group = group;
                st.pools.push(ps);
                reply(ok(55, &format!("Added pool {n}: '{}'", p[0])), None)
            }
            c if NEEDS_SESSION.contains(&c) => {
                if !session_ok() {
                    return Answer::Reply(cgminer::error(304, "Session ID is invalid", &d));
                }
                match c {
                    "curtail" => dev.lock().mining = param.is_some_and(|p| p.contains("wakeup")),
                    "rebootdevice" | "resetminer" => dev.lock().mining = true,
                    _ => {}
                }
                reply(ok(310, &format!("{c} OK")), None)
            }
            "fans" => {
                let fans: Vec<Value> = (0..4)
                    .map(|i| json!({"FAN": format!("FAN{}", i + 1), "ID": i, "RPM": 1920 + 420 * (i / 2), "Speed": 20}))
                    .collect();
                let mut v = reply(ok(202, "4 Fan(s)"), Some(("FANS", fans)));
                v["FANCTRL"] = json!([{"MinFans": 3, "PowerOffSpeed": 20}]);
                v
            }
            "temps" => {
                let temps: Vec<Value> = (0..3)
                    .map(|i| json!({"BottomLeft": 47.0, "BottomRight": 34.0, "ID": i, "TEMP": i, "TopLeft": 47.0, "TopRight": 34.0}))
                    .collect();
                let mut v = reply(ok(201, "3 Temp(s)"), Some(("TEMPS", temps)));
                v["METADATA"] = json!([{
                    "BottomLeft": {"Label": "Board Exhaust (bottom)", "Position": [1, 0]},
                    "BottomRight": {"Label": "Board Intake (bottom)", "Position": [1, 1]},
                    "TopLeft": {"Label": "Board Exhaust (top)", "Position": [0, 0]},
                    "TopRight": {"Label": "Board Intake (top)", "Position": [0, 1]},
                }]);
                v
            }
            "tempctrl" => reply(
                ok(200, "Temperature control"),
                Some((
                    "TEMPCTRL",
                    vec![json!({"Mode": "Auto", "Target": 75.0, "Hot": 85.0, "Dangerous": 95.0})],
                )),
            ),
            "power" => reply(
                ok(311, "Power usage"),
                Some((
                    "POWER",
                    vec![json!({"PSU": false, "Watts": (dev.spec.hashrate_ths * 24.0).round() as u64})],
                )),
            ),
            "profiles" => {
                let steps: Vec<Value> = (0..5u32)
                    .map(|i| {
                        let f = 190 + 25 * i;
                        json!({"CanRestore": true, "Frequency": f, "HasOverrides": false, "Hashrate": (f64::from(f) * dev.spec.hashrate_ths / 290.0 * 10.0).round() / 10.0, "IsDynamic": true, "IsTuned": false, "Profile Name": if f == 290 { "default".to_owned() } else { format!("{f}MHz") }, "Step": format!("-{}", 16 - i), "Voltage": 11.88, "Watts": 784 + 95 * i})
                    })
                    .collect();
                reply(
                    ok(200, &format!("{} Profile(s)", steps.len())),
                    Some(("PROFILES", steps)),
                )
            }
            "events" => reply(ok(357, "Miner Events"), Some(("EVENTS", Vec::new()))),
            "atm" | "updaterun" => reply(
                ok(200, cmd),
                Some((&cmd.to_ascii_uppercase(), vec![json!({"Enabled": true})])),
            ),
            _ => return Answer::Standard,
        };
        Answer::Reply(v)
    }
}

impl Behaviour for Luxos {
    fn family(&self) -> Family {
        Family::Luxos
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![port(4028, Proto::Cgminer), port(80, Proto::Http)]
    }

    fn api(&self, dev: &Device, peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome {
        cgminer::serve(&Cg, dev, peer, raw)
    }

    fn web(&self, _dev: &Device, req: &Request) -> (Response, RequestKind) {
        let kind = if req.method == "GET" || req.method == "HEAD" {
            RequestKind::Read
        } else {
            RequestKind::StateChanging
        };
        match req.path() {
            "/" | "/index.html" => (
                Response::html(
                    200,
                    &page(
                        "LuxOS",
                        "<div id=\"root\"></div><noscript>Luxor Firmware</noscript><script src=\"/static/js/main.js\"></script>",
                    ),
                ),
                kind,
            ),
            _ => (Response::not_found(), kind),
        }
    }

    fn server(&self) -> &'static str {
        "nginx"
    }

    fn ssh_banner(&self) -> &'static str {
        "SSH-2.0-OpenSSH_9.6\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(d: &Device, raw: &str) -> (Value, RequestKind) {
        let out = Luxos.api(d, Ipv4Addr::LOCALHOST, 4028, raw.as_bytes());
        let b = out.reply.unwrap();
        (serde_json::from_slice(&b[..b.len() - 1]).unwrap(), out.log[0].1)
    }

    #[test]
    fn spoof_and_real() {
        let mut s = DeviceSpec::new(Family::Luxos, Ipv4Addr::new(127, 77, 253, 1));
        let d = Device::new(s.clone());
        let (v, _) = call(&d, r#"{"command":"version"}"#);
        assert_eq!(v["VERSION"][0]["Type"], "Antminer S9");
        assert_eq!(v["VERSION"][0]["Miner"], "uart_trans.1.3");
        assert_eq!(v["VERSION"][0]["LUXminer"], "2025.4.8.220305-57b389c7");
        assert!(
            v["STATUS"][0]["Description"]
                .as_str()
                .unwrap()
                .starts_with("LUXminer")
        );
        s.real_type = true;
        let (v, _) = call(&Device::new(s), r#"{"command":"version"}"#);
        assert_eq!(v["VERSION"][0]["Type"], "Antminer S19k Pro");
        assert_eq!(
            compile_time("2025.4.8.220305-57b389c7"),
            "Tue Apr  8 22:03:05 UTC 2025"
        );
    }

    #[test]
    fn sessions_and_unauthenticated_pool_writes() {
        let d = Device::new(DeviceSpec::new(Family::Luxos, Ipv4Addr::new(127, 77, 253, 2)));
        let (v, k) = call(&d, r#"{"command":"session"}"#);
        assert_eq!(v["SESSION"][0]["SessionID"], "");
        assert_eq!(k, RequestKind::Read);
        let (v, k) = call(&d, r#"{"command":"logon"}"#);
        assert_eq!(k, RequestKind::SessionCreating);
        assert_eq!(v["SESSION"][0]["SessionID"].as_str().unwrap().len(), 8);
        let (v, k) = call(
            &d,
            r#"{"command":"addpool","parameter":"stratum+tcp://evil:3333,w,x"}"#,
        );
        assert_eq!(k, RequestKind::StateChanging);
        assert_eq!(v["STATUS"][0]["Code"], 55);
        let (v, _) = call(&d, r#"{"command":"rebootdevice","parameter":"wrong"}"#);
        assert_eq!(v["STATUS"][0]["STATUS"], "E");
    }
}
