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
        guard.mount(PathBuf::from("/"), path, dir, FsPerms::ReadOnly);
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
    make_empty_root()
}

/// Where cordon's empty root is (whether or not it exists): `$TMPDIR/cordon-empty-UID`.
pub fn empty_root_path() -> PathBuf {
    #[cfg(unix)]
    let uid = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
    };
    #[cfg(not(unix))]
    let uid = 0;
    std::env::temp_dir().join(format!("cordon-empty-{uid}"))
}

#[cfg(unix)]
fn make_empty_root() -> Option<(PathBuf, std::fs::File)> {
    use cordon_host::fs::pin::{ObjectKind, is_empty_dir, open_ambient_nofollow};
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    let written = empty_root_path();
    // The temporary directory's own path may hold honest links (`/tmp -> /private/tmp`);
    // resolved here, then walked without following any.
    let dir = std::fs::canonicalize(written.parent()?).ok()?.join(written.file_name()?);
    if std::fs::DirBuilder::new().mode(0o500).create(&dir).is_err() {
        // Already there (or not creatable): used only when it is exactly what cordon makes.
    }
    let walked = open_ambient_nofollow(&dir).ok()?;
    let meta = walked.object.metadata().ok()?;
    let trusted = walked.kind == ObjectKind::Directory
        && meta.uid() == uid
        && meta.permissions().mode() & 0o777 == 0o500
        && is_empty_dir(&walked.object).ok()?;
    trusted.then_some((dir, walked.object))
}

#[cfg(not(unix))]
fn make_empty_root() -> Option<(PathBuf, std::fs::File)> {
    None
}
