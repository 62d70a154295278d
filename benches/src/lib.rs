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
    lh.ingest(
        "workers",
        lakehouse_core::sample::profiles_csv(1..rows + 1),
        &lakehouse_core::IngestOptions::default(),
    )
    .await?;
    let request = EmbedDataset::new("workers", "id", "profile", "workers")
        .with_metadata(["name", "role", "city", "state"]);
    let report = lh.embed_dataset(&request, progress).await?;
    Ok((lh, report))
}
