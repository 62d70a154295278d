//! Vector search and embeddings inside SQL: `vector_search(index, query, k [, filter])`
//! joined with datasets, filters that keep `k` rows, `embed(text)`, and typed errors.
//!
//! The tests that embed text need the default model (`lakehouse model install`;
//! scripts/test.sh does it).

mod common;

use common::model_options;
use std::path::Path;

use lakehouse_core::embed::Purpose;
use lakehouse_core::indexer::EmbedDataset;
use lakehouse_core::matrix::MatrixRequest;
use lakehouse_core::{ErrorKind, IndexSpec, IngestOptions, Lakehouse, VectorRecord};
use serde_json::{Value, json};

async fn open(dir: &Path) -> Lakehouse {
    Lakehouse::open(dir.to_str().unwrap()).await.unwrap()
}

async fn rows(lh: &Lakehouse, sql: &str) -> Vec<Vec<Value>> {
    lh.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .to_json()
        .unwrap()
        .rows
}

/// People p0..p19 with a 3-d vector each: p_i at angle i·4° from the x axis, so p0 is
/// nearest to [1, 0, 0]. The ten nearest live in WI, the others in IL.
async fn people(lh: &Lakehouse) {
    let mut csv = String::from("id,name,state\n");
    let mut records = Vec::new();
    for i in 0..20 {
        let state = if i < 10 { "WI" } else { "IL" };
        csv.push_str(&format!("p{i},Person {i},{state}\n"));
        let a = (i as f32 * 4.0).to_radians();
        records.push(
            VectorRecord::new(format!("p{i}"), vec![a.cos(), a.sin(), 0.0])
                .with_metadata(json!({"state": state})),
        );
    }
    lh.dataset("people")
        .write(csv, &IngestOptions::default())
        .await
        .unwrap();
    let index = lh
        .vectors()
        .create(IndexSpec::new("people_vec", 3))
        .await
        .unwrap();
    index.add(records).await.unwrap();
}

#[tokio::test]
async fn vector_literals_joins_and_filters_that_keep_k_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lh = open(dir.path()).await;
    people(&lh).await;

    let r = rows(
        &lh,
        "SELECT id, distance, metadata FROM vector_search('people_vec', [1.0, 0.0, 0.0], 3)",
    )
    .await;
    let ids: Vec<&str> = r.iter().map(|row| row[0].as_str().unwrap()).collect();
    assert_eq!(ids, ["p0", "p1", "p2"]);
    assert!(r[0][1].as_f64().unwrap() < 1e-6);
    let meta: Value = serde_json::from_str(r[0][2].as_str().unwrap()).unwrap();
    assert_eq!(meta["state"], "WI");

    // Integer literals and constant expressions work too.
    let r = rows(
        &lh,
        "SELECT id FROM vector_search('people_vec', [0, 1, 0], 1 + 1)",
    )
    .await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0][0], "p19");

    // Joined with the dataset.
    let r = rows(
        &lh,
        "SELECT p.name, v.distance FROM vector_search('people_vec', [1.0, 0.0, 0.0], 5) v \
         JOIN people p ON p.id = v.id ORDER BY v.distance",
    )
    .await;
    let names: Vec<&str> = r.iter().map(|row| row[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Person 0", "Person 1", "Person 2", "Person 3", "Person 4"]
    );

    // A WHERE on the joined table filters the k rows found (the nearest five are all WI) …
    let after = rows(
        &lh,
        "SELECT p.name FROM vector_search('people_vec', [1.0, 0.0, 0.0], 5) v \
         JOIN people p ON p.id = v.id WHERE p.state = 'IL'",
    )
    .await;
    assert!(after.is_empty());
    // … the filter argument is applied inside the search and keeps k rows.
    let r = rows(
        &lh,
        r#"SELECT p.name, p.state FROM vector_search('people_vec', [1.0, 0.0, 0.0], 5, '{"state": "IL"}') v
           JOIN people p ON p.id = v.id ORDER BY v.distance"#,
    )
    .await;
    let names: Vec<&str> = r.iter().map(|row| row[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "Person 10",
            "Person 11",
            "Person 12",
            "Person 13",
            "Person 14"
        ]
    );
    // Lists mean any of; more than exist gives all that exist.
    let r = rows(
        &lh,
        r#"SELECT count(*) FROM vector_search('people_vec', [1.0, 0.0, 0.0], 50, '{"state": ["IL", "XX"]}')"#,
    )
    .await;
    assert_eq!(r[0][0], 10);

    // Aggregates and filters over the function's own columns.
    let r = rows(
        &lh,
        "SELECT count(*) FROM vector_search('people_vec', [1.0, 0.0, 0.0], 20) WHERE distance < 0.01",
    )
    .await;
    let expected = (0..20)
        .filter(|i| 1.0 - (*i as f64 * 4.0).to_radians().cos() < 0.01)
        .count();
    assert_eq!(r[0][0], expected as i64);
}

#[tokio::test]
async fn bad_calls_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lh = open(dir.path()).await;
    people(&lh).await;
    let kind = |sql: &'static str| {
        let lh = lh.clone();
        async move {
            lh.sql(sql)
                .await
                .err()
                .unwrap_or_else(|| panic!("{sql} succeeded"))
                .kind()
        }
    };
    assert_eq!(
        kind("SELECT * FROM vector_search('nope', [1.0, 0.0, 0.0], 3)").await,
        ErrorKind::NotFound
    );
    for sql in [
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0], 3)",
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0, 0.0], 0)",
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0, 0.0], -2)",
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0, 0.0], 100000)",
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0, 0.0])",
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0, 0.0], 3, 'not json')",
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0, 0.0], 3, '[1]')",
        "SELECT * FROM vector_search('people_vec', 42, 3)",
        "SELECT * FROM vector_search(1, [1.0, 0.0, 0.0], 3)",
        "SELECT * FROM vector_search('people_vec', [1.0, 0.0, 0.0], 3, '{}', 5)",
        "SELECT * FROM vector_search('bad name', [1.0, 0.0, 0.0], 3)",
    ] {
        assert_eq!(kind(sql).await, ErrorKind::InvalidInput, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_queries_and_the_embed_function() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::builder(dir.path().to_str().unwrap())
        .options(model_options())
        .open()
        .await
        .unwrap();
    lh.dataset("workers")
        .write(
            lakehouse_core::sample::profiles_csv(1..101),
            &IngestOptions::default(),
        )
        .await
        .unwrap();
    lh.embed_dataset(
        &EmbedDataset::new("workers", "id", "profile", "workers").with_metadata(["state"]),
        &|_| {},
    )
    .await
    .unwrap();

    // The README's query shape: text in, joined with the dataset (integer ids there).
    let query = "forklift operator near Chicago";
    let r = rows(
        &lh,
        &format!(
            "SELECT w.id, w.name, v.distance FROM vector_search('workers', '{query}', 10) v \
             JOIN workers w ON w.id = v.id ORDER BY v.distance"
        ),
    )
    .await;
    assert_eq!(r.len(), 10);
    let expected = lh
        .matrix_search(&MatrixRequest::text(query, ["workers"], 10))
        .await
        .unwrap();
    let sql_ids: Vec<String> = r.iter().map(|row| row[0].to_string()).collect();
    let lib_ids: Vec<String> = expected.hits.iter().map(|h| h.id.clone()).collect();
    assert_eq!(sql_ids, lib_ids);

    // embed() gives the library's vectors; embed(…, 'query') feeds vector_search.
    let r = rows(&lh, "SELECT embed('forklift operator')").await;
    let from_sql: Vec<f32> = r[0][0]
        .as_str()
        .map(|s| serde_json::from_str::<Vec<f32>>(s).unwrap())
        .unwrap_or_else(|| serde_json::from_value(r[0][0].clone()).unwrap());
    let direct = lh
        .embed(vec!["forklift operator".into()], Purpose::Document)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(from_sql.len(), 384);
    for (a, b) in from_sql.iter().zip(&direct) {
        assert!((a - b).abs() < 1e-5);
    }
    let via_embed = rows(
        &lh,
        &format!("SELECT id FROM vector_search('workers', embed('{query}', 'query'), 10)"),
    )
    .await;
    let via_embed: Vec<String> = via_embed
        .iter()
        .map(|row| row[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(via_embed, lib_ids);

    // Over a column: one vector per row, NULL stays NULL.
    let r = rows(
        &lh,
        "SELECT count(*) FROM (SELECT embed(name) AS v FROM workers WHERE id <= 40) WHERE v IS NOT NULL",
    )
    .await;
    assert_eq!(r[0][0], 40);
    assert_eq!(rows(&lh, "SELECT embed(NULL) IS NULL").await[0][0], true);
    let err = lh.sql("SELECT embed('   ')").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = lh.sql("SELECT embed('x', 'sideways')").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
