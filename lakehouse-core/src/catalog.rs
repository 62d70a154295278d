//! The catalog: named datasets, each a sequence of immutable versions.
//!
//! A version is a JSON manifest at `_catalog/datasets/<dataset_id>/<version>.json` listing
//! the Parquet files that make up the dataset at that version, its schema and fingerprint.
//! Data files are written first; the manifest is written last, with a create-only put, so a
//! commit is a single atomic object write: a crash at any instant leaves the previous version
//! (plus unreferenced files that [`Catalog::expire_versions`] later removes) or the new one.
//!
//! Rules (the reference system's ADR-020):
//! - `dataset_id` is the UUIDv5 of the name: stable across restarts and machines.
//! - The schema fingerprint is SHA-256 over the ordered (column name, type) pairs;
//!   nullability is excluded.
//! - Registering the same name with the same fingerprint is idempotent; a different
//!   fingerprint is an [`Error::Conflict`].
//! - One lock spans lookup → check → manifest write → in-memory update, so concurrent writers
//!   in one process never produce duplicate manifests; across processes the create-only put
//!   makes the loser re-check against the winner's version.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::storage::Storage;

const MANIFEST_ROOT: &str = "_catalog/datasets";
const MANIFEST_FORMAT: u32 = 1;
/// How old a data file that no manifest references must be before
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
pub struct DataFile {
    /// Key of the file under the lakehouse root.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the input the file was ingested from; re-ingesting it is a no-op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
}

/// What a version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// One version of a dataset: an immutable snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format number.
    pub format: u32,
    /// `UUIDv5(name)`.
    pub dataset_id: Uuid,
    /// Dataset (and SQL table) name.
    pub name: String,
    /// Version number, from 1, without gaps at commit time.
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

/// What [`Catalog::expire_versions`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpireReport {
    /// Versions whose manifests were deleted.
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

fn columns_to_schema(columns: &[Column]) -> Result<SchemaRef> {
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

fn manifest_key(id: &Uuid, version: u64) -> String {
    format!("{MANIFEST_ROOT}/{id}/{version:020}.json")
}

/// Parses `_catalog/datasets/<uuid>/<version>.json`; anything else (staging files) is skipped.
fn parse_manifest_key(key: &str) -> Option<(Uuid, u64)> {
    let rest = key.strip_prefix(MANIFEST_ROOT)?.strip_prefix('/')?;
    let (id, file) = rest.split_once('/')?;
    let version = file.strip_suffix(".json")?;
    if version.len() != 20 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((Uuid::parse_str(id).ok()?, version.parse().ok()?))
}

/// What a commit closure decided, given the dataset's current latest version.
pub(crate) enum Decision {
    /// Nothing to write; return this manifest.
    Keep(Arc<Manifest>),
    /// Write a new version with these contents.
    Commit {
        schema: SchemaRef,
        files: Vec<DataFile>,
        operation: Operation,
    },
}

#[derive(Default)]
struct State {
    /// Latest manifest by dataset name.
    latest: HashMap<String, Arc<Manifest>>,
    /// Immutable older manifests fetched on demand, by (id, version).
    history: HashMap<(Uuid, u64), Arc<Manifest>>,
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
    /// Loads every dataset's latest manifest from `storage`.
    pub async fn open(storage: Storage) -> Result<Self> {
        let catalog = Self {
            storage,
            state: Arc::default(),
            commit_lock: Arc::default(),
        };
        catalog.refresh().await?;
        Ok(catalog)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads the latest manifests from storage, picking up commits by other processes.
    pub async fn refresh(&self) -> Result<()> {
        let keys = self.storage.list_keys(MANIFEST_ROOT).await?;
        let mut newest: HashMap<Uuid, u64> = HashMap::new();
        for (id, v) in keys.iter().filter_map(|k| parse_manifest_key(k)) {
            let e = newest.entry(id).or_insert(v);
            *e = (*e).max(v);
        }
        let manifests: Vec<Arc<Manifest>> = futures::stream::iter(newest)
            .map(|(id, v)| async move { self.fetch(&id, v).await })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        let mut state = self.write();
        state.latest = manifests.into_iter().map(|m| (m.name.clone(), m)).collect();
        Ok(())
    }

    async fn fetch(&self, id: &Uuid, version: u64) -> Result<Arc<Manifest>> {
        let key = manifest_key(id, version);
        let bytes = self.storage.get_internal(&key).await?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("manifest {key} unreadable: {e}")))?;
        if m.format > MANIFEST_FORMAT {
            return Err(Error::internal(format!(
                "manifest {key} has format {} but this build reads up to {MANIFEST_FORMAT}",
                m.format
            )));
        }
        Ok(Arc::new(m))
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
        if version == 0 || version > latest.version {
            return Err(not_found());
        }
        let id = latest.dataset_id;
        if let Some(m) = self.read().history.get(&(id, version)) {
            return Ok(m.clone());
        }
        let m = self.fetch(&id, version).await.map_err(|e| match e {
            Error::NotFound { .. } => not_found(),
            other => other,
        })?;
        self.write().history.insert((id, version), m.clone());
        Ok(m)
    }

    async fn version_numbers(&self, id: &Uuid) -> Result<Vec<u64>> {
        let mut v: Vec<u64> = self
            .storage
            .list_keys(&format!("{MANIFEST_ROOT}/{id}"))
            .await?
            .iter()
            .filter_map(|k| parse_manifest_key(k))
            .filter(|(i, _)| i == id)
            .map(|(_, v)| v)
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Every retained version of `name`, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        let latest = self.manifest(name)?;
        let numbers = self.version_numbers(&latest.dataset_id).await?;
        let infos = futures::stream::iter(numbers)
            .map(|v| async move { self.manifest_at(name, v).await.map(|m| m.version_info()) })
            .buffered(16)
            .try_collect()
            .await?;
        Ok(infos)
    }

    /// Registers an empty dataset with `schema`.
    ///
    /// Idempotent: the same name and fingerprint returns the existing manifest without writing
    /// anything. The same name with another fingerprint is [`Error::Conflict`].
    pub async fn register(&self, name: &str, schema: SchemaRef) -> Result<Arc<Manifest>> {
        validate_name(name)?;
        if schema.fields().is_empty() {
            return Err(Error::invalid("a dataset needs at least one column"));
        }
        let fingerprint = schema_fingerprint(&schema);
        self.commit(name, |current| match current {
            Some(m) if m.fingerprint == fingerprint => Ok(Decision::Keep(m.clone())),
            Some(m) => Err(drift_conflict(m, &schema)),
            None => Ok(Decision::Commit {
                schema: schema.clone(),
                files: vec![],
                operation: Operation::Register,
            }),
        })
        .await
    }

    /// Commits a new version of `name` as decided by `decide`, which sees the freshest latest
    /// manifest and runs under the commit lock (possibly more than once if another process
    /// commits concurrently).
    pub(crate) async fn commit<F>(&self, name: &str, mut decide: F) -> Result<Arc<Manifest>>
    where
        F: FnMut(Option<&Arc<Manifest>>) -> Result<Decision>,
    {
        validate_name(name)?;
        let _guard = self.commit_lock.lock().await;
        let id = dataset_id(name);
        loop {
            let current = self.read().latest.get(name).cloned();
            let (schema, files, operation) = match decide(current.as_ref())? {
                Decision::Keep(m) => return Ok(m),
                Decision::Commit {
                    schema,
                    files,
                    operation,
                } => (schema, files, operation),
            };
            let version = current.as_ref().map_or(1, |m| m.version + 1);
            let manifest = Manifest {
                format: MANIFEST_FORMAT,
                dataset_id: id,
                name: name.to_string(),
                version,
                fingerprint: schema_fingerprint(&schema),
                columns: schema_to_columns(&schema),
                row_count: files.iter().map(|f| f.rows).sum(),
                files,
                operation,
                created_at: Utc::now(),
            };
            let body = serde_json::to_vec_pretty(&manifest).map_err(Error::internal)?;
            let key = manifest_key(&id, version);
            if self.storage.put_if_absent(&key, Bytes::from(body)).await? {
                let manifest = Arc::new(manifest);
                let mut state = self.write();
                if let Some(prev) = state.latest.insert(name.to_string(), manifest.clone()) {
                    state.history.insert((id, prev.version), prev);
                }
                return Ok(manifest);
            }
            // Another process committed this version first: load its latest and decide again.
            let newest = *self
                .version_numbers(&id)
                .await?
                .last()
                .ok_or_else(|| Error::internal(format!("{key} exists but is not listed")))?;
            let m = self.fetch(&id, newest).await?;
            self.write().latest.insert(name.to_string(), m);
        }
    }

    /// Deletes the manifests of versions older than `keep_from` (the latest version is always
    /// kept), then the data files that only they referenced.
    ///
    /// Manifests go first, oldest first, so a crash part-way leaves every remaining version
    /// complete; files of removed versions may linger until the next call. Files that no
    /// manifest references (left by a crash between upload and commit) are deleted only once
    /// older than [`ORPHAN_GRACE`], so an ingest still in flight, in this process or another,
    /// never loses a file it is about to commit.
    pub async fn expire_versions(&self, name: &str, keep_from: u64) -> Result<ExpireReport> {
        let _guard = self.commit_lock.lock().await;
        let latest = self.manifest(name)?;
        let keep_from = keep_from.min(latest.version);
        let numbers = self.version_numbers(&latest.dataset_id).await?;
        let mut referenced = HashSet::new();
        for v in numbers.iter().copied().filter(|v| *v >= keep_from) {
            let m = self.manifest_at(name, v).await?;
            referenced.extend(m.files.iter().map(|f| f.path.clone()));
        }
        let mut report = ExpireReport::default();
        let mut expired_files = HashSet::new();
        for v in numbers.iter().copied().filter(|v| *v < keep_from) {
            let m = self.manifest_at(name, v).await?;
            expired_files.extend(m.files.iter().map(|f| f.path.clone()));
            self.storage
                .delete_internal(&manifest_key(&latest.dataset_id, v))
                .await?;
            self.write().history.remove(&(latest.dataset_id, v));
            report.versions_removed.push(v);
        }
        let cutoff =
            Utc::now() - chrono::Duration::from_std(ORPHAN_GRACE).map_err(Error::internal)?;
        for object in self.storage.list(Some(&data_prefix(name))).await? {
            if referenced.contains(&object.key) {
                continue;
            }
            if expired_files.contains(&object.key) || object.last_modified < cutoff {
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

/// Folder under which a dataset's data files live.
pub(crate) fn data_prefix(name: &str) -> String {
    format!("datasets/{name}")
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
    fn fingerprint_depends_on_names_types_and_order() {
        let a = schema(&[("id", DataType::Int64), ("name", DataType::Utf8)]);
        let b = schema(&[("name", DataType::Utf8), ("id", DataType::Int64)]);
        let c = schema(&[("id", DataType::Float64), ("name", DataType::Utf8)]);
        assert_ne!(schema_fingerprint(&a), schema_fingerprint(&b));
        assert_ne!(schema_fingerprint(&a), schema_fingerprint(&c));
        assert_eq!(schema_fingerprint(&a).len(), 64);
    }

    #[test]
    fn manifest_keys_round_trip() {
        let id = dataset_id("w");
        assert_eq!(parse_manifest_key(&manifest_key(&id, 42)), Some((id, 42)));
        assert_eq!(
            parse_manifest_key(&format!("{}#1", manifest_key(&id, 1))),
            None
        );
        assert_eq!(parse_manifest_key("_catalog/datasets/x/1.json"), None);
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
        let keys = c.storage().list_keys(MANIFEST_ROOT).await.unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
    }

    #[tokio::test]
    async fn reopen_sees_datasets_and_commits_from_another_instance() {
        let storage = Storage::new(Arc::new(InMemory::new()), 1 << 20, "memory".into());
        let a = Catalog::open(storage.clone()).await.unwrap();
        let b = Catalog::open(storage.clone()).await.unwrap();
        let s = schema(&[("id", DataType::Int64)]);
        a.register("t", s.clone()).await.unwrap();
        // b has a stale view; its commit must land as version 2, not overwrite version 1.
        let m = b
            .commit("t", |cur| {
                assert!(cur.is_none_or(|m| m.version >= 1));
                Ok(Decision::Commit {
                    schema: s.clone(),
                    files: vec![],
                    operation: Operation::Append,
                })
            })
            .await
            .unwrap();
        assert_eq!(m.version, 2);
        let c = Catalog::open(storage).await.unwrap();
        assert_eq!(c.manifest("t").unwrap().version, 2);
        assert_eq!(
            c.manifest_at("t", 1).await.unwrap().operation,
            Operation::Register
        );
        assert!(matches!(
            c.manifest_at("t", 3).await.unwrap_err(),
            Error::NotFound { .. }
        ));
    }
}
