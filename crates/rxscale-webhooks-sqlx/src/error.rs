//! The crate's one error type: opaque, with a [`kind`](Error::kind) that decides the HTTP
//! status. No variant ever maps to a 2xx, so an event whose effects were not committed is
//! never acknowledged.

use std::fmt;

/// What went wrong, and so which status to answer RxScale with.
///
/// | kind | status | code |
/// |---|---|---|
/// | [`Unavailable`](ErrorKind::Unavailable) | 503 | `database_unavailable` |
/// | [`Timeout`](ErrorKind::Timeout) | 503 | `database_timeout` |
/// | [`Contention`](ErrorKind::Contention) | 503 | `database_contention` |
/// | [`MissingSchema`](ErrorKind::MissingSchema) | 500 | `database_schema_missing` |
/// | [`Database`](ErrorKind::Database) | 500 | `database_error` |
/// | [`Config`](ErrorKind::Config) | 500 | `configuration_error` |
///
/// Every status is a retry for RxScale: the delivery comes back later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database cannot be reached: no connection within the pool's acquire timeout, a
    /// refused or broken connection, a server shutting down.
    Unavailable,
    /// A statement ran past its timeout (Postgres `statement_timeout` or `lock_timeout`).
    Timeout,
    /// The transaction lost a race it cannot win by waiting: a Postgres serialization failure
    /// or deadlock, or SQLite still busy after its busy timeout. A retry succeeds.
    Contention,
    /// The ledger's tables do not exist: [`Ledger::migrate`](crate::Ledger::migrate) was not
    /// run against this database, or ran with another table prefix.
    MissingSchema,
    /// Any other database error (a constraint of your own tables, a type mismatch, ...).
    Database,
    /// The ledger was configured with an unusable setting, e.g. a table prefix that is not a
    /// plain SQL identifier.
    Config,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Contention,
        ErrorKind::MissingSchema,
        ErrorKind::Database,
        ErrorKind::Config,
    ];

    /// The snake_case code used in response bodies and logs.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "database_unavailable",
            ErrorKind::Timeout => "database_timeout",
            ErrorKind::Contention => "database_contention",
            ErrorKind::MissingSchema => "database_schema_missing",
            ErrorKind::Database => "database_error",
            ErrorKind::Config => "configuration_error",
        }
    }

    /// The HTTP status: 503 for what a retry can cure by itself, 500 for what needs an operator.
    #[must_use]
    pub const fn status_code(self) -> u16 {
        match self {
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Contention => 503,
            ErrorKind::MissingSchema | ErrorKind::Database | ErrorKind::Config => 500,
        }
    }

    /// The terse JSON response body, e.g. `{"error":"database_unavailable"}`.
    #[must_use]
    pub const fn response_body(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => r#"{"error":"database_unavailable"}"#,
            ErrorKind::Timeout => r#"{"error":"database_timeout"}"#,
            ErrorKind::Contention => r#"{"error":"database_contention"}"#,
            ErrorKind::MissingSchema => r#"{"error":"database_schema_missing"}"#,
            ErrorKind::Database => r#"{"error":"database_error"}"#,
            ErrorKind::Config => r#"{"error":"configuration_error"}"#,
        }
    }

    const fn description(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "the database cannot be reached",
            ErrorKind::Timeout => "a database statement timed out",
            ErrorKind::Contention => {
                "the transaction conflicted with a concurrent one (serialization failure, deadlock or busy database)"
            }
            ErrorKind::MissingSchema => {
                "the ledger's tables are missing: run Ledger::migrate with the same table prefix"
            }
            ErrorKind::Database => "the database reported an error",
            ErrorKind::Config => "invalid ledger configuration",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A database failure while claiming, migrating or purging, or in your own effects when you
/// convert their `sqlx::Error` with `?`.
///
/// Opaque: match on [`kind`](Error::kind). The database's own error is kept as the
/// [`source`](std::error::Error::source) for your logs; the `Display` text holds no value from a
/// request body or a row, only the kind and, for database errors, the SQLSTATE / SQLite code.
pub struct Error {
    kind: ErrorKind,
    code: Option<String>,
    source: Option<sqlx::Error>,
}

impl Error {
    pub(crate) fn config(detail: &'static str) -> Self {
        Error {
            kind: ErrorKind::Config,
            code: Some(detail.to_owned()),
            source: None,
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status to answer with: 503 or 500, never a 2xx.
    #[must_use]
    pub fn status_code(&self) -> u16 {
        self.kind.status_code()
    }

    /// The terse JSON body to answer with.
    #[must_use]
    pub fn body_text(&self) -> &'static str {
        self.kind.response_body()
    }

    /// Whether a retry may succeed without anyone changing anything (status 503).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.kind.status_code() == 503
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the source: a database message can quote values from the statement.
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.description())?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl From<sqlx::Error> for Error {
    /// Classifies any `sqlx::Error`, so that your own effects' queries can use `?` in a handler
    /// that returns this error, and answer 503 when the database is down.
    fn from(source: sqlx::Error) -> Self {
        let (kind, code) = classify(&source);
        Error {
            kind,
            code,
            source: Some(source),
        }
    }
}

fn classify(error: &sqlx::Error) -> (ErrorKind, Option<String>) {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => (ErrorKind::Unavailable, None),
        sqlx::Error::Database(database) => {
            let code = database.code().map(|code| code.into_owned());
            let kind = match code.as_deref() {
                Some(code) => classify_code(code, database.message(), is_sqlite(&**database)),
                None => ErrorKind::Database,
            };
            (kind, code)
        }
        _ => (ErrorKind::Database, None),
    }
}

#[cfg(feature = "sqlite")]
fn is_sqlite(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
}

#[cfg(not(feature = "sqlite"))]
fn is_sqlite(_: &dyn sqlx::error::DatabaseError) -> bool {
    false
}

/// Postgres SQLSTATEs are five characters; SQLite's extended result codes are decimal numbers.
fn classify_code(code: &str, message: &str, sqlite: bool) -> ErrorKind {
    if sqlite {
        let Ok(sqlite) = code.parse::<u32>() else {
            return ErrorKind::Database;
        };
        // The primary result code is the low byte of the extended one.
        return match sqlite & 0xff {
            5 | 6 => ErrorKind::Contention, // SQLITE_BUSY, SQLITE_LOCKED
            10 | 13 | 14 | 26 => ErrorKind::Unavailable, // IOERR, FULL, CANTOPEN, NOTADB
            1 if message.starts_with("no such table") => ErrorKind::MissingSchema,
            _ => ErrorKind::Database,
        };
    }
    match code {
        "40001" | "40P01" => ErrorKind::Contention,
        "57014" | "55P03" => ErrorKind::Timeout,
        "42P01" => ErrorKind::MissingSchema,
        "57P01" | "57P02" | "57P03" | "53300" => ErrorKind::Unavailable,
        _ if code.starts_with("08") => ErrorKind::Unavailable,
        _ => ErrorKind::Database,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_kind_is_a_success() {
        for kind in ErrorKind::ALL {
            assert!(kind.status_code() >= 500, "{kind}");
            assert!(kind.response_body().contains(kind.code()));
        }
    }

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_code("40001", "", false), ErrorKind::Contention);
        assert_eq!(classify_code("57014", "", false), ErrorKind::Timeout);
        assert_eq!(classify_code("08006", "", false), ErrorKind::Unavailable);
        assert_eq!(classify_code("42P01", "", false), ErrorKind::MissingSchema);
        assert_eq!(classify_code("23505", "", false), ErrorKind::Database);
        assert_eq!(classify_code("517", "", true), ErrorKind::Contention);
        assert_eq!(
            classify_code("1", "no such table: x", true),
            ErrorKind::MissingSchema
        );
        assert_eq!(classify_code("2067", "", true), ErrorKind::Database);
        assert_eq!(
            Error::from(sqlx::Error::PoolTimedOut).status_code(),
            503,
            "an unreachable database is a 503"
        );
    }
}
