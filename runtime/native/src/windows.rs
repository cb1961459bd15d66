//! Windows: a job object with the plan's limits around the tool.
//!
//! # Platform specific behavior
//! Compiled for Windows only and never run in cordon's CI (no Windows machine). This
//! runner applies the job limits (memory, processes, CPU time, kill on close) and the
//! timeout. It does not yet create the restricted token, apply the ACL entries or install
//! the firewall rules of the plan. Without the token the tool would reach every file its
//! user can, while every policy denies what it does not list, so [`run`] refuses every
//! policy until the token is applied.
#![allow(unsafe_code, reason = "the Win32 job object API")]

use std::os::windows::io::AsRawHandle as _;
use std::process::Command;
use std::time::{Duration, Instant};

use cordon_plan::windows::WindowsPlan;
use windows::Win32::Foundation::HANDLE;
use windows::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_ACTIVE_PROCESS, JOB_OBJECT_LIMIT_JOB_MEMORY,
    JOB_OBJECT_LIMIT_JOB_TIME, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectExtendedLimitInformation, SetInformationJobObject, TerminateJobObject,
};

use crate::NativeError;

/// Runs `argv` under the plan; returns the exit code (124 on timeout).
///
/// # Errors
/// [`NativeError::Unenforceable`] for the parts of the plan this runner does not apply yet:
/// today, always (see the module docs).
pub fn run(plan: &WindowsPlan, argv: &[String]) -> Result<u8, NativeError> {
    refuse_unapplied(plan)?;
    run_in_job(plan, argv)
}

/// The parts of the plan this runner cannot apply yet, as a refusal (today, always).
fn refuse_unapplied(plan: &WindowsPlan) -> Result<(), NativeError> {
    let (rule, why) = plan.runner_gap();
    Err(NativeError::Unenforceable { rule, why: format!("{why}; run the tool as wasm") })
}

/// The job object around the tool: limits, timeout, kill on close.
fn run_in_job(plan: &WindowsPlan, argv: &[String]) -> Result<u8, NativeError> {
    // SAFETY: creating an unnamed job object has no preconditions.
    let job = unsafe { CreateJobObjectW(None, None) }.map_err(|e| NativeError::Other(e.to_string()))?;
    let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    let mut flags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if let Some(m) = plan.job.memory_bytes {
        flags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
        info.JobMemoryLimit = m as usize;
    }
    if let Some(n) = plan.job.active_processes {
        flags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
        info.BasicLimitInformation.ActiveProcessLimit = n as u32;
    }
    if let Some(ms) = plan.job.cpu_ms {
        flags |= JOB_OBJECT_LIMIT_JOB_TIME;
        info.BasicLimitInformation.PerJobUserTimeLimit = (ms as i64) * 10_000;
    }
    info.BasicLimitInformation.LimitFlags = flags;
    // SAFETY: `info` is a valid JOBOBJECT_EXTENDED_LIMIT_INFORMATION of the size passed.
    unsafe {
        SetInformationJobObject(
            job,
            JobObjectExtendedLimitInformation,
            (&raw const info).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
        )
    }
    .map_err(|e| NativeError::Other(e.to_string()))?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear().envs(plan.process.env.iter().cloned()).envs(crate::inherited(&plan.process));
    if let Some(cwd) = &plan.process.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().map_err(|source| NativeError::Spawn { what: argv[0].clone(), source })?;
    // SAFETY: both handles are valid: the job above and the child's process handle.
    unsafe { AssignProcessToJobObject(job, HANDLE(child.as_raw_handle())) }
        .map_err(|e| NativeError::Other(e.to_string()))?;
    let deadline = plan.process.timeout.map(|t| Instant::now() + t);
    loop {
        if let Some(st) = child.try_wait().map_err(|e| NativeError::Other(e.to_string()))? {
            return Ok((st.code().unwrap_or(1) & 0xff) as u8);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // SAFETY: `job` is a valid job handle; terminating it ends every process in it.
            let _ = unsafe { TerminateJobObject(job, 124) };
            let _ = child.wait();
            return Ok(124);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
