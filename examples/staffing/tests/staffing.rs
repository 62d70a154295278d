//! The co-pilot end to end: its validate routes inside lakehouse-http's server (auth, limits,
//! error shape, roster cached per version), and short multitier runs over a corpus of 2,000
//! workers, in process and over HTTP, that must not fail once.

use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_core::{IngestMode, IngestOptions, Lakehouse};
use lakehouse_http::server::{self, ServerConfig};
use serde_json::{Value, json};
use staffing::generate::{self, worker};
use staffing::load::{self, LoadOptions, Scenario, Target};
use staffing::{corpus, routes};

/// Serves `lh` with the co-pilot's routes on a loopback port.
async fn serve(lh: Lakehouse, token: Option<&str>, max_body: usize) -> SocketAddr {
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        token: token.map(String::from),
        max_body,
        routes: routes::routes(lh.clone()),
        ..ServerConfig::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        server::serve(lh, config, move |addr| {
            let _ = tx.send(addr);
        })
        .await
        .unwrap();
    });
    rx.await.unwrap()
}

struct Reply {
    status: u16,
    request_id: Option<String>,
    body: Value,
}

async fn post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        request_id,
        body,
    }
}

fn active_worker(from: u64) -> generate::Worker {
    (from..).map(worker).find(|w| w.status == "active").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_routes_run_inside_the_server_with_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    lh.dataset("workers")
        .write(generate::workers_batch(1..51), &IngestOptions::default())
        .await
        .unwrap();
    lh.dataset("clients")
        .write(generate::clients_batch(20, 50), &IngestOptions::default())
        .await
        .unwrap();
    let token = Some("s3cret");
    let addr = serve(lh.clone(), token, 4096).await;

    let w = active_worker(1);
    let sms =
        |body: &str, id: &str| json!({"body": body, "_context": {"candidate_id": id}}).to_string();
    let first = w.name.split(' ').next().unwrap().to_string();
    let good = sms(
        &format!("Hi {first}, call 312-555-0143 about a shift."),
        &w.id,
    );

    // The server's access rules apply: no token, no validation, in the API's error shape.
    let refused = post(addr, "/v1/validate/sms", None, good.clone()).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"]["kind"], "unauthorized");

    let ok = post(addr, "/v1/validate/sms", token, good).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.body,
        json!({"valid": true, "errors": [], "warnings": []})
    );
    assert!(
        ok.request_id.is_some(),
        "request ids cover application routes"
    );

    let ssn = post(
        addr,
        "/v1/validate/sms",
        token,
        sms(&format!("Hi {first}, SSN 123-45-6789"), &w.id),
    )
    .await;
    assert_eq!(ssn.status, 200);
    assert_eq!(ssn.body["valid"], false);
    assert_eq!(ssn.body["errors"][0]["kind"], "policy");

    // Bad JSON and an oversized body: the API's error shape, with the request id.
    let bad = post(addr, "/v1/validate/email", token, "{not json").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["kind"], "invalid_input");
    assert_eq!(
        bad.body["error"]["request_id"].as_str(),
        bad.request_id.as_deref()
    );
    let big = sms(&"x".repeat(5000), &w.id);
    let too_large = post(addr, "/v1/validate/sms", token, big).await;
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    assert_eq!(too_large.body["error"]["kind"], "too_large");

    // A fill, against the roster and a client's blacklist.
    let fill = |id: &str, name: &str, client: &str| {
        json!({"fills": [{"candidate_id": id, "name": name}],
            "_context": {"target_count": 1, "city": w.city, "state": w.state, "role": w.role, "client_id": client}})
        .to_string()
    };
    let clean_client = (1..=20)
        .map(|i| generate::client(i, 50))
        .find(|c| !c.blacklist.contains(&w.id))
        .unwrap();
    let filled = post(
        addr,
        "/v1/validate/fill",
        token,
        fill(&w.id, &w.name, &clean_client.id),
    )
    .await;
    assert_eq!(filled.body["valid"], true, "{}", filled.body);

    // The roster follows the datasets' versions: a worker appended is known at once, and
    // a client whose blacklist now names the worker refuses them.
    let newcomer = active_worker(51);
    let n: u64 = newcomer.id[1..].parse().unwrap();
    let append = IngestOptions::mode(IngestMode::Append);
    lh.dataset("workers")
        .write(generate::workers_batch(n..n + 1), &append)
        .await
        .unwrap();
    let first_new = newcomer.name.split(' ').next().unwrap().to_string();
    let hello = post(
        addr,
        "/v1/validate/sms",
        token,
        sms(&format!("Hi {first_new}"), &newcomer.id),
    )
    .await;
    assert_eq!(hello.body["valid"], true, "{}", hello.body);
    let banning = format!(
        "id,name,city,state,blacklist\nc1,Banning Co,Denver,CO,{}\n",
        w.id
    );
    lh.dataset("clients")
        .write(banning, &IngestOptions::mode(IngestMode::Replace))
        .await
        .unwrap();
    let banned = post(addr, "/v1/validate/fill", token, fill(&w.id, &w.name, "c1")).await;
    assert_eq!(banned.body["valid"], false);
    assert_eq!(
        banned.body["errors"][0]["kind"], "policy",
        "{}",
        banned.body
    );

    // The server's own API is still there, beside the application's routes.
    let sql = post(
        addr,
        "/v1/sql",
        token,
        json!({"sql": "SELECT count(*) AS n FROM workers"}).to_string(),
    )
    .await;
    assert_eq!(sql.body["rows"][0][0], 51, "{}", sql.body);
    let unknown = post(addr, "/v1/validate/nothing", token, "{}").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error"]["kind"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multitier_runs_without_failures_in_process_and_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let lh = Lakehouse::open(&root).await.unwrap();
    let built = corpus::build(&lh, 2_000, &|_| {}).await.unwrap();
    assert_eq!((built.workers, built.embedding.index.count), (2_000, 2_000));
    // Built again: nothing to do.
    let again = corpus::build(&lh, 2_000, &|_| {}).await.unwrap();
    assert_eq!(again.embedding.embedded, 0);

    let options = LoadOptions {
        clients: 20,
        duration: Duration::from_secs(10),
        ..LoadOptions::default()
    };
    let local = load::run(Target::local(lh.clone()), &options)
        .await
        .unwrap();
    println!("in process:\n{}", local.report());
    check(&local);
    let (hits, misses) = local.cache.unwrap();
    assert!(
        hits > misses,
        "the query pool is served from the embedding cache: {hits}/{misses}"
    );

    let addr = serve(lh.clone(), Some("t0k3n"), 64 * 1024 * 1024).await;
    let remote = Target::remote(&format!("http://{addr}"), Some("t0k3n".into()));
    let over_http = load::run(remote, &options).await.unwrap();
    println!("over HTTP:\n{}", over_http.report());
    check(&over_http);

    // Open loop, and every query new: still no failure.
    let open = LoadOptions {
        rate: Some(40.0),
        unique_queries: true,
        duration: Duration::from_secs(3),
        ..options
    };
    let summary = load::run(Target::local(lh), &open).await.unwrap();
    println!("open loop, new queries:\n{}", summary.report());
    assert_eq!(summary.failed(), 0, "{}", summary.report());
    let (_, misses) = summary.cache.unwrap();
    assert!(
        misses as f64 >= summary.runs() as f64 * 0.5,
        "new texts miss the cache"
    );
}

fn check(summary: &load::Summary) {
    assert_eq!(summary.failed(), 0, "{}", summary.report());
    for (s, _) in load::SCENARIOS {
        let runs = summary.scenarios.get(&s).map_or(0, |st| st.runs);
        assert!(runs > 0, "{} never ran:\n{}", s.name(), summary.report());
    }
    assert!(
        summary.scenarios[&Scenario::ColdSearchEmail].runs
            > summary.scenarios[&Scenario::SmsValidate].runs
    );
    assert!(
        summary
            .report()
            .ends_with(&format!("failures: {}", summary.failed()))
    );
}
