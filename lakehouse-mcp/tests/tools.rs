//! The MCP tools and resources called in process (no transport): what each returns, the
//! limits, and how bad arguments and core errors come back. The same server is driven by
//! the official Python client over stdio and HTTP in `tests/test_mcp_client.py`.

use std::time::Duration;

use lakehouse_core::{IndexSpec, IngestOptions, Lakehouse, VectorRecord};
use lakehouse_mcp::{LakehouseMcp, McpOptions};
use rmcp::model::{CallToolResult, ErrorCode, JsonObject};
use serde_json::{Value, json};

const WORKERS: &str = "id,name,city,state\n1,Alice,Chicago,IL\n2,Bob,Denver,CO\n3,Chen,Austin,TX\n";

async fn lakehouse(dir: &std::path::Path) -> Lakehouse {
    let lh = Lakehouse::open(dir.join("lh").to_str().unwrap())
        .await
        .unwrap();
    lh.dataset("workers")
        .write(WORKERS, &IngestOptions::default())
        .await
        .unwrap();
    let index = lh
        .vectors()
        .create(IndexSpec::new("people", 3))
        .await
        .unwrap();
    index
        .add(vec![
            VectorRecord::new("a", vec![1.0, 0.0, 0.0]).with_metadata(json!({"state": "IL"})),
            VectorRecord::new("b", vec![0.9, 0.1, 0.0]).with_metadata(json!({"state": "CO"})),
            VectorRecord::new("c", vec![0.0, 1.0, 0.0]).with_metadata(json!({"state": "IL"})),
        ])
        .await
        .unwrap();
    lh
}

fn args(v: Value) -> JsonObject {
    v.as_object().expect("an object").clone()
}

#[track_caller]
fn ok(result: &CallToolResult) -> &Value {
    assert_eq!(result.is_error, Some(false), "{result:?}");
    result.structured_content.as_ref().expect("structured")
}

#[track_caller]
fn error_kind(result: &CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let s = result.structured_content.as_ref().expect("structured");
    s["error"]["kind"].as_str().expect("kind").to_string()
}

fn text(result: &CallToolResult) -> String {
    result.content[0].as_text().expect("text").text.clone()
}

#[tokio::test]
async fn tools_listed_follow_the_switches() {
    let dir = tempfile::tempdir().unwrap();
    let lh = lakehouse(dir.path()).await;
    let names = |s: &LakehouseMcp| -> Vec<String> {
        s.tools().into_iter().map(|t| t.name.to_string()).collect()
    };
    let read_only = LakehouseMcp::new(lh.clone(), McpOptions::default()).unwrap();
    assert_eq!(
        names(&read_only),
        [
            "list_datasets",
            "get_manifest",
            "query_sql",
            "list_indexes",
            "embed_text",
            "search_vectors",
            "matrix_search"
        ]
    );
    let writes = LakehouseMcp::new(
        lh.clone(),
        McpOptions {
            allow_writes: true,
            ..McpOptions::default()
        },
    )
    .unwrap();
    assert!(names(&writes).contains(&"record_playbook".to_string()));
    assert!(!names(&writes).contains(&"ingest".to_string()));
    let all = LakehouseMcp::new(
        lh.clone(),
        McpOptions {
            allow_writes: true,
            allow_dirs: vec![dir.path().to_path_buf()],
            ..McpOptions::default()
        },
    )
    .unwrap();
    let tools = all.tools();
    assert_eq!(tools.len(), 9);
    for t in &tools {
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        assert!(t.description.as_deref().is_some_and(|d| d.len() > 40));
        let out = t.output_schema.as_ref().expect("output schema");
        assert_eq!(out["type"], "object", "{}", t.name);
        let hints = t.annotations.as_ref().expect("annotations");
        let writes = t.name == "ingest" || t.name == "record_playbook";
        assert_eq!(hints.read_only_hint, Some(!writes), "{}", t.name);
        assert_eq!(hints.idempotent_hint, Some(true), "{}", t.name);
    }
    // Arguments are described field by field, for an agent to act on.
    let search = tools.iter().find(|t| t.name == "search_vectors").unwrap();
    let props = search.input_schema["properties"].as_object().unwrap();
    for field in ["index", "text", "vector", "k", "filter", "exclude_ids"] {
        assert!(
            props[field]["description"].is_string(),
            "{field}: {props:?}"
        );
    }
    assert_eq!(search.input_schema["additionalProperties"], false);
    assert_eq!(props["k"]["maximum"], lakehouse_core::vector::MAX_K);

    // A tool that is off cannot be called, and says which switch turns it on.
    let e = read_only
        .call("record_playbook", args(json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    assert!(e.message.contains("--allow-writes"), "{}", e.message);
    let e = writes.call("ingest", args(json!({}))).await.unwrap_err();
    assert!(e.message.contains("--allow-dir"), "{}", e.message);
}

#[tokio::test]
async fn datasets_manifest_and_sql() {
    let dir = tempfile::tempdir().unwrap();
    let lh = lakehouse(dir.path()).await;
    lh.dataset("workers")
        .write(
            "id,name,city,state\n4,Dana,Boston,MA\n",
            &IngestOptions::mode(lakehouse_core::IngestMode::Append),
        )
        .await
        .unwrap();
    let s = LakehouseMcp::new(lh, McpOptions::default()).unwrap();

    let r = s.call("list_datasets", JsonObject::new()).await.unwrap();
    let d = &ok(&r)["datasets"][0];
    assert_eq!(
        (d["name"].as_str(), d["version"].as_u64()),
        (Some("workers"), Some(1))
    );
    assert_eq!(d["row_count"], 4);
    assert_eq!(d["columns"][1]["name"], "name");
    assert!(text(&r).contains("workers (v1, 4 rows)"), "{}", text(&r));

    let r = s
        .call("get_manifest", args(json!({"name": "workers"})))
        .await
        .unwrap();
    let m = ok(&r);
    assert_eq!(m["versions"].as_array().unwrap().len(), 2);
    assert_eq!(m["versions"][0]["row_count"], 3);
    assert_eq!(m["operation"], "append");

    let r = s
        .call(
            "query_sql",
            args(json!({"sql": "SELECT name FROM \"workers@0\" ORDER BY id"})),
        )
        .await
        .unwrap();
    let q = ok(&r);
    assert_eq!(q["rows"], json!([["Alice"], ["Bob"], ["Chen"]]));
    assert_eq!(
        (q["row_count"].as_u64(), q["truncated"].as_bool()),
        (Some(3), Some(false))
    );
    assert!(q.get("note").is_none());
    assert!(text(&r).contains("Alice"));

    // Over the caller's max_rows: cut, with a note, not an error.
    let r = s
        .call(
            "query_sql",
            args(json!({"sql": "SELECT id FROM workers ORDER BY id", "max_rows": 2})),
        )
        .await
        .unwrap();
    let q = ok(&r);
    assert_eq!(q["rows"], json!([[1], [2]]));
    assert_eq!(q["truncated"], true);
    assert!(q["note"].as_str().unwrap().contains("first 2 rows"), "{q}");
    assert!(
        text(&r).starts_with("2 rows (more not shown)"),
        "{}",
        text(&r)
    );

    // A missing dataset and a refused statement are error results with their kind.
    let r = s
        .call("get_manifest", args(json!({"name": "nobody"})))
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "not_found");
    for refused in [
        "DROP TABLE workers",
        "COPY workers TO '/tmp/x.csv'",
        "SET a = 1",
    ] {
        let r = s
            .call("query_sql", args(json!({"sql": refused})))
            .await
            .unwrap();
        assert_eq!(error_kind(&r), "validation", "{refused}");
        assert!(text(&r).starts_with("validation: "), "{}", text(&r));
    }
    let r = s
        .call("query_sql", args(json!({"sql": "SELEC 1"})))
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "invalid_input");
}

#[tokio::test]
async fn limits_cut_rows_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let lh = lakehouse(dir.path()).await;
    let s = LakehouseMcp::new(
        lh.clone(),
        McpOptions {
            max_rows: 5,
            max_result_bytes: 4096,
            call_timeout: Duration::from_millis(300),
            ..McpOptions::default()
        },
    )
    .unwrap();
    // The server's maximum wins over the caller's; the query stops there (this series
    // would outlast the time limit many times over if it were materialised).
    let r = s
        .call(
            "query_sql",
            args(json!({"sql": "SELECT value FROM generate_series(1, 100000000000)", "max_rows": 50})),
        )
        .await
        .unwrap();
    let q = ok(&r);
    assert_eq!(
        (q["row_count"].as_u64(), q["truncated"].as_bool()),
        (Some(5), Some(true))
    );
    assert!(q["note"].as_str().unwrap().contains("maximum"), "{q}");

    // Rows that would pass the byte cap are cut too.
    let r = s
        .call(
            "query_sql",
            args(json!({"sql": "SELECT repeat('x', 1000) AS wide FROM generate_series(1, 5)"})),
        )
        .await
        .unwrap();
    let q = ok(&r);
    assert!(q["row_count"].as_u64().unwrap() < 5, "{q}");
    assert!(q["note"].as_str().unwrap().contains("result cap"), "{q}");
    assert!(serde_json::to_vec(q).unwrap().len() <= 4096);

    // Other tools answer too_large past the cap: 80 columns describe in over 1 KiB.
    let header: Vec<String> = (0..80).map(|i| format!("column_{i}")).collect();
    let values: Vec<String> = (0..80).map(|i| i.to_string()).collect();
    let wide = format!("{}\n{}\n", header.join(","), values.join(","));
    lh.dataset("wide")
        .write(wide, &IngestOptions::default())
        .await
        .unwrap();
    let r = s
        .call("get_manifest", args(json!({"name": "workers"})))
        .await
        .unwrap();
    ok(&r);
    let big = LakehouseMcp::new(
        lh.clone(),
        McpOptions {
            max_result_bytes: 1024,
            ..McpOptions::default()
        },
    )
    .unwrap();
    let r = big
        .call("get_manifest", args(json!({"name": "wide"})))
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "too_large");

    // A call past the time limit ends with a timeout result, and the server answers after.
    let started = std::time::Instant::now();
    let r = s
        .call(
            "query_sql",
            args(json!({"sql": "SELECT count(*) FROM generate_series(1, 100000000000) a WHERE a.value % 7 = 3"})),
        )
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "timeout");
    assert!(started.elapsed() < Duration::from_secs(20));
    let r = s
        .call("query_sql", args(json!({"sql": "SELECT 1 AS one"})))
        .await
        .unwrap();
    assert_eq!(ok(&r)["rows"], json!([[1]]));
}

#[tokio::test]
async fn bad_arguments_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = LakehouseMcp::new(lakehouse(dir.path()).await, McpOptions::default()).unwrap();
    let cases = [
        ("query_sql", json!({}), "sql"),
        ("query_sql", json!({"sql": 5}), "sql"),
        (
            "query_sql",
            json!({"sql": "SELECT 1", "max_rows": "ten"}),
            "max_rows",
        ),
        ("query_sql", json!({"sql": "SELECT 1", "limit": 3}), "limit"),
        (
            "search_vectors",
            json!({"index": "people", "k": -1, "text": "x"}),
            "k",
        ),
        (
            "search_vectors",
            json!({"index": "people", "vector": ["a"]}),
            "vector[0]",
        ),
        (
            "search_vectors",
            json!({"index": "people", "vector": [1], "filter": 3}),
            "filter",
        ),
        (
            "embed_text",
            json!({"texts": ["a"], "purpose": "search"}),
            "purpose",
        ),
        ("matrix_search", json!({"text": "x"}), "corpora"),
        ("list_datasets", json!({"x": 1}), "x"),
    ];
    for (tool, a, field) in cases {
        let e = s.call(tool, args(a.clone())).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{tool} {a}");
        assert_eq!(
            e.data.as_ref().unwrap()["field"],
            field,
            "{tool} {a}: {e:?}"
        );
        assert!(e.message.contains(field), "{tool} {a}: {}", e.message);
    }
    let e = s
        .call("drop_everything", JsonObject::new())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
}

#[tokio::test]
async fn vector_search_filters_and_excludes() {
    let dir = tempfile::tempdir().unwrap();
    let s = LakehouseMcp::new(lakehouse(dir.path()).await, McpOptions::default()).unwrap();
    let r = s
        .call(
            "search_vectors",
            args(json!({"index": "people", "vector": [1.0, 0.0, 0.0], "k": 2})),
        )
        .await
        .unwrap();
    let hits = &ok(&r)["hits"];
    assert_eq!(
        (hits[0]["id"].as_str(), hits[1]["id"].as_str()),
        (Some("a"), Some("b"))
    );
    assert!(hits[0]["distance"].as_f64().unwrap() < 1e-5);
    assert_eq!(hits[0]["metadata"]["state"], "IL");
    let r = s
        .call(
            "search_vectors",
            args(json!({"index": "people", "vector": [1.0, 0.0, 0.0], "k": 2,
                        "filter": {"state": "IL"}, "exclude_ids": ["a"]})),
        )
        .await
        .unwrap();
    assert_eq!(
        ok(&r)["hits"],
        json!([{"id": "c", "distance": ok(&r)["hits"][0]["distance"], "metadata": {"state": "IL"}}])
    );

    let r = s
        .call(
            "search_vectors",
            args(json!({"index": "people", "vector": [1.0, 0.0], "k": 2})),
        )
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "invalid_input");
    let r = s
        .call(
            "search_vectors",
            args(json!({"index": "people", "vector": [1.0, 0.0, 0.0], "text": "both"})),
        )
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "invalid_input");
    let r = s
        .call(
            "search_vectors",
            args(json!({"index": "nope", "vector": [1.0]})),
        )
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "not_found");

    let r = s.call("list_indexes", JsonObject::new()).await.unwrap();
    let i = &ok(&r)["indexes"][0];
    assert_eq!(
        (i["spec"]["name"].as_str(), i["count"].as_u64()),
        (Some("people"), Some(3))
    );
}

#[tokio::test]
async fn ingest_reads_only_allowed_folders() {
    let dir = tempfile::tempdir().unwrap();
    let lh = lakehouse(dir.path()).await;
    let allowed = dir.path().join("inbox");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::write(
        allowed.join("shifts.csv"),
        "id,role\n1,welder\n2,forklift\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.csv"), "id,pin\n1,1234\n").unwrap();
    let s = LakehouseMcp::new(
        lh.clone(),
        McpOptions {
            allow_writes: true,
            allow_dirs: vec![allowed.clone()],
            ..McpOptions::default()
        },
    )
    .unwrap();
    let r = s
        .call("ingest", args(json!({"path": allowed.join("shifts.csv")})))
        .await
        .unwrap();
    let out = ok(&r);
    assert_eq!(
        (out["name"].as_str(), out["version"].as_u64()),
        (Some("shifts"), Some(0))
    );
    assert_eq!(
        (out["row_count"].as_u64(), out["no_op"].as_bool()),
        (Some(2), Some(false))
    );
    // The same file again is a no-op (the tool is idempotent).
    let r = s
        .call("ingest", args(json!({"path": allowed.join("shifts.csv")})))
        .await
        .unwrap();
    assert_eq!(ok(&r)["no_op"], true);

    for outside in [
        dir.path().join("secret.csv"),
        allowed.join("../secret.csv"),
        "/etc/passwd".into(),
    ] {
        let r = s
            .call("ingest", args(json!({"path": outside, "name": "stolen"})))
            .await
            .unwrap();
        assert_eq!(error_kind(&r), "validation", "{}", outside.display());
    }
    assert!(lh.dataset("stolen").manifest().await.is_err());

    let r = s
        .call(
            "record_playbook",
            args(json!({"query_text": "welder in Chicago", "answer_id": "a",
                        "answer_corpus": "people", "score": 0.9})),
        )
        .await
        .unwrap();
    let id = ok(&r)["playbook_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    let r = s
        .call(
            "record_playbook",
            args(
                json!({"query_text": "x", "answer_id": "a", "answer_corpus": "people", "score": 2}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(error_kind(&r), "invalid_input");
}

#[tokio::test]
async fn resources_describe_datasets_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let s = LakehouseMcp::new(lakehouse(dir.path()).await, McpOptions::default()).unwrap();
    let d = s.read("lakehouse://datasets/workers").await.unwrap();
    assert_eq!(d["row_count"], 3);
    assert_eq!(d["sample"]["rows"].as_array().unwrap().len(), 3);
    assert_eq!(d["columns"][0]["name"], "id");
    let i = s.read("lakehouse://indexes/people").await.unwrap();
    assert_eq!(
        (i["count"].as_u64(), i["spec"]["dimensions"].as_u64()),
        (Some(3), Some(3))
    );
    for missing in [
        "lakehouse://datasets/nobody",
        "lakehouse://indexes/nobody",
        "lakehouse://x",
    ] {
        let e = s.read(missing).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::RESOURCE_NOT_FOUND, "{missing}");
    }
}
