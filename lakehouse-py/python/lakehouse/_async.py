"""The asyncio face of the module: ``await lakehouse.open_async(root)``.

Every method is the blocking method of the same name run in a worker thread
(``asyncio.to_thread``), so the event loop keeps serving while the library works: the call
releases the GIL and runs on the same runtime, the same model and the same open indexes as
the blocking :class:`~lakehouse.Lakehouse` it wraps (``.sync`` hands that one out).
Cancelling an awaiting task stops the wait, not the work: a write that started still lands
whole (or not at all), as every write does.

>>> import asyncio, lakehouse
>>> async def main():                                            # doctest: +SKIP
...     async with await lakehouse.open_async("./my-lakehouse") as lh:
...         await lh.ingest_csv("workers.csv", "workers")
...         return (await lh.sql("SELECT count(*) AS n FROM workers")).to_list()
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Optional, Sequence, TypeVar, Union

from ._native import Lakehouse, VectorIndex
from ._native import open as _open
from ._results import MatrixResult, RecordsResult, Result, SearchResult

T = TypeVar("T")


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))


async def open_async(root: Any, **options: Any) -> "AsyncLakehouse":
    """Opens (creating if needed) the lakehouse at ``root`` without blocking the event
    loop; the keyword options are :func:`lakehouse.open`'s."""
    return AsyncLakehouse(await _call(_open, root, **options))


class AsyncVectorIndex:
    """A vector index with awaitable methods; see :class:`lakehouse.VectorIndex`."""

    __slots__ = ("sync",)

    def __init__(self, index: VectorIndex) -> None:
        #: The blocking handle these methods run.
        self.sync = index

    @property
    def name(self) -> str:
        """The index's name."""
        return self.sync.name

    async def add(self, ids: Sequence[str], vectors: Any, metadata: Any = None) -> int:
        """Adds (or replaces, by id) a batch of vectors."""
        return await _call(self.sync.add, ids, vectors, metadata)

    async def add_texts(self, ids: Sequence[str], texts: Sequence[str], metadata: Any = None) -> int:
        """Adds records whose vectors are the embeddings of ``texts``."""
        return await _call(self.sync.add_texts, ids, texts, metadata)

    async def search(self, query: Any, k: int = 10, **options: Any) -> SearchResult:
        """The ``k`` nearest records to a vector or a text."""
        return await _call(self.sync.search, query, k, **options)

    async def get(self, ids: Sequence[str]) -> RecordsResult:
        """The stored records with these ids."""
        return await _call(self.sync.get, ids)

    async def head(self, n: int = 10) -> RecordsResult:
        """The first ``n`` records in the order stored."""
        return await _call(self.sync.head, n)

    async def remove(self, ids: Sequence[str]) -> int:
        """Removes ids; returns how many were removed."""
        return await _call(self.sync.remove, ids)

    async def delete(self, *, where: dict[str, Any]) -> int:
        """Removes every record whose metadata passes ``where``."""
        return await _call(self.sync.delete, where=where)

    async def info(self) -> dict[str, Any]:
        """Spec, count and memory of the index."""
        return await _call(self.sync.info)

    async def flush(self) -> None:
        """Writes a snapshot now."""
        await _call(self.sync.flush)

    async def count(self) -> int:
        """Number of vectors (``len()`` of the blocking handle)."""
        return await _call(len, self.sync)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"


class AsyncLakehouse:
    """An open lakehouse with awaitable methods; see :class:`lakehouse.Lakehouse` for what
    each does. ``async with`` closes it (flushing every changed index) at the end."""

    __slots__ = ("sync",)

    def __init__(self, lh: Lakehouse) -> None:
        #: The blocking lakehouse these methods run.
        self.sync = lh

    @property
    def root(self) -> str:
        """Where the lakehouse lives (a folder or an s3:// URI)."""
        return self.sync.root

    async def __aenter__(self) -> "AsyncLakehouse":
        return self

    async def __aexit__(self, *exc: object) -> bool:
        await self.close()
        return False

    async def close(self) -> None:
        """Snapshots every changed vector index, then refuses every later call."""
        await _call(self.sync.close)

    async def write(self, name: str, data: Any, mode: str = "create", keys: Optional[list[str]] = None) -> dict[str, Any]:
        """Writes Arrow data (a pyarrow Table, a polars or pandas DataFrame, …) as dataset ``name``."""
        return await _call(self.sync.write, name, data, mode, keys)

    async def ingest(self, path: Any, name: Optional[str] = None, mode: str = "create", format: Optional[str] = None, keys: Optional[list[str]] = None) -> dict[str, Any]:
        """Ingests a CSV, NDJSON, Parquet or Arrow IPC file as dataset ``name``."""
        return await _call(self.sync.ingest, path, name, mode, format, keys)

    async def ingest_csv(self, path: Any, name: str, mode: str = "create") -> dict[str, Any]:
        """Ingests a CSV file as dataset ``name``."""
        return await _call(self.sync.ingest_csv, path, name, mode)

    async def ingest_ndjson(self, path: Any, name: str, mode: str = "create") -> dict[str, Any]:
        """Ingests a newline-delimited JSON file as dataset ``name``."""
        return await _call(self.sync.ingest_ndjson, path, name, mode)

    async def sql(self, query: str) -> Result:
        """Runs read-only SQL."""
        return await _call(self.sync.sql, query)

    async def schema(self, name: str) -> Any:
        """The columns of dataset ``name``'s latest version (a ``pyarrow.Schema``)."""
        return await _call(self.sync.schema, name)

    async def datasets(self) -> list[dict[str, Any]]:
        """Latest manifests of all datasets."""
        return await _call(self.sync.datasets)

    async def manifest(self, name: str) -> dict[str, Any]:
        """The latest manifest of dataset ``name``."""
        return await _call(self.sync.manifest, name)

    async def versions(self, name: str) -> list[dict[str, Any]]:
        """The retained versions of dataset ``name``, oldest first."""
        return await _call(self.sync.versions, name)

    async def delete(self, name: str, predicate: str) -> dict[str, Any]:
        """Deletes the rows of dataset ``name`` matching the SQL condition ``predicate``."""
        return await _call(self.sync.delete, name, predicate)

    async def optimize(self, name: str) -> dict[str, Any]:
        """Merges the small files of dataset ``name`` into large ones (same rows)."""
        return await _call(self.sync.optimize, name)

    async def drop_dataset(self, name: str) -> None:
        """Drops dataset ``name`` with every version and file."""
        await _call(self.sync.drop_dataset, name)

    async def embed_dataset(self, dataset: str, index: str, **options: Any) -> dict[str, Any]:
        """Embeds a dataset's text into a vector index and keeps it in sync (the options are
        ``Lakehouse.embed_dataset``'s; ``progress`` is called from the worker thread)."""
        return await _call(self.sync.embed_dataset, dataset, index, **options)

    async def create_index(self, name: str, dim: int, **options: Any) -> AsyncVectorIndex:
        """Creates a vector index."""
        return AsyncVectorIndex(await _call(self.sync.create_index, name, dim, **options))

    async def index(self, name: str) -> AsyncVectorIndex:
        """The existing vector index ``name``."""
        return AsyncVectorIndex(await _call(self.sync.index, name))

    async def indexes(self) -> list[str]:
        """Names of the vector indexes."""
        return await _call(self.sync.indexes)

    async def drop_index(self, name: str) -> None:
        """Deletes vector index ``name`` and its stored files."""
        await _call(self.sync.drop_index, name)

    async def embed(self, texts: Union[str, Sequence[str]], purpose: str = "document") -> Any:
        """Embeds texts: a float32 array of shape (n, dim)."""
        return await _call(self.sync.embed, texts, purpose)

    async def embed_stats(self) -> dict[str, Any]:
        """The embedding model and its cache counters."""
        return await _call(self.sync.embed_stats)

    async def matrix_search(self, corpora: Sequence[str], query_text: Optional[str] = None, **options: Any) -> MatrixResult:
        """Searches several corpora at once, optionally playbook-boosted."""
        return await _call(self.sync.matrix_search, corpora, query_text, **options)

    async def record_playbook(self, query_text: str, answer_id: str, answer_corpus: str, score: float, **options: Any) -> str:
        """Records an answer that worked for a query; returns its playbook id."""
        return await _call(self.sync.record_playbook, query_text, answer_id, answer_corpus, score, **options)

    async def record_playbook_bulk(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records many answers."""
        return await _call(self.sync.record_playbook_bulk, entries)

    async def drop_playbook(self) -> None:
        """Forgets every recorded answer."""
        await _call(self.sync.drop_playbook)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"
