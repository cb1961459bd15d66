//! macOS: the generated Seatbelt profile, run by `/usr/bin/sandbox-exec`.
//!
//! # Platform specific behavior
//! Compiled for macOS only and never run in cordon's CI (no macOS machine); the profile it
//! runs is golden-tested on every OS.
#![allow(unsafe_code, reason = "killpg and setrlimit have no safe std wrapper")]

use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::Command;
use std::time::{Duration, Instant};

use cordon_plan::seatbelt::SeatbeltPlan;

use crate::NativeError;

/// Runs `argv` under the plan; returns the exit code (124 on timeout, 128+N on signal N).
///
/// # Errors
/// [`NativeError::Spawn`] when sandbox-exec does not start.
pub fn run(plan: &SeatbeltPlan, argv: &[String]) -> Result<u8, NativeError> {
    let scratch = std::env::temp_dir().join(format!("cordon-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| NativeError::Other(e.to_string()))?;
    let home = std::env::var("HOME").unwrap_or_default();
    let mut cmd = Command::new("/usr/bin/sandbox-exec");
    cmd.arg("-p").arg(&plan.profile);
    cmd.arg(format!("-DCORDON_TMP={}", scratch.display()));
    for (k, v) in &plan.params {
        let v = v.strip_prefix("~/").map_or_else(|| v.clone(), |rest| format!("{home}/{rest}"));
        cmd.arg(format!("-D{k}={v}"));
    }
    cmd.arg("--").args(argv);
    cmd.env_clear()
        .envs(plan.process.env.iter().cloned())
        .envs(crate::inherited(&plan.process))
        .env("TMPDIR", &scratch);
    if let Some(cwd) = &plan.process.cwd {
        cmd.current_dir(cwd);
    }
    cmd.process_group(0);
    if let Some(secs) = plan.cpu_seconds {
        use std::os::unix::process::CommandExt as _;
        let lim = libc::rlimit { rlim_cur: secs as libc::rlim_t, rlim_max: secs as libc::rlim_t };
        // SAFETY: setrlimit is async-signal-safe; `lim` is a plain value copied into the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_CPU, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child =
        cmd.spawn().map_err(|source| NativeError::Spawn { what: "/usr/bin/sandbox-exec".into(), source })?;
    let deadline = plan.process.timeout.map(|t| Instant::now() + t);
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| NativeError::Other(e.to_string()))? {
            break Some(st);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // SAFETY: killpg with the child's process group id (it leads its own group).
            unsafe { libc::killpg(child.id() as libc::pid_t, libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(match status {
        None => 124,
        Some(st) => match (st.code(), st.signal()) {
            (Some(c), _) => (c & 0xff) as u8,
            (None, Some(sig)) => (128 + sig) as u8,
            (None, None) => 1,
        },
    })
}
