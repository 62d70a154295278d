//! Python bindings for lakehouse-core: the `lakehouse` module, built with maturin
//! (`pip install ./lakehouse-py`).
//!
//! Translation only: arguments become core calls with the GIL released, results become
//! Python objects (query results as Arrow through the PyCapsule interface, vectors as numpy
//! arrays), and core errors become exception classes named after their kinds.

use pyo3::prelude::*;

mod arrow_export;
mod arrow_import;
mod convert;
mod errors;
mod lakehouse;

/// The native part of the `lakehouse` Python package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lakehouse::open, m)?)?;
    m.add_function(wrap_pyfunction!(lakehouse::choices, m)?)?;
    m.add_function(wrap_pyfunction!(lakehouse::migrate, m)?)?;
    m.add_function(wrap_pyfunction!(lakehouse::install_model, m)?)?;
    m.add_class::<lakehouse::PyLakehouse>()?;
    m.add_class::<lakehouse::PyVectorIndex>()?;
    m.add_class::<arrow_export::ArrowResult>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
