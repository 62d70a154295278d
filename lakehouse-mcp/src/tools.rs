//! The tools: one argument type and one result type each (their JSON Schemas are what an
//! agent sees), the list with its annotations, and the calls into core.
//!
//! Translation only: every rule (names, `k`, filters, read-only SQL, ingest modes) is
//! core's; this module adds the row and folder limits that only an agent's server needs.

use std::path::PathBuf;
use std::sync::Arc;

use lakehouse_core::catalog::{Column, Operation, VersionInfo};
use lakehouse_core::matrix::MatrixResult;
use lakehouse_core::query::JsonResult;
use lakehouse_core::vector::IndexInfo;
use lakehouse_core::{
    Embeddings, Error, Format, Hit, IndexQuery, IngestMode, IngestOptions, Lakehouse,
    MatrixRequest, MetadataFilter, PlaybookEntry, Purpose, Result,
};
use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{self, DEFAULT_ROWS};
use crate::server::Shared;

// ---- arguments ----------------------------------------------------------------------

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Which dataset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestArgs {
    /// The dataset's name, as `list_datasets` gives it.
    pub name: String,
}

/// A read-only SQL query.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuerySqlArgs {
    /// One SELECT (or WITH … SELECT, EXPLAIN) statement in DataFusion's SQL dialect. Each
    /// dataset is a table of its name; `"name@N"` (double-quoted) reads version N. Writes,
    /// DDL, COPY and SET are refused.
    pub sql: String,
    /// Most rows to return (100 when absent; the server caps it). A longer result is cut,
    /// with `truncated` set and a note: add a LIMIT or aggregate to see what matters.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_rows: Option<usize>,
}

/// Texts to embed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedTextArgs {
    /// The texts, one vector each.
    pub texts: Vec<String>,
    /// `document` (text to be found; the default) or `query` (text to search with).
    #[serde(default)]
    pub purpose: Purpose,
}

/// A nearest-neighbour search in one vector index.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchVectorsArgs {
    /// The vector index, as `list_indexes` gives it.
    pub index: String,
    /// A query text, embedded as a search query; give this or `vector`.
    #[serde(default)]
    pub text: Option<String>,
    /// A query vector of the index's dimension; give this or `text`.
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
    /// How many hits (10 when absent).
    #[serde(default = "default_k")]
    #[schemars(range(min = 1, max = lakehouse_core::vector::MAX_K))]
    pub k: usize,
    /// Only records whose metadata has these values: `{"state": "IL"}`, or a list for any
    /// of several, `{"state": ["IL", "WI"]}`; keys must all match.
    #[serde(default)]
    pub filter: Option<MetadataFilter>,
    /// Ids never to return (e.g. the hits of an earlier page).
    #[serde(default)]
    pub exclude_ids: Vec<String>,
}

/// A search across several vector indexes at once, optionally helped by the playbook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixSearchArgs {
    /// The vector indexes (corpora) to search.
    pub corpora: Vec<String>,
    /// The query text, embedded as a search query.
    pub text: String,
    /// How many merged hits (10 when absent).
    #[serde(default = "default_k")]
    #[schemars(range(min = 1, max = lakehouse_core::vector::MAX_K))]
    pub k: usize,
    /// Only hits whose metadata has these values (as in `search_vectors`).
    #[serde(default)]
    pub filter: Option<MetadataFilter>,
    /// Ids never to return.
    #[serde(default)]
    pub exclude_ids: Vec<String>,
    /// Boost (and add) answers recorded with `record_playbook` for similar queries.
    #[serde(default)]
    pub use_playbook: bool,
}

/// A good answer to remember for similar queries.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPlaybookArgs {
    /// The query that found the answer.
    pub query_text: String,
    /// The answer's id in its corpus.
    pub answer_id: String,
    /// The vector index (corpus) the answer lives in.
    pub answer_corpus: String,
    /// How good the answer was, 0 to 1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub score: f32,
    /// Free-form labels stored with the entry.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A file to load as a dataset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestArgs {
    /// Absolute path of a CSV, NDJSON, Parquet or Arrow IPC file inside a folder the
    /// server allows.
    pub path: PathBuf,
    /// The dataset's name (the file's stem when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// `create` (the default; identical content is a no-op), `append`, `replace` or
    /// `upsert` (rows whose `keys` match are updated, the others inserted).
    #[serde(default)]
    pub mode: IngestMode,
    /// The key columns of an upsert.
    #[serde(default)]
    pub keys: Vec<String>,
    /// `csv`, `ndjson`, `parquet` or `arrow` (guessed from the file's extension when
    /// absent).
    #[serde(default)]
    pub format: Option<Format>,
}

fn default_k() -> usize {
    lakehouse_core::vector::DEFAULT_K
}

// ---- results ------------------------------------------------------------------------

/// The datasets.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DatasetList {
    /// One entry per dataset, sorted by name.
    pub datasets: Vec<DatasetSummary>,
}

/// One dataset at its latest version.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DatasetSummary {
    /// Name (the SQL table name).
    pub name: String,
    /// Latest version.
    pub version: u64,
    /// Rows at that version.
    pub row_count: u64,
    /// Its columns.
    pub columns: Vec<Column>,
}

/// A dataset's schema and history.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ManifestView {
    /// Name (the SQL table name).
    pub name: String,
    /// Stable id: a UUIDv5 of the name.
    pub dataset_id: String,
    /// Latest version.
    pub version: u64,
    /// Rows at the latest version.
    pub row_count: u64,
    /// What made the latest version.
    pub operation: Operation,
    /// Its columns.
    pub columns: Vec<Column>,
    /// Every retained version, oldest first; read one in SQL as `"name@N"`.
    pub versions: Vec<VersionInfo>,
}

/// Rows of a query.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SqlRows {
    /// The columns and the rows returned (`row_count` counts those returned).
    #[serde(flatten)]
    pub result: JsonResult,
    /// Whether the query produced more rows than were returned.
    pub truncated: bool,
    /// Why rows are missing, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The vector indexes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IndexList {
    /// One entry per index, sorted by name.
    pub indexes: Vec<IndexInfo>,
}

/// Search hits, nearest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchHits {
    /// Up to `k` hits.
    pub hits: Vec<Hit>,
}

/// The recorded entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Recorded {
    /// The entry's id; recording the same query, answer and corpus again replaces it.
    pub playbook_id: String,
}

/// What an ingest did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Ingested {
    /// The dataset.
    pub name: String,
    /// Its version now.
    pub version: u64,
    /// Its rows now.
    pub row_count: u64,
    /// Rows read from the file.
    pub rows_read: u64,
    /// True when the content was already there and nothing was written.
    pub no_op: bool,
}

// ---- the list -----------------------------------------------------------------------

/// The tools, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolName {
    /// `list_datasets`.
    ListDatasets,
    /// `get_manifest`.
    GetManifest,
    /// `query_sql`.
    QuerySql,
    /// `list_indexes`.
    ListIndexes,
    /// `embed_text`.
    EmbedText,
    /// `search_vectors`.
    SearchVectors,
    /// `matrix_search`.
    MatrixSearch,
    /// `record_playbook`.
    RecordPlaybook,
    /// `ingest`.
    Ingest,
}

impl ToolName {
    /// Every tool.
    pub const ALL: [ToolName; 9] = [
        ToolName::ListDatasets,
        ToolName::GetManifest,
        ToolName::QuerySql,
        ToolName::ListIndexes,
        ToolName::EmbedText,
        ToolName::SearchVectors,
        ToolName::MatrixSearch,
        ToolName::RecordPlaybook,
        ToolName::Ingest,
    ];

    /// The name clients call it by.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::ListDatasets => "list_datasets",
            ToolName::GetManifest => "get_manifest",
            ToolName::QuerySql => "query_sql",
            ToolName::ListIndexes => "list_indexes",
            ToolName::EmbedText => "embed_text",
            ToolName::SearchVectors => "search_vectors",
            ToolName::MatrixSearch => "matrix_search",
            ToolName::RecordPlaybook => "record_playbook",
            ToolName::Ingest => "ingest",
        }
    }

    /// The tool called `name`, if there is one.
    pub fn parse(name: &str) -> Option<ToolName> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether the tool changes the lakehouse.
    pub fn writes(self) -> bool {
        matches!(self, ToolName::RecordPlaybook | ToolName::Ingest)
    }

    /// Its description, input and output schemas and annotations, as listed to clients.
    pub fn describe(self) -> Tool {
        let (title, description, input, output) = match self {
            ToolName::ListDatasets => (
                "List datasets",
                "Lists the datasets (SQL tables) with their latest version, row count and \
                 columns. Start here to see what data there is.",
                schema_for_input::<NoArgs>(),
                schema_for_output::<DatasetList>(),
            ),
            ToolName::GetManifest => (
                "Dataset schema and versions",
                "Describes one dataset: its columns with types, row count, and every retained \
                 version (read an older one in SQL as \"name@N\").",
                schema_for_input::<ManifestArgs>(),
                schema_for_output::<ManifestView>(),
            ),
            ToolName::QuerySql => (
                "Run read-only SQL",
                "Runs one read-only SQL query (DataFusion dialect) over the datasets and \
                 returns its rows as JSON. Results over max_rows are cut with a note, so \
                 aggregate or add LIMIT for large tables. vector_search(index, text, k) and \
                 embed(text) also work inside SQL.",
                schema_for_input::<QuerySqlArgs>(),
                schema_for_output::<SqlRows>(),
            ),
            ToolName::ListIndexes => (
                "List vector indexes",
                "Lists the vector indexes with their dimension, metric, settings and number \
                 of vectors; search them with search_vectors or matrix_search.",
                schema_for_input::<NoArgs>(),
                schema_for_output::<IndexList>(),
            ),
            ToolName::EmbedText => (
                "Embed texts",
                "Turns texts into vectors with the lakehouse's local embedding model (the \
                 one its indexes were built with). Use purpose \"query\" for search texts.",
                schema_for_input::<EmbedTextArgs>(),
                schema_for_output::<Embeddings>(),
            ),
            ToolName::SearchVectors => (
                "Search a vector index",
                "Finds the k records nearest in meaning to a text (or a vector) in one \
                 vector index, optionally only those whose metadata matches a filter, and \
                 never the ids in exclude_ids. Smaller distance is nearer.",
                schema_for_input::<SearchVectorsArgs>(),
                schema_for_output::<SearchHits>(),
            ),
            ToolName::MatrixSearch => (
                "Search several indexes",
                "Searches several vector indexes (corpora) with one text and merges the \
                 nearest hits; with use_playbook, answers recorded for similar queries are \
                 boosted or added.",
                schema_for_input::<MatrixSearchArgs>(),
                schema_for_output::<MatrixResult>(),
            ),
            ToolName::RecordPlaybook => (
                "Remember a good answer",
                "Records that answer_id in answer_corpus was a good answer (score 0 to 1) to \
                 query_text, so matrix_search with use_playbook favours it for similar \
                 queries.",
                schema_for_input::<RecordPlaybookArgs>(),
                schema_for_output::<Recorded>(),
            ),
            ToolName::Ingest => (
                "Load a file as a dataset",
                "Loads a CSV or NDJSON file from a folder the server allows into a dataset: \
                 create (identical content is a no-op), append or replace. Every change is \
                 a new version.",
                schema_for_input::<IngestArgs>(),
                schema_for_output::<Ingested>(),
            ),
        };
        let input = input.unwrap_or_else(|e| {
            unreachable!(
                "{}: the argument type's schema is an object: {e}",
                self.as_str()
            )
        });
        let annotations = match self {
            ToolName::RecordPlaybook => ToolAnnotations::from_raw(
                Some(title.into()),
                Some(false),
                Some(false),
                Some(true),
                Some(false),
            ),
            // Replace mode overwrites rows (older versions stay readable).
            ToolName::Ingest => ToolAnnotations::from_raw(
                Some(title.into()),
                Some(false),
                Some(true),
                Some(true),
                Some(false),
            ),
            _ => ToolAnnotations::from_raw(
                Some(title.into()),
                Some(true),
                Some(false),
                Some(true),
                Some(false),
            ),
        };
        Tool::new(self.as_str(), description, input)
            .with_title(title)
            .with_raw_output_schema(output)
            .with_annotations(annotations)
    }
}

/// The tools `options` turn on.
pub fn listed(shared: &Shared) -> Vec<Tool> {
    ToolName::ALL
        .into_iter()
        .filter(|t| shared.enabled(*t).is_ok())
        .map(ToolName::describe)
        .collect()
}

// ---- the calls ----------------------------------------------------------------------

/// A tool's structured result and its short text form.
pub struct Output {
    /// The JSON the output schema describes.
    pub structured: serde_json::Value,
    /// A few lines for clients that show text.
    pub text: String,
}

fn output<T: Serialize>(value: &T, text: String) -> Result<Output> {
    let structured = serde_json::to_value(value)
        .map_err(|e| Error::Internal(format!("a tool result is not JSON: {e}")))?;
    Ok(Output { structured, text })
}

pub(crate) fn list_datasets(lh: &Lakehouse) -> Result<Output> {
    let datasets: Vec<DatasetSummary> = lh
        .datasets()
        .iter()
        .map(|m| DatasetSummary {
            name: m.name.clone(),
            version: m.version,
            row_count: m.row_count,
            columns: m.columns.clone(),
        })
        .collect();
    let text = if datasets.is_empty() {
        "no datasets".to_string()
    } else {
        let lines: Vec<String> = datasets
            .iter()
            .map(|d| {
                let cols: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "{} (v{}, {} rows): {}",
                    d.name,
                    d.version,
                    d.row_count,
                    cols.join(", ")
                )
            })
            .collect();
        lines.join("\n")
    };
    output(&DatasetList { datasets }, text)
}

impl ManifestView {
    /// Dataset `name`'s latest manifest with its retained versions.
    pub(crate) async fn of(lh: &Lakehouse, name: &str) -> Result<ManifestView> {
        let m = lh.dataset(name).manifest().await?;
        let versions = lh.dataset(name).versions().await?;
        Ok(ManifestView {
            name: m.name.clone(),
            dataset_id: m.dataset_id.to_string(),
            version: m.version,
            row_count: m.row_count,
            operation: m.operation,
            columns: m.columns.clone(),
            versions,
        })
    }
}

pub(crate) async fn get_manifest(lh: &Lakehouse, args: ManifestArgs) -> Result<Output> {
    let view = ManifestView::of(lh, &args.name).await?;
    let cols: Vec<String> = view
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.data_type))
        .collect();
    let text = format!(
        "{}: version {} of {} retained, {} rows; columns: {}",
        view.name,
        view.version,
        view.versions.len(),
        view.row_count,
        cols.join(", ")
    );
    output(&view, text)
}

/// Rows shown in the text form of a query result.
const TEXT_ROWS: usize = 20;

pub(crate) async fn query_sql(shared: &Shared, args: QuerySqlArgs) -> Result<Output> {
    let options = &shared.options;
    let asked = args.max_rows.unwrap_or(DEFAULT_ROWS);
    if asked == 0 {
        return Err(Error::InvalidInput("max_rows must be at least 1".into()));
    }
    let limit = asked.min(options.max_rows);
    // The limit is part of the plan: a large result is never materialised.
    let (kept, cut) = shared.lh.sql_head(&args.sql, limit).await?;
    let json = kept.to_json()?;
    // Keep whole rows while they fit the result cap (with room for the columns and note).
    let budget = options
        .max_result_bytes
        .saturating_sub(serde_json::to_vec(&json.columns).map_or(0, |v| v.len()) + 1024);
    let mut used = 0usize;
    let mut fit = 0usize;
    for row in &json.rows {
        used = used.saturating_add(serde_json::to_vec(row).map_or(usize::MAX, |v| v.len() + 1));
        if used > budget {
            break;
        }
        fit += 1;
    }
    let mut rows = json.rows;
    let byte_cut = fit < rows.len();
    rows.truncate(fit);
    let note = if byte_cut {
        Some(format!(
            "showing the first {fit} rows: more would pass the server's {}-byte result cap; \
             select fewer columns or add LIMIT",
            options.max_result_bytes
        ))
    } else if cut {
        Some(format!(
            "showing the first {fit} rows; the query returns more (max_rows {limit}{}); \
             aggregate, filter or add LIMIT/OFFSET to see others",
            if asked > options.max_rows {
                ", the server's maximum"
            } else {
                ""
            }
        ))
    } else {
        None
    };
    let shown = kept.limit(TEXT_ROWS.min(fit)).0.to_pretty_string()?;
    let more = if byte_cut || cut {
        " (more not shown)"
    } else {
        ""
    };
    let mut text = format!("{fit} rows{more}\n{shown}");
    if let Some(n) = &note {
        text.push('\n');
        text.push_str(n);
    }
    let out = SqlRows {
        result: JsonResult {
            columns: json.columns,
            row_count: rows.len(),
            rows,
        },
        truncated: byte_cut || cut,
        note,
    };
    output(&out, text)
}

pub(crate) async fn list_indexes(lh: &Lakehouse) -> Result<Output> {
    let mut indexes = Vec::new();
    for name in lh.indexes().await? {
        indexes.push(lh.index(&name).info().await?);
    }
    let text = if indexes.is_empty() {
        "no vector indexes".to_string()
    } else {
        let lines: Vec<String> = indexes
            .iter()
            .map(|i| {
                format!(
                    "{}: {} vectors of {} dims ({:?})",
                    i.spec.name, i.count, i.spec.dimensions, i.spec.metric
                )
            })
            .collect();
        lines.join("\n")
    };
    output(&IndexList { indexes }, text)
}

pub(crate) async fn embed_text(lh: &Lakehouse, args: EmbedTextArgs) -> Result<Output> {
    let embedded = lh
        .embed_request(lakehouse_core::EmbedRequest {
            texts: args.texts,
            model: None,
            purpose: args.purpose,
        })
        .await?;
    let text = format!(
        "{} vectors of {} dims ({})",
        embedded.vectors.len(),
        embedded.dimension,
        embedded.model
    );
    output(&embedded, text)
}

fn hit_line(id: &str, distance: f32, metadata: Option<&serde_json::Value>) -> String {
    match metadata {
        Some(m) => format!("{distance:.4}  {id}  {m}"),
        None => format!("{distance:.4}  {id}"),
    }
}

pub(crate) async fn search_vectors(lh: &Lakehouse, args: SearchVectorsArgs) -> Result<Output> {
    let query = IndexQuery {
        vector: args.vector,
        text: args.text,
        filter: args.filter,
        exclude_ids: args.exclude_ids,
        ..IndexQuery::vector(Vec::new(), args.k)
    };
    let hits = lh.index(&args.index).search(query).await?;
    let lines: Vec<String> = hits
        .iter()
        .map(|h| hit_line(&h.id, h.distance, h.metadata.as_ref()))
        .collect();
    let text = format!("{} hits\n{}", hits.len(), lines.join("\n"));
    output(&SearchHits { hits }, text)
}

pub(crate) async fn matrix_search(lh: &Lakehouse, args: MatrixSearchArgs) -> Result<Output> {
    let request = MatrixRequest {
        metadata_filter: args.filter,
        exclude_ids: args.exclude_ids,
        use_playbook: args.use_playbook,
        ..MatrixRequest::text(args.text, args.corpora, args.k)
    };
    let result = lh.matrix_search(&request).await?;
    let lines: Vec<String> = result
        .hits
        .iter()
        .map(|h| {
            let boost = match &h.playbook {
                Some(p) if p.injected => "  [playbook: added]",
                Some(_) => "  [playbook: boosted]",
                None => "",
            };
            format!(
                "{}/{}{boost}",
                h.corpus,
                hit_line(&h.id, h.distance, h.metadata.as_ref())
            )
        })
        .collect();
    let text = format!(
        "{} hits ({} boosted, {} added by the playbook)\n{}",
        result.hits.len(),
        result.boosted,
        result.injected,
        lines.join("\n")
    );
    output(&result, text)
}

pub(crate) async fn record_playbook(lh: &Lakehouse, args: RecordPlaybookArgs) -> Result<Output> {
    let entry = PlaybookEntry {
        tags: args.tags,
        ..PlaybookEntry::new(
            args.query_text,
            args.answer_id,
            args.answer_corpus,
            args.score,
        )
    };
    let playbook_id = lh.record_playbook(entry).await?;
    let text = format!("recorded as {playbook_id}");
    output(&Recorded { playbook_id }, text)
}

pub(crate) async fn ingest(shared: &Shared, args: IngestArgs) -> Result<Output> {
    let path = options::inside(&args.path, &shared.allow_dirs)?;
    let name = args
        .name
        .unwrap_or_else(|| lakehouse_core::ingest::dataset_name_of(&path));
    let format = args.format.unwrap_or_else(|| Format::from_path(&path));
    let report = shared
        .lh
        .dataset(&name)
        .write(
            path.as_path(),
            &IngestOptions::mode(args.mode)
                .with_format(format)
                .with_keys(args.keys),
        )
        .await?;
    let m = Arc::clone(&report.manifest);
    let out = Ingested {
        name: m.name.clone(),
        version: m.version,
        row_count: m.row_count,
        rows_read: report.rows,
        no_op: report.no_op,
    };
    let text = if out.no_op {
        format!(
            "{}: unchanged (identical content already at version {})",
            out.name, out.version
        )
    } else {
        format!(
            "{}: version {} with {} rows ({} read)",
            out.name, out.version, out.row_count, out.rows_read
        )
    };
    output(&out, text)
}
