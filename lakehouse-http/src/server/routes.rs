//! Route handlers: each turns a request into one core call and its result into JSON.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lakehouse_core::embed::Purpose;
use lakehouse_core::matrix::MatrixRequest;
use lakehouse_core::playbook::PlaybookEntry;
use lakehouse_core::{
    Format, IndexSpec, IngestMode, IngestOptions, MetadataFilter, SearchRequest, VectorRecord,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult, Json};

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

pub async fn health(State(app): S) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "root": app.lh.storage().description(),
        "datasets": app.lh.datasets().len(),
    }))
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

#[derive(Deserialize)]
pub struct ListQuery {
    prefix: Option<String>,
}

pub async fn storage_list(State(app): S, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let objects = app.lh.storage().list(q.prefix.as_deref()).await?;
    Ok(Json(json!({ "objects": objects })))
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
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": key, "size": size })),
    )
        .into_response())
}

pub async fn storage_delete(State(app): S, Path(key): Path<String>) -> ApiResult<StatusCode> {
    app.lh.storage().delete(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- catalog and ingest -------------------------------------------------------------

pub async fn datasets(State(app): S) -> Json<Value> {
    Json(json!({ "datasets": app.lh.datasets() }))
}

pub async fn manifest(State(app): S, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(
        serde_json::to_value(&*app.lh.manifest(&name)?).expect("manifest is JSON"),
    ))
}

pub async fn versions(State(app): S, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "versions": app.lh.versions(&name).await? })))
}

#[derive(Deserialize)]
pub struct IngestQuery {
    mode: Option<String>,
    format: Option<String>,
}

fn format_named(name: &str) -> ApiResult<Format> {
    match name.to_ascii_lowercase().as_str() {
        "csv" | "text/csv" => Ok(Format::Csv),
        "ndjson" | "jsonl" | "application/x-ndjson" | "application/jsonl" | "application/json" => {
            Ok(Format::Ndjson)
        }
        other => Err(ApiError::bad_request(format!(
            "unknown format {other:?}; expected csv or ndjson"
        ))),
    }
}

/// `POST /v1/datasets/{name}`: the body is the file (CSV or NDJSON), or a multipart form
/// with a `file` part (and optional `mode` / `format` parts).
pub async fn ingest(
    State(app): S,
    Path(name): Path<String>,
    Query(q): Query<IngestQuery>,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (mut mode, mut format) = (q.mode, q.format);
    let data = if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &())
            .await
            .map_err(|r| ApiError::new(r.status(), "invalid_input", r.body_text()))?;
        let mut file = None;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::new(e.status(), "invalid_input", e.body_text()))?
        {
            let part = field.name().unwrap_or("").to_string();
            let filename = field.file_name().map(str::to_string);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| ApiError::new(e.status(), "too_large", e.body_text()))?;
            match part.as_str() {
                "file" => {
                    if format.is_none()
                        && let Some(f) = filename
                        && let Some((_, ext)) = f.rsplit_once('.')
                    {
                        format = Some(ext.to_string());
                    }
                    file = Some(bytes);
                }
                "mode" => mode = Some(String::from_utf8_lossy(&bytes).into_owned()),
                "format" => format = Some(String::from_utf8_lossy(&bytes).into_owned()),
                _ => {}
            }
        }
        file.ok_or_else(|| ApiError::bad_request("the form has no `file` part"))?
    } else {
        if format.is_none() && !content_type.is_empty() {
            let essence = content_type.split(';').next().unwrap_or("").trim();
            if essence != "application/octet-stream" && essence != "text/plain" {
                format = Some(essence.to_string());
            }
        }
        Bytes::from_request(request, &())
            .await
            .map_err(body_error)?
    };
    let mode: IngestMode = mode.as_deref().unwrap_or("create").parse()?;
    let format = format
        .as_deref()
        .map(format_named)
        .transpose()?
        .unwrap_or(Format::Csv);
    let report = app
        .lh
        .ingest(&name, data, &IngestOptions::mode(mode).with_format(format))
        .await?;
    let status = if report.no_op {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(serde_json::to_value(&report).expect("report is JSON")),
    ))
}

// ---- SQL ----------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct SqlRequest {
    sql: String,
}

/// Media types a SQL result can be sent as.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// Parquet file.
pub const PARQUET: &str = "application/vnd.apache.parquet";

pub async fn sql(
    State(app): S,
    headers: HeaderMap,
    Json(q): Json<SqlRequest>,
) -> ApiResult<Response> {
    let result = app.lh.sql(&q.sql).await?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains(ARROW_STREAM) {
        let mut out = Vec::new();
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema)
            .map_err(|e| ApiError::from(lakehouse_core::Error::from(e)))?;
        for b in &result.batches {
            w.write(b)
                .map_err(|e| ApiError::from(lakehouse_core::Error::from(e)))?;
        }
        w.finish()
            .map_err(|e| ApiError::from(lakehouse_core::Error::from(e)))?;
        return Ok(([(header::CONTENT_TYPE, ARROW_STREAM)], out).into_response());
    }
    if accept.contains(PARQUET) || accept.contains("application/x-parquet") {
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, result.schema.clone(), None)
            .map_err(|e| ApiError::from(lakehouse_core::Error::from(e)))?;
        for b in &result.batches {
            w.write(b)
                .map_err(|e| ApiError::from(lakehouse_core::Error::from(e)))?;
        }
        w.close()
            .map_err(|e| ApiError::from(lakehouse_core::Error::from(e)))?;
        return Ok(([(header::CONTENT_TYPE, PARQUET)], out).into_response());
    }
    Ok(Json(serde_json::to_value(result.to_json()?).expect("result is JSON")).into_response())
}

// ---- embeddings ---------------------------------------------------------------------

#[derive(Deserialize)]
pub struct EmbedRequest {
    texts: Vec<String>,
    model: Option<String>,
    #[serde(default)]
    purpose: Purpose,
}

pub async fn embed(State(app): S, Json(r): Json<EmbedRequest>) -> ApiResult<Json<Value>> {
    let embedder = app.lh.embedder().await?;
    if let Some(m) = &r.model
        && m != embedder.model_name()
    {
        return Err(lakehouse_core::Error::NotFound {
            what: "embedding model",
            name: format!("{m} (this server runs {})", embedder.model_name()),
        }
        .into());
    }
    let vectors = app.lh.embed(r.texts, r.purpose).await?;
    Ok(Json(json!({
        "vectors": vectors,
        "model": embedder.model_name(),
        "dimension": embedder.dimension(),
    })))
}

pub async fn embed_stats(State(app): S) -> ApiResult<Json<Value>> {
    let embedder = app.lh.embedder().await?;
    let mut stats = serde_json::to_value(embedder.stats()).expect("stats are JSON");
    stats["model"] = json!(embedder.model_name());
    Ok(Json(stats))
}

// ---- vector indexes -----------------------------------------------------------------

pub async fn indexes(State(app): S) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "indexes": app.lh.vectors().list().await? })))
}

pub async fn index_create(
    State(app): S,
    Json(spec): Json<IndexSpec>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let index = app.lh.vectors().create(spec).await?;
    Ok((StatusCode::CREATED, Json(json!(index.info()))))
}

pub async fn index_info(State(app): S, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.lh.vectors().info(&name).await?)))
}

pub async fn index_delete(State(app): S, Path(name): Path<String>) -> ApiResult<StatusCode> {
    app.lh.vectors().delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AddRequest {
    records: Vec<VectorRecord>,
}

pub async fn index_add(
    State(app): S,
    Path(name): Path<String>,
    Json(r): Json<AddRequest>,
) -> ApiResult<Json<Value>> {
    let index = app.lh.vectors().get(&name).await?;
    let added = index.add(r.records).await?;
    Ok(Json(json!({ "added": added, "count": index.len() })))
}

#[derive(Deserialize)]
pub struct RemoveRequest {
    ids: Vec<String>,
}

pub async fn index_remove(
    State(app): S,
    Path(name): Path<String>,
    Json(r): Json<RemoveRequest>,
) -> ApiResult<Json<Value>> {
    let index = app.lh.vectors().get(&name).await?;
    let removed = index.remove(r.ids).await?;
    Ok(Json(json!({ "removed": removed, "count": index.len() })))
}

/// A search by vector, or by text (embedded as a query).
#[derive(Deserialize)]
pub struct IndexSearch {
    vector: Option<Vec<f32>>,
    text: Option<String>,
    #[serde(default = "ten")]
    k: usize,
    #[serde(default)]
    exclude_ids: Vec<String>,
    expansion: Option<usize>,
    #[serde(default)]
    exact: bool,
    filter: Option<MetadataFilter>,
}

fn ten() -> usize {
    10
}

pub async fn index_search(
    State(app): S,
    Path(name): Path<String>,
    Json(r): Json<IndexSearch>,
) -> ApiResult<Json<Value>> {
    let index = app.lh.vectors().get(&name).await?;
    let vector = match (r.vector, r.text) {
        (Some(v), _) => v,
        (None, Some(t)) => app.lh.embed(vec![t], Purpose::Query).await?.remove(0),
        (None, None) => return Err(ApiError::bad_request("give `vector` or `text`")),
    };
    let request = SearchRequest {
        exclude_ids: r.exclude_ids,
        expansion: r.expansion,
        exact: r.exact,
        filter: r.filter,
        ..SearchRequest::new(vector, r.k)
    };
    let hits = tokio::task::spawn_blocking(move || index.search(&request))
        .await
        .map_err(|e| ApiError::from(lakehouse_core::Error::from(e)))??;
    Ok(Json(json!({ "hits": hits })))
}

// ---- matrix and playbook ------------------------------------------------------------

pub async fn matrix_search(State(app): S, Json(r): Json<MatrixRequest>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.lh.matrix_search(&r).await?)))
}

pub async fn playbook_record(
    State(app): S,
    Json(e): Json<PlaybookEntry>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "playbook_id": app.lh.record_playbook(e).await? }),
    ))
}

#[derive(Deserialize)]
pub struct BulkRecord {
    entries: Vec<PlaybookEntry>,
}

pub async fn playbook_bulk(State(app): S, Json(b): Json<BulkRecord>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "results": app.lh.record_playbook_bulk(b.entries).await? }),
    ))
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /v1/openapi.json",
    )
}
