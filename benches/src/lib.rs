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
