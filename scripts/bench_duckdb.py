#!/usr/bin/env python3
"""Times DuckDB on the files the criterion data-path bench used and prints the ratios.

Run after `cargo bench --bench data_path` (scripts/bench.sh does both). Reads
<bench-data>/bench_files.json written by the bench, and criterion's estimates under
<target>/criterion. Usage: bench_duckdb.py BENCH_DATA_DIR CRITERION_DIR
"""
import json
import os
import statistics
import sys
import tempfile
import time

import duckdb


def best_of(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def criterion_mean(criterion_dir, group, name):
    path = os.path.join(criterion_dir, group, name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1e9


def main():
    data_dir, criterion_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(data_dir, "bench_files.json")) as f:
        info = json.load(f)
    csv_path = info["csv"]
    size_mb = os.path.getsize(csv_path) / 1e6
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.parquet")
        copy = (f"COPY (SELECT * FROM read_csv_auto('{csv_path}')) TO '{out}' "
                "(FORMAT parquet, COMPRESSION snappy)")
        duck_ingest = best_of(lambda: con.execute(copy), 5)

    files = "[" + ",".join(f"'{p}'" for p in info["parquet"]) + "]"
    con.execute(f"CREATE VIEW workers AS SELECT * FROM read_parquet({files})")
    duck_query = best_of(lambda: con.execute(info["group_by"]).fetchall(), 20)

    with open(os.path.join(data_dir, "bench_point.json")) as f:
        point = json.load(f)
    pfiles = "[" + ",".join(f"'{p}'" for p in point["parquet"]) + "]"
    con.execute(f"CREATE VIEW workers_100k AS SELECT * FROM read_parquet({pfiles})")
    ids = iter(range(1, 10**9, 7919))
    point_sql = point["point"].replace("FROM workers", "FROM workers_100k")
    duck_point = best_of(
        lambda: con.execute(point_sql.replace("{id}", str(next(ids) % point["rows"] + 1))).fetchall(), 200)

    ours_ingest = criterion_mean(criterion_dir, "ingest", "csv_to_parquet_500k")
    ours_query = criterion_mean(criterion_dir, "query", "group_by_1m")
    ours_arrow = criterion_mean(criterion_dir, "ingest", "arrow_to_table_500k")
    print(f"DuckDB {duckdb.__version__} ({threads} threads), same files, median times:")
    print(f"  CSV->Parquet {size_mb:.1f} MB: lakehouse {ours_ingest*1e3:.0f} ms "
          f"({size_mb/ours_ingest:.1f} MB/s), DuckDB {duck_ingest*1e3:.0f} ms "
          f"({size_mb/duck_ingest:.1f} MB/s), lakehouse/DuckDB time ratio {ours_ingest/duck_ingest:.2f}")
    print(f"  the same rows as Arrow batches -> table: lakehouse {ours_arrow*1e3:.0f} ms, "
          f"CSV/Arrow time ratio {ours_ingest/ours_arrow:.2f}")
    ours_point = criterion_mean(criterion_dir, "query", "point_lookup_100k")
    print(f"  point lookup by id, {point['rows']} rows: lakehouse {ours_point*1e3:.2f} ms, "
          f"DuckDB {duck_point*1e3:.2f} ms, lakehouse/DuckDB time ratio {ours_point/duck_point:.2f}")
    print(f"  group-by 1M rows: lakehouse {ours_query*1e3:.1f} ms, DuckDB {duck_query*1e3:.1f} ms, "
          f"lakehouse/DuckDB time ratio {ours_query/duck_query:.2f}")


if __name__ == "__main__":
    main()
