//! `WasiPlan` → the guest's WASI context and cordon's filesystem guard. The only place in
//! the wasm backend that opens host directories for a guest.

use std::path::{Path, PathBuf};

use cordon_host::fs::FsGuard;
use cordon_host::net::NetGuard;
use cordon_plan::wasi::WasiPlan;
use cordon_policy::Access;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::output::{Budget, Sink, Target};
use crate::RuntimeError;

/// What the guest reads on stdin.
#[derive(Debug, Clone, Default)]
pub enum Stdin {
    /// The host's stdin, passed through.
    #[default]
    Inherit,
    /// Nothing (end of file at once).
    Empty,
    /// These bytes.
    Bytes(Vec<u8>),
    /// Read from the caller's stream as the guest asks.
    Stream(StdinPipe),
}

/// A caller's stream as a guest's stdin.
#[derive(Clone)]
pub struct StdinPipe(std::sync::Arc<wasmtime_wasi::cli::AsyncStdinStream>);

impl StdinPipe {
    /// The guest reads `from` as it asks.
    pub fn new(from: impl tokio::io::AsyncRead + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(wasmtime_wasi::cli::AsyncStdinStream::new(from)))
    }
}

impl std::fmt::Debug for StdinPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StdinPipe")
    }
}

/// What [`build`] needs.
pub struct CtxRequest<'a> {
    /// The plan.
    pub plan: &'a WasiPlan,
    /// argv.
    pub argv: &'a [String],
    /// stdin.
    pub stdin: &'a Stdin,
    /// stdout.
    pub stdout: Target,
    /// stderr.
    pub stderr: Target,
    /// The shared output budget.
    pub budget: &'a std::sync::Arc<Budget>,
    /// The network guard the socket check asks.
    pub net: &'a std::sync::Arc<NetGuard>,
}

/// The guest's context, built from the plan and nothing else.
pub struct Built {
    /// WASI context: preopens, env, args, stdio.
    pub wasi: WasiCtx,
    /// The filesystem checks.
    pub guard: FsGuard,
}

/// Builds the context.
///
/// # Ambient Authority
/// Opens each granted host directory (`preopened_dir`) and reads the host environment for
/// the variables `cordon.env.inherit` names.
///
/// # Errors
/// [`RuntimeError::Grant`] when a granted path does not exist or cannot be opened.
pub fn build(req: CtxRequest<'_>) -> Result<Built, RuntimeError> {
    let CtxRequest { plan, argv, stdin, stdout, stderr, budget, net } = req;
    let mut b = WasiCtxBuilder::new();
    b.allow_blocking_current_thread(true);
    b.args(argv);
    for (k, v) in &plan.env {
        b.env(k, v);
    }
    for k in &plan.inherit_env {
        if let Some(v) = std::env::var_os(k).and_then(|v| v.into_string().ok()) {
            b.env(k, v);
        }
    }
    if let Some(cwd) = &plan.cwd {
        // WASI has no working directory of its own; wasi-libc guests read PWD.
        b.env("PWD", cwd.to_string_lossy());
    }
    match stdin {
        Stdin::Inherit => {
            b.stdin(wasmtime_wasi::cli::stdin());
        }
        Stdin::Empty => {}
        Stdin::Bytes(bytes) => {
            b.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(bytes.clone()));
        }
        Stdin::Stream(StdinPipe(s)) => {
            b.stdin(s.clone());
        }
    }
    b.allow_tcp(true).allow_udp(true).allow_ip_name_lookup(true);
    let check = net.clone();
    b.socket_addr_check(move |addr, use_| {
        let allowed = check.check_addr(addr, use_);
        Box::pin(async move { allowed })
    });
    b.stdout(Sink::new(stdout, budget.clone()));
    b.stderr(Sink::new(stderr, budget.clone()));

    let mut guard = FsGuard::new(plan.fs.clone());
    guard.allow_blocking_current_thread(true);
    for m in open_mounts(plan)? {
        let perms = if m.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        guard.mount(m.guest, m.host, m.dir, perms);
    }
    // Everything outside the grants is reached through an empty, unwritable directory
    // preopened as `/`: a path no grant covers then comes to the layer, which refuses and
    // records it (instead of wasi-libc failing with "not found" before any host call), and
    // were the layer ever wrong there would still be nothing behind it.
    if !guard.is_mounted(Path::new("/"))
        && let Some((path, dir)) = empty_root()
    {
        guard.mount_empty(PathBuf::from("/"), path, dir, FsPerms::ReadOnly);
    }
    // The working directory is also preopened as `.`, so relative paths work as under
    // `wasmtime run --dir host::.`. It is resolved through the layer first (a symlink on the
    // way is followed in guest paths and checked), opened beneath its mount's handle with no
    // link on the way, and every call on `.` is decided on the resolved guest path.
    if let Some(cwd) = &plan.cwd {
        guard.preopen_cwd(cwd).map_err(|e| RuntimeError::Grant {
            pointer: "/process/cwd".into(),
            path: e.resolved.clone(),
            reason: if e.link_on_the_way {
                format!(
                    "the working directory cannot be opened without following links ({}): a symlink turned up on the way since it was resolved; run again",
                    e.source
                )
            } else {
                format!("the working directory cannot be opened: {}", e.source)
            },
        })?;
    }
    Ok(Built { wasi: b.build(), guard })
}

/// One preopen to make: the guest directory, the host directory behind it, the handle on it.
struct Opened {
    guest: PathBuf,
    host: PathBuf,
    dir: std::fs::File,
    writable: bool,
}

/// Opens every grant of the plan from `/` without following links (the host path is the one
/// the policy resolved, so a symlink on the way means the tree changed since it loaded) and
/// returns one mount per guest directory: a granted directory is its own mount, a granted
/// file is reached through its parent directory, which the layer keeps closed except for the
/// granted file itself.
///
/// # Ambient Authority
/// Opens the granted host paths.
fn open_mounts(plan: &WasiPlan) -> Result<Vec<Opened>, RuntimeError> {
    use cordon_host::fs::pin::{NoFollowError, ObjectKind, open_ambient_nofollow};
    let mut mounts: Vec<Opened> = Vec::new();
    for p in &plan.preopens {
        let grant = |reason: String| RuntimeError::Grant { pointer: p.pointer.clone(), path: p.host.clone(), reason };
        let walked = open_ambient_nofollow(&p.host).map_err(|e| match e {
            NoFollowError::Link { .. } => grant(format!(
                "{e}: the path had no symlink when the policy was loaded, so the tree changed since (a tool with a \
                 writable grant could have planted it); refused rather than followed; run again, or grant the real path"
            )),
            NoFollowError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                grant(format!("{e}; create it or remove it from the policy"))
            }
            NoFollowError::Io { .. } | NoFollowError::NotClean => grant(format!("cannot be opened: {e}")),
        })?;
        let writable = p.access == Access::ReadWrite;
        let (guest, host, dir) = if walked.kind == ObjectKind::Directory {
            (p.guest.clone(), p.host.clone(), walked.object)
        } else {
            // Reached as `parent(guest)/name` → `parent(host)/name`: only right when the name
            // is the same on both sides (a granted file that is a symlink to a file of another
            // name would serve `parent(host)/name`, which no rule grants).
            if p.guest.file_name() != p.host.file_name() {
                return Err(grant(format!(
                    "{} is a symlink to a file of another name; wasm reaches a granted file through its directory, \
                     so grant {} itself instead",
                    p.guest.display(),
                    p.host.display()
                )));
            }
            (parent(&p.guest), parent(&p.host), walked.parent)
        };
        match mounts.iter_mut().find(|m| m.guest == guest) {
            // Several grants in one directory (a directory and files in it, or several files):
            // one mount, writable when any of them is (the layer decides each path).
            Some(m) if m.host == host => m.writable |= writable,
            Some(m) => {
                return Err(grant(format!(
                    "wasm would reach it through {} (backed by {}), which another grant backs by {}; grant the real \
                     path instead",
                    guest.display(),
                    host.display(),
                    m.host.display()
                )));
            }
            None => mounts.push(Opened { guest, host, dir, writable }),
        }
    }
    Ok(mounts)
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

/// cordon's empty root: `$TMPDIR/cordon-empty-UID`, an empty directory of this user's with
/// mode 0500, made once and checked before every run, on the handle that is preopened: the
/// temporary directory is resolved, the root opened from `/` without following any link, and
/// its owner, mode and emptiness read through that handle. `None` (no root preopen: paths
/// outside every grant then fail in the guest as "not found", unrecorded) when it cannot be
/// trusted, a symlink among them.
///
/// # Ambient Authority
/// Creates and inspects one directory in the temporary directory.
fn empty_root() -> Option<(PathBuf, std::fs::File)> {
    // Checked before every run, not once per process: a tool granted the temporary
    // directory could fill or replace it between two runs of a long-lived embedder.
    checked_empty_root(&empty_root_path(), SETTLED).0
}

/// Where cordon's empty root is (whether or not it exists): `$TMPDIR/cordon-empty-UID`.
pub fn empty_root_path() -> PathBuf {
    std::env::temp_dir().join(format!("cordon-empty-{}", uid()))
}

/// The effective user, read on every run (a process may change it).
fn uid() -> u32 {
    #[cfg(unix)]
    let uid = rustix::process::geteuid().as_raw();
    #[cfg(not(unix))]
    let uid = 0;
    uid
}

/// How old the empty root's last change must be before a check of it is remembered: a
/// filesystem with coarse timestamps gives a change within the same tick as the one seen the
/// same change time, so a directory that changed less than this long ago is checked in full
/// on every run.
#[cfg(unix)]
const SETTLED: std::time::Duration = std::time::Duration::from_secs(1);
#[cfg(not(unix))]
const SETTLED: std::time::Duration = std::time::Duration::ZERO;

/// An empty root last checked in full: the path it was asked for, the path it was found at,
/// the handle, and what `fstat` said of the handle then.
#[cfg(unix)]
struct Remembered {
    written: PathBuf,
    dir: PathBuf,
    handle: std::fs::File,
    seen: Stamp,
}

/// What a directory's `fstat` says that any change to it moves: an entry added or removed,
/// its mode or owner changed, or the inode replaced all change the change time (`ctime`),
/// which no unprivileged call can set back (restoring `mtime` with `utimensat` sets it too).
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    uid: u32,
    mode: u32,
    nlink: u64,
    ctime: (i64, i64),
    mtime: (i64, i64),
}

#[cfg(unix)]
impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            uid: meta.uid(),
            mode: meta.mode(),
            nlink: meta.nlink(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    /// The last change is at least `settled` old.
    fn settled(&self, settled: std::time::Duration) -> bool {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let changed = std::time::Duration::new(self.ctime.0.max(0) as u64, self.ctime.1.clamp(0, 999_999_999) as u32);
        now.saturating_sub(changed) >= settled
    }
}

/// The empty roots checked in full, one per path asked for (an embedder whose `TMPDIR`
/// changes has a few); at most [`REMEMBERED_MAX`].
#[cfg(unix)]
static REMEMBERED: std::sync::Mutex<Vec<Remembered>> = std::sync::Mutex::new(Vec::new());
#[cfg(unix)]
const REMEMBERED_MAX: usize = 8;

/// The empty root at `written`, checked, and whether the check was the short one. The short
/// one: the last full check of the same path found it trusted, one `fstat` of that handle
/// says nothing about it changed since, and it is still this user's. Otherwise a full check
/// ([`make_empty_root`]), remembered when the directory's last change is `settled` old and
/// nothing changed while it was checked. The handle is what is served: the path beside it
/// may name another directory by then (an ancestor renamed), which is why the root is
/// mounted with [`FsGuard::mount_empty`], under which no host path is ever read.
#[cfg(unix)]
fn checked_empty_root(written: &Path, settled: std::time::Duration) -> (Option<(PathBuf, std::fs::File)>, bool) {
    let mut remembered = REMEMBERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let at = remembered.iter().position(|r| r.written == written);
    if let Some(r) = at.map(|i| &remembered[i])
        && r.seen.uid == uid()
        && r.handle.metadata().is_ok_and(|m| Stamp::of(&m) == r.seen)
        && let Ok(handle) = r.handle.try_clone()
    {
        return (Some((r.dir.clone(), handle)), true);
    }
    if let Some(i) = at {
        remembered.remove(i);
    }
    let Some((dir, handle, before)) = make_empty_root(written) else { return (None, false) };
    if let Ok(meta) = handle.metadata()
        && Stamp::of(&meta) == before
        && before.settled(settled)
        && let Ok(kept) = handle.try_clone()
    {
        if remembered.len() >= REMEMBERED_MAX {
            remembered.remove(0);
        }
        remembered.push(Remembered { written: written.to_path_buf(), dir: dir.clone(), handle: kept, seen: before });
    }
    (Some((dir, handle)), false)
}

#[cfg(not(unix))]
fn checked_empty_root(written: &Path, _settled: std::time::Duration) -> (Option<(PathBuf, std::fs::File)>, bool) {
    (make_empty_root(written), false)
}

/// Makes (when missing) and checks in full the empty root at `written`: the path it was found
/// at, its handle, and the handle's `fstat` taken before the emptiness was read.
#[cfg(unix)]
fn make_empty_root(written: &Path) -> Option<(PathBuf, std::fs::File, Stamp)> {
    use cordon_host::fs::pin::{ObjectKind, is_empty_dir, open_ambient_nofollow};
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    // The temporary directory's own path may hold honest links (`/tmp -> /private/tmp`);
    // resolved here, then walked without following any.
    let dir = std::fs::canonicalize(written.parent()?).ok()?.join(written.file_name()?);
    if std::fs::DirBuilder::new().mode(0o500).create(&dir).is_err() {
        // Already there (or not creatable): used only when it is exactly what cordon makes.
    }
    let walked = open_ambient_nofollow(&dir).ok()?;
    let meta = walked.object.metadata().ok()?;
    let trusted = walked.kind == ObjectKind::Directory
        && meta.uid() == uid()
        && meta.permissions().mode() & 0o777 == 0o500
        && is_empty_dir(&walked.object).ok()?;
    trusted.then(|| (dir, walked.object, Stamp::of(&meta)))
}

#[cfg(not(unix))]
fn make_empty_root(_written: &Path) -> Option<(PathBuf, std::fs::File)> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Waits until a check of `written` is remembered (its last change is old enough), then
    /// shows the next check is the short one.
    fn remembered(written: &Path) {
        std::thread::sleep(SETTLED + std::time::Duration::from_millis(100));
        let (root, short) = checked_empty_root(written, SETTLED);
        assert!(root.is_some() && !short, "a full check, remembered");
        let (root, short) = checked_empty_root(written, SETTLED);
        assert!(root.is_some() && short, "unchanged: the short check serves it");
    }

    /// The served handle is the directory the path names now.
    fn served_is_at(root: Option<(PathBuf, std::fs::File)>, dir: &Path) {
        let Some((at, handle)) = root else { panic!("{}: not served", dir.display()) };
        let (h, p) = (handle.metadata().unwrap(), std::fs::symlink_metadata(dir).unwrap());
        assert_eq!((at.as_path(), h.dev(), h.ino()), (dir, p.dev(), p.ino()));
        assert!(cordon_host::fs::pin::is_empty_dir(&handle).unwrap(), "a served root is empty");
    }

    /// A remembered empty root is still checked on every run: filled (also with its mtime put
    /// back), opened up or replaced, it is not served; put back as it was, it is; its path
    /// re-pointed by a renamed ancestor, the handle checked is served, not the new tree. A
    /// root changed just now is not remembered.
    #[test]
    fn a_remembered_empty_root_that_changed_is_not_served() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = std::fs::canonicalize(tmp.path()).unwrap().join("T");
        std::fs::create_dir(&parent).unwrap();
        let written = parent.join("cordon-empty-test");
        let dir = written.clone();
        let (root, short) = checked_empty_root(&written, SETTLED);
        assert!(root.is_some() && !short, "made and trusted");
        let (root, short) = checked_empty_root(&written, SETTLED);
        assert!(root.is_some() && !short, "changed less than a second ago: checked in full again");
        remembered(&written);

        // Filled (opened, written, closed again to 0500).
        chmod(&dir, 0o700);
        std::fs::write(dir.join("planted"), b"x").unwrap();
        chmod(&dir, 0o500);
        assert!(checked_empty_root(&written, SETTLED).0.is_none(), "a filled root is refused");
        chmod(&dir, 0o700);
        std::fs::remove_file(dir.join("planted")).unwrap();
        chmod(&dir, 0o500);
        served_is_at(checked_empty_root(&written, SETTLED).0, &dir);

        // Filled with its mode and mtime put back: only the change time tells.
        remembered(&written);
        let (mtime, f) = (std::fs::metadata(&dir).unwrap().modified().unwrap(), std::fs::File::open(&dir).unwrap());
        chmod(&dir, 0o700);
        std::fs::write(dir.join("planted"), b"x").unwrap();
        chmod(&dir, 0o500);
        f.set_modified(mtime).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().modified().unwrap(), mtime);
        assert!(checked_empty_root(&written, SETTLED).0.is_none(), "filled, mtime restored: refused");
        chmod(&dir, 0o700);
        std::fs::remove_file(dir.join("planted")).unwrap();
        chmod(&dir, 0o500);

        // Opened up: another mode.
        remembered(&written);
        chmod(&dir, 0o700);
        assert!(checked_empty_root(&written, SETTLED).0.is_none(), "mode 0700 is refused");
        chmod(&dir, 0o500);

        // Replaced by a directory with an entry: refused; by an honest empty one: that one.
        remembered(&written);
        std::fs::rename(&dir, tmp.path().join("moved")).unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("planted"), b"x").unwrap();
        chmod(&dir, 0o500);
        assert!(checked_empty_root(&written, SETTLED).0.is_none(), "a replacement with an entry is refused");
        chmod(&dir, 0o700);
        std::fs::remove_file(dir.join("planted")).unwrap();
        chmod(&dir, 0o500);
        served_is_at(checked_empty_root(&written, SETTLED).0, &dir);

        // An ancestor renamed away and a new tree put at the path, with a link in it: the
        // remembered handle is untouched and is what is served (the directory checked, still
        // empty), never the new tree; the path beside it now names that tree, which is why
        // the root is mounted with `FsGuard::mount_empty` (no host path read below it).
        remembered(&written);
        let kept = std::fs::metadata(&dir).unwrap();
        std::fs::rename(&parent, tmp.path().join("T.old")).unwrap();
        std::fs::create_dir(&parent).unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("home")).unwrap();
        chmod(&dir, 0o500);
        let Some((_, handle)) = checked_empty_root(&written, SETTLED).0 else { panic!("the checked root is served") };
        let served = handle.metadata().unwrap();
        assert_eq!((served.dev(), served.ino()), (kept.dev(), kept.ino()), "the handle checked, not the new tree");
        assert!(cordon_host::fs::pin::is_empty_dir(&handle).unwrap());
        chmod(&dir, 0o700);
        std::fs::remove_file(dir.join("home")).unwrap();
        chmod(&dir, 0o500);
        for d in [&dir, &tmp.path().join("moved"), &tmp.path().join("T.old/cordon-empty-test")] {
            chmod(d, 0o700);
        }
    }
}
