//! The roster and the client blacklists the validators check against, read from the
//! datasets `workers` and `clients` and kept in memory per dataset version: a validation
//! costs two in-memory version lookups, and a new version of either dataset is read once,
//! by the first call that sees it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use lakehouse_core::{Error, Lakehouse, QueryResult, Result};

/// The dataset of worker profiles.
pub const WORKERS: &str = "workers";
/// The dataset of clients.
pub const CLIENTS: &str = "clients";

/// What the validators know of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterWorker {
    /// Full name.
    pub name: String,
    /// Role title.
    pub role: String,
    /// City.
    pub city: String,
    /// Two-letter state.
    pub state: String,
    /// `active`, `placed`, `inactive`, `do_not_rehire`.
    pub status: String,
}

/// Workers by id and blacklists by client id, as of one version of each dataset.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// Workers by id.
    pub workers: HashMap<String, RosterWorker>,
    /// Blacklisted worker ids by client id (every known client has an entry).
    pub blacklists: HashMap<String, HashSet<String>>,
    /// The versions of `workers` and `clients` read.
    pub versions: (u64, u64),
}

impl Roster {
    /// The worker `id`, if on the roster.
    pub fn worker(&self, id: &str) -> Option<&RosterWorker> {
        self.workers.get(id)
    }

    /// The blacklist of client `id`, if the client is known.
    pub fn blacklist(&self, id: &str) -> Option<&HashSet<String>> {
        self.blacklists.get(id)
    }
}

/// The roster of a lakehouse, cached per dataset version.
pub struct Rosters {
    lh: Lakehouse,
    current: Mutex<Option<Arc<Roster>>>,
    /// One reload at a time: callers that find the cache stale wait for it.
    reload: tokio::sync::Mutex<()>,
}

impl Rosters {
    /// A cache over `lh` (nothing is read until the first call).
    pub fn new(lh: Lakehouse) -> Self {
        Rosters {
            lh,
            current: Mutex::new(None),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, versions: (u64, u64)) -> Option<Arc<Roster>> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.clone().filter(|r| r.versions == versions)
    }

    /// The roster as of the datasets' latest versions; `NotFound` when either dataset is
    /// missing.
    pub async fn get(&self) -> Result<Arc<Roster>> {
        let versions = (
            self.lh.dataset(WORKERS).manifest().await?.version,
            self.lh.dataset(CLIENTS).manifest().await?.version,
        );
        if let Some(r) = self.cached(versions) {
            return Ok(r);
        }
        let _one = self.reload.lock().await;
        if let Some(r) = self.cached(versions) {
            return Ok(r);
        }
        let roster = Arc::new(self.load(versions).await?);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(roster.clone());
        Ok(roster)
    }

    async fn load(&self, versions: (u64, u64)) -> Result<Roster> {
        let (w, c) = versions;
        let workers = self
            .lh
            .sql(&format!(
                r#"SELECT id, name, role, city, state, status FROM "{WORKERS}@{w}""#
            ))
            .await?;
        let mut roster = Roster {
            versions,
            ..Roster::default()
        };
        for_each_row(&workers, |row| {
            let [id, name, role, city, state, status] = <[String; 6]>::try_from(row)
                .map_err(|_| Error::Internal("workers: 6 columns expected".into()))?;
            let worker = RosterWorker {
                name,
                role,
                city,
                state,
                status,
            };
            roster.workers.insert(id, worker);
            Ok(())
        })?;
        let clients = self
            .lh
            .sql(&format!(r#"SELECT id, blacklist FROM "{CLIENTS}@{c}""#))
            .await?;
        for_each_row(&clients, |row| {
            let [id, blacklist] = <[String; 2]>::try_from(row)
                .map_err(|_| Error::Internal("clients: 2 columns expected".into()))?;
            let banned = blacklist
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            roster.blacklists.insert(id, banned);
            Ok(())
        })?;
        Ok(roster)
    }
}

/// Hands every row of a result to `row` as text (nulls as empty text), one row at a time:
/// the roster is built without a second copy of the result.
fn for_each_row(
    result: &QueryResult,
    mut row: impl FnMut(Vec<String>) -> Result<()>,
) -> Result<()> {
    for batch in &result.batches {
        let columns = batch
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Internal(format!("roster column as text: {e}")))?;
        for i in 0..batch.num_rows() {
            row(columns
                .iter()
                .map(|c| {
                    let s = c.as_string::<i32>();
                    if s.is_null(i) {
                        String::new()
                    } else {
                        s.value(i).to_string()
                    }
                })
                .collect())?;
        }
    }
    Ok(())
}
