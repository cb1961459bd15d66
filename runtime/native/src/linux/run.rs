//! Launching bubblewrap with a plan, streaming output, enforcing the timeout.
#![allow(unsafe_code, reason = "pre_exec joins the pids cgroup between fork and exec")]

use std::io::{Read as _, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_plan::bwrap::{BwrapPlan, DENY_DIR, DENY_FILE, DENY_OBJECT, HELPER_PATH, PROXY_HOST_SOCKET};

use crate::proxy::{Proxy, ProxyEvent};

use crate::NativeError;

/// What the tool reads on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// cordon's stdin.
    Inherit,
    /// Nothing.
    Null,
}

/// One native run.
#[derive(Debug)]
pub struct NativeRun<'a> {
    /// The plan.
    pub plan: &'a BwrapPlan,
    /// The command, argv\[0\] first (looked up on the sandbox's PATH).
    pub argv: &'a [String],
    /// cordon's own executable, bound into the sandbox as the helper.
    pub helper_exe: &'a Path,
    /// stdin.
    pub stdin: Stdio,
    /// Where the run's private scratch directory is made (the inaccessible objects, the proxy
    /// socket): a directory no grant of the policy reaches. `None`: the system's temporary
    /// directory.
    pub scratch_base: Option<&'a Path>,
}

/// How it ended.
#[derive(Debug)]
pub struct NativeOutcome {
    /// Exit code: the tool's, 128+N for signal N, 124 on timeout.
    pub code: u8,
    /// True when `process.timeout` stopped it.
    pub timed_out: bool,
    /// Output dropped at the cap.
    pub discarded_output: u64,
    /// The proxy's decisions, when the run went through it.
    pub proxy_events: Vec<ProxyEvent>,
}

/// cordon's proxy serving one run, on a unix socket in the run's scratch directory.
struct ProxyRun {
    proxy: std::sync::Arc<Proxy>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProxyRun {
    fn start(network: &cordon_policy::Network, forward: Option<String>, socket: &Path) -> Result<Self, NativeError> {
        let io = |e: std::io::Error| NativeError::Other(format!("proxy socket {}: {e}", socket.display()));
        let listener = std::os::unix::net::UnixListener::bind(socket).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let proxy = Proxy::new(network.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let p = proxy.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(io)?;
        let thread = std::thread::Builder::new()
            .name("cordon-proxy".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(l) = tokio::net::UnixListener::from_std(listener) else { return };
                    match forward {
                        Some(upstream) => tokio::select! {
                            () = crate::proxy::forward(upstream, l) => {}
                            _ = stopped => {}
                        },
                        None => tokio::select! {
                            () = crate::proxy::serve(p, l) => {}
                            _ = stopped => {}
                        },
                    }
                });
            })
            .map_err(io)?;
        Ok(Self { proxy, stop: Some(stop), thread: Some(thread) })
    }

    fn finish(mut self) -> Vec<ProxyEvent> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.proxy.events()
    }
}

/// The bwrap binary, by absolute path, or why there is none.
pub fn probe_bwrap() -> Result<PathBuf, String> {
    for p in ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"] {
        if Path::new(p).is_file() {
            return Ok(PathBuf::from(p));
        }
    }
    Err("bwrap not found in /usr/bin, /usr/local/bin or /bin (install bubblewrap)".into())
}

/// Private scratch for the inaccessible objects; removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(base: Option<&Path>) -> Result<Self, NativeError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = base.join(format!("cordon-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let io = |e: std::io::Error| NativeError::Other(format!("scratch dir {}: {e}", dir.display()));
        std::fs::create_dir(&dir).map_err(io)?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        std::fs::create_dir(dir.join("deny-dir")).map_err(io)?;
        std::fs::write(dir.join("deny-file"), b"").map_err(io)?;
        for p in ["deny-dir", "deny-file"] {
            std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(0o000)).map_err(io)?;
        }
        Ok(Self { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// bwrap's options as NUL-separated words in a memfd, for `bwrap --args FD`.
/// Closed (in cordon) when dropped; the helper closes every inherited descriptor.
struct ArgsFd {
    fd: std::os::fd::RawFd,
    _owned: std::os::fd::OwnedFd,
}

impl ArgsFd {
    fn new(args: &[String]) -> Result<Self, NativeError> {
        use std::os::fd::{AsRawFd as _, FromRawFd as _};
        let io = |e: std::io::Error| NativeError::Other(format!("bwrap options memfd: {e}"));
        // SAFETY: memfd_create takes a NUL-terminated name and flags; the result is checked.
        let raw = unsafe { libc::memfd_create(c"cordon-bwrap-args".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor owned by nothing else.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let mut file = std::fs::File::from(owned);
        let mut buf = Vec::new();
        for a in args {
            if a.as_bytes().contains(&0) {
                return Err(NativeError::Other(format!("a bwrap option contains a NUL byte: {a:?}")));
            }
            buf.extend_from_slice(a.as_bytes());
            buf.push(0);
        }
        file.write_all(&buf).map_err(io)?;
        use std::io::Seek as _;
        file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        let owned = std::os::fd::OwnedFd::from(file);
        Ok(Self { fd: owned.as_raw_fd(), _owned: owned })
    }

    /// Lets the descriptor survive bwrap's exec (it is close-on-exec for every other child).
    fn inherit_at_exec(&self, cmd: &mut Command) {
        let fd = self.fd;
        // SAFETY: fcntl is async-signal-safe; the descriptor stays open until after spawn.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// A pids cgroup for `maxProcesses`, removed when dropped.
pub(crate) struct PidsCgroup {
    dir: PathBuf,
    procs: std::ffi::CString,
}

impl PidsCgroup {
    pub(crate) fn new(max: u64) -> Result<Self, NativeError> {
        let unavailable = |why: String| NativeError::Unenforceable {
            rule: "/cordon/limits/maxProcesses".into(),
            why: format!("needs a pids cgroup cordon can create ({why}); remove the limit or run as wasm"),
        };
        let roots = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"];
        let root = roots
            .iter()
            .map(Path::new)
            .find(|r| r.join("cgroup.procs").exists() && (r.ends_with("pids") || r.join("cgroup.controllers").exists()))
            .ok_or_else(|| unavailable("no pids controller mounted".into()))?;
        let dir = root.join(format!("cordon-{}-{}", std::process::id(), Instant::now().elapsed().as_nanos()));
        std::fs::create_dir(&dir).map_err(|e| unavailable(e.to_string()))?;
        if let Err(e) = std::fs::write(dir.join("pids.max"), max.to_string()) {
            let _ = std::fs::remove_dir(&dir);
            return Err(unavailable(e.to_string()));
        }
        let procs = std::ffi::CString::new(dir.join("cgroup.procs").to_string_lossy().into_owned())
            .map_err(|e| NativeError::Other(e.to_string()))?;
        Ok(Self { dir, procs })
    }
}

impl PidsCgroup {
    /// Makes `cmd`'s process join the cgroup between fork and exec (and, with `new_session`,
    /// lead a new session first), so it and everything it starts are counted and killable.
    pub(crate) fn join_at_exec(&self, cmd: &mut Command, new_session: bool) {
        let procs = self.procs.clone();
        // SAFETY: between fork and exec only async-signal-safe calls are made (setsid, open,
        // write, close) on a path prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if new_session {
                    libc::setsid();
                }
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
                if ok { Ok(()) } else { Err(std::io::Error::last_os_error()) }
            });
        }
    }

    /// Kills every process in the cgroup (and keeps at it while new ones appear).
    pub(crate) fn kill_all(&self) {
        for _ in 0..100 {
            let pids = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            let pids: Vec<i32> = pids.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: kill takes integers; the pids are this run's own processes.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Runs the command under the plan; stdout and stderr are passed through live, capped.
///
/// # Errors
/// [`NativeError::Unavailable`] without bwrap; [`NativeError::Unenforceable`] when a grant is
/// missing, a denied path does not exist inside a writable grant, or `maxProcesses` cannot be
/// enforced; [`NativeError::Spawn`] when bwrap does not start.
pub fn run(req: NativeRun<'_>) -> Result<NativeOutcome, NativeError> {
    let NativeRun { plan, argv, helper_exe, stdin, scratch_base } = req;
    let bwrap = probe_bwrap().map_err(|why| NativeError::Unavailable { backend: "bubblewrap", why })?;
    check_granted(&plan.granted)?;
    let scratch = Scratch::new(scratch_base)?;
    let mut args: Vec<String> = Vec::with_capacity(plan.args.len() + 8);
    let mut denied = plan.denied.iter();
    let mut skip_next = 0;
    for (i, a) in plan.args.iter().enumerate() {
        if skip_next > 0 {
            skip_next -= 1;
            continue;
        }
        match a.as_str() {
            DENY_OBJECT => {
                let Some((path, rule)) = denied.next() else {
                    return Err(NativeError::Other("plan: deny list out of step".into()));
                };
                match std::fs::metadata(path) {
                    Ok(m) => args.push(
                        scratch
                            .dir
                            .join(if m.is_dir() { "deny-dir" } else { "deny-file" })
                            .to_string_lossy()
                            .into_owned(),
                    ),
                    Err(_) => {
                        let writable_parent =
                            path.ancestors().skip(1).find(|p| plan.granted.iter().any(|(g, _)| g == *p)).is_some()
                                && plan.args.windows(3).any(|w| w[0] == "--bind" && path.starts_with(&w[2]));
                        if writable_parent {
                            return Err(NativeError::Unenforceable {
                                rule: rule.clone(),
                                why: format!(
                                    "{} does not exist inside a writable grant; bubblewrap cannot keep it from being created. Create it first, or run the tool as wasm",
                                    path.display()
                                ),
                            });
                        }
                        // Not there and cannot be created: nothing to cover. Drop `--ro-bind` and the destination.
                        args.pop();
                        skip_next = 1;
                    }
                }
            }
            DENY_DIR => args.push(scratch.dir.join("deny-dir").to_string_lossy().into_owned()),
            DENY_FILE => args.push(scratch.dir.join("deny-file").to_string_lossy().into_owned()),
            "{HELPER}" => args.push(helper_exe.to_string_lossy().into_owned()),
            PROXY_HOST_SOCKET => args.push(scratch.dir.join("proxy.sock").to_string_lossy().into_owned()),
            _ => args.push(a.clone()),
        }
        let _ = i;
    }
    for name in &plan.inherit_env {
        if let Ok(v) = std::env::var(name) {
            args.extend(["--setenv".into(), name.clone(), v]);
        }
    }
    // Unix sockets: creating one is refused unless a read-write grant the plan lists is a
    // socket file (then it is visible, and connecting to it is what the grant means).
    let mut helper = plan.helper.clone();
    let is_socket = |p: &Path| {
        use std::os::unix::fs::FileTypeExt as _;
        std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
    };
    if helper.seccomp.sockets.settle(is_socket) {
        helper.scope_abstract_unix = true;
    }
    let helper_json = serde_json::to_string(&helper).map_err(|e| NativeError::Other(e.to_string()))?;
    let cgroup = plan.helper.limits.max_processes.map(PidsCgroup::new).transpose()?;
    let proxy = match &plan.helper.relay {
        Some(r) => Some(ProxyRun::start(&plan.network, r.forward.clone(), &scratch.dir.join("proxy.sock"))?),
        None => None,
    };

    // bwrap's own options, env values among them, reach it through a memfd (`--args FD`):
    // a command line is readable by every local user in /proc/PID/cmdline, a memfd is not.
    let options = ArgsFd::new(&args)?;
    let mut cmd = Command::new(&bwrap);
    cmd.arg("--args").arg(options.fd.to_string());
    cmd.arg("--").arg(HELPER_PATH).arg("__cordon-helper").arg(&helper_json).arg("--").args(argv);
    options.inherit_at_exec(&mut cmd);
    cmd.env_clear();
    cmd.stdin(match stdin {
        Stdio::Inherit => std::process::Stdio::inherit(),
        Stdio::Null => std::process::Stdio::null(),
    });
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    if let Some(cg) = &cgroup {
        cg.join_at_exec(&mut cmd, false);
    }
    let mut child = cmd.spawn().map_err(|source| NativeError::Spawn { what: bwrap.display().to_string(), source })?;

    let (code, timed_out, discarded) = supervise(
        &mut child,
        plan.timeout,
        plan.max_output_bytes,
        // bwrap's child dies with it (--die-with-parent), and with the pid namespace's first
        // process every other process of the tool, background ones included.
        &kill_pid,
        &|| {},
    )?;
    drop(cgroup);
    let proxy_events = proxy.map(ProxyRun::finish).unwrap_or_default();
    drop(scratch);
    Ok(NativeOutcome { code, timed_out, discarded_output: discarded, proxy_events })
}

/// What this host offers the Linux backends.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// bwrap's path and version, or why it is missing.
    pub bwrap: Result<(PathBuf, String), String>,
    /// Whether a bwrap sandbox with a user namespace starts.
    pub user_namespaces: bool,
    /// The landlock ABI version, when the kernel has landlock.
    pub landlock_abi: Option<i64>,
    /// Whether the kernel filters syscalls with seccomp.
    pub seccomp: bool,
    /// Whether a pids cgroup can be created (for `maxProcesses`).
    pub pids_cgroup: bool,
}

/// Probes the host.
pub fn probe_host() -> HostFacts {
    let bwrap = probe_bwrap().and_then(|p| {
        let v = Command::new(&p).arg("--version").output().map_err(|e| e.to_string())?;
        Ok((p, String::from_utf8_lossy(&v.stdout).trim().to_string()))
    });
    let user_namespaces = bwrap.as_ref().is_ok_and(|(p, _)| {
        Command::new(p)
            .args(["--unshare-all", "--unshare-user", "--ro-bind", "/", "/", "--", "/bin/true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns
    // the ABI version; no memory is passed.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    let seccomp = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:"));
    let pids_cgroup = PidsCgroup::new(1_000_000).is_ok();
    HostFacts { bwrap, user_namespaces, landlock_abi: (abi > 0).then_some(abi), seccomp, pids_cgroup }
}

fn kill_pid(pid: u32) {
    // SAFETY: kill takes integers; `pid` is our own child, not yet reaped (the waiter thread
    // reaps it only after it dies).
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

/// Every granted host path must exist: a missing grant is a policy error, not a surprise.
pub(crate) fn check_granted(granted: &[(PathBuf, String)]) -> Result<(), NativeError> {
    match granted.iter().find(|(host, _)| std::fs::symlink_metadata(host).is_err()) {
        Some((host, rule)) => Err(NativeError::Unenforceable {
            rule: rule.clone(),
            why: format!("cannot grant {}: it does not exist; create it or remove it from the policy", host.display()),
        }),
        None => Ok(()),
    }
}

/// Streams the child's output through the cap, waits for it with the timeout, and returns
/// (exit code, timed out, bytes discarded). `on_timeout` gets the first process's pid and
/// must kill every process of the tool;
/// `after_exit` runs once the tool's first process has ended (before its output is drained),
/// to stop what it left running.
pub(crate) fn supervise(
    child: &mut Child,
    timeout: Option<Duration>,
    max_output: Option<u64>,
    on_timeout: &dyn Fn(u32),
    after_exit: &dyn Fn(),
) -> Result<(u8, bool, u64), NativeError> {
    let budget = Arc::new(Mutex::new((max_output, 0u64, 0u64))); // (limit, used, discarded)
    let pump =
        |mut from: Box<dyn std::io::Read + Send>, to_stdout: bool, budget: Arc<Mutex<(Option<u64>, u64, u64)>>| {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let pass = {
                        let mut b = budget.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let allowed = match b.0 {
                            None => n as u64,
                            Some(limit) => (n as u64).min(limit.saturating_sub(b.1)),
                        };
                        b.1 += allowed;
                        b.2 += n as u64 - allowed;
                        allowed as usize
                    };
                    if pass > 0 {
                        let r = if to_stdout {
                            let mut o = std::io::stdout().lock();
                            o.write_all(&buf[..pass]).and_then(|()| o.flush())
                        } else {
                            let mut o = std::io::stderr().lock();
                            o.write_all(&buf[..pass]).and_then(|()| o.flush())
                        };
                        if r.is_err() {
                            break;
                        }
                    }
                }
            })
        };
    let out_thread = child.stdout.take().map(|s| pump(Box::new(s), true, budget.clone()));
    let err_thread = child.stderr.take().map(|s| pump(Box::new(s), false, budget.clone()));

    // A waiter thread blocks in wait(); this thread sleeps until it reports or the deadline
    // passes (no polling: a tool that ends at once is reaped at once).
    let pid = child.id();
    let mut timed_out = false;
    let status = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(child.wait());
        });
        let first = match timeout {
            Some(t) => rx.recv_timeout(t).ok(),
            None => rx.recv().ok(),
        };
        let waited = match first {
            Some(r) => r,
            None => {
                on_timeout(pid);
                timed_out = true;
                rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("waiter thread ended")))
            }
        };
        waited.map_err(|e| NativeError::Other(format!("waiting for the tool: {e}")))
    })?;
    after_exit();
    for t in [out_thread, err_thread].into_iter().flatten() {
        let _ = t.join();
    }
    let code = if timed_out {
        124
    } else {
        match (status.code(), status.signal()) {
            (Some(c), _) => (c & 0xff) as u8,
            (None, Some(sig)) => (128 + sig) as u8,
            (None, None) => 1,
        }
    };
    let discarded = budget.lock().map(|b| b.2).unwrap_or(0);
    Ok((code, timed_out, discarded))
}
