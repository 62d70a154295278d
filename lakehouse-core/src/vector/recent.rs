//! Recent answers of one index: a search repeated while nothing changed (the same request,
//! the same index version) costs a lookup instead of a graph walk. Recruiters page back, a
//! UI refreshes, an agent asks again: the answer is the one a new walk would give, since a
//! walk over an unchanged graph is deterministic. Any add, remove or refit moves the
//! version on, and entries of older versions are never served.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use super::{Hit, SearchRequest};

/// Answers kept per index.
pub(super) const RECENT_ANSWERS: usize = 1024;

struct Entry {
    version: u64,
    request: SearchRequest,
    hits: Vec<Hit>,
}

/// An LRU of answers keyed by request, each tagged with the index version it was found at.
pub(super) struct Recent(Mutex<LruCache<u64, Entry>>);

impl Default for Recent {
    fn default() -> Self {
        Self(Mutex::new(LruCache::new(
            NonZeroUsize::new(RECENT_ANSWERS).expect("not zero"),
        )))
    }
}

impl Recent {
    /// The answer to `request` found at `version`, if kept.
    pub fn get(&self, request: &SearchRequest, version: u64) -> Option<Vec<Hit>> {
        let mut lru = self.lock();
        let e = lru.get(&key(request))?;
        (e.version == version && e.request == *request).then(|| e.hits.clone())
    }

    /// Keeps `hits` as the answer to `request` at `version`.
    pub fn put(&self, request: &SearchRequest, version: u64, hits: &[Hit]) {
        self.lock().put(
            key(request),
            Entry {
                version,
                request: request.clone(),
                hits: hits.to_vec(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<u64, Entry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A hash of every field that shapes the answer (a collision is caught by comparing the
/// stored request).
fn key(r: &SearchRequest) -> u64 {
    let mut h = DefaultHasher::new();
    for x in &r.vector {
        x.to_bits().hash(&mut h);
    }
    (r.k, r.exact, r.expansion, &r.exclude_ids).hash(&mut h);
    serde_json::to_string(&r.filter)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_served_for_the_same_request_and_version_only() {
        let recent = Recent::default();
        let request = SearchRequest::new(vec![0.5, 0.25], 3);
        let hits = vec![Hit {
            id: "a".into(),
            distance: 0.1,
            metadata: None,
        }];
        assert!(recent.get(&request, 1).is_none());
        recent.put(&request, 1, &hits);
        assert_eq!(recent.get(&request, 1), Some(hits.clone()));
        assert!(recent.get(&request, 2).is_none(), "the index changed");
        let other_k = SearchRequest::new(vec![0.5, 0.25], 4);
        assert!(recent.get(&other_k, 1).is_none());
        let mut excluding = request.clone();
        excluding.exclude_ids = vec!["a".into()];
        assert!(recent.get(&excluding, 1).is_none());
    }
}
