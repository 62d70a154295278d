//! Datasets are Delta Lake tables: every write mode (create, append, upsert, delete) makes a
//! Delta version that other engines (Python `deltalake`, polars, DuckDB) read where it lies.
//! The same scenario runs on S3 in `s3.rs`.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_modes_on_a_local_root_are_read_by_other_engines() {
    let dir = tempfile::tempdir().unwrap();
    let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let table = dir.path().join("datasets/crew");
    common::write_modes_read_by_other_engines(&lh, table.to_str().unwrap()).await;
    // The commit log is Delta's: one JSON entry per version, with lakehouse's operation.
    let first =
        std::fs::read_to_string(table.join("_delta_log/00000000000000000000.json")).unwrap();
    assert!(
        first.contains("\"lakehouse.operation\":\"create\""),
        "{first}"
    );
    assert!(first.contains(r#"\"numRecords\":3"#), "{first}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A root written by the release before Delta tables (the fixture: `lakehouse ingest` of
/// `workers` create + append, `stock` with a timestamp column, `teams` create, replace,
/// append with its first version expired) refuses to open until migrated; migration keeps
/// every retained version's rows and the no-op rule, runs again harmlessly, and can remove
/// the old files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_of_the_previous_release_migrates_to_delta_tables() {
    use lakehouse_core::catalog::Operation;
    use lakehouse_core::{ErrorKind, IngestMode, IngestOptions, Lakehouse, MigrateOptions};
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-root");
    copy_dir(&fixture, dir.path());
    let root = dir.path().to_str().unwrap();

    let err = Lakehouse::open(root).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.remedy(), Some(lakehouse_core::Remedy::Migrate), "{err}");

    let report = Lakehouse::migrate(root, MigrateOptions::default())
        .await
        .unwrap();
    let mut converted: Vec<_> = report
        .datasets
        .iter()
        .map(|d| (d.name.as_str(), d.from_versions.clone(), d.row_count))
        .collect();
    converted.sort();
    assert_eq!(
        converted,
        [
            ("stock", vec![1], 2),
            ("teams", vec![2, 3], 4),
            ("workers", vec![1, 2], 4)
        ]
    );

    let lh = Lakehouse::open(root).await.unwrap();
    let history = |name: &'static str| {
        let lh = lh.clone();
        async move {
            lh.dataset(name)
                .versions()
                .await
                .unwrap()
                .iter()
                .map(|v| (v.version, v.operation, v.row_count))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        history("workers").await,
        [(0, Operation::Create, 3), (1, Operation::Append, 4)]
    );
    assert_eq!(
        history("teams").await,
        [(0, Operation::Create, 3), (1, Operation::Append, 4)]
    );
    let rows = |sql: &'static str| {
        let lh = lh.clone();
        async move { lh.sql(sql).await.unwrap().to_json().unwrap().rows }
    };
    assert_eq!(
        rows(r#"SELECT name FROM "workers@0" ORDER BY id"#).await,
        [["Ann"], ["Bo"], ["Cy"]]
    );
    assert_eq!(
        serde_json::json!(
            rows("SELECT sku, qty, CAST(at AS VARCHAR) FROM stock ORDER BY sku").await
        ),
        serde_json::json!([
            ["A1", 5, "2026-01-02T10:00:00"],
            ["B2", 7, "2026-01-03T11:30:00"]
        ])
    );
    // The inputs' hashes came along: appending the second file again is a no-op.
    let again = lh
        .dataset("workers")
        .write(
            "id,name,city\n4,Di,Denver\n",
            &IngestOptions::mode(IngestMode::Append),
        )
        .await
        .unwrap();
    assert!(again.no_op);

    let rerun = Lakehouse::migrate(root, MigrateOptions::default())
        .await
        .unwrap();
    assert!(rerun.datasets.is_empty());
    assert_eq!(rerun.already_migrated.len(), 3);
    let cleaned = Lakehouse::migrate(root, MigrateOptions { remove_old: true })
        .await
        .unwrap();
    assert!(cleaned.removed > 0);
    let mut left = Vec::new();
    let mut stack = vec![dir.path().join("_catalog")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                left.push(e.path());
            }
        }
    }
    assert!(left.is_empty(), "{left:?}");
    let lh = Lakehouse::open(root).await.unwrap();
    assert_eq!(
        lh.sql(r#"SELECT count(*) FROM "teams@0""#)
            .await
            .unwrap()
            .to_json()
            .unwrap()
            .rows,
        [[3]]
    );
}

/// Tables this library creates are checkpointed every [`CHECKPOINT_INTERVAL`] commits, so
/// that opening one (every commit does) replays at most that many JSON commits: the memory
/// and time of a commit stop growing with the appends of a long-running writer. Other
/// engines read the checkpointed table and its older versions.
///
/// [`CHECKPOINT_INTERVAL`]: lakehouse_core::catalog::CHECKPOINT_INTERVAL
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_checkpointed_every_ten_commits() {
    use lakehouse_core::catalog::CHECKPOINT_INTERVAL;
    use lakehouse_core::{IngestMode, IngestOptions};
    let dir = tempfile::tempdir().unwrap();
    let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let last = 2 * CHECKPOINT_INTERVAL + 3;
    for v in 0..=last {
        let mode = if v == 0 {
            IngestMode::Create
        } else {
            IngestMode::Append
        };
        let csv = format!("id,name\n{v},n{v}\n");
        let written = lh
            .dataset("ticks")
            .write(csv, &IngestOptions::mode(mode))
            .await
            .unwrap();
        assert_eq!(written.manifest.version, v);
    }
    let log = dir.path().join("datasets/ticks/_delta_log");
    let checkpoints: Vec<u64> = (0..=last)
        .filter(|v| log.join(format!("{v:020}.checkpoint.parquet")).exists())
        .collect();
    assert_eq!(
        checkpoints,
        [CHECKPOINT_INTERVAL - 1, 2 * CHECKPOINT_INTERVAL - 1],
        "checkpoints in {log:?}"
    );
    let pointer = std::fs::read_to_string(log.join("_last_checkpoint")).unwrap();
    let pointer: serde_json::Value = serde_json::from_str(&pointer).unwrap();
    assert_eq!(pointer["version"], 2 * CHECKPOINT_INTERVAL - 1);
    // Reopened, the table reads from its checkpoint: every version is there.
    drop(lh);
    let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let ids = lh
        .sql("SELECT count(*) AS n, sum(id) AS s FROM ticks")
        .await
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(
        ids.rows[0],
        [
            serde_json::json!(last + 1),
            serde_json::json!(last * (last + 1) / 2)
        ]
    );
    let versions = format!("3,{},{last}", CHECKPOINT_INTERVAL + 1);
    let out = std::process::Command::new("python3")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_delta.py"))
        .args([log.parent().unwrap().to_str().unwrap(), versions.as_str()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for v in [3, CHECKPOINT_INTERVAL + 1, last] {
        let ids: Vec<u64> = (0..=v).collect();
        assert_eq!(
            read["deltalake"][v.to_string()]["ids"],
            serde_json::json!(ids),
            "version {v}"
        );
    }
    assert_eq!(
        read["polars"]["ids"].as_array().map(Vec::len),
        Some(last as usize + 1)
    );
}

/// Dropping a dataset removes every version and file, for lakehouse and for other readers;
/// the name is free again. A drop cut short by a crash (its marker written, files left)
/// reads as done, and the next create of the name starts clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_dataset_is_gone_and_its_name_free() {
    use lakehouse_core::{ErrorKind, IngestMode, IngestOptions};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let lh = lakehouse_core::Lakehouse::open(root).await.unwrap();
    let o = IngestOptions::mode;
    lh.dataset("crew")
        .write("id,name\n1,a\n2,b\n", &o(IngestMode::Create))
        .await
        .unwrap();
    lh.dataset("crew")
        .write("id,name\n3,c\n", &o(IngestMode::Append))
        .await
        .unwrap();
    lh.dataset("keep")
        .write("id\n1\n", &o(IngestMode::Create))
        .await
        .unwrap();
    let table = dir.path().join("datasets/crew");
    lh.dataset("crew").drop().await.unwrap();
    assert!(!table.exists() || std::fs::read_dir(&table).unwrap().next().is_none());
    let names = |lh: &lakehouse_core::Lakehouse| -> Vec<String> {
        lh.datasets().iter().map(|m| m.name.clone()).collect()
    };
    assert_eq!(names(&lh), ["keep"]);
    assert_eq!(
        lh.dataset("crew").manifest().await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(lh.sql("SELECT * FROM crew").await.is_err());
    assert!(lh.sql(r#"SELECT * FROM "crew@0""#).await.is_err());
    assert_eq!(
        lh.dataset("crew").drop().await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Another process (a fresh open) agrees.
    let other = lakehouse_core::Lakehouse::open(root).await.unwrap();
    assert_eq!(names(&other), ["keep"]);

    // The name starts again at version 0 with only the new rows.
    let again = lh
        .dataset("crew")
        .write("id,name\n9,z\n", &o(IngestMode::Create))
        .await
        .unwrap();
    assert_eq!((again.manifest.version, again.manifest.row_count), (0, 1));

    // A drop cut short: the marker is there, the table's files too.
    std::fs::write(table.join("_lakehouse_dropped"), b"").unwrap();
    let reopened = lakehouse_core::Lakehouse::open(root).await.unwrap();
    assert_eq!(names(&reopened), ["keep"]);
    let fresh = reopened
        .dataset("crew")
        .write("id,name\n7,y\n8,x\n", &o(IngestMode::Create))
        .await
        .unwrap();
    assert_eq!((fresh.manifest.version, fresh.manifest.row_count), (0, 2));
    assert!(!table.join("_lakehouse_dropped").exists());
    let log: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(log, ["00000000000000000000.json"]);
    let rows = reopened
        .sql("SELECT id FROM crew ORDER BY id")
        .await
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(rows.rows, [[serde_json::json!(7)], [serde_json::json!(8)]]);
}
