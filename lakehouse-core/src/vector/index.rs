//! One HNSW index: usearch plus the id map, metadata, locking and the write-ahead log.
//!
//! Locking: searches share a read lock; an add or remove holds the write lock only while it
//! applies (a large add applies while its log entry is written, and keeps the lock until the
//! write has ended), so no search ever runs on a graph that is being changed (the reference
//! system's crash) or sees a batch before it is durable, and capacity always grows under the
//! exclusive lock. Mutations are serialised by a writer mutex that also orders the log;
//! those that arrive while a log write is under way share the next one (group commit, see
//! [`super::commit`]).
//! usearch needs one thread slot per concurrent call (more callers than slots crash it), so
//! calls into it pass through a semaphore of [`THREAD_SLOTS`] permits.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, TryLockError};

use serde_json::Value;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::commit::{Answers, Group, Queue};
use super::persist::{self, LogEntry, LogOp, SnapshotMeta, StoredSpec};
use super::recent::Recent;
use super::records::{Candidates, Records};
use super::scan::Scan;
use super::{
    Hit, IndexInfo, IndexSpec, MAX_K, MetadataFilter, Metric, Quantization, SearchPath,
    SearchRequest, VectorRecord,
};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::Storage;

/// Concurrent calls into usearch allowed at once (its thread contexts).
pub const THREAD_SLOTS: usize = 64;
/// Adds of at least this many records apply while their log entry is written (on a
/// multi-threaded runtime); smaller ones are logged first, as the hand-off to the runtime
/// costs more than the overlap saves them.
const OVERLAP_MIN_RECORDS: usize = 64;
/// Fresh listings an open tries when the index moves under it (another process's snapshot).
const OPEN_ATTEMPTS: u64 = 8;
/// Vectors a graph holds before batches are inserted by several threads at once.
const PARALLEL_MIN_SIZE: usize = 4096;
/// Longest id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

fn usearch_err(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("usearch: {e}"))
}

/// A counting semaphore (std has none).
struct Slots {
    free: Mutex<usize>,
    released: Condvar,
}

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n),
            released: Condvar::new(),
        }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if *free == 0 {
            free = blocking(|| {
                while *free == 0 {
                    free = self.released.wait(free).unwrap_or_else(|p| p.into_inner());
                }
                free
            });
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.released.notify_one();
    }
}

struct State {
    index: Index,
    /// The graph is a read-only memory map of a snapshot file (see [`State::own`]).
    viewed: bool,
    records: Records,
    next_key: u64,
    /// Codes for the projected scan, on an index of kind `auto` or `scan`.
    scan: Option<Scan>,
    /// How distances are measured (to rank a filter's few candidates exactly).
    metric: Metric,
    /// Moves on with every change that can alter an answer (see [`super::recent`]).
    version: u64,
}

/// What [`State::add_undoable`] changed.
#[derive(Default)]
struct Undo {
    /// `next_key` before the add: every key it gave out is at least this.
    first_key: u64,
    /// How many of the batch's records it stored (new or replacing), from the first.
    added: usize,
    /// `(key, id, metadata, vector)` of each record it replaced.
    replaced: Vec<(u64, String, Option<Value>, Vec<f32>)>,
}

struct Writer {
    seq: u64,
    ops_since_snapshot: u64,
    /// Records added or removed by those operations.
    touched_since_snapshot: u64,
    /// A group whose log write has started and whose holder has not yet seen it end (its
    /// caller may have stopped waiting): whoever holds the writer next ends it first, so the
    /// state never falls behind the log.
    in_flight: Option<InFlight>,
    /// An operation whose log write failed in a way that leaves its outcome unknown (the
    /// store may have taken it): nothing else is written until [`VectorIndex::settle`] has
    /// read its position back, so the state never misses a stored operation.
    unsure: Option<Arc<LogEntry>>,
}

/// The log an opened index replayed on top of its snapshot: it counts toward the next
/// snapshot as if this process had written it, so that an index reopened often (a CLI call
/// per batch, a crashing writer) still snapshots, and its opens do not replay an ever longer
/// log.
#[derive(Default)]
struct Tail {
    ops: u64,
    touched: u64,
}

struct InFlight {
    entry: Arc<LogEntry>,
    write: tokio::task::JoinHandle<Result<()>>,
    answers: Answers,
}

/// A named vector index. Share it as `Arc<VectorIndex>`; every method takes `&self`.
pub struct VectorIndex {
    spec: IndexSpec,
    root: String,
    storage: Storage,
    state: RwLock<State>,
    /// Answers of recent searches, for repeats while nothing changes.
    recent: Recent,
    /// Operations waiting for the writer (group commit).
    queue: Queue,
    writer: tokio::sync::Mutex<Writer>,
    slots: Slots,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("spec", &self.spec)
            .finish()
    }
}

fn options(spec: &IndexSpec) -> IndexOptions {
    IndexOptions {
        dimensions: spec.dimensions,
        metric: match spec.metric {
            Metric::Cosine => MetricKind::Cos,
            Metric::L2 => MetricKind::L2sq,
            Metric::InnerProduct => MetricKind::IP,
        },
        quantization: match spec.quantization {
            Quantization::F32 => ScalarKind::F32,
            Quantization::F16 => ScalarKind::F16,
            Quantization::I8 => ScalarKind::I8,
        },
        connectivity: spec.connectivity,
        expansion_add: spec.expansion_add,
        expansion_search: spec.expansion_search,
        multi: false,
    }
}

impl State {
    fn new(spec: &IndexSpec) -> Result<Self> {
        let index = Index::new(&options(spec)).map_err(usearch_err)?;
        index
            .reserve_capacity_and_threads(64, THREAD_SLOTS)
            .map_err(usearch_err)?;
        Ok(Self {
            index,
            viewed: false,
            records: Records::default(),
            next_key: 0,
            scan: Scan::new(spec),
            metric: spec.metric,
            version: 0,
        })
    }

    /// Replaces a memory-mapped graph by an in-memory copy that can change. usearch cannot
    /// add to or remove from a view, and its predicate search corrupts memory on one
    /// (usearch #624), so writes and predicate walks call this first; plain searches run
    /// on the view.
    fn own(&mut self, spec: &IndexSpec) -> Result<()> {
        if !self.viewed {
            return Ok(());
        }
        let mut data = vec![0u8; self.index.serialized_length()];
        self.index.save_to_buffer(&mut data).map_err(usearch_err)?;
        let owned = State::new(spec)?.index;
        owned.load_from_buffer(&data).map_err(usearch_err)?;
        drop(data);
        let capacity = (owned.size() + owned.size() / 4).max(64);
        owned
            .reserve_capacity_and_threads(capacity, THREAD_SLOTS)
            .map_err(usearch_err)?;
        self.index = owned;
        self.viewed = false;
        Ok(())
    }

    fn ensure_capacity(&self, extra: usize) -> Result<()> {
        let needed = self.index.size() + extra;
        if needed > self.index.capacity() {
            let target = needed.max(self.index.capacity() * 2).max(64);
            self.index
                .reserve_capacity_and_threads(target, THREAD_SLOTS)
                .map_err(usearch_err)?;
        }
        Ok(())
    }

    fn apply(&mut self, op: &LogOp) -> Result<usize> {
        match op {
            LogOp::Add { records } => self.add(records),
            LogOp::Remove { ids } => self.remove(ids),
        }
    }

    fn add(&mut self, records: &[VectorRecord]) -> Result<usize> {
        self.add_undoable(records, None)
    }

    /// Adds a batch and, given an `undo`, records in it what the add changed, for
    /// [`State::undo`] (replay and logged-first adds pass none and copy nothing out). On an
    /// error part of the batch may have applied; `undo` covers that part too.
    fn add_undoable(
        &mut self,
        records: &[VectorRecord],
        mut undo: Option<&mut Undo>,
    ) -> Result<usize> {
        self.version += 1;
        self.ensure_capacity(records.len())?;
        if let Some(u) = undo.as_deref_mut() {
            u.first_key = self.next_key;
        }
        let mut placed: Vec<(u64, &[f32])> = Vec::with_capacity(records.len());
        for r in records {
            let previous = match self.records.remove(&r.id) {
                Some((old, entry)) => {
                    let metadata = entry.metadata.map(|m| *m);
                    if let Some(u) = undo.as_deref_mut() {
                        let mut vector = vec![0f32; self.index.dimensions()];
                        self.index.get(old, &mut vector).map_err(usearch_err)?;
                        u.replaced
                            .push((old, r.id.clone(), metadata.clone(), vector));
                    }
                    self.index.remove(old).map_err(usearch_err)?;
                    if let Some(scan) = &mut self.scan {
                        scan.remove(old);
                    }
                    metadata
                }
                None => None,
            };
            let metadata = match &r.metadata {
                None => previous,
                Some(Value::Object(m)) if m.is_empty() => None,
                Some(Value::Null) => None,
                Some(v) => Some(v.clone()),
            };
            let key = self.next_key;
            self.next_key += 1;
            self.records.insert(key, &r.id, metadata);
            if let Some(u) = undo.as_deref_mut() {
                u.added += 1;
            }
            if let Some(scan) = &mut self.scan {
                scan.insert(key, &r.vector);
            }
            placed.push((key, &r.vector));
        }
        let index = &self.index;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(THREAD_SLOTS);
        // Inserting in parallel into a small graph links its first nodes poorly (a stored
        // vector can then be missed by its own search), so a graph grows one vector at a
        // time up to PARALLEL_MIN_SIZE.
        let serial = placed
            .len()
            .min(PARALLEL_MIN_SIZE.saturating_sub(index.size()));
        let (first, placed) = placed.split_at(serial);
        for (key, v) in first {
            index.add(*key, v).map_err(usearch_err)?;
        }
        if placed.len() < 256 || threads == 1 {
            for (key, v) in placed {
                index.add(*key, v).map_err(usearch_err)?;
            }
        } else {
            // Threads take the next vector as they finish one, so none waits on a slower
            // share at the end of the batch.
            let next = AtomicUsize::new(0);
            let failed = AtomicBool::new(false);
            let add_some = || -> Result<()> {
                while !failed.load(Ordering::Relaxed) {
                    let Some((key, v)) = placed.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    if let Err(e) = index.add(*key, v) {
                        failed.store(true, Ordering::Relaxed);
                        return Err(usearch_err(e));
                    }
                }
                Ok(())
            };
            std::thread::scope(|s| {
                let handles: Vec<_> = (1..threads).map(|_| s.spawn(add_some)).collect();
                let mine = add_some();
                handles.into_iter().try_for_each(|h| {
                    h.join()
                        .map_err(|_| Error::internal("an add thread panicked"))?
                })?;
                mine
            })?;
        }
        Ok(records.len())
    }

    /// Takes back an add recorded in `undo`: its ids leave, the records it replaced return
    /// with their metadata and vectors (f16 and i8 indexes re-add their rounded values).
    fn undo(&mut self, records: &[VectorRecord], undo: Undo) -> Result<()> {
        self.version += 1;
        for r in &records[..undo.added] {
            if let Some((key, _)) = self.records.remove(&r.id) {
                debug_assert!(key >= undo.first_key);
                self.index.remove(key).map_err(usearch_err)?;
                if let Some(scan) = &mut self.scan {
                    scan.remove(key);
                }
            }
        }
        for (key, id, metadata, vector) in undo.replaced {
            self.index.add(key, &vector).map_err(usearch_err)?;
            if let Some(scan) = &mut self.scan {
                scan.insert(key, &vector);
            }
            self.records.insert(key, &id, metadata);
        }
        self.next_key = undo.first_key;
        Ok(())
    }

    fn remove(&mut self, ids: &[String]) -> Result<usize> {
        self.version += 1;
        let mut removed = 0;
        for id in ids {
            if let Some((key, _)) = self.records.remove(id) {
                self.index.remove(key).map_err(usearch_err)?;
                if let Some(scan) = &mut self.scan {
                    scan.remove(key);
                }
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Takes the scan codes saved with the snapshot just restored; codes that do not fit it
    /// are left aside (with a warning) and rebuilt by [`Self::refit_scan`].
    fn restore_scan(&mut self, saved: &[u8], name: &str) {
        let Some(scan) = &mut self.scan else {
            return;
        };
        let records = &self.records;
        match scan.restore(saved, records.len(), |key| records.get(key).is_some()) {
            Ok(()) => {
                tracing::debug!(
                    index = name,
                    fitted_at = scan.fitted_at(),
                    "took the saved scan codes"
                )
            }
            Err(why) => tracing::warn!(
                index = name,
                "the saved scan codes are not used ({why}): coding the vectors again"
            ),
        }
    }

    /// Fits the scan's directions when the index has grown enough since the last fit (see
    /// [`Scan::needs_fit`]), coding every stored vector anew.
    fn refit_scan(&mut self) {
        let Some(scan) = &mut self.scan else {
            return;
        };
        if !scan.needs_fit(self.records.len()) {
            return;
        }
        self.version += 1;
        let keys: Vec<u64> = self.records.iter().map(|(key, _)| key).collect();
        let index = &self.index;
        scan.fit(&keys, |key, v| stored_vector(index, key, v));
    }

    /// How a search without a selective filter is answered: an index that scans uses its
    /// codes once they are ready, and answers exactly before its first fit; with codes that
    /// hold too little (kind `auto`) it walks the graph like an `hnsw` index.
    fn search_path(&self) -> SearchPath {
        match &self.scan {
            Some(scan) if scan.is_ready() => SearchPath::Scan,
            Some(scan) if scan.variance().is_none() => SearchPath::Exact,
            _ => SearchPath::Graph,
        }
    }

    fn hits(&self, keys: &[u64], distances: &[f32], k: usize) -> Vec<Hit> {
        keys.iter()
            .zip(distances)
            .filter_map(|(key, d)| {
                self.records.get(*key).map(|e| Hit {
                    id: e.id.to_string(),
                    distance: *d,
                    metadata: e.metadata.as_deref().cloned(),
                })
            })
            .take(k)
            .collect()
    }
}

impl VectorIndex {
    /// A new, empty index for a freshly stored spec.
    pub(crate) fn new_empty(storage: Storage, stored: StoredSpec) -> Result<Self> {
        let state = State::new(&stored.spec)?;
        Ok(Self::assemble(storage, stored, state, 0, Tail::default()))
    }

    /// Opens an index: its newest snapshot, then the log after it.
    ///
    /// On a local root with nothing logged after the snapshot, the snapshot file is
    /// memory-mapped (usearch's `view`): the index answers searches at once and pages come
    /// in as they are touched. The first write or predicate walk (a metadata filter no
    /// posted value narrows) copies it into memory.
    ///
    /// Another process may snapshot the index while this one reads it, deleting the log
    /// entries and the snapshot this one listed a moment before: a read that finds an object
    /// gone (or a log with a hole) starts over from a fresh listing, a few times.
    pub(crate) async fn open(storage: Storage, name: &str) -> Result<Self> {
        let stored = persist::read_spec(&storage, name).await?;
        let mut attempt = 0u64;
        loop {
            match Self::read_state(&storage, &stored, name).await {
                Ok((state, seq, tail)) => {
                    return Ok(Self::assemble(storage, stored, state, seq, tail));
                }
                Err(e) if attempt < OPEN_ATTEMPTS && persist::may_be_moving(&e) => {
                    attempt += 1;
                    tracing::debug!(index = name, attempt, "the index moved while opening: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt of [`Self::open`], from one listing of the index's objects: the state,
    /// the last applied sequence number and the log replayed on top of the snapshot.
    async fn read_state(
        storage: &Storage,
        stored: &StoredSpec,
        name: &str,
    ) -> Result<(State, u64, Tail)> {
        let recovered = persist::recover(storage, &persist::data_root(stored)).await?;
        let mut state = State::new(&stored.spec)?;
        let mut seq = 0;
        if let Some(snapshot) = recovered.snapshot {
            let (meta, key) = (snapshot.meta, snapshot.graph);
            let mapped = recovered
                .log
                .is_empty()
                .then(|| storage.local_path(&key))
                .flatten()
                .and_then(|path| path.to_str().map(str::to_string));
            match mapped {
                Some(path) => {
                    if let Err(e) = state.index.view(&path) {
                        // Deleted by another process's newer snapshot since the listing.
                        return Err(if std::path::Path::new(&path).exists() {
                            usearch_err(e)
                        } else {
                            Error::NotFound {
                                what: "index snapshot",
                                name: key,
                            }
                        });
                    }
                    state.viewed = true;
                }
                None => {
                    let data = storage.get_internal(&key).await?;
                    state.index.load_from_buffer(&data).map_err(usearch_err)?;
                    let capacity = (state.index.size() + state.index.size() / 4).max(64);
                    state
                        .index
                        .reserve_capacity_and_threads(capacity, THREAD_SLOTS)
                        .map_err(usearch_err)?;
                }
            }
            state.next_key = meta.next_key;
            for (key, id, metadata) in meta.entries {
                state.records.insert(key, &id, metadata);
            }
            seq = meta.seq;
            if let Some(key) = snapshot.scan {
                state.restore_scan(&storage.get_internal(&key).await?, name);
            }
        }
        let mut tail = Tail::default();
        if !recovered.log.is_empty() {
            crate::phase("replay", name);
        }
        for entry in &recovered.log {
            state.apply(&entry.op)?;
            seq = entry.seq;
            tail.ops += 1;
            tail.touched += entry.op.touched();
        }
        state.refit_scan();
        Ok((state, seq, tail))
    }

    fn assemble(storage: Storage, stored: StoredSpec, state: State, seq: u64, tail: Tail) -> Self {
        Self {
            root: persist::data_root(&stored),
            spec: stored.spec,
            storage,
            state: RwLock::new(state),
            recent: Recent::default(),
            queue: Queue::default(),
            writer: tokio::sync::Mutex::new(Writer {
                seq,
                ops_since_snapshot: tail.ops,
                touched_since_snapshot: tail.touched,
                in_flight: None,
                unsure: None,
            }),
            slots: Slots::new(THREAD_SLOTS),
        }
    }

    /// The state to read; waits (see [`blocking`]) while a write holds it.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        match self.state.try_read() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                blocking(|| self.state.read().unwrap_or_else(|p| p.into_inner()))
            }
        }
    }

    /// The state to change; waits (see [`blocking`]) while others hold it.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        match self.state.try_write() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                blocking(|| self.state.write().unwrap_or_else(|p| p.into_inner()))
            }
        }
    }

    /// The spec it was created with.
    pub fn spec(&self) -> &IndexSpec {
        &self.spec
    }

    /// Count, memory, and how searches are answered.
    pub fn info(&self) -> IndexInfo {
        let state = self.read();
        IndexInfo {
            spec: self.spec.clone(),
            count: state.records.len(),
            memory_bytes: state.index.memory_usage()
                + state.scan.as_ref().map_or(0, Scan::memory_bytes),
            memory_mapped: state.viewed,
            scan_variance: state.scan.as_ref().and_then(Scan::variance),
            scan_dimensions: state.scan.as_ref().and_then(Scan::dimensions_used),
            search: state.search_path(),
        }
    }

    /// Number of stored vectors.
    pub fn len(&self) -> usize {
        self.read().records.len()
    }

    /// Whether the index holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which of `ids` the index holds, in the order given (for resuming bulk loads).
    pub fn contains_ids<S: AsRef<str>>(&self, ids: &[S]) -> Vec<bool> {
        let state = self.read();
        ids.iter()
            .map(|id| state.records.key_of(id.as_ref()).is_some())
            .collect()
    }

    /// Every stored id, in no particular order: what a caller compares with its own record
    /// of what it added (and what a dataset sync compares with the dataset's ids).
    pub fn ids(&self) -> Vec<String> {
        self.read()
            .records
            .iter()
            .map(|(_, e)| e.id.to_string())
            .collect()
    }

    /// The ids of the stored records whose metadata passes `filter`, in no particular order
    /// (what a removal by filter removes).
    pub fn ids_matching(&self, filter: &MetadataFilter) -> Vec<String> {
        self.read()
            .records
            .iter()
            .filter(|(_, e)| filter.matches(e.metadata.as_deref()))
            .map(|(_, e)| e.id.to_string())
            .collect()
    }

    /// Up to `limit` records in the order they were stored, after position `after` (`None`:
    /// from the first), with the position of the last one returned when more follow: a
    /// scroll over the whole index in pages that writes in between do not disturb (a record
    /// added meanwhile comes at the end — a replaced one too, so it may be seen twice — and a
    /// removed one is skipped).
    pub fn records_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> (Vec<VectorRecord>, Option<u64>) {
        let _slot = self.slots.acquire();
        let state = self.read();
        let mut keys: Vec<u64> = state
            .records
            .iter()
            .map(|(key, _)| key)
            .filter(|key| after.is_none_or(|a| *key > a))
            .collect();
        let more = keys.len() > limit;
        if more {
            keys.select_nth_unstable(limit);
            keys.truncate(limit);
        }
        keys.sort_unstable();
        let records = keys
            .iter()
            .filter_map(|&key| {
                let entry = state.records.get(key)?;
                let mut vector = vec![0f32; self.spec.dimensions];
                stored_vector(&state.index, key, &mut vector).then(|| VectorRecord {
                    id: entry.id.to_string(),
                    vector,
                    metadata: entry.metadata.as_deref().cloned(),
                })
            })
            .collect();
        (records, more.then(|| keys.last().copied()).flatten())
    }

    /// What [`Self::write_sync_state`] last stored, if anything.
    pub(crate) async fn read_sync_state<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Option<T>> {
        persist::read_sync_state(&self.storage, &self.root).await
    }

    /// Stores (replacing in one put) what a sync of this index from a dataset reached; it
    /// lives and dies with this incarnation of the index.
    pub(crate) async fn write_sync_state<T: serde::Serialize>(&self, state: &T) -> Result<()> {
        persist::write_sync_state(&self.storage, &self.root, state).await
    }

    /// The metadata of a stored id: `None` when the id is not stored, `Some(None)` when it
    /// is stored without metadata.
    pub fn metadata_of(&self, id: &str) -> Option<Option<Value>> {
        let state = self.read();
        let key = state.records.key_of(id)?;
        state
            .records
            .get(key)
            .map(|e| e.metadata.as_deref().cloned())
    }

    /// The stored vector of an id (as the index holds it: f16 and i8 indexes give back their
    /// rounded values), or `None` when the id is not stored.
    pub fn vector(&self, id: &str) -> Option<Vec<f32>> {
        // A slot before the lock, as in `search`: the other order could deadlock with it.
        let _slot = self.slots.acquire();
        let state = self.read();
        let key = state.records.key_of(id)?;
        let mut v = vec![0f32; self.spec.dimensions];
        stored_vector(&state.index, key, &mut v).then_some(v)
    }

    fn check_vector(&self, v: &[f32], what: &str) -> Result<()> {
        if v.len() != self.spec.dimensions {
            return Err(Error::invalid(format!(
                "{what} has {} dimensions; index {:?} has {}",
                v.len(),
                self.spec.name,
                self.spec.dimensions
            )));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(format!(
                "{what} has a non-finite value at position {i}"
            )));
        }
        Ok(())
    }

    /// Adds or replaces a batch. The whole batch is checked before any of it applies; once
    /// this returns `Ok`, the batch survives a crash.
    ///
    /// Traced as span `vector_add` (index, records).
    #[tracing::instrument(name = "vector_add", skip_all, fields(index = %self.spec.name, records = records.len()))]
    pub async fn add(&self, records: Vec<VectorRecord>) -> Result<usize> {
        if records.is_empty() {
            return Err(Error::invalid("the batch is empty"));
        }
        let mut seen = HashSet::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            check_id(&r.id)?;
            if !seen.insert(r.id.as_str()) {
                return Err(Error::invalid(format!(
                    "id {:?} appears twice in the batch",
                    r.id
                )));
            }
            self.check_vector(&r.vector, &format!("record {i} ({:?})", r.id))?;
        }
        self.commit(LogOp::Add { records }).await
    }

    /// Removes ids; unknown ids are ignored. Returns how many were removed.
    ///
    /// Traced as span `vector_remove` (index, ids).
    #[tracing::instrument(name = "vector_remove", skip_all, fields(index = %self.spec.name, ids = ids.len()))]
    pub async fn remove(&self, ids: Vec<String>) -> Result<usize> {
        if ids.is_empty() {
            return Err(Error::invalid("no ids to remove"));
        }
        for id in &ids {
            check_id(id)?;
        }
        self.commit(LogOp::Remove { ids }).await
    }

    /// Commits `op` with whatever else is waiting (see [`super::commit`]). Cancelling the
    /// caller does not cancel the operation: once queued it commits whole or not at all.
    async fn commit(&self, op: LogOp) -> Result<usize> {
        let mut done = self.queue.push(op);
        let lost = || Error::internal("a queued vector operation got no answer");
        let mut w = tokio::select! {
            biased;
            // Another caller's group held this operation.
            answer = &mut done => return answer.unwrap_or_else(|_| Err(lost())),
            w = self.writer.lock() => w,
        };
        loop {
            self.settle(&mut w).await;
            match done.try_recv() {
                Ok(answer) => return answer,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return Err(lost()),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
            // This operation is still queued, behind or in the next group.
            let group = self.queue.next_group().ok_or_else(lost)?;
            self.begin(&mut w, group);
        }
    }

    /// Starts a group: its log write runs as a task of its own, so that a caller that stops
    /// waiting cannot stop it half-way; [`Self::settle`] applies it once written. A large
    /// add applies while it is written instead, and has ended when this returns.
    fn begin(&self, w: &mut Writer, group: Group) {
        let Group { op, answers } = group;
        if let Some(unsure) = &w.unsure {
            answers.finish(&Err(Error::Storage(format!(
                "the outcome of operation {} on vector index {:?} is not known yet (the \
                 store did not answer); try again",
                unsure.seq, self.spec.name
            ))));
            return;
        }
        // Before the log write: a failure here must leave nothing stored.
        if let Err(e) = self.write().own(&self.spec) {
            answers.finish(&Err(e));
            return;
        }
        let entry = Arc::new(LogEntry { seq: w.seq + 1, op });
        crate::phase("log", &self.spec.name);
        match &entry.op {
            // The overlap holds the state's write lock while a runtime task writes the log;
            // searches that wait for the lock give up their worker first (see `blocking`).
            LogOp::Add { records } if records.len() >= OVERLAP_MIN_RECORDS && can_overlap() => {
                let result = self.add_while_logging(&entry, records, w);
                self.applied(w, &entry.op, &result);
                answers.finish(&result);
            }
            _ => {
                let (storage, root, logged) =
                    (self.storage.clone(), self.root.clone(), entry.clone());
                let write =
                    tokio::spawn(async move { persist::write_log(&storage, &root, &logged).await });
                w.in_flight = Some(InFlight {
                    entry,
                    write,
                    answers,
                });
            }
        }
    }

    /// Ends the group in flight, if any (applies it once its log write succeeded and
    /// answers its callers), then writes a snapshot if one is due. A snapshot that fails
    /// is logged and tried again at the next commit: the operations it would cover are
    /// already durable in the log.
    async fn settle(&self, w: &mut Writer) {
        if let Some(flight) = &mut w.in_flight {
            let joined = (&mut flight.write).await;
            let InFlight { entry, answers, .. } = w.in_flight.take().expect("in flight");
            let written = match joined {
                Ok(written) => written,
                // The task panicked or its runtime shut down: the entry is there or not.
                Err(e) => match persist::log_holds(&self.storage, &self.root, &entry).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(Error::internal(format!("the log write failed: {e}"))),
                    Err(read) => Err(read),
                },
            };
            if written.as_ref().is_err_and(outcome_unknown) {
                w.unsure = Some(entry.clone());
            }
            let result = written.and_then(|()| {
                w.seq = entry.seq;
                self.write().apply(&entry.op)
            });
            self.applied(w, &entry.op, &result);
            answers.finish(&result);
        }
        self.resolve_unsure(w).await;
        let records = self.read().records.len();
        if persist::snapshot_due(records, w.ops_since_snapshot, w.touched_since_snapshot) {
            if let Err(e) = self.snapshot(w).await {
                tracing::warn!(index = %self.spec.name, "snapshot failed (retried at the next commit): {e}");
            }
        }
    }

    /// Reads back the position of an operation whose outcome was unknown: applies it when
    /// the log holds it, forgets it when not; when the store still cannot say, leaves it for
    /// the next writer.
    async fn resolve_unsure(&self, w: &mut Writer) {
        let Some(entry) = w.unsure.clone() else {
            return;
        };
        match persist::log_holds(&self.storage, &self.root, &entry).await {
            Ok(true) => {
                w.unsure = None;
                w.seq = entry.seq;
                let result = self.write().apply(&entry.op);
                if let Err(e) = &result {
                    tracing::warn!(index = %self.spec.name, seq = entry.seq, "a stored operation did not apply: {e}");
                }
                self.applied(w, &entry.op, &result);
            }
            Ok(false) => w.unsure = None,
            Err(e) => {
                tracing::debug!(index = %self.spec.name, seq = entry.seq, "still unknown: {e}");
            }
        }
    }

    /// Counts an applied operation toward the next snapshot and refits the scan.
    fn applied(&self, w: &mut Writer, op: &LogOp, result: &Result<usize>) {
        if result.is_err() {
            return;
        }
        // The write lock only when a fit is due: searches go on meanwhile otherwise.
        let due = |s: &State| {
            s.scan
                .as_ref()
                .is_some_and(|c| c.needs_fit(s.records.len()))
        };
        if due(&self.read()) {
            self.write().refit_scan();
        }
        w.ops_since_snapshot += 1;
        w.touched_since_snapshot += op.touched();
    }

    /// Applies a batch while its log entry is being written (by a task of the runtime), so
    /// that the graph work and the log write overlap instead of following each other. The
    /// state's write lock is held from before the first change until the log write has
    /// ended: no search sees the batch before it is durable, and when the log write fails
    /// the batch is taken back before anyone sees it. Runs inside `block_in_place`, so the
    /// runtime keeps serving other tasks, the log write among them, and nothing here can be
    /// cancelled half-way.
    fn add_while_logging(
        &self,
        entry: &Arc<LogEntry>,
        records: &[VectorRecord],
        w: &mut Writer,
    ) -> Result<usize> {
        let runtime = tokio::runtime::Handle::current();
        let log = {
            let (storage, root, entry) = (self.storage.clone(), self.root.clone(), entry.clone());
            runtime.spawn(async move { persist::write_log(&storage, &root, &entry).await })
        };
        let (written, applied) = tokio::task::block_in_place(|| {
            let mut state = self.write();
            let mut undo = Undo::default();
            let applied = state.add_undoable(records, Some(&mut undo));
            let written = runtime
                .block_on(log)
                .unwrap_or_else(|e| Err(Error::internal(format!("the log write failed: {e}"))));
            let applied = match written {
                Ok(()) => applied,
                Err(_) => state.undo(records, undo).and(applied),
            };
            (written, applied)
        });
        if written.is_ok() {
            w.seq = entry.seq;
        } else if written.as_ref().is_err_and(outcome_unknown) {
            w.unsure = Some(entry.clone());
        }
        written?;
        applied
    }

    async fn snapshot(&self, w: &mut Writer) -> Result<()> {
        crate::phase("snapshot", &self.spec.name);
        let (data, scan, meta) = {
            let state = self.read();
            let mut data = vec![0u8; state.index.serialized_length()];
            state.index.save_to_buffer(&mut data).map_err(usearch_err)?;
            let scan = state.scan.as_ref().and_then(Scan::save);
            let entries = state
                .records
                .iter()
                .map(|(k, e)| (k, e.id.to_string(), e.metadata.as_deref().cloned()))
                .collect();
            (
                data,
                scan,
                SnapshotMeta {
                    seq: w.seq,
                    next_key: state.next_key,
                    entries,
                },
            )
        };
        persist::write_snapshot(&self.storage, &self.root, data, scan, &meta).await?;
        w.ops_since_snapshot = 0;
        w.touched_since_snapshot = 0;
        Ok(())
    }

    /// Writes a snapshot now if anything changed since the last one.
    pub async fn flush(&self) -> Result<()> {
        let mut w = self.writer.lock().await;
        self.settle(&mut w).await;
        if w.ops_since_snapshot > 0 {
            self.snapshot(&mut w).await?;
        }
        Ok(())
    }

    /// The `k` nearest records to the query, nearest first.
    ///
    /// Traced as span `vector_search` (index, k, exact) at debug level: a search takes a
    /// fraction of a millisecond, and a span per call at info level would be a visible part.
    #[tracing::instrument(name = "vector_search", level = "debug", skip_all, fields(index = %self.spec.name, k = request.k, exact = request.exact))]
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        let version = self.read().version;
        if let Some(hits) = self.recent.get(request, version) {
            return Ok(hits);
        }
        let hits = self.find(request)?;
        // Kept only when no change landed while it ran: then it is the answer at `version`.
        if self.read().version == version {
            self.recent.put(request, version, &hits);
        }
        Ok(hits)
    }

    /// [`Self::search`] without the recent answers.
    fn find(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        if request.k == 0 || request.k > MAX_K {
            return Err(Error::invalid(format!(
                "k must be between 1 and {MAX_K}, not {}",
                request.k
            )));
        }
        if let Some(e) = request.expansion
            && !(1..=MAX_K * 4).contains(&e)
        {
            return Err(Error::invalid(format!(
                "expansion must be between 1 and {}",
                MAX_K * 4
            )));
        }
        self.check_vector(&request.vector, "the query")?;
        let v = request.vector.as_slice();
        let k = request.k;
        let filter = request.filter.as_ref().filter(|f| !f.is_empty());
        if let Some(f) = filter {
            // A selective filter: rank its few candidates exactly (no graph walk to starve,
            // no scan of every code).
            let _slot = self.slots.acquire();
            let state = self.read();
            if let Some(candidates) = state.records.candidates(f)
                && candidates.len() <= SELECTIVE_CANDIDATES
            {
                let excluded = excluded_keys(&state, &request.exclude_ids);
                return Ok(rank_candidates(&state, v, k, candidates, &excluded, f));
            }
        }
        // An index that scans uses its codes once they hold enough of the variance, and
        // answers exactly before its first fit; with codes that hold too little it walks
        // the graph like any other index.
        let scans = !request.exact && self.read().search_path() != SearchPath::Graph;
        let predicate = filter.is_some() || !overfetches(k, request.exclude_ids.len());
        if !request.exact && !scans && predicate && self.read().viewed {
            self.write().own(&self.spec)?;
        }
        let _slot = self.slots.acquire();
        if scans {
            let state = self.read();
            let excluded = excluded_keys(&state, &request.exclude_ids);
            let candidates = request.expansion.unwrap_or(self.spec.scan_candidates);
            return scan_in(&state, v, k, candidates, &excluded, filter);
        }
        if let Some(expansion) = request.expansion {
            // The expansion is index-wide in usearch: change it only while alone.
            let state = self.write();
            let excluded = excluded_keys(&state, &request.exclude_ids);
            state.index.change_expansion_search(expansion);
            let found = search_in(&state, v, k, &excluded, filter, request.exact);
            state
                .index
                .change_expansion_search(self.spec.expansion_search);
            return found;
        }
        let state = self.read();
        let excluded = excluded_keys(&state, &request.exclude_ids);
        search_in(&state, v, k, &excluded, filter, request.exact)
    }
}

fn excluded_keys(state: &State, ids: &[String]) -> HashSet<u64> {
    ids.iter()
        .filter_map(|id| state.records.key_of(id))
        .collect()
}

/// Whether a key may be returned: not excluded, and its metadata passes the filter.
fn admits(
    state: &State,
    excluded: &HashSet<u64>,
    filter: Option<&MetadataFilter>,
    key: u64,
) -> bool {
    !excluded.contains(&key)
        && filter
            .is_none_or(|f| f.matches(state.records.get(key).and_then(|e| e.metadata.as_deref())))
}

/// Copies a stored vector out of usearch (as f32); false when the key is not stored.
fn stored_vector(index: &Index, key: u64, v: &mut [f32]) -> bool {
    matches!(index.get(key, v), Ok(n) if n > 0)
}

/// Searches an index that scans (see [`Scan`]): exclusions and the filter apply while
/// scanning, so `k` hits come back whenever `k` records pass. When the codes cannot be used
/// (before the first fit, on a small index) the search is exact.
fn scan_in(
    state: &State,
    v: &[f32],
    k: usize,
    candidates: usize,
    excluded: &HashSet<u64>,
    filter: Option<&MetadataFilter>,
) -> Result<Vec<Hit>> {
    let Some(scan) = state.scan.as_ref().filter(|s| s.is_ready()) else {
        return search_in(state, v, k, excluded, filter, true);
    };
    let found = scan.search(
        v,
        k,
        candidates,
        |key| admits(state, excluded, filter, key),
        |key, out| stored_vector(&state.index, key, out),
    );
    let (keys, distances): (Vec<u64>, Vec<f32>) = found.into_iter().unzip();
    Ok(state.hits(&keys, &distances, k))
}

/// Whether a search for `k` excluding `excluded` records asks the graph for `k + excluded`
/// and drops the excluded afterwards (instead of a predicate walk, which needs an in-memory
/// graph): while that stays within [`MAX_K`].
fn overfetches(k: usize, excluded: usize) -> bool {
    k + excluded <= MAX_K
}

/// Searches with the metadata filter applied inside the graph walk (usearch's predicate
/// search), so `k` hits come back whenever `k` records pass; exclusions alone overfetch
/// (see [`overfetches`]).
fn search_in(
    state: &State,
    v: &[f32],
    k: usize,
    excluded: &HashSet<u64>,
    filter: Option<&MetadataFilter>,
    exact: bool,
) -> Result<Vec<Hit>> {
    if state.records.is_empty() {
        return Ok(Vec::new());
    }
    let passes = |key: u64| admits(state, excluded, filter, key);
    let matches = if exact {
        // Brute force has no predicate: rank enough to drop the rejected ones afterwards
        // (everything, when a filter may reject any number).
        let want = if filter.is_some() {
            state.records.len()
        } else {
            k + excluded.len()
        };
        state.index.exact_search(v, want).map_err(usearch_err)?
    } else if filter.is_none() && overfetches(k, excluded.len()) {
        // Exclusions alone: walk for enough more that the excluded can be dropped after,
        // which a memory-mapped graph can do (it cannot take a predicate).
        state
            .index
            .search(v, k + excluded.len())
            .map_err(usearch_err)?
    } else if state.viewed {
        return Err(Error::internal(
            "a filtered search reached a memory-mapped index",
        ));
    } else {
        state
            .index
            .filtered_search(v, k, passes)
            .map_err(usearch_err)?
    };
    let (keys, distances): (Vec<u64>, Vec<f32>) = matches
        .keys
        .iter()
        .zip(&matches.distances)
        .filter(|(key, _)| passes(**key))
        .map(|(k, d)| (*k, *d))
        .unzip();
    if !exact && keys.len() < k && keys.len() < state.records.len() - excluded.len() {
        // A selective filter can starve the graph walk (its candidate list fills with
        // rejected records); the exact answer is then the brute-force one, over the
        // filter's candidates when its values are posted.
        if let Some(f) = filter
            && let Some(candidates) = state.records.candidates(f)
        {
            return Ok(rank_candidates(state, v, k, candidates, excluded, f));
        }
        return search_in(state, v, k, excluded, filter, true);
    }
    Ok(state.hits(&keys, &distances, k))
}

/// Filters with at most this many candidates (records holding the value of their most
/// selective condition) are answered by ranking the candidates exactly — one vector copy and
/// one distance each — where a graph walk would likely starve and fall back to every record.
const SELECTIVE_CANDIDATES: usize = 4096;

/// The `k` nearest of `candidates` that pass the exclusions and the filter, by exact
/// distance: the answer holds `k` hits whenever `k` candidates pass.
fn rank_candidates(
    state: &State,
    v: &[f32],
    k: usize,
    candidates: Candidates<'_>,
    excluded: &HashSet<u64>,
    filter: &MetadataFilter,
) -> Vec<Hit> {
    let mut stored = vec![0.0f32; v.len()];
    let mut ranked: Vec<(u64, f32)> = candidates
        .keys()
        .filter(|&key| admits(state, excluded, Some(filter), key))
        .filter_map(|key| {
            stored_vector(&state.index, key, &mut stored)
                .then(|| (key, super::scan::distance(state.metric, v, &stored)))
        })
        .collect();
    let k = k.min(ranked.len());
    if k < ranked.len() {
        ranked.select_nth_unstable_by(k, |a, b| a.1.total_cmp(&b.1));
        ranked.truncate(k);
    }
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let (keys, distances): (Vec<u64>, Vec<f32>) = ranked.into_iter().unzip();
    state.hits(&keys, &distances, k)
}

/// Whether a failed log write may have been stored all the same (the store failed or did not
/// answer in time), as opposed to refused.
fn outcome_unknown(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Storage | ErrorKind::Timeout)
}

/// Runs `f`, which waits for a lock or a slot, where the wait cannot stall the runtime: on a
/// worker of a multi-threaded tokio runtime the worker's other tasks move to another thread
/// first (`block_in_place`). Searches are synchronous and called from async code; without
/// this, searches waiting for an add's write lock could occupy every worker while the add
/// waits for its log write, a task that needs a worker: a deadlock. Called only once a
/// non-blocking attempt failed, so an uncontended lock costs nothing more.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if can_overlap() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Whether [`VectorIndex::add_while_logging`] can run here: it needs `block_in_place`, which
/// only a multi-threaded tokio runtime offers. Elsewhere an add is logged, then applied.
fn can_overlap() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("an id is empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::invalid(format!(
            "an id is longer than {MAX_ID_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::{IndexKind, SearchRequest, VectorIndexes};
    use object_store::memory::InMemory;

    /// Vectors near a 6-dimensional subspace (deterministic), as text embeddings are.
    fn low_rank(n: usize, from: usize, d: usize) -> Vec<VectorRecord> {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let axes: Vec<Vec<f32>> = (0..6).map(|_| (0..d).map(|_| next()).collect()).collect();
        (0..from + n)
            .map(|i| {
                let w: Vec<f32> = (0..6).map(|j| next() * (6 - j) as f32).collect();
                let v = (0..d)
                    .map(|c| 0.3 + (0..6).map(|j| w[j] * axes[j][c]).sum::<f32>() + 0.01 * next())
                    .collect();
                VectorRecord::new(format!("r{i}"), v)
            })
            .skip(from)
            .collect()
    }

    fn fitted_at(index: &VectorIndex) -> Option<usize> {
        index.read().scan.as_ref().map(Scan::fitted_at)
    }

    async fn keys_under(storage: &Storage, ext: &str) -> Vec<String> {
        let mut keys: Vec<String> = storage
            .list_keys("_vectors")
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.ends_with(ext))
            .collect();
        keys.sort();
        keys
    }

    /// An open takes the scan codes saved with the snapshot instead of fitting and coding
    /// again (the fit stays the one made at 1,100 vectors); without them, or with a saved
    /// file that does not fit, it codes the vectors again and answers the same; a graph
    /// index saves none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_takes_the_saved_scan_codes() {
        let d = 32;
        let storage = Storage::new(Arc::new(InMemory::new()), 1 << 30, "memory".into());
        let indexes = VectorIndexes::new(storage.clone());
        let index = indexes.create(IndexSpec::new("v", d)).await.unwrap();
        index.add(low_rank(1100, 0, d)).await.unwrap();
        index.add(low_rank(400, 1100, d)).await.unwrap();
        assert_eq!(fitted_at(&index), Some(1100));
        index.flush().await.unwrap();
        let saved = keys_under(&storage, ".scan").await;
        assert_eq!(saved.len(), 1, "{saved:?}");
        let queries: Vec<SearchRequest> = low_rank(20, 5000, d)
            .into_iter()
            .map(|r| SearchRequest::new(r.vector.iter().map(|x| x - 0.3).collect(), 10))
            .collect();
        let answers_by = |index: &VectorIndex, exact: bool| -> Vec<Vec<(String, u32)>> {
            queries
                .iter()
                .map(|q| {
                    let q = SearchRequest { exact, ..q.clone() };
                    let hits = index.search(&q).unwrap();
                    hits.into_iter()
                        .map(|h| (h.id, (h.distance * 1e5) as u32))
                        .collect()
                })
                .collect()
        };
        let answers = |index: &VectorIndex| answers_by(index, false);
        let before = answers(&index);
        // The scan finds the exact neighbours (ids; its distances come from its own kernel).
        let ids = |a: Vec<Vec<(String, u32)>>| -> Vec<Vec<String>> {
            a.into_iter()
                .map(|hits| hits.into_iter().map(|h| h.0).collect())
                .collect()
        };
        assert_eq!(ids(before.clone()), ids(answers_by(&index, true)));
        assert_eq!(index.info().search, SearchPath::Scan);

        let reopened = VectorIndexes::new(storage.clone()).get("v").await.unwrap();
        assert_eq!(
            fitted_at(&reopened),
            Some(1100),
            "the saved codes were not taken"
        );
        assert_eq!(
            reopened.info().scan_dimensions,
            index.info().scan_dimensions
        );
        assert_eq!(answers(&reopened), before);

        // A saved file that does not fit (here: cut short) is left aside, and so is none.
        let bytes = storage.get_internal(&saved[0]).await.unwrap();
        storage
            .put_internal(&saved[0], bytes.slice(..bytes.len() / 2))
            .await
            .unwrap();
        let refitted = VectorIndexes::new(storage.clone()).get("v").await.unwrap();
        assert_eq!(fitted_at(&refitted), Some(1500));
        assert_eq!(answers(&refitted), before);
        storage.delete_internal(&saved[0]).await.unwrap();
        let refitted = VectorIndexes::new(storage.clone()).get("v").await.unwrap();
        assert_eq!(fitted_at(&refitted), Some(1500));
        assert_eq!(answers(&refitted), before);

        // The next snapshot saves the codes again and drops what it supersedes; records
        // logged after a snapshot are coded on top of the codes it saved.
        refitted.add(low_rank(10, 2000, d)).await.unwrap();
        refitted.flush().await.unwrap();
        let now = keys_under(&storage, ".scan").await;
        assert_eq!(now.len(), 1, "{now:?}");
        assert_ne!(now, saved);
        refitted.add(low_rank(5, 3000, d)).await.unwrap();
        let replayed = VectorIndexes::new(storage.clone()).get("v").await.unwrap();
        assert_eq!(fitted_at(&replayed), Some(1500));
        assert_eq!(replayed.info().count, 1515);
        for r in low_rank(5, 3000, d) {
            let hits = replayed.search(&SearchRequest::new(r.vector, 1)).unwrap();
            assert_eq!(hits[0].id, r.id);
        }

        let graph = indexes
            .create(IndexSpec::new("g", d).with_kind(IndexKind::Hnsw))
            .await
            .unwrap();
        graph.add(low_rank(1100, 0, d)).await.unwrap();
        graph.flush().await.unwrap();
        assert!(fitted_at(&graph).is_none());
        assert_eq!(keys_under(&storage, ".scan").await, now);
    }
}
