"""lakehouse: an embeddable lakehouse in one process.

Datasets as Delta Lake tables on a local folder or S3 (DuckDB, Polars, Spark and the
``deltalake`` package read them where they lie), read-only SQL (Apache
DataFusion) returning ``pyarrow.Table``, HNSW vector indexes, local text embeddings
(``numpy`` arrays), matrix search across corpora and playbook memory.

>>> import lakehouse
>>> lh = lakehouse.open("./my-lakehouse")                     # doctest: +SKIP
>>> lh.ingest_csv("workers.csv", "workers")                   # doctest: +SKIP
>>> lh.sql("SELECT count(*) AS n FROM workers").to_pandas()   # doctest: +SKIP

Every call releases the GIL while it works, so threads run lakehouse calls in parallel.
Errors are raised as subclasses of :class:`LakehouseError`, one per kind.
"""

from ._native import (
    ArrowResult,
    BusyError,
    ConflictError,
    InternalError,
    InvalidInputError,
    Lakehouse,
    LakehouseError,
    NotFoundError,
    StorageError,
    TimeoutError,
    TooLargeError,
    ValidationError,
    VectorIndex,
    __version__,
    choices,
    install_model,
    migrate,
    open,
)

__all__ = [
    "ArrowResult",
    "BusyError",
    "ConflictError",
    "InternalError",
    "InvalidInputError",
    "Lakehouse",
    "LakehouseError",
    "NotFoundError",
    "StorageError",
    "TimeoutError",
    "TooLargeError",
    "ValidationError",
    "VectorIndex",
    "__version__",
    "choices",
    "install_model",
    "migrate",
    "open",
]
