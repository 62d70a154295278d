//! # lakehouse-http
//!
//! The HTTP face of lakehouse-core: [`server`] (axum) exposes every capability under `/v1`
//! with one error mapping, bearer-token auth, metrics and an OpenAPI document. The
//! `lakehouse` binary (lakehouse-cli: the command line, including `lakehouse serve`) is built on it.
//! Translation only: every rule stays in core.

#![warn(missing_docs)]

pub mod memory;
pub mod server;
