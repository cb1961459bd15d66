//! `cordon.limits` → [`TreeLimits`]: what a native run's own cgroup must hold, as data.
//!
//! rlimits ([`NativeLimits`](crate::helper::NativeLimits)) count one process at a time, so a
//! tool that forks escapes them. These limits count the whole process tree: the runner puts
//! the tool's first process in a cgroup of its own before it executes, and every process it
//! starts stays there (setsid and double forks included; leaving needs write access to
//! cgroupfs, which no sandbox grants). The runner refuses a run it cannot give such a cgroup
//! (with every controller a limit needs) with the limit's JSON pointer; it never falls back
//! to rlimits alone.

use std::time::Duration;

/// JSON pointer of `cordon.limits.memoryBytes`.
pub const MEMORY_POINTER: &str = "/cordon/limits/memoryBytes";
/// JSON pointer of `cordon.limits.cpuMs`.
pub const CPU_POINTER: &str = "/cordon/limits/cpuMs";
/// JSON pointer of `cordon.limits.maxProcesses`.
pub const PIDS_POINTER: &str = "/cordon/limits/maxProcesses";

/// Limits over a native tool's whole process tree, held by a cgroup cordon creates for the
/// run and removes after it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeLimits {
    /// A cgroup is needed even without limits: it is how the runner finds and kills every
    /// process of the tool (the landlock backend, which has no pid namespace).
    pub track: bool,
    /// `memory.max` in bytes, with `memory.swap.max` 0 (cgroup v1: `memory.limit_in_bytes`
    /// and `memory.memsw.limit_in_bytes`). An OOM kill anywhere in the tree stops the whole
    /// tool: exit 137, "memory limit reached".
    pub memory_max: Option<u64>,
    /// `pids.max`: processes (and threads) at once in the tree.
    pub pids_max: Option<u64>,
    /// CPU time of the whole tree (`cpu.stat` `usage_usec`; cgroup v1 `cpuacct.usage`),
    /// watched by cordon; past it every process is killed: exit 152.
    pub cpu: Option<Duration>,
}

/// What a cgroup must offer for a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// `memory.max` and `memory.events` (v1: `memory.limit_in_bytes`, `memory.oom_control`).
    Memory,
    /// `pids.max`.
    Pids,
    /// CPU time of the tree (v2 `cpu.stat`, present in every cgroup; v1 `cpuacct`).
    CpuTime,
}

impl Controller {
    /// The limit's JSON pointer, named when the host cannot offer the controller.
    pub fn pointer(self) -> &'static str {
        match self {
            Controller::Memory => MEMORY_POINTER,
            Controller::Pids => PIDS_POINTER,
            Controller::CpuTime => CPU_POINTER,
        }
    }

    /// The controller's name in cgroupfs (v1 names its CPU accounting `cpuacct`).
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::CpuTime => "cpu",
        }
    }
}

impl TreeLimits {
    /// The tree limits of `limits`; `track` asks for a cgroup even without any.
    pub fn new(limits: &cordon_policy::Limits, track: bool) -> Self {
        // Destructured in full: a new limit is a build error here until it is handled.
        let cordon_policy::Limits { memory_bytes, cpu, max_output_bytes: _, max_processes } = limits;
        Self { track, memory_max: *memory_bytes, pids_max: *max_processes, cpu: *cpu }
    }

    /// Whether the run needs a cgroup at all.
    pub fn needs_cgroup(&self) -> bool {
        self.track || !self.controllers().is_empty()
    }

    /// The controllers the limits need, in the order their refusals are reported.
    pub fn controllers(&self) -> Vec<Controller> {
        let mut c = Vec::new();
        if self.memory_max.is_some() {
            c.push(Controller::Memory);
        }
        if self.cpu.is_some() {
            c.push(Controller::CpuTime);
        }
        if self.pids_max.is_some() {
            c.push(Controller::Pids);
        }
        c
    }

    /// One line per limit, for `cordon policy explain` and the golden files.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(b) = self.memory_max {
            out.push(format!("memory.max {b} bytes, memory.swap.max 0; an OOM kill stops the whole tree (exit 137)"));
        }
        if let Some(d) = self.cpu {
            out.push(format!(
                "cpu.stat usage of the whole tree watched; past {} ms every process is killed (exit 152)",
                d.as_millis()
            ));
        }
        if let Some(n) = self.pids_max {
            out.push(format!("pids.max {n}"));
        }
        if out.is_empty() && self.track {
            out.push("no limits; the cgroup holds every process so that all of them are killed".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_needs_its_controller_and_none_needs_no_cgroup() {
        let l = cordon_policy::Limits {
            memory_bytes: Some(1 << 28),
            cpu: Some(Duration::from_millis(1500)),
            max_output_bytes: Some(10),
            max_processes: Some(8),
        };
        let t = TreeLimits::new(&l, false);
        assert_eq!(t.controllers(), vec![Controller::Memory, Controller::CpuTime, Controller::Pids]);
        assert_eq!(t.cpu, Some(Duration::from_millis(1500)), "kept to the millisecond, not rounded to seconds");
        assert!(t.needs_cgroup());
        let none = TreeLimits::new(&cordon_policy::Limits { max_output_bytes: Some(10), ..Default::default() }, false);
        assert!(!none.needs_cgroup() && none.controllers().is_empty());
        assert!(TreeLimits::new(&cordon_policy::Limits::default(), true).needs_cgroup());
        assert_eq!(Controller::Memory.pointer(), "/cordon/limits/memoryBytes");
    }
}
