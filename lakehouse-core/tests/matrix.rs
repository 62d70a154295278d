//! Matrix retrieval and playbook memory end to end: the reference's worked example, merge
//! across corpora, exclusions, metadata filters, injection, bulk record, typed errors, and
//! a record → replay cycle under 50 concurrent tasks.
//!
//! The tests that embed text need the default model (`lakehouse model install`;
//! scripts/test.sh does it).

mod common;

use common::model_options;
use std::path::Path;

use lakehouse_core::embed::Purpose;
use lakehouse_core::indexer::EmbedDataset;
use lakehouse_core::matrix::{INJECT_WITHIN, MatrixRequest};
use lakehouse_core::playbook::{PLAYBOOK_INDEX, PlaybookEntry};
use lakehouse_core::{
    ErrorKind, IndexSpec, IngestOptions, Lakehouse, MetadataFilter, VectorRecord,
};
use serde_json::json;

const DIM: usize = 16;

async fn open(dir: &Path) -> Lakehouse {
    Lakehouse::open(dir.to_str().unwrap()).await.unwrap()
}

/// The query direction.
fn query() -> Vec<f32> {
    unit(0)
}

fn unit(axis: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[axis] = 1.0;
    v
}

/// A vector at cosine distance `d` from [`query`], leaning towards `axis` (≥ 1).
fn at_distance(d: f32, axis: usize) -> Vec<f32> {
    let c = 1.0 - d;
    let mut v = vec![0.0; DIM];
    v[0] = c;
    v[axis] = (1.0 - c * c).sqrt();
    v
}

/// Corpus `workers`: a 0.30, b 0.50, c 0.6566, d 0.70 from the query, each with metadata.
async fn worked_example(lh: &Lakehouse) {
    let index = lh
        .vectors()
        .create(IndexSpec::new("workers", DIM))
        .await
        .unwrap();
    let rows = [
        ("a", 0.30, "IL"),
        ("b", 0.50, "WI"),
        ("c", 0.6566, "IL"),
        ("d", 0.70, "IL"),
    ];
    index
        .add(
            rows.iter()
                .enumerate()
                .map(|(i, (id, d, state))| {
                    VectorRecord::new(*id, at_distance(*d, i + 1))
                        .with_metadata(json!({"state": state}))
                })
                .collect(),
        )
        .await
        .unwrap();
}

fn ids(result: &lakehouse_core::MatrixResult) -> Vec<&str> {
    result.hits.iter().map(|h| h.id.as_str()).collect()
}

#[tokio::test]
async fn reference_worked_example_boost_moves_a_hit_up_one_rank() {
    let dir = tempfile::tempdir().unwrap();
    let lh = open(dir.path()).await;
    worked_example(&lh).await;

    let mut request = MatrixRequest::vector(query(), ["workers"], 4);
    request.use_playbook = true;
    // No playbook index yet: no boost, no error.
    let before = lh.matrix_search(&request).await.unwrap();
    assert_eq!(ids(&before), ["a", "b", "c", "d"]);
    assert_eq!((before.boosted, before.injected), (0, 0));
    assert!((before.hits[2].distance - 0.6566).abs() < 1e-4);
    assert!(lh.vectors().list().await.unwrap() == ["workers"]);

    let id = lh
        .record_playbook(
            PlaybookEntry::new("forklift night shift", "c", "workers", 1.0).with_vector(query()),
        )
        .await
        .unwrap();
    assert_eq!(
        id,
        PlaybookEntry::new("forklift night shift", "c", "workers", 1.0).playbook_id()
    );

    let after = lh.matrix_search(&request).await.unwrap();
    assert_eq!(ids(&after), ["a", "c", "b", "d"], "rank 3 → rank 2");
    let c = &after.hits[1];
    assert!((c.distance - 0.3283).abs() < 1e-4, "{}", c.distance);
    let effect = c.playbook.as_ref().unwrap();
    assert_eq!(effect.playbook_id, id);
    assert!(!effect.injected);
    assert!((effect.original_distance.unwrap() - 0.6566).abs() < 1e-4);
    assert_eq!((after.boosted, after.injected), (1, 0));

    // Without use_playbook nothing moves.
    request.use_playbook = false;
    assert_eq!(
        ids(&lh.matrix_search(&request).await.unwrap()),
        ["a", "b", "c", "d"]
    );

    // Re-recording the same triple keeps the last score (one entry, not two).
    lh.record_playbook(
        PlaybookEntry::new("forklift night shift", "c", "workers", 0.0).with_vector(query()),
    )
    .await
    .unwrap();
    assert_eq!(lh.vectors().get(PLAYBOOK_INDEX).await.unwrap().len(), 1);
    request.use_playbook = true;
    let rescored = lh.matrix_search(&request).await.unwrap();
    assert_eq!(ids(&rescored), ["a", "b", "c", "d"]);
    assert!((rescored.hits[2].distance - 0.6566).abs() < 1e-4);
}

#[tokio::test]
async fn injection_exclusions_and_playbook_distance_limits() {
    let dir = tempfile::tempdir().unwrap();
    let lh = open(dir.path()).await;
    worked_example(&lh).await;
    // d recorded for a query very close to ours; b for one at playbook distance 0.3.
    lh.record_playbook(
        PlaybookEntry::new("q1", "d", "workers", 0.8).with_vector(at_distance(0.1, 5)),
    )
    .await
    .unwrap();
    lh.record_playbook(
        PlaybookEntry::new("q2", "b", "workers", 1.0).with_vector(at_distance(0.3, 6)),
    )
    .await
    .unwrap();
    // Only the two nearest are retrieved: d is missing and close enough to be injected.
    let mut request = MatrixRequest::vector(query(), ["workers"], 3);
    request.per_corpus_k = Some(2);
    request.use_playbook = true;
    let r = lh.matrix_search(&request).await.unwrap();
    assert_eq!((r.boosted, r.injected), (1, 1), "{r:?}");
    let d = r.hits.iter().find(|h| h.id == "d").expect("d injected");
    let effect = d.playbook.as_ref().unwrap();
    assert!(effect.injected && effect.original_distance.is_none());
    assert!(effect.playbook_distance <= INJECT_WITHIN);
    assert!(
        (d.distance - 0.1 * (1.0 - 0.4)).abs() < 1e-3,
        "{}",
        d.distance
    );
    assert_eq!(d.metadata.as_ref().unwrap()["state"], "IL");
    // b (playbook distance 0.3) is boosted, not injected: 0.5 → 0.25.
    let b = r.hits.iter().find(|h| h.id == "b").unwrap();
    assert!((b.distance - 0.25).abs() < 1e-3, "{}", b.distance);
    assert_eq!(ids(&r), ["d", "b", "a"]);

    // Excluded ids are neither retrieved nor boosted nor injected.
    request.exclude_ids = vec!["d".into(), "a".into()];
    let r = lh.matrix_search(&request).await.unwrap();
    assert_eq!(ids(&r), ["b", "c"]);
    assert_eq!(r.injected, 0);

    // An injected hit must pass the metadata filter too (b is in WI).
    request.exclude_ids.clear();
    request.metadata_filter = Some(MetadataFilter::from_json(json!({"state": "WI"})).unwrap());
    let r = lh.matrix_search(&request).await.unwrap();
    assert_eq!(ids(&r), ["b"]);

    // A recorded answer that has since been removed from its corpus is not injected.
    request.metadata_filter = None;
    lh.vectors()
        .get("workers")
        .await
        .unwrap()
        .remove(vec!["d".into()])
        .await
        .unwrap();
    let r = lh.matrix_search(&request).await.unwrap();
    assert!(r.hits.iter().all(|h| h.id != "d"));
    assert_eq!(r.injected, 0);
}

#[tokio::test]
async fn corpora_merge_by_distance_and_filters_refill_to_k() {
    let dir = tempfile::tempdir().unwrap();
    let lh = open(dir.path()).await;
    worked_example(&lh).await;
    let clients = lh
        .vectors()
        .create(IndexSpec::new("clients", DIM))
        .await
        .unwrap();
    clients
        .add(vec![
            VectorRecord::new("x", at_distance(0.40, 7)).with_metadata(json!({"state": "IL"})),
            VectorRecord::new("y", at_distance(0.05, 8)).with_metadata(json!({"state": "IN"})),
            // The same id as in workers: hits keep their corpus.
            VectorRecord::new("a", at_distance(0.60, 9)),
        ])
        .await
        .unwrap();
    let r = lh
        .matrix_search(&MatrixRequest::vector(query(), ["workers", "clients"], 5))
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = r
        .hits
        .iter()
        .map(|h| (h.id.as_str(), h.corpus.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("y", "clients"),
            ("a", "workers"),
            ("x", "clients"),
            ("b", "workers"),
            ("a", "clients")
        ]
    );
    assert!(r.hits.windows(2).all(|w| w[0].distance <= w[1].distance));

    // Filter: IL or IN. Of workers' 2 nearest, b (WI) fails; its place is filled from
    // further down (c), so the result still has k hits.
    let mut request = MatrixRequest::vector(query(), ["workers", "clients"], 4);
    request.per_corpus_k = Some(2);
    request.metadata_filter =
        Some(MetadataFilter::from_json(json!({"state": ["IL", "IN"]})).unwrap());
    let r = lh.matrix_search(&request).await.unwrap();
    assert_eq!(r.filtered_out, 1, "b was among workers' 2 nearest");
    assert_eq!(ids(&r), ["y", "a", "x", "c"]);
    assert!(
        r.hits
            .iter()
            .all(|h| h.metadata.as_ref().unwrap()["state"] != "WI")
    );

    // Exclusions are applied inside each corpus search: k is still filled.
    let mut request = MatrixRequest::vector(query(), ["workers"], 2);
    request.exclude_ids = vec!["a".into()];
    assert_eq!(ids(&lh.matrix_search(&request).await.unwrap()), ["b", "c"]);

    // A repeated corpus is searched once.
    let r = lh
        .matrix_search(&MatrixRequest::vector(query(), ["workers", "workers"], 10))
        .await
        .unwrap();
    assert_eq!(r.hits.len(), 4);
}

#[tokio::test]
async fn bad_requests_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lh = open(dir.path()).await;
    worked_example(&lh).await;
    let kind = |r: &MatrixRequest| {
        let lh = lh.clone();
        let r = r.clone();
        async move { lh.matrix_search(&r).await.unwrap_err().kind() }
    };
    let ok = MatrixRequest::vector(query(), ["workers"], 3);
    let mut r = ok.clone();
    r.corpora = vec!["nope".into()];
    assert_eq!(kind(&r).await, ErrorKind::NotFound);
    r.corpora = vec![];
    assert_eq!(kind(&r).await, ErrorKind::InvalidInput);
    let mut r = ok.clone();
    r.query_vector = None;
    assert_eq!(kind(&r).await, ErrorKind::InvalidInput);
    r.query_text = Some("  ".into());
    assert_eq!(kind(&r).await, ErrorKind::InvalidInput);
    for k in [0, lakehouse_core::vector::MAX_K + 1] {
        let mut r = ok.clone();
        r.k = k;
        assert_eq!(kind(&r).await, ErrorKind::InvalidInput);
    }
    let mut r = ok.clone();
    r.per_corpus_k = Some(0);
    assert_eq!(kind(&r).await, ErrorKind::InvalidInput);
    let mut r = ok.clone();
    r.query_vector = Some(vec![1.0; DIM + 1]);
    assert_eq!(kind(&r).await, ErrorKind::InvalidInput);
    r.query_vector = Some(vec![f32::NAN; DIM]);
    assert_eq!(kind(&r).await, ErrorKind::InvalidInput);

    // Playbook records: bad entries store nothing.
    for bad in [
        PlaybookEntry::new("q", "a", "workers", 2.0),
        PlaybookEntry::new("", "a", "workers", 0.5),
        PlaybookEntry::new("q", "", "workers", 0.5),
        PlaybookEntry::new("q", "a", "../x", 0.5),
    ] {
        let bad = bad.with_vector(vec![1.0; DIM]);
        assert_eq!(
            lh.record_playbook(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
    // Once the playbook holds DIM-sized vectors, another size is refused.
    let bad = PlaybookEntry::new("q", "a", "workers", 0.5).with_vector(vec![1.0; 3]);
    lh.record_playbook(PlaybookEntry::new("q", "a", "workers", 0.5).with_vector(query()))
        .await
        .unwrap();
    assert_eq!(
        lh.record_playbook(bad).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(lh.vectors().get(PLAYBOOK_INDEX).await.unwrap().len(), 1);
    // A text embedded by a model of another dimension than the stored playbook: the model
    // changed, which is a conflict with stored state.
    let lh = Lakehouse::builder(dir.path().to_str().unwrap())
        .options(model_options())
        .open()
        .await
        .unwrap();
    let by_text = PlaybookEntry::new("forklift operator", "a", "workers", 0.5);
    assert_eq!(
        lh.record_playbook(by_text).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        lh.record_playbook_bulk(vec![]).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[tokio::test]
async fn bulk_record_reports_each_entry() {
    let dir = tempfile::tempdir().unwrap();
    let lh = open(dir.path()).await;
    worked_example(&lh).await;
    let outcomes = lh
        .record_playbook_bulk(vec![
            PlaybookEntry::new("q1", "a", "workers", 0.9).with_vector(at_distance(0.01, 3)),
            PlaybookEntry::new("q2", "b", "workers", 7.0).with_vector(query()),
            PlaybookEntry::new("q3", "c", "workers", 0.5).with_vector(vec![0.0; 2]),
            PlaybookEntry::new("q1", "a", "workers", 0.1).with_vector(at_distance(0.01, 3)),
            PlaybookEntry::new("q4", "d", "workers", 0.6).with_vector(at_distance(0.02, 4)),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 5);
    let ok: Vec<bool> = outcomes.iter().map(|o| o.playbook_id.is_some()).collect();
    assert_eq!(ok, [true, false, false, true, true]);
    assert_eq!(outcomes[0].playbook_id, outcomes[3].playbook_id);
    assert_eq!(
        outcomes[1].error.as_ref().unwrap().kind,
        ErrorKind::InvalidInput
    );
    assert!(
        outcomes[2]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("dimensions")
    );
    let playbook = lh.vectors().get(PLAYBOOK_INDEX).await.unwrap();
    assert_eq!(playbook.len(), 2);
    // The repeated triple kept its last score.
    let id = outcomes[0].playbook_id.as_ref().unwrap();
    let meta = playbook.metadata_of(id).unwrap().unwrap();
    assert!((meta["score"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    assert_eq!(meta["answer_corpus"], "workers");
    // JSON shape the wrappers return.
    let json = serde_json::to_value(&outcomes[1]).unwrap();
    assert_eq!(json["error"]["kind"], "invalid_input");
}

/// Embeds 200 generated worker profiles into index `workers` (metadata: name, state).
async fn profiles_corpus(lh: &Lakehouse) {
    lh.dataset("workers")
        .write(
            lakehouse_core::sample::profiles_csv(1..201),
            &IngestOptions::default(),
        )
        .await
        .unwrap();
    let request =
        EmbedDataset::new("workers", "id", "profile", "workers").with_metadata(["name", "state"]);
    lh.embed_dataset(&request, &|_| {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_and_replay_under_50_concurrent_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::builder(dir.path().to_str().unwrap())
        .options(model_options())
        .open()
        .await
        .unwrap();
    profiles_corpus(&lh).await;
    let roles = [
        "forklift driver",
        "night nurse",
        "welder",
        "line cook",
        "cashier",
    ];
    let tasks: Vec<_> = (0..50usize)
        .map(|i| {
            let lh = lh.clone();
            let text = format!("{} for shift {i}", roles[i % roles.len()]);
            tokio::spawn(async move {
                let first = lh
                    .matrix_search(&MatrixRequest::text(text.as_str(), ["workers"], 5))
                    .await?;
                assert_eq!(first.hits.len(), 5);
                let answer = first.hits[0].id.clone();
                lh.record_playbook(PlaybookEntry::new(
                    text.as_str(),
                    answer.as_str(),
                    "workers",
                    1.0,
                ))
                .await?;
                // At most PLAYBOOK_K (10) recorded answers can move ahead of ours.
                let mut replay = MatrixRequest::text(text.as_str(), ["workers"], 15);
                replay.use_playbook = true;
                let r = lh.matrix_search(&replay).await?;
                let hit =
                    r.hits.iter().find(|h| h.id == answer).unwrap_or_else(|| {
                        panic!("task {i}: recorded answer {answer} missing: {r:?}")
                    });
                let effect = hit.playbook.as_ref().expect("moved by the playbook");
                assert!(effect.playbook_distance < 1e-3, "the same query");
                assert!(hit.distance <= first.hits[0].distance * 0.5 + 1e-6);
                Ok::<_, lakehouse_core::Error>((text, answer))
            })
        })
        .collect();
    let mut errors = 0;
    let mut recorded = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(pair) => recorded.push(pair),
            Err(_) => errors += 1,
        }
    }
    assert_eq!(errors, 0);
    assert_eq!(lh.vectors().get(PLAYBOOK_INDEX).await.unwrap().len(), 50);
    // Each query was embedded once; the record and the replay hit the cache.
    let stats = lh.embedder().await.unwrap().cache_stats().unwrap();
    assert!(stats.hits >= 100, "{stats:?}");

    // The playbook survives a reopen.
    drop(lh);
    let lh = Lakehouse::builder(dir.path().to_str().unwrap())
        .options(model_options())
        .open()
        .await
        .unwrap();
    let (text, answer) = &recorded[7];
    let mut replay = MatrixRequest::text(text.as_str(), ["workers"], 15);
    replay.use_playbook = true;
    let r = lh.matrix_search(&replay).await.unwrap();
    assert!(
        r.hits
            .iter()
            .any(|h| &h.id == answer && h.playbook.is_some()),
        "{r:?}"
    );
    // A text query and its vector give the same hits.
    let v = lh
        .embed(vec![text.clone()], Purpose::Query)
        .await
        .unwrap()
        .remove(0);
    let by_text = lh
        .matrix_search(&MatrixRequest::text(text.as_str(), ["workers"], 5))
        .await
        .unwrap();
    let by_vector = lh
        .matrix_search(&MatrixRequest::vector(v, ["workers"], 5))
        .await
        .unwrap();
    assert_eq!(ids(&by_text), ids(&by_vector));
}
