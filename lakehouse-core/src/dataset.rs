//! [`Dataset`]: the handle through which one dataset is read and written.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::catalog::{DeleteReport, ExpireReport, Manifest, OptimizeReport, VersionInfo};
use crate::error::{Error, Result};
use crate::ingest::{IngestOptions, IngestReport, Source};
use crate::lakehouse::Lakehouse;
use crate::query::{QueryResult, quote_ident};

/// One dataset of a lakehouse, by name, from [`Lakehouse::dataset`]: the one way to write
/// it, read its versions and schema, query it and delete from it. Cheap to clone; making
/// one reads nothing, so a dataset that does not exist yet can be written to create it
/// (other calls on it are then [`Error::NotFound`]).
///
/// A handle from [`Dataset::at`] reads one version and cannot write.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use lakehouse_core::{IngestMode, IngestOptions, Lakehouse};
/// let dir = tempfile::tempdir().unwrap();
/// let lh = Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
/// let workers = lh.dataset("workers");
/// workers.write("id,city\n1,Reno\n", &IngestOptions::default()).await.unwrap();
/// workers
///     .write("id,city\n2,Boise\n", &IngestOptions::mode(IngestMode::Append))
///     .await
///     .unwrap();
/// assert_eq!(workers.versions().await.unwrap().len(), 2);
/// let reno = workers.scan(Some("city = 'Reno'"), None).await.unwrap();
/// assert_eq!(reno.row_count(), 1);
/// assert_eq!(workers.at(0).scan(None, None).await.unwrap().row_count(), 1);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Dataset {
    lh: Lakehouse,
    name: String,
    version: Option<u64>,
}

impl Dataset {
    pub(crate) fn new(lh: Lakehouse, name: String) -> Self {
        Self {
            lh,
            name,
            version: None,
        }
    }

    /// The dataset's (and its SQL table's) name.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// assert_eq!(crew.name(), "crew");
    /// # });
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version this handle reads: `None` for the latest.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// assert_eq!((crew.version(), crew.at(0).version()), (None, Some(0)));
    /// # });
    /// ```
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// A read-only handle on version `version` (time travel); its reads fail with
    /// [`Error::NotFound`] once that version has been expired. Writes through it are
    /// [`Error::InvalidInput`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// crew.delete("city = 'Boise'").await.unwrap();
    /// assert_eq!((crew.count().await.unwrap(), crew.at(0).count().await.unwrap()), (1, 2));
    /// assert!(crew.at(0).delete("true").await.is_err());
    /// # });
    /// ```
    pub fn at(&self, version: u64) -> Dataset {
        Dataset {
            version: Some(version),
            ..self.clone()
        }
    }

    /// The manifest of the version this handle reads: its files, schema, row count.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// let manifest = crew.manifest().await.unwrap();
    /// assert_eq!((manifest.version, manifest.row_count), (0, 2));
    /// # });
    /// ```
    pub async fn manifest(&self) -> Result<Arc<Manifest>> {
        match self.version {
            None => self.lh.catalog().manifest(&self.name),
            Some(v) => self.lh.catalog().manifest_at(&self.name, v).await,
        }
    }

    /// The Arrow schema of the version this handle reads.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// let schema = crew.schema().await.unwrap();
    /// assert_eq!(schema.field(1).name(), "city");
    /// # });
    /// ```
    pub async fn schema(&self) -> Result<SchemaRef> {
        self.manifest().await?.schema()
    }

    /// Rows in the version this handle reads.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// assert_eq!(crew.count().await.unwrap(), 2);
    /// assert!(lh.dataset("nobody").count().await.is_err());
    /// # });
    /// ```
    pub async fn count(&self) -> Result<u64> {
        Ok(self.manifest().await?.row_count)
    }

    /// Every retained version, oldest first.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// let people = lh.dataset("people");
    /// people.write("id\n1\n", &Default::default()).await.unwrap();
    /// assert_eq!(people.versions().await.unwrap()[0].version, 0);
    /// # });
    /// ```
    pub async fn versions(&self) -> Result<Vec<VersionInfo>> {
        self.lh.catalog().versions(&self.name).await
    }

    /// Writes rows — a file or bytes (CSV, NDJSON, Parquet, Arrow IPC;
    /// [`IngestOptions::format`]) or Arrow record batches ([`Source::arrow`]) — as one new
    /// version, creating the dataset on its first write; [`IngestOptions::mode`] says how
    /// the rows meet the ones there (see [`crate::ingest`]).
    ///
    /// Traced as span `ingest` (dataset, mode; rows, version and no_op once done).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// let more = IngestOptions::mode(IngestMode::Append);
    /// let report = crew.write("id,city\n3,Elko\n", &more).await.unwrap();
    /// assert_eq!((report.rows, report.manifest.version), (1, 1));
    /// # });
    /// ```
    #[tracing::instrument(name = "ingest", skip_all, fields(dataset = %self.name, mode = ?options.mode, rows = tracing::field::Empty, version = tracing::field::Empty, no_op = tracing::field::Empty))]
    pub async fn write(
        &self,
        source: impl Into<Source>,
        options: &IngestOptions,
    ) -> Result<IngestReport> {
        self.writable()?;
        let report =
            crate::ingest::ingest(self.lh.catalog(), &self.name, source.into(), options).await?;
        let span = tracing::Span::current();
        span.record("rows", report.rows);
        span.record("version", report.manifest.version);
        span.record("no_op", report.no_op);
        Ok(report)
    }

    /// The rows of the version this handle reads for which the SQL `filter` holds (all
    /// rows when `None`), at most `limit` of them. A filter that does not parse or names an
    /// unknown column is [`Error::InvalidInput`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// let reno = crew.scan(Some("city = 'Reno'"), Some(10)).await.unwrap();
    /// assert_eq!(reno.row_count(), 1);
    /// assert!(crew.scan(Some("no_such_column = 1"), None).await.is_err());
    /// # });
    /// ```
    pub async fn scan(&self, filter: Option<&str>, limit: Option<usize>) -> Result<QueryResult> {
        let table = match self.version {
            None => quote_ident(&self.name),
            Some(v) => quote_ident(&format!("{}@{v}", self.name)),
        };
        let mut sql = format!("SELECT * FROM {table}");
        if let Some(f) = filter {
            sql.push_str(&format!(" WHERE ({f})"));
        }
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        self.lh.sql(&sql).await
    }

    /// Deletes the rows for which the SQL `predicate` holds (`"city = 'Reno' AND score <
    /// 2"`), as one new version (Delta's delete): returns that version and how many rows
    /// went. A predicate that does not parse or names an unknown column is
    /// [`Error::InvalidInput`] and writes nothing.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// let report = crew.delete("city = 'Reno'").await.unwrap();
    /// assert_eq!((report.rows_deleted, report.manifest.version), (1, 1));
    /// # });
    /// ```
    pub async fn delete(&self, predicate: &str) -> Result<DeleteReport> {
        self.writable()?;
        let (manifest, rows_deleted) = self.lh.catalog().delete(&self.name, predicate).await?;
        Ok(DeleteReport {
            manifest,
            rows_deleted,
        })
    }

    /// Merges the dataset's small files (one per append) into large ones, as a new version
    /// with the same rows, so that queries plan over few files again; see
    /// [`Catalog::optimize`](crate::Catalog::optimize). Nothing to merge: no new version.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// let crew = lh.dataset("crew");
    /// crew.write("id,city\n1,Reno\n", &IngestOptions::default()).await.unwrap();
    /// crew.write("id,city\n2,Boise\n", &IngestOptions::mode(IngestMode::Append)).await.unwrap();
    /// let report = crew.optimize().await.unwrap();
    /// assert_eq!((report.files_removed, report.files_added), (2, 1));
    /// assert_eq!((report.manifest.version, report.manifest.row_count), (2, 2));
    /// assert_eq!(crew.optimize().await.unwrap().manifest.version, 2); // nothing left to merge
    /// # });
    /// ```
    pub async fn optimize(&self) -> Result<OptimizeReport> {
        self.writable()?;
        self.lh.catalog().optimize(&self.name).await
    }

    /// Removes versions older than `keep_from` and the files only they referenced.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use lakehouse_core::{IngestMode, IngestOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// # let crew = lh.dataset("crew");
    /// # crew.write("id,city\n1,Reno\n2,Boise\n", &IngestOptions::default()).await.unwrap();
    /// crew.write("id,city\n9,Ely\n", &IngestOptions::mode(IngestMode::Replace)).await.unwrap();
    /// crew.expire_versions(1).await.unwrap();
    /// assert_eq!(crew.versions().await.unwrap().len(), 1);
    /// assert!(crew.at(0).count().await.is_err());
    /// # });
    /// ```
    pub async fn expire_versions(&self, keep_from: u64) -> Result<ExpireReport> {
        self.writable()?;
        self.lh
            .catalog()
            .expire_versions(&self.name, keep_from)
            .await
    }

    /// Drops the dataset with every version and file (gone for other engines too); its name
    /// can be used again. One that does not exist is [`Error::NotFound`]. Vector indexes
    /// synced from it keep their vectors.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// lh.dataset("scratch").write("n\n1\n", &Default::default()).await.unwrap();
    /// lh.dataset("scratch").drop().await.unwrap();
    /// assert!(lh.datasets().is_empty());
    /// # });
    /// ```
    pub async fn drop(&self) -> Result<()> {
        self.writable()?;
        self.lh.catalog().drop_dataset(&self.name).await
    }

    fn writable(&self) -> Result<()> {
        match self.version {
            None => Ok(()),
            Some(v) => Err(Error::invalid(format!(
                "dataset {:?} at version {v} is read-only: writes go to its latest version",
                self.name
            ))),
        }
    }
}
