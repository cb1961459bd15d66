//! The WebAssembly backend: a tool runs in-process in Wasmtime with exactly the WASI
//! capabilities its [`WasiPlan`] lists.

mod cache;
mod ctx;
mod engine;
mod limits;
mod load;
mod output;
pub mod typed;

use std::path::Path;
use std::sync::Arc;

use cordon_host::fs::{CordonFsView, FsDenial, FsGuard};
use cordon_host::net::{CordonNetView, NetEvent, NetGuard};
use cordon_plan::wasi::WasiPlan;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::filesystem::WasiFilesystemView as _;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use cache::{Cache, DEFAULT_MAX_BYTES, Entry, Lookup, Source, parse_size};
pub use ctx::{Stdin, empty_root_path};
pub use engine::{Busy, DEFAULT_MAX_QUEUED, Slot, TICK, WasmEngine};
pub use limits::Stop;
pub use load::{WasmKind, compile, is_wasm_file_ambient, sniff};
pub use output::Target;

use crate::RuntimeError;

/// Live resources (files, streams, pollables, `wasi:http` objects…) one store may hold;
/// past it the call that would add one traps, counted as reaching the memory limit.
/// Wasmtime's own default is 1,000,000.
pub const MAX_RESOURCES: usize = 100_000;

/// Exit code for a trap, as `wasmtime run` uses on Unix (128 + SIGABRT).
pub const TRAP_EXIT: u8 = 134;
/// Exit code when `process.timeout` passes.
pub const TIMEOUT_EXIT: u8 = 124;
/// Exit code when `cordon.limits.cpuMs` is used up (128 + SIGXCPU, as a native process gets).
pub const CPU_EXIT: u8 = 152;

/// WASI state of one run.
struct WasiParts {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for WasiParts {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// Everything a store holds for one run.
pub struct StoreData {
    wasi: WasiParts,
    fs: FsGuard,
    net: Arc<NetGuard>,
    lookups: std::collections::HashMap<u32, String>,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_hooks: cordon_host::http::CordonHttpHooks,
    memory: limits::MemoryBudget,
    clock: limits::Clock,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

impl wasmtime_wasi_http::WasiHttpView for StoreData {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.wasi.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl wasmtime_wasi_io::IoView for StoreData {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.wasi.table
    }
}

fn fs_view(d: &mut StoreData) -> CordonFsView<'_> {
    CordonFsView { inner: d.wasi.filesystem(), guard: &mut d.fs }
}

fn http_view(d: &mut StoreData) -> cordon_host::memory::HttpMemoryView<'_> {
    cordon_host::memory::HttpMemoryView {
        http: wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut d.http,
            table: &mut d.wasi.table,
            hooks: &mut d.http_hooks,
        },
        budget: &mut d.memory,
    }
}

fn net_view(d: &mut StoreData) -> CordonNetView<'_> {
    use wasmtime_wasi::sockets::WasiSocketsView as _;
    CordonNetView { inner: d.wasi.sockets(), guard: &d.net, streams: &mut d.lookups }
}

/// The linker every tool is instantiated with: all of WASI 0.2 from `wasmtime-wasi`, except
/// `wasi:filesystem`, which comes from cordon-host's checked layer.
///
/// # Errors
/// Only on a Wasmtime bug (duplicate definitions).
pub fn linker(engine: &WasmEngine) -> Result<Linker<StoreData>, RuntimeError> {
    link(engine).map_err(|e| RuntimeError::Internal(format!("wasm linker: {e:#}")))
}

fn link(engine: &WasmEngine) -> wasmtime::Result<Linker<StoreData>> {
    let mut linker = Linker::<StoreData>::new(engine.engine());
    cordon_host::add_to_linker(&mut linker, cordon_host::Views { fs: fs_view, net: net_view, http: http_view })?;
    Ok(linker)
}

/// A tool ready to instantiate: compiled and linked once, run many times. A component that
/// exports `wasi:cli/run` is a command (`cordon run`); any component's exported functions
/// can be called with typed arguments (`cordon call`).
#[derive(Clone)]
pub struct ToolPre {
    instance: wasmtime::component::InstancePre<StoreData>,
    command: Result<wasmtime_wasi::p2::bindings::CommandPre<StoreData>, String>,
    exports: Arc<Vec<typed::Export>>,
}

impl ToolPre {
    /// The exported functions, with their types.
    pub fn exports(&self) -> &[typed::Export] {
        &self.exports
    }

    /// True when the tool exports `wasi:cli/run` (it runs as a command).
    pub fn is_command(&self) -> bool {
        self.command.is_ok()
    }
}

/// Links a compiled tool against cordon's WASI host.
///
/// # Errors
/// [`RuntimeError::ToolCannotRun`] when the tool imports something the host does not offer.
pub fn prepare(
    engine: &WasmEngine,
    linker: &Linker<StoreData>,
    component: &Component,
    name: &str,
) -> Result<ToolPre, RuntimeError> {
    let cannot = |e: wasmtime::Error| RuntimeError::ToolCannotRun {
        path: name.into(),
        reason: format!("not a WASI 0.2 component this host can link: {e:#}"),
    };
    let instance = linker.instantiate_pre(component).map_err(cannot)?;
    let command = wasmtime_wasi::p2::bindings::CommandPre::new(instance.clone()).map_err(|e| format!("{e:#}"));
    let exports = Arc::new(typed::exports(engine.engine(), component));
    Ok(ToolPre { instance, command, exports })
}

/// What a run calls in the instance.
pub enum CallEntry<'a> {
    /// `wasi:cli/run`, with the argv of [`WasmRun`].
    Command,
    /// One exported function with these (already typed) arguments.
    Func {
        /// The function.
        export: &'a typed::Export,
        /// Its arguments.
        params: Vec<wasmtime::component::Val>,
    },
}

/// One run of a tool.
pub struct WasmRun<'a> {
    /// What the tool is granted.
    pub plan: &'a WasiPlan,
    /// The prepared tool.
    pub tool: &'a ToolPre,
    /// argv, with argv\[0\] first.
    pub argv: &'a [String],
    /// What the tool reads on stdin.
    pub stdin: Stdin,
    /// Where its stdout goes.
    pub stdout: Target,
    /// Where its stderr goes.
    pub stderr: Target,
    /// Record granted filesystem calls too (for audit logs with `allows`).
    pub record_grants: bool,
    /// What to call.
    pub entry: CallEntry<'a>,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// The exit code cordon exits with.
    pub code: u8,
    /// Set when cordon stopped the tool.
    pub stop: Option<Stop>,
    /// Set when the tool trapped: the trap's message.
    pub trap: Option<String>,
    /// Output bytes dropped at the `maxOutputBytes` cap.
    pub discarded_output: u64,
    /// Filesystem calls the layer refused.
    pub fs_denials: Vec<FsDenial>,
    /// Filesystem calls the layer granted (only when asked to record them).
    pub fs_grants: Vec<FsDenial>,
    /// True when a memory growth was refused by `memoryBytes`.
    pub memory_limit_hit: bool,
    /// Every network decision (names and addresses), allowed or not.
    pub net_events: Vec<NetEvent>,
    /// What an [`CallEntry::Func`] call returned (`None` when it did not return).
    pub returned: Option<Vec<wasmtime::component::Val>>,
    /// What the run cost.
    pub metrics: Metrics,
}

/// What one run cost, measured by cordon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Wall time from the store's creation to the end of the run (not the wait for a pool
    /// slot).
    pub wall: std::time::Duration,
    /// CPU time of the run's polls: the guest and the host calls it made.
    pub cpu: std::time::Duration,
    /// The most linear memory, table and host memory held for the guest at once, in bytes.
    pub peak_memory_bytes: u64,
    /// Filesystem and network operations refused.
    pub denials: usize,
    /// True when the tool's code was mapped from the compiled-code cache.
    pub cache_hit: bool,
}

impl RunOutcome {
    /// Filesystem and network operations refused in this run.
    pub fn denial_count(&self) -> usize {
        self.fs_denials.len() + self.net_events.iter().filter(|e| !e.decision.allowed).count()
    }
}

/// Runs a tool to completion. Needs a Tokio runtime.
///
/// # Errors
/// The context cannot be built (a granted path is missing) or the tool does not
/// instantiate (for example it imports something WASI does not offer).
pub async fn run(engine: &WasmEngine, req: WasmRun<'_>) -> Result<RunOutcome, RuntimeError> {
    let WasmRun { plan, tool, argv, stdin, stdout, stderr, record_grants, entry } = req;
    let started = std::time::Instant::now();
    let meter = Arc::new(limits::CpuMeter::default());
    let budget = output::Budget::new(plan.max_output_bytes);
    let net = NetGuard::new(plan.network.clone());
    let mut built =
        ctx::build(ctx::CtxRequest { plan, argv, stdin: &stdin, stdout, stderr, budget: &budget, net: &net })?;
    if record_grants {
        built.guard.record_grants();
    }
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    let data = StoreData {
        wasi: WasiParts { ctx: built.wasi, table },
        fs: built.guard,
        net: net.clone(),
        lookups: Default::default(),
        http: wasmtime_wasi_http::WasiHttpCtx::new(),
        http_hooks: cordon_host::http::CordonHttpHooks::new(net.clone()),
        memory: limits::MemoryBudget::new(plan.memory_bytes),
        clock: limits::Clock::start(plan.timeout, plan.cpu, meter.clone()),
    };
    let mut store = Store::new(engine.engine(), data);
    store.limiter(|d| &mut d.memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| {
        let d = cx.data_mut();
        if let Some(stop) = d.clock.tick() {
            return Err(wasmtime::Error::new(stop));
        }
        // What the host holds for the guest, counted again: the charge follows drops, and
        // growth through calls that are not wrapped is caught within a tick.
        cordon_host::memory::recount(&mut d.wasi.table, &mut d.memory).map_err(wasmtime::Error::new)?;
        Ok(UpdateDeadline::Yield(1))
    });

    let mut returned = None;
    let call = async {
        match entry {
            CallEntry::Command => {
                let pre = tool.command.as_ref().map_err(|why| {
                    wasmtime::Error::new(NotCommand(format!("it does not export wasi:cli/run: {why}")))
                })?;
                let command = pre.instantiate_async(&mut store).await?;
                command.wasi_cli_run().call_run(&mut store).await
            }
            CallEntry::Func { export, params } => {
                let instance = tool.instance.instantiate_async(&mut store).await?;
                let func = instance
                    .get_func(&mut store, export.index())
                    .ok_or_else(|| wasmtime::Error::msg(format!("export `{}` is not a function", export.name)))?;
                let mut results = vec![wasmtime::component::Val::Bool(false); export.result_count()];
                func.call_async(&mut store, &params, &mut results).await?;
                returned = Some(results);
                Ok(Ok(()))
            }
        }
    };
    let result = {
        let call = limits::Metered { fut: std::pin::pin!(call), meter: &meter };
        // The epoch callback stops a guest that computes; this stops one blocked in a host
        // call.
        match plan.timeout {
            Some(t) => tokio::time::timeout(t + TICK * 5, call)
                .await
                .unwrap_or_else(|_| Err(wasmtime::Error::new(Stop::Timeout))),
            None => call.await,
        }
    };

    let (mut code, mut stop, mut trap) = (0u8, None, None);
    if let Err(e) = &result {
        if let Some(NotCommand(why)) = e.downcast_ref::<NotCommand>() {
            return Err(RuntimeError::ToolCannotRun { path: "tool".into(), reason: why.clone() });
        }
        // The pool ran out at instantiation: nothing ran, and it is not the tool's fault.
        if let Some(p) = e.chain().find_map(|c| c.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()) {
            return Err(RuntimeError::Busy(Busy::Pool(p.to_string())));
        }
    }
    match result {
        Ok(Ok(())) => {}
        Ok(Err(())) => code = 1,
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                code = (exit.0 & 0xff) as u8;
            } else if let Some(s) = e.downcast_ref::<Stop>() {
                stop = Some(*s);
                code = match s {
                    Stop::Timeout => TIMEOUT_EXIT,
                    Stop::Cpu => CPU_EXIT,
                };
            } else {
                trap = Some(trap_message(&e));
                code = TRAP_EXIT;
                if is_resource_limit(&e) {
                    store.data_mut().memory.hit = true;
                }
            }
        }
    }
    let data = store.data();
    let mut outcome = RunOutcome {
        code,
        stop,
        trap,
        discarded_output: budget.discarded(),
        fs_denials: data.fs.denials().to_vec(),
        fs_grants: data.fs.grants().to_vec(),
        memory_limit_hit: data.memory.hit,
        net_events: net.events(),
        returned,
        metrics: Metrics::default(),
    };
    outcome.metrics = Metrics {
        wall: started.elapsed(),
        cpu: meter.used(),
        peak_memory_bytes: data.memory.peak(),
        denials: outcome.denial_count(),
        cache_hit: false,
    };
    Ok(outcome)
}

/// The tool is not a command (found only when it is run as one).
#[derive(Debug)]
struct NotCommand(String);

impl std::fmt::Display for NotCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotCommand {}

/// A trap because host resources held for the guest reached `memoryBytes` or
/// [`MAX_RESOURCES`].
fn is_resource_limit(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<cordon_host::memory::MemoryLimit>().is_some()
            || matches!(
                c.downcast_ref::<wasmtime::component::ResourceTableError>(),
                Some(wasmtime::component::ResourceTableError::Full)
            )
    })
}

fn trap_message(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => t.to_string(),
        None => format!("{e:#}"),
    }
}

/// Reads a tool file.
///
/// # Errors
/// 127 when it does not exist, 126 when it cannot be read.
pub fn read_tool(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    let fail = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => RuntimeError::ToolNotFound(path.to_path_buf()),
        _ => RuntimeError::ToolCannotRun { path: path.to_path_buf(), reason: e.to_string() },
    };
    let len = std::fs::metadata(path).map_err(fail)?.len();
    check_size(path, len)?;
    std::fs::read(path).map_err(fail)
}

/// The largest wasm file cordon compiles: `CORDON_MAX_WASM_BYTES`, else 512 MiB (a Python
/// tool built with componentize-py is about 20 MiB).
pub fn max_wasm_bytes() -> u64 {
    std::env::var("CORDON_MAX_WASM_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(512 << 20)
}

/// Refuses a tool larger than [`max_wasm_bytes`] (126, naming the bound).
///
/// # Errors
/// [`RuntimeError::ToolCannotRun`] when `len` is past the bound.
pub fn check_size(path: &Path, len: u64) -> Result<(), RuntimeError> {
    let max = max_wasm_bytes();
    if len > max {
        return Err(RuntimeError::ToolCannotRun {
            path: path.to_path_buf(),
            reason: format!(
                "{len} bytes is larger than the {max}-byte bound on wasm tools (CORDON_MAX_WASM_BYTES raises it)"
            ),
        });
    }
    Ok(())
}

/// Shared handle to captured output.
pub type Captured = Arc<std::sync::Mutex<Vec<u8>>>;
