//! The OpenAPI 3.1 document of the server, served at `/v1/openapi.json`. The server tests
//! check that every documented operation is served.

use lakehouse_core::embed::{EncodingFormat, Purpose};
use lakehouse_core::vector::{IndexKind, Metric, Quantization};
use serde_json::{Value, json};

/// One documented operation: method, path, summary, request body and success status.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<(&'static str, Value)>,
    ok: (&'static str, &'static str),
    /// A listing in pages: `limit` and `cursor` query parameters, `next_cursor` out.
    paged: bool,
}

fn op(method: &'static str, path: &'static str, summary: &'static str) -> Op {
    Op {
        method,
        path,
        summary,
        body: None,
        ok: ("200", "application/json"),
        paged: false,
    }
}

impl Op {
    fn json_body(mut self, schema: Value) -> Self {
        self.body = Some(("application/json", schema));
        self
    }
    fn body(mut self, media: &'static str, schema: Value) -> Self {
        self.body = Some((media, schema));
        self
    }
    fn paged(mut self) -> Self {
        self.paged = true;
        self
    }
    fn ok(mut self, status: &'static str, media: &'static str) -> Self {
        self.ok = (status, media);
        self
    }
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

/// The schema of a named choice: its canonical names, from core's one table.
fn choice<T: PartialEq>(names: &[(&'static str, T)]) -> Value {
    let mut canonical: Vec<&str> = Vec::new();
    for (i, (name, value)) in names.iter().enumerate() {
        if !names[..i].iter().any(|(_, v)| v == value) {
            canonical.push(name);
        }
    }
    json!({"type": "string", "enum": canonical})
}

fn operations() -> Vec<Op> {
    let s = || json!({"type": "string"});
    let n = || json!({"type": "integer", "minimum": 1});
    let vector = || json!({"type": "array", "items": {"type": "number"}});
    let filter = || json!({"type": "object", "description": "metadata filter: key → value or [values] (any of); keys AND"});
    vec![
        op("get", "/health", "Liveness (no auth)."),
        op("get", "/v1/health", "Liveness (no auth): version, root, dataset count."),
        op("get", "/readyz", "Readiness: 200 `{status: ready}`; 503 while draining after SIGTERM or when the storage does not answer."),
        op("get", "/v1/readyz", "Readiness: 200 `{status: ready}`; 503 while draining after SIGTERM or when the storage does not answer."),
        op("get", "/metrics", "Prometheus metrics.").ok("200", "text/plain"),
        op("get", "/v1/metrics", "Prometheus metrics.").ok("200", "text/plain"),
        op("get", "/v1/openapi.json", "This document."),
        op("get", "/v1/storage", "List objects (`?prefix=`), in key order.").paged(),
        op("get", "/v1/storage/{key}", "Read an object.").ok("200", "application/octet-stream"),
        op("put", "/v1/storage/{key}", "Write an object (size cap; bounded concurrent uploads answer 503 + Retry-After).")
            .body("application/octet-stream", json!({"type": "string", "format": "binary"}))
            .ok("201", "application/json"),
        op("delete", "/v1/storage/{key}", "Delete an object.").ok("204", ""),
        op("get", "/v1/datasets", "List datasets (latest manifests), in name order.").paged(),
        op("get", "/v1/datasets/{name}", "A dataset's latest manifest."),
        op("post", "/v1/datasets/{name}", "Ingest CSV, NDJSON, Parquet or Arrow IPC: a raw body (`?mode=create|append|replace|upsert&format=csv|ndjson|parquet|arrow&keys=id`, or the Content-Type) or a multipart form with a `file` part (and `mode`, `format`, `keys` parts). An upsert updates rows whose `keys` match and inserts the others.")
            .body("text/csv", json!({"type": "string"}))
            .ok("201", "application/json"),
        op("delete", "/v1/datasets/{name}", "Drop a dataset with every version and file.").ok("204", ""),
        op("get", "/v1/datasets/{name}/versions", "A dataset's versions, oldest first."),
        op("post", "/v1/datasets/{name}/delete", "Delete the rows matching a SQL condition, as a new version: `{manifest, rows_deleted}`.")
            .json_body(obj(json!({"where": s()}), &["where"])),
        op("post", "/v1/sql", "Run read-only SQL. JSON `{columns, rows, row_count}` by default, or `Accept: application/vnd.apache.parquet` for a Parquet file (both collected first). `Accept: application/vnd.apache.arrow.stream` (Arrow IPC) or `application/x-ndjson` (one object per row) streams the rows as they are computed: an error before the first batch gets its status; a later one cuts the chunked body short.")
            .json_body(obj(json!({"sql": s()}), &["sql"])),
        op("post", "/v1/embed", "Embed texts: `{vectors, model, dimension}`.")
            .json_body(obj(json!({"texts": {"type": "array", "items": s()}, "model": s(), "purpose": choice(Purpose::NAMES)}), &["texts"])),
        op("post", "/v1/embeddings", "OpenAI-compatible embeddings: `{object: list, data: [{index, embedding}], model, usage}`; `input_type` (query or document) is the NIM extension for models with task prompts.")
            .json_body(obj(json!({"input": {"oneOf": [s(), {"type": "array", "items": s()}]}, "model": s(), "encoding_format": choice(EncodingFormat::NAMES), "dimensions": n(), "input_type": choice(Purpose::NAMES), "user": s()}), &["input"])),
        op("get", "/v1/embed/stats", "Embedding cache counters: hits, misses, hit_rate, size."),
        op("get", "/v1/indexes", "List vector indexes, in name order.").paged(),
        op("post", "/v1/indexes", "Create a vector index.")
            .json_body(obj(json!({"name": s(), "dimensions": n(), "kind": choice(IndexKind::NAMES), "metric": choice(Metric::NAMES), "quantization": choice(Quantization::NAMES), "connectivity": n(), "expansion_add": n(), "expansion_search": n(), "scan_dimensions": n(), "scan_candidates": n()}), &["name", "dimensions"]))
            .ok("201", "application/json"),
        op("get", "/v1/indexes/{name}", "Index info: spec, count, memory."),
        op("delete", "/v1/indexes/{name}", "Delete an index and its stored files.").ok("204", ""),
        op("post", "/v1/indexes/{name}/add", "Add or replace a batch of records, each with a `vector` or a `text` to embed (validated as a whole first).")
            .json_body(obj(json!({"records": {"type": "array", "items": obj(json!({"id": s(), "vector": vector(), "text": s(), "metadata": {"type": "object"}}), &["id"])}}), &["records"])),
        op("post", "/v1/indexes/{name}/search", "Nearest records to a vector or a text.")
            .json_body(obj(json!({"vector": vector(), "text": s(), "k": n(), "exclude_ids": {"type": "array", "items": s()}, "expansion": n(), "exact": {"type": "boolean"}, "filter": filter()}), &[])),
        op("get", "/v1/indexes/{name}/records", "The index's records in pages, in the order stored: `{records: [{id, vector, metadata}], next_cursor}`; records added between pages come at the end.").paged(),
        op("post", "/v1/indexes/{name}/remove", "Remove records by `ids`, or every record whose metadata passes `filter` (one of the two): `{removed, count}`.")
            .json_body(obj(json!({"ids": {"type": "array", "items": s()}, "filter": filter()}), &[])),
        op("post", "/v1/matrix/search", "Search several corpora at once, merged by distance, with optional playbook boost.")
            .json_body(obj(json!({"query_text": s(), "query_vector": vector(), "corpora": {"type": "array", "items": s()}, "k": n(), "per_corpus_k": n(), "metadata_filter": filter(), "exclude_ids": {"type": "array", "items": s()}, "use_playbook": {"type": "boolean"}}), &["corpora"])),
        op("post", "/v1/playbook/record", "Record an answer that worked: `{playbook_id}`.")
            .json_body(playbook_entry()),
        op("post", "/v1/playbook/record/bulk", "Record many answers: a result per entry.")
            .json_body(obj(json!({"entries": {"type": "array", "items": playbook_entry()}}), &["entries"])),
        op("delete", "/v1/playbook", "Forget every recorded answer (drop the playbook index).").ok("204", ""),
    ]
}

fn playbook_entry() -> Value {
    obj(
        json!({
            "query_text": {"type": "string"},
            "query_vector": {"type": "array", "items": {"type": "number"}},
            "answer_id": {"type": "string"},
            "answer_corpus": {"type": "string"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}}
        }),
        &["query_text", "answer_id", "answer_corpus", "score"],
    )
}

/// The whole document.
pub fn document() -> Value {
    let error = json!({
        "description": "Error: 400 invalid input, 401 no token, 403 network not allowed, 404 unknown, 409 conflict, 413 too large, 415 wrong content type, 422 validation, 503 busy (Retry-After), 504 timeout, 500 storage/internal",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    let mut paths = serde_json::Map::new();
    for o in operations() {
        let ok = if o.ok.1.is_empty() {
            json!({"description": "OK"})
        } else {
            let mut content = serde_json::Map::new();
            content.insert(o.ok.1.to_string(), json!({}));
            json!({"description": "OK", "content": content})
        };
        let mut responses = serde_json::Map::new();
        responses.insert(o.ok.0.to_string(), ok);
        responses.insert("default".to_string(), error.clone());
        let mut operation = json!({"summary": o.summary, "responses": responses});
        let mut params: Vec<Value> = ["key", "name"]
            .iter()
            .filter(|p| o.path.contains(&format!("{{{p}}}")))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if o.paged {
            params.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": super::page::MAX_LIMIT, "default": super::page::DEFAULT_LIMIT}}));
            params.push(json!({"name": "cursor", "in": "query", "description": "the previous page's next_cursor", "schema": {"type": "string"}}));
        }
        if o.method == "post" {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "description": "a retry with the same key gets the first attempt's answer (kept in the server's memory for 24 h)", "schema": {"type": "string", "maxLength": 255}}));
        }
        params.push(json!({"name": "x-request-id", "in": "header", "description": "echoed on the response (a new id when absent)", "schema": {"type": "string", "maxLength": 128}}));
        if !params.is_empty() {
            operation["parameters"] = json!(params);
        }
        if let Some((media, schema)) = o.body {
            let mut content = serde_json::Map::new();
            content.insert(media.to_string(), json!({"schema": schema}));
            operation["requestBody"] = json!({"required": true, "content": content});
        }
        if !matches!(o.path, "/health" | "/v1/health" | "/readyz" | "/v1/readyz") {
            operation["security"] = json!([{"bearer": []}]);
        }
        paths
            .entry(o.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path item")
            .insert(o.method.to_string(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "lakehouse", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Datasets, SQL, vector indexes, embeddings, matrix search and playbook memory over HTTP. The same lakehouse is served to AI agents over MCP (streamable HTTP, JSON-RPC) at /mcp, behind the same bearer token and network rules; see the README's Agents (MCP) section."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {"kind": {"type": "string"}, "message": {"type": "string"}, "request_id": {"type": "string"}}}}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every (method, path) the router serves is documented, and nothing documented is
    /// missing from the router: read from the source of `app()` (what `router()` serves), so
    /// a route added without its documentation fails here. (The server tests call every
    /// documented operation.)
    #[test]
    fn routes_and_documentation_match() {
        let source = include_str!("mod.rs");
        // `router()` delegates to `app()`, which lists the routes.
        let start = source.find("\nfn app(").expect("app() in mod.rs");
        let body = &source[start..];
        let body = &body[..body.find("\n}\n").expect("end of router()")];
        let mut routed = BTreeSet::new();
        for chunk in body.split(".route(").skip(1) {
            // OpenAPI has no wildcard segments: `{*key}` is documented as `{key}`.
            let path = chunk
                .split('"')
                .nth(1)
                .expect("a path literal")
                .replace("{*", "{");
            for method in ["get", "post", "put", "delete", "patch", "head", "options"] {
                if chunk.contains(&format!("{method}(r::")) {
                    routed.insert((method.to_string(), path.clone()));
                }
            }
        }
        assert!(routed.len() > 20, "parsed only {routed:?}");
        let documented: BTreeSet<_> = super::operations()
            .iter()
            .map(|o| (o.method.to_string(), o.path.to_string()))
            .collect();
        assert_eq!(routed, documented);
    }
}
