//! Vector index benchmark, on one of three data sets:
//!
//! - `DIM` (a number, default 768): N clustered, normalised synthetic vectors (default
//!   100,000 × 768, the reference system's shape), for throughput and memory;
//! - `real`: the default model's embeddings of N generated staffing profiles (384-d, the
//!   `bulk_index` corpus), searched with recruiter query texts and with held-out profiles
//!   embedded by the same model;
//! - `staffing`: the second corpus, the staffing co-pilot's workers (varied resume templates
//!   and lengths; its variance needs about twice the directions), searched with the load
//!   test's recruiter queries (five styles) and held-out workers.
//!
//! In one of four engines: `ours` (lakehouse's `VectorIndex` as a user gets it, the default
//! spec: kind `auto`, which scans when the data allows it), `graph` (kind `hnsw`: graph walks
//! only), `scan` (kind `auto` with `scan_dimensions` = `SCAN_DIMS`, 64 unless set; 0 lets the
//! index choose) or `bare` (the usearch crate alone, same options, same vectors). An index
//! that scans sweeps the candidates it re-ranks, a graph its expansion. Prints
//! add throughput, the process's RSS growth while adding, open time, and for each query set
//! and search expansion: p50/p99 at k = 10 and recall@10 against exact search. One engine and
//! quantization per process, so RSS is its own; `scripts/bench_vectors.sh` runs every
//! combination side by side.
//!
//! `ours` keeps its lakehouse under the bench data folder; `vector_bench open` then reopens it
//! in a fresh process and prints the open time and the RSS of serving it (memory-mapped).
//!
//! `vector_bench adds` measures the add overhead alone: one process builds both engines from
//! the same batches, taking turns batch by batch, so that the machine's drift between runs
//! (±25% here) falls on both alike.
//!
//! ```text
//! target/release/vector_bench ours|graph|scan|bare f32|f16|i8 [N] [DIM|real|staffing]
//! target/release/vector_bench open [N] [DIM|real|staffing] f32|f16|i8 [ours|graph|scan]
//! target/release/vector_bench adds f32|f16|i8 [N] [DIM|real|staffing]
//! ```

use std::time::Instant;

use lakehouse_benches::{RealVectors, data_dir, exact_top_k, real_vectors, staffing_vectors};
use lakehouse_core::Lakehouse;
use lakehouse_core::vector::{
    IndexKind, IndexSpec, Quantization, SearchPath, SearchRequest, VectorRecord,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

const BATCH: usize = 1000;
const QUERIES: usize = 300;
const CLUSTERS: usize = 200;
/// Search expansions measured; the first is the index default.
const EXPANSIONS: [usize; 6] = [64, 96, 128, 160, 192, 256];
/// Candidates re-ranked by the `scan` engine; 64 is the index default.
const SCAN_CANDIDATES: [usize; 6] = [16, 32, 48, 64, 96, 128];

/// `scan_dimensions` of the `scan` engine: `SCAN_DIMS`, else 64.
fn scan_dims() -> usize {
    std::env::var("SCAN_DIMS").map_or(64, |s| s.parse().expect("SCAN_DIMS"))
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Synthetic clustered vectors, generated batch by batch (never all held at once).
struct Clustered {
    dim: usize,
    centroids: Vec<f32>,
}

impl Clustered {
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
}

/// Where the vectors come from.
enum Source {
    Clustered(Clustered),
    Real(RealVectors),
}

impl Source {
    fn dim(&self) -> usize {
        match self {
            Source::Clustered(c) => c.dim,
            Source::Real(r) => r.dim,
        }
    }

    /// Batch `b` of the first `n` vectors, as (key, vector).
    fn batch(&self, b: usize, n: usize) -> Vec<(u64, Vec<f32>)> {
        let lo = b * BATCH;
        (lo..(lo + BATCH).min(n))
            .into_par_iter()
            .map(|i| {
                let v = match self {
                    Source::Clustered(c) => c.vector(i as u64),
                    Source::Real(r) => r.row(i).to_vec(),
                };
                (i as u64, v)
            })
            .collect()
    }

    /// Named query sets.
    fn query_sets(&self) -> Vec<(&'static str, Vec<Vec<f32>>)> {
        match self {
            // Fresh points from the same clusters, not in the index.
            Source::Clustered(c) => vec![(
                "held-out points",
                (0..QUERIES as u64)
                    .map(|i| c.vector(u64::MAX - i))
                    .collect(),
            )],
            Source::Real(r) => vec![
                ("recruiter queries", r.queries.clone()),
                ("held-out profiles", r.profile_queries.clone()),
            ],
        }
    }

    /// Exact top-10 keys for each query, by brute force over the first `n` vectors.
    fn ground_truth(&self, n: usize, queries: &[Vec<f32>]) -> Vec<Vec<u64>> {
        let dim = self.dim();
        let mut best: Vec<Vec<(f32, u64)>> = vec![Vec::new(); queries.len()];
        for b in 0..n.div_ceil(BATCH) {
            let batch = self.batch(b, n);
            let flat: Vec<f32> = batch.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            best.par_iter_mut().zip(queries).for_each(|(best, q)| {
                best.extend(
                    exact_top_k(&flat, dim, q, 10)
                        .into_iter()
                        .map(|(d, i)| (d, batch[i].0)),
                );
                best.sort_by(|a, b| a.0.total_cmp(&b.0));
                best.truncate(10);
            });
        }
        best.into_iter()
            .map(|b| b.into_iter().map(|(_, id)| id).collect())
            .collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn quantization(q: &str) -> (Quantization, ScalarKind) {
    match q {
        "f16" => (Quantization::F16, ScalarKind::F16),
        "i8" => (Quantization::I8, ScalarKind::I8),
        "f32" => (Quantization::F32, ScalarKind::F32),
        other => panic!("unknown quantization {other}: use f32, f16 or i8"),
    }
}

fn lakehouse_dir(engine: &str, quant: &str, n: usize, set: &str) -> std::path::PathBuf {
    match engine {
        "scan" => data_dir().join(format!(
            "vector-bench-{quant}-{n}-{set}-scan{}",
            scan_dims()
        )),
        "graph" => data_dir().join(format!("vector-bench-{quant}-{n}-{set}-graph")),
        _ => data_dir().join(format!("vector-bench-{quant}-{n}-{set}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let engine = args.get(1).map_or("ours", String::as_str).to_string();
    if engine == "open" {
        let n: usize = args.get(2).map_or(100_000, |s| s.parse().expect("N"));
        let set = args.get(3).map_or("768", String::as_str);
        let quant = args.get(4).map_or("f32", String::as_str);
        let engine = args.get(5).map_or("ours", String::as_str);
        return reopen(&lakehouse_dir(engine, quant, n, set), n);
    }
    let quant = args.get(2).map_or("f32", String::as_str).to_string();
    let n: usize = args.get(3).map_or(100_000, |s| s.parse().expect("N"));
    let set = args.get(4).map_or("768", String::as_str).to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let source = if set == "real" {
        Source::Real(
            rt.block_on(real_vectors(n as u64, QUERIES))
                .expect("the real-text corpus"),
        )
    } else if set == "staffing" {
        Source::Real(
            rt.block_on(staffing_vectors(n as u64, QUERIES))
                .expect("the staffing corpus"),
        )
    } else {
        Source::Clustered(Clustered::new(set.parse().expect("DIM or real")))
    };
    let dim = source.dim();
    if engine == "adds" {
        return interleaved_adds(&rt, &source, &quant, n, &set);
    }
    let sets: Vec<_> = source
        .query_sets()
        .into_iter()
        .map(|(name, qs)| {
            let truth = source.ground_truth(n, &qs);
            (name, qs, truth)
        })
        .collect();
    let (q, scalar) = quantization(&quant);
    let label = format!("{engine} {quant} {n}x{dim} ({set})");
    if engine == "ours" || engine == "scan" || engine == "graph" {
        let dir = lakehouse_dir(&engine, &quant, n, &set);
        let _ = std::fs::remove_dir_all(&dir);
        // The lakehouse itself (catalog, SQL engine) is a fixed cost, printed apart from
        // the index's growth.
        let rss_before = rss_bytes();
        let lh = rt.block_on(Lakehouse::open(dir.to_str().unwrap())).unwrap();
        print_fixed(&label, rss_bytes().saturating_sub(rss_before));
        let rss_before = rss_bytes();
        let started = Instant::now();
        let mut spec = IndexSpec::new("bench", dim).with_quantization(q);
        match engine.as_str() {
            "scan" => spec = spec.with_scan(scan_dims(), SCAN_CANDIDATES[3]),
            "graph" => spec = spec.with_kind(IndexKind::Hnsw),
            _ => {}
        }
        let index = rt.block_on(lh.vectors().create(spec)).unwrap();
        for b in 0..n.div_ceil(BATCH) {
            let records = source
                .batch(b, n)
                .into_iter()
                .map(|(id, v)| VectorRecord::new(id.to_string(), v))
                .collect();
            rt.block_on(index.add(records)).unwrap();
        }
        let add = started.elapsed().as_secs_f64();
        let grown = rss_bytes().saturating_sub(rss_before);
        print_build(&label, n, dim, add, grown);
        let info = index.info();
        let scan = info.search == SearchPath::Scan;
        println!(
            "{label}: kind {}, searches by {:?}; scan of {:?} directions holding {:.1}% of the variance (auto scans from {:.0}%); index memory {:.0} MB",
            info.spec.kind,
            info.search,
            info.scan_dimensions,
            info.scan_variance.unwrap_or(0.0) * 100.0,
            lakehouse_core::vector::SCAN_MIN_VARIANCE * 100.0,
            info.memory_bytes as f64 / 1e6
        );
        let sweep = if scan { SCAN_CANDIDATES } else { EXPANSIONS };
        for (name, queries, truth) in &sets {
            for ef in sweep {
                let (p50, p99, recall) = measure(queries, truth, |v| {
                    let mut r = SearchRequest::new(v.to_vec(), 10);
                    r.expansion = (ef != sweep[0] || scan).then_some(ef);
                    index
                        .search(&r)
                        .unwrap()
                        .into_iter()
                        .map(|h| h.id.parse().unwrap())
                        .collect()
                });
                let what = if scan { "candidates" } else { "expansion" };
                print_search(&label, name, what, ef, p50, p99, recall);
            }
        }
        rt.block_on(index.flush()).unwrap();
        if info.search != SearchPath::Graph {
            return;
        }
        // The wrapper's overhead alone: bare usearch loads the very snapshot just written
        // (the same graph), and the two answer each query in turn.
        let snapshot = find_snapshot(&dir).expect("a snapshot file");
        let bare = Index::new(&bare_options(dim, scalar)).unwrap();
        bare.load(snapshot.to_str().unwrap()).unwrap();
        for (name, queries, _) in &sets {
            let (mut ours_lat, mut bare_lat) = (Vec::new(), Vec::new());
            for round in 0..5 {
                for (i, q) in queries.iter().enumerate() {
                    // Moved by a hair each round (see `measure`): no cached answers.
                    let q = nudged(q, i, round);
                    let t = Instant::now();
                    index.search(&SearchRequest::new(q.clone(), 10)).unwrap();
                    ours_lat.push(t.elapsed().as_secs_f64());
                    let t = Instant::now();
                    bare.search(&q, 10).unwrap();
                    bare_lat.push(t.elapsed().as_secs_f64());
                }
            }
            ours_lat.sort_by(f64::total_cmp);
            bare_lat.sort_by(f64::total_cmp);
            let (o, b) = (percentile(&ours_lat, 0.5), percentile(&bare_lat, 0.5));
            println!(
                "{label}: {name}, same graph, interleaved, expansion {}: ours p50 {:.3} ms, bare usearch p50 {:.3} ms, overhead {:+.1}%",
                EXPANSIONS[0],
                o * 1e3,
                b * 1e3,
                (o / b - 1.0) * 100.0
            );
        }
    } else {
        let rss_before = rss_bytes();
        let started = Instant::now();
        let options = bare_options(dim, scalar);
        let index = Index::new(&options).unwrap();
        let threads = rayon::current_num_threads();
        index.reserve_capacity_and_threads(n, threads).unwrap();
        for b in 0..n.div_ceil(BATCH) {
            source
                .batch(b, n)
                .par_iter()
                .for_each(|(id, v)| index.add(*id, v).unwrap());
        }
        let add = started.elapsed().as_secs_f64();
        let grown = rss_bytes().saturating_sub(rss_before);
        print_build(&label, n, dim, add, grown);
        for (name, queries, truth) in &sets {
            for ef in EXPANSIONS {
                index.change_expansion_search(ef);
                let (p50, p99, recall) =
                    measure(queries, truth, |v| index.search(v, 10).unwrap().keys);
                print_search(&label, name, "expansion", ef, p50, p99, recall);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bare.usearch");
        let path = path.to_str().unwrap();
        index.save(path).unwrap();
        let query = &sets[0].1[0];
        let t = Instant::now();
        let loaded = Index::new(&options).unwrap();
        loaded.load(path).unwrap();
        loaded.search(query, 10).unwrap();
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        drop(loaded);
        let t = Instant::now();
        let viewed = Index::new(&options).unwrap();
        viewed.view(path).unwrap();
        viewed.search(query, 10).unwrap();
        println!(
            "{label}: open: load {load_ms:.0} ms, view {:.0} ms (to the first answer)",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// The bare engine's options: lakehouse's defaults.
/// Builds `ours` and `bare` from the same batches in turn and prints each one's add
/// throughput and their ratio.
fn interleaved_adds(
    rt: &tokio::runtime::Runtime,
    source: &Source,
    quant: &str,
    n: usize,
    set: &str,
) {
    let (q, scalar) = quantization(quant);
    let dim = source.dim();
    let dir = tempfile::tempdir().unwrap();
    let lh = rt
        .block_on(Lakehouse::open(dir.path().to_str().unwrap()))
        .unwrap();
    let ours = rt
        .block_on(
            lh.vectors()
                .create(IndexSpec::new("adds", dim).with_quantization(q)),
        )
        .unwrap();
    let bare = Index::new(&bare_options(dim, scalar)).unwrap();
    bare.reserve_capacity_and_threads(n, rayon::current_num_threads())
        .unwrap();
    let (mut ours_s, mut bare_s) = (0.0, 0.0);
    for b in 0..n.div_ceil(BATCH) {
        let batch = source.batch(b, n);
        let records = batch
            .iter()
            .map(|(id, v)| VectorRecord::new(id.to_string(), v.clone()))
            .collect();
        let t = Instant::now();
        rt.block_on(ours.add(records)).unwrap();
        ours_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        batch
            .par_iter()
            .for_each(|(id, v)| bare.add(*id, v).unwrap());
        bare_s += t.elapsed().as_secs_f64();
    }
    println!(
        "adds {quant} {n}x{dim} ({set}), batches of {BATCH} in turn: ours {:.0} vectors/s, bare usearch {:.0} vectors/s, overhead {:+.1}% time",
        n as f64 / ours_s,
        n as f64 / bare_s,
        (ours_s / bare_s - 1.0) * 100.0
    );
}

fn bare_options(dim: usize, scalar: ScalarKind) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization: scalar,
        connectivity: 16,
        expansion_add: 128,
        expansion_search: EXPANSIONS[0],
        multi: false,
    }
}

/// The newest snapshot file of the `bench` index under a lakehouse folder.
fn find_snapshot(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let bench = dir.join("_vectors/bench");
    let mut found: Vec<_> = std::fs::read_dir(&bench)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|e| {
            std::fs::read_dir(e.path().join("snapshot"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "usearch"))
        .collect();
    found.sort();
    found.pop()
}

/// Reopens the lakehouse an `ours` run left, in this fresh process: the time until the
/// first search answers, then the RSS after it and after searching for 2,000 stored vectors.
fn reopen(dir: &std::path::Path, n: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    let before = rss_bytes();
    let lh = rt
        .block_on(Lakehouse::open(dir.to_str().unwrap()))
        .expect("run `vector_bench ours` with the same N, set and quantization first");
    let fixed = rss_bytes().saturating_sub(before);
    let before = rss_bytes();
    let index = rt.block_on(lh.vectors().get("bench")).unwrap();
    let probe = index.vector("0").expect("vector 0");
    index.search(&SearchRequest::new(probe, 10)).unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let opened = rss_bytes().saturating_sub(before);
    let mut rng = StdRng::seed_from_u64(5);
    let t = Instant::now();
    let mut first = 0;
    for _ in 0..2000 {
        let id = rng.random_range(0..n).to_string();
        let v = index.vector(&id).unwrap();
        let hits = index.search(&SearchRequest::new(v, 10)).unwrap();
        first += usize::from(
            hits.first()
                .is_some_and(|h| h.id == id || h.distance < 1e-6),
        );
    }
    let searched = t.elapsed().as_secs_f64();
    let info = index.info();
    let dim = info.spec.dimensions;
    let raw = (n * dim * 4) as f64;
    let serving = rss_bytes().saturating_sub(before);
    println!(
        "reopen {:?} {n}x{dim} ({}): first answer after {open_ms:.0} ms (memory-mapped: {}); lakehouse {:.0} MB; index RSS {:.0} MB after opening, {:.0} MB ({:.2}x raw f32) after 2,000 searches for stored vectors ({:.3} ms each; {first} found themselves first)",
        info.spec.quantization,
        dir.display(),
        info.memory_mapped,
        fixed as f64 / 1e6,
        opened as f64 / 1e6,
        serving as f64 / 1e6,
        serving as f64 / raw,
        searched / 2000.0 * 1e3,
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
        for (i, (q, t)) in queries.iter().zip(truth).enumerate() {
            let q = nudged(q, i, round);
            let s = Instant::now();
            let found = search(&q);
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

/// Query `i` of a timing round moved by a hair (`round` × 1e-6 on one coordinate), so that
/// the index's cache of recent answers (a repeat while nothing changed) never answers a
/// repeat: the rounds time searches.
fn nudged(q: &[f32], i: usize, round: usize) -> Vec<f32> {
    let mut q = q.to_vec();
    let len = q.len();
    q[i % len] += round as f32 * 1e-6;
    q
}

fn print_fixed(label: &str, bytes: u64) {
    println!(
        "{label}: Lakehouse::open (catalog, SQL engine, runtime state) RSS {:.0} MB, paid once per process",
        bytes as f64 / 1e6
    );
}

fn print_build(label: &str, n: usize, dim: usize, secs: f64, rss_growth: u64) {
    let raw = (n * dim * 4) as f64;
    println!(
        "{label}: add {:.0} vectors/s; RSS growth {:.0} MB ({:.2}x raw f32)",
        n as f64 / secs,
        rss_growth as f64 / 1e6,
        rss_growth as f64 / raw,
    );
}

fn print_search(label: &str, set: &str, what: &str, ef: usize, p50: f64, p99: f64, recall: f64) {
    println!(
        "{label}: {set}, {what} {ef}: search p50 {:.3} ms, p99 {:.3} ms, recall@10 {recall:.4}",
        p50 * 1e3,
        p99 * 1e3,
    );
}
