//! # lakehouse-core
//!
//! An embeddable lakehouse: datasets as Delta Lake tables on object storage (a local folder
//! or S3) that Spark, Trino, DuckDB and Polars read where they lie; ingest of CSV, NDJSON,
//! Parquet, Arrow IPC and Arrow record batches; SQL through Apache DataFusion — in one
//! process, with nothing else to install or run.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lakehouse_core::{IngestMode, IngestOptions, Lakehouse};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
//!
//! lh.ingest("workers", "id,name,city\n1,Alice,Chicago\n", &IngestOptions::default()).await.unwrap();
//! lh.ingest("workers", "id,name,city\n2,Bob,Denver\n", &IngestOptions::mode(IngestMode::Append))
//!     .await
//!     .unwrap();
//!
//! let now = lh.sql("SELECT count(*) AS n FROM workers").await.unwrap().to_json().unwrap();
//! let then = lh.sql(r#"SELECT count(*) AS n FROM "workers@0""#).await.unwrap().to_json().unwrap();
//! assert_eq!((now.rows[0][0].as_i64(), then.rows[0][0].as_i64()), (Some(2), Some(1)));
//! assert_eq!(lh.versions("workers").await.unwrap().len(), 2);
//! # });
//! ```
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
mod delta;
pub mod embed;
pub mod error;
#[cfg(test)]
mod flaky_store;
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

pub use catalog::{Catalog, DeleteReport, Manifest, VersionInfo};
pub use embed::{EmbedRequest, Embedder, EmbedderOptions, Embeddings, Purpose};
pub use error::{Error, ErrorKind, Result};
pub use ingest::{Format, IngestMode, IngestOptions, IngestReport, Source};
pub use lakehouse::{Lakehouse, Options};
pub use matrix::{MatrixHit, MatrixRequest, MatrixResult};
pub use migrate::{MigrateOptions, MigrateReport};
pub use playbook::PlaybookEntry;
pub use query::{JsonResult, QueryEngine, QueryOptions, QueryResult};
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
    Hit, IndexQuery, IndexSpec, MetadataFilter, Metric, Quantization, RecordInput, SearchRequest,
    VectorIndex, VectorIndexes, VectorRecord,
};
