//! Dispatch to the native backend of this host.

use std::path::PathBuf;

use cordon_policy::Policy;

use crate::RuntimeError;

/// Runs a native command under `policy` on this host's native backend.
///
/// # Errors
/// 125 when the backend is missing or cannot enforce the policy.
pub fn run_native(policy: &Policy, argv: &[String], dry_run: bool) -> Result<u8, RuntimeError> {
    let mut plan = cordon_plan::bwrap::plan(policy)?;
    // A command named by path is made visible read-only at that path (the file alone),
    // unless the policy denies it.
    if argv[0].contains('/') {
        let exe = std::path::Path::new(&argv[0]);
        let exe = std::path::absolute(exe).unwrap_or_else(|_| exe.to_path_buf());
        if policy.filesystem.access(&exe) != cordon_policy::Access::Deny || policy.filesystem.decide(&exe).is_none() {
            let host = exe.canonicalize().unwrap_or_else(|_| exe.clone());
            if policy.filesystem.decide(&exe).is_none_or(|r| r.access != cordon_policy::Access::Deny) {
                let at = plan.args.iter().position(|a| a == "--chdir").unwrap_or(plan.args.len());
                plan.args.splice(
                    at..at,
                    ["--ro-bind".to_string(), host.to_string_lossy().into_owned(), exe.to_string_lossy().into_owned()],
                );
                plan.helper.landlock.rules.push((exe.clone(), cordon_policy::Access::ReadOnly));
            }
        }
    }
    if dry_run {
        print!("{}", crate::explain::explain(policy, Some(&cordon_plan::Plan::Bubblewrap(Box::new(plan)))));
        return Ok(0);
    }
    imp(policy, &plan, argv)
}

#[cfg(target_os = "linux")]
fn imp(policy: &Policy, plan: &cordon_plan::bwrap::BwrapPlan, argv: &[String]) -> Result<u8, RuntimeError> {
    use cordon_native::NativeError;
    let helper: PathBuf =
        std::env::current_exe().map_err(|e| RuntimeError::Internal(format!("cannot find cordon's own binary: {e}")))?;
    let out = cordon_native::linux::run(cordon_native::linux::NativeRun {
        plan,
        argv,
        helper_exe: &helper,
        stdin: cordon_native::linux::Stdio::Inherit,
    });
    let out = match out {
        Ok(o) => o,
        Err(NativeError::Unenforceable { rule, why }) => {
            return Err(RuntimeError::Plan(cordon_plan::PlanError::Unenforceable {
                backend: cordon_plan::Backend::Bubblewrap,
                rule,
                reason: why,
            }));
        }
        Err(e) => return Err(RuntimeError::Internal(e.to_string())),
    };
    if out.timed_out {
        eprintln!(
            "cordon: stopped {} after process.timeout ({} ms), every process of it; exit 124",
            argv[0],
            policy.process.timeout.map_or(0, |t| t.as_millis())
        );
    }
    if out.code == 152 && policy.limits.cpu.is_some() {
        eprintln!(
            "cordon: stopped {} after cordon.limits.cpuMs ({} ms of CPU); exit 152",
            argv[0],
            policy.limits.cpu.map_or(0, |t| t.as_millis())
        );
    }
    if out.discarded_output > 0 {
        eprintln!(
            "cordon: output reached cordon.limits.maxOutputBytes ({} bytes); {} further bytes were discarded",
            policy.limits.max_output_bytes.unwrap_or(0),
            out.discarded_output
        );
    }
    Ok(out.code)
}

#[cfg(not(target_os = "linux"))]
fn imp(_policy: &Policy, _plan: &cordon_plan::bwrap::BwrapPlan, _argv: &[String]) -> Result<u8, RuntimeError> {
    Err(cordon_plan::PlanError::NotBuilt(cordon_plan::Backend::Bubblewrap).into())
}
