//! Prometheus metrics: requests, latencies and errors per route, and the embedding cache.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Latency histogram bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Counters shared by every request.
#[derive(Default)]
pub struct Metrics {
    /// (method, route) → latency series.
    latency: Mutex<BTreeMap<(String, String), Series>>,
    /// (method, route, status) → count.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let s = latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition; `extra` is appended (gauges owned elsewhere).
    pub fn render(&self, extra: &str) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        out.push_str("# HELP lakehouse_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE lakehouse_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((method, route, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "lakehouse_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP lakehouse_http_errors_total HTTP responses with status >= 400.\n");
        out.push_str("# TYPE lakehouse_http_errors_total counter\n");
        for ((method, route, status), n) in requests.iter().filter(|(k, _)| k.2 >= 400) {
            let _ = writeln!(
                out,
                "lakehouse_http_errors_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        drop(requests);
        out.push_str("# HELP lakehouse_http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE lakehouse_http_request_duration_seconds histogram\n");
        let latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        for ((method, route), s) in latency.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "lakehouse_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "lakehouse_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "lakehouse_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "lakehouse_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out.push_str(extra);
        out
    }
}

/// Middleware: times each matched request.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record("GET", "/v1/health", 200, 0.0007);
        m.record("POST", "/v1/sql", 400, 0.02);
        let text = m.render("lakehouse_embed_cache_hits_total 3\n");
        assert!(text.contains(
            "lakehouse_http_requests_total{method=\"GET\",route=\"/v1/health\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "lakehouse_http_errors_total{method=\"POST\",route=\"/v1/sql\",status=\"400\"} 1"
        ));
        assert!(text.contains(
            "lakehouse_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/health\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "lakehouse_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/health\",le=\"0.0005\"} 0"
        ));
        assert!(text.ends_with("lakehouse_embed_cache_hits_total 3\n"));
    }
}
