//! `Idempotency-Key` on POSTs: a client that retries a write after a timeout or a dropped
//! connection, with the key it sent the first time, gets the first attempt's answer (marked
//! `idempotent-replayed: true`) instead of appending the same rows or recording the same
//! entry twice.
//!
//! The keys live in this process's memory (the most recent [`CAPACITY`], each for [`TTL`]):
//! a restarted server forgets them, so a retry across a restart runs again. A key is scoped
//! to its route; reused with another request (another query, content type or body: bodies up
//! to [`MAX_HASHED_BODY`] are compared by SHA-256, larger uploads by their length) it is a
//! 422. A retry while the first attempt still runs is a 409. Answers that say "try again" (5xx,
//! 429) are not kept, nor answers above [`MAX_KEPT_BODY`] bytes (the retry runs again).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::HttpBody as _;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// Keys remembered at most (the least recently used go first).
pub const CAPACITY: usize = 10_000;
/// How long a key is remembered.
pub const TTL: Duration = Duration::from_secs(24 * 3600);
/// Largest answer kept for replay.
pub const MAX_KEPT_BODY: usize = 1024 * 1024;
/// Largest body compared by content: it is read into memory to hash it (larger uploads are
/// streamed through and compared by length).
pub const MAX_HASHED_BODY: usize = 1024 * 1024;
/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;

enum Entry {
    /// The first attempt is running.
    Running { fingerprint: String },
    /// The first attempt's answer.
    Done {
        fingerprint: String,
        at: Instant,
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
}

/// The remembered keys.
pub struct Idempotency {
    entries: Mutex<lru::LruCache<String, Entry>>,
}

impl Default for Idempotency {
    fn default() -> Self {
        Self {
            entries: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(CAPACITY).expect("a positive capacity"),
            )),
        }
    }
}

/// What the store says about a key on arrival.
enum Arrival {
    Run,
    Replay(Response),
    Refuse(ApiError),
}

impl Idempotency {
    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn arrive(&self, scope: &str, fingerprint: &str) -> Arrival {
        let mut entries = self.lock();
        let expired =
            matches!(entries.peek(scope), Some(Entry::Done { at, .. }) if at.elapsed() > TTL);
        if expired {
            entries.pop(scope);
        }
        match entries.get(scope) {
            None => {
                entries.put(
                    scope.to_string(),
                    Entry::Running {
                        fingerprint: fingerprint.to_string(),
                    },
                );
                Arrival::Run
            }
            Some(Entry::Running { fingerprint: f } | Entry::Done { fingerprint: f, .. })
                if f != fingerprint =>
            {
                Arrival::Refuse(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "this Idempotency-Key was used with a different request",
                ))
            }
            Some(Entry::Running { .. }) => Arrival::Refuse(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "a request with this Idempotency-Key is still running; retry after it ends",
            )),
            Some(Entry::Done {
                status,
                content_type,
                body,
                ..
            }) => {
                let mut response = (*status, body.clone()).into_response();
                if let Some(ct) = content_type {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, ct.clone());
                }
                response
                    .headers_mut()
                    .insert(REPLAYED, HeaderValue::from_static("true"));
                Arrival::Replay(response)
            }
        }
    }
}

/// Forgets a running key unless disarmed: a first attempt that ends without an answer to
/// keep (cancelled with its connection, or answered "try again") lets the retry run.
struct Running<'a> {
    store: &'a Idempotency,
    scope: &'a str,
    armed: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.store.lock().pop(self.scope);
        }
    }
}

/// A key a client may send: 1 to 255 visible ASCII characters.
fn usable(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// What must match for a retry to be the same request: method, path, query, content type,
/// body length and, for bodies up to [`MAX_HASHED_BODY`], the body's SHA-256 (`digest`; a
/// larger body may be an upload that is streamed, never held).
fn fingerprint(request: &Request, digest: Option<&str>) -> String {
    let header = |h: &HeaderMap, name| {
        h.get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    format!(
        "{} {} {} {} {}",
        request.uri().query().unwrap_or(""),
        header(request.headers(), header::CONTENT_TYPE),
        header(request.headers(), header::CONTENT_LENGTH),
        request.method(),
        digest.unwrap_or("-"),
    )
}

/// Reads a body of a declared length up to [`MAX_HASHED_BODY`] and returns its SHA-256 with
/// the request rebuilt around it; larger or unsized bodies pass untouched.
async fn hash_small_body(request: Request) -> Result<(Option<String>, Request), ApiError> {
    use sha2::Digest as _;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if !declared.is_some_and(|n| n <= MAX_HASHED_BODY) {
        return Ok((None, request));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_HASHED_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("the request body could not be read: {e}")))?;
    let digest = format!("{:x}", sha2::Sha256::digest(&bytes));
    Ok((Some(digest), Request::from_parts(parts, Body::from(bytes))))
}

/// Middleware: answers a POST that carries an `Idempotency-Key` seen before from memory.
pub async fn guard(
    State(store): State<Arc<Idempotency>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let Some(key) = key.to_str().ok().filter(|k| usable(k)) else {
        return ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
            .into_response();
    };
    let scope = format!("{} {key}", request.uri().path());
    let (digest, request) = match hash_small_body(request).await {
        Ok(hashed) => hashed,
        Err(e) => return e.into_response(),
    };
    match store.arrive(&scope, &fingerprint(&request, digest.as_deref())) {
        Arrival::Run => {}
        Arrival::Replay(response) => return response,
        Arrival::Refuse(e) => return e.into_response(),
    }
    let mut running = Running {
        store: &store,
        scope: &scope,
        armed: true,
    };
    let response = next.run(request).await;
    let status = response.status();
    let size = response.body().size_hint().exact();
    let keep = !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
        && size.is_some_and(|n| n <= MAX_KEPT_BODY as u64);
    if !keep {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_KEPT_BODY).await else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the answer could not be read back",
        )
        .into_response();
    };
    let mut entries = store.lock();
    if let Some(entry) = entries.get_mut(&scope) {
        let fingerprint = match entry {
            Entry::Running { fingerprint } | Entry::Done { fingerprint, .. } => {
                std::mem::take(fingerprint)
            }
        };
        *entry = Entry::Done {
            fingerprint,
            at: Instant::now(),
            status,
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
            body: body.clone(),
        };
        running.armed = false;
    }
    drop(entries);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, len: &str) -> Request {
        Request::builder()
            .method("POST")
            .uri(format!("/v1/x?{query}"))
            .header(header::CONTENT_LENGTH, len)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn a_key_runs_once_then_replays_and_refuses_another_request() {
        let store = Idempotency::default();
        let f = fingerprint(&request("mode=append", "10"), Some("ab"));
        assert!(matches!(store.arrive("/v1/x k", &f), Arrival::Run));
        // While it runs, a retry is told to wait.
        match store.arrive("/v1/x k", &f) {
            Arrival::Refuse(e) => assert_eq!(e.status(), StatusCode::CONFLICT),
            _ => panic!("a running key must be refused"),
        }
        // Another request under the same key.
        let other = fingerprint(&request("mode=replace", "10"), Some("ab"));
        assert_ne!(f, fingerprint(&request("mode=append", "10"), Some("cd")));
        match store.arrive("/v1/x k", &other) {
            Arrival::Refuse(e) => assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY),
            _ => panic!("a reused key must be refused"),
        }
        // A cancelled first attempt frees the key.
        drop(Running {
            store: &store,
            scope: "/v1/x k",
            armed: true,
        });
        assert!(matches!(store.arrive("/v1/x k", &f), Arrival::Run));
        assert!(!usable("") && !usable("a b") && usable("retry-1"));
    }
}
