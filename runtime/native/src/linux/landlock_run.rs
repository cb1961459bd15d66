//! The landlock-only backend: cordon's helper started directly (no namespaces), restricted
//! by landlock, seccomp, rlimits and dropped capabilities, inside a pids cgroup that is
//! also how every process of the tool is found and killed on timeout.
use std::path::Path;
use std::process::Command;

use cordon_plan::landlock::LandlockBackendPlan;

use super::run::{NativeOutcome, PidsCgroup, Stdio, check_granted, supervise};
use crate::NativeError;

/// Runs `argv` under the landlock plan.
///
/// # Errors
/// [`NativeError::Unavailable`] without a pids cgroup (the timeout could not reach every
/// process); [`NativeError::Unenforceable`] when a grant is missing.
pub fn run_landlock(
    plan: &LandlockBackendPlan,
    argv: &[String],
    helper_exe: &Path,
    stdin: Stdio,
) -> Result<NativeOutcome, NativeError> {
    check_granted(&plan.granted)?;
    let cgroup =
        PidsCgroup::new(plan.helper.limits.max_processes.unwrap_or(1 << 22)).map_err(|e| NativeError::Unavailable {
            backend: "landlock",
            why: format!("it needs a pids cgroup to find and stop every process of the tool ({e})"),
        })?;
    let json = serde_json::to_string(&plan.helper).map_err(|e| NativeError::Other(e.to_string()))?;
    let mut cmd = Command::new(helper_exe);
    cmd.arg("__cordon-helper").arg(&json).arg("--").args(argv);
    cmd.env_clear().envs(plan.env.iter().cloned());
    for name in &plan.inherit_env {
        if let Ok(v) = std::env::var(name) {
            cmd.env(name, v);
        }
    }
    if let Some(cwd) = &plan.cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(match stdin {
        Stdio::Inherit => std::process::Stdio::inherit(),
        Stdio::Null => std::process::Stdio::null(),
    });
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    cgroup.join_at_exec(&mut cmd, true);
    let mut child =
        cmd.spawn().map_err(|source| NativeError::Spawn { what: helper_exe.display().to_string(), source })?;
    let (code, timed_out, discarded) = supervise(
        &mut child,
        plan.timeout,
        plan.max_output_bytes,
        &|_pid| cgroup.kill_all(),
        // Background processes the tool left behind do not outlive it either.
        &|| cgroup.kill_all(),
    )?;
    drop(cgroup);
    Ok(NativeOutcome { code, timed_out, discarded_output: discarded, proxy_events: Vec::new() })
}
