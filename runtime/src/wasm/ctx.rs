//! `WasiPlan` → the guest's WASI context and cordon's filesystem guard. The only place in
//! the wasm backend that opens host directories for a guest.

use std::path::{Path, PathBuf};

use cordon_host::fs::{FsGuard, Mount};
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
    }
    b.allow_tcp(true).allow_udp(true).allow_ip_name_lookup(true);
    let check = net.clone();
    b.socket_addr_check(move |addr, use_| {
        let allowed = check.check_addr(addr, use_);
        Box::pin(async move { allowed })
    });
    b.stdout(Sink::new(stdout, budget.clone()));
    b.stderr(Sink::new(stderr, budget.clone()));

    let mut mounts: Vec<Mount> = Vec::new();
    for p in &plan.preopens {
        let meta = std::fs::metadata(&p.host).map_err(|e| RuntimeError::Grant {
            pointer: p.pointer.clone(),
            path: p.host.clone(),
            reason: format!("{e}; create it or remove it from the policy"),
        })?;
        // A granted file is reached through its parent directory, which the layer keeps
        // closed except for the granted file itself.
        let (guest, host) =
            if meta.is_dir() { (p.guest.clone(), p.host.clone()) } else { (parent(&p.guest), parent(&p.host)) };
        if mounts.iter().any(|m| m.guest == guest) {
            // Already mounted (several granted files in one directory).
            continue;
        }
        // The most the layer may allow below this mount; it refines per path.
        let writable = p.access == Access::ReadWrite
            || (!meta.is_dir()
                && plan.preopens.iter().any(|q| parent(&q.guest) == guest && q.access == Access::ReadWrite));
        let perms = if writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        b.preopened_dir(&host, guest.to_string_lossy(), perms).map_err(|e| RuntimeError::Grant {
            pointer: p.pointer.clone(),
            path: host.clone(),
            reason: format!("{e:#}"),
        })?;
        mounts.push(Mount { guest, host });
    }
    // Everything outside the grants is reached through an empty, unwritable directory
    // preopened as `/`: a path no grant covers then comes to the layer, which refuses and
    // records it (instead of wasi-libc failing with "not found" before any host call), and
    // were the layer ever wrong there would still be nothing behind it.
    if !mounts.iter().any(|m| m.guest == Path::new("/"))
        && let Some(empty) = empty_root()
    {
        b.preopened_dir(&empty, "/", FsPerms::ReadOnly).map_err(|e| RuntimeError::Grant {
            pointer: "/filesystem".into(),
            path: empty.clone(),
            reason: format!("cordon's empty root: {e:#}"),
        })?;
        mounts.push(Mount { guest: PathBuf::from("/"), host: empty });
    }
    let mut guard = FsGuard::new(plan.fs.clone(), mounts);
    // The working directory is also preopened as `.`, so relative paths work as under
    // `wasmtime run --dir host::.`. It is resolved through the layer first (a symlink on the
    // way is followed in guest paths and checked), and every call on `.` is decided on the
    // resolved guest path, with the same rules.
    if let Some(cwd) = &plan.cwd
        && let Some((resolved, host)) = guard.readable_dir(cwd)
    {
        let writable = plan.fs.decide(&resolved).is_some_and(|r| r.access == Access::ReadWrite);
        let perms = if writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        b.preopened_dir(&host, ".", perms).map_err(|e| RuntimeError::Grant {
            pointer: "/process/cwd".into(),
            path: host.clone(),
            reason: format!("{e:#}"),
        })?;
        guard.alias(".", resolved);
    }
    Ok(Built { wasi: b.build(), guard })
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

/// cordon's empty root: `$TMPDIR/cordon-empty-UID`, an empty directory of this user's with
/// mode 0500, made once and checked before every run. `None` (no root preopen: paths outside
/// every grant then fail in the guest as "not found", unrecorded) when it cannot be trusted.
///
/// # Ambient Authority
/// Creates and inspects one directory in the temporary directory.
fn empty_root() -> Option<PathBuf> {
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
fn make_empty_root() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    let dir = empty_root_path();
    if std::fs::DirBuilder::new().mode(0o500).create(&dir).is_err() {
        // Already there (or not creatable): used only when it is exactly what cordon makes.
    }
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let trusted = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o777 == 0o500;
    let empty = std::fs::read_dir(&dir).ok()?.next().is_none();
    (trusted && empty).then_some(dir)
}

#[cfg(not(unix))]
fn make_empty_root() -> Option<PathBuf> {
    None
}
