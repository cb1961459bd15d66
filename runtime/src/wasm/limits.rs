//! Memory, CPU and wall-clock limits for one run.

use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;

/// Caps the total of all linear memories (and table growth) of one store.
///
/// Growth past the cap fails the way the guest sees it: `memory.grow` returns -1, and the
/// guest's allocator reports out-of-memory. cordon itself is not affected.
#[derive(Debug, Default)]
pub struct MemoryBudget {
    limit: Option<u64>,
    used: u64,
    /// Set when a growth was refused.
    pub hit: bool,
}

impl MemoryBudget {
    /// A budget of `limit` bytes over all memories (`None`: unlimited).
    pub fn new(limit: Option<u64>) -> Self {
        Self { limit, used: 0, hit: false }
    }
}

impl ResourceLimiter for MemoryBudget {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current) as u64;
        match self.limit {
            Some(limit) if self.used.saturating_add(grow) > limit => {
                self.hit = true;
                Ok(false)
            }
            _ => {
                self.used += grow;
                Ok(true)
            }
        }
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold references; one million entries is far beyond any real tool.
        Ok(desired <= 1_000_000)
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
