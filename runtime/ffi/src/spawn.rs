//! `mxc_spawn_json`: a live sandboxed process whose stdin, stdout and stderr are pipes the
//! SDK turns into Node streams. The process is `cordon run --policy FILE` (the `cordon`
//! binary beside the library), so output streams as the tool writes it and a kill ends
//! cordon and, through bwrap's `--die-with-parent`, the whole sandbox.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::engine::{self, Failure, status};

/// One spawned sandbox, owned by the SDK through an opaque pointer.
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    /// The three pipe ends until the SDK takes them.
    stdio: Mutex<Option<[Option<OwnedFd>; 3]>>,
    pid: u32,
    /// Holds the request cordon reads (0700, removed on free).
    _dir: tempfile::TempDir,
}

/// What the SDK's calls and the timeout watchdog share.
#[derive(Debug)]
struct Shared {
    child: Mutex<Child>,
    state: Mutex<State>,
    /// `process.timeout` from the start, if any.
    deadline: Option<Instant>,
}

/// How long after `process.timeout` the child's own stop backs the library's up.
const BACKSTOP_MS: u64 = 1000;

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

/// Checks and plans the request in process (so a refusal is an MXC error, not a process
/// exiting 125), writes it where only this user (and no tool) can read it, and starts
/// `cordon run` on it. `process.timeout` is enforced here: the library kills at the deadline
/// and so knows the exit was a timeout (an exit status of 124 could be the tool's own). The
/// child keeps a backstop a second later, so a sandbox whose embedding program died (and
/// its watchdog with it) still stops.
pub fn spawn(request: &str, lib_dir: Option<&Path>) -> Result<Sandbox, Failure> {
    let policy = engine::check_request(request)?;
    let helper = engine::sibling(lib_dir, "cordon-helper")?;
    let cordon = engine::sibling(lib_dir, "cordon")?;
    engine::plan(&policy, helper)?;
    let mut value: serde_json::Value = serde_json::from_str(request)
        .map_err(|e| Failure::new(status::MALFORMED, format!("Configuration parse error: {e}")))?;
    let timeout_ms = value.pointer("/process/timeout").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if timeout_ms > 0
        && let Some(t) = value.pointer_mut("/process/timeout")
    {
        *t = serde_json::Value::from(timeout_ms.saturating_add(BACKSTOP_MS));
    }
    let io = |what: &str, e: std::io::Error| Failure::new(status::BACKEND_ERROR, format!("{what}: {e}"));
    let dir = match private_base() {
        Some(base) => tempfile::Builder::new().prefix("spawn-").tempdir_in(base),
        None => tempfile::Builder::new().prefix("cordon-mxc-").tempdir(),
    }
    .map_err(|e| io("cannot create a private directory for the request", e))?;
    let file = dir.path().join("policy.json");
    std::fs::write(&file, value.to_string()).map_err(|e| io("cannot write the request", e))?;
    let mut child = Command::new(&cordon)
        .arg("run")
        .arg("--policy")
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io(&format!("cannot start {}", cordon.display()), e))?;
    let stdin = child.stdin.take().map(OwnedFd::from);
    let stdout = child.stdout.take().map(OwnedFd::from);
    let stderr = child.stderr.take().map(OwnedFd::from);
    let pid = child.id();
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    let shared = Arc::new(Shared { child: Mutex::new(child), state: Mutex::new(State::default()), deadline });
    if let Some(deadline) = deadline {
        let watched = Arc::downgrade(&shared);
        std::thread::spawn(move || watchdog(&watched, deadline));
    }
    Ok(Sandbox { shared, stdio: Mutex::new(Some([stdin, stdout, stderr])), pid, _dir: dir })
}

/// Kills the sandbox at `deadline` unless it has ended (or been freed) by then.
fn watchdog(watched: &Weak<Shared>, deadline: Instant) {
    loop {
        let Some(shared) = watched.upgrade() else { return };
        if shared.poll().map_or(true, |s| !s.running) {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = shared.kill(true);
            return;
        }
        drop(shared);
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

/// `mxc/` inside cordon's compiled-code cache directory, which cordon keeps out of every
/// grant: no tool can read the request there. Without a usable cache, the system's
/// temporary directory (a 0700 directory of its own).
fn private_base() -> Option<PathBuf> {
    let cache = cordon_runtime::wasm::Cache::open_ambient(&cordon_runtime::wasm::Cache::default_dir()?).ok()?;
    let base = cache.dir().join("mxc");
    let mut b = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    match b.create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    std::fs::symlink_metadata(&base).is_ok_and(|m| m.is_dir()).then_some(base)
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
        self.shared.poll()
    }

    /// Blocks until the process ends (koffi runs this on its worker pool).
    pub fn wait(&self) -> Result<Status, Failure> {
        loop {
            let s = self.poll()?;
            if !s.running {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ends cordon, and with it the sandbox. A no-op once it has ended.
    pub fn kill(&self, for_timeout: bool) -> Result<(), Failure> {
        self.shared.kill(for_timeout)
    }
}

fn poisoned<T>(_: T) -> Failure {
    Failure::new(status::BACKEND_ERROR, "sandbox lock poisoned")
}

impl Shared {
    fn poll(&self) -> Result<Status, Failure> {
        let mut state = self.state.lock().map_err(poisoned)?;
        if state.exit.is_none() {
            let mut child = self.child.lock().map_err(poisoned)?;
            let reaped = child
                .try_wait()
                .map_err(|e| Failure::new(status::BACKEND_ERROR, format!("waiting for the sandbox failed: {e}")))?;
            if let Some(st) = reaped {
                let late = self.deadline.is_some_and(|d| Instant::now() >= d);
                state.exit = Some(exit_of(st, state.killed_for_timeout, late));
            }
        }
        Ok(match state.exit {
            Some((exit_code, timed_out)) => Status { running: false, exit_code, timed_out },
            None => Status { running: true, exit_code: 0, timed_out: false },
        })
    }

    fn kill(&self, for_timeout: bool) -> Result<(), Failure> {
        let mut state = self.state.lock().map_err(poisoned)?;
        if state.exit.is_some() {
            return Ok(());
        }
        if for_timeout {
            state.killed_for_timeout = true;
        }
        let mut child = self.child.lock().map_err(poisoned)?;
        // Not yet reaped, so the pid is still this child's.
        match child.kill() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            Err(e) => Err(Failure::new(status::BACKEND_ERROR, format!("killing the sandbox failed: {e}"))),
        }
    }
}

/// MXC's exit code: the tool's (cordon exits with it; 128+N for a signal); -1 and timed out
/// after a kill at the deadline, or when cordon's backstop stopped it (124 past the deadline).
fn exit_of(st: std::process::ExitStatus, killed_for_timeout: bool, past_deadline: bool) -> (i32, bool) {
    if killed_for_timeout {
        return (-1, true);
    }
    match (st.code(), st.signal()) {
        (Some(124), _) if past_deadline => (-1, true),
        (Some(c), _) => (c, false),
        (None, Some(s)) => (128 + s, false),
        (None, None) => (-1, false),
    }
}

impl Drop for Sandbox {
    /// Freeing a live sandbox kills it and reaps it, so nothing outlives the handle.
    fn drop(&mut self) {
        let _ = self.kill(false);
        let _ = self.wait();
    }
}
