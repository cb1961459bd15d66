//! The library API, for servers that run many tool calls.
//!
//! One [`Runtime`] holds the Wasmtime engine, the linker with cordon's checked WASI host,
//! and the compiled-code cache. [`Runtime::load`] compiles (or maps from the cache) and
//! links a tool once; the [`Tool`] it returns runs any number of calls, from any number of
//! tasks at once, each in a fresh instance with exactly its policy's grants.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cordon_runtime::RuntimeError> {
//! use cordon_runtime::api::{Call, Runtime};
//! use cordon_policy::{Policy, LexicalHost};
//!
//! let runtime = Runtime::builder().pooling(64).build()?;
//! let tool = runtime.load_file("probe.wasm".as_ref())?;
//! let policy = Policy::builder().read_only("/srv/data").timeout_ms(5_000).build(&LexicalHost::default())?;
//! let out = tool.run(&policy, Call::new(["probe", "list", "/srv/data"])).await?;
//! assert_eq!(out.code, 0);
//! println!("{}", String::from_utf8_lossy(&out.stdout));
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cordon_plan::wasi::WasiPlan;
use cordon_policy::Policy;
use tracing::Instrument as _;
use wasmtime::component::Linker;

use crate::RuntimeError;
use crate::protect::Protected;
use crate::wasm::{self, Cache, Source, StoreData, Target, ToolPre, WasmEngine, WasmRun};

/// Builds a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    pooling: Option<u32>,
    max_queued: Option<usize>,
    fuel: bool,
    cache: CacheChoice,
    cache_max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
enum CacheChoice {
    #[default]
    Default,
    Dir(PathBuf),
    Off,
}

impl RuntimeBuilder {
    /// Use Wasmtime's pooling allocator, sized for `instances` calls at once. By default
    /// instances are allocated on demand.
    ///
    /// Calls past `instances` wait for a slot, first come first served, each for at most
    /// its policy's `process.timeout` (then [`RuntimeError::Busy`]); the wait does not
    /// count against the run's own timeout, which starts when the call gets its slot.
    pub fn pooling(mut self, instances: u32) -> Self {
        self.pooling = Some(instances);
        self
    }

    /// With [`RuntimeBuilder::pooling`]: at most `calls` wait for a slot; one more gets
    /// [`RuntimeError::Busy`] at once. Default [`wasm::DEFAULT_MAX_QUEUED`]; 0 turns every
    /// call past the pool away.
    pub fn max_queued(mut self, calls: usize) -> Self {
        self.max_queued = Some(calls);
        self
    }

    /// Count fuel: each call may then carry a fuel budget ([`Call::fuel`],
    /// [`TypedCall::fuel`]), a deterministic measure of the code it executes (the same call
    /// stops at the same point on every machine), checked beside the epoch's timeout and
    /// `cpuMs`. Running out is exit 152 with `Stop::Fuel`. Costs some speed on every call.
    pub fn fuel(mut self, on: bool) -> Self {
        self.fuel = on;
        self
    }

    /// Keep compiled code in `dir`. By default: `$CORDON_CACHE_DIR`, `$XDG_CACHE_HOME/cordon`
    /// or `~/.cache/cordon`.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = CacheChoice::Dir(dir.into());
        self
    }

    /// Cap the compiled-code cache at `bytes`: after each new entry is written, the least
    /// recently used entries are removed until the cache fits (the new entry always stays).
    /// By default `$CORDON_CACHE_MAX_BYTES`, or 1 GiB.
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.cache_max_bytes = Some(bytes);
        self
    }

    /// Compile every tool in memory, never touching disk.
    pub fn no_cache(mut self) -> Self {
        self.cache = CacheChoice::Off;
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    /// The engine cannot be configured, an explicitly given cache directory is unsafe, or
    /// `CORDON_CACHE_MAX_BYTES` is not a size (when no cap is given here).
    pub fn build(self) -> Result<Runtime, RuntimeError> {
        let engine =
            WasmEngine::configured(self.pooling, self.max_queued.unwrap_or(wasm::DEFAULT_MAX_QUEUED), self.fuel)?;
        let linker = Arc::new(wasm::linker(&engine)?);
        let mut cache_problem = None;
        let max = match (&self.cache, self.cache_max_bytes) {
            (CacheChoice::Off, _) => 0,
            (_, Some(n)) => n,
            (_, None) => Cache::default_max_bytes()?,
        };
        let cache = match self.cache {
            CacheChoice::Off => None,
            CacheChoice::Dir(d) => Some(Cache::open_ambient(&d)?),
            // The default location is best effort: no usable cache means compiling each time,
            // and `cache_problem` says why.
            CacheChoice::Default => match Cache::default_dir().map(|d| Cache::open_ambient(&d)) {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    cache_problem = Some(e.to_string());
                    None
                }
                None => None,
            },
        }
        .map(|c| c.with_max_bytes(max));
        Ok(Runtime { engine, linker, cache, cache_problem })
    }
}

/// The shared engine, linker and cache. Cheap to clone; safe to share between tasks.
#[derive(Clone)]
pub struct Runtime {
    engine: WasmEngine,
    linker: Arc<Linker<StoreData>>,
    cache: Option<Cache>,
    cache_problem: Option<String>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with the defaults (no pooling, the default cache).
    ///
    /// # Errors
    /// As [`RuntimeBuilder::build`].
    pub fn new() -> Result<Self, RuntimeError> {
        RuntimeBuilder::default().build()
    }

    /// A builder.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The cache in use, if any.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// Why the default cache is not in use, when it is not.
    pub fn cache_problem(&self) -> Option<&str> {
        self.cache_problem.as_deref()
    }

    /// The directories no grant of a policy may reach (the cache is trusted code, and
    /// holds its key).
    pub fn protected_dirs(&self) -> Vec<PathBuf> {
        self.cache.iter().map(|c| c.dir().to_path_buf()).collect()
    }

    /// Loads a tool file (wasm by its bytes).
    ///
    /// # Errors
    /// 127 when missing, 126 when unreadable or not valid wasm.
    pub fn load_file(&self, path: &Path) -> Result<Tool, RuntimeError> {
        self.load_file_with(path, &|| {})
    }

    /// As [`Runtime::load_file`], calling `on_slow_compile` (from another thread) once when
    /// compiling takes longer than [`SLOW_COMPILE`]; the CLI prints a line then.
    ///
    /// # Errors
    /// As [`Runtime::load_file`].
    pub fn load_file_with(&self, path: &Path, on_slow_compile: &(dyn Fn() + Sync)) -> Result<Tool, RuntimeError> {
        let bytes = wasm::read_tool(path)?;
        self.load_with(&path.display().to_string(), &bytes, on_slow_compile)
    }

    /// Compiles (or loads from the cache) and links a tool.
    ///
    /// # Errors
    /// [`RuntimeError::ToolCannotRun`] when the bytes are not a WASI command.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Tool, RuntimeError> {
        self.load_with(name, bytes, &|| {})
    }

    /// As [`Runtime::load`], calling `on_slow_compile` (from another thread) once when
    /// compiling takes longer than [`SLOW_COMPILE`]. It is not called for a cache hit.
    ///
    /// # Errors
    /// As [`Runtime::load`].
    pub fn load_with(
        &self,
        name: &str,
        bytes: &[u8],
        on_slow_compile: &(dyn Fn() + Sync),
    ) -> Result<Tool, RuntimeError> {
        let path = Path::new(name);
        if wasm::sniff(bytes).is_none() {
            return Err(RuntimeError::ToolCannotRun { path: path.into(), reason: "not WebAssembly".into() });
        }
        let compile = || noting_slow(on_slow_compile, || wasm::compile(&self.engine, path, bytes));
        let (component, source, refused) = match &self.cache {
            Some(cache) => {
                let label = path.file_name().map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned());
                let l = cache.get_or_compile(&self.engine, bytes, &label, compile)?;
                (l.component, l.source, l.refused)
            }
            None => (compile()?, Source::Compiled, None),
        };
        let pre = wasm::prepare(&self.engine, &self.linker, &component, name)?;
        let mut protected: Vec<Protected> = self.protected_dirs().iter().map(|d| Protected::cache(d)).collect();
        if cfg!(target_os = "linux") {
            protected.push(Protected::own_process());
        }
        let protected = protected.into_iter().map(Protected::prepared).collect();
        Ok(Tool { engine: self.engine.clone(), pre, name: name.into(), source, refused, protected })
    }
}

/// How long a compile runs before [`Runtime::load_with`] calls its `on_slow_compile`.
pub const SLOW_COMPILE: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs `f`; calls `notice` from a helper thread if `f` is still running after
/// [`SLOW_COMPILE`].
fn noting_slow<T>(notice: &(dyn Fn() + Sync), f: impl FnOnce() -> T) -> T {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            if wait.recv_timeout(SLOW_COMPILE) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                notice();
            }
        });
        let out = f();
        drop(done);
        out
    })
}

/// A compiled, linked tool. Clone it freely; every call gets a fresh instance.
#[derive(Clone)]
pub struct Tool {
    engine: WasmEngine,
    pre: ToolPre,
    name: String,
    source: Source,
    refused: Option<String>,
    protected: Vec<Protected>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool").field("name", &self.name).field("source", &self.source).finish_non_exhaustive()
    }
}

/// Where a call's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Captured into [`Output`].
    #[default]
    Capture,
    /// Written through to this process's stdout and stderr as the tool writes.
    Inherit,
}

/// One call: argv (argv\[0\] first), stdin bytes, where output goes.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// argv, with argv\[0\] first.
    pub args: Vec<String>,
    /// What the tool reads on stdin (empty: end of file at once).
    pub stdin: Vec<u8>,
    /// Or a stream the tool reads as it asks (takes the place of `stdin`): see
    /// [`wasm::StdinPipe::new`] and [`Tool::run_streaming`].
    pub stdin_stream: Option<wasm::StdinPipe>,
    /// Captured (default) or written through.
    pub output: OutputMode,
    /// Record granted filesystem calls too.
    pub record_grants: bool,
    /// A fuel budget, on a runtime built with [`RuntimeBuilder::fuel`].
    pub fuel: Option<u64>,
}

impl Call {
    /// A call with these arguments, no stdin, output captured.
    pub fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { args: args.into_iter().map(Into::into).collect(), ..Self::default() }
    }
}

/// How a call ended, and what it wrote.
#[derive(Debug)]
pub struct Output {
    /// Exit code (the tool's own, 124 timeout, 152 CPU, 134 trap).
    pub code: u8,
    /// Captured stdout (empty with [`OutputMode::Inherit`]).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty with [`OutputMode::Inherit`]).
    pub stderr: Vec<u8>,
    /// Everything else cordon knows about the run: denials, limits, network decisions.
    pub outcome: wasm::RunOutcome,
}

impl Tool {
    /// Whether the code was mapped from the cache or compiled.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Why a cache entry for this tool was found and not used (it did not verify, or
    /// Wasmtime refused it), when that happened; the tool was then compiled afresh.
    pub fn cache_refusal(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// Runs one call under `policy`.
    ///
    /// # Errors
    /// 125 when the policy cannot be enforced on wasm (or a grant would let the tool reach
    /// the compiled-code cache), or a granted path is missing.
    pub async fn run(&self, policy: &Policy, call: Call) -> Result<Output, RuntimeError> {
        let plan = cordon_plan::wasi::plan(policy, &crate::host_env::SystemFacts)?;
        self.run_plan(&plan, call).await
    }

    /// Runs one call under an already computed plan (saves planning on a hot path). The
    /// plan must still match the host: one made before the host's own addresses or local
    /// routes changed, or with facts other than this host's, is refused ([`fresh`]).
    ///
    /// # Errors
    /// As [`Tool::run`].
    pub async fn run_plan(&self, plan: &WasiPlan, call: Call) -> Result<Output, RuntimeError> {
        fresh(plan)?;
        let Call { args, stdin, stdin_stream, output, record_grants, fuel } = call;
        let (out, err) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let (stdout, stderr) = match output {
            OutputMode::Capture => (Target::Capture(out.clone()), Target::Capture(err.clone())),
            OutputMode::Inherit => (Target::Stdout, Target::Stderr),
        };
        let stdin = match stdin_stream {
            Some(s) => wasm::Stdin::Stream(s),
            None if stdin.is_empty() => wasm::Stdin::Empty,
            None => wasm::Stdin::Bytes(stdin),
        };
        let outcome = self.run_fueled(plan, &args, stdin, (stdout, stderr), record_grants, fuel).await?;
        let take =
            |m: &Arc<Mutex<Vec<u8>>>| std::mem::take(&mut *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        Ok(Output { code: outcome.code, stdout: take(&out), stderr: take(&err), outcome })
    }
}

/// A run whose output is read while it goes on ([`Tool::run_streaming`]).
#[derive(Debug)]
pub struct Streaming {
    /// The tool's stdout, as it writes it; end of file when the run ends.
    pub stdout: tokio::io::DuplexStream,
    /// The tool's stderr.
    pub stderr: tokio::io::DuplexStream,
    /// The run: await it for the outcome (its `stdout` and `stderr` are empty: the bytes
    /// went to the streams). Dropping it stops the run.
    pub done: RunHandle,
}

/// A run under way; dropping it cancels the run (its instance is dropped, its pool slot
/// freed).
#[derive(Debug)]
pub struct RunHandle(tokio::task::JoinHandle<Result<Output, RuntimeError>>);

impl Drop for RunHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::future::Future for RunHandle {
    type Output = Result<Output, RuntimeError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(out) => out,
            Err(e) => Err(RuntimeError::Internal(format!("the run ended abnormally: {e}"))),
        })
    }
}

/// Bytes buffered between the tool and the reader of each stream before the tool waits.
pub const STREAM_BUFFER: usize = 64 * 1024;

impl Tool {
    /// Starts one call under `plan` on the current Tokio runtime and returns its output
    /// streams at once: the caller reads them while the tool runs (a tool that writes faster
    /// waits for the reader; `maxOutputBytes` caps the total as usual). stdin is the call's
    /// (bytes, or a stream: [`Call::stdin_stream`]); [`Call::output`] is ignored.
    pub fn run_streaming(&self, plan: Arc<WasiPlan>, call: Call) -> Streaming {
        let (out_w, out_r) = tokio::io::duplex(STREAM_BUFFER);
        let (err_w, err_r) = tokio::io::duplex(STREAM_BUFFER);
        let tool = self.clone();
        let task = tokio::spawn(async move {
            let Call { args, stdin, stdin_stream, record_grants, fuel, .. } = call;
            let stdin = match stdin_stream {
                Some(s) => wasm::Stdin::Stream(s),
                None if stdin.is_empty() => wasm::Stdin::Empty,
                None => wasm::Stdin::Bytes(stdin),
            };
            let (stdout, stderr) =
                (Target::Stream(Arc::new(Mutex::new(out_w))), Target::Stream(Arc::new(Mutex::new(err_w))));
            let outcome = tool.run_fueled(&plan, &args, stdin, (stdout, stderr), record_grants, fuel).await?;
            Ok(Output { code: outcome.code, stdout: Vec::new(), stderr: Vec::new(), outcome })
        });
        Streaming { stdout: out_r, stderr: err_r, done: RunHandle(task) }
    }
}

/// One typed call: an exported function and its arguments as JSON.
#[derive(Debug, Clone)]
pub struct TypedCall {
    /// The function: `func`, or `interface#func` (see [`Tool::exports`]).
    pub func: String,
    /// The arguments: a JSON object keyed by WIT parameter name (`null` for none).
    pub args: serde_json::Value,
    /// Where the tool's own stdout and stderr go: captured (default) or written through.
    pub output: OutputMode,
    /// Record granted filesystem calls too.
    pub record_grants: bool,
    /// A fuel budget, on a runtime built with [`RuntimeBuilder::fuel`].
    pub fuel: Option<u64>,
}

impl TypedCall {
    /// A call of `func` with `args`, output captured.
    pub fn new(func: impl Into<String>, args: serde_json::Value) -> Self {
        Self { func: func.into(), args, output: OutputMode::Capture, record_grants: false, fuel: None }
    }
}

/// How a typed call ended.
#[derive(Debug)]
pub struct TypedOutput {
    /// What the function returned, when it returned (`None` after a trap, timeout or limit;
    /// [`Output::outcome`]'s code and fields say which).
    pub returned: Option<wasm::typed::Returned>,
    /// The tool's stdout, stderr and run outcome, as for a command.
    pub output: Output,
}

impl Tool {
    /// The tool's exported functions, with their types and JSON Schemas.
    pub fn exports(&self) -> &[wasm::typed::Export] {
        self.pre.exports()
    }

    /// True when the tool is a command (exports `wasi:cli/run`), runnable with [`Tool::run`].
    pub fn is_command(&self) -> bool {
        self.pre.is_command()
    }

    /// The tool's name as loaded.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls one exported function under `policy`, in a fresh instance, with the same
    /// context, limits, timeout and protected paths as [`Tool::run`].
    ///
    /// # Errors
    /// [`RuntimeError::Call`] when the function does not exist, cannot take JSON (resources),
    /// or the arguments do not match its parameters (nothing ran); otherwise as [`Tool::run`].
    pub async fn call(&self, policy: &Policy, call: TypedCall) -> Result<TypedOutput, RuntimeError> {
        let plan = cordon_plan::wasi::plan(policy, &crate::host_env::SystemFacts)?;
        self.call_plan(&plan, call).await
    }

    /// As [`Tool::call`], under an already computed plan.
    ///
    /// # Errors
    /// As [`Tool::call`].
    pub async fn call_plan(&self, plan: &WasiPlan, call: TypedCall) -> Result<TypedOutput, RuntimeError> {
        fresh(plan)?;
        let TypedCall { func, args, output, record_grants, fuel } = call;
        let export = wasm::typed::find(self.exports(), &func)?;
        let params = export.params_from_json(&args)?;
        let (out, err) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let (stdout, stderr) = match output {
            OutputMode::Capture => (Target::Capture(out.clone()), Target::Capture(err.clone())),
            OutputMode::Inherit => (Target::Stderr, Target::Stderr),
        };
        let entry = wasm::CallEntry::Func { export, params };
        let mut outcome =
            self.exec(plan, &[], wasm::Stdin::Empty, (stdout, stderr), record_grants, entry, fuel).await?;
        let returned = outcome.returned.take().map(|vals| wasm::typed::returned(export, &vals));
        let take =
            |m: &Arc<Mutex<Vec<u8>>>| std::mem::take(&mut *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let output = Output { code: outcome.code, stdout: take(&out), stderr: take(&err), outcome };
        Ok(TypedOutput { returned, output })
    }
}

impl Tool {
    /// The run itself, with stdio as given (the CLI passes its own stdin through).
    pub(crate) async fn run_raw(
        &self,
        plan: &WasiPlan,
        argv: &[String],
        stdin: wasm::Stdin,
        stdout: Target,
        stderr: Target,
        record_grants: bool,
    ) -> Result<wasm::RunOutcome, RuntimeError> {
        self.run_fueled(plan, argv, stdin, (stdout, stderr), record_grants, None).await
    }

    /// [`Tool::run_raw`] with a fuel budget.
    async fn run_fueled(
        &self,
        plan: &WasiPlan,
        argv: &[String],
        stdin: wasm::Stdin,
        out: (Target, Target),
        record_grants: bool,
        fuel: Option<u64>,
    ) -> Result<wasm::RunOutcome, RuntimeError> {
        if !self.pre.is_command() {
            return Err(RuntimeError::ToolCannotRun {
                path: self.name.clone().into(),
                reason:
                    "it does not export wasi:cli/run; call its functions with `cordon call` (`cordon tools` lists them)"
                        .into(),
            });
        }
        self.exec(plan, argv, stdin, out, record_grants, wasm::CallEntry::Command, fuel).await
    }

    /// Every run and typed call passes here (the library's and the CLI's): the one place the
    /// cache is guarded.
    #[expect(clippy::too_many_arguments, reason = "private; each caller passes its own stdio and entry")]
    async fn exec(
        &self,
        plan: &WasiPlan,
        argv: &[String],
        stdin: wasm::Stdin,
        (stdout, stderr): (Target, Target),
        record_grants: bool,
        entry: wasm::CallEntry<'_>,
        fuel: Option<u64>,
    ) -> Result<wasm::RunOutcome, RuntimeError> {
        crate::protect::refuse_reach(&plan.fs, &self.protected)?;
        // Held until the run's store is gone: the pool slot it occupies.
        let _slot = self.engine.admit(plan.timeout).await?;
        let span = tracing::info_span!("cordon.call", tool = %self.name);
        let mut outcome = wasm::run(
            &self.engine,
            WasmRun { plan, tool: &self.pre, argv, stdin, stdout, stderr, record_grants, entry, fuel },
        )
        .instrument(span)
        .await?;
        outcome.metrics.cache_hit = self.source == Source::Cached;
        tracing::debug!(
            tool = %self.name,
            code = outcome.code,
            wall_us = outcome.metrics.wall.as_micros() as u64,
            cpu_us = outcome.metrics.cpu.as_micros() as u64,
            peak_memory = outcome.metrics.peak_memory_bytes,
            denials = outcome.metrics.denials,
            "call ended"
        );
        Ok(outcome)
    }
}

/// Checks that `plan` was made with this host's networks as they are now
/// ([`cordon_policy::Network::host_networks`]: its interface addresses and local routes,
/// which every rule keeps apart from the host's own services). Cheap: on Linux the list is
/// re-read only when the kernel reports a change.
///
/// # Errors
/// [`RuntimeError::Plan`] naming `/network` when the host changed since the plan was made
/// (plan again) or the plan was made with other facts.
pub fn fresh(plan: &WasiPlan) -> Result<(), RuntimeError> {
    let now = cordon_plan::host_networks(&plan.network, cordon_plan::Backend::Wasm, &crate::host_env::SystemFacts)?;
    if now == plan.network.host_networks {
        return Ok(());
    }
    Err(RuntimeError::Plan(cordon_plan::PlanError::Unenforceable {
        backend: cordon_plan::Backend::Wasm,
        rule: "/network".into(),
        reason: "this host's own addresses or local routes are not those the plan was made with (they changed, or the plan was made with other host facts); plan again with cordon_runtime::SystemFacts".into(),
    }))
}
