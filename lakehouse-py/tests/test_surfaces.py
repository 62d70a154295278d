"""The everyday surfaces of the Python module: removal by metadata, embedding a dataset
with progress, storage options, and the asyncio face."""

import asyncio
import os
import uuid

import pyarrow as pa
import pytest

import lakehouse
from lakehouse import InvalidInputError, LakehouseError

CSV = "id,name,city\n1,Alice,Chicago\n2,Bob,Denver\n3,Chen,Austin\n"


@pytest.fixture
def lh(tmp_path):
    return lakehouse.open(str(tmp_path / "lh"))


def test_delete_removes_what_passes_the_filter(lh):
    index = lh.create_index("v", 2)
    index.add(
        ["a", "b", "c", "d"],
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]],
        [{"site": "north"}, {"site": "south"}, {"site": "east", "n": 2}, None],
    )
    assert index.delete(where={"site": ["north", "east"]}) == 2
    assert sorted(r["id"] for r in index.head(10)) == ["b", "d"]
    assert index.delete(where={"site": "west"}) == 0
    # Everything, a filter that is not a dict, or a positional filter: refused.
    with pytest.raises(InvalidInputError, match="empty filter"):
        index.delete(where={})
    with pytest.raises(InvalidInputError):
        index.delete(where=["site"])
    with pytest.raises(TypeError):
        index.delete({"site": "south"})
    assert len(index) == 2
    # The removal is durable: a reopened lakehouse sees it.
    again = lakehouse.open(lh.root)
    assert sorted(r["id"] for r in again.index("v").head(10)) == ["b", "d"]


def test_embed_dataset_reports_progress(lh, tmp_path, capsys):
    path = tmp_path / "workers.csv"
    path.write_text(CSV)
    lh.ingest_csv(path, "workers")
    seen = []
    report = lh.embed_dataset(
        "workers",
        "people",
        text="concat(name, ' works in ', city)",
        id_column="id",
        metadata_columns=["city"],
        batch_size=1,
        progress=seen.append,
    )
    assert report["embedded"] == 3 and report["index"]["count"] == 3
    assert [p["done"] for p in seen] == [1, 2, 3]
    assert all(p["total"] == 3 for p in seen) and seen[-1]["embedded"] == 3
    hits = lh.index("people").search("someone in Denver", k=1)
    assert hits[0]["id"] == "2" and hits[0]["metadata"] == {"city": "Denver"}
    # A second run embeds nothing new; progress=False reports nothing.
    assert lh.embed_dataset("workers", "people", text="concat(name, ' works in ', city)",
                            id_column="id", metadata_columns=["city"], progress=False)["embedded"] == 0

    # The default: a tqdm bar on stderr when tqdm is installed.
    pytest.importorskip("tqdm")
    capsys.readouterr()
    lh.embed_dataset("workers", "names", text="name", id_column="id")
    err = capsys.readouterr().err
    assert "embedding workers into names" in err and "3/3" in err, err

    # A callback that raises: the run finishes, then its exception is raised.
    def broken(progress):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        lh.embed_dataset("workers", "cities", text="city", id_column="id", progress=broken)
    assert len(lh.index("cities")) == 3
    with pytest.raises(TypeError, match="progress"):
        lh.embed_dataset("workers", "x", text="city", id_column="id", progress="yes")
    with pytest.raises(InvalidInputError):
        lh.embed_dataset("workers", "x", text="city", id_column="id", batch_size=0, progress=False)


def test_storage_options(tmp_path):
    with pytest.raises(InvalidInputError, match="s3://"):
        lakehouse.open(str(tmp_path / "lh"), storage_options={"region": "us-east-1"})
    with pytest.raises(InvalidInputError, match="endpiont"):
        lakehouse.open("s3://bucket/x", storage_options={"endpiont": "http://127.0.0.1:1"})
    with pytest.raises(InvalidInputError, match="str, bool or number"):
        lakehouse.open("s3://bucket/x", storage_options={"allow_http": [True]})
    base = os.environ.get("LAKEHOUSE_TEST_S3")
    if base is None:
        if os.environ.get("CI"):
            pytest.fail("CI must start the S3 server and set LAKEHOUSE_TEST_S3")
        pytest.skip("LAKEHOUSE_TEST_S3 not set (scripts/test.sh starts an S3 server)")
    root = f"{base.rstrip('/')}/py-{uuid.uuid4()}"
    table = pa.table({"n": [1, 2]})
    # A wrong secret given as an option wins over the right one in the environment.
    with pytest.raises(LakehouseError) as refused:
        lakehouse.open(root, storage_options={"AWS_SECRET_ACCESS_KEY": "wrong"}).write("t", table)
    assert not isinstance(refused.value, InvalidInputError), refused.value
    options = {
        "endpoint": os.environ["AWS_ENDPOINT"],
        "access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "region": os.environ["AWS_REGION"],
        "allow_http": True,
    }
    lh = lakehouse.open(root, storage_options=options)
    lh.write("t", table)
    assert lh.sql("SELECT sum(n) AS s FROM t")[0] == {"s": 3}


def test_the_asyncio_face(tmp_path):
    async def main():
        async with await lakehouse.open_async(str(tmp_path / "lh")) as lh:
            assert isinstance(lh, lakehouse.AsyncLakehouse)
            report = await lh.write("t", pa.table({"n": [1, 2, 3]}))
            assert report["rows"] == 3
            assert (await lh.sql("SELECT sum(n) AS s FROM t")).to_list() == [{"s": 6}]
            assert (await lh.schema("t")).names == ["n"]
            index = await lh.create_index("v", 2)
            assert isinstance(index, lakehouse.AsyncVectorIndex)
            await index.add(["a", "b"], [[1.0, 0.0], [0.0, 1.0]], [{"g": 1}, {"g": 2}])
            hits = await index.search([0.9, 0.1], k=1)
            assert hits[0]["id"] == "a"
            assert await index.delete(where={"g": 2}) == 1
            assert await index.count() == 1
            assert await lh.indexes() == ["v"]

            # The loop keeps running while a call works in its thread.
            ticks = 0
            stop = asyncio.Event()

            async def tick():
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0.005)

            ticker = asyncio.create_task(tick())
            big = await lh.sql(
                "SELECT count(*) AS n FROM range(1, 200000000) WHERE value % 7 = 3"
            )
            stop.set()
            await ticker
            assert big[0]["n"] > 0
            assert ticks >= 3, ticks

            # Errors are the blocking API's.
            with pytest.raises(lakehouse.NotFoundError):
                await lh.index("nope")
            # Calls run concurrently.
            counts = await asyncio.gather(*(lh.sql(f"SELECT {i} AS i") for i in range(8)))
            assert [c[0]["i"] for c in counts] == list(range(8))
            return lh

    closed = asyncio.run(main())
    # `async with` closed it.
    with pytest.raises(InvalidInputError, match="closed"):
        closed.sync.indexes()
