//! Ingest: CSV, NDJSON, Parquet, Arrow IPC or Arrow record batches → Parquet → a new
//! catalog version.
//!
//! Text (CSV, NDJSON) is read twice, streaming both times, so files larger than memory
//! work: the first pass validates it (shape, UTF-8, JSON syntax — errors name the line),
//! infers column types and hashes it; the second decodes it into Arrow batches written as
//! Snappy Parquet. Typed input (Parquet, Arrow) is read once, batch by batch: its schema is
//! known up front, so each batch is converted to the dataset's schema and written as it
//! arrives; memory stays bounded by a batch and a row group. Input that is only a byte
//! stream is first spooled to a temporary file.
//!
//! Nothing reaches the catalog until the data files are stored; the commit is one atomic
//! manifest write, and any failure leaves the catalog as it was.

mod csv;
mod infer;
mod ndjson;
mod parquet_writer;
mod typed;

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use bytes::Bytes;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::catalog::{
    Catalog, DataFile, Decision, Manifest, Operation, drift_conflict, schema_fingerprint,
    validate_name,
};
use crate::delta;
use crate::error::{Error, ErrorKind, Result};
use infer::Kind;

/// How an ingest relates to an existing dataset of the same name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
    /// content already held is a no-op. Also spelled `overwrite`.
    Replace,
    /// Update rows whose [`IngestOptions::keys`] match an input row and insert the others,
    /// as one new version (Delta's merge); the input must fit the dataset's columns, as in
    /// an append, and the dataset is created if missing. Also spelled `merge`.
    Upsert,
}

crate::choice::choices!(IngestMode, "ingest mode", {
    Create => ["create"],
    Append => ["append"],
    Replace => ["replace", "overwrite"],
    Upsert => ["upsert", "merge"],
});

/// Input format. One parser names it everywhere: by name, by file extension (`json`,
/// `jsonl`, `pq`, `arrows`, `feather`…) or by MIME type (`text/csv`,
/// `application/vnd.apache.parquet`, `application/vnd.apache.arrow.stream`…).
///
/// ```
/// use lakehouse_core::Format;
/// assert_eq!("application/vnd.apache.parquet".parse::<Format>().unwrap(), Format::Parquet);
/// assert_eq!(Format::from_path("in/rows.jsonl".as_ref()), Format::Ndjson);
/// assert_eq!(Format::Arrow.mime(), "application/vnd.apache.arrow.stream");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header row; column types are inferred.
    #[default]
    Csv,
    /// Newline-delimited JSON objects; column types are inferred.
    Ndjson,
    /// A Parquet file; its column types are kept.
    Parquet,
    /// Arrow IPC, as a stream or as a file (Feather v2); its column types are kept.
    Arrow,
}

crate::choice::choices!(Format, "format", {
    Csv => ["csv", "text/csv", "application/csv"],
    Ndjson => [
        "ndjson",
        "jsonl",
        "json",
        "application/x-ndjson",
        "application/jsonl",
        "application/json",
    ],
    Parquet => ["parquet", "pq", "application/vnd.apache.parquet", "application/x-parquet"],
    Arrow => [
        "arrow",
        "arrows",
        "ipc",
        "feather",
        "application/vnd.apache.arrow.stream",
        "application/vnd.apache.arrow.file",
    ],
});

impl Format {
    /// The format a file's extension names (`.json`, `.jsonl`, `.ndjson` → NDJSON,
    /// `.parquet`, `.pq` → Parquet, `.arrow`, `.arrows`, `.feather`, `.ipc` → Arrow); CSV
    /// for any other or no extension.
    pub fn from_path(path: &std::path::Path) -> Format {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(|e| e.parse().ok())
            .unwrap_or(Format::Csv)
    }

    /// The MIME type an HTTP body of this format carries.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Ndjson => "application/x-ndjson",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }

    /// Whether the input carries its own column types (Parquet, Arrow) rather than text
    /// whose types are inferred.
    pub fn is_typed(self) -> bool {
        matches!(self, Format::Parquet | Format::Arrow)
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
    /// Arrow record batches (an in-memory table, a DataFrame handed over through the Arrow
    /// C stream interface, any other Arrow stream): read once, batch by batch, with their
    /// column types kept; [`IngestOptions::format`] does not apply.
    Arrow(Box<dyn RecordBatchReader + Send>),
}

impl Source {
    /// Record batches from any Arrow reader.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, StringArray};
    /// use arrow::record_batch::{RecordBatch, RecordBatchIterator};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use lakehouse_core::{IngestOptions, Lakehouse, Source};
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("id", DataType::Int64, false),
    ///     Field::new("name", DataType::Utf8, true),
    /// ]));
    /// let batch = RecordBatch::try_new(schema.clone(), vec![
    ///     Arc::new(Int64Array::from(vec![1, 2])),
    ///     Arc::new(StringArray::from(vec!["Alice", "Bob"])),
    /// ]).unwrap();
    /// let reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// let report = lh.dataset("people").write(Source::arrow(reader), &IngestOptions::default()).await.unwrap();
    /// assert_eq!(report.rows, 2);
    /// # });
    /// ```
    pub fn arrow(reader: impl RecordBatchReader + Send + 'static) -> Self {
        Source::Arrow(Box::new(reader))
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Source::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Source::Reader(_) => f.write_str("Reader"),
            Source::Arrow(r) => write!(f, "Arrow({} columns)", r.schema().fields().len()),
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
/// One record batch.
impl From<RecordBatch> for Source {
    fn from(batch: RecordBatch) -> Self {
        let schema = batch.schema();
        Source::arrow(RecordBatchIterator::new([Ok(batch)], schema))
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
    /// Create, append, replace or upsert.
    pub mode: IngestMode,
    /// The key columns an [`IngestMode::Upsert`] matches rows by (required there, refused by
    /// the other modes).
    pub keys: Vec<String>,
    /// The format of a byte source (CSV, NDJSON, Parquet or Arrow IPC).
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
            keys: Vec::new(),
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

    /// Sets the key columns of an upsert.
    ///
    /// ```
    /// use lakehouse_core::{IngestMode, IngestOptions};
    /// let o = IngestOptions::mode(IngestMode::Upsert).with_keys(["id"]);
    /// assert_eq!(o.keys, ["id"]);
    /// ```
    pub fn with_keys(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.keys = keys.into_iter().map(Into::into).collect();
        self
    }
}

/// Outcome of an ingest.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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

/// What the planner needs to know of an input: the schema a new dataset would get, and
/// whether the input can be stored under an existing schema.
pub(crate) trait Shape {
    /// The schema of a dataset created from this input.
    fn schema(&self) -> SchemaRef;
    /// Whether this input can be stored under `target` (same names in order, fitting types).
    fn fits(&self, target: &Schema) -> bool;
}

/// Result of the first pass over text (CSV, NDJSON).
pub(crate) struct Inferred {
    names: Vec<String>,
    kinds: Vec<Kind>,
    rows: u64,
}

impl Shape for Inferred {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.names
                .iter()
                .zip(&self.kinds)
                .map(|(n, k)| Field::new(n, k.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }

    fn fits(&self, target: &Schema) -> bool {
        target.fields().len() == self.names.len()
            && target
                .fields()
                .iter()
                .zip(self.names.iter().zip(&self.kinds))
                .all(|(f, (n, k))| f.name() == n && k.fits(f.data_type()))
    }
}

/// Column names are non-empty and unique; the reason when they are not.
fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, n) in names.into_iter().enumerate() {
        if n.is_empty() {
            return Err(format!("column {} has an empty name", i + 1));
        }
        if !seen.insert(n) {
            return Err(format!("duplicate column name {n:?}"));
        }
    }
    Ok(())
}

fn check_header(names: &[String]) -> Result<()> {
    check_names(names.iter().map(String::as_str)).map_err(|reason| Error::malformed(1, reason))
}

/// The input, readable any number of times.
enum Spooled {
    Path(PathBuf),
    Temp(tempfile::NamedTempFile),
    Bytes(Bytes),
}

impl Spooled {
    /// Keeps a path or bytes as they are; copies a reader to a temporary file.
    fn of(source: Source) -> Result<Spooled> {
        Ok(match source {
            Source::Path(p) => Spooled::Path(p),
            Source::Bytes(b) => Spooled::Bytes(b),
            Source::Reader(mut r) => {
                let mut tmp = tempfile::NamedTempFile::new()?;
                std::io::copy(&mut r, tmp.as_file_mut())?;
                tmp.as_file_mut().flush()?;
                Spooled::Temp(tmp)
            }
            Source::Arrow(_) => return Err(Error::internal("Arrow batches are not spooled")),
        })
    }

    fn open(&self) -> Result<Box<dyn Read + Send>> {
        Ok(match self {
            Spooled::Path(_) | Spooled::Temp(_) => Box::new(self.file()?),
            Spooled::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
        })
    }

    /// The local file holding the input (an internal error for bytes in memory).
    fn file(&self) -> Result<File> {
        match self {
            Spooled::Path(p) => File::open(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot open {}: {e}", p.display())).into()
            }),
            Spooled::Temp(t) => Ok(t.reopen()?),
            Spooled::Bytes(_) => Err(Error::internal("bytes have no file")),
        }
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
    input: &dyn Shape,
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
        IngestMode::Append | IngestMode::Upsert => {
            if !input.fits(&cur_schema) {
                return Err(drift_conflict(cur, &inferred));
            }
            if mode == IngestMode::Append && holds(cur) {
                Ok(Plan::NoOp(cur.clone()))
            } else {
                Ok(Plan::Write {
                    schema: cur_schema,
                    operation: if mode == IngestMode::Append {
                        Operation::Append
                    } else {
                        Operation::Upsert
                    },
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

/// A writer that may hash what passes through.
struct HashingWrite<W> {
    inner: W,
    hasher: Option<Sha256>,
}

impl<W: Write> Write for HashingWrite<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Record batches of one schema → local Snappy Parquet files of at most
/// `max_rows_per_file` rows each; optionally the SHA-256 of the files written, in order
/// (the identity of an input that has no bytes of its own, such as Arrow batches).
struct ParquetSink<'a> {
    dir: &'a std::path::Path,
    schema: SchemaRef,
    props: WriterProperties,
    max_rows_per_file: u64,
    files: Vec<LocalFile>,
    writer: Option<parquet_writer::ParallelWriter<HashingWrite<File>>>,
    hasher: Option<Sha256>,
}

impl<'a> ParquetSink<'a> {
    fn new(
        dir: &'a std::path::Path,
        schema: SchemaRef,
        options: &IngestOptions,
        hash: bool,
    ) -> Self {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(options.row_group_size))
            .build();
        Self {
            dir,
            schema,
            props,
            max_rows_per_file: options.max_rows_per_file,
            files: Vec::new(),
            writer: None,
            hasher: hash.then(Sha256::new),
        }
    }

    fn write(&mut self, mut batch: RecordBatch) -> Result<()> {
        while batch.num_rows() > 0 {
            let writer = match &mut self.writer {
                Some(w) => w,
                None => {
                    let path = self.dir.join(format!("part-{}.parquet", self.files.len()));
                    let out = HashingWrite {
                        inner: File::create(&path)?,
                        hasher: self.hasher.as_ref().map(|_| Sha256::new()),
                    };
                    self.files.push(LocalFile { path, rows: 0 });
                    self.writer.insert(parquet_writer::ParallelWriter::try_new(
                        out,
                        self.schema.clone(),
                        &self.props,
                    )?)
                }
            };
            let current = self.files.last_mut().expect("a file is open");
            let room = (self.max_rows_per_file - current.rows) as usize;
            let take = room.min(batch.num_rows());
            writer.write(batch.slice(0, take))?;
            current.rows += take as u64;
            batch = batch.slice(take, batch.num_rows() - take);
            if current.rows >= self.max_rows_per_file {
                self.close_file()?;
            }
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            // Writes the footer, then hands the file back.
            let out = w.into_inner()?;
            if let (Some(total), Some(h)) = (&mut self.hasher, out.hasher) {
                total.update(h.finalize());
            }
        }
        Ok(())
    }

    /// Closes the last file; returns the files and, when hashing, the hex digest.
    fn finish(mut self) -> Result<(Vec<LocalFile>, Option<String>)> {
        self.close_file()?;
        let sha = self.hasher.take().map(|h| hex::encode(h.finalize()));
        Ok((self.files, sha))
    }
}

fn write_text(
    spooled: &Spooled,
    format: Format,
    schema: SchemaRef,
    options: &IngestOptions,
    dir: &std::path::Path,
) -> Result<Vec<LocalFile>> {
    let mut sink = ParquetSink::new(dir, schema.clone(), options, false);
    let mut write = |batch: RecordBatch| sink.write(batch);
    let reader = spooled.open()?;
    match format {
        Format::Csv => csv::decode(reader, schema, options.batch_size, &mut write)?,
        Format::Ndjson => ndjson::decode(reader, schema, options.batch_size, &mut write)?,
        Format::Parquet | Format::Arrow => {
            return Err(Error::internal("typed formats are not decoded as text"));
        }
    }
    Ok(sink.finish()?.0)
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
    match (options.mode, options.keys.is_empty()) {
        (IngestMode::Upsert, true) => {
            return Err(Error::invalid("an upsert needs key columns (keys)"));
        }
        (IngestMode::Upsert, false) => check_names(options.keys.iter().map(String::as_str))
            .map_err(|reason| Error::invalid(format!("upsert keys: {reason}")))?,
        (mode, false) => {
            return Err(Error::invalid(format!(
                "key columns only apply to an upsert, not to {mode}"
            )));
        }
        (_, true) => {}
    }
    let format = options.format;
    if let Source::Arrow(reader) = source {
        return ingest_typed(catalog, name, TypedSource::Batches(reader), options).await;
    }
    let spooled = tokio::task::spawn_blocking(move || Spooled::of(source)).await??;
    if format.is_typed() {
        return ingest_typed(catalog, name, TypedSource::File(spooled, format), options).await;
    }
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
            _ => ndjson::infer(&mut reader)?,
        };
        std::io::copy(&mut reader, &mut std::io::sink())?;
        Ok((inferred, hex::encode(reader.hasher.finalize())))
    })
    .await??;
    let rows = inferred.rows;
    let inferred: Arc<dyn Shape + Send + Sync> = Arc::new(inferred);

    let current = current_manifest(catalog, name)?;
    let schema = match plan(current.as_ref(), &*inferred, options.mode, &sha)? {
        Plan::NoOp(manifest) => {
            return Ok(IngestReport {
                manifest,
                rows,
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
    let local = tokio::task::spawn_blocking(move || write_text(&sp, format, sc, &opts, &dir_path))
        .await??;
    let written = Written {
        dir,
        files: local,
        schema,
        input: inferred,
        rows,
        sha,
    };
    store(catalog, name, written, options).await
}

fn current_manifest(catalog: &Catalog, name: &str) -> Result<Option<Arc<Manifest>>> {
    catalog
        .contains(name)
        .then(|| catalog.manifest(name))
        .transpose()
}

/// An input written to local Parquet files, ready to upload and commit.
struct Written {
    /// Holds the files until they are uploaded.
    dir: tempfile::TempDir,
    files: Vec<LocalFile>,
    /// The schema the files were written with.
    schema: SchemaRef,
    input: Arc<dyn Shape + Send + Sync>,
    rows: u64,
    sha: String,
}

/// Uploads the files under fresh names (visible only through a manifest) and commits them
/// as a new version, re-planning against the version current at commit time; uploads are
/// removed again on a no-op or any failure.
async fn store(
    catalog: &Catalog,
    name: &str,
    written: Written,
    options: &IngestOptions,
) -> Result<IngestReport> {
    let mode = options.mode;
    let Written {
        dir,
        files: local,
        schema,
        input,
        rows,
        sha,
    } = written;
    // Content already held: nothing to upload.
    if let Plan::NoOp(manifest) = plan(
        current_manifest(catalog, name)?.as_ref(),
        &*input,
        mode,
        &sha,
    )? {
        return Ok(IngestReport {
            manifest,
            rows,
            no_op: true,
            source_sha256: sha,
        });
    }
    // An upsert into an existing dataset merges the local files into it by key.
    if mode == IngestMode::Upsert {
        for key in &options.keys {
            if schema.field_with_name(key).is_err() {
                return Err(Error::invalid(format!(
                    "upsert key {key:?} is not a column of dataset {name:?}"
                )));
            }
        }
    }
    if mode == IngestMode::Upsert && catalog.contains(name) {
        let paths: Vec<PathBuf> = local.iter().map(|f| f.path.clone()).collect();
        let manifest = catalog.upsert(name, &paths, &schema, &options.keys).await?;
        drop(dir);
        return Ok(IngestReport {
            manifest,
            rows,
            no_op: false,
            source_sha256: sha,
        });
    }
    let storage = catalog.storage().clone();
    let mut uploaded: Vec<DataFile> = Vec::with_capacity(local.len());
    let upload_result: Result<()> = async {
        crate::phase("upload", name);
        for f in &local {
            let footer = SerializedFileReader::new(std::fs::File::open(&f.path)?)?;
            let stats = delta::file_stats(footer.metadata(), &schema);
            let key = format!(
                "{}/{}",
                delta::table_prefix(name),
                delta::data_file_name(&sha)
            );
            let bytes = storage.upload_file(&key, &f.path).await?;
            uploaded.push(DataFile {
                path: key,
                rows: f.rows,
                bytes,
                source_sha256: Some(sha.clone()),
                stats: Some(stats),
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
                .commit(name, |cur| match plan(cur, &*input, mode, &sha)? {
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
                        Ok(Decision::Commit {
                            schema: s,
                            added: new_files.clone(),
                            operation,
                        })
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
                // Never a file the kept version reads.
                let unused: Vec<DataFile> = uploaded
                    .into_iter()
                    .filter(|u| !manifest.files.iter().any(|f| f.path == u.path))
                    .collect();
                remove_files(&storage, &unused).await;
            }
            Ok(IngestReport {
                manifest,
                rows,
                no_op,
                source_sha256: sha,
            })
        }
        // The store failed: the commit may have been stored all the same (the catalog could
        // not read it back), so its files stay; `expire_versions` deletes them after
        // `ORPHAN_GRACE` if no version took them.
        Err(e) if matches!(e.kind(), ErrorKind::Storage | ErrorKind::Timeout) => Err(e),
        Err(e) => {
            remove_files(&storage, &uploaded).await;
            Err(e)
        }
    }
}

/// Ingests a typed input (Arrow batches, a Parquet file, Arrow IPC) in one pass: the target
/// schema is known before any row is read, rows are converted to it batch by batch while
/// they are written, and the written files' hash identifies the content.
async fn ingest_typed(
    catalog: &Catalog,
    name: &str,
    source: TypedSource,
    options: &IngestOptions,
) -> Result<IngestReport> {
    let current = current_manifest(catalog, name)?;
    let dir = tempfile::tempdir()?;
    let (opts, dir_path) = (options.clone(), dir.path().to_path_buf());
    let (input, schema, files, rows, sha) = tokio::task::spawn_blocking(move || {
        let reader = source.open(opts.batch_size)?;
        let input = typed::Typed::of(&reader.schema())?;
        let schema = typed::target_schema(current.as_ref(), &input, opts.mode)?;
        let mut sink = ParquetSink::new(&dir_path, schema.clone(), &opts, true);
        let mut rows = 0u64;
        for batch in reader {
            let batch =
                batch.map_err(|e| Error::invalid(format!("reading the Arrow input: {e}")))?;
            if batch.num_rows() == 0 {
                continue;
            }
            rows += batch.num_rows() as u64;
            sink.write(typed::conform(batch, &schema)?)?;
        }
        if rows == 0 {
            return Err(Error::invalid("the input has no rows"));
        }
        let (files, sha) = sink.finish()?;
        let sha = sha.ok_or_else(|| Error::internal("the sink did not hash"))?;
        Ok::<_, Error>((input, schema, files, rows, sha))
    })
    .await??;
    let written = Written {
        dir,
        files,
        schema,
        input: Arc::new(input),
        rows,
        sha,
    };
    store(catalog, name, written, options).await
}

/// A typed input before it is opened.
enum TypedSource {
    Batches(Box<dyn RecordBatchReader + Send>),
    File(Spooled, Format),
}

impl TypedSource {
    fn open(self, batch_size: usize) -> Result<Box<dyn RecordBatchReader + Send>> {
        match self {
            TypedSource::Batches(r) => Ok(r),
            TypedSource::File(spooled, Format::Parquet) => typed::parquet(&spooled, batch_size),
            TypedSource::File(spooled, _) => typed::arrow_ipc(&spooled),
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
    fn modes_and_formats_parse_one_way() {
        assert_eq!("Append".parse::<IngestMode>().unwrap(), IngestMode::Append);
        assert_eq!("merge".parse::<IngestMode>().unwrap(), IngestMode::Upsert);
        assert!("upsert-all".parse::<IngestMode>().is_err());
        crate::choice::check_names(IngestMode::NAMES, |m| m.as_str());
        crate::choice::check_names(Format::NAMES, |f| f.as_str());
        for (path, format) in [
            ("a.CSV", Format::Csv),
            ("a.tsv", Format::Csv),
            ("noext", Format::Csv),
            ("a.ndjson", Format::Ndjson),
            ("a.json", Format::Ndjson),
            ("a.pq", Format::Parquet),
            ("a.parquet", Format::Parquet),
            ("a.arrows", Format::Arrow),
            ("a.feather", Format::Arrow),
        ] {
            assert_eq!(Format::from_path(path.as_ref()), format, "{path}");
        }
        // Every format's MIME type names it.
        for (_, f) in Format::NAMES {
            assert_eq!(f.mime().parse::<Format>().unwrap(), *f);
        }
    }
}
