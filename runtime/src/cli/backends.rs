//! `cordon backends`: what this host offers and what each backend enforces.

use clap::Args;

use crate::RuntimeError;

/// List the backends, whether this host has them, and what each enforces.
#[derive(Debug, Args)]
pub struct BackendsCommand {}

impl BackendsCommand {
    /// Prints the table.
    ///
    /// # Errors
    /// None in practice.
    pub fn execute(self) -> Result<u8, RuntimeError> {
        println!(
            "wasm        available   filesystem (deny carve-outs), env, timeout, cpuMs, memoryBytes, maxOutputBytes, network (sockets, names, HTTP), audit"
        );
        native();
        if cfg!(target_os = "macos") {
            println!(
                "seatbelt    available   generated Seatbelt profile via /usr/bin/sandbox-exec (never run in cordon's CI); filesystem, env, timeout, cpuMs; network: none or all"
            );
        } else {
            println!(
                "seatbelt    not on this OS (macOS only); see its plan with `cordon policy explain FILE --backend seatbelt`"
            );
        }
        if cfg!(windows) {
            println!(
                "windows     refuses     every policy: the restricted token, ACLs and firewall are not applied yet (job limits and timeout are); run tools as wasm"
            );
        } else {
            println!(
                "windows     not on this OS (Windows only); see its plan with `cordon policy explain FILE --backend windows`"
            );
        }
        Ok(0)
    }
}

#[cfg(target_os = "linux")]
fn native() {
    let h = cordon_native::linux::probe_host();
    match &h.bwrap {
        Ok((path, version)) if h.user_namespaces => {
            println!(
                "bubblewrap  available   {version} at {}; filesystem (mounts), env, timeout, maxOutputBytes{}; network: none or all; seccomp {}; landlock {}",
                path.display(),
                tree_limits(&h.tree_cgroup),
                if h.seccomp { "on" } else { "MISSING" },
                h.landlock_abi.map_or("absent (mounts only)".to_string(), |a| format!("ABI {a}")),
            );
        }
        Ok((path, _)) => {
            println!("bubblewrap  unavailable {} is present but cannot create user namespaces here", path.display())
        }
        Err(why) => println!("bubblewrap  unavailable {why}"),
    }
    match (h.landlock_abi, h.track_cgroup) {
        (Some(abi), true) => println!(
            "landlock    available   ABI {abi}; filesystem grants (no carve-outs), env, timeout, maxOutputBytes{}; network: none or all; no namespaces",
            tree_limits(&h.tree_cgroup),
        ),
        (None, _) => println!("landlock    unavailable the kernel has no landlock"),
        (Some(_), false) => println!("landlock    unavailable no cgroup to hold the tool's processes"),
    }
}

/// The tree limits as `cordon backends` lists them.
#[cfg(target_os = "linux")]
fn tree_limits(cgroup: &Result<(), String>) -> String {
    match cgroup {
        Ok(()) => ", cpuMs, memoryBytes, maxProcesses (over the whole process tree: a cgroup per run)".into(),
        Err(why) => format!("; cpuMs, memoryBytes and maxProcesses refused ({why})"),
    }
}

#[cfg(not(target_os = "linux"))]
fn native() {
    println!("bubblewrap  not on this OS (Linux only)");
    println!("landlock    not on this OS (Linux only)");
}
