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
    assert!(err.to_string().contains("lakehouse migrate"), "{err}");

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
            lh.versions(name)
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
        .ingest(
            "workers",
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
