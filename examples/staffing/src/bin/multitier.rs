//! The multitier load test:
//! `multitier --workers N --clients C --duration SECS [--rate R] [--url URL] [--unique-queries]`.
//!
//! In process by default: opens the lakehouse at `--root` (building a corpus of N workers
//! there first when it has none) and calls the library. With `--url`, drives a
//! `staffing serve` over HTTP (the corpus is the server's). Closed loop with C clients, or
//! open loop at R scenarios/s with `--rate`. Ends with `scenarios/s: X, failures: Y`.

use std::time::Duration;

use clap::Parser;
use lakehouse_core::Lakehouse;
use staffing::corpus;
use staffing::load::{self, LoadOptions, Target};

#[derive(Parser)]
#[command(about = "The staffing co-pilot's multitier load test")]
struct Args {
    /// Workers in the corpus (built in process when the root has none).
    #[arg(long, default_value_t = 100_000)]
    workers: u64,
    /// Concurrent clients (closed loop).
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Seconds during which scenarios start.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Open loop: scenarios started per second (Poisson arrivals).
    #[arg(long)]
    rate: Option<f64>,
    /// A server to drive over HTTP instead of the library in process.
    #[arg(long)]
    url: Option<String>,
    /// Bearer token for `--url`.
    #[arg(long, env = "LAKEHOUSE_TOKEN")]
    token: Option<String>,
    /// Every query a new text (the embedding-bound case).
    #[arg(long)]
    unique_queries: bool,
    /// The lakehouse of the in-process run.
    #[arg(long, env = "LAKEHOUSE_ROOT", default_value = "staffing-data")]
    root: String,
    /// Seed of the scenario choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() {
    // The in-process run is the application: the same memory hygiene as the server.
    lakehouse_http::memory::limit_malloc_arenas();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    if !(args.duration > 0.0 && args.duration.is_finite()) {
        return Err(format!(
            "--duration must be a positive number of seconds, not {}",
            args.duration
        ));
    }
    lakehouse_http::memory::trim_malloc_periodically();
    let target = match &args.url {
        Some(url) => Target::remote(url, args.token.clone()),
        None => {
            let lh = Lakehouse::open(&args.root)
                .await
                .map_err(|e| e.to_string())?;
            let built = lh
                .vectors()
                .get(corpus::INDEX)
                .await
                .is_ok_and(|ix| ix.len() as u64 >= args.workers);
            if !built {
                eprintln!(
                    "building a corpus of {} workers in {} (resumable)…",
                    args.workers, args.root
                );
                let progress = |p: &lakehouse_core::indexer::EmbedProgress| {
                    if p.done % 10_000 < 256 {
                        eprintln!("  {}/{} embedded", p.done, p.total);
                    }
                };
                corpus::build(&lh, args.workers, &progress)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Target::local(lh)
        }
    };
    let options = LoadOptions {
        clients: args.clients,
        duration: Duration::from_secs_f64(args.duration),
        rate: args.rate,
        unique_queries: args.unique_queries,
        seed: args.seed,
    };
    let workers = target.workers().await?;
    println!(
        "multitier: {} workers, {}, {} s, {}, queries {}",
        workers,
        match args.rate {
            Some(r) => format!("open loop at {r}/s"),
            None => format!("{} clients, closed loop", args.clients),
        },
        args.duration,
        args.url
            .as_deref()
            .map_or("in process".to_string(), |u| format!("over HTTP at {u}")),
        if args.unique_queries {
            "all new"
        } else {
            "from a pool of 1,000"
        }
    );
    let summary = load::run(target, &options).await?;
    println!("{}", summary.report());
    Ok(())
}
