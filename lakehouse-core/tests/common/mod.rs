//! Helpers shared by the integration tests.

use lakehouse_core::{Options, embed};

/// The installed default model's folder, failing with the install command when it is
/// missing (scripts/test.sh installs it).
#[allow(dead_code)]
pub fn model_dir() -> std::path::PathBuf {
    let model = embed::default_model_dir();
    assert!(
        model.join("config.json").exists(),
        "the default model is not installed at {}: run `lakehouse model install` \
         (scripts/test.sh does)",
        model.display()
    );
    model
}

/// Options that use the installed default model.
#[allow(dead_code)]
pub fn model_options() -> Options {
    Options {
        model: Some(model_dir()),
        ..Options::default()
    }
}

/// Writes dataset `crew` through every write mode (create, append, upsert by key, delete)
/// into `lh`, checks versions and SQL, then has other engines read the Delta table at
/// `table_uri` (scripts/check_delta.py): Python `deltalake` at every version, polars and
/// DuckDB at the latest must see the rows our SQL returns.
#[allow(dead_code)]
pub async fn write_modes_read_by_other_engines(lh: &lakehouse_core::Lakehouse, table_uri: &str) {
    use lakehouse_core::catalog::Operation;
    use lakehouse_core::{ErrorKind, IngestMode, IngestOptions};
    use serde_json::{Value, json};
    let o = IngestOptions::mode;
    let csv = "id,name,score\n1,Ann,0.5\n2,Bo,1.5\n3,Cy,2.5\n";
    lh.dataset("crew")
        .write(csv, &o(IngestMode::Create))
        .await
        .unwrap();
    lh.dataset("crew")
        .write("id,name,score\n4,Di,3.5\n", &o(IngestMode::Append))
        .await
        .unwrap();
    let changes = "id,name,score\n2,Bob,9.0\n5,Eve,4.5\n";
    let up = lh
        .dataset("crew")
        .write(changes, &o(IngestMode::Upsert).with_keys(["id"]))
        .await
        .unwrap();
    assert_eq!((up.manifest.version, up.manifest.row_count), (2, 5));
    let del = lh.dataset("crew").delete("id = 3").await.unwrap();
    assert_eq!(
        (
            del.rows_deleted,
            del.manifest.version,
            del.manifest.row_count
        ),
        (1, 3, 4)
    );
    let history: Vec<_> = lh
        .dataset("crew")
        .versions()
        .await
        .unwrap()
        .iter()
        .map(|v| (v.version, v.operation, v.row_count))
        .collect();
    assert_eq!(
        history,
        [
            (0, Operation::Create, 3),
            (1, Operation::Append, 4),
            (2, Operation::Upsert, 5),
            (3, Operation::Delete, 4)
        ]
    );

    // Bad input writes nothing.
    for bad in ["no_such_column = 1", "id = = 3", ""] {
        let err = lh.dataset("crew").delete(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}: {err}");
    }
    let err = lh
        .dataset("crew")
        .write(changes, &o(IngestMode::Upsert))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = lh
        .dataset("crew")
        .write(changes, &o(IngestMode::Upsert).with_keys(["nope"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(lh.dataset("crew").manifest().await.unwrap().version, 3);

    // Compaction: the files of version 3 merged into one, the same rows, as version 4; a
    // second compaction finds nothing to merge and makes no version.
    let before = lh.dataset("crew").manifest().await.unwrap();
    assert!(before.files.len() > 1, "{:?}", before.files);
    let optimized = lh.dataset("crew").optimize().await.unwrap();
    assert_eq!(
        (optimized.files_removed, optimized.files_added),
        (before.files.len() as u64, 1)
    );
    let m = &optimized.manifest;
    assert_eq!((m.version, m.row_count, m.files.len()), (4, 4, 1));
    assert_eq!(m.fingerprint, before.fingerprint);
    let again = lh.dataset("crew").optimize().await.unwrap();
    assert_eq!((again.files_removed, again.manifest.version), (0, 4));
    let last = lh.dataset("crew").versions().await.unwrap().pop().unwrap();
    assert_eq!(
        (last.version, last.operation, last.files),
        (4, Operation::Optimize, 1)
    );

    let mut ours = serde_json::Map::new();
    for v in 0..=4 {
        let r = lh
            .sql(&format!(r#"SELECT id, name FROM "crew@{v}" ORDER BY id"#))
            .await
            .unwrap()
            .to_json()
            .unwrap();
        let ids: Vec<Value> = r.rows.iter().map(|row| row[0].clone()).collect();
        let names: Vec<Value> = r.rows.iter().map(|row| row[1].clone()).collect();
        ours.insert(v.to_string(), json!({"ids": ids, "names": names}));
    }
    assert_eq!(
        ours["3"],
        json!({"ids": [1, 2, 4, 5], "names": ["Ann", "Bob", "Di", "Eve"]})
    );
    assert_eq!(ours["4"], ours["3"], "a compaction changes no row");

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_delta.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([table_uri, "0,1,2,3,4"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "other engines could not read {table_uri} (scripts/test.sh installs deltalake, polars \
         and DuckDB 1.4.4 with its Delta extension): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["deltalake"], Value::Object(ours.clone()), "deltalake");
    assert_eq!(read["polars"], ours["4"], "polars");
    assert_eq!(read["deltalake_history"].as_array().map(Vec::len), Some(5));
    match read.get("duckdb") {
        Some(duck) => assert_eq!(duck, &ours["4"], "duckdb"),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI must set LAKEHOUSE_DUCKDB_DELTA (scripts/test.sh installs DuckDB 1.4.4)")
        }
        None => eprintln!("LAKEHOUSE_DUCKDB_DELTA not set: DuckDB's delta_scan not checked"),
    }
}

/// Runs the ignored test `entry` of the current test binary in a child process, with `env`
/// added: how a test gets a second process that uses the library.
#[allow(dead_code)]
pub fn spawn_entry(entry: &str, env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            entry,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs the child test `entry` of the current binary once per name in `writers`, all at
/// once, with `LAKEHOUSE_RACE_ROOT` = `root`, `LAKEHOUSE_RACE_WRITER` = the name and
/// `LAKEHOUSE_RACE_OUT` = a file in `dir` for the writer's outcomes; waits for all of them to
/// succeed and returns those files, in order.
#[allow(dead_code)]
pub fn run_writers(
    entry: &str,
    root: &str,
    writers: &[&str],
    dir: &std::path::Path,
) -> Vec<std::path::PathBuf> {
    let outs: Vec<_> = writers
        .iter()
        .map(|w| dir.join(format!("{w}.log")))
        .collect();
    let children: Vec<_> = writers
        .iter()
        .zip(&outs)
        .map(|(w, out)| {
            spawn_entry(
                entry,
                &[
                    ("LAKEHOUSE_RACE_ROOT", root),
                    ("LAKEHOUSE_RACE_WRITER", w),
                    ("LAKEHOUSE_RACE_OUT", out.to_str().unwrap()),
                ],
            )
        })
        .collect();
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a writer failed: {status}");
    }
    outs
}

/// Rows each append of [`append_as_writer`] adds.
const RACE_ROWS: usize = 50;
/// Appends each writer of [`concurrent_appends`] makes.
const RACE_ROUNDS: usize = 12;

/// The child side of [`concurrent_appends`]: appends [`RACE_ROUNDS`] times to dataset `race`
/// at `root` (creating it if missing) and records each outcome in the file `out`, one line
/// per append: `ok SEQ VERSION`, or `conflict SEQ` for a typed `Conflict` after retries. Any
/// other error fails the process.
#[allow(dead_code)]
pub async fn append_as_writer(root: &str, writer: &str, out: &std::path::Path) {
    use lakehouse_core::{ErrorKind, IngestMode, IngestOptions, Lakehouse};
    use std::io::Write;
    let lh = Lakehouse::open(root).await.unwrap();
    let mut log = std::fs::File::create(out).unwrap();
    for seq in 0..RACE_ROUNDS {
        let mut csv = String::from("writer,seq,row,payload\n");
        for row in 0..RACE_ROWS {
            csv.push_str(&format!("{writer},{seq},{row},{}\n", "p".repeat(30)));
        }
        let line = match lh
            .dataset("race")
            .write(csv, &IngestOptions::mode(IngestMode::Append))
            .await
        {
            Ok(r) => format!("ok {seq} {}\n", r.manifest.version),
            Err(e) if e.kind() == ErrorKind::Conflict => format!("conflict {seq}\n"),
            Err(e) => panic!("writer {writer}, append {seq}: {e}"),
        };
        log.write_all(line.as_bytes()).unwrap();
    }
}

/// Two processes append to one dataset at `root` at once (the child test `entry` of the
/// calling binary runs [`append_as_writer`] with `LAKEHOUSE_RACE_ROOT`, `_WRITER` and `_OUT`
/// set): each append either commits or is a typed `Conflict`, and the table then holds
/// exactly the committed appends, whole, one per version, with no version lost or repeated.
#[allow(dead_code)]
pub async fn concurrent_appends(root: &str, entry: &str) {
    use std::collections::BTreeSet;
    let dir = tempfile::tempdir().unwrap();
    let writers = ["a", "b"];
    let outs = {
        let dir = dir.path().to_path_buf();
        let entry = entry.to_string();
        let root = root.to_string();
        tokio::task::spawn_blocking(move || run_writers(&entry, &root, &writers, &dir))
            .await
            .unwrap()
    };
    let mut committed: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut versions: BTreeSet<u64> = BTreeSet::new();
    let mut conflicts = 0;
    for (w, out) in writers.iter().zip(&outs) {
        let log = std::fs::read_to_string(out).unwrap();
        assert_eq!(log.lines().count(), RACE_ROUNDS, "writer {w}: {log}");
        for line in log.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[..] {
                ["ok", seq, version] => {
                    committed.insert((w.to_string(), seq.parse().unwrap()));
                    assert!(
                        versions.insert(version.parse().unwrap()),
                        "version {version} acknowledged twice"
                    );
                }
                ["conflict", _] => conflicts += 1,
                _ => panic!("writer {w}: bad line {line:?}"),
            }
        }
    }
    eprintln!(
        "concurrent appends: {} committed, {conflicts} conflicts",
        committed.len()
    );
    let lh = lakehouse_core::Lakehouse::open(root).await.unwrap();
    let latest = lh.dataset("race").manifest().await.unwrap();
    // One version per committed append, numbered from 0 without a gap.
    assert_eq!(
        versions,
        (0..=latest.version).collect::<BTreeSet<_>>(),
        "versions"
    );
    assert_eq!(
        lh.dataset("race").versions().await.unwrap().len(),
        committed.len()
    );
    // Every committed append is there whole, and nothing else.
    let rows = lh
        .sql("SELECT writer, CAST(seq AS BIGINT) AS seq, count(*) AS n FROM race GROUP BY writer, seq")
        .await
        .unwrap()
        .to_json()
        .unwrap()
        .rows;
    let mut found = BTreeSet::new();
    for row in rows {
        assert_eq!(row[2], serde_json::json!(RACE_ROWS), "{row:?}");
        found.insert((
            row[0].as_str().unwrap().to_string(),
            row[1].as_u64().unwrap(),
        ));
    }
    assert_eq!(found, committed);
    assert_eq!(latest.row_count, (committed.len() * RACE_ROWS) as u64);
}

/// The child entry for [`concurrent_appends`]; a no-op unless `LAKEHOUSE_RACE_ROOT` is set.
#[allow(dead_code)]
pub fn race_child() {
    let Ok(root) = std::env::var("LAKEHOUSE_RACE_ROOT") else {
        return;
    };
    let writer = std::env::var("LAKEHOUSE_RACE_WRITER").unwrap();
    let out = std::env::var("LAKEHOUSE_RACE_OUT").unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(append_as_writer(&root, &writer, std::path::Path::new(&out)));
}

/// The highest number in the acknowledgement file `log` (lines that start with a number;
/// others, such as intents, are skipped), if any.
#[allow(dead_code)]
pub fn max_acked(log: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .max()
}

/// The environment variable that names a crash test child's phase log.
#[allow(dead_code)]
pub const PHASE_LOG: &str = "LAKEHOUSE_PHASE_LOG";

/// Child side of a crash test: when [`PHASE_LOG`] is set, records the library's durability
/// phases (trace events on target `lakehouse::phase`: upload, commit, log, snapshot, replay)
/// and the child's own (`open`, `ack`, …, see [`mark_phase`]) in that file, one line each,
/// so that the parent can tell where each kill landed.
#[allow(dead_code)]
pub fn record_phases() {
    use tracing_subscriber::layer::SubscriberExt;
    let Ok(path) = std::env::var(PHASE_LOG) else {
        return;
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_max_level(tracing::Level::TRACE)
        .finish()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("lakehouse::phase", tracing::Level::TRACE),
        );
    tracing::subscriber::set_global_default(subscriber).unwrap();
}

/// A phase of the crash test's own (between the library's), in the same log.
#[allow(dead_code)]
pub fn mark_phase(phase: &'static str) {
    tracing::trace!(target: "lakehouse::phase", phase);
}

/// Parent side: how many kills landed in each phase.
#[allow(dead_code)]
#[derive(Default)]
pub struct PhaseTally(std::collections::BTreeMap<String, usize>);

#[allow(dead_code)]
impl PhaseTally {
    /// Counts the last phase in `log` (`none` when the child recorded nothing), then empties
    /// the log for the next life.
    pub fn count_kill(&mut self, log: &std::path::Path) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find_map(|l| {
                let rest = &l[l.find("phase=\"")? + 7..];
                Some(rest[..rest.find('"')?].to_string())
            })
            .unwrap_or_else(|| "none".into());
        *self.0.entry(last).or_default() += 1;
        let _ = std::fs::write(log, "");
    }

    /// Kills that landed inside one of `phases`.
    pub fn within(&self, phases: &[&str]) -> usize {
        phases
            .iter()
            .map(|p| self.0.get(*p).copied().unwrap_or(0))
            .sum()
    }

    /// `phase n, phase n, …`, for the test's report.
    pub fn report(&self) -> String {
        self.0
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One life of a crash test's writer: waits until `child` acknowledges in `log` something
/// past `acked` (a store that recovered read-only fails here, as does a child that ends on
/// its own or stays silent for 60 s), lets it run `then` more, kills it with SIGKILL and
/// checks the kill is what ended it. Returns the new highest acknowledgement.
#[allow(dead_code)]
pub fn kill_after_progress(
    mut child: std::process::Child,
    log: &std::path::Path,
    acked: Option<u64>,
    then: std::time::Duration,
    cycle: &str,
) -> Option<u64> {
    use std::os::unix::process::ExitStatusExt;
    let started = std::time::Instant::now();
    while max_acked(log) <= acked {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{cycle}: the writer exited on its own: {status}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{cycle}: nothing new acknowledged in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(then);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "{cycle}: the writer was not killed but ended: {status}"
    );
    max_acked(log)
}

/// Three Int64 columns named `names`, one row per triple, as an Arrow source.
#[allow(dead_code)]
pub fn int_rows(names: [&str; 3], rows: &[(i64, i64, i64)]) -> lakehouse_core::Source {
    use arrow::array::{Int64Array, RecordBatch, RecordBatchIterator};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(
        names.map(|n| Field::new(n, DataType::Int64, true)).to_vec(),
    ));
    let column = |f: fn(&(i64, i64, i64)) -> i64| -> arrow::array::ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![column(|r| r.0), column(|r| r.1), column(|r| r.2)],
    )
    .unwrap();
    lakehouse_core::Source::arrow(RecordBatchIterator::new(vec![Ok(batch)], schema))
}
