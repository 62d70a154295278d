//! The one mapping from core errors to Python exceptions ([`to_py`]). The classes live in
//! the package's `lakehouse._errors` (Python), one per core [`ErrorKind`], so that each can
//! also derive from the builtin that means the same (`ValueError`, `LookupError`,
//! `TimeoutError`, `OSError`), which pyo3's single-base exception macro cannot express.

use lakehouse_core::{Error, ErrorKind, Remedy};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The Python exception for a core error: its class names the kind, its message is core's.
pub fn to_py(e: Error) -> PyErr {
    let message = match e.remedy() {
        Some(Remedy::InstallModel) => format!("{e} (lakehouse.install_model() installs it)"),
        Some(Remedy::Migrate) => format!("{e} (lakehouse.migrate(root) converts it)"),
        _ => e.to_string(),
    };
    of_kind(e.kind(), message)
}

/// An exception of `kind`'s class with `message`.
pub fn of_kind(kind: ErrorKind, message: String) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("lakehouse._errors")
            .and_then(|m| m.getattr("BY_KIND"))
            .and_then(|by_kind| by_kind.get_item(kind.as_str()))
            .and_then(|class| class.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, message),
            Err(e) => PyRuntimeError::new_err(format!(
                "{message} (and the lakehouse._errors classes could not be loaded: {e})"
            )),
        }
    })
}

/// An `InvalidInputError` for arguments the binding cannot translate.
pub fn invalid(message: impl Into<String>) -> PyErr {
    of_kind(ErrorKind::InvalidInput, message.into())
}
