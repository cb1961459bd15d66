//! Dispatch to the native backend of this host. Each OS's runner lives in `cordon-native`;
//! this file only picks it.

use cordon_plan::{Backend, Plan};
use cordon_policy::Policy;

use crate::RuntimeError;

/// The native backends this host can run commands with, preferred first.
pub fn host_backends() -> Vec<Backend> {
    if cfg!(target_os = "macos") {
        vec![Backend::Seatbelt]
    } else if cfg!(windows) {
        vec![Backend::Windows]
    } else if std::path::Path::new("/usr/bin/bwrap").exists() || std::path::Path::new("/usr/local/bin/bwrap").exists() {
        vec![Backend::Bubblewrap, Backend::Landlock]
    } else {
        // Without bubblewrap, the landlock-only backend runs what it can enforce.
        vec![Backend::Landlock]
    }
}

/// One native run, as [`crate::run::run_tool`] asks for it.
#[derive(Debug)]
pub struct NativeRequest<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The backend chosen.
    pub backend: Backend,
    /// The command.
    pub argv: &'a [String],
    /// Return the plan instead of running.
    pub dry_run: bool,
    /// The audit log, if any.
    pub audit: Option<&'a std::path::Path>,
    /// Where `cordon-helper` is; `None`: next to the running executable.
    pub helper: Option<&'a std::path::Path>,
    /// stdin, output and audit tags, when not cordon's own.
    pub io: &'a crate::run::NativeIo,
}

/// Runs a native command under `policy` on this host's native backend.
///
/// # Errors
/// 125 when the backend is missing or cannot enforce the policy, or `cordon-helper` is not
/// where it should be.
pub fn run_native(req: NativeRequest<'_>) -> Result<crate::run::Outcome, RuntimeError> {
    let NativeRequest { policy, backend, argv, dry_run, audit, helper, io } = req;
    // A command named by path is made visible by the plan itself (so `--dry-run` shows it).
    let tool = argv[0].contains('/').then(|| {
        let path = std::path::absolute(&argv[0]).unwrap_or_else(|_| argv[0].clone().into());
        let host = path.canonicalize().unwrap_or_else(|_| path.clone());
        cordon_plan::ToolFacts { path, host }
    });
    let plan = cordon_plan::plan_for(policy, backend, tool.as_ref(), &crate::host_env::SystemFacts)?;
    if dry_run {
        let text = crate::explain::explain(policy, Some(&plan));
        return Ok(crate::run::Outcome { plan: Some(text), ..Default::default() });
    }
    let mut out = crate::run::Outcome { audit: audit.map(std::path::Path::to_path_buf), ..Default::default() };
    out.code = imp(policy, plan, argv, Report { audit, helper, io }, &mut out)?;
    if out.cause == crate::run::Cause::NotRun {
        out.cause = crate::run::Cause::Exited(out.code);
    }
    Ok(out)
}

/// What the runner reports after the tool ends, and where its helper is.
#[derive(Debug, Clone, Copy)]
struct Report<'a> {
    /// The audit log, if any.
    #[cfg_attr(windows, expect(dead_code, reason = "the Windows runner refuses every policy before it runs anything"))]
    audit: Option<&'a std::path::Path>,
    /// Where `cordon-helper` is, if the caller said.
    #[cfg_attr(not(target_os = "linux"), expect(dead_code, reason = "only the Linux runners start the helper"))]
    helper: Option<&'a std::path::Path>,
    /// stdin, output, audit tags.
    io: &'a crate::run::NativeIo,
}

impl Report<'_> {
    #[cfg(target_os = "linux")]
    fn stdin(&self) -> cordon_native::linux::Stdio {
        self.io.stdin.clone().map_or(cordon_native::linux::Stdio::Inherit, cordon_native::linux::Stdio::Bytes)
    }

    #[cfg(target_os = "linux")]
    fn tagged(&self, mut events: Vec<crate::audit::AuditEvent>) -> Vec<crate::audit::AuditEvent> {
        if let Some((tool, call)) = &self.io.tag {
            for e in &mut events {
                e.tool = Some(tool.clone());
                e.call_id = Some(call.clone());
            }
        }
        events
    }

    /// The macOS and Windows runners pass cordon's own stdio through and nothing else.
    #[cfg(not(target_os = "linux"))]
    fn refuse_io(&self, backend: Backend) -> Result<(), RuntimeError> {
        if self.io.capture || self.io.stdin.is_some() {
            return Err(RuntimeError::Unavailable(format!(
                "the {backend:?} runner passes cordon's own stdin and output through; it cannot take stdin bytes or capture output yet"
            )));
        }
        Ok(())
    }
}

/// `cordon-helper`, by the one rule: where the caller says, else next to the running
/// executable. Missing is a refusal naming where cordon looked, never a fallback to some
/// other program.
#[cfg(target_os = "linux")]
fn locate_helper(configured: Option<&std::path::Path>) -> Result<std::path::PathBuf, RuntimeError> {
    let path = match configured {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .map_err(|e| RuntimeError::Internal(format!("cannot find the running executable: {e}")))?
            .with_file_name("cordon-helper"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(RuntimeError::Unavailable(format!(
            "cordon-helper not found at {}; install it next to cordon (`cargo install --path runtime` installs both, `cargo build -p cordon-runtime` builds both), or set RunRequest::helper in the library",
            path.display()
        )))
    }
}

fn native_error(backend: Backend, e: cordon_native::NativeError) -> RuntimeError {
    match e {
        cordon_native::NativeError::Unenforceable { rule, why } => {
            RuntimeError::Plan(cordon_plan::PlanError::Unenforceable { backend, rule, reason: why })
        }
        cordon_native::NativeError::Unavailable { .. } => RuntimeError::Unavailable(e.to_string()),
        other => RuntimeError::Internal(other.to_string()),
    }
}

#[cfg(target_os = "linux")]
fn imp(
    policy: &Policy,
    plan: Plan,
    argv: &[String],
    rep: Report<'_>,
    o: &mut crate::run::Outcome,
) -> Result<u8, RuntimeError> {
    let plan = match plan {
        Plan::Landlock(plan) => {
            let helper = locate_helper(rep.helper)?;
            let mut out = cordon_native::linux::run_landlock(&plan, argv, &helper, rep.stdin(), rep.io.capture)
                .map_err(|e| native_error(Backend::Landlock, e))?;
            o.stdout = std::mem::take(&mut out.stdout);
            o.stderr = std::mem::take(&mut out.stderr);
            // What the helper was given, word for word: `--debug` shows it beside `--dry-run`'s.
            o.debug.push(format!("cordon: ran cordon-helper {}", out.executed.join(" ")));
            report(policy, argv, &out, o);
            if let Some(path) = rep.audit {
                crate::audit::append(path, &rep.tagged(native_events(policy, argv, &out, "landlock")))?;
            }
            return Ok(out.code);
        }
        other => other,
    };
    let Plan::Bubblewrap(plan) = plan else {
        return Err(RuntimeError::Internal("expected a bubblewrap plan".into()));
    };
    let helper = locate_helper(rep.helper)?;
    let scratch = scratch_base();
    let mut out = cordon_native::linux::run(cordon_native::linux::NativeRun {
        plan: &plan,
        argv,
        helper_exe: &helper,
        stdin: rep.stdin(),
        capture: rep.io.capture,
        scratch_base: scratch.as_deref(),
    })
    .map_err(|e| native_error(Backend::Bubblewrap, e))?;
    o.stdout = std::mem::take(&mut out.stdout);
    o.stderr = std::mem::take(&mut out.stderr);
    // What ran, word for word (env values masked): `--debug` shows it beside `--dry-run`'s.
    o.debug.push(format!("cordon: ran bwrap {}", out.executed.join(" ")));
    report(policy, argv, &out, o);
    if let Some(path) = rep.audit {
        crate::audit::append(path, &rep.tagged(native_events(policy, argv, &out, "bubblewrap")))?;
    }
    Ok(out.code)
}

/// Where bubblewrap runs keep their scratch (the inaccessible objects and the proxy's
/// socket): `run/` inside the compiled-code cache directory, which `crate::protect` keeps out
/// of every grant, so no tool (of this run or a concurrent one granted `/tmp`) can see or
/// swap them before bwrap binds them. Without a usable cache, or when the proxy socket's
/// path there would be too long for a unix socket, the system's temporary directory.
#[cfg(target_os = "linux")]
fn scratch_base() -> Option<std::path::PathBuf> {
    let cache = crate::wasm::Cache::open_ambient(&crate::wasm::Cache::default_dir()?).ok()?;
    let base = cache.dir().join("run");
    // sun_path holds 108 bytes: room for `cordon-PID-N/proxy.sock`.
    if base.as_os_str().len() + 40 > 107 {
        return None;
    }
    let mut b = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    match b.create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    std::fs::symlink_metadata(&base).is_ok_and(|m| m.is_dir()).then_some(base)
}

/// What the native path can observe, as audit events: the proxy's decisions and the limits.
/// Filesystem refusals happen in the kernel, which does not report them to cordon.
#[cfg(target_os = "linux")]
fn native_events(
    policy: &Policy,
    argv: &[String],
    out: &cordon_native::linux::NativeOutcome,
    backend: &'static str,
) -> Vec<crate::audit::AuditEvent> {
    use crate::audit::AuditEvent;
    let mut events: Vec<AuditEvent> = out
        .proxy_events
        .iter()
        .filter(|e| policy.audit.allows || !e.decision.allowed)
        .map(|e| {
            AuditEvent::new(e.time, e.kind, e.op, e.target.clone(), e.decision.allowed, e.decision.rule.clone())
                .on(backend)
        })
        .collect();
    let now = std::time::SystemTime::now();
    if out.timed_out {
        events.push(AuditEvent::new(now, "limit", "timeout", argv[0].clone(), false, "/process/timeout").on(backend));
    }
    if cpu_stop(policy, out) {
        events.push(AuditEvent::new(now, "limit", "cpu", argv[0].clone(), false, "/cordon/limits/cpuMs").on(backend));
    }
    if out.memory_limited {
        events.push(
            AuditEvent::new(now, "limit", "memory", argv[0].clone(), false, "/cordon/limits/memoryBytes").on(backend),
        );
    }
    if out.discarded_output > 0 {
        let what = format!("{} bytes discarded", out.discarded_output);
        events.push(AuditEvent::new(now, "limit", "output", what, false, "/cordon/limits/maxOutputBytes").on(backend));
    }
    events
}

/// Whether `cpuMs` stopped the tool: the whole tree's total (cordon stopped it), or one
/// process's `RLIMIT_CPU` (SIGXCPU, 152).
#[cfg(target_os = "linux")]
fn cpu_stop(policy: &Policy, out: &cordon_native::linux::NativeOutcome) -> bool {
    out.cpu_limited || (out.code == 152 && policy.limits.cpu.is_some())
}

#[cfg(target_os = "linux")]
fn report(policy: &Policy, argv: &[String], out: &cordon_native::linux::NativeOutcome, o: &mut crate::run::Outcome) {
    let (timed_out, code, discarded) = (out.timed_out, out.code, out.discarded_output);
    if timed_out {
        o.notes.push(format!(
            "cordon: stopped {} after process.timeout ({} ms), every process of it; exit 124",
            argv[0],
            policy.process.timeout.map_or(0, |t| t.as_millis())
        ));
    }
    if cpu_stop(policy, out) {
        o.notes.push(format!(
            "cordon: stopped {} after cordon.limits.cpuMs ({} ms of CPU); exit 152",
            argv[0],
            policy.limits.cpu.map_or(0, |t| t.as_millis())
        ));
    }
    if out.memory_limited {
        o.notes.push(format!(
            "cordon: stopped {} at cordon.limits.memoryBytes ({} bytes for every process together), every process of it; exit {code}",
            argv[0],
            policy.limits.memory_bytes.unwrap_or(0),
        ));
    }
    if discarded > 0 {
        o.notes.push(format!(
            "cordon: output reached cordon.limits.maxOutputBytes ({} bytes); {} further bytes were discarded",
            policy.limits.max_output_bytes.unwrap_or(0),
            discarded
        ));
    }
    // What the native path observes: the proxy's decisions and the limits. Filesystem
    // refusals happen in the kernel, which does not tell cordon.
    let mut summary = crate::summary::RunSummary {
        timeout: timed_out,
        cpu: cpu_stop(policy, out),
        memory: out.memory_limited,
        output: discarded > 0,
        ..Default::default()
    };
    for e in out.proxy_events.iter().filter(|e| !e.decision.allowed) {
        summary.count_net(e.kind);
        o.debug.push(format!("cordon: denied {} {} ({})", e.op, e.target, e.decision.rule));
    }
    o.summary = summary;
    o.cpu = out.cpu;
    o.cause = if timed_out {
        crate::run::Cause::Timeout
    } else if cpu_stop(policy, out) {
        crate::run::Cause::Cpu
    } else if out.memory_limited {
        crate::run::Cause::Memory
    } else if let Some(sig) = out.signal {
        crate::run::Cause::Signal(sig)
    } else {
        crate::run::Cause::Exited(code)
    };
}

#[cfg(target_os = "macos")]
fn imp(
    _policy: &Policy,
    plan: Plan,
    argv: &[String],
    rep: Report<'_>,
    _o: &mut crate::run::Outcome,
) -> Result<u8, RuntimeError> {
    let Plan::Seatbelt(plan) = plan else { return Err(RuntimeError::Internal("expected a seatbelt plan".into())) };
    rep.refuse_io(Backend::Seatbelt)?;
    if rep.audit.is_some() {
        // The runner observes nothing it could record yet; an empty log would claim a clean run.
        return Err(RuntimeError::Plan(cordon_plan::PlanError::Unenforceable {
            backend: Backend::Seatbelt,
            rule: "/cordon/audit/path".into(),
            reason: "the macOS runner does not write audit events yet; run the tool as wasm or drop --audit".into(),
        }));
    }
    cordon_native::macos::run(&plan, argv).map_err(|e| native_error(Backend::Seatbelt, e))
}

#[cfg(windows)]
fn imp(
    _policy: &Policy,
    plan: Plan,
    argv: &[String],
    rep: Report<'_>,
    _o: &mut crate::run::Outcome,
) -> Result<u8, RuntimeError> {
    let Plan::Windows(plan) = plan else { return Err(RuntimeError::Internal("expected a windows plan".into())) };
    rep.refuse_io(Backend::Windows)?;
    cordon_native::windows::run(&plan, argv).map_err(|e| native_error(Backend::Windows, e))
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn imp(
    _policy: &Policy,
    _plan: Plan,
    _argv: &[String],
    _rep: Report<'_>,
    _o: &mut crate::run::Outcome,
) -> Result<u8, RuntimeError> {
    Err(RuntimeError::Unavailable(format!("no native backend on {}; backends here: wasm", std::env::consts::OS)))
}
