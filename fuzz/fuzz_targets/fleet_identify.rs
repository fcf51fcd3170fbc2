//! Fuzz target: identification and interpretation of a host whose every reply is hostile.
//! The input is split at NUL bytes into the `version` reply, the `GET /` response and the
//! replies to each family's plan, so every family's reader sees arbitrary bytes.
#![no_main]

use hashward_fleet::device::{Device, Observations};
use hashward_fleet::family::{self, Answer, Discovery, FAMILIES, PlanOptions};
use hashward_fleet::net::{Raw, RpcReply, WebReply};
use hashward_fleet::proto::{cgminer, http};

fn rpc(bytes: &[u8]) -> Option<RpcReply> {
    let decoded = cgminer::decode(bytes).ok()?;
    Some(RpcReply { raw: Raw { request: "fuzz".into(), bytes: bytes.to_vec() }, decoded })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let version = parts.next().unwrap_or_default();
    let web = parts.next().unwrap_or_default();
    let mut d = Discovery {
        ports: vec![80, 4028, 4433],
        api_port: Some(4028),
        version: rpc(version).map(Ok),
        ..Discovery::default()
    };
    if let Ok(Some(response)) = http::parse(web, true) {
        d.web = Some(Ok(WebReply { raw: Raw { request: "GET /".into(), bytes: web.to_vec() }, response }));
    }
    let rest: Vec<&[u8]> = parts.collect();
    for fam in FAMILIES.iter().copied().filter(|f| f.recognise(&d)).chain(family::recognise(&d)) {
        let opts = PlanOptions { check_default_credentials: true };
        let answers: Vec<_> = fam
            .plan(&d, &opts)
            .into_iter()
            .enumerate()
            .map(|(i, ask)| {
                let bytes = rest.get(i % rest.len().max(1)).copied().unwrap_or_default();
                let a = match &ask {
                    family::Ask::Rpc(_) => rpc(bytes).map(Answer::Rpc),
                    family::Ask::V3(..) => serde_json::from_slice(bytes).ok().map(|v| Answer::V3(Raw { request: "v3".into(), bytes: bytes.to_vec() }, v)),
                    _ => http::parse(bytes, true).ok().flatten().map(|response| Answer::Web(WebReply { raw: Raw { request: "web".into(), bytes: bytes.to_vec() }, response })),
                };
                (ask, a.ok_or(hashward_fleet::net::ProbeError::Empty))
            })
            .collect();
        let mut dev = Device::default();
        let mut obs = Observations::default();
        fam.interpret(&d, &answers, &mut dev, &mut obs);
    }
});
