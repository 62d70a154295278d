//! Datasets as Delta Lake tables: where a dataset's table lives, which Arrow schemas a Delta
//! table can hold, the statistics written with each data file, and how a table version reads
//! back as a [`Manifest`].
//!
//! Dataset `name` is the Delta table at `<root>/datasets/<name>/`: Parquet data files beside a
//! `_delta_log/` of numbered JSON commits (and Parquet checkpoints). The `deltalake` crate
//! writes the commits, each one a create-only put of `_delta_log/<version>.json`, so two
//! writers never both win a version; every other Delta reader (Spark, Trino, DuckDB, Polars,
//! `deltalake` in Python) reads the same table where it lies. Lakehouse version N of a
//! dataset is Delta version N.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use datafusion::scalar::ScalarValue;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTable, DeltaTableError};
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::async_reader::MetadataFetch;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde_json::{Map, Value, json};

use crate::catalog::{DataFile, Manifest, Operation, dataset_id, schema_fingerprint};
use crate::error::{Error, Result};
use crate::storage::Storage;

/// Key under which the commit info of a lakehouse commit names its [`Operation`].
pub(crate) const OPERATION_KEY: &str = "lakehouse.operation";
/// Key under which the commit info of a lakehouse commit carries its writer's one-time token:
/// how a writer whose commit request failed (a lost response, a retried request that found
/// the entry there) tells its own commit from another writer's.
pub(crate) const COMMIT_TOKEN_KEY: &str = "lakehouse.commit";
/// Columns (from the first) whose min/max/null counts a data file's statistics carry: Delta's
/// default (`delta.dataSkippingNumIndexedCols`).
const STATS_COLUMNS: usize = 32;
/// Longest string kept whole in a file's statistics; longer minimums are cut (still a lower
/// bound), longer maximums left out (a cut one would not be an upper bound).
const STATS_STRING_CHARS: usize = 32;

/// Folder, under the root, of dataset `name`'s Delta table (data files and `_delta_log/`).
pub(crate) fn table_prefix(name: &str) -> String {
    format!("datasets/{name}")
}

/// The marker of a dataset being dropped, in its table folder: written first, deleted last,
/// so that a drop cut short by a crash still reads as done (the dataset is gone) and the
/// next drop or create of the name finishes deleting the files.
pub(crate) fn dropped_marker(name: &str) -> String {
    format!("{}/_lakehouse_dropped", table_prefix(name))
}

/// The log store of dataset `name`'s table: the root's object store scoped to the table
/// folder, at the table's URL (`file:///…/datasets/name/`, `s3://bucket/prefix/datasets/name/`).
pub(crate) fn log_store(storage: &Storage, name: &str) -> Result<LogStoreRef> {
    let prefix = table_prefix(name);
    let (url_store, location) = storage.url_of(&format!("{prefix}/"))?;
    let scoped: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(
        storage.object_store(),
        storage.store_path(&prefix),
    ));
    Ok(default_logstore(
        scoped,
        url_store,
        &location,
        &StorageConfig::default(),
    ))
}

/// Dataset `name`'s table loaded at `version` (the latest when `None`); `None` when no table
/// exists there.
pub(crate) async fn open_table(
    storage: &Storage,
    name: &str,
    version: Option<u64>,
) -> Result<Option<DeltaTable>> {
    let store = log_store(storage, name)?;
    if !store.is_delta_table_location().await?
        || storage.exists_internal(&dropped_marker(name)).await?
    {
        return Ok(None);
    }
    let mut table = DeltaTable::new(store);
    match version {
        None => table.load().await?,
        Some(v) => table.load_version(v).await.map_err(|e| match e {
            DeltaTableError::InvalidVersion(_) | DeltaTableError::NotATable(_) => Error::NotFound {
                what: "dataset version",
                name: format!("{name}@{v}"),
            },
            other => other.into(),
        })?,
    }
    Ok(Some(table))
}

/// The Delta schema of `schema`, whose types must already be in stored form; a column whose
/// type Delta cannot hold is an [`Error::InvalidInput`] naming it.
pub(crate) fn delta_schema(schema: &Schema) -> Result<StructType> {
    for field in schema.fields() {
        let converted: std::result::Result<deltalake::kernel::StructField, _> =
            field.as_ref().try_into_kernel();
        if let Err(e) = converted {
            return Err(Error::invalid(format!(
                "column {:?} has type {} which a Delta Lake table cannot hold ({e}); cast it \
                 to a string, number or timestamp first",
                field.name(),
                field.data_type()
            )));
        }
    }
    schema
        .try_into_kernel()
        .map_err(|e| Error::invalid(format!("schema unsupported by Delta Lake: {e}")))
}

/// The Arrow schema of a Delta schema: the form datasets are scanned and written in.
pub(crate) fn arrow_schema(schema: &StructType) -> Result<SchemaRef> {
    let arrow: Schema = schema
        .try_into_arrow()
        .map_err(|e| Error::internal(format!("Delta schema has no Arrow form: {e}")))?;
    Ok(Arc::new(arrow))
}

/// `schema` as a Delta table stores it: converted to Delta types and back, so that a dataset's
/// schema, its fingerprint and every write agree with what readers of the table see.
pub(crate) fn canonical_schema(schema: &Schema) -> Result<SchemaRef> {
    arrow_schema(&delta_schema(schema)?)
}

/// Whether a Delta table of `schema` needs the `timestampNtz` table feature.
pub(crate) fn needs_timestamp_ntz(schema: &Schema) -> bool {
    fn has(t: &DataType) -> bool {
        match t {
            DataType::Timestamp(_, None) => true,
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                has(f.data_type())
            }
            DataType::Struct(fs) => fs.iter().any(|f| has(f.data_type())),
            DataType::Map(f, _) => has(f.data_type()),
            _ => false,
        }
    }
    schema.fields().iter().any(|f| has(f.data_type()))
}

/// The name a data file written from input with SHA-256 `sha` gets: re-ingesting the same
/// input is recognized from the file names of the current version alone.
pub(crate) fn data_file_name(sha: &str) -> String {
    format!("{}.src-{sha}.parquet", uuid::Uuid::new_v4())
}

/// The input SHA-256 recorded in a data file's name by [`data_file_name`].
fn source_sha_of(path: &str) -> Option<String> {
    let stem = path.rsplit('/').next()?.strip_suffix(".parquet")?;
    let (_, sha) = stem.split_once(".src-")?;
    (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_string())
}

/// Delta statistics of a Parquet file with `metadata` written with `schema`: row count, and
/// per top-level column (the first [`STATS_COLUMNS`]) the null count and, for numbers, dates
/// and short strings, exact min and max. Other engines skip files with them.
pub(crate) fn file_stats(metadata: &ParquetMetaData, schema: &Schema) -> String {
    let rows: i64 = metadata.file_metadata().num_rows();
    let (mut mins, mut maxes, mut nulls) = (Map::new(), Map::new(), Map::new());
    let groups = metadata.row_groups();
    for field in schema.fields().iter().take(STATS_COLUMNS) {
        if field.data_type().is_nested() {
            continue;
        }
        let Ok(conv) = StatisticsConverter::try_new(
            field.name(),
            schema,
            metadata.file_metadata().schema_descr(),
        ) else {
            continue;
        };
        if let Ok(counts) = conv.row_group_null_counts(groups.iter())
            && counts.null_count() == 0
        {
            nulls.insert(
                field.name().clone(),
                json!(counts.values().iter().sum::<u64>()),
            );
        }
        if !stats_kept(field.data_type()) {
            continue;
        }
        let (Ok(lo), Ok(hi)) = (
            conv.row_group_mins(groups.iter()),
            conv.row_group_maxes(groups.iter()),
        ) else {
            continue;
        };
        if let Some(v) = fold(&lo, std::cmp::Ordering::Less).and_then(|s| json_min(&s)) {
            mins.insert(field.name().clone(), v);
        }
        if let Some(v) = fold(&hi, std::cmp::Ordering::Greater).and_then(|s| json_max(&s)) {
            maxes.insert(field.name().clone(), v);
        }
    }
    json!({"numRecords": rows, "minValues": mins, "maxValues": maxes, "nullCount": nulls})
        .to_string()
}

/// The footer of the Parquet file at `key` (`size` bytes) in `storage`, read with ranged
/// gets (the last 64 KiB first, more only for larger footers).
pub(crate) async fn remote_footer(
    storage: &Storage,
    key: &str,
    size: u64,
) -> Result<ParquetMetaData> {
    struct Ranges {
        store: Arc<dyn ObjectStore>,
        path: object_store::path::Path,
    }
    impl MetadataFetch for Ranges {
        fn fetch(
            &mut self,
            range: std::ops::Range<u64>,
        ) -> BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
            async move {
                self.store
                    .get_range(&self.path, range)
                    .await
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
            }
            .boxed()
        }
    }
    let ranges = Ranges {
        store: storage.object_store(),
        path: storage.store_path(key),
    };
    Ok(ParquetMetaDataReader::new()
        .with_prefetch_hint(Some(64 * 1024))
        .load_and_finish(ranges, size)
        .await?)
}

fn stats_kept(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || matches!(t, DataType::Date32 | DataType::Utf8)
}

/// The extreme (`Less`: minimum) of per-row-group values; `None` when a group has no value
/// (no statistics, or only nulls), since then no bound is known for the file.
fn fold(values: &ArrayRef, keep: std::cmp::Ordering) -> Option<ScalarValue> {
    if values.is_empty() || values.null_count() > 0 {
        return None;
    }
    let mut best = ScalarValue::try_from_array(values, 0).ok()?;
    for i in 1..values.len() {
        let v = ScalarValue::try_from_array(values, i).ok()?;
        if v.partial_cmp(&best)? == keep {
            best = v;
        }
    }
    Some(best)
}

fn json_number(s: &ScalarValue) -> Option<Value> {
    Some(match s {
        ScalarValue::Int8(Some(v)) => json!(v),
        ScalarValue::Int16(Some(v)) => json!(v),
        ScalarValue::Int32(Some(v)) => json!(v),
        ScalarValue::Int64(Some(v)) => json!(v),
        ScalarValue::Float32(Some(v)) if v.is_finite() => json!(v),
        ScalarValue::Float64(Some(v)) if v.is_finite() => json!(v),
        ScalarValue::Date32(Some(d)) => {
            let date = chrono::DateTime::from_timestamp(i64::from(*d) * 86_400, 0)?;
            json!(date.format("%Y-%m-%d").to_string())
        }
        _ => return None,
    })
}

fn json_min(s: &ScalarValue) -> Option<Value> {
    match s {
        ScalarValue::Utf8(Some(v)) => Some(json!(
            v.chars().take(STATS_STRING_CHARS).collect::<String>()
        )),
        other => json_number(other),
    }
}

fn json_max(s: &ScalarValue) -> Option<Value> {
    match s {
        ScalarValue::Utf8(Some(v)) if v.chars().count() <= STATS_STRING_CHARS => Some(json!(v)),
        ScalarValue::Utf8(_) => None,
        other => json_number(other),
    }
}

/// What one commit of a table did, read from its `_delta_log` entry.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    /// The lakehouse operation (recorded by lakehouse commits, else derived from Delta's).
    pub operation: Option<Operation>,
    /// Commit time.
    pub timestamp: Option<DateTime<Utc>>,
    /// Paths (relative to the table, decoded) and row counts of files added.
    pub added: Vec<(String, Option<u64>)>,
    /// Paths of files removed.
    pub removed: Vec<String>,
    /// The new schema, when the commit changed the table's metadata.
    pub schema: Option<StructType>,
    /// The token of the lakehouse writer that made it ([`COMMIT_TOKEN_KEY`]).
    pub token: Option<String>,
}

/// Reads commit `version` of a table; `None` when its log entry is gone (expired).
pub(crate) async fn read_commit(store: &LogStoreRef, version: u64) -> Result<Option<Commit>> {
    let Some(bytes) = store.read_commit_entry(version).await? else {
        return Ok(None);
    };
    let mut commit = Commit::default();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let action: Value = serde_json::from_slice(line).map_err(|e| {
            Error::internal(format!(
                "commit {version} of the Delta log is unreadable: {e}"
            ))
        })?;
        if let Some(add) = action.get("add") {
            let rows = add
                .get("stats")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|s| s.get("numRecords").and_then(Value::as_u64));
            commit.added.push((decoded_path(add), rows));
        } else if let Some(remove) = action.get("remove") {
            commit.removed.push(decoded_path(remove));
        } else if let Some(meta) = action.get("metaData") {
            let schema = meta
                .get("schemaString")
                .and_then(Value::as_str)
                .unwrap_or("");
            commit.schema = Some(serde_json::from_str(schema).map_err(|e| {
                Error::internal(format!("commit {version}: schema unreadable: {e}"))
            })?);
        } else if let Some(info) = action.get("commitInfo") {
            commit.timestamp = info
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis);
            commit.operation = operation_of(info);
            commit.token = info
                .get(COMMIT_TOKEN_KEY)
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    if commit.operation.is_none() {
        commit.operation = Some(Operation::Other);
    }
    Ok(Some(commit))
}

fn decoded_path(action: &Value) -> String {
    let raw = action.get("path").and_then(Value::as_str).unwrap_or("");
    percent_decode(raw)
}

/// Decodes `%XX` escapes (Delta log paths are URL-encoded).
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lakehouse operation of a commit info: the one lakehouse recorded, else Delta's named.
fn operation_of(info: &Value) -> Option<Operation> {
    if let Some(op) = info.get(OPERATION_KEY).and_then(Value::as_str) {
        return op.parse().ok();
    }
    let mode = info
        .get("operationParameters")
        .and_then(|p| p.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(match info.get("operation").and_then(Value::as_str)? {
        "CREATE TABLE" | "CREATE OR REPLACE TABLE" => Operation::Create,
        "WRITE" if mode.eq_ignore_ascii_case("overwrite") => Operation::Replace,
        "WRITE" if mode.eq_ignore_ascii_case("append") => Operation::Append,
        "WRITE" => Operation::Create,
        "MERGE" => Operation::Upsert,
        "DELETE" => Operation::Delete,
        "OPTIMIZE" => Operation::Optimize,
        _ => Operation::Other,
    })
}

/// Dataset `name` at the version of `state` (a snapshot of its table, whose log is
/// `store`), as a manifest.
pub(crate) async fn manifest(
    name: &str,
    state: &DeltaTableState,
    store: &LogStoreRef,
) -> Result<Manifest> {
    let version = state.version();
    let schema = arrow_schema(state.schema().as_ref())?;
    let prefix = table_prefix(name);
    let files: Vec<DataFile> = state
        .log_data()
        .iter()
        .map(|f| {
            let path = f.path().into_owned();
            DataFile {
                source_sha256: source_sha_of(&path),
                path: format!("{prefix}/{path}"),
                rows: f.num_records().unwrap_or(0) as u64,
                bytes: f.size().max(0) as u64,
                stats: None,
            }
        })
        .collect();
    let commit = read_commit(store, version).await?;
    let operation = commit
        .as_ref()
        .and_then(|c| c.operation)
        .unwrap_or(Operation::Other);
    let created_at = commit
        .and_then(|c| c.timestamp)
        .or_else(|| {
            state
                .version_timestamp(version)
                .and_then(DateTime::from_timestamp_millis)
        })
        .unwrap_or_else(Utc::now);
    Ok(Manifest {
        dataset_id: dataset_id(name),
        name: name.to_string(),
        version,
        fingerprint: schema_fingerprint(&schema),
        columns: crate::catalog::schema_to_columns(&schema),
        row_count: files.iter().map(|f| f.rows).sum(),
        files,
        operation,
        created_at,
    })
}

/// Row counts by file path (relative to the table) in `state`.
pub(crate) fn file_rows(state: &DeltaTableState) -> HashMap<String, u64> {
    state
        .log_data()
        .iter()
        .map(|f| (f.path().into_owned(), f.num_records().unwrap_or(0) as u64))
        .collect()
}

/// Paths (relative to the table) of the files dataset `name`'s table holds at version
/// `from` or adds in any later commit: every file a version from `from` on can read.
pub(crate) async fn files_since(
    storage: &Storage,
    name: &str,
    from: u64,
) -> Result<std::collections::HashSet<String>> {
    let Some(table) = open_table(storage, name, Some(from)).await? else {
        return Ok(Default::default());
    };
    let mut files: std::collections::HashSet<String> =
        file_rows(table.snapshot()?).into_keys().collect();
    let store = table.log_store();
    let last = store.get_latest_version(from).await?;
    for v in from + 1..=last {
        if let Some(c) = read_commit(&store, v).await? {
            files.extend(c.added.into_iter().map(|(p, _)| p));
        }
    }
    Ok(files)
}

/// The versions whose commit entries dataset `name`'s log still holds, ascending.
pub(crate) async fn log_versions(storage: &Storage, name: &str) -> Result<Vec<u64>> {
    let log = format!("{}/_delta_log", table_prefix(name));
    let mut versions: Vec<u64> = storage
        .list_keys(&log)
        .await?
        .iter()
        .filter_map(|k| {
            let file = k.rsplit('/').next()?.strip_suffix(".json")?;
            (file.len() == 20 && file.bytes().all(|b| b.is_ascii_digit()))
                .then(|| file.parse().ok())
                .flatten()
        })
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, TimeUnit};

    #[test]
    fn source_sha_round_trips_through_the_file_name() {
        let sha = "ab".repeat(32);
        let name = data_file_name(&sha);
        assert_eq!(source_sha_of(&name).as_deref(), Some(sha.as_str()));
        assert_eq!(
            source_sha_of(&format!("datasets/x/{name}")).as_deref(),
            Some(sha.as_str())
        );
        assert_eq!(source_sha_of("part-00000-abc.snappy.parquet"), None);
        assert_eq!(source_sha_of("x.src-zz.parquet"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("plain.parquet"), "plain.parquet");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%2"), "end%2");
    }

    #[test]
    fn schemas_round_trip_and_unsupported_types_name_the_column() {
        let s = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("day", DataType::Date32, true),
            Field::new("x", DataType::Float32, true),
        ]);
        let c = canonical_schema(&s).unwrap();
        assert_eq!(c.fields().len(), 5);
        for (a, b) in s.fields().iter().zip(c.fields()) {
            assert_eq!(a.data_type(), b.data_type(), "{}", a.name());
        }
        assert!(needs_timestamp_ntz(&s));
        let bad = Schema::new(vec![Field::new(
            "t",
            DataType::Duration(TimeUnit::Second),
            true,
        )]);
        let err = canonical_schema(&bad).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("\"t\""), "{err}");
    }

    #[test]
    fn delta_operations_map_to_lakehouse_ones() {
        let op = |v: Value| operation_of(&v);
        assert_eq!(op(json!({"operation": "MERGE"})), Some(Operation::Upsert));
        assert_eq!(
            op(json!({"operation": "WRITE", "operationParameters": {"mode": "Overwrite"}})),
            Some(Operation::Replace)
        );
        assert_eq!(
            op(json!({"operation": "WRITE", OPERATION_KEY: "append"})),
            Some(Operation::Append)
        );
        assert_eq!(
            op(json!({"operation": "OPTIMIZE"})),
            Some(Operation::Optimize)
        );
        assert_eq!(
            op(json!({"operation": "VACUUM END"})),
            Some(Operation::Other)
        );
    }
}
