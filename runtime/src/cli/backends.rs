//! `cordon backends`: what this host offers, and what each backend does with each policy
//! feature — the support table (`cordon_plan::support`) that docs/platform-matrix.md is
//! checked against, so the command, the page and the planners say the same.

use clap::Args;
use cordon_plan::Backend;
use cordon_plan::support::Kind;

use crate::RuntimeError;

/// List the backends, whether this host has them, and what each enforces.
#[derive(Debug, Args)]
pub struct BackendsCommand {}

impl BackendsCommand {
    /// Prints, per backend, whether this host has it and the support table's column.
    ///
    /// # Errors
    /// None in practice.
    pub fn execute(self) -> Result<u8, RuntimeError> {
        use std::io::Write as _;
        let mut text = String::new();
        for b in Backend::ALL {
            text.push_str(&format!("{:<11} {}\n", b.name(), status(b)));
            for (feature, kind, _) in b.support() {
                if kind != Kind::Nothing {
                    text.push_str(&format!("  {:<12} {feature}\n", kind.word()));
                }
            }
            text.push('\n');
        }
        text.push_str(
            "Details per cell: docs/platform-matrix.md; a backend's plan: `cordon policy explain FILE --backend NAME`.\n",
        );
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        Ok(0)
    }
}

/// Whether this host offers `b`, with the host facts that matter.
fn status(b: Backend) -> String {
    match b {
        Backend::Wasm => "available   in-process (Wasmtime)".into(),
        Backend::Bubblewrap | Backend::Landlock => native(b),
        Backend::Seatbelt if cfg!(target_os = "macos") => {
            "available   generated Seatbelt profile via /usr/bin/sandbox-exec (never run in cordon's CI)".into()
        }
        Backend::Seatbelt => {
            "not on this OS (macOS only); its plan: `cordon policy explain FILE --backend seatbelt`".into()
        }
        Backend::Windows if cfg!(windows) => {
            "refuses     every policy: the restricted token, ACLs and firewall are not applied yet; run tools as wasm"
                .into()
        }
        Backend::Windows => {
            "not on this OS (Windows only); its plan: `cordon policy explain FILE --backend windows`".into()
        }
    }
}

#[cfg(target_os = "linux")]
fn native(b: Backend) -> String {
    let h = cordon_native::linux::probe_host();
    let limits = match &h.tree_cgroup {
        Ok(()) => "cpuMs, memoryBytes, maxProcesses over the whole process tree (a cgroup per run)".to_string(),
        Err(why) => format!("cpuMs, memoryBytes and maxProcesses refused here ({why})"),
    };
    if b == Backend::Bubblewrap {
        return match &h.bwrap {
            Ok((path, version)) if h.user_namespaces => format!(
                "available   {version} at {}; seccomp {}; landlock {}; {limits}",
                path.display(),
                if h.seccomp { "on" } else { "MISSING" },
                h.landlock_abi.map_or("absent (mounts only)".to_string(), |a| format!("ABI {a}")),
            ),
            Ok((path, _)) => {
                format!("unavailable {} is present but cannot create user namespaces here", path.display())
            }
            Err(why) => format!("unavailable {why}"),
        };
    }
    match (h.landlock_abi, h.track_cgroup) {
        (Some(abi), true) => format!("available   ABI {abi}, no namespaces; {limits}"),
        (None, _) => "unavailable the kernel has no landlock".into(),
        (Some(_), false) => "unavailable no cgroup to hold the tool's processes".into(),
    }
}

#[cfg(not(target_os = "linux"))]
fn native(_b: Backend) -> String {
    "not on this OS (Linux only)".into()
}
