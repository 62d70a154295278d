//! Bulk indexing benchmark: generates N worker profiles (~60 tokens each), ingests them, and
//! embeds them into a vector index with `Lakehouse::embed_dataset`, printing rows/s and the
//! projected time for 100k rows.
//!
//! `target/release/bulk_index [ROWS]` (default 100000). The lakehouse is kept under the bench
//! data folder (`bulk-index-ROWS`), so an interrupted run resumes, and the finished index of
//! real 384-d profile embeddings can be reused by other benchmarks.

use std::time::Instant;

use lakehouse_benches::{data_dir, profile_corpus};

#[tokio::main]
async fn main() -> lakehouse_core::Result<()> {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("ROWS is a number"))
        .unwrap_or(100_000);
    let root = data_dir().join(format!("bulk-index-{rows}"));
    let started = Instant::now();
    let step = (rows / 10).max(1);
    let (_, r) = profile_corpus(&root, rows, &|p| {
        if p.done % step < 256 || p.done == p.total {
            eprintln!(
                "  {}/{} after {:.0}s",
                p.done,
                p.total,
                started.elapsed().as_secs_f64()
            );
        }
    })
    .await?;
    let secs = r.elapsed.as_secs_f64();
    println!(
        "bulk index: {} profiles in {:.1}s = {:.1} profiles/s on {} threads ({} already indexed); 100k would take {:.1} min",
        r.embedded,
        secs,
        r.embedded as f64 / secs,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        r.skipped_existing,
        100_000.0 / (r.embedded as f64 / secs) / 60.0
    );
    Ok(())
}
