//! The catalog: named datasets, each a Delta Lake table whose versions are the table's.
//!
//! Dataset `name` is the Delta table at `datasets/<name>/` under the root (see
//! [`crate::delta`]); version N of the dataset is Delta version N, starting at 0. A commit is
//! one create-only put of the table's next `_delta_log` entry, written after the data files
//! it references: a crash at any instant leaves the previous version (plus unreferenced files
//! that [`Catalog::expire_versions`] later removes) or the new one.
//!
//! Rules (the reference system's ADR-020):
//! - `dataset_id` is the UUIDv5 of the name: stable across restarts and machines.
//! - The schema fingerprint is SHA-256 over the ordered (column name, type) pairs of the
//!   table's schema in Arrow form; nullability is excluded.
//! - Registering the same name with the same fingerprint is idempotent; a different
//!   fingerprint is an [`Error::Conflict`].
//! - One lock spans load → decide → commit → in-memory update, so concurrent writers in one
//!   process never race; across processes the create-only put makes the loser reload the
//!   winner's version and decide again.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, MetadataExt, Remove};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTableError, TableProperty};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::delta::{self, table_prefix};
use crate::error::{Error, Result};
use crate::storage::Storage;

/// How many times a commit that lost a race to another writer is decided and tried again.
const COMMIT_ATTEMPTS: u32 = 100;
/// How old a data file that no version references must be before
/// [`Catalog::expire_versions`] deletes it.
pub const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Longest dataset name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Namespace for dataset ids: `dataset_id = UUIDv5(DATASET_NAMESPACE, name)`.
pub const DATASET_NAMESPACE: Uuid = Uuid::NAMESPACE_OID;

/// The stable id of a dataset name.
///
/// ```
/// let a = lakehouse_core::catalog::dataset_id("workers");
/// assert_eq!(a, lakehouse_core::catalog::dataset_id("workers"));
/// assert_eq!(a.get_version_num(), 5);
/// ```
pub fn dataset_id(name: &str) -> Uuid {
    Uuid::new_v5(&DATASET_NAMESPACE, name.as_bytes())
}

/// Checks a dataset name: 1 to 128 ASCII letters, digits, `_` or `-`, starting with a letter
/// or `_`. Names are SQL table names; ones with capitals or `-` need double quotes in SQL.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err(Error::invalid("dataset name is empty"));
    };
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "dataset name is longer than {MAX_NAME_LEN} characters"
        )));
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err(Error::invalid(format!(
            "dataset name {name:?} must start with a letter or '_'"
        )));
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(Error::invalid(format!(
            "dataset name {name:?} contains {c:?}; use letters, digits, '_' or '-'"
        )));
    }
    Ok(())
}

/// SHA-256 (hex) over the ordered `(name, type)` pairs of `schema`; nullability excluded.
///
/// ```
/// use arrow::datatypes::{DataType, Field, Schema};
/// use lakehouse_core::catalog::schema_fingerprint;
/// let a = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
/// let b = Schema::new(vec![Field::new("id", DataType::Int64, true)]);
/// assert_eq!(schema_fingerprint(&a), schema_fingerprint(&b));
/// ```
pub fn schema_fingerprint(schema: &Schema) -> String {
    let mut h = Sha256::new();
    for f in schema.fields() {
        h.update(f.name().as_bytes());
        h.update([0x1f]);
        h.update(f.data_type().to_string().as_bytes());
        h.update([0x1e]);
    }
    hex::encode(h.finalize())
}

/// One column of a manifest's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Arrow type, in Arrow's display form (`Int64`, `Utf8`, `Timestamp(µs)`...).
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether nulls may occur.
    pub nullable: bool,
}

/// One Parquet file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DataFile {
    /// Key of the file under the lakehouse root (`datasets/<name>/…`).
    pub path: String,
    /// Rows in the file (0 when the table's log has no statistics for it).
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the input the file was ingested from; re-ingesting it is a no-op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    /// Delta statistics (JSON) to commit with a new file.
    #[serde(skip)]
    pub(crate) stats: Option<String>,
}

/// What a version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// An empty dataset was registered with a schema.
    Register,
    /// The dataset was created with data.
    Create,
    /// Rows were added.
    Append,
    /// All rows were replaced.
    Replace,
    /// Rows were updated or inserted by key.
    Upsert,
    /// Rows matching a predicate were deleted.
    Delete,
    /// Small files were merged into larger ones; the rows are unchanged.
    Optimize,
    /// Another tool's commit (vacuum, …) that lakehouse does not name.
    Other,
}

crate::choice::choices!(Operation, "operation", {
    Register => ["register"],
    Create => ["create"],
    Append => ["append"],
    Replace => ["replace"],
    Upsert => ["upsert", "merge"],
    Delete => ["delete"],
    Optimize => ["optimize", "compact"],
    Other => ["other"],
});

/// One version of a dataset: an immutable snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Manifest {
    /// `UUIDv5(name)`.
    pub dataset_id: Uuid,
    /// Dataset (and SQL table) name.
    pub name: String,
    /// Version number: the Delta table version, from 0.
    pub version: u64,
    /// [`schema_fingerprint`] of the schema.
    pub fingerprint: String,
    /// The schema.
    pub columns: Vec<Column>,
    /// Parquet files making up this version.
    pub files: Vec<DataFile>,
    /// Total rows across files.
    pub row_count: u64,
    /// What produced this version.
    pub operation: Operation,
    /// Commit time.
    pub created_at: DateTime<Utc>,
}

impl Manifest {
    /// The Arrow schema of this version.
    pub fn schema(&self) -> Result<SchemaRef> {
        columns_to_schema(&self.columns)
    }

    /// Summary row for version listings.
    pub fn version_info(&self) -> VersionInfo {
        VersionInfo {
            version: self.version,
            operation: self.operation,
            row_count: self.row_count,
            files: self.files.len(),
            fingerprint: self.fingerprint.clone(),
            created_at: self.created_at,
        }
    }
}

/// A line of [`Catalog::versions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct VersionInfo {
    /// Version number.
    pub version: u64,
    /// What produced it.
    pub operation: Operation,
    /// Rows at that version.
    pub row_count: u64,
    /// Number of data files.
    pub files: usize,
    /// Schema fingerprint at that version.
    pub fingerprint: String,
    /// Commit time.
    pub created_at: DateTime<Utc>,
}

/// What a delete did: the version it made (the current one when no row matched) and how
/// many rows it removed.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DeleteReport {
    /// The dataset's manifest after the delete.
    pub manifest: Arc<Manifest>,
    /// Rows deleted.
    pub rows_deleted: u64,
}

/// What [`Catalog::optimize`] did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OptimizeReport {
    /// The dataset's manifest after the compaction (the current one when there was nothing
    /// to merge).
    pub manifest: Arc<Manifest>,
    /// Small files merged away.
    pub files_removed: u64,
    /// Files written in their place.
    pub files_added: u64,
}

/// What [`Catalog::expire_versions`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExpireReport {
    /// Versions whose log entries were deleted.
    pub versions_removed: Vec<u64>,
    /// Data files no longer referenced by any kept version, deleted.
    pub files_removed: usize,
}

pub(crate) fn schema_to_columns(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect()
}

pub(crate) fn columns_to_schema(columns: &[Column]) -> Result<SchemaRef> {
    let fields = columns
        .iter()
        .map(|c| {
            let dt = DataType::from_str(&c.data_type).map_err(|e| {
                Error::internal(format!("manifest type {:?} unreadable: {e}", c.data_type))
            })?;
            Ok(Field::new(&c.name, dt, c.nullable))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// What a commit closure decided, given the dataset's current latest version.
pub(crate) enum Decision {
    /// Nothing to write; return this manifest.
    Keep(Arc<Manifest>),
    /// Write a new version: `added` files under `schema`; a [`Operation::Replace`] also
    /// removes every current file.
    Commit {
        schema: SchemaRef,
        added: Vec<DataFile>,
        operation: Operation,
    },
}

/// Older manifests kept in memory for time travel; others are read again from the Delta log.
/// Bounded because a manifest lists every file of its version: keeping all of them would
/// grow with versions × files (quadratic in the appends of a long-running writer).
const HISTORY_CACHED: usize = 16;

/// Commits between two Delta checkpoints of a table this library creates.
pub const CHECKPOINT_INTERVAL: u64 = 10;

struct State {
    /// Latest manifest by dataset name.
    latest: HashMap<String, Arc<Manifest>>,
    /// The most recently used older manifests (immutable), by (name, version).
    history: lru::LruCache<(String, u64), Arc<Manifest>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            latest: HashMap::new(),
            history: lru::LruCache::new(
                std::num::NonZeroUsize::new(HISTORY_CACHED).expect("a positive capacity"),
            ),
        }
    }
}

/// Datasets and their versions. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Catalog {
    storage: Storage,
    state: Arc<RwLock<State>>,
    commit_lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("storage", &self.storage.description())
            .field("datasets", &self.read().latest.len())
            .finish()
    }
}

impl Catalog {
    /// Loads every dataset's latest version from `storage`.
    ///
    /// A root written by a release before Delta Lake (JSON manifests under `_catalog/`) is
    /// [`Error::NeedsMigration`].
    pub async fn open(storage: Storage) -> Result<Self> {
        if crate::migrate::pending(&storage).await? {
            return Err(Error::NeedsMigration {
                root: storage.description().to_string(),
            });
        }
        let catalog = Self::unopened(storage);
        catalog.refresh().await?;
        Ok(catalog)
    }

    /// A catalog over `storage` that has loaded nothing yet (for the migration).
    pub(crate) fn unopened(storage: Storage) -> Self {
        Self {
            storage,
            state: Arc::default(),
            commit_lock: Arc::default(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads every table's latest version from storage, picking up commits by other
    /// processes and tables other tools created under `datasets/`.
    pub async fn refresh(&self) -> Result<()> {
        let names = self.storage.list_dirs("datasets").await?;
        let manifests: Vec<Option<Arc<Manifest>>> = futures::stream::iter(names)
            .filter(|n| std::future::ready(validate_name(n).is_ok()))
            .map(|name| async move {
                let Some(table) = delta::open_table(&self.storage, &name, None).await? else {
                    return Ok(None);
                };
                let m = delta::manifest(&name, table.snapshot()?, &table.log_store()).await?;
                Ok::<_, Error>(Some(Arc::new(m)))
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        let mut state = self.write();
        state.latest = manifests
            .into_iter()
            .flatten()
            .map(|m| (m.name.clone(), m))
            .collect();
        Ok(())
    }

    /// Latest manifest of every dataset, sorted by name.
    pub fn list(&self) -> Vec<Arc<Manifest>> {
        let mut v: Vec<_> = self.read().latest.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Whether a dataset exists.
    pub fn contains(&self, name: &str) -> bool {
        self.read().latest.contains_key(name)
    }

    /// The latest manifest of `name`.
    pub fn manifest(&self, name: &str) -> Result<Arc<Manifest>> {
        self.read()
            .latest
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: "dataset",
                name: name.to_string(),
            })
    }

    /// The manifest of `name` at `version`.
    pub async fn manifest_at(&self, name: &str, version: u64) -> Result<Arc<Manifest>> {
        let latest = self.manifest(name)?;
        if version == latest.version {
            return Ok(latest);
        }
        let not_found = || Error::NotFound {
            what: "dataset version",
            name: format!("{name}@{version}"),
        };
        if version > latest.version {
            return Err(not_found());
        }
        let key = (name.to_string(), version);
        if let Some(m) = self.write().history.get(&key) {
            return Ok(m.clone());
        }
        let table = delta::open_table(&self.storage, name, Some(version))
            .await?
            .ok_or_else(not_found)?;
        let m = Arc::new(delta::manifest(name, table.snapshot()?, &table.log_store()).await?);
        self.write().history.put(key, m.clone());
        Ok(m)
    }

    /// Every retained version of `name`, oldest first: the table's state at its oldest
    /// retained version, then each later commit applied in turn.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        self.manifest(name)?;
        let numbers = delta::log_versions(&self.storage, name).await?;
        let (Some(&first), Some(&last)) = (numbers.first(), numbers.last()) else {
            return Ok(Vec::new());
        };
        let table = delta::open_table(&self.storage, name, Some(first))
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "dataset",
                name: name.to_string(),
            })?;
        let start = self.manifest_at(name, first).await;
        let start = match start {
            Ok(m) => m,
            // Newer than this process's view: read it directly.
            Err(Error::NotFound { .. }) => {
                Arc::new(delta::manifest(name, table.snapshot()?, &table.log_store()).await?)
            }
            Err(e) => return Err(e),
        };
        let mut rows = delta::file_rows(table.snapshot()?);
        let mut fingerprint = start.fingerprint.clone();
        let mut infos = vec![start.version_info()];
        let store = table.log_store();
        let commits: Vec<Option<delta::Commit>> = futures::stream::iter(first + 1..=last)
            .map(|v| {
                let store = store.clone();
                async move { delta::read_commit(&store, v).await }
            })
            .buffered(16)
            .try_collect()
            .await?;
        for (version, commit) in (first + 1..=last).zip(commits) {
            let Some(commit) = commit else {
                return Err(Error::internal(format!(
                    "version {version} of dataset {name:?} is missing from its Delta log"
                )));
            };
            for path in &commit.removed {
                rows.remove(path);
            }
            for (path, n) in commit.added {
                rows.insert(path, n.unwrap_or(0));
            }
            if let Some(schema) = &commit.schema {
                fingerprint = schema_fingerprint(delta::arrow_schema(schema)?.as_ref());
            }
            infos.push(VersionInfo {
                version,
                operation: commit.operation.unwrap_or(Operation::Other),
                row_count: rows.values().sum(),
                files: rows.len(),
                fingerprint: fingerprint.clone(),
                created_at: commit.timestamp.unwrap_or_else(Utc::now),
            });
        }
        Ok(infos)
    }

    /// Registers an empty dataset with `schema` (converted to the types a Delta table holds;
    /// a column of a type it cannot hold is [`Error::InvalidInput`]).
    ///
    /// Idempotent: the same name and fingerprint returns the existing manifest without writing
    /// anything. The same name with another fingerprint is [`Error::Conflict`].
    pub async fn register(&self, name: &str, schema: SchemaRef) -> Result<Arc<Manifest>> {
        validate_name(name)?;
        if schema.fields().is_empty() {
            return Err(Error::invalid("a dataset needs at least one column"));
        }
        let schema = delta::canonical_schema(&schema)?;
        let fingerprint = schema_fingerprint(&schema);
        self.commit(name, |current| match current {
            Some(m) if m.fingerprint == fingerprint => Ok(Decision::Keep(m.clone())),
            Some(m) => Err(drift_conflict(m, &schema)),
            None => Ok(Decision::Commit {
                schema: schema.clone(),
                added: vec![],
                operation: Operation::Register,
            }),
        })
        .await
    }

    /// Commits a new version of `name` as decided by `decide`, which sees the table's latest
    /// version, freshly loaded, and runs under the commit lock (again if another process
    /// commits in between).
    pub(crate) async fn commit<F>(&self, name: &str, mut decide: F) -> Result<Arc<Manifest>>
    where
        F: FnMut(Option<&Arc<Manifest>>) -> Result<Decision>,
    {
        validate_name(name)?;
        let _guard = self.commit_lock.lock().await;
        let token = commit_token();
        for attempt in 0..COMMIT_ATTEMPTS {
            let table = delta::open_table(&self.storage, name, None).await?;
            let current = match &table {
                Some(t) => Some(Arc::new(
                    delta::manifest(name, t.snapshot()?, &t.log_store()).await?,
                )),
                None => None,
            };
            if let Some(m) = &current {
                self.remember(m.clone());
            }
            let (schema, added, operation) = match decide(current.as_ref())? {
                Decision::Keep(m) => return Ok(m),
                Decision::Commit {
                    schema,
                    added,
                    operation,
                } => (schema, added, operation),
            };
            crate::phase("commit", name);
            let committed = match (&table, &current) {
                (Some(t), Some(cur)) => {
                    self.write_version(name, t.snapshot()?, cur, &schema, &added, operation, &token)
                        .await
                }
                _ => {
                    // A name dropped by a drop that a crash cut short starts clean.
                    self.purge_dropped(name, &added).await?;
                    // A drop that ran while this write uploaded its files deleted them.
                    for f in &added {
                        if !self.storage.exists_internal(&f.path).await? {
                            return Err(Error::Conflict(format!(
                                "dataset {name:?} was dropped while this write was in \
                                 flight; write it again"
                            )));
                        }
                    }
                    self.create(name, &schema, &added, operation, &token).await
                }
            };
            match committed {
                Ok(state) => {
                    let store = delta::log_store(&self.storage, name)?;
                    let m = Arc::new(delta::manifest(name, &state, &store).await?);
                    self.remember(m.clone());
                    return Ok(m);
                }
                Err(e) => {
                    let base = current.as_ref().map(|m| m.version);
                    if let Some(m) = self.landed(name, base, &token, e).await? {
                        return Ok(m);
                    }
                    tracing::debug!(dataset = name, attempt, "commit lost a race; retrying");
                    let pause = std::time::Duration::from_millis(u64::from(attempt.min(20)) * 5);
                    tokio::time::sleep(pause).await;
                }
            }
        }
        Err(lost_races(name))
    }

    /// Records `m` as the latest version of its dataset, keeping the previous one in history.
    fn remember(&self, m: Arc<Manifest>) {
        let mut state = self.write();
        if let Some(prev) = state.latest.insert(m.name.clone(), m.clone())
            && prev.version != m.version
        {
            state.history.put((prev.name.clone(), prev.version), prev);
        }
    }

    /// After commit attempt `error` on `name` (whose latest version was `base`): the
    /// version this writer's commit made, when it is there all the same, so the caller
    /// reports it instead of committing twice; `Ok(None)` when the attempt lost a race to
    /// another writer (try again); the error itself otherwise.
    ///
    /// A commit request can fail after the store took it: its response is lost, or the
    /// store client retries it and finds the entry there (Delta then reports "version
    /// already exists"). Only the commit's [`delta::COMMIT_TOKEN_KEY`] tells this writer's
    /// entry from another's.
    async fn landed(
        &self,
        name: &str,
        base: Option<u64>,
        token: &str,
        error: DeltaTableError,
    ) -> Result<Option<Arc<Manifest>>> {
        let store = delta::log_store(&self.storage, name)?;
        let mut version = base.map_or(0, |b| b + 1);
        loop {
            let commit = match delta::read_commit(&store, version).await {
                Ok(Some(commit)) => commit,
                Ok(None) => break,
                // The store cannot be read: the outcome stays unknown, and the caller gets
                // the commit's own error (and keeps the files the commit may reference).
                Err(read) if lost_race(&error) => return Err(read),
                Err(_) => return Err(error.into()),
            };
            if commit.token.as_deref() == Some(token) {
                tracing::info!(
                    dataset = name,
                    version,
                    "a commit request failed but the commit was stored: {error}"
                );
                let table = delta::open_table(&self.storage, name, Some(version))
                    .await?
                    .ok_or_else(|| Error::internal(format!("dataset {name:?} vanished")))?;
                let m = Arc::new(delta::manifest(name, table.snapshot()?, &store).await?);
                self.remember(m.clone());
                return Ok(Some(m));
            }
            version += 1;
        }
        if lost_race(&error) {
            Ok(None)
        } else {
            Err(error.into())
        }
    }

    /// Version 0 of a new table: its schema, and `added` files if any.
    async fn create(
        &self,
        name: &str,
        schema: &Schema,
        added: &[DataFile],
        operation: Operation,
        token: &str,
    ) -> std::result::Result<DeltaTableState, DeltaTableError> {
        let store = delta::log_store(&self.storage, name).map_err(to_delta)?;
        let columns = delta::delta_schema(schema).map_err(to_delta)?;
        let table = CreateBuilder::new()
            .with_log_store(store)
            .with_table_name(name)
            .with_columns(columns.fields().cloned())
            .with_save_mode(SaveMode::ErrorIfExists)
            // Versions stay readable until `expire_versions` says otherwise.
            .with_configuration_property(TableProperty::EnableExpiredLogCleanup, Some("false"))
            // Every open replays the JSON commits since the last checkpoint, decoding them
            // all at once (~1.6 MB each): a checkpoint every 10 commits (Spark's default;
            // delta-rs's is 100) bounds that memory and the time of every commit.
            .with_configuration_property(
                TableProperty::CheckpointInterval,
                Some(CHECKPOINT_INTERVAL.to_string()),
            )
            .with_actions(added.iter().map(|f| Action::Add(add_action(name, f))))
            .with_commit_properties(commit_properties(operation, token))
            .await?;
        Ok(table.snapshot()?.clone())
    }

    /// The next version of an existing table.
    async fn write_version(
        &self,
        name: &str,
        state: &DeltaTableState,
        current: &Manifest,
        schema: &Schema,
        added: &[DataFile],
        operation: Operation,
        token: &str,
    ) -> std::result::Result<DeltaTableState, DeltaTableError> {
        let store = delta::log_store(&self.storage, name).map_err(to_delta)?;
        let replace = operation == Operation::Replace;
        let mut actions = Vec::with_capacity(added.len() + current.files.len() + 1);
        if schema_fingerprint(schema) != current.fingerprint {
            let old = current.schema().map_err(to_delta)?;
            if delta::needs_timestamp_ntz(schema) && !delta::needs_timestamp_ntz(&old) {
                return Err(to_delta(Error::invalid(format!(
                    "dataset {name:?} cannot change to a schema with a timestamp without time \
                     zone: its Delta table was created without that feature; write it as a \
                     new dataset"
                ))));
            }
            let columns = delta::delta_schema(schema).map_err(to_delta)?;
            actions.push(Action::Metadata(
                state.metadata().clone().with_schema(&columns)?,
            ));
        }
        if replace {
            let now = Utc::now().timestamp_millis();
            actions.extend(current.files.iter().map(|f| {
                Action::Remove(Remove {
                    path: relative_path(name, &f.path).to_string(),
                    data_change: true,
                    deletion_timestamp: Some(now),
                    extended_file_metadata: Some(true),
                    partition_values: Some(HashMap::new()),
                    size: Some(f.bytes as i64),
                    ..Default::default()
                })
            }));
        }
        actions.extend(added.iter().map(|f| Action::Add(add_action(name, f))));
        let mode = if replace {
            SaveMode::Overwrite
        } else {
            SaveMode::Append
        };
        let finalized = CommitBuilder::from(commit_properties(operation, token))
            .with_actions(actions)
            .build(
                Some(state),
                store,
                DeltaOperation::Write {
                    mode,
                    partition_by: None,
                    predicate: None,
                },
            )
            .await?;
        Ok(finalized.snapshot())
    }

    /// Merges rows (the Parquet files `source`, written with the dataset's `schema`) into
    /// `name` by `keys`: rows whose keys match are updated, the others inserted (Delta's
    /// merge). One new version; merged again on the newer version when another writer
    /// commits first.
    pub(crate) async fn upsert(
        &self,
        name: &str,
        source: &[std::path::PathBuf],
        schema: &SchemaRef,
        keys: &[String],
    ) -> Result<Arc<Manifest>> {
        use datafusion::prelude::{Column, Expr, ParquetReadOptions, SessionContext, col};
        let side = |alias: &str, c: &str| col(Column::new(Some(alias), c));
        let mut predicate: Option<Expr> = None;
        for key in keys {
            let eq = side("target", key).eq(side("source", key));
            predicate = Some(match predicate {
                Some(p) => p.and(eq),
                None => eq,
            });
        }
        let predicate =
            predicate.ok_or_else(|| Error::invalid("an upsert needs at least one key column"))?;
        let paths: Vec<String> = source.iter().map(|p| p.display().to_string()).collect();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let updated: Vec<&String> = names.iter().filter(|n| !keys.contains(n)).collect();
        let _guard = self.commit_lock.lock().await;
        let token = commit_token();
        for attempt in 0..COMMIT_ATTEMPTS {
            let table = self.latest_table(name).await?;
            let current = delta::manifest(name, table.snapshot()?, &table.log_store()).await?;
            if current.fingerprint != schema_fingerprint(schema) {
                return Err(Error::Conflict(format!(
                    "dataset {name:?} changed schema during the upsert; retry"
                )));
            }
            let source = SessionContext::new()
                .read_parquet(paths.clone(), ParquetReadOptions::default())
                .await?;
            let mut merge = table
                .merge(source, predicate.clone())
                .with_source_alias("source")
                .with_target_alias("target")
                .with_commit_properties(commit_properties(Operation::Upsert, &token));
            if !updated.is_empty() {
                merge = merge.when_matched_update(|u| {
                    updated.iter().fold(u, |u, c| {
                        u.update(Column::new_unqualified(c.as_str()), side("source", c))
                    })
                })?;
            }
            crate::phase("commit", name);
            let merged = merge
                .when_not_matched_insert(|i| {
                    names.iter().fold(i, |i, c| {
                        i.set(Column::new_unqualified(c.as_str()), side("source", c))
                    })
                })?
                .await;
            match merged {
                Ok((table, _metrics)) => {
                    let m = Arc::new(
                        delta::manifest(name, table.snapshot()?, &table.log_store()).await?,
                    );
                    self.remember(m.clone());
                    return Ok(m);
                }
                Err(e) => {
                    if let Some(m) = self.landed(name, Some(current.version), &token, e).await? {
                        return Ok(m);
                    }
                    tracing::debug!(dataset = name, attempt, "upsert lost a race; merging again");
                }
            }
        }
        Err(lost_races(name))
    }

    /// Deletes the rows of `name` for which the SQL `predicate` holds (Delta's delete), as
    /// one new version; returns it and how many rows went. No matching row: no new version.
    pub async fn delete(&self, name: &str, predicate: &str) -> Result<(Arc<Manifest>, u64)> {
        validate_name(name)?;
        let _guard = self.commit_lock.lock().await;
        let token = commit_token();
        for attempt in 0..COMMIT_ATTEMPTS {
            let table = self.latest_table(name).await?;
            let current = delta::manifest(name, table.snapshot()?, &table.log_store()).await?;
            // Checked here, against the dataset's columns, so a bad predicate is the caller's
            // error and nothing is written.
            let df_schema =
                datafusion::common::DFSchema::try_from(current.schema()?.as_ref().clone())?;
            datafusion::prelude::SessionContext::new()
                .parse_sql_expr(predicate, &df_schema)
                .map_err(|e| {
                    Error::invalid(format!(
                        "delete predicate {predicate:?}: {}",
                        root_message(&e)
                    ))
                })?;
            crate::phase("commit", name);
            let deleted = table
                .delete()
                .with_predicate(predicate.to_string())
                .with_commit_properties(commit_properties(Operation::Delete, &token))
                .await;
            match deleted {
                Ok((table, metrics)) => {
                    let m = Arc::new(
                        delta::manifest(name, table.snapshot()?, &table.log_store()).await?,
                    );
                    self.remember(m.clone());
                    return Ok((m, metrics.num_deleted_rows.unwrap_or(0) as u64));
                }
                Err(e) => {
                    if let Some(m) = self.landed(name, Some(current.version), &token, e).await? {
                        // What went, by the versions' row counts.
                        let gone = current.row_count.saturating_sub(m.row_count);
                        return Ok((m, gone));
                    }
                    tracing::debug!(
                        dataset = name,
                        attempt,
                        "delete lost a race; deleting again"
                    );
                }
            }
        }
        Err(lost_races(name))
    }

    /// Merges the small files of `name` into files of Delta's target size (100 MB; the
    /// table's `delta.targetFileSize` when set), as one new version with the same rows
    /// (Delta's OPTIMIZE, bin-packing). Each append adds a file, and every query plans over
    /// every file of the version it reads, so a table that grows by many small appends gets
    /// slower and costs more memory until it is compacted. Earlier versions keep their files
    /// until [`Catalog::expire_versions`]. Nothing to merge: no new version. A concurrent
    /// writer's commit is retried over, as for the other writes.
    ///
    /// The file of an ingest carries its input's SHA-256 in its name, which makes re-sending
    /// the same file a no-op; a merged file carries none, so after a compaction the same
    /// file sent again is written again.
    pub async fn optimize(&self, name: &str) -> Result<OptimizeReport> {
        validate_name(name)?;
        let _guard = self.commit_lock.lock().await;
        let token = commit_token();
        for attempt in 0..COMMIT_ATTEMPTS {
            let table = self.latest_table(name).await?;
            let current = delta::manifest(name, table.snapshot()?, &table.log_store()).await?;
            crate::phase("commit", name);
            let optimized = table
                .optimize()
                .with_commit_properties(commit_properties(Operation::Optimize, &token))
                .await;
            match optimized {
                Ok((table, metrics)) => {
                    let manifest = if metrics.num_files_removed == 0 {
                        Arc::new(current)
                    } else {
                        Arc::new(
                            delta::manifest(name, table.snapshot()?, &table.log_store()).await?,
                        )
                    };
                    self.remember(manifest.clone());
                    return Ok(OptimizeReport {
                        manifest,
                        files_removed: metrics.num_files_removed,
                        files_added: metrics.num_files_added,
                    });
                }
                Err(e) => {
                    if let Some(m) = self.landed(name, Some(current.version), &token, e).await? {
                        // The counts went with the lost answer: from the two versions.
                        let only_in = |a: &Manifest, b: &Manifest| {
                            let other: HashSet<&str> =
                                b.files.iter().map(|f| f.path.as_str()).collect();
                            a.files
                                .iter()
                                .filter(|f| !other.contains(f.path.as_str()))
                                .count() as u64
                        };
                        return Ok(OptimizeReport {
                            files_removed: only_in(&current, m.as_ref()),
                            files_added: only_in(m.as_ref(), &current),
                            manifest: m,
                        });
                    }
                    tracing::debug!(
                        dataset = name,
                        attempt,
                        "optimize lost a race; optimizing again"
                    );
                }
            }
        }
        Err(lost_races(name))
    }

    /// Drops dataset `name`: every version and file goes, here and for every other reader
    /// of its Delta table. Atomic for lakehouse readers: a marker is written first, and from
    /// then on the dataset is gone (a crash part-way leaves files that the next drop or
    /// create of the name deletes); then the log, newest entry first, then the data files,
    /// then the marker. A dataset that does not exist is [`Error::NotFound`].
    pub async fn drop_dataset(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let _guard = self.commit_lock.lock().await;
        let marker = delta::dropped_marker(name);
        let exists = delta::open_table(&self.storage, name, None)
            .await?
            .is_some();
        if exists {
            crate::phase("commit", name);
            self.storage.put_internal(&marker, Bytes::new()).await?;
        }
        self.forget(name);
        // Also finishes a drop that a crash cut short.
        self.purge_dropped(name, &[]).await?;
        if exists {
            Ok(())
        } else {
            Err(Error::NotFound {
                what: "dataset",
                name: name.to_string(),
            })
        }
    }

    /// Deletes what a drop of `name` left (nothing when no drop marker is there) but the
    /// files `keep` (a new version's uploads): the log first (newest entry first), then the
    /// other files, the marker last.
    async fn purge_dropped(&self, name: &str, keep: &[DataFile]) -> Result<()> {
        let marker = delta::dropped_marker(name);
        if !self.storage.exists_internal(&marker).await? {
            return Ok(());
        }
        let mut keys = self.storage.list_keys(&delta::table_prefix(name)).await?;
        keys.retain(|k| *k != marker && !keep.iter().any(|f| f.path == *k));
        // Log entries first, newest first (descending), then everything else.
        keys.sort_by(|a, b| {
            let log = |k: &str| k.contains("/_delta_log/");
            log(b).cmp(&log(a)).then_with(|| b.cmp(a))
        });
        for key in keys {
            self.storage.delete_internal(&key).await?;
        }
        self.storage.delete_internal(&marker).await?;
        self.storage.prune_empty_folders(&delta::table_prefix(name))
    }

    /// Forgets every version of `name` held in memory.
    fn forget(&self, name: &str) {
        let mut state = self.write();
        state.latest.remove(name);
        let old: Vec<(String, u64)> = state
            .history
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(k, _)| k.clone())
            .collect();
        for key in old {
            state.history.pop(&key);
        }
    }

    /// The latest version of `name`'s table, freshly loaded.
    async fn latest_table(&self, name: &str) -> Result<deltalake::DeltaTable> {
        delta::open_table(&self.storage, name, None)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "dataset",
                name: name.to_string(),
            })
    }

    /// Deletes the versions older than `keep_from` (the latest version is always kept), then
    /// the data files that only they referenced.
    ///
    /// Delta's way: a checkpoint is written at `keep_from`, log entries before it are deleted
    /// (so those versions can no longer be read, here or by any other engine), then data files
    /// no kept version references are removed. Files that no version ever referenced (left by
    /// a crash between upload and commit) are deleted only once older than [`ORPHAN_GRACE`],
    /// so an ingest still in flight, in this process or another, never loses a file it is
    /// about to commit.
    pub async fn expire_versions(&self, name: &str, keep_from: u64) -> Result<ExpireReport> {
        let _guard = self.commit_lock.lock().await;
        let not_found = || Error::NotFound {
            what: "dataset",
            name: name.to_string(),
        };
        let latest = delta::open_table(&self.storage, name, None)
            .await?
            .ok_or_else(not_found)?;
        let last = latest.snapshot()?.version();
        let keep_from = keep_from.min(last);
        let numbers = delta::log_versions(&self.storage, name).await?;
        let first = numbers.first().copied().unwrap_or(last);
        // Files a version from `keep_from` on reads stay; the others of retained versions go.
        let referenced = delta::files_since(&self.storage, name, keep_from).await?;
        let expired_files: HashSet<String> = delta::files_since(&self.storage, name, first)
            .await?
            .into_iter()
            .filter(|p| !referenced.contains(p))
            .collect();
        let kept_table = delta::open_table(&self.storage, name, Some(keep_from))
            .await?
            .ok_or_else(not_found)?;
        let store = latest.log_store();
        let mut report = ExpireReport::default();
        if keep_from > first {
            deltalake::checkpoints::create_checkpoint(&kept_table, None).await?;
            deltalake::checkpoints::cleanup_expired_logs_for(
                keep_from,
                store.as_ref(),
                Utc::now().timestamp_millis(),
                None,
            )
            .await?;
            let remaining: HashSet<u64> = delta::log_versions(&self.storage, name)
                .await?
                .into_iter()
                .collect();
            report.versions_removed = numbers
                .iter()
                .copied()
                .filter(|v| *v < keep_from && !remaining.contains(v))
                .collect();
            let mut state = self.write();
            for v in &report.versions_removed {
                state.history.pop(&(name.to_string(), *v));
            }
        }
        let cutoff =
            Utc::now() - chrono::Duration::from_std(ORPHAN_GRACE).map_err(Error::internal)?;
        let prefix = table_prefix(name);
        for object in self.storage.list(Some(&prefix)).await? {
            let relative = relative_path(name, &object.key);
            if relative.starts_with("_delta_log/") || referenced.contains(relative) {
                continue;
            }
            if expired_files.contains(relative) || object.last_modified < cutoff {
                self.storage.delete_internal(&object.key).await?;
                report.files_removed += 1;
            }
        }
        Ok(report)
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }
}

/// Commit properties of a lakehouse commit: its operation and the writer's one-time `token`
/// recorded in the commit info, no retries inside deltalake (the catalog looks for its own
/// commit, then decides again on the newer version: see `Catalog::landed`).
fn commit_properties(operation: Operation, token: &str) -> CommitProperties {
    CommitProperties::default()
        .with_metadata([
            (
                delta::OPERATION_KEY.to_string(),
                serde_json::Value::from(operation.as_str()),
            ),
            (
                delta::COMMIT_TOKEN_KEY.to_string(),
                serde_json::Value::from(token),
            ),
        ])
        .with_max_retries(0)
}

/// A new writer token for [`commit_properties`].
fn commit_token() -> String {
    Uuid::new_v4().to_string()
}

fn lost_races(name: &str) -> Error {
    Error::Conflict(format!(
        "dataset {name:?}: {COMMIT_ATTEMPTS} commits in a row lost to concurrent writers"
    ))
}

/// A DataFusion error's message without its chain of prefixes.
fn root_message(e: &datafusion::error::DataFusionError) -> String {
    e.find_root().to_string()
}

fn add_action(name: &str, f: &DataFile) -> Add {
    Add {
        path: relative_path(name, &f.path).to_string(),
        partition_values: HashMap::new(),
        size: f.bytes as i64,
        modification_time: Utc::now().timestamp_millis(),
        data_change: true,
        stats: f.stats.clone(),
        ..Default::default()
    }
}

/// A root-relative key of a dataset's file, relative to its table folder.
fn relative_path<'a>(name: &str, key: &'a str) -> &'a str {
    key.strip_prefix(&table_prefix(name))
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(key)
}

/// Whether a failed commit lost to another writer (and is worth deciding again).
fn lost_race(e: &DeltaTableError) -> bool {
    match e {
        DeltaTableError::VersionAlreadyExists(_) => true,
        DeltaTableError::Transaction { source } => matches!(
            source,
            TransactionError::VersionAlreadyExists(_)
                | TransactionError::MaxCommitAttempts(_)
                | TransactionError::CommitConflict(_)
        ),
        DeltaTableError::GenericError { source } => source.to_string().contains("already exists"),
        _ => false,
    }
}

/// Carries a lakehouse error through deltalake's error type (see `Error::from`).
fn to_delta(e: Error) -> DeltaTableError {
    DeltaTableError::GenericError {
        source: Box::new(e),
    }
}

pub(crate) fn drift_conflict(existing: &Manifest, new_schema: &Schema) -> Error {
    let new_cols: Vec<String> = schema_to_columns(new_schema)
        .iter()
        .map(|c| format!("{} {}", c.name, c.data_type))
        .collect();
    let old_cols: Vec<String> = existing
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.data_type))
        .collect();
    Error::Conflict(format!(
        "dataset {:?} exists with schema ({}) and fingerprint {}; the new schema ({}) differs",
        existing.name,
        old_cols.join(", "),
        &existing.fingerprint[..12],
        new_cols.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn schema(cols: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(
            cols.iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    async fn catalog() -> Catalog {
        let storage = Storage::new(Arc::new(InMemory::new()), 1 << 20, "memory".into());
        Catalog::open(storage).await.unwrap()
    }

    #[test]
    fn names() {
        for ok in ["workers", "_x", "a-b_c9", &"a".repeat(128)] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "9a", "a b", "a@1", "a/b", "a.b", &"a".repeat(129), "ü"] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn operation_names() {
        crate::choice::check_names(Operation::NAMES, |o| o.as_str());
    }

    #[tokio::test]
    async fn legacy_roots_name_the_migration() {
        let storage = Storage::new(Arc::new(InMemory::new()), 1 << 20, "memory".into());
        storage
            .put_internal("_catalog/datasets/x/00000000000000000001.json", "{}".into())
            .await
            .unwrap();
        let err = Catalog::open(storage).await.unwrap_err();
        assert!(matches!(err, Error::NeedsMigration { .. }), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::Conflict);
        assert_eq!(err.remedy(), Some(crate::Remedy::Migrate));
    }

    #[test]
    fn fingerprint_depends_on_names_types_and_order() {
        let a = schema(&[("id", DataType::Int64), ("name", DataType::Utf8)]);
        let b = schema(&[("name", DataType::Utf8), ("id", DataType::Int64)]);
        let c = schema(&[("id", DataType::Float64), ("name", DataType::Utf8)]);
        assert_ne!(schema_fingerprint(&a), schema_fingerprint(&b));
        assert_ne!(schema_fingerprint(&a), schema_fingerprint(&c));
        assert_eq!(schema_fingerprint(&a).len(), 64);
    }

    #[tokio::test]
    async fn register_is_idempotent_and_conflicts_on_drift() {
        let c = catalog().await;
        let s = schema(&[("id", DataType::Int64), ("name", DataType::Utf8)]);
        let a = c.register("people", s.clone()).await.unwrap();
        let b = c.register("people", s.clone()).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.dataset_id, dataset_id("people"));
        assert_eq!(c.versions("people").await.unwrap().len(), 1);
        let err = c
            .register("people", schema(&[("id", DataType::Utf8)]))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert!(err.to_string().contains("id Utf8"), "{err}");
        assert!(matches!(
            c.register("", s.clone()).await.unwrap_err(),
            Error::InvalidInput(_)
        ));
        assert!(matches!(
            c.manifest("nope").unwrap_err(),
            Error::NotFound { .. }
        ));
    }

    #[tokio::test]
    async fn concurrent_registers_write_one_manifest() {
        let c = catalog().await;
        let s = schema(&[("id", DataType::Int64)]);
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let c = c.clone();
                let s = s.clone();
                tokio::spawn(async move { c.register("dup", s).await.unwrap().dataset_id })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), dataset_id("dup"));
        }
        let versions = delta::log_versions(c.storage(), "dup").await.unwrap();
        assert_eq!(versions, vec![0]);
    }

    #[tokio::test]
    async fn reopen_sees_datasets_and_commits_from_another_instance() {
        let storage = Storage::new(Arc::new(InMemory::new()), 1 << 20, "memory".into());
        let a = Catalog::open(storage.clone()).await.unwrap();
        let b = Catalog::open(storage.clone()).await.unwrap();
        let s = schema(&[("id", DataType::Int64)]);
        a.register("t", s.clone()).await.unwrap();
        // b has a stale view; its commit must land as version 1, not overwrite version 0.
        let m = b
            .commit("t", |cur| {
                assert_eq!(cur.map(|m| m.version), Some(0));
                Ok(Decision::Commit {
                    schema: s.clone(),
                    added: vec![],
                    operation: Operation::Append,
                })
            })
            .await
            .unwrap();
        assert_eq!(m.version, 1);
        let c = Catalog::open(storage).await.unwrap();
        assert_eq!(c.manifest("t").unwrap().version, 1);
        assert_eq!(
            c.manifest_at("t", 0).await.unwrap().operation,
            Operation::Register
        );
        assert_eq!(
            c.versions("t")
                .await
                .unwrap()
                .iter()
                .map(|v| (v.version, v.operation))
                .collect::<Vec<_>>(),
            vec![(0, Operation::Register), (1, Operation::Append)]
        );
        assert!(matches!(
            c.manifest_at("t", 2).await.unwrap_err(),
            Error::NotFound { .. }
        ));
    }

    /// A commit request that fails after the store took it (its answer lost, or a retry that
    /// found the entry there) is this writer's version: reported once, never committed a
    /// second time, its files kept. A store that does not answer at all leaves no version.
    #[tokio::test]
    async fn a_commit_the_store_took_counts_once() {
        use crate::flaky_store::{Fault, Flaky};
        use crate::ingest::{IngestMode, IngestOptions, ingest};
        let entry = |name: &str, v: u64| format!("datasets/{name}/_delta_log/{v:020}.json");
        for fault in [Fault::StoredThenExists, Fault::StoredThenError] {
            let flaky = Arc::new(Flaky::new(Arc::new(InMemory::new())));
            let storage = Storage::new(flaky.clone(), 1 << 20, "memory".into());
            let c = Catalog::open(storage.clone()).await.unwrap();
            flaky.arm(&entry("t", 0), fault);
            let r = ingest(
                &c,
                "t",
                "k,v\n1,10\n2,20\n".into(),
                &IngestOptions::default(),
            )
            .await
            .unwrap();
            assert!(!flaky.armed(), "{fault:?}");
            assert_eq!((r.manifest.version, r.manifest.row_count), (0, 2));
            flaky.arm(&entry("t", 1), fault);
            let append = IngestOptions::mode(IngestMode::Append);
            let r = ingest(&c, "t", "k,v\n3,30\n".into(), &append)
                .await
                .unwrap();
            assert!(!r.no_op, "{fault:?}");
            assert_eq!((r.manifest.version, r.manifest.row_count), (1, 3));
            flaky.arm(&entry("t", 2), fault);
            let upsert = IngestOptions::mode(IngestMode::Upsert).with_keys(["k"]);
            let r = ingest(&c, "t", "k,v\n1,11\n4,40\n".into(), &upsert)
                .await
                .unwrap();
            assert_eq!((r.manifest.version, r.manifest.row_count), (2, 4));
            flaky.arm(&entry("t", 3), fault);
            let (m, deleted) = c.delete("t", "k = 2").await.unwrap();
            assert_eq!((m.version, m.row_count, deleted), (3, 3, 1), "{fault:?}");
            assert_eq!(
                delta::log_versions(&storage, "t").await.unwrap(),
                vec![0, 1, 2, 3],
                "{fault:?}"
            );
            for f in &c.manifest("t").unwrap().files {
                assert!(storage.exists_internal(&f.path).await.unwrap(), "{fault:?}");
            }
        }

        let flaky = Arc::new(Flaky::new(Arc::new(InMemory::new())));
        let storage = Storage::new(flaky.clone(), 1 << 20, "memory".into());
        let c = Catalog::open(storage.clone()).await.unwrap();
        ingest(&c, "t", "k\n1\n".into(), &IngestOptions::default())
            .await
            .unwrap();
        flaky.arm(&entry("t", 1), Fault::Down);
        let append = IngestOptions::mode(IngestMode::Append);
        let err = ingest(&c, "t", "k\n2\n".into(), &append).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Storage, "{err}");
        flaky.heal();
        let r = ingest(&c, "t", "k\n3\n".into(), &append).await.unwrap();
        assert_eq!((r.manifest.version, r.manifest.row_count), (1, 2));
    }
}
