//! Data-path benchmarks: CSV → Parquet ingest throughput, and a group-by over 1M rows.
//!
//! `scripts/bench_duckdb.py` times DuckDB on the same files afterwards and prints ratios;
//! `scripts/bench.sh` runs both.

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lakehouse_benches::{data_dir, workers_file};
use lakehouse_core::{IngestOptions, Lakehouse};

const INGEST_ROWS: u64 = 500_000;
const QUERY_ROWS: u64 = 1_000_000;
/// The group-by timed here and, on the same Parquet files, in DuckDB.
pub const GROUP_BY: &str = "SELECT state, role, count(*) AS n, avg(hourly_rate) AS rate, max(years) AS y \
                            FROM workers WHERE status = 'active' GROUP BY state, role ORDER BY state, role";

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let csv = workers_file(INGEST_ROWS);
    let size = std::fs::metadata(&csv).unwrap().len();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(size));
    g.bench_function("csv_to_parquet_500k", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                rt.block_on(async {
                    let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
                    lh.ingest("workers", csv.as_path(), &IngestOptions::default())
                        .await
                        .unwrap();
                });
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn group_by(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = data_dir().join("lakehouse_1m");
    let lh = rt.block_on(async {
        let lh = Lakehouse::open(root.to_str().unwrap()).await.unwrap();
        let csv = workers_file(QUERY_ROWS);
        let r = lh.ingest("workers", csv.as_path(), &IngestOptions::default()).await.unwrap();
        // Tell the DuckDB script which Parquet files hold this dataset.
        let files: Vec<String> = r.manifest.files.iter().map(|f| root.join(&f.path).display().to_string()).collect();
        let info = serde_json::json!({ "parquet": files, "csv": workers_file(INGEST_ROWS), "group_by": GROUP_BY });
        std::fs::write(data_dir().join("bench_files.json"), info.to_string()).unwrap();
        lh
    });
    let mut g = c.benchmark_group("query");
    g.sample_size(20);
    g.throughput(Throughput::Elements(QUERY_ROWS));
    g.bench_function("group_by_1m", |b| {
        b.iter(|| rt.block_on(lh.sql(GROUP_BY)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, ingest, group_by);
criterion_main!(benches);
