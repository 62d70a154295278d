//! Route handlers: each turns a request into one core call and its result into JSON.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use lakehouse_core::matrix::MatrixRequest;
use lakehouse_core::playbook::PlaybookEntry;
use lakehouse_core::{
    DeleteReport, EmbedRequest, Embeddings, Format, IndexInfo, IndexQuery, IndexSpec, IngestMode,
    IngestOptions, IngestReport, JsonResult, Manifest, MatrixResult, OptimizeReport,
};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::AppState;
use super::bodies::{
    AddRequest, Added, BulkRecord, BulkRecorded, DatasetsPage, DeleteRequest, EmbedStats, Health,
    IndexRecordsPage, IndexesPage, IngestQuery, ObjectsPage, ObjectsQuery, PlaybookRecorded,
    Readiness, ReadyStatus, RemoveRequest, Removed, SearchAnswer, SqlRequest, StoredObject,
    Versions,
};
use super::error::{ApiError, ApiResult, Json};
use super::page::{PageQuery, page};

type S = State<Arc<AppState>>;

fn body_error(r: BytesRejection) -> ApiError {
    let status = r.status();
    let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too_large"
    } else {
        "invalid_input"
    };
    ApiError::new(status, kind, r.body_text())
}

// ---- health, metrics, OpenAPI -------------------------------------------------------

pub async fn health(State(app): S) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        root: app.lh.storage().description().to_string(),
        datasets: app.lh.datasets().len(),
    })
}

fn readiness(status: ReadyStatus, reason: Option<&str>) -> Response {
    let code = if status == ReadyStatus::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let reason = reason.map(str::to_string);
    (code, Json(Readiness { status, reason })).into_response()
}

/// Readiness: 503 once a shutdown began (while the drain delay runs) or when the storage
/// does not answer a probe within 2 s; else 200.
pub async fn ready(State(app): S) -> Response {
    if app.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return readiness(ReadyStatus::Draining, None);
    }
    // A read of a key that is never written: "not found" proves the store answers.
    let probe = app.lh.storage().head("readyz-probe");
    match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => readiness(ReadyStatus::Ready, None),
        Ok(Err(e)) if e.kind() == lakehouse_core::ErrorKind::NotFound => {
            readiness(ReadyStatus::Ready, None)
        }
        Ok(Err(e)) => {
            // Open to all (probes carry no token): the cause goes to the log only.
            tracing::warn!(error = %e, "readiness probe: the storage failed");
            readiness(ReadyStatus::Unavailable, Some("the storage failed a probe"))
        }
        Err(_) => readiness(
            ReadyStatus::Unavailable,
            Some("the storage did not answer within 2 s"),
        ),
    }
}

pub async fn metrics(State(app): S) -> Response {
    let mut extra = String::new();
    if let Some(stats) = app.embedder_stats() {
        extra = format!(
            "# TYPE lakehouse_embed_cache_hits_total counter\nlakehouse_embed_cache_hits_total {}\n\
             # TYPE lakehouse_embed_cache_misses_total counter\nlakehouse_embed_cache_misses_total {}\n\
             # TYPE lakehouse_embed_cache_size gauge\nlakehouse_embed_cache_size {}\n",
            stats.hits, stats.misses, stats.size
        );
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(&extra),
    )
        .into_response()
}

pub async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

// ---- storage ------------------------------------------------------------------------

pub async fn storage_list(
    State(app): S,
    Query(q): Query<ObjectsQuery>,
) -> ApiResult<Json<ObjectsPage>> {
    let objects = app.lh.storage().list(q.prefix.as_deref()).await?;
    let pages = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (objects, next) = page(objects, |o| o.key.as_str(), &pages)?;
    Ok(Json(ObjectsPage {
        objects,
        next_cursor: next,
    }))
}

pub async fn storage_get(State(app): S, Path(key): Path<String>) -> ApiResult<Response> {
    let data = app.lh.storage().get(&key).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response())
}

pub async fn storage_put(
    State(app): S,
    Path(key): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    // Bounded concurrent uploads: the next one is told to come back later.
    let Ok(_permit) = app.uploads.clone().try_acquire_owned() else {
        return Err(ApiError::busy("too many uploads in progress", 5));
    };
    let data = Bytes::from_request(request, &())
        .await
        .map_err(body_error)?;
    let size = data.len();
    app.lh.storage().put(&key, data).await?;
    Ok((StatusCode::CREATED, Json(StoredObject { key, size })).into_response())
}

pub async fn storage_delete(State(app): S, Path(key): Path<String>) -> ApiResult<StatusCode> {
    app.lh.storage().delete(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- catalog and ingest -------------------------------------------------------------

pub async fn datasets(State(app): S, Query(q): Query<PageQuery>) -> ApiResult<Json<DatasetsPage>> {
    let (datasets, next) = page(app.lh.datasets(), |m| m.name.as_str(), &q)?;
    Ok(Json(DatasetsPage {
        datasets,
        next_cursor: next,
    }))
}

pub async fn drop_dataset(State(app): S, Path(name): Path<String>) -> ApiResult<StatusCode> {
    app.lh.dataset(&name).drop().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn manifest(State(app): S, Path(name): Path<String>) -> ApiResult<Json<Arc<Manifest>>> {
    Ok(Json(app.lh.dataset(&name).manifest().await?))
}

pub async fn versions(State(app): S, Path(name): Path<String>) -> ApiResult<Json<Versions>> {
    Ok(Json(Versions {
        versions: app.lh.dataset(&name).versions().await?,
    }))
}

/// `POST /v1/datasets/{name}`: the body is the file (CSV, NDJSON, Parquet or Arrow IPC,
/// named by `?format=`, else by its `Content-Type`, else CSV), or a multipart form with a
/// `file` part (and optional `mode` / `format` parts; the file name's extension names the
/// format otherwise). The upload is streamed to a
/// temporary file, never held whole in memory, and refused past `max_upload` bytes.
pub async fn ingest(
    State(app): S,
    Path(name): Path<String>,
    Query(q): Query<IngestQuery>,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<(StatusCode, Json<IngestReport>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (mut mode, mut format, mut keys) = (q.mode, q.format, q.keys);
    let mut spool = Spool::new(app.max_upload)?;
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &())
            .await
            .map_err(|r| ApiError::new(r.status(), "invalid_input", r.body_text()))?;
        let mut has_file = false;
        let multipart_error = |e: MultipartError| {
            let kind = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "invalid_input"
            };
            ApiError::new(e.status(), kind, e.body_text())
        };
        while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
            let part = field.name().unwrap_or("").to_string();
            if part == "file" {
                if format.is_none()
                    && let Some(f) = field.file_name()
                    && let Some((_, ext)) = f.rsplit_once('.')
                    && ext.parse::<Format>().is_ok()
                {
                    format = Some(ext.to_string());
                }
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    spool.write(&chunk).await?;
                }
                has_file = true;
                continue;
            }
            let value = field.text().await.map_err(multipart_error)?;
            match part.as_str() {
                "mode" => mode = Some(value),
                "format" => format = Some(value),
                "keys" => keys = Some(value),
                _ => {}
            }
        }
        if !has_file {
            return Err(ApiError::bad_request("the form has no `file` part"));
        }
    } else {
        if format.is_none() && !content_type.is_empty() {
            let essence = content_type.split(';').next().unwrap_or("").trim();
            if essence != "application/octet-stream" && essence != "text/plain" {
                format = Some(essence.to_string());
            }
        }
        let mut body = request.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
            spool.write(&chunk).await?;
        }
    }
    let mode: IngestMode = mode.as_deref().unwrap_or("create").parse()?;
    let format: Format = format.as_deref().unwrap_or("csv").parse()?;
    let file = spool.finish().await?;
    let report = app
        .lh
        .dataset(&name)
        .write(
            file.path().to_path_buf(),
            &IngestOptions::mode(mode).with_format(format).with_keys(
                keys.iter()
                    .flat_map(|k| k.split(','))
                    .map(str::trim)
                    .filter(|k| !k.is_empty()),
            ),
        )
        .await?;
    let status = if report.no_op {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(report)))
}

/// `POST /v1/datasets/{name}/delete` with `{"where": "<SQL condition>"}`: deletes the
/// matching rows as a new version; answers the manifest and `rows_deleted`.
pub async fn delete_rows(
    State(app): S,
    Path(name): Path<String>,
    Json(req): Json<DeleteRequest>,
) -> ApiResult<Json<DeleteReport>> {
    Ok(Json(app.lh.dataset(&name).delete(&req.r#where).await?))
}

/// `POST /v1/datasets/{name}/optimize` (no body): merges the dataset's small files.
pub async fn optimize(State(app): S, Path(name): Path<String>) -> ApiResult<Json<OptimizeReport>> {
    Ok(Json(app.lh.dataset(&name).optimize().await?))
}

/// An upload on its way to a temporary file, with a byte limit.
struct Spool {
    file: tempfile::NamedTempFile,
    out: tokio::fs::File,
    written: usize,
    limit: usize,
}

impl Spool {
    fn new(limit: usize) -> ApiResult<Self> {
        let file = tempfile::NamedTempFile::new().map_err(lakehouse_core::Error::from)?;
        let out = tokio::fs::File::from_std(file.reopen().map_err(lakehouse_core::Error::from)?);
        Ok(Self {
            file,
            out,
            written: 0,
            limit,
        })
    }

    async fn write(&mut self, chunk: &[u8]) -> ApiResult<()> {
        self.written += chunk.len();
        if self.written > self.limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the upload is over the limit of {} bytes", self.limit),
            ));
        }
        self.out
            .write_all(chunk)
            .await
            .map_err(lakehouse_core::Error::from)?;
        Ok(())
    }

    /// Flushes and hands over the file (removed when dropped).
    async fn finish(mut self) -> ApiResult<tempfile::NamedTempFile> {
        self.out
            .flush()
            .await
            .map_err(lakehouse_core::Error::from)?;
        Ok(self.file)
    }
}

// ---- SQL ----------------------------------------------------------------------------

/// Media types a SQL result can be sent as.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// Parquet file.
pub const PARQUET: &str = "application/vnd.apache.parquet";
/// Newline-delimited JSON, one object per row.
pub const NDJSON: &str = "application/x-ndjson";

/// Runs the SQL. JSON and Parquet are collected first (one document, one file with a footer);
/// Arrow IPC and NDJSON are streamed, batch by batch as the engine computes them, so a large
/// result never sits whole in the server's memory and a client that hangs up stops the query.
/// The first batch is awaited before the answer starts, so an error that comes at once still
/// gets its status and JSON body; a later one (the time limit, a division by zero in row
/// 500,000) is logged and the body is cut short: the chunked answer ends without its last
/// chunk, which HTTP clients report as an incomplete read, and an Arrow stream also lacks
/// its end-of-stream marker.
pub async fn sql(
    State(app): S,
    headers: HeaderMap,
    Json(q): Json<SqlRequest>,
) -> ApiResult<Response> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let streamed = if accept.contains(ARROW_STREAM) {
        Some(ARROW_STREAM)
    } else if accept.contains(NDJSON) || accept.contains("application/jsonl") {
        Some(NDJSON)
    } else {
        None
    };
    if let Some(media) = streamed {
        let mut rows = app.lh.sql_stream(&q.sql).await?;
        let first = rows.next().await.transpose()?;
        let schema = rows.schema().clone();
        let batches = futures::stream::iter(first.map(Ok)).chain(rows);
        let body = if media == ARROW_STREAM {
            arrow_ipc_body(&schema, batches)?
        } else {
            ndjson_body(batches)
        };
        return Ok(([(header::CONTENT_TYPE, media)], body).into_response());
    }
    let result = app.lh.sql(&q.sql).await?;
    if accept.contains(PARQUET) || accept.contains("application/x-parquet") {
        return Ok(([(header::CONTENT_TYPE, PARQUET)], result.to_parquet()?).into_response());
    }
    let rows: JsonResult = result.to_json()?;
    Ok(Json(rows).into_response())
}

type Batches = futures::stream::BoxStream<'static, lakehouse_core::Result<RecordBatch>>;

/// An Arrow IPC stream body: the schema message, one message per batch as it comes, and the
/// end-of-stream marker once the batches end without an error.
fn arrow_ipc_body(
    schema: &arrow::datatypes::Schema,
    batches: impl futures::Stream<Item = lakehouse_core::Result<RecordBatch>> + Send + 'static,
) -> ApiResult<axum::body::Body> {
    use arrow::ipc::writer::StreamWriter;
    let mut writer =
        StreamWriter::try_new(Vec::new(), schema).map_err(lakehouse_core::Error::from)?;
    let head = Bytes::from(std::mem::take(writer.get_mut()));
    let state: Option<(StreamWriter<Vec<u8>>, Batches)> = Some((writer, batches.boxed()));
    let messages = futures::stream::unfold(state, |state| async move {
        let (mut writer, mut batches) = state?;
        let (message, more) = match batches.next().await {
            Some(Ok(batch)) => (writer.write(&batch), true),
            Some(Err(e)) => return Some((Err(streamed_error(e)), None)),
            None => (writer.finish(), false),
        };
        let chunk = message
            .map(|()| Bytes::from(std::mem::take(writer.get_mut())))
            .map_err(|e| streamed_error(e.into()));
        Some((chunk, more.then_some((writer, batches))))
    });
    Ok(axum::body::Body::from_stream(
        futures::stream::once(async { Ok(head) }).chain(messages),
    ))
}

/// An NDJSON body: each batch's rows as they come ([`lakehouse_core::query::ndjson`]).
fn ndjson_body(
    batches: impl futures::Stream<Item = lakehouse_core::Result<RecordBatch>> + Send + 'static,
) -> axum::body::Body {
    let lines = batches.map(|batch| {
        batch
            .and_then(|b| lakehouse_core::query::ndjson(&b))
            .map(Bytes::from)
            .map_err(streamed_error)
    });
    axum::body::Body::from_stream(lines)
}

/// An error after the answer began: logged (the status is already sent), and the stream is
/// cut short, which the client's reader reports.
fn streamed_error(e: lakehouse_core::Error) -> lakehouse_core::Error {
    tracing::warn!(error = %e, "SQL result cut short");
    e
}

// ---- embeddings ---------------------------------------------------------------------

pub async fn embed(State(app): S, Json(r): Json<EmbedRequest>) -> ApiResult<Json<Embeddings>> {
    Ok(Json(app.lh.embed_request(r).await?))
}

pub async fn embeddings(
    State(app): S,
    Json(r): Json<lakehouse_core::embed::EmbeddingsRequest>,
) -> ApiResult<Json<lakehouse_core::embed::EmbeddingsResponse>> {
    Ok(Json(app.lh.embeddings(r).await?))
}

pub async fn embed_stats(State(app): S) -> ApiResult<Json<EmbedStats>> {
    let embedder = app.lh.embedder().await?;
    Ok(Json(EmbedStats {
        stats: embedder.cache_stats().unwrap_or_default(),
        model: embedder.name().to_string(),
    }))
}

// ---- vector indexes -----------------------------------------------------------------

pub async fn indexes(State(app): S, Query(q): Query<PageQuery>) -> ApiResult<Json<IndexesPage>> {
    let (indexes, next) = page(app.lh.indexes().await?, String::as_str, &q)?;
    Ok(Json(IndexesPage {
        indexes,
        next_cursor: next,
    }))
}

pub async fn index_create(
    State(app): S,
    Json(spec): Json<IndexSpec>,
) -> ApiResult<(StatusCode, Json<IndexInfo>)> {
    let index = app.lh.create_index(spec).await?;
    Ok((StatusCode::CREATED, Json(index.info().await?)))
}

pub async fn index_info(State(app): S, Path(name): Path<String>) -> ApiResult<Json<IndexInfo>> {
    Ok(Json(app.lh.index(&name).info().await?))
}

pub async fn index_delete(State(app): S, Path(name): Path<String>) -> ApiResult<StatusCode> {
    app.lh.index(&name).drop().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn index_add(
    State(app): S,
    Path(name): Path<String>,
    Json(r): Json<AddRequest>,
) -> ApiResult<Json<Added>> {
    let added = app.lh.index(&name).add(r.records).await?;
    let count = app.lh.index(&name).info().await?.count;
    Ok(Json(Added { added, count }))
}

pub async fn index_remove(
    State(app): S,
    Path(name): Path<String>,
    Json(r): Json<RemoveRequest>,
) -> ApiResult<Json<Removed>> {
    let index = app.lh.index(&name);
    let removed = match r.filter {
        Some(_) if !r.ids.is_empty() => {
            return Err(ApiError::bad_request("give `ids` or `filter`, not both"));
        }
        Some(filter) => index.remove_where(&filter).await?,
        None => index.remove(r.ids).await?,
    };
    let count = index.info().await?.count;
    Ok(Json(Removed { removed, count }))
}

/// A search by vector, or by text (embedded as a query).
pub async fn index_search(
    State(app): S,
    Path(name): Path<String>,
    Json(q): Json<IndexQuery>,
) -> ApiResult<Json<SearchAnswer>> {
    Ok(Json(SearchAnswer {
        hits: app.lh.index(&name).search(q).await?,
    }))
}

/// A page of an index's records (core's scroll, with the listings' `limit` default and
/// `next_cursor` name).
pub async fn index_records(
    State(app): S,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<IndexRecordsPage>> {
    let limit = q.limit.unwrap_or(super::page::DEFAULT_LIMIT);
    let page = app
        .lh
        .index(&name)
        .scroll(q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(IndexRecordsPage {
        records: page.records,
        next_cursor: page.next,
    }))
}

// ---- matrix and playbook ------------------------------------------------------------

pub async fn matrix_search(
    State(app): S,
    Json(r): Json<MatrixRequest>,
) -> ApiResult<Json<MatrixResult>> {
    Ok(Json(app.lh.matrix_search(&r).await?))
}

pub async fn playbook_drop(State(app): S) -> ApiResult<StatusCode> {
    app.lh.drop_playbook().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn playbook_record(
    State(app): S,
    Json(e): Json<PlaybookEntry>,
) -> ApiResult<Json<PlaybookRecorded>> {
    Ok(Json(PlaybookRecorded {
        playbook_id: app.lh.record_playbook(e).await?,
    }))
}

pub async fn playbook_bulk(
    State(app): S,
    Json(b): Json<BulkRecord>,
) -> ApiResult<Json<BulkRecorded>> {
    Ok(Json(BulkRecorded {
        results: app.lh.record_playbook_bulk(b.entries).await?,
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /v1/openapi.json",
    )
}
