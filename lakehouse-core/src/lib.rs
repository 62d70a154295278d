//! # lakehouse-core
//!
//! An embeddable lakehouse: datasets as Delta Lake tables on object storage (a local folder
//! or S3) that Spark, Trino, DuckDB and Polars read where they lie; ingest of CSV, NDJSON,
//! Parquet, Arrow IPC and Arrow record batches; SQL through Apache DataFusion — in one
//! process, with nothing else to install or run.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lakehouse_core::{IndexQuery, IndexSpec, IngestMode, IngestOptions, Lakehouse, RecordInput};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
//!
//! // A dataset handle: writes make versions; SQL sees every dataset as a table.
//! let workers = lh.dataset("workers");
//! workers.write("id,name,city\n1,Alice,Chicago\n", &IngestOptions::default()).await.unwrap();
//! workers
//!     .write("id,name,city\n2,Bob,Denver\n", &IngestOptions::mode(IngestMode::Append))
//!     .await
//!     .unwrap();
//! let now = lh.sql("SELECT count(*) AS n FROM workers").await.unwrap().to_json().unwrap();
//! let then = lh.sql(r#"SELECT count(*) AS n FROM "workers@0""#).await.unwrap().to_json().unwrap();
//! assert_eq!((now.rows[0][0].as_i64(), then.rows[0][0].as_i64()), (Some(2), Some(1)));
//! assert_eq!(workers.versions().await.unwrap().len(), 2);
//!
//! // An index handle: add and search by vector, or by text (embedded by the lakehouse's model).
//! let cities = lh.create_index(IndexSpec::new("cities", 2)).await.unwrap();
//! cities.add(vec![RecordInput::vector("chicago", vec![41.9, -87.6])]).await.unwrap();
//! let hits = cities.search(IndexQuery::vector(vec![42.0, -87.0], 1)).await.unwrap();
//! assert_eq!(hits[0].id, "chicago");
//! # });
//! ```
//!
//! Entry points: [`Lakehouse::open`] or [`Lakehouse::builder`] (settings, any
//! `object_store`, any [`EmbeddingModel`]), then [`Lakehouse::dataset`] → [`Dataset`] and
//! [`Lakehouse::index`] → [`Index`]: the one way to work with a dataset or a vector index.
//!
//! Modules, one concept each: [`storage`] (keys, size caps, object I/O), [`catalog`]
//! (datasets as Delta tables, versions, atomic commits), [`ingest`] (CSV, NDJSON, Parquet, Arrow to Parquet), [`query`]
//! (read-only SQL), [`vector`] (HNSW vector indexes), [`embed`] (local text embeddings),
//! [`matrix`] (search across corpora), [`playbook`] (remembered answers),
//! [`sql_functions`] (`vector_search` and `embed` in SQL), [`simd`] (vector or portable
//! kernels), [`error`] (the one error type).

#![warn(missing_docs)]

pub mod catalog;
mod choice;
mod dataset;
mod delta;
pub mod embed;
pub mod error;
#[cfg(test)]
mod flaky_store;
mod index;
pub mod indexer;
pub mod ingest;
mod lakehouse;
pub mod matrix;
pub mod migrate;
pub mod playbook;
pub mod query;
pub mod sample;
pub mod simd;
pub mod sql_functions;
pub mod storage;
pub mod vector;

pub use catalog::{Catalog, DeleteReport, ExpireReport, Manifest, OptimizeReport, VersionInfo};
pub use dataset::Dataset;
pub use embed::{EmbedRequest, Embedder, EmbedderOptions, EmbeddingModel, Embeddings, Purpose};
pub use error::{Error, ErrorKind, Remedy, Result};
pub use index::{Index, MAX_PAGE, RecordsPage};
pub use ingest::{Format, IngestMode, IngestOptions, IngestReport, Source};
pub use lakehouse::{Lakehouse, LakehouseBuilder, Options};
pub use matrix::{MatrixHit, MatrixRequest, MatrixResult};
pub use migrate::{MigrateOptions, MigrateReport};
pub use playbook::PlaybookEntry;
pub use query::{JsonResult, QueryEngine, QueryOptions, QueryResult, QueryStream};
pub use storage::Storage;
/// Marks the start of a durability phase — `upload` (data files), `commit` (a Delta log
/// entry), `log` (a vector log entry), `snapshot`, `replay` (reading a vector log at open) —
/// as a trace event on target `lakehouse::phase`. Free unless a subscriber enables that
/// target: the crash tests record the last phase before each kill, to report where kills
/// landed.
pub(crate) fn phase(phase: &'static str, name: &str) {
    tracing::trace!(target: "lakehouse::phase", phase, object = name);
}

pub use vector::{
    Hit, IndexInfo, IndexKind, IndexQuery, IndexSpec, MetadataFilter, Metric, Quantization,
    RecordInput, SearchPath, SearchRequest, VectorIndex, VectorIndexes, VectorRecord,
};
