//! The rule catalogue: one sorted table of every finding hashward can raise.
//!
//! Ids are stable: add, never renumber. `docs/rules.md` is generated from this table
//! (`hashward rules --format markdown`), and a test keeps the table sorted and unique.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Severity;

/// What part of hashward raises a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Firmware inspection and unpacking.
    Firmware,
    /// Live fleet audit.
    Fleet,
    /// Traffic analysis.
    Traffic,
    /// Facility siting and grid load.
    Sites,
    /// Import compliance.
    Customs,
}

/// One catalogue row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Stable id such as `FW-001`.
    pub id: &'static str,
    /// Short title.
    pub title: &'static str,
    /// Default severity; a detector may raise or lower it with a reason in the message.
    pub severity: Severity,
    /// Which part of hashward raises it.
    pub category: Category,
    /// Where the rule comes from: advisories, briefs, specifications.
    pub references: &'static [&'static str],
}

macro_rules! rules {
    ($( $id:literal, $sev:ident, $cat:ident, $title:literal, [$($r:literal),*] ;)*) => {
        /// Every rule, sorted by id.
        pub static CATALOGUE: &[RuleInfo] = &[
            $( RuleInfo { id: $id, title: $title, severity: Severity::$sev, category: Category::$cat, references: &[$($r),*] }, )*
        ];
    };
}

rules! {
    "CUS-001", High, Customs, "Misclassified tariff heading (duty difference)", ["https://rulings.cbp.gov/ruling/N297495", "https://rulings.cbp.gov/ruling/H300195"];
    "CUS-002", High, Customs, "Unit value below the price band for the model and date", ["19 U.S.C. 1401a"];
    "CUS-003", High, Customs, "Origin or transshipment signal", ["Texas Instruments Inc. v. United States, 681 F.2d 778 (C.C.P.A. 1982)", "EO 14326 section 3"];
    "CUS-004", Medium, Customs, "Chapter 99 headings missing or wrong for the entry date", ["https://hts.usitc.gov/"];
    "CUS-005", Low, Customs, "Merchandise processing or harbor maintenance fee mismatch", ["19 CFR 24.23", "19 CFR 24.24"];
    "CUS-006", Info, Customs, "Duties refundable after the IEEPA ruling", ["Learning Resources, Inc. v. Trump, 607 U.S. ___ (2026)"];
    "FW-001", Critical, Firmware, "Remote kill switch or vendor phone-home (Antbleed class)", ["https://github.com/bitmaintech/bmminer/issues/7"];
    "FW-002", Critical, Firmware, "Network-reachable remote command execution (download-and-execute daemon)", [];
    "FW-003", High, Firmware, "Vendor-signed remote reconfiguration handler (pool rewrite, root unlock)", [];
    "FW-004", High, Firmware, "Mining API writable from the network (api-network / api-allow)", [];
    "FW-005", High, Firmware, "Default, well-known or empty password for a system account", [];
    "FW-006", High, Firmware, "Default web interface credentials", [];
    "FW-007", High, Firmware, "Embedded private key", [];
    "FW-008", High, Firmware, "Unsigned or bypassable firmware update path", [];
    "FW-009", Critical, Firmware, "Shell command injection in a web CGI handler", [];
    "FW-010", Medium, Firmware, "Hard-coded network endpoint (vendor cloud, unknown host)", [];
    "FW-011", High, Firmware, "Passwordless privilege escalation (sudoers NOPASSWD, login helper)", [];
    "FW-012", Medium, Firmware, "Remote shell service enabled at boot (telnet, ssh)", [];
    "FW-013", High, Firmware, "Hashrate diversion (hidden, dev-fee or hard-coded pool)", [];
    "FW-014", Medium, Firmware, "Component version with known vulnerabilities", [];
    "FW-015", Low, Firmware, "Binary hardening missing (NX, PIE, RELRO, canary)", [];
    "FW-016", Medium, Firmware, "YARA rule match", [];
    "FW-100", Medium, Firmware, "Unpacking limit reached (size, ratio, depth, count, time)", [];
    "FW-101", High, Firmware, "Archive entry tries to escape the extraction root", [];
    "FW-102", Low, Firmware, "Malformed or truncated container", [];
    "NET-001", Critical, Fleet, "Privileged mining API open to this host", ["https://github.com/ckolivas/cgminer/blob/master/API-README", "https://github.com/bitmaintech/bmminer-mix/issues/5"];
    "NET-002", Critical, Fleet, "Default credentials accepted", ["https://www.buywhatsminer.com/download/whatsminer-api-v2-0-5/"];
    "NET-003", Critical, Fleet, "Unauthenticated control interface", ["https://docs.luxor.tech/firmware/api/sessions"];
    "NET-004", High, Fleet, "Pool not in the allowlist (possible hashrate hijack)", [];
    "NET-005", Medium, Fleet, "Plaintext stratum pool", [];
    "NET-006", Medium, Fleet, "Remote shell exposed (telnet, ssh)", [];
    "NET-007", Medium, Fleet, "Device changed since the last scan (firmware, pools, identity)", [];
    "NET-008", Low, Fleet, "Pool given as an IP literal (weak client.reconnect check)", ["https://github.com/ckolivas/cgminer/commit/040b42c5"];
    "NET-009", Low, Fleet, "Unidentified device answering on miner ports", [];
    "SITE-001", Critical, Sites, "Within a CFIUS close-proximity zone (1 mile of a listed installation)", ["31 CFR 802.203", "31 CFR 802.211(b)(1)"];
    "SITE-002", High, Sites, "Within a CFIUS extended range (100 miles of a part 2 installation)", ["31 CFR 802.217", "31 CFR 802.211(b)(2)"];
    "SITE-003", High, Sites, "Inside a CFIUS part 3 county or part 4 offshore range", ["31 CFR 802.211(b)(3)", "31 CFR 802.211(b)(4)"];
    "SITE-004", High, Sites, "Within a state-law distance for the owner's country", [];
    "SITE-005", Medium, Sites, "Critical infrastructure within the configured distance", [];
    "SITE-006", Medium, Sites, "Load over a grid large-load threshold", ["Texas SB 6 (2025)", "ERCOT market notice, Mar 25, 2022"];
    "SITE-007", Info, Sites, "Screening-only result (site known as a point)", [];
    "TRF-001", Critical, Traffic, "Contact with a known remote-control or phone-home indicator", ["https://github.com/bitmaintech/bmminer/issues/7"];
    "TRF-002", High, Traffic, "Beaconing", ["https://github.com/activecm/rita"];
    "TRF-003", High, Traffic, "Stratum client.reconnect redirect", ["https://en.bitcoin.it/wiki/Stratum_mining_protocol", "https://github.com/ckolivas/cgminer/blob/master/util.c"];
    "TRF-004", Critical, Traffic, "Pool or worker changed within a session (hashrate hijack)", [];
    "TRF-005", Medium, Traffic, "Plaintext stratum", [];
    "TRF-006", Medium, Traffic, "Destination not in the allowlist", [];
    "TRF-007", High, Traffic, "Management access from outside the management network", ["https://github.com/ckolivas/cgminer/blob/master/API-README"];
    "TRF-008", Medium, Traffic, "DNS to an unexpected resolver or suspicious domain", [];
}

/// A rule id from the catalogue. Construct with [`RuleId::new`]; unknown ids are rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(&'static str);

impl RuleId {
    /// Unsigned or bypassable firmware update path.
    pub const FW_UPDATE_PATH: RuleId = RuleId("FW-008");
    /// Shell command injection in a web CGI handler.
    pub const FW_CGI_INJECTION: RuleId = RuleId("FW-009");
    /// Passwordless privilege escalation.
    pub const FW_NOPASSWD_ROOT: RuleId = RuleId("FW-011");
    /// Remote shell service enabled at boot.
    pub const FW_REMOTE_SHELL: RuleId = RuleId("FW-012");
    /// Embedded private key.
    pub const FW_PRIVATE_KEY: RuleId = RuleId("FW-007");
    /// Remote kill switch or vendor phone-home.
    pub const FW_KILL_SWITCH: RuleId = RuleId("FW-001");
    /// Network-reachable remote command execution.
    pub const FW_REMOTE_EXEC: RuleId = RuleId("FW-002");
    /// Hard-coded network endpoint.
    pub const FW_ENDPOINT: RuleId = RuleId("FW-010");
    /// Hashrate diversion.
    pub const FW_DIVERSION: RuleId = RuleId("FW-013");
    /// Vendor-signed remote reconfiguration handler.
    pub const FW_REMOTE_CONFIG: RuleId = RuleId("FW-003");
    /// Component version with known vulnerabilities.
    pub const FW_VULNERABLE_COMPONENT: RuleId = RuleId("FW-014");
    /// Binary hardening missing.
    pub const FW_HARDENING: RuleId = RuleId("FW-015");
    /// YARA rule match.
    pub const FW_RULE_MATCH: RuleId = RuleId("FW-016");
    /// Mining API writable from the network.
    pub const FW_MINER_API: RuleId = RuleId("FW-004");
    /// Default, well-known or empty password for a system account.
    pub const FW_ACCOUNT_PASSWORD: RuleId = RuleId("FW-005");
    /// Default web interface credentials.
    pub const FW_WEB_CREDENTIALS: RuleId = RuleId("FW-006");
    /// Unpacking limit reached.
    pub const FW_LIMIT: RuleId = RuleId("FW-100");
    /// Entry tries to escape the extraction root.
    pub const FW_ESCAPE: RuleId = RuleId("FW-101");
    /// Malformed or truncated container.
    pub const FW_MALFORMED: RuleId = RuleId("FW-102");
    /// Privileged mining API open to this host.
    pub const NET_PRIVILEGED_API: RuleId = RuleId("NET-001");
    /// Default credentials accepted.
    pub const NET_DEFAULT_CREDENTIALS: RuleId = RuleId("NET-002");
    /// Unauthenticated control interface.
    pub const NET_UNAUTHENTICATED_CONTROL: RuleId = RuleId("NET-003");
    /// Pool not in the allowlist.
    pub const NET_POOL_NOT_ALLOWED: RuleId = RuleId("NET-004");
    /// Plaintext stratum pool.
    pub const NET_PLAINTEXT_POOL: RuleId = RuleId("NET-005");
    /// Remote shell exposed.
    pub const NET_REMOTE_SHELL: RuleId = RuleId("NET-006");
    /// Device changed since the last scan.
    pub const NET_CHANGED: RuleId = RuleId("NET-007");
    /// Pool given as an IP literal.
    pub const NET_IP_LITERAL_POOL: RuleId = RuleId("NET-008");
    /// Unidentified device answering on miner ports.
    pub const NET_UNIDENTIFIED: RuleId = RuleId("NET-009");
    /// Contact with a known remote-control or phone-home indicator.
    pub const TRF_PHONE_HOME: RuleId = RuleId("TRF-001");
    /// Beaconing.
    pub const TRF_BEACON: RuleId = RuleId("TRF-002");
    /// Stratum client.reconnect redirect.
    pub const TRF_RECONNECT: RuleId = RuleId("TRF-003");
    /// Pool or worker changed within a session (hashrate hijack).
    pub const TRF_POOL_CHANGE: RuleId = RuleId("TRF-004");
    /// Plaintext stratum.
    pub const TRF_PLAINTEXT_STRATUM: RuleId = RuleId("TRF-005");
    /// Destination not in the allowlist.
    pub const TRF_NOT_ALLOWED: RuleId = RuleId("TRF-006");
    /// Management access from outside the management network.
    pub const TRF_MANAGEMENT_ACCESS: RuleId = RuleId("TRF-007");
    /// DNS to an unexpected resolver or suspicious domain.
    pub const TRF_DNS: RuleId = RuleId("TRF-008");
    /// Within a CFIUS close-proximity zone.
    pub const SITE_CFIUS_CLOSE: RuleId = RuleId("SITE-001");
    /// Within a CFIUS extended range.
    pub const SITE_CFIUS_EXTENDED: RuleId = RuleId("SITE-002");
    /// Inside a CFIUS part 3 county or part 4 range.
    pub const SITE_CFIUS_AREA: RuleId = RuleId("SITE-003");
    /// Within a state-law distance for the owner's country.
    pub const SITE_STATE_LAW: RuleId = RuleId("SITE-004");
    /// Critical infrastructure within the configured distance.
    pub const SITE_INFRASTRUCTURE: RuleId = RuleId("SITE-005");
    /// Load over a grid threshold.
    pub const SITE_GRID_LOAD: RuleId = RuleId("SITE-006");
    /// Screening-only result.
    pub const SITE_SCREENING: RuleId = RuleId("SITE-007");
    /// Misclassified tariff heading.
    pub const CUS_MISCLASSIFIED: RuleId = RuleId("CUS-001");
    /// Unit value below the band.
    pub const CUS_UNDERVALUED: RuleId = RuleId("CUS-002");
    /// Origin or transshipment signal.
    pub const CUS_ORIGIN: RuleId = RuleId("CUS-003");
    /// Chapter 99 headings missing or wrong.
    pub const CUS_CHAPTER99: RuleId = RuleId("CUS-004");
    /// Fee mismatch.
    pub const CUS_FEES: RuleId = RuleId("CUS-005");
    /// Duties refundable after the IEEPA ruling.
    pub const CUS_REFUNDABLE: RuleId = RuleId("CUS-006");

    /// The id for `code`, if the catalogue has it.
    pub fn new(code: &str) -> Option<RuleId> {
        CATALOGUE
            .binary_search_by(|r| r.id.cmp(code))
            .ok()
            .map(|i| RuleId(CATALOGUE[i].id))
    }

    /// The id as text.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The catalogue row.
    pub fn info(self) -> &'static RuleInfo {
        // Invariant: a RuleId is only built from a catalogue row (constants are checked by a test).
        CATALOGUE.iter().find(|r| r.id == self.0).unwrap_or(&CATALOGUE[0])
    }
}

impl fmt::Debug for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RuleId::new(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown rule id {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_unique() {
        for pair in CATALOGUE.windows(2) {
            assert!(
                pair[0].id < pair[1].id,
                "{} must sort before {}",
                pair[0].id,
                pair[1].id
            );
        }
    }

    #[test]
    fn ids_have_the_documented_shape() {
        for r in CATALOGUE {
            let (prefix, num) = r.id.split_once('-').expect("id has a dash");
            assert!(["FW", "NET", "TRF", "SITE", "CUS"].contains(&prefix), "{}", r.id);
            assert_eq!(num.len(), 3, "{}", r.id);
            assert!(num.chars().all(|c| c.is_ascii_digit()), "{}", r.id);
            assert!(!r.title.is_empty());
        }
    }

    #[test]
    fn architecture_ids_are_all_present() {
        let mut want: Vec<String> = (1..=16).map(|n| format!("FW-{n:03}")).collect();
        want.extend(["FW-100", "FW-101", "FW-102"].map(String::from));
        want.extend((1..=9).map(|n| format!("NET-{n:03}")));
        want.extend((1..=8).map(|n| format!("TRF-{n:03}")));
        for id in want {
            assert!(RuleId::new(&id).is_some(), "missing {id}");
        }
    }

    #[test]
    fn constants_are_catalogued() {
        for id in [
            RuleId::FW_LIMIT,
            RuleId::FW_ESCAPE,
            RuleId::FW_MALFORMED,
            RuleId::FW_VULNERABLE_COMPONENT,
            RuleId::NET_PRIVILEGED_API,
            RuleId::NET_DEFAULT_CREDENTIALS,
            RuleId::NET_UNAUTHENTICATED_CONTROL,
            RuleId::NET_POOL_NOT_ALLOWED,
            RuleId::NET_PLAINTEXT_POOL,
            RuleId::NET_REMOTE_SHELL,
            RuleId::NET_CHANGED,
            RuleId::NET_IP_LITERAL_POOL,
            RuleId::NET_UNIDENTIFIED,
            RuleId::TRF_PHONE_HOME,
            RuleId::TRF_BEACON,
            RuleId::TRF_RECONNECT,
            RuleId::TRF_POOL_CHANGE,
            RuleId::TRF_PLAINTEXT_STRATUM,
            RuleId::TRF_NOT_ALLOWED,
            RuleId::TRF_MANAGEMENT_ACCESS,
            RuleId::TRF_DNS,
        ] {
            assert_eq!(RuleId::new(id.as_str()), Some(id));
            assert_eq!(id.info().id, id.as_str());
        }
    }

    #[test]
    fn unknown_ids_are_refused() {
        assert!(RuleId::new("FW-999").is_none());
        assert!(serde_json::from_str::<RuleId>("\"XX-001\"").is_err());
        assert_eq!(
            serde_json::from_str::<RuleId>("\"FW-001\"").unwrap().as_str(),
            "FW-001"
        );
    }
}
