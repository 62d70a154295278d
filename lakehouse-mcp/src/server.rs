//! [`LakehouseMcp`]: the MCP server handler. It parses arguments (a bad one is a JSON-RPC
//! invalid-params error naming the field), runs each call on its own task under the time
//! limit (a panic or a timeout becomes an error result, never a crash), caps the result's
//! size, and maps core's one error type to `isError` results with its kind.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use lakehouse_core::{Error, ErrorKind, Lakehouse, Result};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::McpOptions;
use crate::resources;
use crate::tools::{self, Output, ToolName};

/// What every call shares.
pub struct Shared {
    /// The lakehouse served.
    pub lh: Lakehouse,
    /// The server's settings.
    pub options: McpOptions,
    /// `options.allow_dirs`, resolved to canonical folders.
    pub allow_dirs: Vec<PathBuf>,
}

impl Shared {
    /// `Ok` when `tool` is on; otherwise why not, naming the switch that turns it on.
    pub fn enabled(&self, tool: ToolName) -> std::result::Result<(), String> {
        if tool.writes() && !self.options.allow_writes {
            return Err(format!(
                "tool `{}` writes to the lakehouse and writing tools are off: start the \
                 server with --allow-writes",
                tool.as_str()
            ));
        }
        if tool == ToolName::Ingest && self.allow_dirs.is_empty() {
            return Err(
                "tool `ingest` reads files only from folders named with --allow-dir, and \
                 none is named"
                    .to_string(),
            );
        }
        Ok(())
    }
}

/// The lakehouse as an MCP server: tools, resources, limits. Cheap to clone (one per
/// HTTP request shares the same state).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use lakehouse_mcp::{LakehouseMcp, McpOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
/// let server = LakehouseMcp::new(lh, McpOptions::default()).unwrap();
/// let names: Vec<_> = server.tools().into_iter().map(|t| t.name).collect();
/// assert!(names.iter().any(|n| n == "query_sql"));
/// assert!(!names.iter().any(|n| n == "ingest")); // writing tools are off by default
/// // Serve it with `server.serve(rmcp::transport::stdio())` (rmcp's `ServiceExt`), or
/// // over HTTP with `lakehouse_mcp::http_service`.
/// # });
/// ```
#[derive(Clone)]
pub struct LakehouseMcp {
    shared: Arc<Shared>,
    /// The tools listed, described once (`tools/list` and every call's lookup read them).
    tools: Arc<[Tool]>,
}

impl std::fmt::Debug for LakehouseMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakehouseMcp")
            .field("root", &self.shared.lh.storage().description())
            .field("options", &self.shared.options)
            .finish()
    }
}

impl LakehouseMcp {
    /// A server over `lh`; fails on bad limits or an `allow_dirs` folder that does not
    /// exist.
    pub fn new(lh: Lakehouse, options: McpOptions) -> Result<Self> {
        let allow_dirs = options.checked()?;
        let shared = Arc::new(Shared {
            lh,
            options,
            allow_dirs,
        });
        let tools = tools::listed(&shared).into();
        Ok(Self { shared, tools })
    }

    /// The tools this server lists, with their schemas and annotations.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools.to_vec()
    }

    /// Calls tool `name` with JSON `arguments`: what `tools/call` does, without a
    /// transport. `Err` is a protocol error (unknown tool, bad arguments); a core error is
    /// an `Ok` result with `is_error` set.
    pub async fn call(
        &self,
        name: &str,
        arguments: JsonObject,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call_cancellable(name, arguments, std::future::pending())
            .await
    }

    async fn call_cancellable(
        &self,
        name: &str,
        arguments: JsonObject,
        cancelled: impl Future<Output = ()>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        let Some(tool) = ToolName::parse(name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {name:?}"),
                Some(json!({ "tool": name })),
            ));
        };
        if let Err(why) = self.shared.enabled(tool) {
            return Err(ErrorData::invalid_params(
                why,
                Some(json!({ "tool": name })),
            ));
        }
        let s = self.shared.clone();
        let work: Work = match tool {
            ToolName::ListDatasets => {
                parse::<tools::NoArgs>(arguments)?;
                Box::pin(async move { tools::list_datasets(&s.lh) })
            }
            ToolName::GetManifest => {
                let a = parse(arguments)?;
                Box::pin(async move { tools::get_manifest(&s.lh, a).await })
            }
            ToolName::QuerySql => {
                let a = parse(arguments)?;
                Box::pin(async move { tools::query_sql(&s, a).await })
            }
            ToolName::ListIndexes => {
                parse::<tools::NoArgs>(arguments)?;
                Box::pin(async move { tools::list_indexes(&s.lh).await })
            }
            ToolName::EmbedText => {
                let a = parse(arguments)?;
                Box::pin(async move { tools::embed_text(&s.lh, a).await })
            }
            ToolName::SearchVectors => {
                let a = parse(arguments)?;
                Box::pin(async move { tools::search_vectors(&s.lh, a).await })
            }
            ToolName::MatrixSearch => {
                let a = parse(arguments)?;
                Box::pin(async move { tools::matrix_search(&s.lh, a).await })
            }
            ToolName::RecordPlaybook => {
                let a = parse(arguments)?;
                Box::pin(async move { tools::record_playbook(&s.lh, a).await })
            }
            ToolName::Ingest => {
                let a = parse(arguments)?;
                Box::pin(async move { tools::ingest(&s, a).await })
            }
        };
        let timeout = self.shared.options.call_timeout;
        Ok(match run_limited(timeout, work, cancelled).await {
            Ok(out) => self.result(out),
            Err(e) => error_result(&e),
        })
    }

    /// A successful result, or a `too_large` error result past the size cap.
    fn result(&self, out: Output) -> CallToolResult {
        let size = serde_json::to_vec(&out.structured).map_or(usize::MAX, |v| v.len());
        let cap = self.shared.options.max_result_bytes;
        if size > cap {
            return error_result(&Error::TooLarge {
                size: size as u64,
                limit: cap as u64,
            });
        }
        let mut result = CallToolResult::success(vec![ContentBlock::text(out.text)]);
        result.structured_content = Some(out.structured);
        result
    }

    /// What `resources/read` answers for `uri`, under the same limits as a tool call.
    pub async fn read(&self, uri: &str) -> std::result::Result<serde_json::Value, ErrorData> {
        let target = resources::parse_uri(uri)?;
        let lh = self.shared.lh.clone();
        let work = async move { resources::read(&lh, target).await };
        let value = run_limited(
            self.shared.options.call_timeout,
            work,
            std::future::pending(),
        )
        .await
        .map_err(|e| resources::read_error(uri, &e))?;
        let size = serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len());
        if size > self.shared.options.max_result_bytes {
            return Err(ErrorData::internal_error(
                format!(
                    "resource {uri} is {size} bytes, over the server's {}-byte cap",
                    self.shared.options.max_result_bytes
                ),
                Some(json!({ "kind": ErrorKind::TooLarge.as_str() })),
            ));
        }
        Ok(value)
    }
}

/// One tool call's work, owning what it uses, ready to run on its own task.
type Work = std::pin::Pin<Box<dyn Future<Output = Result<Output>> + Send>>;

/// Runs `work` on its own task: a panic becomes an internal error, the time limit a
/// timeout error, and a cancellation stops the work.
async fn run_limited<T: Send + 'static>(
    timeout: std::time::Duration,
    work: impl Future<Output = Result<T>> + Send + 'static,
    cancelled: impl Future<Output = ()>,
) -> Result<T> {
    let mut task = tokio::spawn(work);
    tokio::select! {
        joined = &mut task => match joined {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(Error::Internal(
                "the call failed unexpectedly (a panic, caught); please report it".into(),
            )),
            Err(e) => Err(Error::Internal(format!("the call's task ended: {e}"))),
        },
        () = tokio::time::sleep(timeout) => {
            task.abort();
            Err(Error::Timeout(timeout))
        }
        () = cancelled => {
            task.abort();
            Err(Error::Internal("cancelled by the client".into()))
        }
    }
}

/// Parses a call's arguments, naming the field that is wrong.
fn parse<T: DeserializeOwned>(arguments: JsonObject) -> std::result::Result<T, ErrorData> {
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." {
            // Missing and unknown fields are reported at the top: serde names them.
            inner
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_default()
        } else {
            path
        };
        let message = if field.is_empty() {
            format!("invalid arguments: {inner}")
        } else {
            format!("invalid argument `{field}`: {inner}")
        };
        ErrorData::invalid_params(message, Some(json!({ "field": field })))
    })
}

/// A core error as a tool result: `isError`, the kind and the message, as text and as
/// structured content.
fn error_result(e: &Error) -> CallToolResult {
    let kind = e.kind().as_str();
    let message = crate::server_message(e);
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!("{kind}: {message}"))]);
    result.structured_content = Some(json!({ "error": { "kind": kind, "message": message } }));
    result
}

const INSTRUCTIONS: &str = "A lakehouse: versioned datasets you can query with read-only SQL \
(query_sql), vector indexes you can search by meaning (search_vectors, matrix_search), and a \
local embedding model (embed_text). Start with list_datasets and list_indexes; \
get_manifest shows a dataset's columns and versions. Resources lakehouse://datasets/{name} \
and lakehouse://indexes/{name} describe each one.";

impl ServerHandler for LakehouseMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("lakehouse", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let ct = context.ct.clone();
        let result = self
            .call_cancellable(
                &request.name,
                request.arguments.unwrap_or_default(),
                async move { ct.cancelled().await },
            )
            .await?;
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListResourcesResult, ErrorData> {
        let items = resources::list(&self.shared.lh)
            .await
            .map_err(|e| resources::read_error("lakehouse://", &e))?;
        Ok(ListResourcesResult::with_all_items(items))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ReadResourceResponse, ErrorData> {
        let value = self.read(&request.uri).await?;
        Ok(resources::contents(&request.uri, &value).into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_call_cannot_take_the_server_down() {
        let long = Duration::from_secs(30);
        // A panic inside a call is an internal error, not a crash.
        let r: Result<()> =
            run_limited(long, async { panic!("boom") }, std::future::pending()).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Internal);
        // Past the limit the work is stopped and the call is a timeout.
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let r: Result<()> = run_limited(
            Duration::from_millis(50),
            async move {
                let _keep = tx;
                std::future::pending::<()>().await;
                Ok(())
            },
            std::future::pending(),
        )
        .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);
        // The aborted work was dropped: its sender is gone.
        tokio::time::timeout(long, async {
            while rx.try_recv() == Err(tokio::sync::oneshot::error::TryRecvError::Empty) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        // A client's cancellation stops the work too.
        let r: Result<()> = run_limited(long, std::future::pending(), async {}).await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Internal);
        // And an answer passes through.
        assert_eq!(
            run_limited(long, async { Ok(7) }, std::future::pending())
                .await
                .unwrap(),
            7
        );
    }
}
