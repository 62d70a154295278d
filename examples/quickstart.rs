//! Quickstart: open a lakehouse in a temporary folder, ingest CSV, query it, time-travel.
//!
//! Run with `cargo run --release --example quickstart`.

use lakehouse_core::{IngestMode, IngestOptions, Lakehouse};

#[tokio::main]
async fn main() -> lakehouse_core::Result<()> {
    let dir = tempfile::tempdir()?;
    let lh = Lakehouse::open(dir.path().to_str().expect("utf-8 path")).await?;

    let csv = "id,name,role,city\n1,Alice,Welder,Chicago\n2,Bob,Forklift Operator,Joliet\n";
    let report = lh
        .dataset("workers")
        .write(csv, &IngestOptions::default())
        .await?;
    println!(
        "created workers v{} ({} rows)",
        report.manifest.version, report.rows
    );

    let more = "id,name,role,city\n3,Carmen,Welder,Gary\n";
    lh.dataset("workers")
        .write(more, &IngestOptions::mode(IngestMode::Append))
        .await?;

    let result = lh
        .sql("SELECT role, count(*) AS n FROM workers GROUP BY role ORDER BY role")
        .await?;
    println!("{}", result.to_pretty_string()?);
    let json = lh
        .sql(r#"SELECT name FROM "workers@0" ORDER BY id"#)
        .await?
        .to_json()?;
    println!(
        "version 0 as JSON: {}",
        serde_json::to_string(&json).expect("serializable")
    );
    Ok(())
}
