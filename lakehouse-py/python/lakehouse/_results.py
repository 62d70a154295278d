"""Results of SQL queries, searches and record reads: one shape, every form a notebook wants."""

from __future__ import annotations

import html
import json
from typing import Any, Callable, Iterator, Optional, Sequence, Union, overload

import pyarrow as pa

# A leading column of a result built from rows: its name, Arrow type and how a row gives it.
_Column = tuple[str, pa.DataType, Callable[[dict[str, Any]], Any]]


class Result:
    """Rows of a SQL query, a search or a read of stored records.

    Convert with ``to_arrow()`` (a ``pyarrow.Table``, handed over without copying),
    ``to_pandas()``, ``to_polars()``, ``to_batches()`` or ``to_list()`` (a list of dicts);
    Arrow consumers (polars, DuckDB, pyarrow) take it directly through the Arrow PyCapsule
    interface (``__arrow_c_stream__``). It is also a sequence of its rows: ``len(result)``,
    ``result[0]``, ``for row in result``.

    >>> r = Result(pa.table({"n": [1, 2]}))
    >>> len(r), r[1], r.to_list()
    (2, {'n': 2}, [{'n': 1}, {'n': 2}])
    """

    __slots__ = ("_table", "_rows")

    def __init__(self, table: pa.Table) -> None:
        self._table: Optional[pa.Table] = table
        self._rows: Optional[list[dict[str, Any]]] = None

    def to_arrow(self) -> pa.Table:
        """The rows as a ``pyarrow.Table``."""
        assert self._table is not None
        return self._table

    def to_batches(self, max_chunksize: Optional[int] = None) -> list[pa.RecordBatch]:
        """The rows as Arrow record batches."""
        return self.to_arrow().to_batches(max_chunksize)

    def to_pandas(self, **kwargs: Any) -> Any:
        """The rows as a ``pandas.DataFrame`` (keyword arguments go to pyarrow's
        ``Table.to_pandas``)."""
        return self.to_arrow().to_pandas(**kwargs)

    def to_polars(self) -> Any:
        """The rows as a ``polars.DataFrame`` (needs polars installed)."""
        try:
            import polars
        except ImportError as e:
            raise ImportError("to_polars() needs polars: pip install polars") from e
        return polars.from_arrow(self.to_arrow())

    def to_list(self) -> list[dict[str, Any]]:
        """The rows as a list of dicts, one per row."""
        if self._rows is None:
            self._rows = self.to_arrow().to_pylist()
        return [dict(row) for row in self._rows]

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        """Exports the rows as an ``ArrowArrayStream`` capsule (the Arrow PyCapsule
        interface), as ``pyarrow.Table`` does."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    @property
    def schema(self) -> pa.Schema:
        """The columns' names and Arrow types."""
        return self.to_arrow().schema

    @property
    def column_names(self) -> list[str]:
        """The columns' names."""
        return self.to_arrow().column_names

    def __len__(self) -> int:
        if self._rows is not None:
            return len(self._rows)
        return self.to_arrow().num_rows

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: Union[int, slice]) -> Any:
        if self._rows is None and isinstance(i, int):
            n = len(self)
            if not -n <= i < n:
                raise IndexError("result row index out of range")
            return self.to_arrow().slice(i % n, 1).to_pylist()[0]
        rows = self.to_list()
        return rows[i]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.to_list())

    def __repr__(self) -> str:
        names = self.column_names
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        return f"{type(self).__name__}({len(self)} rows × {len(names)} columns: {shown})"

    def _repr_html_(self) -> str:
        """The first 20 rows as an HTML table (Jupyter)."""
        try:
            head = self.to_arrow().slice(0, 20).to_pandas()
        except ImportError:
            return f"<pre>{html.escape(repr(self))}</pre>"
        more = f"<p>{len(self)} rows</p>" if len(self) > 20 else ""
        return f"<p>{html.escape(repr(self))}</p>{head.to_html()}{more}"


class _NestedRows(Result):
    """A result whose rows are dicts with their metadata nested (as searches returned them
    before results existed); its table puts each metadata field in a column of its own."""

    __slots__ = ()
    _LEADING: Sequence[_Column] = ()

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._table = None
        self._rows = rows

    def to_arrow(self) -> pa.Table:
        if self._table is None:
            assert self._rows is not None
            self._table = _nested_table(self._rows, self._LEADING)
        return self._table


class SearchResult(_NestedRows):
    """The hits of ``VectorIndex.search``, nearest first. Rows (``to_list()``, indexing,
    iteration) are ``{"id", "distance", "metadata"}`` dicts; the table has ``id`` and
    ``distance`` columns, then one column per metadata field (a field named like those
    columns is ``metadata.<name>``; metadata that is not an object is one ``metadata``
    column of JSON text)."""

    __slots__ = ()
    _LEADING = (
        ("id", pa.string(), lambda h: h["id"]),
        ("distance", pa.float32(), lambda h: h["distance"]),
    )


class RecordsResult(_NestedRows):
    """Stored records (``VectorIndex.get``, ``VectorIndex.head``): rows are ``{"id",
    "vector", "metadata"}`` dicts; the table has ``id`` and ``vector`` (a list of float32)
    columns, then one column per metadata field."""

    __slots__ = ()
    _LEADING = (
        ("id", pa.string(), lambda r: r["id"]),
        ("vector", pa.list_(pa.float32()), lambda r: r["vector"]),
    )


def _effect(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda h: (h.get("playbook") or {}).get(key)


class MatrixResult(_NestedRows):
    """The hits of ``Lakehouse.matrix_search``, nearest first, and its counters
    (``filtered_out``, ``boosted``, ``injected``). Rows are the hits as dicts (``id``,
    ``corpus``, ``distance``, ``metadata``, ``playbook``); the table has ``id``, ``corpus``,
    ``distance``, the playbook's effect (``playbook_id``, ``playbook_score``,
    ``playbook_distance``, ``original_distance``, ``injected``; null, or false, for a hit it
    did not touch), then one column per metadata field."""

    __slots__ = ("_counts",)
    _LEADING = (
        ("id", pa.string(), lambda h: h["id"]),
        ("corpus", pa.string(), lambda h: h["corpus"]),
        ("distance", pa.float32(), lambda h: h["distance"]),
        ("playbook_id", pa.string(), _effect("playbook_id")),
        ("playbook_score", pa.float32(), _effect("score")),
        ("playbook_distance", pa.float32(), _effect("playbook_distance")),
        ("original_distance", pa.float32(), _effect("original_distance")),
        ("injected", pa.bool_(), lambda h: bool(_effect("injected")(h))),
    )

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result["hits"])
        self._counts = {k: result[k] for k in ("filtered_out", "boosted", "injected")}

    @property
    def filtered_out(self) -> int:
        """Of each corpus's nearest ``per_corpus_k``, how many the metadata filter dropped."""
        return int(self._counts["filtered_out"])

    @property
    def boosted(self) -> int:
        """Hits whose distance the playbook boosted."""
        return int(self._counts["boosted"])

    @property
    def injected(self) -> int:
        """Hits the playbook injected."""
        return int(self._counts["injected"])


def _nested_table(rows: list[dict[str, Any]], leading: Sequence[_Column]) -> pa.Table:
    columns: dict[str, pa.Array] = {
        name: pa.array([get(r) for r in rows], type=kind) for name, kind, get in leading
    }
    metadata = [r.get("metadata") for r in rows]
    if any(m is not None and not isinstance(m, dict) for m in metadata):
        columns["metadata"] = _json_column(metadata)
        return pa.table(columns)
    fields: dict[str, None] = {}
    for m in metadata:
        fields.update(dict.fromkeys(m or ()))
    for field in fields:
        name = f"metadata.{field}" if field in columns else field
        columns[name] = _column([(m or {}).get(field) for m in metadata])
    return pa.table(columns)


def _column(values: list[Any]) -> pa.Array:
    """Values as Arrow infers them; values of mixed kinds as JSON text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _json_column(values)


def _json_column(values: list[Any]) -> pa.Array:
    return pa.array([None if v is None else json.dumps(v) for v in values], type=pa.string())
