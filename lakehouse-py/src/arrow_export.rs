//! Query results handed to Python through the Arrow PyCapsule interface: the record
//! batches are exported over the Arrow C stream interface, so pyarrow (or polars, DuckDB…)
//! takes the buffers without copying them.

use std::ffi::CStr;
use std::sync::Mutex;

use arrow::datatypes::SchemaRef;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::{RecordBatch, RecordBatchIterator};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::invalid;

const STREAM: &CStr = c"arrow_array_stream";

/// A query result not yet taken by an Arrow consumer. Implements `__arrow_c_stream__`; it
/// can be consumed once (the buffers move to the consumer).
#[pyclass(module = "lakehouse", name = "ArrowResult", frozen)]
pub struct ArrowResult {
    schema: SchemaRef,
    batches: Mutex<Option<Vec<RecordBatch>>>,
}

impl ArrowResult {
    /// Wraps a core query result.
    pub fn new(result: lakehouse_core::QueryResult) -> Self {
        Self {
            schema: result.schema,
            batches: Mutex::new(Some(result.batches)),
        }
    }

    /// No rows, only `schema` (how a schema alone crosses over to pyarrow).
    pub fn empty(schema: SchemaRef) -> Self {
        Self {
            schema,
            batches: Mutex::new(Some(Vec::new())),
        }
    }
}

#[pymethods]
impl ArrowResult {
    /// Exports the result as an `ArrowArrayStream` capsule (the Arrow PyCapsule interface).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // A requested schema is a hint the producer may ignore; the consumer casts.
        let _ = requested_schema;
        let batches = self
            .batches
            .lock()
            .map_err(|_| invalid("the result is poisoned"))?
            .take()
            .ok_or_else(|| invalid("this result was already consumed"))?;
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), self.schema.clone());
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, STREAM)
    }
}
