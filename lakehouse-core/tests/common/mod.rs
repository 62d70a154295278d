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
    lh.ingest("crew", csv, &o(IngestMode::Create))
        .await
        .unwrap();
    lh.ingest("crew", "id,name,score\n4,Di,3.5\n", &o(IngestMode::Append))
        .await
        .unwrap();
    let changes = "id,name,score\n2,Bob,9.0\n5,Eve,4.5\n";
    let up = lh
        .ingest("crew", changes, &o(IngestMode::Upsert).with_keys(["id"]))
        .await
        .unwrap();
    assert_eq!((up.manifest.version, up.manifest.row_count), (2, 5));
    let del = lh.delete("crew", "id = 3").await.unwrap();
    assert_eq!(
        (
            del.rows_deleted,
            del.manifest.version,
            del.manifest.row_count
        ),
        (1, 3, 4)
    );
    let history: Vec<_> = lh
        .versions("crew")
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
        let err = lh.delete("crew", bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}: {err}");
    }
    let err = lh
        .ingest("crew", changes, &o(IngestMode::Upsert))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = lh
        .ingest("crew", changes, &o(IngestMode::Upsert).with_keys(["nope"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(lh.manifest("crew").unwrap().version, 3);

    let mut ours = serde_json::Map::new();
    for v in 0..=3 {
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

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_delta.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([table_uri, "0,1,2,3"])
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
    assert_eq!(read["polars"], ours["3"], "polars");
    assert_eq!(read["deltalake_history"].as_array().map(Vec::len), Some(4));
    match read.get("duckdb") {
        Some(duck) => assert_eq!(duck, &ours["3"], "duckdb"),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI must set LAKEHOUSE_DUCKDB_DELTA (scripts/test.sh installs DuckDB 1.4.4)")
        }
        None => eprintln!("LAKEHOUSE_DUCKDB_DELTA not set: DuckDB's delta_scan not checked"),
    }
}
