//! Shared set-up for the benchmarks: where bench data lives and how it is made, so the
//! criterion benches and the DuckDB comparison script read the very same files.

use std::path::PathBuf;

/// Folder for generated bench inputs: `$LAKEHOUSE_BENCH_DIR`, else `<target>/bench-data`.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("LAKEHOUSE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("bench-data")
        });
    std::fs::create_dir_all(&dir).expect("create bench data dir");
    dir
}

/// Writes (once) a worker roster CSV of `rows` rows and returns its path.
pub fn workers_file(rows: u64) -> PathBuf {
    let path = data_dir().join(format!("workers_{rows}.csv"));
    if !path.exists() {
        let tmp = path.with_extension("csv.tmp");
        std::fs::write(&tmp, lakehouse_core::sample::workers_csv(1..rows + 1)).expect("write csv");
        std::fs::rename(&tmp, &path).expect("rename csv");
    }
    path
}

/// What recruiters search for: the start of every generated query.
pub const QUERY_ROLES: [&str; 16] = [
    "forklift driver",
    "night shift welder",
    "CNC machinist",
    "warehouse picker",
    "maintenance tech with PLC experience",
    "bilingual shift supervisor",
    "quality inspector",
    "packer who can lift 50 lbs",
    "registered nurse",
    "line cook",
    "CDL-A truck driver",
    "HVAC technician",
    "security guard",
    "electrician apprentice",
    "customer service rep",
    "general laborer",
];

/// Where: the second part of every generated query.
pub const QUERY_PLACES: [&str; 16] = [
    "near Chicago",
    "in Joliet IL",
    "Milwaukee",
    "around Detroit",
    "in Columbus Ohio",
    "Indianapolis area",
    "Gary Indiana",
    "Aurora",
    "Houston TX",
    "Dallas",
    "Phoenix",
    "Atlanta GA",
    "Denver",
    "Nashville",
    "St. Louis",
    "Kansas City",
];

const WHEN: [&str; 8] = [
    "night shift",
    "weekends",
    "starting Monday",
    "temp to hire",
    "overtime available",
    "first shift",
    "part time",
    "this week",
];
const EXTRA: [&str; 16] = [
    "with OSHA-10",
    "forklift certified",
    "2+ years experience",
    "bilingual",
    "clean background",
    "own transportation",
    "ServSafe",
    "hazmat endorsement",
    "EPA 608",
    "can stand 10 hours",
    "RF scanner",
    "team lead",
    "punctual",
    "heavy lifting",
    "cold storage",
    "high volume",
];

/// The `i`-th recruiter search text (32,768 distinct ones, then they repeat).
pub fn search_query(i: usize) -> String {
    format!(
        "{} {} {} {}",
        QUERY_ROLES[i % 16],
        QUERY_PLACES[(i / 16) % 16],
        WHEN[(i / 256) % 8],
        EXTRA[(i / 2048) % 16]
    )
}

/// Texts for the embedding benchmarks: short search queries and long (~60-token) worker
/// profiles, 512 of each, deterministic.
pub fn embed_texts() -> (Vec<String>, Vec<String>) {
    let queries = (0..512)
        .map(|i| format!("{} {} #{i}", QUERY_ROLES[i % 8], QUERY_PLACES[(i / 8) % 8]))
        .collect();
    let profiles = (0..512u64)
        .map(|i| lakehouse_core::sample::profile(i + 1))
        .collect();
    (queries, profiles)
}

/// The lakehouse at `root` with dataset `workers` of `rows` generated profiles embedded into
/// vector index `workers` (metadata: name, role, city, state). Resumable: ids already
/// indexed are skipped, so a finished corpus opens at once.
pub async fn profile_corpus(
    root: &std::path::Path,
    rows: u64,
    progress: &(dyn Fn(&lakehouse_core::indexer::EmbedProgress) + Send + Sync),
) -> lakehouse_core::Result<(
    lakehouse_core::Lakehouse,
    lakehouse_core::indexer::EmbedReport,
)> {
    use lakehouse_core::indexer::EmbedDataset;
    let lh = lakehouse_core::Lakehouse::open(root.to_str().expect("utf-8 path")).await?;
    // Identical content is a no-op, so a rerun keeps the dataset (and resumes the index).
    lh.dataset("workers")
        .write(
            lakehouse_core::sample::profiles_csv(1..rows + 1),
            &lakehouse_core::IngestOptions::default(),
        )
        .await?;
    let request = EmbedDataset::new("workers", "id", "profile", "workers")
        .with_metadata(["name", "role", "city", "state"]);
    let report = lh.embed_dataset(&request, progress).await?;
    Ok((lh, report))
}

/// Where the profile corpus of `rows` lives: the `bulk_index` bench's lakehouse when it has
/// been built, else a folder of its own (built on first use, resumable).
pub fn corpus_root(rows: u64) -> PathBuf {
    let bulk = data_dir().join(format!("bulk-index-{rows}"));
    if bulk.join("_vectors/workers").exists() {
        bulk
    } else {
        data_dir().join(format!("matrix-corpus-{rows}"))
    }
}

/// The real-text vector set: profile embeddings of the default model (384-d) and queries
/// embedded by the same model, for the vector index benchmarks (recall on uniform random
/// vectors means nothing).
pub struct RealVectors {
    /// Vector length.
    pub dim: usize,
    /// `rows × dim` profile vectors, row `i` for profile id `i + 1`.
    pub data: Vec<f32>,
    /// Recruiter search texts (short, unlike the profiles: the usual query).
    pub queries: Vec<Vec<f32>>,
    /// Held-out profiles (ids past the corpus), embedded as documents.
    pub profile_queries: Vec<Vec<f32>>,
}

impl RealVectors {
    /// Number of profile vectors.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Profile vector `i` (id `i + 1`).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// The first `rows` profile embeddings of the corpus at [`corpus_root`] (embedding them
/// first when the corpus lacks them: ~50 profiles/s), with `queries` recruiter queries and
/// `queries` held-out profiles embedded as queries.
pub async fn real_vectors(rows: u64, queries: usize) -> lakehouse_core::Result<RealVectors> {
    // A prefix of the full corpus when it exists (ids 1..=rows), else a corpus of `rows`.
    let full = data_dir().join("bulk-index-100000");
    let lh = if rows <= 100_000 && full.join("_vectors/workers").exists() {
        lakehouse_core::Lakehouse::open(full.to_str().expect("utf-8 path")).await?
    } else {
        let progress = |p: &lakehouse_core::indexer::EmbedProgress| {
            if p.done % 5000 < 64 {
                eprintln!("  embedding the corpus: {}/{}", p.done, p.total);
            }
        };
        profile_corpus(&corpus_root(rows), rows, &progress).await?.0
    };
    let data = stored_vectors(&lh, "workers", (1..=rows).map(|id| id.to_string())).await?;
    let texts = (0..queries).map(|i| search_query(i * 37 + 11)).collect();
    let held_out = (0..queries as u64)
        .map(|i| lakehouse_core::sample::profile(10_000_000 + i))
        .collect();
    with_queries(&lh, data, texts, held_out).await
}

/// The second corpus: the staffing co-pilot's first `rows` workers (several resume
/// templates of varied length, other wording; its variance needs about twice the directions
/// of [`real_vectors`]' corpus), from `staffing-100000` under [`data_dir`] when it has been
/// built (`staffing build --workers 100000 --root …`), else built as `staffing-ROWS`
/// (resumable). Queries: the load test's recruiter queries (five styles), and held-out
/// workers embedded as documents. Row `i` is worker `w{i + 1}`.
pub async fn staffing_vectors(rows: u64, queries: usize) -> lakehouse_core::Result<RealVectors> {
    use staffing::generate;
    let full = data_dir().join("staffing-100000");
    let root = if rows <= 100_000 && full.join("_vectors/workers").exists() {
        full
    } else {
        data_dir().join(format!("staffing-{rows}"))
    };
    let lh = lakehouse_core::Lakehouse::open(root.to_str().expect("utf-8 path")).await?;
    if lh.vectors().get(staffing::corpus::INDEX).await.is_err() {
        let progress = |p: &lakehouse_core::indexer::EmbedProgress| {
            if p.done % 5000 < 64 {
                eprintln!("  embedding the staffing corpus: {}/{}", p.done, p.total);
            }
        };
        staffing::corpus::build(&lh, rows, &progress).await?;
    }
    let data = stored_vectors(
        &lh,
        staffing::corpus::INDEX,
        (1..=rows).map(generate::worker_id),
    )
    .await?;
    let texts = (0..queries as u64)
        .map(|i| generate::query(i * 37 + 11))
        .collect();
    let held_out = (0..queries as u64)
        .map(|i| {
            let w = generate::worker(10_000_000 + i);
            format!(
                "Worker role: {}. Skills: {}. Certifications: {}. {}",
                w.role, w.skills, w.certifications, w.resume_text
            )
        })
        .collect();
    with_queries(&lh, data, texts, held_out).await
}

/// A corpus's vectors with its query texts embedded as queries and its held-out documents as
/// documents, by the lakehouse's model.
async fn with_queries(
    lh: &lakehouse_core::Lakehouse,
    data: Vec<f32>,
    texts: Vec<String>,
    held_out: Vec<String>,
) -> lakehouse_core::Result<RealVectors> {
    use lakehouse_core::embed::Purpose;
    let queries = lh.embed(texts, Purpose::Query).await?;
    let profile_queries = lh.embed(held_out, Purpose::Document).await?;
    Ok(RealVectors {
        dim: queries.first().map_or(0, Vec::len),
        data,
        queries,
        profile_queries,
    })
}

/// The vectors stored under `ids` in index `name`, row after row (a missing id is an error).
async fn stored_vectors(
    lh: &lakehouse_core::Lakehouse,
    name: &str,
    ids: impl Iterator<Item = String>,
) -> lakehouse_core::Result<Vec<f32>> {
    let opened = std::time::Instant::now();
    let index = lh.vectors().get(name).await?;
    eprintln!(
        "corpus index: {} vectors with metadata, opened in {:.0} ms (memory-mapped: {})",
        index.len(),
        opened.elapsed().as_secs_f64() * 1e3,
        index.info().memory_mapped
    );
    let mut data = Vec::with_capacity(index.len() * index.spec().dimensions);
    for id in ids {
        let v = index
            .vector(&id)
            .ok_or_else(|| lakehouse_core::Error::NotFound {
                what: "corpus profile",
                name: id.clone(),
            })?;
        data.extend_from_slice(&v);
    }
    Ok(data)
}

/// The `k` nearest rows of `data` (`n × dim`) to `q` by cosine distance, by brute force,
/// as `(distance, row)` nearest first: the ground truth for recall.
pub fn exact_top_k(data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<(f32, usize)> {
    let qn = q.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mut scored: Vec<(f32, usize)> = data
        .chunks(dim)
        .enumerate()
        .map(|(i, v)| {
            let dot: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            let vn = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            (1.0 - dot / (qn * vn).max(f32::MIN_POSITIVE), i)
        })
        .collect();
    let k = k.min(scored.len());
    scored.select_nth_unstable_by(k.saturating_sub(1), |a, b| a.0.total_cmp(&b.0));
    scored.truncate(k);
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored
}
