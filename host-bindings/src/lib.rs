//! Host side of the WASI interfaces that cordon filters.
//!
//! Wasmtime's `wasmtime-wasi` gives a guest the directories it preopens, whole. cordon needs
//! more: a policy can deny `/repo/.git` inside a readable `/repo`, make `/repo/out` writable
//! inside it, and must refuse a symlink that leads from a grant into a denied path. This
//! crate puts a checking layer in front of `wasi:filesystem` ([`fs`]): every path-taking
//! call is resolved the way the kernel would (`.`, `..`, symlinks, hop limit) against the
//! policy's [`FsRules`](cordon_policy::FsRules), and refused with WASI's `access` error when
//! the object it reaches, or any directory it passes through, is denied. Then the call goes
//! to `wasmtime-wasi`, whose own preopen confinement still applies.
//!
//! WASI preview 1 modules run through the same layer: the runtime adapts them to components
//! with the preview-1 adapter, so there is one implementation to get right.
//!
//! # Integration
//! [`add_to_linker`] adds the whole host in one call: every WASI 0.2 interface from
//! `wasmtime-wasi` except `wasi:filesystem/{types,preopens}` ([`fs`]) and `ip-name-lookup`
//! ([`net`]), which are cordon's, and `wasi:http` with cordon's hooks ([`http`]).
#![deny(missing_docs)]

pub mod fs;
pub mod http;
mod linker;
pub mod memory;
pub mod net;

pub use linker::{Views, add_to_linker};
