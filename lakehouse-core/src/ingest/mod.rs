//! Ingest: CSV or NDJSON → schema inference → Parquet → a new catalog version.
//!
//! The input is read twice, streaming both times, so files larger than memory work: the
//! first pass validates it (shape, UTF-8, JSON syntax — errors name the line), infers column
//! types and hashes it; the second decodes it into Arrow batches written as Snappy Parquet.
//! Input that is only a stream is first spooled to a temporary file.
//!
//! Nothing reaches the catalog until the data files are stored; the commit is one atomic
//! manifest write, and any failure leaves the catalog as it was.

mod csv;
mod infer;
mod ndjson;

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{
    Catalog, DataFile, Decision, Manifest, Operation, data_prefix, drift_conflict,
    schema_fingerprint, validate_name,
};
use crate::error::{Error, Result};
use infer::Kind;

/// How an ingest relates to an existing dataset of the same name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum IngestMode {
    /// Create the dataset. If it exists: identical content is a no-op, an empty registered
    /// dataset with the same schema is filled, a different schema is a
    /// [`Error::Conflict`] (schema drift), other content is a conflict too.
    #[default]
    Create,
    /// Add rows as a new version. The input must have the dataset's columns in order, with
    /// values that fit their types; the dataset is created if missing. Appending content
    /// the current version already holds is a no-op, so retries are safe.
    Append,
    /// Replace all rows (and possibly the schema) as a new version; replacing with the
    /// content already held is a no-op.
    Replace,
}

impl std::str::FromStr for IngestMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "create" => Ok(Self::Create),
            "append" => Ok(Self::Append),
            "replace" => Ok(Self::Replace),
            _ => Err(Error::invalid(format!(
                "unknown ingest mode {s:?}; expected create, append or replace"
            ))),
        }
    }
}

/// Input file format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header row.
    #[default]
    Csv,
    /// Newline-delimited JSON objects.
    Ndjson,
}

impl Format {
    /// Guesses the format from a file name (`.json`, `.jsonl`, `.ndjson` → NDJSON).
    pub fn from_path(path: &std::path::Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if matches!(e.as_str(), "json" | "jsonl" | "ndjson") => Format::Ndjson,
            _ => Format::Csv,
        }
    }
}

/// The dataset name a file is ingested as when the caller names none: its stem
/// (`workers.csv` → `workers`), still checked by the catalog's naming rules at ingest.
///
/// ```
/// use lakehouse_core::ingest::dataset_name_of;
/// assert_eq!(dataset_name_of(std::path::Path::new("/in/workers.csv")), "workers");
/// ```
pub fn dataset_name_of(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where ingest reads from.
pub enum Source {
    /// A local file, read in place.
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Bytes),
    /// Any reader; spooled to a temporary file first (it must be read twice).
    Reader(Box<dyn Read + Send>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Source::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Source::Reader(_) => f.write_str("Reader"),
        }
    }
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Self {
        Source::Path(p)
    }
}
impl From<&std::path::Path> for Source {
    fn from(p: &std::path::Path) -> Self {
        Source::Path(p.to_path_buf())
    }
}
impl From<Bytes> for Source {
    fn from(b: Bytes) -> Self {
        Source::Bytes(b)
    }
}
impl From<Vec<u8>> for Source {
    fn from(b: Vec<u8>) -> Self {
        Source::Bytes(Bytes::from(b))
    }
}
/// A `String` is the input's content (use a [`std::path::Path`] to read a file).
impl From<String> for Source {
    fn from(s: String) -> Self {
        Source::Bytes(Bytes::from(s))
    }
}
/// A `&str` is the input's content (use a [`std::path::Path`] to read a file).
impl From<&'static str> for Source {
    fn from(s: &'static str) -> Self {
        Source::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

/// Options of one ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Create, append or replace.
    pub mode: IngestMode,
    /// CSV or NDJSON.
    pub format: Format,
    /// Rows per Arrow batch while decoding (8192, as the reference system).
    pub batch_size: usize,
    /// Rows per Parquet file; larger inputs are split across files.
    pub max_rows_per_file: u64,
    /// Rows per Parquet row group.
    pub row_group_size: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            mode: IngestMode::Create,
            format: Format::Csv,
            batch_size: 8192,
            max_rows_per_file: 4 * 1024 * 1024,
            row_group_size: 128 * 1024,
        }
    }
}

impl IngestOptions {
    /// Options with the given mode and defaults otherwise.
    pub fn mode(mode: IngestMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Sets the format.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }
}

/// Outcome of an ingest.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The dataset's manifest after the ingest (the existing one for a no-op).
    pub manifest: Arc<Manifest>,
    /// Rows read from the input.
    pub rows: u64,
    /// True when the content was already there and nothing was written.
    pub no_op: bool,
    /// SHA-256 of the input.
    pub source_sha256: String,
}

/// Result of the first pass.
pub(crate) struct Inferred {
    names: Vec<String>,
    kinds: Vec<Kind>,
    rows: u64,
}

impl Inferred {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.names
                .iter()
                .zip(&self.kinds)
                .map(|(n, k)| Field::new(n, k.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Whether this input can be stored under `target` (same names in order, fitting types).
    fn fits(&self, target: &Schema) -> bool {
        target.fields().len() == self.names.len()
            && target
                .fields()
                .iter()
                .zip(self.names.iter().zip(&self.kinds))
                .all(|(f, (n, k))| f.name() == n && k.fits(f.data_type()))
    }
}

fn check_header(names: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(Error::malformed(
                1,
                format!("column {} has an empty name", i + 1),
            ));
        }
        if !seen.insert(n.as_str()) {
            return Err(Error::malformed(1, format!("duplicate column name {n:?}")));
        }
    }
    Ok(())
}

/// The input, readable any number of times.
enum Spooled {
    Path(PathBuf),
    Temp(tempfile::NamedTempFile),
    Bytes(Bytes),
}

impl Spooled {
    fn open(&self) -> Result<Box<dyn Read + Send>> {
        Ok(match self {
            Spooled::Path(p) => Box::new(File::open(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot open {}: {e}", p.display()))
            })?),
            Spooled::Temp(t) => Box::new(t.reopen()?),
            Spooled::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
        })
    }
}

/// A reader that hashes what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// What to do given the current version.
enum Plan {
    NoOp(Arc<Manifest>),
    Write {
        schema: SchemaRef,
        operation: Operation,
    },
}

fn plan(
    current: Option<&Arc<Manifest>>,
    input: &Inferred,
    mode: IngestMode,
    sha: &str,
) -> Result<Plan> {
    let inferred = input.schema();
    let Some(cur) = current else {
        return Ok(Plan::Write {
            schema: inferred,
            operation: Operation::Create,
        });
    };
    let from_input = |f: &DataFile| f.source_sha256.as_deref() == Some(sha);
    // `holds`: the input is part of the version; `is_exactly`: the version is only this input.
    let holds = |m: &Manifest| m.files.iter().any(from_input);
    let is_exactly = |m: &Manifest| !m.files.is_empty() && m.files.iter().all(from_input);
    let cur_schema = cur.schema()?;
    match mode {
        IngestMode::Create => {
            if cur.fingerprint != schema_fingerprint(&inferred) && !input.fits(&cur_schema) {
                return Err(drift_conflict(cur, &inferred));
            }
            if is_exactly(cur) {
                Ok(Plan::NoOp(cur.clone()))
            } else if cur.files.is_empty() {
                Ok(Plan::Write {
                    schema: cur_schema,
                    operation: Operation::Create,
                })
            } else {
                Err(Error::Conflict(format!(
                    "dataset {:?} already exists with other content; use append or replace",
                    cur.name
                )))
            }
        }
        IngestMode::Append => {
            if !input.fits(&cur_schema) {
                return Err(drift_conflict(cur, &inferred));
            }
            if holds(cur) {
                Ok(Plan::NoOp(cur.clone()))
            } else {
                Ok(Plan::Write {
                    schema: cur_schema,
                    operation: Operation::Append,
                })
            }
        }
        IngestMode::Replace => {
            let same_schema = input.fits(&cur_schema);
            if same_schema && is_exactly(cur) {
                Ok(Plan::NoOp(cur.clone()))
            } else {
                Ok(Plan::Write {
                    schema: if same_schema { cur_schema } else { inferred },
                    operation: Operation::Replace,
                })
            }
        }
    }
}

/// A Parquet file written locally, not yet uploaded.
struct LocalFile {
    path: PathBuf,
    rows: u64,
}

fn write_parquet(
    spooled: &Spooled,
    format: Format,
    schema: SchemaRef,
    options: &IngestOptions,
    dir: &std::path::Path,
) -> Result<Vec<LocalFile>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(options.row_group_size))
        .build();
    let mut files: Vec<LocalFile> = Vec::new();
    let mut writer: Option<ArrowWriter<File>> = None;
    let mut sink = |batch: RecordBatch| -> Result<()> {
        let mut batch = batch;
        while batch.num_rows() > 0 {
            if writer.is_none() {
                let path = dir.join(format!("part-{}.parquet", files.len()));
                writer = Some(ArrowWriter::try_new(
                    File::create(&path)?,
                    schema.clone(),
                    Some(props.clone()),
                )?);
                files.push(LocalFile { path, rows: 0 });
            }
            let current = files.last_mut().expect("a file is open");
            let room = (options.max_rows_per_file - current.rows) as usize;
            let take = room.min(batch.num_rows());
            writer
                .as_mut()
                .expect("open")
                .write(&batch.slice(0, take))?;
            current.rows += take as u64;
            batch = batch.slice(take, batch.num_rows() - take);
            if current.rows >= options.max_rows_per_file {
                writer.take().expect("open").close()?;
            }
        }
        Ok(())
    };
    let reader = spooled.open()?;
    match format {
        Format::Csv => csv::decode(reader, schema.clone(), options.batch_size, &mut sink)?,
        Format::Ndjson => ndjson::decode(reader, schema.clone(), options.batch_size, &mut sink)?,
    }
    if let Some(w) = writer.take() {
        w.close()?;
    }
    Ok(files)
}

/// Runs one ingest into `catalog`. See the module documentation.
pub async fn ingest(
    catalog: &Catalog,
    name: &str,
    source: Source,
    options: &IngestOptions,
) -> Result<IngestReport> {
    validate_name(name)?;
    if options.batch_size == 0 || options.max_rows_per_file == 0 || options.row_group_size == 0 {
        return Err(Error::invalid(
            "batch_size, max_rows_per_file and row_group_size must be > 0",
        ));
    }
    let format = options.format;
    let spooled = tokio::task::spawn_blocking(move || -> Result<Spooled> {
        Ok(match source {
            Source::Path(p) => Spooled::Path(p),
            Source::Bytes(b) => Spooled::Bytes(b),
            Source::Reader(mut r) => {
                let mut tmp = tempfile::NamedTempFile::new()?;
                std::io::copy(&mut r, tmp.as_file_mut())?;
                tmp.as_file_mut().flush()?;
                Spooled::Temp(tmp)
            }
        })
    })
    .await??;
    let spooled = Arc::new(spooled);

    // Pass 1: validate, infer, hash.
    let sp = spooled.clone();
    let (inferred, sha) = tokio::task::spawn_blocking(move || -> Result<(Inferred, String)> {
        let mut reader = Hashing {
            inner: sp.open()?,
            hasher: Sha256::new(),
        };
        let inferred = match format {
            Format::Csv => csv::infer(&mut reader)?,
            Format::Ndjson => ndjson::infer(&mut reader)?,
        };
        std::io::copy(&mut reader, &mut std::io::sink())?;
        Ok((inferred, hex::encode(reader.hasher.finalize())))
    })
    .await??;
    let inferred = Arc::new(inferred);

    let current = catalog
        .contains(name)
        .then(|| catalog.manifest(name))
        .transpose()?;
    let schema = match plan(current.as_ref(), &inferred, options.mode, &sha)? {
        Plan::NoOp(manifest) => {
            return Ok(IngestReport {
                manifest,
                rows: inferred.rows,
                no_op: true,
                source_sha256: sha,
            });
        }
        Plan::Write { schema, .. } => schema,
    };

    // Pass 2: decode into local Parquet files.
    let dir = tempfile::tempdir()?;
    let (sp, sc, opts, dir_path) = (
        spooled.clone(),
        schema.clone(),
        options.clone(),
        dir.path().to_path_buf(),
    );
    let local =
        tokio::task::spawn_blocking(move || write_parquet(&sp, format, sc, &opts, &dir_path))
            .await??;

    // Upload under fresh names; they become visible only through the manifest.
    let storage = catalog.storage().clone();
    let mut uploaded: Vec<DataFile> = Vec::with_capacity(local.len());
    let upload_result: Result<()> = async {
        for f in &local {
            let key = format!("{}/{}.parquet", data_prefix(name), uuid::Uuid::new_v4());
            let bytes = storage.upload_file(&key, &f.path).await?;
            uploaded.push(DataFile {
                path: key,
                rows: f.rows,
                bytes,
                source_sha256: Some(sha.clone()),
            });
        }
        Ok(())
    }
    .await;
    drop(dir);

    let committed = match upload_result {
        Ok(()) => {
            let new_files = uploaded.clone();
            let mut no_op = false;
            let r = catalog
                .commit(name, |cur| {
                    match plan(cur, &inferred, options.mode, &sha)? {
                        Plan::NoOp(m) => {
                            no_op = true;
                            Ok(Decision::Keep(m))
                        }
                        Plan::Write {
                            schema: s,
                            operation,
                        } => {
                            if s.fields() != schema.fields() {
                                return Err(Error::Conflict(format!(
                                    "dataset {name:?} changed schema during the ingest; retry"
                                )));
                            }
                            let mut files = match (operation, cur) {
                                (Operation::Append, Some(c)) => c.files.clone(),
                                _ => Vec::new(),
                            };
                            files.extend(new_files.iter().cloned());
                            Ok(Decision::Commit {
                                schema: s,
                                files,
                                operation,
                            })
                        }
                    }
                })
                .await;
            r.map(|m| (m, no_op))
        }
        Err(e) => Err(e),
    };
    match committed {
        Ok((manifest, no_op)) => {
            if no_op {
                remove_files(&storage, &uploaded).await;
            }
            Ok(IngestReport {
                manifest,
                rows: inferred.rows,
                no_op,
                source_sha256: sha,
            })
        }
        Err(e) => {
            remove_files(&storage, &uploaded).await;
            Err(e)
        }
    }
}

async fn remove_files(storage: &crate::storage::Storage, files: &[DataFile]) {
    for f in files {
        if let Err(e) = storage.delete_internal(&f.path).await {
            tracing::warn!(path = %f.path, error = %e, "could not remove an unused data file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer_csv(text: &str) -> Result<Inferred> {
        csv::infer(text.as_bytes())
    }

    #[test]
    fn csv_inference_and_errors() {
        let i = infer_csv("id,name,score,zip\n1,Alice,3.5,02134\n2,Bob,4,10001\n").unwrap();
        let s = i.schema();
        let types: Vec<String> = s
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types, ["Int64", "Utf8", "Float64", "Utf8"]);
        assert_eq!(i.rows, 2);

        let mixed = infer_csv("a\n1\nx\n").unwrap();
        assert_eq!(mixed.schema().field(0).data_type().to_string(), "Utf8");

        let cases: [(&[u8], u64, &str); 6] = [
            (b"", 1, "empty"),
            (b"a,b\n", 1, "no data rows"),
            (b"a,b\n1,2\n3\n", 3, "expected 2 fields, found 1"),
            (b"a,b\n1,2\n3,\xff\n", 3, "UTF-8"),
            (b"a,a\n1,2\n", 1, "duplicate"),
            (b"a,,c\n1,2,3\n", 1, "empty name"),
        ];
        for (input, line, needle) in cases {
            match csv::infer(input) {
                Err(Error::Malformed { line: l, reason }) => {
                    assert_eq!(l, line, "{reason}");
                    assert!(reason.contains(needle), "{reason} lacks {needle}");
                }
                other => panic!(
                    "{input:?}: expected Malformed, got {:?}",
                    other.map(|i| i.rows)
                ),
            }
        }
    }

    #[test]
    fn ndjson_inference_and_errors() {
        let i = ndjson::infer(&b"{\"id\":1,\"tags\":[\"a\"]}\n\n{\"id\":2.5,\"name\":\"x\"}\n"[..])
            .unwrap();
        assert_eq!(i.names, ["id", "tags", "name"]);
        let s = i.schema();
        assert_eq!(s.field(0).data_type().to_string(), "Float64");
        assert_eq!(s.field(1).data_type().to_string(), "Utf8");
        for (input, line) in [
            (&b"{\"a\":1}\n{bad\n"[..], 2),
            (&b"[1,2]\n"[..], 1),
            (&b"{\"a\":\"\xff\"}\n"[..], 1),
            (&b"\n\n"[..], 1),
        ] {
            match ndjson::infer(input) {
                Err(Error::Malformed { line: l, .. }) => assert_eq!(l, line),
                other => panic!("expected Malformed, got {:?}", other.map(|i| i.rows)),
            }
        }
    }

    #[test]
    fn modes_parse() {
        assert_eq!("Append".parse::<IngestMode>().unwrap(), IngestMode::Append);
        assert!("upsert".parse::<IngestMode>().is_err());
    }
}
