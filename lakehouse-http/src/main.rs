//! `lakehouse`: the command line over lakehouse-core.
//!
//! Translation only: arguments become core calls, core results become text. The HTTP
//! server (`serve`) and the embedding and index commands arrive with their issues.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lakehouse_core::{Format, IngestMode, IngestOptions, Lakehouse, Result};

mod demo;

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
    let lh = Lakehouse::open(&cli.root).await?;
    match cli.command {
        Command::Demo => demo::run(&lh).await,
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
