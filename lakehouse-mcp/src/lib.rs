//! # lakehouse-mcp
//!
//! The lakehouse as a [Model Context Protocol](https://modelcontextprotocol.io) server for AI
//! agents, on `rmcp`: the core runs in process, so `lakehouse mcp` (stdio) needs no server,
//! and [`http_service`] mounts the same tools on `lakehouse serve` at `/mcp`.
//!
//! - **Tools**: `list_datasets`, `get_manifest`, `query_sql`, `list_indexes`, `embed_text`,
//!   `search_vectors`, `matrix_search`, and, with [`McpOptions::allow_writes`],
//!   `record_playbook` and `ingest` (files only from [`McpOptions::allow_dirs`]). Each has a
//!   JSON Schema for its input and output, generated from the Rust types (core's own wire
//!   types for results), annotations (read-only, idempotent), structured output and a short
//!   text form.
//! - **Resources**: `lakehouse://datasets/{name}` (schema, versions, 20 sample rows) and
//!   `lakehouse://indexes/{name}` (spec and count).
//! - **Errors**: a bad argument is a JSON-RPC invalid-params error naming the field; a core
//!   error (not found, conflict, refused SQL, timeout…) is a result with `isError` and the
//!   error's kind. Every call runs on its own task under a time limit (30 s) and a result
//!   cap (16 MiB); a panic inside one becomes an `internal` error result.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lakehouse_mcp::{LakehouseMcp, McpOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
//! lh.dataset("people").write("id,name\n1,Ada\n", &Default::default()).await.unwrap();
//! let server = LakehouseMcp::new(lh, McpOptions::default()).unwrap();
//! let args = serde_json::json!({"sql": "SELECT name FROM people"});
//! let result = server.call("query_sql", args.as_object().unwrap().clone()).await.unwrap();
//! assert_eq!(result.structured_content.unwrap()["rows"][0][0], "Ada");
//! # });
//! ```

#![warn(missing_docs)]

mod options;
mod resources;
mod server;
mod tools;

use std::sync::Arc;

use lakehouse_core::{Error, Lakehouse, Remedy, Result};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use options::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_RESULT_BYTES, DEFAULT_MAX_ROWS, DEFAULT_ROWS, McpOptions,
};
pub use server::LakehouseMcp;

/// A core error's message as a server (MCP, HTTP) reports it: with the step that resolves
/// it, said as its operator takes it (core's messages name no wrapper's command).
pub fn server_message(e: &Error) -> String {
    match e.remedy() {
        Some(Remedy::InstallModel) => {
            format!("{e} (where the server runs: `lakehouse model install`)")
        }
        Some(Remedy::Migrate) => format!("{e} (where the server runs: `lakehouse migrate`)"),
        _ => e.to_string(),
    }
}

/// Serves `lh` over standard input and output until the client closes the stream. Nothing
/// else may write to standard output meanwhile (log to standard error).
pub async fn serve_stdio(lh: Lakehouse, options: McpOptions) -> Result<()> {
    let server = LakehouseMcp::new(lh, options)?;
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| Error::InvalidInput(format!("MCP session did not start: {e}")))?;
    running.waiting().await?;
    Ok(())
}

/// How the HTTP transport checks its callers, besides the server's own auth.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Largest request body, in bytes (rmcp's default when 0).
    pub max_body: usize,
    /// Whether to accept any `Host` header. Off, only loopback names are accepted, which
    /// guards a token-less server on 127.0.0.1 against DNS rebinding; turn it on when the
    /// server requires a bearer token (it then guards every request).
    pub any_host: bool,
}

/// The streamable-HTTP transport as a tower service, to mount at `/mcp` in an axum router
/// (`Router::nest_service("/mcp", …)`). Stateless: each POST is answered with JSON, so it
/// works behind any load balancer; fails like [`LakehouseMcp::new`].
pub fn http_service(
    lh: Lakehouse,
    options: McpOptions,
    http: &HttpOptions,
) -> Result<StreamableHttpService<LakehouseMcp, LocalSessionManager>> {
    let server = LakehouseMcp::new(lh, options)?;
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None);
    if http.max_body > 0 {
        config = config.with_max_request_body_bytes(http.max_body);
    }
    if http.any_host {
        config = config.disable_allowed_hosts();
    }
    Ok(StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    ))
}
