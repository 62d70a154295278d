//! [`Lakehouse`]: the entry point that ties storage, catalog, ingest and query together.

use std::path::Path as FsPath;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use tracing::field::Empty;

use crate::catalog::{Catalog, DataFile, DeleteReport, ExpireReport, Manifest, VersionInfo};
use crate::embed::{EmbedRequest, Embedder, EmbedderOptions, Embeddings, Purpose, SharedEmbedder};
use crate::error::{Error, Result};
use crate::ingest::{self, IngestOptions, IngestReport, Source};
use crate::migrate::{MigrateOptions, MigrateReport};
use crate::query::{QueryEngine, QueryOptions, QueryResult};
use crate::storage::{DEFAULT_MAX_OBJECT_SIZE, Storage};
use crate::vector::{Hit, IndexQuery, RecordInput, VectorIndexes, VectorRecord};

/// Settings for [`Lakehouse::open_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Cap on one object written through [`Storage::put`] (256 MiB by default).
    pub max_object_size: u64,
    /// Query engine limits.
    pub query: QueryOptions,
    /// The embedding model folder; `None` uses [`crate::embed::default_model_dir`].
    /// Loaded on first use, so a lakehouse without a model works for everything else.
    pub model: Option<std::path::PathBuf>,
    /// Embedder settings (cache size, normalisation, batch limits).
    pub embedder: EmbedderOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
            query: QueryOptions::default(),
            model: None,
            embedder: EmbedderOptions::default(),
        }
    }
}

/// An open lakehouse. Cheap to clone (shared state), `Send + Sync`, usable from any number
/// of tasks at once.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use lakehouse_core::{Lakehouse, IngestOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
/// lh.ingest("people", "id,name\n1,Alice\n2,Bob\n", &IngestOptions::default()).await.unwrap();
/// let result = lh.sql("SELECT name FROM people ORDER BY id").await.unwrap();
/// assert_eq!(result.to_json().unwrap().rows[0][0], "Alice");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Lakehouse {
    storage: Storage,
    catalog: Catalog,
    query: QueryEngine,
    vectors: VectorIndexes,
    embedder: SharedEmbedder,
}

impl Lakehouse {
    /// Opens (creating if needed) the lakehouse at `root` with default options.
    ///
    /// `root` is a local folder path (or `file://` URL), or `s3://bucket/prefix`, configured
    /// from the standard AWS environment variables (`AWS_ENDPOINT`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`,
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`; path-style requests by default).
    pub async fn open(root: &str) -> Result<Self> {
        Self::open_with(root, Options::default()).await
    }

    /// Opens the lakehouse at `root` with explicit options.
    pub async fn open_with(root: &str, options: Options) -> Result<Self> {
        crate::simd::Kernels::check_env()?;
        let storage = open_storage(root, options.max_object_size)?;
        let catalog = Catalog::open(storage.clone()).await?;
        let vectors = VectorIndexes::new(storage.clone());
        let embedder = SharedEmbedder::new(
            options
                .model
                .unwrap_or_else(crate::embed::default_model_dir),
            options.embedder,
        );
        let query = QueryEngine::new(catalog.clone(), options.query)?;
        crate::sql_functions::register(&query, vectors.clone(), embedder.clone());
        Ok(Self {
            storage,
            catalog,
            query,
            vectors,
            embedder,
        })
    }

    /// Converts the lakehouse at `root`, written by a release before datasets were Delta
    /// Lake tables, so that it opens: every dataset with all its retained versions becomes a
    /// Delta table (see [`crate::migrate`]). Safe to run again; converted datasets are left
    /// alone.
    pub async fn migrate(root: &str, options: MigrateOptions) -> Result<MigrateReport> {
        let storage = open_storage(root, DEFAULT_MAX_OBJECT_SIZE)?;
        crate::migrate::migrate(&storage, options).await
    }

    /// Raw object storage under the root.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The catalog of datasets.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The vector indexes stored under this root.
    pub fn vectors(&self) -> &VectorIndexes {
        &self.vectors
    }

    /// Writes rows into dataset `name`: a file or bytes (CSV, NDJSON, Parquet, Arrow IPC;
    /// [`IngestOptions::format`]) or Arrow record batches ([`Source::arrow`], a
    /// [`arrow::record_batch::RecordBatch`]); see [`crate::ingest`].
    ///
    /// Traced as span `ingest` (dataset, mode; rows, version and no_op once done).
    #[tracing::instrument(name = "ingest", skip_all, fields(dataset = name, mode = ?options.mode, rows = Empty, version = Empty, no_op = Empty))]
    pub async fn ingest(
        &self,
        name: &str,
        source: impl Into<Source>,
        options: &IngestOptions,
    ) -> Result<IngestReport> {
        let report = ingest::ingest(&self.catalog, name, source.into(), options).await?;
        let span = tracing::Span::current();
        span.record("rows", report.rows);
        span.record("version", report.manifest.version);
        span.record("no_op", report.no_op);
        Ok(report)
    }

    /// Runs a read-only SQL query; datasets are tables, `"name@N"` is version `N`.
    ///
    /// Traced as span `sql` (the statement's first 200 characters; rows once done).
    #[tracing::instrument(name = "sql", skip_all, fields(sql = %traced_sql(sql), rows = Empty))]
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        let result = self.query.sql(sql).await?;
        tracing::Span::current().record("rows", result.row_count());
        Ok(result)
    }

    /// Runs a read-only SQL query keeping at most `max_rows` rows (the query stops there),
    /// and whether it had more; see [`QueryEngine::sql_head`]. Traced as span `sql`.
    #[tracing::instrument(name = "sql", skip_all, fields(sql = %traced_sql(sql), max_rows, rows = Empty))]
    pub async fn sql_head(&self, sql: &str, max_rows: usize) -> Result<(QueryResult, bool)> {
        let (result, more) = self.query.sql_head(sql, max_rows).await?;
        tracing::Span::current().record("rows", result.row_count());
        Ok((result, more))
    }

    /// Latest manifests of all datasets, sorted by name.
    pub fn datasets(&self) -> Vec<Arc<Manifest>> {
        self.catalog.list()
    }

    /// `exprs` over the rows of just `files` of version `manifest` (an index sync's reads).
    pub(crate) async fn select_from_files(
        &self,
        manifest: &Manifest,
        files: Vec<DataFile>,
        exprs: &[String],
    ) -> Result<QueryResult> {
        self.query
            .select_from_files(&self.storage, manifest, files, exprs)
            .await
    }

    /// Latest manifest of one dataset.
    pub fn manifest(&self, name: &str) -> Result<Arc<Manifest>> {
        self.catalog.manifest(name)
    }

    /// All retained versions of a dataset, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        self.catalog.versions(name).await
    }

    /// The embedding model, loaded on first use (from [`Options::model`]). Fails with
    /// [`Error::ModelNotInstalled`] — naming the install command — while there is none; a
    /// later call tries again.
    pub async fn embedder(&self) -> Result<Arc<Embedder>> {
        self.embedder.get().await
    }

    /// The embedding model if it is loaded already (for reporting, e.g. cache counters,
    /// without loading it).
    pub fn loaded_embedder(&self) -> Option<Arc<Embedder>> {
        self.embedder.loaded()
    }

    /// Embeds `texts` with the lakehouse's model, off the async threads; one vector per
    /// text, in order. See [`Embedder::embed_with`].
    ///
    /// Traced as span `embed` (texts, purpose).
    #[tracing::instrument(name = "embed", skip_all, fields(texts = texts.len(), purpose = ?purpose))]
    pub async fn embed(&self, texts: Vec<String>, purpose: Purpose) -> Result<Vec<Vec<f32>>> {
        self.embedder.embed(texts, purpose).await
    }

    /// Embeds a request's texts, checking that the model it names (if any) is the one this
    /// lakehouse runs ([`Error::NotFound`] otherwise): the wrappers' `embed` call.
    pub async fn embed_request(&self, request: EmbedRequest) -> Result<Embeddings> {
        let embedder = self.embedder().await?;
        if let Some(m) = &request.model
            && m != embedder.model_name()
        {
            return Err(Error::NotFound {
                what: "embedding model",
                name: format!("{m} (this lakehouse runs {})", embedder.model_name()),
            });
        }
        let vectors = self.embed(request.texts, request.purpose).await?;
        Ok(Embeddings {
            vectors,
            model: embedder.model_name().to_string(),
            dimension: embedder.dimension(),
        })
    }

    /// Searches index `name` by vector, or by text embedded as a search query, off the
    /// async threads. Giving both or neither is [`Error::InvalidInput`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use lakehouse_core::{IndexSpec, Lakehouse, VectorRecord, vector::IndexQuery};
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// let index = lh.vectors().create(IndexSpec::new("v", 2)).await.unwrap();
    /// index.add(vec![VectorRecord::new("a", vec![1.0, 0.0])]).await.unwrap();
    /// let hits = lh.search("v", IndexQuery::vector(vec![1.0, 0.1], 1)).await.unwrap();
    /// assert_eq!(hits[0].id, "a");
    /// # });
    /// ```
    pub async fn search(&self, name: &str, query: IndexQuery) -> Result<Vec<Hit>> {
        let index = self.vectors.get(name).await?;
        let mut query = query;
        let vector = match (query.vector.take(), query.text.as_deref()) {
            (Some(_), Some(_)) => return Err(Error::invalid("give `vector` or `text`, not both")),
            (Some(v), None) => v,
            (None, Some(text)) => self
                .embed(vec![text.to_string()], Purpose::Query)
                .await?
                .remove(0),
            (None, None) => return Err(Error::invalid("give a query `vector` or `text`")),
        };
        let request = query.into_request(vector);
        tokio::task::spawn_blocking(move || index.search(&request)).await?
    }

    /// Adds records to index `name`, embedding (as documents, in one batch) those given as
    /// text; returns how many were added. Validated as a whole before any applies, as in
    /// [`crate::VectorIndex::add`].
    pub async fn add_records(&self, name: &str, records: Vec<RecordInput>) -> Result<usize> {
        let index = self.vectors.get(name).await?;
        for r in &records {
            r.check()?;
        }
        let texts: Vec<String> = records.iter().filter_map(|r| r.text.clone()).collect();
        let mut embedded = if texts.is_empty() {
            Vec::new()
        } else {
            self.embed(texts, Purpose::Document).await?
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

    /// Deletes the rows of dataset `name` for which the SQL `predicate` holds
    /// (`"city = 'Reno' AND score < 2"`), as one new version (Delta's delete): returns that
    /// version and how many rows went. A predicate that does not parse or names an unknown
    /// column is [`Error::InvalidInput`] and writes nothing.
    pub async fn delete(&self, name: &str, predicate: &str) -> Result<DeleteReport> {
        let (manifest, rows_deleted) = self.catalog.delete(name, predicate).await?;
        Ok(DeleteReport {
            manifest,
            rows_deleted,
        })
    }

    /// Drops dataset `name` with every version and file (gone for other engines too); its
    /// name can be used again. A dataset that does not exist is [`Error::NotFound`].
    /// Vector indexes synced from it keep their vectors.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// lh.ingest("scratch", "n\n1\n", &Default::default()).await.unwrap();
    /// lh.drop_dataset("scratch").await.unwrap();
    /// assert!(lh.datasets().is_empty());
    /// # });
    /// ```
    pub async fn drop_dataset(&self, name: &str) -> Result<()> {
        self.catalog.drop_dataset(name).await
    }

    /// Removes versions older than `keep_from` and files only they referenced.
    pub async fn expire_versions(&self, name: &str, keep_from: u64) -> Result<ExpireReport> {
        self.catalog.expire_versions(name, keep_from).await
    }
}

fn open_storage(root: &str, max_object_size: u64) -> Result<Storage> {
    if root.trim().is_empty() {
        return Err(Error::invalid("lakehouse root is empty"));
    }
    if let Some(rest) = root.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::invalid(format!("no bucket in {root:?}")));
        }
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| Error::invalid(format!("cannot configure S3 for {root:?}: {e}")))?;
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            crate::storage::validate_key(prefix)?;
        }
        let description = format!("s3://{bucket}/{prefix}");
        let url = url::Url::parse(&format!("s3://{bucket}/"))
            .and_then(|u| u.join(&format!("{prefix}/").trim_start_matches('/')))
            .map_err(|e| Error::invalid(format!("no URL for {root:?}: {e}")))?;
        let s3: Arc<dyn ObjectStore> = Arc::new(s3);
        return Ok(
            Storage::with_prefix(s3.clone(), prefix, max_object_size, description).at_url(url, s3),
        );
    }
    if let Some((scheme, _)) = root.split_once("://")
        && scheme != "file"
    {
        return Err(Error::invalid(format!(
            "unsupported lakehouse root {root:?}: use a local path, file:// or s3://"
        )));
    }
    let path = root.strip_prefix("file://").unwrap_or(root);
    std::fs::create_dir_all(path)?;
    let path = FsPath::new(path).canonicalize()?;
    let local = LocalFileSystem::new_with_prefix(&path)
        .map_err(|e| Error::invalid(format!("cannot open {}: {e}", path.display())))?;
    let url = url::Url::from_directory_path(&path)
        .map_err(|()| Error::invalid(format!("no file URL for {}", path.display())))?;
    Ok(
        Storage::local(local, max_object_size, path.display().to_string())
            .at_url(url, Arc::new(LocalFileSystem::new())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HTTP handlers and `tokio::spawn` need `Send + 'static` futures; Python needs `Send`
    /// handles to release the GIL. This fails to compile if that ever breaks.
    #[allow(dead_code)]
    fn futures_are_send(lh: Lakehouse) {
        fn check<T: Send + 'static>(_: T) {}
        check(lh.clone());
        let a = lh.clone();
        check(async move { a.sql("SELECT 1").await });
        let b = lh.clone();
        check(async move { b.ingest("t", "a\n1\n", &IngestOptions::default()).await });
        let c = lh.clone();
        check(async move { c.versions("t").await });
        let d = lh.clone();
        check(async move { d.embed(vec!["x".into()], Purpose::Query).await });
        check(async move { Lakehouse::open("x").await });
    }

    #[tokio::test]
    async fn roots_are_checked() {
        assert_eq!(
            Lakehouse::open("").await.unwrap_err().kind(),
            crate::ErrorKind::InvalidInput
        );
        assert_eq!(
            Lakehouse::open("gs://bucket").await.unwrap_err().kind(),
            crate::ErrorKind::InvalidInput
        );
        assert_eq!(
            Lakehouse::open("s3://").await.unwrap_err().kind(),
            crate::ErrorKind::InvalidInput
        );
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let lh = Lakehouse::open(&format!("file://{}", nested.display()))
            .await
            .unwrap();
        assert!(nested.is_dir());
        assert!(lh.datasets().is_empty());
    }
}

/// A statement as it appears in trace spans: its first 200 characters.
fn traced_sql(sql: &str) -> &str {
    sql.char_indices().nth(200).map_or(sql, |(i, _)| &sql[..i])
}
