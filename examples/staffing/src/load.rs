//! The multitier load test: the reference system's six weighted scenarios, run by many
//! clients at once against the library in this process or a server over HTTP.
//!
//! Closed loop by default (each client starts its next scenario when the last ends); with a
//! rate, open loop (scenarios start at Poisson arrivals, latency counted from the scheduled
//! start, so queueing is not hidden). Every unexpected result is a failure of a class:
//! `error` (a call failed), `verdict` (a validator said valid when the artifact was not, or
//! the reverse), `overlap` (a search excluding results returned one of them), `playbook` (a
//! recorded answer was not boosted), `result` (a search returned nothing, or the same
//! query answered differently).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lakehouse_core::{Lakehouse, MatrixRequest, MatrixResult, MetadataFilter, PlaybookEntry};
use serde_json::{Value, json};

use crate::corpus::INDEX;
use crate::generate::{self, Mix};
use crate::roster::{Rosters, WORKERS};
use crate::validate::{self, Message, Report, first_name};

/// The six scenarios, with the reference's weights (per 100).
pub const SCENARIOS: [(Scenario, u32); 6] = [
    (Scenario::ColdSearchEmail, 35),
    (Scenario::SurgeFillValidate, 15),
    (Scenario::ProfileSwap, 15),
    (Scenario::RepeatCache, 15),
    (Scenario::SmsValidate, 10),
    (Scenario::PlaybookRecordReplay, 10),
];

/// Recruiter queries the searches draw from (unless every query is new).
pub const QUERY_POOL: u64 = 1000;
/// Hits per search.
pub const K: usize = 10;

/// One scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Search → e-mail draft for the top worker → e-mail validator.
    ColdSearchEmail,
    /// Search for a role and place → fill proposal of up to 2 → fill validator → playbook
    /// record.
    SurgeFillValidate,
    /// Search → the same search excluding the first results → no overlap.
    ProfileSwap,
    /// The same query 5 times: the same answer each time.
    RepeatCache,
    /// Search → SMS with a phone number → validator (no false SSN hit).
    SmsValidate,
    /// Search → record an answer → search again with the playbook: the answer boosted.
    PlaybookRecordReplay,
}

impl Scenario {
    /// The reference's name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::ColdSearchEmail => "cold_search_email",
            Scenario::SurgeFillValidate => "surge_fill_validate",
            Scenario::ProfileSwap => "profile_swap",
            Scenario::RepeatCache => "repeat_cache",
            Scenario::SmsValidate => "sms_validate",
            Scenario::PlaybookRecordReplay => "playbook_record_replay",
        }
    }

    fn pick(r: &mut Mix) -> Scenario {
        let mut roll = r.below(100) as u32;
        for (s, w) in SCENARIOS {
            if roll < w {
                return s;
            }
            roll -= w;
        }
        unreachable!("the weights add up to 100")
    }
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Concurrent clients (closed loop).
    pub clients: usize,
    /// How long scenarios are started.
    pub duration: Duration,
    /// Scenarios started per second (open loop); `None`: closed loop.
    pub rate: Option<f64>,
    /// Every query a text never seen (the embedding-bound case).
    pub unique_queries: bool,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            clients: 50,
            duration: Duration::from_secs(60),
            rate: None,
            unique_queries: false,
            seed: 1,
        }
    }
}

/// Where the scenarios run.
pub enum Target {
    /// The library, in this process.
    Local {
        /// The lakehouse with the corpus.
        lh: Lakehouse,
        /// The validators' roster.
        rosters: Arc<Rosters>,
    },
    /// A server over HTTP (`staffing serve`).
    Remote {
        /// The client (keep-alive connections).
        client: reqwest::Client,
        /// Base URL, without a trailing `/`.
        url: String,
        /// Bearer token, if the server wants one.
        token: Option<String>,
    },
}

/// Which validator.
#[derive(Debug, Clone, Copy)]
enum Artifact {
    Fill,
    Email,
    Sms,
}

impl Target {
    /// The library in this process.
    pub fn local(lh: Lakehouse) -> Target {
        let rosters = Arc::new(Rosters::new(lh.clone()));
        Target::Local { lh, rosters }
    }

    /// A server at `url` (`http://127.0.0.1:3110`).
    pub fn remote(url: &str, token: Option<String>) -> Target {
        Target::Remote {
            client: reqwest::Client::new(),
            url: url.trim_end_matches('/').to_string(),
            token,
        }
    }

    /// One call to the server: the answer's body, or the status and error body.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let Target::Remote { client, url, token } = self else {
            unreachable!("HTTP calls go to a remote target")
        };
        let what = format!("{method} {path}");
        let mut request = client.request(method, format!("{url}{path}"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| format!("{what}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{what}: {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        Ok(bytes.to_vec())
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let answer = self.call(reqwest::Method::GET, path, None).await?;
        serde_json::from_slice(&answer).map_err(|e| format!("GET {path}: {e}"))
    }

    async fn search(&self, request: &MatrixRequest) -> Result<MatrixResult, String> {
        match self {
            Target::Local { lh, .. } => lh.matrix_search(request).await.map_err(|e| e.to_string()),
            Target::Remote { .. } => {
                let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
                let answer = self.post("/v1/matrix/search", body).await?;
                serde_json::from_slice(&answer).map_err(|e| format!("search answer: {e}"))
            }
        }
    }

    async fn validate(&self, artifact: Artifact, body: &Value) -> Result<Report, String> {
        match self {
            Target::Local { rosters, .. } => {
                let roster = rosters.get().await.map_err(|e| e.to_string())?;
                Ok(match artifact {
                    Artifact::Fill => validate::fill(&roster, body),
                    Artifact::Email => validate::message(Message::Email, &roster, body),
                    Artifact::Sms => validate::message(Message::Sms, &roster, body),
                })
            }
            Target::Remote { .. } => {
                let path = match artifact {
                    Artifact::Fill => "/v1/validate/fill",
                    Artifact::Email => "/v1/validate/email",
                    Artifact::Sms => "/v1/validate/sms",
                };
                let answer = self.post(path, body.to_string().into_bytes()).await?;
                serde_json::from_slice(&answer).map_err(|e| format!("report: {e}"))
            }
        }
    }

    async fn record(&self, entry: PlaybookEntry) -> Result<(), String> {
        match self {
            Target::Local { lh, .. } => lh
                .record_playbook(entry)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Target::Remote { .. } => {
                let body = serde_json::to_vec(&entry).map_err(|e| e.to_string())?;
                self.post("/v1/playbook/record", body).await.map(drop)
            }
        }
    }

    /// Workers in the corpus (the load test must know them: fills target real workers).
    pub async fn workers(&self) -> Result<u64, String> {
        match self {
            Target::Local { lh, .. } => lh
                .dataset(WORKERS)
                .manifest()
                .await
                .map(|m| m.row_count)
                .map_err(|e| e.to_string()),
            Target::Remote { .. } => {
                let m = self.get(&format!("/v1/datasets/{WORKERS}")).await?;
                m["row_count"]
                    .as_u64()
                    .ok_or_else(|| format!("no row_count in {m}"))
            }
        }
    }

    /// The embedding cache's (hits, misses) so far.
    async fn cache(&self) -> Option<(u64, u64)> {
        match self {
            Target::Local { lh, .. } => lh
                .loaded_embedder()
                .and_then(|e| e.cache_stats())
                .map(|s| (s.hits, s.misses)),
            Target::Remote { .. } => {
                let s = self.get("/v1/embed/stats").await.ok()?;
                Some((s["hits"].as_u64()?, s["misses"].as_u64()?))
            }
        }
    }
}

/// A failed scenario: its class and what happened.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `error`, `verdict`, `overlap`, `playbook` or `result`.
    pub class: &'static str,
    /// What happened.
    pub message: String,
}

fn fail<T>(class: &'static str, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        class,
        message: message.into(),
    })
}

fn error(message: String) -> Failure {
    Failure {
        class: "error",
        message,
    }
}

/// What scenarios share.
struct Ctx {
    target: Target,
    workers: u64,
    unique: bool,
    next_query: AtomicU64,
}

impl Ctx {
    fn query(&self, r: &mut Mix) -> String {
        if self.unique {
            generate::unique_query(self.next_query.fetch_add(1, Ordering::Relaxed))
        } else {
            generate::query(r.below(QUERY_POOL as usize) as u64)
        }
    }

    async fn search(&self, request: MatrixRequest) -> Result<MatrixResult, Failure> {
        let found = self.target.search(&request).await.map_err(error)?;
        if found.hits.is_empty() {
            return fail("result", format!("no hits for {:?}", request.query_text));
        }
        Ok(found)
    }

    async fn run(&self, scenario: Scenario, r: &mut Mix) -> Result<(), Failure> {
        match scenario {
            Scenario::ColdSearchEmail => self.cold_search_email(r).await,
            Scenario::SurgeFillValidate => self.surge_fill_validate(r).await,
            Scenario::ProfileSwap => self.profile_swap(r).await,
            Scenario::RepeatCache => self.repeat_cache(r).await,
            Scenario::SmsValidate => self.sms_validate(r).await,
            Scenario::PlaybookRecordReplay => self.playbook_record_replay(r).await,
        }
    }

    async fn check(
        &self,
        artifact: Artifact,
        body: Value,
        expect: Option<&str>,
    ) -> Result<(), Failure> {
        let report = self.target.validate(artifact, &body).await.map_err(error)?;
        let right = match expect {
            None => report.valid,
            Some(kind) => !report.valid && report.has(kind),
        };
        if !right {
            return fail(
                "verdict",
                format!(
                    "{artifact:?} expected {} but got {report:?} for {body}",
                    expect.unwrap_or("valid")
                ),
            );
        }
        Ok(())
    }

    async fn cold_search_email(&self, r: &mut Mix) -> Result<(), Failure> {
        let found = self
            .search(MatrixRequest::text(self.query(r), [INDEX], K))
            .await?;
        let w = worker_of(&found.hits[0].id)?;
        // One draft in eight tells the pay: the validator must refuse it.
        let pay = r.below(8) == 0;
        let body = json!({
            "subject": format!("{} shift in {}", w.role, w.city),
            "body": format!(
                "Hi {},\n\nA {} assignment just opened in {}, {}, and your background looks like a fit. It starts next week{}. Reply to this e-mail or call us at 312-555-0100 if you are interested.\n\nThe staffing team",
                first_name(&w.name), w.role.to_lowercase(), w.city, w.state,
                if pay { ", and the pay is $21.50 an hour" } else { "" }
            ),
            "_context": {"candidate_id": w.id},
        });
        self.check(Artifact::Email, body, pay.then_some("policy"))
            .await
    }

    async fn surge_fill_validate(&self, r: &mut Mix) -> Result<(), Failure> {
        // A role and place where an active worker is: a real opening.
        let target = (0..1000)
            .map(|_| generate::worker(1 + r.below(self.workers as usize) as u64))
            .find(|w| w.status == "active")
            .ok_or_else(|| error("no active worker found in 1000 draws".into()))?;
        let text = if self.unique {
            generate::fill_query(
                &target.role,
                &target.city,
                &target.state,
                self.next_query.fetch_add(1, Ordering::Relaxed),
            )
        } else {
            format!("{} in {}, {}", target.role, target.city, target.state)
        };
        let filter = MetadataFilter::from_json(json!({
            "role": target.role, "city": target.city, "state": target.state, "status": "active",
        }))
        .map_err(|e| error(e.to_string()))?;
        let request = MatrixRequest {
            metadata_filter: Some(filter),
            ..MatrixRequest::text(text.clone(), [INDEX], K)
        };
        let found = self.search(request).await?;
        let candidates: Vec<generate::Worker> = found
            .hits
            .iter()
            .take(2)
            .map(|h| worker_of(&h.id))
            .collect::<Result<_, _>>()?;
        let client_no = 1 + r.below(generate::client_count(self.workers) as usize) as u64;
        let client = generate::client(client_no, self.workers);
        let banned = candidates.iter().any(|c| client.blacklist.contains(&c.id));
        // A name in other case is the same name: no error, no warning.
        let shout = r.below(10) == 0;
        let fills: Vec<Value> = candidates
            .iter()
            .map(|c| {
                let name = if shout {
                    c.name.to_uppercase()
                } else {
                    c.name.clone()
                };
                json!({"candidate_id": c.id, "name": name})
            })
            .collect();
        let body = json!({
            "fills": fills,
            "_context": {"target_count": candidates.len(), "city": target.city, "state": target.state,
                "role": target.role, "client_id": client.id},
        });
        self.check(Artifact::Fill, body, banned.then_some("policy"))
            .await?;
        let entry = PlaybookEntry::new(text, &candidates[0].id, INDEX, 0.8);
        self.target.record(entry).await.map_err(error)
    }

    async fn profile_swap(&self, r: &mut Mix) -> Result<(), Failure> {
        let text = self.query(r);
        let first = self
            .search(MatrixRequest::text(text.clone(), [INDEX], K))
            .await?;
        let shown: Vec<String> = first.hits.iter().map(|h| h.id.clone()).collect();
        let request = MatrixRequest {
            exclude_ids: shown.clone(),
            ..MatrixRequest::text(text, [INDEX], K)
        };
        let second = self.search(request).await?;
        if let Some(h) = second.hits.iter().find(|h| shown.contains(&h.id)) {
            return fail(
                "overlap",
                format!("{} came back after being excluded", h.id),
            );
        }
        Ok(())
    }

    async fn repeat_cache(&self, r: &mut Mix) -> Result<(), Failure> {
        let text = self.query(r);
        let mut first: Option<Vec<String>> = None;
        for _ in 0..5 {
            let found = self
                .search(MatrixRequest::text(text.clone(), [INDEX], K))
                .await?;
            let ids: Vec<String> = found.hits.into_iter().map(|h| h.id).collect();
            match &first {
                None => first = Some(ids),
                Some(f) if *f != ids => {
                    return fail(
                        "result",
                        format!("{text:?} answered {ids:?}, earlier {f:?}"),
                    );
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    async fn sms_validate(&self, r: &mut Mix) -> Result<(), Failure> {
        let found = self
            .search(MatrixRequest::text(self.query(r), [INDEX], K))
            .await?;
        let w = worker_of(&found.hits[0].id)?;
        // One text in eight carries an SSN: the validator must refuse it; phone numbers never.
        let ssn = r.below(8) == 0;
        let body = format!(
            "Hi {}! {} shift in {}, {}. We have {} on file; call 312-555-0100 to confirm.{}",
            first_name(&w.name),
            w.role,
            w.city,
            w.state,
            w.phone,
            if ssn { " Ref 123-45-6789" } else { "" }
        );
        let body = json!({"body": body, "_context": {"candidate_id": w.id}});
        self.check(Artifact::Sms, body, ssn.then_some("policy"))
            .await
    }

    async fn playbook_record_replay(&self, r: &mut Mix) -> Result<(), Failure> {
        let text = self.query(r);
        let found = self
            .search(MatrixRequest::text(text.clone(), [INDEX], K))
            .await?;
        let pick = &found.hits[found.hits.len().min(5) - 1];
        let entry = PlaybookEntry::new(text.clone(), &pick.id, INDEX, 0.9);
        self.target.record(entry).await.map_err(error)?;
        let replay = MatrixRequest {
            use_playbook: true,
            ..MatrixRequest::text(text, [INDEX], K)
        };
        let again = self.search(replay).await?;
        let Some(hit) = again.hits.iter().find(|h| h.id == pick.id) else {
            return fail(
                "playbook",
                format!("recorded answer {} missing after replay", pick.id),
            );
        };
        match &hit.playbook {
            Some(effect) if hit.distance < pick.distance || effect.injected => Ok(()),
            other => fail(
                "playbook",
                format!(
                    "{} not boosted: {} → {} ({other:?})",
                    pick.id, pick.distance, hit.distance
                ),
            ),
        }
    }
}

/// The generated worker behind a hit id (`w<i>`).
fn worker_of(id: &str) -> Result<generate::Worker, Failure> {
    id.strip_prefix('w')
        .and_then(|n| n.parse::<u64>().ok())
        .map(generate::worker)
        .ok_or_else(|| error(format!("hit id {id} is not a worker id")))
}

/// The figures of one scenario.
#[derive(Debug, Clone, Default)]
pub struct ScenarioStats {
    /// Runs finished.
    pub runs: u64,
    /// Failed runs by class.
    pub failures: BTreeMap<&'static str, u64>,
    /// The first failure of each class, for the report.
    pub examples: BTreeMap<&'static str, String>,
    /// Latency of every run, in milliseconds.
    pub latencies_ms: Vec<f64>,
}

impl ScenarioStats {
    fn add(&mut self, took: Duration, outcome: Result<(), Failure>) {
        self.runs += 1;
        self.latencies_ms.push(took.as_secs_f64() * 1e3);
        if let Err(f) = outcome {
            *self.failures.entry(f.class).or_default() += 1;
            self.examples.entry(f.class).or_insert(f.message);
        }
    }

    fn merge(&mut self, other: ScenarioStats) {
        self.runs += other.runs;
        for (k, v) in other.failures {
            *self.failures.entry(k).or_default() += v;
        }
        for (k, v) in other.examples {
            self.examples.entry(k).or_insert(v);
        }
        self.latencies_ms.extend(other.latencies_ms);
    }

    /// Failed runs.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// The latencies at quantiles `qs` (each 0..=1), in milliseconds (NaN with no run).
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [f64; N] {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        qs.map(|q| match sorted.len() {
            0 => f64::NAN,
            n => sorted[((n - 1) as f64 * q).round() as usize],
        })
    }
}

/// The figures of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Per scenario.
    pub scenarios: BTreeMap<Scenario, ScenarioStats>,
    /// From the first start to the last end.
    pub elapsed: Duration,
    /// Embedding cache lookups during the run: (hits, misses).
    pub cache: Option<(u64, u64)>,
    /// Open loop: the offered rate.
    pub rate: Option<f64>,
    /// The process's largest resident memory while scenarios ran (sampled every 100 ms), in
    /// bytes; the loading before (the model, the index) is not in it.
    pub rss_measured: Option<u64>,
}

impl Summary {
    /// Scenarios finished.
    pub fn runs(&self) -> u64 {
        self.scenarios.values().map(|s| s.runs).sum()
    }

    /// Scenarios failed.
    pub fn failed(&self) -> u64 {
        self.scenarios.values().map(ScenarioStats::failed).sum()
    }

    /// Scenarios finished per second.
    pub fn per_second(&self) -> f64 {
        self.runs() as f64 / self.elapsed.as_secs_f64()
    }

    /// The report: a table per scenario, the totals, and the closing line
    /// `scenarios/s: X, failures: Y` (Y failed scenarios).
    pub fn report(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "scenario", "runs", "failed %", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        let mut all = ScenarioStats::default();
        const QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 1.0];
        for (s, st) in &self.scenarios {
            let [p50, p95, p99, max] = st.quantiles(QUANTILES);
            let _ = writeln!(
                out,
                "{:<24} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                s.name(),
                st.runs,
                100.0 * st.failed() as f64 / st.runs.max(1) as f64,
                p50,
                p95,
                p99,
                max
            );
            for (class, n) in &st.failures {
                let _ = writeln!(out, "    {n} {class}: {}", st.examples[class]);
            }
            all.merge(st.clone());
        }
        let [p50, p95, p99, max] = all.quantiles(QUANTILES);
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            "all",
            all.runs,
            100.0 * all.failed() as f64 / all.runs.max(1) as f64,
            p50,
            p95,
            p99,
            max
        );
        if let Some(rate) = self.rate {
            let _ = writeln!(
                out,
                "offered: {rate} scenarios/s (open loop, latency from the scheduled start)"
            );
        }
        if let Some((hits, misses)) = self.cache {
            let _ = writeln!(
                out,
                "embedding cache: {hits} hits, {misses} misses ({:.1}% hits)",
                100.0 * hits as f64 / (hits + misses).max(1) as f64
            );
        }
        let mb =
            |b: Option<u64>| b.map_or("?".to_string(), |b| format!("{:.0} MB", b as f64 / 1e6));
        let _ = writeln!(
            out,
            "RSS of this process: {} at most while scenarios ran, {} at the end, {} peak since start (loading included)",
            mb(self.rss_measured),
            mb(rss_bytes("VmRSS:")),
            mb(rss_bytes("VmHWM:"))
        );
        let _ = writeln!(out, "elapsed: {:.1} s", self.elapsed.as_secs_f64());
        let _ = write!(
            out,
            "scenarios/s: {:.1}, failures: {}",
            self.per_second(),
            self.failed()
        );
        out
    }
}

/// A memory figure of this process from /proc (`VmRSS:` now, `VmHWM:` the peak), where
/// /proc tells it.
pub fn rss_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs the load test against `target` and returns its figures. Before the clock starts,
/// one search loads the model and the index and one validation the roster.
pub async fn run(target: Target, options: &LoadOptions) -> Result<Summary, String> {
    let workers = target.workers().await?;
    if workers == 0 {
        return Err("the corpus has no workers".into());
    }
    let ctx = Arc::new(Ctx {
        target,
        workers,
        unique: options.unique_queries,
        next_query: AtomicU64::new(
            // A new range of texts each run, so that a long-running server's cache
            // answers none of them.
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() * 1_000_000),
        ),
    });
    let mut warm = Mix::new(options.seed, 0);
    ctx.cold_search_email(&mut warm)
        .await
        .map_err(|f| f.message)?;
    let before = ctx.target.cache().await;
    let sampling = Arc::new(AtomicU64::new(rss_bytes("VmRSS:").unwrap_or(0)));
    let sampler = {
        let most = sampling.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                most.fetch_max(rss_bytes("VmRSS:").unwrap_or(0), Ordering::Relaxed);
            }
        })
    };
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut scenarios: BTreeMap<Scenario, ScenarioStats> = BTreeMap::new();
    match options.rate {
        None => {
            let clients: Vec<_> = (0..options.clients.max(1))
                .map(|c| {
                    let ctx = ctx.clone();
                    let mut r = Mix::new(options.seed, 1000 + c as u64);
                    tokio::spawn(async move {
                        let mut mine: BTreeMap<Scenario, ScenarioStats> = BTreeMap::new();
                        while Instant::now() < deadline {
                            let s = Scenario::pick(&mut r);
                            let t = Instant::now();
                            let outcome = ctx.run(s, &mut r).await;
                            mine.entry(s).or_default().add(t.elapsed(), outcome);
                        }
                        mine
                    })
                })
                .collect();
            for c in clients {
                for (s, st) in c.await.map_err(|e| e.to_string())? {
                    scenarios.entry(s).or_default().merge(st);
                }
            }
        }
        Some(rate) if rate > 0.0 && rate.is_finite() => {
            let mut arrivals = Mix::new(options.seed, 2);
            let mut tasks = tokio::task::JoinSet::new();
            let mut at = 0.0f64;
            let mut n = 0u64;
            loop {
                at += -(1.0 - arrivals.unit()).ln() / rate;
                let scheduled = started + Duration::from_secs_f64(at);
                if scheduled >= deadline {
                    break;
                }
                tokio::time::sleep_until(scheduled.into()).await;
                let ctx = ctx.clone();
                let mut r = Mix::new(options.seed, 1_000_000 + n);
                n += 1;
                tasks.spawn(async move {
                    let s = Scenario::pick(&mut r);
                    let outcome = ctx.run(s, &mut r).await;
                    (s, scheduled.elapsed(), outcome)
                });
                while let Some(done) = tasks.try_join_next() {
                    let (s, took, outcome) = done.map_err(|e| e.to_string())?;
                    scenarios.entry(s).or_default().add(took, outcome);
                }
            }
            while let Some(done) = tasks.join_next().await {
                let (s, took, outcome) = done.map_err(|e| e.to_string())?;
                scenarios.entry(s).or_default().add(took, outcome);
            }
        }
        Some(rate) => return Err(format!("--rate must be a positive number, not {rate}")),
    }
    let elapsed = started.elapsed();
    sampler.abort();
    let rss_measured = Some(sampling.load(Ordering::Relaxed)).filter(|&b| b > 0);
    let cache = match (before, ctx.target.cache().await) {
        (Some((h0, m0)), Some((h1, m1))) => Some((h1 - h0, m1 - m0)),
        _ => None,
    };
    Ok(Summary {
        scenarios,
        elapsed,
        cache,
        rate: options.rate,
        rss_measured,
    })
}
