//! Loading and compiling rules: the built-in files embedded at build time, then the user's
//! directories walked for `*.yar` / `*.yara`, each file compiled into a namespace of its own so
//! that two files may use the same rule names.
//!
//! User rule files are trusted input (the user wrote or chose them), but they are still read
//! with bounds: a size per file, a count per run and a depth, so that pointing `--rules` at the
//! wrong directory (a whole file system) ends with an error rather than a long walk.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::scanner::{ScanOptions, YaraScanner};

/// hashward's own rules, `(file name, source)`, embedded from `rules/yara/` at build time.
/// A test keeps this list equal to the directory.
pub static BUILTIN: &[(&str, &str)] = &[
    ("cpu_miner.yar", include_str!("../../../rules/yara/cpu_miner.yar")),
    (
        "download_exec.yar",
        include_str!("../../../rules/yara/download_exec.yar"),
    ),
    ("iot_bot.yar", include_str!("../../../rules/yara/iot_bot.yar")),
    (
        "persistence.yar",
        include_str!("../../../rules/yara/persistence.yar"),
    ),
    (
        "reverse_shell.yar",
        include_str!("../../../rules/yara/reverse_shell.yar"),
    ),
    (
        "ssh_key_injection.yar",
        include_str!("../../../rules/yara/ssh_key_injection.yar"),
    ),
    ("webshell.yar", include_str!("../../../rules/yara/webshell.yar")),
];

/// Namespaces of built-in rules are this prefix and the file's stem (`hashward/webshell`).
pub const BUILTIN_PREFIX: &str = "hashward/";
/// Largest rule file read.
pub const MAX_RULE_FILE_BYTES: u64 = 4 << 20;
/// Most rule files read from all `--rules` directories together.
pub const MAX_RULE_FILES: usize = 10_000;
/// Deepest directory walked below a `--rules` directory.
const MAX_DEPTH: usize = 32;

/// Modules YARA-X offers that this build leaves out (they parse PE, Mach-O, .NET, DEX… and
/// would add build time for formats a miner firmware does not hold). Rules that use one are
/// skipped and listed in [`RuleSet::ignored`], not refused, so that general rule collections
/// still load.
const LEFT_OUT_MODULES: &[&str] = &[
    "console", "crx", "cuckoo", "dex", "dotnet", "lnk", "macho", "magic", "olecf", "pe", "time", "vba", "vt",
    "zip",
];

/// Why rules could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// A rules directory or file could not be read.
    #[error("reading rules {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `--rules` argument is not a directory.
    #[error("rules {path}: not a directory")]
    NotADirectory {
        /// The argument.
        path: PathBuf,
    },
    /// A `--rules` directory holds no rule file.
    #[error("rules {path}: no .yar or .yara file in it")]
    Empty {
        /// The directory.
        path: PathBuf,
    },
    /// A rule file is larger than [`MAX_RULE_FILE_BYTES`].
    #[error("rules {path}: {size} bytes, more than the {max} a rule file may have")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The directories hold more than [`MAX_RULE_FILES`] rule files.
    #[error("rules {path}: more than {max} rule files")]
    TooMany {
        /// The directory being walked when the limit was reached.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// A rule file does not compile.
    #[error("{origin}:{line}:{column}: {message}")]
    Compile {
        /// The file (or `hashward/<name>` for a built-in one).
        origin: String,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// What is wrong, as YARA-X says it.
        message: String,
    },
}

/// One source of rules to compile.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its namespace: the rules of one source see each other, not those of another.
    pub namespace: String,
    /// Where it came from, for error messages (a path).
    pub origin: String,
    /// The rule text.
    pub text: Vec<u8>,
    /// Whether it ships with hashward.
    pub builtin: bool,
}

/// A compiled rule file, as recorded with a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleFile {
    /// Its namespace.
    pub namespace: String,
    /// Where it came from.
    pub origin: String,
    /// Whether it ships with hashward.
    pub builtin: bool,
}

/// Compiled rules, shared by every thread's scanner.
pub struct RuleSet {
    pub(crate) rules: yara_x::Rules,
    /// Namespace → built-in.
    pub(crate) builtin: HashMap<String, bool>,
    files: Vec<RuleFile>,
    ignored: Vec<String>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.len())
            .field("files", &self.files)
            .finish()
    }
}

impl RuleSet {
    /// hashward's own rules.
    pub fn builtin() -> Result<RuleSet, RulesError> {
        RuleSet::load(true, &[])
    }

    /// The built-in rules (if `builtin`) and every `*.yar` / `*.yara` file under `dirs`.
    pub fn load(builtin: bool, dirs: &[PathBuf]) -> Result<RuleSet, RulesError> {
        let mut sources = Vec::new();
        if builtin {
            sources.extend(builtin_sources());
        }
        let mut count = 0;
        for dir in dirs {
            let before = sources.len();
            let meta = fs::metadata(dir).map_err(|source| RulesError::Io {
                path: dir.clone(),
                source,
            })?;
            if !meta.is_dir() {
                return Err(RulesError::NotADirectory { path: dir.clone() });
            }
            let mut files = Vec::new();
            walk(dir, 0, &mut files, &mut count)?;
            files.sort();
            for path in files {
                sources.push(read_source(&path)?);
            }
            if sources.len() == before {
                return Err(RulesError::Empty { path: dir.clone() });
            }
        }
        RuleSet::compile(sources)
    }

    /// Compile `sources`, each into its namespace; the first that does not compile is the
    /// error. Two sources given the same namespace share it (their rule names must differ).
    pub fn compile(sources: Vec<Source>) -> Result<RuleSet, RulesError> {
        let mut compiler = yara_x::Compiler::new();
        for m in LEFT_OUT_MODULES {
            compiler.ignore_module(*m);
        }
        let mut builtin = HashMap::new();
        let mut files = Vec::new();
        for s in &sources {
            compiler.new_namespace(&s.namespace);
            let code = yara_x::SourceCode::from(s.text.as_slice()).with_origin(s.origin.clone());
            if let Err(e) = compiler.add_source(code) {
                return Err(compile_error(s, &e));
            }
            builtin.entry(s.namespace.clone()).or_insert(s.builtin);
            files.push(RuleFile {
                namespace: s.namespace.clone(),
                origin: s.origin.clone(),
                builtin: s.builtin,
            });
        }
        let ignored = compiler
            .ignored_rules()
            .map(|(rule, _)| rule.to_owned())
            .collect();
        let warnings = compiler.warnings().iter().map(|w| w.to_string()).collect();
        Ok(RuleSet {
            rules: compiler.build(),
            builtin,
            files,
            ignored,
            warnings,
        })
    }

    /// How many rules were compiled.
    pub fn len(&self) -> usize {
        self.rules.iter().count()
    }

    /// Whether no rule was compiled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rule files compiled, in order.
    pub fn files(&self) -> &[RuleFile] {
        &self.files
    }

    /// Rules skipped because they use a module this build leaves out (`pe`, `dotnet`…).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// The compiler's warnings (slow patterns and the like), one report each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A content scanner over these rules.
    pub fn scanner(&self, opts: ScanOptions) -> YaraScanner<'_> {
        YaraScanner::new(self, opts)
    }
}

/// The built-in rule files as sources.
fn builtin_sources() -> impl Iterator<Item = Source> {
    BUILTIN.iter().map(|(name, text)| {
        let stem = name.strip_suffix(".yar").unwrap_or(name);
        Source {
            namespace: format!("{BUILTIN_PREFIX}{stem}"),
            origin: format!("{BUILTIN_PREFIX}{name}"),
            text: text.as_bytes().to_vec(),
            builtin: true,
        }
    })
}

/// Rule files under `dir`, not following directory links (a loop would never end).
fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, count: &mut usize) -> Result<(), RulesError> {
    let io = |source| RulesError::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, out, count)?;
            }
            continue;
        }
        let is_rules = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara"));
        // A link to a file is read (rule collections link shared files); to a directory, not;
        // nor anything else that is not a regular file (a FIFO would block the read).
        let file = kind.is_file() || (kind.is_symlink() && path.is_file());
        if !is_rules || !file {
            continue;
        }
        *count += 1;
        if *count > MAX_RULE_FILES {
            return Err(RulesError::TooMany {
                path: dir.to_owned(),
                max: MAX_RULE_FILES,
            });
        }
        out.push(path);
    }
    Ok(())
}

/// One user rule file, read within [`MAX_RULE_FILE_BYTES`]; its namespace is its path.
fn read_source(path: &Path) -> Result<Source, RulesError> {
    let io = |source| RulesError::Io {
        path: path.to_owned(),
        source,
    };
    let f = fs::File::open(path).map_err(io)?;
    let mut text = Vec::new();
    f.take(MAX_RULE_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_RULE_FILE_BYTES {
        let size = fs::metadata(path).map_or(text.len() as u64, |m| m.len());
        return Err(RulesError::TooLarge {
            path: path.to_owned(),
            size,
            max: MAX_RULE_FILE_BYTES,
        });
    }
    let origin = path.display().to_string();
    Ok(Source {
        namespace: origin.clone(),
        origin,
        text,
        builtin: false,
    })
}

/// A compile error of `s` as file, line, column and message.
fn compile_error(s: &Source, e: &yara_x::errors::CompileError) -> RulesError {
    let label = e.labels().next();
    // Labels point into the source that failed; an error inside an included file names that
    // file, and its position is then not one in `s`.
    let (origin, start) = match &label {
        Some(l) if l.origin().is_none_or(|o| o == s.origin) => {
            (s.origin.clone(), Some(l.span().0.start as usize))
        }
        Some(l) => (l.origin().unwrap_or_default().to_owned(), None),
        None => (s.origin.clone(), None),
    };
    let (line, column) = start.map_or((0, 0), |at| line_column(&s.text, at));
    let detail = label.map(|l| l.text().to_owned()).filter(|t| !t.is_empty());
    let message = match detail {
        Some(d) if d != e.title() => format!("{}: {d}", e.title()),
        _ => e.title().to_owned(),
    };
    RulesError::Compile {
        origin,
        line,
        column,
        message,
    }
}

/// 1-based line and column of byte `at` in `text`.
fn line_column(text: &[u8], at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.len() - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(ns: &str, text: &str) -> Source {
        Source {
            namespace: ns.to_owned(),
            origin: format!("{ns}.yar"),
            text: text.as_bytes().to_vec(),
            builtin: false,
        }
    }

    #[test]
    fn every_file_in_rules_yara_is_embedded_and_compiles_without_warnings() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/yara");
        let mut on_disk: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yar") || n.ends_with(".yara"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, embedded, "rules/yara/ and BUILTIN differ");
        for (name, text) in BUILTIN {
            let disk = fs::read_to_string(dir.join(name)).unwrap();
            assert_eq!(&disk, text, "{name} embedded from elsewhere");
        }
        let set = RuleSet::builtin().unwrap();
        assert!(set.warnings().is_empty(), "{:#?}", set.warnings());
        assert!(set.ignored().is_empty());
        assert!(set.len() >= BUILTIN.len());
        assert!(
            set.files()
                .iter()
                .all(|f| f.builtin && f.namespace.starts_with(BUILTIN_PREFIX))
        );
    }

    #[test]
    fn every_builtin_rule_has_severity_description_and_provenance() {
        let set = RuleSet::builtin().unwrap();
        for rule in set.rules.iter() {
            let meta: HashMap<&str, String> = rule
                .metadata()
                .map(|(k, v)| {
                    let v = match v {
                        yara_x::MetaValue::String(s) => s.to_owned(),
                        other => format!("{other:?}"),
                    };
                    (k, v)
                })
                .collect();
            let id = rule.identifier();
            let sev = meta
                .get("severity")
                .unwrap_or_else(|| panic!("{id}: no severity"));
            assert!(
                sev.parse::<hashward_model::Severity>().is_ok(),
                "{id}: severity {sev}"
            );
            assert!(
                meta.get("description").is_some_and(|d| d.len() > 20),
                "{id}: description"
            );
            assert!(
                meta.contains_key("reference") || meta.contains_key("source"),
                "{id}: no reference or source"
            );
        }
    }

    #[test]
    fn a_compile_error_names_the_file_line_and_column() {
        let err = RuleSet::compile(vec![
            inline("good", "rule ok { condition: true }"),
            inline(
                "bad",
                "rule a {\n  strings:\n    $a = \"x\"\n  condition:\n    $a and $b\n}\n",
            ),
        ])
        .unwrap_err();
        let RulesError::Compile {
            origin,
            line,
            column,
            message,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(origin, "bad.yar");
        assert_eq!((*line, *column), (5, 12), "{err}");
        assert!(message.contains("unknown pattern"), "{message}");
        assert!(err.to_string().starts_with("bad.yar:5:12: "), "{err}");

        let err = RuleSet::compile(vec![inline("syntax", "rule {")]).unwrap_err();
        assert!(err.to_string().starts_with("syntax.yar:1:"), "{err}");
        // Not UTF-8 at all: still an error naming the file, not a panic.
        let mut bin = inline("bin", "");
        bin.text = vec![0xff, 0xfe, b'r', 0x80];
        assert!(
            RuleSet::compile(vec![bin])
                .unwrap_err()
                .to_string()
                .starts_with("bin.yar:")
        );
    }

    #[test]
    fn namespaces_keep_equal_rule_names_apart() {
        let set = RuleSet::compile(vec![
            inline("one", "rule same { condition: true }"),
            inline("two", "rule same { condition: true }"),
        ])
        .unwrap();
        assert_eq!(set.len(), 2);
        // In one namespace the second is a duplicate.
        let err = RuleSet::compile(vec![
            inline("one", "rule same { condition: true }"),
            inline("one", "rule same { condition: true }"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("same"), "{err}");
    }

    #[test]
    fn rules_using_a_left_out_module_are_skipped_not_refused() {
        let set = RuleSet::compile(vec![inline(
            "mixed",
            "import \"pe\"\nimport \"elf\"\nrule windows { condition: pe.is_pe }\nrule linux { condition: elf.type == elf.ET_EXEC }\n",
        )])
        .unwrap();
        assert_eq!(set.ignored(), ["windows"]);
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn user_directories_are_walked_for_yar_and_yara_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("top.yar"), "rule t { condition: true }").unwrap();
        fs::write(root.join("a/b/deep.YARA"), "rule t { condition: false }").unwrap();
        fs::write(root.join("a/notes.txt"), "rule broken {").unwrap();
        let set = RuleSet::load(false, &[root.to_owned()]).unwrap();
        let origins: Vec<&str> = set.files().iter().map(|f| f.origin.as_str()).collect();
        assert_eq!(origins.len(), 2, "{origins:?}");
        assert!(origins[0].ends_with("a/b/deep.YARA") && origins[1].ends_with("top.yar"));
        assert!(set.files().iter().all(|f| !f.builtin && f.namespace == f.origin));
        // Built-in and user rules together.
        let both = RuleSet::load(true, &[root.to_owned()]).unwrap();
        assert_eq!(both.files().len(), BUILTIN.len() + 2);
    }

    #[test]
    fn bad_rule_directories_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let missing = root.join("missing");
        assert!(matches!(
            RuleSet::load(false, &[missing]),
            Err(RulesError::Io { .. })
        ));
        let file = root.join("f.yar");
        fs::write(&file, "rule f { condition: true }").unwrap();
        assert!(matches!(
            RuleSet::load(false, &[file]),
            Err(RulesError::NotADirectory { .. })
        ));
        let empty = root.join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(matches!(
            RuleSet::load(false, &[empty]),
            Err(RulesError::Empty { .. })
        ));
        let big = root.join("big");
        fs::create_dir(&big).unwrap();
        let mut text = b"rule big { condition: true }\n".to_vec();
        text.resize(MAX_RULE_FILE_BYTES as usize + 1, b'\n');
        fs::write(big.join("big.yar"), text).unwrap();
        let err = RuleSet::load(false, &[big]).unwrap_err();
        assert!(matches!(err, RulesError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_column(b"ab\ncd", 0), (1, 1));
        assert_eq!(line_column(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_column(b"ab", 99), (1, 3));
    }
}
