//! The JSON bodies the server reads and answers that core has no type for: listings in
//! pages, the small acknowledgements of writes, health, the error body. Handlers build their
//! answers from these types and core's, and the OpenAPI document ([`super::openapi`]) is
//! generated from the same types, so the document says what the handlers send.

use std::sync::Arc;

use lakehouse_core::embed::CacheStats;
use lakehouse_core::playbook::{BulkOutcome, PlaybookEntry};
use lakehouse_core::storage::ObjectInfo;
use lakehouse_core::{Hit, Manifest, MetadataFilter, RecordInput, VectorRecord, VersionInfo};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::MAX_LIMIT;

/// `GET /v1/health`: the server is up.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Where the lakehouse is stored.
    pub root: String,
    /// Datasets in the catalog.
    pub datasets: usize,
}

/// Whether the server takes traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Serving.
    Ready,
    /// Shutting down: finishing the requests in flight.
    Draining,
    /// The storage does not answer.
    Unavailable,
}

/// `GET /v1/readyz`: 200 when ready, else 503 with the reason.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// Ready, draining or unavailable.
    pub status: ReadyStatus,
    /// Why the server is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `?prefix=&limit=&cursor=` of `GET /v1/storage`: a [`super::page::PageQuery`] with a
/// prefix. (Not a flattened one: flattened fields reach serde as strings, and a number would
/// not parse.)
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ObjectsQuery {
    /// Only keys that start with this.
    pub prefix: Option<String>,
    /// Items in the page (1000 by default, at most 10000).
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<usize>,
    /// Where the page starts: the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of stored objects, in key order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ObjectsPage {
    /// The objects.
    pub objects: Vec<ObjectInfo>,
    /// The cursor of the next page; absent (null) on the last.
    pub next_cursor: Option<String>,
}

/// `PUT /v1/storage/{key}`: what was written.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StoredObject {
    /// The object's key.
    pub key: String,
    /// Bytes written.
    pub size: usize,
}

/// A page of datasets (their latest manifests), in name order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DatasetsPage {
    /// The datasets.
    pub datasets: Vec<Arc<Manifest>>,
    /// The cursor of the next page; absent (null) on the last.
    pub next_cursor: Option<String>,
}

/// A dataset's versions, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Versions {
    /// One line per version.
    pub versions: Vec<VersionInfo>,
}

/// `?mode=&format=&keys=` of an ingest (also accepted as multipart form parts).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct IngestQuery {
    /// `create` (the default), `append`, `replace` or `upsert`.
    pub mode: Option<String>,
    /// `csv`, `ndjson`, `parquet` or `arrow`; else named by the Content-Type, else CSV.
    pub format: Option<String>,
    /// The key columns of an upsert, comma-separated.
    pub keys: Option<String>,
}

/// `POST /v1/datasets/{name}/delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(example = delete_example())]
pub struct DeleteRequest {
    /// The rows to delete, as a SQL condition.
    pub r#where: String,
}

fn delete_example() -> serde_json::Value {
    serde_json::json!({"where": "status = 'inactive'"})
}

/// `POST /v1/sql`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(example = sql_example())]
pub struct SqlRequest {
    /// One read-only statement (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE); datasets are its
    /// tables.
    pub sql: String,
}

fn sql_example() -> serde_json::Value {
    serde_json::json!({"sql": "SELECT city, count(*) AS n FROM workers GROUP BY city ORDER BY n DESC"})
}

/// `GET /v1/embed/stats`: the embedding cache's counters and the model's name.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmbedStats {
    /// The counters.
    #[serde(flatten)]
    pub stats: CacheStats,
    /// The model's name.
    pub model: String,
}

/// A page of vector index names, in name order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IndexesPage {
    /// The names.
    pub indexes: Vec<String>,
    /// The cursor of the next page; absent (null) on the last.
    pub next_cursor: Option<String>,
}

/// `POST /v1/indexes/{name}/add`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(example = add_example())]
pub struct AddRequest {
    /// The records, each with a `vector` or a `text`; a record whose id is stored replaces
    /// it.
    pub records: Vec<RecordInput>,
}

fn add_example() -> serde_json::Value {
    serde_json::json!({"records": [
        {"id": "w-1", "vector": [0.1, 0.2, 0.3], "metadata": {"city": "Chicago"}},
        {"id": "w-2", "text": "forklift operator, night shifts", "metadata": {"city": "Gary"}}
    ]})
}

/// What an add did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Added {
    /// Records added or replaced.
    pub added: usize,
    /// Records in the index now.
    pub count: usize,
}

/// `POST /v1/indexes/{name}/remove`: `ids` or `filter`, not both.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RemoveRequest {
    /// The ids to remove.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Remove every record whose metadata passes.
    #[serde(default)]
    pub filter: Option<MetadataFilter>,
}

/// What a remove did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Removed {
    /// Records removed.
    pub removed: usize,
    /// Records in the index now.
    pub count: usize,
}

/// The hits of a search, nearest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchAnswer {
    /// The hits.
    pub hits: Vec<Hit>,
}

/// A page of an index's records, in the order stored.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IndexRecordsPage {
    /// The records, with their vectors and metadata.
    pub records: Vec<VectorRecord>,
    /// The cursor of the next page; absent (null) on the last.
    pub next_cursor: Option<String>,
}

/// `POST /v1/playbook/record`: the id of the entry recorded.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlaybookRecorded {
    /// The entry's id.
    pub playbook_id: String,
}

/// `POST /v1/playbook/record/bulk`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BulkRecord {
    /// The entries, each recorded or refused on its own.
    pub entries: Vec<PlaybookEntry>,
}

/// One outcome per entry of a bulk record, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BulkRecorded {
    /// The outcomes.
    pub results: Vec<BulkOutcome>,
}

/// Every error's body.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error of an [`ErrorBody`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorDetail {
    /// The kind, one word for programs: `invalid_input`, `not_found`, `conflict`,
    /// `too_large`, `validation`, `busy`, `timeout`, `storage`, `internal`, `unauthorized`,
    /// `forbidden`, `unsupported_media_type`.
    pub kind: String,
    /// A readable message.
    pub message: String,
    /// The request's id (its `x-request-id`), to find it in the server's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Examples of the core requests the document shows (core's types carry none).
pub(crate) mod examples {
    use serde_json::{Value, json};

    /// `POST /v1/indexes`.
    pub fn index_spec() -> Value {
        json!({"name": "workers", "dimensions": 384, "metric": "cosine"})
    }

    /// `POST /v1/indexes/{name}/search`.
    pub fn index_query() -> Value {
        json!({"text": "forklift operator near Chicago", "k": 5, "filter": {"city": ["Chicago", "Gary"]}})
    }

    /// `POST /v1/matrix/search`.
    pub fn matrix_request() -> Value {
        json!({"query_text": "bilingual warehouse lead", "corpora": ["workers", "candidates"], "k": 10, "use_playbook": true})
    }

    /// `POST /v1/embed`.
    pub fn embed_request() -> Value {
        json!({"texts": ["forklift operator", "night shift nurse"], "purpose": "document"})
    }

    /// `POST /v1/embeddings`.
    pub fn embeddings_request() -> Value {
        json!({"input": ["forklift operator"], "encoding_format": "float"})
    }

    /// `POST /v1/playbook/record`.
    pub fn playbook_entry() -> Value {
        json!({"query_text": "forklift operator near Chicago", "answer_id": "w-1", "answer_corpus": "workers", "score": 0.9})
    }
}
