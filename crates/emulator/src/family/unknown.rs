//! A host on miner ports that is no miner: a stock nginx page on 80 and a short non-cgminer line on 4028.

use std::net::Ipv4Addr;

use super::{Behaviour, Proto, port};
use crate::cgminer::Outcome;
use crate::device::Device;
use crate::fleet::{DeviceSpec, Family, Port};
use crate::http::{Request, Response};
use crate::log::RequestKind;

/// Not a miner.
pub(crate) struct Unknown;

const NGINX_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and working. Further configuration is required.</p>\n</body>\n</html>\n";

impl Behaviour for Unknown {
    fn family(&self) -> Family {
        Family::Unknown
    }

    fn ports(&self, _spec: &DeviceSpec) -> Vec<Port> {
        vec![port(80, Proto::Http), port(4028, Proto::Cgminer)]
    }

    fn api(&self, _dev: &Device, _peer: Ipv4Addr, _port: u16, raw: &[u8]) -> Outcome {
        let line = String::from_utf8_lossy(&raw[..raw.len().min(80)])
            .trim()
            .to_owned();
        Outcome {
            reply: Some(b"ERR unknown request\n".to_vec()),
            log: vec![(line, RequestKind::Read)],
        }
    }

    fn web(&self, _dev: &Device, req: &Request) -> (Response, RequestKind) {
        let resp = match req.path() {
            "/" | "/index.html" => Response::html(200, NGINX_PAGE),
            _ => Response::not_found(),
        };
        let kind = if req.method == "GET" || req.method == "HEAD" {
            RequestKind::Read
        } else {
            RequestKind::StateChanging
        };
        (resp, kind)
    }

    fn server(&self) -> &'static str {
        "nginx/1.24.0"
    }

    fn ssh_banner(&self) -> &'static str {
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
    }
}
