//! Vector index benchmark: N clustered, normalised vectors of DIM dimensions (default
//! 100,000 × 768, the reference system's shape), cosine, in one of two engines:
//! `ours` (lakehouse's `VectorIndex`: id map, metadata, write-ahead log, snapshots) or `bare`
//! (the usearch crate alone, same options). Prints add throughput, search p50/p99 at k = 10,
//! recall@10 against exact search, the process's RSS growth, and open time.
//! One engine and quantization per process, so RSS is its own;
//! `scripts/bench_vectors.sh` runs every combination and prints them side by side.
//!
//! `target/release/vector_bench ours|bare f32|f16|i8 [N] [DIM]` (build with the workspace).

use std::time::Instant;

use lakehouse_core::Lakehouse;
use lakehouse_core::vector::{IndexSpec, Quantization, SearchRequest, VectorRecord};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

const BATCH: usize = 1000;
const QUERIES: usize = 300;
const CLUSTERS: usize = 200;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

struct Data {
    dim: usize,
    centroids: Vec<f32>,
}

impl Data {
    fn new(dim: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(42);
        let centroids = (0..CLUSTERS * dim)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        Self { dim, centroids }
    }

    /// Vector `i`: its cluster's centroid plus noise, normalised. Deterministic.
    fn vector(&self, i: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 7);
        let c = (i as usize * 7919) % CLUSTERS;
        let mut v: Vec<f32> = self.centroids[c * self.dim..(c + 1) * self.dim]
            .iter()
            .map(|x| x + rng.random_range(-0.6f32..0.6))
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    fn batch(&self, b: usize, n: usize) -> Vec<(u64, Vec<f32>)> {
        let lo = b * BATCH;
        (lo..(lo + BATCH).min(n))
            .into_par_iter()
            .map(|i| (i as u64, self.vector(i as u64)))
            .collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Exact top-10 ids for each query, by brute force over the generated data.
fn ground_truth(data: &Data, n: usize, queries: &[Vec<f32>]) -> Vec<Vec<u64>> {
    let mut best: Vec<Vec<(f32, u64)>> = vec![Vec::new(); queries.len()];
    for b in 0..n.div_ceil(BATCH) {
        let batch = data.batch(b, n);
        best.par_iter_mut().zip(queries).for_each(|(best, q)| {
            for (id, v) in &batch {
                let s: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
                best.push((s, *id));
            }
            best.sort_by(|a, b| b.0.total_cmp(&a.0));
            best.truncate(10);
        });
    }
    best.into_iter()
        .map(|b| b.into_iter().map(|(_, id)| id).collect())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let engine = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("ours")
        .to_string();
    let quant = args.get(2).map(String::as_str).unwrap_or("f32").to_string();
    let n: usize = args.get(3).map_or(100_000, |s| s.parse().expect("N"));
    let dim: usize = args.get(4).map_or(768, |s| s.parse().expect("DIM"));
    let data = Data::new(dim);
    // Queries: fresh points from the same clusters, not in the index.
    let queries: Vec<Vec<f32>> = (0..QUERIES as u64)
        .map(|i| data.vector(u64::MAX - i))
        .collect();
    let truth = ground_truth(&data, n, &queries);
    let rss_before = rss_bytes();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let measured;
    let open_note;
    let rss_growth;
    if engine == "ours" {
        let lh = rt
            .block_on(Lakehouse::open(dir.path().to_str().unwrap()))
            .unwrap();
        let q = match quant.as_str() {
            "f16" => Quantization::F16,
            "i8" => Quantization::I8,
            _ => Quantization::F32,
        };
        let index = rt
            .block_on(
                lh.vectors()
                    .create(IndexSpec::new("bench", dim).with_quantization(q)),
            )
            .unwrap();
        for b in 0..n.div_ceil(BATCH) {
            let records = data
                .batch(b, n)
                .into_iter()
                .map(|(id, v)| VectorRecord::new(id.to_string(), v))
                .collect();
            rt.block_on(index.add(records)).unwrap();
        }
        let add_secs = started.elapsed().as_secs_f64();
        print_add(n, add_secs);
        rss_growth = rss_bytes().saturating_sub(rss_before);
        measured = measure(&queries, &truth, |v| {
            index
                .search(&SearchRequest::new(v.to_vec(), 10))
                .unwrap()
                .into_iter()
                .map(|h| h.id.parse().unwrap())
                .collect()
        });
        rt.block_on(index.flush()).unwrap();
        // Open time: a fresh handle on the same root, until the first search answers.
        let t = Instant::now();
        let lh2 = rt
            .block_on(Lakehouse::open(dir.path().to_str().unwrap()))
            .unwrap();
        let reopened = rt.block_on(lh2.vectors().get("bench")).unwrap();
        reopened
            .search(&SearchRequest::new(queries[0].clone(), 10))
            .unwrap();
        open_note = format!("open {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    } else {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::Cos,
            quantization: match quant.as_str() {
                "f16" => ScalarKind::F16,
                "i8" => ScalarKind::I8,
                _ => ScalarKind::F32,
            },
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            multi: false,
        };
        let index = Index::new(&options).unwrap();
        let threads = rayon::current_num_threads();
        index.reserve_capacity_and_threads(n, threads).unwrap();
        for b in 0..n.div_ceil(BATCH) {
            data.batch(b, n)
                .par_iter()
                .for_each(|(id, v)| index.add(*id, v).unwrap());
        }
        let add_secs = started.elapsed().as_secs_f64();
        print_add(n, add_secs);
        rss_growth = rss_bytes().saturating_sub(rss_before);
        measured = measure(&queries, &truth, |v| index.search(v, 10).unwrap().keys);
        let path = dir.path().join("bare.usearch");
        index.save(path.to_str().unwrap()).unwrap();
        let t = Instant::now();
        let loaded = Index::new(&options).unwrap();
        loaded.load(path.to_str().unwrap()).unwrap();
        loaded.search(&queries[0], 10).unwrap();
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        drop(loaded);
        let t = Instant::now();
        let viewed = Index::new(&options).unwrap();
        viewed.view(path.to_str().unwrap()).unwrap();
        viewed.search(&queries[0], 10).unwrap();
        open_note = format!(
            "load {load_ms:.0} ms, view {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }

    let (p50, p99, recall) = measured;
    let raw = (n * dim * 4) as f64;
    println!(
        "{engine} {quant}: search p50 {:.3} ms p99 {:.3} ms; recall@10 {:.4}; RSS growth {:.0} MB ({:.2}x raw f32); {open_note}",
        p50 * 1e3,
        p99 * 1e3,
        recall,
        rss_growth as f64 / 1e6,
        rss_growth as f64 / raw,
    );
}

/// Search latency p50 and p99 (seconds) over three rounds of the queries, and recall@10.
fn measure(
    queries: &[Vec<f32>],
    truth: &[Vec<u64>],
    search: impl Fn(&[f32]) -> Vec<u64>,
) -> (f64, f64, f64) {
    let mut lat = Vec::new();
    let mut hits = 0usize;
    for round in 0..3 {
        for (q, t) in queries.iter().zip(truth) {
            let s = Instant::now();
            let found = search(q);
            lat.push(s.elapsed().as_secs_f64());
            if round == 0 {
                hits += found.iter().filter(|id| t.contains(id)).count();
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    (
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        hits as f64 / (queries.len() * 10) as f64,
    )
}

fn print_add(n: usize, secs: f64) {
    print!("add {:.0} vectors/s; ", n as f64 / secs);
}
