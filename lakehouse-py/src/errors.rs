//! Python exception classes, one per core [`ErrorKind`], all deriving from `LakehouseError`;
//! [`to_py`] is the one mapping from core errors.

use lakehouse_core::{Error, ErrorKind, Remedy};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    lakehouse,
    LakehouseError,
    PyException,
    "Base class of every error lakehouse raises."
);
create_exception!(
    lakehouse,
    InvalidInputError,
    LakehouseError,
    "The request is malformed: a bad name, bad SQL, a malformed file, a wrong-shaped array."
);
create_exception!(
    lakehouse,
    NotFoundError,
    LakehouseError,
    "A named thing (dataset, version, index, model) does not exist."
);
create_exception!(
    lakehouse,
    ConflictError,
    LakehouseError,
    "The request contradicts stored state (schema drift, duplicate create)."
);
create_exception!(
    lakehouse,
    TooLargeError,
    LakehouseError,
    "An object or batch exceeds a configured size limit."
);
create_exception!(
    lakehouse,
    ValidationError,
    LakehouseError,
    "Well-formed input that breaks a rule (e.g. a write statement in read-only SQL)."
);
create_exception!(
    lakehouse,
    BusyError,
    LakehouseError,
    "A resource limit was hit; retrying later may succeed."
);
create_exception!(
    lakehouse,
    TimeoutError,
    LakehouseError,
    "The operation ran past its configured time limit."
);
create_exception!(
    lakehouse,
    StorageError,
    LakehouseError,
    "The object store failed."
);
create_exception!(
    lakehouse,
    InternalError,
    LakehouseError,
    "A bug or an unexpected state; please report it."
);

/// The Python exception for a core error: its class names the kind, its message is core's.
pub fn to_py(e: Error) -> PyErr {
    let message = match e.remedy() {
        Some(Remedy::InstallModel) => format!("{e} (lakehouse.install_model() installs it)"),
        Some(Remedy::Migrate) => format!("{e} (lakehouse.migrate(root) converts it)"),
        _ => e.to_string(),
    };
    match e.kind() {
        ErrorKind::InvalidInput => InvalidInputError::new_err(message),
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::Conflict => ConflictError::new_err(message),
        ErrorKind::TooLarge => TooLargeError::new_err(message),
        ErrorKind::Validation => ValidationError::new_err(message),
        ErrorKind::Busy => BusyError::new_err(message),
        ErrorKind::Timeout => TimeoutError::new_err(message),
        ErrorKind::Storage => StorageError::new_err(message),
        ErrorKind::Internal => InternalError::new_err(message),
    }
}

/// An `InvalidInputError` for arguments the binding cannot translate.
pub fn invalid(message: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(message.into())
}

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("LakehouseError", py.get_type::<LakehouseError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("TooLargeError", py.get_type::<TooLargeError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("BusyError", py.get_type::<BusyError>())?;
    m.add("TimeoutError", py.get_type::<TimeoutError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}
