//! The `lakehouse` command line, run as a process: ingest, sql in every format, index
//! create/add/search/list/info/delete, embed, doctor, and the exit status and message of
//! bad input.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use lakehouse_core::{Format, IndexKind, IngestMode, Metric, Quantization};
use serde_json::Value;

/// Runs `lakehouse --root ROOT ARGS…`.
fn lakehouse(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run lakehouse")
}

/// Runs it and returns standard output, failing the test on a non-zero exit.
fn ok(root: &Path, args: &[&str]) -> String {
    let out = lakehouse(root, args);
    assert!(
        out.status.success(),
        "lakehouse {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs it expecting failure; returns standard error.
fn fails(root: &Path, args: &[&str]) -> String {
    let out = lakehouse(root, args);
    assert!(!out.status.success(), "lakehouse {args:?} should fail");
    String::from_utf8(out.stderr).expect("utf-8 output")
}

/// Files (not folders) under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn workers(dir: &Path) -> std::path::PathBuf {
    let csv = dir.join("workers.csv");
    std::fs::write(
        &csv,
        "id,name,city\n1,Alice,Chicago\n2,Bob,\"Denver, CO\"\n3,Chen,Austin\n",
    )
    .unwrap();
    csv
}

#[test]
fn sql_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lh");
    let csv = workers(dir.path());
    let out = ok(
        &root,
        &["ingest", csv.to_str().unwrap(), "--name", "workers"],
    );
    assert!(out.contains("version 0 with 3 rows"), "{out}");
    assert!(ok(&root, &["datasets"]).starts_with("workers\tv0\t3 rows"));

    let q = "SELECT id, name, city FROM workers ORDER BY id";
    let table = ok(&root, &["sql", q]);
    assert!(
        table.contains("| Alice") && table.contains("Denver, CO"),
        "{table}"
    );

    let json: Value = serde_json::from_str(&ok(&root, &["sql", q, "--format", "json"])).unwrap();
    assert_eq!(json["row_count"], 3);
    assert_eq!(json["rows"][1][1], "Bob");

    let csv_out = ok(&root, &["sql", q, "--format", "csv"]);
    assert_eq!(
        csv_out,
        "id,name,city\n1,Alice,Chicago\n2,Bob,\"Denver, CO\"\n3,Chen,Austin\n"
    );
    // No rows still gives the header.
    let empty = ok(
        &root,
        &[
            "sql",
            "SELECT name FROM workers WHERE id > 9",
            "--format",
            "csv",
        ],
    );
    assert_eq!(empty, "name\n");

    // Parquet to a file: ingest it back and compare.
    let pq = dir.path().join("out.parquet");
    ok(
        &root,
        &["sql", q, "--format", "parquet", "-o", pq.to_str().unwrap()],
    );
    let bytes = std::fs::read(&pq).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let names =
        arrow::compute::cast(batches[0].column(1), &arrow::datatypes::DataType::Utf8).unwrap();
    let names = arrow::array::AsArray::as_string::<i32>(&names);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    assert_eq!(names.value(2), "Chen");
    // The Parquet file comes back in as a dataset (format from the extension, or named by an
    // alias), with the same rows.
    let out = ok(&root, &["ingest", pq.to_str().unwrap(), "--name", "copy"]);
    assert!(out.contains("version 0 with 3 rows"), "{out}");
    let again = ok(
        &root,
        &[
            "ingest",
            pq.to_str().unwrap(),
            "--name",
            "copy",
            "--format",
            "PQ",
            "--mode",
            "overwrite",
        ],
    );
    assert!(again.contains("unchanged"), "{again}");
    let copy = "SELECT id, name, city FROM copy ORDER BY id";
    assert_eq!(ok(&root, &["sql", copy, "--format", "csv"]), csv_out);
    let err = fails(&root, &["ingest", pq.to_str().unwrap(), "--format", "xlsx"]);
    // Choices are listed (core's canonical names), as --help and completions list them.
    assert!(
        err.contains("invalid value 'xlsx'")
            && err.contains("[possible values: csv, ndjson, parquet, arrow]"),
        "{err}"
    );

    // Bad SQL and writes: a message naming the kind, exit status 1.
    let err = fails(&root, &["sql", "SELECT nope FROM workers"]);
    assert!(err.starts_with("error (invalid_input):"), "{err}");
    let err = fails(&root, &["sql", "DROP TABLE workers"]);
    assert!(err.contains("error ("), "{err}");
    let err = fails(&root, &["sql", "SELECT * FROM missing"]);
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn vector_index_commands() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lh");
    let info: Value = serde_json::from_str(&ok(
        &root,
        &[
            "index",
            "create",
            "v",
            "--dimensions",
            "3",
            "--metric",
            "l2",
            "--quantization",
            "f16",
        ],
    ))
    .unwrap();
    assert_eq!(info["spec"]["dimensions"], 3, "{info}");
    assert_eq!(info["spec"]["metric"], "l2");
    assert_eq!(info["spec"]["quantization"], "f16");
    let err = fails(
        &root,
        &[
            "index",
            "create",
            "w",
            "--dimensions",
            "3",
            "--metric",
            "hamming",
        ],
    );
    assert!(
        err.contains("[possible values: cosine, l2, inner_product]"),
        "{err}"
    );

    let records = dir.path().join("records.jsonl");
    std::fs::write(
        &records,
        "{\"id\":\"a\",\"vector\":[1,0,0],\"metadata\":{\"city\":\"Chicago\"}}\n\n\
         {\"id\":\"b\",\"vector\":[0,1,0]}\n{\"id\":\"c\",\"vector\":[0,0,1]}\n",
    )
    .unwrap();
    let out = ok(&root, &["index", "add", "v", records.to_str().unwrap()]);
    assert_eq!(out.trim(), "v: 3 added, 3 vectors");

    let hits = ok(
        &root,
        &["index", "search", "v", "--vector", "[0.9,0.1,0]", "-k", "2"],
    );
    let lines: Vec<&str> = hits.lines().collect();
    assert_eq!(lines.len(), 2, "{hits}");
    assert!(
        lines[0].contains("\ta\t") && lines[0].contains("Chicago"),
        "{hits}"
    );
    assert!(lines[1].contains("\tb\t"), "{hits}");

    // A bad line is reported with its number, and nothing is added.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"d\",\"vector\":[1,1,1]}\n{\"id\":\"e\"}\n").unwrap();
    let err = fails(&root, &["index", "add", "v", bad.to_str().unwrap()]);
    assert!(err.contains("line 2"), "{err}");
    let wrong = dir.path().join("wrong.jsonl");
    std::fs::write(&wrong, "{\"id\":\"d\",\"vector\":[1,1]}\n").unwrap();
    let err = fails(&root, &["index", "add", "v", wrong.to_str().unwrap()]);
    assert!(err.contains("dimension"), "{err}");
    let info: Value = serde_json::from_str(&ok(&root, &["index", "info", "v"])).unwrap();
    assert_eq!(info["count"], 3, "{info}");

    let err = fails(&root, &["index", "search", "v"]);
    assert!(err.contains("give a query"), "{err}");
    let err = fails(&root, &["index", "search", "nope", "--vector", "[1,0,0]"]);
    assert!(err.starts_with("error (not_found)"), "{err}");

    assert_eq!(ok(&root, &["index", "list"]).trim(), "v");
    ok(&root, &["index", "delete", "v"]);
    assert_eq!(ok(&root, &["index", "list"]).trim(), "");
    // No files left behind (the local store may keep empty folders).
    let left: Vec<_> = walk(&root.join("_vectors/v"));
    assert!(left.is_empty(), "{left:?}");
}

/// Needs the default model (`lakehouse model install`, done by scripts/test.sh).
#[test]
fn text_records_embed_and_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lh");
    let vector = |extra: &[&str]| -> Vec<f64> {
        let mut args = vec!["embed", "forklift operator", "--format", "json"];
        args.extend_from_slice(extra);
        let v: Value = serde_json::from_str(&ok(&root, &args)).unwrap();
        let v = v["vectors"][0].as_array().unwrap();
        v.iter().map(|x| x.as_f64().unwrap()).collect()
    };
    let (f16, f32) = (vector(&[]), vector(&["--precision", "f32"]));
    assert_eq!(f16.len(), 384);
    assert_ne!(f16, f32, "--precision f32 runs the f32 weights");
    let cosine: f64 = f16.iter().zip(&f32).map(|(a, b)| a * b).sum();
    assert!(cosine > 0.9999, "f16 and f32 weights agree: {cosine}");
    let err = fails(&root, &["--precision", "bf16", "datasets"]);
    assert!(
        err.contains("invalid value 'bf16'") && err.contains("f16") && err.contains("f32"),
        "{err}"
    );
    ok(&root, &["index", "create", "people", "--dimensions", "384"]);
    let records = dir.path().join("people.jsonl");
    std::fs::write(
        &records,
        "{\"id\":\"w1\",\"text\":\"Forklift operator with OSHA certification, night shifts\"}\n\
         {\"id\":\"w2\",\"text\":\"Registered nurse in a pediatric ward\"}\n\
         {\"id\":\"w3\",\"vector\":[",
    )
    .unwrap();
    // The third line is cut off: nothing is added.
    let err = fails(
        &root,
        &["index", "add", "people", records.to_str().unwrap()],
    );
    assert!(err.contains("line 3"), "{err}");
    std::fs::write(
        &records,
        "{\"id\":\"w1\",\"text\":\"Forklift operator with OSHA certification, night shifts\"}\n\
         {\"id\":\"w2\",\"text\":\"Registered nurse in a pediatric ward\"}\n",
    )
    .unwrap();
    ok(
        &root,
        &["index", "add", "people", records.to_str().unwrap()],
    );
    let hits = ok(
        &root,
        &["index", "search", "people", "warehouse lift truck driver"],
    );
    assert!(hits.lines().next().unwrap().contains("\tw1"), "{hits}");
    let hits = ok(
        &root,
        &["index", "search", "people", "nurse for children", "-k", "1"],
    );
    assert!(hits.trim().ends_with("w2"), "{hits}");

    let report: Value = serde_json::from_str(&ok(&root, &["doctor", "--json"])).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["root", "datasets", "vector indexes", "embedding model"]
    );
    assert!(
        report["checks"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("people")
    );
    // The model's precision and the kernels that run it.
    let model = report["checks"][3]["detail"].as_str().unwrap();
    assert!(model.contains("f16") || model.contains("f32"), "{model}");
    assert!(model.contains("kernels: "), "{model}");
    assert!(
        model.starts_with("native: ") && model.contains(", native)"),
        "{model}"
    );
    // The candle backend over the same folder: doctor names it and its device.
    let out = lakehouse(&root, &["--embedder", "candle", "doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let model = report["checks"][3]["detail"].as_str().unwrap();
    assert!(
        out.status.success()
            && model.starts_with("candle: all-MiniLM-L6-v2")
            && model.contains("candle on cpu"),
        "{report}"
    );

    // A missing model: doctor says so and exits non-zero; the message names the fix.
    let missing = dir.path().join("no-model");
    let out = lakehouse(
        &root,
        &["--model", missing.to_str().unwrap(), "doctor", "--json"],
    );
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["checks"][0]["ok"], true);
    assert_eq!(report["checks"][3]["ok"], false);
    assert!(
        report["checks"][3]["detail"]
            .as_str()
            .unwrap()
            .contains("lakehouse model install"),
        "{report}"
    );
    let text = ok(&root, &["doctor"]);
    assert!(text.lines().all(|l| l.starts_with("ok  ")), "{text}");
}

/// `doctor` on an s3:// root probes the server (SeaweedFS on loopback, started by
/// scripts/test.sh; skipped when `LAKEHOUSE_TEST_S3` is unset outside CI).
#[test]
fn doctor_checks_an_s3_root() {
    let base = match std::env::var("LAKEHOUSE_TEST_S3") {
        Ok(base) => base,
        Err(_) if std::env::var_os("CI").is_some() => panic!("CI must set LAKEHOUSE_TEST_S3"),
        Err(_) => return,
    };
    let run = |root: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_lakehouse"))
            .args(["--root", root, "doctor", "--json"])
            .output()
            .expect("run lakehouse");
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.success(), report)
    };
    let root = format!(
        "{}/doctor-{}",
        base.trim_end_matches('/'),
        std::process::id()
    );
    let (_, report) = run(&root);
    assert_eq!(report["checks"][0]["name"], "root");
    assert_eq!(report["checks"][0]["ok"], true, "{report}");
    assert!(
        report["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("s3://"),
        "{report}"
    );
    // A bucket that does not exist: the probe fails, and so does doctor.
    let (ok, report) = run("s3://no-such-bucket-for-lakehouse-doctor/x");
    assert!(!ok);
    assert_eq!(report["checks"][0]["ok"], false, "{report}");
}

/// Every accepted name of a format, ingest mode, metric and quantization works as a CLI
/// argument (the names come from core's tables, so a new alias is covered here too).
#[test]
fn every_alias_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lh");
    let file = |format: Format| {
        let path = dir.path().join(format!("rows.{}", format.as_str()));
        if !path.exists() {
            std::fs::write(&path, common::rows_as(format)).unwrap();
        }
        path
    };
    let ingest = |format: Format, name: &str, flag: &str, alias: &str| {
        let path = file(format);
        let args = [
            "ingest",
            path.to_str().unwrap(),
            "--name",
            name,
            flag,
            alias,
        ];
        ok(&root, &args)
    };
    for (i, (alias, format)) in Format::NAMES.iter().enumerate() {
        let out = ingest(*format, &format!("f{i}"), "--format", alias);
        assert!(out.contains("with 3 rows"), "{alias}: {out}");
    }
    for (i, (alias, mode)) in IngestMode::NAMES.iter().enumerate() {
        let (path, name) = (file(Format::Csv), format!("m{i}"));
        let mut args = vec!["ingest", path.to_str().unwrap(), "--name", &name];
        args.extend(["--mode", alias]);
        if *mode == IngestMode::Upsert {
            args.extend(["--key", "id"]);
        }
        let out = ok(&root, &args);
        assert!(out.contains("version 0"), "{alias}: {out}");
    }
    for (i, (alias, kind)) in IndexKind::NAMES.iter().enumerate() {
        let name = format!("k{i}");
        let args = [
            "index",
            "create",
            &name,
            "--dimensions",
            "4",
            "--kind",
            alias,
        ];
        let info: Value = serde_json::from_str(&ok(&root, &args)).unwrap();
        assert_eq!(info["spec"]["kind"], kind.as_str(), "{alias}");
    }
    for (i, (alias, metric)) in Metric::NAMES.iter().enumerate() {
        let (q_alias, quantization) = Quantization::NAMES[i % Quantization::NAMES.len()];
        let name = format!("i{i}");
        ok(
            &root,
            &[
                "index",
                "create",
                &name,
                "--dimensions",
                "4",
                "--metric",
                alias,
                "--quantization",
                q_alias,
            ],
        );
        let info: Value = serde_json::from_str(&ok(&root, &["index", "info", &name])).unwrap();
        assert_eq!(info["spec"]["metric"], metric.as_str(), "{alias}");
        assert_eq!(info["spec"]["kind"], "auto", "the default kind");
        assert_eq!(
            info["spec"]["quantization"],
            quantization.as_str(),
            "{q_alias}"
        );
    }
    let err = fails(
        &root,
        &[
            "index",
            "create",
            "x",
            "--dimensions",
            "4",
            "--metric",
            "taxicab",
        ],
    );
    assert!(
        err.contains("[possible values: cosine, l2, inner_product]"),
        "{err}"
    );
}

/// Runs `lakehouse --root ROOT ARGS…` with `input` on standard input.
fn with_stdin(root: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run lakehouse");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The CLI for scripts (issue 23 item 7): `--json` results, `-` for standard input, exit
/// codes by error kind, and the commands for expiry, record removal and lookup, matrix
/// search and playbook records.
#[test]
fn scripting_json_stdin_exit_codes_and_more_commands() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lh");
    let code = |args: &[&str]| lakehouse(&root, args).status.code();

    // Ingest and SQL from standard input, results as JSON.
    let csv = "id,name\n1,Ann\n2,Bo\n";
    let r = json_of(&with_stdin(
        &root,
        &["ingest", "-", "--name", "people", "--json"],
        csv,
    ));
    assert_eq!(r["manifest"]["version"], 0);
    assert_eq!(r["rows"], 2);
    let out = with_stdin(&root, &["ingest", "-"], csv);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name"));
    let r = json_of(&with_stdin(
        &root,
        &["sql", "-", "--json"],
        "SELECT name FROM people ORDER BY id",
    ));
    assert_eq!(r["rows"], serde_json::json!([["Ann"], ["Bo"]]));
    let list = json_of(&lakehouse(&root, &["datasets", "--json"]));
    assert_eq!(list[0]["name"], "people");
    with_stdin(
        &root,
        &["ingest", "-", "--name", "people", "--mode", "append"],
        "id,name\n3,Cy\n",
    );
    let versions = json_of(&lakehouse(&root, &["versions", "people", "--json"]));
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let expired = json_of(&lakehouse(
        &root,
        &["expire", "people", "--keep-from", "1", "--json"],
    ));
    assert_eq!(expired["versions_removed"], serde_json::json!([0]));
    // Version 1 holds two files (the first ingest's and the append's): merged into one.
    let optimized = json_of(&lakehouse(&root, &["optimize", "people", "--json"]));
    assert_eq!(
        (&optimized["files_removed"], &optimized["files_added"]),
        (&serde_json::json!(2), &serde_json::json!(1))
    );
    assert_eq!(optimized["manifest"]["version"], 2);
    assert_eq!(optimized["manifest"]["row_count"], 3);
    let text = lakehouse(&root, &["optimize", "people"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("nothing to merge (version 2)"),
        "{text:?}"
    );

    // Exit codes by kind.
    assert_eq!(code(&["versions", "nope"]), Some(4), "not found");
    assert_eq!(code(&["sql", "DROP TABLE people"]), Some(7), "not allowed");
    let drift = with_stdin(
        &root,
        &["ingest", "-", "--name", "people", "--mode", "append"],
        "other\n1\n",
    );
    assert_eq!(drift.status.code(), Some(5), "conflict");
    assert_eq!(code(&["sql", "SELEC 1"]), Some(3), "invalid input");
    assert_eq!(code(&["no-such-command"]), Some(2), "usage");
    assert_eq!(code(&["-q", "datasets"]), Some(0));
    assert_eq!(code(&["-vv", "datasets"]), Some(0));

    // Drop a dataset; dropping it again is "not found".
    with_stdin(&root, &["ingest", "-", "--name", "scratch"], "n\n1\n");
    let dropped = json_of(&lakehouse(&root, &["drop", "scratch", "--json"]));
    assert_eq!(dropped["dropped"], "scratch");
    let list = json_of(&lakehouse(&root, &["datasets", "--json"]));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|d| d["name"] != "scratch"),
        "{list}"
    );
    assert_eq!(code(&["drop", "scratch"]), Some(4), "not found");

    // Index records: add from standard input, get, remove, search, matrix search.
    ok(&root, &["index", "create", "v", "--dimensions", "2"]);
    let jsonl = "{\"id\": \"a\", \"vector\": [1.0, 0.0], \"metadata\": {\"g\": 1}}\n\
                 {\"id\": \"b\", \"vector\": [0.0, 1.0], \"metadata\": {\"g\": 2}}\n";
    let added = json_of(&with_stdin(
        &root,
        &["index", "add", "v", "-", "--json"],
        jsonl,
    ));
    assert_eq!(
        (added["added"].as_u64(), added["count"].as_u64()),
        (Some(2), Some(2))
    );
    let got = json_of(&lakehouse(&root, &["index", "get", "v", "a", "--json"]));
    assert_eq!(got[0]["vector"], serde_json::json!([1.0, 0.0]));
    assert_eq!(got[0]["metadata"], serde_json::json!({"g": 1}));
    assert_eq!(code(&["index", "get", "v", "a", "zz"]), Some(4));
    // Every record in the order stored: JSON lines, or an array with --json.
    let all = ok(&root, &["index", "records", "v"]);
    let lines: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (&lines[0]["id"], &lines[1]["id"]),
        (&"a".into(), &"b".into())
    );
    assert_eq!(lines[1]["vector"], serde_json::json!([0.0, 1.0]));
    let first = json_of(&lakehouse(
        &root,
        &["index", "records", "v", "--limit", "1", "--json"],
    ));
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["metadata"], serde_json::json!({"g": 1}));
    let hits = json_of(&lakehouse(
        &root,
        &[
            "index",
            "search",
            "v",
            "--vector",
            "[0.9, 0.1]",
            "-k",
            "1",
            "--json",
        ],
    ));
    assert_eq!(hits[0]["id"], "a");
    let m = json_of(&lakehouse(
        &root,
        &[
            "matrix",
            "--vector",
            "[0.9, 0.1]",
            "--corpus",
            "v",
            "--filter",
            "{\"g\": 2}",
            "--json",
        ],
    ));
    assert_eq!(m["hits"][0]["id"], "b");
    assert_eq!(m["hits"][0]["corpus"], "v");
    assert_eq!(m["hits"].as_array().unwrap().len(), 1);
    let removed = json_of(&lakehouse(
        &root,
        &["index", "remove", "v", "a", "zz", "--json"],
    ));
    assert_eq!(
        (removed["removed"].as_u64(), removed["count"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(code(&["index", "get", "v", "a"]), Some(4));
    // By metadata: what passes --where goes; no ids and no --where is a usage error, an
    // empty filter (everything) is refused.
    assert_eq!(code(&["index", "remove", "v"]), Some(2));
    assert_eq!(code(&["index", "remove", "v", "--where", "{}"]), Some(3));
    assert_eq!(
        code(&["index", "remove", "v", "b", "--where", "{\"g\": 2}"]),
        Some(2)
    );
    let unmatched = json_of(&lakehouse(
        &root,
        &["index", "remove", "v", "--where", "{\"g\": 7}", "--json"],
    ));
    assert_eq!(unmatched["removed"].as_u64(), Some(0));
    let removed = json_of(&lakehouse(
        &root,
        &[
            "index",
            "remove",
            "v",
            "--where",
            "{\"g\": [2, 3]}",
            "--json",
        ],
    ));
    assert_eq!(
        (removed["removed"].as_u64(), removed["count"].as_u64()),
        (Some(1), Some(0))
    );
    // Storage options: KEY=VALUE, and only for an s3:// root.
    assert_eq!(code(&["--storage-option", "region", "datasets"]), Some(2));
    assert_eq!(
        code(&["--storage-option", "region=eu-west-1", "datasets"]),
        Some(3)
    );
}

/// `playbook record` embeds its query with the installed model (scripts/test.sh installs it).
#[test]
fn playbook_record_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lh");
    let r = json_of(&lakehouse(
        &root,
        &[
            "playbook",
            "record",
            "forklift driver in Reno",
            "w7",
            "--corpus",
            "workers",
            "--score",
            "0.9",
            "--tag",
            "night",
            "--json",
        ],
    ));
    assert_eq!(r["playbook_id"].as_str().unwrap().len(), 64);
    let bad = lakehouse(
        &root,
        &[
            "playbook", "record", "q", "w7", "--corpus", "workers", "--score", "3",
        ],
    );
    assert_eq!(bad.status.code(), Some(3));
}

/// `completions` prints each shell's script, covering subcommands and their choices, and
/// touches no root.
#[test]
fn completion_scripts_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("never-made");
    let bash = ok(&root, &["completions", "bash"]);
    assert!(bash.contains("_lakehouse()"), "{bash}");
    for word in ["index", "serve", "--storage-option", "cosine"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    for (shell, mark) in [
        ("zsh", "#compdef lakehouse"),
        ("fish", "complete -c lakehouse"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion"),
    ] {
        let script = ok(&root, &["completions", shell]);
        assert!(script.contains(mark), "{shell}: {script}");
    }
    assert_eq!(
        lakehouse(&root, &["completions", "tcsh"]).status.code(),
        Some(2)
    );
    assert!(!root.exists());
}
