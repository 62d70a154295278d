//! [`Index`]: the handle through which one vector index is written and searched.

use std::sync::Arc;

use crate::embed::Purpose;
use crate::error::{Error, Result};
use crate::lakehouse::Lakehouse;
use crate::vector::{
    Hit, IndexInfo, IndexQuery, MetadataFilter, RecordInput, VectorIndex, VectorRecord,
};

/// Most records one [`Index::scroll`] page holds.
pub const MAX_PAGE: usize = 10_000;

/// One page of an index's records ([`Index::scroll`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RecordsPage {
    /// The records, in the order they were stored.
    pub records: Vec<VectorRecord>,
    /// The cursor of the next page; `None` when this page ends the index.
    pub next: Option<String>,
}

/// One vector index of a lakehouse, by name, from [`Lakehouse::index`] (or
/// [`Lakehouse::create_index`]): the one way to add, search and remove records, by vector
/// **or** by text (the handle embeds texts with the lakehouse's model: records as
/// documents, searches as queries). Cheap to clone; making one reads nothing, so a missing
/// index shows as [`Error::NotFound`] on first use.
///
/// Searches run off the async threads. Indexes whose names start with
/// [`crate::vector::RESERVED_PREFIX`] (the playbook's) can be searched but not written.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use lakehouse_core::{IndexQuery, IndexSpec, Lakehouse, RecordInput};
/// let dir = tempfile::tempdir().unwrap();
/// let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
/// let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
/// shifts
///     .add(vec![
///         RecordInput::vector("night", vec![1.0, 0.0]),
///         RecordInput::vector("day", vec![0.0, 1.0]),
///     ])
///     .await
///     .unwrap();
/// let hits = shifts.search(IndexQuery::vector(vec![0.9, 0.1], 1)).await.unwrap();
/// assert_eq!(hits[0].id, "night");
/// assert_eq!(shifts.remove(vec!["day".into()]).await.unwrap(), 1);
/// assert_eq!(shifts.info().await.unwrap().count, 1);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Index {
    lh: Lakehouse,
    name: String,
}

impl Index {
    pub(crate) fn new(lh: Lakehouse, name: String) -> Self {
        Self { lh, name }
    }

    /// The index's name.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// assert_eq!(lh.index("shifts").name(), "shifts");
    /// # });
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The index, opened on first use.
    async fn open(&self) -> Result<Arc<VectorIndex>> {
        self.lh.vectors().get(&self.name).await
    }

    fn writable(&self, action: &str) -> Result<()> {
        crate::vector::check_not_reserved(&self.name, action)
    }

    /// Its spec, count, memory, and how it answers searches now ([`IndexInfo::search`]).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// let info = shifts.info().await.unwrap();
    /// assert_eq!((info.spec.dimensions, info.count), (2, 1));
    /// # });
    /// ```
    pub async fn info(&self) -> Result<IndexInfo> {
        Ok(self.open().await?.info())
    }

    /// Adds or replaces records, embedding (as documents, in one batch) those given as
    /// text; returns how many were added. The batch is checked as a whole before any of it
    /// applies, and survives a crash once this returns `Ok`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// let added = shifts
    ///     .add(vec![
    ///         RecordInput::vector("day", vec![0.0, 1.0])
    ///             .with_metadata(serde_json::json!({"site": "Reno"})),
    ///         RecordInput::vector("night", vec![0.9, 0.1]), // replaces the stored "night"
    ///     ])
    ///     .await
    ///     .unwrap();
    /// assert_eq!((added, shifts.info().await.unwrap().count), (2, 2));
    /// # });
    /// ```
    pub async fn add(&self, records: Vec<RecordInput>) -> Result<usize> {
        self.writable("add to")?;
        let index = self.open().await?;
        for r in &records {
            r.check()?;
        }
        let texts: Vec<String> = records.iter().filter_map(|r| r.text.clone()).collect();
        let mut embedded = if texts.is_empty() {
            Vec::new()
        } else {
            self.lh.embed(texts, Purpose::Document).await?
        }
        .into_iter();
        let records = records
            .into_iter()
            .map(|r| VectorRecord {
                vector: match r.vector {
                    Some(v) => v,
                    None => embedded.next().unwrap_or_default(),
                },
                id: r.id,
                metadata: r.metadata,
            })
            .collect();
        index.add(records).await
    }

    /// The nearest records to a vector, or to a text embedded as a search query, nearest
    /// first. Giving both or neither is [`Error::InvalidInput`]. (A text query needs the
    /// lakehouse's model; see [`crate::LakehouseBuilder::embedder`].)
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// let hits = shifts.search(IndexQuery::vector(vec![1.0, 0.2], 5)).await.unwrap();
    /// assert_eq!(hits[0].id, "night");
    /// let mut both = IndexQuery::vector(vec![1.0, 0.0], 1);
    /// both.text = Some("night shift".into());
    /// assert!(shifts.search(both).await.is_err());
    /// # });
    /// ```
    pub async fn search(&self, query: IndexQuery) -> Result<Vec<Hit>> {
        let index = self.open().await?;
        let mut query = query;
        let vector = match (query.vector.take(), query.text.take()) {
            (Some(_), Some(_)) => return Err(Error::invalid("give `vector` or `text`, not both")),
            (Some(v), None) => v,
            (None, Some(text)) => self.lh.embed(vec![text], Purpose::Query).await?.remove(0),
            (None, None) => return Err(Error::invalid("give a query `vector` or `text`")),
        };
        let request = query.into_request(vector);
        tokio::task::spawn_blocking(move || index.search(&request)).await?
    }

    /// The stored records with these ids, in order: `None` for an id the index does not
    /// hold.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// let got = shifts.get(&["night".into(), "gone".into()]).await.unwrap();
    /// assert_eq!(got[0].as_ref().unwrap().vector, vec![1.0, 0.0]);
    /// assert!(got[1].is_none());
    /// # });
    /// ```
    pub async fn get(&self, ids: &[String]) -> Result<Vec<Option<VectorRecord>>> {
        let index = self.open().await?;
        Ok(ids
            .iter()
            .map(|id| {
                let vector = index.vector(id)?;
                Some(VectorRecord {
                    id: id.clone(),
                    vector,
                    metadata: index.metadata_of(id).flatten(),
                })
            })
            .collect())
    }

    /// A page of up to `limit` stored records (1 to [`MAX_PAGE`]) in the order they were
    /// stored, from the start or after the `cursor` an earlier page returned; the page's
    /// `next` is the cursor of the page after it, `None` at the end. Writes between pages do
    /// not disturb a scroll: records added meanwhile come at the end (a replaced record too,
    /// so it can come twice), removed ones are skipped.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # for id in ["a", "b", "c"] {
    /// #     shifts.add(vec![RecordInput::vector(id, vec![1.0, 0.0])]).await.unwrap();
    /// # }
    /// let first = shifts.scroll(None, 2).await.unwrap();
    /// assert_eq!(first.records.len(), 2);
    /// let rest = shifts.scroll(first.next.as_deref(), 2).await.unwrap();
    /// assert_eq!(rest.records[0].id, "c");
    /// assert!(rest.next.is_none());
    /// # });
    /// ```
    pub async fn scroll(&self, cursor: Option<&str>, limit: usize) -> Result<RecordsPage> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::invalid(format!(
                "limit must be between 1 and {MAX_PAGE}, not {limit}"
            )));
        }
        let after = cursor
            .map(|c| {
                c.parse::<u64>().map_err(|_| {
                    Error::invalid(format!("{c:?} is not a cursor this index gave out"))
                })
            })
            .transpose()?;
        let index = self.open().await?;
        let (records, next) =
            tokio::task::spawn_blocking(move || index.records_after(after, limit)).await?;
        Ok(RecordsPage {
            records,
            next: next.map(|k| k.to_string()),
        })
    }

    /// Removes records by id; unknown ids are ignored. Returns how many went.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// assert_eq!(shifts.remove(vec!["night".into(), "never".into()]).await.unwrap(), 1);
    /// # });
    /// ```
    pub async fn remove(&self, ids: Vec<String>) -> Result<usize> {
        self.writable("remove from")?;
        self.open().await?.remove(ids).await
    }

    /// Removes every record whose metadata passes `filter` (as a search's filter tests
    /// it), in one logged operation; returns how many went. An empty filter, which would
    /// remove everything, is [`Error::InvalidInput`]: drop the index for that. A record added
    /// while this runs is left alone.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexSpec, MetadataFilter, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// shifts.add(vec![
    ///     RecordInput::vector("a", vec![1.0, 0.0]).with_metadata(serde_json::json!({"site": "north"})),
    ///     RecordInput::vector("b", vec![0.0, 1.0]).with_metadata(serde_json::json!({"site": "south"})),
    /// ]).await.unwrap();
    /// let north = MetadataFilter::parse(r#"{"site": "north"}"#).unwrap();
    /// assert_eq!(shifts.remove_where(&north).await.unwrap(), 1);
    /// assert_eq!(shifts.info().await.unwrap().count, 1);
    /// assert!(shifts.remove_where(&MetadataFilter::default()).await.is_err());
    /// # });
    /// ```
    pub async fn remove_where(&self, filter: &MetadataFilter) -> Result<usize> {
        self.writable("remove from")?;
        if filter.is_empty() {
            return Err(Error::invalid(
                "an empty filter would remove every record; give at least one condition \
                 (or delete the index)",
            ));
        }
        let index = self.open().await?;
        let ids = index.ids_matching(filter);
        if ids.is_empty() {
            return Ok(0);
        }
        index.remove(ids).await
    }

    /// Writes a snapshot now if anything changed since the last one (reopening then
    /// replays nothing).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// shifts.flush().await.unwrap();
    /// drop(lh);
    /// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// assert_eq!(lh.index("shifts").info().await.unwrap().count, 1);
    /// # });
    /// ```
    pub async fn flush(&self) -> Result<()> {
        self.open().await?.flush().await
    }

    /// Deletes the index with all its stored objects; its name can be used again.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IndexQuery, IndexSpec, RecordInput};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let shifts = lh.create_index(IndexSpec::new("shifts", 2)).await.unwrap();
    /// # shifts.add(vec![RecordInput::vector("night", vec![1.0, 0.0])]).await.unwrap();
    /// shifts.drop().await.unwrap();
    /// assert!(lh.indexes().await.unwrap().is_empty());
    /// assert!(shifts.info().await.is_err());
    /// # });
    /// ```
    pub async fn drop(&self) -> Result<()> {
        self.lh.vectors().delete(&self.name).await
    }
}
