//! `Policy` → [`BwrapPlan`]: the bubblewrap command line, the seccomp filter and the
//! landlock rules for a native command on Linux, as data.
//!
//! The sandbox: every namespace unshared (the network kept only when the policy allows all
//! egress), all capabilities dropped, a new session, the parent's death kills it, an empty
//! environment plus the allowed variables, a read-only system baseline (no `$HOME`, no
//! `/run`, no host sockets), a private `/tmp`, then the policy's grants shallow to deep
//! (so the most specific path wins). A denied path inside a grant is covered by an
//! inaccessible empty object (`{DENY_DIR}`/`{DENY_FILE}`, made by the runner with mode 000);
//! a denied directory that a deeper grant lies under becomes a traversal-only directory
//! (mode 0111): the grant is reachable, the rest is not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_policy::{Access, BackendOptions, Env, Limits, Network, Policy, Process};

use crate::{Backend, PlanError};

/// Prefix of a host path the runner opens without following any symlink, then binds by
/// descriptor (`--bind-fd`/`--ro-bind-fd` take the descriptor's number in its place): the
/// kernel mounts exactly the object cordon opened, and a link swapped in since the policy
/// loaded refuses the run instead of redirecting the grant.
pub const PIN: &str = "{PIN}";
/// As [`PIN`], for a directory that may be missing: then the bind is left out.
pub const PIN_TRY: &str = "{PIN-TRY}";

/// A denied path the runner covers with an inaccessible object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedPath {
    /// The path in the sandbox.
    pub path: PathBuf,
    /// JSON pointer of the deny.
    pub rule: String,
    /// True when a writable grant holds it: then a missing path cannot be left uncovered
    /// (the tool could create it), and the run is refused. Decided here, from the rules.
    pub in_writable: bool,
}

/// Placeholder for the inaccessible object that covers a denied directory.
pub const DENY_DIR: &str = "{DENY_DIR}";
/// Placeholder for the inaccessible object that covers a denied file.
pub const DENY_FILE: &str = "{DENY_FILE}";
/// Placeholder for a denied path: the runner picks `DENY_DIR` or `DENY_FILE` by what the
/// path is on the host.
pub const DENY_OBJECT: &str = "{DENY_OBJECT}";
/// Where the helper (cordon itself) is bound inside the sandbox.
pub const HELPER_PATH: &str = "/run/cordon/helper";

/// Read-only system paths every native command gets, when they exist on the host.
pub const BASELINE_RO: &[&str] = &[
    "/usr",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/ssl/certs",
    "/etc/ca-certificates",
];

/// Symlinks a merged-`/usr` system needs at the root.
pub const BASELINE_LINKS: &[(&str, &str)] =
    &[("usr/bin", "/bin"), ("usr/sbin", "/sbin"), ("usr/lib", "/lib"), ("usr/lib64", "/lib64")];

/// A syscall the filter refuses with `EPERM`, maybe only for some argument values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyscallRule {
    /// Syscall name.
    pub name: String,
    /// `None`: always. `Some((arg, mask, value))`: when `(args[arg] & mask) == value`.
    pub when: Option<(u8, u64, u64)>,
    /// Why it is refused.
    pub why: String,
}

impl std::fmt::Display for SyscallRule {
    /// `ioctl when (arg1 & 0xffffffff) == 0x5412`, or the name alone.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.when {
            None => f.write_str(&self.name),
            Some((arg, mask, value)) => write!(f, "{} when (arg{arg} & {mask:#x}) == {value:#x}", self.name),
        }
    }
}

/// The seccomp filter as data: everything not listed is allowed; a listed call fails with
/// `EPERM` (`clone3` with `ENOSYS`, so libc falls back to `clone`, whose flags can be
/// checked); `socket` follows the [`SocketFamilies`] allowlist. The filter checks the
/// architecture and kills a process of another one. A syscall name the helper does not
/// know fails the run; it is never skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SeccompPlan {
    /// The refused calls.
    pub deny: Vec<SyscallRule>,
    /// The socket families `socket()` may create. The default allows none.
    #[serde(default)]
    pub sockets: SocketFamilies,
}

/// Every syscall name a [`SyscallRule`] may use: the helper has a number for each on
/// every architecture it runs on. A plan naming another is refused ([`SeccompPlan::check`]).
pub const KNOWN_SYSCALLS: &[&str] = &[
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "init_module",
    "finit_module",
    "kexec_load",
    "clone",
    "clone3",
    "ioctl",
    "socket",
    "socketpair",
];

impl SeccompPlan {
    /// Fails closed on a rule the helper could not install.
    ///
    /// # Errors
    /// The first syscall name not in [`KNOWN_SYSCALLS`].
    pub fn check(&self, backend: Backend) -> Result<(), PlanError> {
        match self.deny.iter().find(|r| !KNOWN_SYSCALLS.contains(&r.name.as_str())) {
            Some(r) => Err(PlanError::Unenforceable {
                backend,
                rule: "(seccomp)".into(),
                reason: format!("the filter names `{}`, a syscall cordon's helper does not know", r.name),
            }),
            None => Ok(()),
        }
    }
}

/// `AF_UNIX`.
pub const AF_UNIX: u32 = 1;
/// `AF_INET`.
pub const AF_INET: u32 = 2;
/// `AF_INET6`.
pub const AF_INET6: u32 = 10;
/// `AF_NETLINK`.
pub const AF_NETLINK: u32 = 16;
/// `NETLINK_ROUTE`, the one netlink protocol that may be allowed.
pub const NETLINK_ROUTE: u32 = 0;

/// The socket families a tool may create: an allowlist, decided by the planner. `socket()`
/// of a family a policy could grant but this one does not (`AF_UNIX`, `AF_INET`,
/// `AF_INET6`, `AF_NETLINK`) fails with `EPERM`; of every other family — `AF_VSOCK`,
/// `AF_PACKET`, `AF_ALG`, `AF_BLUETOOTH`, … —, of netlink with a protocol other than
/// `NETLINK_ROUTE`, and `socketpair()` of any family but `AF_UNIX` with `EAFNOSUPPORT`.
/// The default allows none.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SocketFamilies {
    /// `AF_INET` and `AF_INET6`: the network mode needs them.
    pub inet: bool,
    /// `AF_NETLINK` with protocol `NETLINK_ROUTE` only: the sandbox has its own network
    /// namespace, so routes and addresses are its own. Other netlink protocols never.
    pub netlink_route: bool,
    /// `AF_UNIX` (`socketpair` of `AF_UNIX` is always allowed).
    pub unix: bool,
    /// Host paths of read-write grants that lift the `AF_UNIX` refusal when one of them is
    /// a unix socket when the run starts ([`SocketFamilies::settle`]): connecting to a
    /// granted socket is what the grant means.
    pub unix_if_socket: Vec<PathBuf>,
}

impl SocketFamilies {
    /// The families `socket()` may create, in order.
    pub fn allowed(&self) -> Vec<u32> {
        let mut f = Vec::new();
        if self.unix {
            f.push(AF_UNIX);
        }
        if self.inet {
            f.extend([AF_INET, AF_INET6]);
        }
        if self.netlink_route {
            f.push(AF_NETLINK);
        }
        f
    }

    /// One line for `cordon policy explain` and the golden files.
    pub fn describe(&self) -> String {
        let mut names: Vec<String> = self
            .allowed()
            .iter()
            .map(|f| match *f {
                AF_UNIX => "AF_UNIX".to_string(),
                AF_INET => "AF_INET".to_string(),
                AF_INET6 => "AF_INET6".to_string(),
                AF_NETLINK => "AF_NETLINK (NETLINK_ROUTE only)".to_string(),
                other => format!("family {other}"),
            })
            .collect();
        if !self.unix && !self.unix_if_socket.is_empty() {
            let paths: Vec<String> = self.unix_if_socket.iter().map(|p| p.display().to_string()).collect();
            names.push(format!("AF_UNIX if one of {} is a socket", paths.join(", ")));
        }
        if names.is_empty() {
            names.push("none".into());
        }
        format!(
            "{}; other grantable families EPERM, every other family EAFNOSUPPORT; socketpair AF_UNIX only, and without AF_UNIX only stream and seqpacket (a datagram pair can sendto any host socket path)",
            names.join(", ")
        )
    }

    /// Settles `AF_UNIX` for this run: allowed when `is_socket` finds one of
    /// [`SocketFamilies::unix_if_socket`] to be a unix socket. Returns whether it is.
    pub fn settle(&mut self, is_socket: impl Fn(&Path) -> bool) -> bool {
        if self.unix_if_socket.iter().any(|p| is_socket(p)) {
            self.unix = true;
        }
        self.unix
    }
}

/// Landlock rules as data, in sandbox paths: the second filesystem layer.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct LandlockPlan {
    /// Paths and the access granted beneath them. Everything else is denied.
    pub rules: Vec<(PathBuf, Access)>,
}

/// Resource limits the helper sets before the tool runs: per process, a second layer under
/// the whole tree's cgroup ([`TreeLimits`](crate::cgroup::TreeLimits)).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// `host:port` of a proxy URL (`http://host:port/`).
fn url_authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/').to_string()
}

/// Where the proxy's socket is bound inside the sandbox.
pub const PROXY_SOCKET: &str = "/run/cordon/proxy.sock";
/// The loopback port the relay listens on inside the sandbox.
pub const PROXY_PORT: u16 = 3128;
/// Placeholder for the proxy's socket on the host (made by the runner).
pub const PROXY_HOST_SOCKET: &str = "{PROXY_SOCKET}";

/// What the helper applies inside the sandbox before it executes the tool.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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
    /// 6). Set by the runner when a granted socket file lifts the filter on creating unix
    /// sockets: with the host's network shared, the host's abstract sockets (X11, D-Bus)
    /// would otherwise be reachable.
    #[serde(default)]
    pub scope_abstract_unix: bool,
    /// The seccomp filter.
    pub seccomp: SeccompPlan,
    /// The landlock rules.
    pub landlock: LandlockPlan,
    /// The limits.
    pub limits: NativeLimits,
}

/// The whole bubblewrap plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BwrapPlan {
    /// bwrap's arguments, up to (not including) `--`.
    pub args: Vec<String>,
    /// Host variables to pass by name when set (`cordon.env.inherit`).
    pub inherit_env: Vec<String>,
    /// What the helper applies.
    pub helper: HelperPlan,
    /// Wall-clock timeout.
    pub timeout: Option<Duration>,
    /// Output cap.
    pub max_output_bytes: Option<u64>,
    /// Denied paths the runner must cover, in `{DENY_OBJECT}` order.
    pub denied: Vec<DeniedPath>,
    /// Granted host paths, with the rule pointer (to check they exist).
    pub granted: Vec<(PathBuf, String)>,
    /// The rules cordon's proxy decides with (used when `helper.relay` is set).
    pub network: cordon_policy::Network,
    /// Limits over the whole process tree (a cgroup per run, when any is set).
    pub tree: crate::cgroup::TreeLimits,
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Builds the bubblewrap plan.
///
/// # Errors
/// [`PlanError::Unenforceable`] for what bubblewrap cannot enforce: Windows paths, a network
/// policy that allows some destinations but not all (the filtering proxy is not built yet),
/// and proxy settings.
pub fn plan(policy: &Policy, tool: Option<&crate::ToolFacts>) -> Result<BwrapPlan, PlanError> {
    // Every field, no `..`: a new one does not compile until this backend handles or
    // refuses it.
    let Policy {
        version: _,     // read by validation only
        containment: _, // chooses the backend; the runtime reads it before planning
        process,
        filesystem,
        network,
        env,
        limits,
        audit: _, // the runtime writes the log (`--audit` can set it too) and refuses it where the runner writes none
        ui,
        backends,
    } = policy;
    let Process { command_line: _ /* the runtime's command */, cwd, timeout } = process;
    let Env { vars, inherit } = env;
    // `memory_bytes`, `cpu` and `max_processes` also go to the cgroup (`TreeLimits::new`).
    let Limits { memory_bytes, cpu, max_output_bytes, max_processes } = limits;
    let Network {
        shape: _,
        egress,
        ingress,
        domains,
        allow_local_network: _, // part of `allows_all_egress`
        proxy,
        runtime_proxy,
        enforcement_mode: _, // MXC's mechanism; this backend enforces the rules its own way
    } = network;
    let BackendOptions {
        container_id: _, // a label
        lifecycle,
        fallback: _, // cordon changes no DACL here
        seatbelt: _, // configures macOS Seatbelt only
        process_container,
        lxc,
        experimental,
    } = backends;
    crate::mxc::shared_sections(
        Backend::Bubblewrap,
        lifecycle,
        process_container.as_ref(),
        lxc.as_ref(),
        experimental,
    )?;
    crate::mxc::headless_ui(Backend::Bubblewrap, ui)?;
    let unenforceable = |rule: &str, reason: &str| PlanError::Unenforceable {
        backend: Backend::Bubblewrap,
        rule: rule.into(),
        reason: reason.into(),
    };
    if let Some(e) = filesystem.foreign().first() {
        return Err(unenforceable(&e.pointer, "the path is for another operating system"));
    }
    let net = network;
    let share_net = net.allows_all_egress();
    // A user's own proxy: every connection goes there, and nothing else is reachable.
    let user_proxy: Option<(&str, String)> = match (runtime_proxy, proxy) {
        (Some(url), _) => Some(("/runtimeConfig/networkProxy", url_authority(url))),
        (None, Some(cordon_policy::Proxy::Localhost(port))) => {
            Some(("/network/proxy/localhost", format!("127.0.0.1:{port}")))
        }
        (None, Some(cordon_policy::Proxy::Url(url))) => Some(("/network/proxy/url", url_authority(url))),
        // MXC's built-in test proxy is cordon's own filtering proxy here.
        (None, Some(cordon_policy::Proxy::BuiltinTestServer)) | (None, None) => None,
    };
    let has_host_rules =
        !egress.allow.is_empty() || !egress.deny.is_empty() || !domains.allow.is_empty() || !domains.deny.is_empty();
    if let Some((ptr, _)) = &user_proxy
        && has_host_rules
    {
        return Err(unenforceable(
            ptr,
            "traffic sent to your own proxy cannot be checked against the policy's host rules; remove the proxy (cordon's proxy then enforces the rules) or the rules",
        ));
    }
    let share_net = share_net && user_proxy.is_none();
    let via_proxy = user_proxy.is_some() || (!share_net && !net.denies_all_egress());
    if via_proxy {
        // Traffic that cannot go through cordon's proxy is refused rather than ignored.
        for r in &egress.allow {
            if r.ports.iter().any(|p| {
                p.protocol != cordon_policy::net::Protocol::Tcp && p.protocol != cordon_policy::net::Protocol::Any
            }) && !r.ports.iter().any(|p| p.protocol == cordon_policy::net::Protocol::Tcp)
            {
                return Err(unenforceable(
                    &r.pointer,
                    "native commands reach the network only through cordon's proxy (TCP: HTTP, CONNECT, SOCKS5); UDP and ICMP rules cannot be enforced; run the tool as wasm",
                ));
            }
        }
    }
    let ingress_allowed =
        ingress.default == cordon_policy::Action::Allow || ingress.host_loopback == cordon_policy::Action::Allow;
    if ingress_allowed && !share_net {
        return Err(unenforceable(
            "/network/ingress",
            "a native command's network namespace is private, so inbound and host-loopback traffic cannot reach it; run the tool as wasm",
        ));
    }

    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|x| (*x).to_string()));
    push(&["--unshare-all", "--unshare-user"]);
    if share_net {
        push(&["--share-net"]);
    }
    push(&["--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv"]);
    push(&["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin"]);
    for (k, v) in vars {
        a.extend(["--setenv".into(), k.clone(), v.clone()]);
    }
    if let Some(cwd) = cwd {
        a.extend(["--setenv".into(), "PWD".into(), s(cwd)]);
    }
    if via_proxy {
        let http = format!("http://127.0.0.1:{PROXY_PORT}");
        // cordon's proxy also speaks SOCKS5; a user's proxy is taken to speak HTTP.
        let socks = if user_proxy.is_some() { http.clone() } else { format!("socks5h://127.0.0.1:{PROXY_PORT}") };
        for (k, v) in [
            ("HTTP_PROXY", &http),
            ("HTTPS_PROXY", &http),
            ("ALL_PROXY", &socks),
            ("http_proxy", &http),
            ("https_proxy", &http),
            ("all_proxy", &socks),
        ] {
            a.extend(["--setenv".into(), k.into(), v.clone()]);
        }
    }
    // System baseline.
    for p in BASELINE_RO {
        a.extend(["--ro-bind-try".into(), (*p).into(), (*p).into()]);
    }
    for (target, link) in BASELINE_LINKS {
        a.extend(["--symlink".into(), (*target).into(), (*link).into()]);
    }
    a.extend(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"].map(String::from));

    let mut denied = Vec::new();
    let mut granted = Vec::new();
    let mut landlock = vec![
        (PathBuf::from("/usr"), Access::ReadOnly),
        (PathBuf::from("/etc"), Access::ReadOnly),
        (PathBuf::from("/proc"), Access::ReadOnly),
        (PathBuf::from("/dev"), Access::ReadWrite),
        (PathBuf::from("/tmp"), Access::ReadWrite),
        (PathBuf::from("/run/cordon"), Access::ReadOnly),
    ];
    let rules = filesystem.rules();
    // Every directory between a writable grant and any deeper rule (a read-only or nested
    // grant, or a deny) becomes a mount point of its own, so it cannot be renamed or removed
    // (EBUSY): moving it would carry the stricter rule's object to a name the rule does not
    // name, for this run and the next.
    let mut between: Vec<(PathBuf, PathBuf)> = Vec::new();
    for r in rules {
        // The nearest rule above: only a writable grant there leaves host directories a tool
        // could move (below a deny, the sandbox has its own traversal-only tmpfs).
        let above = r.path.ancestors().skip(1).find_map(|p| filesystem.decide(p).filter(|g| g.path == p));
        let Some(g) = above.filter(|g| g.access == Access::ReadWrite) else { continue };
        for d in r.path.ancestors().skip(1).take_while(|p| *p != g.path) {
            let is_rule = rules.iter().any(|x| x.path == d);
            if !is_rule && !between.iter().any(|(b, _)| b == d) {
                between.push((d.to_path_buf(), g.host.join(d.strip_prefix(&g.path).unwrap_or(d))));
            }
        }
    }
    // Rules and those directories together, shallow to deep.
    enum Item<'a> {
        Rule(&'a cordon_policy::FsRule),
        Between(&'a Path, &'a Path),
    }
    let mut items: Vec<(usize, &Path, Item<'_>)> = rules
        .iter()
        .map(|r| (r.path.components().count(), r.path.as_path(), Item::Rule(r)))
        .chain(between.iter().map(|(d, h)| (d.components().count(), d.as_path(), Item::Between(d, h))))
        .collect();
    items.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.cmp(y.1)));
    for (_, _, item) in items {
        let r = match item {
            Item::Between(dest, host) => {
                a.extend(["--bind-fd".into(), format!("{PIN_TRY}{}", s(host)), s(dest)]);
                continue;
            }
            Item::Rule(r) => r,
        };
        // A rule outside every grant needs no mount: nothing is there to reach.
        let inside_grant =
            r.path.ancestors().skip(1).any(|p| filesystem.decide(p).is_some_and(|g| g.access != Access::Deny));
        // The read-only system baseline is a grant too: a deny inside it, or around part of
        // it, is covered like any other (MXC masks these as well).
        let on_baseline = BASELINE_RO.iter().any(|b| r.path.starts_with(b) || Path::new(b).starts_with(&r.path));
        match r.access {
            Access::ReadWrite | Access::ReadOnly => {
                let flag = if r.access == Access::ReadWrite { "--bind-fd" } else { "--ro-bind-fd" };
                a.extend([flag.into(), format!("{PIN}{}", s(&r.host)), s(&r.path)]);
                granted.push((r.host.clone(), r.pointer.clone()));
                landlock.push((r.path.clone(), r.access));
            }
            Access::Deny => {
                let grants_below = filesystem.rules_below(&r.path).any(|b| b.access != Access::Deny);
                if grants_below {
                    // Traversal only: deeper grants are reachable, this directory is not listable.
                    a.extend(["--perms", "0111", "--tmpfs"].map(String::from));
                    a.push(s(&r.path));
                } else if inside_grant || on_baseline {
                    a.extend(["--ro-bind".into(), DENY_OBJECT.into(), s(&r.path)]);
                    // The nearest rule above decides whether the tool could create the path.
                    let in_writable = policy
                        .filesystem
                        .decide(r.path.parent().unwrap_or(&r.path))
                        .is_some_and(|g| g.access == Access::ReadWrite);
                    denied.push(DeniedPath { path: r.path.clone(), rule: r.pointer.clone(), in_writable });
                }
            }
        }
    }
    // The command, when named by path: visible read-only at that path (the file alone),
    // unless the policy denies it.
    let visible = |p: &Path| filesystem.decide(p).is_none_or(|r| r.access != Access::Deny);
    if let Some(t) = tool.filter(|t| visible(&t.path) && visible(&t.host)) {
        a.extend(["--ro-bind".into(), s(&t.host), s(&t.path)]);
        landlock.push((t.path.clone(), Access::ReadOnly));
    }
    if let Some(cwd) = cwd {
        a.extend(["--chdir".into(), s(cwd)]);
    }
    a.extend(["--ro-bind".into(), "{HELPER}".into(), HELPER_PATH.into()]);
    if via_proxy {
        a.extend(["--bind".into(), PROXY_HOST_SOCKET.into(), PROXY_SOCKET.into()]);
    }

    let mut seccomp = seccomp_plan_for(
        if share_net {
            NetMode::All
        } else if via_proxy {
            NetMode::Proxy
        } else {
            NetMode::None
        },
        !share_net,
    );
    // A read-write grant that is a unix socket lets the tool create unix sockets to reach it.
    seccomp.sockets.unix_if_socket =
        rules.iter().filter(|r| r.access == Access::ReadWrite).map(|r| r.host.clone()).collect();
    seccomp.check(Backend::Bubblewrap)?;

    let native_limits = NativeLimits {
        memory_bytes: *memory_bytes,
        cpu_seconds: cpu.map(|d| d.as_millis().div_ceil(1000) as u64),
        max_processes: *max_processes,
    };
    Ok(BwrapPlan {
        args: a,
        inherit_env: inherit.clone(),
        helper: HelperPlan {
            relay: via_proxy.then(|| Relay {
                port: PROXY_PORT,
                socket: PROXY_SOCKET.into(),
                forward: user_proxy.as_ref().map(|(_, a)| a.clone()),
            }),
            drop_caps: false,
            require_landlock: false,
            scope_abstract_unix: false,
            seccomp,
            landlock: LandlockPlan { rules: landlock },
            limits: native_limits,
        },
        timeout: *timeout,
        max_output_bytes: *max_output_bytes,
        denied,
        granted,
        // The rules the checks use; `enforcementMode` is a hint, not part of them.
        network: cordon_policy::Network { enforcement_mode: None, ..network.clone() },
        // bwrap's pid namespace already ends every process with the sandbox: a cgroup only
        // when a limit needs one.
        tree: crate::cgroup::TreeLimits::new(limits, false),
    })
}

/// How a native command reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// An empty network namespace, and no IP sockets at all.
    None,
    /// Only TCP to cordon's proxy through the relay; no UDP sockets.
    Proxy,
    /// The host's network.
    All,
}

/// The syscalls a native tool is refused, and the socket families it may create, for its
/// network mode. `own_netns`: the sandbox has a network namespace of its own (netlink
/// route sockets then see only it).
pub fn seccomp_plan_for(mode: NetMode, own_netns: bool) -> SeccompPlan {
    const SOCK_DGRAM: u64 = 2;
    let mut plan = seccomp_plan();
    plan.sockets = SocketFamilies {
        inet: match mode {
            NetMode::None => false,
            NetMode::Proxy | NetMode::All => true,
        },
        netlink_route: own_netns,
        unix: false,
        unix_if_socket: Vec::new(),
    };
    match mode {
        NetMode::None | NetMode::All => {}
        NetMode::Proxy => {
            // Datagram sockets of any family: only TCP reaches the relay.
            plan.deny.push(SyscallRule {
                name: "socket".into(),
                when: Some((1, 0xf, SOCK_DGRAM)),
                why: "only TCP through cordon's proxy".into(),
            });
        }
    }
    plan
}

/// The syscalls every native tool is refused.
pub fn seccomp_plan() -> SeccompPlan {
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const TIOCSTI: u64 = 0x5412;
    const TIOCLINUX: u64 = 0x541c;
    let r = |name: &str, why: &str| SyscallRule { name: name.into(), when: None, why: why.into() };
    let when =
        |name: &str, w: (u8, u64, u64), why: &str| SyscallRule { name: name.into(), when: Some(w), why: why.into() };
    SeccompPlan {
        deny: vec![
            r("io_uring_setup", "io_uring bypasses syscall filtering"),
            r("io_uring_enter", "io_uring bypasses syscall filtering"),
            r("io_uring_register", "io_uring bypasses syscall filtering"),
            r("ptrace", "no tracing other processes"),
            r("process_vm_readv", "no reading other processes' memory"),
            r("process_vm_writev", "no writing other processes' memory"),
            r("bpf", "no kernel programs"),
            r("userfaultfd", "a common kernel-exploit primitive"),
            r("keyctl", "the kernel keyring is shared"),
            r("add_key", "the kernel keyring is shared"),
            r("request_key", "the kernel keyring is shared"),
            r("perf_event_open", "no performance counters"),
            r("unshare", "no new namespaces"),
            r("setns", "no joining namespaces"),
            r("mount", "no mount changes"),
            r("umount2", "no mount changes"),
            r("pivot_root", "no mount changes"),
            r("init_module", "no kernel modules"),
            r("finit_module", "no kernel modules"),
            r("kexec_load", "no kernel replacement"),
            when("clone", (0, CLONE_NEWUSER, CLONE_NEWUSER), "no new user namespaces"),
            r("clone3", "flags are in memory the filter cannot read; libc falls back to clone"),
            when("ioctl", (1, 0xffff_ffff, TIOCSTI), "TIOCSTI injects keystrokes into the terminal"),
            when("ioctl", (1, 0xffff_ffff, TIOCLINUX), "TIOCLINUX can inject keystrokes"),
        ],
        sockets: SocketFamilies::default(),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn plan_none(policy: &Policy) -> Result<BwrapPlan, PlanError> {
        plan(policy, None)
    }

    use crate::test_policy as p;

    #[test]
    fn grants_go_shallow_to_deep_and_denies_are_covered() {
        let plan = plan_none(&p(r#"{"filesystem":{"readwritePaths":["/w"],"deniedPaths":["/w/.env","/data"],"readonlyPaths":["/data/pub"]}}"#)).unwrap();
        let joined = plan.args.join(" ");
        let bind_w = joined.find("--bind-fd {PIN}/w /w").unwrap();
        let deny_env = joined.find("--ro-bind {DENY_OBJECT} /w/.env").unwrap();
        assert!(bind_w < deny_env);
        let transit = joined.find("--perms 0111 --tmpfs /data ").unwrap();
        let pub_dir = joined.find("--ro-bind-fd {PIN}/data/pub /data/pub").unwrap();
        assert!(transit < pub_dir, "{joined}");
        assert!(!joined.contains("--share-net"));
        assert!(joined.contains("--cap-drop ALL"));
    }

    #[test]
    fn partial_network_goes_through_the_proxy_and_udp_rules_are_refused() {
        let via = plan_none(&p(
            r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"10.0.0.0/8"}]}]}}}"#,
        ))
        .unwrap();
        assert!(via.helper.relay.is_some());
        assert!(!via.args.iter().any(|a| a == "--share-net"));
        assert!(via.args.windows(3).any(|w| w[0] == "--setenv" && w[1] == "ALL_PROXY"));
        let err = plan_none(&p(
            r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"ports":[{"protocol":"udp","port":53}]}]}}}"#,
        ))
        .unwrap_err();
        assert!(matches!(err, PlanError::Unenforceable { ref rule, .. } if rule == "/network/egress/allow/0"));
        let all = plan_none(&p(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#)).unwrap();
        assert!(all.args.iter().any(|a| a == "--share-net"));
    }

    #[test]
    fn socket_families_are_an_allowlist_by_network_mode() {
        let none = plan_none(&p(r#"{"filesystem":{"readwritePaths":["/w"],"readonlyPaths":["/r"]}}"#)).unwrap();
        let f = &none.helper.seccomp.sockets;
        assert_eq!(f.allowed(), vec![AF_NETLINK], "no network: only route netlink, in the sandbox's own netns");
        assert_eq!(f.unix_if_socket, vec![PathBuf::from("/w")], "only read-write grants can lift AF_UNIX");
        let proxy = plan_none(&p(
            r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"10.0.0.0/8"}]}]}}}"#,
        ))
        .unwrap();
        assert_eq!(proxy.helper.seccomp.sockets.allowed(), vec![AF_INET, AF_INET6, AF_NETLINK]);
        let all = plan_none(&p(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#)).unwrap();
        assert_eq!(all.helper.seccomp.sockets.allowed(), vec![AF_INET, AF_INET6], "the host's netns: no netlink");
        let mut f = none.helper.seccomp.sockets.clone();
        assert!(!f.settle(|_| false));
        assert!(f.settle(|p| p == Path::new("/w")));
        assert_eq!(f.allowed(), vec![AF_UNIX, AF_NETLINK]);
        // The landlock backend shares the host's namespaces: netlink never, unix never.
        let ll = crate::landlock::plan(&p(r#"{"filesystem":{"readwritePaths":["/w"]}}"#), None).unwrap();
        assert!(ll.helper.seccomp.sockets.allowed().is_empty());
        assert!(ll.helper.seccomp.sockets.unix_if_socket.is_empty());
        let ll_all =
            crate::landlock::plan(&p(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#), None)
                .unwrap();
        assert_eq!(ll_all.helper.seccomp.sockets.allowed(), vec![AF_INET, AF_INET6]);
        // The default allows nothing.
        assert!(SocketFamilies::default().allowed().is_empty());
    }

    #[test]
    fn an_unknown_syscall_name_fails_closed() {
        let mut sp = seccomp_plan_for(NetMode::None, true);
        assert!(sp.check(Backend::Bubblewrap).is_ok());
        sp.deny.push(SyscallRule { name: "no_such_call".into(), when: None, why: "x".into() });
        assert!(matches!(sp.check(Backend::Bubblewrap), Err(PlanError::Unenforceable { .. })));
    }
}
