//! `wasi:filesystem` with cordon's checks in front of `wasmtime-wasi`.
//!
//! [`FsGuard`] holds the policy's rules and the guest path of every descriptor the guest
//! holds. [`CordonFsView`] implements the `wasi:filesystem/types` and `preopens` host traits:
//! each path-taking call is resolved by [`resolve::Decider`] and checked before it is handed
//! to `wasmtime-wasi`; a refusal is WASI's `access` error (`loop` for symlink loops), never
//! a trap.

mod host;
mod pin;
pub mod resolve;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cordon_policy::FsRules;
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;

pub use resolve::{Decider, LinkReader, Need, Refusal};

/// A preopened directory: where the guest sees it and which host directory backs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Guest path.
    pub guest: PathBuf,
    /// Host directory.
    pub host: PathBuf,
}

/// One refused (or, when recorded, granted) call, for messages and audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsDenial {
    /// When it happened.
    pub time: std::time::SystemTime,
    /// The WASI call (`open-at`, `read-directory`, …).
    pub op: &'static str,
    /// The guest path decided on.
    pub path: PathBuf,
    /// JSON pointer of the deciding rule; `None` when no rule covers the path.
    pub rule: Option<String>,
}

/// The layer's per-instance state.
#[derive(Debug)]
pub struct FsGuard {
    decider: Decider,
    mounts: Vec<Mount>,
    paths: HashMap<u32, PathBuf>,
    denials: Vec<FsDenial>,
    grants: Option<Vec<FsDenial>>,
    /// Preopens whose name is not their guest path (`.` for the working directory).
    aliases: HashMap<String, PathBuf>,
}

impl FsGuard {
    /// A guard deciding with `rules`, reading symlinks through `mounts`.
    pub fn new(rules: FsRules, mut mounts: Vec<Mount>) -> Self {
        // Deepest first, so the first match is the most specific.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.guest.components().count()));
        Self {
            decider: Decider::new(rules),
            mounts,
            paths: HashMap::new(),
            denials: Vec::new(),
            grants: None,
            aliases: HashMap::new(),
        }
    }

    /// Resolves the guest directory `guest` as the kernel would (symlinks followed in guest
    /// paths, every step checked) and returns the resolved guest path and the host directory
    /// behind it, when the policy lets the tool read it. `None` when it is denied, outside
    /// every mount or not there.
    ///
    /// # Ambient Authority
    /// Reads symlinks and metadata on host paths inside the mounts.
    pub fn readable_dir(&self, guest: &Path) -> Option<(PathBuf, PathBuf)> {
        let text = guest.to_str()?;
        let resolved = self.decider.resolve(Path::new("/"), text, true, &HostLinks(self)).ok()?;
        self.decider.check(&resolved, Need::Read).ok()?;
        let host = self.host_path(&resolved)?;
        let meta = std::fs::symlink_metadata(&host).ok()?;
        meta.is_dir().then_some((resolved, host))
    }

    /// Records that the preopen named `name` stands for the guest directory `guest` (the
    /// working directory is preopened as `.`).
    pub fn alias(&mut self, name: &str, guest: PathBuf) {
        self.aliases.insert(name.to_string(), guest);
    }

    /// Every call refused so far, in order.
    pub fn denials(&self) -> &[FsDenial] {
        &self.denials
    }

    /// Also record every granted call (for audit logs with `allows`). Off by default.
    pub fn record_grants(&mut self) {
        self.grants.get_or_insert_with(Vec::new);
    }

    /// Every granted call, when [`Self::record_grants`] was asked for.
    pub fn grants(&self) -> &[FsDenial] {
        self.grants.as_deref().unwrap_or_default()
    }

    fn granted(&mut self, op: &'static str, path: &Path) {
        if let Some(g) = &mut self.grants {
            let rule = self.decider.rules().decide(path).map(|r| r.pointer.clone());
            g.push(FsDenial { time: std::time::SystemTime::now(), op, path: path.to_path_buf(), rule });
        }
    }

    fn deny(&mut self, op: &'static str, refusal: Refusal) -> wasmtime_wasi::p2::FsError {
        use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
        match refusal {
            Refusal::Denied { path, rule } => {
                self.denials.push(FsDenial { time: std::time::SystemTime::now(), op, path, rule });
                ErrorCode::Access.into()
            }
            Refusal::Loop => ErrorCode::Loop.into(),
        }
    }

    /// The host path backing a guest path, through the most specific mount.
    ///
    /// # Ambient Authority
    /// The result names a host object; only [`HostLinks`] reads it, and only to follow
    /// symlinks the guest itself could follow.
    fn host_path(&self, guest: &Path) -> Option<PathBuf> {
        self.mounts.iter().find_map(|m| {
            guest
                .strip_prefix(&m.guest)
                .ok()
                .map(|rest| if rest.as_os_str().is_empty() { m.host.clone() } else { m.host.join(rest) })
        })
    }

    /// After a rename, descriptors below the old name live below the new one.
    fn renamed(&mut self, from: &Path, to: &Path) {
        for p in self.paths.values_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = if rest.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rest) };
            }
        }
    }
}

/// Reads symlinks on the host through the guard's mounts.
///
/// # Ambient Authority
/// Calls `symlink_metadata` and `read_link` on host paths inside the preopened directories.
struct HostLinks<'a>(&'a FsGuard);

impl LinkReader for HostLinks<'_> {
    fn read_link(&self, guest: &Path) -> Option<PathBuf> {
        let host = self.0.host_path(guest)?;
        let meta = std::fs::symlink_metadata(&host).ok()?;
        if meta.file_type().is_symlink() { std::fs::read_link(&host).ok() } else { None }
    }
}

/// `HasData` marker for [`add_to_linker`].
pub struct CordonFs;

impl HasData for CordonFs {
    type Data<'a> = CordonFsView<'a>;
}

/// What the host functions borrow from the store: wasmtime-wasi's filesystem context and
/// cordon's guard, side by side.
pub struct CordonFsView<'a> {
    /// wasmtime-wasi's filesystem context (descriptors, preopens).
    pub inner: WasiFilesystemCtxView<'a>,
    /// cordon's checks.
    pub guard: &'a mut FsGuard,
}

/// Adds `wasi:filesystem/types` and `wasi:filesystem/preopens`, checked by cordon, to
/// `linker`. Link every other WASI interface from `wasmtime-wasi`, but not these two.
///
/// # Errors
/// When the linker already defines them.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CordonFsView<'_>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::bindings::filesystem::types::add_to_linker::<T, CordonFs>(linker, get)?;
    wasmtime_wasi::p2::bindings::filesystem::preopens::add_to_linker::<T, CordonFs>(linker, get)?;
    Ok(())
}
