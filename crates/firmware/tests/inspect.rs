//! `firmware inspect` on every generation: each planted credential is found, by rule and
//! place; near misses (a strong password, a locked account, a digest for another realm) and the
//! clean control image raise nothing above low.

use hashward_firmware::inventory::Password;
use hashward_firmware::{InspectReport, Limits, UnpackOptions, inspect};
use hashward_fixtures::archive::{TarStyle, tar};
use hashward_fixtures::rootfs;
use hashward_fixtures::samples::{self, Sample};
use hashward_model::{Finding, Severity};

fn run(name: &str, bytes: &[u8]) -> (InspectReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join(name);
    std::fs::write(&image, bytes).unwrap();
    let opts = UnpackOptions {
        out: dir.path().join("out"),
        limits: Limits::default(),
        carve: true,
        keys: Vec::new(),
        jobs: 0,
    };
    (inspect(&image, &opts, None).unwrap(), dir)
}

/// Inspect a tree of our own, packed as a tar.gz.
fn run_tree(name: &str, t: &hashward_fixtures::Tree) -> (InspectReport, tempfile::TempDir) {
    run(name, &samples::gzip(&tar(t, TarStyle::Gnu)))
}

fn sample(s: &Sample) -> InspectReport {
    run(s.file_name, &s.bytes).0
}

/// (rule, severity, path suffix, message fragment) of each finding of `rule`.
fn of<'r>(r: &'r InspectReport, rule: &str) -> Vec<&'r Finding> {
    r.findings.iter().filter(|f| f.rule.as_str() == rule).collect()
}

fn has(r: &InspectReport, rule: &str, sev: Severity, path_end: &str, says: &str) {
    let hit = of(r, rule).into_iter().any(|f| {
        let path = match &f.subject {
            hashward_model::Subject::FirmwareFile { path, .. } => path.as_str(),
            _ => "",
        };
        f.severity == sev && path.ends_with(path_end) && f.message.contains(says)
    });
    assert!(
        hit,
        "no {rule} {sev:?} at *{path_end} saying {says:?}; got {:#?}",
        r.findings
            .iter()
            .map(|f| (f.rule.as_str(), f.severity, &f.message))
            .collect::<Vec<_>>()
    );
}

#[test]
fn gen1_default_root_password_and_web_digest() {
    let r = sample(&samples::gen1());
    has(
        &r,
        "FW-005",
        Severity::High,
        "etc/shadow.factory",
        "\"admin\" (sha512crypt)",
    );
    has(
        &r,
        "FW-006",
        Severity::High,
        "config/lighttpd-htdigest.user",
        "root:root",
    );
}

#[test]
fn s9_root_admin_in_config_shadow() {
    let r = sample(&samples::s9());
    has(
        &r,
        "FW-005",
        Severity::High,
        "config/shadow",
        "account root has the well-known password \"admin\"",
    );
    has(
        &r,
        "FW-006",
        Severity::High,
        "lighttpd-htdigest.user",
        "root:root",
    );
    // The finding points into the UBIFS root file system, with its layer chain and hash.
    let f = of(&r, "FW-005")[0];
    let hashward_model::Evidence::File {
        layers,
        sha256,
        offset,
        ..
    } = &f.evidence[0]
    else {
        panic!("{f:?}")
    };
    assert!(
        layers.iter().any(|l| l == "ubifs") || layers.iter().any(|l| l == "jffs2"),
        "{layers:?}"
    );
    assert!(sha256.is_some() && offset.is_some());
}

#[test]
fn s17_empty_root_password() {
    let r = sample(&samples::s17());
    has(
        &r,
        "FW-005",
        Severity::High,
        "etc/shadow",
        "account root has an empty password",
    );
    has(&r, "FW-005", Severity::High, "etc/shadow.factory", "\"admin\"");
    // www-data is locked (`*`): nothing about it.
    assert!(of(&r, "FW-005").iter().all(|f| !f.message.contains("www-data")));
}

#[test]
fn s21_miner_miner_and_a_factory_root_without_a_login_shell() {
    let r = sample(&samples::s21());
    has(
        &r,
        "FW-005",
        Severity::High,
        "etc/shadow",
        "account miner has the well-known password \"miner\"",
    );
    // root's shell is /bin/false: the factory copy's root:admin is reported, but low.
    has(
        &r,
        "FW-005",
        Severity::Low,
        "etc/shadow.factory",
        "shell /bin/false",
    );
    let root = r
        .inventory
        .accounts
        .iter()
        .find(|a| a.user == "root" && a.passwords.iter().any(|p| p.password == Password::Locked))
        .expect("root with a locked password");
    assert!(!root.can_log_in());
}

#[test]
fn braiins_empty_root_password() {
    let r = sample(&samples::braiins());
    has(
        &r,
        "FW-005",
        Severity::High,
        "etc/shadow",
        "account root has an empty password",
    );
}

#[test]
fn the_clean_control_raises_nothing_above_low() {
    let (r, _dir) = run_tree("clean-rootfs.tar.gz", &rootfs::clean_control());
    let above: Vec<_> = r.findings.iter().filter(|f| f.severity > Severity::Low).collect();
    assert!(above.is_empty(), "{above:#?}");
    // Its root password is a strong one: tested, not matched.
    let root = r.inventory.accounts.iter().find(|a| a.user == "root").unwrap();
    assert!(root.passwords.iter().any(|p| p.password
        == Password::Hashed {
            scheme: "sha512crypt"
        }));
}

#[test]
fn near_misses_do_not_fire() {
    let strong = pwhash_like_strong();
    let mut t = hashward_fixtures::Tree::new();
    t.file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/:/sbin/nologin\n",
    )
    .file(
        "etc/shadow",
        format!("root:{strong}:1:0:99999:7:::\nbin:!:1::::::\n# root::0:\n"),
    )
    // The right digest for root:root, but in another realm than the file says.
    .file(
        "etc/lighttpd-htdigest.user",
        "root:Other Realm:23c2a2d78c0d20ec069097d7d20c4392\n",
    )
    // A password that is only mentioned in a comment of a script.
    .file("etc/init.d/S99note", "#!/bin/sh\n# default password is admin\n");
    let (r, _dir) = run_tree("near-miss.tar.gz", &t);
    assert!(of(&r, "FW-005").is_empty(), "{:#?}", r.findings);
    assert!(of(&r, "FW-006").is_empty(), "{:#?}", r.findings);
    assert_eq!(r.inventory.web_credentials.len(), 1);
}

/// A sha512crypt hash of a password no dictionary holds (fixed salt, so the test is stable).
fn pwhash_like_strong() -> &'static str {
    "$6$Jm0Qp7vH2rT9xYzA$V4nOIyW9cVYd0lnq0Q7mV7I5cH8cDq6yJgZ2m9Fq6vB0a3hX2Qe3z0M4eD1y8wU7tS6rR5qP4oN3mL2kJ1iH0."
}

#[test]
fn writable_mining_api_where_api_allow_grants_w_to_everyone_and_not_for_the_stock_w_star() {
    let s9 = sample(&samples::s9());
    has(
        &s9,
        "FW-004",
        Severity::Critical,
        "rootfs.ubifs.extracted/config/bmminer.conf",
        "\"W:0/0\"",
    );
    // The factory copy next to it says "A:0/0,W:*": read-only for all, as cgminer drops `W:*`.
    assert!(
        of(&s9, "FW-004")
            .iter()
            .all(|f| !f.message.contains("bmminer.conf.factory"))
    );
    let factory = s9
        .inventory
        .miner_api
        .iter()
        .find(|a| {
            a.file
                .ends_with("rootfs.ubifs.extracted/etc/bmminer.conf.factory")
        })
        .expect("the factory configuration is inventoried");
    assert_eq!(factory.dropped, ["W:*"]);
    assert_eq!(factory.remote_privileged().count(), 0);
    let gen1 = sample(&samples::gen1());
    has(
        &gen1,
        "FW-004",
        Severity::Critical,
        "etc/cgminer.conf.factory",
        "a reset restores it",
    );
    for s in [samples::s17(), samples::s21()] {
        let r = sample(&s);
        assert!(
            of(&r, "FW-004").is_empty(),
            "{}: {:#?}",
            s.file_name,
            of(&r, "FW-004")
        );
        assert!(!r.inventory.miner_api.is_empty(), "{}", s.file_name);
    }
}

#[test]
fn embedded_private_keys_and_trust_anchors() {
    let s9 = sample(&samples::s9());
    has(
        &s9,
        "FW-007",
        Severity::High,
        "rootfs.ubifs.extracted/config/dropbear_rsa_host_key",
        "dropbear ssh-rsa",
    );
    // The dropbear binaries carry PEM header strings; they are not keys.
    for r in [&s9, &sample(&samples::s21())] {
        assert!(
            of(r, "FW-007")
                .iter()
                .all(|f| !f.message.contains("sbin/dropbear ")),
            "{:#?}",
            of(r, "FW-007")
        );
    }
    // Vendor trust anchors are inventoried as public keys, not reported.
    for s in [samples::s17(), samples::s21()] {
        let r = sample(&s);
        assert!(
            r.inventory
                .keys
                .iter()
                .any(|k| k.kind == hashward_firmware::inventory::KeyKind::PublicKey
                    && k.file.contains("etc/bitmain")),
            "{}: {:#?}",
            s.file_name,
            r.inventory.keys
        );
    }
    // A PEM private key planted in a web directory is found at its offset.
    let pem = {
        use base64::Engine as _;
        let mut der = vec![0x30u8, 0x82, 0x01, 0x20];
        der.extend((0..288u32).map(|i| (i * 13) as u8));
        let b = base64::engine::general_purpose::STANDARD.encode(&der);
        format!("-----BEGIN PRIVATE KEY-----\n{b}\n-----END PRIVATE KEY-----\n")
    };
    let mut t = hashward_fixtures::Tree::new();
    t.file("www/pages/cgi-bin/sign.key", format!("# signing key\n{pem}"));
    let (r, _dir) = run_tree("key.tar.gz", &t);
    has(
        &r,
        "FW-007",
        Severity::High,
        "www/pages/cgi-bin/sign.key",
        "at offset 14",
    );
}

#[test]
fn remote_shells_started_at_boot() {
    let s21 = sample(&samples::s21());
    has(
        &s21,
        "FW-012",
        Severity::High,
        "etc/init.d/S50dropbear",
        "account(s) miner",
    );
    let braiins = sample(&samples::braiins());
    has(
        &braiins,
        "FW-012",
        Severity::High,
        "etc/init.d/dropbear",
        "(rc.d link)",
    );
    let s9 = sample(&samples::s9());
    has(
        &s9,
        "FW-012",
        Severity::High,
        "rootfs.ubifs.extracted/etc/init.d/dropbear",
        "(rcS.d link)",
    );
    // The S17 image starts no SSH server.
    assert!(of(&sample(&samples::s17()), "FW-012").is_empty());
    // Every boot service is inventoried with what it runs.
    assert!(
        s9.inventory
            .services
            .iter()
            .any(|s| s.name == "S60lighttpd" && s.daemons == ["lighttpd"])
    );
    // telnetd from inittab is high even without a weak password; ssh alone is medium; a
    // commented-out telnetd and a stop branch start nothing.
    let mut t = hashward_fixtures::Tree::new();
    t.file(
        "etc/inittab",
        "::sysinit:/etc/init.d/rcS\n::respawn:/usr/sbin/telnetd -F -l /bin/sh\n",
    )
    .file_mode("etc/init.d/S50sshd", "#!/bin/sh\n/usr/sbin/sshd\n", 0o755)
    .file_mode(
        "etc/init.d/S60web",
        "#!/bin/sh\n# telnetd was here\ncase $1 in stop) killall dropbear ;; esac\n",
        0o755,
    );
    let (r, _dir) = run_tree("shells.tar.gz", &t);
    has(&r, "FW-012", Severity::High, "etc/inittab", "telnetd");
    has(
        &r,
        "FW-012",
        Severity::Medium,
        "etc/init.d/S50sshd",
        "sshd is started at boot",
    );
    assert_eq!(of(&r, "FW-012").len(), 2, "{:#?}", of(&r, "FW-012"));
}

#[test]
fn passwordless_root_helpers_and_nopasswd_rules() {
    let s21 = sample(&samples::s21());
    has(
        &s21,
        "FW-011",
        Severity::High,
        "usr/sbin/antlogin",
        "login -f root",
    );
    has(
        &s21,
        "FW-011",
        Severity::Medium,
        "etc/sudoers",
        "lets www-data run /etc/init.d/S70cgminer",
    );
    // The vendor's root-unlock script appends NOPASSWD:ALL to sudoers when it runs: that is a
    // remote reconfiguration handler, not a rule in a sudoers file.
    assert!(
        of(&s21, "FW-011")
            .iter()
            .all(|f| !f.message.contains("updateporc"))
    );
    let mut t = hashward_fixtures::Tree::new();
    t.file(
        "etc/sudoers",
        "root ALL=(ALL) ALL\n# miner ALL=(ALL) NOPASSWD: ALL\n%wheel ALL=(ALL) ALL\n",
    )
    .file("etc/sudoers.d/90-support", "support ALL=(ALL) NOPASSWD:ALL\n");
    let (r, _dir) = run_tree("sudo.tar.gz", &t);
    has(
        &r,
        "FW-011",
        Severity::High,
        "etc/sudoers.d/90-support",
        "lets support run any command",
    );
    assert_eq!(of(&r, "FW-011").len(), 1, "{:#?}", of(&r, "FW-011"));
}

#[test]
fn update_paths_unsigned_bypassable_and_delegated() {
    let gen1 = sample(&samples::gen1());
    has(
        &gen1,
        "FW-008",
        Severity::High,
        "cgi-bin/upgrade.cgi",
        "runs with no signature check",
    );
    let s17 = sample(&samples::s17());
    has(
        &s17,
        "FW-008",
        Severity::High,
        "cgi-bin/upgrade.cgi",
        "compared with 1 only",
    );
    has(
        &s17,
        "FW-008",
        Severity::High,
        "cgi-bin/upgrade.cgi",
        "only reported, not refused",
    );
    // The S21 handler hands the package to daemonc: listed, not judged.
    let s21 = sample(&samples::s21());
    assert!(of(&s21, "FW-008").is_empty(), "{:#?}", of(&s21, "FW-008"));
    assert!(
        s21.inventory
            .updates
            .iter()
            .any(|u| u.file.ends_with("cgi-bin/upgrade.cgi") && u.delegated_to.as_deref() == Some("daemonc"))
    );
}

#[test]
fn cgi_request_values_reaching_commands_unquoted() {
    let s9 = sample(&samples::s9());
    has(
        &s9,
        "FW-009",
        Severity::High,
        "cgi-bin/network_diag.cgi",
        "reaches `ping` unquoted",
    );
    // The S17 handler validates the address with an anchored pattern and quotes it.
    assert!(of(&sample(&samples::s17()), "FW-009").is_empty());
}

#[test]
fn indicators_of_remote_control_phone_home_and_diversion() {
    let s9 = sample(&samples::s9());
    has(
        &s9,
        "FW-001",
        Severity::Critical,
        "rootfs.ubifs.extracted/usr/bin/bmminer",
        "auth.minerlink.com",
    );
    has(
        &s9,
        "FW-013",
        Severity::High,
        "rootfs.ubifs.extracted/config/hotelfee.json",
        "hotel",
    );
    // One finding per file and rule, and none for the container images holding them.
    assert_eq!(of(&s9, "FW-001").len(), 2, "{:#?}", of(&s9, "FW-001"));
    assert!(
        of(&s9, "FW-013")
            .iter()
            .all(|f| f.message.contains("hotelfee.json"))
    );
    has(
        &sample(&samples::gen1()),
        "FW-002",
        Severity::Critical,
        "usr/bin/d-ddos",
        "d-ddos.antpool.com",
    );
    has(
        &sample(&samples::s17()),
        "FW-010",
        Severity::Medium,
        "usr/bin/bmminer",
        "power.bitmain.com",
    );
    has(
        &sample(&samples::braiins()),
        "FW-013",
        Severity::Medium,
        "usr/bin/bosminer",
        "dev fee",
    );
    // Later bmminer builds carry none of Antbleed's strings.
    for s in [samples::s17(), samples::s21()] {
        assert!(of(&sample(&s), "FW-001").is_empty(), "{}", s.file_name);
    }
    // The community's Antbleed block in /etc/hosts is a fix, not the backdoor.
    let mut t = hashward_fixtures::Tree::new();
    t.file("etc/hosts", "127.0.0.1 localhost\n127.0.0.1 auth.minerlink.com\n");
    let (r, _dir) = run_tree("hosts.tar.gz", &t);
    assert!(of(&r, "FW-001").is_empty(), "{:#?}", r.findings);
}

#[test]
fn vendor_signed_pool_rewrite_and_root_unlock() {
    let s21 = sample(&samples::s21());
    has(
        &s21,
        "FW-003",
        Severity::Critical,
        "usr/sbin/updateporc.sh",
        "rewrites the mining pools",
    );
    has(
        &s21,
        "FW-003",
        Severity::Critical,
        "usr/sbin/updateporc.sh",
        "grants root",
    );
    has(
        &s21,
        "FW-003",
        Severity::Critical,
        "usr/sbin/updateporc.sh",
        "signed with /etc/bitmain-adv.pub",
    );
    has(
        &s21,
        "FW-003",
        Severity::Critical,
        "usr/sbin/updateporc.sh",
        "selects every unit",
    );
    // The older generations have no such handler.
    for s in [samples::gen1(), samples::s9(), samples::s17()] {
        assert!(of(&sample(&s), "FW-003").is_empty(), "{}", s.file_name);
    }
}

#[test]
fn binaries_and_their_hardening() {
    let s9 = sample(&samples::s9());
    let bmminer = s9
        .inventory
        .binaries
        .iter()
        .find(|b| b.file.ends_with("rootfs.ubifs.extracted/usr/bin/bmminer"))
        .expect("bmminer is inventoried");
    assert_eq!((bmminer.arch.as_str(), bmminer.bits), ("arm", 32));
    // Hardening gaps are low, one finding per root file system and protection.
    has(
        &s9,
        "FW-015",
        Severity::Low,
        "usr/bin/bmminer",
        "without NX stack (e.g. bmminer)",
    );
    let per_root: std::collections::BTreeSet<_> = of(&s9, "FW-015").iter().map(|f| &f.message).collect();
    assert_eq!(per_root.len(), of(&s9, "FW-015").len());
    assert!(of(&s9, "FW-015").iter().all(|f| f.severity == Severity::Low));
}

/// (name, version) of the components of one root file system whose path ends with `root`.
fn components<'r>(r: &'r InspectReport, root: &str) -> Vec<(&'r str, Option<&'r str>)> {
    r.inventory
        .components
        .iter()
        .filter(|c| c.rootfs.ends_with(root))
        .map(|c| (c.name.as_str(), c.version.as_deref()))
        .collect()
}

#[test]
fn s21_platform_components_and_network_surface() {
    let r = sample(&samples::s21());
    let inv = &r.inventory;
    let p = &inv.platform;
    assert!(
        p.os.iter()
            .any(|f| f.value.starts_with("Buildroot") && f.file.ends_with("etc/os-release")),
        "{p:#?}"
    );
    assert!(
        p.kernel
            .iter()
            .any(|f| f.value == "4.6.0-xilinx-g03c746f7" && f.how.starts_with("uImage name")),
        "{p:#?}"
    );
    assert!(p.miner_family.iter().any(|f| f.value == "antminer"), "{p:#?}");
    // The vendor keys the firmware trusts, with their fingerprints.
    assert!(
        p.trust_anchors
            .iter()
            .any(|t| t.file.ends_with("etc/bitmain.pub") && t.sha256.len() == 64),
        "{p:#?}"
    );
    let c = components(&r, "ramdisk.extracted");
    for want in [
        ("busybox", Some("1.31.1")),
        ("dropbear", Some("2019.78")),
        ("openssl", Some("1.0.2g")),
        ("glibc", Some("2.25")),
        ("cgminer", Some("4.11.1")),
    ] {
        assert!(c.contains(&want), "{want:?} not in {c:?}");
    }
    // The web server: port 80 behind the Antminer digest realm, started at boot.
    let web = inv
        .network
        .listeners
        .iter()
        .find(|l| l.service == "lighttpd")
        .unwrap();
    assert_eq!((web.port, web.at_boot), (80, Some(true)));
    assert_eq!(web.auth, "htdigest realm \"antMiner Configuration\" on /");
    let ssh = inv
        .network
        .listeners
        .iter()
        .find(|l| l.service == "dropbear")
        .unwrap();
    assert_eq!((ssh.port, ssh.at_boot), (22, Some(true)));
    let api = inv
        .network
        .listeners
        .iter()
        .find(|l| l.service == "cgminer-api")
        .unwrap();
    assert_eq!(api.bind.as_deref(), Some("0.0.0.0"));
    assert!(
        inv.network
            .firewall
            .iter()
            .any(|f| f.chain.as_deref() == Some("INPUT") && f.action.as_deref() == Some("DROP"))
    );
    // Endpoints: the factory pools, the time server.
    use hashward_firmware::inventory::EndpointClass;
    let class_of = |v: &str| inv.endpoints.iter().find(|e| e.value == v).map(|e| e.class);
    assert_eq!(
        class_of("stratum+tcp://stratum.antpool.com:3333"),
        Some(EndpointClass::Pool)
    );
    assert_eq!(class_of("pool.ntp.org"), Some(EndpointClass::Time));
}

#[test]
fn s9_endpoints_name_the_vendor_host_and_the_fee_pool() {
    use hashward_firmware::inventory::EndpointClass;
    let r = sample(&samples::s9());
    let inv = &r.inventory;
    let e = inv
        .endpoints
        .iter()
        .find(|e| e.value == "auth.minerlink.com")
        .unwrap();
    assert_eq!(e.class, EndpointClass::VendorCloud);
    assert!(
        e.sites.iter().all(|s| s.file.ends_with("usr/bin/bmminer")),
        "{e:#?}"
    );
    let fee = inv
        .endpoints
        .iter()
        .find(|e| e.value.contains("fee.pool.example"))
        .unwrap();
    assert_eq!(fee.class, EndpointClass::Pool);
    assert!(inv.platform.os.iter().any(|f| f.value.contains("v2013.06")));
    assert!(components(&r, "rootfs.ubifs.extracted").contains(&("busybox", Some("1.22.1"))));
}

#[test]
fn packages_sshd_and_openwrt_configuration() {
    let mut t = hashward_fixtures::Tree::new();
    t.file(
        "usr/lib/opkg/status",
        "Package: dropbear\nVersion: 2017.75-7\nStatus: install user installed\n\n\
         Package: uhttpd\nVersion: 2018-06-26-cb6b5a6f-1\nStatus: install user installed\n\n",
    )
    .file("etc/openwrt_release", "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='18.06.1'\n")
    .file("etc/config/uhttpd", "config uhttpd 'main'\n\tlist listen_http '0.0.0.0:80'\n\tlist listen_https '0.0.0.0:443'\n")
    .file("etc/config/dropbear", "config dropbear\n\toption PasswordAuth 'on'\n\toption Port '2222'\n")
    .file("etc/ssh/sshd_config", "PasswordAuthentication no\n# Port 22\n")
    .file(
        "etc/config/firewall",
        "config rule\n\toption name 'Allow-API'\n\toption src 'wan'\n\toption dest_port '4028'\n\toption target 'ACCEPT'\n",
    );
    let (r, _dir) = run_tree("openwrt.tar.gz", &t);
    let inv = &r.inventory;
    assert_eq!(inv.platform.os[0].value, "OpenWrt 18.06.1");
    let c = components(&r, "");
    assert!(c.contains(&("dropbear", Some("2017.75"))), "{c:?}");
    let ports: Vec<(u16, &str, bool)> = inv
        .network
        .listeners
        .iter()
        .map(|l| (l.port, l.service.as_str(), l.tls))
        .collect();
    assert_eq!(
        ports,
        [
            (22, "sshd", false),
            (80, "uhttpd", false),
            (443, "uhttpd", true),
            (2222, "dropbear", false)
        ]
    );
    assert!(inv.network.listeners[0].auth.starts_with("keys only"));
    let fw = &inv.network.firewall[0];
    assert_eq!(
        (fw.chain.as_deref(), fw.port.as_deref(), fw.action.as_deref()),
        (Some("wan"), Some("4028"), Some("ACCEPT"))
    );
}

#[test]
fn the_clean_control_has_no_vendor_or_pool_endpoint() {
    use hashward_firmware::inventory::EndpointClass;
    let (r, _dir) = run_tree("clean-rootfs.tar.gz", &rootfs::clean_control());
    let odd: Vec<_> = r
        .inventory
        .endpoints
        .iter()
        .filter(|e| matches!(e.class, EndpointClass::Pool | EndpointClass::VendorCloud))
        .collect();
    assert!(odd.is_empty(), "{odd:#?}");
    assert!(
        r.inventory.platform.miner_family.is_empty(),
        "{:#?}",
        r.inventory.platform
    );
}

/// A content scanner of our own for the interface: one "rule" per needle, a time limit
/// simulated by a file name.
struct Needles(&'static [(&'static str, &'static str)]);

struct NeedleSession<'a> {
    needles: &'a [(&'static str, &'static str)],
    thread: std::thread::ThreadId,
}

impl hashward_firmware::scan::ContentScanner for Needles {
    fn name(&self) -> &'static str {
        "needles"
    }
    fn session(&self) -> Box<dyn hashward_firmware::scan::ScanSession + '_> {
        Box::new(NeedleSession {
            needles: self.0,
            thread: std::thread::current().id(),
        })
    }
}

impl hashward_firmware::scan::ScanSession for NeedleSession<'_> {
    fn scan(
        &mut self,
        path: &str,
        bytes: &[u8],
        out: &mut Vec<hashward_firmware::scan::RuleMatch>,
    ) -> Result<(), hashward_firmware::scan::ScanFailure> {
        // A session is used on the thread that opened it.
        assert_eq!(self.thread, std::thread::current().id());
        if path.ends_with("slow.bin") {
            return Err(hashward_firmware::scan::ScanFailure {
                engine: "needles",
                file: path.to_owned(),
                error: "timeout after 1 s".into(),
            });
        }
        for (rule, needle) in self.needles {
            let found: Vec<usize> = bytes
                .windows(needle.len())
                .enumerate()
                .filter(|(_, w)| w == &needle.as_bytes())
                .map(|(i, _)| i)
                .collect();
            if let Some(&first) = found.first() {
                out.push(hashward_firmware::scan::RuleMatch {
                    engine: "needles",
                    namespace: "test".into(),
                    rule: (*rule).into(),
                    file: path.into(),
                    offset: Some(first as u64),
                    length: needle.len() as u64,
                    matches: found.len() as u64,
                    severity: (*rule == "loud").then_some(Severity::Critical),
                    description: Some(format!("contains {needle}")),
                    builtin: *rule == "loud",
                    meta: Default::default(),
                });
            }
        }
        Ok(())
    }
}

#[test]
fn content_scanner_matches_become_fw016_and_unfinished_scans_fw100() {
    let mut t = hashward_fixtures::Tree::new();
    t.file("etc/a.conf", "x = 1\nneedle here, needle there\n")
        .file("usr/share/b.txt", "quiet words\n")
        .file("var/slow.bin", "whatever");
    for i in 0..40 {
        t.file(&format!("usr/lib/filler{i:02}"), format!("file {i}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("scan.tar.gz");
    std::fs::write(&image, samples::gzip(&tar(&t, TarStyle::Gnu))).unwrap();
    let opts = UnpackOptions {
        out: dir.path().join("out"),
        limits: Limits::default(),
        carve: true,
        keys: Vec::new(),
        jobs: 0,
    };
    let scanner = Needles(&[("loud", "needle"), ("soft", "quiet")]);
    let r = hashward_firmware::inspect_with(&image, &opts, None, &[&scanner]).unwrap();
    assert_eq!(
        r.inventory.rule_matches.len(),
        2,
        "{:#?}",
        r.inventory.rule_matches
    );
    has(
        &r,
        "FW-016",
        Severity::Critical,
        "etc/a.conf",
        "etc/a.conf: built-in needles rule loud (test) matched, 2 matches from offset 0x6: contains needle",
    );
    // No severity of its own: the catalogue's.
    has(
        &r,
        "FW-016",
        Severity::Medium,
        "usr/share/b.txt",
        "user needles rule soft",
    );
    let loud = of(&r, "FW-016")
        .into_iter()
        .find(|f| f.message.contains("loud"))
        .unwrap();
    let Some(hashward_model::Evidence::File { offset, excerpt, .. }) = loud.evidence.first() else {
        panic!("{loud:?}")
    };
    assert_eq!(*offset, Some(6));
    assert_eq!(
        excerpt.as_ref(),
        Some(&hashward_model::Excerpt::Text("needle".into()))
    );
    has(
        &r,
        "FW-100",
        Severity::Medium,
        "var/slow.bin",
        "the needles scan stopped (timeout after 1 s)",
    );
    assert_eq!(r.inventory.scan_failures.len(), 1);
    // Without scanners, nothing of the kind.
    let plain = run_tree("scan.tar.gz", &t).0;
    assert!(of(&plain, "FW-016").is_empty() && plain.inventory.rule_matches.is_empty());
}

#[test]
fn services_from_systemd_units_and_cron_jobs() {
    let mut t = hashward_fixtures::Tree::new();
    t.file(
        "lib/systemd/system/telnet.service",
        "[Service]\nExecStart=/usr/sbin/telnetd -F -l /bin/sh\n",
    )
    .symlink(
        "etc/systemd/system/multi-user.target.wants/telnet.service",
        "/lib/systemd/system/telnet.service",
    )
    // A unit that is installed but not enabled starts nothing.
    .file(
        "lib/systemd/system/sshd.service",
        "[Service]\nExecStart=/usr/sbin/sshd -D\n",
    )
    .file(
        "var/spool/cron/crontabs/root",
        "# @reboot /usr/sbin/telnetd\n@reboot /usr/sbin/dropbear -p 2222\n",
    );
    let (r, _dir) = run_tree("units.tar.gz", &t);
    let svc: Vec<(&str, &str)> = r
        .inventory
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.how.as_str()))
        .collect();
    assert_eq!(
        svc,
        [
            ("telnet", "systemd unit (enabled)"),
            ("cron: dropbear", "cron job")
        ],
        "{svc:?}"
    );
    let ports: Vec<(u16, &str)> = r
        .inventory
        .network
        .listeners
        .iter()
        .map(|l| (l.port, l.service.as_str()))
        .collect();
    assert_eq!(ports, [(23, "telnetd"), (2222, "dropbear")]);
    has(
        &r,
        "FW-012",
        Severity::High,
        "lib/systemd/system/telnet.service",
        "telnetd",
    );
}
