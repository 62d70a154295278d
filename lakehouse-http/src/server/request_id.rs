//! Request ids: every response carries `x-request-id`, the client's own when it sent a usable
//! one (so that a proxy's or a caller's id follows the request through), else a new UUID.
//! The same id is a field of the request's log span and of every error body, so that a
//! user's report ("request … failed") leads to the log lines of that request.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The header that carries the id, both ways.
pub const HEADER: &str = "x-request-id";

/// Longest id taken from a client; a longer one is replaced by a new id.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The id a request carries (after [`assign`] ran, always one).
pub fn of(request: &Request) -> &str {
    request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// Middleware: gives the request its id (kept from the client when usable: 1 to 128
/// visible ASCII characters), runs it with the id in scope, and sets it on the response.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| usable(s))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let value = HeaderValue::from_str(&id).expect("a usable id is a valid header value");
    request.headers_mut().insert(HEADER, value.clone());
    let mut response = CURRENT.scope(id, next.run(request)).await;
    response.headers_mut().insert(HEADER, value);
    response
}

fn usable(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_visible_ascii_ids_are_kept() {
        assert!(usable("abc-123_XYZ.9"));
        assert!(usable(&"a".repeat(MAX_LEN)));
        for bad in ["", "with space", "tab\t", "é", &"a".repeat(MAX_LEN + 1)] {
            assert!(!usable(bad), "{bad:?}");
        }
    }
}
