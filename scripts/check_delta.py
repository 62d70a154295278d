#!/usr/bin/env python3
"""Reads a dataset's Delta table with other engines and prints one JSON object.

Used by lakehouse's tests to prove that other engines read the tables we write where they
lie: the Python `deltalake` package at every version given, `polars.read_delta` and DuckDB's
`delta_scan` at the latest. Each reading is summarized as the table's `id` column and its
`name` column ordered by `id`.

Usage: check_delta.py TABLE_URI VERSION[,VERSION...]

TABLE_URI is a local folder or `s3://bucket/prefix/datasets/<name>`; for S3 the standard
AWS_* variables (AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) say
where. DuckDB's Delta extension needs DuckDB 1.4.4: LAKEHOUSE_DUCKDB_DELTA names the folder
that `pip install --target` filled with duckdb==1.4.4, duckdb-ext-delta and duckdb-ext-httpfs
(scripts/test.sh does); the extensions are loaded from its files, nothing is downloaded.
"""
import glob
import json
import os
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
uri = sys.argv[1]
versions = [int(v) for v in sys.argv[2].split(",") if v]
s3 = uri.startswith("s3://")
options = {}
if s3:
    options = {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT"],
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_ALLOW_HTTP": "true",
    }


def summary(table):
    rows = sorted(zip(table.column("id").to_pylist(), table.column("name").to_pylist()),
                  key=lambda r: r[0])
    return {"ids": [r[0] for r in rows], "names": [r[1] for r in rows]}


out = {}
from deltalake import DeltaTable  # noqa: E402

out["deltalake"] = {
    str(v): summary(DeltaTable(uri, version=v, storage_options=options or None).to_pyarrow_table())
    for v in versions
}
out["deltalake_history"] = [c.get("operation") for c in DeltaTable(
    uri, storage_options=options or None).history()]

import polars as pl  # noqa: E402

out["polars"] = summary(pl.read_delta(uri, storage_options=options or None).to_arrow())

duck_dir = os.environ.get("LAKEHOUSE_DUCKDB_DELTA")
if duck_dir:
    sys.path.insert(0, duck_dir)
    import duckdb  # noqa: E402

    assert duckdb.__version__ == "1.4.4", duckdb.__version__
    ext = glob.glob(os.path.join(duck_dir, "duckdb_ext/extensions/v1.4.4/*"))[0]
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    if s3:
        con.execute(f"LOAD '{ext}/httpfs.duckdb_extension'")
        endpoint = os.environ["AWS_ENDPOINT"].split("://", 1)[-1]
        con.execute(
            "CREATE SECRET (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', "
            "USE_SSL false)",
            [options["AWS_ACCESS_KEY_ID"], options["AWS_SECRET_ACCESS_KEY"],
             options["AWS_REGION"], endpoint])
    con.execute(f"LOAD '{ext}/delta.duckdb_extension'")
    rel = con.execute("SELECT id, name FROM delta_scan(?) ORDER BY id", [uri]).fetch_arrow_table()
    out["duckdb"] = summary(rel)

print(json.dumps(out))
