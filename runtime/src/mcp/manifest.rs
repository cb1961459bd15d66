//! The tools manifest of `cordon mcp --manifest tools.json` (documented in
//! docs/tool-authors.md; JSON Schema in `runtime/schema/mcp-manifest.schema.json`):
//!
//! ```json
//! { "tools": [
//!     { "name": "typed", "path": "typed.wasm", "policy": "typed.policy.json",
//!       "description": "Typed echo functions" },
//!     { "name": "grep", "path": "search.wasm",
//!       "policy": { "version": "0.8.0-alpha", "filesystem": { "readonlyPaths": ["/srv/docs"] } } }
//! ] }
//! ```
//!
//! Relative `path` and `policy` files are relative to the manifest's directory. A tool
//! without `policy` is granted nothing.

use std::path::{Path, PathBuf};

use cordon_policy::Policy;
use serde::Deserialize;

use super::{ToolSource, ToolSpec};
use crate::RuntimeError;

/// The JSON Schema of the manifest.
pub const SCHEMA: &str = include_str!("../../schema/mcp-manifest.schema.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(rename = "$schema")]
    _schema: Option<String>,
    tools: Vec<ManifestTool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestTool {
    name: String,
    path: Option<PathBuf>,
    command: Option<Vec<String>>,
    policy: Option<PolicyRef>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PolicyRef {
    File(PathBuf),
    Inline(serde_json::Map<String, serde_json::Value>),
}

/// Reads the manifest at `file` into tool specs, loading every policy.
///
/// # Errors
/// [`RuntimeError::Request`] naming the manifest and the JSON pointer of the problem: not
/// JSON, an unknown field, neither or both of `path` and `command`, an empty `command`, a
/// policy that does not load.
pub fn load(file: &Path) -> Result<Vec<ToolSpec>, RuntimeError> {
    let bad =
        |pointer: &str, why: String| RuntimeError::Request(format!("manifest {}: {pointer}: {why}", file.display()));
    let text = std::fs::read_to_string(file).map_err(|e| bad("", format!("cannot read: {e}")))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer =
            format!("/{}", e.path().to_string().replace('.', "/").replace(['[', ']'], "/").replace("//", "/"));
        bad(pointer.trim_end_matches('/'), e.into_inner().to_string())
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut specs = Vec::new();
    for (i, t) in manifest.tools.into_iter().enumerate() {
        let at = |field: &str| format!("/tools/{i}{field}");
        let ManifestTool { name, path, command, policy, description } = t;
        let source = match (path, command) {
            (Some(p), None) => ToolSource::Wasm(base.join(p)),
            (None, Some(c)) if c.first().is_none_or(String::is_empty) => {
                return Err(bad(&at("/command"), "empty; give the program and its arguments".into()));
            }
            (None, Some(c)) => ToolSource::Native(c),
            (Some(_), Some(_)) => return Err(bad(&at(""), "give `path` or `command`, not both".into())),
            (None, None) => return Err(bad(&at(""), "give `path` (a wasm tool) or `command` (a native one)".into())),
        };
        let policy = match policy {
            None => Policy::default(),
            Some(PolicyRef::File(p)) => {
                let p = base.join(p);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| bad(&at("/policy"), format!("cannot read {}: {e}", p.display())))?;
                Policy::parse(&text, &crate::SystemHost)
                    .map_err(|e| bad(&at("/policy"), format!("{}: {e}", p.display())))?
            }
            Some(PolicyRef::Inline(m)) => {
                let text = serde_json::Value::Object(m).to_string();
                Policy::parse(&text, &crate::SystemHost).map_err(|e| bad(&at("/policy"), e.to_string()))?
            }
        };
        specs.push(ToolSpec { name, source, policy, description });
    }
    Ok(specs)
}
