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

use cordon_policy::{Access, Policy};

use crate::{Backend, PlanError};

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

/// The seccomp filter as data: everything not listed is allowed; a listed call fails with
/// `EPERM` (`clone3` with `ENOSYS`, so libc falls back to `clone`, whose flags can be
/// checked). The filter checks the architecture and kills a process of another one.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SeccompPlan {
    /// The refused calls.
    pub deny: Vec<SyscallRule>,
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
    /// Denied paths the runner must cover, with the rule pointer (to check they exist).
    pub denied: Vec<(PathBuf, String)>,
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
pub fn plan(policy: &Policy) -> Result<BwrapPlan, PlanError> {
    let unenforceable = |rule: &str, reason: &str| PlanError::Unenforceable {
        backend: Backend::Bubblewrap,
        rule: rule.into(),
        reason: reason.into(),
    };
    if let Some(e) = policy.filesystem.foreign().first() {
        return Err(unenforceable(&e.pointer, "the path is for another operating system"));
    }
    let net = &policy.network;
    let share_net = net.allows_all_egress();
    // A user's own proxy: every connection goes there, and nothing else is reachable.
    let user_proxy: Option<(&str, String)> = match (&net.runtime_proxy, &net.proxy) {
        (Some(url), _) => Some(("/runtimeConfig/networkProxy", url_authority(url))),
        (None, Some(cordon_policy::Proxy::Localhost(port))) => {
            Some(("/network/proxy/localhost", format!("127.0.0.1:{port}")))
        }
        (None, Some(cordon_policy::Proxy::Url(url))) => Some(("/network/proxy/url", url_authority(url))),
        // MXC's built-in test proxy is cordon's own filtering proxy here.
        (None, Some(cordon_policy::Proxy::BuiltinTestServer)) | (None, None) => None,
    };
    let has_host_rules = !net.egress.allow.is_empty()
        || !net.egress.deny.is_empty()
        || !net.domains.allow.is_empty()
        || !net.domains.deny.is_empty();
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
        for r in &net.egress.allow {
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
    let ingress_allowed = net.ingress.default == cordon_policy::Action::Allow
        || net.ingress.host_loopback == cordon_policy::Action::Allow;
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
    for (k, v) in &policy.env.vars {
        a.extend(["--setenv".into(), k.clone(), v.clone()]);
    }
    if let Some(cwd) = &policy.process.cwd {
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
    let rules = policy.filesystem.rules();
    for r in rules {
        // A rule outside every grant needs no mount: nothing is there to reach.
        let inside_grant =
            r.path.ancestors().skip(1).any(|p| policy.filesystem.decide(p).is_some_and(|g| g.access != Access::Deny));
        // The read-only system baseline is a grant too: a deny inside it, or around part of
        // it, is covered like any other (MXC masks these as well).
        let on_baseline = BASELINE_RO.iter().any(|b| r.path.starts_with(b) || Path::new(b).starts_with(&r.path));
        match r.access {
            Access::ReadWrite | Access::ReadOnly => {
                let flag = if r.access == Access::ReadWrite { "--bind" } else { "--ro-bind" };
                a.extend([flag.into(), s(&r.host), s(&r.path)]);
                granted.push((r.host.clone(), r.pointer.clone()));
                landlock.push((r.path.clone(), r.access));
            }
            Access::Deny => {
                let grants_below = policy.filesystem.rules_below(&r.path).any(|b| b.access != Access::Deny);
                if grants_below {
                    // Traversal only: deeper grants are reachable, this directory is not listable.
                    a.extend(["--perms", "0111", "--tmpfs"].map(String::from));
                    a.push(s(&r.path));
                } else if inside_grant || on_baseline {
                    // Every directory between the writable grant and the denied path becomes a
                    // mount point of its own, so it cannot be renamed (EBUSY): moving it would
                    // carry the denied object to a name the policy does not deny.
                    let grant = r.path.ancestors().skip(1).find(|p| {
                        policy.filesystem.decide(p).is_some_and(|g| g.path == *p && g.access != Access::Deny)
                    });
                    if let Some(g) =
                        grant.and_then(|g| policy.filesystem.decide(g)).filter(|g| g.access == Access::ReadWrite)
                    {
                        let mut between: Vec<&Path> = r.path.ancestors().skip(1).take_while(|p| *p != g.path).collect();
                        between.reverse();
                        for d in between {
                            let host = g.host.join(d.strip_prefix(&g.path).unwrap_or(d));
                            a.extend(["--bind-try".into(), s(&host), s(d)]);
                        }
                    }
                    a.extend(["--ro-bind".into(), DENY_OBJECT.into(), s(&r.path)]);
                    denied.push((r.path.clone(), r.pointer.clone()));
                }
            }
        }
    }
    if let Some(cwd) = &policy.process.cwd {
        a.extend(["--chdir".into(), s(cwd)]);
    }
    a.extend(["--ro-bind".into(), "{HELPER}".into(), HELPER_PATH.into()]);
    if via_proxy {
        a.extend(["--bind".into(), PROXY_HOST_SOCKET.into(), PROXY_SOCKET.into()]);
    }

    let limits = NativeLimits {
        memory_bytes: policy.limits.memory_bytes,
        cpu_seconds: policy.limits.cpu.map(|d| d.as_millis().div_ceil(1000) as u64),
        max_processes: policy.limits.max_processes,
    };
    Ok(BwrapPlan {
        args: a,
        inherit_env: policy.env.inherit.clone(),
        helper: HelperPlan {
            relay: via_proxy.then(|| Relay {
                port: PROXY_PORT,
                socket: PROXY_SOCKET.into(),
                forward: user_proxy.as_ref().map(|(_, a)| a.clone()),
            }),
            drop_caps: false,
            require_landlock: false,
            scope_abstract_unix: false,
            seccomp: seccomp_plan_for(if share_net {
                NetMode::All
            } else if via_proxy {
                NetMode::Proxy
            } else {
                NetMode::None
            }),
            landlock: LandlockPlan { rules: landlock },
            limits,
        },
        timeout: policy.process.timeout,
        max_output_bytes: policy.limits.max_output_bytes,
        denied,
        granted,
        network: policy.network.clone(),
        // bwrap's pid namespace already ends every process with the sandbox: a cgroup only
        // when a limit needs one.
        tree: crate::cgroup::TreeLimits::new(&policy.limits, false),
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

/// The syscalls a native tool is refused, for its network mode.
pub fn seccomp_plan_for(mode: NetMode) -> SeccompPlan {
    const AF_INET: u64 = 2;
    const AF_INET6: u64 = 10;
    const SOCK_DGRAM: u64 = 2;
    let mut plan = seccomp_plan();
    let ip = |family: u64, why: &str| SyscallRule {
        name: "socket".into(),
        when: Some((0, 0xffff_ffff, family)),
        why: why.into(),
    };
    match mode {
        NetMode::None => {
            plan.deny.push(ip(AF_INET, "no network: no IP sockets"));
            plan.deny.push(ip(AF_INET6, "no network: no IP sockets"));
        }
        NetMode::Proxy => {
            // Datagram sockets of any family: only TCP reaches the relay.
            plan.deny.push(SyscallRule {
                name: "socket".into(),
                when: Some((1, 0xf, SOCK_DGRAM)),
                why: "only TCP through cordon's proxy".into(),
            });
        }
        NetMode::All => {}
    }
    plan
}

/// The syscalls every native tool is refused.
pub fn seccomp_plan() -> SeccompPlan {
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const TIOCSTI: u64 = 0x5412;
    const TIOCLINUX: u64 = 0x541c;
    const AF_UNIX: u64 = 1;
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
            when("socket", (0, 0xffff_ffff, AF_UNIX), "no new unix sockets (socketpair still works)"),
        ],
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    use crate::test_policy as p;

    #[test]
    fn grants_go_shallow_to_deep_and_denies_are_covered() {
        let plan = plan(&p(r#"{"filesystem":{"readwritePaths":["/w"],"deniedPaths":["/w/.env","/data"],"readonlyPaths":["/data/pub"]}}"#)).unwrap();
        let joined = plan.args.join(" ");
        let bind_w = joined.find("--bind /w /w").unwrap();
        let deny_env = joined.find("--ro-bind {DENY_OBJECT} /w/.env").unwrap();
        assert!(bind_w < deny_env);
        let transit = joined.find("--perms 0111 --tmpfs /data ").unwrap();
        let pub_dir = joined.find("--ro-bind /data/pub /data/pub").unwrap();
        assert!(transit < pub_dir, "{joined}");
        assert!(!joined.contains("--share-net"));
        assert!(joined.contains("--cap-drop ALL"));
    }

    #[test]
    fn partial_network_goes_through_the_proxy_and_udp_rules_are_refused() {
        let via =
            plan(&p(r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"10.0.0.0/8"}]}]}}}"#))
                .unwrap();
        assert!(via.helper.relay.is_some());
        assert!(!via.args.iter().any(|a| a == "--share-net"));
        assert!(via.args.windows(3).any(|w| w[0] == "--setenv" && w[1] == "ALL_PROXY"));
        let err = plan(&p(
            r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"ports":[{"protocol":"udp","port":53}]}]}}}"#,
        ))
        .unwrap_err();
        assert!(matches!(err, PlanError::Unenforceable { ref rule, .. } if rule == "/network/egress/allow/0"));
        let all = plan(&p(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#)).unwrap();
        assert!(all.args.iter().any(|a| a == "--share-net"));
    }
}
