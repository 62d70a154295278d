//! The engine's thread team with its unit tests (among them a leader that panics while a
//! helper still runs a task), compiled from lakehouse-core's own source file so that
//! `scripts/sanitize.sh` can run them under AddressSanitizer.
#![allow(dead_code)]

#[path = "../../../lakehouse-core/src/embed/team.rs"]
mod team;
