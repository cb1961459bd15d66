//! The runtime's error type, with the exit code each error maps to.

use std::path::PathBuf;

use cordon_plan::PlanError;
use cordon_policy::PolicyErrors;

/// Why cordon could not run (or finish running) a tool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    // Invalid inputs
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyErrors),
    /// The policy file could not be read.
    #[error("cannot read policy {path}: {source}")]
    ReadPolicy {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `--config-base64` is not base64 or not UTF-8.
    #[error("--config-base64 is not base64-encoded UTF-8 JSON: {0}")]
    Base64(String),
    /// The backend cannot enforce the policy.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The requested backend is not on this host.
    #[error("{0}")]
    Unavailable(String),
    /// A typed call cannot be made: no such function, bad arguments, or a type JSON cannot
    /// carry.
    #[error(transparent)]
    Call(#[from] crate::wasm::typed::CallError),
    /// Bad command line request (for example shell syntax where a wasm path is expected).
    #[error("{0}")]
    Request(String),

    // The tool
    /// The tool file does not exist.
    #[error("tool not found: {0}")]
    ToolNotFound(PathBuf),
    /// The tool exists but cannot run (bad wasm, unreadable).
    #[error("cannot run {path}: {reason}")]
    ToolCannotRun {
        /// The tool.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A granted path is missing or unusable on this host.
    #[error("{pointer}: cannot grant {path}: {reason}")]
    Grant {
        /// The rule.
        pointer: String,
        /// The host path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `process.timeout` passed while cordon was still compiling the tool.
    #[error("stopped compiling {path} after process.timeout ({} ms); exit 124", timeout.as_millis())]
    CompileTimeout {
        /// The tool.
        path: PathBuf,
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// The runtime's instance pool was full: the call waited its whole timeout, or the
    /// queue was full. Nothing of the tool ran; the call can be retried.
    #[error("busy: {0}")]
    Busy(#[from] crate::wasm::Busy),
    /// Anything else inside cordon.
    #[error("{0}")]
    Internal(String),
}

impl RuntimeError {
    /// The exit code DESIGN §4.1 gives this error: 125 for policy and cordon errors, 126 for
    /// a tool that cannot run, 127 for a tool that is not there.
    pub fn exit_code(&self) -> u8 {
        match self {
            RuntimeError::ToolNotFound(_) => 127,
            RuntimeError::Call(crate::wasm::typed::CallError::Unsupported { .. }) => 126,
            // As a usage error: nothing ran.
            RuntimeError::Call(_) => 2,
            RuntimeError::ToolCannotRun { .. } => 126,
            RuntimeError::CompileTimeout { .. } => 124,
            RuntimeError::Policy(_)
            | RuntimeError::ReadPolicy { .. }
            | RuntimeError::Base64(_)
            | RuntimeError::Plan(_)
            | RuntimeError::Request(_)
            | RuntimeError::Unavailable(_)
            | RuntimeError::Grant { .. }
            | RuntimeError::Busy(_)
            | RuntimeError::Internal(_) => 125,
        }
    }

    /// MXC's error code name for `--error-format json`.
    pub fn mxc_code(&self) -> &'static str {
        match self {
            RuntimeError::Policy(_) | RuntimeError::Grant { .. } => "policy_validation",
            RuntimeError::ReadPolicy { .. }
            | RuntimeError::Base64(_)
            | RuntimeError::Request(_)
            | RuntimeError::Call(_) => "malformed_request",
            RuntimeError::Plan(PlanError::NotBuilt(_)) | RuntimeError::Unavailable(_) => "backend_unavailable",
            RuntimeError::Plan(_) => "unsupported_containment",
            RuntimeError::ToolNotFound(_)
            | RuntimeError::ToolCannotRun { .. }
            | RuntimeError::CompileTimeout { .. }
            | RuntimeError::Busy(_)
            | RuntimeError::Internal(_) => "backend_error",
        }
    }
}
