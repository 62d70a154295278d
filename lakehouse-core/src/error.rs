//! The one error type of the library.
//!
//! Every fallible call returns [`Error`]. Wrappers (HTTP, Python, MCP) map it once, through
//! [`Error::kind`], to a status code or exception class; they never inspect messages.

use std::time::Duration;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Broad classes of failure, stable across releases, for wrappers to map.
///
/// | kind | HTTP |
/// |---|---|
/// | `InvalidInput` | 400 |
/// | `NotFound` | 404 |
/// | `Conflict` | 409 |
/// | `TooLarge` | 413 |
/// | `Validation` | 422 |
/// | `Busy` | 503 |
/// | `Timeout` | 504 |
/// | `Storage`, `Internal` | 500 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is malformed: bad key, bad name, bad SQL, malformed file.
    InvalidInput,
    /// A named thing (dataset, version, object) does not exist.
    NotFound,
    /// The request contradicts stored state (schema drift, duplicate create).
    Conflict,
    /// An object or body exceeds a configured size limit.
    TooLarge,
    /// Well-formed input that breaks a rule (e.g. a statement a read-only query may not run).
    Validation,
    /// A resource limit was hit (memory, concurrency); retrying later may succeed.
    Busy,
    /// The operation ran past its configured time limit.
    Timeout,
    /// The object store failed.
    Storage,
    /// A bug or an unexpected state; please report it.
    Internal,
}

impl ErrorKind {
    /// A short lowercase name, used in JSON error bodies (`"not_found"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Validation => "validation",
            ErrorKind::Busy => "busy",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Storage => "storage",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Everything that can go wrong in `lakehouse-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage key broke a rule (empty, too long, NUL, leading `/`, `..`, control chars).
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey {
        /// The offending key (possibly truncated for display by the caller).
        key: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A request argument is invalid (bad dataset name, bad option value, bad SQL).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Input data could not be parsed; `line` is 1-based (the header is line 1).
    #[error("malformed input at line {line}: {reason}")]
    Malformed {
        /// 1-based line number in the input.
        line: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A dataset, version, or object does not exist.
    #[error("{what} not found: {name}")]
    NotFound {
        /// The kind of thing looked up ("dataset", "object", ...).
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// The request contradicts stored state, e.g. a different schema under an existing name.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An object exceeds the configured size cap.
    #[error("object of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the rejected object.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A batch holds more items than one call accepts.
    #[error("a batch of {size} items exceeds the limit of {limit}")]
    BatchTooLarge {
        /// Items in the rejected batch.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A statement that a read-only query may not run (DDL, DML, COPY, SET, ...).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// A SQL query failed to plan or execute.
    #[error("query failed: {0}")]
    Query(String),
    /// A memory or concurrency limit was reached.
    #[error("resources exhausted: {0}")]
    ResourcesExhausted(String),
    /// The operation exceeded its time limit.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The object store failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// Local I/O failed (temporary files, local input files).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// No embedding model where one was expected. Wrappers add how their users install
    /// one (`lakehouse model install`, `lakehouse.install_model()`).
    #[error(
        "no embedding model at {path}: install the default model (all-MiniLM-L6-v2) there, \
         or point LAKEHOUSE_MODEL at a local model folder"
    )]
    ModelNotInstalled {
        /// The folder that was looked in.
        path: std::path::PathBuf,
    },
    /// The root was written by a release before datasets were Delta Lake tables; it opens
    /// once converted ([`crate::Lakehouse::migrate`]).
    #[error(
        "the lakehouse at {root} was written by an earlier release (JSON manifests under \
         _catalog/): convert its datasets to Delta tables (migrate) before opening it"
    )]
    NeedsMigration {
        /// The root, as opened.
        root: String,
    },
    /// A model folder could not be loaded (unsupported architecture, missing or bad file).
    #[error("embedding model: {0}")]
    Model(String),
    /// An invariant did not hold; this is a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The broad class of this error, for wrappers to map to status codes or exceptions.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidKey { .. }
            | Error::InvalidInput(_)
            | Error::Malformed { .. }
            | Error::Query(_) => ErrorKind::InvalidInput,
            Error::NotFound { .. } | Error::ModelNotInstalled { .. } => ErrorKind::NotFound,
            Error::Model(_) => ErrorKind::InvalidInput,
            Error::Conflict(_) | Error::NeedsMigration { .. } => ErrorKind::Conflict,
            Error::TooLarge { .. } | Error::BatchTooLarge { .. } => ErrorKind::TooLarge,
            Error::NotAllowed(_) => ErrorKind::Validation,
            Error::ResourcesExhausted(_) => ErrorKind::Busy,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Storage(_) => ErrorKind::Storage,
            Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            Error::Io(_) => ErrorKind::Storage,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    pub(crate) fn malformed(line: u64, reason: impl Into<String>) -> Self {
        Error::Malformed {
            line,
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(msg: impl std::fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }

    /// The same error for another caller that shares it (one failed group commit fails all
    /// of its callers alike).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::InvalidKey { key, reason } => Error::InvalidKey {
                key: key.clone(),
                reason,
            },
            Error::InvalidInput(m) => Error::InvalidInput(m.clone()),
            Error::Malformed { line, reason } => Error::Malformed {
                line: *line,
                reason: reason.clone(),
            },
            Error::NotFound { what, name } => Error::NotFound {
                what,
                name: name.clone(),
            },
            Error::Conflict(m) => Error::Conflict(m.clone()),
            Error::TooLarge { size, limit } => Error::TooLarge {
                size: *size,
                limit: *limit,
            },
            Error::BatchTooLarge { size, limit } => Error::BatchTooLarge {
                size: *size,
                limit: *limit,
            },
            Error::NotAllowed(m) => Error::NotAllowed(m.clone()),
            Error::Query(m) => Error::Query(m.clone()),
            Error::ResourcesExhausted(m) => Error::ResourcesExhausted(m.clone()),
            Error::Timeout(d) => Error::Timeout(*d),
            Error::Storage(m) => Error::Storage(m.clone()),
            Error::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            Error::ModelNotInstalled { path } => Error::ModelNotInstalled { path: path.clone() },
            Error::Model(m) => Error::Model(m.clone()),
            Error::NeedsMigration { root } => Error::NeedsMigration { root: root.clone() },
            Error::Internal(m) => Error::Internal(m.clone()),
        }
    }

    /// What the user can do about this error, when it is something a wrapper can name in
    /// its own terms (a CLI command, a Python function): core's messages name none.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Error::ModelNotInstalled { .. } => Some(Remedy::InstallModel),
            Error::NeedsMigration { .. } => Some(Remedy::Migrate),
            _ => None,
        }
    }
}

/// A step that resolves an error, for a wrapper to spell out its own way
/// ([`Error::remedy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// Install the default embedding model (`lakehouse model install`,
    /// [`crate::embed::install_default_model`]).
    InstallModel,
    /// Convert the root's datasets to Delta tables ([`crate::Lakehouse::migrate`]).
    Migrate,
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => Error::NotFound {
                what: "object",
                name: path,
            },
            other => Error::Storage(other.to_string()),
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        // Our own errors raised inside DataFusion (table lookups, table functions, UDFs)
        // come back as they were, keeping their kind.
        let e = match take_ours(e) {
            Ok(ours) => return ours,
            Err(e) => e,
        };
        match e.find_root() {
            D::ResourcesExhausted(m) => Error::ResourcesExhausted(m.clone()),
            D::ObjectStore(os) => Error::Storage(os.to_string()),
            D::External(inner) => match inner.downcast_ref::<Error>() {
                Some(ours) => Error::Query(ours.to_string()),
                None => Error::Query(e.to_string()),
            },
            _ => Error::Query(e.to_string()),
        }
    }
}

/// The [`Error`] wrapped in a DataFusion error (directly or under context), if any.
fn take_ours(
    e: datafusion::error::DataFusionError,
) -> std::result::Result<Error, datafusion::error::DataFusionError> {
    use datafusion::error::DataFusionError as D;
    match e {
        D::External(inner) => inner.downcast::<Error>().map(|b| *b).map_err(D::External),
        D::Context(context, inner) => {
            take_ours(*inner).map_err(|inner| D::Context(context, Box::new(inner)))
        }
        other => Err(other),
    }
}

impl From<deltalake::DeltaTableError> for Error {
    fn from(e: deltalake::DeltaTableError) -> Self {
        use deltalake::DeltaTableError as D;
        match e {
            // Our own errors carried through deltalake come back as they were.
            D::GenericError { source } => match source.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::Storage(format!("Delta table: {other}")),
            },
            D::ObjectStore { source } => source.into(),
            D::Arrow { source } => source.into(),
            D::InvalidVersion(v) => Error::NotFound {
                what: "table version",
                name: v.to_string(),
            },
            D::Transaction { source } => Error::Conflict(format!("Delta commit: {source}")),
            D::VersionAlreadyExists(v) => {
                Error::Conflict(format!("Delta version {v} was committed by another writer"))
            }
            other => Error::Storage(format!("Delta table: {other}")),
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Internal(format!("arrow: {e}"))
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Internal(format!("parquet: {e}"))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("background task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_as_documented() {
        assert_eq!(Error::invalid("x").kind(), ErrorKind::InvalidInput);
        assert_eq!(
            Error::malformed(3, "ragged").kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            Error::TooLarge { size: 2, limit: 1 }.kind(),
            ErrorKind::TooLarge
        );
        assert_eq!(Error::Conflict("x".into()).kind(), ErrorKind::Conflict);
        assert_eq!(
            Error::NotAllowed("DDL".into()).kind(),
            ErrorKind::Validation
        );
        assert_eq!(ErrorKind::NotFound.as_str(), "not_found");
        let msg = Error::malformed(7, "expected 3 fields, found 2").to_string();
        assert!(msg.contains("line 7"), "{msg}");
    }

    #[test]
    fn a_duplicated_error_keeps_kind_and_message() {
        for e in [
            Error::Conflict("another process wrote first".into()),
            Error::Io(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")),
            Error::NotFound {
                what: "index",
                name: "x".into(),
            },
            Error::internal("usearch: boom"),
        ] {
            let d = e.duplicate();
            assert_eq!((d.kind(), d.to_string()), (e.kind(), e.to_string()));
        }
    }
}
