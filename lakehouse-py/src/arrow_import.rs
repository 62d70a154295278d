//! Python data handed to the library through the Arrow PyCapsule interface: any object with
//! `__arrow_c_stream__` (pyarrow Table or RecordBatchReader, polars DataFrame, DuckDB
//! relation…) becomes an Arrow reader that core pulls batch by batch, without a copy and
//! without a CSV detour; a pandas DataFrame goes through `pyarrow.Table.from_pandas` first.

use std::ffi::CStr;

use arrow::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::invalid;

const STREAM: &CStr = c"arrow_array_stream";

/// The rows of `data` as an Arrow stream reader.
pub fn reader(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<ArrowArrayStreamReader> {
    let data = if is_pandas_frame(py, data)? {
        // The frame's index is not data: a RangeIndex would vanish anyway, another index
        // would otherwise arrive as an extra `__index_level_0__` column.
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("preserve_index", false)?;
        py.import("pyarrow")
            .map_err(|_| invalid("writing a pandas DataFrame needs pyarrow installed"))?
            .getattr("Table")?
            .call_method("from_pandas", (data,), Some(&kwargs))?
    } else {
        data.clone()
    };
    if !data.hasattr("__arrow_c_stream__")? {
        return Err(invalid(format!(
            "cannot write a {}: pass an object with __arrow_c_stream__ (a pyarrow Table or \
             RecordBatchReader, a polars DataFrame, a DuckDB relation) or a pandas DataFrame",
            data.get_type().name()?
        )));
    }
    let capsule = data.call_method0("__arrow_c_stream__")?;
    let capsule = capsule
        .cast::<PyCapsule>()
        .map_err(|_| invalid("__arrow_c_stream__ did not return a PyCapsule"))?;
    // Checks the name the interface gives stream capsules, and that the pointer is set.
    let pointer = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: a capsule named "arrow_array_stream" holds, by the Arrow PyCapsule interface,
    // a pointer to an initialized, aligned `ArrowArrayStream` the capsule owns; the capsule
    // is alive (bound above) and no Python code runs during this call. `from_raw` moves the
    // stream out and leaves its release callback NULL, so the capsule's destructor then
    // releases nothing; a stream already taken (release NULL) is refused by `from_raw`.
    unsafe { ArrowArrayStreamReader::from_raw(pointer.as_ptr().cast::<FFI_ArrowArrayStream>()) }
        .map_err(|e| invalid(format!("the Arrow stream cannot be read: {e}")))
}

/// Whether `data` is a pandas DataFrame (pandas is not imported unless already loaded).
fn is_pandas_frame(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
    let modules = py.import("sys")?.getattr("modules")?;
    let Some(pandas) = modules.get_item("pandas").ok() else {
        return Ok(false);
    };
    data.is_instance(&pandas.getattr("DataFrame")?)
}
