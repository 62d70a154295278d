//! Vector search benchmarks on real text embeddings: the default model's vectors of the
//! generated staffing profiles (384-d; the `bulk_index` corpus when it has been built, else
//! `LAKEHOUSE_VECTOR_ROWS` profiles embedded here first, 5,000 by default), searched with
//! recruiter query texts at k = 10. Lakehouse's `VectorIndex` and the bare usearch crate on
//! the same vectors with the same options, f32, f16 and i8, and reopening a stored index
//! (memory-mapped) until its first answer. `VectorIndex` three ways: `lakehouse` (the default
//! spec, kind `auto`), `lakehouse_graph` (kind `hnsw`) and `lakehouse_scan64`
//! (`scan_dimensions` 64 pinned, 64 candidates re-ranked), searching and reopening.
//!
//! `scripts/bench_vectors.sh` also runs the `vector_bench` binary, which prints recall,
//! RSS and add throughput next to these latencies.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lakehouse_benches::{data_dir, real_vectors};
use lakehouse_core::Lakehouse;
use lakehouse_core::vector::{IndexKind, IndexSpec, Quantization, SearchRequest, VectorRecord};
use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

fn rows() -> u64 {
    std::env::var("LAKEHOUSE_VECTOR_ROWS")
        .ok()
        .map(|s| s.parse().expect("LAKEHOUSE_VECTOR_ROWS is a number"))
        .unwrap_or_else(|| {
            if data_dir()
                .join("bulk-index-100000/_vectors/workers")
                .exists()
            {
                100_000
            } else {
                5_000
            }
        })
}

fn vectors(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rows();
    let real = rt
        .block_on(real_vectors(rows, 300))
        .expect("the real-text corpus (the default model must be installed)");
    let n = real.len();
    let mut g = c.benchmark_group(format!("vector_search_{n}x{}", real.dim));
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    for (q, scalar, name) in [
        (Quantization::F32, ScalarKind::F32, "f32"),
        (Quantization::F16, ScalarKind::F16, "f16"),
        (Quantization::I8, ScalarKind::I8, "i8"),
    ] {
        let bare = Index::new(&IndexOptions {
            dimensions: real.dim,
            metric: MetricKind::Cos,
            quantization: scalar,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            multi: false,
        })
        .unwrap();
        bare.reserve_capacity_and_threads(n, rayon::current_num_threads())
            .unwrap();
        (0..n)
            .into_par_iter()
            .for_each(|i| bare.add(i as u64, real.row(i)).unwrap());
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("bare_usearch", name), |b| {
            b.iter(|| {
                i += 1;
                bare.search(&real.queries[i % real.queries.len()], 10)
                    .unwrap()
            })
        });
        drop(bare);

        let default = IndexSpec::new("bench", real.dim).with_quantization(q);
        for (engine, spec) in [
            ("lakehouse", default.clone()),
            (
                "lakehouse_graph",
                default.clone().with_kind(IndexKind::Hnsw),
            ),
            ("lakehouse_scan64", default.with_scan(64, 64)),
        ] {
            if spec.scan_dimensions > 0 && q == Quantization::I8 {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_str().unwrap().to_string();
            let lh = rt.block_on(Lakehouse::open(&root)).unwrap();
            let index = rt.block_on(lh.vectors().create(spec)).unwrap();
            for lo in (0..n).step_by(1000) {
                let batch = (lo..(lo + 1000).min(n))
                    .map(|i| VectorRecord::new(i.to_string(), real.row(i).to_vec()))
                    .collect();
                rt.block_on(index.add(batch)).unwrap();
            }
            g.bench_function(BenchmarkId::new(engine, name), |b| {
                b.iter(|| {
                    i += 1;
                    let n = real.queries.len();
                    let mut q = real.queries[i % n].clone();
                    // A new vector each pass through the queries (by a hair): the index's
                    // recent answers must not answer the repeats.
                    let len = q.len();
                    q[i % len] += (i / n) as f32 * 1e-6;
                    index.search(&SearchRequest::new(q, 10)).unwrap()
                })
            });
            rt.block_on(index.flush()).unwrap();
            drop((index, lh));
            let probe = real.queries[0].clone();
            let reopen = format!("{engine}_reopen_to_first_answer");
            g.bench_function(BenchmarkId::new(reopen, name), |b| {
                b.iter(|| {
                    let lh = rt.block_on(Lakehouse::open(&root)).unwrap();
                    let index = rt.block_on(lh.vectors().get("bench")).unwrap();
                    index
                        .search(&SearchRequest::new(probe.clone(), 10))
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, vectors);
criterion_main!(benches);
