//! Model-based tests (issue 22 item 3): random sequences of operations run against the
//! library and against a plain in-memory model, compared after every step. proptest shrinks
//! a failing sequence to a short one and keeps it under `proptest-regressions/`, so it is
//! replayed first on every later run.
//!
//! Cases per test: `LAKEHOUSE_MODEL_CASES` (default 24 for the index, 12 for the catalog);
//! the long run in docs/RELIABILITY.md sets it to 1000.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use lakehouse_core::vector::{IndexKind, MetadataFilter, Metric, Quantization, SCAN_FIT_MIN};
use lakehouse_core::{
    ErrorKind, IndexSpec, IngestMode, IngestOptions, Lakehouse, SearchRequest, VectorIndex,
    VectorRecord,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

fn cases(default: u32) -> u32 {
    std::env::var("LAKEHOUSE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `default` cases (or `LAKEHOUSE_MODEL_CASES`); shrunk failures are kept in
/// `tests/proptest-regressions/model_based_<name>.txt` and replayed first.
fn config(default: u32, name: &str) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(Box::leak(
                format!("tests/proptest-regressions/model_based_{name}.txt").into_boxed_str(),
            )),
        )),
        ..ProptestConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn open(dir: &Path) -> Lakehouse {
    Lakehouse::open(dir.to_str().unwrap()).await.unwrap()
}

// ---------------------------------------------------------------------------------------
// Vector indexes
// ---------------------------------------------------------------------------------------

const DIM: usize = 8;
/// Ids are drawn from this many names, so adds replace and removes hit often.
const IDS: u8 = 24;

/// What an add does to a record's metadata.
#[derive(Debug, Clone)]
enum Meta {
    /// No metadata given: a new record has none, a replaced one keeps what it had.
    Keep,
    /// `{}`: clears it.
    Clear,
    /// `{"g": x % 3, "n": x}`.
    Set(u8),
}

/// A bad record that makes a whole batch be refused.
#[derive(Debug, Clone)]
enum Bad {
    Dimensions,
    NotFinite,
    EmptyId,
    DuplicateId,
}

#[derive(Debug, Clone)]
enum IndexOp {
    /// (id, vector seed, metadata) records; ids are made unique within the batch.
    Add(Vec<(u8, u16, Meta)>),
    /// A batch of good records plus one bad one: refused whole.
    AddRefused(Vec<(u8, u16)>, Bad),
    Remove(Vec<u8>),
    Search {
        seed: u16,
        k: usize,
        exact: bool,
        group: Option<u8>,
        exclude: Vec<u8>,
    },
    Flush,
    Reopen,
    /// Delete the index and create it again with the same spec: it starts empty.
    Recreate,
}

fn meta_strategy() -> impl Strategy<Value = Meta> {
    prop_oneof![
        2 => Just(Meta::Keep),
        1 => Just(Meta::Clear),
        3 => any::<u8>().prop_map(Meta::Set),
    ]
}

fn index_op() -> impl Strategy<Value = IndexOp> {
    let id = 0..IDS;
    prop_oneof![
        8 => prop::collection::vec((id.clone(), any::<u16>(), meta_strategy()), 1..8)
            .prop_map(IndexOp::Add),
        1 => (
            prop::collection::vec((id.clone(), any::<u16>()), 0..4),
            prop_oneof![
                Just(Bad::Dimensions),
                Just(Bad::NotFinite),
                Just(Bad::EmptyId),
                Just(Bad::DuplicateId)
            ]
        )
            .prop_map(|(good, bad)| IndexOp::AddRefused(good, bad)),
        3 => prop::collection::vec(id.clone(), 1..5).prop_map(IndexOp::Remove),
        6 => (
            any::<u16>(),
            1usize..12,
            any::<bool>(),
            prop::option::weighted(0.3, 0u8..3),
            prop::collection::vec(id, 0..3)
        )
            .prop_map(|(seed, k, exact, group, exclude)| IndexOp::Search {
                seed,
                k,
                exact,
                group,
                exclude
            }),
        1 => Just(IndexOp::Flush),
        2 => Just(IndexOp::Reopen),
        1 => Just(IndexOp::Recreate),
    ]
}

/// The spec under test: every metric, f32 and f16, graph or scan.
fn spec_strategy() -> impl Strategy<Value = IndexSpec> {
    (
        prop_oneof![
            Just(Metric::Cosine),
            Just(Metric::L2),
            Just(Metric::InnerProduct)
        ],
        prop_oneof![Just(Quantization::F32), Just(Quantization::F16)],
        0..3u8,
    )
        .prop_map(|(metric, quantization, kind)| {
            let spec = IndexSpec::new("model", DIM)
                .with_metric(metric)
                .with_quantization(quantization);
            // The default (`auto`), the graph, and a scan with pinned settings.
            match kind {
                0 => spec,
                1 => spec.with_kind(IndexKind::Hnsw),
                _ => spec.with_scan(4, 16),
            }
        })
}

fn vector_of(seed: u16) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(u64::from(seed) + 1);
    (0..DIM).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn id_name(id: u8) -> String {
    format!("r{id}")
}

/// The distance the index reports, computed in f64.
fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    match metric {
        Metric::Cosine => {
            let n = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            1.0 - dot / (n(a) * n(b))
        }
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum(),
        Metric::InnerProduct => 1.0 - dot,
    }
}

/// The index as it should be: id → (vector, metadata).
#[derive(Default)]
struct IndexModel {
    records: BTreeMap<String, (Vec<f32>, Option<Value>)>,
}

struct IndexRun {
    dir: tempfile::TempDir,
    lh: Lakehouse,
    index: Arc<VectorIndex>,
    spec: IndexSpec,
    model: IndexModel,
}

impl IndexRun {
    fn tolerance(&self, d: f64) -> f64 {
        let base = match self.spec.quantization {
            Quantization::F32 => 1e-4,
            _ => 2e-2,
        };
        base * (1.0 + d.abs())
    }

    async fn step(&mut self, op: &IndexOp) -> Result<(), TestCaseError> {
        match op {
            IndexOp::Add(records) => {
                let mut seen = HashSet::new();
                let batch: Vec<_> = records
                    .iter()
                    .filter(|(id, _, _)| seen.insert(*id))
                    .collect();
                let sent: Vec<VectorRecord> = batch
                    .iter()
                    .map(|(id, seed, meta)| {
                        let r = VectorRecord::new(id_name(*id), vector_of(*seed));
                        match meta {
                            Meta::Keep => r,
                            Meta::Clear => r.with_metadata(json!({})),
                            Meta::Set(x) => r.with_metadata(json!({"g": x % 3, "n": x})),
                        }
                    })
                    .collect();
                let added = self.index.add(sent).await;
                prop_assert_eq!(added?, batch.len());
                for (id, seed, meta) in batch {
                    let old = self.model.records.remove(&id_name(*id));
                    let metadata = match meta {
                        Meta::Keep => old.and_then(|(_, m)| m),
                        Meta::Clear => None,
                        Meta::Set(x) => Some(json!({"g": x % 3, "n": x})),
                    };
                    self.model
                        .records
                        .insert(id_name(*id), (vector_of(*seed), metadata));
                }
            }
            IndexOp::AddRefused(good, bad) => {
                let mut seen = HashSet::new();
                let mut batch: Vec<VectorRecord> = good
                    .iter()
                    .filter(|(id, _)| seen.insert(*id))
                    .map(|(id, seed)| VectorRecord::new(id_name(*id), vector_of(*seed)))
                    .collect();
                let bad_records = match bad {
                    Bad::Dimensions => vec![VectorRecord::new("fresh", vec![0.5; DIM + 1])],
                    Bad::NotFinite => {
                        let mut v = vector_of(9);
                        v[DIM / 2] = f32::NAN;
                        vec![VectorRecord::new("fresh", v)]
                    }
                    Bad::EmptyId => vec![VectorRecord::new("", vector_of(3))],
                    Bad::DuplicateId => vec![VectorRecord::new("fresh", vector_of(7)); 2],
                };
                batch.extend(bad_records);
                let err = self.index.add(batch).await;
                prop_assert_eq!(
                    err.map_err(|e| e.kind()).unwrap_err(),
                    ErrorKind::InvalidInput
                );
            }
            IndexOp::Remove(ids) => {
                let names: Vec<String> = ids.iter().map(|id| id_name(*id)).collect();
                let unique: HashSet<&String> = names.iter().collect();
                let expected = unique
                    .iter()
                    .filter(|n| self.model.records.contains_key(**n))
                    .count();
                let removed = self.index.remove(names.clone()).await;
                prop_assert_eq!(removed?, expected);
                for n in &names {
                    self.model.records.remove(n);
                }
            }
            IndexOp::Search {
                seed,
                k,
                exact,
                group,
                exclude,
            } => self.search(*seed, *k, *exact, *group, exclude)?,
            IndexOp::Flush => self.index.flush().await?,
            IndexOp::Reopen => {
                self.lh = open(self.dir.path()).await;
                self.index = self.lh.vectors().get("model").await?;
                prop_assert_eq!(self.index.spec(), &self.spec);
            }
            IndexOp::Recreate => {
                let v = self.lh.vectors();
                v.delete("model").await?;
                prop_assert_eq!(
                    v.get("model").await.err().map(|e| e.kind()),
                    Some(ErrorKind::NotFound)
                );
                self.index = v.create(self.spec.clone()).await?;
                self.model.records.clear();
            }
        }
        self.check_records()
    }

    /// Count, ids, each stored vector and its metadata agree with the model.
    fn check_records(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.index.len(), self.model.records.len());
        let mut ids = self.index.ids();
        ids.sort();
        let expected: Vec<&String> = self.model.records.keys().collect();
        prop_assert_eq!(ids.iter().collect::<Vec<_>>(), expected);
        for (id, (vector, metadata)) in &self.model.records {
            let stored = self.index.vector(id);
            prop_assert!(stored.is_some(), "{} has no vector", id);
            for (s, v) in stored.unwrap().iter().zip(vector) {
                prop_assert!(
                    f64::from((s - v).abs()) <= self.tolerance(f64::from(*v)),
                    "{}: stored {} for {}",
                    id,
                    s,
                    v
                );
            }
            prop_assert_eq!(&self.index.metadata_of(id), &Some(metadata.clone()));
        }
        Ok(())
    }

    /// A search returns the model's nearest records: the same distances in order (ties may
    /// come in either order), each hit's distance and metadata its record's, no excluded or
    /// filtered-out record, and `min(k, passing)` hits. Graph searches on this small index
    /// must find at least the nearest record.
    fn search(
        &self,
        seed: u16,
        k: usize,
        exact: bool,
        group: Option<u8>,
        exclude: &[u8],
    ) -> Result<(), TestCaseError> {
        let query = vector_of(seed);
        let mut request = SearchRequest::new(query.clone(), k);
        request.exact = exact;
        request.exclude_ids = exclude.iter().map(|id| id_name(*id)).collect();
        request.filter = group.map(|g| MetadataFilter::from_json(json!({ "g": g })).unwrap());
        let hits = self.index.search(&request)?;
        let metric = self.spec.metric;
        let mut passing: Vec<(f64, &String)> = self
            .model
            .records
            .iter()
            .filter(|(id, _)| !request.exclude_ids.contains(*id))
            .filter(|(_, (_, m))| {
                request
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(m.as_ref()))
            })
            .map(|(id, (v, _))| (distance(metric, v, &query), id))
            .collect();
        passing.sort_by(|a, b| a.0.total_cmp(&b.0));
        prop_assert_eq!(hits.len(), k.min(passing.len()), "hits {:?}", hits);
        let mut seen = HashSet::new();
        for hit in &hits {
            prop_assert!(seen.insert(&hit.id), "{} returned twice", hit.id);
            let Some((v, m)) = self.model.records.get(&hit.id) else {
                return Err(TestCaseError::fail(format!("{} is not stored", hit.id)));
            };
            prop_assert!(!request.exclude_ids.contains(&hit.id));
            prop_assert_eq!(&hit.metadata, m);
            let d = distance(metric, v, &query);
            prop_assert!(
                (f64::from(hit.distance) - d).abs() <= self.tolerance(d),
                "{}: distance {} for {}",
                hit.id,
                hit.distance,
                d
            );
        }
        prop_assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
        // Exact searches, and scans (exact below SCAN_FIT_MIN vectors), return the true
        // nearest; a graph walk must at least find the nearest.
        let checked = if exact || self.spec.kind != IndexKind::Hnsw {
            hits.len()
        } else {
            hits.len().min(1)
        };
        prop_assert!(self.model.records.len() < SCAN_FIT_MIN);
        for (hit, (d, _)) in hits.iter().zip(&passing).take(checked) {
            prop_assert!(
                (f64::from(hit.distance) - d).abs() <= 2.0 * self.tolerance(*d),
                "hit {} at {} where the model's nearest is at {} (hits {:?})",
                hit.id,
                hit.distance,
                d,
                hits
            );
        }
        Ok(())
    }
}

fn run_index_case(spec: IndexSpec, ops: Vec<IndexOp>) -> Result<(), TestCaseError> {
    runtime().block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let lh = open(dir.path()).await;
        let index = lh.vectors().create(spec.clone()).await.unwrap();
        let mut run = IndexRun {
            dir,
            lh,
            index,
            spec,
            model: IndexModel::default(),
        };
        for (i, op) in ops.iter().enumerate() {
            run.step(op)
                .await
                .map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(config(24, "index"))]

    /// Random index sessions agree with an exact in-memory model after every step.
    #[test]
    fn an_index_behaves_like_its_model(
        spec in spec_strategy(),
        ops in prop::collection::vec(index_op(), 1..40),
    ) {
        run_index_case(spec, ops)?;
    }
}

// ---------------------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------------------

/// A row: (id, v, batch), where batch is the step that wrote it, so that two writes never
/// carry the same content by accident.
type Row = (i64, i64, i64);

#[derive(Debug, Clone)]
enum CatalogOp {
    Append(Vec<(u8, i8)>),
    Replace(Vec<(u8, i8)>),
    /// Upsert by `id` (ids made unique within the input).
    Upsert(Vec<(u8, i8)>),
    /// Send the last write again: a no-op when it was an append or a replace and nothing
    /// was written since.
    Retry,
    DeleteBelow(i8),
    DeleteId(u8),
    /// A predicate on a column that does not exist: refused, nothing written.
    DeleteBadColumn,
    /// An append with other columns: schema drift, refused, nothing written.
    AppendDrift,
    /// Expire versions before the `n`th retained one (mod their count).
    Expire(u8),
    Reopen,
    /// Read the `n`th retained version (mod their count) by `"name@N"`.
    TimeTravel(u8),
}

fn rows_strategy() -> impl Strategy<Value = Vec<(u8, i8)>> {
    prop::collection::vec((0u8..12, any::<i8>()), 1..6)
}

fn catalog_op() -> impl Strategy<Value = CatalogOp> {
    prop_oneof![
        5 => rows_strategy().prop_map(CatalogOp::Append),
        2 => rows_strategy().prop_map(CatalogOp::Replace),
        3 => rows_strategy().prop_map(CatalogOp::Upsert),
        2 => Just(CatalogOp::Retry),
        1 => any::<i8>().prop_map(CatalogOp::DeleteBelow),
        1 => (0u8..12).prop_map(CatalogOp::DeleteId),
        1 => Just(CatalogOp::DeleteBadColumn),
        1 => Just(CatalogOp::AppendDrift),
        1 => any::<u8>().prop_map(CatalogOp::Expire),
        2 => Just(CatalogOp::Reopen),
        2 => any::<u8>().prop_map(CatalogOp::TimeTravel),
    ]
}

/// The dataset as it should be: its retained versions, oldest first.
#[derive(Default)]
struct CatalogModel {
    versions: Vec<(u64, Vec<Row>)>,
}

impl CatalogModel {
    fn latest(&self) -> Option<&(u64, Vec<Row>)> {
        self.versions.last()
    }

    fn commit(&mut self, rows: Vec<Row>) {
        let next = self.latest().map_or(0, |(v, _)| v + 1);
        self.versions.push((next, rows));
    }
}

struct CatalogRun {
    dir: tempfile::TempDir,
    lh: Lakehouse,
    model: CatalogModel,
    /// The last write that a retry must find already applied: (mode, rows).
    last_write: Option<(IngestMode, Vec<Row>)>,
}

const NAME: &str = "ledger";

impl CatalogRun {
    async fn write(&mut self, mode: IngestMode, rows: Vec<Row>) -> Result<bool, TestCaseError> {
        let options = if mode == IngestMode::Upsert {
            IngestOptions::mode(mode).with_keys(["id"])
        } else {
            IngestOptions::mode(mode)
        };
        let report = self
            .lh
            .dataset(NAME)
            .write(common::int_rows(["id", "v", "batch"], &rows), &options)
            .await
            .map_err(|e| TestCaseError::fail(format!("{mode:?}: {e}")))?;
        prop_assert_eq!(report.rows, rows.len() as u64);
        Ok(report.no_op)
    }

    async fn step(&mut self, step: i64, op: &CatalogOp) -> Result<(), TestCaseError> {
        let rows_of = |input: &[(u8, i8)]| -> Vec<Row> {
            input
                .iter()
                .map(|(id, v)| (i64::from(*id), i64::from(*v), step))
                .collect()
        };
        let last_write = self.last_write.take();
        let before = self.model.latest().map(|(v, _)| *v);
        match op {
            CatalogOp::Append(input) => {
                let rows = rows_of(input);
                prop_assert!(!self.write(IngestMode::Append, rows.clone()).await?);
                let mut all = self
                    .model
                    .latest()
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default();
                all.extend(rows.iter().copied());
                self.model.commit(all);
                self.last_write = Some((IngestMode::Append, rows));
            }
            CatalogOp::Replace(input) => {
                let rows = rows_of(input);
                prop_assert!(!self.write(IngestMode::Replace, rows.clone()).await?);
                self.model.commit(rows.clone());
                self.last_write = Some((IngestMode::Replace, rows));
            }
            CatalogOp::Upsert(input) => {
                let mut seen = HashSet::new();
                let input: Vec<(u8, i8)> = input
                    .iter()
                    .filter(|(id, _)| seen.insert(*id))
                    .copied()
                    .collect();
                let rows = rows_of(&input);
                prop_assert!(!self.write(IngestMode::Upsert, rows.clone()).await?);
                let mut all = self
                    .model
                    .latest()
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default();
                for row in &mut all {
                    if let Some(new) = rows.iter().find(|r| r.0 == row.0) {
                        *row = *new;
                    }
                }
                let held: HashSet<i64> = all.iter().map(|r| r.0).collect();
                all.extend(rows.iter().filter(|r| !held.contains(&r.0)));
                self.model.commit(all);
            }
            CatalogOp::Retry => {
                if let Some((mode, rows)) = last_write.clone() {
                    prop_assert!(
                        self.write(mode, rows.clone()).await?,
                        "a retried {:?} wrote a new version",
                        mode
                    );
                    self.last_write = Some((mode, rows));
                }
            }
            CatalogOp::DeleteBelow(x) => {
                self.delete(&format!("v < {x}"), |r| r.1 < i64::from(*x))
                    .await?
            }
            CatalogOp::DeleteId(id) => {
                self.delete(&format!("id = {id}"), |r| r.0 == i64::from(*id))
                    .await?
            }
            CatalogOp::DeleteBadColumn => {
                let err = self.lh.dataset(NAME).delete("nope = 1").await.unwrap_err();
                let expected = if self.model.latest().is_some() {
                    ErrorKind::InvalidInput
                } else {
                    ErrorKind::NotFound
                };
                prop_assert_eq!(err.kind(), expected, "{}", err);
            }
            CatalogOp::AppendDrift => {
                let err = self
                    .lh
                    .dataset(NAME)
                    .write("id,other\n1,x\n", &IngestOptions::mode(IngestMode::Append))
                    .await;
                if self.model.latest().is_some() {
                    prop_assert_eq!(err.unwrap_err().kind(), ErrorKind::Conflict);
                } else {
                    // Creates the dataset with that schema: undo by starting over.
                    err.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    self.dir = tempfile::tempdir().unwrap();
                    self.lh = open(self.dir.path()).await;
                }
            }
            CatalogOp::Expire(n) => {
                let Some(&(last, _)) = self.model.latest() else {
                    let err = self.lh.dataset(NAME).expire_versions(0).await.unwrap_err();
                    prop_assert_eq!(err.kind(), ErrorKind::NotFound);
                    return Ok(());
                };
                let retained = &self.model.versions;
                let keep_from = retained[usize::from(*n) % retained.len()].0;
                self.lh
                    .dataset(NAME)
                    .expire_versions(keep_from)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.model
                    .versions
                    .retain(|(v, _)| *v >= keep_from.min(last));
            }
            CatalogOp::Reopen => self.lh = open(self.dir.path()).await,
            CatalogOp::TimeTravel(n) => {
                if self.model.versions.is_empty() {
                    return Ok(());
                }
                let (version, rows) =
                    &self.model.versions[usize::from(*n) % self.model.versions.len()];
                let got = self.rows(&format!("{NAME}@{version}")).await?;
                prop_assert_eq!(&got, &sorted(rows.clone()), "at version {}", version);
                if let Some(&(first, _)) = self.model.versions.first()
                    && first > 0
                {
                    // An expired version is gone: the catalog says NotFound; in SQL it is an
                    // unknown table, like any other (InvalidInput).
                    let gone = self.lh.catalog().manifest_at(NAME, first - 1).await;
                    prop_assert_eq!(gone.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
                    let gone = self
                        .lh
                        .sql(&format!("SELECT * FROM \"{NAME}@{}\"", first - 1))
                        .await
                        .unwrap_err();
                    prop_assert_eq!(gone.kind(), ErrorKind::InvalidInput, "{}", gone);
                    prop_assert!(gone.to_string().contains("not found"), "{}", gone);
                }
            }
        }
        // A retry stays a no-op until another version is written.
        if self.last_write.is_none() && self.model.latest().map(|(v, _)| *v) == before {
            self.last_write = last_write;
        }
        self.check().await
    }

    async fn delete(
        &mut self,
        predicate: &str,
        hit: impl Fn(&Row) -> bool,
    ) -> Result<(), TestCaseError> {
        let Some((_, rows)) = self.model.latest() else {
            let err = self.lh.dataset(NAME).delete(predicate).await.unwrap_err();
            prop_assert_eq!(err.kind(), ErrorKind::NotFound);
            return Ok(());
        };
        let kept: Vec<Row> = rows.iter().filter(|r| !hit(r)).copied().collect();
        let gone = (rows.len() - kept.len()) as u64;
        let report = self
            .lh
            .dataset(NAME)
            .delete(predicate)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(report.rows_deleted, gone, "delete where {}", predicate);
        if gone > 0 {
            self.model.commit(kept);
        }
        Ok(())
    }

    async fn rows(&self, table: &str) -> Result<Vec<Row>, TestCaseError> {
        let result = self
            .lh
            .sql(&format!(
                "SELECT id, v, batch FROM \"{table}\" ORDER BY id, v, batch"
            ))
            .await
            .map_err(|e| TestCaseError::fail(format!("{table}: {e}")))?;
        let json = result
            .to_json()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok(json
            .rows
            .iter()
            .map(|r| {
                let n = |v: &Value| v.as_i64().expect("an integer");
                (n(&r[0]), n(&r[1]), n(&r[2]))
            })
            .collect())
    }

    /// The latest version, its rows by SQL, and the version list agree with the model.
    async fn check(&self) -> Result<(), TestCaseError> {
        let Some((version, rows)) = self.model.latest() else {
            prop_assert_eq!(
                self.lh.dataset(NAME).manifest().await.unwrap_err().kind(),
                ErrorKind::NotFound
            );
            return Ok(());
        };
        let manifest = self
            .lh
            .dataset(NAME)
            .manifest()
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(manifest.version, *version);
        prop_assert_eq!(manifest.row_count, rows.len() as u64);
        prop_assert_eq!(self.rows(NAME).await?, sorted(rows.clone()));
        let listed: Vec<(u64, u64)> = self
            .lh
            .dataset(NAME)
            .versions()
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .iter()
            .map(|v| (v.version, v.row_count))
            .collect();
        let expected: Vec<(u64, u64)> = self
            .model
            .versions
            .iter()
            .map(|(v, r)| (*v, r.len() as u64))
            .collect();
        prop_assert_eq!(listed, expected);
        Ok(())
    }
}

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

fn run_catalog_case(ops: Vec<CatalogOp>) -> Result<(), TestCaseError> {
    runtime().block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let lh = open(dir.path()).await;
        let mut run = CatalogRun {
            dir,
            lh,
            model: CatalogModel::default(),
            last_write: None,
        };
        for (i, op) in ops.iter().enumerate() {
            run.step(i as i64, op)
                .await
                .map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(config(12, "catalog"))]

    /// Random catalog sessions (create, append, replace, upsert, delete, retries, refused
    /// writes, expire, reopen, time travel) agree with a model of versions after every step.
    #[test]
    fn the_catalog_behaves_like_its_model(ops in prop::collection::vec(catalog_op(), 1..24)) {
        run_catalog_case(ops)?;
    }
}
