//! The embedding cache: an LRU of vectors keyed by model and the SHA-256 of the text, so a
//! repeated query or document costs a hash and a lookup instead of a forward pass.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Cache key: SHA-256 over the model name and the exact text the model sees.
pub(crate) type Key = [u8; 32];

/// Counters of an [`Embedder`](super::Embedder)'s cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CacheStats {
    /// Texts answered from the cache.
    pub hits: u64,
    /// Texts not found in the cache.
    pub misses: u64,
    /// Texts run through the model (a text repeated within one batch runs once).
    pub computed: u64,
    /// `hits / (hits + misses)`, 0 before any lookup.
    pub hit_rate: f64,
    /// Vectors held now.
    pub size: usize,
    /// Most vectors held (0: the cache is off).
    pub capacity: usize,
}

pub(crate) struct EmbeddingCache {
    lru: Option<Mutex<LruCache<Key, Arc<[f32]>>>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    computed: AtomicU64,
}

impl std::fmt::Debug for EmbeddingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl EmbeddingCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            lru: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            computed: AtomicU64::new(0),
        }
    }

    pub fn key(model: &str, text: &str) -> Key {
        let mut h = Sha256::new();
        h.update(model.as_bytes());
        h.update([0u8]);
        h.update(text.as_bytes());
        h.finalize().into()
    }

    /// Looks up every key; `None` where a forward pass is needed. Counts hits and misses.
    pub fn get_many(&self, keys: &[Key]) -> Vec<Option<Arc<[f32]>>> {
        let found: Vec<Option<Arc<[f32]>>> = match &self.lru {
            Some(lru) => {
                let mut lru = lru.lock().unwrap_or_else(|p| p.into_inner());
                keys.iter().map(|k| lru.get(k).cloned()).collect()
            }
            None => vec![None; keys.len()],
        };
        let hits = found.iter().filter(|v| v.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(keys.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    /// Stores freshly computed vectors (and counts them as computed).
    pub fn put_many(&self, entries: impl IntoIterator<Item = (Key, Arc<[f32]>)>) {
        let mut n = 0;
        let mut lru = self
            .lru
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
        for (k, v) in entries {
            n += 1;
            if let Some(lru) = lru.as_mut() {
                lru.put(k, v);
            }
        }
        self.computed.fetch_add(n, Ordering::Relaxed);
    }

    /// One vector per text of `full` (the exact texts the model sees, prompts included),
    /// in order: found ones from the cache, the distinct misses from one `compute` call
    /// (each text once), which are then cached. Every backend embeds through this, so
    /// caching and de-duplication behave the same over all of them.
    pub fn embed_through(
        &self,
        model: &str,
        full: &[String],
        compute: impl FnOnce(&[&str]) -> Result<Vec<Vec<f32>>>,
    ) -> Result<Vec<Vec<f32>>> {
        let keys: Vec<Key> = full.iter().map(|t| Self::key(model, t)).collect();
        let mut found = self.get_many(&keys);
        let mut first_of: HashMap<Key, usize> = HashMap::new();
        let mut todo: Vec<usize> = Vec::new();
        for (i, f) in found.iter().enumerate() {
            if f.is_none() && !first_of.contains_key(&keys[i]) {
                first_of.insert(keys[i], todo.len());
                todo.push(i);
            }
        }
        if !todo.is_empty() {
            let inputs: Vec<&str> = todo.iter().map(|&i| full[i].as_str()).collect();
            let computed = compute(&inputs)?;
            if computed.len() != inputs.len() {
                return Err(Error::Model(format!(
                    "{model} answered {} vectors for {} texts",
                    computed.len(),
                    inputs.len()
                )));
            }
            let computed: Vec<Arc<[f32]>> = computed.into_iter().map(Arc::from).collect();
            self.put_many(
                todo.iter()
                    .zip(&computed)
                    .map(|(&i, v)| (keys[i], v.clone())),
            );
            for (i, f) in found.iter_mut().enumerate() {
                if f.is_none() {
                    *f = Some(computed[first_of[&keys[i]]].clone());
                }
            }
        }
        found
            .into_iter()
            .map(|v| {
                v.map(|v| v.to_vec())
                    .ok_or_else(|| Error::internal("a text got no vector"))
            })
            .collect()
    }

    pub fn stats(&self) -> CacheStats {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let size = self
            .lru
            .as_ref()
            .map_or(0, |l| l.lock().unwrap_or_else(|p| p.into_inner()).len());
        CacheStats {
            hits,
            misses,
            computed: self.computed.load(Ordering::Relaxed),
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            size,
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_the_least_recent_and_counts() {
        let c = EmbeddingCache::new(2);
        let (a, b, d) = (
            EmbeddingCache::key("m", "a"),
            EmbeddingCache::key("m", "b"),
            EmbeddingCache::key("m", "d"),
        );
        assert_ne!(
            a,
            EmbeddingCache::key("other", "a"),
            "the model is part of the key"
        );
        c.put_many([(a, Arc::from(vec![1.0f32])), (b, Arc::from(vec![2.0f32]))]);
        assert!(c.get_many(&[a])[0].is_some()); // a is now the most recent
        c.put_many([(d, Arc::from(vec![3.0f32]))]); // evicts b
        let got = c.get_many(&[a, b, d]);
        assert_eq!(
            got.iter().map(Option::is_some).collect::<Vec<_>>(),
            [true, false, true]
        );
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.size, s.capacity), (3, 1, 2, 2));
        assert_eq!(s.computed, 3);
        assert!((s.hit_rate - 0.75).abs() < 1e-9);
    }

    #[test]
    fn capacity_zero_disables() {
        let c = EmbeddingCache::new(0);
        let k = EmbeddingCache::key("m", "a");
        c.put_many([(k, Arc::from(vec![1.0f32]))]);
        assert!(c.get_many(&[k])[0].is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.size, s.computed), (0, 1, 0, 1));
    }
}
