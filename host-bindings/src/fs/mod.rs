//! `wasi:filesystem` with cordon's checks in front of `wasmtime-wasi`.
//!
//! [`FsGuard`] holds the policy's rules and the guest path of every descriptor the guest
//! holds. [`CordonFsView`] implements the `wasi:filesystem/types` and `preopens` host traits:
//! each path-taking call is resolved by [`resolve::Decider`] and checked before it is handed
//! to `wasmtime-wasi`; a refusal is WASI's `access` error (`loop` for symlink loops), never
//! a trap.

mod host;
#[cfg(unix)]
pub mod pin;
// No handle walk yet (Windows): every open fails closed.
#[cfg(not(unix))]
#[path = "pin_other.rs"]
pub mod pin;
pub mod resolve;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cordon_policy::FsRules;
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::filesystem::{Dir, WasiFilesystemCtxView};
use wasmtime_wasi::{FsPerms, OpenMode};

pub use resolve::{Decider, LinkReader, Need, Refusal};

/// A preopened directory: where the guest sees it, which host directory backs it, and the
/// handle cordon opened on it (every call below the mount is made beneath that handle).
#[derive(Debug, Clone)]
struct Mount {
    /// Guest path.
    guest: PathBuf,
    /// Host directory, as the policy resolved it: symlinks are read through it.
    host: PathBuf,
    /// The directory itself, opened by the caller without following links.
    dir: Arc<File>,
    /// Empty by construction (cordon's empty root): nothing below it is read on the host.
    empty: bool,
}

/// The directories `get-directories` hands the guest, in order: every one a
/// handle cordon opened, never a path handed to wasmtime-wasi to open.
#[derive(Clone, Default)]
struct Preopens(Vec<(Dir, String)>);

impl std::fmt::Debug for Preopens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(_, name)| name)).finish()
    }
}

/// The access wasmtime-wasi's own checks allow below a preopen: the most cordon's layer may
/// grant there (it refines per path).
fn open_mode(perms: FsPerms) -> OpenMode {
    match perms {
        FsPerms::ReadOnly => OpenMode::READ,
        FsPerms::ReadWrite => OpenMode::READ | OpenMode::WRITE,
    }
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
    preopens: Preopens,
    blocking: bool,
    /// The identity of every rule's host object that could be opened when the guard was
    /// made, with the rules (indices into [`FsRules::rules`]) it belongs to.
    ids: HashMap<pin::ObjectId, Vec<usize>>,
}

/// Why [`FsGuard::preopen_cwd`] could not open the working directory.
#[derive(Debug)]
pub struct CwdError {
    /// The guest path the working directory resolved to.
    pub resolved: PathBuf,
    /// What the open beneath its mount said.
    pub source: std::io::Error,
    /// True when that was a symlink on the way (`ELOOP`): the tree changed since the
    /// resolution read it.
    pub link_on_the_way: bool,
}

impl FsGuard {
    /// A guard deciding with `rules`, with no preopens yet (add them with [`Self::mount`]).
    ///
    /// Opens every rule's host object (from `/`, following no link) to learn its identity:
    /// a call that reaches one of them under another name (another spelling on a
    /// case-insensitive filesystem, a hard link, a bind mount) is decided by that rule too.
    ///
    /// # Ambient Authority
    /// Opens the rules' host paths (`O_PATH` where the OS has it) and only reads their
    /// identity.
    pub fn new(rules: FsRules) -> Self {
        let mut ids: HashMap<pin::ObjectId, Vec<usize>> = HashMap::new();
        for (i, r) in rules.rules().iter().enumerate() {
            // Missing (or changed into a link) now: a later name is matched in its directory
            // by `step` instead, as the filesystem compares names.
            if let Ok(w) = pin::open_ambient_nofollow(&r.host)
                && let Ok(id) = pin::ObjectId::of(&w.object)
            {
                ids.entry(id).or_default().push(i);
            }
        }
        Self {
            ids,
            decider: Decider::new(rules),
            mounts: Vec::new(),
            paths: HashMap::new(),
            denials: Vec::new(),
            grants: None,
            aliases: HashMap::new(),
            preopens: Preopens::default(),
            blocking: false,
        }
    }

    /// Lets wasmtime-wasi run blocking filesystem calls on the current thread (as
    /// `WasiCtxBuilder::allow_blocking_current_thread`; set it the same way). Off by default.
    pub fn allow_blocking_current_thread(&mut self, allow: bool) -> &mut Self {
        self.blocking = allow;
        self
    }

    /// Preopens the directory `dir` at the guest path `guest`. `dir` must be a handle the
    /// caller opened on the host directory `host` without following any link (for example
    /// with [`pin::open_ambient_nofollow`]); the guest's calls below `guest` are made beneath
    /// it, and `host` is only used to read symlinks for the resolution. `perms` is the most
    /// wasmtime-wasi lets through below it; cordon's rules decide each path.
    pub fn mount(&mut self, guest: PathBuf, host: PathBuf, dir: File, perms: FsPerms) {
        self.mount_as(guest, host, dir, perms, false);
    }

    /// As [`FsGuard::mount`], for a directory the caller checked is empty (cordon's empty
    /// root): no host path at or below it is ever read to follow links (it is a directory
    /// with nothing in it), so a tree put at `host` after the check (`host` is a path; `dir`
    /// is the object checked) is never read.
    pub fn mount_empty(&mut self, guest: PathBuf, host: PathBuf, dir: File, perms: FsPerms) {
        self.mount_as(guest, host, dir, perms, true);
    }

    fn mount_as(&mut self, guest: PathBuf, host: PathBuf, dir: File, perms: FsPerms, empty: bool) {
        let dir = Dir::new(dir, perms, open_mode(perms), self.blocking);
        self.preopens.0.push((dir.clone(), guest.to_string_lossy().into_owned()));
        self.mounts.push(Mount { guest, host, dir: dir.dir, empty });
        // Deepest first, so the first match is the most specific.
        self.mounts.sort_by_key(|m| std::cmp::Reverse(m.guest.components().count()));
    }

    /// True when a preopen is mounted at exactly `guest`.
    pub fn is_mounted(&self, guest: &Path) -> bool {
        self.mounts.iter().any(|m| m.guest == guest)
    }

    /// Preopens the working directory `guest` as `.`: resolved as the kernel would (symlinks
    /// followed in guest paths, every step checked), and then opened beneath the handle of
    /// the mount that holds it with no symlink on the way, so `.` is the directory that was
    /// decided on. Calls on `.` are decided on the resolved path, with the same rules.
    ///
    /// `Ok(None)` (no `.` preopen) when the policy does not let the tool read it, it lies
    /// outside every mount, or it is not there or not a directory.
    ///
    /// # Errors
    /// When the resolved directory cannot be opened beneath its mount for another reason: a
    /// symlink turned up on the way since the resolution read it (the tree is changing).
    ///
    /// # Ambient Authority
    /// Reads symlinks on host paths inside the mounts.
    pub fn preopen_cwd(&mut self, guest: &Path) -> Result<Option<PathBuf>, CwdError> {
        let Some(text) = guest.to_str() else { return Ok(None) };
        let Ok(resolved) = self.decider.resolve(Path::new("/"), text, true, &HostLinks(self)) else {
            return Ok(None);
        };
        if self.decider.check(&resolved, Need::Read).is_err() {
            return Ok(None);
        }
        let Some((mount, rel)) = self.mount_of(&resolved) else { return Ok(None) };
        let opened = self.walk_canon(&mount.dir, &mount.guest, &rel);
        let (dir, resolved) = match opened {
            // Another name of a rule's object (a case variant, a bind mount): its rules too.
            Ok((dir, canon)) if canon != resolved => {
                if self.decider.check(&canon, Need::Read).is_err() {
                    return Ok(None);
                }
                (dir, canon)
            }
            Ok((dir, _)) => (dir, resolved),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                return Ok(None);
            }
            Err(source) => {
                #[cfg(unix)]
                let link_on_the_way = source.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
                #[cfg(not(unix))]
                let link_on_the_way = false;
                return Err(CwdError { resolved, source, link_on_the_way });
            }
        };
        let writable = self.decider.rules().access(&resolved) == cordon_policy::Access::ReadWrite;
        let perms = if writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        let dir = Dir::new(dir, perms, open_mode(perms), self.blocking);
        self.preopens.0.push((dir, ".".to_string()));
        self.aliases.insert(".".to_string(), resolved.clone());
        Ok(Some(resolved))
    }

    /// Opens the directories `rel` beneath `base` (whose guest path is `base_path`) as
    /// [`pin::walk_beneath`] does, and returns the last one with the guest path of what was
    /// opened: `base_path/rel`, except where an object on the way is another name of a
    /// rule's object ([`Self::step`]).
    fn walk_canon(&self, base: &File, base_path: &Path, rel: &Path) -> std::io::Result<(File, PathBuf)> {
        let mut canon = base_path.to_path_buf();
        let dir = pin::walk_beneath(base, rel, &mut |parent, name, opened| {
            let id = pin::ObjectId::of(opened)?;
            canon = self.step(&canon, parent, name, Some(id))?;
            Ok(())
        })?;
        Ok((dir, canon))
    }

    /// The guest path of the object `name` in the directory `parent` (whose guest path is
    /// `parent_path`), `id` its identity (`None`: nothing there). That is `parent_path/name`,
    /// unless the object is a rule's object under another name:
    /// - a rule for another name in the same directory names this very object when the
    ///   filesystem looks that name up (`secret` finds `SECRET` on a case-insensitive
    ///   directory, as the filesystem compares names, whatever its folding rules);
    /// - or the object is one whose identity was taken when the guard was made (a hard link
    ///   or bind mount of it elsewhere), and no rule is for this name of it.
    ///
    /// Then the path is that rule's (the strictest, when several): the caller decides on
    /// both paths, so another name never weakens a rule.
    fn step<'a>(
        &'a self,
        parent_path: &Path,
        parent: &File,
        name: &OsStr,
        id: Option<pin::ObjectId>,
    ) -> std::io::Result<PathBuf> {
        let spelled = parent_path.join(name);
        let rules = self.decider.rules().rules();
        let Some(id) = id else {
            // Nothing there yet: a name the call would create. On a case-insensitive
            // filesystem a name that differs from a rule's only in case would create that
            // rule's object, so it is decided as that rule (stricter on a case-sensitive one:
            // `w/LATER` cannot be created beside a denied, missing `w/later`). Folding is
            // Unicode lower case; a filesystem's own folding may differ in rare letters.
            let folded = fold(name);
            let twin = rules
                .iter()
                .filter(|r| r.path.parent() == Some(parent_path))
                .filter(|r| r.path.file_name().is_some_and(|n| n != name && folded.is_some() && fold(n) == folded))
                .max_by_key(|r| r.access);
            return Ok(twin.map_or(spelled, |r| r.path.clone()));
        };
        let mut best: Option<&'a cordon_policy::FsRule> = None;
        let mut consider = |r: &'a cordon_policy::FsRule| {
            if best.is_none_or(|b| r.access > b.access) {
                best = Some(r);
            }
        };
        if let Some(known) = self.ids.get(&id)
            && !known.iter().any(|&i| rules[i].path == spelled)
        {
            known.iter().for_each(|&i| consider(&rules[i]));
        }
        for r in rules {
            if r.path.parent() != Some(parent_path) {
                continue;
            }
            let Some(other) = r.path.file_name() else { continue };
            if other != name && pin::ObjectId::of_name(parent, other)? == Some(id) {
                consider(r);
            }
        }
        Ok(best.map_or(spelled, |r| r.path.clone()))
    }

    /// The most specific mount holding the guest path, and the path relative to it.
    fn mount_of(&self, guest: &Path) -> Option<(&Mount, PathBuf)> {
        self.mounts.iter().find_map(|m| guest.strip_prefix(&m.guest).ok().map(|rest| (m, rest.to_path_buf())))
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
            Refusal::NoEntry => ErrorCode::NoEntry.into(),
            Refusal::NotDirectory => ErrorCode::NotDirectory.into(),
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
                .filter(|_| !m.empty)
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

/// A name in lower case, for comparing names as a case-insensitive filesystem does; `None`
/// for a name that is not UTF-8.
fn fold(name: &OsStr) -> Option<String> {
    name.to_str().map(|s| s.chars().flat_map(char::to_lowercase).collect())
}

/// Reads symlinks on the host through the guard's mounts.
///
/// # Ambient Authority
/// Calls `symlink_metadata` and `read_link` on host paths inside the preopened directories.
struct HostLinks<'a>(&'a FsGuard);

impl HostLinks<'_> {
    /// `guest` is an empty mount itself: a directory, checked by the caller on its handle.
    fn empty_mount(&self, guest: &Path) -> bool {
        self.0.mounts.iter().any(|m| m.empty && m.guest == guest)
    }
}

impl LinkReader for HostLinks<'_> {
    fn read_link(&self, guest: &Path) -> Option<PathBuf> {
        let host = self.0.host_path(guest)?;
        let meta = std::fs::symlink_metadata(&host).ok()?;
        if meta.file_type().is_symlink() { std::fs::read_link(&host).ok() } else { None }
    }
    fn is_dir(&self, guest: &Path) -> Option<bool> {
        if self.empty_mount(guest) {
            return Some(true);
        }
        // Outside every mount nothing is reachable: as if not there.
        let host = self.0.host_path(guest)?;
        std::fs::symlink_metadata(&host).ok().map(|m| m.is_dir())
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

#[cfg(all(test, unix))]
mod empty_mount_tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// Below an empty mount (cordon's empty root) no host path is read to follow links: a
    /// link put there after the check (a tree swapped in at its path) is not followed, where
    /// an ordinary mount's is read as the guest could read it.
    #[test]
    fn nothing_below_an_empty_mount_is_read_on_the_host() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("home")).unwrap();
        for (empty, link) in [(false, Some(PathBuf::from("/etc"))), (true, None)] {
            let mut guard = FsGuard::new(FsRules::default());
            let dir = File::open(&root).unwrap();
            if empty {
                guard.mount_empty(PathBuf::from("/"), root.clone(), dir, FsPerms::ReadOnly);
            } else {
                guard.mount(PathBuf::from("/"), root.clone(), dir, FsPerms::ReadOnly);
            }
            let links = HostLinks(&guard);
            assert_eq!(links.read_link(Path::new("/home")), link, "empty mount: {empty}");
            assert_eq!(links.is_dir(Path::new("/home")), (!empty).then_some(false), "empty mount: {empty}");
            assert_eq!(links.is_dir(Path::new("/")), Some(true), "the mount itself is a directory");
        }
        // The path swapped for a file after the check: the empty mount is still the
        // directory it checked; an ordinary mount reads the path.
        let dir = File::open(&root).unwrap();
        std::fs::rename(&root, tmp.path().join("moved")).unwrap();
        std::fs::write(&root, b"not a directory").unwrap();
        let mut guard = FsGuard::new(FsRules::default());
        guard.mount_empty(PathBuf::from("/"), root.clone(), dir, FsPerms::ReadOnly);
        assert_eq!(HostLinks(&guard).is_dir(Path::new("/")), Some(true));
        let mut guard = FsGuard::new(FsRules::default());
        guard.mount(PathBuf::from("/"), root.clone(), File::open(tmp.path()).unwrap(), FsPerms::ReadOnly);
        assert_eq!(HostLinks(&guard).is_dir(Path::new("/")), Some(false));
    }
}
