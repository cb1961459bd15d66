//! Dispatch: wasm first, native fallback. The CLI and the library both come through here.

use std::path::{Path, PathBuf};

use cordon_plan::{Backend, Plan};
use cordon_policy::{Containment, Policy};

use crate::RuntimeError;
use crate::wasm::{self, Stdin, Target};

/// A callback for what cordon says while a run is under way (a slow first compile, a cache
/// it cannot use). The CLI prints each line on stderr; the library stays silent without one.
pub type Notify = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cause {
    /// Nothing ran: a dry run.
    #[default]
    NotRun,
    /// The tool exited by itself with this status.
    Exited(u8),
    /// A signal ended it (native tools).
    Signal(i32),
    /// cordon stopped it at `process.timeout`.
    Timeout,
    /// cordon stopped it at `cordon.limits.cpuMs`.
    Cpu,
    /// A process of it was killed at `cordon.limits.memoryBytes` (native tools; a wasm
    /// tool is refused the growth instead, see [`crate::summary::RunSummary::memory`]).
    Memory,
    /// The wasm tool trapped: the trap's message.
    Trap(String),
}

/// How a run went. The library returns it; the CLI prints it (`cli/run.rs`).
#[derive(Debug, Default)]
pub struct Outcome {
    /// The exit code cordon exits with: the tool's, 128+N for a signal, 124, 152, 134…
    pub code: u8,
    /// Why it ended. Limits reached without ending the run (the output cap, a refused
    /// memory growth) are in [`Outcome::summary`].
    pub cause: Cause,
    /// CPU time the tool used (user + system; native: its whole process tree as the kernel
    /// reports it at the end), when known.
    pub cpu: Option<std::time::Duration>,
    /// For a dry run: the plan, and nothing ran.
    pub plan: Option<String>,
    /// What cordon has to say about the run: limits reached, traps, one line each.
    pub notes: Vec<String>,
    /// Detail for `--debug`: every refusal with the rule that decided it, where the
    /// compiled code came from.
    pub debug: Vec<String>,
    /// Counts of refusals and the limits hit, for the one summary line.
    pub summary: crate::summary::RunSummary,
    /// Where the audit events went, if anywhere.
    pub audit: Option<PathBuf>,
    /// Wall time from the request to the end of the run.
    pub wall: std::time::Duration,
    /// The tool's stdout, when the request asked to capture it (native runs for `cordon mcp`).
    pub stdout: Vec<u8>,
    /// The tool's stderr, when captured.
    pub stderr: Vec<u8>,
}

/// A request to run one command under a policy.
pub struct RunRequest<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The command and its arguments; empty means `process.commandLine`.
    pub command: Vec<String>,
    /// A forced backend, or `None` to choose by the tool.
    pub backend: Option<Backend>,
    /// Return the plan instead of running.
    pub dry_run: bool,
    /// Told what cordon says while the run is under way.
    pub notify: Option<Notify>,
    /// Write audit events here (overrides `cordon.audit.path`).
    pub audit: Option<PathBuf>,
    /// Where `cordon-helper` is, for native commands; `None`: next to the running
    /// executable (an embedder whose program is not installed beside the helper says where).
    pub helper: Option<PathBuf>,
    /// A native command's stdin and output: by default cordon's own, passed through.
    pub io: NativeIo,
}

/// A native command's stdio when it is not cordon's own (`cordon mcp` serving a native tool).
#[derive(Debug, Clone, Default)]
pub struct NativeIo {
    /// What the tool reads on stdin (`None`: cordon's stdin).
    pub stdin: Option<Vec<u8>>,
    /// Keep stdout and stderr in [`Outcome::stdout`] and [`Outcome::stderr`], under the output
    /// cap, instead of writing them through. Refused for a wasm tool (the library captures
    /// those: [`crate::api::Tool::run`]).
    pub capture: bool,
    /// Tag every audit event with this tool name and call id.
    pub tag: Option<(String, String)>,
}

impl std::fmt::Debug for RunRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRequest")
            .field("command", &self.command)
            .field("backend", &self.backend)
            .field("dry_run", &self.dry_run)
            .field("audit", &self.audit)
            .field("helper", &self.helper)
            .finish_non_exhaustive()
    }
}

/// Runs the command the way `cordon run` does, with stdio passed through, and returns how
/// it went; nothing is printed but what the tool prints.
///
/// # Errors
/// 125 for policy, plan and request errors; 126 when the tool cannot run; 127 when it is
/// not there.
pub fn run_tool(req: RunRequest<'_>) -> Result<Outcome, RuntimeError> {
    let started_at = std::time::Instant::now();
    let mut out = run_inner(req)?;
    out.wall = started_at.elapsed();
    Ok(out)
}

/// A containment MXC has and cordon does not: refused (exit 125) naming the backends here.
fn no_such_backend(c: Containment) -> RuntimeError {
    let here: Vec<String> = crate::native::host_backends().iter().map(ToString::to_string).collect();
    RuntimeError::Request(format!(
        "containment `{}` is not supported by cordon (it has no such backend); backends here: wasm, {}; use containment `process` or `bubblewrap` (or remove containment)",
        c.as_str(),
        here.join(", ")
    ))
}

fn run_inner(req: RunRequest<'_>) -> Result<Outcome, RuntimeError> {
    let RunRequest { policy, command, backend, dry_run, notify, audit, helper, io } = req;
    let say = |line: &str| {
        if let Some(n) = &notify {
            n(line);
        }
    };
    let audit_path = audit.or_else(|| policy.audit.path.clone()).map(|p| std::path::absolute(&p).unwrap_or(p));
    let from_config = command.is_empty();
    let argv = command_argv(policy, command.clone())?;
    let tool = PathBuf::from(&argv[0]);
    let is_wasm = tool.is_file() && wasm::is_wasm_file_ambient(&tool);
    // A name never changes which sandbox runs a file: a `.wasm` that is not WebAssembly is
    // refused rather than run as a native program.
    let named = if from_config && !is_wasm {
        PathBuf::from(argv[0].split_whitespace().next().unwrap_or_default())
    } else {
        tool.clone()
    };
    if !is_wasm && named.extension().is_some_and(|e| e.eq_ignore_ascii_case("wasm")) && named.is_file() {
        return Err(RuntimeError::ToolCannotRun {
            path: named,
            reason: "not WebAssembly: the file is named .wasm but does not start with the wasm magic bytes".into(),
        });
    }
    let requested = backend.or(match policy.containment {
        None | Some(Containment::Process) => None,
        Some(Containment::Bubblewrap) => Some(Backend::Bubblewrap),
        Some(Containment::Seatbelt) => Some(Backend::Seatbelt),
        Some(Containment::ProcessContainer) => Some(Backend::Windows),
        Some(
            c @ (Containment::Lxc
            | Containment::IsolationSession
            | Containment::Wslc
            | Containment::Vm
            | Containment::WindowsSandbox
            | Containment::Microvm
            | Containment::Hyperlight),
        ) => {
            return Err(no_such_backend(c));
        }
    });
    let backend = match (requested, is_wasm) {
        (None | Some(Backend::Wasm), true) => Backend::Wasm,
        (Some(Backend::Wasm), false) => {
            return Err(RuntimeError::ToolCannotRun {
                path: tool,
                reason: "--backend wasm, but the file is not WebAssembly".into(),
            });
        }
        (None, false) => crate::native::host_backends()[0],
        (Some(b), _) if crate::native::host_backends().contains(&b) => b,
        (Some(other), _) => {
            let here: Vec<String> = crate::native::host_backends().iter().map(ToString::to_string).collect();
            return Err(RuntimeError::Unavailable(format!(
                "backend {other} is not available on this host; backends here: wasm, {}",
                here.join(", ")
            )));
        }
    };
    if backend == Backend::Wasm && !tool.exists() {
        return Err(RuntimeError::ToolNotFound(tool));
    }
    // cordon's own files are out of every tool's reach, on every backend: the cache's default
    // location (a native tool that could create it could plant a key and code for the next
    // wasm run) and the audit log.
    let cache_dir = crate::wasm::Cache::default_dir();
    let protected = crate::protect::for_run(cache_dir.as_deref(), audit_path.as_deref());
    crate::protect::refuse_reach(&policy.filesystem, &protected)?;
    let exe = (backend != Backend::Wasm && !from_config && command[0].contains('/')).then(|| Path::new(&command[0]));
    crate::protect::refuse_paths(exe, audit_path.as_deref(), &protected)?;
    if let (Some(path), false) = (&audit_path, dry_run) {
        // Fails before the tool runs when the path is a symlink or not a file.
        crate::audit::open(path)?;
    }
    if backend != Backend::Wasm {
        // An MXC config's commandLine runs under /bin/sh -c, as MXC does; a command after
        // `--` runs as argv.
        let argv = if from_config {
            vec!["/bin/sh".to_string(), "-c".to_string(), policy.process.command_line.clone().unwrap_or_default()]
        } else {
            command
        };
        if argv[0].contains('/') && !Path::new(&argv[0]).exists() {
            return Err(RuntimeError::ToolNotFound(PathBuf::from(&argv[0])));
        }
        return crate::native::run_native(crate::native::NativeRequest {
            policy,
            backend,
            argv: &argv,
            dry_run,
            audit: audit_path.as_deref(),
            helper: helper.as_deref(),
            io: &io,
        });
    }
    if io.capture || io.stdin.is_some() {
        return Err(RuntimeError::Request(format!(
            "{} is a wasm tool: serve it as a wasm tool (`path`), not as a native command",
            argv[0]
        )));
    }
    let with_cwd = with_caller_cwd(policy);
    let policy = &*with_cwd;
    let plan = cordon_plan::plan(policy, backend, &crate::host_env::SystemFacts)?;
    if dry_run {
        return Ok(Outcome { plan: Some(crate::explain::explain(policy, Some(&plan))), ..Outcome::default() });
    }
    let Plan::Wasm(plan) = plan else {
        return Err(RuntimeError::Internal("planned a native backend for a wasm tool".into()));
    };
    let runtime = crate::api::Runtime::new()?;
    if let Some(why) = runtime.cache_problem() {
        say(&format!("cordon: not caching compiled code: {why}"));
    }
    let mut out = Outcome { audit: audit_path.clone(), ..Outcome::default() };
    // Compiling counts against `process.timeout`: a huge module is compiled on a worker
    // thread, and cordon stops waiting at the deadline (the run then gets what is left).
    let started = std::time::Instant::now();
    let timeout = plan.timeout;
    let loaded = load_within(&runtime, &tool, timeout, notify.clone())?;
    if let Some(why) = loaded.cache_refusal() {
        out.debug
            .push(format!("cordon: refused the cached entry for {}: {why}; recompiled and rewrote it", tool.display()));
    }
    let planned: &cordon_plan::wasi::WasiPlan = &plan;
    let remaining;
    let plan = match plan.timeout {
        Some(t) => {
            let mut p = (*plan).clone();
            p.timeout = Some(t.saturating_sub(started.elapsed()));
            remaining = p;
            &remaining
        }
        None => &*plan,
    };
    let how = match loaded.source() {
        wasm::Source::Cached => "mapped from the compiled-code cache",
        wasm::Source::Compiled => "compiled",
    };
    out.debug.push(format!("cordon: {} {how}", tool.display()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Internal(format!("async runtime: {e}")))?;
    let record_grants = audit_path.is_some() && policy.audit.allows;
    let cpu_before = thread_cpu_time();
    let outcome =
        rt.block_on(loaded.run_raw(plan, &argv, Stdin::Inherit, Target::Stdout, Target::Stderr, record_grants));
    out.cpu = thread_cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    // stdin may still be read by a worker; do not wait for it.
    rt.shutdown_background();
    let outcome = outcome?;
    out.code = outcome.code;
    out.cause = match (&outcome.stop, &outcome.trap) {
        (Some(wasm::Stop::Timeout), _) => Cause::Timeout,
        (Some(wasm::Stop::Cpu | wasm::Stop::Fuel), _) => Cause::Cpu,
        (None, Some(trap)) => Cause::Trap(trap.clone()),
        (None, None) => Cause::Exited(outcome.code),
    };
    if let Some(path) = &audit_path {
        let withheld = crate::call::withheld_env(plan);
        let events =
            crate::audit::from_outcome(&outcome, plan, &tool.display().to_string(), &withheld, policy.audit.allows);
        crate::audit::append(path, &events)?;
    }
    // Notes name the limits as the policy set them (not what was left after compiling).
    out.notes = crate::call::notes(&outcome, planned, &tool.display().to_string());
    out.debug.extend(crate::call::denials(&outcome));
    out.summary = crate::call::summary(&outcome);
    Ok(out)
}

/// CPU time of the calling thread (the wasm tool runs on it), where the OS reports it.
#[allow(unsafe_code, reason = "clock_gettime on a local timespec")]
fn thread_cpu_time() -> Option<std::time::Duration> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime fills the timespec it is given.
        let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
        ok.then(|| std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Without `process.cwd`, a wasm tool works in the caller's directory when a grant lets it
/// read there (as `wasmtime run --dir .` would), and in none otherwise.
pub(crate) fn with_caller_cwd(policy: &Policy) -> std::borrow::Cow<'_, Policy> {
    match std::env::current_dir() {
        Ok(here)
            if policy.process.cwd.is_none() && policy.filesystem.decide(&here).is_some_and(|r| r.access.can_read()) =>
        {
            let mut p = policy.clone();
            p.process.cwd = Some(here);
            std::borrow::Cow::Owned(p)
        }
        _ => std::borrow::Cow::Borrowed(policy),
    }
}

/// Loads `tool`, saying so on stderr when the compile is slow; with a timeout, on a worker
/// thread, waiting at most that long for it.
pub(crate) fn load_within(
    runtime: &crate::api::Runtime,
    tool: &Path,
    timeout: Option<std::time::Duration>,
    notify: Option<Notify>,
) -> Result<crate::api::Tool, RuntimeError> {
    let cached = runtime.cache().is_some();
    let load = move |rt: &crate::api::Runtime, path: &Path| {
        rt.load_file_with(path, &|| {
            let next = if cached { " (first run, cached for next time)" } else { "" };
            if let Some(n) = &notify {
                n(&format!("cordon: compiling {}{next}…", path.display()));
            }
        })
    };
    let Some(timeout) = timeout else { return load(runtime, tool) };
    let (tx, rx) = std::sync::mpsc::channel();
    let (rt, path) = (runtime.clone(), tool.to_path_buf());
    std::thread::Builder::new()
        .name("cordon-compile".into())
        .spawn(move || {
            let _ = tx.send(load(&rt, &path));
        })
        .map_err(|e| RuntimeError::Internal(format!("compile thread: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(loaded) => loaded,
        Err(_) => Err(RuntimeError::CompileTimeout { path: tool.to_path_buf(), timeout }),
    }
}

/// argv from the request, or from `process.commandLine` split into words.
fn command_argv(policy: &Policy, command: Vec<String>) -> Result<Vec<String>, RuntimeError> {
    if !command.is_empty() {
        return Ok(command);
    }
    let line = policy.process.command_line.as_deref().ok_or_else(|| {
        RuntimeError::Request("no command: give one after `--`, or set process.commandLine in the policy".into())
    })?;
    // A commandLine whose first word is not a wasm file is a native command for /bin/sh.
    let first = line.split_whitespace().next().unwrap_or("");
    if !(Path::new(first).is_file() && wasm::is_wasm_file_ambient(Path::new(first))) {
        return Ok(vec![line.to_string()]);
    }
    let words = crate::command::split_words(line).map_err(|why| {
        RuntimeError::Request(format!(
            "process.commandLine `{line}`: {why}; wasm tools run without a shell, so give plain words (the first names the .wasm file)"
        ))
    })?;
    if words.is_empty() {
        return Err(RuntimeError::Request("process.commandLine is empty".into()));
    }
    Ok(words)
}

/// True when `path` names a wasm file (by its bytes).
pub fn is_wasm(path: &Path) -> bool {
    wasm::is_wasm_file_ambient(path)
}
