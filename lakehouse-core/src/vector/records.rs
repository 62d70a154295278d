//! The records of one index beside its graph: usearch key → (id, metadata), and id → key.
//!
//! Kept compact because it is the per-vector memory the library adds to usearch's own: the
//! id is stored once (the id → key table holds only keys and compares through the entries),
//! and metadata sits behind a pointer, so a record without metadata costs its id's bytes
//! plus about 50 bytes of tables.
//!
//! Top-level scalar metadata values (strings up to [`MAX_POSTED_BYTES`], numbers, booleans)
//! are also posted: value → keys, so that a selective metadata filter finds its few
//! candidates without reading every record ([`Records::candidates`]).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use hashbrown::HashTable;
use serde_json::Value;

use super::MetadataFilter;

/// What the index keeps about one stored vector.
pub(crate) struct Entry {
    pub id: Box<str>,
    pub metadata: Option<Box<Value>>,
}

/// Longest string value posted (longer ones are free text, never filtered on by value).
pub(crate) const MAX_POSTED_BYTES: usize = 64;

/// The entries by usearch key, the keys by id, and the keys by posted metadata value.
#[derive(Default)]
pub(crate) struct Records {
    entries: HashMap<u64, Entry>,
    keys: HashTable<u64>,
    hasher: std::collections::hash_map::RandomState,
    postings: HashMap<Box<str>, HashSet<u64>>,
}

/// The posting of `field` = `value`, when such a value is posted. Numbers post by value (as
/// the filter compares them: 3 and 3.0 are one value).
fn posting(field: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(s) if s.len() <= MAX_POSTED_BYTES => Some(format!("{field}\0s{s}")),
        Value::Bool(b) => Some(format!("{field}\0b{b}")),
        Value::Number(n) => {
            let x = n.as_f64()?;
            let x = if x == 0.0 { 0.0 } else { x };
            Some(format!("{field}\0n{}", x.to_bits()))
        }
        _ => None,
    }
}

/// Every posting of a record's metadata.
fn postings_of(metadata: Option<&Value>) -> impl Iterator<Item = String> + '_ {
    metadata
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(field, value)| posting(field, value))
}

impl Records {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry stored under a usearch key.
    pub fn get(&self, key: u64) -> Option<&Entry> {
        self.entries.get(&key)
    }

    /// The usearch key of an id.
    pub fn key_of(&self, id: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(id);
        self.keys
            .find(hash, |k| self.entries.get(k).is_some_and(|e| &*e.id == id))
            .copied()
    }

    /// Stores a record under a fresh key; the id must not be stored (remove it first).
    pub fn insert(&mut self, key: u64, id: &str, metadata: Option<Value>) {
        debug_assert!(self.key_of(id).is_none(), "id {id:?} is stored already");
        let hash = self.hasher.hash_one(id);
        for p in postings_of(metadata.as_ref()) {
            self.postings.entry(p.into()).or_default().insert(key);
        }
        self.entries.insert(
            key,
            Entry {
                id: id.into(),
                metadata: metadata.map(Box::new),
            },
        );
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.keys.insert_unique(hash, key, |k| {
            entries.get(k).map_or(0, |e| hasher.hash_one(&*e.id))
        });
    }

    /// Removes an id; returns its key and entry.
    pub fn remove(&mut self, id: &str) -> Option<(u64, Entry)> {
        let hash = self.hasher.hash_one(id);
        let entries = &self.entries;
        let found = self
            .keys
            .find_entry(hash, |k| entries.get(k).is_some_and(|e| &*e.id == id))
            .ok()?;
        let (key, _) = found.remove();
        let entry = self.entries.remove(&key)?;
        for p in postings_of(entry.metadata.as_deref()) {
            if let Some(keys) = self.postings.get_mut(p.as_str()) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.postings.remove(p.as_str());
                }
            }
        }
        Some((key, entry))
    }

    /// The keys that may pass `filter`: those posted under the value of every scalar
    /// condition (a superset of the passing keys; check each with the filter). `None` when
    /// no condition has a scalar value (then any key may pass).
    pub fn candidates(&self, filter: &MetadataFilter) -> Option<Candidates<'_>> {
        static NONE: std::sync::LazyLock<HashSet<u64>> = std::sync::LazyLock::new(HashSet::new);
        let mut sets: Vec<&HashSet<u64>> = filter
            .conditions()
            .filter_map(|(field, wanted)| posting(field, wanted))
            .map(|p| self.postings.get(p.as_str()).unwrap_or(&*NONE))
            .collect();
        sets.sort_by_key(|keys| keys.len());
        (!sets.is_empty()).then_some(Candidates { sets })
    }

    /// Every record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Entry)> {
        self.entries.iter().map(|(k, e)| (*k, e))
    }
}

/// The keys posted under every scalar condition of a filter: the rarest value's keys that
/// the other values' postings hold too.
pub struct Candidates<'a> {
    /// One posting per condition, the smallest first.
    sets: Vec<&'a HashSet<u64>>,
}

impl Candidates<'_> {
    /// At most this many keys: the rarest value's count.
    pub fn len(&self) -> usize {
        self.sets[0].len()
    }

    /// Whether no key can pass.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys in every posting.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        let (rarest, others) = self.sets.split_first().expect("one posting at least");
        rarest
            .iter()
            .copied()
            .filter(move |key| others.iter().all(|s| s.contains(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_follow_inserts_and_removes_and_narrow_filters() {
        let mut r = Records::default();
        for i in 0..100u64 {
            let state = if i % 10 == 0 { "NV" } else { "IL" };
            let meta = serde_json::json!({"state": state, "years": i % 5, "active": i % 2 == 0,
                "bio": "x".repeat(100)});
            r.insert(i, &format!("id{i}"), Some(meta));
        }
        let f = |v: serde_json::Value| MetadataFilter::from_json(v).unwrap();
        let nv = r
            .candidates(&f(serde_json::json!({"state": "NV"})))
            .unwrap();
        assert_eq!(nv.len(), 10);
        // The most selective condition wins; numbers by value; bools.
        let both = r
            .candidates(&f(serde_json::json!({"state": "IL", "years": 3.0})))
            .unwrap();
        assert_eq!(both.len(), 20);
        // The keys are those in every posting: IL and years 3 (i % 5 == 3 and i % 10 != 0).
        let mut keys: Vec<u64> = both.keys().collect();
        keys.sort_unstable();
        let want: Vec<u64> = (0..100).filter(|i| i % 5 == 3 && i % 10 != 0).collect();
        assert_eq!(keys, want);
        assert_eq!(
            r.candidates(&f(serde_json::json!({"active": true})))
                .unwrap()
                .len(),
            50
        );
        // A value nobody has: no candidate at all. Lists and long text: no narrowing.
        assert!(
            r.candidates(&f(serde_json::json!({"state": "TX"})))
                .unwrap()
                .is_empty()
        );
        assert!(
            r.candidates(&f(serde_json::json!({"state": ["NV", "IL"]})))
                .is_none()
        );
        assert!(
            r.candidates(&f(serde_json::json!({"bio": "x".repeat(100)})))
                .is_none()
        );
        r.remove("id10").unwrap();
        assert_eq!(
            r.candidates(&f(serde_json::json!({"state": "NV"})))
                .unwrap()
                .len(),
            9
        );
        for i in (0..100).step_by(10) {
            r.remove(&format!("id{i}"));
        }
        assert!(
            r.candidates(&f(serde_json::json!({"state": "NV"})))
                .unwrap()
                .is_empty()
        );
        assert!(
            !r.postings.keys().any(|p| p.starts_with("state\0sNV")),
            "empty postings are dropped"
        );
    }

    #[test]
    fn ids_and_keys_stay_paired() {
        let mut r = Records::default();
        for i in 0..1000u64 {
            r.insert(i, &format!("id{i}"), (i % 2 == 0).then(|| Value::from(i)));
        }
        assert_eq!(r.len(), 1000);
        assert_eq!(r.key_of("id7"), Some(7));
        assert_eq!(r.key_of("nope"), None);
        let (key, entry) = r.remove("id8").unwrap();
        assert_eq!((key, &*entry.id), (8, "id8"));
        assert_eq!(entry.metadata.as_deref(), Some(&Value::from(8u64)));
        assert!(r.remove("id8").is_none());
        // The same id under a new key (a replace).
        r.insert(5000, "id8", None);
        assert_eq!(r.key_of("id8"), Some(5000));
        assert_eq!(r.get(5000).map(|e| &*e.id), Some("id8"));
        assert!(r.get(8).is_none());
        assert_eq!(r.len(), 1000);
        for i in (0..1000u64).filter(|i| *i != 8) {
            assert_eq!(r.key_of(&format!("id{i}")), Some(i));
        }
        assert_eq!(r.iter().count(), 1000);
    }
}
