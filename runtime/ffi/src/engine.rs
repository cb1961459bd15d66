//! The safe half: an MXC request (the SDK's exact 1.0.0 contract) in, a cordon run out.
//! `lib.rs` only moves bytes across the C ABI.

use std::path::{Path, PathBuf};

use cordon_runtime::run::{Cause, NativeIo, RunRequest};

/// MXC's native status codes (the SDK maps them to `MxcError.code`).
pub mod status {
    /// `malformed_request`: the request is not JSON or not a valid policy.
    pub const MALFORMED: i32 = 1;
    /// `unsupported_containment`: a backend cordon does not have.
    pub const UNSUPPORTED_CONTAINMENT: i32 = 2;
    /// `unsupported_phase`: lifecycle calls cordon does not implement.
    pub const UNSUPPORTED_PHASE: i32 = 3;
    /// `backend_unavailable`: this host (or this install) cannot run it.
    pub const BACKEND_UNAVAILABLE: i32 = 4;
    /// `policy_validation`: valid, but the backend cannot enforce a rule (cordon refuses).
    pub const POLICY_VALIDATION: i32 = 11;
    /// `backend_error`: anything else.
    pub const BACKEND_ERROR: i32 = 12;
}

/// Containments MXC defines and cordon has no backend for.
const LACKED: &[&str] = &[
    "lxc",
    "wslc",
    "processcontainer",
    "seatbelt",
    "isolation_session",
    "windows_sandbox",
    "microvm",
    "hyperlight",
    "vm",
    "appcontainer",
];

/// Why a call failed, as the SDK's error detail carries it.
#[derive(Debug)]
pub struct Failure {
    /// MXC's native status.
    pub status: i32,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub remediation: Option<String>,
}

impl Failure {
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Failure { status, message: message.into(), remediation: None }
    }

    pub(crate) fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }
}

/// A one-shot run's result.
#[derive(Debug, Default)]
pub struct RunOut {
    /// The tool's exit code; -1 after a timeout, as MXC.
    pub exit_code: i32,
    /// cordon stopped it at `process.timeout`.
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// What cordon has to say about the run (limits reached, refusals counted).
    pub warnings: Vec<String>,
}

/// The backends this host has, as MXC's `--available-backends` JSON. cordon's bubblewrap
/// sends every connection to `runtimeConfig.networkProxy` and nowhere else
/// (`proxyEnforcement`). The landlock and wasm backends have no MXC name.
pub fn available_backends_json() -> String {
    let list: Vec<serde_json::Value> = if has_bwrap() {
        vec![serde_json::json!({ "backend": "bubblewrap", "capabilities": ["proxyEnforcement"] })]
    } else {
        Vec::new()
    };
    serde_json::Value::Array(list).to_string()
}

/// `mxc_platform_support_json`: the shape MXC's library returns.
pub fn platform_support_json() -> String {
    let v = if has_bwrap() {
        serde_json::json!({
            "isSupported": true,
            "reason": null,
            "availableMethods": ["bubblewrap"],
            "bubblewrapNetwork": { "proxyEnforcement": "supported", "warnings": [] },
        })
    } else {
        serde_json::json!({
            "isSupported": false,
            "reason": "bubblewrap (bwrap) is not installed; cordon's MXC library runs commands under bubblewrap",
            "availableMethods": [],
            "unavailableReasons": { "bubblewrap": "bwrap not found in /usr/bin or /usr/local/bin", "lxc": "cordon has no LXC backend" },
        })
    };
    v.to_string()
}

fn has_bwrap() -> bool {
    Path::new("/usr/bin/bwrap").exists() || Path::new("/usr/local/bin/bwrap").exists()
}

/// Checks the request the way the run will read it: JSON, a containment cordon has, a valid
/// policy. Returns the policy text (the request itself: the SDK's contract is an MXC config).
pub fn check_request(request: &str) -> Result<cordon_policy::Policy, Failure> {
    let value: serde_json::Value = serde_json::from_str(request)
        .map_err(|e| Failure::new(status::MALFORMED, format!("Configuration parse error: request is not JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(Failure::new(status::MALFORMED, "Configuration parse error: request must be a JSON object"));
    };
    if let Some(c) = obj.get("containment").and_then(serde_json::Value::as_str)
        && LACKED.contains(&c.to_ascii_lowercase().as_str())
    {
        let here = if has_bwrap() { "bubblewrap" } else { "none (bwrap is not installed)" };
        return Err(Failure::new(
            status::UNSUPPORTED_CONTAINMENT,
            format!("containment '{c}' is not supported by cordon (it has no such backend); backends here: {here}"),
        )
        .fix("use containment 'process' or 'bubblewrap' (the SDK's default is 'process')"));
    }
    // MXC's loader applies its executor's rules too (a command; no containment: the native
    // sandbox's section only).
    cordon_policy::Policy::parse(request, &cordon_runtime::SystemHost)
        .and_then(|p| p.check_for_mxc_executor().map(|()| p))
        .map_err(|e| Failure::new(status::MALFORMED, format!("Configuration parse error: {e}")))
}

/// `cordon-helper` (and `cordon`) next to the library: the one place looked at.
pub fn sibling(dir: Option<&Path>, name: &str) -> Result<PathBuf, Failure> {
    let Some(dir) = dir else {
        return Err(Failure::new(
            status::BACKEND_UNAVAILABLE,
            format!("cannot tell where libmxc_ffi.so was loaded from, so cannot find {name} beside it"),
        ));
    };
    let path = dir.join(name);
    if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
        Ok(path)
    } else {
        Err(Failure::new(
            status::BACKEND_UNAVAILABLE,
            format!("{name} not found at {} (cordon's libmxc_ffi.so runs commands through it)", path.display()),
        )
        .fix(format!(
            "install {name} in the same directory as libmxc_ffi.so (`cargo build -p cordon-runtime -p cordon-mxc-ffi` puts both in target/<profile>/)"
        )))
    }
}

/// `mxc_run_json`: runs the request's `process.commandLine` under it, output captured.
pub fn run(request: &str, lib_dir: Option<&Path>) -> Result<RunOut, Failure> {
    let policy = check_request(request)?;
    let helper = sibling(lib_dir, "cordon-helper")?;
    let outcome = cordon_runtime::run::run_tool(RunRequest {
        policy: &policy,
        command: Vec::new(),
        backend: None,
        dry_run: false,
        notify: None,
        audit: None,
        helper: Some(helper),
        // The tool reads nothing: a one-shot run has no stdin (not the embedding program's).
        io: NativeIo { stdin: Some(Vec::new()), capture: true, tag: None },
    })
    .map_err(runtime_failure)?;
    let mut out = RunOut {
        exit_code: i32::from(outcome.code),
        timed_out: false,
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        warnings: outcome.notes,
    };
    match outcome.cause {
        Cause::Timeout => {
            out.exit_code = -1;
            out.timed_out = true;
        }
        Cause::Cpu => {
            out.warnings.push(format!("cordon stopped the command at cordon.limits.cpuMs (exit {})", outcome.code))
        }
        Cause::Memory => {
            out.warnings.push(format!("cordon killed the command at cordon.limits.memoryBytes (exit {})", outcome.code))
        }
        Cause::Trap(t) => out.warnings.push(format!("the tool trapped: {t}")),
        _ => {}
    }
    Ok(out)
}

/// Plans the policy as a run would (a dry run), so what cordon would refuse is refused here.
pub fn plan(policy: &cordon_policy::Policy, helper: PathBuf) -> Result<(), Failure> {
    cordon_runtime::run::run_tool(RunRequest {
        policy,
        command: Vec::new(),
        backend: None,
        dry_run: true,
        notify: None,
        audit: None,
        helper: Some(helper),
        io: NativeIo { stdin: Some(Vec::new()), capture: true, tag: None },
    })
    .map(drop)
    .map_err(runtime_failure)
}

fn runtime_failure(e: cordon_runtime::RuntimeError) -> Failure {
    use cordon_runtime::RuntimeError as E;
    let status = match &e {
        E::Policy(_) | E::Request(_) | E::Base64(_) => status::MALFORMED,
        E::Plan(_) | E::Grant { .. } => status::POLICY_VALIDATION,
        E::Unavailable(_) => status::BACKEND_UNAVAILABLE,
        _ => status::BACKEND_ERROR,
    };
    Failure::new(status, e.to_string())
}
