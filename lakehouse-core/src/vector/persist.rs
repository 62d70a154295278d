//! How a vector index lives in the object store.
//!
//! ```text
//! _vectors/<name>/index.json                           spec + incarnation id (create-only)
//! _vectors/<name>/<incarnation>/log/<seq>.json          one acknowledged add or remove
//! _vectors/<name>/<incarnation>/snapshot/<seq>.usearch  the HNSW index after op <seq>
//! _vectors/<name>/<incarnation>/snapshot/<seq>.scan     the scan's codes and basis (kinds
//!                                                       auto and scan, once fitted)
//! _vectors/<name>/<incarnation>/snapshot/<seq>.json     ids and metadata; written last
//! ```
//!
//! A snapshot counts only once its `.json` exists; its `.scan` is derived data (an open
//! without it, or with one that does not match, codes the vectors again). Deleting an index removes `index.json`
//! first, so a crash part-way leaves no index; a later index of the same name has another
//! incarnation and never reads the leftovers.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{IndexKind, IndexSpec, VectorRecord, not_found};
use crate::error::{Error, Result};
use crate::storage::Storage;

/// Operations between snapshots, at least: more keeps adds cheaper, fewer makes reopening
/// faster. A snapshot writes the whole index, so a large index waits longer between them
/// ([`snapshot_due`]).
pub const SNAPSHOT_EVERY_OPS: u64 = 64;
/// Operations between snapshots, at most (the log objects a reopen may replay).
pub const SNAPSHOT_AT_MOST_EVERY_OPS: u64 = 4096;
/// Records added or removed since the last snapshot that always call for one, however large
/// the index (half the index, when it is larger, does too).
pub const SNAPSHOT_RECORDS: u64 = 4096;

/// Whether an index of `records` records needs a snapshot after `ops` operations that
/// touched `touched` records since its last one: after one operation per 16 records (within
/// [`SNAPSHOT_EVERY_OPS`]..=[`SNAPSHOT_AT_MOST_EVERY_OPS`]), or once the log holds records
/// enough to rebuild half the index (at least [`SNAPSHOT_RECORDS`]). A fixed 64 operations
/// made every single-record add pay 1/64 of a whole-index write, a cost that grew with the
/// index (the staffing load test's playbook of ~11k records); this way a
/// snapshot's cost per operation stays about constant, and batched loads still snapshot as
/// they grow, so a reopen replays at most about half an index.
pub fn snapshot_due(records: usize, ops: u64, touched: u64) -> bool {
    let records = records as u64;
    ops >= (records / 16).clamp(SNAPSHOT_EVERY_OPS, SNAPSHOT_AT_MOST_EVERY_OPS)
        || touched >= (records / 2).max(SNAPSHOT_RECORDS)
}

impl LogOp {
    /// Records the operation adds or removes.
    pub(crate) fn touched(&self) -> u64 {
        match self {
            LogOp::Add { records } => records.len() as u64,
            LogOp::Remove { ids } => ids.len() as u64,
        }
    }
}

const ROOT: &str = "_vectors";

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredSpec {
    pub spec: IndexSpec,
    pub incarnation: uuid::Uuid,
    /// Where the log and snapshots live when not under the index's own name (an index
    /// adopted under a new name: [`adopt`]); absent in every spec written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<String>,
}

/// One logged mutation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum LogOp {
    Add {
        #[serde(with = "packed")]
        records: Vec<VectorRecord>,
    },
    Remove {
        ids: Vec<String>,
    },
}

/// Logged records carry their vectors as base64 of the little-endian f32 bytes: exact,
/// 2.5× smaller than JSON numbers and far cheaper to write. Logs written before this
/// encoding (vectors as JSON arrays) still read.
mod packed {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    use super::VectorRecord;

    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a str,
        vector: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        metadata: Option<&'a Value>,
    }

    #[derive(Deserialize)]
    struct In {
        id: String,
        vector: Vector,
        #[serde(default)]
        metadata: Option<Value>,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Vector {
        Packed(String),
        Numbers(Vec<f32>),
    }

    /// `{}` for an explicit `null`: both clear the metadata when applied, and a JSON `null`
    /// would read back as "absent" (keep the old value).
    static CLEARED: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| Value::Object(Default::default()));

    pub fn serialize<S: Serializer>(records: &[VectorRecord], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(records.iter().map(|r| {
            let bytes: Vec<u8> = r.vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            Out {
                id: &r.id,
                vector: STANDARD.encode(bytes),
                metadata: r.metadata.as_ref().map(|m| match m {
                    Value::Null => &*CLEARED,
                    m => m,
                }),
            }
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<VectorRecord>, D::Error> {
        use serde::de::Error;
        Vec::<In>::deserialize(d)?
            .into_iter()
            .map(|r| {
                let vector = match r.vector {
                    Vector::Numbers(v) => v,
                    Vector::Packed(text) => {
                        let bytes = STANDARD.decode(text).map_err(D::Error::custom)?;
                        if bytes.len() % 4 != 0 {
                            return Err(D::Error::custom(
                                "a packed vector's length is not a multiple of 4",
                            ));
                        }
                        bytes
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect()
                    }
                };
                Ok(VectorRecord {
                    id: r.id,
                    vector,
                    metadata: r.metadata,
                })
            })
            .collect()
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LogEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub op: LogOp,
}

/// The non-vector half of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotMeta {
    pub seq: u64,
    pub next_key: u64,
    /// `(key, id, metadata)` for every stored vector.
    pub entries: Vec<(u64, String, Option<serde_json::Value>)>,
}

fn spec_key(name: &str) -> String {
    format!("{ROOT}/{name}/index.json")
}

/// `_vectors/<name>/<incarnation>`, or where an adopted index's data stayed.
pub(crate) fn data_root(spec: &StoredSpec) -> String {
    spec.data_root
        .clone()
        .unwrap_or_else(|| format!("{ROOT}/{}/{}", spec.spec.name, spec.incarnation))
}

fn seq_of(key: &str, ext: &str) -> Option<u64> {
    let file = key.rsplit('/').next()?.strip_suffix(ext)?;
    (file.len() == 20).then(|| file.parse().ok()).flatten()
}

fn json<T: Serialize>(v: &T) -> Result<Bytes> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(Error::internal)
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], key: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::internal(format!("{key} unreadable: {e}")))
}

/// A stored spec. One written before index kinds existed has no `kind`: it reads as the
/// behaviour it was created with — `hnsw`, or `auto` when it set `scan_dimensions` (whose
/// scan was used only while its codes held enough of the variance, which is `auto`'s rule).
fn parse_spec(bytes: &[u8], key: &str) -> Result<StoredSpec> {
    let mut value: serde_json::Value = parse(bytes, key)?;
    if let Some(spec) = value.get_mut("spec").and_then(|s| s.as_object_mut())
        && !spec.contains_key("kind")
    {
        let scans = spec
            .get("scan_dimensions")
            .and_then(serde_json::Value::as_u64)
            .is_some_and(|d| d > 0);
        let kind = if scans {
            IndexKind::Auto
        } else {
            IndexKind::Hnsw
        };
        spec.insert("kind".into(), kind.as_str().into());
    }
    serde_json::from_value(value).map_err(|e| Error::internal(format!("{key} unreadable: {e}")))
}

/// Writes the spec of a new index; `None` if the name is taken.
pub(crate) async fn create_spec(storage: &Storage, spec: &IndexSpec) -> Result<Option<StoredSpec>> {
    let stored = StoredSpec {
        spec: spec.clone(),
        incarnation: uuid::Uuid::new_v4(),
        data_root: None,
    };
    let created = storage
        .put_if_absent(&spec_key(&spec.name), json(&stored)?)
        .await?;
    Ok(created.then_some(stored))
}

pub(crate) async fn read_spec(storage: &Storage, name: &str) -> Result<StoredSpec> {
    let key = spec_key(name);
    match storage.get_internal(&key).await {
        Ok(bytes) => parse_spec(&bytes, &key),
        Err(Error::NotFound { .. }) => Err(not_found(name)),
        Err(e) => Err(e),
    }
}

pub(crate) async fn exists(storage: &Storage, name: &str) -> Result<bool> {
    match storage.head(&spec_key(name)).await {
        Ok(_) => Ok(true),
        Err(Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) async fn list_names(storage: &Storage) -> Result<Vec<String>> {
    let mut names: Vec<String> = storage
        .list_keys(ROOT)
        .await?
        .into_iter()
        .filter_map(|k| {
            let rest = k.strip_prefix(ROOT)?.strip_prefix('/')?;
            let (name, file) = rest.split_once('/')?;
            (file == "index.json").then(|| name.to_string())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Removes the spec (the index is gone from then on), then everything else under the name
/// (but the data of an index adopted from it) and, for an adopted index, under its data
/// root.
pub(crate) async fn delete_all(storage: &Storage, name: &str) -> Result<()> {
    let adopted_root = match read_spec(storage, name).await {
        Ok(stored) => stored.data_root,
        Err(Error::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    // Data of an index adopted under another name stays where it was, possibly under
    // this name: it is not this index's to delete.
    let mut kept = Vec::new();
    for other in list_names(storage).await? {
        if other != name && other.starts_with(super::RESERVED_PREFIX) {
            match read_spec(storage, &other).await {
                Ok(stored) => kept.extend(stored.data_root.map(|r| format!("{r}/"))),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    storage.delete_internal(&spec_key(name)).await?;
    let own = format!("{ROOT}/{name}");
    for prefix in std::iter::once(own).chain(adopted_root) {
        for key in storage.list_keys(&prefix).await? {
            if !kept.iter().any(|k| key.starts_with(k.as_str())) {
                storage.delete_internal(&key).await?;
            }
        }
    }
    Ok(())
}

/// Moves index `from` to the name `to` without moving its data: writes a spec for `to`
/// that points at `from`'s data, then removes `from`'s spec. Safe to repeat after a crash
/// at any point (a leftover `from` spec of the same incarnation is removed; one of another
/// incarnation — a new index that took the free name — is left alone). Returns whether
/// anything was there to adopt.
pub(crate) async fn adopt(storage: &Storage, from: &str, to: &str) -> Result<bool> {
    let legacy = match read_spec(storage, from).await {
        Ok(stored) => stored,
        Err(Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let adopted = StoredSpec {
        spec: IndexSpec {
            name: to.to_string(),
            ..legacy.spec.clone()
        },
        incarnation: legacy.incarnation,
        data_root: Some(data_root(&legacy)),
    };
    if !storage
        .put_if_absent(&spec_key(to), json(&adopted)?)
        .await?
    {
        let current = read_spec(storage, to).await?;
        if current.incarnation != legacy.incarnation {
            return Ok(false);
        }
    }
    storage.delete_internal(&spec_key(from)).await?;
    Ok(true)
}

/// Durably records one operation; it must not exist yet.
/// The log entry of operation `seq`.
fn log_key(root: &str, seq: u64) -> String {
    format!("{root}/log/{seq:020}.json")
}

/// Stores the log entry of `entry`'s operation; [`Error::Conflict`] when another writer took
/// its position first. A request that fails after the store took it (its response lost, or a
/// retry that finds the entry there) counts as written when the stored entry is this one.
pub(crate) async fn write_log(storage: &Storage, root: &str, entry: &LogEntry) -> Result<()> {
    let key = log_key(root, entry.seq);
    let bytes = json(entry)?;
    let conflict = || {
        Error::Conflict(format!(
            "another process wrote operation {} of the vector index at {root} first; reopen \
             the index to see its writes",
            entry.seq
        ))
    };
    match storage.put_if_absent(&key, bytes.clone()).await {
        Ok(true) => {}
        Ok(false) if holds(storage, &key, &bytes).await? => {}
        Ok(false) => return Err(conflict()),
        Err(e) => match holds(storage, &key, &bytes).await {
            Ok(true) => {}
            // Not stored, or the store cannot say: the request's own error.
            Ok(false) | Err(_) => return Err(e),
        },
    }
    // The position was free, but a snapshot may already cover it: then another process
    // wrote this position and later coalesced it away, and this entry (from a process that
    // missed those writes) would be ignored when the index is reopened. Take it back and
    // refuse, rather than acknowledge a write that cannot be read. Sound because a snapshot
    // is stored before the log entries it covers are deleted.
    let covered = storage
        .list_keys(&format!("{root}/snapshot"))
        .await?
        .iter()
        .filter_map(|k| seq_of(k, ".json"))
        .any(|s| s >= entry.seq);
    if covered {
        storage.delete_internal(&key).await?;
        return Err(conflict());
    }
    Ok(())
}

/// Whether the log holds exactly `entry` (after a write whose outcome its caller could not
/// see): `false` when its position is empty or holds another entry.
pub(crate) async fn log_holds(storage: &Storage, root: &str, entry: &LogEntry) -> Result<bool> {
    holds(storage, &log_key(root, entry.seq), &json(entry)?).await
}

async fn holds(storage: &Storage, key: &str, bytes: &[u8]) -> Result<bool> {
    match storage.get_internal(key).await {
        Ok(stored) => Ok(stored.as_ref() == bytes),
        Err(Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn sync_state_key(root: &str) -> String {
    format!("{root}/sync.json")
}

/// The sync state under `root`, `None` when none was written.
pub(crate) async fn read_sync_state<T: for<'de> Deserialize<'de>>(
    storage: &Storage,
    root: &str,
) -> Result<Option<T>> {
    let key = sync_state_key(root);
    match storage.get_internal(&key).await {
        Ok(bytes) => parse(&bytes, &key).map(Some),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the sync state under `root` (one put: the old state or the new one survives).
pub(crate) async fn write_sync_state<T: Serialize>(
    storage: &Storage,
    root: &str,
    state: &T,
) -> Result<()> {
    storage
        .put_internal(&sync_state_key(root), json(state)?)
        .await
}

/// What reopening an index reads: the newest complete snapshot, and the log after it.
pub(crate) struct Recovered {
    pub snapshot: Option<Snapshot>,
    pub log: Vec<LogEntry>,
}

/// A complete snapshot: its id map and metadata, the key of its HNSW file (read or
/// memory-mapped by the caller) and of its saved scan codes, when it has them.
pub(crate) struct Snapshot {
    pub meta: SnapshotMeta,
    pub graph: String,
    pub scan: Option<String>,
}

fn snapshot_key(root: &str, seq: u64) -> String {
    format!("{root}/snapshot/{seq:020}.usearch")
}

/// The scan codes saved with snapshot `seq` (`vector::scan`: derived data, kept so that an
/// open need not rebuild them).
fn scan_key(root: &str, seq: u64) -> String {
    format!("{root}/snapshot/{seq:020}.scan")
}

pub(crate) async fn recover(storage: &Storage, root: &str) -> Result<Recovered> {
    let keys = storage.list_keys(root).await?;
    let snapshot_seq = keys
        .iter()
        .filter(|k| k.contains("/snapshot/"))
        .filter_map(|k| seq_of(k, ".json"))
        .filter(|s| keys.iter().any(|k| seq_of(k, ".usearch") == Some(*s)))
        .max();
    let snapshot = match snapshot_seq {
        Some(seq) => {
            let meta_key = format!("{root}/snapshot/{seq:020}.json");
            let meta: SnapshotMeta = parse(&storage.get_internal(&meta_key).await?, &meta_key)?;
            let scan = scan_key(root, seq);
            Some(Snapshot {
                meta,
                graph: snapshot_key(root, seq),
                scan: keys.contains(&scan).then_some(scan),
            })
        }
        None => None,
    };
    let after = snapshot_seq.unwrap_or(0);
    let mut seqs: Vec<u64> = keys
        .iter()
        .filter(|k| k.contains("/log/"))
        .filter_map(|k| seq_of(k, ".json"))
        .filter(|s| *s > after)
        .collect();
    seqs.sort_unstable();
    let mut log = Vec::with_capacity(seqs.len());
    for (i, seq) in seqs.iter().enumerate() {
        if *seq != after + 1 + i as u64 {
            return Err(Error::NotFound {
                what: "vector index log entry",
                name: log_key(root, after + 1 + i as u64),
            });
        }
        let key = log_key(root, *seq);
        log.push(parse(&storage.get_internal(&key).await?, &key)?);
    }
    Ok(Recovered { snapshot, log })
}

/// Whether an error of [`recover`] or of reading what it listed may come from another
/// process moving the index on (its snapshot deletes what it supersedes) rather than from a
/// damaged index: an object listed a moment ago and gone, or a log with a hole.
pub(crate) fn may_be_moving(e: &Error) -> bool {
    e.kind() == crate::ErrorKind::NotFound
}

/// Stores a snapshot after operation `meta.seq` — the graph, the scan codes when there are
/// any, then the metadata, whose presence makes the snapshot complete — and drops what it
/// supersedes.
pub(crate) async fn write_snapshot(
    storage: &Storage,
    root: &str,
    data: Vec<u8>,
    scan: Option<Vec<u8>>,
    meta: &SnapshotMeta,
) -> Result<()> {
    let seq = meta.seq;
    storage
        .put_internal(&snapshot_key(root, seq), Bytes::from(data))
        .await?;
    if let Some(scan) = scan {
        storage
            .put_internal(&scan_key(root, seq), Bytes::from(scan))
            .await?;
    }
    storage
        .put_internal(&format!("{root}/snapshot/{seq:020}.json"), json(meta)?)
        .await?;
    for key in storage.list_keys(root).await? {
        let old_log = key.contains("/log/") && seq_of(&key, ".json").is_some_and(|s| s <= seq);
        let old_snapshot = key.contains("/snapshot/")
            && [".json", ".usearch", ".scan"]
                .iter()
                .find_map(|ext| seq_of(&key, ext))
                .is_some_and(|s| s < seq);
        if old_log || old_snapshot {
            storage.delete_internal(&key).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Specs stored before index kinds existed keep the behaviour they were created with.
    #[test]
    fn a_spec_stored_before_kinds_keeps_its_behaviour() {
        let stored = |spec: serde_json::Value| {
            let bytes = serde_json::to_vec(&json!({
                "spec": spec,
                "incarnation": "8f1965d6-3259-4d53-820e-815832da6743",
            }))
            .unwrap();
            parse_spec(&bytes, "spec.json").unwrap().spec
        };
        let old = json!({"name": "workers", "dimensions": 384, "metric": "cosine",
            "quantization": "f32", "connectivity": 16, "expansion_add": 128,
            "expansion_search": 64, "scan_dimensions": 0, "scan_candidates": 64});
        assert_eq!(stored(old.clone()).kind, IndexKind::Hnsw);
        let mut scanned = old.clone();
        scanned["scan_dimensions"] = json!(64);
        let spec = stored(scanned);
        assert_eq!((spec.kind, spec.scan_dimensions), (IndexKind::Auto, 64));
        // Without even the scan fields (older still): the graph.
        assert_eq!(
            stored(json!({"name": "w", "dimensions": 8})).kind,
            IndexKind::Hnsw
        );
        // A spec that names its kind is read as written.
        let mut scan = old;
        scan["kind"] = json!("scan");
        assert_eq!(stored(scan).kind, IndexKind::Scan);
    }

    #[test]
    fn snapshots_come_less_often_on_large_indexes_and_after_big_batches() {
        // Small indexes: every 64 operations, as before.
        assert!(!snapshot_due(640, 63, 630));
        assert!(snapshot_due(640, 64, 640));
        // Single-record adds to 11k records: one snapshot per 690 operations, not 64.
        assert!(!snapshot_due(11_000, 64, 64));
        assert!(snapshot_due(11_000, 687, 687));
        // Never more than 4096 operations apart.
        assert!(snapshot_due(10_000_000, 4096, 4096));
        // Batches of 256: once the log holds half the index (at least 4096 records).
        assert!(!snapshot_due(100_000, 100, 25_600));
        assert!(snapshot_due(100_000, 196, 50_176));
        assert!(snapshot_due(5_000, 16, 4096));
        assert!(!snapshot_due(5_000, 15, 3840));
    }

    #[test]
    fn logged_vectors_round_trip_exactly_and_old_logs_still_read() {
        let records = vec![
            VectorRecord::new("a", vec![0.1, -2.5e-8, f32::MAX, 1.0 / 3.0]),
            VectorRecord::new("b", vec![0.0; 4]).with_metadata(json!({"k": 1})),
            VectorRecord::new("c", vec![1.0; 4]).with_metadata(serde_json::Value::Null),
        ];
        let entry = LogEntry {
            seq: 7,
            op: LogOp::Add { records },
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert!(!text.contains("0.1"), "vectors are packed: {text}");
        let back: LogEntry = serde_json::from_str(&text).unwrap();
        let LogOp::Add { records: back } = back.op else {
            panic!("not an add")
        };
        let LogOp::Add { records } = entry.op else {
            unreachable!()
        };
        assert_eq!(back[0], records[0], "bit-exact vectors");
        assert_eq!(back[1], records[1]);
        // An explicit null (clear) is logged as {} (also clear), not as "absent" (keep).
        assert_eq!(back[2].metadata, Some(json!({})));

        let old =
            r#"{"seq":3,"op":"add","records":[{"id":"x","vector":[0.5,1.5],"metadata":{"n":1}}]}"#;
        let old: LogEntry = serde_json::from_str(old).unwrap();
        let LogOp::Add { records } = old.op else {
            panic!("not an add")
        };
        assert_eq!(records[0].vector, vec![0.5, 1.5]);
        assert_eq!(records[0].metadata, Some(json!({"n": 1})));

        let broken = r#"{"seq":3,"op":"add","records":[{"id":"x","vector":"AAA="}]}"#;
        assert!(serde_json::from_str::<LogEntry>(broken).is_err());
    }
}
