//! `lakehouse doctor`: checks that the root is readable and writable, what it holds, and
//! whether the embedding model loads; for s3:// roots the write probe checks the server.

use std::time::Instant;

use lakehouse_core::{EmbeddingModel, Error, Lakehouse, Options, Result};
use serde::Serialize;

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

/// Runs every check and prints them; fails when any check failed. `lh` is the result of
/// opening the root: a root that does not open is reported, and the model still checked.
pub async fn run(lh: Result<Lakehouse>, root: &str, options: &Options, json: bool) -> Result<()> {
    let checks = match lh {
        Ok(lh) => checks(&lh, root, options).await,
        Err(e) => vec![
            Check {
                name: "root",
                ok: false,
                detail: format!("{root} does not open: {e}"),
            },
            model_check(options, load_model(options).await),
        ],
    };
    report(&checks, json)
}

async fn load_model(options: &Options) -> Result<std::sync::Arc<dyn EmbeddingModel>> {
    let source = options.model_source();
    source.check()?;
    tokio::task::spawn_blocking(move || source.load()).await?
}

/// The model check: which backend, and what it runs (or why it does not load).
fn model_check(options: &Options, embedder: Result<std::sync::Arc<dyn EmbeddingModel>>) -> Check {
    let backend = options.chosen_backend();
    match embedder {
        Ok(e) => Check {
            name: "embedding model",
            ok: true,
            detail: match backend {
                lakehouse_core::embed::Backend::Native => format!(
                    "native: {}; kernels: {}",
                    e.describe(),
                    lakehouse_core::simd::Kernels::describe()
                ),
                lakehouse_core::embed::Backend::Remote => format!("remote: {}", e.describe()),
                lakehouse_core::embed::Backend::Candle => format!("candle: {}", e.describe()),
            },
        },
        Err(e) => Check {
            name: "embedding model",
            ok: false,
            detail: match crate::hint(&e) {
                Some(hint) => format!("{backend}: {e}; {hint}"),
                None => format!("{backend}: {e}"),
            },
        },
    }
}

async fn checks(lh: &Lakehouse, root: &str, options: &Options) -> Vec<Check> {
    let mut checks = Vec::new();
    let started = Instant::now();
    let probe = format!("_doctor/probe-{}", std::process::id());
    let storage = async {
        lh.storage().put(&probe, "ok".into()).await?;
        let back = lh.storage().get(&probe).await?;
        lh.storage().delete(&probe).await?;
        if back.as_ref() != b"ok" {
            return Err(Error::Storage("read back different bytes".into()));
        }
        Ok::<_, Error>(())
    };
    checks.push(match storage.await {
        Ok(()) => Check {
            name: "root",
            ok: true,
            detail: format!(
                "{} is readable and writable (round trip {:.1} ms)",
                lh.storage().description(),
                started.elapsed().as_secs_f64() * 1e3
            ),
        },
        Err(e) => Check {
            name: "root",
            ok: false,
            detail: format!("{root}: {e}"),
        },
    });
    checks.push(Check {
        name: "datasets",
        ok: true,
        detail: format!("{} datasets", lh.datasets().len()),
    });
    checks.push(match lh.indexes().await {
        Ok(names) => Check {
            name: "vector indexes",
            ok: true,
            detail: format!("{} indexes: {}", names.len(), names.join(", ")),
        },
        Err(e) => Check {
            name: "vector indexes",
            ok: false,
            detail: e.to_string(),
        },
    });
    checks.push(model_check(options, lh.embedder().await));
    checks
}

fn report(checks: &[Check], json: bool) -> Result<()> {
    let failed = checks.iter().filter(|c| !c.ok).count();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": failed == 0, "checks": checks}))
                .expect("JSON")
        );
    } else {
        for c in checks {
            println!(
                "{} {:<16} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
        }
    }
    if failed > 0 {
        return Err(Error::InvalidInput(format!("{failed} check(s) failed")));
    }
    Ok(())
}
