//! The HTTP server: every capability of lakehouse-core under `/v1`, JSON in and out.
//!
//! Translation only: handlers (`routes.rs`) call core and map its one error type once
//! ([`error`]). Around them: request ids ([`request_id`]), access rules ([`auth`]: bearer
//! token, client networks), replays of retried writes ([`idempotency`]), metrics
//! ([`metrics`]), a time limit and body limits on every route, pages for listings
//! ([`page`]), and a graceful shutdown (with an optional drain delay during which `/readyz`
//! answers 503) that flushes the vector indexes. The routes are documented in the OpenAPI
//! document served at `/v1/openapi.json` ([`openapi`]), generated from the types of the
//! bodies they read and answer (core's and [`bodies`]).

pub mod auth;
pub mod bodies;
mod connections;
pub mod error;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod request_id;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use ipnet::IpNet;
use lakehouse_core::embed::CacheStats;
use lakehouse_core::{Error, Lakehouse, Result};
use lakehouse_mcp::{HttpOptions, McpOptions};
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (127.0.0.1:3110 by default).
    pub bind: SocketAddr,
    /// Bearer token every request but `/health` must carry; required off loopback.
    pub token: Option<String>,
    /// Client networks allowed to connect; empty allows all.
    pub allow: Vec<IpNet>,
    /// Longest a request may take.
    pub timeout: Duration,
    /// Longest a client may take to send a request's headers before it is disconnected
    /// (10 s by default): a client that never finishes them holds no connection for long.
    pub header_timeout: Duration,
    /// Largest JSON body (vector batches, SQL, …).
    pub max_body: usize,
    /// Largest upload (storage objects, ingested files).
    pub max_upload: usize,
    /// Storage uploads allowed at once; the next gets 503 + `Retry-After`.
    pub max_concurrent_uploads: usize,
    /// The MCP tools at `/mcp`: read-only unless writes are allowed there.
    pub mcp: McpOptions,
    /// After SIGTERM, how long the server goes on serving while `/readyz` answers 503, so
    /// that a load balancer stops sending requests before the listener closes (0 by
    /// default: stop accepting at once).
    pub drain_delay: Duration,
    /// Browser origins allowed to call the API (CORS): `https://app.example.com`, or `*`
    /// for any. Empty (the default): no CORS headers, so browsers keep pages of other
    /// origins out. Preflight requests are answered before the token check, as browsers
    /// send them without credentials.
    pub cors_origins: Vec<String>,
    /// Compress responses (gzip or zstd, as the client's `Accept-Encoding` asks; on by
    /// default). Compressed request bodies (`Content-Encoding: gzip` / `zstd`) are always
    /// read, within the same body limits counted after decompression.
    pub compression: bool,
    /// An application's own routes, served beside the API behind the same access rules,
    /// time limit, JSON body limit, request ids, idempotency and metrics (none by default):
    /// how an application extends the server without forking it. Handlers answer errors in
    /// the API's shape with [`error::ApiError`] and read bodies with [`error::Json`]. The
    /// router carries its own state and must not set a fallback.
    pub routes: Router,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3110)),
            token: None,
            allow: Vec::new(),
            timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            max_body: 64 * 1024 * 1024,
            max_upload: 256 * 1024 * 1024,
            max_concurrent_uploads: 4,
            mcp: McpOptions::default(),
            drain_delay: Duration::ZERO,
            cors_origins: Vec::new(),
            compression: true,
            routes: Router::new(),
        }
    }
}

impl ServerConfig {
    /// Refuses settings that would expose the lakehouse: a non-loopback address without a
    /// token.
    pub fn validate(&self) -> Result<()> {
        let has_token = self.token.as_deref().is_some_and(|t| !t.is_empty());
        if !self.bind.ip().is_loopback() && !has_token {
            return Err(Error::InvalidInput(format!(
                "refusing to listen on {} without a token: set --token (or LAKEHOUSE_TOKEN), \
                 or bind 127.0.0.1",
                self.bind
            )));
        }
        if self.header_timeout.is_zero() {
            return Err(Error::InvalidInput("header_timeout must be above 0".into()));
        }
        if self.max_concurrent_uploads == 0 {
            return Err(Error::InvalidInput(
                "max_concurrent_uploads must be at least 1".into(),
            ));
        }
        self.cors()?;
        Ok(())
    }

    /// The CORS layer of [`Self::cors_origins`]; `None` when there are none.
    fn cors(&self) -> Result<Option<CorsLayer>> {
        use axum::http::{HeaderName, HeaderValue, Method, header};
        if self.cors_origins.is_empty() {
            return Ok(None);
        }
        let origins = if self.cors_origins.iter().any(|o| o == "*") {
            if self.cors_origins.len() > 1 {
                return Err(Error::InvalidInput(
                    "CORS origin `*` allows every origin; give it alone".into(),
                ));
            }
            AllowOrigin::any()
        } else {
            let values = self
                .cors_origins
                .iter()
                .map(|o| {
                    let origin = o.parse::<axum::http::Uri>().ok().filter(|u| {
                        matches!(u.scheme_str(), Some("http" | "https"))
                            && u.authority().is_some()
                            && u.path_and_query().is_none_or(|p| p.as_str() == "/")
                            && !o.ends_with('/')
                    });
                    origin
                        .and_then(|_| HeaderValue::from_str(o).ok())
                        .ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "{o:?} is not a CORS origin: scheme://host[:port], as \
                             https://app.example.com, or *"
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            AllowOrigin::list(values)
        };
        Ok(Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::CONTENT_ENCODING,
                    header::ACCEPT,
                    HeaderName::from_static(request_id::HEADER),
                    HeaderName::from_static(idempotency::HEADER),
                ])
                .expose_headers([
                    HeaderName::from_static(request_id::HEADER),
                    header::RETRY_AFTER,
                ])
                .max_age(Duration::from_secs(3600)),
        ))
    }
}

/// What every handler shares.
pub struct AppState {
    /// The lakehouse served.
    pub lh: Lakehouse,
    /// Permits for concurrent storage uploads.
    pub uploads: Arc<Semaphore>,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Largest upload, in bytes.
    pub max_upload: usize,
    /// Set once a shutdown began: `/readyz` answers 503.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    /// Cache counters of the embedder, when it is loaded.
    pub fn embedder_stats(&self) -> Option<CacheStats> {
        self.lh.loaded_embedder().and_then(|e| e.cache_stats())
    }
}

/// The application: routes, limits and middleware, ready to serve. The MCP tools are
/// mounted at `/mcp` (streamable HTTP) behind the same access rules; fails on MCP options
/// that do not hold (an allowed folder that does not exist).
pub fn router(lh: Lakehouse, config: &ServerConfig) -> Result<Router> {
    app(lh, config, Arc::default())
}

/// [`router`] with the flag a shutdown sets.
fn app(lh: Lakehouse, config: &ServerConfig, draining: Arc<AtomicBool>) -> Result<Router> {
    use routes as r;
    let mcp = lakehouse_mcp::http_service(
        lh.clone(),
        config.mcp.clone(),
        &HttpOptions {
            max_body: config.max_body,
            // With a token every request is authenticated, so any Host may be used; without
            // one (loopback only) rebinding guards stay on.
            any_host: config.token.as_deref().is_some_and(|t| !t.is_empty()),
        },
    )?;
    let state = Arc::new(AppState {
        lh,
        uploads: Arc::new(Semaphore::new(config.max_concurrent_uploads)),
        metrics: Arc::default(),
        max_upload: config.max_upload,
        draining,
    });
    let metrics = state.metrics.clone();
    let access = Arc::new(auth::Access::new(
        config.token.as_deref(),
        config.allow.clone(),
    ));
    let uploads = Router::new()
        .route(
            "/v1/storage/{*key}",
            get(r::storage_get)
                .put(r::storage_put)
                .delete(r::storage_delete),
        )
        .route(
            "/v1/datasets/{name}",
            get(r::manifest).post(r::ingest).delete(r::drop_dataset),
        )
        .layer(DefaultBodyLimit::max(config.max_upload));
    let api = Router::new()
        .route("/health", get(r::health))
        .route("/v1/health", get(r::health))
        .route("/readyz", get(r::ready))
        .route("/v1/readyz", get(r::ready))
        .route("/metrics", get(r::metrics))
        .route("/v1/metrics", get(r::metrics))
        .route("/v1/openapi.json", get(r::openapi))
        .route("/v1/storage", get(r::storage_list))
        .route("/v1/datasets", get(r::datasets))
        .route("/v1/datasets/{name}/versions", get(r::versions))
        .route("/v1/datasets/{name}/delete", post(r::delete_rows))
        .route("/v1/datasets/{name}/optimize", post(r::optimize))
        .route("/v1/sql", post(r::sql))
        .route("/v1/embed", post(r::embed))
        .route("/v1/embeddings", post(r::embeddings))
        .route("/v1/embed/stats", get(r::embed_stats))
        .route("/v1/indexes", get(r::indexes).post(r::index_create))
        .route(
            "/v1/indexes/{name}",
            get(r::index_info).delete(r::index_delete),
        )
        .route("/v1/indexes/{name}/add", post(r::index_add))
        .route("/v1/indexes/{name}/search", post(r::index_search))
        .route("/v1/indexes/{name}/records", get(r::index_records))
        .route("/v1/indexes/{name}/remove", post(r::index_remove))
        .route("/v1/matrix/search", post(r::matrix_search))
        .route("/v1/playbook", delete(r::playbook_drop))
        .route("/v1/playbook/record", post(r::playbook_record))
        .route("/v1/playbook/record/bulk", post(r::playbook_bulk))
        .nest_service("/mcp", mcp)
        .layer(DefaultBodyLimit::max(config.max_body));
    let application = config
        .routes
        .clone()
        .layer(DefaultBodyLimit::max(config.max_body));
    let cors = config.cors()?;
    let router = api
        .merge(uploads)
        .fallback(r::not_found)
        .with_state(state)
        .merge(application)
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(idempotency::Idempotency::default()),
            idempotency::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(access, auth::guard))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.timeout,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    uri = %request.uri(),
                    request_id = %request_id::of(request),
                )
            }),
        )
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(request_id::assign));
    let router = if config.compression {
        // Not what is compressed already: Parquet, stored objects, images.
        let worth = DefaultPredicate::new()
            .and(NotForContentType::const_new(
                "application/vnd.apache.parquet",
            ))
            .and(NotForContentType::const_new("application/octet-stream"));
        router.layer(CompressionLayer::new().compress_when(worth))
    } else {
        router
    };
    // Outermost: a preflight is answered before the access rules, which it carries no
    // token for; every answer (errors too) carries the CORS headers.
    Ok(match cors {
        Some(cors) => router.layer(cors),
        None => router,
    })
}

/// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests and flushes every
/// vector index. `ready` is called with the bound address once the server listens.
pub async fn serve(
    lh: Lakehouse,
    config: ServerConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, root = lh.storage().description(), "listening");
    ready(addr);
    let draining = Arc::new(AtomicBool::new(false));
    let app = app(lh.clone(), &config, draining.clone())?;
    let (delay, flag) = (config.drain_delay, draining);
    let shutdown = async move {
        shutdown_signal().await;
        flag.store(true, Ordering::SeqCst);
        if !delay.is_zero() {
            tracing::info!(
                ?delay,
                "draining: /readyz answers 503 before the listener closes"
            );
            tokio::time::sleep(delay).await;
        }
    };
    connections::serve(listener, app, config.header_timeout, shutdown).await;
    tracing::info!("shutting down: flushing vector indexes");
    lh.flush().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
