//! The run's own cgroup: limits over the tool's whole process tree, and the one place every
//! process of the tool can be found and killed.
//!
//! One directory per hierarchy the run needs, all named `cordon-PID-N` (cordon's pid, a
//! counter). The cgroup2 hierarchy holds the tree when the host mounts one (membership,
//! `cgroup.kill`, `cpu.stat`); a controller the host binds to a v1 hierarchy instead (a
//! "hybrid" host: `memory` and `pids` under `/sys/fs/cgroup/memory` and `…/pids`) is taken
//! from there, with the same process in both. Where a limit's controller is missing, or the
//! cgroup cannot be made, the run is refused with the limit's JSON pointer.
//!
//! Placement: under cordon's own cgroup (so the host's limits on cordon still hold the tool);
//! on cgroup2, where a controller must be enabled and cordon's cgroup holds processes (the
//! "no internal processes" rule), under the hierarchy's root when cordon runs as root.
//!
//! Cleanup: the directories are removed when the run ends (`Drop`), by the supervisor when
//! cordon dies first ([`Supervisor`]), and at the next start when both were killed: a
//! `cordon-PID-N` cgroup or scratch directory whose PID is not a live process is swept
//! (its processes killed first).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cordon_plan::cgroup::{Controller, TreeLimits};

use crate::NativeError;

/// A name for this process's next run: `cordon-PID-N` (cgroups and the scratch directory).
pub(crate) fn run_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("cordon-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The owning pid of a `cordon-PID-N` name.
fn owner_of(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix("cordon-")?.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then(|| pid.parse().ok()).flatten()
}

/// Whether `name` is a `cordon-PID-N` whose PID is no live process (so its run is over).
fn stale(name: &str) -> bool {
    owner_of(name).is_some_and(|pid| pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists())
}

/// One cgroup hierarchy: where it is mounted and where this process sits in it.
#[derive(Debug, Clone)]
struct Hierarchy {
    /// cgroup2, or a v1 hierarchy.
    v2: bool,
    /// v1: the controllers bound to it (`memory`, `pids`, `cpuacct`, …).
    controllers: Vec<String>,
    /// Its mount point.
    mount: PathBuf,
    /// This process's cgroup, as a directory under the mount.
    current: PathBuf,
}

/// The hierarchies of this host, from `/proc/self/mountinfo` and `/proc/self/cgroup`.
fn hierarchies() -> Vec<Hierarchy> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let membership = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(root), Some(mount), Some(fstype)) = (pre.get(3), pre.get(4), post.first()) else { continue };
        let (v2, controllers) = match *fstype {
            "cgroup2" => (true, Vec::new()),
            "cgroup" => {
                let opts = post.get(2).copied().unwrap_or_default();
                let c: Vec<String> = opts
                    .split(',')
                    .filter(|o| ["memory", "pids", "cpuacct", "cpu"].contains(o))
                    .map(String::from)
                    .collect();
                if c.is_empty() {
                    continue;
                }
                (false, c)
            }
            _ => continue,
        };
        // This process's path in the hierarchy: `0::/path` for cgroup2, `N:a,b:/path` for v1.
        let path = membership.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            let matches =
                if v2 { names.is_empty() } else { names.split(',').any(|n| controllers.iter().any(|c| c == n)) };
            matches.then(|| path.to_string())
        });
        let Some(path) = path else { continue };
        // The mount shows the hierarchy from `root` down; a cgroup above it is out of view.
        let Ok(rel) = Path::new(&path).strip_prefix(root) else { continue };
        let current = Path::new(mount).join(rel);
        if out.iter().any(|h| h.mount == Path::new(mount)) {
            continue;
        }
        out.push(Hierarchy { v2, controllers, mount: PathBuf::from(mount), current });
    }
    out
}

/// Whether the host has swap in use (then a memory limit must cover swap too).
fn swap_in_use() -> bool {
    std::fs::read_to_string("/proc/swaps").is_ok_and(|s| s.lines().count() > 1)
}

/// Where the run's CPU time is read.
#[derive(Debug)]
enum CpuFile {
    /// cgroup2 `cpu.stat`, `usage_usec`.
    V2(PathBuf),
    /// cgroup v1 `cpuacct.usage`, nanoseconds.
    V1(PathBuf),
}

/// The run's cgroup: created with its limits, joined by the tool's first process before it
/// executes, killed and removed when dropped.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    /// Every directory made, the tracking one first.
    dirs: Vec<PathBuf>,
    /// Whether the tracking directory (`dirs[0]`) is cgroup2 (`cgroup.kill`, `cgroup.events`).
    track_v2: bool,
    /// Where CPU time is read, when `cpuMs` is set.
    cpu: Option<CpuFile>,
    /// `memory.events` (v2) or `memory.oom_control` (v1), when `memoryBytes` is set: both
    /// count OOM kills on an `oom_kill N` line.
    oom: Option<PathBuf>,
    /// The CPU budget.
    cpu_budget: Option<Duration>,
}

fn refuse(c: Controller, why: String) -> NativeError {
    NativeError::Unenforceable {
        rule: c.pointer().into(),
        why: format!(
            "limits over the whole process tree need a cgroup with the {} controller, and {why}; remove the limit, run cordon where it can create cgroups (as root, or in a delegated cgroup2 subtree), or run the tool as wasm",
            c.name()
        ),
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("writing {value:?} to {}: {e}", path.display()))
}

impl RunCgroup {
    /// The run's cgroup for `limits`, or `None` when the limits need none. Sweeps stale
    /// cgroups first.
    ///
    /// # Errors
    /// [`NativeError::Unenforceable`] naming the first limit whose controller this host cannot
    /// offer; [`NativeError::Unavailable`] when only tracking was asked for and no cgroup can
    /// be made.
    pub(crate) fn create(limits: &TreeLimits, name: &str) -> Result<Option<Self>, NativeError> {
        if !limits.needs_cgroup() {
            return Ok(None);
        }
        let TreeLimits { track: _, memory_max, pids_max, cpu } = limits;
        let hs = hierarchies();
        let v2 = hs.iter().find(|h| h.v2);
        let v2_offers = |c: &str| {
            v2.is_some_and(|h| {
                std::fs::read_to_string(h.mount.join("cgroup.controllers"))
                    .is_ok_and(|s| s.split_whitespace().any(|x| x == c))
            })
        };
        let v1_of = |c: &str| hs.iter().find(|h| !h.v2 && h.controllers.iter().any(|x| x == c));
        // Which hierarchy serves each controller: cgroup2 when it has it, else a v1 one.
        let mut v2_controllers: Vec<&str> = Vec::new();
        let mut v1_dirs: Vec<(&Hierarchy, Controller)> = Vec::new();
        for c in limits.controllers() {
            let name = match c {
                Controller::Memory => "memory",
                Controller::Pids => "pids",
                Controller::CpuTime if v2.is_some() => continue, // cpu.stat is in every cgroup2 cgroup
                Controller::CpuTime => "cpuacct",
            };
            if v2_offers(name) {
                v2_controllers.push(name);
            } else if let Some(h) = v1_of(name) {
                v1_dirs.push((h, c));
            } else {
                return Err(refuse(c, "this host mounts no cgroup hierarchy with it".into()));
            }
        }
        let mut made = Self { dirs: Vec::new(), track_v2: false, cpu: None, oom: None, cpu_budget: *cpu };
        // The tracking directory: cgroup2 when mounted, else a v1 hierarchy (pids first).
        if let Some(h) = v2 {
            let parent = v2_parent(h, &v2_controllers).map_err(|why| match limits.controllers().first() {
                Some(c) => refuse(*c, why),
                None => NativeError::Unavailable { backend: "landlock", why },
            })?;
            let dir = make_dir(&parent, name).map_err(|why| match limits.controllers().first() {
                Some(c) => refuse(*c, why),
                None => NativeError::Unavailable { backend: "landlock", why },
            })?;
            made.dirs.push(dir.clone());
            made.track_v2 = true;
            for c in &v2_controllers {
                let r = match *c {
                    "memory" => memory_v2(&dir, memory_max.unwrap_or(u64::MAX)),
                    _ => write(&dir.join("pids.max"), &pids_max.unwrap_or(u64::MAX).to_string()),
                };
                r.map_err(|why| refuse(if *c == "memory" { Controller::Memory } else { Controller::Pids }, why))?;
                if *c == "memory" {
                    made.oom = Some(dir.join("memory.events"));
                }
            }
            if cpu.is_some() {
                made.cpu = Some(CpuFile::V2(dir.join("cpu.stat")));
            }
        }
        if made.dirs.is_empty() && !v1_dirs.iter().any(|(h, _)| h.controllers.iter().any(|c| c == "pids")) {
            // Tracking only (or limits that all live elsewhere): v1 pids holds the tree.
            if let Some(h) = v1_of("pids") {
                v1_dirs.insert(0, (h, Controller::Pids));
            }
        }
        for (h, c) in v1_dirs {
            let dir = match made.dirs.iter().find(|d| d.starts_with(&h.mount)) {
                Some(d) => d.clone(),
                None => {
                    sweep_dir(&h.current, false);
                    let d = make_dir(&h.current, name).map_err(|why| refuse(c, why))?;
                    made.dirs.push(d.clone());
                    d
                }
            };
            let r = match c {
                Controller::Memory => {
                    made.oom = Some(dir.join("memory.oom_control"));
                    memory_v1(&dir, memory_max.unwrap_or(u64::MAX))
                }
                Controller::Pids => match pids_max {
                    Some(n) => write(&dir.join("pids.max"), &n.to_string()),
                    None => Ok(()),
                },
                Controller::CpuTime => {
                    made.cpu = Some(CpuFile::V1(dir.join("cpuacct.usage")));
                    Ok(())
                }
            };
            r.map_err(|why| refuse(c, why))?;
        }
        if made.dirs.is_empty() {
            return Err(NativeError::Unavailable {
                backend: "landlock",
                why: "no cgroup hierarchy is mounted to hold the tool's processes".into(),
            });
        }
        Ok(Some(made))
    }

    /// The `cgroup.procs` files the tool's first process writes itself into before it
    /// executes (one per hierarchy).
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// What the supervisor needs to kill and remove the cgroup: `--v2 DIR` / `--v1 DIR`.
    fn supervisor_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for (i, d) in self.dirs.iter().enumerate() {
            a.push(if i == 0 && self.track_v2 { "--v2" } else { "--v1" }.to_string());
            a.push(d.to_string_lossy().into_owned());
        }
        a
    }

    /// CPU time the whole tree has used, when `cpuMs` is watched.
    pub(crate) fn cpu_used(&self) -> Option<Duration> {
        match self.cpu.as_ref()? {
            CpuFile::V2(p) => {
                let text = std::fs::read_to_string(p).ok()?;
                let usec = text.lines().find_map(|l| l.strip_prefix("usage_usec "))?.trim().parse().ok()?;
                Some(Duration::from_micros(usec))
            }
            CpuFile::V1(p) => Some(Duration::from_nanos(std::fs::read_to_string(p).ok()?.trim().parse().ok()?)),
        }
    }

    /// CPU time the whole tree has used, for the outcome: from the `cpuMs` file when it is
    /// watched, else from the tracking cgroup's `cpu.stat` (cgroup2 keeps it in every cgroup).
    pub(crate) fn cpu_total(&self) -> Option<Duration> {
        self.cpu_used().or_else(|| {
            let dir = self.dirs.first().filter(|_| self.track_v2)?;
            let text = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
            let usec: u64 = text.lines().find_map(|l| l.strip_prefix("usage_usec "))?.trim().parse().ok()?;
            Some(Duration::from_micros(usec))
        })
    }

    /// Whether a limit of the whole tree was passed: the CPU budget used up, or a process
    /// killed by the kernel at the memory limit.
    pub(crate) fn limit_hit(&self) -> Option<TreeStop> {
        if let (Some(budget), Some(used)) = (self.cpu_budget, self.cpu_used())
            && used > budget
        {
            return Some(TreeStop::Cpu);
        }
        if let Some(p) = &self.oom
            && oom_kills(p) > 0
        {
            return Some(TreeStop::Memory);
        }
        None
    }

    /// Kills every process in the cgroup and waits (a bounded while) until it is empty.
    pub(crate) fn kill_all(&self) {
        if let Some(d) = self.dirs.first() {
            kill_tree(d, self.track_v2);
        }
    }
}

/// Which tree limit stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeStop {
    /// `cpuMs` used up by the whole tree.
    Cpu,
    /// The kernel killed a process at `memoryBytes`.
    Memory,
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.kill_all();
        for d in &self.dirs {
            remove_cgroup(d);
        }
    }
}

/// Removes an emptied cgroup directory. A killed process leaves `cgroup.procs` before it has
/// finished exiting, and until then `rmdir` fails with `EBUSY`: retried for up to 2 s.
fn remove_cgroup(dir: &Path) {
    let start = Instant::now();
    while std::fs::remove_dir(dir).is_err_and(|e| e.kind() != std::io::ErrorKind::NotFound)
        && start.elapsed() < Duration::from_secs(2)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `oom_kill` count of `memory.events` or `memory.oom_control`.
fn oom_kills(p: &Path) -> u64 {
    std::fs::read_to_string(p)
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok())))
        .unwrap_or(0)
}

fn memory_v2(dir: &Path, max: u64) -> Result<(), String> {
    write(&dir.join("memory.max"), &max.to_string())?;
    match write(&dir.join("memory.swap.max"), "0") {
        Ok(()) => {}
        Err(e) if swap_in_use() => return Err(format!("swap is in use and cannot be held at 0 ({e})")),
        Err(_) => {}
    }
    // The kernel kills the whole tree at once when one process passes the limit.
    write(&dir.join("memory.oom.group"), "1")
}

fn memory_v1(dir: &Path, max: u64) -> Result<(), String> {
    write(&dir.join("memory.limit_in_bytes"), &max.to_string())?;
    // Memory plus swap at the same value: no swap beyond the limit.
    match write(&dir.join("memory.memsw.limit_in_bytes"), &max.to_string()) {
        Ok(()) => Ok(()),
        Err(e) if swap_in_use() => Err(format!("swap is in use and swap accounting is off ({e})")),
        Err(_) => Ok(()),
    }
}

/// The cgroup2 directory the run's cgroup goes under: cordon's own when it can take a child
/// with `controllers`, else the hierarchy's root when cordon is root.
fn v2_parent(h: &Hierarchy, controllers: &[&str]) -> Result<PathBuf, String> {
    let enable = |parent: &Path| -> Result<(), String> {
        let on = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
        for c in controllers {
            if !on.split_whitespace().any(|x| x == *c) {
                write(&parent.join("cgroup.subtree_control"), &format!("+{c}"))?;
            }
        }
        Ok(())
    };
    let first = enable(&h.current);
    sweep_dir(&h.current, true);
    if first.is_ok() {
        return Ok(h.current.clone());
    }
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if is_root && h.current != h.mount {
        enable(&h.mount)?;
        sweep_dir(&h.mount, true);
        return Ok(h.mount.clone());
    }
    Err(first.err().unwrap_or_default())
}

fn make_dir(parent: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Kills every process in the cgroup `dir`: `cgroup.kill` on cgroup2 (atomic, forks
/// included), else SIGKILL to each listed process until none is left. Waits up to 2 s.
pub(crate) fn kill_tree(dir: &Path, v2: bool) {
    let procs = dir.join("cgroup.procs");
    let listed = || -> Vec<u32> {
        std::fs::read_to_string(&procs).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
    };
    let start = Instant::now();
    let killed_v2 = v2 && std::fs::write(dir.join("cgroup.kill"), "1").is_ok();
    // cgroup2 also says when the last process has finished exiting.
    let populated = || {
        v2 && std::fs::read_to_string(dir.join("cgroup.events")).is_ok_and(|e| e.lines().any(|l| l == "populated 1"))
    };
    while start.elapsed() < Duration::from_secs(2) {
        let pids = listed();
        if pids.is_empty() && !populated() {
            return;
        }
        if !killed_v2 {
            for pid in pids {
                super::run::kill_pid(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Removes stale `cordon-PID-N` cgroups under `parent`, killing what is left in them.
fn sweep_dir(parent: &Path, v2: bool) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        if stale(&name.to_string_lossy()) && e.file_type().is_ok_and(|t| t.is_dir()) {
            kill_tree(&e.path(), v2);
            remove_cgroup(&e.path());
        }
    }
}

/// Removes a run's scratch directory. Its inaccessible directory (mode 000) is made
/// listable first: without that, a user without `CAP_DAC_OVERRIDE` cannot remove it.
pub(crate) fn remove_scratch(dir: &Path) {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    // Opened without following links (a tool that can write the temporary directory could
    // have planted `deny-dir` as a symlink to any file of the user), then changed through
    // the descriptor's /proc entry, which names the opened object itself.
    let inner = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir.join("deny-dir"));
    if let Ok(f) = inner {
        let by_fd = format!("/proc/self/fd/{}", f.as_raw_fd());
        let _ = std::fs::set_permissions(by_fd, std::fs::Permissions::from_mode(0o700));
    }
    // remove_dir_all does not follow symlinks.
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes stale `cordon-PID-N` scratch directories of this user in `base`.
pub(crate) fn sweep_scratch(base: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else { return };
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if ours && stale(&e.file_name().to_string_lossy()) {
            remove_scratch(&path);
        }
    }
}

/// A process outside the tool's cgroup that kills the tool and removes its cgroups and
/// scratch directory when cordon dies, whatever kills it (SIGKILL included): it waits for
/// EOF on a pipe only cordon holds the write end of. `cordon-helper __cordon-supervisor`,
/// in a process group of its own, ignoring SIGINT, SIGTERM and SIGHUP (a Ctrl-C or a
/// terminal hangup that ends cordon leaves it to clean up).
pub(crate) struct Supervisor {
    child: std::process::Child,
    pipe: Option<std::process::ChildStdin>,
}

impl Supervisor {
    /// Starts the supervisor for a run with `cgroup` and `scratch`.
    ///
    /// # Errors
    /// [`NativeError::Spawn`] when the helper cannot start.
    pub(crate) fn start(
        helper_exe: &Path,
        cgroup: Option<&RunCgroup>,
        scratch: Option<&Path>,
    ) -> Result<Self, NativeError> {
        let mut cmd = std::process::Command::new(helper_exe);
        cmd.arg("__cordon-supervisor");
        if let Some(cg) = cgroup {
            cmd.args(cg.supervisor_args());
        }
        if let Some(s) = scratch {
            cmd.arg("--scratch").arg(s);
        }
        cmd.env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        super::run::detach_at_exec(&mut cmd);
        let mut child =
            cmd.spawn().map_err(|source| NativeError::Spawn { what: helper_exe.display().to_string(), source })?;
        let pipe = child.stdin.take();
        Ok(Self { child, pipe })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // EOF: the supervisor finds the run cleaned up (or cleans what is left) and exits.
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}

/// `cordon-helper __cordon-supervisor [--v2 DIR] [--v1 DIR]… [--scratch DIR]`: waits for EOF
/// on stdin (cordon ended, however), then kills every process in the cgroups, removes them
/// and the scratch directory. Returns the exit code.
pub fn supervisor_main(args: &[String]) -> u8 {
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    let mut dirs: Vec<(PathBuf, bool)> = Vec::new();
    let mut scratch = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else { return 125 };
        match flag.as_str() {
            "--v2" => dirs.push((PathBuf::from(value), true)),
            "--v1" => dirs.push((PathBuf::from(value), false)),
            "--scratch" => scratch = Some(PathBuf::from(value)),
            _ => return 125,
        }
    }
    // Only cordon's own names: a supervisor never removes anything else.
    let named = |p: &Path| p.file_name().is_some_and(|n| owner_of(&n.to_string_lossy()).is_some());
    if let Some((d, v2)) = dirs.first().filter(|(d, _)| named(d)) {
        kill_tree(d, *v2);
    }
    for (d, _) in dirs.iter().filter(|(d, _)| named(d)) {
        remove_cgroup(d);
    }
    if let Some(s) = scratch.filter(|s| named(s)) {
        remove_scratch(&s);
    }
    0
}

/// What this host offers, for `cordon backends`: a cgroup made and removed again, with
/// every controller the tree limits need (`limits`) or with none (`track_only`).
pub(crate) fn probe(limits: bool) -> Result<(), String> {
    let all = TreeLimits {
        track: true,
        memory_max: limits.then_some(u64::MAX / 2),
        pids_max: limits.then_some(1 << 22),
        cpu: limits.then_some(Duration::from_secs(1 << 20)),
    };
    RunCgroup::create(&all, &run_name()).map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cordon_names_with_dead_owners_are_stale() {
        assert_eq!(owner_of("cordon-12-3"), Some(12));
        assert_eq!(owner_of("cordon-test-cache-12"), None);
        assert_eq!(owner_of("cordon-12-"), None);
        assert_eq!(owner_of("cordon-12-3x"), None);
        assert!(!stale(&format!("cordon-{}-0", std::process::id())), "our own runs are live");
        assert!(!stale("cordon-1-0"), "pid 1 is alive");
        assert!(stale(&format!("cordon-{}-0", u32::MAX - 1)), "no such pid");
    }
}
