//! Who may call: a bearer token (compared in constant time) and an optional allow-list of
//! client networks. `/health` and `/readyz` are open to all, so load balancers can probe them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The access rules.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Required bearer token; `None` turns token checks off.
    token_digest: Option<[u8; 32]>,
    /// Networks clients may connect from; empty allows all.
    allow: Vec<IpNet>,
}

impl Access {
    /// Rules from an optional token and an allow-list.
    pub fn new(token: Option<&str>, allow: Vec<IpNet>) -> Self {
        Self {
            token_digest: token.filter(|t| !t.is_empty()).map(digest),
            allow,
        }
    }

    /// Whether a token is required.
    pub fn has_token(&self) -> bool {
        self.token_digest.is_some()
    }

    fn check(&self, addr: &SocketAddr, authorization: Option<&str>) -> Result<(), ApiError> {
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(&addr.ip())) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{} is not in the allowed networks", addr.ip()),
            ));
        }
        let Some(want) = &self.token_digest else {
            return Ok(());
        };
        let given = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(|t| digest(t.trim()));
        // Comparing digests keeps the comparison constant-time and length-blind.
        match given {
            Some(got) if bool::from(got.ct_eq(want)) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token",
            )),
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Middleware: refuses requests the rules do not allow.
pub async fn guard(
    State(access): State<Arc<Access>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if matches!(path, "/health" | "/v1/health" | "/readyz" | "/v1/readyz") {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match access.check(&addr, authorization) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            let unauthorized = e.status() == StatusCode::UNAUTHORIZED;
            let mut response = e.into_response();
            if unauthorized {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> SocketAddr {
        format!("{ip}:1234").parse().unwrap()
    }

    #[test]
    fn token_and_networks() {
        let open = Access::new(None, vec![]);
        assert!(open.check(&addr("10.1.2.3"), None).is_ok());
        let empty_token = Access::new(Some(""), vec![]);
        assert!(!empty_token.has_token());

        let a = Access::new(Some("s3cret"), vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(a.check(&addr("127.0.0.1"), Some("Bearer s3cret")).is_ok());
        for bad in [
            None,
            Some("Bearer nope"),
            Some("s3cret"),
            Some("Bearer s3cre"),
        ] {
            let e = a.check(&addr("127.0.0.1"), bad).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        }
        let e = a
            .check(&addr("192.168.1.5"), Some("Bearer s3cret"))
            .unwrap_err();
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
    }
}
