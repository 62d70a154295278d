//! Matrix search load benchmark: p50/p99 latency and queries/s at 1, 10 and 50 concurrent
//! callers over a corpus of real profile embeddings plus a playbook index, with the query
//! embedding cached (a warm pool of repeated queries) and uncached (every query a new text,
//! so each call runs the model).
//!
//! `target/release/matrix_bench [ROWS] [SECONDS]`. The corpus is the `bulk_index` bench's
//! lakehouse of ROWS profiles (default 100000) when it exists, else one of ROWS profiles
//! embedded here first (resumable; ~50 profiles/s). Every search uses the playbook
//! (1,000 recorded answers). SECONDS (default 8) per case.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lakehouse_benches::{corpus_root, profile_corpus, search_query as query};
use lakehouse_core::Lakehouse;
use lakehouse_core::matrix::MatrixRequest;
use lakehouse_core::playbook::PlaybookEntry;

async fn corpus(rows: u64) -> lakehouse_core::Result<Lakehouse> {
    let root = corpus_root(rows);
    let (lh, r) = profile_corpus(&root, rows, &|_| {}).await?;
    eprintln!(
        "corpus: {} vectors at {} ({} embedded now)",
        r.index.count,
        root.display(),
        r.embedded
    );
    // 1,000 recorded answers for queries drawn from the same generator.
    let entries = (0..1000)
        .map(|i| {
            let q = query(i * 31 + 7);
            let answer = ((i as u64 * 97) % rows + 1).to_string();
            PlaybookEntry::new(q, answer, "workers", 0.5 + (i % 5) as f32 * 0.1)
        })
        .collect();
    lh.record_playbook_bulk(entries).await?;
    Ok(lh)
}

struct Case {
    callers: usize,
    cached: bool,
}

async fn run(
    lh: &Lakehouse,
    case: &Case,
    seconds: f64,
    fresh: &Arc<AtomicUsize>,
) -> lakehouse_core::Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..case.callers)
        .map(|t| {
            let lh = lh.clone();
            let fresh = fresh.clone();
            let cached = case.cached;
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = t;
                while Instant::now() < deadline {
                    let text = if cached {
                        n += 7;
                        query(n % 64)
                    } else {
                        // A text never seen before: the model runs on every call.
                        let i = fresh.fetch_add(1, Ordering::Relaxed);
                        format!("{} #{i}", query(i))
                    };
                    let mut request = MatrixRequest::text(text, ["workers"], 10);
                    request.use_playbook = true;
                    let t0 = Instant::now();
                    let r = lh.matrix_search(&request).await?;
                    latencies.push(t0.elapsed());
                    assert_eq!(r.hits.len(), 10);
                }
                Ok::<_, lakehouse_core::Error>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "matrix search, {:>8}, {:>2} callers: {:>7.0} queries/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} queries)",
        if case.cached { "cached" } else { "uncached" },
        case.callers,
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> lakehouse_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(100_000, |s| s.parse().expect("ROWS"));
    let seconds: f64 = args.next().map_or(8.0, |s| s.parse().expect("SECONDS"));
    let lh = corpus(rows).await?;
    // Warm: load the index and the model, fill the cache with the cached pool.
    for i in 0..64 {
        let mut r = MatrixRequest::text(query(i), ["workers"], 10);
        r.use_playbook = true;
        lh.matrix_search(&r).await?;
    }
    let fresh = Arc::new(AtomicUsize::new(0));
    println!(
        "corpus {rows} profiles (384-d, all-MiniLM-L6-v2), playbook 1,000 entries, k = 10, use_playbook, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for cached in [true, false] {
        for callers in [1, 10, 50] {
            run(&lh, &Case { callers, cached }, seconds, &fresh).await?;
        }
    }
    let s = lh.embedder().await?.cache_stats().unwrap_or_default();
    println!(
        "embedding cache: {} hits, {} misses, {} computed",
        s.hits, s.misses, s.computed
    );
    Ok(())
}
