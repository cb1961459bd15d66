//! The landlock-only backend: cordon's helper started directly (no namespaces), restricted
//! by landlock, seccomp, rlimits and dropped capabilities, inside the run's own cgroup: it
//! holds the tree's limits and is how every process of the tool is found and killed (on
//! timeout, at a limit, when the tool's first process ends, and by the supervisor when
//! cordon dies).
use std::path::Path;
use std::process::Command;

use cordon_plan::landlock::LandlockBackendPlan;

use super::cgroup::{RunCgroup, Supervisor, TreeStop};
use super::run::{NativeOutcome, Stdio, Supervise, join_at_exec, supervise};
use crate::NativeError;

/// Runs `argv` under the landlock plan.
///
/// # Errors
/// [`NativeError::Unavailable`] without a cgroup to hold the tool (the timeout could not
/// reach every process); [`NativeError::Unenforceable`] when a tree limit's controller is
/// missing. (A grant missing or changed since planning makes the helper refuse to start.)
pub fn run_landlock(
    plan: &LandlockBackendPlan,
    argv: &[String],
    helper_exe: &Path,
    stdin: Stdio,
    capture: bool,
) -> Result<NativeOutcome, NativeError> {
    // No scratch directory here, but a killed run of either backend may have left one.
    super::cgroup::sweep_scratch(&std::env::temp_dir());
    let name = super::cgroup::run_name();
    let cgroup = RunCgroup::create(&plan.tree, &name)
        .map_err(|e| match e {
            NativeError::Unavailable { why, .. } => NativeError::Unavailable {
                backend: "landlock",
                why: format!("it needs a cgroup to find and stop every process of the tool ({why})"),
            },
            other => other,
        })?
        .ok_or_else(|| NativeError::Other("plan: the landlock backend always tracks its processes".into()))?;
    // Whatever ends cordon, SIGKILL included, the supervisor kills the tree and removes the
    // cgroup: the tool never outlives cordon.
    let supervisor = Supervisor::start(helper_exe, Some(&cgroup), None)?;
    let json = serde_json::to_string(&plan.helper).map_err(|e| NativeError::Other(e.to_string()))?;
    let mut cmd = Command::new(helper_exe);
    cmd.arg("__cordon-helper").arg(&json).arg("--").args(argv);
    cmd.env_clear().envs(plan.process.env.iter().cloned()).envs(crate::inherited(&plan.process));
    if let Some(cwd) = &plan.process.cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(stdin.child());
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    join_at_exec(&mut cmd, &cgroup.procs_files(), true)?;
    let mut child =
        cmd.spawn().map_err(|source| NativeError::Spawn { what: helper_exe.display().to_string(), source })?;
    stdin.feed(&mut child);
    let watch = || cgroup.limit_hit();
    let ended = supervise(Supervise {
        child: &mut child,
        timeout: plan.process.timeout,
        max_output: plan.process.max_output_bytes,
        stop: &|_pid| cgroup.kill_all(),
        // Background processes the tool left behind do not outlive it either.
        after_exit: &|| cgroup.kill_all(),
        watch: Some(&watch as &dyn Fn() -> Option<TreeStop>),
        capture,
    })?;
    let cpu = cgroup.cpu_total();
    drop(cgroup);
    drop(supervisor);
    let mut out = ended.outcome(Vec::new());
    out.cpu = cpu;
    out.executed = vec!["__cordon-helper".into(), json];
    Ok(out)
}
