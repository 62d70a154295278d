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

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::lakehouse::Lakehouse;
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
    /// Rows read.
    pub rows: u64,
    /// Rows embedded and added in this run.
    pub embedded: u64,
    /// Rows whose id the index already held (a resumed run).
    pub skipped_existing: u64,
    /// Rows with a null or blank text or id.
    pub skipped_empty: u64,
    /// Rows whose id appeared earlier in the dataset (the first one wins).
    pub skipped_duplicate: u64,
    /// The index afterwards.
    pub index: IndexInfo,
    /// Wall time of the run.
    #[serde(with = "duration_secs")]
    pub elapsed: Duration,
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

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Lakehouse {
    /// Embeds `request.text` of every row of `request.dataset` into the vector index
    /// `request.index`, ids from `request.id_column`. Each batch is durable once added, so an
    /// interrupted run loses at most the batch in flight, and running the same request again
    /// resumes: ids already in the index are skipped.
    pub async fn embed_dataset(
        &self,
        request: &EmbedDataset,
        progress: &(dyn Fn(&EmbedProgress) + Send + Sync),
    ) -> Result<EmbedReport> {
        let started = Instant::now();
        if request.batch_size == 0 {
            return Err(Error::invalid("batch_size must be at least 1"));
        }
        self.manifest(&request.dataset)?;
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
                embedder.model_name(),
                embedder.dimension()
            )));
        }

        let mut select = vec![
            format!("CAST({} AS VARCHAR)", quote_ident(&request.id_column)),
            format!("CAST(({}) AS VARCHAR)", request.text),
        ];
        select.extend(request.metadata_columns.iter().map(|c| quote_ident(c)));
        let sql = format!(
            "SELECT {} FROM {}",
            select.join(", "),
            quote_ident(&request.dataset)
        );
        let rows = self.sql(&sql).await?.to_json()?.rows;
        let total = rows.len() as u64;

        let mut report = EmbedReport {
            rows: total,
            embedded: 0,
            skipped_existing: 0,
            skipped_empty: 0,
            skipped_duplicate: 0,
            index: index.info(),
            elapsed: Duration::ZERO,
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut done = 0u64;
        for chunk in rows.chunks(request.batch_size) {
            let mut todo: Vec<(String, String, Value)> = Vec::with_capacity(chunk.len());
            for row in chunk {
                let (Some(id), Some(text)) = (as_text(&row[0]), as_text(&row[1])) else {
                    report.skipped_empty += 1;
                    continue;
                };
                if id.is_empty() || text.trim().is_empty() {
                    report.skipped_empty += 1;
                    continue;
                }
                if !seen.insert(id.clone()) {
                    report.skipped_duplicate += 1;
                    continue;
                }
                let meta: Map<String, Value> = request
                    .metadata_columns
                    .iter()
                    .zip(&row[2..])
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                todo.push((id, text, Value::Object(meta)));
            }
            let present = index.contains_ids(&todo.iter().map(|t| &t.0).collect::<Vec<_>>());
            let before = todo.len();
            let todo: Vec<_> = todo
                .into_iter()
                .zip(present)
                .filter_map(|(t, p)| (!p).then_some(t))
                .collect();
            report.skipped_existing += (before - todo.len()) as u64;
            if !todo.is_empty() {
                let texts: Vec<String> = todo.iter().map(|t| t.1.clone()).collect();
                let e = embedder.clone();
                let vectors = tokio::task::spawn_blocking(move || {
                    e.embed_with(&texts, crate::embed::Purpose::Document)
                })
                .await??;
                let records: Vec<VectorRecord> = todo
                    .into_iter()
                    .zip(vectors)
                    .map(|((id, _, meta), v)| VectorRecord::new(id, v).with_metadata(meta))
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
        report.index = index.info();
        report.elapsed = started.elapsed();
        Ok(report)
    }
}
