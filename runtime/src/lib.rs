//! cordon: run untrusted agent tools with exactly the access one JSON policy grants.
//!
//! ```text
//! policy JSON ─parse─▶ RawPolicy ─validate─▶ Policy ─plan(backend)─▶ Plan ─apply─▶ running tool
//!   (cordon-policy)                                   (cordon-plan)          (this crate)
//! ```
//!
//! This crate holds dispatch, the Wasmtime engine, the native backends, audit events, the
//! library API and the `cordon` binary. Planning is pure and lives in `cordon-plan`; the
//! policy model lives in `cordon-policy`; the filtered WASI host interfaces in `cordon-host`.
//!
//! # Embedding
#![doc = include_str!("../README.md")]

pub mod api;
pub mod audit;
pub mod call;
pub mod cli;
pub mod command;
mod error;
pub mod explain;
mod host_env;
pub mod mcp;
mod native;
mod own_addrs;
mod protect;
pub mod run;
mod source;
pub mod summary;
pub mod wasm;

/// The policy model, so an embedder needs this one dependency (`cordon_runtime::policy::Policy`).
pub use cordon_policy as policy;
pub use error::RuntimeError;
pub use host_env::{SystemFacts, SystemHost};
pub use source::PolicySource;
