//! The compiled-code cache: components compiled once, then mapped from disk.
//!
//! An entry is `<key>.cwasm` (Wasmtime's serialized component) beside `<key>.b3`, the
//! BLAKE3 hash of the `.cwasm` bytes recorded when cordon wrote it. The key hashes the wasm
//! bytes and the engine's compatibility hash, so another engine configuration or Wasmtime
//! version never sees the entry. Compiled code is trusted code: loading a planted entry
//! would be an escape, so
//! - the directory is created private (0700) and refused when another user owns it or
//!   others can write it;
//! - an entry is loaded only when its bytes hash to the recorded value; a missing,
//!   truncated, corrupt or foreign entry is recompiled and rewritten;
//! - entries are written to a temporary file and renamed into place, so concurrent runs
//!   filling the same entry never see half an entry.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;

use super::WasmEngine;
use crate::RuntimeError;

/// A cache directory that passed the ownership checks.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Mapped from a verified entry.
    Cached,
    /// Compiled now (and written to the cache).
    Compiled,
}

impl Cache {
    /// The default directory: `$XDG_CACHE_HOME/cordon` or `~/.cache/cordon`
    /// (`CORDON_CACHE_DIR` overrides both).
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("CORDON_CACHE_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("cordon"))
    }

    /// Opens (creating it private) the cache at `dir`.
    ///
    /// # Ambient Authority
    /// Creates and inspects a host directory.
    ///
    /// # Errors
    /// When the directory cannot be created, or another user owns it, or others can write it.
    pub fn open_ambient(dir: &Path) -> Result<Self, RuntimeError> {
        let fail = |why: String| RuntimeError::Internal(format!("compiled-code cache {}: {why}", dir.display()));
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            b.mode(0o700);
        }
        b.create(dir).map_err(|e| fail(e.to_string()))?;
        let meta = std::fs::symlink_metadata(dir).map_err(|e| fail(e.to_string()))?;
        if !meta.is_dir() {
            return Err(fail("not a directory (a symlink is refused)".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let me = std::fs::symlink_metadata("/proc/self").map(|m| m.uid()).unwrap_or(meta.uid());
            if meta.uid() != me {
                return Err(fail(format!(
                    "owned by uid {}, not by this user; remove it or set CORDON_CACHE_DIR",
                    meta.uid()
                )));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(fail(format!("others can write it (mode {:o}); chmod 700 it", meta.mode() & 0o777)));
            }
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(engine: &WasmEngine, wasm: &[u8]) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.engine().precompile_compatibility_hash().hash(&mut h);
        let mut k = blake3::Hasher::new();
        k.update(b"cordon-cache-v1\0");
        k.update(&h.finish().to_le_bytes());
        k.update(env!("CARGO_PKG_VERSION").as_bytes());
        k.update(wasm);
        k.finalize().to_hex()[..40].to_string()
    }

    /// The component for `wasm`: mapped from a verified entry, or compiled by `compile` and
    /// stored.
    ///
    /// # Errors
    /// What `compile` returns; a cache that cannot be written is not an error (the
    /// component is still returned).
    pub fn get_or_compile(
        &self,
        engine: &WasmEngine,
        wasm: &[u8],
        compile: impl FnOnce() -> Result<Component, RuntimeError>,
    ) -> Result<(Component, Source), RuntimeError> {
        let key = Self::key(engine, wasm);
        let (code, sum) = (self.dir.join(format!("{key}.cwasm")), self.dir.join(format!("{key}.b3")));
        if let Some(c) = self.load_verified(engine, &code, &sum) {
            return Ok((c, Source::Cached));
        }
        let component = compile()?;
        if let Ok(bytes) = component.serialize() {
            // Best effort: a read-only or full disk only costs the next run a compile.
            let _ = write_atomic(&self.dir, &code, &bytes)
                .and_then(|()| write_atomic(&self.dir, &sum, blake3::hash(&bytes).to_hex().as_bytes()));
        }
        Ok((component, Source::Compiled))
    }

    #[allow(unsafe_code, reason = "mapping compiled code is Wasmtime's unsafe API; the entry is verified first")]
    fn load_verified(&self, engine: &WasmEngine, code: &Path, sum: &Path) -> Option<Component> {
        let recorded = std::fs::read_to_string(sum).ok()?;
        let bytes = std::fs::read(code).ok()?;
        if blake3::hash(&bytes).to_hex().as_str() != recorded.trim() {
            return None;
        }
        drop(bytes);
        // SAFETY: Wasmtime requires that the file hold code it serialized and that nobody
        // modifies it while mapped. cordon wrote this entry into a directory private to this
        // user, and its bytes hash to the value recorded when it was written. Wasmtime also
        // refuses entries from another engine configuration or version.
        unsafe { Component::deserialize_file(engine.engine(), code) }.ok()
    }
}

/// Writes `bytes` to `dest` through a temporary file in `dir` and a rename.
fn write_atomic(dir: &Path, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), unique()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (u64::from(t) << 20) ^ N.fetch_add(1, Ordering::Relaxed)
}
