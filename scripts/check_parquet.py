#!/usr/bin/env python3
"""Reads Parquet files with DuckDB and pyarrow and prints one JSON line per reader.

Used by lakehouse-core's tests to prove that the Parquet we write is readable by other
engines. Usage: check_parquet.py FILE [FILE ...]
"""
import json
import sys

import duckdb
import pyarrow.parquet as pq

files = sys.argv[1:]
if not files:
    sys.exit("usage: check_parquet.py FILE [FILE ...]")

table = pq.read_table(files[0]) if len(files) == 1 else None
arrow_rows = sum(pq.read_table(f).num_rows for f in files)
arrow_cols = pq.read_schema(files[0]).names
con = duckdb.connect()
listing = "[" + ",".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
duck_rows = con.execute(f"SELECT count(*) FROM read_parquet({listing})").fetchone()[0]
first = con.execute(f"SELECT * FROM read_parquet({listing}) LIMIT 1").fetchone()
print(json.dumps({"pyarrow_rows": arrow_rows, "duckdb_rows": duck_rows,
                  "columns": arrow_cols, "first_row": [str(v) for v in first]}))
