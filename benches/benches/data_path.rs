//! Data-path benchmarks: CSV → Parquet ingest throughput, the same rows as Arrow batches,
//! and a group-by over 1M rows.
//!
//! `scripts/bench_duckdb.py` times DuckDB on the same files afterwards and prints ratios;
//! `scripts/bench.sh` runs both.

use std::time::Duration;

use arrow::record_batch::RecordBatchIterator;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lakehouse_benches::{data_dir, workers_file};
use lakehouse_core::{IngestOptions, Lakehouse, Source};

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
                    lh.dataset("workers")
                        .write(csv.as_path(), &IngestOptions::default())
                        .await
                        .unwrap();
                });
                dir
            },
            BatchSize::PerIteration,
        )
    });
    // The same rows as Arrow batches (what a DataFrame hands over): typed, so no inference
    // and no parsing; what remains is the Parquet encoding and the commit.
    let batches = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        lh.dataset("workers")
            .write(csv.as_path(), &IngestOptions::default())
            .await
            .unwrap();
        lh.sql("SELECT * FROM workers").await.unwrap()
    });
    g.bench_function("arrow_to_table_500k", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                rt.block_on(async {
                    let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
                    let reader = RecordBatchIterator::new(
                        batches.batches.clone().into_iter().map(Ok),
                        batches.schema.clone(),
                    );
                    lh.dataset("workers")
                        .write(Source::arrow(reader), &IngestOptions::default())
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
        let r = lh.dataset("workers").write(csv.as_path(), &IngestOptions::default()).await.unwrap();
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

/// Rows of the dataset point lookups read.
const POINT_ROWS: u64 = 100_000;
/// The lookup timed here and in DuckDB (`{id}` varies per call).
pub const POINT: &str = "SELECT name, city, state FROM workers WHERE id = {id}";

fn point_lookup(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = data_dir().join("lakehouse_100k");
    let lh = rt.block_on(async {
        let lh = Lakehouse::open(root.to_str().unwrap()).await.unwrap();
        let csv = workers_file(POINT_ROWS);
        let r = lh
            .dataset("workers")
            .write(csv.as_path(), &IngestOptions::default())
            .await
            .unwrap();
        let files: Vec<String> = r
            .manifest
            .files
            .iter()
            .map(|f| root.join(&f.path).display().to_string())
            .collect();
        let info = serde_json::json!({ "parquet": files, "point": POINT, "rows": POINT_ROWS });
        std::fs::write(data_dir().join("bench_point.json"), info.to_string()).unwrap();
        lh
    });
    let mut g = c.benchmark_group("query");
    g.sample_size(50);
    let mut id = 0u64;
    g.bench_function("point_lookup_100k", |b| {
        b.iter(|| {
            // A different row each call (a stride coprime to the row count).
            id = (id + 7_919) % POINT_ROWS;
            let sql = POINT.replace("{id}", &(id + 1).to_string());
            let r = rt.block_on(lh.sql(&sql)).unwrap();
            assert_eq!(r.row_count(), 1);
        })
    });
    g.finish();
}

criterion_group!(benches, ingest, group_by, point_lookup);
criterion_main!(benches);
