//! `mxc_spawn_json`: a live sandboxed process whose stdin, stdout and stderr are pipes the
//! SDK turns into Node streams. The process is `cordon run --policy FILE` (the `cordon`
//! binary beside the library), so output streams as the tool writes it and a kill ends
//! cordon and, through bwrap's `--die-with-parent`, the whole sandbox.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::engine::{self, Failure, status};

/// One spawned sandbox, owned by the SDK through an opaque pointer.
#[derive(Debug)]
pub struct Sandbox {
    child: Mutex<Child>,
    state: Mutex<State>,
    /// The three pipe ends until the SDK takes them.
    stdio: Mutex<Option<[Option<OwnedFd>; 3]>>,
    pid: u32,
    audit: PathBuf,
    /// Holds the policy and the audit file (0700, removed on free).
    _dir: tempfile::TempDir,
}

#[derive(Debug, Default)]
struct State {
    /// (exit code, timed out) once reaped.
    exit: Option<(i32, bool)>,
    killed_for_timeout: bool,
}

/// Where a spawned sandbox stands.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    pub running: bool,
    pub exit_code: i32,
    pub timed_out: bool,
}

/// Checks the request, writes it where only this user can read it, and starts cordon on it.
pub fn spawn(request: &str, lib_dir: Option<&Path>) -> Result<Sandbox, Failure> {
    engine::check_request(request)?;
    engine::sibling(lib_dir, "cordon-helper")?;
    let cordon = engine::sibling(lib_dir, "cordon")?;
    let io = |what: &str, e: std::io::Error| Failure::new(status::BACKEND_ERROR, format!("{what}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("cordon-mxc-")
        .tempdir()
        .map_err(|e| io("cannot create a private directory for the request", e))?;
    let policy = dir.path().join("policy.json");
    let audit = dir.path().join("audit.jsonl");
    std::fs::write(&policy, request).map_err(|e| io("cannot write the request", e))?;
    let mut child = Command::new(&cordon)
        .arg("run")
        .arg("--audit")
        .arg(&audit)
        .arg("--policy")
        .arg(&policy)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io(&format!("cannot start {}", cordon.display()), e))?;
    let stdin = child.stdin.take().map(OwnedFd::from);
    let stdout = child.stdout.take().map(OwnedFd::from);
    let stderr = child.stderr.take().map(OwnedFd::from);
    Ok(Sandbox {
        pid: child.id(),
        child: Mutex::new(child),
        state: Mutex::new(State::default()),
        stdio: Mutex::new(Some([stdin, stdout, stderr])),
        audit,
        _dir: dir,
    })
}

impl Sandbox {
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The pipe ends, once; `None` the second time.
    pub fn take_stdio(&self) -> Option<[Option<OwnedFd>; 3]> {
        self.stdio.lock().ok()?.take()
    }

    /// Reaps the process if it has ended.
    pub fn poll(&self) -> Result<Status, Failure> {
        let poisoned = |_| Failure::new(status::BACKEND_ERROR, "sandbox state lock poisoned");
        let mut state = self.state.lock().map_err(poisoned)?;
        if state.exit.is_none() {
            let mut child =
                self.child.lock().map_err(|_| Failure::new(status::BACKEND_ERROR, "sandbox lock poisoned"))?;
            let reaped = child
                .try_wait()
                .map_err(|e| Failure::new(status::BACKEND_ERROR, format!("waiting for the sandbox failed: {e}")))?;
            if let Some(st) = reaped {
                state.exit = Some(self.exit_of(st, state.killed_for_timeout));
            }
        }
        Ok(match state.exit {
            Some((exit_code, timed_out)) => Status { running: false, exit_code, timed_out },
            None => Status { running: true, exit_code: 0, timed_out: false },
        })
    }

    /// Blocks until the process ends (koffi runs this on its worker pool).
    pub fn wait(&self) -> Result<Status, Failure> {
        loop {
            let s = self.poll()?;
            if !s.running {
                return Ok(s);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Ends cordon, and with it the sandbox. A no-op once it has ended.
    pub fn kill(&self, for_timeout: bool) -> Result<(), Failure> {
        let mut state =
            self.state.lock().map_err(|_| Failure::new(status::BACKEND_ERROR, "sandbox state lock poisoned"))?;
        if state.exit.is_some() {
            return Ok(());
        }
        if for_timeout {
            state.killed_for_timeout = true;
        }
        let mut child = self.child.lock().map_err(|_| Failure::new(status::BACKEND_ERROR, "sandbox lock poisoned"))?;
        // Not yet reaped, so the pid is still this child's.
        match child.kill() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            Err(e) => Err(Failure::new(status::BACKEND_ERROR, format!("killing the sandbox failed: {e}"))),
        }
    }

    /// MXC's exit code: the tool's; -1 and timed out after `process.timeout` (cordon's own
    /// stop, which cordon records in the audit file, or the SDK's kill at its deadline).
    fn exit_of(&self, st: std::process::ExitStatus, killed_for_timeout: bool) -> (i32, bool) {
        if killed_for_timeout {
            return (-1, true);
        }
        match (st.code(), st.signal()) {
            (Some(124), _) if self.audit_says_timeout() => (-1, true),
            (Some(c), _) => (c, false),
            (None, Some(s)) => (128 + s, false),
            (None, None) => (-1, false),
        }
    }

    fn audit_says_timeout(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(&self.audit) else { return false };
        text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).any(|v| {
            v.get("kind").and_then(serde_json::Value::as_str) == Some("limit")
                && v.get("op").and_then(serde_json::Value::as_str) == Some("timeout")
        })
    }
}

impl Drop for Sandbox {
    /// Freeing a live sandbox kills it and reaps it, so nothing outlives the handle.
    fn drop(&mut self) {
        let _ = self.kill(false);
        let _ = self.wait();
    }
}
