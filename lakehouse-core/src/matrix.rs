//! Matrix search: one query across several vector indexes (corpora), merged by distance,
//! optionally steered by [playbook memory](crate::playbook).
//!
//! The rules, the reference system's matrix retrieval:
//! 1. The query is a vector, or a text embedded once as a query (through the cache); a given
//!    vector wins. Every corpus is searched in parallel for `per_corpus_k` hits (default
//!    `k`); all hits merge by ascending distance and keep their `corpus`.
//! 2. `exclude_ids` never come back. They are applied inside each corpus search (not only
//!    after the merge), so the results still fill `k`; boosted and injected hits obey them
//!    too.
//! 3. `metadata_filter`: per key an exact match, a list meaning any of; keys AND; a hit
//!    without the key is dropped ([`MetadataFilter`]). `filtered_out` reports how many of
//!    each corpus's nearest `per_corpus_k` the filter dropped; those places are then filled
//!    by a filtered search, so a filter never cuts the result below `k` while more matching
//!    records exist.
//! 4. `use_playbook`: the query vector searches
//!    [`PLAYBOOK_INDEX`](crate::playbook::PLAYBOOK_INDEX) for the nearest
//!    [`PLAYBOOK_K`] entries within [`BOOST_WITHIN`]. A hit whose `(id, corpus)` was recorded
//!    gets `distance × (1 − 0.5·score)` (the best-scoring entry counts once), and the list
//!    is re-sorted. A recorded answer that was not retrieved is injected when its playbook
//!    distance is within [`INJECT_WITHIN`], still exists in its corpus, is not excluded and
//!    passes the filter; its distance is the playbook distance × `(1 − 0.5·score)`. No
//!    playbook index means no boost.
//! 5. The list is cut to `k`.
//!
//! ```no_run
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lakehouse_core::{Lakehouse, matrix::MatrixRequest};
//! let lh = Lakehouse::open("./data").await?;
//! let mut request = MatrixRequest::text("forklift operator near Chicago", ["workers"], 10);
//! request.use_playbook = true;
//! for hit in lh.matrix_search(&request).await?.hits {
//!     println!("{} {} {:.3}", hit.corpus, hit.id, hit.distance);
//! }
//! # Ok::<(), lakehouse_core::Error>(())
//! # });
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::embed::Purpose;
use crate::error::{Error, Result};
use crate::lakehouse::Lakehouse;
use crate::playbook::Recalled;
use crate::vector::{Hit, MAX_K, MetadataFilter, SearchRequest, VectorIndex};

/// Playbook entries consulted per search.
pub const PLAYBOOK_K: usize = 10;
/// Playbook distance within which a recorded answer boosts a hit.
pub const BOOST_WITHIN: f32 = 0.5;
/// Playbook distance within which a recorded answer that was not retrieved is injected.
pub const INJECT_WITHIN: f32 = 0.20;
/// Most corpora one search may name.
pub const MAX_CORPORA: usize = 64;

/// A matrix search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct MatrixRequest {
    /// Text to embed as a query (ignored when `query_vector` is given).
    pub query_text: Option<String>,
    /// The query vector.
    pub query_vector: Option<Vec<f32>>,
    /// Vector indexes to search.
    pub corpora: Vec<String>,
    /// Hits returned, 1 to [`MAX_K`] (10 by default).
    pub k: usize,
    /// Hits taken from each corpus before merging (default `k`).
    pub per_corpus_k: Option<usize>,
    /// Only hits whose metadata passes.
    pub metadata_filter: Option<MetadataFilter>,
    /// Ids never returned.
    pub exclude_ids: Vec<String>,
    /// Boost and inject answers recorded in the playbook.
    pub use_playbook: bool,
}

impl Default for MatrixRequest {
    fn default() -> Self {
        Self {
            query_text: None,
            query_vector: None,
            corpora: Vec::new(),
            k: crate::vector::DEFAULT_K,
            per_corpus_k: None,
            metadata_filter: None,
            exclude_ids: Vec::new(),
            use_playbook: false,
        }
    }
}

impl MatrixRequest {
    /// A search for `text` over `corpora`.
    pub fn text<S: Into<String>>(
        text: impl Into<String>,
        corpora: impl IntoIterator<Item = S>,
        k: usize,
    ) -> Self {
        Self {
            query_text: Some(text.into()),
            corpora: corpora.into_iter().map(Into::into).collect(),
            k,
            ..Self::default()
        }
    }

    /// A search for `vector` over `corpora`.
    pub fn vector<S: Into<String>>(
        vector: Vec<f32>,
        corpora: impl IntoIterator<Item = S>,
        k: usize,
    ) -> Self {
        Self {
            query_vector: Some(vector),
            corpora: corpora.into_iter().map(Into::into).collect(),
            k,
            ..Self::default()
        }
    }
}

/// One merged hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MatrixHit {
    /// The record's id in its corpus.
    pub id: String,
    /// The corpus it came from.
    pub corpus: String,
    /// Its distance, after any playbook boost.
    pub distance: f32,
    /// Its metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// How the playbook moved it, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playbook: Option<PlaybookEffect>,
}

/// How a recorded answer changed a hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PlaybookEffect {
    /// The playbook entry that applied.
    pub playbook_id: String,
    /// Its recorded score.
    pub score: f32,
    /// Distance from this query to the entry's query.
    pub playbook_distance: f32,
    /// The hit's distance before the boost; `None` for an injected hit.
    pub original_distance: Option<f32>,
    /// Whether the hit was injected (recorded, not retrieved).
    pub injected: bool,
}

/// The answer to a matrix search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MatrixResult {
    /// Up to `k` hits, nearest first.
    pub hits: Vec<MatrixHit>,
    /// Of each corpus's nearest `per_corpus_k`, how many the metadata filter dropped.
    pub filtered_out: usize,
    /// Hits whose distance the playbook boosted.
    pub boosted: usize,
    /// Hits the playbook injected.
    pub injected: usize,
}

impl Lakehouse {
    /// Searches several corpora at once; see the [module docs](crate::matrix) for the rules.
    /// Unknown corpora, an empty corpus list and a missing query are typed errors.
    pub async fn matrix_search(&self, request: &MatrixRequest) -> Result<MatrixResult> {
        let k = request.k;
        if k == 0 || k > MAX_K {
            return Err(Error::invalid(format!(
                "k must be between 1 and {MAX_K}, not {k}"
            )));
        }
        let per_corpus_k = request.per_corpus_k.unwrap_or(k);
        if per_corpus_k == 0 || per_corpus_k > MAX_K {
            return Err(Error::invalid(format!(
                "per_corpus_k must be between 1 and {MAX_K}, not {per_corpus_k}"
            )));
        }
        let mut corpora: Vec<&str> = Vec::with_capacity(request.corpora.len());
        for c in &request.corpora {
            if !corpora.contains(&c.as_str()) {
                corpora.push(c);
            }
        }
        if corpora.is_empty() {
            return Err(Error::invalid(
                "corpora is empty: name at least one vector index",
            ));
        }
        if corpora.len() > MAX_CORPORA {
            return Err(Error::invalid(format!("more than {MAX_CORPORA} corpora")));
        }
        let mut indexes = Vec::with_capacity(corpora.len());
        for name in &corpora {
            indexes.push((name.to_string(), self.vectors().get(name).await?));
        }
        let vector = match (&request.query_vector, &request.query_text) {
            (Some(v), _) => v.clone(),
            (None, Some(text)) if !text.trim().is_empty() => {
                let mut v = self.embed(vec![text.clone()], Purpose::Query).await?;
                v.pop()
                    .ok_or_else(|| Error::internal("no vector for the query"))?
            }
            (None, Some(_)) => return Err(Error::invalid("query_text is empty")),
            (None, None) => {
                return Err(Error::invalid("no query: give query_text or query_vector"));
            }
        };
        let filter = request.metadata_filter.clone().filter(|f| !f.is_empty());
        let search = Arc::new(SearchRequest {
            exclude_ids: request.exclude_ids.clone(),
            ..SearchRequest::new(vector.clone(), per_corpus_k)
        });
        let found = search_all(&indexes, &search, filter.as_ref()).await?;
        let mut filtered_out = 0;
        let mut hits = Vec::new();
        for ((corpus, _), (corpus_hits, dropped)) in indexes.iter().zip(found) {
            filtered_out += dropped;
            hits.extend(corpus_hits.into_iter().map(|h| MatrixHit {
                id: h.id,
                corpus: corpus.clone(),
                distance: h.distance,
                metadata: h.metadata,
                playbook: None,
            }));
        }
        let (mut boosted, mut injected) = (0, 0);
        if request.use_playbook
            && let Some(playbook) = self.playbook_index(vector.len(), false).await?
        {
            let recalled =
                Lakehouse::recall_playbook(&playbook, &vector, PLAYBOOK_K, BOOST_WITHIN)?;
            let excluded: HashSet<&str> = request.exclude_ids.iter().map(String::as_str).collect();
            (boosted, injected) =
                apply_playbook(&mut hits, &recalled, &indexes, &excluded, filter.as_ref());
        }
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        hits.truncate(k);
        Ok(MatrixResult {
            hits,
            filtered_out,
            boosted,
            injected,
        })
    }
}

/// Searches every corpus (in parallel when there are several); per corpus the hits and how
/// many of the unfiltered nearest the filter dropped.
async fn search_all(
    indexes: &[(String, Arc<VectorIndex>)],
    search: &Arc<SearchRequest>,
    filter: Option<&MetadataFilter>,
) -> Result<Vec<(Vec<Hit>, usize)>> {
    if let [(_, index)] = indexes {
        // One corpus: a search takes well under a millisecond; no thread hop.
        return Ok(vec![search_one(index, search, filter)?]);
    }
    let tasks: Vec<_> = indexes
        .iter()
        .map(|(_, index)| {
            let (index, search, filter) = (index.clone(), search.clone(), filter.cloned());
            tokio::task::spawn_blocking(move || search_one(&index, &search, filter.as_ref()))
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await??);
    }
    Ok(out)
}

fn search_one(
    index: &VectorIndex,
    search: &SearchRequest,
    filter: Option<&MetadataFilter>,
) -> Result<(Vec<Hit>, usize)> {
    let nearest = index.search(search)?;
    let Some(filter) = filter else {
        return Ok((nearest, 0));
    };
    let dropped = nearest
        .iter()
        .filter(|h| !filter.matches(h.metadata.as_ref()))
        .count();
    if dropped == 0 {
        return Ok((nearest, 0));
    }
    let filtered = SearchRequest {
        filter: Some(filter.clone()),
        ..search.clone()
    };
    Ok((index.search(&filtered)?, dropped))
}

/// Boosts recorded answers among `hits` and injects close ones that are missing; returns
/// (boosted, injected).
fn apply_playbook(
    hits: &mut Vec<MatrixHit>,
    recalled: &[Recalled],
    indexes: &[(String, Arc<VectorIndex>)],
    excluded: &HashSet<&str>,
    filter: Option<&MetadataFilter>,
) -> (usize, usize) {
    // Per answer, the entry with the strongest boost (highest score, then nearest).
    let mut best: HashMap<(&str, &str), &Recalled> = HashMap::new();
    for r in recalled {
        best.entry((r.answer_id.as_str(), r.answer_corpus.as_str()))
            .and_modify(|b| {
                if (r.score, -r.distance) > (b.score, -b.distance) {
                    *b = r;
                }
            })
            .or_insert(r);
    }
    let mut boosted = 0;
    let mut seen = HashSet::new();
    for hit in hits.iter_mut() {
        seen.insert((hit.id.clone(), hit.corpus.clone()));
        if let Some(r) = best.get(&(hit.id.as_str(), hit.corpus.as_str())) {
            let original = hit.distance;
            hit.distance = original * (1.0 - 0.5 * r.score);
            hit.playbook = Some(effect(r, Some(original)));
            boosted += 1;
        }
    }
    let mut injected = 0;
    let mut candidates: Vec<&&Recalled> = best.values().collect();
    candidates.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    for r in candidates {
        if r.distance > INJECT_WITHIN
            || excluded.contains(r.answer_id.as_str())
            || seen.contains(&(r.answer_id.clone(), r.answer_corpus.clone()))
        {
            continue;
        }
        let Some((_, index)) = indexes.iter().find(|(c, _)| *c == r.answer_corpus) else {
            continue;
        };
        // The answer must still exist; its current metadata comes along.
        let Some(metadata) = index.metadata_of(&r.answer_id) else {
            continue;
        };
        if filter.is_some_and(|f| !f.matches(metadata.as_ref())) {
            continue;
        }
        hits.push(MatrixHit {
            id: r.answer_id.clone(),
            corpus: r.answer_corpus.clone(),
            distance: r.distance * (1.0 - 0.5 * r.score),
            metadata,
            playbook: Some(effect(r, None)),
        });
        injected += 1;
    }
    (boosted, injected)
}

fn effect(r: &Recalled, original_distance: Option<f32>) -> PlaybookEffect {
    PlaybookEffect {
        playbook_id: r.playbook_id.clone(),
        score: r.score,
        playbook_distance: r.distance,
        original_distance,
        injected: original_distance.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recalled(id: &str, corpus: &str, score: f32, distance: f32) -> Recalled {
        Recalled {
            playbook_id: format!("pb-{id}-{score}"),
            answer_id: id.into(),
            answer_corpus: corpus.into(),
            score,
            distance,
        }
    }

    fn hit(id: &str, corpus: &str, distance: f32) -> MatrixHit {
        MatrixHit {
            id: id.into(),
            corpus: corpus.into(),
            distance,
            metadata: None,
            playbook: None,
        }
    }

    #[test]
    fn boost_scales_distance_once_with_the_best_entry() {
        let mut hits = vec![
            hit("a", "w", 0.30),
            hit("b", "w", 0.50),
            hit("c", "w", 0.6566),
        ];
        let recalled = [
            recalled("c", "w", 1.0, 0.1),
            recalled("c", "w", 0.2, 0.05),
            // Same id in another corpus: no effect on w's c.
            recalled("b", "other", 1.0, 0.0),
        ];
        let (boosted, injected) = apply_playbook(&mut hits, &recalled, &[], &HashSet::new(), None);
        assert_eq!((boosted, injected), (1, 0));
        let c = hits.iter().find(|h| h.id == "c").unwrap();
        assert!((c.distance - 0.3283).abs() < 1e-4, "{}", c.distance);
        let effect = c.playbook.as_ref().unwrap();
        assert_eq!(effect.score, 1.0);
        assert_eq!(effect.original_distance, Some(0.6566));
        assert!(
            hits.iter()
                .find(|h| h.id == "b")
                .unwrap()
                .playbook
                .is_none()
        );
    }
}
