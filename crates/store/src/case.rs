//! The [`Case`] handle: opening a case database, and every SQL statement the store runs.
//!
//! All SQL lives in this file. It sticks to what SQLite and PostgreSQL both accept: `$N`
//! placeholders (sqlx's SQLite driver binds `$N` by number), `INSERT … RETURNING`, multi-row
//! `VALUES`, correlated `COUNT(*)` subqueries, and no SQLite functions. The only
//! SQLite-specific statements are the connection pragmas (set through [`SqliteConnectOptions`])
//! and `PRAGMA integrity_check` in [`Case::verify`].

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hashward_model::{Evidence, Finding, RuleId, Severity, Subject};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, QueryBuilder, Row, Sqlite, SqliteExecutor};

use crate::StoreError;
use crate::record::{
    ArtifactRef, ArtifactRole, FindingFilter, RunId, RunRecord, RunStatus, RunSummary, SeverityCounts,
    StoredArtifact, StoredFinding, subject_columns,
};

/// The schema, embedded at build time from `crates/store/migrations/`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a writer waits for another process's write transaction before giving up. A large
/// run (100k artifacts) takes about two seconds in a debug build, so this leaves a wide margin.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Rows per multi-row `INSERT`. SQLite allows 32766 bound parameters per statement (since
/// 3.32) and PostgreSQL 65535; 256 × 7 = 1792 and 64 × 11 = 704 stay far below both while
/// cutting the per-statement round trips to the driver's worker thread by two orders of
/// magnitude.
const ARTIFACT_BATCH: usize = 256;
const FINDING_BATCH: usize = 64;

/// Opening a fresh case from two processes at once can make one migrator lose the race (its
/// read snapshot predates the other's schema); running it again then finds the schema done.
const MIGRATE_TRIES: u32 = 10;

const ARTIFACT_COLUMNS: &[&str] = &["run_id", "seq", "role", "path", "sha256", "size", "kind"];
const FINDING_COLUMNS: &[&str] = &[
    "run_id",
    "seq",
    "rule",
    "severity",
    "title",
    "subject_type",
    "subject_key",
    "subject_detail",
    "subject",
    "message",
    "evidence",
];

/// Every severity, least severe first.
const SEVERITIES: [Severity; 5] = [
    Severity::Info,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

/// An open case database. Every method blocks: the store drives its async driver on a private
/// current-thread runtime. It works from any thread, including inside an async runtime, but
/// there it blocks a worker, so async callers should use `spawn_blocking`.
///
/// One `Case` holds one connection. Several processes may open the same SQLite case: readers
/// never block, and writers queue for up to 30 seconds.
pub struct Case {
    location: String,
    inner: Option<Inner>,
}

struct Inner {
    rt: tokio::runtime::Runtime,
    conn: SqliteConnection,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// Opens the case at `path_or_url`, creating it and bringing its schema up to date.
    ///
    /// `path_or_url` is a file path (`hashward.db`), or a `sqlite:` URL (`sqlite:cases/a.db`,
    /// `sqlite::memory:`); a `postgres://` or `postgresql://` URL selects PostgreSQL, which this
    /// build does not have yet ([`StoreError::Unsupported`]). The database runs in WAL mode
    /// with `synchronous = FULL`, foreign keys on and a 30 s busy timeout.
    pub fn open(path_or_url: &str) -> Result<Case, StoreError> {
        let location = redact(path_or_url);
        let options = connect_options(path_or_url, &location)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StoreError::Runtime {
                location: location.clone(),
                source,
            })?;
        let opened = drive(&rt, || async {
            let mut conn =
                SqliteConnection::connect_with(&options)
                    .await
                    .map_err(|source| StoreError::Open {
                        location: location.clone(),
                        source,
                    })?;
            ensure_wal(&mut conn, &location).await?;
            migrate(&mut conn, &location).await?;
            Ok::<_, StoreError>(conn)
        });
        let opened = opened.unwrap_or_else(|source| {
            Err(StoreError::Runtime {
                location: location.clone(),
                source,
            })
        });
        match opened {
            Ok(conn) => Ok(Case {
                location,
                inner: Some(Inner { rt, conn }),
            }),
            Err(e) => {
                // Dropping a runtime can panic inside another runtime's context; this cannot.
                rt.shutdown_background();
                Err(e)
            }
        }
    }

    /// The case's location as given to [`Case::open`] (with any URL password removed).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Writes `run` with its inputs, extracted artifacts and findings in one transaction, and
    /// returns its id. If the process dies at any point before this returns, the case is left
    /// exactly as it was: the run is either all there or not there at all.
    pub fn record(&mut self, run: &RunRecord) -> Result<RunId, StoreError> {
        self.block(|conn, location| record(conn, location, run, &[]))
    }

    /// [`Case::record`], with more extracted artifacts borrowed rather than copied into the
    /// record (they follow `run.extracted`): a run that extracted a million files need not
    /// hold a second copy of every path and hash.
    pub fn record_with(
        &mut self,
        run: &RunRecord,
        extracted: &[ArtifactRef<'_>],
    ) -> Result<RunId, StoreError> {
        self.block(|conn, location| record(conn, location, run, extracted))
    }

    /// The `limit` most recent runs (by start time, newest first), with their counts.
    pub fn runs(&mut self, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
        self.block(|conn, location| async move {
            let rows = sqlx::query(concat!(
                run_select!(),
                " ORDER BY r.started_at DESC, r.id DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(query_err(location, "listing runs"))?;
            rows.iter().map(|row| decode_run(row, location)).collect()
        })
    }

    /// One run, if the case has it.
    pub fn run(&mut self, id: RunId) -> Result<Option<RunSummary>, StoreError> {
        self.block(|conn, location| async move {
            let row = sqlx::query(concat!(run_select!(), " WHERE r.id = $1"))
                .bind(id.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(query_err(location, "reading a run"))?;
            row.map(|row| decode_run(&row, location)).transpose()
        })
    }

    /// The findings `filter` selects, in recording order (by run, then as the run listed them).
    pub fn findings(&mut self, filter: FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        self.block(|conn, location| async move {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT run_id, seq, rule, severity, title, subject, message, evidence FROM findings WHERE 1 = 1",
            );
            if let Some(run) = filter.run {
                qb.push(" AND run_id = ").push_bind(run.0);
            }
            if let Some(rule) = filter.rule {
                qb.push(" AND rule = ").push_bind(rule);
            }
            if let Some(min) = filter.min_severity {
                // An IN list over the indexed text column, rather than a rank column.
                qb.push(" AND severity IN (");
                let mut list = qb.separated(", ");
                for s in SEVERITIES.iter().filter(|s| **s >= min) {
                    list.push_bind(s.as_str());
                }
                qb.push(")");
            }
            qb.push(" ORDER BY run_id, seq");
            let rows = qb.build().fetch_all(&mut *conn).await.map_err(query_err(location, "listing findings"))?;
            rows.iter().map(|row| decode_finding(row, location)).collect()
        })
    }

    /// A run's artifacts: its inputs, then what it extracted, each in recording order. Empty
    /// for an unknown run.
    pub fn artifacts(&mut self, run: RunId) -> Result<Vec<StoredArtifact>, StoreError> {
        self.block(|conn, location| async move {
            let rows = sqlx::query(
                "SELECT role, path, sha256, size, kind FROM artifacts WHERE run_id = $1 ORDER BY seq",
            )
            .bind(run.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(query_err(location, "listing artifacts"))?;
            rows.iter()
                .map(|row| decode_artifact(row, run, location))
                .collect()
        })
    }

    /// The newest successful run of `command` that kept a result document, with that document.
    pub fn last_result(
        &mut self,
        command: &str,
    ) -> Result<Option<(RunSummary, serde_json::Value)>, StoreError> {
        let command = command.to_owned();
        self.block(|conn, location| async move {
            let row: Option<(i64, String)> = sqlx::query_as(
                "SELECT r.id, s.result FROM runs r JOIN results s ON s.run_id = r.id \
                 WHERE r.command = $1 AND r.status = 'ok' ORDER BY r.started_at DESC, r.id DESC LIMIT 1",
            )
            .bind(&command)
            .fetch_optional(&mut *conn)
            .await
            .map_err(query_err(location, "reading the last result"))?;
            let Some((id, text)) = row else {
                return Ok(None);
            };
            let value = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                location: location.to_owned(),
                what: format!("results.result of run {id}"),
                why: e.to_string(),
            })?;
            let run = sqlx::query(concat!(run_select!(), " WHERE r.id = $1"))
                .bind(id)
                .fetch_one(&mut *conn)
                .await
                .map_err(query_err(location, "reading a run"))?;
            Ok(Some((decode_run(&run, location)?, value)))
        })
    }

    /// Checks the database file's integrity (SQLite's `PRAGMA integrity_check`): an empty list
    /// when it is sound, otherwise the problems found.
    pub fn verify(&mut self) -> Result<Vec<String>, StoreError> {
        self.block(|conn, location| async move {
            let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_all(&mut *conn)
                .await
                .map_err(query_err(location, "checking integrity"))?;
            Ok(lines.into_iter().filter(|l| l != "ok").collect())
        })
    }

    /// Closes the case, waiting for the connection to shut down (and SQLite to checkpoint its
    /// write-ahead log). Dropping a `Case` also closes it, without reporting errors.
    pub fn close(mut self) -> Result<(), StoreError> {
        let Some(Inner { rt, conn }) = self.inner.take() else {
            return Ok(());
        };
        let closed = drive(&rt, || conn.close());
        // Never blocks nor panics, whatever thread this is; nothing is left running anyway.
        rt.shutdown_background();
        match closed {
            Ok(result) => result.map_err(query_err(&self.location, "closing")),
            Err(source) => Err(StoreError::Runtime {
                location: self.location.clone(),
                source,
            }),
        }
    }

    /// Runs one async operation on the private runtime.
    fn block<'a, T, F, Fut>(&'a mut self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&'a mut SqliteConnection, &'a str) -> Fut + Send,
        Fut: Future<Output = Result<T, StoreError>> + 'a,
        T: Send,
    {
        let location = self.location.as_str();
        let Some(Inner { rt, conn }) = self.inner.as_mut() else {
            // Unreachable through the public API (`close` consumes the case); kept typed anyway.
            return Err(StoreError::Closed {
                location: location.to_owned(),
            });
        };
        drive(rt, || f(conn, location)).unwrap_or_else(|source| {
            Err(StoreError::Runtime {
                location: location.to_owned(),
                source,
            })
        })
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let Some(Inner { rt, conn }) = self.inner.take() else {
            return;
        };
        // Errors cannot be reported from drop; `Case::close` reports them.
        let _ = drive(&rt, || conn.close());
        rt.shutdown_background();
    }
}

/// Drives `fut` to completion on `rt`, from any thread.
///
/// Tokio panics when `block_on` is called on a thread that is already running a runtime, and
/// has no public test for that state (a `spawn_blocking` thread sees a runtime handle, yet may
/// block). So whenever any runtime handle is visible, the future runs on a short-lived scoped
/// thread that has no runtime context. The future is made on the thread that runs it, so it
/// need not be `Send` (sqlx's migrator future is not). The only error is failing to start that
/// thread.
fn drive<T, F, Fut>(rt: &tokio::runtime::Runtime, make: F) -> std::io::Result<T>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = T>,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(make()));
    }
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("hashward-store".into())
            .spawn_scoped(scope, || rt.block_on(make()))?;
        // A panic there is a bug in the driver: let it surface as it would have here.
        Ok(worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// The columns of a [`RunSummary`]; a macro so that queries can `concat!` their tails.
macro_rules! run_select {
    () => {
        "SELECT r.id, r.uuid, r.command, r.options, r.hashward_version, r.started_at, r.ended_at, \
         r.status, r.exit_code, r.error, \
         (SELECT COUNT(*) FROM artifacts a WHERE a.run_id = r.id AND a.role = 'input') AS n_inputs, \
         (SELECT COUNT(*) FROM artifacts a WHERE a.run_id = r.id AND a.role = 'extracted') AS n_extracted, \
         (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id AND f.severity = 'info') AS n_info, \
         (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id AND f.severity = 'low') AS n_low, \
         (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id AND f.severity = 'medium') AS n_medium, \
         (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id AND f.severity = 'high') AS n_high, \
         (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id AND f.severity = 'critical') AS n_critical \
         FROM runs r"
    };
}
use run_select;

/// Chooses the backend and connection options for a location.
fn connect_options(path_or_url: &str, location: &str) -> Result<SqliteConnectOptions, StoreError> {
    let lower = path_or_url.trim_start().to_ascii_lowercase();
    let options = if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Err(StoreError::Unsupported {
            location: location.to_owned(),
            why: "PostgreSQL cases are not supported by this build yet; give a SQLite file path",
        });
    } else if path_or_url.is_empty() {
        return Err(StoreError::Unsupported {
            location: location.to_owned(),
            why: "empty case location",
        });
    } else if lower.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(path_or_url).map_err(|source| StoreError::Open {
            location: location.to_owned(),
            source,
        })?
    } else if lower.contains("://") {
        return Err(StoreError::Unsupported {
            location: location.to_owned(),
            why: "unknown database URL scheme; give a file path, a sqlite: URL or a postgres:// URL",
        });
    } else {
        SqliteConnectOptions::new().filename(path_or_url)
    };
    // WAL is switched on after connecting (`ensure_wal`): the switch needs an exclusive lock
    // that SQLite's busy timeout does not wait for, so it needs a retry loop of its own.
    Ok(options
        .create_if_missing(true)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT))
}

/// The location with the password of a `scheme://user:password@host` URL replaced by `***`,
/// so errors can quote it.
fn redact(path_or_url: &str) -> String {
    let Some(scheme_end) = path_or_url.find("://") else {
        return path_or_url.to_owned();
    };
    let rest_start = scheme_end.saturating_add(3);
    let rest = path_or_url.get(rest_start..).unwrap_or("");
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or("");
    let Some(at) = authority.rfind('@') else {
        return path_or_url.to_owned();
    };
    let userinfo = authority.get(..at).unwrap_or("");
    let Some(colon) = userinfo.find(':') else {
        return path_or_url.to_owned();
    };
    format!(
        "{}{}:***{}",
        path_or_url.get(..rest_start).unwrap_or(""),
        userinfo.get(..colon).unwrap_or(""),
        rest.get(at..).unwrap_or("")
    )
}

/// Whether a driver error is SQLite's "busy" or "locked" (any extended code): another
/// connection holds a lock we need.
fn is_busy(e: &sqlx::Error) -> bool {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok());
    // SQLITE_BUSY = 5 and SQLITE_LOCKED = 6; extended codes keep them in the low byte.
    matches!(code.map(|c| c & 0xff), Some(5 | 6))
}

/// Puts the database in WAL mode (a persistent property of the file, so usually a no-op read).
/// In-memory databases stay in `memory` mode, which is fine: nobody else can see them.
async fn ensure_wal(conn: &mut SqliteConnection, location: &str) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let current: Result<String, sqlx::Error> = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await;
        let result = match current {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") || mode.eq_ignore_ascii_case("memory") => {
                return Ok(());
            }
            Ok(_) => {
                sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
                    .fetch_one(&mut *conn)
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                // Blocking is fine: this runtime drives nothing else.
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    location: location.to_owned(),
                    source,
                });
            }
        }
    }
}

/// Brings the schema up to date, retrying when another process migrated concurrently.
async fn migrate(conn: &mut SqliteConnection, location: &str) -> Result<(), StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match MIGRATOR.run(&mut *conn).await {
            Ok(()) => return Ok(()),
            Err(
                sqlx::migrate::MigrateError::Execute(_) | sqlx::migrate::MigrateError::ExecuteMigration(..),
            ) if tries < MIGRATE_TRIES => {
                // Give the other migrator time to commit; blocking is fine on our private runtime.
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(StoreError::Migrate {
                    location: location.to_owned(),
                    source,
                });
            }
        }
    }
}

fn query_err<'a>(location: &'a str, action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError + 'a {
    move |source| StoreError::Query {
        location: location.to_owned(),
        action,
        source,
    }
}

fn corrupt(location: &str, what: impl Into<String>, why: impl ToString) -> StoreError {
    StoreError::Corrupt {
        location: location.to_owned(),
        what: what.into(),
        why: why.to_string(),
    }
}

/// Fixed-width RFC 3339 in UTC with nanoseconds: lossless, and text order is time order.
fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_timestamp(s: &str, location: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(location, what, e))
}

fn to_i64(v: u64, location: &str, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange {
        location: location.to_owned(),
        field,
        value: v,
    })
}

fn seq(i: usize, location: &str, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(i).map_err(|_| StoreError::OutOfRange {
        location: location.to_owned(),
        field,
        value: u64::MAX,
    })
}

fn count(row: &SqliteRow, column: &'static str, location: &str) -> Result<u64, StoreError> {
    let n: i64 = row
        .try_get(column)
        .map_err(query_err(location, "reading run counts"))?;
    u64::try_from(n).map_err(|e| corrupt(location, column, e))
}

/// One artifact row, borrowed from the record.
#[derive(Clone)]
struct ArtifactRow<'a> {
    role: ArtifactRole,
    path: &'a str,
    sha256: &'a str,
    size: i64,
    kind: Option<&'a str>,
}

/// One finding row, encoded before the transaction starts.
struct FindingRow<'a> {
    rule: &'static str,
    severity: &'static str,
    title: &'a str,
    subject_type: &'static str,
    subject_key: &'a str,
    subject_detail: Option<String>,
    subject: String,
    message: &'a str,
    evidence: String,
}

/// `INSERT INTO table (columns) VALUES ($1, …), (…)` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n: usize = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns.len() {
            n += 1;
            // Writing to a String cannot fail.
            let _ = write!(sql, "{}${n}", if c == 0 { "" } else { ", " });
        }
        sql.push(')');
    }
    sql
}

async fn record(
    conn: &mut SqliteConnection,
    location: &str,
    run: &RunRecord,
    more: &[ArtifactRef<'_>],
) -> Result<RunId, StoreError> {
    // Encode and check everything before the transaction: a record that cannot be stored
    // leaves no trace and holds no lock.
    let options = serde_json::to_string(&run.options).map_err(|source| StoreError::Encode {
        location: location.to_owned(),
        what: "run options",
        source,
    })?;
    let result = run
        .result
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|source| StoreError::Encode {
            location: location.to_owned(),
            what: "run result",
            source,
        })?;
    let mut artifacts = Vec::with_capacity(run.inputs.len().saturating_add(run.extracted.len()));
    for input in &run.inputs {
        artifacts.push(ArtifactRow {
            role: ArtifactRole::Input,
            path: &input.path,
            sha256: &input.sha256,
            size: to_i64(input.size, location, "input size")?,
            kind: None,
        });
    }
    for a in &run.extracted {
        artifacts.push(ArtifactRow {
            role: ArtifactRole::Extracted,
            path: &a.path,
            sha256: &a.sha256,
            size: to_i64(a.size, location, "artifact size")?,
            kind: Some(&a.kind),
        });
    }
    for a in more {
        to_i64(a.size, location, "artifact size")?;
    }
    let mut findings = Vec::with_capacity(run.findings.len());
    for f in &run.findings {
        let (subject_type, subject_key, subject_detail) = subject_columns(&f.subject);
        let encode = |what| {
            move |source| StoreError::Encode {
                location: location.to_owned(),
                what,
                source,
            }
        };
        findings.push(FindingRow {
            rule: f.rule.as_str(),
            severity: f.severity.as_str(),
            title: &f.title,
            subject_type,
            subject_key,
            subject_detail,
            subject: serde_json::to_string(&f.subject).map_err(encode("finding subject"))?,
            message: &f.message,
            evidence: serde_json::to_string(&f.evidence).map_err(encode("finding evidence"))?,
        });
    }
    let uuid = uuid::Uuid::now_v7().hyphenated().to_string();

    let mut tx = conn
        .begin()
        .await
        .map_err(query_err(location, "starting the run's transaction"))?;
    let written = async {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (uuid, command, options, hashward_version, started_at, ended_at, status, \
             exit_code, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&uuid)
        .bind(&run.command)
        .bind(&options)
        .bind(&run.version)
        .bind(timestamp(&run.started))
        .bind(timestamp(&run.ended))
        .bind(run.status.as_str())
        .bind(run.exit_code)
        .bind(run.error.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(query_err(location, "inserting the run"))?;
        insert_artifacts(&mut tx, location, id, &artifacts, more).await?;
        insert_findings(&mut tx, location, id, &findings).await?;
        if let Some(result) = &result {
            sqlx::query("INSERT INTO results (run_id, result) VALUES ($1, $2)")
                .bind(id)
                .bind(result)
                .execute(&mut *tx)
                .await
                .map_err(query_err(location, "inserting the run's result"))?;
        }
        Ok::<_, StoreError>(id)
    }
    .await;
    match written {
        Ok(id) => {
            tx.commit()
                .await
                .map_err(query_err(location, "committing the run"))?;
            Ok(RunId(id))
        }
        Err(e) => {
            // The first error is the one worth reporting; a failed rollback is undone by
            // SQLite itself when the connection closes.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn insert_artifacts(
    conn: &mut SqliteConnection,
    location: &str,
    run: i64,
    rows: &[ArtifactRow<'_>],
    more: &[ArtifactRef<'_>],
) -> Result<(), StoreError> {
    // The borrowed artifacts become rows one batch at a time, after the others.
    let mut batch = Vec::with_capacity(ARTIFACT_BATCH);
    let mut more = more.iter().map(|a| ArtifactRow {
        role: ArtifactRole::Extracted,
        path: a.path,
        sha256: a.sha256,
        size: i64::try_from(a.size).unwrap_or(i64::MAX),
        kind: Some(a.kind),
    });
    let mut rows = rows.iter().cloned();
    let full: Arc<str> = insert_sql("artifacts", ARTIFACT_COLUMNS, ARTIFACT_BATCH).into();
    for b in 0usize.. {
        batch.clear();
        batch.extend(rows.by_ref().take(ARTIFACT_BATCH));
        let room = ARTIFACT_BATCH - batch.len();
        batch.extend(more.by_ref().take(room));
        if batch.is_empty() {
            break;
        }
        let chunk = batch.as_slice();
        let sql: Arc<str> = if chunk.len() == ARTIFACT_BATCH {
            Arc::clone(&full)
        } else {
            insert_sql("artifacts", ARTIFACT_COLUMNS, chunk.len()).into()
        };
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (i, row) in chunk.iter().enumerate() {
            let n = b.saturating_mul(ARTIFACT_BATCH).saturating_add(i);
            q = q
                .bind(run)
                .bind(seq(n, location, "artifact count")?)
                .bind(row.role.as_str())
                .bind(row.path)
                .bind(row.sha256)
                .bind(row.size)
                .bind(row.kind);
        }
        execute(q, &mut *conn, location, "inserting artifacts").await?;
    }
    Ok(())
}

async fn insert_findings(
    conn: &mut SqliteConnection,
    location: &str,
    run: i64,
    rows: &[FindingRow<'_>],
) -> Result<(), StoreError> {
    let full: Arc<str> = insert_sql("findings", FINDING_COLUMNS, FINDING_BATCH).into();
    for (b, chunk) in rows.chunks(FINDING_BATCH).enumerate() {
        let sql: Arc<str> = if chunk.len() == FINDING_BATCH {
            Arc::clone(&full)
        } else {
            insert_sql("findings", FINDING_COLUMNS, chunk.len()).into()
        };
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (i, row) in chunk.iter().enumerate() {
            let n = b.saturating_mul(FINDING_BATCH).saturating_add(i);
            q = q
                .bind(run)
                .bind(seq(n, location, "finding count")?)
                .bind(row.rule)
                .bind(row.severity)
                .bind(row.title)
                .bind(row.subject_type)
                .bind(row.subject_key)
                .bind(row.subject_detail.as_deref())
                .bind(row.subject.as_str())
                .bind(row.message)
                .bind(row.evidence.as_str());
        }
        execute(q, &mut *conn, location, "inserting findings").await?;
    }
    Ok(())
}

async fn execute<'c>(
    q: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
    conn: impl SqliteExecutor<'c>,
    location: &str,
    action: &'static str,
) -> Result<(), StoreError> {
    q.execute(conn)
        .await
        .map(drop)
        .map_err(query_err(location, action))
}

fn decode_run(row: &SqliteRow, location: &str) -> Result<RunSummary, StoreError> {
    let get_err = query_err(location, "reading a run");
    let id: i64 = row.try_get("id").map_err(get_err)?;
    let text = |column: &'static str| -> Result<String, StoreError> {
        row.try_get(column).map_err(query_err(location, "reading a run"))
    };
    let what = |column: &str| format!("runs.{column} of run {id}");
    let options = text("options")?;
    let status = text("status")?;
    let mut findings = SeverityCounts::default();
    for (s, column) in SEVERITIES
        .iter()
        .zip(["n_info", "n_low", "n_medium", "n_high", "n_critical"])
    {
        *findings.slot(*s) = count(row, column, location)?;
    }
    Ok(RunSummary {
        id: RunId(id),
        uuid: text("uuid")?,
        command: text("command")?,
        options: serde_json::from_str(&options).map_err(|e| corrupt(location, what("options"), e))?,
        version: text("hashward_version")?,
        started: parse_timestamp(&text("started_at")?, location, &what("started_at"))?,
        ended: parse_timestamp(&text("ended_at")?, location, &what("ended_at"))?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| corrupt(location, what("status"), format!("unknown status {status:?}")))?,
        exit_code: row
            .try_get("exit_code")
            .map_err(query_err(location, "reading a run"))?,
        error: row
            .try_get("error")
            .map_err(query_err(location, "reading a run"))?,
        inputs: count(row, "n_inputs", location)?,
        extracted: count(row, "n_extracted", location)?,
        findings,
    })
}

fn decode_artifact(row: &SqliteRow, run: RunId, location: &str) -> Result<StoredArtifact, StoreError> {
    let err = || query_err(location, "reading an artifact");
    let role: String = row.try_get("role").map_err(err())?;
    let size: i64 = row.try_get("size").map_err(err())?;
    let what = |column: &str| format!("artifacts.{column} of run {run}");
    Ok(StoredArtifact {
        role: ArtifactRole::parse(&role)
            .ok_or_else(|| corrupt(location, what("role"), format!("unknown role {role:?}")))?,
        path: row.try_get("path").map_err(err())?,
        sha256: row.try_get("sha256").map_err(err())?,
        size: u64::try_from(size).map_err(|e| corrupt(location, what("size"), e))?,
        kind: row.try_get("kind").map_err(err())?,
    })
}

fn decode_finding(row: &SqliteRow, location: &str) -> Result<StoredFinding, StoreError> {
    let err = || query_err(location, "reading a finding");
    let run: i64 = row.try_get("run_id").map_err(err())?;
    let seq: i64 = row.try_get("seq").map_err(err())?;
    let text = |column: &'static str| -> Result<String, StoreError> { row.try_get(column).map_err(err()) };
    let what = |column: &str| format!("findings.{column} of run {run}, finding {seq}");
    let rule = text("rule")?;
    let severity = text("severity")?;
    let subject: Subject =
        serde_json::from_str(&text("subject")?).map_err(|e| corrupt(location, what("subject"), e))?;
    let evidence: Vec<Evidence> =
        serde_json::from_str(&text("evidence")?).map_err(|e| corrupt(location, what("evidence"), e))?;
    Ok(StoredFinding {
        run: RunId(run),
        finding: Finding {
            rule: RuleId::new(&rule)
                .ok_or_else(|| corrupt(location, what("rule"), format!("unknown rule {rule:?}")))?,
            severity: severity
                .parse()
                .map_err(|e: String| corrupt(location, what("severity"), e))?,
            title: text("title")?,
            subject,
            message: text("message")?,
            evidence,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<Case>();
    }

    #[test]
    fn insert_sql_numbers_every_placeholder() {
        assert_eq!(
            insert_sql("t", &["a", "b"], 1),
            "INSERT INTO t (a, b) VALUES ($1, $2)"
        );
        assert_eq!(
            insert_sql("t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        let full = insert_sql("artifacts", ARTIFACT_COLUMNS, ARTIFACT_BATCH);
        assert!(full.ends_with(&format!("${})", ARTIFACT_BATCH * ARTIFACT_COLUMNS.len())));
        assert!(ARTIFACT_BATCH * ARTIFACT_COLUMNS.len() <= 32766);
        assert!(FINDING_BATCH * FINDING_COLUMNS.len() <= 32766);
    }

    #[test]
    fn timestamps_are_fixed_width_and_lossless() {
        let t = DateTime::parse_from_rfc3339("2024-02-29T23:59:59.000000001Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = timestamp(&t);
        assert_eq!(s, "2024-02-29T23:59:59.000000001Z");
        assert_eq!(parse_timestamp(&s, "x", "t").unwrap(), t);
        let whole = DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(&whole).len(), s.len());
        assert!(timestamp(&whole) > s);
        assert!(parse_timestamp("yesterday", "x", "t").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("hashward.db"), "hashward.db");
        assert_eq!(
            redact("postgres://me:secret@db.example/case"),
            "postgres://me:***@db.example/case"
        );
        assert_eq!(redact("postgres://me@db/case"), "postgres://me@db/case");
        assert_eq!(
            redact("postgresql://u:p@w@h:5432/c?x=y"),
            "postgresql://u:***@h:5432/c?x=y"
        );
        assert_eq!(
            redact("postgres://h/c?password=x@y"),
            "postgres://h/c?password=x@y"
        );
        assert_eq!(redact("://"), "://");
    }

    #[test]
    fn locations_choose_the_backend() {
        for url in ["postgres://u:pw@host/db", "PostgreSQL://host/db"] {
            let err = connect_options(url, &redact(url)).unwrap_err();
            assert!(matches!(err, StoreError::Unsupported { .. }), "{err}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
        assert!(matches!(
            connect_options("mysql://h/db", "m"),
            Err(StoreError::Unsupported { .. })
        ));
        assert!(matches!(
            connect_options("", ""),
            Err(StoreError::Unsupported { .. })
        ));
        assert!(connect_options("sqlite::memory:", "m").is_ok());
        assert!(connect_options("dir/hashward.db", "d").is_ok());
    }
}
