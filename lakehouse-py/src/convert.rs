//! Conversions between Python objects and core's types: JSON-like values, vectors and
//! matrices (numpy arrays or lists), and core results (through their serde form).

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use crate::errors::invalid;

/// A Python value (dict, list, tuple, str, int, float, bool, None) as JSON.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is an int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(obj.extract::<u64>()?));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| invalid("NaN and infinity are not allowed in JSON values"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| invalid(format!("dict keys must be str, not {}", type_name(&k))))?
                .to_cow()?
                .into_owned();
            map.insert(key, to_json(&v)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items = obj
            .try_iter()?
            .map(|item| to_json(&item?))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(Value::Array(items));
    }
    // numpy scalars and other numbers.
    if let Ok(f) = obj.extract::<f64>() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| invalid("NaN and infinity are not allowed in JSON values"));
    }
    Err(invalid(format!(
        "cannot convert {} to JSON: use dict, list, str, int, float, bool or None",
        type_name(obj)
    )))
}

/// JSON as Python objects.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_bound_py_any(py),
            (None, Some(u)) => u.into_bound_py_any(py),
            _ => n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py),
        },
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

/// Any serialisable core value (a manifest, a report, hits) as Python objects.
pub fn serialized<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value)
        .map_err(|e| crate::errors::of_kind(lakehouse_core::ErrorKind::Internal, e.to_string()))?;
    to_py(py, &json)
}

/// A Python object (dict, or a JSON-shaped value) as a core type, through serde: core's
/// field names and defaults apply, and a wrong shape is an `InvalidInputError`.
pub fn deserialized<T: serde::de::DeserializeOwned>(
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<T> {
    serde_json::from_value(to_json(obj)?).map_err(|e| invalid(format!("{what}: {e}")))
}

/// One vector: a 1-D numpy array (float32 or float64) or a sequence of numbers.
pub fn vector(obj: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, f32>>() {
        return Ok(a.as_array().to_vec());
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, f64>>() {
        return Ok(a.as_array().iter().map(|&x| x as f32).collect());
    }
    if is_ndarray(obj) {
        return Err(invalid(format!(
            "a query vector must be a 1-D float32 or float64 array; got {}",
            describe_array(obj)
        )));
    }
    obj.extract::<Vec<f32>>().map_err(|_| {
        invalid(format!(
            "a vector must be a 1-D numpy array or a sequence of numbers, not {}",
            type_name(obj)
        ))
    })
}

/// Rows of vectors: a 2-D numpy array (float32 or float64) of shape (n, dim), or a
/// sequence of sequences of numbers.
pub fn matrix(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<f32>>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray2<'_, f32>>() {
        return Ok(a
            .as_array()
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect());
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray2<'_, f64>>() {
        return Ok(a
            .as_array()
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&x| x as f32).collect())
            .collect());
    }
    if is_ndarray(obj) {
        return Err(invalid(format!(
            "vectors must be a 2-D float32 or float64 array of shape (n, dim); got {}",
            describe_array(obj)
        )));
    }
    obj.extract::<Vec<Vec<f32>>>().map_err(|_| {
        invalid(format!(
            "vectors must be a 2-D numpy array or a list of lists of numbers, not {}",
            type_name(obj)
        ))
    })
}

/// Vectors of one length as a float32 numpy array of shape (n, dim).
pub fn ndarray<'py>(
    py: Python<'py>,
    vectors: Vec<Vec<f32>>,
    dim: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let n = vectors.len();
    let flat: Vec<f32> = vectors.into_iter().flatten().collect();
    Ok(PyArray1::from_vec(py, flat).reshape([n, dim])?.into_any())
}

fn is_ndarray(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<numpy::PyUntypedArray>().is_ok()
}

fn describe_array(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<numpy::PyUntypedArray>() {
        Ok(a) => format!(
            "dtype {} with shape {:?}",
            a.dtype()
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "?".into()),
            a.shape()
        ),
        Err(_) => type_name(obj),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}
