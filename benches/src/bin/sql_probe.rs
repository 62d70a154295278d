//! Times the data-path bench's group-by and point lookup under DataFusion session settings,
//! on the very Parquet files the bench wrote, to find which settings our engine should use.
//! Usage: `sql_probe` after `cargo bench --bench data_path` (reads bench_files.json and
//! bench_point.json from the bench data folder). Prints one median per setting.

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
