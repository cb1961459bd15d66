//! cordon's native backends: the only code that turns a native plan into a sandboxed
//! process. Plans come from `cordon-plan`; this crate does not depend on Wasmtime, so it
//! can be checked for every target.
//!
//! Linux: [`linux::run`] launches `bwrap` with the plan's arguments and cordon's own binary
//! as a helper inside the sandbox ([`linux::helper_main`]), which sets the limits, landlock
//! and seccomp on itself and then executes the tool.
#![deny(missing_docs)]

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(unix)]
pub mod proxy;
#[cfg(windows)]
pub mod windows;

/// Why a native run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NativeError {
    /// The backend is not available on this host.
    #[error("{backend} is not available on this host: {why}")]
    Unavailable {
        /// The backend.
        backend: &'static str,
        /// Why.
        why: String,
    },
    /// A rule cannot be enforced here.
    #[error("{rule}: {why}")]
    Unenforceable {
        /// JSON pointer of the rule.
        rule: String,
        /// Why, and what to do.
        why: String,
    },
    /// The command could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// What.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The variables of `cordon.env.inherit` that are set for cordon, with their values: read
/// when the run starts (the one place every native runner reads them).
pub fn inherited(process: &cordon_plan::ProcessPlan) -> Vec<(String, String)> {
    process.inherit_env.iter().filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v))).collect()
}
