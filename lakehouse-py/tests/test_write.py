"""Arrow data in from Python: pyarrow, pandas, polars and DuckDB objects written as
datasets without a CSV detour, typed files ingested, and the catalog's rules kept."""

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv
import pyarrow.feather
import pyarrow.parquet as pq
import pytest

import lakehouse
from lakehouse import ConflictError, InvalidInputError


@pytest.fixture
def lh(tmp_path):
    return lakehouse.open(str(tmp_path / "lh"))


def crew(n, start=0):
    ids = list(range(start, start + n))
    return pa.table(
        {
            "id": pa.array(ids, pa.int32()),
            "name": pa.array([f"worker {i}" if i % 5 else None for i in ids], pa.large_string()),
            "tag": pa.array([["forklift", "welder", "driver"][i % 3] for i in ids]).dictionary_encode(),
            "at": pa.array(
                [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=i) for i in ids],
                pa.timestamp("us", tz="UTC"),
            ),
            "score": pa.array([i / 4 for i in ids], pa.float32()),
        }
    )


def rows(lh, sql):
    return lh.sql(sql).to_list()


def test_pyarrow_table_and_reader_keep_types(lh):
    table = crew(1000)
    report = lh.write("crew", table)
    assert report["rows"] == 1000 and report["no_op"] is False
    types = {c["name"]: c["type"] for c in report["manifest"]["columns"]}
    assert types["id"] == "Int32" and types["name"] == "Utf8" and types["tag"] == "Utf8"
    assert types["score"] == "Float32" and "UTC" in types["at"]
    got = lh.sql("SELECT * FROM crew ORDER BY id").to_arrow()
    assert got.column("id").to_pylist() == table.column("id").to_pylist()
    assert got.column("name").to_pylist() == table.column("name").to_pylist()
    assert got.column("at").to_pylist() == table.column("at").to_pylist()
    # The same data again is a no-op; a reader of new rows appends, batch by batch.
    assert lh.write("crew", table)["no_op"] is True
    more = crew(3000, start=1000)
    reader = pa.RecordBatchReader.from_batches(more.schema, more.to_batches(max_chunksize=500))
    report = lh.write("crew", reader, mode="append")
    assert report["manifest"]["version"] == 1 and report["manifest"]["row_count"] == 4000
    assert rows(lh, 'SELECT count(*) AS n FROM "crew@0"') == [{"n": 1000}]
    # Other content under create is a conflict; "overwrite" replaces.
    with pytest.raises(ConflictError):
        lh.write("crew", crew(5))
    assert lh.write("crew", crew(5), mode="overwrite")["manifest"]["row_count"] == 5


def test_optimize_merges_the_files_of_appends(lh):
    lh.write("crew", crew(100))
    for start in (100, 200, 300):
        lh.write("crew", crew(100, start=start), mode="append")
    before = rows(lh, "SELECT count(*) AS n, sum(id) AS s FROM crew")
    report = lh.optimize("crew")
    assert (report["files_removed"], report["files_added"]) == (4, 1)
    assert report["manifest"]["version"] == 4 and len(report["manifest"]["files"]) == 1
    assert rows(lh, "SELECT count(*) AS n, sum(id) AS s FROM crew") == before == [
        {"n": 400, "s": sum(range(400))}
    ]
    assert lh.versions("crew")[-1]["operation"] == "optimize"
    # Earlier versions still read their own files; nothing left to merge: no new version.
    assert rows(lh, 'SELECT count(*) AS n FROM "crew@1"') == [{"n": 200}]
    again = lh.optimize("crew")
    assert (again["files_removed"], again["manifest"]["version"]) == (0, 4)
    with pytest.raises(lakehouse.NotFoundError):
        lh.optimize("nobody")


def test_pandas_dataframe_without_its_index(lh):
    df = pd.DataFrame(
        {
            "id": np.arange(10, dtype=np.int64),
            "city": ["Chicago", "Denver"] * 5,
            "rate": np.linspace(15.0, 24.0, 10),
            "active": [True, False] * 5,
        },
        index=pd.Index(range(100, 110), name="row"),
    )
    report = lh.write("workers", df)
    names = [c["name"] for c in report["manifest"]["columns"]]
    assert names == ["id", "city", "rate", "active"]
    back = lh.sql("SELECT * FROM workers ORDER BY id").to_pandas()
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True), check_dtype=False)
    # Appends are checked against the stored types.
    assert lh.write("workers", df.assign(id=df.id + 10), mode="append")["manifest"]["row_count"] == 20
    with pytest.raises(ConflictError):
        lh.write("workers", df.assign(id=df.city), mode="append")


def test_polars_and_duckdb(lh):
    frame = pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "score": [0.5, 1.5, 2.5]})
    assert lh.write("pol", frame)["rows"] == 3
    assert rows(lh, "SELECT name FROM pol ORDER BY id") == [{"name": "a"}, {"name": "b"}, {"name": None}]
    rel = duckdb.sql("SELECT range AS id, 'w' || range AS name FROM range(5000)")
    report = lh.write("duck", rel)
    assert report["rows"] == 5000
    assert rows(lh, "SELECT count(DISTINCT name) AS n FROM duck") == [{"n": 5000}]
    # And back out: polars reads what the SQL returns.
    assert lh.sql("SELECT * FROM pol ORDER BY id").to_polars().equals(frame)


def test_bad_input_is_a_typed_error(lh):
    lh.write("t", pa.table({"id": [1, 2]}))
    for bad in ([{"id": 1}], "id\n1\n", 42, None):
        with pytest.raises(InvalidInputError, match="__arrow_c_stream__"):
            lh.write("t2", bad)
    with pytest.raises(InvalidInputError, match="no rows"):
        lh.write("t2", pa.table({"id": pa.array([], pa.int64())}))
    with pytest.raises(InvalidInputError, match="mode"):
        lh.write("t2", pa.table({"id": [1]}), mode="upsert-ish")
    with pytest.raises(InvalidInputError, match="id"):
        lh.write("t", pa.table({"id": pa.array([2**64 - 1], pa.uint64())}), mode="append")
    # A reader can be taken once.
    reader = pa.RecordBatchReader.from_batches(pa.schema([("id", pa.int64())]), [])
    with pytest.raises(InvalidInputError):
        lh.write("t3", reader)
    with pytest.raises(Exception):
        lh.write("t3", reader)
    assert [d["name"] for d in lh.datasets()] == ["t"]
    assert rows(lh, "SELECT count(*) AS n FROM t") == [{"n": 2}]


def test_typed_files_by_extension_or_format(lh, tmp_path):
    table = crew(300)
    pq.write_table(table, tmp_path / "crew.parquet")
    with pa.OSFile(str(tmp_path / "crew.arrows"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
    pa.feather.write_feather(table, str(tmp_path / "crew.feather"), compression="uncompressed")
    pq.write_table(table, tmp_path / "crew.data")
    lh.write("ref", table)
    expected = rows(lh, "SELECT * FROM ref ORDER BY id")
    for name, path, fmt in [
        ("p", "crew.parquet", None),
        ("s", "crew.arrows", None),
        ("f", "crew.feather", None),
        ("d", "crew.data", "application/vnd.apache.parquet"),
    ]:
        report = lh.ingest(tmp_path / path, name, format=fmt)
        assert report["rows"] == 300, name
        assert rows(lh, f"SELECT * FROM {name} ORDER BY id") == expected, name
    # The name defaults to the file's stem.
    assert lh.ingest(tmp_path / "crew.parquet")["manifest"]["name"] == "crew"
    with pytest.raises(InvalidInputError, match="Parquet"):
        lh.ingest(tmp_path / "crew.arrows", "x", format="parquet")


def test_every_alias_goes_through_cores_parser(lh, tmp_path):
    names = lakehouse.choices()
    assert set(names) == {"metric", "quantization", "kind", "format", "mode", "purpose", "precision", "embedder"}
    for kind, table in names.items():
        # Canonical names map to themselves; every alias names one of them.
        assert set(table.values()) <= set(table), kind
    for i, (alias, metric) in enumerate(names["metric"].items()):
        quant_alias, quant = list(names["quantization"].items())[i % len(names["quantization"])]
        index = lh.create_index(f"m{i}", 4, metric=alias.upper(), quantization=quant_alias)
        info = index.info()
        assert (info["spec"]["metric"], info["spec"]["quantization"]) == (metric, quant)
    for i, (alias, kind) in enumerate(names["kind"].items()):
        info = lh.create_index(f"k{i}", 4, kind=alias).info()
        # Empty: every kind answers exactly or by the graph until it has data to fit.
        assert info["spec"]["kind"] == kind, alias
        assert info["search"] == ("graph" if kind == "hnsw" else "exact"), alias
    with pytest.raises(InvalidInputError, match="unknown index kind"):
        lh.create_index("bad", 4, kind="ivf")
    with pytest.raises(InvalidInputError, match="scan_dimensions"):
        lh.create_index("bad", 8, kind="hnsw", scan_dimensions=4)
    table = crew(10)
    files = {
        "csv": ("t.csv", lambda p: pa.csv.write_csv(table.select(["id", "score"]), p)),
        "ndjson": ("t.jsonl", lambda p: p.write_text('{"id": 1, "score": 0.5}\n')),
        "parquet": ("t.parquet", lambda p: pq.write_table(table, p)),
        "arrow": ("t.arrows", lambda p: pa.feather.write_feather(table, str(p))),
    }
    for fmt, (file, write) in files.items():
        write(tmp_path / file)
    for i, (alias, fmt) in enumerate(names["format"].items()):
        report = lh.ingest(tmp_path / files[fmt][0], f"f{i}", format=alias)
        assert report["rows"] > 0, alias
    for i, (alias, mode) in enumerate(names["mode"].items()):
        keys = ["id"] if mode == "upsert" else None
        assert lh.write(f"w{i}", table, mode=alias, keys=keys)["manifest"]["version"] == 0
    for alias in names["purpose"]:
        assert lh.embed("forklift", purpose=alias).shape == (1, 384)
    for alias, precision in names["precision"].items():
        lakehouse.open(str(tmp_path / "p"), precision=alias)
    for alias, backend in names["embedder"].items():
        if backend == "remote":
            # Parsed as remote: it asks for the service's URL.
            with pytest.raises(InvalidInputError, match="needs the URL"):
                lakehouse.open(str(tmp_path / "e"), embedder=alias)
        else:
            lakehouse.open(str(tmp_path / "e"), embedder=alias)
    with pytest.raises(InvalidInputError, match="unknown embedder"):
        lakehouse.open(str(tmp_path / "e"), embedder="onnx")
    with pytest.raises(InvalidInputError, match="unknown metric"):
        lh.create_index("bad", 4, metric="manhattan")
    with pytest.raises(InvalidInputError, match="unknown format"):
        lh.ingest(tmp_path / "t.csv", "bad", format="xlsx")
    with pytest.raises(InvalidInputError, match="unknown purpose"):
        lh.embed("x", purpose="summary")
