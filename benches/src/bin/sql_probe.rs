//! Times the data-path bench's group-by and point lookup under DataFusion session settings,
//! on the very Parquet files the bench wrote, to find which settings our engine should use.
//! Usage: `sql_probe` after `cargo bench --bench data_path` (reads bench_files.json and
//! bench_point.json from the bench data folder). Prints one median per setting.
//! `sql_probe explain` prints the group-by's per-operator times; `sql_probe pages` rewrites
//! both files with smaller data pages (a row-count limit per page, so the page index can
//! skip most of a row group) and times both queries on each.

use std::time::Instant;

use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use lakehouse_benches::data_dir;

fn files(name: &str) -> (Vec<String>, serde_json::Value) {
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join(name)).unwrap()).unwrap();
    let files = info["parquet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (files, info)
}

async fn median(ctx: &SessionContext, sqls: &[String], runs: usize) -> f64 {
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let t = Instant::now();
        ctx.sql(&sqls[i % sqls.len()])
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[runs / 2] * 1e3
}

#[tokio::main]
async fn main() {
    let (group_files, group_info) = files("bench_files.json");
    let (point_files, point_info) = files("bench_point.json");
    let group_by = vec![group_info["group_by"].as_str().unwrap().to_string()];
    let points: Vec<String> = (0..50u64)
        .map(|i| {
            point_info["point"]
                .as_str()
                .unwrap()
                .replace("{id}", &((i * 7919) % 100_000 + 1).to_string())
        })
        .collect();
    if std::env::args().nth(1).as_deref() == Some("explain") {
        // Per-operator times of the group-by under the defaults.
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        ctx.register_parquet("workers", &group_files[0], ParquetReadOptions::default())
            .await
            .unwrap();
        for _ in 0..5 {
            ctx.sql(&group_by[0])
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
        }
        let plan = ctx
            .sql(&format!("EXPLAIN ANALYZE {}", group_by[0]))
            .await
            .unwrap();
        plan.show().await.unwrap();
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("pages") {
        return page_limits(&group_files[0], &group_by, &point_files[0], &points).await;
    }
    let settings: &[(&str, &[(&str, &str)])] = &[
        ("defaults", &[]),
        (
            "no view types",
            &[(
                "datafusion.execution.parquet.schema_force_view_types",
                "false",
            )],
        ),
        (
            "pushdown filters",
            &[("datafusion.execution.parquet.pushdown_filters", "true")],
        ),
        (
            "pushdown + reorder",
            &[
                ("datafusion.execution.parquet.pushdown_filters", "true"),
                ("datafusion.execution.parquet.reorder_filters", "true"),
            ],
        ),
        (
            "1 partition",
            &[("datafusion.execution.target_partitions", "1")],
        ),
        (
            "4 partitions",
            &[("datafusion.execution.target_partitions", "4")],
        ),
        ("batch 32k", &[("datafusion.execution.batch_size", "32768")]),
    ];
    for (label, pairs) in settings {
        let mut config = SessionConfig::new().with_target_partitions(2);
        for (k, v) in *pairs {
            config = config.set_str(k, v);
        }
        let ctx = SessionContext::new_with_config(config);
        ctx.register_parquet("workers", &group_files[0], ParquetReadOptions::default())
            .await
            .unwrap();
        let g = median(&ctx, &group_by, 30).await;
        let ctx2 = SessionContext::new_with_config(ctx.copied_config());
        ctx2.register_parquet("workers", &point_files[0], ParquetReadOptions::default())
            .await
            .unwrap();
        let p = median(&ctx2, &points, 200).await;
        println!("{label:<20} group-by {g:6.2} ms   point {p:6.3} ms");
    }
}

/// `file` rewritten to `out` with at most `rows_per_page` rows per data page (`None`: the
/// writer's default, pages cut by size only), other settings as our ingest writes them.
fn rewrite(file: &str, out: &std::path::Path, rows_per_page: Option<usize>) {
    use arrow::record_batch::RecordBatchReader;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024));
    if let Some(n) = rows_per_page {
        props = props.set_data_page_row_count_limit(n);
    }
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(out).unwrap(),
        reader.schema(),
        Some(props.build()),
    )
    .unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
}

async fn page_limits(group_file: &str, group_by: &[String], point_file: &str, points: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    for limit in [
        None,
        Some(32 * 1024),
        Some(16 * 1024),
        Some(8 * 1024),
        Some(4 * 1024),
    ] {
        let g_path = dir.path().join(format!("g{limit:?}.parquet"));
        let p_path = dir.path().join(format!("p{limit:?}.parquet"));
        rewrite(group_file, &g_path, limit);
        rewrite(point_file, &p_path, limit);
        let config = SessionConfig::new().with_target_partitions(2);
        let ctx = SessionContext::new_with_config(config.clone());
        ctx.register_parquet(
            "workers",
            g_path.to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let g = median(&ctx, group_by, 30).await;
        let ctx2 = SessionContext::new_with_config(config);
        ctx2.register_parquet(
            "workers",
            p_path.to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let p = median(&ctx2, points, 200).await;
        let size = std::fs::metadata(&g_path).unwrap().len() as f64 / 1e6;
        println!(
            "rows per page {:>8}: group-by {g:6.2} ms ({size:.1} MB)   point {p:6.3} ms",
            limit.map_or("default".to_string(), |n| n.to_string())
        );
    }
}
