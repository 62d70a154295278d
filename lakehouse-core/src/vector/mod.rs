//! Named vector indexes (HNSW, on usearch), stored in the lakehouse's object store.
//!
//! [`VectorIndexes`] is the registry: create, list, open, delete. A [`VectorIndex`] takes
//! batches of `(id, vector, metadata)`, removals and searches from any number of threads at
//! once. Durability: every acknowledged add or remove is first written as one log object;
//! snapshots of the whole index are written every [`SNAPSHOT_EVERY_OPS`] operations (more
//! on a large index: [`snapshot_due`]; and on [`VectorIndex::flush`]), after which
//! older log objects are dropped. Reopening reads the
//! newest complete snapshot and replays the log after it; on a local root with no log to
//! replay, the snapshot file is memory-mapped instead of read, so a large index answers its
//! first search in milliseconds (see [`IndexInfo::memory_mapped`]). See `docs/STORAGE.md`.

mod commit;
mod filter;
mod index;
mod persist;
mod recent;
mod records;
mod scan;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::Storage;

pub use filter::MetadataFilter;
pub use index::VectorIndex;
pub use persist::{SNAPSHOT_AT_MOST_EVERY_OPS, SNAPSHOT_EVERY_OPS, SNAPSHOT_RECORDS, snapshot_due};
pub use scan::{
    FIT_MIN as SCAN_FIT_MIN, MAX_SCAN_DIMENSIONS, MIN_VARIANCE as SCAN_MIN_VARIANCE,
    TARGET_VARIANCE as SCAN_TARGET_VARIANCE,
};

/// Largest `k` a search accepts.
pub const MAX_K: usize = 10_000;
/// Hits a search returns when it names no `k`.
pub const DEFAULT_K: usize = 10;
/// Largest vector dimension accepted.
pub const MAX_DIMENSIONS: usize = 65_536;
/// Index names that start with this belong to the lakehouse itself (the playbook's,
/// [`crate::playbook::PLAYBOOK_INDEX`]): they can be listed, read and searched, but not
/// created, written or deleted through the public API.
pub const RESERVED_PREFIX: &str = "__";

/// [`Error::InvalidInput`] for a reserved index name.
pub(crate) fn check_not_reserved(name: &str, action: &str) -> Result<()> {
    if name.starts_with(RESERVED_PREFIX) {
        return Err(Error::invalid(format!(
            "cannot {action} vector index {name:?}: names starting with {RESERVED_PREFIX:?} \
             are reserved for the lakehouse's own indexes"
        )));
    }
    Ok(())
}

/// How distance is measured.
/// Parsed from its names and aliases (`cos`; `l2sq`, `euclidean`; `ip`, `dot`) by one
/// `FromStr` that serde and every wrapper use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `1 − cos(a, b)`: 0 for the same direction, up to 2.
    #[default]
    Cosine,
    /// Squared Euclidean distance.
    L2,
    /// `1 − a·b`.
    InnerProduct,
}

/// How vectors are stored in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Quantization {
    /// 32-bit floats.
    #[default]
    F32,
    /// 16-bit floats: half the memory.
    F16,
    /// 8-bit integers: a quarter of the memory (best with cosine).
    I8,
}

crate::choice::choices!(Metric, "metric", {
    Cosine => ["cosine", "cos"],
    L2 => ["l2", "l2sq", "euclidean"],
    InnerProduct => ["inner_product", "ip", "dot"],
});

crate::choice::choices!(Quantization, "quantization", {
    F32 => ["f32"],
    F16 => ["f16"],
    I8 => ["i8"],
});

/// How an index answers searches. Every kind keeps its vectors and an HNSW graph (the graph's
/// settings are [`IndexSpec::connectivity`] and the two expansions); the scan settings
/// ([`IndexSpec::scan_dimensions`], [`IndexSpec::scan_candidates`]) apply to `Auto` and `Scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    /// The default: the projected scan whenever its codes can hold [`SCAN_MIN_VARIANCE`] of
    /// the data's variance in at most half the vector's dimensions (the index picks how many,
    /// refitting as it grows), the graph otherwise. Exact below [`SCAN_FIT_MIN`] vectors.
    /// [`IndexInfo::search`] says which one answers.
    #[default]
    Auto,
    /// Graph walks only (HNSW): the fastest adds and the least memory, but queries unlike the
    /// stored vectors (short searches over long documents) miss near-tied neighbours unless
    /// the expansion is raised. What every index created before kinds existed is.
    Hnsw,
    /// The projected scan always, however little of the variance its codes hold (with
    /// `scan_dimensions` 0 the index picks the fewest directions that hold the target,
    /// up to [`MAX_SCAN_DIMENSIONS`]).
    Scan,
}

crate::choice::choices!(IndexKind, "index kind", {
    Auto => ["auto"],
    Hnsw => ["hnsw", "graph"],
    Scan => ["scan"],
});

/// Which way an index answers a search without a selective filter now (see [`IndexKind`]).
/// The default, `graph`, is what an index info from before this field meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchPath {
    /// Every stored vector is compared exactly (a scan index before its first fit).
    Exact,
    /// The projected scan, then an exact re-rank.
    Scan,
    /// A walk of the HNSW graph.
    #[default]
    Graph,
}

/// What [`VectorIndexes::create`] makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct IndexSpec {
    /// Index name: the same rules as dataset names.
    pub name: String,
    /// Vector length.
    pub dimensions: usize,
    /// How searches are answered; [`IndexKind::Auto`] unless given. (A stored spec written
    /// before kinds existed reads as `hnsw`, or `auto` when it set `scan_dimensions`: the
    /// behaviour it was created with.)
    #[serde(default)]
    pub kind: IndexKind,
    /// Distance.
    #[serde(default)]
    pub metric: Metric,
    /// Storage type.
    #[serde(default)]
    pub quantization: Quantization,
    /// HNSW graph degree (`M`), 16 by default (every kind).
    #[serde(default = "default_connectivity")]
    pub connectivity: usize,
    /// Candidate list size while inserting, 128 by default.
    #[serde(default = "default_expansion_add")]
    pub expansion_add: usize,
    /// Candidate list size while searching, 64 by default.
    #[serde(default = "default_expansion_search")]
    pub expansion_search: usize,
    /// Kinds `auto` and `scan`: the projected scan scores every vector by its projection onto
    /// this many principal directions of the data (one byte each, kept in memory beside the
    /// graph), then re-ranks the best `scan_candidates` exactly. For queries unlike the
    /// stored vectors, such as short searches over long documents, where a graph walk misses
    /// near-tied neighbours. 0 (the default) lets the index choose: the fewest directions that
    /// hold [`SCAN_TARGET_VARIANCE`] of the variance, chosen again at each refit
    /// ([`IndexInfo::scan_dimensions`] says how many). The directions are fitted once the
    /// index holds [`SCAN_FIT_MIN`] vectors (searches are exact before) and again each time
    /// it doubles. At most [`MAX_SCAN_DIMENSIONS`] and the vector length; must be 0 for
    /// `hnsw`.
    #[serde(default)]
    pub scan_dimensions: usize,
    /// Candidates a scan re-ranks exactly, 64 by default (kinds `auto` and `scan`); a
    /// search's `expansion` overrides it.
    #[serde(default = "default_scan_candidates")]
    pub scan_candidates: usize,
}

fn default_connectivity() -> usize {
    16
}
fn default_expansion_add() -> usize {
    128
}
fn default_expansion_search() -> usize {
    64
}
fn default_scan_candidates() -> usize {
    64
}

impl IndexSpec {
    /// A spec with the default kind ([`IndexKind::Auto`]), metric (cosine), quantization
    /// (f32), graph and scan settings.
    pub fn new(name: impl Into<String>, dimensions: usize) -> Self {
        Self {
            name: name.into(),
            dimensions,
            kind: IndexKind::Auto,
            metric: Metric::Cosine,
            quantization: Quantization::F32,
            connectivity: default_connectivity(),
            expansion_add: default_expansion_add(),
            expansion_search: default_expansion_search(),
            scan_dimensions: 0,
            scan_candidates: default_scan_candidates(),
        }
    }

    /// Pins the projected scan's settings (see [`IndexSpec::scan_dimensions`]): `dimensions`
    /// directions (0: chosen by the index) and `candidates` exact re-ranks. The kind stays
    /// as it is (`auto` unless set), so the scan is still left for the graph when the
    /// directions hold too little of the variance; [`IndexKind::Scan`] keeps it always.
    ///
    /// ```
    /// use lakehouse_core::vector::{IndexKind, IndexSpec};
    /// let spec = IndexSpec::new("profiles", 384).with_scan(64, 64);
    /// assert_eq!((spec.kind, spec.scan_dimensions, spec.scan_candidates), (IndexKind::Auto, 64, 64));
    /// ```
    pub fn with_scan(mut self, dimensions: usize, candidates: usize) -> Self {
        self.scan_dimensions = dimensions;
        self.scan_candidates = candidates;
        self
    }

    /// Sets the kind.
    ///
    /// ```
    /// use lakehouse_core::vector::{IndexKind, IndexSpec};
    /// let graph = IndexSpec::new("profiles", 384).with_kind(IndexKind::Hnsw);
    /// assert_eq!(graph.kind, "graph".parse().unwrap());
    /// ```
    pub fn with_kind(mut self, kind: IndexKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the metric.
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Sets the quantization.
    pub fn with_quantization(mut self, q: Quantization) -> Self {
        self.quantization = q;
        self
    }

    fn validate(&self) -> Result<()> {
        crate::catalog::validate_name(&self.name)?;
        if self.dimensions == 0 || self.dimensions > MAX_DIMENSIONS {
            return Err(Error::invalid(format!(
                "dimensions must be between 1 and {MAX_DIMENSIONS}, not {}",
                self.dimensions
            )));
        }
        if !(2..=256).contains(&self.connectivity) {
            return Err(Error::invalid("connectivity must be between 2 and 256"));
        }
        if self.kind == IndexKind::Hnsw && self.scan_dimensions > 0 {
            return Err(Error::invalid(
                "scan_dimensions applies to kinds auto and scan, not hnsw",
            ));
        }
        if self.scan_dimensions > self.dimensions.min(MAX_SCAN_DIMENSIONS) {
            return Err(Error::invalid(format!(
                "scan_dimensions must be at most the vector length and {MAX_SCAN_DIMENSIONS}, not {}",
                self.scan_dimensions
            )));
        }
        for (what, v) in [
            ("expansion_add", self.expansion_add),
            ("expansion_search", self.expansion_search),
            ("scan_candidates", self.scan_candidates),
        ] {
            if !(1..=MAX_K * 4).contains(&v) {
                return Err(Error::invalid(format!(
                    "{what} must be between 1 and {}",
                    MAX_K * 4
                )));
            }
        }
        Ok(())
    }
}

/// One vector to add, or one stored ([`crate::Index::get`], [`crate::Index::scroll`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct VectorRecord {
    /// Caller's id; re-adding an id replaces its vector.
    pub id: String,
    /// The vector, of the index's dimension, finite values only.
    pub vector: Vec<f32>,
    /// JSON metadata. `None` keeps the previous value (if any); `{}` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

impl From<VectorRecord> for RecordInput {
    fn from(r: VectorRecord) -> Self {
        Self {
            id: r.id,
            vector: Some(r.vector),
            text: None,
            metadata: r.metadata,
        }
    }
}

impl VectorRecord {
    /// A record without metadata.
    pub fn new(id: impl Into<String>, vector: Vec<f32>) -> Self {
        Self {
            id: id.into(),
            vector,
            metadata: None,
        }
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// A record to add, by vector or by text: what [`Index::add`](crate::Index::add) takes
/// (and the wrappers: HTTP JSON, the CLI's JSON Lines, Python). Texts are embedded as
/// documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RecordInput {
    /// Caller's id.
    pub id: String,
    /// The vector; give this or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// A text to embed as the vector; give this or `vector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// JSON metadata, as in [`VectorRecord::metadata`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

impl RecordInput {
    /// A record given by its vector.
    pub fn vector(id: impl Into<String>, vector: Vec<f32>) -> Self {
        Self {
            id: id.into(),
            vector: Some(vector),
            text: None,
            metadata: None,
        }
    }

    /// A record given by a text, embedded as a document when added.
    pub fn text(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            vector: None,
            text: Some(text.into()),
            metadata: None,
        }
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Reads JSON Lines of `{"id", "vector" | "text", "metadata"?}`; blank lines are
    /// skipped. A bad line is [`Error::Malformed`] with its 1-based number.
    ///
    /// ```
    /// use lakehouse_core::vector::RecordInput;
    /// let records = RecordInput::parse_jsonl("{\"id\":\"a\",\"vector\":[1,0]}\n\n{\"id\":\"b\",\"text\":\"hi\"}\n").unwrap();
    /// assert_eq!(records.len(), 2);
    /// assert!(RecordInput::parse_jsonl("{\"id\":\"a\"}").is_err());
    /// ```
    pub fn parse_jsonl(text: &str) -> Result<Vec<RecordInput>> {
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |reason: String| Error::Malformed {
                line: i as u64 + 1,
                reason,
            };
            let record: RecordInput =
                serde_json::from_str(line).map_err(|e| malformed(e.to_string()))?;
            record.check().map_err(|e| malformed(e.to_string()))?;
            records.push(record);
        }
        Ok(records)
    }

    /// Exactly one of `vector` and `text`.
    pub(crate) fn check(&self) -> Result<()> {
        match (&self.vector, &self.text) {
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "record {:?} has both `vector` and `text`; give one",
                self.id
            ))),
            (None, None) => Err(Error::invalid(format!(
                "record {:?} has neither `vector` nor `text`",
                self.id
            ))),
            _ => Ok(()),
        }
    }
}

/// A search given by vector or by text: what [`Index::search`](crate::Index::search) takes
/// (and the wrappers). A text is embedded as a search query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct IndexQuery {
    /// Query vector; give this or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// Query text, embedded as a search query; give this or `vector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// How many hits ([`DEFAULT_K`] when absent), 1 to [`MAX_K`].
    #[serde(default = "default_k")]
    pub k: usize,
    /// Ids never to return.
    #[serde(default)]
    pub exclude_ids: Vec<String>,
    /// Overrides the index's `expansion_search` for this search (its `scan_candidates`, on
    /// an index that scans).
    #[serde(default)]
    pub expansion: Option<usize>,
    /// Brute-force search instead of the HNSW graph.
    #[serde(default)]
    pub exact: bool,
    /// Only records whose metadata passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<MetadataFilter>,
}

fn default_k() -> usize {
    DEFAULT_K
}

impl IndexQuery {
    /// The `k` nearest to a text.
    pub fn text(text: impl Into<String>, k: usize) -> Self {
        Self {
            vector: None,
            text: Some(text.into()),
            ..Self::vector(Vec::new(), k)
        }
    }

    /// The `k` nearest to a vector.
    pub fn vector(vector: Vec<f32>, k: usize) -> Self {
        Self {
            vector: Some(vector),
            text: None,
            k,
            exclude_ids: Vec::new(),
            expansion: None,
            exact: false,
            filter: None,
        }
    }

    /// The [`SearchRequest`] for a query vector (the given one or the embedded text).
    pub(crate) fn into_request(self, vector: Vec<f32>) -> SearchRequest {
        SearchRequest {
            vector,
            k: self.k,
            exclude_ids: self.exclude_ids,
            expansion: self.expansion,
            exact: self.exact,
            filter: self.filter,
        }
    }
}

/// A search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Query vector.
    pub vector: Vec<f32>,
    /// How many hits, 1 to [`MAX_K`].
    pub k: usize,
    /// Ids never to return.
    #[serde(default)]
    pub exclude_ids: Vec<String>,
    /// Overrides the index's `expansion_search` for this search (its `scan_candidates`, on
    /// an index that scans).
    #[serde(default)]
    pub expansion: Option<usize>,
    /// Brute-force search over every vector instead of the HNSW graph.
    #[serde(default)]
    pub exact: bool,
    /// Only records whose metadata passes; applied inside the search, so `k` hits come
    /// back whenever `k` records pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<MetadataFilter>,
}

impl SearchRequest {
    /// The `k` nearest to `vector`.
    pub fn new(vector: Vec<f32>, k: usize) -> Self {
        Self {
            vector,
            k,
            exclude_ids: Vec::new(),
            expansion: None,
            exact: false,
            filter: None,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Hit {
    /// The record's id.
    pub id: String,
    /// Distance under the index's metric (smaller is nearer).
    pub distance: f32,
    /// The record's metadata, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// Facts about an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct IndexInfo {
    /// The spec it was created with.
    pub spec: IndexSpec,
    /// Vectors stored.
    pub count: usize,
    /// Memory used by the HNSW structure and, on an index that scans, its codes, in bytes.
    pub memory_bytes: usize,
    /// Whether the graph is still a read-only memory map of its snapshot file (an index
    /// reopened on a local root, until its first write or predicate walk).
    #[serde(default)]
    pub memory_mapped: bool,
    /// On an index that scans: the share of the data's variance its directions hold, once
    /// fitted. Kind `auto` uses the scan only when it is at least [`SCAN_MIN_VARIANCE`] (else
    /// it walks the graph).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_variance: Option<f32>,
    /// On an index that scans, once fitted: the directions its codes use (the spec's
    /// `scan_dimensions`, or the number the index chose when that is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_dimensions: Option<usize>,
    /// How a search without a selective filter is answered now.
    #[serde(default)]
    pub search: SearchPath,
}

/// The registry of vector indexes under one lakehouse root. Cheap to clone.
#[derive(Clone, Debug)]
pub struct VectorIndexes {
    storage: Storage,
    open: Arc<tokio::sync::Mutex<HashMap<String, Arc<VectorIndex>>>>,
}

impl VectorIndexes {
    pub(crate) fn new(storage: Storage) -> Self {
        Self {
            storage,
            open: Arc::default(),
        }
    }

    /// Creates an empty index; an existing name is [`Error::Conflict`], a reserved one
    /// ([`RESERVED_PREFIX`]) [`Error::InvalidInput`].
    pub async fn create(&self, spec: IndexSpec) -> Result<Arc<VectorIndex>> {
        check_not_reserved(&spec.name, "create")?;
        self.create_any(spec).await
    }

    /// [`Self::create`] for any name, reserved ones included (the lakehouse's own indexes).
    pub(crate) async fn create_any(&self, spec: IndexSpec) -> Result<Arc<VectorIndex>> {
        spec.validate()?;
        let mut open = self.open.lock().await;
        let conflict = || Error::Conflict(format!("vector index {:?} already exists", spec.name));
        if open.contains_key(&spec.name) {
            return Err(conflict());
        }
        let stored = persist::create_spec(&self.storage, &spec)
            .await?
            .ok_or_else(conflict)?;
        let index = Arc::new(VectorIndex::new_empty(self.storage.clone(), stored)?);
        open.insert(spec.name.clone(), index.clone());
        Ok(index)
    }

    /// Opens an index (loading it on first use).
    pub async fn get(&self, name: &str) -> Result<Arc<VectorIndex>> {
        let mut open = self.open.lock().await;
        if let Some(index) = open.get(name) {
            return Ok(index.clone());
        }
        crate::catalog::validate_name(name)?;
        let index = Arc::new(VectorIndex::open(self.storage.clone(), name).await?);
        open.insert(name.to_string(), index.clone());
        Ok(index)
    }

    /// Names of all indexes, sorted.
    pub async fn list(&self) -> Result<Vec<String>> {
        persist::list_names(&self.storage).await
    }

    /// Count, dimension and memory of an index.
    pub async fn info(&self, name: &str) -> Result<IndexInfo> {
        Ok(self.get(name).await?.info())
    }

    /// Deletes an index with all its stored objects; a reserved name ([`RESERVED_PREFIX`])
    /// is [`Error::InvalidInput`].
    pub async fn delete(&self, name: &str) -> Result<()> {
        check_not_reserved(name, "delete")?;
        self.delete_any(name).await
    }

    /// Moves the stored index `from` to the name `to` (its data stays where it is), unless
    /// `to` is taken; see [`persist::adopt`]. Returns whether there was one to move.
    pub(crate) async fn adopt(&self, from: &str, to: &str) -> Result<bool> {
        let mut open = self.open.lock().await;
        open.remove(from);
        persist::adopt(&self.storage, from, to).await
    }

    /// [`Self::delete`] for any name, reserved ones included.
    pub(crate) async fn delete_any(&self, name: &str) -> Result<()> {
        crate::catalog::validate_name(name)?;
        let mut open = self.open.lock().await;
        let known = open.remove(name).is_some() || persist::exists(&self.storage, name).await?;
        if !known {
            return Err(not_found(name));
        }
        persist::delete_all(&self.storage, name).await
    }

    /// Writes a snapshot of every open index (e.g. before shutdown).
    pub async fn flush_all(&self) -> Result<()> {
        let open: Vec<_> = self.open.lock().await.values().cloned().collect();
        for index in open {
            index.flush().await?;
        }
        Ok(())
    }
}

pub(crate) fn not_found(name: &str) -> Error {
    Error::NotFound {
        what: "vector index",
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_and_quantization_names_parse_one_way() {
        crate::choice::check_names(Metric::NAMES, |m| m.as_str());
        crate::choice::check_names(Quantization::NAMES, |q| q.as_str());
        // The alias that used to work only in the CLI works in JSON too.
        let spec: IndexSpec = serde_json::from_value(
            serde_json::json!({"name": "i", "dimensions": 4, "metric": "dot"}),
        )
        .unwrap();
        assert_eq!(spec.metric, Metric::InnerProduct);
        let err = "manhattan".parse::<Metric>().unwrap_err().to_string();
        assert!(err.contains("cosine, l2, inner_product"), "{err}");
    }

    #[test]
    fn index_kinds_parse_one_way_and_auto_is_the_default() {
        crate::choice::check_names(IndexKind::NAMES, |k| k.as_str());
        let spec: IndexSpec =
            serde_json::from_value(serde_json::json!({"name": "i", "dimensions": 4})).unwrap();
        assert_eq!((spec.kind, spec.scan_dimensions), (IndexKind::Auto, 0));
        assert_eq!(spec, IndexSpec::new("i", 4));
        let graph: IndexSpec = serde_json::from_value(
            serde_json::json!({"name": "i", "dimensions": 4, "kind": "graph"}),
        )
        .unwrap();
        assert_eq!(graph.kind, IndexKind::Hnsw);
        assert_eq!(serde_json::to_value(&graph).unwrap()["kind"], "hnsw");
        // Scan settings on a graph index are refused, not ignored.
        let err = graph.with_scan(2, 64).validate().unwrap_err().to_string();
        assert!(err.contains("scan_dimensions"), "{err}");
        assert!(IndexSpec::new("i", 4).with_scan(2, 64).validate().is_ok());
        let err = "ivf".parse::<IndexKind>().unwrap_err().to_string();
        assert!(err.contains("auto, hnsw, scan"), "{err}");
    }

    /// A log write that fails after the store took it counts as written (once: the next
    /// write takes the next position); one whose outcome cannot be read back blocks further
    /// writes until it can, then applies or not as the log says.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_write_the_store_took_counts_once() {
        use crate::error::ErrorKind;
        use crate::flaky_store::{Fault, Flaky};
        use object_store::memory::InMemory;
        let rec = |id: &str| VectorRecord::new(id, vec![id.len() as f32, 1.0, 0.5, 0.25]);
        let ids = |index: &VectorIndex| {
            let mut ids = index.ids();
            ids.sort();
            ids
        };
        // An index over a store that fails on demand, holding record "a".
        let indexed = || async {
            let flaky = Arc::new(Flaky::new(Arc::new(InMemory::new())));
            let storage = Storage::new(flaky.clone(), 1 << 30, "memory".into());
            let index = VectorIndexes::new(storage.clone())
                .create(IndexSpec::new("v", 4))
                .await
                .unwrap();
            index.add(vec![rec("a")]).await.unwrap();
            (flaky, storage, index)
        };
        for fault in [Fault::StoredThenExists, Fault::StoredThenError] {
            let (flaky, storage, index) = indexed().await;
            flaky.arm("/log/", fault);
            assert_eq!(index.add(vec![rec("bb")]).await.unwrap(), 1, "{fault:?}");
            assert!(!flaky.armed());
            index.add(vec![rec("ccc")]).await.unwrap();
            let reopened = VectorIndexes::new(storage).get("v").await.unwrap();
            assert_eq!(ids(&reopened), ["a", "bb", "ccc"], "{fault:?}");
        }

        for (fault, stored) in [(Fault::Down, false), (Fault::StoredThenDown, true)] {
            let (flaky, storage, index) = indexed().await;
            flaky.arm("/log/", fault);
            let err = index.add(vec![rec("bb")]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
            // Still down: nothing else is written while the outcome is unknown.
            let err = index.add(vec![rec("dddd")]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
            flaky.heal();
            index.add(vec![rec("ccc")]).await.unwrap();
            let want: &[&str] = if stored {
                &["a", "bb", "ccc"]
            } else {
                &["a", "ccc"]
            };
            assert_eq!(ids(&index), want, "{fault:?}");
            let reopened = VectorIndexes::new(storage).get("v").await.unwrap();
            assert_eq!(ids(&reopened), want, "{fault:?}");
        }
    }
}
