"""The Python module against the Rust core: every call, its errors, numpy and Arrow
conversions, the GIL released during work, and data written by the Rust CLI."""

import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import lakehouse
from lakehouse import (
    ConflictError,
    InvalidInputError,
    LakehouseError,
    NotFoundError,
    ValidationError,
)

CSV = "id,name,city\n1,Alice,Chicago\n2,Bob,Denver\n3,Chen,Austin\n"


@pytest.fixture
def lh(tmp_path):
    return lakehouse.open(str(tmp_path / "lh"))


@pytest.fixture
def workers(tmp_path):
    path = tmp_path / "workers.csv"
    path.write_text(CSV)
    return path


def test_errors_derive_from_one_base():
    for cls in (
        lakehouse.InvalidInputError,
        lakehouse.NotFoundError,
        lakehouse.ConflictError,
        lakehouse.TooLargeError,
        lakehouse.ValidationError,
        lakehouse.BusyError,
        lakehouse.TimeoutError,
        lakehouse.StorageError,
        lakehouse.InternalError,
    ):
        assert issubclass(cls, LakehouseError)
        assert cls.__module__ == "lakehouse"
        assert cls.__doc__
    assert issubclass(LakehouseError, Exception)


def test_ingest_sql_versions(lh, workers, tmp_path):
    report = lh.ingest_csv(workers, "workers")
    assert report["rows"] == 3 and report["no_op"] is False
    assert report["manifest"]["version"] == 0

    result = lh.sql("SELECT id, name, city FROM workers ORDER BY id")
    assert isinstance(result, lakehouse.Result)
    table = result.to_arrow()
    assert isinstance(table, pa.Table)
    assert table.num_rows == 3 == len(result)
    assert table.column("name").to_pylist() == ["Alice", "Bob", "Chen"]
    df = table.to_pandas()
    assert list(df["city"]) == ["Chicago", "Denver", "Austin"]

    more = tmp_path / "more.csv"
    more.write_text("id,name,city\n4,Dana,Boston\n")
    assert lh.ingest_csv(str(more), "workers", mode="append")["manifest"]["version"] == 1
    assert lh.sql("SELECT count(*) AS n FROM workers").to_list() == [{"n": 4}]
    assert lh.sql('SELECT count(*) AS n FROM "workers@0"')[0]["n"] == 3
    # Identical content again is a no-op.
    assert lh.ingest_csv(str(more), "workers", mode="append")["no_op"] is True

    assert [d["name"] for d in lh.datasets()] == ["workers"]
    assert lh.manifest("workers")["row_count"] == 4
    assert [v["version"] for v in lh.versions("workers")] == [0, 1]

    nd = tmp_path / "events.ndjson"
    nd.write_text('{"id": 1, "kind": "shift"}\n{"id": 2, "kind": "call"}\n')
    lh.ingest_ndjson(nd, "events")
    assert [r["kind"] for r in lh.sql("SELECT kind FROM events ORDER BY id")] == [
        "shift",
        "call",
    ]

    # Dropped, a dataset is gone with its versions; dropping it again is NotFoundError.
    lh.drop_dataset("events")
    assert [d["name"] for d in lh.datasets()] == ["workers"]
    with pytest.raises(LakehouseError, match="events"):
        lh.sql("SELECT * FROM events")
    with pytest.raises(NotFoundError):
        lh.drop_dataset("events")


def test_ingest_and_sql_errors(lh, workers, tmp_path):
    lh.ingest_csv(workers, "workers")
    # The same content again is an idempotent no-op; other content under create conflicts.
    assert lh.ingest_csv(workers, "workers")["no_op"] is True
    other = tmp_path / "other.csv"
    other.write_text("id,name,city\n7,Eve,Reno\n")
    with pytest.raises(ConflictError):
        lh.ingest_csv(other, "workers")
    drift = tmp_path / "drift.csv"
    drift.write_text("id,salary\n9,100\n")
    with pytest.raises(ConflictError, match="schema"):
        lh.ingest_csv(drift, "workers", mode="append")
    with pytest.raises(InvalidInputError, match="mode"):
        lh.ingest_csv(workers, "other", mode="upsert-all")
    with pytest.raises(InvalidInputError, match="key columns"):
        lh.ingest_csv(workers, "other", mode="upsert")
    with pytest.raises(NotFoundError):
        lh.ingest_csv(tmp_path / "missing.csv", "other")
    with pytest.raises(InvalidInputError):
        lh.ingest_csv(workers, "bad name!")
    with pytest.raises(InvalidInputError):
        lh.sql("SELEC 1")
    with pytest.raises(LakehouseError) as e:
        lh.sql("DROP TABLE workers")
    assert isinstance(e.value, (ValidationError, InvalidInputError))
    # Each also derives from the builtin that means the same.
    with pytest.raises(LookupError):
        lh.manifest("nope")
    with pytest.raises(ValueError):
        lh.sql("SELEC 1")
    with pytest.raises(NotFoundError):
        lh.manifest("nope")
    # The failed calls stored nothing.
    assert lh.manifest("workers")["version"] == 0
    assert [d["name"] for d in lh.datasets()] == ["workers"]


def test_arrow_result_is_a_pycapsule_stream(lh):
    table = lh.sql("SELECT 1 AS a, 'x' AS b").to_arrow()
    assert table.to_pylist() == [{"a": 1, "b": "x"}]
    # The capsule protocol directly, as any Arrow consumer sees it.
    assert hasattr(lakehouse.ArrowResult, "__arrow_c_stream__")


def test_sql_results_reach_pyarrow_without_a_copy(lh):
    # The README's claim: pyarrow imports the result's buffers over the C stream interface
    # instead of copying them. Memory pyarrow allocates itself is counted by its pool, so a
    # 64 MB result taken without a copy leaves the pool's total where it was.
    before = pa.total_allocated_bytes()
    table = lh.sql("SELECT value FROM generate_series(1, 8000000)").to_arrow()
    assert table.num_rows == 8_000_000
    assert table.nbytes >= 64_000_000
    assert pa.total_allocated_bytes() - before < 1_000_000
    # A copy would count: this is what the check would see.
    copied = table.combine_chunks()
    assert pa.total_allocated_bytes() - before >= 64_000_000
    del copied


def test_vector_index_numpy(lh):
    index = lh.create_index("v", 3, metric="cosine")
    assert isinstance(index, lakehouse.VectorIndex)
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    assert index.add(["a", "b", "c"], vectors, metadata=[{"city": "Chicago"}, None, {}]) == 3
    assert len(index) == 3
    hits = index.search(np.array([0.9, 0.1, 0.0], dtype=np.float32), k=2)
    assert [h["id"] for h in hits] == ["a", "b"]
    assert hits[0]["metadata"] == {"city": "Chicago"}
    assert hits[0]["distance"] < hits[1]["distance"]
    # float64 arrays and plain lists work too.
    index.add(["d"], np.array([[0.5, 0.5, 0.0]]))
    index.add(["e"], [[0.0, 0.5, 0.5]])
    assert [h["id"] for h in index.search([0.5, 0.5, 0.0], k=1)] == ["d"]
    assert [h["id"] for h in index.search([1, 0, 0], k=1, exclude_ids=["a"])][0] != "a"
    assert [h["id"] for h in index.search([0, 1, 0], k=5, filter={"city": "Chicago"})] == ["a"]
    assert [h["id"] for h in index.search([0, 1, 0], k=1, exact=True)] == ["b"]
    assert index.remove(["e", "zzz"]) == 1
    assert index.info()["count"] == 4
    assert lh.indexes() == ["v"]
    assert lh.index("v").name == "v"
    index.flush()
    lh.drop_index("v")
    assert lh.indexes() == []
    with pytest.raises(NotFoundError):
        lh.index("v")


def test_scan_index(lh):
    rng = np.random.default_rng(3)
    axes = rng.standard_normal((6, 32)).astype(np.float32)
    data = rng.uniform(-1, 1, (1500, 6)).astype(np.float32) @ axes + 2.0
    index = lh.create_index("s", 32, scan_dimensions=6, scan_candidates=32)
    assert index.info()["spec"]["scan_dimensions"] == 6
    index.add([f"p{i}" for i in range(1500)], data)
    query = rng.uniform(-1, 1, 6).astype(np.float32) @ axes
    scanned = [h["id"] for h in index.search(query, k=10)]
    exact = [h["id"] for h in index.search(query, k=10, exact=True)]
    assert set(scanned) == set(exact)
    with pytest.raises(InvalidInputError, match="scan_dimensions"):
        lh.create_index("t", 4, scan_dimensions=5)


def test_vector_index_bad_input(lh):
    index = lh.create_index("v", 3)
    with pytest.raises(ConflictError):
        lh.create_index("v", 3)
    with pytest.raises(InvalidInputError, match="metric"):
        lh.create_index("w", 3, metric="hamming")
    with pytest.raises(InvalidInputError):
        lh.create_index("w", 0)
    good = np.eye(3, dtype=np.float32)
    # Wrong shape, wrong dtype, wrong dimension, count mismatch, NaN, duplicates.
    with pytest.raises(InvalidInputError, match="2-D"):
        index.add(["a", "b", "c"], np.ones(3, dtype=np.float32))
    with pytest.raises(InvalidInputError, match="2-D"):
        index.add(["a"], np.ones((1, 3, 1), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="float32 or float64"):
        index.add(["a", "b", "c"], np.eye(3, dtype=np.int64))
    with pytest.raises(InvalidInputError, match="float32 or float64"):
        index.add(["a", "b", "c"], np.array([["x"] * 3] * 3))
    with pytest.raises(InvalidInputError, match="dimension"):
        index.add(["a", "b"], np.ones((2, 4), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="3 ids but 2 vectors"):
        index.add(["a", "b", "c"], good[:2])
    with pytest.raises(InvalidInputError, match="metadata"):
        index.add(["a", "b", "c"], good, metadata=[{}])
    bad = good.copy()
    bad[1, 1] = np.nan
    with pytest.raises(InvalidInputError):
        index.add(["a", "b", "c"], bad)
    with pytest.raises(InvalidInputError):
        index.add(["a", "a", "c"], good)
    with pytest.raises(InvalidInputError):
        index.add(["a", "b", "c"], "not an array")
    assert len(index) == 0  # nothing applied
    index.add(["a", "b", "c"], good)
    with pytest.raises(InvalidInputError):
        index.search([1, 0, 0], k=0)
    with pytest.raises(InvalidInputError):
        index.search(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(InvalidInputError):
        index.search([1, 0], k=1)
    with pytest.raises(InvalidInputError):
        index.search([1, 0, 0], filter=["not", "a", "dict"])


def test_weight_precision_is_chosen_at_open(tmp_path):
    texts = ["forklift operator", "Registered nurse, pediatric ward, nights"]
    f16 = lakehouse.open(str(tmp_path / "a"), cache_size=0, precision="f16").embed(texts)
    f32 = lakehouse.open(str(tmp_path / "b"), cache_size=0, precision="f32").embed(texts)
    assert not np.array_equal(f16, f32), "the two precisions run different weights"
    assert np.all(np.sum(f16 * f32, axis=1) > 0.9999)
    with pytest.raises(InvalidInputError, match="unknown precision .*f16, f32"):
        lakehouse.open(str(tmp_path / "c"), precision="bf16")


def test_the_remote_embedder_asks_an_openai_compatible_service(tmp_path, monkeypatch):
    """A stand-in service with Python's http.server: requests in OpenAI's shape, the key
    from the named variable, one 503 retried, vectors normalised and cached."""
    import http.server

    seen = []

    class Service(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body, self.headers.get("Authorization")))
            if len(seen) == 2:
                self.send_response(503)
                self.end_headers()
                return
            data = [
                {"object": "embedding", "index": i, "embedding": [float(len(t)), 0.0, 0.0]}
                for i, t in enumerate(body["input"])
            ]
            answer = json.dumps({"object": "list", "data": data, "model": "stand-in"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("STAND_IN_KEY", "k-123")
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        lh = lakehouse.open(
            str(tmp_path / "r"), embedder_url=url, embedder_model="m", embedder_key_env="STAND_IN_KEY"
        )
        v = lh.embed(["abc", "de"])
        assert v.shape == (2, 3)
        assert np.allclose(v[:, 0], 1.0), "normalised on this side"
        lh.embed(["abc"])  # from the cache
        paths = {p for p, _, _ in seen}
        assert paths == {"/v1/embeddings"}
        assert [b["input"] for _, b, _ in seen] == [["dimension probe"], ["abc", "de"], ["abc", "de"]]
        assert all(b["model"] == "m" and a == "Bearer k-123" for _, b, a in seen)
        assert lakehouse.choices()["embedder"]["openai"] == "remote"
        with pytest.raises(InvalidInputError, match="needs the URL"):
            lakehouse.open(str(tmp_path / "s"), embedder="remote")
        with pytest.raises(InvalidInputError, match="unknown embedder"):
            lakehouse.open(str(tmp_path / "t"), embedder="onnx")
    finally:
        server.shutdown()


def test_embed_and_text_search(lh):
    vectors = lh.embed(["forklift operator", "registered nurse"])
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    one = lh.embed("forklift operator")
    assert one.shape == (1, 384)
    assert np.allclose(one[0], vectors[0], atol=1e-6)
    assert lh.embed(["forklift operator"], purpose="query").shape == (1, 384)
    with pytest.raises(InvalidInputError):
        lh.embed([""])
    with pytest.raises(InvalidInputError):
        lh.embed(["x"], purpose="poem")
    stats = lh.embed_stats()
    assert stats["model"] == "all-MiniLM-L6-v2" and stats["hits"] >= 1

    index = lh.create_index("people", 384)
    index.add_texts(
        ["w1", "w2"],
        ["Forklift operator with OSHA certification", "Registered nurse, pediatric ward"],
        metadata=[{"state": "IL"}, {"state": "TX"}],
    )
    assert index.search("warehouse lift truck driver", k=1)[0]["id"] == "w1"
    assert index.search("nurse for children", k=1)[0]["id"] == "w2"


def test_matrix_search_and_playbook(lh):
    a = lh.create_index("warehouse", 384)
    b = lh.create_index("healthcare", 384)
    a.add_texts(["w1", "w2"], ["Forklift operator, night shift", "Picker and packer"])
    b.add_texts(["n1"], ["Registered nurse in a pediatric ward"])
    result = lh.matrix_search(["warehouse", "healthcare"], "forklift driver", k=3)
    assert isinstance(result, lakehouse.MatrixResult)
    hits = result.to_list()
    assert len(hits) == 3
    assert hits[0]["id"] == "w1" and hits[0]["corpus"] == "warehouse"
    assert {h["corpus"] for h in hits} == {"warehouse", "healthcare"}

    query = "someone to pack boxes overnight"
    before = lh.matrix_search(["warehouse"], query, k=2, use_playbook=True).to_list()
    pid = lh.record_playbook(query, "w2", "warehouse", 1.0, tags=["shift-fill"])
    assert isinstance(pid, str) and len(pid) == 64
    boosted = lh.matrix_search(["warehouse"], query, k=2, use_playbook=True)
    assert boosted.boosted >= 1
    table = boosted.to_arrow()
    assert table.column_names[:8] == ["id", "corpus", "distance", "playbook_id",
                                      "playbook_score", "playbook_distance",
                                      "original_distance", "injected"]
    row = table.to_pylist()[[h["id"] for h in boosted].index("w2")]
    assert row["playbook_id"] == pid and row["playbook_score"] == 1.0
    assert row["original_distance"] > row["distance"] and row["injected"] is False
    after = boosted.to_list()
    w2_before = next(h for h in before if h["id"] == "w2")["distance"]
    w2_after = next(h for h in after if h["id"] == "w2")["distance"]
    assert w2_after < w2_before

    outcomes = lh.record_playbook_bulk(
        [
            {"query_text": "q1", "answer_id": "w1", "answer_corpus": "warehouse", "score": 0.5},
            {"query_text": "", "answer_id": "w1", "answer_corpus": "warehouse", "score": 0.5},
        ]
    )
    assert "playbook_id" in outcomes[0]
    assert outcomes[1]["error"]["kind"] == "invalid_input"

    with pytest.raises(NotFoundError):
        lh.matrix_search(["nope"], "x")
    with pytest.raises(InvalidInputError):
        lh.matrix_search(["warehouse"])
    with pytest.raises(InvalidInputError):
        lh.record_playbook("", "w1", "warehouse", 0.5)
    with pytest.raises(InvalidInputError):
        lh.record_playbook_bulk([{"query_text": "q"}])


def _overlap(work):
    """Runs ``work`` in a thread while this thread ticks every millisecond; returns
    (how long work took, ticks that happened strictly inside it). With the GIL held by
    ``work`` no tick can happen inside."""
    span = {}

    def worker():
        span["start"] = time.perf_counter()
        work()
        span["end"] = time.perf_counter()

    ticks = []
    t = threading.Thread(target=worker)
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    start, end = span["start"] + 0.05, span["end"] - 0.05
    inside = sum(1 for x in ticks if start < x < end)
    return span["end"] - span["start"], inside


def _one_call_of_at_least(make, seconds=0.4):
    """``make(n)`` gives a callable doing n units of work in ONE library call; returns one
    whose call lasts at least ``seconds`` on this machine (n grown until it does), so the
    test holds however fast the library gets. One call, not a loop of calls: between calls
    a thread that held the GIL would let the ticker run."""
    n = 1
    while True:
        work = make(n)
        t = time.perf_counter()
        work()
        took = time.perf_counter() - t
        if took >= seconds:
            return make(n)
        n = n * min(8, max(2, int(seconds / max(took, 1e-3) * 1.5)))


def _assert_released(what, make):
    took, inside = _overlap(_one_call_of_at_least(make))
    # Ticks come about every 1.1 ms while Python runs, far fewer when the work keeps every
    # core busy (57 in 1.25 s of embedding on 2 cores); a held GIL allows none inside the
    # one call.
    assert inside >= 10, \
        f"Python hardly ran during {took:.2f} s of {what} ({inside} ticks)"


def test_gil_is_released(tmp_path):
    lh = lakehouse.open(str(tmp_path / "lh"), cache_size=0)
    texts = [f"Worker {i}: forklift operator, OSHA certified, night shifts in Chicago, "
             f"ten years of warehouse experience and a clean safety record." for i in range(16)]
    lh.embed(texts[:1])  # load the model first
    # (at most 4,096 texts: one call's limit)
    _assert_released("embedding", lambda n: lambda: lh.embed((texts * n)[:4096]))
    _assert_released("SQL", lambda n: lambda: lh.sql(
        f"SELECT count(*) FROM range(1, {n * 5_000_000}) WHERE value % 7 = 3"))

    index = lh.create_index("gil", 64)
    rng = np.random.default_rng(5)
    calls = iter(range(1_000_000))

    def add(n):
        rows = n * 500
        data = rng.standard_normal((rows, 64)).astype(np.float32)
        call = next(calls)
        return lambda: index.add([f"c{call}-{i}" for i in range(rows)], data)
    _assert_released("adding vectors", add)

    def ingest(n):
        call = next(calls)
        table = pa.table({"id": list(range(n * 20_000)),
                          "name": [f"worker {i}" for i in range(n * 20_000)]})
        path = tmp_path / f"in-{call}.csv"
        import pyarrow.csv as pacsv
        pacsv.write_csv(table, path)
        return lambda: lh.ingest_csv(path, f"gil{call}")
    _assert_released("CSV ingest", ingest)

    # Two threads running lakehouse calls at once both finish with correct results.
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(lh.sql("SELECT 41 + 1 AS x")[0]["x"]))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 4


def test_reopens_a_lakehouse_written_by_the_rust_api(tmp_path, workers, lakehouse_bin):
    cli = lakehouse_bin
    root = tmp_path / "from-rust"
    run = lambda *args: subprocess.run([cli, "--root", str(root), *args], check=True,
                                       capture_output=True, text=True).stdout
    run("ingest", str(workers), "--name", "workers")
    run("index", "create", "v", "--dimensions", "2", "--metric", "l2")
    records = tmp_path / "r.jsonl"
    records.write_text(
        json.dumps({"id": "a", "vector": [0, 0], "metadata": {"k": 1}}) + "\n"
        + json.dumps({"id": "b", "vector": [5, 5]}) + "\n"
    )
    run("index", "add", "v", str(records))

    lh = lakehouse.open(root)
    assert lh.sql("SELECT name FROM workers WHERE id = 2").to_list() == [{"name": "Bob"}]
    hits = lh.index("v").search([0.1, 0.1], k=2)
    assert [h["id"] for h in hits] == ["a", "b"]
    assert hits[0]["metadata"] == {"k": 1}
    # And back: what Python writes, the CLI reads.
    lh.index("v").add(["c"], [[9.0, 9.0]])
    lh.ingest_csv(workers, "copy")
    assert "c" in run("index", "search", "v", "--vector", "[9,9]", "-k", "1")
    assert "Chen" in run("sql", "SELECT name FROM copy WHERE id = 3")


def test_stubs_and_docstrings_ship():
    package = Path(lakehouse.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_native.pyi").is_file()
    native = [p.name for p in package.iterdir() if p.name.startswith("_native.")]
    assert any(".abi3." in n for n in native), native
    for name in lakehouse.__all__:
        if name == "__version__":
            continue
        obj = getattr(lakehouse, name)
        assert obj.__doc__, f"lakehouse.{name} has no docstring"
        for attr, member in vars(obj).items() if isinstance(obj, type) else []:
            if not attr.startswith("_") and callable(member):
                assert member.__doc__, f"lakehouse.{name}.{attr} has no docstring"
    stub = (package / "_native.pyi").read_text()
    for name in ("def open", "class Lakehouse", "class VectorIndex", "def sql", "def search"):
        assert name in stub


def test_a_missing_model_names_the_python_way_to_install_it(tmp_path):
    lh = lakehouse.open(str(tmp_path / "lh"), model=str(tmp_path / "no-model"))
    with pytest.raises(NotFoundError, match=r"install_model\(\)"):
        lh.embed(["forklift"])
    assert callable(lakehouse.install_model)


def test_the_playbook_index_is_reserved(lh):
    with pytest.raises(InvalidInputError, match="reserved"):
        lh.create_index("__playbook", 4)
    with pytest.raises(InvalidInputError, match="reserved"):
        lh.drop_index("__anything")
    with pytest.raises(NotFoundError):
        lh.drop_playbook()


def test_results_in_every_form(lh):
    polars = pytest.importorskip("polars")
    pd = pytest.importorskip("pandas")
    lh.write("crew", pa.table({"id": [1, 2, 3], "name": ["Ann", "Bo", "Cy"]}))
    result = lh.sql("SELECT id, name FROM crew ORDER BY id")
    assert result.column_names == ["id", "name"]
    assert result.to_list() == [{"id": 1, "name": "Ann"}, {"id": 2, "name": "Bo"},
                                {"id": 3, "name": "Cy"}]
    assert result[-1] == {"id": 3, "name": "Cy"} and result[1:] == result.to_list()[1:]
    with pytest.raises(IndexError):
        result[3]
    assert list(result.to_pandas()["name"]) == ["Ann", "Bo", "Cy"]
    assert isinstance(result.to_pandas(), pd.DataFrame)
    assert result.to_polars().equals(polars.DataFrame({"id": [1, 2, 3],
                                                       "name": ["Ann", "Bo", "Cy"]}))
    assert sum(b.num_rows for b in result.to_batches()) == 3
    # Arrow consumers take it through the PyCapsule interface.
    assert polars.from_arrow(pa.table(result)).height == 3
    assert pa.table(result).equals(result.to_arrow())
    assert "3 rows × 2 columns: id, name" in repr(result)
    assert "<table" in result._repr_html_()

    index = lh.create_index("people", 3)
    index.add(["a", "b", "c"], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
              metadata=[{"city": "Reno", "id": 7, "tags": ["x"]}, {"city": "Ely", "id": "n"}, None])
    hits = index.search([1, 0.1, 0], k=3)
    assert isinstance(hits, lakehouse.SearchResult) and len(hits) == 3
    # Rows keep the shape searches always had; the table flattens the metadata.
    assert hits[0] == {"id": "a", "distance": hits[0]["distance"],
                       "metadata": {"city": "Reno", "id": 7, "tags": ["x"]}}
    table = hits.to_arrow()
    assert table.column_names == ["id", "distance", "city", "metadata.id", "tags"]
    assert table.schema.field("distance").type == pa.float32()
    assert table.column("city").to_pylist() == ["Reno", "Ely", None]
    # Values of mixed kinds in one field become JSON text.
    assert table.column("metadata.id").to_pylist() == ["7", '"n"', None]
    assert hits.to_pandas()["id"].tolist() == ["a", "b", "c"]
    empty = index.search([1, 0, 0], k=3, filter={"city": "Nowhere"})
    assert len(empty) == 0 and empty.to_arrow().column_names == ["id", "distance"]

    got = index.get(["c", "zzz", "a"])
    assert isinstance(got, lakehouse.RecordsResult)
    assert [r["id"] for r in got] == ["c", "a"]
    assert got[1]["vector"] == [1.0, 0.0, 0.0] and got[1]["metadata"]["city"] == "Reno"
    assert got.to_arrow().column("vector").to_pylist()[0] == [0.0, 0.0, 1.0]
    assert [r["id"] for r in index.head(2)] == ["a", "b"]
    assert [r["id"] for r in index.head()] == ["a", "b", "c"]
    with pytest.raises(InvalidInputError):
        index.head(0)

    schema = lh.schema("crew")
    assert isinstance(schema, pa.Schema) and schema.names == ["id", "name"]
    with pytest.raises(NotFoundError):
        lh.schema("nope")


def test_close_and_context_manager(tmp_path):
    root = str(tmp_path / "lh")
    with lakehouse.open(root) as lh:
        index = lh.create_index("v", 2)
        index.add(["a"], [[1.0, 0.0]])
        assert "1 indexes" in repr(lh)
        assert repr(index) == "VectorIndex(\"v\": 1 vectors × 2, cosine, search by exact)"
    assert "closed" in repr(lh)
    with pytest.raises(InvalidInputError, match="closed"):
        lh.indexes()
    with pytest.raises(InvalidInputError, match="closed"):
        index.search([1.0, 0.0])
    lh.close()  # again: nothing happens
    # Closing snapshotted the index: it reopens with no log to replay.
    log = [p for p in (tmp_path / "lh" / "_vectors").rglob("*.json") if p.parent.name == "log"]
    assert log == []
    again = lakehouse.open(root)
    assert [h["id"] for h in again.index("v").search([1.0, 0.0], k=1)] == ["a"]


def test_errors_derive_from_the_builtins():
    assert issubclass(lakehouse.InvalidInputError, ValueError)
    assert issubclass(lakehouse.ValidationError, ValueError)
    assert issubclass(lakehouse.TooLargeError, ValueError)
    assert issubclass(lakehouse.NotFoundError, LookupError)
    assert issubclass(lakehouse.TimeLimitError, TimeoutError)
    assert issubclass(lakehouse.StorageError, OSError)
    assert lakehouse.TimeoutError is lakehouse.TimeLimitError
    # `from lakehouse import *` shadows no builtin exception.
    import builtins
    errors = {name for name in lakehouse.__all__ if name.endswith("Error")}
    assert len(errors) == 10 and not errors & set(dir(builtins))


def test_ctrl_c_interrupts_a_long_call(tmp_path):
    import os
    import signal
    import threading
    import time
    lh = lakehouse.open(str(tmp_path / "lh"))
    # Minutes of work (cut off at the 60-s SQL timeout otherwise).
    query = "SELECT count(*) FROM range(1, 100000000000) WHERE value % 7 = 3"
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    # Python's own Ctrl-C handler (a process started in the background, as CI may start
    # this one, inherits SIGINT ignored, and Python then leaves it ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            lh.sql(query)
    finally:
        signal.signal(signal.SIGINT, previous)
    took = time.monotonic() - started
    # Interrupted, not finished or timed out: well before the 60-s limit.
    assert took < 30, f"the call ran {took:.1f} s after Ctrl-C"
    assert lh.sql("SELECT 1 AS one")[0] == {"one": 1}
