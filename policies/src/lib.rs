//! cordon's policy model.
//!
//! A policy is one JSON document: a Microsoft Execution Containers (MXC) config, schema 0.6
//! to 0.8, read unchanged, plus an optional `cordon` section for what MXC lacks (domain
//! allowlists, limits, env inheritance, audit). It flows one way:
//!
//! ```text
//! JSON ──parse──▶ RawPolicy ──validate──▶ Policy ──plan(backend)──▶ Plan (cordon-plan)
//! ```
//!
//! - [`RawPolicy`] is the exact JSON shape. Unknown fields are refused.
//! - [`Policy`] is the meaning: validated, normalised, deny by default. Grants are values;
//!   nothing is looked up in global state. Filesystem rules are already resolved through
//!   symlinks (by a [`HostEnv`] the caller passes: this crate never touches the filesystem).
//! - Every problem is reported at once, each with the JSON pointer of its value and what to
//!   do about it ([`PolicyErrors`]).
//!
//! # Example
//! ```
//! use cordon_policy::{Policy, LexicalHost, Access};
//! use std::path::Path;
//!
//! let policy = Policy::parse(r#"{
//!     "version": "0.8.0-alpha",
//!     "filesystem": { "readonlyPaths": ["/repo"], "deniedPaths": ["/repo/.git"] }
//! }"#, &LexicalHost::default())?;
//! assert_eq!(policy.filesystem.access(Path::new("/repo/src/lib.rs")), Access::ReadOnly);
//! assert_eq!(policy.filesystem.access(Path::new("/repo/.git/config")), Access::Deny);
//! assert_eq!(policy.filesystem.access(Path::new("/etc/passwd")), Access::Deny);
//!
//! let err = Policy::parse(r#"{"filesystem": {"readonlyPaths": ["repo"]}}"#, &LexicalHost::default())
//!     .unwrap_err();
//! assert_eq!(err.0[0].pointer, "/filesystem/readonlyPaths/0");
//! # Ok::<(), cordon_policy::PolicyErrors>(())
//! ```
#![deny(missing_docs)]

mod builder;
mod cross;
mod decide;
mod error;
pub mod fs;
pub mod host;
mod model;
pub mod net;
pub mod raw;
mod refused;
mod schema;
mod validate;

pub use builder::PolicyBuilder;
pub use decide::{AddrUse, HostCheck, NetDecision, NetEvent, is_local, net_is_local};
pub use error::{PolicyError, PolicyErrorKind, PolicyErrors};
pub use fs::{Access, FsRule, FsRules, HostEnv, LexicalHost, PathEntry, PolicyPath, RuleOrigin, windows_form};
pub use host::{Host, HostError};
pub use model::*;
pub use raw::RawPolicy;
pub use refused::{AddrRange, Refusal};
pub use schema::schema_json;
pub use validate::validate;

impl RawPolicy {
    /// Parses the JSON text of a policy into its raw shape.
    ///
    /// # Errors
    /// A syntax error with its line and column, or the first shape error (unknown field,
    /// wrong type) with its JSON pointer.
    pub fn from_json(text: &str) -> Result<Self, PolicyErrors> {
        if let Some(found) = not_an_object(text) {
            return Err(PolicyError::new("", PolicyErrorKind::NotAnObject { found }).into());
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        match serde_path_to_error::deserialize::<_, RawPolicy>(de) {
            Ok(raw) => Ok(raw),
            Err(e) => {
                let pointer = validate::pointer_from_serde_path(e.path());
                let inner = e.into_inner();
                let kind = if inner.is_syntax() || inner.is_eof() {
                    PolicyErrorKind::Syntax {
                        message: strip_position(&inner.to_string()),
                        line: inner.line(),
                        column: inner.column(),
                    }
                } else {
                    shape_kind(&strip_position(&inner.to_string()))
                };
                let pointer = if matches!(kind, PolicyErrorKind::Syntax { .. }) { String::new() } else { pointer };
                Err(PolicyError::new(pointer, kind).into())
            }
        }
    }

    /// Serialises back to JSON (fields that were absent stay absent).
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain data structs to a string cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// What a well-formed JSON document that is not an object is instead; `None` for objects and
/// for text that is not JSON (the parser words that).
fn not_an_object(text: &str) -> Option<&'static str> {
    let first = text.trim_start().bytes().next()?;
    if first == b'{' {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => return None,
    })
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn shape_kind(msg: &str) -> PolicyErrorKind {
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let expected = tail
            .split_once("expected one of ")
            .map(|(_, e)| e.replace('`', ""))
            .or_else(|| tail.split_once("expected ").map(|(_, e)| e.replace('`', "")))
            .unwrap_or_default();
        return PolicyErrorKind::UnknownField { field: field.into(), expected };
    }
    PolicyErrorKind::Shape { message: msg.into() }
}

impl Policy {
    /// Parses, validates and normalises a policy.
    ///
    /// # Errors
    /// Every problem found, each with its JSON pointer.
    pub fn parse(text: &str, host: &dyn HostEnv) -> Result<Self, PolicyErrors> {
        validate(&RawPolicy::from_json(text)?, host)
    }

    /// Validates and normalises an already parsed document.
    ///
    /// # Errors
    /// Every problem found, each with its JSON pointer.
    pub fn from_raw(raw: &RawPolicy, host: &dyn HostEnv) -> Result<Self, PolicyErrors> {
        validate(raw, host)
    }

    /// What MXC's executor also requires of a config, as MXC's parser built for this host
    /// checks it: a `process.commandLine`, and with no `containment` no backend section but
    /// the native sandbox's (none on Linux, `processContainer` on Windows, `seatbelt` on
    /// macOS). `cordon mxc-exec` applies it after [`Policy::parse`]; `cordon run` does not,
    /// as it takes the command on its own command line and picks the backend per run.
    ///
    /// # Errors
    /// Each rule the policy breaks, with its JSON pointer, in MXC's words.
    pub fn check_for_mxc_executor(&self) -> Result<(), PolicyErrors> {
        cross::executor(self)
    }
}
