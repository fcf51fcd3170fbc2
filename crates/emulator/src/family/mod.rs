//! One room per firmware family behind one small trait, listed once in [`REGISTRY`].

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::cgminer::Outcome;
use crate::device::Device;
use crate::fleet::{DeviceSpec, Family, Port};
use crate::http::{Request, Response};
use crate::log::RequestKind;

pub(crate) mod antminer;
pub(crate) mod avalon;
pub(crate) mod braiins;
pub(crate) mod luxos;
pub(crate) mod unknown;
pub(crate) mod vnish;
pub(crate) mod whatsminer;

/// What is spoken on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// cgminer-style API: one request per connection, reply, close (TCP 4028).
    Cgminer,
    /// HTTP/1.1 (TCP 80).
    Http,
    /// Whatsminer API v3: 4-byte little-endian length + JSON frames (TCP 4433).
    LengthPrefixed,
    /// SSH: the server sends its identification banner first (TCP 22).
    Ssh,
    /// Telnet: option negotiation and a login prompt (TCP 23).
    Telnet,
    /// Accepts and holds the connection without speaking (gRPC 50051, WhatsMinerTool 8889).
    Hold,
}

/// A family's behaviour.
pub(crate) trait Behaviour: Sync {
    /// Which family this is.
    fn family(&self) -> Family;
    /// Ports beyond SSH and telnet (which the spec's switches add).
    fn ports(&self, spec: &DeviceSpec) -> Vec<Port>;
    /// One API request (4028 bytes, or one v3 frame's JSON) from `peer`.
    fn api(&self, dev: &Device, peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome;
    /// One HTTP request.
    fn web(&self, dev: &Device, req: &Request) -> (Response, RequestKind);
    /// The `Server` header of the web surface.
    fn server(&self) -> &'static str {
        ""
    }
    /// The SSH identification line.
    fn ssh_banner(&self) -> &'static str {
        "SSH-2.0-dropbear_2020.81\r\n"
    }
}

/// Every family, in [`Family`] order (a unit test keeps it sorted and complete).
pub(crate) static REGISTRY: &[&dyn Behaviour] = &[
    &antminer::Antminer,
    &whatsminer::Whatsminer,
    &whatsminer::WhatsminerV3,
    &avalon::Avalon,
    &luxos::Luxos,
    &braiins::Braiins,
    &vnish::Vnish,
    &unknown::Unknown,
];

/// The behaviour of `family`.
pub(crate) fn behaviour(family: Family) -> &'static dyn Behaviour {
    // Invariant: REGISTRY lists every family exactly once, in enum order (pinned by a test); the find
    // cannot miss, and the fallback only avoids a panic path.
    REGISTRY
        .iter()
        .copied()
        .find(|b| b.family() == family)
        .unwrap_or(REGISTRY[0])
}

/// A spec's ports: the family's own plus SSH and telnet when switched on.
pub(crate) fn ports(spec: &DeviceSpec) -> Vec<Port> {
    let mut p = behaviour(spec.family).ports(spec);
    if spec.ssh {
        p.push(Port {
            number: 22,
            proto: Proto::Ssh,
        });
    }
    if spec.telnet {
        p.push(Port {
            number: 23,
            proto: Proto::Telnet,
        });
    }
    p
}

/// Port helper.
pub(crate) fn port(number: u16, proto: Proto) -> Port {
    Port { number, proto }
}

/// Whether a scanner on 127.0.0.1 gets privileged API access (Code 46, writes accepted).
pub(crate) fn privileged_open(spec: &DeviceSpec) -> bool {
    match spec.family {
        // LuxOS pool writes need no token at all.
        Family::Luxos => true,
        Family::Antminer | Family::Avalon | Family::Braiins | Family::Vnish => {
            let allow = crate::cgminer::ApiAllow::parse(&spec.api_allow);
            let groups = crate::cgminer::ApiGroups::parse(&spec.api_groups);
            allow
                .group_of(Ipv4Addr::LOCALHOST)
                .is_some_and(|g| groups.allows(g, "addpool", true))
        }
        Family::Whatsminer | Family::WhatsminerV3 | Family::Unknown => false,
    }
}

/// Telnet: IAC WILL ECHO, IAC WILL SUPPRESS-GO-AHEAD, IAC DO NAWS, then a BusyBox-style login prompt.
pub(crate) const TELNET_GREETING: &[u8] = b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x1f\r\n(none) login: ";

/// Wrap an HTML body in a minimal page.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
}

/// A JSON body, if it is a JSON object.
pub(crate) fn json_body(req: &Request) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(&req.body) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_sorted_unique_complete() {
        let fams: Vec<Family> = REGISTRY.iter().map(|b| b.family()).collect();
        assert_eq!(fams, Family::ALL.to_vec());
    }

    #[test]
    fn privileged_open_cases() {
        let mut d = DeviceSpec::new(Family::Antminer, Ipv4Addr::new(127, 0, 0, 2));
        assert!(!privileged_open(&d));
        d.api_allow = "W:0/0".into();
        assert!(privileged_open(&d));
        d.api_allow = "A:0/0,W:127.0.0.1".into();
        assert!(!privileged_open(&d), "first match wins: A");
        d.api_allow = "W:127.0.0.1,A:0/0".into();
        assert!(privileged_open(&d));
        d.api_allow = "W:10.0.0.0/8".into();
        assert!(!privileged_open(&d));
    }
}
