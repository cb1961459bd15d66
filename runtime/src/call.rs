//! Typed calls the way `cordon call` makes them: one exported function of a wasm tool,
//! under a policy, through the same planning, protected paths, compile deadline, context
//! and limits as `cordon run` (`run.rs`), with the result as JSON.

use std::path::{Path, PathBuf};

use cordon_plan::{Backend, Plan};
use cordon_policy::{Containment, Policy};
use serde_json::{Value, json};

use crate::RuntimeError;
use crate::api::{OutputMode, TypedCall};
use crate::run::Notify;
use crate::wasm::typed::Returned;
use crate::wasm::{self, RunOutcome};

/// Exit code of a call whose `result<_, E>` was an error.
pub const RESULT_ERR_EXIT: u8 = 1;

/// A request to call one exported function.
pub struct CallRequest<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The wasm tool.
    pub tool: &'a Path,
    /// The function (`func` or `interface#func`).
    pub func: String,
    /// Its arguments, a JSON object keyed by parameter name.
    pub args: Value,
    /// Told what cordon says while the call is under way.
    pub notify: Option<Notify>,
    /// Write audit events here (overrides `cordon.audit.path`).
    pub audit: Option<PathBuf>,
}

impl std::fmt::Debug for CallRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRequest").field("tool", &self.tool).field("func", &self.func).finish_non_exhaustive()
    }
}

/// How a call went.
#[derive(Debug, Default)]
pub struct CallOutcome {
    /// 0 when it returned, [`RESULT_ERR_EXIT`] when it returned a `result` error, else as
    /// `cordon run` (124 timeout, 152 CPU, 134 trap).
    pub code: u8,
    /// What it returned.
    pub returned: Option<Returned>,
    /// What cordon has to say: limits reached, traps.
    pub notes: Vec<String>,
    /// Every refusal with its rule, and where the code came from.
    pub debug: Vec<String>,
    /// Counts for the summary line.
    pub summary: crate::summary::RunSummary,
    /// Where the audit events went.
    pub audit: Option<PathBuf>,
}

/// Calls the function with the tool's output written to this process's stderr (stdout is
/// the result's).
///
/// # Errors
/// As `cordon run` (125, 126, 127), and [`RuntimeError::Call`] (exit 2) when the function or
/// its arguments do not fit.
pub fn call_tool(req: CallRequest<'_>) -> Result<CallOutcome, RuntimeError> {
    let CallRequest { policy, tool, func, args, notify, audit } = req;
    match policy.containment {
        None | Some(Containment::Process) => {}
        Some(other) => {
            return Err(RuntimeError::Request(format!(
                "containment `{other:?}` asks for a native sandbox, but typed calls run only on the wasm backend; remove containment or use `process`"
            )));
        }
    }
    let audit_path = audit.or_else(|| policy.audit.path.clone()).map(|p| std::path::absolute(&p).unwrap_or(p));
    if !tool.exists() {
        return Err(RuntimeError::ToolNotFound(tool.to_path_buf()));
    }
    if !wasm::is_wasm_file_ambient(tool) {
        return Err(RuntimeError::ToolCannotRun {
            path: tool.to_path_buf(),
            reason: "not WebAssembly; typed calls need a wasm component".into(),
        });
    }
    let cache_dir = wasm::Cache::default_dir();
    let protected = crate::protect::for_run(cache_dir.as_deref(), audit_path.as_deref());
    crate::protect::refuse_reach(&policy.filesystem, &protected)?;
    crate::protect::refuse_paths(None, audit_path.as_deref(), &protected)?;
    if let Some(path) = &audit_path {
        crate::audit::open(path)?;
    }
    let with_cwd = crate::run::with_caller_cwd(policy);
    let policy = &*with_cwd;
    let Plan::Wasm(plan) = cordon_plan::plan(policy, Backend::Wasm, &crate::host_env::SystemFacts)? else {
        return Err(RuntimeError::Internal("planned a native backend for a typed call".into()));
    };
    let runtime = crate::api::Runtime::new()?;
    if let (Some(why), Some(n)) = (runtime.cache_problem(), &notify) {
        n(&format!("cordon: not caching compiled code: {why}"));
    }
    let started = std::time::Instant::now();
    let loaded = crate::run::load_within(&runtime, tool, plan.timeout, notify)?;
    let mut plan = (*plan).clone();
    let timeout = plan.timeout;
    // Compiling counted against the timeout; the call gets what is left.
    plan.timeout = timeout.map(|t| t.saturating_sub(started.elapsed()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Internal(format!("async runtime: {e}")))?;
    let record_grants = audit_path.is_some() && policy.audit.allows;
    let call = TypedCall { func, args, output: OutputMode::Inherit, record_grants, fuel: None };
    let result = rt.block_on(loaded.call_plan(&plan, call));
    rt.shutdown_background();
    let typed = result?;
    plan.timeout = timeout;
    let outcome = &typed.output.outcome;
    let label = tool.display().to_string();
    if let Some(path) = &audit_path {
        let events = crate::audit::from_outcome(outcome, &plan, &label, &withheld_env(&plan), policy.audit.allows);
        crate::audit::append(path, &events)?;
    }
    let code = match (&typed.returned, outcome.code) {
        (Some(Returned::Ok(_)), 0) => 0,
        (Some(Returned::Err(_)), 0) => RESULT_ERR_EXIT,
        (_, c) => c,
    };
    let mut out = CallOutcome {
        code,
        notes: notes(outcome, &plan, &label),
        debug: denials(outcome),
        summary: summary(outcome),
        audit: audit_path,
        returned: typed.returned,
    };
    let how = match loaded.source() {
        wasm::Source::Cached => "mapped from the compiled-code cache",
        wasm::Source::Compiled => "compiled",
    };
    out.debug.insert(0, format!("cordon: {label} {how}"));
    Ok(out)
}

/// What `cordon tools` prints: the tool and each exported function with its schemas.
///
/// # Errors
/// The tool is missing (127) or not a component this host can link (126).
pub fn describe_tool(tool: &Path) -> Result<Value, RuntimeError> {
    let runtime = crate::api::Runtime::new()?;
    let loaded = runtime.load_file(tool)?;
    let functions: Vec<Value> = loaded.exports().iter().map(describe_export).collect();
    Ok(json!({
        "tool": tool.display().to_string(),
        "command": loaded.is_command(),
        "functions": functions,
    }))
}

/// One function as `cordon tools` prints it. The component binary carries no WIT doc
/// comments (they are not part of a compiled component), so there is no description.
pub fn describe_export(e: &wasm::typed::Export) -> Value {
    let mut v = json!({
        "name": e.name,
        "interface": e.interface,
        "function": e.func,
    });
    match e.unsupported() {
        Some(why) => v["unsupported"] = Value::String(why.to_string()),
        None => {
            v["inputSchema"] = e.input_schema().unwrap_or(Value::Null);
            v["outputSchema"] = e.output_schema().unwrap_or(Value::Null);
            if let Some(err) = e.error_schema() {
                v["errorSchema"] = err;
            }
        }
    }
    v
}

/// The host environment variables a run under `plan` does not get (named in one audit
/// event, never with values), as `cordon run` reports them.
pub fn withheld_env(plan: &cordon_plan::wasi::WasiPlan) -> Vec<String> {
    let granted: std::collections::HashSet<&str> =
        plan.env.iter().map(|(k, _)| k.as_str()).chain(plan.inherit_env.iter().map(String::as_str)).collect();
    std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()).filter(|k| !granted.contains(k.as_str())).collect()
}

/// cordon's lines about a wasm run: limits reached and traps.
pub fn notes(outcome: &RunOutcome, plan: &cordon_plan::wasi::WasiPlan, tool: &str) -> Vec<String> {
    let mut notes = Vec::new();
    match outcome.stop {
        Some(wasm::Stop::Timeout) => notes.push(format!(
            "cordon: stopped {tool} after process.timeout ({} ms); exit {}",
            plan.timeout.map_or(0, |t| t.as_millis()),
            wasm::TIMEOUT_EXIT
        )),
        Some(wasm::Stop::Cpu) => notes.push(format!(
            "cordon: stopped {tool} after cordon.limits.cpuMs ({} ms of CPU); exit {}",
            plan.cpu.map_or(0, |t| t.as_millis()),
            wasm::CPU_EXIT
        )),
        Some(wasm::Stop::Fuel) => {
            notes.push(format!("cordon: stopped {tool} when its fuel budget ran out; exit {}", wasm::CPU_EXIT));
        }
        None => {}
    }
    if let Some(trap) = &outcome.trap {
        notes.push(format!("cordon: {tool} ended with a {trap}; exit {}", wasm::TRAP_EXIT));
    }
    if outcome.memory_limit_hit {
        notes.push(match plan.memory_bytes {
            Some(limit) => {
                format!("cordon: {tool} asked for more memory than cordon.limits.memoryBytes ({limit} bytes) allows")
            }
            None => format!(
                "cordon: {tool} held more than the {} live host resources a wasm tool may hold",
                wasm::MAX_RESOURCES
            ),
        });
    }
    if outcome.discarded_output > 0 {
        notes.push(format!(
            "cordon: output reached cordon.limits.maxOutputBytes ({} bytes); {} further bytes were discarded",
            plan.max_output_bytes.unwrap_or(0),
            outcome.discarded_output
        ));
    }
    notes
}

/// Every refusal of a wasm run, with the rule that decided it.
pub fn denials(outcome: &RunOutcome) -> Vec<String> {
    let fs = outcome.fs_denials.iter().map(|d| {
        format!("cordon: denied {} {} ({})", d.op, d.path.display(), d.rule.as_deref().unwrap_or("no rule grants it"))
    });
    let net = outcome
        .net_events
        .iter()
        .filter(|e| !e.decision.allowed)
        .map(|e| format!("cordon: denied {} {} ({})", e.op, e.target, e.decision.rule));
    fs.chain(net).collect()
}

/// The counts for the one summary line of a wasm run.
pub(crate) fn summary(outcome: &RunOutcome) -> crate::summary::RunSummary {
    let mut s = crate::summary::RunSummary {
        fs: outcome.fs_denials.len(),
        timeout: outcome.stop == Some(wasm::Stop::Timeout),
        cpu: outcome.stop == Some(wasm::Stop::Cpu),
        memory: outcome.memory_limit_hit,
        output: outcome.discarded_output > 0,
        ..Default::default()
    };
    for e in outcome.net_events.iter().filter(|e| !e.decision.allowed) {
        s.count_net(e.kind);
    }
    s
}
