//! Recognising and compiling a tool: WASI 0.2 components as they are, preview-1 modules
//! through the preview-1 adapter (so both go through the same checked WASI 0.2 host).

use std::path::Path;

use wasmtime::component::Component;

use super::WasmEngine;
use crate::RuntimeError;

/// The wasm magic bytes, `\0asm`.
const MAGIC: &[u8; 4] = b"\0asm";

/// What a file holds, judged by its first bytes, never its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A core module (WASI preview 1 when it imports `wasi_snapshot_preview1`).
    Module,
    /// A component.
    Component,
}

/// The kind of wasm in `bytes`, or `None` when it is not wasm.
pub fn sniff(bytes: &[u8]) -> Option<WasmKind> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return None;
    }
    // Core modules are version 1 (layer 0); components carry layer 1 in bytes 6..8.
    match (&bytes[4..6], &bytes[6..8]) {
        (_, [0x01, 0x00]) => Some(WasmKind::Component),
        ([0x01, 0x00], [0x00, 0x00]) => Some(WasmKind::Module),
        _ => Some(WasmKind::Component),
    }
}

/// True when the file at `path` starts with the wasm magic bytes.
///
/// # Ambient Authority
/// Reads the first bytes of a host file.
pub fn is_wasm_file_ambient(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 8];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && sniff(&head).is_some()
}

/// Compiles a tool's bytes into a component, adapting a preview-1 module first.
///
/// # Errors
/// [`RuntimeError::ToolCannotRun`] naming `path` when the bytes are not valid wasm, a core
/// module is not a WASI preview-1 command, or compilation fails.
pub fn compile(engine: &WasmEngine, path: &Path, bytes: &[u8]) -> Result<Component, RuntimeError> {
    let cannot = |reason: String| RuntimeError::ToolCannotRun { path: path.to_path_buf(), reason };
    super::check_size(path, bytes.len() as u64)?;
    let component_bytes;
    let bytes = match sniff(bytes) {
        None => return Err(cannot("not a wasm file (no \\0asm magic bytes)".into())),
        Some(WasmKind::Component) => bytes,
        Some(WasmKind::Module) => {
            component_bytes =
                adapt_preview1(bytes).map_err(|e| cannot(format!("not a WASI preview-1 command module: {e:#}")))?;
            &component_bytes[..]
        }
    };
    Component::new(engine.engine(), bytes).map_err(|e| cannot(format!("invalid component: {e:#}")))
}

/// Wraps a preview-1 core module in a component with the WASI preview-1 command adapter.
fn adapt_preview1(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    };
    wit_component::ComponentEncoder::default()
        .module(module)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER)?
        .validate(true)
        .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_judges_by_bytes() {
        assert_eq!(sniff(b"\0asm\x01\0\0\0rest"), Some(WasmKind::Module));
        assert_eq!(sniff(b"\0asm\x0d\0\x01\0rest"), Some(WasmKind::Component));
        assert_eq!(sniff(b"#!/bin/sh\necho"), None);
        assert_eq!(sniff(b"\0as"), None);
    }
}
