//! The fleet: device specs, the TOML fleet file, the deterministic generator and the ground-truth manifest.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::EmulatorError;

/// Most devices one fleet may hold (a /16 of loopback addresses is plenty and bounds memory).
pub const MAX_DEVICES: usize = 65_536;

/// Pool hosts a typical operator allowlist holds; the generator's "foreign" pools are outside it and the
/// manifest marks any pool whose host is not listed here as [`Planted::ForeignPool`].
pub const ALLOWLIST_HOSTS: &[&str] = &[
    "btc.f2pool.com",
    "btc.global.luxor.tech",
    "btc.viabtc.io",
    "ca.stratum.braiins.com",
    "eu.stratum.braiins.com",
    "ss.antpool.com",
    "stratum.braiins.com",
    "stratum.slushpool.com",
    "us.ss.btc.com",
];

/// Firmware family: which stack the device runs, hence which ports and reply shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Stock Bitmain bmminer (cgminer API on 4028, digest-protected web CGI on 80).
    #[default]
    Antminer,
    /// MicroBT btminer, API v1/v2 on 4028 (string STATUS, token + AES writes).
    Whatsminer,
    /// MicroBT firmware with API v3 on 4433 (length-prefixed JSON).
    WhatsminerV3,
    /// Canaan cgminer 4.11.1 (Avalon).
    Avalon,
    /// Luxor LuxOS (LUXminer) on Antminer hardware.
    Luxos,
    /// Braiins OS (BOSer) on Antminer hardware.
    Braiins,
    /// Vnish / AnthillOS on Antminer hardware.
    Vnish,
    /// Something on a miner port that is no miner.
    Unknown,
}

impl Family {
    /// Every family, in registry order.
    pub const ALL: [Family; 8] = [
        Family::Antminer,
        Family::Whatsminer,
        Family::WhatsminerV3,
        Family::Avalon,
        Family::Luxos,
        Family::Braiins,
        Family::Vnish,
        Family::Unknown,
    ];

    /// The fleet-file spelling (`whatsminer_v3`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Antminer => "antminer",
            Family::Whatsminer => "whatsminer",
            Family::WhatsminerV3 => "whatsminer_v3",
            Family::Avalon => "avalon",
            Family::Luxos => "luxos",
            Family::Braiins => "braiins",
            Family::Vnish => "vnish",
            Family::Unknown => "unknown",
        }
    }

    /// The hardware maker the family runs on ("" for an unknown host).
    pub fn make(self) -> &'static str {
        match self {
            Family::Antminer | Family::Luxos | Family::Braiins | Family::Vnish => "Bitmain",
            Family::Whatsminer | Family::WhatsminerV3 => "MicroBT",
            Family::Avalon => "Canaan",
            Family::Unknown => "",
        }
    }
}

/// A per-device misbehaviour, applied on every port of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Behaves.
    #[default]
    None,
    /// The real reply, one byte every 2 s.
    #[serde(alias = "slow_drip")]
    SlowDrip,
    /// Accepts and reads, never answers; closes after 120 s or when the client goes.
    Silent,
    /// Sends the first half of the reply, then resets the connection (RST).
    Reset,
    /// A 100 MB reply, streamed.
    Huge,
    /// A reply no repair can turn into JSON (still NUL-terminated on 4028).
    #[serde(alias = "invalid_json")]
    InvalidJson,
    /// The port speaks another protocol (HTTP or SSH on 4028, a cgminer line on 80).
    #[serde(alias = "wrong_protocol")]
    WrongProtocol,
}

impl Fault {
    /// Every fault but `None`, in the order the generator cycles through them.
    pub const KINDS: [Fault; 6] = [
        Fault::SlowDrip,
        Fault::Silent,
        Fault::Reset,
        Fault::Huge,
        Fault::InvalidJson,
        Fault::WrongProtocol,
    ];

    /// The fleet-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::SlowDrip => "slow-drip",
            Fault::Silent => "silent",
            Fault::Reset => "reset",
            Fault::Huge => "huge",
            Fault::InvalidJson => "invalid-json",
            Fault::WrongProtocol => "wrong-protocol",
        }
    }
}

/// One configured pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// `stratum+tcp://host:port` and the like.
    pub url: String,
    /// Worker name.
    #[serde(default)]
    pub user: String,
    /// Worker password (`x` when absent).
    #[serde(default = "default_pool_password")]
    pub password: String,
    /// LuxOS pool group name (groups are numbered in order of first appearance); `None`: the default group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// LuxOS group quota (hashrate share weight) of this pool's group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u32>,
}

fn default_pool_password() -> String {
    "x".to_owned()
}

/// One emulated device. Empty strings and zeros mean "the family default", filled by [`DeviceSpec::resolve`]
/// (which [`Fleet::from_toml`], [`Fleet::generate`] and [`crate::spawn`] call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSpec {
    /// Loopback address the device listens on (127.0.0.0/8 only).
    pub address: Ipv4Addr,
    /// Firmware family.
    pub family: Family,
    /// Model as the device names itself (`Antminer S19 Pro`, `M50S_VH30`, `Avalon Q`…).
    pub model: String,
    /// Firmware version string (family-specific form, see docs/fleet-file.md).
    pub firmware: String,
    /// MAC address (derived from the address when empty).
    pub mac: String,
    /// Serial number (derived from the address when empty).
    pub serial: String,
    /// Nominal hashrate in TH/s (model default when 0).
    pub hashrate_ths: f64,
    /// Configured pools (one family-default pool when empty).
    pub pools: Vec<PoolSpec>,
    /// Web (and Whatsminer v3 API) user; `None`: the family default.
    pub web_user: Option<String>,
    /// Web / API password; `None`: the family default (Braiins before 25.07: empty).
    pub web_password: Option<String>,
    /// cgminer `api-allow` (family default when empty, e.g. `A:0/0,W:*` on stock Antminer).
    pub api_allow: String,
    /// cgminer `api-groups` (default `A:stats:pools:devs:summary:version`).
    pub api_groups: String,
    /// Whatsminer: writes enabled through WhatsMinerTool (otherwise writes answer Code 45).
    pub api_write: bool,
    /// LuxOS: answer `version` with the real `Type` instead of the documented `Antminer S9` spoof.
    pub real_type: bool,
    /// Listen on 23 with a telnet login prompt.
    pub telnet: bool,
    /// Listen on 22 with an SSH banner.
    pub ssh: bool,
    /// Misbehaviour on every port.
    pub fault: Fault,
}

impl Default for DeviceSpec {
    fn default() -> Self {
        DeviceSpec {
            address: Ipv4Addr::new(127, 1, 0, 1),
            family: Family::Antminer,
            model: String::new(),
            firmware: String::new(),
            mac: String::new(),
            serial: String::new(),
            hashrate_ths: 0.0,
            pools: Vec::new(),
            web_user: None,
            web_password: None,
            api_allow: String::new(),
            api_groups: String::new(),
            api_write: false,
            real_type: false,
            telnet: false,
            ssh: false,
            fault: Fault::None,
        }
    }
}

/// A model the emulator knows: defaults for hashrate, board count and firmware.
struct ModelInfo {
    family: Family,
    model: &'static str,
    ths: f64,
    /// Default firmware string for this model on this family.
    firmware: &'static str,
}

/// Known models per family; the first of each family is its default.
const MODELS: &[ModelInfo] = &[
    m(
        Family::Antminer,
        "Antminer S19 Pro",
        110.0,
        "Tue Dec  6 16:12:30 CST 2022",
    ),
    m(
        Family::Antminer,
        "Antminer S9",
        13.5,
        "Fri Nov 17 17:57:49 CST 2017",
    ),
    m(
        Family::Antminer,
        "Antminer S17 Pro",
        53.0,
        "Mon Mar  2 16:45:55 CST 2020",
    ),
    m(
        Family::Antminer,
        "Antminer S19j Pro",
        104.0,
        "Wed Jul 13 10:05:12 CST 2022",
    ),
    m(
        Family::Antminer,
        "Antminer S19 XP",
        141.0,
        "Fri Jun 16 11:21:06 CST 2023",
    ),
    m(
        Family::Antminer,
        "Antminer S21",
        200.0,
        "Thu Oct  9 18:55:45 CST 2025",
    ),
    m(
        Family::Antminer,
        "Antminer T21",
        190.0,
        "Mon Aug 19 14:02:33 CST 2024",
    ),
    m(Family::Whatsminer, "M50S_VH30", 126.0, "20230803.11.REL"),
    m(Family::Whatsminer, "M30S+_VE40", 100.0, "20210322.22.REL"),
    m(Family::Whatsminer, "M60S_VK20", 172.0, "20240624.18.REL"),
    m(Family::WhatsminerV3, "M60S_VK40", 181.0, "20251209.16.Rel2"),
    m(Family::Avalon, "Avalon Q", 90.0, "25052801_14a19a2"),
    m(
        Family::Avalon,
        "AvalonMiner 1246",
        90.0,
        "21072802_4ec6bb0_211fc46",
    ),
    m(
        Family::Avalon,
        "AvalonMiner 1366",
        130.0,
        "23112901_8c0b7a5_4d1e2f0",
    ),
    m(
        Family::Luxos,
        "Antminer S19k Pro",
        121.8,
        "2025.4.8.220305-57b389c7",
    ),
    m(
        Family::Luxos,
        "Antminer S19j Pro",
        104.0,
        "2024.9.17.174900-4631c4d1",
    ),
    m(Family::Luxos, "Antminer S21", 200.0, "2025.4.8.220305-57b389c7"),
    m(Family::Braiins, "Antminer S19j Pro", 104.0, "Braiins OS 25.07"),
    m(Family::Braiins, "Antminer S19 XP", 141.0, "Braiins OS 25.07"),
    m(Family::Braiins, "Antminer S21", 200.0, "Braiins OS 24.09"),
    m(Family::Vnish, "Antminer S19j Pro", 104.0, "1.2.6"),
    m(Family::Vnish, "Antminer S19 Pro", 110.0, "1.2.6"),
    m(Family::Vnish, "Antminer S21", 200.0, "1.2.7"),
    m(Family::Unknown, "generic web server", 0.0, "nginx/1.24.0"),
];

const fn m(family: Family, model: &'static str, ths: f64, firmware: &'static str) -> ModelInfo {
    ModelInfo {
        family,
        model,
        ths,
        firmware,
    }
}

fn family_default_model(family: Family) -> &'static ModelInfo {
    // Invariant: MODELS holds at least one entry per family (pinned by a unit test); fall back to the
    // first entry rather than panic.
    MODELS.iter().find(|i| i.family == family).unwrap_or(&MODELS[0])
}

fn model_info(family: Family, model: &str) -> Option<&'static ModelInfo> {
    MODELS
        .iter()
        .find(|i| i.family == family && i.model.eq_ignore_ascii_case(model))
}

impl DeviceSpec {
    /// A device of `family` at `address` with every default filled.
    pub fn new(family: Family, address: Ipv4Addr) -> DeviceSpec {
        let mut d = DeviceSpec {
            family,
            address,
            ..DeviceSpec::default()
        };
        d.resolve();
        d
    }

    /// Fill every empty field with the family's default (idempotent).
    pub fn resolve(&mut self) {
        if self.model.is_empty() {
            self.model = family_default_model(self.family).model.to_owned();
        }
        let info = model_info(self.family, &self.model);
        if self.firmware.is_empty() {
            self.firmware = info
                .unwrap_or_else(|| family_default_model(self.family))
                .firmware
                .to_owned();
        }
        if self.hashrate_ths <= 0.0 || !self.hashrate_ths.is_finite() {
            self.hashrate_ths = info.map_or(100.0, |i| i.ths);
        }
        let o = self.address.octets();
        if self.mac.is_empty() {
            // Locally administered, unique per address, a byte for the family so families differ.
            let fam = Family::ALL.iter().position(|f| *f == self.family).unwrap_or(0) as u8;
            self.mac = format!(
                "02:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
                0x10 + fam,
                o[0],
                o[1],
                o[2],
                o[3]
            );
        }
        if self.serial.is_empty() {
            self.serial = derive_serial(self.family, self.address);
        }
        if self.pools.is_empty() && self.family != Family::Unknown {
            self.pools.push(PoolSpec {
                url: "stratum+tcp://btc.f2pool.com:3333".to_owned(),
                user: format!("hashward.{}x{}", o[2], o[3]),
                password: "x".to_owned(),
                group: None,
                quota: None,
            });
        }
        if self.web_user.is_none() {
            self.web_user = Some(self.default_user().to_owned());
        }
        if self.web_password.is_none() {
            self.web_password = Some(self.default_password().to_owned());
        }
        if self.api_allow.is_empty() {
            self.api_allow = match self.family {
                // Stock Bitmain config: W:* is unparsable and dropped, so everyone is group A.
                Family::Antminer | Family::Vnish => "A:0/0,W:*",
                // Canaan, LuxOS and Braiins leave the API writable from the network.
                Family::Avalon | Family::Luxos | Family::Braiins => "W:0/0",
                Family::Whatsminer | Family::WhatsminerV3 | Family::Unknown => "",
            }
            .to_owned();
        }
        if self.api_groups.is_empty() && self.family != Family::Unknown {
            self.api_groups = "A:stats:pools:devs:summary:version".to_owned();
        }
    }

    /// The family's default web/API user.
    pub fn default_user(&self) -> &'static str {
        match self.family {
            Family::Whatsminer | Family::Vnish | Family::Unknown => "admin",
            Family::WhatsminerV3 => "super",
            _ => "root",
        }
    }

    /// The family's default web/API password (Braiins OS before 25.07 ships an empty one).
    pub fn default_password(&self) -> &'static str {
        match self.family {
            Family::Whatsminer | Family::Vnish | Family::Unknown => "admin",
            Family::WhatsminerV3 => "super",
            Family::Braiins if braiins_version(&self.firmware) < (25, 7) => "",
            _ => "root",
        }
    }

    /// The web user in force (after [`resolve`](Self::resolve)).
    pub fn user(&self) -> &str {
        self.web_user.as_deref().unwrap_or(self.default_user())
    }

    /// The web/API password in force.
    pub fn password(&self) -> &str {
        self.web_password.as_deref().unwrap_or(self.default_password())
    }

    /// The TCP ports this device listens on, with what speaks there.
    pub fn ports(&self) -> Vec<Port> {
        crate::family::ports(self)
    }
}

/// `(major, minor)` of a "Braiins OS 25.07"-style firmware string; (0, 0) when unreadable.
pub(crate) fn braiins_version(firmware: &str) -> (u32, u32) {
    let v = firmware.rsplit(' ').next().unwrap_or("");
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn derive_serial(family: Family, addr: Ipv4Addr) -> String {
    let n = u32::from(addr);
    // Base-36 digits from the address: stable, unique per address, vendor-like length and prefix.
    let mut digits = String::new();
    let mut v = n;
    for _ in 0..7 {
        let d = (v % 36) as u8;
        digits.push(char::from(if d < 10 { b'0' + d } else { b'A' + d - 10 }));
        v /= 36;
    }
    match family {
        Family::Antminer | Family::Luxos | Family::Braiins | Family::Vnish => {
            format!("JYZZB{digits}BDJAB")
        }
        Family::Whatsminer | Family::WhatsminerV3 => format!("HTM3CS40HD{digits}0000000000000"),
        Family::Avalon => format!("AV{digits}Q"),
        Family::Unknown => format!("SRV{digits}"),
    }
}

/// A port a device listens on and the protocol spoken there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Port {
    /// TCP port number.
    pub number: u16,
    /// What is spoken on it.
    pub proto: crate::family::Proto,
}

/// What a fleet file or the generator planted on a device (derived from its spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Planted {
    /// Privileged cgminer API reachable from 127.0.0.1 (`privileged` answers 46), or LuxOS (writes need no auth).
    PrivilegedApi,
    /// Whatsminer write API switched on.
    WriteApi,
    /// The web/API password is the family default.
    DefaultCredentials,
    /// The password is not the default (a near miss for a credential check).
    NonDefaultPassword,
    /// SSH listening.
    Ssh,
    /// Telnet listening.
    Telnet,
    /// A pool whose host is outside [`ALLOWLIST_HOSTS`].
    ForeignPool,
    /// A plaintext `stratum+tcp` pool.
    PlaintextPool,
    /// A pool configured by IP literal.
    IpLiteralPool,
}

/// Ground truth for one device: what a scanner should find and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Device address.
    pub address: Ipv4Addr,
    /// Firmware family.
    pub family: Family,
    /// Hardware maker (`Bitmain`, `MicroBT`, `Canaan`; empty for an unknown host).
    pub make: String,
    /// Model as the device names itself.
    pub model: String,
    /// Firmware version string.
    pub firmware: String,
    /// Listening TCP ports, ascending.
    pub ports: Vec<u16>,
    /// Misbehaviour.
    pub fault: Fault,
    /// Pool URLs as configured.
    pub pools: Vec<String>,
    /// What is planted, sorted.
    pub planted: Vec<Planted>,
}

/// Options of [`Fleet::generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// How many devices.
    pub count: usize,
    /// First address; the others follow consecutively (must stay in 127.0.0.0/8).
    pub base: Ipv4Addr,
    /// Seed: the same options always give the same fleet.
    pub seed: u64,
    /// Share of devices (0–100) given a fault, cycling through every fault kind.
    pub faulty_percent: f64,
    /// Plant a minority of exposures (open privileged API, SSH/telnet, strong passwords, foreign pools).
    pub exposures: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            count: 100,
            base: Ipv4Addr::new(127, 1, 0, 1),
            seed: 1,
            faulty_percent: 0.0,
            exposures: false,
        }
    }
}

/// A set of emulated devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Fleet {
    /// The devices, one address each.
    pub devices: Vec<DeviceSpec>,
}

/// The keys a `[[device]]` table may have.
const DEVICE_KEYS: &[&str] = &[
    "address",
    "api_allow",
    "api_groups",
    "api_write",
    "count",
    "family",
    "fault",
    "firmware",
    "hashrate_ths",
    "mac",
    "model",
    "pools",
    "real_type",
    "serial",
    "ssh",
    "telnet",
    "web_password",
    "web_user",
];

impl Fleet {
    /// Parse a fleet file (see docs/fleet-file.md). Unknown keys, bad values and non-loopback addresses are
    /// errors naming the device and the field.
    pub fn from_toml(text: &str) -> Result<Fleet, EmulatorError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| EmulatorError::FleetFile {
            message: e.to_string(),
        })?;
        for key in table.keys() {
            if key != "device" {
                return Err(EmulatorError::FleetFile {
                    message: format!("unknown top-level key `{key}` (only [[device]] tables)"),
                });
            }
        }
        let entries = match table.get("device") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(EmulatorError::FleetFile {
                    message: "`device` must be an array of tables ([[device]])".to_owned(),
                });
            }
        };
        let mut devices = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let bad = |field: &str, message: String| EmulatorError::Device {
                index,
                ordinal: index + 1,
                field: field.to_owned(),
                message,
            };
            let toml::Value::Table(t) = entry else {
                return Err(bad("device", "not a table".to_owned()));
            };
            let mut d = DeviceSpec::default();
            let mut count = 1usize;
            let mut has_address = false;
            let explicit_mac = t.contains_key("mac");
            let explicit_serial = t.contains_key("serial");
            for (key, value) in t {
                let v = value.clone();
                let field = key.as_str();
                match field {
                    "address" => {
                        d.address = get(v, field, &bad)?;
                        has_address = true;
                    }
                    "count" => {
                        let c: i64 = get(v, field, &bad)?;
                        if !(1..=MAX_DEVICES as i64).contains(&c) {
                            return Err(bad(field, format!("must be 1..={MAX_DEVICES}, not {c}")));
                        }
                        count = c as usize;
                    }
                    "family" => d.family = get(v, field, &bad)?,
                    "model" => d.model = get(v, field, &bad)?,
                    "firmware" => d.firmware = get(v, field, &bad)?,
                    "mac" => d.mac = get(v, field, &bad)?,
                    "serial" => d.serial = get(v, field, &bad)?,
                    "hashrate_ths" => {
                        let h: f64 = match v {
                            toml::Value::Integer(i) => i as f64,
                            other => get(other, field, &bad)?,
                        };
                        if !h.is_finite() || h < 0.0 {
                            return Err(bad(field, format!("must be a positive number, not {h}")));
                        }
                        d.hashrate_ths = h;
                    }
                    "pools" => d.pools = get(v, field, &bad)?,
                    "web_user" => d.web_user = Some(get(v, field, &bad)?),
                    "web_password" => d.web_password = Some(get(v, field, &bad)?),
                    "api_allow" => d.api_allow = get(v, field, &bad)?,
                    "api_groups" => d.api_groups = get(v, field, &bad)?,
                    "api_write" => d.api_write = get(v, field, &bad)?,
                    "real_type" => d.real_type = get(v, field, &bad)?,
                    "telnet" => d.telnet = get(v, field, &bad)?,
                    "ssh" => d.ssh = get(v, field, &bad)?,
                    "fault" => d.fault = get(v, field, &bad)?,
                    other => {
                        return Err(bad(
                            other,
                            format!("unknown key; expected one of {}", DEVICE_KEYS.join(", ")),
                        ));
                    }
                }
            }
            if !has_address {
                return Err(bad(
                    "address",
                    "missing (each device needs a 127.x.y.z address)".to_owned(),
                ));
            }
            if !d.address.is_loopback() {
                return Err(bad(
                    "address",
                    format!("{} is not a loopback address (127.0.0.0/8 only)", d.address),
                ));
            }
            d.resolve();
            let base = u32::from(d.address);
            for i in 0..count {
                let Some(a) = base.checked_add(i as u32).map(Ipv4Addr::from) else {
                    return Err(bad("count", "runs past 255.255.255.255".to_owned()));
                };
                if !a.is_loopback() {
                    return Err(bad("count", format!("runs out of 127.0.0.0/8 at {a}")));
                }
                let mut copy = d.clone();
                copy.address = a;
                if i > 0 {
                    // Derived identities follow the address; explicit ones are repeated as given.
                    if !explicit_mac {
                        copy.mac.clear();
                    }
                    if !explicit_serial {
                        copy.serial.clear();
                    }
                    copy.resolve();
                }
                devices.push(copy);
                if devices.len() > MAX_DEVICES {
                    return Err(bad("count", format!("the fleet exceeds {MAX_DEVICES} devices")));
                }
            }
        }
        let fleet = Fleet { devices };
        fleet.validate()?;
        Ok(fleet)
    }

    /// Check the invariants the server relies on: loopback only, one device per address, size bound.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        if self.devices.len() > MAX_DEVICES {
            return Err(EmulatorError::FleetFile {
                message: format!("{} devices; at most {MAX_DEVICES}", self.devices.len()),
            });
        }
        let mut seen: HashMap<Ipv4Addr, usize> = HashMap::new();
        for (i, d) in self.devices.iter().enumerate() {
            if !d.address.is_loopback() {
                return Err(EmulatorError::NotLoopback {
                    index: i,
                    address: d.address,
                });
            }
            if let Some(first) = seen.insert(d.address, i) {
                return Err(EmulatorError::DuplicateAddress {
                    address: d.address,
                    first,
                    second: i,
                });
            }
        }
        Ok(())
    }

    /// A deterministic mixed fleet at consecutive addresses from `opts.base`.
    ///
    /// Roughly: antminer 55 %, whatsminer 20 % (a few v3), avalon 7 %, luxos 6 %, braiins 6 %, vnish 5 %,
    /// unknown 1 %. Addresses that would leave 127.0.0.0/8 are not generated (the fleet is cut short).
    pub fn generate(opts: &GenerateOptions) -> Fleet {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let count = opts.count.min(MAX_DEVICES);
        let faulty = ((count as f64) * opts.faulty_percent.clamp(0.0, 100.0) / 100.0).round() as usize;
        // Spread the faulty devices evenly rather than bunching them at the start.
        let fault_every = count.checked_div(faulty).unwrap_or(0);
        let mut devices = Vec::with_capacity(count);
        let mut fault_n = 0usize;
        for i in 0..count {
            let Some(address) = u32::from(opts.base)
                .checked_add(i as u32)
                .map(Ipv4Addr::from)
                .filter(Ipv4Addr::is_loopback)
            else {
                break;
            };
            let family = pick_family(&mut rng);
            let models: Vec<&ModelInfo> = MODELS.iter().filter(|m| m.family == family).collect();
            let info = models[pick(&mut rng, models.len())];
            let mut d = DeviceSpec {
                address,
                family,
                model: info.model.to_owned(),
                firmware: info.firmware.to_owned(),
                // ±5 % around the nameplate, rounded to 0.1 TH/s.
                hashrate_ths: (info.ths * (0.95 + 0.1 * unit(&mut rng)) * 10.0).round() / 10.0,
                ..DeviceSpec::default()
            };
            if family == Family::Luxos {
                // The one capture of LuxOS (2025.4.8, asic-rs) answers `version` with the real
                // `Type` and no `BMMiner` key; Luxor documents the `Antminer S9` spoof, which
                // older releases are taken to use.
                d.real_type = d.firmware.starts_with("2025");
            }
            d.pools = generate_pools(&mut rng, family, address);
            if opts.exposures {
                plant(&mut rng, &mut d);
            }
            if fault_every > 0 && i % fault_every == fault_every / 2 && fault_n < faulty {
                d.fault = Fault::KINDS[fault_n % Fault::KINDS.len()];
                fault_n += 1;
            }
            d.resolve();
            devices.push(d);
        }
        Fleet { devices }
    }

    /// Ground truth for every device, in fleet order.
    pub fn manifest(&self) -> Vec<ManifestEntry> {
        self.devices
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.resolve();
                manifest_entry(&d)
            })
            .collect()
    }

    /// Number of TCP listeners the fleet needs.
    pub fn listener_count(&self) -> usize {
        self.devices.iter().map(|d| d.ports().len()).sum()
    }
}

fn get<T: serde::de::DeserializeOwned>(
    v: toml::Value,
    field: &str,
    bad: &dyn Fn(&str, String) -> EmulatorError,
) -> Result<T, EmulatorError> {
    v.try_into::<T>()
        .map_err(|e| bad(field, e.to_string().trim().to_owned()))
}

fn manifest_entry(d: &DeviceSpec) -> ManifestEntry {
    let mut ports: Vec<u16> = d.ports().iter().map(|p| p.number).collect();
    ports.sort_unstable();
    ports.dedup();
    let mut planted = Vec::new();
    if crate::family::privileged_open(d) {
        planted.push(Planted::PrivilegedApi);
    }
    if d.api_write && matches!(d.family, Family::Whatsminer) {
        planted.push(Planted::WriteApi);
    }
    if d.family != Family::Unknown {
        if d.password() == d.default_password() {
            planted.push(Planted::DefaultCredentials);
        } else {
            planted.push(Planted::NonDefaultPassword);
        }
    }
    if d.ssh {
        planted.push(Planted::Ssh);
    }
    if d.telnet {
        planted.push(Planted::Telnet);
    }
    for p in &d.pools {
        let host = pool_host(&p.url);
        if !ALLOWLIST_HOSTS.contains(&host) {
            planted.push(Planted::ForeignPool);
        }
        if p.url.starts_with("stratum+tcp://") {
            planted.push(Planted::PlaintextPool);
        }
        if host.parse::<Ipv4Addr>().is_ok() {
            planted.push(Planted::IpLiteralPool);
        }
    }
    planted.sort_unstable();
    planted.dedup();
    ManifestEntry {
        address: d.address,
        family: d.family,
        make: d.family.make().to_owned(),
        model: d.model.clone(),
        firmware: d.firmware.clone(),
        ports,
        fault: d.fault,
        pools: d.pools.iter().map(|p| p.url.clone()).collect(),
        planted,
    }
}

/// The host part of a pool URL (`stratum+tcp://host:port/path` → `host`).
pub(crate) fn pool_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
}

/// Uniform in [0, 1).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn pick(rng: &mut ChaCha8Rng, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (rng.next_u64() % n as u64) as usize
}

fn pick_family(rng: &mut ChaCha8Rng) -> Family {
    let r = unit(rng) * 100.0;
    // Cumulative shares: antminer 55, whatsminer 17 + v3 3, avalon 7, luxos 6, braiins 6, vnish 5, unknown 1.
    match r {
        r if r < 55.0 => Family::Antminer,
        r if r < 72.0 => Family::Whatsminer,
        r if r < 75.0 => Family::WhatsminerV3,
        r if r < 82.0 => Family::Avalon,
        r if r < 88.0 => Family::Luxos,
        r if r < 94.0 => Family::Braiins,
        r if r < 99.0 => Family::Vnish,
        _ => Family::Unknown,
    }
}

/// Real public pool endpoints (allowlisted ones first), plus IP literals.
const POOLS: &[&str] = &[
    "stratum+tcp://btc.f2pool.com:3333",
    "stratum+tcp://ss.antpool.com:3333",
    "stratum+tcp://btc.viabtc.io:3333",
    "stratum+tcp://stratum.braiins.com:3333",
    "stratum+ssl://eu.stratum.braiins.com:3333",
    "stratum+tcp://btc.global.luxor.tech:700",
    "stratum+ssl://btc.global.luxor.tech:5555",
    "stratum+tcp://us.ss.btc.com:1800",
];
const IP_POOLS: &[&str] = &[
    "stratum+tcp://47.91.68.105:3333",
    "stratum+tcp://185.216.75.30:443",
];
const FOREIGN_POOLS: &[&str] = &[
    "stratum+tcp://pool.hashvault.pro:3333",
    "stratum+tcp://sha256.unmineable.com:3333",
    "stratum+tcp://btc.zsolo.bid:6057",
];

fn generate_pools(rng: &mut ChaCha8Rng, family: Family, addr: Ipv4Addr) -> Vec<PoolSpec> {
    if family == Family::Unknown {
        return Vec::new();
    }
    let o = addr.octets();
    let account = ["acct", "farm", "ops", "mine"][pick(rng, 4)];
    let user = format!("{account}{}.w{}x{}", o[1], o[2], o[3]);
    let n = 1 + pick(rng, 3);
    let mut pools = Vec::new();
    for k in 0..n {
        let url = if unit(rng) < 0.03 {
            IP_POOLS[pick(rng, IP_POOLS.len())]
        } else {
            POOLS[pick(rng, POOLS.len())]
        };
        pools.push(PoolSpec {
            url: url.to_owned(),
            user: user.clone(),
            password: "x".to_owned(),
            group: None,
            quota: None,
        });
        if k == 0 && family == Family::Luxos {
            pools[0].group = Some("default".to_owned());
            pools[0].quota = Some(1);
        }
    }
    if family == Family::Luxos && unit(rng) < 0.5 {
        // A second group with its own pools: the hashrate split LuxOS supports.
        for p in pools.iter_mut() {
            p.group = Some("default".to_owned());
            p.quota = Some(9);
        }
        pools.push(PoolSpec {
            url: POOLS[pick(rng, POOLS.len())].to_owned(),
            user: format!("{user}b"),
            password: "x".to_owned(),
            group: Some("split".to_owned()),
            quota: Some(1),
        });
    }
    pools
}

fn plant(rng: &mut ChaCha8Rng, d: &mut DeviceSpec) {
    let r = unit(rng);
    match d.family {
        Family::Antminer | Family::Vnish if r < 0.08 => d.api_allow = "W:0/0".to_owned(),
        Family::Antminer if r < 0.11 => d.api_allow = "W:127.0.0.1,A:0/0".to_owned(),
        Family::Antminer if r < 0.13 => d.api_allow = "A:0/0,W:10.0.0.0/8".to_owned(),
        Family::Whatsminer if r < 0.10 => d.api_write = true,
        _ => {}
    }
    if unit(rng) < 0.05 && d.family != Family::Unknown {
        d.ssh = true;
    }
    if unit(rng) < 0.02 && d.family != Family::Unknown {
        d.telnet = true;
    }
    if unit(rng) < 0.10 && d.family != Family::Unknown {
        // A strong, non-default password: a credential check must not report it.
        d.web_password = Some(format!("Hw-{:016x}", rng.next_u64()));
    }
    if unit(rng) < 0.04 && !d.pools.is_empty() {
        let url = FOREIGN_POOLS[pick(rng, FOREIGN_POOLS.len())];
        let user = d.pools[0].user.clone();
        if d.family == Family::Luxos {
            d.pools.push(PoolSpec {
                url: url.to_owned(),
                user: "3Qh7xLmG9uZ.x".to_owned(),
                password: "x".to_owned(),
                group: Some("fee".to_owned()),
                quota: Some(1),
            });
        } else {
            let last = d.pools.len() - 1;
            d.pools[last] = PoolSpec {
                url: url.to_owned(),
                user,
                password: "x".to_owned(),
                group: None,
                quota: None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_a_default_model() {
        for f in Family::ALL {
            assert_eq!(family_default_model(f).family, f, "{f:?}");
        }
    }

    #[test]
    fn toml_round_trip_and_count() {
        let f = Fleet::from_toml(
            r#"
[[device]]
address = "127.1.0.1"
count = 3
family = "luxos"
hashrate_ths = 120
[[device.pools]]
url = "stratum+tcp://btc.f2pool.com:3333"
user = "a.b"
group = "g1"
quota = 3
"#,
        )
        .unwrap();
        assert_eq!(f.devices.len(), 3);
        assert_eq!(f.devices[2].address, Ipv4Addr::new(127, 1, 0, 3));
        assert_eq!(f.devices[0].model, "Antminer S19k Pro");
        assert_ne!(f.devices[0].mac, f.devices[1].mac);
        assert_eq!(f.devices[1].pools[0].quota, Some(3));
        assert_eq!(f.devices[0].hashrate_ths, 120.0);
    }

    #[test]
    fn unknown_key_names_the_key_and_device() {
        let e = Fleet::from_toml(
            "[[device]]\naddress='127.0.0.2'\n[[device]]\naddress='127.0.0.3'\ncolour='red'\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("device 1") && e.contains("`colour`"), "{e}");
    }

    #[test]
    fn bad_value_names_field() {
        let e = Fleet::from_toml("[[device]]\naddress='127.0.0.2'\nfamily='cheese'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("device 0") && e.contains("`family`"), "{e}");
        let e = Fleet::from_toml("[[device]]\naddress='127.0.0.2'\nfault='sometimes'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`fault`"), "{e}");
    }

    #[test]
    fn refuses_non_loopback() {
        let e = Fleet::from_toml("[[device]]\naddress='10.0.0.5'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a loopback"), "{e}");
        let e = Fleet::from_toml("[[device]]\naddress='0.0.0.0'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a loopback"), "{e}");
    }

    #[test]
    fn generate_is_deterministic_and_mixed() {
        let o = GenerateOptions {
            count: 1000,
            seed: 7,
            faulty_percent: 6.0,
            exposures: true,
            ..GenerateOptions::default()
        };
        let a = Fleet::generate(&o);
        let b = Fleet::generate(&o);
        assert_eq!(a, b);
        assert_eq!(a.devices.len(), 1000);
        let n = |f: Family| a.devices.iter().filter(|d| d.family == f).count();
        assert!(
            (480..620).contains(&n(Family::Antminer)),
            "{}",
            n(Family::Antminer)
        );
        assert!(n(Family::WhatsminerV3) > 5);
        for f in Family::ALL {
            assert!(n(f) > 0, "{f:?}");
        }
        let faulty: Vec<Fault> = a
            .devices
            .iter()
            .map(|d| d.fault)
            .filter(|f| *f != Fault::None)
            .collect();
        assert_eq!(faulty.len(), 60);
        for k in Fault::KINDS {
            assert!(faulty.contains(&k), "{k:?}");
        }
        let m = a.manifest();
        assert!(m.iter().any(|e| e.planted.contains(&Planted::PrivilegedApi)));
        assert!(m.iter().any(|e| e.planted.contains(&Planted::ForeignPool)));
        assert!(m.iter().any(|e| e.planted.contains(&Planted::NonDefaultPassword)));
        let c = Fleet::generate(&GenerateOptions { seed: 8, ..o });
        assert_ne!(a, c);
    }

    #[test]
    fn pool_host_parts() {
        assert_eq!(pool_host("stratum+tcp://btc.f2pool.com:3333"), "btc.f2pool.com");
        assert_eq!(pool_host("stratum+ssl://1.2.3.4:443/x"), "1.2.3.4");
        assert_eq!(pool_host("host"), "host");
    }

    #[test]
    fn braiins_default_password_depends_on_version() {
        let mut d = DeviceSpec {
            family: Family::Braiins,
            firmware: "Braiins OS 24.09".into(),
            ..DeviceSpec::default()
        };
        d.resolve();
        assert_eq!(d.password(), "");
        let d = DeviceSpec::new(Family::Braiins, Ipv4Addr::new(127, 0, 0, 9));
        assert_eq!(d.password(), "root");
    }
}
