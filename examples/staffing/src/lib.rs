//! # The staffing co-pilot, on lakehouse
//!
//! The application the reference system served — recruiters search worker profiles by
//! meaning, draft outreach e-mails and SMS, propose shift fills, and the system learns from
//! recorded playbooks — built on lakehouse's public API only:
//!
//! - [`generate`]: deterministic worker profiles, clients with blacklists, recruiter queries;
//! - [`corpus`]: the datasets `workers` and `clients` and the vector index `workers`
//!   (bulk indexing, resumable);
//! - [`validate`] and [`roster`]: the reference's validators for fills, e-mails and SMS,
//!   against the roster read from the datasets (cached per dataset version);
//! - [`routes`]: `POST /v1/validate/{fill,email,sms}`, served by lakehouse-http beside its
//!   API without forking it;
//! - [`load`]: the multitier load test, in process or over HTTP.
//!
//! Binaries: `staffing` (`build`, `serve`) and `multitier`.

#![warn(missing_docs)]

pub mod corpus;
pub mod generate;
pub mod load;
pub mod roster;
pub mod routes;
pub mod validate;
