//! The OpenAPI 3.1 document of the server, served at `/v1/openapi.json`, generated from the
//! types the handlers read and answer (core's and [`super::bodies`]) with schemars: request
//! bodies under the deserialize contract (what the server accepts: fields with defaults may
//! be left out), answers under the serialize contract (what it sends). Every operation has an
//! `operationId` and a tag, so generated clients get one function per route. The tests check
//! that every routed operation is documented; the server tests call each one, and a Python
//! client generated from the document (`openapi-python-client`) calls search and SQL.

use lakehouse_core::embed::{EmbeddingsRequest, EmbeddingsResponse};
use lakehouse_core::{
    DeleteReport, EmbedRequest, Embeddings, IndexInfo, IndexQuery, IndexSpec, IngestReport,
    JsonResult, Manifest, MatrixRequest, MatrixResult, OptimizeReport, PlaybookEntry,
};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::{ReplaceBoolSchemas, Transform};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use super::bodies::{
    AddRequest, Added, BulkRecord, BulkRecorded, DatasetsPage, DeleteRequest, EmbedStats,
    ErrorBody, Health, IndexRecordsPage, IndexesPage, IngestQuery, ObjectsPage, ObjectsQuery,
    PlaybookRecorded, Readiness, RemoveRequest, Removed, SearchAnswer, SqlRequest, StoredObject,
    Versions, examples,
};
use super::page::PageQuery;
use super::routes::{ARROW_STREAM, NDJSON, PARQUET};

/// A type's schema (a `$ref` to it for a named type), from the generator given.
type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<T>();
    no_bool_schemas().transform(&mut schema);
    schema
}

/// `true` and `false` are schemas in JSON Schema 2020-12 (any JSON value: metadata), but
/// client generators (openapi-python-client) refuse them: written `{}` and `{"not": {}}`
/// instead, which mean the same. `additionalProperties: false` stays as it is.
fn no_bool_schemas() -> ReplaceBoolSchemas {
    let mut replace = ReplaceBoolSchemas::default();
    replace.skip_additional_properties = true;
    replace
}

/// One documented operation.
struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// The request body: media types and their schemas (a type's, or a literal one).
    body: Vec<(&'static str, Body)>,
    example: Option<fn() -> Value>,
    /// The query parameters: the properties of a type.
    query: Option<SchemaOf>,
    /// Answers other than errors: status, media type (empty: no body) and the body's type.
    answers: Vec<(&'static str, &'static str, Option<SchemaOf>)>,
}

enum Body {
    Typed(SchemaOf),
    Literal(Value),
}

fn op(
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Op {
    Op {
        method,
        path,
        id,
        tag,
        summary,
        body: Vec::new(),
        example: None,
        query: None,
        answers: Vec::new(),
    }
}

impl Op {
    /// A JSON body of type `T`.
    fn takes<T: JsonSchema>(mut self) -> Self {
        self.body
            .push(("application/json", Body::Typed(schema_of::<T>)));
        self
    }
    /// A body that is not JSON (one call per media type accepted).
    fn takes_raw(mut self, media: &'static str, schema: Value) -> Self {
        self.body.push((media, Body::Literal(schema)));
        self
    }
    /// An example of the request body (for core's types, which carry none).
    fn example(mut self, example: fn() -> Value) -> Self {
        self.example = Some(example);
        self
    }
    /// Query parameters: the fields of `T`.
    fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<T>);
        self
    }
    /// Answers `status` with a JSON body of type `T`.
    fn answers<T: JsonSchema>(mut self, status: &'static str) -> Self {
        self.answers
            .push((status, "application/json", Some(schema_of::<T>)));
        self
    }
    /// Answers `status` with a body of another media type (empty: no body).
    fn answers_raw(mut self, status: &'static str, media: &'static str) -> Self {
        self.answers.push((status, media, None));
        self
    }
}

fn operations() -> Vec<Op> {
    let readyz = "Readiness: 200 `{status: ready}`; 503 while draining after SIGTERM or when the storage does not answer.";
    let metrics = "Prometheus metrics.";
    vec![
        op("get", "/health", "liveness", "health", "Liveness (no auth).").answers::<Health>("200"),
        op("get", "/v1/health", "health", "health", "Liveness (no auth): version, root, dataset count.").answers::<Health>("200"),
        op("get", "/readyz", "readiness", "health", readyz).answers::<Readiness>("200").answers::<Readiness>("503"),
        op("get", "/v1/readyz", "ready", "health", readyz).answers::<Readiness>("200").answers::<Readiness>("503"),
        op("get", "/metrics", "metrics", "health", metrics).answers_raw("200", "text/plain"),
        op("get", "/v1/metrics", "metrics_v1", "health", metrics).answers_raw("200", "text/plain"),
        op("get", "/v1/openapi.json", "openapi", "health", "This document.").answers_raw("200", "application/json"),
        op("get", "/v1/storage", "list_objects", "storage", "List objects (`?prefix=`), in key order.")
            .query::<ObjectsQuery>().answers::<ObjectsPage>("200"),
        op("get", "/v1/storage/{key}", "get_object", "storage", "Read an object.").answers_raw("200", "application/octet-stream"),
        op("put", "/v1/storage/{key}", "put_object", "storage", "Write an object (size cap; bounded concurrent uploads answer 503 + Retry-After).")
            .takes_raw("application/octet-stream", json!({"type": "string", "format": "binary"}))
            .answers::<StoredObject>("201"),
        op("delete", "/v1/storage/{key}", "delete_object", "storage", "Delete an object.").answers_raw("204", ""),
        op("get", "/v1/datasets", "list_datasets", "datasets", "List datasets (latest manifests), in name order.")
            .query::<PageQuery>().answers::<DatasetsPage>("200"),
        op("get", "/v1/datasets/{name}", "get_dataset", "datasets", "A dataset's latest manifest.").answers::<Manifest>("200"),
        op("post", "/v1/datasets/{name}", "ingest", "datasets", "Ingest CSV, NDJSON, Parquet or Arrow IPC: the file as the body (its format from `?format=`, else from the Content-Type: `text/csv`, `application/x-ndjson`, `application/vnd.apache.parquet`, `application/vnd.apache.arrow.stream`; `application/octet-stream` means CSV unless `?format=` says otherwise), or a multipart form with a `file` part (and `mode`, `format`, `keys` parts; the file name's extension names the format). An upsert updates rows whose `keys` match and inserts the others. 201 for a new version, 200 when the same input was already ingested (nothing written).")
            .takes_raw("application/octet-stream", json!({"type": "string", "format": "binary"}))
            .takes_raw("multipart/form-data", json!({"type": "object", "properties": {"file": {"type": "string", "format": "binary", "description": "the file"}, "mode": {"type": "string"}, "format": {"type": "string"}, "keys": {"type": "string"}}, "required": ["file"]}))
            .query::<IngestQuery>()
            .answers::<IngestReport>("201")
            .answers::<IngestReport>("200"),
        op("delete", "/v1/datasets/{name}", "drop_dataset", "datasets", "Drop a dataset with every version and file.").answers_raw("204", ""),
        op("get", "/v1/datasets/{name}/versions", "list_versions", "datasets", "A dataset's versions, oldest first.").answers::<Versions>("200"),
        op("post", "/v1/datasets/{name}/delete", "delete_rows", "datasets", "Delete the rows matching a SQL condition, as a new version.")
            .takes::<DeleteRequest>().answers::<DeleteReport>("200"),
        op("post", "/v1/datasets/{name}/optimize", "optimize_dataset", "datasets", "Merge the dataset's small files (one per append) into large ones, as a new version with the same rows (Delta's OPTIMIZE), so that queries plan over few files again. Nothing to merge: no new version (`files_removed` 0).")
            .answers::<OptimizeReport>("200"),
        op("post", "/v1/sql", "sql", "sql", "Run read-only SQL. JSON `{columns, rows, row_count}` by default, or `Accept: application/vnd.apache.parquet` for a Parquet file (both collected first). `Accept: application/vnd.apache.arrow.stream` (Arrow IPC) or `application/x-ndjson` (one object per row) streams the rows as they are computed: an error before the first batch gets its status; a later one cuts the chunked body short.")
            .takes::<SqlRequest>()
            .answers::<JsonResult>("200")
            .answers_raw("200", PARQUET)
            .answers_raw("200", ARROW_STREAM)
            .answers_raw("200", NDJSON),
        op("post", "/v1/embed", "embed", "embeddings", "Embed texts with the lakehouse's model.")
            .takes::<EmbedRequest>().example(examples::embed_request).answers::<Embeddings>("200"),
        op("post", "/v1/embeddings", "create_embeddings", "embeddings", "OpenAI-compatible embeddings; `input_type` (query or document) is the NIM extension for models with task prompts.")
            .takes::<EmbeddingsRequest>().example(examples::embeddings_request).answers::<EmbeddingsResponse>("200"),
        op("get", "/v1/embed/stats", "embed_stats", "embeddings", "Embedding cache counters and the model's name.").answers::<EmbedStats>("200"),
        op("get", "/v1/indexes", "list_indexes", "indexes", "List vector indexes, in name order.")
            .query::<PageQuery>().answers::<IndexesPage>("200"),
        op("post", "/v1/indexes", "create_index", "indexes", "Create a vector index.")
            .takes::<IndexSpec>().example(examples::index_spec).answers::<IndexInfo>("201"),
        op("get", "/v1/indexes/{name}", "get_index", "indexes", "Index info: spec, count, memory.").answers::<IndexInfo>("200"),
        op("delete", "/v1/indexes/{name}", "drop_index", "indexes", "Delete an index and its stored files.").answers_raw("204", ""),
        op("post", "/v1/indexes/{name}/add", "add_records", "indexes", "Add or replace a batch of records, each with a `vector` or a `text` to embed (validated as a whole first).")
            .takes::<AddRequest>().answers::<Added>("200"),
        op("post", "/v1/indexes/{name}/search", "search_index", "indexes", "Nearest records to a vector or a text.")
            .takes::<IndexQuery>().example(examples::index_query).answers::<SearchAnswer>("200"),
        op("get", "/v1/indexes/{name}/records", "list_records", "indexes", "The index's records in pages, in the order stored; records added between pages come at the end.")
            .query::<PageQuery>().answers::<IndexRecordsPage>("200"),
        op("post", "/v1/indexes/{name}/remove", "remove_records", "indexes", "Remove records by `ids`, or every record whose metadata passes `filter` (one of the two).")
            .takes::<RemoveRequest>().answers::<Removed>("200"),
        op("post", "/v1/matrix/search", "matrix_search", "matrix", "Search several corpora at once, merged by distance, with optional playbook boost.")
            .takes::<MatrixRequest>().example(examples::matrix_request).answers::<MatrixResult>("200"),
        op("post", "/v1/playbook/record", "record_playbook", "playbook", "Record an answer that worked.")
            .takes::<PlaybookEntry>().example(examples::playbook_entry).answers::<PlaybookRecorded>("200"),
        op("post", "/v1/playbook/record/bulk", "record_playbook_bulk", "playbook", "Record many answers: an outcome per entry.")
            .takes::<BulkRecord>().answers::<BulkRecorded>("200"),
        op("delete", "/v1/playbook", "drop_playbook", "playbook", "Forget every recorded answer (drop the playbook index).").answers_raw("204", ""),
    ]
}

/// Where generated schemas live in the document.
const SCHEMAS: &str = "/components/schemas";

fn generator(serialize: bool) -> SchemaGenerator {
    let settings = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = SCHEMAS.into();
            s.meta_schema = None;
        })
        .with_transform(no_bool_schemas());
    if serialize {
        settings.for_serialize().into_generator()
    } else {
        settings.for_deserialize().into_generator()
    }
}

/// The query parameters of a type: one per property, its description lifted to the
/// parameter, `null` dropped from its types (a parameter is absent, never null).
fn query_parameters(of: SchemaOf) -> Vec<Value> {
    let mut inline = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    }));
    let schema = of(&mut inline).to_value();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut parameters = Vec::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let mut property = property.clone();
        let description = property
            .as_object_mut()
            .and_then(|p| p.remove("description"))
            .unwrap_or(Value::Null);
        if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                property["type"] = types[0].clone();
            }
        }
        let mut parameter = json!({"name": name, "in": "query", "schema": property});
        if !description.is_null() {
            parameter["description"] = description;
        }
        if required.contains(&name.as_str()) {
            parameter["required"] = json!(true);
        }
        parameters.push(parameter);
    }
    parameters
}

/// The `$ref` names in `value`, as `#/components/schemas/<name>`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(&format!("#{SCHEMAS}/")) {
                            out.push(name.to_string());
                        }
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Points every `$ref` to a renamed schema at its new name.
fn rename_refs(value: &mut Value, renamed: &Map<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(r) = v
                    && let Some(name) = r.strip_prefix(&format!("#{SCHEMAS}/"))
                    && let Some(Value::String(new)) = renamed.get(name)
                {
                    *r = format!("#{SCHEMAS}/{new}");
                } else {
                    rename_refs(v, renamed);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

/// Merges the answers' schemas into the requests': a type that reads and writes alike is
/// one schema; one that differs (a field with a default is optional in a request and always
/// present in an answer), or that holds one that differs, gets an answer schema of its own,
/// `<Name>Output`, and the answers' references follow.
fn merge(
    schemas: &mut Map<String, Value>,
    mut answer_schemas: Map<String, Value>,
    answers: &mut [Value],
) {
    let mut renamed = Map::new();
    loop {
        let before = renamed.len();
        for (name, schema) in &answer_schemas {
            if renamed.contains_key(name) {
                continue;
            }
            let mut inner = Vec::new();
            refs(schema, &mut inner);
            let differs = schemas.get(name).is_some_and(|s| s != schema)
                || (schemas.contains_key(name) && inner.iter().any(|r| renamed.contains_key(r)));
            if differs {
                let mut new = format!("{name}Output");
                while schemas.contains_key(&new) || answer_schemas.contains_key(&new) {
                    new.push('_');
                }
                renamed.insert(name.clone(), Value::String(new));
            }
        }
        if renamed.len() == before {
            break;
        }
    }
    for answer in answers.iter_mut() {
        rename_refs(answer, &renamed);
    }
    for (name, mut schema) in std::mem::take(&mut answer_schemas) {
        rename_refs(&mut schema, &renamed);
        let name = match renamed.get(&name) {
            Some(Value::String(new)) => new.clone(),
            _ => name,
        };
        schemas.insert(name, schema);
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut requests = generator(false);
    let mut replies = generator(true);
    let error = replies.subschema_for::<ErrorBody>().to_value();
    // The answers' schemas, in order of (operation, answer), renamed together below.
    let ops = operations();
    let mut answer_schemas: Vec<Value> = Vec::new();
    for o in &ops {
        for (_, _, schema) in &o.answers {
            if let Some(of) = schema {
                answer_schemas.push(of(&mut replies).to_value());
            }
        }
    }
    answer_schemas.push(error);
    let mut schemas = Map::new();
    let mut bodies = Vec::new();
    for o in &ops {
        let mut content = Map::new();
        for (media, body) in &o.body {
            let schema = match body {
                Body::Typed(of) => of(&mut requests).to_value(),
                Body::Literal(schema) => schema.clone(),
            };
            let mut media_type = json!({ "schema": schema });
            if let Some(example) = o.example.filter(|_| *media == "application/json") {
                media_type["example"] = example();
            }
            content.insert(media.to_string(), media_type);
        }
        bodies.push(content);
    }
    schemas.extend(requests.take_definitions(true));
    merge(
        &mut schemas,
        replies.take_definitions(true),
        &mut answer_schemas,
    );
    let error = answer_schemas.pop().expect("the error schema");
    let error = json!({
        "description": "Error: 400 invalid input, 401 no token, 403 network not allowed, 404 unknown, 409 conflict, 413 too large, 415 wrong content type, 422 validation, 503 busy (Retry-After), 504 timeout, 500 storage/internal",
        "content": {"application/json": {"schema": error}}
    });
    let mut answer_schemas = answer_schemas.into_iter();
    let mut paths = Map::new();
    for (o, body) in ops.iter().zip(bodies) {
        let mut responses = Map::new();
        for (status, media, schema) in &o.answers {
            let response = responses.entry(status.to_string()).or_insert_with(
                || json!({"description": if *status == "503" { "Not ready" } else { "OK" }}),
            );
            if media.is_empty() {
                continue;
            }
            let media_type = match schema {
                Some(_) => json!({"schema": answer_schemas.next().expect("one schema per answer")}),
                None => json!({}),
            };
            response
                .as_object_mut()
                .expect("a response")
                .entry("content")
                .or_insert_with(|| json!({}))[*media] = media_type;
        }
        responses.insert("default".to_string(), error.clone());
        let mut operation = json!({
            "operationId": o.id,
            "tags": [o.tag],
            "summary": o.summary,
            "responses": responses,
        });
        let mut params: Vec<Value> = ["key", "name"]
            .iter()
            .filter(|p| o.path.contains(&format!("{{{p}}}")))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if let Some(of) = o.query {
            params.extend(query_parameters(of));
        }
        if o.method == "post" {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "description": "a retry with the same key gets the first attempt's answer (kept in the server's memory for 24 h)", "schema": {"type": "string", "maxLength": 255}}));
        }
        params.push(json!({"name": "x-request-id", "in": "header", "description": "echoed on the response (a new id when absent)", "schema": {"type": "string", "maxLength": 128}}));
        operation["parameters"] = json!(params);
        if !body.is_empty() {
            operation["requestBody"] = json!({"required": true, "content": body});
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
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {"title": "lakehouse", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Datasets, SQL, vector indexes, embeddings, matrix search and playbook memory over HTTP. The same lakehouse is served to AI agents over MCP (streamable HTTP, JSON-RPC) at /mcp, behind the same bearer token and network rules; see the README's Agents (MCP) section."},
        "tags": [
            {"name": "health", "description": "Liveness, readiness, metrics, this document."},
            {"name": "storage", "description": "Objects under the lakehouse root."},
            {"name": "datasets", "description": "Versioned tables (Delta Lake): ingest, manifests, versions, deletes."},
            {"name": "sql", "description": "Read-only SQL over the datasets."},
            {"name": "embeddings", "description": "Text embeddings with the lakehouse's model."},
            {"name": "indexes", "description": "Vector indexes: records, search, pages."},
            {"name": "matrix", "description": "Search over several indexes at once."},
            {"name": "playbook", "description": "Answers that worked, remembered for later searches."}
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas
        }
    });
    unlink_descriptions(&mut document);
    plain_enums(&mut document);
    document
}

/// A choice (a Rust enum of unit variants) comes out of schemars as `oneOf` one `const` per
/// variant, each with its doc comment. Generated clients handle a plain `enum` of strings
/// best (openapi-python-client's parser of a `oneOf` of consts refuses every value but the
/// first), so each becomes `{"type": "string", "enum": [...]}`, the variants' descriptions
/// appended to the schema's own.
fn plain_enums(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let variants = map
                .get("oneOf")
                .and_then(Value::as_array)
                .and_then(|items| {
                    items
                        .iter()
                        .map(|v| {
                            let v = v.as_object()?;
                            let name = v.get("const")?.as_str()?;
                            let plain = v
                                .keys()
                                .all(|k| matches!(k.as_str(), "const" | "type" | "description"));
                            (plain && v.get("type").is_none_or(|t| t == "string")).then(|| {
                                (
                                    name.to_string(),
                                    v.get("description")
                                        .and_then(Value::as_str)
                                        .map(str::to_string),
                                )
                            })
                        })
                        .collect::<Option<Vec<_>>>()
                });
            if let Some(variants) = variants.filter(|v| !v.is_empty()) {
                map.remove("oneOf");
                let mut text = map
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                for (name, description) in &variants {
                    if let Some(d) = description {
                        text.push_str(&format!("\n- `{name}`: {d}"));
                    }
                }
                if !text.is_empty() {
                    map.insert(
                        "description".into(),
                        Value::String(text.trim_start().to_string()),
                    );
                }
                map.insert("type".into(), json!("string"));
                let names: Vec<Value> = variants
                    .into_iter()
                    .map(|(n, _)| Value::String(n))
                    .collect();
                map.insert("enum".into(), Value::Array(names));
                return;
            }
            map.values_mut().for_each(plain_enums);
        }
        Value::Array(items) => items.iter_mut().for_each(plain_enums),
        _ => {}
    }
}

/// The types' doc comments are the schemas' descriptions; their intra-doc links
/// (`` [`Name`] ``, `` [`Name`](path) ``) mean nothing to a client: each keeps its code span.
fn unlink_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key == "description" => *text = unlink(text),
                    _ => unlink_descriptions(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unlink_descriptions),
        _ => {}
    }
}

fn unlink(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let link = &rest[start + 1..];
        let Some(end) = link[1..].find("`]") else {
            out.push('[');
            rest = link;
            continue;
        };
        out.push_str(&link[..end + 2]);
        rest = &link[end + 3..];
        if rest.starts_with('(')
            && let Some(close) = rest.find(')')
        {
            rest = &rest[close + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn descriptions_keep_the_code_of_intra_doc_links() {
        assert_eq!(
            super::unlink("as in [`VectorRecord::metadata`], 1 to [`MAX_K`](crate::MAX_K)."),
            "as in `VectorRecord::metadata`, 1 to `MAX_K`."
        );
        assert_eq!(super::unlink("a [`broken link"), "a [`broken link");
        assert_eq!(super::unlink("[x] and `[` alone"), "[x] and `[` alone");
    }

    /// The document is generated from the types: the handlers' answer types are the
    /// documented schemas, a type that reads and answers differently gets an answer schema
    /// of its own, and no boolean schema is left for client generators to trip on.
    #[test]
    fn schemas_come_from_the_types() {
        let doc = super::document();
        let schemas = &doc["components"]["schemas"];
        let search = &doc["paths"]["/v1/indexes/{name}/search"]["post"];
        assert_eq!(search["operationId"], "search_index");
        assert_eq!(
            search["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/IndexQuery"
        );
        assert_eq!(
            search["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/SearchAnswer"
        );
        // IndexSpec's fields with defaults may be left out of a request, and are always in
        // an answer.
        let spec_in = schemas["IndexSpec"]["required"].as_array().unwrap();
        let spec_out = schemas["IndexSpecOutput"]["required"].as_array().unwrap();
        assert!(
            spec_in.len() < spec_out.len(),
            "{spec_in:?} vs {spec_out:?}"
        );
        assert!(spec_out.contains(&"metric".into()));
        assert_eq!(
            schemas["IndexInfo"]["properties"]["spec"]["$ref"],
            "#/components/schemas/IndexSpecOutput"
        );
        // A choice's documented names are the canonical ones of core's table (the first
        // name of each value; aliases are accepted but not listed).
        use lakehouse_core::embed::EncodingFormat;
        use lakehouse_core::{IndexKind, Metric, Purpose, Quantization};
        fn canonical<T: PartialEq>(names: &[(&'static str, T)]) -> Vec<serde_json::Value> {
            let mut out = Vec::new();
            for (i, (name, value)) in names.iter().enumerate() {
                if !names[..i].iter().any(|(_, v)| v == value) {
                    out.push((*name).into());
                }
            }
            out
        }
        for (schema, names) in [
            ("Metric", canonical(Metric::NAMES)),
            ("IndexKind", canonical(IndexKind::NAMES)),
            ("Quantization", canonical(Quantization::NAMES)),
            ("Purpose", canonical(Purpose::NAMES)),
            ("EncodingFormat", canonical(EncodingFormat::NAMES)),
        ] {
            let documented = schemas[schema]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{schema}: {}", schemas[schema]));
            assert_eq!(documented, &names, "{schema}");
            assert_eq!(schemas[schema]["type"], "string", "{schema}");
            assert!(schemas[schema].get("oneOf").is_none(), "{schema}");
        }
        // The variants' own doc comments stay, in the choice's description.
        let metric = schemas["Metric"]["description"].as_str().unwrap();
        assert!(metric.contains("\n- `cosine`: "), "{metric}");
        // Every $ref resolves, and no schema is a bare `true`/`false`.
        let text = doc.to_string();
        let mut refs = Vec::new();
        super::refs(&doc, &mut refs);
        for name in refs {
            assert!(schemas.get(&name).is_some(), "dangling $ref {name}");
        }
        assert!(!text.contains("\"items\":true"), "a boolean schema is left");
        let mut bools = 0;
        count_bool_properties(&doc, &mut bools);
        assert_eq!(bools, 0, "a property with a boolean schema is left");
        // Query parameters come from the query types.
        let list = &doc["paths"]["/v1/storage"]["get"]["parameters"];
        let names: Vec<_> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in ["prefix", "limit", "cursor"] {
            assert!(names.contains(&name), "{names:?}");
        }
        let limit = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["in"], "query");
        assert_eq!(limit["schema"]["type"], "integer");
        assert_eq!(limit["schema"]["maximum"], super::super::page::MAX_LIMIT);
    }

    fn count_bool_properties(value: &serde_json::Value, count: &mut usize) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                    *count += props.values().filter(|p| p.is_boolean()).count();
                }
                map.values().for_each(|v| count_bool_properties(v, count));
            }
            serde_json::Value::Array(items) => {
                items.iter().for_each(|v| count_bool_properties(v, count))
            }
            _ => {}
        }
    }

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
