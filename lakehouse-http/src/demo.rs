//! `lakehouse demo`: builds a sample staffing lakehouse and queries it, narrating each step.

use lakehouse_core::sample::workers_csv;
use lakehouse_core::{IngestMode, IngestOptions, Lakehouse, Result};

async fn show(lh: &Lakehouse, title: &str, sql: &str) -> Result<()> {
    println!("\n-- {title}\n{sql}");
    println!("{}", lh.sql(sql).await?.to_pretty_string()?);
    Ok(())
}

/// Runs the demo against `lh`.
pub async fn run(lh: &Lakehouse) -> Result<()> {
    println!("lakehouse at {}", lh.storage().description());
    let replace = IngestOptions::mode(IngestMode::Replace);
    let r = lh.ingest("workers", workers_csv(1..1001), &replace).await?;
    println!(
        "ingested workers: {} rows -> version {}{}",
        r.rows,
        r.manifest.version,
        if r.no_op {
            " (unchanged: same content)"
        } else {
            ""
        }
    );
    let columns: Vec<String> = r
        .manifest
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.data_type))
        .collect();
    println!("inferred schema: {}", columns.join(", "));
    let base_version = r.manifest.version;
    let a = lh
        .ingest(
            "workers",
            workers_csv(1001..1201),
            &IngestOptions::mode(IngestMode::Append),
        )
        .await?;
    println!(
        "appended 200 more -> version {} ({} rows)",
        a.manifest.version, a.manifest.row_count
    );

    show(lh, "active workers by state", "SELECT state, count(*) AS workers, round(avg(hourly_rate), 2) AS avg_rate FROM workers WHERE status = 'active' GROUP BY state ORDER BY workers DESC").await?;
    show(lh, "forklift operators near Chicago", "SELECT id, name, city, years FROM workers WHERE role = 'Forklift Operator' AND state = 'IL' AND status = 'active' ORDER BY years DESC, id LIMIT 5").await?;
    show(
        lh,
        "time travel: row counts per version",
        &format!(r#"SELECT 'v{base_version}' AS version, count(*) AS n FROM "workers@{base_version}" UNION ALL SELECT 'latest', count(*) FROM workers"#),
    )
    .await?;
    println!("\nversions of workers:");
    for v in lh.versions("workers").await? {
        println!("  v{} {:?} {} rows", v.version, v.operation, v.row_count);
    }
    match lh.sql("DROP TABLE workers").await {
        Err(e) => println!("\nwrites through SQL are refused: {e}"),
        Ok(_) => println!("\nunexpected: DROP TABLE ran"),
    }
    Ok(())
}
