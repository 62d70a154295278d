//! The embedding seam: [`EmbeddingModel`], the trait every embedding backend implements
//! (the local [`Embedder`] is the first), and the one shared model a lakehouse embeds
//! through.

use std::path::PathBuf;
use std::sync::Arc;

use super::{CacheStats, Embedder, EmbedderOptions, Purpose, RemoteEmbedder, RemoteOptions};
use crate::error::{Error, Result};

/// A text embedding model: what a lakehouse embeds documents, search queries and SQL's
/// `embed()` with. [`Embedder`] (a local model folder, run in process) is the built-in
/// one; give another to [`LakehouseBuilder::embedder`](crate::LakehouseBuilder::embedder)
/// (a remote endpoint, a GPU runtime, a test double).
///
/// Calls block: the lakehouse makes them on a blocking thread, never on an async worker.
/// The lakehouse checks every answer (one finite vector of [`dimension`](Self::dimension)
/// values per text) and turns a wrong one into [`Error::Model`].
///
/// ```
/// use lakehouse_core::embed::{EmbeddingModel, Purpose};
///
/// /// Two dimensions: the text's length and its count of spaces.
/// #[derive(Debug)]
/// struct Lengths;
///
/// impl EmbeddingModel for Lengths {
///     fn name(&self) -> &str { "lengths" }
///     fn dimension(&self) -> usize { 2 }
///     fn embed_batch(&self, texts: &[&str], _: Purpose) -> lakehouse_core::Result<Vec<Vec<f32>>> {
///         Ok(texts.iter().map(|t| vec![t.len() as f32, t.matches(' ').count() as f32]).collect())
///     }
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let lh = lakehouse_core::Lakehouse::builder(dir.path().to_str().unwrap())
///     .embedder(std::sync::Arc::new(Lengths))
///     .open()
///     .await
///     .unwrap();
/// let v = lh.embed(vec!["two words".into()], Purpose::Query).await.unwrap();
/// assert_eq!(v, [[9.0, 1.0]]);
/// # });
/// ```
pub trait EmbeddingModel: Send + Sync + std::fmt::Debug {
    /// The model's name: reported to clients, and checked against the model a request
    /// names.
    fn name(&self) -> &str;

    /// Length of every vector.
    fn dimension(&self) -> usize;

    /// One vector per text, in order, for `purpose` (models trained with task prompts embed
    /// queries and documents differently). Blocking.
    fn embed_batch(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>>;

    /// One line saying what runs, for people (the demo, `doctor`).
    fn describe(&self) -> String {
        format!("{} ({} dimensions)", self.name(), self.dimension())
    }

    /// Counters of the model's vector cache, if it has one.
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }

    /// Tokens `text` takes as the model sees it, where the backend can count them (the
    /// `usage` of `POST /v1/embeddings`).
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }
}

/// Which backend runs a lakehouse's embedding model.
///
/// `native` is the in-process engine (a local model folder); `candle` runs the same folder
/// through candle-transformers (on a GPU when built with the `cuda` or `metal` feature and
/// one is present, else on the CPU); `remote` asks an OpenAI-compatible `/v1/embeddings`
/// service ([`RemoteOptions`]). Any other model (a GPU runtime, a test
/// double) goes in through [`LakehouseBuilder::embedder`](crate::LakehouseBuilder::embedder).
///
/// ```
/// use lakehouse_core::embed::Backend;
/// assert_eq!("openai".parse::<Backend>().unwrap(), Backend::Remote);
/// assert!("onnx".parse::<Backend>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The in-process engine over a local model folder.
    #[default]
    Native,
    /// An OpenAI-compatible embeddings endpoint.
    Remote,
    /// candle-transformers over a local model folder.
    Candle,
}

crate::choice::choices!(Backend, "embedder", {
    Native => ["native", "local"],
    Remote => ["remote", "openai", "http"],
    Candle => ["candle"],
});

/// How to load a lakehouse's model: which backend, with its settings. Loading is deferred
/// to first use, so a lakehouse opens without a model (or with its service down) and works
/// for everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSource {
    /// The backend.
    pub backend: Backend,
    /// The model folder (native and candle).
    pub dir: PathBuf,
    /// The remote backend's service.
    pub remote: RemoteOptions,
    /// Settings every backend shares (cache, normalisation, batches) and the native
    /// engine's precision.
    pub options: EmbedderOptions,
}

impl ModelSource {
    /// Checks the settings without loading anything ([`Error::InvalidInput`]).
    pub fn check(&self) -> Result<()> {
        if self.options.batch_size == 0 || self.options.max_batch == 0 {
            return Err(Error::invalid(
                "batch_size and max_batch must be at least 1",
            ));
        }
        match self.backend {
            Backend::Native | Backend::Candle => Ok(()),
            Backend::Remote => self.remote.endpoint().map(drop),
        }
    }

    /// Loads the model (blocking: reads the folder, or asks the service its dimension).
    pub fn load(&self) -> Result<Arc<dyn EmbeddingModel>> {
        Ok(match self.backend {
            Backend::Native => Arc::new(Embedder::load(&self.dir, self.options.clone())?),
            Backend::Candle => Arc::new(Embedder::load_candle(&self.dir, self.options.clone())?),
            Backend::Remote => Arc::new(RemoteEmbedder::connect(
                self.remote.clone(),
                self.options.clone(),
            )?),
        })
    }

    /// Says which backend and where, before anything is loaded.
    pub fn describe(&self) -> String {
        match self.backend {
            Backend::Native => format!("native, model folder {}", self.dir.display()),
            Backend::Candle => format!("candle, model folder {}", self.dir.display()),
            Backend::Remote => format!("remote, {}", self.remote.url),
        }
    }
}

impl EmbeddingModel for Embedder {
    fn name(&self) -> &str {
        self.model_name()
    }

    fn dimension(&self) -> usize {
        Embedder::dimension(self)
    }

    fn embed_batch(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>> {
        self.embed_with(texts, purpose)
    }

    fn describe(&self) -> String {
        let info = self.info();
        format!(
            "{} ({:?}, {} dimensions, up to {} tokens, {} weights, {}) from {}",
            info.name,
            info.architecture,
            info.dimension,
            info.max_tokens,
            info.precision,
            info.engine,
            info.path.display()
        )
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.stats())
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        Embedder::count_tokens(self, text).ok()
    }
}

/// Where the lakehouse's model comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A backend loaded on first use; a failed load (say, no model installed yet, or the
    /// service down) is not remembered, so a later call tries again.
    Lazy {
        source: ModelSource,
        loaded: Arc<std::sync::Mutex<Option<Arc<dyn EmbeddingModel>>>>,
    },
    /// A model the application gave.
    Given(Arc<dyn EmbeddingModel>),
}

/// The one model a lakehouse, its SQL functions and its retrieval layer embed through,
/// shared by every clone (one model, one cache).
#[derive(Debug, Clone)]
pub(crate) struct SharedEmbedder {
    source: Source,
}

impl SharedEmbedder {
    /// The model `source` names, not loaded yet.
    pub(crate) fn lazy(source: ModelSource) -> Self {
        Self {
            source: Source::Lazy {
                source,
                loaded: Arc::default(),
            },
        }
    }

    /// A model the application built.
    pub(crate) fn given(model: Arc<dyn EmbeddingModel>) -> Self {
        Self {
            source: Source::Given(model),
        }
    }

    /// Names the source (the folder, or the given model's name): equal for clones.
    pub(crate) fn id(&self) -> String {
        match &self.source {
            Source::Lazy { source, .. } => source.describe(),
            Source::Given(m) => format!("{} ({:p})", m.name(), Arc::as_ptr(m)),
        }
    }

    /// The model if it is loaded already.
    pub(crate) fn loaded(&self) -> Option<Arc<dyn EmbeddingModel>> {
        match &self.source {
            Source::Lazy { loaded, .. } => loaded.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            Source::Given(m) => Some(m.clone()),
        }
    }

    /// The model, loading it on this thread if needed (callers that arrive during a load
    /// wait for it rather than load twice).
    pub(crate) fn get_blocking(&self) -> Result<Arc<dyn EmbeddingModel>> {
        match &self.source {
            Source::Lazy { source, loaded } => {
                let mut slot = loaded.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(e) = slot.as_ref() {
                    return Ok(e.clone());
                }
                let e = source.load()?;
                *slot = Some(e.clone());
                Ok(e)
            }
            Source::Given(m) => Ok(m.clone()),
        }
    }

    /// The model, loading it off the async threads if needed.
    pub(crate) async fn get(&self) -> Result<Arc<dyn EmbeddingModel>> {
        if let Some(e) = self.loaded() {
            return Ok(e);
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.get_blocking()).await?
    }

    /// Embeds `texts` on this thread, checking the model's answer.
    pub(crate) fn embed_blocking<S: AsRef<str>>(
        &self,
        texts: &[S],
        purpose: Purpose,
    ) -> Result<Vec<Vec<f32>>> {
        let model = self.get_blocking()?;
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let vectors = model.embed_batch(&texts, purpose)?;
        check_answer(model.as_ref(), texts.len(), &vectors)?;
        Ok(vectors)
    }

    /// Embeds `texts` off the async threads, checking the model's answer.
    pub(crate) async fn embed(
        &self,
        texts: Vec<String>,
        purpose: Purpose,
    ) -> Result<Vec<Vec<f32>>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts, purpose)).await?
    }
}

/// One finite vector of the model's dimension per text, or [`Error::Model`] saying what
/// was wrong: a backend's bug never reaches an index as a bad vector.
fn check_answer(model: &dyn EmbeddingModel, texts: usize, vectors: &[Vec<f32>]) -> Result<()> {
    let wrong = |what: String| Err(Error::Model(format!("{} answered {what}", model.name())));
    if vectors.len() != texts {
        return wrong(format!("{} vectors for {texts} texts", vectors.len()));
    }
    let dimension = model.dimension();
    if let Some((i, v)) = vectors
        .iter()
        .enumerate()
        .find(|(_, v)| v.len() != dimension)
    {
        return wrong(format!(
            "a {}-value vector for text {i}; its dimension is {dimension}",
            v.len()
        ));
    }
    if let Some(i) = vectors
        .iter()
        .position(|v| v.iter().any(|x| !x.is_finite()))
    {
        return wrong(format!("a vector with a NaN or infinity for text {i}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers with `vectors` whatever it is asked.
    #[derive(Debug)]
    struct Fixed(Vec<Vec<f32>>);

    impl EmbeddingModel for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn dimension(&self) -> usize {
            2
        }
        fn embed_batch(&self, _: &[&str], _: Purpose) -> Result<Vec<Vec<f32>>> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn backend_names_parse_one_way() {
        crate::choice::check_names(Backend::NAMES, |b| b.as_str());
    }

    #[test]
    fn a_wrong_answer_is_a_model_error() {
        let embed = |answer: Vec<Vec<f32>>| {
            SharedEmbedder::given(Arc::new(Fixed(answer)))
                .embed_blocking(&["a", "b"], Purpose::Query)
        };
        assert_eq!(
            embed(vec![vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap().len(),
            2
        );
        for (answer, says) in [
            (vec![vec![1.0, 0.0]], "1 vectors for 2 texts"),
            (vec![vec![1.0, 0.0], vec![1.0]], "1-value vector for text 1"),
            (
                vec![vec![1.0, 0.0], vec![f32::NAN, 1.0]],
                "NaN or infinity for text 1",
            ),
        ] {
            let err = embed(answer).unwrap_err();
            assert!(matches!(err, Error::Model(_)), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
