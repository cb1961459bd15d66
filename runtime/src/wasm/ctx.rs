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
    let guard = FsGuard::new(plan.fs.clone(), mounts);
    Ok(Built { wasi: b.build(), guard })
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}
