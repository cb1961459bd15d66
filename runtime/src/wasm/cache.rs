//! The compiled-code cache: components compiled once, then loaded from disk.
//!
//! Compiled code is trusted code: cordon runs it in its own process, outside every sandbox,
//! so loading a planted entry would be an escape. The cache therefore
//! - lives in a directory created private (0700) and refused when another user owns it or
//!   others can write it;
//! - holds a secret: `key`, 32 random bytes in a 0600 file created with the directory
//!   (`O_CREAT|O_EXCL`, never through a symlink) and refused when it is not a regular
//!   file of this user's, readable by others, or has another hard link;
//! - authenticates every entry: `<name>.cwasm` is a header (magic, a keyed BLAKE3 tag, the
//!   tool's label) followed by Wasmtime's serialized component. The tag is keyed with the
//!   secret and covers the entry's name, label and code, so an entry forged without the key,
//!   or moved under another name, fails verification;
//! - reads an entry once into memory, verifies that buffer and deserializes exactly that
//!   buffer, never a second read of the file;
//! - recompiles and rewrites a missing, truncated, corrupt, forged or foreign entry;
//! - writes entries to a temporary file and renames them into place, so concurrent runs
//!   filling the same entry never see half an entry;
//! - stays under a size cap (default 1 GiB, `CORDON_CACHE_MAX_BYTES`), evicting the least
//!   recently used entries after each write. A hit sets the entry's mtime, which is its
//!   last use.
//!
//! No grant of any policy may reach the cache directory (see `crate::protect`).

use std::hash::{Hash as _, Hasher as _};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wasmtime::component::Component;

use super::WasmEngine;
use crate::RuntimeError;

/// The cap when neither `CORDON_CACHE_MAX_BYTES` nor the library sets one: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// The file holding the cache's secret.
pub const KEY_FILE: &str = "key";

const KEY_LEN: usize = 32;
const MAGIC: &[u8; 8] = b"cordonC2";
const TAG_LEN: usize = 32;
/// Magic, tag, label length.
const HEADER_LEN: usize = MAGIC.len() + TAG_LEN + 2;
const ENTRY_EXT: &str = "cwasm";

/// A cache directory that passed the ownership checks, with its secret.
#[derive(Clone)]
pub struct Cache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    max_bytes: u64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Cache").field("dir", &self.dir).field("max_bytes", &self.max_bytes).finish_non_exhaustive()
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Loaded from a verified entry.
    Cached,
    /// Compiled now (and written to the cache).
    Compiled,
}

/// What [`Cache::get_or_compile`] produced.
#[derive(Debug)]
pub struct Lookup {
    /// The component.
    pub component: Component,
    /// Whether it came from the cache.
    pub source: Source,
    /// Why an entry that was there was not used (forged, corrupt, foreign), if one was.
    pub refused: Option<String>,
}

/// One cache entry, as [`Cache::entries`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's file.
    pub path: PathBuf,
    /// The tool it was compiled from, as recorded in the entry (not verified by listing).
    pub label: String,
    /// Size on disk.
    pub bytes: u64,
    /// The last time cordon wrote or used it.
    pub last_used: SystemTime,
}

impl Cache {
    /// The default directory: `$CORDON_CACHE_DIR`, `$XDG_CACHE_HOME/cordon`, on Windows
    /// `%LOCALAPPDATA%\\cordon`, or `~/.cache/cordon` (the home from `HOME`, on Windows
    /// `USERPROFILE`), else the OS's cache directory (`dirs::cache_dir`) with `cordon`.
    pub fn default_dir() -> Option<PathBuf> {
        crate::host_env::cache_dir_from(&|k| std::env::var_os(k), cfg!(windows))
            .or_else(|| dirs::cache_dir().map(|d| d.join("cordon")))
    }

    /// The cap from `CORDON_CACHE_MAX_BYTES` (bytes, or with a `K`, `M` or `G` suffix,
    /// powers of 1024), or [`DEFAULT_MAX_BYTES`] when it is unset.
    ///
    /// # Errors
    /// When the variable is set but is not a size.
    pub fn default_max_bytes() -> Result<u64, RuntimeError> {
        match std::env::var("CORDON_CACHE_MAX_BYTES") {
            Ok(v) if !v.trim().is_empty() => parse_size(&v).ok_or_else(|| {
                RuntimeError::Request(format!(
                    "CORDON_CACHE_MAX_BYTES={v}: not a size; give bytes, or a number with K, M or G (for example 512M)"
                ))
            }),
            _ => Ok(DEFAULT_MAX_BYTES),
        }
    }

    /// Opens (creating it private, with a fresh secret) the cache at `dir`, capped at
    /// [`Cache::default_max_bytes`].
    ///
    /// # Ambient Authority
    /// Creates and inspects a host directory and its key file.
    ///
    /// # Errors
    /// When the directory or its key cannot be created, another user owns them, others can
    /// write the directory or read the key, the key has another hard link, or
    /// `CORDON_CACHE_MAX_BYTES` is not a size.
    pub fn open_ambient(dir: &Path) -> Result<Self, RuntimeError> {
        let max_bytes = Self::default_max_bytes()?;
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let fail = |why: String| RuntimeError::Internal(format!("compiled-code cache {}: {why}", dir.display()));
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            b.mode(0o700);
        }
        b.create(&dir).map_err(|e| fail(e.to_string()))?;
        let meta = std::fs::symlink_metadata(&dir).map_err(|e| fail(e.to_string()))?;
        if !meta.is_dir() {
            return Err(fail("not a directory (a symlink is refused)".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let me = my_uid().unwrap_or(meta.uid());
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
        // Compiled code is run as trusted code: a cache others could write is code others
        // choose. Where cordon cannot yet check who may write the directory (Windows: an
        // owner-only ACL check is not written), the cache is not used (issue 19).
        #[cfg(not(unix))]
        Err::<(), _>(fail(
            "cordon cannot check on this OS that only this user can write it (no owner-only ACL check yet), so it \
             compiles in memory instead"
                .into(),
        ))?;
        let key = load_or_create_key(&dir.join(KEY_FILE)).map_err(fail)?;
        Ok(Self { dir, key, max_bytes })
    }

    /// The same cache with another size cap.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size cap in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn name(engine: &WasmEngine, wasm: &[u8]) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.engine().precompile_compatibility_hash().hash(&mut h);
        let mut k = blake3::Hasher::new();
        k.update(b"cordon-cache-v2\0");
        k.update(&h.finish().to_le_bytes());
        k.update(env!("CARGO_PKG_VERSION").as_bytes());
        k.update(wasm);
        k.finalize().to_hex()[..40].to_string()
    }

    fn tag(&self, name: &str, label: &[u8], code: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(b"cordon-cache-entry-v2\0");
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(&(label.len() as u64).to_le_bytes());
        h.update(label);
        h.update(code);
        h.finalize()
    }

    /// The component for `wasm`: loaded from a verified entry, or compiled by `compile` and
    /// stored (then the least recently used entries are evicted down to the cap). `label`
    /// names the tool in `cordon cache list`.
    ///
    /// # Errors
    /// What `compile` returns; a cache that cannot be written is not an error (the
    /// component is still returned).
    pub fn get_or_compile(
        &self,
        engine: &WasmEngine,
        wasm: &[u8],
        label: &str,
        compile: impl FnOnce() -> Result<Component, RuntimeError>,
    ) -> Result<Lookup, RuntimeError> {
        let name = Self::name(engine, wasm);
        let path = self.dir.join(format!("{name}.{ENTRY_EXT}"));
        let refused = match self.load_verified(engine, &name, &path) {
            Ok(Some(component)) => return Ok(Lookup { component, source: Source::Cached, refused: None }),
            Ok(None) => None,
            Err(why) => Some(why),
        };
        let component = compile()?;
        if let Ok(code) = component.serialize() {
            // Best effort: a read-only or full disk only costs the next run a compile.
            let label = label.as_bytes();
            let label = &label[..label.len().min(u16::MAX as usize)];
            let mut entry = Vec::with_capacity(HEADER_LEN + label.len() + code.len());
            entry.extend_from_slice(MAGIC);
            entry.extend_from_slice(self.tag(&name, label, &code).as_bytes());
            entry.extend_from_slice(&(label.len() as u16).to_le_bytes());
            entry.extend_from_slice(label);
            entry.extend_from_slice(&code);
            if write_atomic(&self.dir, &path, &entry).is_ok() {
                // Entries of cordon before the keyed format kept their hash beside them.
                let _ = std::fs::remove_file(self.dir.join(format!("{name}.b3")));
                let _ = self.evict(Some(&path));
            }
        }
        Ok(Lookup { component, source: Source::Compiled, refused })
    }

    /// `Ok(None)`: no entry. `Err`: an entry that is not cordon's, or not intact.
    #[allow(unsafe_code, reason = "loading compiled code is Wasmtime's unsafe API; the buffer is verified first")]
    fn load_verified(&self, engine: &WasmEngine, name: &str, path: &Path) -> Result<Option<Component>, String> {
        let mut file = match open_nofollow(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open it ({e})")),
        };
        let meta = file.metadata().map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        // One read: the bytes verified are the bytes loaded.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(|e| format!("cannot read it ({e})"))?;
        let Some((tag, label, code)) = split_entry(&bytes) else {
            return Err("not in cordon's entry format".into());
        };
        if blake3::Hash::from_bytes(*tag) != self.tag(name, label, code) {
            return Err("its tag does not verify with this cache's key (forged, corrupt or moved)".into());
        }
        // SAFETY: Wasmtime requires that the bytes hold code it serialized. These bytes were
        // read once into memory and carry a tag that only a holder of this cache's key (which
        // only cordon reads) can compute over exactly these bytes and this entry's name.
        // Wasmtime also refuses code from another engine configuration or version.
        let component = unsafe { Component::deserialize(engine.engine(), code) }
            .map_err(|e| format!("Wasmtime refused it ({e})"))?;
        // The last use, for eviction.
        let _ = file.set_modified(SystemTime::now());
        Ok(Some(component))
    }

    /// Every entry, most recently used first.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn entries(&self) -> Result<Vec<Entry>, RuntimeError> {
        let fail =
            |e: std::io::Error| RuntimeError::Internal(format!("compiled-code cache {}: {e}", self.dir.display()));
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(fail)? {
            let e = e.map_err(fail)?;
            let path = e.path();
            if path.extension().is_none_or(|x| x != ENTRY_EXT) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            out.push(Entry {
                label: read_label(&path).unwrap_or_else(|| "(unknown)".into()),
                bytes: meta.len(),
                last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path,
            });
        }
        out.sort_by(|a, b| b.last_used.cmp(&a.last_used).then_with(|| a.path.cmp(&b.path)));
        Ok(out)
    }

    /// Removes the entries not used for `older_than` (all of them with `None`), and stale
    /// temporary files. The key stays. Returns how many entries went and their bytes.
    ///
    /// # Errors
    /// When the directory cannot be read or an entry cannot be removed.
    pub fn clean(&self, older_than: Option<Duration>) -> Result<(usize, u64), RuntimeError> {
        let now = SystemTime::now();
        let (mut n, mut bytes) = (0, 0);
        for e in self.entries()? {
            let age = now.duration_since(e.last_used).unwrap_or_default();
            if older_than.is_some_and(|min| age < min) {
                continue;
            }
            std::fs::remove_file(&e.path)
                .map_err(|err| RuntimeError::Internal(format!("cannot remove {}: {err}", e.path.display())))?;
            n += 1;
            bytes += e.bytes;
        }
        // Leftovers: hashes of the unkeyed format, and temporary files of crashed writers.
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                let old_tmp = name.starts_with(".tmp-")
                    && e.metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > Duration::from_secs(3600));
                if name.ends_with(".b3") || (old_tmp && older_than.is_none()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok((n, bytes))
    }

    /// Removes least recently used entries until the cache is within its cap, never `keep`.
    fn evict(&self, keep: Option<&Path>) -> Result<(), RuntimeError> {
        let mut entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        while total > self.max_bytes {
            // `entries` is newest first: the victim is the oldest that is not `keep`.
            let Some(i) = entries.iter().rposition(|e| Some(e.path.as_path()) != keep) else { break };
            let victim = entries.remove(i);
            if std::fs::remove_file(&victim.path).is_ok() {
                total = total.saturating_sub(victim.bytes);
            }
        }
        Ok(())
    }
}

/// Splits an entry into (tag, label, code).
fn split_entry(bytes: &[u8]) -> Option<(&[u8; TAG_LEN], &[u8], &[u8])> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (tag, rest) = rest.split_first_chunk::<TAG_LEN>()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn read_label(path: &Path) -> Option<String> {
    let mut head = vec![0u8; HEADER_LEN + usize::from(u16::MAX)];
    let mut f = open_nofollow(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let (_, label, _) = split_entry(&head[..n])?;
    Some(String::from_utf8_lossy(label).into_owned())
}

/// Opens a file for reading without following a symlink at its last component.
fn open_nofollow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    }
    opts.open(path)
}

/// The cache's secret: read from `path`, or created there when there is none.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    let mut fresh = [0u8; KEY_LEN];
    getrandom::getrandom(&mut fresh).map_err(|e| format!("no randomness for the cache key: {e}"))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    match opts.open(path) {
        Ok(mut f) => {
            let written = f.write_all(&fresh).and_then(|()| f.sync_all());
            if let Err(e) = written {
                let _ = std::fs::remove_file(path);
                return Err(format!("cannot write the key {}: {e}", path.display()));
            }
            return Ok(fresh);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create the key {}: {e}", path.display())),
    }
    // Another run may be writing it this moment: a short key is retried briefly.
    for _ in 0..50 {
        match read_key(path)? {
            Some(key) => return Ok(key),
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    Err(format!("the key {} is not {KEY_LEN} bytes; remove the cache directory", path.display()))
}

/// `Ok(None)` when the key is still being written.
fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, String> {
    let bad = |why: &str| Err(format!("the key {} {why}; remove the cache directory", path.display()));
    let mut f = match open_nofollow(path) {
        Ok(f) => f,
        Err(e) => return bad(&format!("cannot be opened without following links ({e})")),
    };
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return bad("is not a regular file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if my_uid().is_some_and(|me| me != meta.uid()) {
            return bad(&format!("is owned by uid {}, not by this user", meta.uid()));
        }
        if meta.mode() & 0o077 != 0 {
            return bad(&format!("is readable or writable by others (mode {:o})", meta.mode() & 0o777));
        }
        if meta.nlink() != 1 {
            return bad(&format!("has {} hard links; another name could expose it", meta.nlink()));
        }
    }
    let mut key = Vec::with_capacity(KEY_LEN + 1);
    (&mut f).take(KEY_LEN as u64 + 1).read_to_end(&mut key).map_err(|e| e.to_string())?;
    match key.len() {
        KEY_LEN => Ok(key.try_into().ok()),
        n if n < KEY_LEN => Ok(None),
        _ => bad("is longer than a key"),
    }
}

/// This process's effective uid (the owner of `/proc/self`), where known.
#[cfg(unix)]
fn my_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata("/proc/self").map(|m| m.uid()).ok()
}

/// `1048576`, `512K`, `64M`, `1G` (powers of 1024; a trailing `B` or `iB` is accepted).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_suffix("iB").or_else(|| s.strip_suffix('B')).unwrap_or(s);
    let (num, mul) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 1u64 << 10),
        (i, 'M' | 'm') => (&s[..i], 1 << 20),
        (i, 'G' | 'g') => (&s[..i], 1 << 30),
        (i, 'T' | 't') => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mul)
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

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::{parse_size, split_entry};

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size(" 2 G "), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn entries_split_only_in_cordons_format() {
        let mut e = b"cordonC2".to_vec();
        e.extend([7u8; 32]);
        e.extend(3u16.to_le_bytes());
        e.extend(b"abcCODE");
        let (tag, label, code) = split_entry(&e).unwrap();
        assert_eq!((tag, label, code), (&[7u8; 32], &b"abc"[..], &b"CODE"[..]));
        assert!(split_entry(&e[..41]).is_none());
        assert!(split_entry(b"\x7fELF").is_none());
    }
}
