//! Integration tests of the case database: migrations, round trips, queries, damage, speed, and
//! atomicity against a writer killed with SIGKILL mid-transaction.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hashward_model::{Evidence, Excerpt, Finding, InputRecord, RuleId, Severity, Subject, bytes_excerpt};
use hashward_store::{
    Artifact, ArtifactRole, Case, FindingFilter, RunId, RunRecord, RunStatus, StoreError, StoredArtifact,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn case_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("hashward.db")
}

fn open(path: &Path) -> Case {
    Case::open(path.to_str().unwrap()).unwrap()
}

/// Runs one statement on the case file with a connection of our own, bypassing the store
/// (to damage rows, or to look at them raw).
fn raw<T: Send>(
    path: &Path,
    f: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
        let out = f(&mut conn).await;
        conn.close().await?;
        out
    })
}

fn raw_count(path: &Path, sql: &'static str) -> i64 {
    raw(path, async |c| {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await
    })
    .unwrap()
}

fn raw_exec(path: &Path, sql: &'static str) {
    raw(path, async |c| sqlx::raw_sql(sql).execute(c).await.map(drop)).unwrap();
}

/// One finding per subject type, together carrying every evidence type and excerpt form.
fn every_kind_of_finding() -> Vec<Finding> {
    let image = "9f".repeat(32);
    let mut inputs = serde_json::Map::new();
    inputs.insert("hashrate_ths".into(), serde_json::json!(110.5));
    inputs.insert("units".into(), serde_json::json!(["a", "b"]));
    vec![
        Finding::new(
            RuleId::FW_MALFORMED,
            Subject::FirmwareImage {
                sha256: image.clone(),
            },
            "truncated",
        )
        .with_severity(Severity::Medium)
        .with_evidence(Evidence::File {
            layers: vec![],
            path: String::new(),
            offset: None,
            sha256: None,
            excerpt: None,
        }),
        Finding::new(
            RuleId::FW_ESCAPE,
            Subject::FirmwareFile {
                image_sha256: image.clone(),
                path: "etc/init.d/S99 ünïcode".into(),
            },
            "tar entry `../etc/passwd` escapes the root",
        )
        .with_evidence(Evidence::File {
            layers: vec!["gzip".into(), "tar".into()],
            path: "etc/init.d/S99".into(),
            offset: Some(u64::MAX),
            sha256: Some("ab".repeat(32)),
            excerpt: Some(bytes_excerpt(b"../etc/passwd")),
        })
        .with_evidence(Evidence::File {
            layers: vec!["squashfs".into()],
            path: "bin/x".into(),
            offset: Some(0),
            sha256: None,
            excerpt: Some(bytes_excerpt(&[0xff, 0x00, 0x7f])),
        }),
        Finding::new(
            RuleId::new("FW-004").unwrap(),
            Subject::Device {
                address: "192.0.2.7".into(),
                mac: Some("00:11:22:33:44:55".into()),
                serial: Some("SN1".into()),
            },
            "api-network is on",
        )
        .with_severity(Severity::Critical)
        .with_evidence(Evidence::Exchange {
            request: "{\"command\":\"summary\"}".into(),
            response: bytes_excerpt(b"STATUS=S"),
        }),
        Finding::new(
            RuleId::new("FW-001").unwrap(),
            Subject::Device {
                address: "192.0.2.8".into(),
                mac: None,
                serial: None,
            },
            "phones home",
        ),
        Finding::new(
            RuleId::new("FW-010").unwrap(),
            Subject::Flow {
                src: "192.0.2.7:40000".into(),
                dst: "203.0.113.9:3333".into(),
                proto: "tcp".into(),
                first_seen: "2024-05-01T10:00:00Z".into(),
            },
            "stratum to an unknown pool",
        )
        .with_severity(Severity::Low)
        .with_evidence(Evidence::Packets {
            capture_sha256: "cd".repeat(32),
            frames: vec![1, 2, 99],
            times: vec!["2024-05-01T10:00:00Z".into()],
            excerpt: Some(Excerpt::Text("{\"method\":\"client.reconnect\"}".into())),
        }),
        Finding::new(
            RuleId::new("FW-005").unwrap(),
            Subject::Facility { id: "site-7".into() },
            "x",
        )
        .with_severity(Severity::Info)
        .with_evidence(Evidence::Calculation {
            inputs,
            formula: "a × b".into(),
            result: serde_json::json!({"mw": 1.25}),
        }),
        Finding::new(
            RuleId::new("FW-006").unwrap(),
            Subject::EntryLine {
                entry: "E-1".into(),
                line: u32::MAX,
            },
            "quote ' and \" and NUL \0 survive",
        ),
    ]
}

fn sample_run(command: &str, started: &str) -> RunRecord {
    let mut run = RunRecord::new(command, at(started));
    run.ended = run.started + chrono::Duration::milliseconds(1500);
    run.options = serde_json::json!({"extract": true, "depth": 4, "dir": "out"});
    run.inputs = vec![InputRecord {
        path: "fw.bmu".into(),
        sha256: "00".repeat(32),
        size: 1234,
    }];
    run.extracted = vec![
        Artifact {
            path: "rootfs/bin/busybox".into(),
            sha256: "11".repeat(32),
            size: 0,
            kind: "elf".into(),
        },
        Artifact {
            path: "rootfs/etc".into(),
            sha256: String::new(),
            size: 0,
            kind: "dir".into(),
        },
        Artifact {
            path: "rootfs/big".into(),
            sha256: "22".repeat(32),
            size: i64::MAX as u64,
            kind: "file".into(),
        },
    ];
    run.findings = every_kind_of_finding();
    run
}

#[test]
fn open_creates_migrates_and_reopens_idempotently() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = case_path(&dir);
    let mut case = open(&path);
    assert!(path.exists());
    assert_eq!(case.location(), path.to_str().unwrap());
    assert!(case.runs(10)?.is_empty());
    let id = case.record(&sample_run("firmware unpack", "2024-01-01T00:00:00Z"))?;
    case.close()?;

    for _ in 0..2 {
        let mut again = open(&path);
        assert_eq!(again.runs(10)?.len(), 1);
        assert_eq!(again.run(id)?.map(|r| r.id), Some(id));
        assert_eq!(again.verify()?, Vec::<String>::new());
    }
    // One row per file in migrations/, applied once however often the case is opened.
    assert_eq!(raw_count(&path, "SELECT COUNT(*) FROM _sqlx_migrations"), 2);
    let mode: String = raw(&path, async |c| {
        sqlx::query_scalar("PRAGMA journal_mode").fetch_one(c).await
    })?;
    assert_eq!(mode, "wal");

    // `sqlite:` URLs work too, including in-memory cases.
    let url = format!("sqlite://{}", path.display());
    assert_eq!(Case::open(&url)?.runs(10)?.len(), 1);
    let mut mem = Case::open("sqlite::memory:")?;
    mem.record(&sample_run("x", "2024-01-01T00:00:00Z"))?;
    assert_eq!(mem.runs(1)?.len(), 1);
    Ok(())
}

#[test]
fn run_round_trips_with_every_subject_and_evidence() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = case_path(&dir);
    let mut case = open(&path);
    let mut run = sample_run("firmware unpack", "2024-03-05T06:07:08.123456789Z");
    run.status = RunStatus::Error;
    run.exit_code = 2;
    run.error = Some("image truncated".into());
    let id = case.record(&run)?;
    drop(case);

    let mut case = open(&path);
    let s = case.run(id)?.expect("run is stored");
    assert_eq!(s.id, id);
    assert_eq!(s.uuid.len(), 36);
    assert_eq!(&s.uuid[14..15], "7", "UUIDv7: {}", s.uuid);
    assert_eq!(
        (&s.command, &s.options, &s.version, s.started, s.ended),
        (&run.command, &run.options, &run.version, run.started, run.ended)
    );
    assert_eq!(
        (s.status, s.exit_code, s.error.as_deref()),
        (RunStatus::Error, 2, Some("image truncated"))
    );
    assert_eq!((s.inputs, s.extracted), (1, 3));
    let c = s.findings;
    assert_eq!((c.info, c.low, c.medium, c.high, c.critical), (1, 1, 1, 2, 2));

    let stored = case.findings(FindingFilter {
        run: Some(id),
        ..Default::default()
    })?;
    assert!(stored.iter().all(|f| f.run == id));
    let back: Vec<Finding> = stored.into_iter().map(|f| f.finding).collect();
    assert_eq!(back, run.findings);

    let mut want = vec![StoredArtifact {
        role: ArtifactRole::Input,
        path: "fw.bmu".into(),
        sha256: "00".repeat(32),
        size: 1234,
        kind: None,
    }];
    want.extend(run.extracted.iter().map(|a| StoredArtifact {
        role: ArtifactRole::Extracted,
        path: a.path.clone(),
        sha256: a.sha256.clone(),
        size: a.size,
        kind: Some(a.kind.clone()),
    }));
    assert_eq!(case.artifacts(id)?, want);

    // The query columns carry the subject's keys.
    let keyed = raw_count(
        &path,
        "SELECT COUNT(*) FROM findings WHERE subject_type = 'firmware_file' \
         AND subject_key = '9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f' \
         AND subject_detail = 'etc/init.d/S99 ünïcode'",
    );
    assert_eq!(keyed, 1);
    Ok(())
}

#[test]
fn runs_list_newest_first_and_findings_filter() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut case = open(&case_path(&dir));
    let a = case.record(&sample_run("a", "2024-01-01T00:00:00Z"))?;
    let mut empty = RunRecord::new("b", at("2024-01-03T00:00:00Z"));
    empty.options = serde_json::Value::Null;
    let b = case.record(&empty)?;
    let c = case.record(&sample_run("c", "2024-01-02T00:00:00Z"))?;

    let ids = |runs: Vec<hashward_store::RunSummary>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(case.runs(10)?), [b, c, a]);
    assert_eq!(ids(case.runs(2)?), [b, c]);
    assert!(case.runs(0)?.is_empty());
    let listed_b = case.run(b)?.unwrap();
    assert_eq!(
        (listed_b.options, listed_b.findings.total(), listed_b.inputs),
        (serde_json::Value::Null, 0, 0)
    );
    assert_eq!(case.run(RunId(999))?, None);

    let all = case.findings(FindingFilter::default())?;
    assert_eq!(all.len(), 14);
    assert!(all[..7].iter().all(|f| f.run == a) && all[7..].iter().all(|f| f.run == c));

    let high = case.findings(FindingFilter {
        min_severity: Some(Severity::High),
        ..Default::default()
    })?;
    assert_eq!(high.len(), 8);
    assert!(high.iter().all(|f| f.finding.severity >= Severity::High));
    let crit_c = case.findings(FindingFilter {
        run: Some(c),
        min_severity: Some(Severity::Critical),
        rule: None,
    })?;
    assert_eq!(crit_c.len(), 2);
    assert!(
        crit_c
            .iter()
            .all(|f| f.run == c && f.finding.severity == Severity::Critical)
    );
    let by_rule = case.findings(FindingFilter {
        rule: Some("FW-101".into()),
        ..Default::default()
    })?;
    assert_eq!(by_rule.len(), 2);
    assert!(by_rule.iter().all(|f| f.finding.rule == RuleId::FW_ESCAPE));
    let info = case.findings(FindingFilter {
        min_severity: Some(Severity::Info),
        ..Default::default()
    })?;
    assert_eq!(info.len(), 14);
    for none in [
        FindingFilter {
            rule: Some("XX-999".into()),
            ..Default::default()
        },
        FindingFilter {
            run: Some(b),
            ..Default::default()
        },
        FindingFilter {
            run: Some(RunId(-1)),
            ..Default::default()
        },
        FindingFilter {
            run: Some(a),
            rule: Some("FW-101".into()),
            min_severity: Some(Severity::Critical),
        },
    ] {
        assert!(case.findings(none.clone())?.is_empty(), "{none:?}");
    }
    assert!(case.artifacts(RunId(12345))?.is_empty());
    Ok(())
}

#[test]
fn unsupported_locations_are_typed_errors() {
    let err = Case::open("postgres://me:hunter2@db.example/case").unwrap_err();
    assert!(matches!(err, StoreError::Unsupported { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("PostgreSQL") && !text.contains("hunter2"), "{text}");
    assert!(matches!(Case::open(""), Err(StoreError::Unsupported { .. })));
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no/such/dir/hashward.db");
    let err = Case::open(missing_dir.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn damaged_files_and_rows_are_errors_not_panics() -> TestResult {
    let dir = tempfile::tempdir()?;

    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not an SQLite file, just bytes ".repeat(200))?;
    let err = Case::open(junk.to_str().unwrap()).unwrap_err();
    assert!(
        matches!(err, StoreError::Open { .. } | StoreError::Migrate { .. }),
        "{err}"
    );

    // A case written by a newer hashward (a migration this build does not know).
    let newer = dir.path().join("newer.db");
    open(&newer).close()?;
    raw_exec(
        &newer,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'future', TRUE, X'00', 0)",
    );
    assert!(matches!(
        Case::open(newer.to_str().unwrap()),
        Err(StoreError::Migrate { .. })
    ));

    // Rows edited by hand: each bad column is reported, naming it.
    let damage: [(&'static str, &str); 7] = [
        (
            "UPDATE findings SET subject = '{\"type\":\"spaceship\"}' WHERE seq = 0",
            "findings.subject",
        ),
        (
            "UPDATE findings SET evidence = '[{' WHERE seq = 1",
            "findings.evidence",
        ),
        (
            "UPDATE findings SET rule = 'FW-999' WHERE seq = 2",
            "findings.rule",
        ),
        ("UPDATE runs SET started_at = 'last tuesday'", "runs.started_at"),
        ("UPDATE runs SET options = 'nope'", "runs.options"),
        (
            "PRAGMA ignore_check_constraints = ON; UPDATE artifacts SET size = -5 WHERE seq = 0",
            "artifacts.size",
        ),
        ("UPDATE findings SET title = X'00ff' WHERE seq = 3", ""),
    ];
    for (i, (sql, what)) in damage.into_iter().enumerate() {
        let path = dir.path().join(format!("damaged{i}.db"));
        let id = open(&path).record(&sample_run("a", "2024-01-01T00:00:00Z"))?;
        raw_exec(&path, sql);
        let mut case = open(&path);
        let err = match what.split('.').next() {
            Some("runs") => case.runs(10).map(drop).unwrap_err(),
            Some("artifacts") => case.artifacts(id).map(drop).unwrap_err(),
            _ => case.findings(FindingFilter::default()).map(drop).unwrap_err(),
        };
        assert!(
            matches!(err, StoreError::Corrupt { .. } | StoreError::Query { .. }),
            "{sql}: {err}"
        );
        assert!(err.to_string().contains(what), "{sql}: {err}");
    }
    Ok(())
}

#[test]
fn unstorable_records_leave_nothing_behind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = case_path(&dir);
    let mut case = open(&path);
    let mut run = sample_run("a", "2024-01-01T00:00:00Z");
    run.extracted.push(Artifact {
        path: "huge".into(),
        sha256: "33".repeat(32),
        size: u64::MAX,
        kind: "f".into(),
    });
    let err = case.record(&run).unwrap_err();
    assert!(
        matches!(err, StoreError::OutOfRange { value: u64::MAX, .. }),
        "{err}"
    );

    // Fails inside the transaction (CHECK constraint on a value we pass through): rolled back.
    let mut run = sample_run("b", "2024-01-01T00:00:00Z");
    run.inputs[0].size = u64::try_from(i64::MAX)?;
    let ok = case.record(&run)?;
    assert_eq!(case.runs(10)?.len(), 1);
    assert_eq!(case.artifacts(ok)?[0].size, u64::try_from(i64::MAX)?);
    assert_eq!(raw_count(&path, "SELECT COUNT(*) FROM artifacts"), 4);
    Ok(())
}

#[test]
fn many_connections_can_open_a_fresh_case_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = case_path(&dir);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || -> Result<RunId, StoreError> {
                let mut case = Case::open(path.to_str().unwrap_or(""))?;
                case.record(&sample_run(&format!("t{i}"), "2024-01-01T00:00:00Z"))
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in threads {
        ids.push(t.join().map_err(|_| "thread panicked")??);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(open(&path).runs(10)?.len(), 4);
    Ok(())
}

#[test]
fn works_from_inside_async_runtimes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = case_path(&dir);
    let mut outer = open(&path);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        // Directly on a runtime thread (blocks it, but must not panic)…
        let mut case = Case::open(path.to_str().unwrap()).unwrap();
        case.record(&sample_run("in block_on", "2024-01-01T00:00:00Z"))
            .unwrap();
        assert_eq!(outer.runs(10).unwrap().len(), 1);
        drop(case);
        // …and the recommended way, on a blocking thread.
        let p = path.clone();
        let n = tokio::task::spawn_blocking(move || {
            let mut case = open(&p);
            case.record(&sample_run("in spawn_blocking", "2024-01-02T00:00:00Z"))
                .unwrap();
            let n = case.runs(10).unwrap().len();
            case.close().unwrap();
            n
        })
        .await
        .unwrap();
        assert_eq!(n, 2);
        assert!(matches!(
            Case::open("postgres://h/db"),
            Err(StoreError::Unsupported { .. })
        ));
        drop(outer); // a case opened outside, dropped inside
    });
    assert_eq!(open(&path).runs(10)?.len(), 2);
    Ok(())
}

/// A run with `n` extracted artifacts and `n / 100` findings.
fn big_run(n: usize) -> RunRecord {
    let mut run = RunRecord::new("firmware unpack", at("2024-06-01T00:00:00Z"));
    run.inputs.push(InputRecord {
        path: "big.bin".into(),
        sha256: "aa".repeat(32),
        size: 1 << 30,
    });
    run.extracted = (0..n)
        .map(|i| Artifact {
            path: format!("rootfs/usr/lib/dir{}/file{i}.so", i % 97),
            sha256: format!("{i:064x}"),
            size: i as u64,
            kind: "file".into(),
        })
        .collect();
    run.findings = (0..n / 100)
        .map(|i| {
            Finding::new(
                RuleId::FW_MALFORMED,
                Subject::FirmwareFile {
                    image_sha256: "aa".repeat(32),
                    path: format!("f{i}"),
                },
                format!("finding {i}"),
            )
        })
        .collect();
    run
}

#[test]
fn a_run_with_100k_artifacts_records_quickly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut case = open(&case_path(&dir));
    let run = big_run(100_000);
    let t = Instant::now();
    let id = case.record(&run)?;
    let took = t.elapsed();
    eprintln!("recorded 100000 artifacts + 1000 findings in {took:.2?}");
    let t = Instant::now();
    let listed = case.runs(10)?;
    eprintln!("listed runs in {:.2?}", t.elapsed());
    assert_eq!((listed[0].extracted, listed[0].findings.low), (100_000, 1000));
    let t = Instant::now();
    let artifacts = case.artifacts(id)?;
    eprintln!("read back 100001 artifacts in {:.2?}", t.elapsed());
    assert_eq!(artifacts.len(), 100_001);
    assert_eq!(artifacts[100_000].path, run.extracted[99_999].path);
    assert!(took < Duration::from_secs(60), "recording took {took:?}");
    Ok(())
}

const CHILD_ENV: &str = "HASHWARD_STORE_TEST_CHILD_CASE";
const CHILD_ROWS: usize = 300_000;

/// Not a test by itself: the body of the child process `killed_writer_leaves_no_partial_run`
/// starts (this test binary, re-executed with `CHILD_ENV` set). Without the variable it does
/// nothing.
#[test]
fn helper_child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut case = Case::open(path.to_str().unwrap()).unwrap();
    let run = big_run(CHILD_ROWS);
    println!("HASHWARD-CHILD recording");
    case.record(&run).unwrap();
    println!("HASHWARD-CHILD done");
}

fn wal_len(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn killed_writer_leaves_no_partial_run() -> TestResult {
    let exe = std::env::current_exe()?;
    let mut killed_mid_transaction = 0;
    // Kill points: as soon as recording starts, then once the uncommitted transaction has
    // spilled 1 MiB and 8 MiB of pages into the write-ahead log.
    for wal_threshold in [0, 1 << 20, 8 << 20] {
        let dir = tempfile::tempdir()?;
        let path = case_path(&dir);
        let mut case = open(&path);
        let before = case.record(&sample_run("before", "2024-01-01T00:00:00Z"))?;
        case.close()?;

        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "helper_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut started = false;
        for line in lines.by_ref() {
            if line?.contains("HASHWARD-CHILD recording") {
                started = true;
                break;
            }
        }
        assert!(started, "child never started recording");
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut still_running = true;
        while wal_len(&path) < wal_threshold {
            if child.try_wait()?.is_some() {
                still_running = false;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "child neither grew the WAL nor finished"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let wal_at_kill = wal_len(&path);
        child.kill()?; // SIGKILL on Unix: no destructor, no rollback, no checkpoint
        child.wait()?;

        let mut case = open(&path);
        assert_eq!(case.verify()?, Vec::<String>::new(), "integrity_check after kill");
        let runs = case.runs(10)?;
        let artifacts = raw_count(&path, "SELECT COUNT(*) FROM artifacts");
        let findings = raw_count(&path, "SELECT COUNT(*) FROM findings");
        eprintln!(
            "kill at WAL >= {wal_threshold}: WAL was {wal_at_kill} bytes, child running: {still_running}, \
             runs after: {}",
            runs.len()
        );
        match runs.as_slice() {
            [only] => {
                assert_eq!(only.id, before);
                assert_eq!((artifacts, findings), (4, 7), "rows of the killed run remain");
                if still_running {
                    killed_mid_transaction += 1;
                }
            }
            [newest, _] => {
                // Killed after the commit: the run must then be whole.
                assert_eq!(newest.extracted, CHILD_ROWS as u64);
                assert_eq!(artifacts, 4 + 1 + CHILD_ROWS as i64);
            }
            other => panic!("unexpected runs after kill: {other:?}"),
        }
        // The case is writable again.
        case.record(&sample_run("after", "2024-01-02T00:00:00Z"))?;
        case.close()?;
    }
    assert!(
        killed_mid_transaction >= 1,
        "no kill landed inside the transaction"
    );
    Ok(())
}

#[test]
fn the_last_result_of_a_command_is_the_newest_successful_one_that_kept_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = case_path(&dir);
    let mut case = open(&path);
    assert!(case.last_result("fleet scan")?.is_none());
    let mut first = sample_run("fleet scan", "2026-11-01T10:00:00Z");
    first.result = Some(serde_json::json!({"devices": [{"address": "10.0.0.1"}]}));
    let first_id = case.record(&first)?;
    let mut failed = sample_run("fleet scan", "2026-11-02T10:00:00Z");
    failed.status = RunStatus::Error;
    failed.result = Some(serde_json::json!({"devices": []}));
    case.record(&failed)?;
    // Newer, but kept no result; and another command's result.
    case.record(&sample_run("fleet scan", "2026-11-03T10:00:00Z"))?;
    let mut other = sample_run("firmware inspect", "2026-11-04T10:00:00Z");
    other.result = Some(serde_json::json!({"x": 1}));
    case.record(&other)?;
    let (run, result) = case.last_result("fleet scan")?.expect("a result");
    assert_eq!(run.id, first_id);
    assert_eq!(result["devices"][0]["address"], "10.0.0.1");
    assert_eq!(raw_count(&path, "SELECT COUNT(*) FROM results"), 3);
    Ok(())
}
