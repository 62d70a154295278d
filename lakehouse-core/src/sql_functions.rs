//! Vector search and embeddings inside SQL: the `vector_search` table function and the
//! `embed` scalar function, registered on every lakehouse's query engine.
//!
//! `vector_search(index, query, k [, filter])` returns the `k` nearest records of a vector
//! index as rows `(id, distance, metadata)`, nearest first; `metadata` is the record's JSON
//! metadata as text. `query` is a text (embedded as a query with the lakehouse's model) or
//! a vector literal such as `[0.1, 0.2, …]`. Join it with datasets like any table:
//!
//! ```sql
//! SELECT w.name, v.distance
//! FROM vector_search('workers', 'forklift operator near Chicago', 10) v
//! JOIN workers w ON w.id = v.id
//! ORDER BY v.distance
//! ```
//!
//! **Filters and `k`.** `k` is the number of rows the function returns; a `WHERE` written
//! on a joined table filters those rows after the search, so it can leave fewer than `k`.
//! To get `k` rows that satisfy a condition, give the condition as the fourth argument, a
//! metadata filter in JSON (`'{"state": "IL"}'`, a list meaning any of; see
//! [`MetadataFilter`]): it is applied inside the index search (usearch's predicate search,
//! with an exact fallback when the filter is very selective), so the function returns `k`
//! matching rows whenever `k` exist. `lakehouse index-dataset` copies the columns you name
//! into each record's metadata for this purpose.
//!
//! `embed(text [, purpose])` returns the text's embedding as a `List<Float32>`; purpose is
//! `'document'` (default) or `'query'`. NULL gives NULL; an empty text is an error.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float32Array, ListArray, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::ExecutionPlan;

use crate::embed::{Purpose, SharedEmbedder};
use crate::error::{Error, Result};
use crate::query::QueryEngine;
use crate::vector::{MetadataFilter, SearchRequest, VectorIndexes};

/// Texts embedded per call by the `embed` function (below the embedder's batch limit).
const EMBED_CHUNK: usize = 1_024;

/// Registers `vector_search` and `embed` on `engine`.
pub(crate) fn register(engine: &QueryEngine, vectors: VectorIndexes, embedder: SharedEmbedder) {
    let ctx = engine.context();
    ctx.register_udtf(
        "vector_search",
        Arc::new(VectorSearchFunction {
            vectors,
            embedder: embedder.clone(),
        }),
    );
    ctx.register_udf(ScalarUDF::new_from_impl(EmbedFunction::new(embedder)));
}

fn external(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The query of a `vector_search` call.
#[derive(Debug, Clone)]
enum Query {
    Text(String),
    Vector(Vec<f32>),
}

#[derive(Debug)]
struct VectorSearchFunction {
    vectors: VectorIndexes,
    embedder: SharedEmbedder,
}

const USAGE: &str = "vector_search(index, query text or vector, k [, metadata filter JSON])";

impl TableFunctionImpl for VectorSearchFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(3..=4).contains(&exprs.len()) {
            return Err(external(Error::invalid(format!(
                "{USAGE} takes 3 or 4 arguments, not {}",
                exprs.len()
            ))));
        }
        // Fold constant expressions (`[0.1, 0.2]`, `embed('…')`, `5 * 2`) into literals.
        let simplifier = ExprSimplifier::new(SimplifyContext::default());
        let values = exprs
            .iter()
            .map(|e| match simplifier.simplify(e.clone())? {
                Expr::Literal(v, _) => Ok(v),
                other => Err(external(Error::invalid(format!(
                    "{USAGE}: arguments must be constants, not {other}"
                )))),
            })
            .collect::<DfResult<Vec<ScalarValue>>>()?;
        let index = string_arg(&values[0])
            .ok_or_else(|| external(Error::invalid(format!("{USAGE}: index must be a text"))))?;
        let query = match &values[1] {
            v if string_arg(v).is_some() => Query::Text(string_arg(v).unwrap_or_default()),
            ScalarValue::List(a) => Query::Vector(vector_arg(a.value(0))?),
            ScalarValue::LargeList(a) => Query::Vector(vector_arg(a.value(0))?),
            ScalarValue::FixedSizeList(a) => Query::Vector(vector_arg(a.value(0))?),
            other => {
                return Err(external(Error::invalid(format!(
                    "{USAGE}: query must be a text or a vector, not {other}"
                ))));
            }
        };
        let k = match &values[2] {
            ScalarValue::Int64(Some(k)) if *k > 0 => *k as usize,
            ScalarValue::Int32(Some(k)) if *k > 0 => *k as usize,
            ScalarValue::UInt64(Some(k)) if *k > 0 => *k as usize,
            other => {
                return Err(external(Error::invalid(format!(
                    "{USAGE}: k must be a positive integer, not {other}"
                ))));
            }
        };
        let filter = match values.get(3) {
            None => None,
            Some(v) => Some(
                MetadataFilter::parse(&string_arg(v).ok_or_else(|| {
                    external(Error::invalid(format!(
                        "{USAGE}: the filter must be JSON text"
                    )))
                })?)
                .map_err(external)?,
            ),
        };
        Ok(Arc::new(VectorSearchTable {
            vectors: self.vectors.clone(),
            embedder: self.embedder.clone(),
            index,
            query,
            k,
            filter,
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("distance", DataType::Float32, false),
                Field::new("metadata", DataType::Utf8, true),
            ])),
        }))
    }
}

fn string_arg(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

fn vector_arg(values: ArrayRef) -> DfResult<Vec<f32>> {
    let floats = arrow::compute::cast(&values, &DataType::Float32)?;
    let floats = floats.as_primitive::<Float32Type>();
    if floats.null_count() > 0 {
        return Err(external(Error::invalid(
            "vector_search: the query vector has a NULL",
        )));
    }
    Ok(floats.values().to_vec())
}

/// The rows of one `vector_search` call; the search runs when the query executes.
#[derive(Debug)]
struct VectorSearchTable {
    vectors: VectorIndexes,
    embedder: SharedEmbedder,
    index: String,
    query: Query,
    k: usize,
    filter: Option<MetadataFilter>,
    schema: SchemaRef,
}

impl VectorSearchTable {
    async fn rows(&self) -> Result<RecordBatch> {
        let index = self.vectors.get(&self.index).await?;
        let vector = match &self.query {
            Query::Vector(v) => v.clone(),
            Query::Text(t) => {
                let mut v = self.embedder.embed(vec![t.clone()], Purpose::Query).await?;
                v.pop()
                    .ok_or_else(|| Error::internal("no vector for the query"))?
            }
        };
        let request = SearchRequest {
            filter: self.filter.clone(),
            ..SearchRequest::new(vector, self.k)
        };
        let hits = index.search(&request)?;
        let ids = StringArray::from_iter_values(hits.iter().map(|h| h.id.as_str()));
        let distances = Float32Array::from_iter_values(hits.iter().map(|h| h.distance));
        let metadata = StringArray::from_iter(
            hits.iter()
                .map(|h| h.metadata.as_ref().map(|m| m.to_string())),
        );
        Ok(RecordBatch::try_new(
            self.schema.clone(),
            vec![Arc::new(ids), Arc::new(distances), Arc::new(metadata)],
        )?)
    }
}

#[async_trait]
impl TableProvider for VectorSearchTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = self.rows().await.map_err(external)?;
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `embed(text [, purpose])`.
struct EmbedFunction {
    embedder: SharedEmbedder,
    signature: Signature,
}

impl EmbedFunction {
    fn new(embedder: SharedEmbedder) -> Self {
        Self {
            embedder,
            signature: Signature::one_of(
                vec![TypeSignature::String(1), TypeSignature::String(2)],
                Volatility::Immutable,
            ),
        }
    }
}

impl fmt::Debug for EmbedFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedFunction")
            .field("model", &self.embedder.id())
            .finish()
    }
}

impl PartialEq for EmbedFunction {
    fn eq(&self, other: &Self) -> bool {
        self.embedder.id() == other.embedder.id()
    }
}

impl Eq for EmbedFunction {}

impl Hash for EmbedFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.embedder.id().hash(state);
    }
}

fn item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Float32, true))
}

impl ScalarUDFImpl for EmbedFunction {
    fn name(&self) -> &str {
        "embed"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(item_field()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let purposes = match arrays.get(1) {
            Some(p) => Some(arrow::compute::cast(p, &DataType::Utf8)?),
            None => None,
        };
        let purpose_of = |row: usize| -> DfResult<Purpose> {
            let Some(p) = &purposes else {
                return Ok(Purpose::Document);
            };
            let p = p.as_string::<i32>();
            if p.is_null(row) {
                return Ok(Purpose::Document);
            }
            p.value(row).parse().map_err(external)
        };
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for purpose in [Purpose::Document, Purpose::Query] {
            let mut rows_for = Vec::new();
            for row in 0..texts.len() {
                if !texts.is_null(row) && purpose_of(row)? == purpose {
                    rows_for.push(row);
                }
            }
            for chunk in rows_for.chunks(EMBED_CHUNK) {
                let batch: Vec<&str> = chunk.iter().map(|&r| texts.value(r)).collect();
                let vectors = off_worker(|| self.embedder.embed_blocking(&batch, purpose))
                    .map_err(external)?;
                for (&row, v) in chunk.iter().zip(vectors) {
                    out[row] = Some(v);
                }
            }
        }
        let list = ListArray::from_iter_primitive::<Float32Type, _, _>(
            out.into_iter()
                .map(|v| v.map(|v| v.into_iter().map(Some).collect::<Vec<_>>())),
        );
        let list: ArrayRef = Arc::new(list);
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &list, 0,
            )?));
        }
        debug_assert_eq!(list.len(), rows);
        Ok(ColumnarValue::Array(list))
    }
}

/// Runs model work (CPU-bound, tens of milliseconds per batch) from inside DataFusion's
/// execution, which polls on a tokio worker: on a multi-thread runtime the worker first
/// hands its other tasks to the other workers, so a large `SELECT embed(col)` does not
/// stall them.
fn off_worker<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
