//! The shared Wasmtime engine and its epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine};

use crate::RuntimeError;

/// How often the epoch advances. Timeouts and CPU budgets are checked at this grain.
pub const TICK: Duration = Duration::from_millis(10);

/// A Wasmtime engine configured for cordon, with a thread that advances its epoch every
/// [`TICK`] for as long as the engine lives.
#[derive(Clone)]
pub struct WasmEngine {
    engine: Engine,
    _ticker: Arc<Ticker>,
}

struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine").finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// Builds the engine: component model on, epoch interruption on, Cranelift tuned for speed.
    ///
    /// # Errors
    /// When Wasmtime rejects the configuration or the ticker thread cannot start.
    pub fn new() -> Result<Self, RuntimeError> {
        Self::with_pooling(None)
    }

    /// As [`WasmEngine::new`], with Wasmtime's pooling allocator sized for `instances`
    /// tool instances alive at once (for servers).
    ///
    /// # Errors
    /// When Wasmtime rejects the configuration or the ticker thread cannot start.
    pub fn with_pooling(instances: Option<u32>) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        if let Some(n) = instances {
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            // A tool component holds a few core instances (its module, adapters, shims),
            // each with its memory and table.
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(16))
                .total_memories(n.saturating_mul(4))
                .total_tables(n.saturating_mul(4))
                .total_stacks(n)
                .max_memory_size(1 << 30);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Internal(format!("wasm engine: {e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.weak(), stop.clone());
        std::thread::Builder::new()
            .name("cordon-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match e.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| RuntimeError::Internal(format!("epoch thread: {e}")))?;
        Ok(Self { engine, _ticker: Arc::new(Ticker { stop }) })
    }

    /// The Wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}
