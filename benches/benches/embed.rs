//! Embedding benchmarks: sentences/s for one short query, a batch of 32 short queries, one
//! long (~60-token) profile and a batch of 32 profiles, all uncached, plus the cached path.
//! Each uncached case runs with the default f16 weights, again with f32 weights (`…_f32`),
//! and on the `candle` backend (candle-transformers on the CPU, f32: `…_candle`).
//!
//! `scripts/bench_embed_onnx.py` then times onnxruntime (int8 ONNX export of the same model)
//! on the same texts and prints the ratios; `scripts/bench_embed.sh` runs both.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lakehouse_benches::{data_dir, embed_texts};
use lakehouse_core::embed::{Embedder, EmbedderOptions, Precision, default_model_dir};

fn embedder(cache_entries: usize, precision: Precision, candle: bool) -> Embedder {
    let options = EmbedderOptions {
        cache_entries,
        precision,
        ..Default::default()
    };
    if candle {
        Embedder::load_candle(default_model_dir(), options)
    } else {
        Embedder::load(default_model_dir(), options)
    }
    .expect("the default model is installed (`lakehouse model install`)")
}

fn embed(c: &mut Criterion) {
    let (queries, profiles) = embed_texts();
    // The onnxruntime script reads the very same texts.
    std::fs::write(
        data_dir().join("embed_texts.json"),
        serde_json::to_vec(&serde_json::json!({"queries": queries, "profiles": profiles})).unwrap(),
    )
    .unwrap();
    let mut g = c.benchmark_group("embed");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    let mut i = 0usize;
    for (precision, candle, suffix) in [
        (Precision::F16, false, ""),
        (Precision::F32, false, "_f32"),
        (Precision::F32, true, "_candle"),
    ] {
        let cold = embedder(0, precision, candle);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("query_batch1{suffix}"), |b| {
            b.iter(|| {
                i += 1;
                cold.embed_query(&queries[i % queries.len()]).unwrap()
            })
        });
        g.bench_function(format!("profile_batch1{suffix}"), |b| {
            b.iter(|| {
                i += 1;
                cold.embed(&[&profiles[i % profiles.len()]]).unwrap()
            })
        });
        g.throughput(Throughput::Elements(32));
        g.bench_function(format!("query_batch32{suffix}"), |b| {
            b.iter(|| {
                i += 1;
                let at = (i * 32) % (queries.len() - 32);
                cold.embed(&queries[at..at + 32]).unwrap()
            })
        });
        g.bench_function(format!("profile_batch32{suffix}"), |b| {
            b.iter(|| {
                i += 1;
                let at = (i * 32) % (profiles.len() - 32);
                cold.embed(&profiles[at..at + 32]).unwrap()
            })
        });
    }
    let warm = embedder(10_000, Precision::default(), false);
    warm.embed(&queries[..32]).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("query_cached", |b| {
        b.iter(|| {
            i += 1;
            warm.embed_query(&queries[i % 32]).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, embed);
criterion_main!(benches);
