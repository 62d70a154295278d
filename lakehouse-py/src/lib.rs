//! Python bindings for lakehouse-core (pyo3, built with maturin).
//!
//! Placeholder until the Python issue lands: the crate exists so that the workspace layout
//! is final and builds, and it re-exports the core it will wrap.

pub use lakehouse_core;
