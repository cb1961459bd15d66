//! Memory, CPU and wall-clock limits for one run.

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
    /// Set when a growth was refused.
    pub hit: bool,
}

impl MemoryBudget {
    /// A budget of `limit` bytes over all memories (`None`: unlimited).
    pub fn new(limit: Option<u64>) -> Self {
        Self { limit, used: 0, host: 0, hit: false }
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

/// Checked at every epoch tick while the guest runs.
#[derive(Debug)]
pub struct Clock {
    deadline: Option<Instant>,
    cpu_budget: Option<Duration>,
    cpu_used: Duration,
    last: Option<(std::thread::ThreadId, Duration)>,
}

impl Clock {
    /// Starts the clock now.
    pub fn start(timeout: Option<Duration>, cpu: Option<Duration>) -> Self {
        let mut c = Self {
            deadline: timeout.map(|t| Instant::now() + t),
            cpu_budget: cpu,
            cpu_used: Duration::ZERO,
            last: None,
        };
        c.sample();
        c
    }

    /// Adds the CPU time this thread used since the last sample. A store that moved to
    /// another thread starts a new baseline (its last slice is not counted).
    fn sample(&mut self) {
        if self.cpu_budget.is_none() {
            return;
        }
        let now = (std::thread::current().id(), cpu_time::ThreadTime::now().as_duration());
        if let Some((tid, t)) = &self.last
            && *tid == now.0
        {
            self.cpu_used += now.1.saturating_sub(*t);
        }
        self.last = Some(now);
    }

    /// Called at each tick: the reason to stop, if any.
    pub fn tick(&mut self) -> Option<Stop> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Stop::Timeout);
        }
        self.sample();
        match self.cpu_budget {
            Some(budget) if self.cpu_used >= budget => Some(Stop::Cpu),
            _ => None,
        }
    }
}
