//! Pure per-backend plans compiled from a [`cordon_policy::Policy`].
//!
//! A plan is data: what a backend will do, computed without a syscall, printable with
//! `cordon policy explain --backend B`, and testable on every OS. Only the runtime's apply
//! step has side effects. This crate does not depend on Wasmtime, so it builds for every
//! target cordon supports.
#![deny(missing_docs)]

pub mod baseline;
pub mod bwrap;
pub mod cgroup;
pub mod helper;
pub mod landlock;
mod mxc;
pub mod seatbelt;
pub mod seccomp;
pub mod support;
pub mod wasi;
pub mod windows;

#[cfg(test)]
mod fields_tests;

use cordon_policy::Policy;

/// The backends cordon knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// In-process Wasmtime with cordon's WASI layers.
    Wasm,
    /// Linux: bubblewrap + seccomp + landlock.
    Bubblewrap,
    /// Linux: landlock + seccomp without namespaces.
    Landlock,
    /// macOS Seatbelt.
    Seatbelt,
    /// Windows restricted token / AppContainer.
    Windows,
}

impl Backend {
    /// Every backend, in the order `cordon backends` lists them.
    pub const ALL: [Backend; 5] =
        [Backend::Wasm, Backend::Bubblewrap, Backend::Landlock, Backend::Seatbelt, Backend::Windows];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Wasm => "wasm",
            Backend::Bubblewrap => "bubblewrap",
            Backend::Landlock => "landlock",
            Backend::Seatbelt => "seatbelt",
            Backend::Windows => "windows",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend's plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The WebAssembly plan.
    Wasm(Box<wasi::WasiPlan>),
    /// The Linux bubblewrap plan.
    Bubblewrap(Box<bwrap::BwrapPlan>),
    /// The Linux landlock-only plan.
    Landlock(Box<landlock::LandlockBackendPlan>),
    /// The macOS Seatbelt plan.
    Seatbelt(Box<seatbelt::SeatbeltPlan>),
    /// The Windows plan.
    Windows(Box<windows::WindowsPlan>),
}

/// Why a policy cannot be planned for a backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A rule this backend cannot enforce. cordon refuses instead of weakening the policy.
    #[error("{backend} cannot enforce {rule}: {reason}")]
    Unenforceable {
        /// The backend.
        backend: Backend,
        /// JSON pointer of the rule.
        rule: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The backend's planner is not part of this build yet.
    #[error("backend {0} is not available in this build of cordon; use --backend wasm")]
    NotBuilt(Backend),
}

/// For backends that do not route traffic through cordon's proxy: refuses every network
/// posture but none or all, and proxy settings. Returns whether all egress is allowed.
pub(crate) fn none_or_all(policy: &Policy, backend: Backend) -> Result<bool, PlanError> {
    let net = &policy.network;
    // Every field, no `..`: a new one does not compile until it is decided here.
    let cordon_policy::Network {
        shape: _,
        egress: _, // with `ingress` and `domains`, read by `allows_all_egress` and `denies_all_egress`
        ingress,
        domains: _,
        allow_local_network: _, // part of `allows_all_egress`
        proxy,
        runtime_proxy,
        enforcement_mode: _, // MXC's mechanism; the backend enforces none or all its own way
        host_networks: _,    // none or all: with all, `allowLocalNetwork` lets them follow the rules
    } = net;
    let refuse =
        |rule: &str, reason: &str| PlanError::Unenforceable { backend, rule: rule.into(), reason: reason.into() };
    if proxy.is_some() || runtime_proxy.is_some() {
        return Err(refuse("/network/proxy", "proxies are not supported for native commands on this backend yet"));
    }
    let all = net.allows_all_egress();
    if !all && !net.denies_all_egress() {
        return Err(refuse(
            "/network",
            "this backend does not route traffic through cordon's filtering proxy yet, so only no network or all of it can be enforced; run the tool as wasm",
        ));
    }
    let ingress_allowed =
        ingress.default == cordon_policy::Action::Allow || ingress.host_loopback == cordon_policy::Action::Allow;
    if !all && ingress_allowed {
        return Err(refuse(
            "/network/ingress",
            "with no network, inbound traffic cannot be allowed; run the tool as wasm",
        ));
    }
    Ok(all)
}

/// What a host path is, as the planner needs to know it: read once, when planning, through
/// [`PathFacts`], so the plan decides and the runner only executes. (A path that changes
/// between planning and the run makes the runner's no-follow open or bubblewrap's bind fail:
/// the run is refused, never weakened.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A directory.
    Dir,
    /// A unix socket.
    Socket,
    /// A file or any other object that is not a directory.
    File,
}

/// The host facts a plan is made from, passed in by the caller as [`cordon_policy::HostEnv`]
/// is for the policy. cordon's runtime reads the real host (`cordon_runtime::SystemFacts`);
/// tests pass a closure.
pub trait PathFacts {
    /// What `path` is (symlinks followed), or `None` when nothing is there.
    fn kind(&self, path: &std::path::Path) -> Option<ObjectKind>;
    /// The networks this host delivers to itself, every family (its interface addresses,
    /// its local, anycast and broadcast routes): planned as local ranges
    /// ([`cordon_policy::Network::host_networks`]) on every backend. When they cannot be
    /// read, a policy that lets anything out is refused.
    ///
    /// # Errors
    /// When the host cannot list them.
    fn own_networks(&self) -> std::io::Result<Vec<cordon_policy::net::IpNet>>;
}

/// A closure's facts are of a host with no address outside the local ranges: for tests,
/// golden plans and plans that are only shown (a wasm plan made with them is refused by
/// cordon's runtime on a host that has such addresses).
impl<F: Fn(&std::path::Path) -> Option<ObjectKind>> PathFacts for F {
    fn kind(&self, path: &std::path::Path) -> Option<ObjectKind> {
        self(path)
    }
    fn own_networks(&self) -> std::io::Result<Vec<cordon_policy::net::IpNet>> {
        Ok(Vec::new())
    }
}

/// The host networks a plan of `network` carries (read by the planners that decide
/// addresses, wasm and bubblewrap; the others allow none or all): none when nothing may go
/// out, else the host's own, canonical, sorted, each once.
///
/// # Errors
/// [`PlanError::Unenforceable`] when something may go out and the host cannot list them.
pub fn host_networks(
    network: &cordon_policy::Network,
    backend: Backend,
    facts: &dyn PathFacts,
) -> Result<Vec<cordon_policy::net::IpNet>, PlanError> {
    if network.denies_all_egress() {
        return Ok(Vec::new());
    }
    let own = facts.own_networks().map_err(|e| PlanError::Unenforceable {
        backend,
        rule: "/network".into(),
        reason: format!(
            "cannot list this host's own interface addresses and local routes ({e}), which every rule must keep apart from the host's own services; deny all egress or fix the host"
        ),
    })?;
    let mut own: Vec<cordon_policy::net::IpNet> = own.into_iter().map(cordon_policy::net::IpNet::canonical).collect();
    own.sort_unstable();
    own.dedup();
    Ok(own)
}

/// Facts for a plan that is only shown, never run, on a host where nothing is known (an
/// `explain` for another OS's backend): every path is a directory that exists.
pub fn assume_dirs(_: &std::path::Path) -> Option<ObjectKind> {
    Some(ObjectKind::Dir)
}

/// How the tool's process is started, the same on every native backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessPlan {
    /// Variables set for the tool, `PATH` first. Values never appear in `explain`.
    pub env: Vec<(String, String)>,
    /// Host variables passed by name when set (`cordon.env.inherit`); read when the run starts.
    pub inherit_env: Vec<String>,
    /// Working directory.
    pub cwd: Option<std::path::PathBuf>,
    /// Wall-clock timeout (`process.timeout`).
    pub timeout: Option<std::time::Duration>,
    /// Output cap over stdout and stderr together (`maxOutputBytes`).
    pub max_output_bytes: Option<u64>,
}

/// `PATH` inside every native sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

impl ProcessPlan {
    /// The process part of `policy`: `path` (the backend's `PATH`, when it sets one) first,
    /// then the policy's variables. When `process.env` is the whole environment (schema 0.9
    /// and later, [`cordon_policy::Env::exact`]) the backend's `PATH` is left out.
    pub fn new(
        process: &cordon_policy::Process,
        env: &cordon_policy::Env,
        max_output_bytes: Option<u64>,
        path: Option<&str>,
    ) -> Self {
        let cordon_policy::Process { command_line: _ /* the runtime's command */, cwd, timeout } = process;
        let cordon_policy::Env { vars, inherit, exact } = env;
        let path = path.filter(|_| !exact);
        let mut all: Vec<(String, String)> = path.map(|p| ("PATH".to_string(), p.to_string())).into_iter().collect();
        all.extend(vars.iter().cloned());
        Self { env: all, inherit_env: inherit.clone(), cwd: cwd.clone(), timeout: *timeout, max_output_bytes }
    }
}

/// The native command a plan is for, as the host shows it (a host fact the caller reads
/// once): a command named by path is made visible to the sandbox read-only, the file alone,
/// unless the policy denies it — planned like any other rule, so `--dry-run` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFacts {
    /// Where the command names the executable (absolute).
    pub path: std::path::PathBuf,
    /// The host object behind it (symlinks resolved).
    pub host: std::path::PathBuf,
}

/// Compiles `policy` into `backend`'s plan; `facts` says what the policy's paths are on the
/// host (native backends decide with them; wasm reads none).
///
/// # Errors
/// [`PlanError::Unenforceable`] naming the first rule the backend cannot enforce.
pub fn plan(policy: &Policy, backend: Backend, facts: &dyn PathFacts) -> Result<Plan, PlanError> {
    plan_for(policy, backend, None, facts)
}

/// As [`plan`], for running `tool` (native backends make it visible; wasm ignores it).
///
/// # Errors
/// [`PlanError::Unenforceable`] naming the first rule the backend cannot enforce, or when
/// the command is a symlink inside a writable grant (a tool could have planted it to have
/// a file the policy does not grant bound into the sandbox).
pub fn plan_for(
    policy: &Policy,
    backend: Backend,
    tool: Option<&ToolFacts>,
    facts: &dyn PathFacts,
) -> Result<Plan, PlanError> {
    if let Some(t) = tool
        && t.path != t.host
        && backend != Backend::Wasm
        && let Some(grant) = policy.filesystem.decide(&t.path).filter(|r| r.access == cordon_policy::Access::ReadWrite)
    {
        return Err(PlanError::Unenforceable {
            backend,
            rule: grant.pointer.clone(),
            reason: format!(
                "the command {} resolves through a symlink to {} inside this writable grant: a tool could have planted it, so cordon does not bind it; run the real path",
                t.path.display(),
                t.host.display()
            ),
        });
    }
    match backend {
        Backend::Wasm => wasi::plan(policy, facts).map(|p| Plan::Wasm(Box::new(p))),
        Backend::Bubblewrap => bwrap::plan(policy, tool, facts).map(|p| Plan::Bubblewrap(Box::new(p))),
        Backend::Seatbelt => seatbelt::plan(policy).map(|p| Plan::Seatbelt(Box::new(p))),
        Backend::Windows => windows::plan(policy).map(|p| Plan::Windows(Box::new(p))),
        Backend::Landlock => landlock::plan(policy, tool, facts).map(|p| Plan::Landlock(Box::new(p))),
    }
}

/// A policy from JSON text for unit tests, with paths taken as written.
#[cfg(test)]
pub(crate) fn test_policy(json: &str) -> Policy {
    Policy::parse(json, &cordon_policy::LexicalHost::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod host_facts_tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// A host with public networks of its own, or one that cannot list them.
    struct Host(Option<Vec<cordon_policy::net::IpNet>>);

    impl PathFacts for Host {
        fn kind(&self, _: &std::path::Path) -> Option<ObjectKind> {
            Some(ObjectKind::Dir)
        }
        fn own_networks(&self) -> std::io::Result<Vec<cordon_policy::net::IpNet>> {
            self.0.clone().ok_or_else(|| std::io::Error::other("no netlink"))
        }
    }

    const EVERYTHING: &str = r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow"}}}"#;

    #[test]
    fn every_network_plan_carries_the_hosts_own_addresses_in_canonical_form() {
        let net = |s: &str| cordon_policy::net::IpNet::parse(s).unwrap();
        let own = Host(Some(vec![net("203.0.113.9/32"), net("::ffff:198.51.100.0/120"), net("203.0.113.9/32")]));
        let want = vec![net("198.51.100.0/24"), net("203.0.113.9/32")];
        let Plan::Wasm(w) = plan(&test_policy(EVERYTHING), Backend::Wasm, &own).unwrap() else { unreachable!() };
        assert_eq!(w.network.host_networks, want);
        assert!(!w.network.check_addr(want[1].addr(), 80, cordon_policy::net::Protocol::Tcp).allowed);
        assert_eq!(wasi::plan(&test_policy(EVERYTHING), &own).unwrap().network.host_networks, want);
        let Plan::Bubblewrap(b) = plan(&test_policy(EVERYTHING), Backend::Bubblewrap, &own).unwrap() else {
            unreachable!()
        };
        assert_eq!(b.network.host_networks, want);
        let capture = b.helper.relay.as_ref().and_then(|r| r.capture.as_ref()).unwrap();
        assert!(capture.ruleset.contains("ip daddr 203.0.113.9 tcp"), "{}", capture.ruleset);
    }

    #[test]
    fn a_host_that_cannot_list_its_addresses_refuses_every_policy_that_lets_something_out() {
        let blind = Host(None);
        for backend in [Backend::Wasm, Backend::Bubblewrap] {
            match plan(&test_policy(EVERYTHING), backend, &blind) {
                Err(PlanError::Unenforceable { rule, reason, .. }) => {
                    assert_eq!(rule, "/network");
                    assert!(reason.contains("own interface addresses"), "{reason}");
                }
                other => panic!("{backend:?}: {other:?}"),
            }
            // Its twin: nothing goes out, so nothing needs the fact.
            let closed = test_policy(r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"deny"}}}"#);
            assert!(plan(&closed, backend, &blind).is_ok(), "{backend:?}");
        }
    }
}
