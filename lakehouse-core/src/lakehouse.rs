//! [`Lakehouse`]: the entry point that ties storage, catalog, ingest and query together.

use std::path::Path as FsPath;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use tracing::field::Empty;

use crate::catalog::{Catalog, DataFile, Manifest};
use crate::dataset::Dataset;
use crate::embed::{
    Backend, EmbedRequest, EmbedderOptions, EmbeddingData, EmbeddingModel, EmbeddingValue,
    Embeddings, EmbeddingsRequest, EmbeddingsResponse, ModelSource, Purpose, RemoteOptions,
    SharedEmbedder, Usage,
};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::migrate::{MigrateOptions, MigrateReport};
use crate::query::{QueryEngine, QueryOptions, QueryResult, QueryStream};
use crate::storage::{DEFAULT_MAX_OBJECT_SIZE, Storage};
use crate::vector::{IndexSpec, VectorIndexes};

/// Settings for [`LakehouseBuilder::options`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Cap on one object written through [`Storage::put`] (256 MiB by default).
    pub max_object_size: u64,
    /// Query engine limits.
    pub query: QueryOptions,
    /// The embedding model folder; `None` uses [`crate::embed::default_model_dir`].
    /// Loaded on first use, so a lakehouse without a model works for everything else.
    /// Not used when [`LakehouseBuilder::embedder`] gives a model.
    pub model: Option<std::path::PathBuf>,
    /// Embedder settings (cache size, normalisation, batch limits), for every backend.
    pub embedder: EmbedderOptions,
    /// Which backend embeds; `None`: `remote` when [`Options::remote`] has a URL, `native`
    /// otherwise.
    pub backend: Option<Backend>,
    /// The remote backend's service (its URL, model, key variable, timeouts).
    pub remote: RemoteOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
            query: QueryOptions::default(),
            model: None,
            embedder: EmbedderOptions::default(),
            backend: None,
            remote: RemoteOptions::default(),
        }
    }
}

impl Options {
    /// The backend these settings choose ([`Options::backend`], or what its `None` means).
    pub fn chosen_backend(&self) -> Backend {
        self.backend
            .unwrap_or(if self.remote.url.trim().is_empty() {
                Backend::Native
            } else {
                Backend::Remote
            })
    }

    /// Where the embedding model comes from under these settings (not loaded: call
    /// [`ModelSource::load`], which blocks).
    pub fn model_source(&self) -> ModelSource {
        ModelSource {
            backend: self.chosen_backend(),
            dir: self
                .model
                .clone()
                .unwrap_or_else(crate::embed::default_model_dir),
            remote: self.remote.clone(),
            options: self.embedder.clone(),
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
/// lh.dataset("people").write("id,name\n1,Alice\n2,Bob\n", &IngestOptions::default()).await.unwrap();
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

/// How a lakehouse opens: its root, settings, and optionally the object store and the
/// embedding model to use instead of the defaults. From [`Lakehouse::builder`].
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use lakehouse_core::{IngestOptions, Lakehouse};
/// // Any object_store implementation: here one in memory, under the prefix `tenant-a`.
/// let store = Arc::new(object_store::memory::InMemory::new());
/// let lh = Lakehouse::builder("tenant-a").object_store(store).open().await.unwrap();
/// lh.dataset("t").write("n\n1\n", &IngestOptions::default()).await.unwrap();
/// assert_eq!(lh.dataset("t").count().await.unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct LakehouseBuilder {
    root: String,
    options: Options,
    store: Option<Arc<dyn ObjectStore>>,
    embedder: Option<Arc<dyn EmbeddingModel>>,
    storage_options: Vec<(String, String)>,
}

impl LakehouseBuilder {
    /// Every setting at once (replacing those set before).
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Query engine limits.
    pub fn query(mut self, query: QueryOptions) -> Self {
        self.options.query = query;
        self
    }

    /// Cap on one object written through [`Storage::put`].
    pub fn max_object_size(mut self, bytes: u64) -> Self {
        self.options.max_object_size = bytes;
        self
    }

    /// The local embedding model's folder (see [`Options::model`]).
    pub fn model_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.options.model = Some(dir.into());
        self
    }

    /// Settings of the embedding model (cache, batch sizes, precision).
    pub fn embedder_options(mut self, options: EmbedderOptions) -> Self {
        self.options.embedder = options;
        self
    }

    /// Embeds through an OpenAI-compatible `/v1/embeddings` service (the `remote` backend)
    /// instead of the local model folder. The service is first asked on first use, so the
    /// lakehouse opens while it is down; bad settings are refused at [`open`](Self::open).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use lakehouse_core::embed::RemoteOptions;
    /// let dir = tempfile::tempdir().unwrap();
    /// let remote = RemoteOptions { url: "http://127.0.0.1:9/v1".into(), ..Default::default() };
    /// let lh = lakehouse_core::Lakehouse::builder(dir.path().to_str().unwrap())
    ///     .remote_embedder(remote)
    ///     .open()
    ///     .await
    ///     .unwrap();
    /// assert!(lh.loaded_embedder().is_none(), "nothing asked yet");
    /// # });
    /// ```
    pub fn remote_embedder(mut self, remote: RemoteOptions) -> Self {
        self.options.backend = Some(Backend::Remote);
        self.options.remote = remote;
        self
    }

    /// Stores everything in `store` — any [`ObjectStore`]: in memory, GCS, Azure, a
    /// wrapper that adds caching or metrics — with the root naming a key prefix inside it
    /// (`""` for the store's top). Other engines cannot find Delta tables in a store they
    /// have no URL for, so a local folder or `s3://` root stays the choice for sharing.
    pub fn object_store(mut self, store: Arc<dyn ObjectStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Settings for an `s3://` root, applied over the AWS environment variables: any key
    /// object_store's S3 builder knows, in either spelling and any case (`endpoint` or
    /// `AWS_ENDPOINT_URL`, `region`, `access_key_id`, `secret_access_key`, `session_token`,
    /// `allow_http`, `virtual_hosted_style_request`, …). An unknown key, or an option for a
    /// root that is not `s3://`, is [`Error::InvalidInput`] at [`Self::open`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use lakehouse_core::{ErrorKind, Lakehouse};
    /// let typo = Lakehouse::builder("s3://bucket/prefix")
    ///     .storage_options([("endpiont", "http://localhost:9000")])
    ///     .open()
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(typo.kind(), ErrorKind::InvalidInput);
    /// # });
    /// ```
    pub fn storage_options<K: Into<String>, V: Into<String>>(
        mut self,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.storage_options
            .extend(options.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Embeds with `model` instead of the local model folder.
    pub fn embedder(mut self, model: Arc<dyn EmbeddingModel>) -> Self {
        self.embedder = Some(model);
        self
    }

    /// Opens (creating if needed) the lakehouse.
    pub async fn open(self) -> Result<Lakehouse> {
        crate::simd::Kernels::check_env()?;
        let Self {
            root,
            options,
            store,
            embedder,
            storage_options,
        } = self;
        let storage = match store {
            None => open_storage(&root, options.max_object_size, &storage_options)?,
            Some(_) if !storage_options.is_empty() => {
                return Err(Error::invalid(
                    "storage options configure an s3:// root; a given object store comes \
                     configured",
                ));
            }
            Some(store) => {
                let prefix = root.trim_matches('/');
                if !prefix.is_empty() {
                    crate::storage::validate_key(prefix)?;
                }
                let description = format!("{store}/{prefix}");
                Storage::with_prefix(store, prefix, options.max_object_size, description)
            }
        };
        let catalog = Catalog::open(storage.clone()).await?;
        let vectors = VectorIndexes::new(storage.clone());
        // A playbook an earlier release kept under an ordinary index name moves to its
        // reserved one (its data stays where it is).
        vectors
            .adopt(
                crate::playbook::LEGACY_PLAYBOOK_INDEX,
                crate::playbook::PLAYBOOK_INDEX,
            )
            .await?;
        let embedder = match embedder {
            Some(model) => SharedEmbedder::given(model),
            None => {
                let source = options.model_source();
                source.check()?;
                SharedEmbedder::lazy(source)
            }
        };
        let query = QueryEngine::new(catalog.clone(), options.query)?;
        crate::sql_functions::register(&query, vectors.clone(), embedder.clone());
        Ok(Lakehouse {
            storage,
            catalog,
            query,
            vectors,
            embedder,
        })
    }
}

impl Lakehouse {
    /// Opens (creating if needed) the lakehouse at `root` with default options.
    ///
    /// `root` is a local folder path (or `file://` URL), or `s3://bucket/prefix`, configured
    /// from the standard AWS environment variables (`AWS_ENDPOINT`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`,
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`; path-style requests by default). For anything
    /// else — settings, another object store, another embedding model — use
    /// [`Lakehouse::builder`].
    pub async fn open(root: &str) -> Result<Self> {
        Self::builder(root).open().await
    }

    /// A builder for the lakehouse at `root`, with default settings until told otherwise.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use lakehouse_core::{Lakehouse, QueryOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = Lakehouse::builder(dir.path().to_str().unwrap())
    ///     .query(QueryOptions { target_partitions: 2, ..Default::default() })
    ///     .open()
    ///     .await
    ///     .unwrap();
    /// assert!(lh.datasets().is_empty());
    /// # });
    /// ```
    pub fn builder(root: impl Into<String>) -> LakehouseBuilder {
        LakehouseBuilder {
            root: root.into(),
            options: Options::default(),
            store: None,
            embedder: None,
            storage_options: Vec::new(),
        }
    }

    /// Dataset `name`: the handle to write it, query it, list its versions. Reads nothing;
    /// see [`Dataset`].
    pub fn dataset(&self, name: impl Into<String>) -> Dataset {
        Dataset::new(self.clone(), name.into())
    }

    /// Vector index `name`: the handle to add to it, search it, remove from it. Reads
    /// nothing; see [`Index`].
    pub fn index(&self, name: impl Into<String>) -> Index {
        Index::new(self.clone(), name.into())
    }

    /// Creates an empty vector index and returns its handle; an existing name is
    /// [`Error::Conflict`], a reserved one ([`crate::vector::RESERVED_PREFIX`])
    /// [`Error::InvalidInput`].
    pub async fn create_index(&self, spec: IndexSpec) -> Result<Index> {
        let name = spec.name.clone();
        self.vectors.create(spec).await?;
        Ok(self.index(name))
    }

    /// Names of all vector indexes, sorted.
    pub async fn indexes(&self) -> Result<Vec<String>> {
        self.vectors.list().await
    }

    /// Writes a snapshot of every open vector index that changed since its last one (before
    /// a shutdown: reopening then replays no log).
    pub async fn flush(&self) -> Result<()> {
        self.vectors.flush_all().await
    }

    /// Converts the lakehouse at `root`, written by a release before datasets were Delta
    /// Lake tables, so that it opens: every dataset with all its retained versions becomes a
    /// Delta table (see [`crate::migrate`]). Safe to run again; converted datasets are left
    /// alone.
    pub async fn migrate(root: &str, options: MigrateOptions) -> Result<MigrateReport> {
        let storage = open_storage(root, DEFAULT_MAX_OBJECT_SIZE, &[])?;
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

    /// Runs a read-only SQL query; datasets are tables, `"name@N"` is version `N`.
    ///
    /// Traced as span `sql` (the statement's first 200 characters; rows once done).
    #[tracing::instrument(name = "sql", skip_all, fields(sql = %traced_sql(sql), rows = Empty))]
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        let result = self.query.sql(sql).await?;
        tracing::Span::current().record("rows", result.row_count());
        Ok(result)
    }

    /// Runs a read-only SQL query and hands its rows over as they are computed, for results
    /// too large to collect; see [`QueryEngine::sql_stream`]. Traced as span `sql`.
    #[tracing::instrument(name = "sql", skip_all, fields(sql = %traced_sql(sql), streamed = true))]
    pub async fn sql_stream(&self, sql: &str) -> Result<QueryStream> {
        self.query.sql_stream(sql).await
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

    /// The embedding model: the one given to [`LakehouseBuilder::embedder`], or the local
    /// one, loaded on first use (from [`Options::model`]); while there is no local model,
    /// [`Error::ModelNotInstalled`], and a later call tries again.
    pub async fn embedder(&self) -> Result<Arc<dyn EmbeddingModel>> {
        self.embedder.get().await
    }

    /// The embedding model if it is loaded already (for reporting, e.g. cache counters,
    /// without loading it).
    pub fn loaded_embedder(&self) -> Option<Arc<dyn EmbeddingModel>> {
        self.embedder.loaded()
    }

    pub(crate) fn shared_embedder(&self) -> &SharedEmbedder {
        &self.embedder
    }

    /// Embeds `texts` with the lakehouse's model, off the async threads; one vector per
    /// text, in order. The model's answer is checked (one finite vector of its dimension
    /// per text; [`Error::Model`] otherwise).
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
            && m != embedder.name()
        {
            return Err(Error::NotFound {
                what: "embedding model",
                name: format!("{m} (this lakehouse runs {})", embedder.name()),
            });
        }
        let vectors = self.embed(request.texts, request.purpose).await?;
        Ok(Embeddings {
            vectors,
            model: embedder.name().to_string(),
            dimension: embedder.dimension(),
        })
    }
}

impl Lakehouse {
    /// Answers an OpenAI-compatible embeddings request (`POST /v1/embeddings`): the texts
    /// embedded for `input_type` (documents when absent), in the requested encoding, with
    /// their token counts where the model counts them. A request naming another model is
    /// [`Error::NotFound`]; token ids, an empty list, or `dimensions` other than the model's
    /// are [`Error::InvalidInput`].
    pub async fn embeddings(&self, request: EmbeddingsRequest) -> Result<EmbeddingsResponse> {
        let texts = request.input.into_texts()?;
        let embedder = self.embedder().await?;
        if let Some(d) = request.dimensions
            && d != embedder.dimension()
        {
            return Err(Error::invalid(format!(
                "dimensions {d}: {} makes vectors of {} values and does not truncate them",
                embedder.name(),
                embedder.dimension()
            )));
        }
        let (counter, counted) = (embedder.clone(), texts.clone());
        let tokens: u64 = tokio::task::spawn_blocking(move || {
            counted
                .iter()
                .map(|t| counter.count_tokens(t).unwrap_or(0) as u64)
                .sum()
        })
        .await?;
        let answer = self
            .embed_request(EmbedRequest {
                texts,
                model: request.model,
                purpose: request.input_type.unwrap_or_default(),
            })
            .await?;
        let format = request.encoding_format.unwrap_or_default();
        Ok(EmbeddingsResponse {
            object: "list".into(),
            data: answer
                .vectors
                .into_iter()
                .enumerate()
                .map(|(index, v)| EmbeddingData {
                    object: "embedding".into(),
                    index,
                    embedding: EmbeddingValue::encode(v, format),
                })
                .collect(),
            model: answer.model,
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        })
    }
}

fn open_storage(
    root: &str,
    max_object_size: u64,
    storage_options: &[(String, String)],
) -> Result<Storage> {
    if root.trim().is_empty() {
        return Err(Error::invalid("lakehouse root is empty"));
    }
    if let Some(rest) = root.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::invalid(format!("no bucket in {root:?}")));
        }
        let mut s3 = AmazonS3Builder::from_env();
        for (key, value) in storage_options {
            let parsed = key.trim().to_ascii_lowercase().parse().map_err(|_| {
                Error::invalid(format!(
                    "unknown S3 storage option {key:?} (e.g. endpoint, region, \
                     access_key_id, secret_access_key, session_token, allow_http)"
                ))
            })?;
            s3 = s3.with_config(parsed, value);
        }
        let s3 = s3
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
    if !storage_options.is_empty() {
        return Err(Error::invalid(format!(
            "storage options configure an s3:// root, not {root:?}"
        )));
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
        check(async move {
            b.dataset("t")
                .write("a\n1\n", &crate::IngestOptions::default())
                .await
        });
        let c = lh.clone();
        check(async move { c.dataset("t").versions().await });
        let e = lh.clone();
        check(async move {
            e.index("v")
                .search(crate::IndexQuery::text("night shift", 3))
                .await
        });
        let f = lh.clone();
        check(async move {
            f.index("v")
                .add(vec![crate::RecordInput::text("a", "b")])
                .await
        });
        let d = lh.clone();
        check(async move { d.embed(vec!["x".into()], Purpose::Query).await });
        check(async move { Lakehouse::open("x").await });
    }

    /// Four dimensions: the counts of `a`, `b` and `c` in the text, and 1.
    #[derive(Debug)]
    struct Letters;

    impl EmbeddingModel for Letters {
        fn name(&self) -> &str {
            "letters"
        }
        fn dimension(&self) -> usize {
            4
        }
        fn embed_batch(&self, texts: &[&str], _: Purpose) -> Result<Vec<Vec<f32>>> {
            let count = |t: &str, c| t.matches(c).count() as f32;
            Ok(texts
                .iter()
                .map(|t| vec![count(t, 'a'), count(t, 'b'), count(t, 'c'), 1.0])
                .collect())
        }
    }

    /// A lakehouse over a store and a model the application gives: datasets, SQL's
    /// `embed`, index handles by text, and a reopen all use them; reserved index names are
    /// refused to users.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_given_store_and_model_serve_every_handle() {
        use crate::vector::{IndexQuery, RecordInput};
        use crate::{ErrorKind, playbook::PLAYBOOK_INDEX, playbook::PlaybookEntry};
        use futures::TryStreamExt;
        let store = Arc::new(object_store::memory::InMemory::new());
        let open = || {
            Lakehouse::builder("tenant")
                .object_store(store.clone())
                .embedder(Arc::new(Letters))
                .open()
        };
        let lh = open().await.unwrap();
        lh.dataset("people")
            .write("id,name\n1,aaa\n2,bbb\n", &Default::default())
            .await
            .unwrap();
        let keys: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        assert!(!keys.is_empty() && keys.iter().all(|k| k.starts_with("tenant/")));
        let v = lh.sql("SELECT embed('abc b') AS v").await.unwrap();
        assert_eq!(v.to_json().unwrap().rows[0][0], "[1.0, 2.0, 1.0, 1.0]");
        let names = lh.create_index(IndexSpec::new("names", 4)).await.unwrap();
        names
            .add(vec![
                RecordInput::text("1", "aaa"),
                RecordInput::text("2", "bbb"),
            ])
            .await
            .unwrap();
        let hits = names.search(IndexQuery::text("bb", 1)).await.unwrap();
        assert_eq!(hits[0].id, "2");

        let again = open().await.unwrap();
        assert_eq!(again.dataset("people").count().await.unwrap(), 2);
        assert_eq!(again.index("names").info().await.unwrap().count, 2);

        let err = lh
            .create_index(IndexSpec::new("__mine", 4))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        lh.record_playbook(PlaybookEntry::new("aaa", "1", "names", 0.9))
            .await
            .unwrap();
        let playbook = lh.index(PLAYBOOK_INDEX);
        let found = playbook.search(IndexQuery::text("aa", 1)).await.unwrap();
        assert_eq!(found.len(), 1);
        for err in [
            playbook
                .add(vec![RecordInput::text("x", "a")])
                .await
                .unwrap_err(),
            playbook.remove(vec!["x".into()]).await.unwrap_err(),
            playbook.drop().await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains("reserved"), "{err}");
        }
        assert!(
            lh.indexes()
                .await
                .unwrap()
                .contains(&PLAYBOOK_INDEX.to_string())
        );
        lh.drop_playbook().await.unwrap();
        assert_eq!(
            lh.drop_playbook().await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(lh.indexes().await.unwrap(), ["names"]);
    }

    /// A playbook stored under its old, ordinary index name is moved to the reserved name
    /// when the lakehouse opens, keeping its records; its old name is free again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_old_playbook_moves_to_its_reserved_name() {
        use crate::playbook::{LEGACY_PLAYBOOK_INDEX, PLAYBOOK_INDEX};
        use crate::vector::{IndexQuery, RecordInput};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let lh = Lakehouse::open(root).await.unwrap();
        let old = lh
            .create_index(IndexSpec::new(LEGACY_PLAYBOOK_INDEX, 2))
            .await
            .unwrap();
        old.add(vec![RecordInput::vector("entry", vec![1.0, 0.0])])
            .await
            .unwrap();
        drop(lh);
        let lh = Lakehouse::open(root).await.unwrap();
        assert_eq!(lh.indexes().await.unwrap(), [PLAYBOOK_INDEX]);
        let playbook = lh.index(PLAYBOOK_INDEX);
        let hits = playbook
            .search(IndexQuery::vector(vec![1.0, 0.1], 1))
            .await
            .unwrap();
        assert_eq!(hits[0].id, "entry");
        // Reopened again (nothing left to move), and with the old name in use again.
        lh.create_index(IndexSpec::new(LEGACY_PLAYBOOK_INDEX, 3))
            .await
            .unwrap();
        let lh = Lakehouse::open(root).await.unwrap();
        assert_eq!(
            lh.indexes().await.unwrap(),
            [PLAYBOOK_INDEX, LEGACY_PLAYBOOK_INDEX]
        );
        assert_eq!(lh.index(PLAYBOOK_INDEX).info().await.unwrap().count, 1);
        // Dropping the new index of the old name leaves the playbook's data alone.
        lh.index(LEGACY_PLAYBOOK_INDEX).drop().await.unwrap();
        let lh = Lakehouse::open(root).await.unwrap();
        assert_eq!(lh.index(PLAYBOOK_INDEX).info().await.unwrap().count, 1);
        lh.drop_playbook().await.unwrap();
        assert!(lh.indexes().await.unwrap().is_empty());
        let left = walk(&dir.path().join("_vectors"));
        assert!(left.is_empty(), "{left:?}");
    }

    fn walk(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
        out
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
