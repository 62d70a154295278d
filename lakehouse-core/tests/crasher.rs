//! The crasher (issue 22 item 1): a child process runs a mixed workload — dataset appends,
//! replaces, upserts and deletes; vector adds and removes on a small and a large index;
//! playbook records — announcing each write before it starts (an intent) and acknowledging
//! it once it returned. The parent kills the child with SIGKILL at random instants, reopens
//! the lakehouse and checks it against what was acknowledged:
//! - it opens;
//! - every acknowledged dataset version is there with exactly the rows written, and every
//!   other version is one the child announced, whole (nothing half-applied); SQL counts equal
//!   the versions' row counts;
//! - each index holds exactly the acknowledged adds minus removes, every batch whole or
//!   absent; a stored vector finds itself at distance ~0;
//! - every acknowledged playbook entry is recorded.
//!
//! On S3 (`LAKEHOUSE_TEST_S3`, the SeaweedFS server of `scripts/s3-server.sh`) the parent also
//! kills the S3 server itself mid-write a few times and restarts it: the child must see only
//! typed storage errors (or ride the outage out on the store's retries), and everything
//! acknowledged must be there once the server is back.
//!
//! Cycles: `LAKEHOUSE_CRASHER_CYCLES` (default 100 local, 50 on S3); seed:
//! `LAKEHOUSE_CRASH_SEED`. The long run is in docs/RELIABILITY.md.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lakehouse_core::playbook::{PLAYBOOK_INDEX, playbook_id};
use lakehouse_core::{
    ErrorKind, IndexSpec, IngestMode, IngestOptions, Lakehouse, PlaybookEntry, SearchRequest,
    VectorIndex, VectorRecord,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

const DATASET: &str = "ledger";
/// (name, dimensions, vectors per batch): the large index's batches are written while the
/// graph is updated (the overlapped path), the small one's one after the other.
const INDEXES: [(&str, usize, usize); 2] = [("small", 16, 4), ("large", 48, 160)];
const PLAYBOOK_DIM: usize = 16;

/// What a version holds, as the child computes it from its rows and the parent reads it by
/// SQL: row count and the sums of the three columns.
type Digest = (i64, i64, i64, i64);

fn digest(rows: &[(i64, i64, i64)]) -> Digest {
    rows.iter().fold((0, 0, 0, 0), |d, r| {
        (d.0 + 1, d.1 + r.0, d.2 + r.1, d.3 + r.2)
    })
}

fn vector_of(opid: u64, i: usize, dim: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(opid * 1_000 + i as u64);
    (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn batch_ids(opid: u64, size: usize) -> Vec<String> {
    (0..size).map(|i| format!("{opid}-{i}")).collect()
}

fn playbook_entry(opid: u64) -> PlaybookEntry {
    PlaybookEntry::new(format!("query {opid}"), format!("{opid}-0"), "small", 0.5)
        .with_vector(vector_of(opid, 7, PLAYBOOK_DIM))
}

// ---------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------

/// The acknowledgement file: `I …` lines announce a write, `N …` lines (N counting up across
/// lives) acknowledge one, `E kind message` lines report an error the child recovered from.
/// Each line is one write(2) in append mode, so a kill cannot leave half a line.
struct Acks {
    file: std::fs::File,
    next: u64,
}

impl Acks {
    fn open(path: &Path) -> Self {
        let next = common::max_acked(path).map_or(0, |n| n + 1);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        Self { file, next }
    }

    fn intent(&mut self, what: &str) {
        self.file
            .write_all(format!("I {what}\n").as_bytes())
            .unwrap();
    }

    fn ack(&mut self, what: &str) {
        common::mark_phase("ack");
        self.file
            .write_all(format!("{} {what}\n", self.next).as_bytes())
            .unwrap();
        self.next += 1;
    }

    fn error(&mut self, e: &lakehouse_core::Error) {
        let line = format!(
            "E {} {}\n",
            e.kind().as_str(),
            e.to_string().replace('\n', " ")
        );
        self.file.write_all(line.as_bytes()).unwrap();
    }
}

async fn index_of(
    lh: &Lakehouse,
    name: &str,
    dim: usize,
) -> lakehouse_core::Result<std::sync::Arc<VectorIndex>> {
    match lh.vectors().get(name).await {
        Ok(index) => Ok(index),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            lh.vectors().create(IndexSpec::new(name, dim)).await
        }
        Err(e) => Err(e),
    }
}

/// The batches (by op id) an index holds.
fn batches_in(index: &VectorIndex) -> Vec<u64> {
    let set: BTreeSet<u64> = index
        .ids()
        .iter()
        .filter_map(|id| id.split('-').next()?.parse().ok())
        .collect();
    set.into_iter().collect()
}

/// One life of the child after an open: reads the state back (as an application would after
/// a restart) and writes until killed or until an operation fails.
async fn life(
    root: &str,
    acks: &mut Acks,
    rng: &mut StdRng,
    opids: &mut u64,
) -> lakehouse_core::Result<()> {
    common::mark_phase("open");
    let lh = Lakehouse::open(root).await?;
    let mut rows: Vec<(i64, i64, i64)> = match lh.dataset(DATASET).manifest().await {
        Ok(_) => lh
            .sql(&format!("SELECT k, val, seq FROM {DATASET}"))
            .await?
            .to_json()?
            .rows
            .iter()
            .map(|r| {
                (
                    r[0].as_i64().unwrap(),
                    r[1].as_i64().unwrap(),
                    r[2].as_i64().unwrap(),
                )
            })
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut version = lh.dataset(DATASET).manifest().await.ok().map(|m| m.version);
    let mut indexes = Vec::new();
    for (name, dim, size) in INDEXES {
        let index = index_of(&lh, name, dim).await?;
        let present = batches_in(&index);
        indexes.push((index, dim, size, present));
    }
    common::mark_phase("write");
    loop {
        *opids += 1;
        let opid = *opids;
        let seq = opid as i64;
        match rng.random_range(0..16) {
            // Dataset writes.
            op @ 0..=6 => {
                // What to write (rows to ingest in a mode, or a key to delete) and the rows
                // the dataset then holds.
                let (write, next) = match op {
                    0..=2 => {
                        let n = if rng.random_bool(0.2) {
                            3_000
                        } else {
                            rng.random_range(1..40)
                        };
                        let input: Vec<_> = (0..n)
                            .map(|_| (rng.random_range(0..100), rng.random_range(-50..50), seq))
                            .collect();
                        let mut all = rows.clone();
                        all.extend(&input);
                        (Ok((IngestMode::Append, input)), all)
                    }
                    3 => {
                        let input: Vec<_> = (0..rng.random_range(1..60))
                            .map(|_| (rng.random_range(0..100), rng.random_range(-50..50), seq))
                            .collect();
                        (Ok((IngestMode::Replace, input.clone())), input)
                    }
                    4 | 5 => {
                        let mut keys = BTreeSet::new();
                        for _ in 0..rng.random_range(1..12) {
                            keys.insert(rng.random_range(0..120i64));
                        }
                        let input: Vec<_> = keys
                            .into_iter()
                            .map(|k| (k, rng.random_range(-50..50), seq))
                            .collect();
                        let mut all = rows.clone();
                        for r in &mut all {
                            if let Some(n) = input.iter().find(|n| n.0 == r.0) {
                                *r = *n;
                            }
                        }
                        let held: BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
                        all.extend(input.iter().filter(|n| !held.contains(&n.0)));
                        (Ok((IngestMode::Upsert, input)), all)
                    }
                    _ => {
                        // A delete that removes at least one row (else it writes nothing).
                        let Some(&(k, _, _)) = rows.get(rng.random_range(0..rows.len().max(1)))
                        else {
                            continue;
                        };
                        (Err(k), rows.iter().filter(|r| r.0 != k).copied().collect())
                    }
                };
                let d = fmt_digest(digest(&next));
                acks.intent(&format!("ds {} {d}", version.map_or(0, |v| v + 1)));
                let manifest = match write {
                    Ok((mode, input)) => {
                        let options = if mode == IngestMode::Upsert {
                            IngestOptions::mode(mode).with_keys(["k"])
                        } else {
                            IngestOptions::mode(mode)
                        };
                        let source = common::int_rows(["k", "val", "seq"], &input);
                        lh.dataset(DATASET).write(source, &options).await?.manifest
                    }
                    Err(k) => {
                        lh.dataset(DATASET)
                            .delete(&format!("k = {k}"))
                            .await?
                            .manifest
                    }
                };
                acks.ack(&format!("ds {} {d}", manifest.version));
                version = Some(manifest.version);
                rows = next;
            }
            // Vector adds and removes.
            op @ 7..=13 => {
                let (index, dim, size, present) = &mut indexes[usize::from(op >= 11)];
                let name = index.spec().name.clone();
                if op % 4 == 0 && !present.is_empty() {
                    let victim = present.remove(rng.random_range(0..present.len()));
                    acks.intent(&format!("remove {name} {victim}"));
                    index.remove(batch_ids(victim, *size)).await?;
                    acks.ack(&format!("remove {name} {victim}"));
                } else {
                    let records = (0..*size)
                        .map(|i| VectorRecord::new(format!("{opid}-{i}"), vector_of(opid, i, *dim)))
                        .collect();
                    acks.intent(&format!("add {name} {opid}"));
                    index.add(records).await?;
                    acks.ack(&format!("add {name} {opid}"));
                    present.push(opid);
                }
            }
            // Playbook records.
            _ => {
                acks.intent(&format!("pb {opid}"));
                lh.record_playbook(playbook_entry(opid)).await?;
                acks.ack(&format!("pb {opid}"));
            }
        }
    }
}

fn fmt_digest(d: Digest) -> String {
    format!("{} {} {} {}", d.0, d.1, d.2, d.3)
}

#[test]
#[ignore = "run by the crasher tests as a child process"]
fn crasher_child() {
    let Ok(root) = std::env::var("LAKEHOUSE_CRASHER_ROOT") else {
        return;
    };
    let acks_path = PathBuf::from(std::env::var("LAKEHOUSE_CRASHER_ACKS").unwrap());
    let seed: u64 = std::env::var("LAKEHOUSE_CRASHER_SEED")
        .unwrap()
        .parse()
        .unwrap();
    let life_no: u64 = std::env::var("LAKEHOUSE_CRASHER_LIFE")
        .unwrap()
        .parse()
        .unwrap();
    common::record_phases();
    let mut acks = Acks::open(&acks_path);
    let mut rng = StdRng::seed_from_u64(seed ^ life_no.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // Op ids are unique across lives: the life number in the high bits.
    let mut opids = life_no << 24;
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        loop {
            let e = life(&root, &mut acks, &mut rng, &mut opids)
                .await
                .unwrap_err();
            // Only the store failing is expected (the parent stops the S3 server); anything
            // else ends the child, which the parent reports.
            acks.error(&e);
            assert!(
                matches!(e.kind(), ErrorKind::Storage | ErrorKind::Timeout),
                "the child failed: {e}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

// ---------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------

/// A vector batch's state: the state its last acknowledged op left, and an op announced
/// after that whose outcome is not known yet.
#[derive(Debug, Clone, Copy, Default)]
struct Batch {
    present: bool,
    pending: Option<bool>,
}

impl Batch {
    /// Checks that `is` (present or not) is what the acknowledged ops left or what the
    /// pending one would, then takes it as the known state.
    fn resolve(&mut self, is: bool, what: &str) {
        assert!(
            is == self.present || self.pending == Some(is),
            "{what}: present {is}, acknowledged {}",
            self.present
        );
        *self = Batch {
            present: is,
            pending: None,
        };
    }
}

/// What the child announced and acknowledged, read from the acknowledgement file.
#[derive(Default)]
struct Expected {
    /// Bytes of the file read so far.
    offset: usize,
    acked_versions: BTreeMap<u64, Digest>,
    announced_versions: BTreeMap<u64, Vec<Digest>>,
    batches: HashMap<(String, u64), Batch>,
    playbook: HashMap<u64, Batch>,
    /// Versions checked already (they never change).
    checked: Option<u64>,
    errors: Vec<String>,
    acks: usize,
}

impl Expected {
    fn read(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        // Only whole lines.
        let end = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text[self.offset..end].lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let (acked, rest) = match parts[0] {
                "I" => (false, &parts[1..]),
                "E" => {
                    self.errors.push(line.to_string());
                    continue;
                }
                n if n.parse::<u64>().is_ok() => (true, &parts[1..]),
                _ => panic!("bad line {line:?}"),
            };
            self.acks += usize::from(acked);
            let num = |i: usize| -> i64 { rest[i].parse().unwrap() };
            match rest[0] {
                "ds" => {
                    let v = num(1) as u64;
                    let d = (num(2), num(3), num(4), num(5));
                    if acked {
                        self.acked_versions.insert(v, d);
                    } else {
                        self.announced_versions.entry(v).or_default().push(d);
                    }
                }
                "add" | "remove" => {
                    let key = (rest[1].to_string(), num(2) as u64);
                    let state = rest[0] == "add";
                    let b = self.batches.entry(key).or_default();
                    if acked {
                        *b = Batch {
                            present: state,
                            pending: None,
                        };
                    } else {
                        b.pending = Some(state);
                    }
                }
                "pb" => {
                    let b = self.playbook.entry(num(1) as u64).or_default();
                    if acked {
                        *b = Batch {
                            present: true,
                            pending: None,
                        };
                    } else {
                        b.pending = Some(true);
                    }
                }
                other => panic!("bad line {other:?}"),
            }
        }
        self.offset = end;
    }
}

/// Checks the lakehouse at `root` against `expected`; resolves the announced writes whose
/// outcome is now visible.
async fn check(root: &str, expected: &mut Expected, label: &str) {
    let lh = Lakehouse::open(root)
        .await
        .unwrap_or_else(|e| panic!("{label}: the lakehouse does not open: {e}"));

    // The dataset: every acknowledged version there; every version acknowledged or
    // announced, whole.
    let latest = lh.dataset(DATASET).manifest().await.ok().map(|m| m.version);
    if let Some((&v, _)) = expected.acked_versions.last_key_value() {
        assert!(
            latest.is_some_and(|l| l >= v),
            "{label}: acknowledged version {v} lost (latest {latest:?})"
        );
    }
    if let Some(latest) = latest {
        let from = expected.checked.map_or(0, |c| c + 1);
        for v in from..=latest {
            let d = version_digest(&lh, v).await;
            match expected.acked_versions.get(&v) {
                Some(acked) => assert_eq!(
                    &d, acked,
                    "{label}: version {v} is not what was acknowledged"
                ),
                None => assert!(
                    expected
                        .announced_versions
                        .get(&v)
                        .is_some_and(|a| a.contains(&d)),
                    "{label}: version {v} holds {d:?}, which no write announced ({:?})",
                    expected.announced_versions.get(&v)
                ),
            }
            let m = lh.catalog().manifest_at(DATASET, v).await.unwrap();
            assert_eq!(m.row_count as i64, d.0, "{label}: version {v}'s row count");
            expected.acked_versions.insert(v, d);
        }
        expected.checked = Some(latest);
        expected.announced_versions.retain(|v, _| *v > latest);
    }

    // The indexes: exactly the acknowledged batches, whole, plus announced ones that applied.
    for (name, _, size) in INDEXES {
        let Ok(index) = lh.vectors().get(name).await else {
            assert!(
                !expected
                    .batches
                    .iter()
                    .any(|((n, _), b)| n == name && b.present),
                "{label}: index {name} lost"
            );
            continue;
        };
        let mut held: HashMap<u64, usize> = HashMap::new();
        for id in index.ids() {
            let opid = id.split('-').next().unwrap().parse().unwrap();
            *held.entry(opid).or_default() += 1;
        }
        for (&opid, &n) in &held {
            assert_eq!(
                n, size,
                "{label}: {name} holds {n} of batch {opid}'s {size} vectors"
            );
            let b = expected.batches.get(&(name.to_string(), opid));
            assert!(
                b.is_some_and(|b| b.present || b.pending == Some(true)),
                "{label}: {name} holds batch {opid}, which is not expected there ({b:?})"
            );
        }
        for ((n, opid), b) in expected.batches.iter_mut().filter(|((n, _), _)| n == name) {
            b.resolve(
                held.contains_key(opid),
                &format!("{label}: {n} batch {opid}"),
            );
        }
        // Stored vectors find themselves.
        let mut sample: Vec<u64> = held.keys().copied().collect();
        sample.sort_unstable();
        for &opid in sample.iter().rev().take(2).chain(sample.first()) {
            let v = vector_of(opid, 1, index.spec().dimensions);
            let mut req = SearchRequest::new(v, 1);
            req.exact = true;
            let hit = &index.search(&req).unwrap()[0];
            assert_eq!(hit.id, format!("{opid}-1"), "{label}: {name}");
            assert!(
                hit.distance.abs() < 1e-4,
                "{label}: {name} {}",
                hit.distance
            );
        }
    }

    // The playbook.
    let recorded: BTreeSet<String> = match lh.vectors().get(PLAYBOOK_INDEX).await {
        Ok(index) => index.ids().into_iter().collect(),
        Err(_) => BTreeSet::new(),
    };
    for (opid, b) in &mut expected.playbook {
        let e = playbook_entry(*opid);
        let is = recorded.contains(&playbook_id(&e.query_text, &e.answer_id, &e.answer_corpus));
        b.resolve(is, &format!("{label}: playbook entry {opid}"));
    }
    let expected_entries = expected.playbook.values().filter(|b| b.present).count();
    assert_eq!(
        recorded.len(),
        expected_entries,
        "{label}: playbook entries"
    );
}

async fn version_digest(lh: &Lakehouse, v: u64) -> Digest {
    let r = lh
        .sql(&format!(
            "SELECT count(*), coalesce(sum(k), 0), coalesce(sum(val), 0), coalesce(sum(seq), 0) \
             FROM \"{DATASET}@{v}\""
        ))
        .await
        .unwrap()
        .to_json()
        .unwrap();
    let n = |i: usize| r.rows[0][i].as_i64().unwrap();
    (n(0), n(1), n(2), n(3))
}

/// The S3 server of `scripts/s3-server.sh`, which the S3 run stops and restarts.
struct S3Server {
    dir: PathBuf,
}

impl S3Server {
    fn from_env() -> Option<Self> {
        std::env::var("LAKEHOUSE_S3_DIR")
            .ok()
            .map(|d| Self { dir: d.into() })
    }

    fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("weed.pid")).unwrap();
        let status = std::process::Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn start(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh");
        let out = std::process::Command::new(script)
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Waits until the S3 root answers a listing: a SeaweedFS server that has just started
/// answers requests a moment before its bucket exists.
fn wait_for_s3(root: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = std::time::Instant::now();
    loop {
        let ready = rt.block_on(async {
            let lh = Lakehouse::open(root).await?;
            lh.storage().list(None).await
        });
        match ready {
            Ok(_) => return,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("waiting for the S3 server: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("the S3 server is not ready after 60 s: {e}"),
        }
    }
}

/// Runs `cycles` kill cycles of the child against `root`; with `server`, stops the S3
/// server during a few of them.
fn crasher(root: &str, work: &Path, cycles: usize, server: Option<&S3Server>) {
    let seed: u64 = std::env::var("LAKEHOUSE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!(
        "crasher on {root}: {cycles} cycles, seed {seed} (set LAKEHOUSE_CRASH_SEED to repeat)"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let acks = work.join("acks.log");
    let phases = work.join("phases.log");
    let mut expected = Expected::default();
    let mut tally = common::PhaseTally::default();
    let mut acked = None;
    let mut outages = 0;
    let started = std::time::Instant::now();
    for cycle in 0..cycles {
        let label = format!("cycle {cycle} (seed {seed})");
        let child = common::spawn_entry(
            "crasher_child",
            &[
                ("LAKEHOUSE_CRASHER_ROOT", root),
                ("LAKEHOUSE_CRASHER_ACKS", acks.to_str().unwrap()),
                ("LAKEHOUSE_CRASHER_SEED", &seed.to_string()),
                ("LAKEHOUSE_CRASHER_LIFE", &(cycle + 1).to_string()),
                (common::PHASE_LOG, phases.to_str().unwrap()),
            ],
        );
        let outage = server.filter(|_| cycle % 10 == 5);
        let then = Duration::from_millis(rng.random_range(0..300));
        acked = match outage {
            None => common::kill_after_progress(child, &acks, acked, then, &label),
            Some(server) => {
                // Progress, then the server goes down mid-write for a while and comes back;
                // the child must make progress again before it is killed.
                let mut child = child;
                while common::max_acked(&acks) <= acked {
                    assert!(
                        child.try_wait().unwrap().is_none(),
                        "{label}: the child ended"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(then);
                server.kill();
                std::thread::sleep(Duration::from_millis(rng.random_range(500..3_000)));
                server.start();
                wait_for_s3(root);
                outages += 1;
                let during = common::max_acked(&acks);
                common::kill_after_progress(child, &acks, during, then, &label)
            }
        };
        tally.count_kill(&phases);
        expected.read(&acks);
        rt.block_on(check(root, &mut expected, &label));
    }
    // Versions never change once written: all of them again, at the end.
    rt.block_on(async {
        let lh = Lakehouse::open(root).await.unwrap();
        for (&v, d) in &expected.acked_versions {
            assert_eq!(&version_digest(&lh, v).await, d, "version {v} changed");
        }
    });
    if server.is_none() {
        assert!(
            expected.errors.is_empty(),
            "errors on a local root: {:?}",
            expected.errors
        );
    }
    for e in &expected.errors {
        assert!(
            e.starts_with("E storage") || e.starts_with("E timeout"),
            "an untyped or unexpected error: {e}"
        );
    }
    eprintln!(
        "crasher on {root}: {cycles} cycles in {:.0?}, {} writes acknowledged, {} dataset \
         versions, {} vector batches, {} playbook entries; {outages} S3 outages, {} storage \
         errors reported; kills by phase: {}",
        started.elapsed(),
        expected.acks,
        expected.acked_versions.len(),
        expected.batches.len(),
        expected.playbook.len(),
        expected.errors.len(),
        tally.report()
    );
    assert!(
        tally.within(&["upload", "commit", "log", "snapshot"]) > 0,
        "no kill landed inside a write: {}",
        tally.report()
    );
}

/// The crasher's work folder (acknowledgements with the errors the child reported, kill
/// phases): kept, and named, when a check fails.
struct WorkDir(tempfile::TempDir);

impl WorkDir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!(
                "the crasher's work folder is kept: {}",
                self.0.path().display()
            );
        }
    }
}

fn cycles(default: usize) -> usize {
    std::env::var("LAKEHOUSE_CRASHER_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn crasher_on_a_local_root() {
    let dir = WorkDir::new();
    let root = dir.0.path().join("lh");
    crasher(root.to_str().unwrap(), dir.0.path(), cycles(100), None);
}

#[test]
fn crasher_on_s3_with_server_outages() {
    let Ok(base) = std::env::var("LAKEHOUSE_TEST_S3") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must start the S3 server (scripts/s3-server.sh) and set LAKEHOUSE_TEST_S3"
        );
        eprintln!("LAKEHOUSE_TEST_S3 not set: skipping the S3 crasher");
        return;
    };
    let server = S3Server::from_env();
    if server.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set LAKEHOUSE_S3_DIR (scripts/s3-server.sh prints it)"
        );
        eprintln!("LAKEHOUSE_S3_DIR not set: the S3 server is not stopped");
    }
    let root = format!(
        "{}/crasher-{}",
        base.trim_end_matches('/'),
        uuid::Uuid::new_v4()
    );
    wait_for_s3(&root);
    let dir = WorkDir::new();
    crasher(&root, dir.0.path(), cycles(50), server.as_ref());
}
