//! The `remote` backend: an embedding service the user already runs (OpenAI, Ollama,
//! text-embeddings-inference, vLLM, another `lakehouse serve`) behind its OpenAI-compatible
//! `POST /v1/embeddings`, with batching, bounded concurrency, retries with backoff on 429
//! and 5xx, timeouts, and the same cache, prompts and normalisation as the native engine.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::cache::EmbeddingCache;
use super::openai::{EmbeddingsInput, EmbeddingsRequest, EmbeddingsResponse};
use super::{CacheStats, EmbedderOptions, EmbeddingModel, Purpose};
use crate::error::{Error, Result};

/// Where and how the `remote` backend reaches its service. Cache size, normalisation,
/// texts per request (`batch_size`) and the batch limit come from [`EmbedderOptions`], as
/// for every backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteOptions {
    /// The API's base URL, as OpenAI clients take it (`https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1` for Ollama, `http://host:3110/v1` for `lakehouse
    /// serve`); requests go to `{url}/embeddings`. A URL that already ends in
    /// `/embeddings` is used as it is.
    pub url: String,
    /// The model to ask for; `None` sends none (servers with one model) and names the
    /// backend after the model the server reports.
    pub model: Option<String>,
    /// The environment variable holding the API key, sent as `Authorization: Bearer`
    /// when set (`LAKEHOUSE_EMBEDDER_API_KEY` by default: a key for one service is never
    /// sent to another unless asked, so name `OPENAI_API_KEY` to use that one).
    pub api_key_env: String,
    /// The vectors' length; `None` asks the service once, when the backend first loads.
    pub dimension: Option<usize>,
    /// Longest one request may take, in seconds (30 by default).
    pub timeout_secs: f64,
    /// Tries after the first for a request answered 429 or 5xx, or not answered
    /// (4 by default), waiting 0.25 s, 0.5 s, 1 s, … (or the `Retry-After` the server asks).
    pub retries: u32,
    /// Requests in flight at once for one large batch (4 by default).
    pub concurrency: usize,
    /// Send each request's purpose as `input_type` (`query` / `document`), the extension
    /// NVIDIA NIM and `lakehouse serve` accept; off by default because OpenAI refuses
    /// fields it does not know. Turn it on against a `lakehouse serve` whose model has task
    /// prompts, and leave the prompts below empty.
    pub input_type: bool,
    /// Prepended to every query before it is sent (`search_query: ` for nomic-embed-text
    /// behind Ollama).
    pub query_prompt: String,
    /// Prepended to every document before it is sent (`search_document: `).
    pub document_prompt: String,
}

/// The environment variable [`RemoteOptions::api_key_env`] names by default.
pub const DEFAULT_API_KEY_ENV: &str = "LAKEHOUSE_EMBEDDER_API_KEY";

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            url: String::new(),
            model: None,
            api_key_env: DEFAULT_API_KEY_ENV.into(),
            dimension: None,
            timeout_secs: 30.0,
            retries: 4,
            concurrency: 4,
            input_type: false,
            query_prompt: String::new(),
            document_prompt: String::new(),
        }
    }
}

impl RemoteOptions {
    /// The endpoint every request goes to, or [`Error::InvalidInput`] saying what is wrong
    /// with these settings.
    pub fn endpoint(&self) -> Result<url::Url> {
        let url = self.url.trim();
        if url.is_empty() {
            return Err(Error::invalid(
                "the remote embedder needs the URL of an OpenAI-compatible API \
                 (for example http://127.0.0.1:11434/v1)",
            ));
        }
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::invalid(format!("embedder URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid(format!(
                "embedder URL {url:?}: use http:// or https://"
            )));
        }
        if !(self.timeout_secs > 0.0 && self.timeout_secs.is_finite()) || self.concurrency == 0 {
            return Err(Error::invalid(
                "the remote embedder's timeout must be positive and its concurrency at least 1",
            ));
        }
        if self.dimension == Some(0) {
            return Err(Error::invalid(
                "the remote embedder's dimension must be at least 1",
            ));
        }
        if parsed.path().trim_end_matches('/').ends_with("/embeddings") {
            return Ok(parsed);
        }
        let base = format!("{}/embeddings", url.trim_end_matches('/'));
        url::Url::parse(&base).map_err(|e| Error::invalid(format!("embedder URL {url:?}: {e}")))
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }
}

/// An [`EmbeddingModel`] answered by an OpenAI-compatible `/v1/embeddings` endpoint.
///
/// ```no_run
/// use lakehouse_core::embed::{EmbedderOptions, EmbeddingModel, RemoteEmbedder, RemoteOptions};
/// let options = RemoteOptions {
///     url: "http://127.0.0.1:11434/v1".into(),
///     model: Some("nomic-embed-text".into()),
///     query_prompt: "search_query: ".into(),
///     document_prompt: "search_document: ".into(),
///     ..Default::default()
/// };
/// let model = RemoteEmbedder::connect(options, EmbedderOptions::default())?;
/// println!("{}", model.describe());
/// # Ok::<(), lakehouse_core::Error>(())
/// ```
#[derive(Debug)]
pub struct RemoteEmbedder {
    inner: Arc<Inner>,
    name: String,
    dimension: usize,
    embedder: EmbedderOptions,
    cache: EmbeddingCache,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    endpoint: url::Url,
    options: RemoteOptions,
}

impl RemoteEmbedder {
    /// Checks the settings and, unless [`RemoteOptions::dimension`] is given, asks the
    /// service for one vector to learn the dimension (and the model's name when none is
    /// set). Blocking.
    pub fn connect(options: RemoteOptions, embedder: EmbedderOptions) -> Result<Self> {
        let endpoint = options.endpoint()?;
        if embedder.batch_size == 0 || embedder.max_batch == 0 {
            return Err(Error::invalid(
                "batch_size and max_batch must be at least 1",
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(options.timeout())
            .build()
            .map_err(|e| Error::Model(format!("cannot build an HTTP client: {e}")))?;
        let inner = Arc::new(Inner {
            client,
            endpoint,
            options,
        });
        let (name, dimension) = match inner.options.dimension {
            Some(d) => (inner.options.model.clone(), d),
            None => {
                let probe = vec!["dimension probe".to_string()];
                let answer = block_on(inner.clone().request(probe, Purpose::Document))?;
                let reported = (!answer.model.is_empty()).then(|| answer.model.clone());
                let v = answer.into_vectors(1)?;
                (inner.options.model.clone().or(reported), v[0].len())
            }
        };
        if dimension == 0 {
            return Err(Error::Model(format!(
                "{} answered an empty vector",
                inner.endpoint
            )));
        }
        Ok(Self {
            name: name.unwrap_or_else(|| "remote".into()),
            cache: EmbeddingCache::new(embedder.cache_entries),
            inner,
            dimension,
            embedder,
        })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &url::Url {
        &self.inner.endpoint
    }

    /// Every text of `texts` (prompts applied) through the service: requests of
    /// `batch_size` texts, `concurrency` at once, vectors in order.
    fn compute(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>> {
        let chunks: Vec<Vec<String>> = texts
            .chunks(self.embedder.batch_size)
            .map(|c| c.iter().map(|t| t.to_string()).collect())
            .collect();
        let inner = self.inner.clone();
        let concurrency = inner.options.concurrency;
        let answers: Vec<Vec<Vec<f32>>> = block_on(async move {
            futures::stream::iter(chunks)
                .map(|chunk| {
                    let inner = inner.clone();
                    async move {
                        let n = chunk.len();
                        inner.request(chunk, purpose).await?.into_vectors(n)
                    }
                })
                .buffered(concurrency)
                .try_collect()
                .await
        })?;
        let mut out: Vec<Vec<f32>> = answers.into_iter().flatten().collect();
        if self.embedder.normalize {
            for v in &mut out {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
            }
        }
        Ok(out)
    }
}

impl Inner {
    /// One request, retried on 429, 5xx and transport failures with exponential backoff.
    async fn request(
        self: Arc<Self>,
        texts: Vec<String>,
        purpose: Purpose,
    ) -> Result<EmbeddingsResponse> {
        let body = serde_json::to_vec(&EmbeddingsRequest {
            input: EmbeddingsInput::Many(texts),
            model: self.options.model.clone(),
            encoding_format: None,
            dimensions: None,
            input_type: self.options.input_type.then_some(purpose),
            user: None,
        })
        .map_err(|e| Error::internal(format!("an embeddings request as JSON: {e}")))?;
        let key = std::env::var(&self.options.api_key_env)
            .ok()
            .filter(|k| !k.is_empty());
        let mut attempt = 0u32;
        loop {
            let mut request = self
                .client
                .post(self.endpoint.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = &key {
                request = request.bearer_auth(key);
            }
            let (failure, retry_after) = match request.send().await {
                Ok(answer) if answer.status().is_success() => match answer.bytes().await {
                    Ok(bytes) => {
                        return serde_json::from_slice(&bytes).map_err(|e| {
                            Error::Model(format!(
                                "{} answered something that is not an embeddings list: {e}",
                                self.endpoint
                            ))
                        });
                    }
                    Err(e) => (Failure::Transport(e), None),
                },
                Ok(answer) => {
                    let status = answer.status();
                    let retry_after = answer
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(|s| Duration::from_secs_f64(s.min(60.0)));
                    let text = answer.text().await.unwrap_or_default();
                    (Failure::Status(status, text), retry_after)
                }
                Err(e) => (Failure::Transport(e), None),
            };
            if failure.retryable() && attempt < self.options.retries {
                let backoff = Duration::from_millis(250u64 << attempt.min(6));
                tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
                attempt += 1;
                continue;
            }
            return Err(self.error(failure, attempt + 1));
        }
    }

    /// The typed error for a request that failed for good after `tries`.
    fn error(&self, failure: Failure, tries: u32) -> Error {
        let at = &self.endpoint;
        match failure {
            Failure::Status(status, body) => {
                let body: String = body.trim().chars().take(300).collect();
                let tried = if tries > 1 {
                    format!(" (after {tries} tries)")
                } else {
                    String::new()
                };
                if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    return Error::ResourcesExhausted(format!(
                        "the embedding service at {at} is rate limiting{tried}: {body}"
                    ));
                }
                let hint = if matches!(status.as_u16(), 401 | 403) {
                    format!(" (the API key comes from ${})", self.options.api_key_env)
                } else {
                    String::new()
                };
                Error::Model(format!(
                    "the embedding service at {at} answered {status}{tried}{hint}: {body}"
                ))
            }
            Failure::Transport(e) if e.is_timeout() => Error::Timeout(self.options.timeout()),
            Failure::Transport(e) => Error::Model(format!(
                "the embedding service at {at} did not answer ({tries} tries): {e}"
            )),
        }
    }
}

/// Why one request failed.
enum Failure {
    Status(reqwest::StatusCode, String),
    Transport(reqwest::Error),
}

impl Failure {
    fn retryable(&self) -> bool {
        match self {
            Failure::Status(s, _) => {
                *s == reqwest::StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
            }
            Failure::Transport(_) => true,
        }
    }
}

/// Runs `future` on the backend's own small runtime and waits for it: the calls of an
/// [`EmbeddingModel`] block, and may come from any thread (a blocking task, a sync caller),
/// so they cannot borrow the caller's runtime. The runtime lives for the process.
fn block_on<T: Send + 'static>(
    future: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    let runtime = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("lakehouse-remote-embed")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Internal(format!("cannot start the remote embedder's runtime: {e}")))?;
    futures::executor::block_on(runtime.spawn(future))?
}

impl EmbeddingModel for RemoteEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed_batch(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>> {
        super::check_texts(texts, self.embedder.max_batch)?;
        let prompt = match purpose {
            Purpose::Document => &self.inner.options.document_prompt,
            Purpose::Query => &self.inner.options.query_prompt,
        };
        let full: Vec<String> = texts.iter().map(|t| format!("{prompt}{t}")).collect();
        // With `input_type` the server applies the purpose, so it is part of the key.
        let key_name = if self.inner.options.input_type {
            format!("{}\u{0}{purpose}", self.name)
        } else {
            self.name.clone()
        };
        self.cache
            .embed_through(&key_name, &full, |inputs| self.compute(inputs, purpose))
    }

    fn describe(&self) -> String {
        let o = &self.inner.options;
        format!(
            "{} over {} ({} dimensions; {} texts per request, {} at once, timeout {} s, {} \
             retries; API key from ${}: {})",
            self.name,
            self.inner.endpoint,
            self.dimension,
            self.embedder.batch_size,
            o.concurrency,
            o.timeout_secs,
            o.retries,
            o.api_key_env,
            if std::env::var_os(&o.api_key_env).is_some() {
                "set"
            } else {
                "not set"
            }
        )
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.cache.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What the fake service answers to its n-th request: a status, extra headers, a body
    /// (`None`: echo one vector per input text, `[len, index]`), and a delay.
    type Script =
        Box<dyn Fn(usize, &serde_json::Value) -> (u16, String, Option<String>, u64) + Send + Sync>;

    /// A fake OpenAI-compatible service on a loopback port; returns its base URL and the
    /// request bodies it saw (with their Authorization header).
    fn serve(script: Script) -> (String, Arc<Mutex<Vec<(serde_json::Value, Option<String>)>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = seen.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let script = Arc::new(script);
                let count = Arc::new(Mutex::new(0usize));
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let (script, count, log) = (script.clone(), count.clone(), log.clone());
                    tokio::spawn(async move {
                        loop {
                            let mut buf = Vec::new();
                            let mut chunk = [0u8; 8192];
                            let (head_end, length) = loop {
                                let n = match s.read(&mut chunk).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                buf.extend_from_slice(&chunk[..n]);
                                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                    let head = String::from_utf8_lossy(&buf[..p]).to_lowercase();
                                    let length = head
                                        .lines()
                                        .find_map(|l| l.strip_prefix("content-length:"))
                                        .map_or(0, |v| v.trim().parse().unwrap());
                                    break (p + 4, length);
                                }
                            };
                            while buf.len() < head_end + length {
                                let n = s.read(&mut chunk).await.unwrap();
                                buf.extend_from_slice(&chunk[..n]);
                            }
                            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                            let auth = head.lines().find_map(|l| {
                                l.to_lowercase()
                                    .starts_with("authorization:")
                                    .then(|| l[14..].trim().to_string())
                            });
                            let body: serde_json::Value =
                                serde_json::from_slice(&buf[head_end..head_end + length]).unwrap();
                            let n = {
                                let mut c = count.lock().unwrap();
                                *c += 1;
                                *c
                            };
                            log.lock().unwrap().push((body.clone(), auth));
                            let (status, headers, answer, delay) = script(n, &body);
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                            let answer = answer.unwrap_or_else(|| {
                                let texts = body["input"].as_array().unwrap();
                                let data: Vec<_> = texts
                                    .iter()
                                    .enumerate()
                                    .rev() // out of order on purpose
                                    .map(|(i, t)| {
                                        serde_json::json!({"object": "embedding", "index": i,
                                            "embedding": [t.as_str().unwrap().len() as f32, i as f32]})
                                    })
                                    .collect();
                                serde_json::json!({"object": "list", "data": data, "model": "fake-2d"})
                                    .to_string()
                            });
                            let reply = format!(
                                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\n{headers}\r\n{answer}",
                                answer.len()
                            );
                            if s.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        });
        (format!("http://{addr}/v1"), seen)
    }

    fn options(url: &str) -> RemoteOptions {
        RemoteOptions {
            url: url.into(),
            timeout_secs: 2.0,
            ..Default::default()
        }
    }

    fn unnormalized(batch_size: usize) -> EmbedderOptions {
        EmbedderOptions {
            normalize: false,
            batch_size,
            ..Default::default()
        }
    }

    #[test]
    fn endpoints_are_checked_and_completed() {
        let url = |u: &str| options(u).endpoint().map(|e| e.to_string());
        assert_eq!(url("http://h:1/v1").unwrap(), "http://h:1/v1/embeddings");
        assert_eq!(url("http://h:1/v1/").unwrap(), "http://h:1/v1/embeddings");
        assert_eq!(
            url("https://h/x/embeddings").unwrap(),
            "https://h/x/embeddings"
        );
        for bad in ["", "  ", "ftp://h/v1", "not a url"] {
            assert!(matches!(url(bad), Err(Error::InvalidInput(_))), "{bad:?}");
        }
    }

    #[test]
    fn batches_retry_busy_answers_and_come_back_in_order() {
        // Request 1 (the dimension probe) succeeds; 2 is a 503, 3 a 429 with Retry-After 0;
        // then every request succeeds.
        let (url, seen) = serve(Box::new(|n, _| match n {
            2 => (503, String::new(), Some("down".into()), 0),
            3 => (
                429,
                "retry-after: 0\r\n".into(),
                Some("slow down".into()),
                0,
            ),
            _ => (200, String::new(), None, 0),
        }));
        let m = RemoteEmbedder::connect(options(&url), unnormalized(2)).unwrap();
        assert_eq!((m.name(), m.dimension()), ("fake-2d", 2));
        let texts = ["a", "bb", "ccc", "dddd", "eeeee"];
        let v = m.embed_batch(&texts, Purpose::Query).unwrap();
        // [len, index within its request of 2]
        assert_eq!(
            v,
            [[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0]]
        );
        let requests = seen.lock().unwrap().len();
        assert_eq!(requests, 1 + 3 + 2, "probe, 3 batches, 2 retries");
        // Repeats come from the cache; no key is sent when the variable is unset.
        assert_eq!(
            m.embed_batch(&["bb", "a"], Purpose::Query).unwrap(),
            [[2.0, 1.0], [1.0, 0.0]]
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), requests);
        assert!(
            seen.iter()
                .all(|(body, auth)| auth.is_none() && body.get("input_type").is_none())
        );
        assert_eq!(m.cache_stats().unwrap().hits, 2);
    }

    #[test]
    fn prompts_purposes_and_normalisation_apply_as_for_the_native_engine() {
        let (url, seen) = serve(Box::new(|_, _| (200, String::new(), None, 0)));
        let o = RemoteOptions {
            model: Some("m".into()),
            dimension: Some(2),
            input_type: true,
            query_prompt: "q: ".into(),
            ..options(&url)
        };
        let m = RemoteEmbedder::connect(o, EmbedderOptions::default()).unwrap();
        assert_eq!(m.name(), "m");
        assert!(
            seen.lock().unwrap().is_empty(),
            "a given dimension needs no probe"
        );
        let q = m.embed_batch(&["abc"], Purpose::Query).unwrap();
        let d = m.embed_batch(&["abc"], Purpose::Document).unwrap();
        assert_eq!(
            q,
            [[1.0, 0.0]],
            "'q: abc' has 6 bytes; normalised to unit length"
        );
        assert_eq!(d, [[1.0, 0.0]]);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0["input"][0], "q: abc");
        assert_eq!(seen[0].0["input_type"], "query");
        assert_eq!(seen[0].0["model"], "m");
        assert_eq!(
            (
                seen[1].0["input"][0].as_str(),
                seen[1].0["input_type"].as_str()
            ),
            (Some("abc"), Some("document"))
        );
    }

    #[test]
    fn failures_are_typed_errors_that_say_why() {
        let (url, seen) = serve(Box::new(|_, body| {
            match body["input"][0].as_str().unwrap() {
                "bad" => (
                    400,
                    String::new(),
                    Some(r#"{"error":"no such model"}"#.into()),
                    0,
                ),
                "down" => (503, String::new(), Some("maintenance".into()), 0),
                "busy" => (429, "retry-after: 0\r\n".into(), Some("quota".into()), 0),
                "slow" => (200, String::new(), None, 1500),
                "short" => (200, String::new(), Some(r#"{"data": []}"#.into()), 0),
                _ => (200, String::new(), None, 0),
            }
        }));
        let o = RemoteOptions {
            dimension: Some(2),
            retries: 1,
            timeout_secs: 0.5,
            ..options(&url)
        };
        let m = RemoteEmbedder::connect(o, unnormalized(8)).unwrap();
        let err = |t: &str| m.embed_batch(&[t], Purpose::Document).unwrap_err();
        let e = err("bad");
        assert!(
            matches!(&e, Error::Model(m) if m.contains("400") && m.contains("no such model")),
            "{e}"
        );
        let e = err("down");
        assert!(
            matches!(&e, Error::Model(m) if m.contains("after 2 tries") && m.contains("maintenance")),
            "{e}"
        );
        assert!(matches!(err("busy"), Error::ResourcesExhausted(_)));
        assert!(matches!(err("slow"), Error::Timeout(_)));
        assert!(matches!(err("short"), Error::Model(_)));
        assert!(
            matches!(err(" "), Error::InvalidInput(_)),
            "empty texts never leave"
        );
        let bodies: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b["input"][0].to_string())
            .collect();
        assert_eq!(
            bodies.iter().filter(|b| b.contains("bad")).count(),
            1,
            "a 400 is not retried"
        );
        assert_eq!(bodies.iter().filter(|b| b.contains("down")).count(), 2);
        // Nothing listens: a typed error, not a hang or a panic.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let o = RemoteOptions {
            retries: 0,
            ..options(&format!("http://{closed}/v1"))
        };
        assert!(matches!(
            RemoteEmbedder::connect(o, EmbedderOptions::default()),
            Err(Error::Model(_))
        ));
    }
}
