//! Bulk indexing: embed a dataset's text into a vector index, in batches, with progress, and
//! resumable — a rerun after an interruption skips the ids the index already holds.
//!
//! ```no_run
//! # async fn run(lh: lakehouse_core::Lakehouse) -> lakehouse_core::Result<()> {
//! use lakehouse_core::indexer::EmbedDataset;
//! let request = EmbedDataset::new("workers", "id", "concat(role, ' in ', city, ', ', state)", "workers")
//!     .with_metadata(["name", "state", "role"]);
//! let report = lh.embed_dataset(&request, &|p| eprintln!("{}/{}", p.done, p.total)).await?;
//! println!("{} embedded, {} already there", report.embedded, report.skipped_existing);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::DataFile;
use crate::error::{Error, Result};
use crate::lakehouse::Lakehouse;
use crate::query::quote_ident;
use crate::vector::{IndexInfo, IndexSpec, VectorRecord};

/// What [`Lakehouse::embed_dataset`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedDataset {
    /// Dataset to read (its latest version).
    pub dataset: String,
    /// Column whose values become vector ids.
    pub id_column: String,
    /// The text to embed: a column name, or any SQL expression over the dataset's columns
    /// (`concat(role, ' in ', city)`). Rows whose text is null or blank are skipped.
    pub text: String,
    /// Vector index to fill; created (cosine, the model's dimension) when missing.
    pub index: String,
    /// Columns copied into each vector's metadata.
    #[serde(default)]
    pub metadata_columns: Vec<String>,
    /// Rows per embedding batch and index write (256 by default).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

fn default_batch() -> usize {
    256
}

impl EmbedDataset {
    /// A request with no metadata columns and the default batch size.
    pub fn new(
        dataset: impl Into<String>,
        id_column: impl Into<String>,
        text: impl Into<String>,
        index: impl Into<String>,
    ) -> Self {
        Self {
            dataset: dataset.into(),
            id_column: id_column.into(),
            text: text.into(),
            index: index.into(),
            metadata_columns: Vec::new(),
            batch_size: default_batch(),
        }
    }

    /// Copies these columns into each vector's metadata.
    pub fn with_metadata<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.metadata_columns = columns.into_iter().map(Into::into).collect();
        self
    }
}

/// Where a bulk indexing run stands; passed to the progress callback after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedProgress {
    /// Rows handled so far (embedded or skipped).
    pub done: u64,
    /// Rows in the dataset.
    pub total: u64,
    /// Rows embedded so far in this run.
    pub embedded: u64,
}

/// The outcome of [`Lakehouse::embed_dataset`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedReport {
    /// Rows read: the dataset's, or in an incremental run those of the files the versions
    /// since the last run added.
    pub rows: u64,
    /// Rows embedded and added (or replaced) in this run.
    pub embedded: u64,
    /// Rows whose id the index already held (a resumed first run).
    pub skipped_existing: u64,
    /// Rows with a null or blank text or id.
    pub skipped_empty: u64,
    /// Rows whose id appeared earlier in what was read (the first one wins).
    pub skipped_duplicate: u64,
    /// Rows a later version rewrote with the same text and metadata: not embedded again.
    #[serde(default)]
    pub unchanged: u64,
    /// Ids removed from the index: rows deleted from the dataset, or whose text is now blank.
    #[serde(default)]
    pub removed: u64,
    /// The dataset version the index reflects now.
    #[serde(default)]
    pub dataset_version: u64,
    /// The version the index reflected before, when this run embedded only what changed
    /// since it; `None` for a full run.
    #[serde(default)]
    pub incremental_from: Option<u64>,
    /// The index afterwards.
    pub index: IndexInfo,
    /// Wall time of the run.
    #[serde(with = "duration_secs")]
    pub elapsed: Duration,
}

impl EmbedReport {
    fn note(&mut self, skipped: Skipped) {
        self.skipped_empty += skipped.empty;
        self.skipped_duplicate += skipped.duplicate;
    }
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(d)?))
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Where the vectors of an index filled by [`Lakehouse::embed_dataset`] come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SyncSource {
    dataset: String,
    id_column: String,
    text: String,
    metadata_columns: Vec<String>,
}

/// What such an index reflects, stored with it: its source and the dataset version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SyncState {
    #[serde(flatten)]
    source: SyncSource,
    version: u64,
}

impl SyncState {
    fn of(request: &EmbedDataset, version: u64) -> Self {
        Self {
            source: SyncSource {
                dataset: request.dataset.clone(),
                id_column: request.id_column.clone(),
                text: request.text.clone(),
                metadata_columns: request.metadata_columns.clone(),
            },
            version,
        }
    }
}

/// One row to embed.
#[derive(Debug, PartialEq)]
struct Row {
    id: String,
    text: String,
    metadata: Value,
}

/// Rows [`to_embed`] left out.
#[derive(Debug, Default)]
struct Skipped {
    empty: u64,
    duplicate: u64,
}

/// The rows worth embedding among `rows` (id, text, metadata columns…): those with an id and
/// a text, the first of each id.
fn to_embed(rows: Vec<Vec<Value>>, metadata_columns: &[String]) -> (Vec<Row>, Skipped) {
    let mut skipped = Skipped::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (Some(id), Some(text)) = (as_text(&row[0]), as_text(&row[1])) else {
            skipped.empty += 1;
            continue;
        };
        if id.is_empty() || text.trim().is_empty() {
            skipped.empty += 1;
            continue;
        }
        if !seen.insert(id.clone()) {
            skipped.duplicate += 1;
            continue;
        }
        let metadata: Map<String, Value> = metadata_columns
            .iter()
            .cloned()
            .zip(row.into_iter().skip(2))
            .collect();
        out.push(Row {
            id,
            text,
            metadata: Value::Object(metadata),
        });
    }
    (out, skipped)
}

/// How the files of two versions differ: only the old one's, only the new one's, and shared.
struct FileDiff {
    removed: Vec<DataFile>,
    added: Vec<DataFile>,
    kept: Vec<DataFile>,
}

impl FileDiff {
    fn between(old: &[DataFile], new: &[DataFile]) -> Self {
        let old_paths: HashSet<&str> = old.iter().map(|f| f.path.as_str()).collect();
        let new_paths: HashSet<&str> = new.iter().map(|f| f.path.as_str()).collect();
        let (kept, added) = new
            .iter()
            .cloned()
            .partition(|f| old_paths.contains(f.path.as_str()));
        let removed = old
            .iter()
            .filter(|f| !new_paths.contains(f.path.as_str()))
            .cloned()
            .collect();
        Self {
            removed,
            added,
            kept,
        }
    }
}

impl Lakehouse {
    /// `exprs` over the rows of `files` of version `manifest`, as JSON values.
    async fn rows_of(
        &self,
        manifest: &crate::catalog::Manifest,
        files: Vec<DataFile>,
        exprs: &[String],
    ) -> Result<Vec<Vec<Value>>> {
        Ok(self
            .select_from_files(manifest, files, exprs)
            .await?
            .to_json()?
            .rows)
    }

    /// Embeds `request.text` of the rows of `request.dataset` into the vector index
    /// `request.index`, ids from `request.id_column`, and keeps it in sync: the index
    /// remembers the dataset version it reflects, and a later run embeds only the rows that
    /// versions since then added or changed (from the Delta version diff), removes the ids
    /// they deleted, and skips rows rewritten unchanged. Each batch is durable once added, so
    /// an interrupted run loses at most the batch in flight; running it again resumes.
    ///
    /// An index synced from one dataset, id column, text and metadata columns refuses
    /// another (`Conflict`). Ids should be unique in the dataset: when one is not, which of
    /// its rows the vector comes from is unspecified.
    pub async fn embed_dataset(
        &self,
        request: &EmbedDataset,
        progress: &(dyn Fn(&EmbedProgress) + Send + Sync),
    ) -> Result<EmbedReport> {
        let started = Instant::now();
        if request.batch_size == 0 {
            return Err(Error::invalid("batch_size must be at least 1"));
        }
        let manifest = self.catalog().manifest(&request.dataset)?;
        let embedder = self.embedder().await?;
        let index = match self.vectors().get(&request.index).await {
            Ok(ix) => ix,
            Err(Error::NotFound { .. }) => {
                self.vectors()
                    .create(IndexSpec::new(&request.index, embedder.dimension()))
                    .await?
            }
            Err(e) => return Err(e),
        };
        if index.spec().dimensions != embedder.dimension() {
            return Err(Error::Conflict(format!(
                "vector index {:?} has {} dimensions; the model {:?} makes {}",
                request.index,
                index.spec().dimensions,
                embedder.name(),
                embedder.dimension()
            )));
        }
        let target = SyncState::of(request, manifest.version);
        let previous: Option<SyncState> = index.read_sync_state().await?;
        if let Some(p) = &previous
            && p.source != target.source
        {
            return Err(Error::Conflict(format!(
                "vector index {:?} is kept in sync with dataset {:?} (id {:?}, text {:?}, \
                 metadata {:?}); fill another index, or delete this one first",
                request.index,
                p.source.dataset,
                p.source.id_column,
                p.source.text,
                p.source.metadata_columns
            )));
        }
        // The version the index reflects, while the dataset still has it.
        let base = match previous.as_ref().map(|p| p.version) {
            Some(v) if v <= manifest.version => {
                match self.catalog().manifest_at(&request.dataset, v).await {
                    Ok(m) => Some(m),
                    Err(Error::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };

        let mut select = vec![
            format!("CAST({} AS VARCHAR)", quote_ident(&request.id_column)),
            format!("CAST(({}) AS VARCHAR)", request.text),
        ];
        select.extend(request.metadata_columns.iter().map(|c| quote_ident(c)));
        let mut report = EmbedReport {
            rows: 0,
            embedded: 0,
            skipped_existing: 0,
            skipped_empty: 0,
            skipped_duplicate: 0,
            unchanged: 0,
            removed: 0,
            dataset_version: manifest.version,
            incremental_from: base.as_ref().map(|b| b.version),
            index: index.info(),
            elapsed: Duration::ZERO,
        };
        let (rows, gone, skip_existing) = match &base {
            Some(base) => {
                // Only the files that differ between the two versions hold changed rows.
                let diff = FileDiff::between(&base.files, &manifest.files);
                let old = self.rows_of(base, diff.removed, &select).await?;
                let new = self.rows_of(&manifest, diff.added, &select).await?;
                report.rows = new.len() as u64;
                let old: HashMap<String, Row> = to_embed(old, &request.metadata_columns)
                    .0
                    .into_iter()
                    .map(|r| (r.id.clone(), r))
                    .collect();
                let (mut rows, skipped) = to_embed(new, &request.metadata_columns);
                report.note(skipped);
                let mut gone: HashSet<String> = old.keys().cloned().collect();
                for r in &rows {
                    gone.remove(&r.id);
                }
                let changed_or_new = rows.len();
                rows.retain(|r| old.get(&r.id) != Some(r));
                report.unchanged = (changed_or_new - rows.len()) as u64;
                if !gone.is_empty() {
                    // An id may live on in a file both versions share.
                    for row in self.rows_of(&manifest, diff.kept, &select[..1]).await? {
                        if let Some(id) = as_text(&row[0]) {
                            gone.remove(&id);
                        }
                    }
                }
                (rows, gone, false)
            }
            None => {
                let all = self
                    .rows_of(&manifest, manifest.files.clone(), &select)
                    .await?;
                report.rows = all.len() as u64;
                let (rows, skipped) = to_embed(all, &request.metadata_columns);
                report.note(skipped);
                if previous.is_some() {
                    // The version the index reflected has expired: embed everything again
                    // and drop the ids the dataset no longer holds.
                    let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                    let gone = index
                        .ids()
                        .into_iter()
                        .filter(|id| !ids.contains(id.as_str()))
                        .collect();
                    (rows, gone, false)
                } else {
                    // A first run, or one resuming it: ids already there are done.
                    (rows, HashSet::new(), true)
                }
            }
        };

        let mut gone: Vec<String> = gone.into_iter().collect();
        gone.sort_unstable();
        for chunk in gone.chunks(1024) {
            report.removed += index.remove(chunk.to_vec()).await? as u64;
        }
        let total = rows.len() as u64;
        let mut done = 0u64;
        for chunk in rows.chunks(request.batch_size) {
            let mut todo: Vec<&Row> = chunk.iter().collect();
            if skip_existing {
                let present = index.contains_ids(&todo.iter().map(|r| &r.id).collect::<Vec<_>>());
                let before = todo.len();
                todo = todo
                    .into_iter()
                    .zip(present)
                    .filter_map(|(r, p)| (!p).then_some(r))
                    .collect();
                report.skipped_existing += (before - todo.len()) as u64;
            }
            if !todo.is_empty() {
                let texts: Vec<String> = todo.iter().map(|r| r.text.clone()).collect();
                let vectors = self
                    .shared_embedder()
                    .embed(texts, crate::embed::Purpose::Document)
                    .await?;
                let records: Vec<VectorRecord> = todo
                    .into_iter()
                    .zip(vectors)
                    .map(|(r, v)| {
                        VectorRecord::new(r.id.clone(), v).with_metadata(r.metadata.clone())
                    })
                    .collect();
                report.embedded += records.len() as u64;
                index.add(records).await?;
            }
            done += chunk.len() as u64;
            progress(&EmbedProgress {
                done,
                total,
                embedded: report.embedded,
            });
        }
        index.flush().await?;
        // Only now does the index reflect this version; a crash before leaves the old state,
        // and the next run repeats this one's work (adds replace, removes are idempotent).
        index.write_sync_state(&target).await?;
        report.index = index.info();
        report.elapsed = started.elapsed();
        Ok(report)
    }
}
