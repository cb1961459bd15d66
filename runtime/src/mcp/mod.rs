//! `cordon mcp`: a Model Context Protocol server (through the official Rust SDK, `rmcp`)
//! whose tools are wasm components, each under its own policy.
//!
//! Each exported function of a component is one MCP tool, named `NAME.func` (or
//! `NAME.interface.func` for a function in an exported interface), with its inputSchema from
//! WIT. A component that exports `wasi:cli/run` is also one tool, `NAME`, taking `args` and
//! optional `stdin` and returning `stdout`, `stderr` and `exitCode`. Every call runs in a
//! fresh instance through the library (one engine, `InstancePre`, the compiled-code cache)
//! under the tool's plan, made at start and again when the host's own networks change.
//! Denials, limits, traps and timeouts are tool results with `isError: true` and cordon's
//! message; the server keeps serving. How
//! many calls run at once is the runtime's pool ([`crate::api::RuntimeBuilder::pooling`]):
//! the others wait in its bounded queue, each up to its tool's `process.timeout`, and a call
//! that cannot get a slot is answered `isError` ("busy"), never a trap.

pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cordon_plan::wasi::WasiPlan;
use cordon_policy::{Containment, Policy};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool as McpTool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

use crate::RuntimeError;
use crate::api::{Call, OutputMode, Runtime, Tool, TypedCall};
use crate::wasm::typed::Returned;

/// Captured output of one call when the policy sets no `maxOutputBytes`: the server holds
/// every call's output in memory until it answers.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 16 << 20;

/// Calls run at once by default.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

/// One tool to serve, as the command line or a manifest names it.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    /// The name (MCP tool names start with it).
    pub name: String,
    /// What runs: a wasm file, or a native command.
    pub source: ToolSource,
    /// The policy every call runs under.
    pub policy: Policy,
    /// What the tool does, for the client (`None`: a description made from its type).
    pub description: Option<String>,
}

/// What a tool is.
#[derive(Debug, Clone)]
pub enum ToolSource {
    /// A wasm component or module, run in-process through the library.
    Wasm(PathBuf),
    /// A native command (argv, the program first), run on this host's native backend like
    /// `cordon run -- COMMAND…`; a call's `args` follow it.
    Native(Vec<String>),
}

impl ToolSource {
    fn shown(&self) -> String {
        match self {
            ToolSource::Wasm(p) => p.display().to_string(),
            ToolSource::Native(argv) => argv.join(" "),
        }
    }
}

/// What one MCP tool calls.
#[derive(Debug, Clone)]
enum Target {
    /// An exported function, by its full name.
    Func(String),
    /// `wasi:cli/run`.
    Command,
}

/// How an MCP tool runs.
#[expect(clippy::large_enum_variant, reason = "one per tool, made once when the server starts")]
enum Kind {
    /// In the wasm runtime, under its plan.
    /// `policy` is kept to plan again when the host's own networks change.
    Wasm { tool: Tool, plan: Arc<WasiPlan>, policy: Arc<cordon_policy::Policy>, target: Target },
    /// On the native backend, under its policy (planned again at each call, from the host
    /// as it is then, as `cordon run` does).
    Native { command: Vec<String>, policy: Arc<Policy> },
}

struct Entry {
    mcp_name: String,
    owner: String,
    kind: Kind,
    listing: McpTool,
    allows: bool,
    audit: Option<PathBuf>,
    withheld: Vec<String>,
}

/// The server: the tools and their plans.
#[derive(Clone)]
pub struct McpServer {
    entries: Arc<Vec<Entry>>,
    /// Native calls at once (wasm calls wait in the runtime's pool).
    native_slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("tools", &self.entries.len()).finish_non_exhaustive()
    }
}

/// Characters MCP tool names may hold (the spec's recommendation); others become `_`.
fn mcp_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' }).collect()
}

/// `cordon:typed/kinds@0.1.0` → `kinds`.
fn short_interface(iface: &str) -> &str {
    let tail = iface.rsplit_once('/').map_or(iface, |(_, t)| t);
    tail.split_once('@').map_or(tail, |(n, _)| n)
}

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

impl McpServer {
    /// Loads and plans every tool. Nothing is served when any tool or policy is refused.
    ///
    /// # Errors
    /// A tool is missing or cannot be linked, a policy cannot be enforced on wasm, a grant
    /// would reach cordon's own files, or two tools end up with one MCP name.
    pub fn new(runtime: &Runtime, specs: &[ToolSpec], audit: Option<&Path>) -> Result<Self, RuntimeError> {
        let mut entries: Vec<Entry> = Vec::new();
        for spec in specs {
            for e in load(runtime, spec, audit)? {
                if let Some(other) = entries.iter().find(|o| o.mcp_name == e.mcp_name) {
                    return Err(RuntimeError::Request(format!(
                        "two tools are both named `{}` (from `{}` and `{}`); give them different names",
                        e.mcp_name, other.owner, e.owner
                    )));
                }
                entries.push(e);
            }
        }
        Ok(Self {
            entries: Arc::new(entries),
            native_slots: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
        })
    }

    /// At most `n` native command calls run at once; the others wait, each up to its
    /// policy's `process.timeout` (then it is answered "busy").
    #[must_use]
    pub fn native_in_flight(mut self, n: usize) -> Self {
        self.native_slots = Arc::new(tokio::sync::Semaphore::new(n.max(1)));
        self
    }

    /// The MCP tools served, as `tools/list` returns them.
    pub fn tools(&self) -> Vec<McpTool> {
        self.entries.iter().map(|e| e.listing.clone()).collect()
    }

    /// Serves MCP on stdin and stdout until the client closes them.
    ///
    /// # Errors
    /// The transport fails to start.
    pub async fn serve_stdio(self) -> Result<(), RuntimeError> {
        use rmcp::ServiceExt as _;
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| RuntimeError::Internal(format!("mcp: starting on stdio: {e}")))?;
        running.waiting().await.map_err(|e| RuntimeError::Internal(format!("mcp: {e}")))?;
        Ok(())
    }

    /// Serves MCP over streamable HTTP on `listener` (every path), until the process ends.
    /// `Host` must name a loopback address (or, for a non-loopback listener, its own IP);
    /// a browser `Origin` must be a loopback one.
    ///
    /// # Errors
    /// The listener's address cannot be read.
    pub async fn serve_http(self, listener: tokio::net::TcpListener) -> Result<(), RuntimeError> {
        use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
        use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
        let local = listener.local_addr().map_err(|e| RuntimeError::Internal(format!("mcp http: {e}")))?;
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        if !local.ip().is_loopback() && !local.ip().is_unspecified() {
            hosts.push(local.ip().to_string());
        }
        let mut config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
        config.allowed_origins =
            vec!["http://localhost:*".into(), "http://127.0.0.1:*".into(), "http://[::1]:*".into()];
        let server = self.clone();
        let service =
            StreamableHttpService::new(move || Ok(server.clone()), Arc::new(LocalSessionManager::default()), config);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                // A failed accept (out of descriptors, a reset) ends that connection only.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let svc = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    }

    /// One call, answered as MCP wants it: cordon's refusals and the tool's failures as
    /// results with `isError`.
    async fn answer(&self, entry: &Entry, args: Option<JsonObject>, call_id: String) -> CallToolResult {
        let (tool, plan, target) = match &entry.kind {
            // Planned again when the host's own networks changed since the last plan.
            Kind::Wasm { tool, plan, policy, target } => match crate::api::fresh(plan) {
                Ok(()) => (tool, plan.clone(), target),
                Err(_) => match wasm_plan(policy) {
                    Ok(p) => (tool, Arc::new(p), target),
                    Err(e) => return error_result(vec![format!("cordon: {e}")]),
                },
            },
            Kind::Native { command, policy } => {
                return self.answer_native(entry, command, policy, args.unwrap_or_default(), call_id).await;
            }
        };
        let record_grants = entry.audit.is_some() && entry.allows;
        let args = args.unwrap_or_default();
        let (outcome, result) = match target {
            Target::Func(func) => {
                let call = TypedCall {
                    func: func.clone(),
                    args: Value::Object(args),
                    output: OutputMode::Capture,
                    record_grants,
                    fuel: None,
                };
                match tool.call_plan(&plan, call).await {
                    Err(e) => return error_result(vec![format!("cordon: {e}")]),
                    Ok(typed) => {
                        let result = typed_result(typed.returned.as_ref(), &typed.output);
                        (typed.output, result)
                    }
                }
            }
            Target::Command => {
                let call = match command_call(&entry.owner, args) {
                    Ok(c) => Call { record_grants, ..c },
                    Err(why) => return error_result(vec![format!("cordon: {why}")]),
                };
                match tool.run_plan(&plan, call).await {
                    Err(e) => return error_result(vec![format!("cordon: {e}")]),
                    Ok(out) => {
                        let result = command_result(&out);
                        (out, result)
                    }
                }
            }
        };
        let mut result = result;
        let notes = crate::call::notes(&outcome.outcome, &plan, &entry.mcp_name);
        let denials = crate::call::denials(&outcome.outcome);
        if !notes.is_empty() || !denials.is_empty() {
            result.content.extend(notes.into_iter().chain(denials).map(ContentBlock::text));
        }
        if let Some(path) = &entry.audit {
            let mut events =
                crate::audit::from_outcome(&outcome.outcome, &plan, &entry.mcp_name, &entry.withheld, entry.allows);
            for e in &mut events {
                e.tool = Some(entry.mcp_name.clone());
                e.call_id = Some(call_id.clone());
            }
            if let Err(e) = crate::audit::append(path, &events) {
                result.content.push(ContentBlock::text(format!("cordon: {e}")));
                result.is_error = Some(true);
            }
        }
        result
    }
}

impl McpServer {
    /// One call of a native command tool: `args` after the command, `stdin` bytes, output
    /// captured under the cap; run as `cordon run` runs it (the same backend choice, plan,
    /// protections and audit), in a blocking task.
    async fn answer_native(
        &self,
        entry: &Entry,
        command: &[String],
        policy: &Arc<Policy>,
        args: JsonObject,
        call_id: String,
    ) -> CallToolResult {
        let call = match command_call(&entry.owner, args) {
            Ok(c) => c,
            Err(why) => return error_result(vec![format!("cordon: {why}")]),
        };
        let wait = policy.process.timeout;
        let slot = match wait {
            Some(w) => tokio::time::timeout(w, self.native_slots.clone().acquire_owned()).await.ok(),
            None => Some(self.native_slots.clone().acquire_owned().await),
        };
        let Some(Ok(slot)) = slot else {
            return error_result(vec![
                "cordon: busy: every native slot stayed in use for the call's whole process.timeout; nothing ran"
                    .into(),
            ]);
        };
        let argv: Vec<String> = command.iter().cloned().chain(call.args.into_iter().skip(1)).collect();
        let (policy, audit, tag) = (policy.clone(), entry.audit.clone(), (entry.mcp_name.clone(), call_id));
        let stdin = call.stdin;
        // The slot goes with the run, not with this future: a client that cancels the call
        // stops waiting for it, but the sandbox runs on (to its end or its timeout) holding
        // the slot, so cancelling cannot start more native runs than the bound.
        let ran = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            crate::run::run_tool(crate::run::RunRequest {
                policy: &policy,
                command: argv,
                backend: None,
                dry_run: false,
                notify: None,
                audit,
                helper: None,
                io: crate::run::NativeIo { stdin: Some(stdin), capture: true, tag: Some(tag) },
            })
        })
        .await;
        let out = match ran {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return error_result(vec![format!("cordon: {e}")]),
            Err(e) => return error_result(vec![format!("cordon: the run failed: {e}")]),
        };
        let mut r = exit_result(&out.stdout, &out.stderr, out.code);
        // What cordon has to say: limits and notes, each refusal with its rule, the summary.
        let lines = out.notes.iter().chain(out.debug.iter().filter(|l| l.contains("denied")));
        r.content.extend(lines.map(|l| ContentBlock::text(l.clone())));
        if let Some(line) = out.summary.line(out.audit.as_deref()) {
            r.content.push(ContentBlock::text(line));
        }
        r
    }
}

fn error_result(lines: Vec<String>) -> CallToolResult {
    CallToolResult::error(lines.into_iter().map(ContentBlock::text).collect())
}

/// A typed call's answer: the result as `{"result": …}` structured content and as text; a
/// `result` error, a trap, a timeout or a limit as `isError`.
fn typed_result(returned: Option<&Returned>, out: &crate::api::Output) -> CallToolResult {
    let mut r = match returned {
        Some(Returned::Ok(v)) if out.code == 0 => {
            let mut r = CallToolResult::structured(json!({ "result": v }));
            r.content = vec![ContentBlock::text(v.to_string())];
            r
        }
        Some(Returned::Err(e)) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        Some(Returned::Ok(_)) | None => CallToolResult::error(Vec::new()),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if r.is_error == Some(true) && !stderr.is_empty() {
        r.content.push(ContentBlock::text(format!("tool stderr:\n{stderr}")));
    }
    r
}

/// A command's answer: stdout, stderr and the exit code; `isError` when it is not 0.
fn command_result(out: &crate::api::Output) -> CallToolResult {
    exit_result(&out.stdout, &out.stderr, out.code)
}

/// `{"stdout", "stderr", "exitCode"}`, as structured content and as text.
fn exit_result(stdout: &[u8], stderr: &[u8], code: u8) -> CallToolResult {
    let v = json!({
        "stdout": String::from_utf8_lossy(stdout),
        "stderr": String::from_utf8_lossy(stderr),
        "exitCode": code,
    });
    let mut r = CallToolResult::structured(v.clone());
    r.content = vec![ContentBlock::text(v.to_string())];
    if code != 0 {
        r.is_error = Some(true);
    }
    r
}

/// `{"args": [..], "stdin": ".."}` → a [`Call`] with argv\[0\] = the tool's name.
fn command_call(name: &str, args: JsonObject) -> Result<Call, String> {
    if let Some(k) = args.keys().find(|k| *k != "args" && *k != "stdin") {
        return Err(format!("unknown parameter `{k}`; the parameters are: args (array of strings), stdin (string)"));
    }
    let mut argv = vec![name.to_string()];
    match args.get("args") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, a) in items.iter().enumerate() {
                match a {
                    Value::String(s) => argv.push(s.clone()),
                    other => return Err(format!("parameter `args` at /{i}: expected string, got {other}")),
                }
            }
        }
        Some(other) => return Err(format!("parameter `args`: expected array of strings, got {other}")),
    }
    let stdin = match args.get("stdin") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => return Err(format!("parameter `stdin`: expected string, got {other}")),
    };
    Ok(Call { args: argv, stdin, output: OutputMode::Capture, ..Call::default() })
}

/// Plans and loads one spec into its MCP tools.
fn load(runtime: &Runtime, spec: &ToolSpec, audit: Option<&Path>) -> Result<Vec<Entry>, RuntimeError> {
    let ToolSpec { name, source, policy, description } = spec;
    let refused = |why: String| RuntimeError::Request(format!("tool `{name}` ({}): {why}", source.shown()));
    if name.is_empty() || mcp_safe(name) != *name {
        return Err(refused("a tool name may hold only letters, digits, `_`, `-` and `.`".into()));
    }
    let path = match source {
        ToolSource::Wasm(p) => p,
        ToolSource::Native(command) => {
            return load_native(spec, command, audit).map(|e| vec![e]).map_err(|e| match e {
                RuntimeError::Request(why) => refused(why),
                other => other,
            });
        }
    };
    match policy.containment {
        None | Some(Containment::Process) => {}
        Some(other) => {
            return Err(refused(format!(
                "containment `{other:?}` asks for a native sandbox; wasm tools are served on the wasm backend only"
            )));
        }
    }
    let audit_path = audit
        .map(Path::to_path_buf)
        .or_else(|| policy.audit.path.clone())
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    let cache_dir = crate::wasm::Cache::default_dir();
    let protected = crate::protect::for_run(cache_dir.as_deref(), audit_path.as_deref());
    crate::protect::refuse_reach(&policy.filesystem, &protected)?;
    crate::protect::refuse_paths(None, audit_path.as_deref(), &protected)?;
    if let Some(p) = &audit_path {
        crate::audit::open(p)?;
    }
    // Output is held in memory until the call is answered: bounded even when the policy
    // sets no cap (a tighter cap than asked, never a looser one), in the policy the tool is
    // planned from, so the plan carries it.
    let mut with_cwd = crate::run::with_caller_cwd(policy).into_owned();
    with_cwd.limits.max_output_bytes = held_output_cap(with_cwd.limits.max_output_bytes);
    let with_cwd = Arc::new(with_cwd);
    let plan = Arc::new(wasm_plan(&with_cwd)?);
    let tool = runtime.load_file(path)?;
    let allows = policy.audit.allows;
    let entry = |mcp_name: String, target: Target, listing: McpTool| Entry {
        mcp_name,
        owner: name.clone(),
        kind: Kind::Wasm { tool: tool.clone(), plan: plan.clone(), policy: with_cwd.clone(), target },
        listing,
        allows,
        audit: audit_path.clone(),
        withheld: crate::call::withheld_env(&plan),
    };
    let mut out = Vec::new();
    if tool.is_command() {
        let (input, output) = command_schemas();
        let desc = description.clone().unwrap_or_else(|| format!("Runs the {name} command under its cordon policy."));
        let mut listing = McpTool::new(name.clone(), desc, object(input));
        listing.output_schema = Some(object(output));
        out.push(entry(name.clone(), Target::Command, listing));
    }
    // A command's other exports are tools too (a Python or JS tool may export typed
    // functions beside `wasi:cli/run`); `run` itself is the command tool above.
    for export in tool.exports() {
        if tool.is_command() && export.interface.as_deref().is_some_and(|i| i.starts_with("wasi:cli/run@")) {
            continue;
        }
        if export.unsupported().is_some() {
            // Resources and their methods cannot be called with JSON; they are not listed.
            continue;
        }
        let mcp_name = match &export.interface {
            None => format!("{name}.{}", mcp_safe(&export.func)),
            Some(iface) => format!("{name}.{}.{}", mcp_safe(short_interface(iface)), mcp_safe(&export.func)),
        };
        let (Some(input), Some(result)) = (export.input_schema(), export.output_schema()) else { continue };
        let mut result = result;
        if let Value::Object(m) = &mut result {
            m.remove("$schema");
        }
        let output = json!({
            "type": "object",
            "properties": {"result": result},
            "required": ["result"],
        });
        let what = match &export.interface {
            None => format!("`{}`", export.func),
            Some(i) => format!("`{}` of `{i}`", export.func),
        };
        let desc = match description {
            Some(d) => format!("{d} (function {what})"),
            None => format!("Calls {what} of the {name} tool under its cordon policy."),
        };
        let mut listing = McpTool::new(mcp_name.clone(), desc, object(input));
        listing.output_schema = Some(object(output));
        out.push(entry(mcp_name, Target::Func(export.name.clone()), listing));
    }
    if out.is_empty() {
        return Err(refused("it exports no function JSON can call and is not a command".into()));
    }
    Ok(out)
}

/// The input and output schemas of a command tool (wasm `wasi:cli/run` or native).
fn command_schemas() -> (Value, Value) {
    let input = json!({
        "type": "object",
        "properties": {
            "args": {"type": "array", "items": {"type": "string"}, "description": "arguments after the program name"},
            "stdin": {"type": "string", "description": "what the tool reads on stdin"}
        },
        "additionalProperties": false
    });
    let output = json!({
        "type": "object",
        "properties": {"stdout": {"type": "string"}, "stderr": {"type": "string"}, "exitCode": {"type": "integer"}},
        "required": ["stdout", "stderr", "exitCode"]
    });
    (input, output)
}

/// A native command tool: checked now as `cordon run` would check it (the policy plans on
/// this host's native backend; no grant reaches cordon's own files), planned again at each
/// call.
fn load_native(spec: &ToolSpec, command: &[String], audit: Option<&Path>) -> Result<Entry, RuntimeError> {
    let ToolSpec { name, policy, description, .. } = spec;
    let Some(program) = command.first().filter(|p| !p.is_empty()) else {
        return Err(RuntimeError::Request("`command` is empty; give the program and its arguments".into()));
    };
    if program.ends_with(".wasm") {
        return Err(RuntimeError::Request("a wasm tool is given as `path`, not `command`".into()));
    }
    let audit_path = audit
        .map(Path::to_path_buf)
        .or_else(|| policy.audit.path.clone())
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    let cache_dir = crate::wasm::Cache::default_dir();
    let protected = crate::protect::for_run(cache_dir.as_deref(), audit_path.as_deref());
    crate::protect::refuse_reach(&policy.filesystem, &protected)?;
    if let Some(p) = &audit_path {
        crate::audit::open(p)?;
    }
    // Output is held in memory until the call is answered: bounded even when the policy
    // sets no cap (a tighter cap than asked, never a looser one).
    let mut policy = policy.clone();
    policy.limits.max_output_bytes = held_output_cap(policy.limits.max_output_bytes);
    // Refused now, not at the first call: a policy this host's native backend cannot enforce.
    let backend = crate::native::host_backends()
        .first()
        .copied()
        .ok_or_else(|| RuntimeError::Unavailable("no native backend on this host".into()))?;
    cordon_plan::plan_for(&policy, backend, None, &crate::host_env::SystemFacts)?;
    let (input, output) = command_schemas();
    let desc = description
        .clone()
        .unwrap_or_else(|| format!("Runs `{}` natively under its cordon policy.", command.join(" ")));
    let mut listing = McpTool::new(name.clone(), desc, object(input));
    listing.output_schema = Some(object(output));
    Ok(Entry {
        mcp_name: name.clone(),
        owner: name.clone(),
        kind: Kind::Native { command: command.to_vec(), policy: Arc::new(policy) },
        listing,
        allows: spec.policy.audit.allows,
        audit: audit_path,
        withheld: Vec::new(),
    })
}

impl rmcp::ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = rmcp::model::Implementation::new("cordon", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Each tool runs in a fresh WebAssembly sandbox with exactly the access its cordon policy grants.".into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult { tools: self.tools(), ..Default::default() })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(entry) = self.entries.iter().find(|e| e.mcp_name == request.name) else {
            return Err(ErrorData::invalid_params(format!("no tool named `{}`", request.name), None));
        };
        // A call the client cancels stops: its instance is dropped and its slot freed.
        let answer = tokio::select! {
            r = self.answer(entry, request.arguments, context.id.to_string()) => r,
            () = context.ct.cancelled() => error_result(vec!["cordon: the client cancelled the call".into()]),
        };
        Ok(answer.into())
    }
}

/// The output cap of a call whose output is held until it is answered: the policy's, at
/// most [`DEFAULT_MAX_OUTPUT_BYTES`].
fn held_output_cap(policy: Option<u64>) -> Option<u64> {
    Some(policy.map_or(DEFAULT_MAX_OUTPUT_BYTES, |m| m.min(DEFAULT_MAX_OUTPUT_BYTES)))
}

/// The plan a wasm tool's calls run under, from this host as it is now.
fn wasm_plan(policy: &cordon_policy::Policy) -> Result<WasiPlan, RuntimeError> {
    Ok(cordon_plan::wasi::plan(policy, &crate::host_env::SystemFacts)?)
}
