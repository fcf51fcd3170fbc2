//! Accounts: `passwd`, `shadow` (and the vendors' `shadow.factory` copies) and web digest
//! files (`htdigest`), with every password hash tested offline against the default and
//! well-known passwords of `rules/credentials.toml`.
//!
//! Hashes are checked with the real crypt schemes (md5crypt `$1$`, sha256crypt `$5$`,
//! sha512crypt `$6$`, bcrypt `$2?$`, traditional DES) through the `pwhash` crate; digest
//! entries are HA1 = md5(`user:realm:password`) compared directly. A hostile image can ask for
//! a billion rounds: hashes above a work bound are reported as not tested instead.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::Serialize;

/// The built-in dictionary, with its provenance (`rules/credentials.toml`).
const CREDENTIALS: &str = include_str!("../../../../rules/credentials.toml");

/// sha256crypt / sha512crypt rounds above this are not tested (the default is 5,000).
const MAX_SHA_ROUNDS: u64 = 100_000;
/// bcrypt costs above this are not tested.
const MAX_BCRYPT_COST: u32 = 12;
/// Hashes tested per image at most; the rest are listed as not tested.
const MAX_TESTED: usize = 256;
/// Lines read per account file.
pub(crate) const MAX_LINES: usize = 10_000;

/// A password from the dictionary and where it was seen.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KnownPassword {
    /// The password.
    pub value: String,
    /// Where it was seen.
    pub seen: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Dictionary {
    password: Vec<KnownPassword>,
}

/// The built-in dictionary.
pub fn known_passwords() -> Vec<KnownPassword> {
    // The file ships with the binary and is checked by a test: it always parses.
    toml::from_str::<Dictionary>(CREDENTIALS).map_or_else(|_| Vec::new(), |d| d.password)
}

/// What a password field says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Password {
    /// Empty: no password at all.
    Empty,
    /// Locked or disabled (`*`, `!`, `!!`, or a `!`-prefixed hash).
    Locked,
    /// A hash whose password is one of the known ones.
    Known {
        /// The crypt scheme.
        scheme: &'static str,
        /// The password.
        password: String,
    },
    /// A hash that matched no known password.
    Hashed {
        /// The crypt scheme.
        scheme: &'static str,
    },
    /// A hash not tested (unknown scheme, too much work, or over the per-image bound).
    NotTested {
        /// The crypt scheme, when recognised.
        scheme: &'static str,
        /// Why.
        why: String,
    },
    /// The real entry is elsewhere (`x` in passwd with a shadow file).
    Shadowed,
}

impl Password {
    /// Whether someone who knows the firmware's defaults can log in with it.
    pub fn is_weak(&self) -> bool {
        matches!(self, Password::Empty | Password::Known { .. })
    }
}

/// One system account, merged from the passwd and shadow files of one root file system.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// The root file system (path of its top directory in the output, `""` for the top).
    pub rootfs: String,
    /// Login name.
    pub user: String,
    /// User id, from passwd.
    pub uid: Option<u32>,
    /// Login shell, from passwd.
    pub shell: Option<String>,
    /// The password, from each file that gives one (`shadow`, `shadow.factory`, `passwd`).
    pub passwords: Vec<PasswordSource>,
}

/// A password field and the file it came from.
#[derive(Debug, Clone, Serialize)]
pub struct PasswordSource {
    /// Path of the file in the output.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Byte offset of the line in the file.
    pub offset: u64,
    /// The line as written.
    #[serde(skip)]
    pub text: String,
    /// What it is.
    #[serde(flatten)]
    pub password: Password,
}

impl Account {
    /// Whether the shell lets the account log in (absent counts as yes: the default shell).
    pub fn can_log_in(&self) -> bool {
        !self.shell.as_deref().is_some_and(|s| {
            s.ends_with("/false") || s.ends_with("/nologin") || s.ends_with("/sync") || s.is_empty()
        })
    }
}

/// One web digest credential (`user:realm:HA1`).
#[derive(Debug, Clone, Serialize)]
pub struct DigestCredential {
    /// Path of the file in the output.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Byte offset of the line in the file.
    pub offset: u64,
    /// User.
    pub user: String,
    /// Realm.
    pub realm: String,
    /// The password, when it is a known one.
    pub password: Option<String>,
}

/// Which kind of account file a path is, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountFile {
    Passwd,
    Shadow,
    Digest,
}

/// Classify a path (relative, `/`-separated): `etc/passwd`, `config/shadow`,
/// `etc/shadow.factory`, `*htdigest*`.
pub(crate) fn classify(path: &str) -> Option<AccountFile> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "passwd" | "passwd.factory" | "passwd-" => Some(AccountFile::Passwd),
        "shadow" | "shadow.factory" | "shadow-" => Some(AccountFile::Shadow),
        n if n.contains("htdigest") => Some(AccountFile::Digest),
        _ => None,
    }
}

/// The directory an extracted container's content went into (the last `*.extracted`
/// component of the path), `""` for the top of the output.
pub fn container_root(path: &str) -> String {
    path.rfind(".extracted/")
        .map(|i| path[..i + ".extracted".len()].to_owned())
        .unwrap_or_default()
}

/// The root file system a file belongs to: its path up to the `etc/` or `config/` it is in.
pub fn rootfs_of(path: &str) -> String {
    for marker in ["/etc/", "/config/"] {
        if let Some(i) = path.rfind(marker) {
            return path[..i].to_owned();
        }
    }
    if path.starts_with("etc/") || path.starts_with("config/") {
        return String::new();
    }
    path.rsplit_once('/')
        .map(|(d, _)| d.to_owned())
        .unwrap_or_default()
}

/// The accounts and web credentials of the account files given as (path, kind, content):
/// passwd lines first, so that an account's uid and shell are known when its shadow lines
/// come; accounts merged per root file system.
pub(crate) fn read(mut files: Vec<(&str, AccountFile, &[u8])>) -> (Vec<Account>, Vec<DigestCredential>) {
    let mut cracker = Cracker::new();
    let mut accounts: BTreeMap<(String, String), Account> = BTreeMap::new();
    let mut web = Vec::new();
    files.sort_by(|a, b| (a.1 != AccountFile::Passwd, a.0).cmp(&(b.1 != AccountFile::Passwd, b.0)));
    for (path, kind, bytes) in files {
        let rootfs = rootfs_of(path);
        let mut offset = 0u64;
        for (n, raw) in bytes.split_inclusive(|b| *b == b'\n').take(MAX_LINES).enumerate() {
            let line_at = offset;
            offset += raw.len() as u64;
            let text = String::from_utf8_lossy(raw);
            let line = text.trim_end_matches(['\n', '\r']);
            let at = |password| PasswordSource {
                file: path.to_owned(),
                line: n + 1,
                offset: line_at,
                text: line.to_owned(),
                password,
            };
            match kind {
                AccountFile::Passwd => {
                    let Some((user, pw, uid, shell)) = passwd_line(line) else {
                        continue;
                    };
                    let a = account(&mut accounts, &rootfs, user);
                    a.uid = a.uid.or(uid);
                    if a.shell.is_none() {
                        a.shell = shell.map(str::to_owned);
                    }
                    let p = cracker.field(pw);
                    if p != Password::Shadowed {
                        a.passwords.push(at(p));
                    }
                }
                AccountFile::Shadow => {
                    let Some((user, pw)) = shadow_line(line) else {
                        continue;
                    };
                    let p = cracker.field(pw);
                    account(&mut accounts, &rootfs, user).passwords.push(at(p));
                }
                AccountFile::Digest => {
                    let Some((user, realm, ha1)) = digest_line(line) else {
                        continue;
                    };
                    web.push(DigestCredential {
                        file: path.to_owned(),
                        line: n + 1,
                        offset: line_at,
                        user: user.to_owned(),
                        realm: realm.to_owned(),
                        password: cracker.digest(user, realm, ha1),
                    });
                }
            }
        }
    }
    (accounts.into_values().collect(), web)
}

/// The account `user` of `rootfs`, created empty the first time.
fn account<'m>(
    accounts: &'m mut BTreeMap<(String, String), Account>,
    rootfs: &str,
    user: &str,
) -> &'m mut Account {
    accounts
        .entry((rootfs.to_owned(), user.to_owned()))
        .or_insert_with(|| Account {
            rootfs: rootfs.to_owned(),
            user: user.to_owned(),
            uid: None,
            shell: None,
            passwords: Vec::new(),
        })
}

/// Tests hashes against the dictionary, within the per-image bound.
pub(crate) struct Cracker {
    words: Vec<KnownPassword>,
    tested: usize,
    cache: BTreeMap<String, Password>,
}

impl Cracker {
    pub(crate) fn new() -> Cracker {
        Cracker {
            words: known_passwords(),
            tested: 0,
            cache: BTreeMap::new(),
        }
    }

    /// What a passwd or shadow password field says.
    pub(crate) fn field(&mut self, field: &str) -> Password {
        match field {
            "" => return Password::Empty,
            "x" => return Password::Shadowed,
            f if f.starts_with('!') || f.starts_with('*') => return Password::Locked,
            _ => {}
        }
        if let Some(p) = self.cache.get(field) {
            return p.clone();
        }
        let p = self.test(field);
        self.cache.insert(field.to_owned(), p.clone());
        p
    }

    fn test(&mut self, hash: &str) -> Password {
        let Some(scheme) = scheme_of(hash) else {
            return Password::NotTested {
                scheme: "unknown",
                why: "not a crypt hash hashward knows".into(),
            };
        };
        if let Some(why) = too_costly(scheme, hash) {
            return Password::NotTested { scheme, why };
        }
        if self.tested >= MAX_TESTED {
            return Password::NotTested {
                scheme,
                why: format!("more than {MAX_TESTED} distinct hashes in the image"),
            };
        }
        self.tested += 1;
        for w in &self.words {
            if pwhash::unix::verify(&w.value, hash) {
                return Password::Known {
                    scheme,
                    password: w.value.clone(),
                };
            }
        }
        Password::Hashed { scheme }
    }

    /// The known password of a digest entry, if any.
    pub(crate) fn digest(&self, user: &str, realm: &str, ha1: &str) -> Option<String> {
        let ha1 = ha1.to_ascii_lowercase();
        self.words.iter().find_map(|w| {
            let h = hex::encode(Md5::digest(format!("{user}:{realm}:{}", w.value)));
            (h == ha1).then(|| w.value.clone())
        })
    }
}

fn scheme_of(hash: &str) -> Option<&'static str> {
    Some(match hash.as_bytes() {
        [b'$', b'1', b'$', ..] => "md5crypt",
        [b'$', b'5', b'$', ..] => "sha256crypt",
        [b'$', b'6', b'$', ..] => "sha512crypt",
        [b'$', b'2', _, b'$', ..] => "bcrypt",
        [b'$', ..] => return None,
        h if h.len() == 13
            && h.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/') =>
        {
            "des"
        }
        _ => return None,
    })
}

/// Why testing `hash` would cost too much, if it would.
fn too_costly(scheme: &str, hash: &str) -> Option<String> {
    match scheme {
        "sha256crypt" | "sha512crypt" => {
            let rounds = hash
                .split('$')
                .nth(2)
                .and_then(|p| p.strip_prefix("rounds="))
                .map(|r| r.parse::<u64>().unwrap_or(u64::MAX));
            match rounds {
                Some(r) if r > MAX_SHA_ROUNDS => Some(format!("{r} rounds (more than {MAX_SHA_ROUNDS})")),
                _ => None,
            }
        }
        "bcrypt" => {
            let cost = hash
                .get(4..6)
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(u32::MAX);
            (cost > MAX_BCRYPT_COST).then(|| format!("bcrypt cost {cost} (more than {MAX_BCRYPT_COST})"))
        }
        _ => None,
    }
}

/// A parsed passwd line: (user, password field, uid, shell).
pub(crate) fn passwd_line(line: &str) -> Option<(&str, &str, Option<u32>, Option<&str>)> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 2 || f[0].is_empty() || line.starts_with('#') {
        return None;
    }
    Some((
        f[0],
        f[1],
        f.get(2).and_then(|u| u.parse().ok()),
        f.get(6).copied(),
    ))
}

/// A parsed shadow line: (user, password field).
pub(crate) fn shadow_line(line: &str) -> Option<(&str, &str)> {
    let mut f = line.splitn(3, ':');
    let (user, pw) = (f.next()?, f.next()?);
    (!user.is_empty() && !line.starts_with('#')).then_some((user, pw))
}

/// A parsed htdigest line: (user, realm, HA1).
pub(crate) fn digest_line(line: &str) -> Option<(&str, &str, &str)> {
    let mut f = line.trim_end().splitn(3, ':');
    let (user, realm, ha1) = (f.next()?, f.next()?, f.next()?);
    (ha1.len() == 32 && ha1.bytes().all(|c| c.is_ascii_hexdigit())).then_some((user, realm, ha1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_parses_and_says_where_each_password_was_seen() {
        let words = known_passwords();
        assert!(words.len() >= 5);
        for w in &words {
            assert!(!w.seen.is_empty(), "{}", w.value);
        }
        for must in ["root", "admin", "miner", "antminer", "bitmain", "innot1t2"] {
            assert!(words.iter().any(|w| w.value == must), "{must}");
        }
    }

    #[test]
    fn crypt_schemes_are_recognised_and_cracked() {
        let mut c = Cracker::new();
        // The brief's recomputed hashes (openssl passwd).
        let root_admin = "$6$saaYvC9T$PqLC9JWHDZsWYmpB0b0Zf.34b1m5/r9U6A8PPig2qzxAyUN78pyI/vi7OZrCA0T2y1fT5UNFtPiBYuCyBTA610";
        assert_eq!(
            c.field(root_admin),
            Password::Known {
                scheme: "sha512crypt",
                password: "admin".into()
            }
        );
        assert_eq!(
            c.field("$1$KjxRrdqK$54AjPnKCERm3wlEhWR5nY/"),
            Password::Known {
                scheme: "md5crypt",
                password: "root".into()
            }
        );
        let strong = pwhash::sha512_crypt::hash_with("$6$abcdefgh$", "correct horse battery staple").unwrap();
        assert_eq!(
            c.field(&strong),
            Password::Hashed {
                scheme: "sha512crypt"
            }
        );
        // DES crypt is what old firmware has; the crate deprecates it for new passwords only.
        #[allow(deprecated)]
        let des = pwhash::unix_crypt::hash_with("ab", "miner").unwrap();
        assert_eq!(
            c.field(&des),
            Password::Known {
                scheme: "des",
                password: "miner".into()
            }
        );
        assert_eq!(c.field(""), Password::Empty);
        assert_eq!(c.field("*"), Password::Locked);
        assert_eq!(c.field(&format!("!{root_admin}")), Password::Locked);
        assert_eq!(c.field("x"), Password::Shadowed);
        assert!(matches!(c.field("$y$j9T$whatever"), Password::NotTested { .. }));
    }

    #[test]
    fn absurd_work_factors_are_not_tested() {
        let mut c = Cracker::new();
        let p = c.field("$6$rounds=999999999$salt$abcdefghijklmnopqrstuv");
        assert!(
            matches!(
                p,
                Password::NotTested {
                    scheme: "sha512crypt",
                    ..
                }
            ),
            "{p:?}"
        );
        let p = c.field("$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234");
        assert!(matches!(p, Password::NotTested { scheme: "bcrypt", .. }), "{p:?}");
    }

    #[test]
    fn digests_match_the_known_passwords_under_their_own_realm() {
        let c = Cracker::new();
        assert_eq!(
            c.digest(
                "root",
                "antMiner Configuration",
                "23c2a2d78c0d20ec069097d7d20c4392"
            ),
            Some("root".into())
        );
        assert_eq!(
            c.digest(
                "admin",
                "antMiner Configuration",
                "14D1E78894B8F8D2CE8EA08547E4EAE6"
            ),
            Some("admin".into())
        );
        // Right hash, wrong realm: no match.
        assert_eq!(
            c.digest("root", "other", "23c2a2d78c0d20ec069097d7d20c4392"),
            None
        );
        assert_eq!(
            digest_line("root:antMiner Configuration:23c2a2d78c0d20ec069097d7d20c4392\n"),
            Some((
                "root",
                "antMiner Configuration",
                "23c2a2d78c0d20ec069097d7d20c4392"
            ))
        );
        assert_eq!(digest_line("# comment"), None);
    }

    #[test]
    fn files_and_root_file_systems_are_recognised_by_path() {
        assert_eq!(
            classify("a.extracted/etc/shadow.factory"),
            Some(AccountFile::Shadow)
        );
        assert_eq!(
            classify("x/config/lighttpd-htdigest.user"),
            Some(AccountFile::Digest)
        );
        assert_eq!(classify("etc/passwd"), Some(AccountFile::Passwd));
        assert_eq!(classify("usr/bin/passwd.sh"), None);
        assert_eq!(
            rootfs_of("r.extracted/rootfs.ubifs.extracted/etc/shadow"),
            "r.extracted/rootfs.ubifs.extracted"
        );
        assert_eq!(rootfs_of("etc/shadow"), "");
        assert_eq!(rootfs_of("fs/config/shadow"), "fs");
        assert_eq!(
            container_root("a.gz.extracted/r.extracted/usr/lib/x.so"),
            "a.gz.extracted/r.extracted"
        );
        assert_eq!(container_root("usr/bin/x"), "");
    }
}
