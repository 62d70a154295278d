//! Converting a root written before datasets were Delta Lake tables.
//!
//! Such a root keeps each dataset's versions as JSON manifests under
//! `_catalog/datasets/<dataset_id>/<version>.json`, over Parquet files in `datasets/<name>/`.
//! [`migrate`] turns every dataset into the Delta table at `datasets/<name>/`, one Delta
//! version per retained manifest, oldest first, over the same rows. A dataset counts as
//! converted once its marker `_catalog/migrated/<dataset_id>` exists, written after its last
//! Delta version: a run that stops part-way leaves the dataset unconverted (the root still
//! refuses to open) and the next run starts that dataset's table over. The old manifests and
//! files stay until asked for ([`MigrateOptions::remove_old`]).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{Catalog, Column, DataFile, Decision, Operation};
use crate::delta;
use crate::error::{Error, Result};
use crate::storage::Storage;

/// Where old releases kept their manifests.
pub(crate) const LEGACY_MANIFESTS: &str = "_catalog/datasets";
/// Where a converted dataset's marker goes.
const MIGRATED: &str = "_catalog/migrated";

/// How to migrate.
#[derive(Debug, Clone, Copy, Default)]
pub struct MigrateOptions {
    /// Delete the old manifests (all of `_catalog/`) and the data files no Delta version
    /// references once every dataset is converted.
    pub remove_old: bool,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrateReport {
    /// One line per dataset converted by this run.
    pub datasets: Vec<MigratedDataset>,
    /// Datasets converted by an earlier run and left alone.
    pub already_migrated: Vec<String>,
    /// Old objects deleted (with [`MigrateOptions::remove_old`]).
    pub removed: usize,
}

/// One dataset's conversion.
#[derive(Debug, Clone, Serialize)]
pub struct MigratedDataset {
    /// Dataset name.
    pub name: String,
    /// The old version numbers converted, oldest first; Delta version i is the i-th of them.
    pub from_versions: Vec<u64>,
    /// Rows at the latest version.
    pub row_count: u64,
}

/// An old manifest, as the previous release wrote it.
#[derive(Debug, Deserialize)]
struct LegacyManifest {
    name: String,
    version: u64,
    columns: Vec<Column>,
    files: Vec<LegacyFile>,
    operation: String,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct LegacyFile {
    path: String,
    rows: u64,
    bytes: u64,
    source_sha256: Option<String>,
}

/// Whether `storage` holds datasets in the old layout that are not converted yet.
pub(crate) async fn pending(storage: &Storage) -> Result<bool> {
    // Keys, not folders: a local disk keeps the empty folders of removed manifests.
    let keys = storage.list_keys(LEGACY_MANIFESTS).await?;
    if keys.is_empty() {
        return Ok(false);
    }
    let done = migrated_ids(storage).await?;
    Ok(keys.iter().any(|k| {
        k.strip_prefix(LEGACY_MANIFESTS)
            .and_then(|r| r.trim_start_matches('/').split('/').next())
            .is_some_and(|id| !done.contains(id))
    }))
}

async fn migrated_ids(storage: &Storage) -> Result<HashSet<String>> {
    Ok(storage
        .list_keys(MIGRATED)
        .await?
        .into_iter()
        .filter_map(|k| k.rsplit('/').next().map(str::to_string))
        .collect())
}

/// Converts every dataset of the old layout under `storage` into a Delta table.
pub(crate) async fn migrate(storage: &Storage, options: MigrateOptions) -> Result<MigrateReport> {
    let mut manifests: BTreeMap<String, Vec<LegacyManifest>> = BTreeMap::new();
    for key in storage.list_keys(LEGACY_MANIFESTS).await? {
        let Some((id, file)) = key
            .strip_prefix(LEGACY_MANIFESTS)
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| r.split_once('/'))
        else {
            continue;
        };
        if Uuid::parse_str(id).is_err() || !file.ends_with(".json") {
            continue;
        }
        let bytes = storage.get_internal(&key).await?;
        let m: LegacyManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("old manifest {key} unreadable: {e}")))?;
        manifests.entry(id.to_string()).or_default().push(m);
    }
    let done = migrated_ids(storage).await?;
    let catalog = Catalog::unopened(storage.clone());
    let mut report = MigrateReport::default();
    for (id, mut versions) in manifests {
        versions.sort_by_key(|m| m.version);
        let name = versions[0].name.clone();
        if done.contains(&id) {
            report.already_migrated.push(name);
            continue;
        }
        // A table left by an interrupted run (no marker) is started over.
        let log = format!("{}/_delta_log", delta::table_prefix(&name));
        for key in storage.list_keys(&log).await? {
            storage.delete_internal(&key).await?;
        }
        let mut row_count = 0;
        let mut current: Vec<DataFile> = Vec::new();
        for m in &versions {
            let schema = crate::catalog::columns_to_schema(&m.columns)?;
            let schema = delta::canonical_schema(&schema).map_err(|e| {
                Error::invalid(format!("dataset {name:?} version {}: {e}", m.version))
            })?;
            let mut files = Vec::with_capacity(m.files.len());
            for f in &m.files {
                files.push(converted_file(storage, &name, f, &schema).await?);
            }
            let held: HashSet<&str> = current.iter().map(|f| f.path.as_str()).collect();
            let grows = files
                .iter()
                .filter(|f| held.contains(f.path.as_str()))
                .count()
                == current.len();
            let operation = match (current.is_empty() && files.is_empty(), m.operation.as_str()) {
                (true, _) => Operation::Register,
                _ if current.is_empty() => Operation::Create,
                _ if grows => Operation::Append,
                _ => Operation::Replace,
            };
            let added: Vec<DataFile> = match operation {
                Operation::Append => files
                    .iter()
                    .filter(|f| !held.contains(f.path.as_str()))
                    .cloned()
                    .collect(),
                _ => files.clone(),
            };
            let manifest = catalog
                .commit(&name, |_| {
                    Ok(Decision::Commit {
                        schema: schema.clone(),
                        added: added.clone(),
                        operation,
                    })
                })
                .await?;
            tracing::info!(
                dataset = %name,
                from = m.version,
                to = manifest.version,
                at = %m.created_at,
                "migrated a version"
            );
            row_count = manifest.row_count;
            current = files;
        }
        storage
            .put_internal(&format!("{MIGRATED}/{id}"), bytes::Bytes::new())
            .await?;
        report.datasets.push(MigratedDataset {
            name,
            from_versions: versions.iter().map(|m| m.version).collect(),
            row_count,
        });
    }
    if options.remove_old {
        report.removed = remove_old(storage).await?;
    }
    Ok(report)
}

/// An old data file as a file of the Delta table: renamed (copied) so that its name carries
/// the input's SHA-256 where the old manifest recorded one, with Delta statistics from its
/// footer.
async fn converted_file(
    storage: &Storage,
    name: &str,
    f: &LegacyFile,
    schema: &arrow::datatypes::Schema,
) -> Result<DataFile> {
    let path = match &f.source_sha256 {
        Some(sha) => {
            let stem = f
                .path
                .rsplit('/')
                .next()
                .and_then(|s| s.strip_suffix(".parquet"))
                .unwrap_or("file");
            let to = format!("{}/{stem}.src-{sha}.parquet", delta::table_prefix(name));
            if storage.head(&to).await.is_err() {
                storage
                    .object_store()
                    .copy(&storage.store_path(&f.path), &storage.store_path(&to))
                    .await?;
            }
            to
        }
        None => f.path.clone(),
    };
    let metadata = delta::remote_footer(storage, &path, f.bytes).await?;
    Ok(DataFile {
        source_sha256: f.source_sha256.clone(),
        stats: Some(delta::file_stats(&metadata, schema)),
        path,
        rows: f.rows,
        bytes: f.bytes,
    })
}

/// Deletes `_catalog/` and every data file of a dataset folder that no retained version of
/// the dataset's Delta table references (the old names of files copied to new ones).
async fn remove_old(storage: &Storage) -> Result<usize> {
    let mut removed = 0;
    for key in storage.list_keys("_catalog").await? {
        storage.delete_internal(&key).await?;
        removed += 1;
    }
    for name in storage.list_dirs("datasets").await? {
        let versions = delta::log_versions(storage, &name).await?;
        let Some(&first) = versions.first() else {
            continue;
        };
        let prefix = delta::table_prefix(&name);
        let referenced = delta::files_since(storage, &name, first).await?;
        for key in storage.list_keys(&prefix).await? {
            let relative = key.strip_prefix(&format!("{prefix}/")).unwrap_or(&key);
            if !relative.starts_with("_delta_log/") && !referenced.contains(relative) {
                storage.delete_internal(&key).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
