//! Playbook memory: answers that worked, remembered by the query that found them.
//!
//! Recording `{query_text, answer_id, answer_corpus, score}` stores the query's embedding in
//! the vector index [`PLAYBOOK_INDEX`] (created on first use with the vector's dimension),
//! under an id derived from SHA-256 of `(query_text, answer_id, answer_corpus)`: recording
//! the same triple again replaces it, so the last score wins. A
//! [matrix search](crate::matrix) with `use_playbook` then boosts those answers for similar
//! queries; see [`crate::matrix`] for the rules.
//!
//! ```no_run
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lakehouse_core::{Lakehouse, playbook::PlaybookEntry};
//! let lh = Lakehouse::open("./data").await?;
//! let id = lh
//!     .record_playbook(PlaybookEntry::new("forklift operator, night shift", "w-1042", "workers", 0.9))
//!     .await?;
//! assert_eq!(id.len(), 64);
//! # Ok::<(), lakehouse_core::Error>(())
//! # });
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::embed::Purpose;
use crate::error::{Error, ErrorKind, Result};
use crate::lakehouse::Lakehouse;
use crate::vector::{IndexSpec, VectorIndex, VectorRecord};

/// Name of the vector index that holds the playbook: reserved
/// ([`crate::vector::RESERVED_PREFIX`]), so users can search it but only the playbook writes
/// or drops it ([`Lakehouse::drop_playbook`]).
pub const PLAYBOOK_INDEX: &str = "__playbook";
/// Where earlier releases kept the playbook: a playbook stored there is moved to
/// [`PLAYBOOK_INDEX`] (its data stays in place) when the lakehouse opens.
pub const LEGACY_PLAYBOOK_INDEX: &str = "playbook_memory";
/// Most entries one bulk record accepts.
pub const MAX_BULK_ENTRIES: usize = 4_096;
/// Most tags on one entry.
pub const MAX_TAGS: usize = 64;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 256;

/// One remembered answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PlaybookEntry {
    /// The query that found the answer.
    pub query_text: String,
    /// The query's vector, when the caller has it; otherwise the text is embedded (as a
    /// query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_vector: Option<Vec<f32>>,
    /// Id of the answer in its corpus.
    pub answer_id: String,
    /// The vector index (corpus) the answer lives in.
    pub answer_corpus: String,
    /// How good the answer was, 0 to 1.
    pub score: f32,
    /// Free-form labels, stored with the entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl PlaybookEntry {
    /// An entry without tags whose query will be embedded.
    pub fn new(
        query_text: impl Into<String>,
        answer_id: impl Into<String>,
        answer_corpus: impl Into<String>,
        score: f32,
    ) -> Self {
        Self {
            query_text: query_text.into(),
            query_vector: None,
            answer_id: answer_id.into(),
            answer_corpus: answer_corpus.into(),
            score,
            tags: Vec::new(),
        }
    }

    /// Uses `vector` as the query's embedding.
    pub fn with_vector(mut self, vector: Vec<f32>) -> Self {
        self.query_vector = Some(vector);
        self
    }

    /// The entry's id: SHA-256 (hex) of the query, answer id and corpus.
    pub fn playbook_id(&self) -> String {
        playbook_id(&self.query_text, &self.answer_id, &self.answer_corpus)
    }

    fn validate(&self) -> Result<()> {
        if self.query_text.trim().is_empty() {
            return Err(Error::invalid("query_text is empty"));
        }
        if self.answer_id.is_empty() {
            return Err(Error::invalid("answer_id is empty"));
        }
        crate::catalog::validate_name(&self.answer_corpus)
            .map_err(|e| Error::invalid(format!("answer_corpus: {e}")))?;
        if !(0.0..=1.0).contains(&self.score) {
            return Err(Error::invalid(format!(
                "score must be between 0 and 1, not {}",
                self.score
            )));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(Error::invalid(format!("more than {MAX_TAGS} tags")));
        }
        if self.tags.iter().any(|t| t.len() > MAX_TAG_BYTES) {
            return Err(Error::invalid(format!(
                "a tag is longer than {MAX_TAG_BYTES} bytes"
            )));
        }
        Ok(())
    }

    fn record(&self, vector: Vec<f32>) -> VectorRecord {
        VectorRecord::new(self.playbook_id(), vector).with_metadata(json!({
            "query_text": self.query_text,
            "answer_id": self.answer_id,
            "answer_corpus": self.answer_corpus,
            "score": self.score,
            "tags": self.tags,
            "recorded_at": chrono::Utc::now().to_rfc3339(),
        }))
    }
}

/// The id of the entry for `(query_text, answer_id, answer_corpus)`: SHA-256 (hex) over the
/// three, each length-prefixed so no two triples share an encoding.
pub fn playbook_id(query_text: &str, answer_id: &str, answer_corpus: &str) -> String {
    let mut h = Sha256::new();
    for part in [query_text, answer_id, answer_corpus] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// What became of one entry of a bulk record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BulkOutcome {
    /// The entry's id when it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playbook_id: Option<String>,
    /// Why it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EntryError>,
}

/// Why one entry of a bulk record was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EntryError {
    /// The error's kind (`invalid_input`, …).
    pub kind: ErrorKind,
    /// A readable message.
    pub message: String,
}

impl BulkOutcome {
    fn refused(e: &Error) -> Self {
        Self {
            playbook_id: None,
            error: Some(EntryError {
                kind: e.kind(),
                message: e.to_string(),
            }),
        }
    }
}

/// A recorded answer as a matrix search sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recalled {
    pub playbook_id: String,
    pub answer_id: String,
    pub answer_corpus: String,
    pub score: f32,
    pub distance: f32,
}

impl Lakehouse {
    /// Records one answer; returns its playbook id. Creates [`PLAYBOOK_INDEX`] on first
    /// use. Bad input is a typed error and stores nothing.
    pub async fn record_playbook(&self, entry: PlaybookEntry) -> Result<String> {
        let mut results = self.record_entries(vec![entry]).await?;
        results.pop().expect("one entry in, one result out")
    }

    /// Records many answers at once (one embedding batch, one durable write). Invalid
    /// entries are reported in their place and the others are recorded; an entry repeated
    /// in the batch is recorded once, with its last score.
    pub async fn record_playbook_bulk(
        &self,
        entries: Vec<PlaybookEntry>,
    ) -> Result<Vec<BulkOutcome>> {
        Ok(self
            .record_entries(entries)
            .await?
            .into_iter()
            .map(|r| match r {
                Ok(id) => BulkOutcome {
                    playbook_id: Some(id),
                    error: None,
                },
                Err(e) => BulkOutcome::refused(&e),
            })
            .collect())
    }

    /// Records the valid entries; one result per entry, in order. A failure that concerns
    /// the whole batch (too many entries, the model, storage) is the outer error.
    async fn record_entries(&self, entries: Vec<PlaybookEntry>) -> Result<Vec<Result<String>>> {
        if entries.is_empty() {
            return Err(Error::invalid("no playbook entries"));
        }
        if entries.len() > MAX_BULK_ENTRIES {
            return Err(Error::BatchTooLarge {
                size: entries.len(),
                limit: MAX_BULK_ENTRIES,
            });
        }
        let mut results: Vec<Result<String>> = entries
            .iter()
            .map(|e| e.validate().map(|()| e.playbook_id()))
            .collect();
        let valid: Vec<usize> = (0..entries.len()).filter(|&i| results[i].is_ok()).collect();
        // Vectors: given ones as they are, the rest embedded in one batch.
        let to_embed: Vec<usize> = valid
            .iter()
            .copied()
            .filter(|&i| entries[i].query_vector.is_none())
            .collect();
        let mut vectors: HashMap<usize, Vec<f32>> = HashMap::new();
        if !to_embed.is_empty() {
            let texts = to_embed
                .iter()
                .map(|&i| entries[i].query_text.clone())
                .collect();
            let embedded = self.embed(texts, Purpose::Query).await?;
            vectors.extend(to_embed.iter().copied().zip(embedded));
        }
        for &i in &valid {
            if let Some(v) = &entries[i].query_vector {
                vectors.insert(i, v.clone());
            }
        }
        let Some(&first) = valid.first() else {
            return Ok(results);
        };
        // Embedded vectors must fit the stored playbook (else the model changed: Conflict);
        // vectors the caller gave are checked one by one below.
        let index = match self.stored_playbook().await {
            Ok(Some(index)) if to_embed.is_empty() => index,
            _ => {
                let dimensions = vectors[to_embed.first().unwrap_or(&first)].len();
                self.playbook_index(dimensions, true)
                    .await?
                    .expect("created on demand")
            }
        };
        // Per-entry vector checks, so one bad vector does not sink the batch.
        let mut records: Vec<usize> = Vec::new();
        let mut position: HashMap<String, usize> = HashMap::new();
        for &i in &valid {
            if let Err(e) = check_vector(&index, &vectors[&i]) {
                results[i] = Err(e);
                continue;
            }
            let id = entries[i].playbook_id();
            match position.get(&id) {
                // The same triple again: the later entry wins.
                Some(&slot) => records[slot] = i,
                None => {
                    position.insert(id, records.len());
                    records.push(i);
                }
            }
        }
        if !records.is_empty() {
            let batch = records
                .iter()
                .map(|i| entries[*i].record(vectors.remove(i).expect("vector per entry")))
                .collect();
            index.add(batch).await?;
        }
        Ok(results)
    }

    /// The playbook index; `None` when it does not exist and `create` is false. An index
    /// of another dimension than `dimensions` is [`Error::Conflict`] (the model changed).
    pub(crate) async fn playbook_index(
        &self,
        dimensions: usize,
        create: bool,
    ) -> Result<Option<Arc<VectorIndex>>> {
        let index = match self.stored_playbook().await? {
            Some(index) => index,
            None if !create => return Ok(None),
            None => {
                match self
                    .vectors()
                    .create_any(IndexSpec::new(PLAYBOOK_INDEX, dimensions))
                    .await
                {
                    Ok(index) => index,
                    // Another caller created it first.
                    Err(Error::Conflict(_)) => self.vectors().get(PLAYBOOK_INDEX).await?,
                    Err(e) => return Err(e),
                }
            }
        };
        if index.spec().dimensions != dimensions {
            return Err(Error::Conflict(format!(
                "the playbook holds {}-dimensional vectors, but this query has {}: was the \
                 embedding model changed? Drop the playbook to start a new one",
                index.spec().dimensions,
                dimensions
            )));
        }
        Ok(Some(index))
    }

    /// The stored playbook index, if any.
    async fn stored_playbook(&self) -> Result<Option<Arc<VectorIndex>>> {
        match self.vectors().get(PLAYBOOK_INDEX).await {
            Ok(index) => Ok(Some(index)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Forgets every recorded answer: drops the playbook index (the next record starts a
    /// new one, with the dimension of its vectors). No playbook is [`Error::NotFound`].
    pub async fn drop_playbook(&self) -> Result<()> {
        if self.stored_playbook().await?.is_none() {
            return Err(Error::NotFound {
                what: "playbook",
                name: PLAYBOOK_INDEX.to_string(),
            });
        }
        self.vectors().delete_any(PLAYBOOK_INDEX).await
    }

    /// Recorded answers near `vector`: the nearest `k` entries within `max_distance`.
    pub(crate) fn recall_playbook(
        index: &VectorIndex,
        vector: &[f32],
        k: usize,
        max_distance: f32,
    ) -> Result<Vec<Recalled>> {
        let hits = index.search(&crate::vector::SearchRequest::new(vector.to_vec(), k))?;
        Ok(hits
            .into_iter()
            .filter(|h| h.distance <= max_distance)
            .filter_map(|h| {
                let m = h.metadata?;
                Some(Recalled {
                    answer_id: m.get("answer_id")?.as_str()?.to_string(),
                    answer_corpus: m.get("answer_corpus")?.as_str()?.to_string(),
                    score: m.get("score")?.as_f64()? as f32,
                    playbook_id: h.id,
                    distance: h.distance,
                })
            })
            .collect())
    }
}

fn check_vector(index: &VectorIndex, v: &[f32]) -> Result<()> {
    if v.len() != index.spec().dimensions {
        return Err(Error::invalid(format!(
            "query_vector has {} dimensions; {PLAYBOOK_INDEX} has {}",
            v.len(),
            index.spec().dimensions
        )));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::invalid("query_vector has a non-finite value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_all_three_parts_only() {
        let a = playbook_id("forklift", "w1", "workers");
        assert_eq!(a, playbook_id("forklift", "w1", "workers"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, playbook_id("forklift", "w2", "workers"));
        assert_ne!(a, playbook_id("forklift", "w1", "clients"));
        // Length prefixes keep shifted boundaries apart.
        assert_ne!(playbook_id("ab", "c", "x"), playbook_id("a", "bc", "x"));
        let e = PlaybookEntry::new("forklift", "w1", "workers", 0.5);
        assert_eq!(e.playbook_id(), a);
    }

    #[test]
    fn entries_are_validated() {
        let ok = PlaybookEntry::new("q", "w1", "workers", 1.0);
        assert!(ok.validate().is_ok());
        for bad in [
            PlaybookEntry::new(" ", "w1", "workers", 0.5),
            PlaybookEntry::new("q", "", "workers", 0.5),
            PlaybookEntry::new("q", "w1", "no/such", 0.5),
            PlaybookEntry::new("q", "w1", "workers", 1.5),
            PlaybookEntry::new("q", "w1", "workers", f32::NAN),
            PlaybookEntry::new("q", "w1", "workers", -0.1),
        ] {
            assert_eq!(bad.validate().unwrap_err().kind(), ErrorKind::InvalidInput);
        }
    }
}
