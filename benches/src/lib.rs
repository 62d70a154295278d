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

/// Texts for the embedding benchmarks: short search queries and long (~60-token) worker
/// profiles, 512 of each, deterministic.
pub fn embed_texts() -> (Vec<String>, Vec<String>) {
    const WHAT: [&str; 8] = [
        "forklift driver",
        "night shift welder",
        "CNC machinist",
        "warehouse picker",
        "maintenance tech with PLC experience",
        "bilingual shift supervisor",
        "quality inspector",
        "packer who can lift 50 lbs",
    ];
    const WHERE: [&str; 8] = [
        "near Chicago",
        "in Joliet IL",
        "Milwaukee",
        "around Detroit",
        "in Columbus Ohio",
        "Indianapolis area",
        "Gary Indiana",
        "Aurora",
    ];
    let queries = (0..512)
        .map(|i| format!("{} {} #{i}", WHAT[i % 8], WHERE[(i / 8) % 8]))
        .collect();
    let profiles = (0..512u64)
        .map(|i| lakehouse_core::sample::profile(i + 1))
        .collect();
    (queries, profiles)
}
