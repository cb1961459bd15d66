//! Memory, CPU and wall-clock limits for one run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;

/// Caps the total of all linear memories and tables of one store, and the host memory held
/// for it (`cordon_host::memory`).
///
/// Growth past the cap fails the way the guest sees it: `memory.grow` returns -1, and the
/// guest's allocator reports out-of-memory. Host memory past the cap traps
/// (`cordon_host::memory::MemoryLimit`). cordon itself is not affected.
#[derive(Debug, Default)]
pub struct MemoryBudget {
    limit: Option<u64>,
    used: u64,
    host: u64,
    peak: u64,
    /// Set when a growth was refused.
    pub hit: bool,
}

impl MemoryBudget {
    /// A budget of `limit` bytes over all memories (`None`: unlimited).
    pub fn new(limit: Option<u64>) -> Self {
        Self { limit, used: 0, host: 0, peak: 0, hit: false }
    }

    /// The most the store held at once: linear memories, tables (as charged) and host
    /// memory held for the guest, as last counted.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    fn note_peak(&mut self) {
        self.peak = self.peak.max(self.used.saturating_add(self.host));
    }
}

impl cordon_host::memory::HostBudget for MemoryBudget {
    fn host_bytes(&self) -> u64 {
        self.host
    }

    fn fits_host(&self, bytes: u64) -> bool {
        self.limit.is_none_or(|limit| self.used.saturating_add(bytes) <= limit)
    }

    fn set_host_bytes(&mut self, bytes: u64) {
        self.host = bytes;
        self.note_peak();
    }

    fn mark_hit(&mut self) {
        self.hit = true;
    }
}

impl ResourceLimiter for MemoryBudget {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.charge(desired.saturating_sub(current) as u64)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables are host memory too: each entry is charged as a pointer against the same
        // budget, so a hundred tables of a million entries cannot sidestep `memoryBytes`.
        // Without a limit, one million entries per table is far beyond any real tool.
        if self.limit.is_none() {
            return Ok(desired <= 1_000_000);
        }
        let grow = (desired.saturating_sub(current) as u64).saturating_mul(TABLE_ENTRY_BYTES);
        self.charge(grow)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Bytes charged per table entry (a reference is one pointer in Wasmtime's tables).
pub const TABLE_ENTRY_BYTES: u64 = 8;
/// Core instances one store may hold (a component has a few dozen at most).
const MAX_INSTANCES: usize = 1_000;
/// Tables one store may hold.
const MAX_TABLES: usize = 1_000;
/// Linear memories one store may hold.
const MAX_MEMORIES: usize = 1_000;

impl MemoryBudget {
    /// Charges `grow` bytes, or refuses (and remembers it) past the limit.
    fn charge(&mut self, grow: u64) -> wasmtime::Result<bool> {
        match self.limit {
            // The host charge is recounted at every epoch tick, so a guest that dropped its
            // resources gets the room back within one tick.
            Some(limit) if self.used.saturating_add(self.host).saturating_add(grow) > limit => {
                self.hit = true;
                Ok(false)
            }
            _ => {
                self.used = self.used.saturating_add(grow);
                self.note_peak();
                Ok(true)
            }
        }
    }
}

/// Why a run was stopped by cordon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `process.timeout` passed.
    Timeout,
    /// `cordon.limits.cpuMs` used up.
    Cpu,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Timeout => "timeout",
            Stop::Cpu => "cpu limit",
        })
    }
}

impl std::error::Error for Stop {}

/// The CPU time one call used: the thread CPU time of every poll of its future, on
/// whichever thread polls it (the guest's code and the host calls it makes). A call that
/// moves between threads loses nothing.
#[derive(Debug, Default)]
pub struct CpuMeter {
    state: Mutex<MeterState>,
}

#[derive(Debug, Default)]
struct MeterState {
    used: Duration,
    /// The polling thread's CPU time when the current poll began.
    poll_start: Option<Duration>,
}

fn thread_cpu() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}

impl CpuMeter {
    fn state(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn begin(&self) {
        self.state().poll_start = Some(thread_cpu());
    }

    fn end(&self) {
        let mut st = self.state();
        if let Some(start) = st.poll_start.take() {
            st.used += thread_cpu().saturating_sub(start);
        }
    }

    /// CPU time so far. Inside a poll (the epoch callback) it includes the poll under way.
    pub fn used(&self) -> Duration {
        let st = self.state();
        st.used + st.poll_start.map_or(Duration::ZERO, |start| thread_cpu().saturating_sub(start))
    }
}

/// A future whose polls are charged to a [`CpuMeter`].
pub struct Metered<'m, F> {
    /// The call.
    pub fut: F,
    /// Its meter.
    pub meter: &'m CpuMeter,
}

impl<F: Future + Unpin> Future for Metered<'_, F> {
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        self.meter.begin();
        let out = std::pin::Pin::new(&mut self.fut).poll(cx);
        self.meter.end();
        out
    }
}

/// Checked at every epoch tick while the guest runs.
#[derive(Debug)]
pub struct Clock {
    deadline: Option<Instant>,
    cpu_budget: Option<Duration>,
    meter: Arc<CpuMeter>,
}

impl Clock {
    /// Starts the clock now; CPU time is read from `meter`.
    pub fn start(timeout: Option<Duration>, cpu: Option<Duration>, meter: Arc<CpuMeter>) -> Self {
        Self { deadline: timeout.map(|t| Instant::now() + t), cpu_budget: cpu, meter }
    }

    /// Called at each tick: the reason to stop, if any.
    pub fn tick(&mut self) -> Option<Stop> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Stop::Timeout);
        }
        match self.cpu_budget {
            Some(budget) if self.meter.used() >= budget => Some(Stop::Cpu),
            _ => None,
        }
    }
}
