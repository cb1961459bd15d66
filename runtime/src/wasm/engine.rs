//! The shared Wasmtime engine, its epoch ticker, and the admission queue in front of a
//! pooling allocator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    admission: Option<Arc<Admission>>,
}

/// Calls waiting for a pool slot, by default, before the next one is turned away.
pub const DEFAULT_MAX_QUEUED: usize = 1024;

/// A pool of `instances` slots: a call takes one before its store exists and gives it back
/// when the store is gone, so the pooling allocator never runs out under it. Calls past the
/// pool wait (first come, first served) in a queue of at most `max_queued`.
struct Admission {
    slots: Arc<tokio::sync::Semaphore>,
    instances: u32,
    queued: AtomicUsize,
    max_queued: usize,
}

/// Why a call was not started: the pool was full. Nothing of the tool ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// Every pool slot was taken and the queue already held its maximum.
    #[error(
        "all {instances} instance slots are in use and {queued} calls already wait (the queue's bound); retry later"
    )]
    QueueFull {
        /// Pool slots.
        instances: u32,
        /// Calls waiting when this one came.
        queued: usize,
    },
    /// The call waited for a slot for its whole `process.timeout`.
    #[error("waited {} ms for one of {instances} instance slots, the call's whole process.timeout; nothing ran", waited.as_millis())]
    Waited {
        /// Pool slots.
        instances: u32,
        /// How long it waited.
        waited: Duration,
    },
    /// The pooling allocator itself ran out (a tool with more core instances, memories or
    /// tables than the pool sizes for one call).
    #[error("the instance pool ran out while instantiating ({0}); raise the pool size")]
    Pool(String),
}

/// Held by a running call; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Leaves the queue when the waiting call is done waiting (or dropped).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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

    /// As [`WasmEngine::with_pooling`], with at most `max_queued` calls waiting for a slot.
    ///
    /// # Errors
    /// As [`WasmEngine::with_pooling`].
    pub fn with_pool_queue(instances: Option<u32>, max_queued: usize) -> Result<Self, RuntimeError> {
        let mut engine = Self::with_pooling(instances)?;
        if let Some(a) = engine.admission.as_mut().and_then(Arc::get_mut) {
            a.max_queued = max_queued;
        }
        Ok(engine)
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
                .max_memory_size(1 << 30)
                // Tuned for many short calls: a slot's memory and table are reset in place
                // (zeroed) up to these sizes instead of being unmapped and faulted back in,
                // only the pages a call dirtied are reset where the kernel can say which
                // (PAGEMAP_SCAN), and decommits are batched. A new call still sees only
                // zeroed memory and its module's initial image.
                .linear_memory_keep_resident(1 << 20)
                .table_keep_resident(1 << 16)
                .pagemap_scan(wasmtime::Enabled::Auto)
                .decommit_batch_size(n.clamp(1, 32) as usize);
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
        let admission = instances.map(|n| {
            Arc::new(Admission {
                slots: Arc::new(tokio::sync::Semaphore::new(n as usize)),
                instances: n,
                queued: AtomicUsize::new(0),
                max_queued: DEFAULT_MAX_QUEUED,
            })
        });
        Ok(Self { engine, _ticker: Arc::new(Ticker { stop }), admission })
    }

    /// Takes a pool slot for one call, waiting in the queue up to `wait` (`None`: as long as
    /// it takes). Without a pool there is nothing to wait for.
    ///
    /// # Errors
    /// [`Busy`] when the queue is full or the wait passed `wait`.
    pub async fn admit(&self, wait: Option<Duration>) -> Result<Slot, Busy> {
        let Some(a) = &self.admission else { return Ok(Slot { _permit: None }) };
        let instances = a.instances;
        // The fast path: a free slot, no queue.
        if let Ok(p) = a.slots.clone().try_acquire_owned() {
            return Ok(Slot { _permit: Some(p) });
        }
        let queued = a.queued.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&a.queued);
        if queued >= a.max_queued {
            return Err(Busy::QueueFull { instances, queued });
        }
        let start = Instant::now();
        let acquired = match wait {
            Some(w) => tokio::time::timeout(w, a.slots.clone().acquire_owned()).await.ok(),
            None => Some(a.slots.clone().acquire_owned().await),
        };
        match acquired {
            Some(Ok(p)) => Ok(Slot { _permit: Some(p) }),
            // The semaphore is never closed.
            Some(Err(_)) | None => Err(Busy::Waited { instances, waited: start.elapsed() }),
        }
    }

    /// The Wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}
