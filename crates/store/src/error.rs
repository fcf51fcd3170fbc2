//! Typed errors of the case database; every variant names the case it happened on.

/// What went wrong with a case. Every variant carries `location`: the case's path, or its URL
/// with any password removed, so a message is useful on its own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The location names a backend this build does not have (yet), e.g. `postgres://…`.
    #[error("case {location}: {why}")]
    Unsupported {
        /// The case location as given (password removed).
        location: String,
        /// Which backend, and what to do instead.
        why: &'static str,
    },
    /// The database could not be opened or created.
    #[error("case {location}: cannot open the database")]
    Open {
        /// The case location.
        location: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Bringing the schema up to date failed (or the case was written by a newer hashward).
    #[error("case {location}: cannot bring the schema up to date")]
    Migrate {
        /// The case location.
        location: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed (I/O error, database locked for longer than the busy timeout, disk full…).
    #[error("case {location}: {action} failed")]
    Query {
        /// The case location.
        location: String,
        /// What the store was doing, e.g. `inserting artifacts`.
        action: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A value does not fit the column it goes to (sizes above `i64::MAX`, counts beyond a bound).
    #[error("case {location}: {field} = {value} is out of range")]
    OutOfRange {
        /// The case location.
        location: String,
        /// Which field.
        field: &'static str,
        /// The offending value.
        value: u64,
    },
    /// Encoding a value as JSON failed (e.g. a map with non-string keys in run options).
    #[error("case {location}: cannot encode {what} as JSON")]
    Encode {
        /// The case location.
        location: String,
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored row does not decode: the file was edited by hand or damaged.
    #[error("case {location}: stored {what} is invalid: {why}")]
    Corrupt {
        /// The case location.
        location: String,
        /// Which row and column, e.g. `findings.subject of run 3`.
        what: String,
        /// Why it does not decode.
        why: String,
    },
    /// The store's private async runtime (or the thread that drives it from inside another
    /// runtime) could not be started.
    #[error("case {location}: cannot start the database runtime")]
    Runtime {
        /// The case location.
        location: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The case was already closed.
    #[error("case {location}: already closed")]
    Closed {
        /// The case location.
        location: String,
    },
}
