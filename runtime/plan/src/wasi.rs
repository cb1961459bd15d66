//! `Policy` → [`WasiPlan`]: what the WebAssembly backend grants a tool.
//!
//! Every effective filesystem rule that grants access becomes a preopen at the same path in
//! the guest, backed by the rule's host object. Denied paths inside a preopen are not
//! preopens: cordon-host's filesystem layer refuses them on every path-taking call, using
//! the same [`FsRules`](cordon_policy::FsRules) the plan was built from.

use std::path::PathBuf;
use std::time::Duration;

use cordon_policy::{Access, BackendOptions, Env, FsRules, Limits, Network, Policy, Process};

use crate::{Backend, PlanError};

/// One preopened directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// Path the guest sees.
    pub guest: PathBuf,
    /// Host directory backing it.
    pub host: PathBuf,
    /// Read-only or read-write (the most the layer can grant below it).
    pub access: Access,
    /// JSON pointer of the granting rule.
    pub pointer: String,
}

/// What a wasm tool is given. Nothing else reaches it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WasiPlan {
    /// Preopened directories, shallow to deep.
    pub preopens: Vec<Preopen>,
    /// The rules the filesystem layer checks every path against.
    pub fs: FsRules,
    /// Variables set from `process.env`.
    pub env: Vec<(String, String)>,
    /// Host variables passed through when set (`cordon.env.inherit`).
    pub inherit_env: Vec<String>,
    /// Guest working directory.
    pub cwd: Option<PathBuf>,
    /// Wall-clock timeout.
    pub timeout: Option<Duration>,
    /// CPU-time budget.
    pub cpu: Option<Duration>,
    /// Linear-memory and table ceiling, bytes.
    pub memory_bytes: Option<u64>,
    /// Output cap, bytes of stdout plus stderr.
    pub max_output_bytes: Option<u64>,
    /// The network rules every socket address and name lookup is checked against.
    pub network: Network,
}

/// Builds the wasm plan.
///
/// # Errors
/// [`PlanError::Unenforceable`] for Windows paths on a Unix host (and the reverse), and for
/// proxy settings: a wasm tool's sockets are checked in-process, so a policy that asks for
/// its traffic to go through a proxy is refused rather than silently bypassing it.
pub fn plan(policy: &Policy, facts: &dyn crate::PathFacts) -> Result<WasiPlan, PlanError> {
    // Every field, no `..`: a new one does not compile until this backend handles or
    // refuses it.
    let Policy {
        version: _,     // read by validation only
        containment: _, // chooses the backend; the runtime reads it before planning
        process,
        filesystem,
        network,
        env,
        limits,
        audit: _, // the runtime writes the log (`--audit` can set it too) and refuses it where the runner writes none
        ui,
        backends,
    } = policy;
    let Process { command_line: _ /* the runtime's command */, cwd, timeout } = process;
    let Env { vars, inherit, exact: _ } = env; // `exact`: a wasm tool has no default variables to leave out
    let Limits {
        memory_bytes,
        cpu,
        max_output_bytes,
        max_processes: _, // a wasm tool is one instance and cannot start processes: nothing to count
    } = limits;
    let Network {
        shape: _,
        egress: _, // the whole Network is the plan's: every socket is checked against it
        ingress: _,
        domains: _,
        allow_local_network: _,
        proxy,
        runtime_proxy,
        enforcement_mode: _, // MXC's mechanism; cordon's checks apply whatever it says
        host_networks: _,    // a host fact, read from `facts` below: every socket is checked against it
    } = network;
    let BackendOptions {
        container_id: _, // a label
        lifecycle,
        fallback: _, // cordon changes no DACL here
        seatbelt: _, // configures macOS Seatbelt only
        process_container,
        lxc,
        experimental,
        extra,
    } = backends;
    crate::mxc::shared_sections(
        Backend::Wasm,
        lifecycle,
        process_container.as_ref(),
        lxc.as_ref(),
        experimental,
        extra,
    )?;
    crate::mxc::headless_ui(Backend::Wasm, ui)?;
    if let Some(entry) = filesystem.foreign().first() {
        return Err(PlanError::Unenforceable {
            backend: Backend::Wasm,
            rule: entry.pointer.clone(),
            reason: "the path is for another operating system; remove it or run on that OS".into(),
        });
    }
    if proxy.is_some() || runtime_proxy.is_some() {
        let rule = if proxy.is_some() { "/network/proxy" } else { "/runtimeConfig/networkProxy" };
        return Err(PlanError::Unenforceable {
            backend: Backend::Wasm,
            rule: rule.into(),
            reason: "wasm tools' sockets are checked in-process and cannot be sent through a proxy; remove the proxy or run a native command".into(),
        });
    }
    let preopens = filesystem
        .rules()
        .iter()
        .filter(|r| r.access != Access::Deny)
        .map(|r| Preopen { guest: r.path.clone(), host: r.host.clone(), access: r.access, pointer: r.pointer.clone() })
        .collect();
    Ok(WasiPlan {
        preopens,
        fs: filesystem.clone(),
        env: vars.clone(),
        inherit_env: inherit.clone(),
        cwd: cwd.clone(),
        timeout: *timeout,
        cpu: *cpu,
        memory_bytes: *memory_bytes,
        max_output_bytes: *max_output_bytes,
        // The rules the checks use, with the host's own networks; `enforcementMode` is a
        // hint, not part of them.
        network: cordon_policy::Network {
            enforcement_mode: None,
            host_networks: crate::host_networks(network, crate::Backend::Wasm, facts)?,
            ..network.clone()
        },
    })
}
