//! Launching bubblewrap with a plan, streaming output, enforcing the timeout.
#![allow(unsafe_code, reason = "pre_exec joins the pids cgroup between fork and exec")]

use std::io::{Read as _, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_plan::bwrap::{BwrapPlan, HELPER_PATH, Source};

use super::cgroup::{RunCgroup, Supervisor, TreeStop};
use crate::proxy::{Proxy, ProxyEvent};

use crate::NativeError;

/// What the tool reads on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdio {
    /// cordon's stdin.
    Inherit,
    /// Nothing.
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
}

impl Stdio {
    /// The child's stdin for this choice.
    pub(crate) fn child(&self) -> std::process::Stdio {
        match self {
            Stdio::Inherit => std::process::Stdio::inherit(),
            Stdio::Null => std::process::Stdio::null(),
            Stdio::Bytes(_) => std::process::Stdio::piped(),
        }
    }

    /// Feeds the bytes, if any, to the child's stdin from a thread (a tool that does not
    /// read them does not block the run).
    pub(crate) fn feed(self, child: &mut Child) {
        if let (Stdio::Bytes(bytes), Some(mut pipe)) = (self, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
    }
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
    /// Keep stdout and stderr in [`NativeOutcome`] (under the output cap) instead of writing
    /// them through to cordon's own.
    pub capture: bool,
    /// Where the run's private scratch directory is made (the inaccessible objects, the proxy
    /// socket): a directory no grant of the policy reaches. `None`: the system's temporary
    /// directory.
    pub scratch_base: Option<&'a Path>,
}

/// How it ended.
#[derive(Debug)]
pub struct NativeOutcome {
    /// Exit code: the tool's, 128+N for signal N, 124 on timeout, 152 when the whole
    /// tree used up `cpuMs`, 137 when the kernel killed a process of it at `memoryBytes`.
    pub code: u8,
    /// True when `process.timeout` stopped it.
    pub timed_out: bool,
    /// True when the whole tree's CPU time passed `cpuMs` and cordon stopped it.
    pub cpu_limited: bool,
    /// True when a process of the tree was killed at `memoryBytes` and cordon stopped the rest.
    pub memory_limited: bool,
    /// Output dropped at the cap.
    pub discarded_output: u64,
    /// The proxy's decisions, when the run went through it.
    pub proxy_events: Vec<ProxyEvent>,
    /// The signal that ended the tool's first process, if one did.
    pub signal: Option<i32>,
    /// CPU time (user + system) of the whole process tree, from the run's cgroup; `None`
    /// when the run had none (bubblewrap without tree limits).
    pub cpu: Option<Duration>,
    /// What was started, as it was started, with env values masked: bwrap's options (the
    /// bubblewrap backend), for `--debug` and for comparing with `--dry-run`.
    pub executed: Vec<String>,
    /// The tool's stdout, when captured.
    pub stdout: Vec<u8>,
    /// The tool's stderr, when captured.
    pub stderr: Vec<u8>,
}

/// cordon's proxy serving one run, on a unix socket in the run's scratch directory.
struct ProxyRun {
    proxy: std::sync::Arc<Proxy>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProxyRun {
    fn start(
        network: &cordon_policy::Network,
        forward: Option<String>,
        socket: &Path,
        expect_log: bool,
        handoff: bool,
    ) -> Result<Self, NativeError> {
        let io = |e: std::io::Error| NativeError::Other(format!("proxy socket {}: {e}", socket.display()));
        let listener = std::os::unix::net::UnixListener::bind(socket).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let proxy = Proxy::for_capture(network.clone(), expect_log, handoff);
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
        self.proxy.record_refusals();
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
    fn new(base: Option<&Path>, name: &str) -> Result<Self, NativeError> {
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        super::cgroup::sweep_scratch(&base);
        let dir = base.join(name);
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
        super::cgroup::remove_scratch(&self.dir);
    }
}

/// Lets `fds` survive bwrap's exec (they are close-on-exec for every other child).
fn inherit_fds_at_exec(cmd: &mut Command, fds: Vec<std::os::fd::RawFd>) {
    // SAFETY: fcntl is async-signal-safe; the descriptors stay open until after spawn.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
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

/// Makes `cmd`'s process write itself into each of `procs` (the run's `cgroup.procs`
/// files) between fork and exec (and, with `new_session`, lead a new session first), so it
/// and everything it starts are counted and killable. A failed join fails the spawn: the
/// tool never runs outside its cgroup.
pub(crate) fn join_at_exec(cmd: &mut Command, procs: &[PathBuf], new_session: bool) -> Result<(), NativeError> {
    let procs: Vec<std::ffi::CString> = procs
        .iter()
        .map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|e| NativeError::Other(format!("cgroup path: {e}")))?;
    // SAFETY: between fork and exec only async-signal-safe calls are made (setsid, open,
    // write, close) on paths prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if new_session {
                libc::setsid();
            }
            for p in &procs {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if !ok {
                    return Err(err);
                }
            }
            Ok(())
        });
    }
    Ok(())
}

/// Puts `cmd`'s process in a process group of its own and makes it ignore SIGINT, SIGTERM
/// and SIGHUP (the dispositions survive exec): a Ctrl-C or hangup that ends cordon does not
/// end the supervisor that cleans up after it.
pub(crate) fn detach_at_exec(cmd: &mut Command) {
    // SAFETY: setpgid and signal are async-signal-safe and take integers.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_IGN);
            }
            Ok(())
        });
    }
}

/// Runs the command under the plan; stdout and stderr are passed through live, capped.
///
/// # Errors
/// [`NativeError::Unavailable`] without bwrap; [`NativeError::Unenforceable`] when a grant is
/// missing, a denied path does not exist inside a writable grant, or `maxProcesses` cannot be
/// enforced; [`NativeError::Spawn`] when bwrap does not start.
pub fn run(req: NativeRun<'_>) -> Result<NativeOutcome, NativeError> {
    let NativeRun { plan, argv, helper_exe, stdin, capture, scratch_base } = req;
    let bwrap = probe_bwrap().map_err(|why| NativeError::Unavailable { backend: "bubblewrap", why })?;
    let name = super::cgroup::run_name();
    let scratch = Scratch::new(scratch_base, &name)?;
    // Grants opened without following links, bound by descriptor; open until bwrap starts.
    let mut pins: Vec<std::os::fd::OwnedFd> = Vec::new();
    let mut args = plan.argv(|src| {
        Ok::<_, NativeError>(match src {
            Source::System(p) => p.to_string_lossy().into_owned(),
            Source::Pinned(host) => {
                let fd = super::pin::open_pinned(host).map_err(|why| NativeError::Unenforceable {
                    rule: "/filesystem".into(),
                    why: format!(
                        "{} cannot be opened without following links ({why}): it changed since the policy was loaded; run again, or grant the real path",
                        host.display()
                    ),
                })?;
                let n = std::os::fd::AsRawFd::as_raw_fd(&fd).to_string();
                pins.push(fd);
                n
            }
            Source::DenyDir => scratch.dir.join("deny-dir").to_string_lossy().into_owned(),
            Source::DenyFile => scratch.dir.join("deny-file").to_string_lossy().into_owned(),
            Source::Helper => helper_exe.to_string_lossy().into_owned(),
            Source::ProxySocket => scratch.dir.join("proxy.sock").to_string_lossy().into_owned(),
            Source::Resolver => {
                let p = scratch.dir.join("resolv.conf");
                std::fs::write(&p, "nameserver 127.0.0.1\noptions attempts:1 timeout:5\n")
                    .map_err(|e| NativeError::Other(format!("{}: {e}", p.display())))?;
                p.to_string_lossy().into_owned()
            }
        })
    })?;
    let executed = cordon_plan::bwrap::mask_env_values(&args);
    for (k, v) in crate::inherited(&plan.process) {
        args.extend(["--setenv".into(), k, v]);
    }
    let helper = &plan.helper;
    let helper_json = serde_json::to_string(&helper).map_err(|e| NativeError::Other(e.to_string()))?;
    let cgroup = RunCgroup::create(&plan.tree, &name)?;
    // Whatever ends cordon, the supervisor removes the cgroup and the scratch directory
    // (bwrap's --die-with-parent already ends the sandbox with cordon).
    let supervisor = Supervisor::start(helper_exe, cgroup.as_ref(), Some(&scratch.dir))?;
    let proxy = match &plan.helper.relay {
        Some(r) => {
            let log = r.capture.as_ref().is_some_and(|c| c.log_group != 0);
            let handoff = r.capture.as_ref().is_some_and(|c| c.handoff);
            Some(ProxyRun::start(&plan.network, r.forward.clone(), &scratch.dir.join("proxy.sock"), log, handoff)?)
        }
        None => None,
    };

    // bwrap's own options, env values among them, reach it through a memfd (`--args FD`):
    // a command line is readable by every local user in /proc/PID/cmdline, a memfd is not.
    let options = ArgsFd::new(&args)?;
    let mut cmd = Command::new(&bwrap);
    cmd.arg("--args").arg(options.fd.to_string());
    cmd.arg("--").arg(HELPER_PATH).arg("__cordon-helper").arg(&helper_json).arg("--").args(argv);
    options.inherit_at_exec(&mut cmd);
    inherit_fds_at_exec(&mut cmd, pins.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect());
    cmd.env_clear();
    cmd.stdin(stdin.child());
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    if let Some(cg) = &cgroup {
        join_at_exec(&mut cmd, &cg.procs_files(), false)?;
    }
    let mut child = cmd.spawn().map_err(|source| NativeError::Spawn { what: bwrap.display().to_string(), source })?;
    stdin.feed(&mut child);

    let watch = || cgroup.as_ref().and_then(RunCgroup::limit_hit);
    let ended = supervise(Supervise {
        child: &mut child,
        timeout: plan.process.timeout,
        max_output: plan.process.max_output_bytes,
        // bwrap's child dies with it (--die-with-parent), and with the pid namespace's first
        // process every other process of the tool, background ones included; the cgroup,
        // when there is one, is killed whole as well.
        stop: &|pid| {
            kill_pid(pid);
            if let Some(cg) = &cgroup {
                cg.kill_all();
            }
        },
        after_exit: &|| {},
        watch: cgroup.is_some().then_some(&watch as &dyn Fn() -> Option<TreeStop>),
        capture,
    })?;
    let cpu = cgroup.as_ref().and_then(RunCgroup::cpu_total);
    drop(cgroup);
    let proxy_events = proxy.map(ProxyRun::finish).unwrap_or_default();
    drop(scratch);
    drop(supervisor);
    let mut out = ended.outcome(proxy_events);
    out.executed = executed;
    out.cpu = cpu;
    Ok(out)
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
    /// Whether a cgroup with every controller the tree limits need (memory, pids, CPU time)
    /// can be created, or why not.
    pub tree_cgroup: Result<(), String>,
    /// Whether a cgroup (without controllers) can hold a run's processes (the landlock
    /// backend needs one to find every process of the tool).
    pub track_cgroup: bool,
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
    let tree_cgroup = super::cgroup::probe(true);
    let track_cgroup = super::cgroup::probe(false).is_ok();
    HostFacts { bwrap, user_namespaces, landlock_abi: (abi > 0).then_some(abi), seccomp, tree_cgroup, track_cgroup }
}

/// SIGKILL to `pid`: cordon's own child, not yet reaped (the waiter thread reaps it only
/// after it dies), or a process listed in the run's cgroup.
pub(crate) fn kill_pid(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill takes integers; a positive pid names one process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// What [`supervise`] watches.
pub(crate) struct Supervise<'a> {
    /// The tool's first process (bwrap, or the helper).
    pub child: &'a mut Child,
    /// `process.timeout`.
    pub timeout: Option<Duration>,
    /// `maxOutputBytes`.
    pub max_output: Option<u64>,
    /// Gets the first process's pid; must kill every process of the tool.
    pub stop: &'a dyn Fn(u32),
    /// Runs once the first process has ended (before its output is drained), to stop what
    /// it left running.
    pub after_exit: &'a dyn Fn(),
    /// Asked every [`TICK`] while the tool runs, and once after: `Some` is a limit of the
    /// whole tree passed, and the tool is stopped.
    pub watch: Option<&'a dyn Fn() -> Option<TreeStop>>,
    /// Keep the output (under the cap) instead of writing it through.
    pub capture: bool,
}

/// How often the tree's limits are checked.
const TICK: Duration = Duration::from_millis(10);

/// How a supervised run ended.
pub(crate) struct Ended {
    status: std::process::ExitStatus,
    timed_out: bool,
    tree: Option<TreeStop>,
    discarded: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Ended {
    /// The exit code: 124 after the timeout, 152 when the tree's CPU time ran out, 137
    /// (SIGKILL, what the kernel's OOM killer sends) when a process of it was killed at the
    /// memory limit; else the tool's own, 128+N for signal N.
    pub(crate) fn outcome(self, proxy_events: Vec<ProxyEvent>) -> NativeOutcome {
        let Self { status, timed_out, tree, discarded, stdout, stderr } = self;
        let code = match (timed_out, tree) {
            (true, _) => 124,
            (false, Some(TreeStop::Cpu)) => 152,
            (false, Some(TreeStop::Memory)) => 137,
            (false, None) => match (status.code(), status.signal()) {
                (Some(c), _) => (c & 0xff) as u8,
                (None, Some(sig)) => (128 + sig) as u8,
                (None, None) => 1,
            },
        };
        NativeOutcome {
            code,
            timed_out,
            cpu_limited: tree == Some(TreeStop::Cpu),
            memory_limited: tree == Some(TreeStop::Memory),
            discarded_output: discarded,
            proxy_events,
            executed: Vec::new(),
            signal: status.signal(),
            cpu: None,
            stdout,
            stderr,
        }
    }
}

/// Streams the child's output through the cap and waits for it under the timeout and the
/// tree's limits.
pub(crate) fn supervise(req: Supervise<'_>) -> Result<Ended, NativeError> {
    let Supervise { child, timeout, max_output, stop, after_exit, watch, capture } = req;
    let budget = Arc::new(Mutex::new((max_output, 0u64, 0u64))); // (limit, used, discarded)
    let kept: [Arc<Mutex<Vec<u8>>>; 2] = Default::default();
    let pump =
        |mut from: Box<dyn std::io::Read + Send>, to_stdout: bool, budget: Arc<Mutex<(Option<u64>, u64, u64)>>| {
            let keep = capture.then(|| kept[usize::from(!to_stdout)].clone());
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
                        let r = if let Some(k) = &keep {
                            k.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(&buf[..pass]);
                            Ok(())
                        } else if to_stdout {
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
    let mut tree = None;
    let deadline = timeout.map(|t| Instant::now() + t);
    let status = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(child.wait());
        });
        // Sleeps until the waiter reports, the deadline passes, or (with a watch) the next
        // tick: a tool that ends at once is reaped at once.
        let waited = loop {
            let until_deadline = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let wait = match (until_deadline, watch.is_some()) {
                (Some(d), true) => Some(d.min(TICK)),
                (Some(d), false) => Some(d),
                (None, true) => Some(TICK),
                (None, false) => None,
            };
            let got = match wait {
                Some(w) => match rx.recv_timeout(w) {
                    Ok(r) => Some(r),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        break Err(std::io::Error::other("waiter thread ended"));
                    }
                },
                None => Some(rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("waiter thread ended")))),
            };
            if let Some(r) = got {
                break r;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                timed_out = true;
            } else if let Some(hit) = watch.and_then(|w| w()) {
                tree = Some(hit);
            } else {
                continue;
            }
            stop(pid);
            break rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("waiter thread ended")));
        };
        waited.map_err(|e| NativeError::Other(format!("waiting for the tool: {e}")))
    })?;
    after_exit();
    // A limit passed between the last tick and the end (a child killed at the memory limit
    // whose parent then exited, the last milliseconds of CPU) is still a limit passed.
    if !timed_out && tree.is_none() {
        tree = watch.and_then(|w| w());
    }
    for t in [out_thread, err_thread].into_iter().flatten() {
        let _ = t.join();
    }
    let discarded = budget.lock().map(|b| b.2).unwrap_or(0);
    let [stdout, stderr] =
        kept.map(|k| std::mem::take(&mut *k.lock().unwrap_or_else(std::sync::PoisonError::into_inner)));
    Ok(Ended { status, timed_out, tree, discarded, stdout, stderr })
}
