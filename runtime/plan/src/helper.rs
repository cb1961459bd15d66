//! What cordon's helper applies inside the sandbox before it executes the tool, on both
//! Linux backends: landlock rules, limits, the proxy relay, the seccomp filter.

use std::path::{Path, PathBuf};

use cordon_policy::Access;
use serde::{Deserialize, Serialize};

use crate::seccomp::SeccompPlan;

/// Landlock rules as data: the second filesystem layer under bubblewrap (in sandbox
/// paths), the only one on the landlock backend (in host paths).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LandlockPlan {
    /// System paths and the access granted beneath them, opened as the system names them
    /// (`/bin` may be a link to `/usr/bin`); one this host lacks grants nothing.
    pub rules: Vec<(PathBuf, Access)>,
    /// The policy's grants, each opened one component at a time without following any link
    /// (a link there is one a tool could have planted: the run is refused), so the rule is
    /// on the object the policy was checked against. Everything else is denied.
    #[serde(default)]
    pub pinned: Vec<(PathBuf, Access)>,
}

impl LandlockPlan {
    /// Every rule, system ones first, with whether it is opened without following links.
    pub fn all(&self) -> impl Iterator<Item = (&Path, Access, bool)> {
        self.rules
            .iter()
            .map(|(p, a)| (p.as_path(), *a, false))
            .chain(self.pinned.iter().map(|(p, a)| (p.as_path(), *a, true)))
    }
}

/// Resource limits the helper sets before the tool runs: per process, a second layer under
/// the whole tree's cgroup ([`TreeLimits`](crate::cgroup::TreeLimits)).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NativeLimits {
    /// RLIMIT_AS, bytes.
    pub memory_bytes: Option<u64>,
    /// RLIMIT_CPU, whole seconds (rounded up from `cpuMs`).
    pub cpu_seconds: Option<u64>,
    /// Processes at once: enforced by the run's cgroup (`pids.max`), not by the helper.
    pub max_processes: Option<u64>,
}

/// The relay that carries the sandbox's proxy traffic out of its empty network namespace:
/// it listens on loopback inside the sandbox and forwards each connection to cordon's proxy
/// through a unix socket bound into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    /// Loopback port inside the sandbox.
    pub port: u16,
    /// Path of the proxy's socket inside the sandbox.
    pub socket: String,
    /// `host:port` of the user's own proxy (`runtimeConfig.networkProxy`, `network.proxy`):
    /// cordon forwards every connection there and reaches nothing else. `None`: cordon's
    /// own filtering proxy decides each destination.
    #[serde(default)]
    pub forward: Option<String>,
}

/// What the helper applies inside the sandbox before it executes the tool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HelperPlan {
    /// The proxy relay, when the policy allows some destinations but not all.
    pub relay: Option<Relay>,
    /// Drop every capability (the landlock backend, which has no user namespace).
    #[serde(default)]
    pub drop_caps: bool,
    /// Landlock must be fully enforced, and scopes signals and abstract unix sockets to the
    /// sandbox (the landlock backend, where landlock is the only filesystem layer).
    #[serde(default)]
    pub require_landlock: bool,
    /// Abstract unix sockets are scoped to the sandbox, or the run is refused (landlock ABI
    /// 6). Planned when a granted socket file lifts the filter on creating unix sockets: with
    /// the host's network shared, the host's abstract sockets (X11, D-Bus) would otherwise
    /// be reachable.
    #[serde(default)]
    pub scope_abstract_unix: bool,
    /// The seccomp filter.
    pub seccomp: SeccompPlan,
    /// The landlock rules.
    pub landlock: LandlockPlan,
    /// The limits.
    pub limits: NativeLimits,
}
