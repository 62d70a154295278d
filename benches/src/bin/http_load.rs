//! HTTP load generator: starts the server in process on a loopback port, then drives it
//! with N keep-alive connections for a fixed time per case, printing requests/s and
//! p50/p99 for vector search (by text, embedding cached), matrix search and SQL, at 10 and
//! 50 connections.
//!
//! `target/release/http_load [ROWS] [SECONDS]`: the corpus is the `bulk_index` bench's
//! lakehouse of ROWS profiles (default 100000) when it exists, else one of ROWS profiles
//! embedded first (resumable). SECONDS (default 8) per case.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lakehouse_benches::{QUERY_PLACES, QUERY_ROLES, corpus_root, profile_corpus};
use lakehouse_http::server::{self, ServerConfig};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive connection speaking just enough HTTP/1.1.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream: BufReader::new(stream),
        }
    }

    /// Sends one POST and returns the status.
    async fn post(&mut self, path: &str, body: &[u8]) -> u16 {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await.expect("write");
        s.write_all(body).await.expect("write");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status code");
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.expect("body");
        status
    }
}

async fn run_case(
    addr: std::net::SocketAddr,
    name: &str,
    connections: usize,
    seconds: f64,
    request: Arc<dyn Fn(usize) -> (String, Vec<u8>) + Send + Sync>,
) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                let (mut latencies, mut failures) = (Vec::new(), 0usize);
                let mut n = c;
                while Instant::now() < deadline {
                    let (path, body) = request(n);
                    n += connections;
                    let t0 = Instant::now();
                    let status = conn.post(&path, &body).await;
                    latencies.push(t0.elapsed());
                    if status != 200 {
                        failures += 1;
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let (mut all, mut failures) = (Vec::new(), 0);
    for t in tasks {
        let (l, f) = t.await.expect("connection task");
        all.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{name:<28} {connections:>2} connections: {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {failures} failed)",
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        all.len()
    );
}

#[tokio::main]
async fn main() -> lakehouse_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(100_000, |s| s.parse().expect("ROWS"));
    let seconds: f64 = args.next().map_or(8.0, |s| s.parse().expect("SECONDS"));
    let root = corpus_root(rows);
    let (lh, _) = profile_corpus(&root, rows, &|_| {}).await?;
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().expect("address"),
        ..ServerConfig::default()
    };
    // The server as `lakehouse serve` runs it, in this process.
    let (listening, addr) = tokio::sync::oneshot::channel();
    let served = lh.clone();
    tokio::spawn(async move {
        server::serve(served, config, move |addr| {
            let _ = listening.send(addr);
        })
        .await
        .expect("serve");
    });
    let addr = addr.await.expect("the server started");
    let query = |i: usize| format!("{} {}", QUERY_ROLES[i % 16], QUERY_PLACES[(i / 16) % 16]);
    // Warm the model, the index and the embedding cache for the 64 queries used.
    let mut warm = Conn::open(addr).await;
    for i in 0..64 {
        let body = json!({"text": query(i), "k": 10}).to_string();
        assert_eq!(
            warm.post("/v1/indexes/workers/search", body.as_bytes())
                .await,
            200
        );
    }
    println!(
        "server on {addr}, corpus {rows} profiles (384-d), {} cores, {seconds} s per case",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for connections in [10, 50] {
        run_case(
            addr,
            "search (text, cached)",
            connections,
            seconds,
            Arc::new(move |i| {
                let body = json!({"text": query(i % 64), "k": 10});
                (
                    "/v1/indexes/workers/search".into(),
                    body.to_string().into_bytes(),
                )
            }),
        )
        .await;
        run_case(
            addr,
            "matrix search + playbook",
            connections,
            seconds,
            Arc::new(move |i| {
                let body = json!({"query_text": query(i % 64), "corpora": ["workers"], "k": 10, "use_playbook": true});
                ("/v1/matrix/search".into(), body.to_string().into_bytes())
            }),
        )
        .await;
        run_case(
            addr,
            "sql (point lookup)",
            connections,
            seconds,
            Arc::new(move |i| {
                let body = json!({"sql": format!("SELECT name, city, state FROM workers WHERE id = {}", i % rows as usize + 1)});
                ("/v1/sql".into(), body.to_string().into_bytes())
            }),
        )
        .await;
        run_case(
            addr,
            "sql (group by state)",
            connections,
            seconds,
            Arc::new(|_| {
                let body = json!({"sql": "SELECT state, count(*) AS n FROM workers GROUP BY state ORDER BY n DESC"});
                ("/v1/sql".into(), body.to_string().into_bytes())
            }),
        )
        .await;
    }
    Ok(())
}
