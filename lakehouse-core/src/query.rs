//! SQL over the catalog, through Apache DataFusion.
//!
//! Every dataset is a table named after it (its latest version); `"name@N"` (quoted) reads
//! version `N`. Tables resolve lazily from the catalog on each query, so new versions are
//! visible at once. Queries are read-only: DDL, DML, `COPY`, `SET` and other statements are
//! refused with [`Error::NotAllowed`], and the engine can reach no object store but the
//! lakehouse's own, so no query can read files outside the catalog.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, Expr, SQLOptions, SessionConfig, SessionContext, cast};
use datafusion::sql::parser::Statement as DFStatement;
use futures::StreamExt;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::catalog::{Catalog, DataFile, Manifest};
use crate::error::{Error, Result};
use crate::storage::Storage;

/// The URL under which the engine sees the lakehouse root.
const ROOT_URL: &str = "lakehouse://root/";

/// Limits of the query engine.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Memory the engine may use across running queries; `None` is unbounded.
    pub memory_limit: Option<usize>,
    /// Longest a query may run, planning included; `None` is unbounded.
    pub timeout: Option<Duration>,
    /// Parallelism of one query (defaults to the number of cores).
    pub target_partitions: usize,
    /// Most row pairs one join without an equality (a cross join, a nested-loop join) may
    /// pair up, by its inputs' row counts, before it runs; `None` is unbounded. Such a join
    /// can compute for a long time inside one step of its stream, where the time limit
    /// cannot cut it off; refused up front, it is a `ResourcesExhausted` error instead.
    pub max_join_pairs: Option<u64>,
}

/// [`QueryOptions::max_join_pairs`] by default: a billion row pairs (a 50,000-row table
/// joined with itself without an equality is 2.5 billion).
pub const DEFAULT_MAX_JOIN_PAIRS: u64 = 1_000_000_000;

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            memory_limit: Some(2 * 1024 * 1024 * 1024),
            timeout: Some(Duration::from_secs(60)),
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_join_pairs: Some(DEFAULT_MAX_JOIN_PAIRS),
        }
    }
}

/// The result of a query as Arrow record batches.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Schema of the result.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

/// A result column in [`JsonResult`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct JsonColumn {
    /// Column name.
    pub name: String,
    /// Arrow type name.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The JSON shape of a result used by the HTTP, Python and MCP wrappers:
/// `{columns: [{name, type}], rows: [[…]], row_count}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct JsonResult {
    /// Result columns.
    pub columns: Vec<JsonColumn>,
    /// Rows as arrays of JSON values, in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Number of rows.
    pub row_count: usize,
}

impl QueryResult {
    /// Number of rows.
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The first `max_rows` rows (batches are sliced, not copied) and whether any were cut:
    /// how a caller with a row budget, such as an agent's tool call, takes a result.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// let all = lh.sql("SELECT * FROM (VALUES (1), (2), (3)) AS t(x)").await.unwrap();
    /// let (two, cut) = all.limit(2);
    /// assert_eq!((two.row_count(), cut), (2, true));
    /// assert_eq!(all.limit(3).1, false);
    /// # });
    /// ```
    pub fn limit(&self, max_rows: usize) -> (QueryResult, bool) {
        let mut left = max_rows;
        let mut batches = Vec::new();
        for b in &self.batches {
            if left == 0 {
                break;
            }
            let take = b.num_rows().min(left);
            batches.push(b.slice(0, take));
            left -= take;
        }
        let kept = QueryResult {
            schema: self.schema.clone(),
            batches,
        };
        let cut = kept.row_count() < self.row_count();
        (kept, cut)
    }

    /// Encodes the result as an Arrow IPC stream (`application/vnd.apache.arrow.stream`),
    /// the lossless form for Arrow clients (pyarrow, polars, DuckDB).
    pub fn to_arrow_ipc(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &self.schema)?;
        for b in &self.batches {
            w.write(b)?;
        }
        w.finish()?;
        drop(w);
        Ok(out)
    }

    /// Encodes the result as one Parquet file, types kept.
    pub fn to_parquet(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, self.schema.clone(), None)?;
        for b in &self.batches {
            w.write(b)?;
        }
        w.close()?;
        Ok(out)
    }

    /// Encodes the result as CSV with a header row.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// let csv = lh.sql("SELECT 1 AS a, 'x' AS b").await.unwrap().to_csv().unwrap();
    /// assert_eq!(String::from_utf8(csv).unwrap(), "a,b\n1,x\n");
    /// # });
    /// ```
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut w = arrow::csv::Writer::new(&mut out);
        if self.batches.is_empty() {
            // The header comes with the first batch written; keep it when there is none.
            w.write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        for b in &self.batches {
            w.write(b)?;
        }
        drop(w);
        Ok(out)
    }

    /// Converts to the wrappers' JSON shape. Numbers, booleans, strings and nulls map to
    /// JSON natively; other types (dates, timestamps, decimals, lists) as their text form.
    pub fn to_json(&self) -> Result<JsonResult> {
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|f| JsonColumn {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            })
            .collect();
        let mut rows = Vec::with_capacity(self.row_count());
        for batch in &self.batches {
            rows.extend(json_rows(batch)?);
        }
        Ok(JsonResult {
            row_count: rows.len(),
            columns,
            rows,
        })
    }

    /// Renders the result as a text table.
    pub fn to_pretty_string(&self) -> Result<String> {
        Ok(arrow::util::pretty::pretty_format_batches(&self.batches)?.to_string())
    }
}

/// The rows of `batch` as arrays of JSON values, in column order (the one conversion behind
/// [`QueryResult::to_json`] and [`ndjson`]).
fn json_rows(batch: &RecordBatch) -> Result<Vec<Vec<serde_json::Value>>> {
    let formatters = batch
        .columns()
        .iter()
        .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(col, fmt)| json_value(col, row, fmt))
                .collect()
        })
        .collect())
}

/// The rows of `batch` as newline-delimited JSON (`application/x-ndjson`): one object per row,
/// keyed by column name, each line ending in `\n`; values as in [`QueryResult::to_json`]. How a
/// streamed result is sent batch by batch.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
/// let result = lh.sql("SELECT * FROM (VALUES (1, 'a'), (2, NULL)) AS t(n, s)").await.unwrap();
/// let text = lakehouse_core::query::ndjson(&result.batches[0]).unwrap();
/// assert_eq!(String::from_utf8(text).unwrap(), "{\"n\":1,\"s\":\"a\"}\n{\"n\":2,\"s\":null}\n");
/// # });
/// ```
pub fn ndjson(batch: &RecordBatch) -> Result<Vec<u8>> {
    use serde::ser::{SerializeMap, Serializer as _};
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut out = Vec::new();
    for values in json_rows(batch)? {
        let mut writer = serde_json::Serializer::new(&mut out);
        let mut row = writer
            .serialize_map(Some(names.len()))
            .map_err(Error::internal)?;
        for (name, value) in names.iter().zip(&values) {
            row.serialize_entry(name, value).map_err(Error::internal)?;
        }
        row.end().map_err(Error::internal)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The rows of a query as the engine computes them, batch by batch, never all in memory at
/// once: what [`QueryEngine::sql_stream`] returns, for results too large to collect (an HTTP
/// response streamed as Arrow IPC or NDJSON, an export). The engine's time limit covers the
/// whole stream; dropping the stream stops the query.
pub struct QueryStream {
    schema: SchemaRef,
    batches: futures::stream::BoxStream<'static, Result<RecordBatch>>,
}

impl QueryStream {
    /// Schema of every batch.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl futures::Stream for QueryStream {
    type Item = Result<RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.batches.as_mut().poll_next(cx)
    }
}

fn json_value(
    col: &ArrayRef,
    row: usize,
    fmt: &arrow::util::display::ArrayFormatter,
) -> serde_json::Value {
    use arrow::datatypes::*;
    use serde_json::Value as V;
    if col.is_null(row) {
        return V::Null;
    }
    macro_rules! num {
        ($t:ty) => {
            V::from(col.as_primitive::<$t>().value(row))
        };
    }
    match col.data_type() {
        DataType::Boolean => V::Bool(col.as_boolean().value(row)),
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::UInt8 => num!(UInt8Type),
        DataType::UInt16 => num!(UInt16Type),
        DataType::UInt32 => num!(UInt32Type),
        DataType::UInt64 => num!(UInt64Type),
        DataType::Float32 => float(col.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => float(col.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => V::String(col.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => V::String(col.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => V::String(col.as_string_view().value(row).to_string()),
        _ => V::String(fmt.value(row).to_string()),
    }
}

/// JSON has no NaN or infinity: those become strings.
fn float(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or_else(
        || serde_json::Value::String(x.to_string()),
        serde_json::Value::Number,
    )
}

/// Runs SQL against a catalog. Cheap to clone; one engine serves any number of queries.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    options: QueryOptions,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("options", &self.options)
            .finish()
    }
}

impl QueryEngine {
    /// An engine whose tables are `catalog`'s datasets (what [`crate::Lakehouse`] builds,
    /// with the vector and embedding functions registered beside; not built alone).
    pub(crate) fn new(catalog: Catalog, options: QueryOptions) -> Result<Self> {
        if options.target_partitions == 0 {
            return Err(Error::invalid("target_partitions must be > 0"));
        }
        let store = catalog.storage().object_store();
        let mut runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(RootOnlyRegistry::new(store)));
        if let Some(limit) = options.memory_limit {
            runtime = runtime.with_memory_limit(limit, 1.0);
        }
        let config = SessionConfig::new()
            .with_target_partitions(options.target_partitions)
            .with_information_schema(true)
            .with_default_catalog_and_schema("lakehouse", "public");
        let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc()?);
        let schemas = datafusion::catalog::MemoryCatalogProvider::new();
        datafusion::catalog::CatalogProvider::register_schema(
            &schemas,
            "public",
            Arc::new(DatasetSchema { catalog }),
        )?;
        ctx.register_catalog("lakehouse", Arc::new(schemas));
        Ok(Self { ctx, options })
    }

    /// The DataFusion session, for registering functions.
    pub(crate) fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one read-only SQL statement and collects its result.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        self.run(sql, None).await
    }

    /// Runs one read-only SQL statement but keeps at most `max_rows` rows, and says whether
    /// it had more. The limit is part of the plan, so the query stops once it has the rows
    /// instead of materialising a large result: how a caller with a row budget (an agent's
    /// tool call) runs arbitrary SQL.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// let sql = "SELECT value FROM generate_series(1, 1000000000000)";
    /// let (head, more) = lh.sql_head(sql, 3).await.unwrap(); // stops after 4 rows
    /// assert_eq!((head.row_count(), more), (3, true));
    /// # });
    /// ```
    pub async fn sql_head(&self, sql: &str, max_rows: usize) -> Result<(QueryResult, bool)> {
        // One row past the budget tells whether there were more.
        let result = self.run(sql, Some(max_rows.saturating_add(1))).await?;
        Ok(result.limit(max_rows))
    }

    /// The SQL expressions `exprs` over the rows of just `files` of version `manifest`:
    /// how an index sync reads the rows a version diff touched, without the rest.
    pub(crate) async fn select_from_files(
        &self,
        storage: &Storage,
        manifest: &Manifest,
        files: Vec<DataFile>,
        exprs: &[String],
    ) -> Result<QueryResult> {
        let part = Manifest {
            files,
            ..manifest.clone()
        };
        let table = table_for(&part, storage).await?;
        let exprs: Vec<&str> = exprs.iter().map(String::as_str).collect();
        let run = async {
            let df = self.ctx.read_table(table)?.select_exprs(&exprs)?;
            let df = plain_strings_at_output(df)?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok(QueryResult { schema, batches })
        };
        self.bounded(run).await
    }

    /// `work` under the engine's time limit.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        match self.options.timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .map_err(|_| Error::Timeout(limit))?,
            None => work.await,
        }
    }

    /// Runs one read-only SQL statement and hands its rows over as they are computed; see
    /// [`QueryStream`]. Errors found while planning (syntax, a write, an unknown table) come
    /// from this call; errors while running, the time limit included, end the stream.
    ///
    /// ```
    /// use futures::StreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let lh = lakehouse_core::Lakehouse::open(dir.path().to_str().unwrap()).await.unwrap();
    /// // A trillion rows: collected, this would never finish; streamed, the first batch is
    /// // there at once and dropping the stream stops the query.
    /// let mut rows = lh.sql_stream("SELECT value FROM generate_series(1, 1000000000000)").await.unwrap();
    /// let first = rows.next().await.unwrap().unwrap();
    /// assert!(first.num_rows() > 0);
    /// # });
    /// ```
    pub async fn sql_stream(&self, sql: &str) -> Result<QueryStream> {
        let deadline = self
            .options
            .timeout
            .map(|limit| (tokio::time::Instant::now() + limit, limit));
        let (schema, plan, task) = self.bounded(self.plan(sql, None)).await?;
        let stream = datafusion::physical_plan::execute_stream(plan, task)?;
        let batches = futures::stream::unfold(Some(stream), move |stream| async move {
            let mut stream = stream?;
            let next = match deadline {
                // Checked first: a timeout lets a future that is always ready run on.
                Some((at, limit)) if tokio::time::Instant::now() >= at => {
                    Some(Err(Error::Timeout(limit)))
                }
                Some((at, limit)) => match tokio::time::timeout_at(at, stream.next()).await {
                    Ok(next) => next.map(|r| r.map_err(Error::from)),
                    Err(_) => Some(Err(Error::Timeout(limit))),
                },
                None => stream.next().await.map(|r| r.map_err(Error::from)),
            };
            match next? {
                Ok(batch) => Some((Ok(batch), Some(stream))),
                // The stream ends after its first error.
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(QueryStream {
            schema,
            // Fused: polling again after the end answers the end again.
            batches: Box::pin(batches.fuse()),
        })
    }

    async fn run(&self, sql: &str, fetch: Option<usize>) -> Result<QueryResult> {
        let run = async {
            let (schema, plan, task) = self.plan(sql, fetch).await?;
            let batches = datafusion::physical_plan::collect(plan, task).await?;
            Ok(QueryResult { schema, batches })
        };
        self.bounded(run).await
    }

    /// Checks, plans and optimises one read-only statement, keeping at most `fetch` rows.
    async fn plan(
        &self,
        sql: &str,
        fetch: Option<usize>,
    ) -> Result<(
        SchemaRef,
        Arc<dyn ExecutionPlan>,
        Arc<datafusion::execution::TaskContext>,
    )> {
        {
            let state = self.ctx.state();
            refuse_statement_keyword(sql)?;
            let dialect = state.config().options().sql_parser.dialect;
            let statement = state.sql_to_statement(sql, &dialect)?;
            read_only(&statement)?;
            let plan = state.statement_to_plan(statement).await?;
            // The plan is checked too: what the statement check let through must plan to a
            // read.
            SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false)
                .verify_plan(&plan)
                .map_err(|e| Error::NotAllowed(strip_df_prefix(&e)))?;
            let mut df = self.ctx.execute_logical_plan(plan).await?;
            if let Some(n) = fetch {
                df = df.limit(0, Some(n))?;
            }
            df = plain_strings_at_output(df)?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let task = Arc::new(df.task_ctx());
            let plan = df.create_physical_plan().await?;
            if let Some(limit) = self.options.max_join_pairs {
                refuse_large_joins(&plan, limit)?;
            }
            Ok((schema, plan, task))
        }
    }
}

/// Refuses `plan` when one of its joins without an equality (cross join, nested-loop join)
/// would pair more than `limit` rows by its inputs' statistics. Inputs without a row count
/// are let through (the time and memory limits still apply).
fn refuse_large_joins(plan: &Arc<dyn ExecutionPlan>, limit: u64) -> Result<()> {
    use datafusion::physical_plan::joins::{CrossJoinExec, NestedLoopJoinExec};
    use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
    if (plan.is::<CrossJoinExec>() || plan.is::<NestedLoopJoinExec>())
        && let [left, right] = plan.children()[..]
    {
        let rows = |side: &Arc<dyn ExecutionPlan>| {
            StatisticsContext::new()
                .compute(side.as_ref(), &StatisticsArgs::new())
                .ok()
                .and_then(|s| s.num_rows.get_value().copied())
        };
        if let (Some(l), Some(r)) = (rows(left), rows(right)) {
            let pairs = l as u128 * r as u128;
            if pairs > u128::from(limit) {
                return Err(Error::ResourcesExhausted(format!(
                    "a join without an equality would pair {l} × {r} = {pairs} rows, more \
                     than the limit of {limit} (QueryOptions::max_join_pairs); join on a \
                     key, filter the inputs first, or raise the limit"
                )));
            }
        }
    }
    plan.children()
        .into_iter()
        .try_for_each(|child| refuse_large_joins(child, limit))
}

/// First words of statements that are not reads, in any SQL dialect: refused before parsing,
/// so that a write is "not allowed" even in a syntax this parser does not know (rather than
/// a malformed query). A typo such as `SELEC` is left to the parser.
const NOT_READS: &[&str] = &[
    "ALTER",
    "ANALYZE",
    "ATTACH",
    "BEGIN",
    "CACHE",
    "CALL",
    "CHECKPOINT",
    "COMMENT",
    "COMMIT",
    "COPY",
    "CREATE",
    "DEALLOCATE",
    "DECLARE",
    "DELETE",
    "DETACH",
    "DISCARD",
    "DROP",
    "EXECUTE",
    "EXPORT",
    "FLUSH",
    "GRANT",
    "IMPORT",
    "INSERT",
    "INSTALL",
    "KILL",
    "LISTEN",
    "LOAD",
    "LOCK",
    "MERGE",
    "MSCK",
    "NOTIFY",
    "OPTIMIZE",
    "PRAGMA",
    "PREPARE",
    "REFRESH",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESET",
    "REVOKE",
    "ROLLBACK",
    "SAVEPOINT",
    "SET",
    "START",
    "TRUNCATE",
    "UNCACHE",
    "UNLISTEN",
    "UNLOAD",
    "UPDATE",
    "UPSERT",
    "USE",
    "VACUUM",
];

/// [`Error::NotAllowed`] when `sql` starts (after whitespace, comments and parentheses) with
/// one of [`NOT_READS`].
fn refuse_statement_keyword(sql: &str) -> Result<()> {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(line) = trimmed.strip_prefix("--") {
            rest = line.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(block) = trimmed.strip_prefix("/*") {
            rest = block.split_once("*/").map_or("", |(_, r)| r);
        } else {
            rest = trimmed;
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    if NOT_READS.contains(&word.as_str()) {
        return Err(Error::NotAllowed(format!(
            "only queries can run here (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW), not {word} statements"
        )));
    }
    Ok(())
}

/// Refuses, before planning, every statement that is not a read: queries, `EXPLAIN` (and
/// `EXPLAIN ANALYZE`) of a read, `DESCRIBE` and `SHOW` pass; DDL, DML, `COPY`, `SET`,
/// transactions, `PREPARE`/`EXECUTE` and the rest are [`Error::NotAllowed`]. Checked on the
/// syntax tree because the planner rejects some of them (transactions, `PREPARE`) as
/// unsupported syntax, which would read as a malformed query rather than a refused one.
fn read_only(statement: &DFStatement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::Statement as Sql;
    let allowed = match statement {
        DFStatement::Explain(explain) => return read_only(&explain.statement),
        DFStatement::Statement(sql) => match sql.as_ref() {
            Sql::Explain { statement, .. } => {
                return read_only(&DFStatement::Statement(statement.clone()));
            }
            Sql::Query(_)
            | Sql::ExplainTable { .. }
            | Sql::ShowTables { .. }
            | Sql::ShowColumns { .. }
            | Sql::ShowFunctions { .. }
            | Sql::ShowVariable { .. }
            | Sql::ShowCreate { .. } => true,
            _ => false,
        },
        DFStatement::CreateExternalTable(_) | DFStatement::CopyTo(_) | DFStatement::Reset(_) => {
            false
        }
    };
    if allowed {
        return Ok(());
    }
    let text = statement.to_string();
    let head: String = text.chars().take(60).collect();
    let ellipsis = if head.len() < text.len() { "…" } else { "" };
    Err(Error::NotAllowed(format!(
        "only queries can run here (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW), not {head}{ellipsis}"
    )))
}

/// Datasets are scanned with string and binary columns as views (`Utf8View`: the Parquet
/// reader fills them without copying each value, and grouping and filtering on them is
/// faster); results still carry `Utf8` / `Binary`, as stored and as every consumer reads.
fn view_types(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Utf8 => DataType::Utf8View,
                DataType::Binary => DataType::BinaryView,
                other => other.clone(),
            };
            f.as_ref().clone().with_data_type(t)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `df` with top-level view columns cast back to `Utf8` / `Binary` (see [`view_types`]).
fn plain_strings_at_output(df: DataFrame) -> Result<DataFrame> {
    let plain = |t: &DataType| match t {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    };
    if !df
        .schema()
        .fields()
        .iter()
        .any(|f| plain(f.data_type()).is_some())
    {
        return Ok(df);
    }
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::from((qualifier, field));
            match plain(field.data_type()) {
                Some(t) => cast(column, t).alias_qualified(qualifier.cloned(), field.name()),
                None => column,
            }
        })
        .collect();
    Ok(df.select(exprs)?)
}

fn strip_df_prefix(e: &DataFusionError) -> String {
    let s = e.to_string();
    s.strip_prefix("Error during planning: ")
        .map(str::to_string)
        .unwrap_or(s)
}

/// Exposes the catalog's datasets as DataFusion tables.
#[derive(Debug)]
struct DatasetSchema {
    catalog: Catalog,
}

/// Splits `name@N` into the dataset name and version.
fn parse_table_name(name: &str) -> Option<(&str, Option<u64>)> {
    match name.rsplit_once('@') {
        Some((base, v)) => Some((base, Some(v.strip_prefix('v').unwrap_or(v).parse().ok()?))),
        None => Some((name, None)),
    }
}

async fn table_for(manifest: &Manifest, storage: &Storage) -> Result<Arc<dyn TableProvider>> {
    let schema = view_types(&*manifest.schema()?);
    if manifest.files.is_empty() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    let urls = manifest
        .files
        .iter()
        .map(|f| ListingTableUrl::parse(format!("{ROOT_URL}{}", storage.store_path(&f.path))))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

#[async_trait]
impl SchemaProvider for DatasetSchema {
    fn table_names(&self) -> Vec<String> {
        self.catalog.list().iter().map(|m| m.name.clone()).collect()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        let Some((base, version)) = parse_table_name(name) else {
            return Ok(None);
        };
        if !self.catalog.contains(base) {
            return Ok(None);
        }
        let manifest = match version {
            None => self.catalog.manifest(base),
            Some(v) => self.catalog.manifest_at(base, v).await,
        };
        let manifest = match manifest {
            Ok(m) => m,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(DataFusionError::External(Box::new(e))),
        };
        table_for(&manifest, self.catalog.storage())
            .await
            .map(Some)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    fn table_exist(&self, name: &str) -> bool {
        parse_table_name(name).is_some_and(|(base, _)| self.catalog.contains(base))
    }
}

/// An object-store registry that knows only the lakehouse root: no `file://`, no other
/// buckets, so SQL cannot reach data outside the catalog.
#[derive(Debug)]
struct RootOnlyRegistry {
    store: Arc<dyn ObjectStore>,
}

impl RootOnlyRegistry {
    fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }
}

impl ObjectStoreRegistry for RootOnlyRegistry {
    fn register_store(
        &self,
        _url: &Url,
        _store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        // Registering other stores is not supported; keep the root.
        None
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "lakehouse" && url.host_str() == Some("root") {
            Ok(Arc::clone(&self.store))
        } else {
            Err(DataFusionError::External(Box::new(Error::NotAllowed(
                format!("queries can only read datasets of this lakehouse, not {url}"),
            ))))
        }
    }
}

/// `name` as an SQL identifier: in double quotes, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_with_versions() {
        assert_eq!(parse_table_name("w"), Some(("w", None)));
        assert_eq!(parse_table_name("w@3"), Some(("w", Some(3))));
        assert_eq!(parse_table_name("w@v3"), Some(("w", Some(3))));
        assert_eq!(parse_table_name("w@x"), None);
    }

    #[test]
    fn statements_that_are_not_reads_are_refused_by_their_first_word() {
        for sql in [
            "DROP TABLE x",
            "  -- a comment\n  vacuum x",
            "/* c */ (INSERT INTO x VALUES (1))",
            "Begin",
        ] {
            assert!(
                matches!(refuse_statement_keyword(sql), Err(Error::NotAllowed(_))),
                "{sql}"
            );
        }
        for sql in [
            "SELECT 1",
            "with a as (select 1) select * from a",
            "SELEC 1",
            "",
            "(SELECT 1)",
        ] {
            assert!(refuse_statement_keyword(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn non_finite_floats_become_strings() {
        assert_eq!(float(f64::NAN), serde_json::Value::String("NaN".into()));
        assert_eq!(float(1.5), serde_json::json!(1.5));
    }
}
