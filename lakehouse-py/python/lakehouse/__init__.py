"""lakehouse: an embeddable lakehouse in one process.

Datasets as Delta Lake tables on a local folder or S3 (DuckDB, Polars, Spark and the
``deltalake`` package read them where they lie), read-only SQL (Apache
DataFusion) returning Arrow results, HNSW vector indexes, local text embeddings
(``numpy`` arrays), matrix search across corpora and playbook memory.

>>> import lakehouse
>>> lh = lakehouse.open("./my-lakehouse")                     # doctest: +SKIP
>>> lh.ingest_csv("workers.csv", "workers")                   # doctest: +SKIP
>>> lh.sql("SELECT count(*) AS n FROM workers").to_pandas()   # doctest: +SKIP

SQL and searches return a :class:`Result` (``to_arrow()``, ``to_pandas()``,
``to_polars()``, ``to_list()``, the Arrow PyCapsule interface). Every call releases the
GIL while it works, so threads run lakehouse calls in parallel, and Ctrl-C interrupts it.
Errors are raised as subclasses of :class:`LakehouseError`, one per kind, which also
derive from the matching builtin (``ValueError``, ``LookupError``, ``TimeoutError``,
``OSError``). ``with lakehouse.open(root) as lh:`` flushes and closes it at the end. asyncio code
uses ``await lakehouse.open_async(root)``: the same methods, awaitable.
"""

from ._errors import (
    BusyError,
    ConflictError,
    InternalError,
    InvalidInputError,
    LakehouseError,
    NotFoundError,
    StorageError,
    TimeLimitError,
    TooLargeError,
    ValidationError,
)
from ._native import (
    ArrowResult,
    Lakehouse,
    VectorIndex,
    __version__,
    choices,
    install_model,
    migrate,
    open,
)
from ._results import MatrixResult, RecordsResult, Result, SearchResult
from ._async import AsyncLakehouse, AsyncVectorIndex, open_async

# The name this class had before it also became a builtin ``TimeoutError``; kept for old
# code, left out of ``__all__`` so that ``from lakehouse import *`` shadows no builtin.
TimeoutError = TimeLimitError  # noqa: A001

__all__ = [
    "ArrowResult",
    "AsyncLakehouse",
    "AsyncVectorIndex",
    "BusyError",
    "ConflictError",
    "InternalError",
    "InvalidInputError",
    "Lakehouse",
    "LakehouseError",
    "MatrixResult",
    "NotFoundError",
    "RecordsResult",
    "Result",
    "SearchResult",
    "StorageError",
    "TimeLimitError",
    "TooLargeError",
    "ValidationError",
    "VectorIndex",
    "__version__",
    "choices",
    "install_model",
    "migrate",
    "open",
    "open_async",
]
