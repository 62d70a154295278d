//! The records of one index beside its graph: usearch key → (id, metadata), and id → key.
//!
//! Kept compact because it is the per-vector memory the library adds to usearch's own: the
//! id is stored once (the id → key table holds only keys and compares through the entries),
//! and metadata sits behind a pointer, so a record without metadata costs its id's bytes
//! plus about 50 bytes of tables.

use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use serde_json::Value;

/// What the index keeps about one stored vector.
pub(crate) struct Entry {
    pub id: Box<str>,
    pub metadata: Option<Box<Value>>,
}

/// The entries by usearch key, and the keys by id.
#[derive(Default)]
pub(crate) struct Records {
    entries: HashMap<u64, Entry>,
    keys: HashTable<u64>,
    hasher: std::collections::hash_map::RandomState,
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
        self.entries.remove(&key).map(|e| (key, e))
    }

    /// Every record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Entry)> {
        self.entries.iter().map(|(k, e)| (*k, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
