//! `staffing build --workers N [--root DIR]`: generates and embeds the corpus (resumable,
//! with a progress bar). `staffing serve [--root DIR] [--bind ADDR] [--token T]`: the
//! lakehouse HTTP API plus the validators.

use std::net::SocketAddr;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lakehouse_core::Lakehouse;
use lakehouse_http::server::{self, ServerConfig};
use staffing::{corpus, routes};

#[derive(Parser)]
#[command(about = "The staffing co-pilot on lakehouse")]
struct Cli {
    /// The lakehouse: a folder or s3://bucket/prefix.
    #[arg(
        long,
        global = true,
        env = "LAKEHOUSE_ROOT",
        default_value = "staffing-data"
    )]
    root: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generates N workers and their clients, and embeds the workers (resumes when run again).
    Build {
        /// Workers to generate.
        #[arg(long, default_value_t = 100_000)]
        workers: u64,
    },
    /// Serves the lakehouse API and `POST /v1/validate/{fill,email,sms}`.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3110")]
        bind: SocketAddr,
        /// Bearer token every request must carry (required off loopback).
        #[arg(long, env = "LAKEHOUSE_TOKEN")]
        token: Option<String>,
    },
}

fn main() {
    lakehouse_http::memory::limit_malloc_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(start());
}

async fn start() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> lakehouse_core::Result<()> {
    let lh = Lakehouse::open(&cli.root).await?;
    match cli.command {
        Command::Build { workers } => {
            let started = Instant::now();
            let bar = ProgressBar::new(workers);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} embedded ({per_sec}, eta {eta})",
                )
                .expect("a valid template"),
            );
            let progress = |p: &lakehouse_core::indexer::EmbedProgress| {
                bar.set_length(p.total);
                bar.set_position(p.done);
            };
            let report = corpus::build(&lh, workers, &progress).await?;
            bar.finish();
            let e = &report.embedding;
            println!(
                "corpus in {}: {} workers, {} clients; index {}: {} vectors ({} embedded now, {} already there) in {:.1} s",
                cli.root,
                report.workers,
                report.clients,
                corpus::INDEX,
                e.index.count,
                e.embedded,
                e.skipped_existing + e.unchanged,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Serve { bind, token } => {
            lakehouse_http::memory::trim_malloc_periodically();
            let config = ServerConfig {
                bind,
                token,
                routes: routes::routes(lh.clone()),
                ..ServerConfig::default()
            };
            server::serve(lh, config, |addr| {
                use std::io::Write;
                println!("listening on http://{addr}");
                let _ = std::io::stdout().flush();
            })
            .await
        }
    }
}
