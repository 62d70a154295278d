//! Builds the co-pilot's corpus in a lakehouse: the datasets `workers` and `clients` (Delta
//! tables any engine reads) and the vector index `workers`, embedded with the reference
//! system's text template by the library's bulk indexing. Resumable: the datasets' identical
//! content is a no-op, and indexing skips ids already embedded.

use lakehouse_core::indexer::{EmbedDataset, EmbedProgress, EmbedReport};
use lakehouse_core::{Error, IngestOptions, Lakehouse, Result};

use crate::generate;
use crate::roster::{CLIENTS, WORKERS};

/// The vector index of worker profiles.
pub const INDEX: &str = "workers";

/// The text each worker is embedded as (the reference's template), as SQL over `workers`.
pub const EMBEDDING_TEXT: &str = "concat('Worker role: ', role, '. Skills: ', skills, \
     '. Certifications: ', certifications, '. ', resume_text)";

/// The metadata each vector carries: what searches filter on and what a draft needs.
pub const METADATA: [&str; 5] = ["name", "role", "city", "state", "status"];

/// What [`build`] did.
#[derive(Debug, Clone)]
pub struct CorpusReport {
    /// Workers in the dataset.
    pub workers: u64,
    /// Clients in the dataset.
    pub clients: u64,
    /// The bulk indexing run.
    pub embedding: EmbedReport,
}

/// Generates `workers` workers and their clients into `lh` and embeds the workers into the
/// index [`INDEX`]; `progress` hears after each embedded batch. A lakehouse that holds a
/// corpus of another size is refused (`Conflict`): use another root.
pub async fn build(
    lh: &Lakehouse,
    workers: u64,
    progress: &(dyn Fn(&EmbedProgress) + Send + Sync),
) -> Result<CorpusReport> {
    if workers == 0 {
        return Err(Error::InvalidInput(
            "a corpus needs at least one worker".into(),
        ));
    }
    let clients = generate::client_count(workers);
    // Large corpora go in slices of 25,000 rows: each an append, retried as a no-op.
    const SLICE: u64 = 25_000;
    let existing = lh
        .dataset(WORKERS)
        .manifest()
        .await
        .ok()
        .map(|m| m.row_count);
    match existing {
        Some(rows) if rows == workers => {}
        Some(rows) if rows % SLICE == 0 && rows < workers => {
            append_workers(lh, rows, workers, SLICE).await?;
        }
        Some(rows) => {
            return Err(Error::Conflict(format!(
                "this lakehouse holds {rows} workers, not {workers}: build the corpus in another root"
            )));
        }
        None => append_workers(lh, 0, workers, SLICE).await?,
    }
    // Clients depend on the corpus size (their blacklists name workers): replaced when it
    // grew, a no-op when identical.
    let replace = IngestOptions::mode(lakehouse_core::IngestMode::Replace);
    lh.dataset(CLIENTS)
        .write(generate::clients_batch(clients, workers), &replace)
        .await?;
    let request = EmbedDataset::new(WORKERS, "id", EMBEDDING_TEXT, INDEX).with_metadata(METADATA);
    let embedding = lh.embed_dataset(&request, progress).await?;
    Ok(CorpusReport {
        workers,
        clients,
        embedding,
    })
}

async fn append_workers(lh: &Lakehouse, from: u64, to: u64, slice: u64) -> Result<()> {
    let append = IngestOptions::mode(lakehouse_core::IngestMode::Append);
    let mut start = from;
    while start < to {
        let end = (start + slice).min(to);
        lh.dataset(WORKERS)
            .write(generate::workers_batch(start + 1..end + 1), &append)
            .await?;
        start = end;
    }
    Ok(())
}
