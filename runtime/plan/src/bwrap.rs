//! `Policy` → [`BwrapPlan`]: the sandbox's mounts, the process, the seccomp filter and the
//! landlock rules for a native command on Linux, as typed data; [`BwrapPlan::argv`] is the
//! one rendering to bubblewrap's options.
//!
//! The sandbox: every namespace unshared (the network kept only when the policy allows all
//! egress), all capabilities dropped, a new session, the parent's death kills it, an empty
//! environment plus the allowed variables, a read-only system baseline (no `$HOME`, no
//! `/run`, no host sockets), a private `/tmp`, then the policy's grants shallow to deep
//! (so the most specific path wins). A denied path inside a grant is covered by an
//! inaccessible empty object ([`Source::DenyDir`]/[`Source::DenyFile`], chosen here from the
//! host facts and made by the runner with mode 000);
//! a denied directory that a deeper grant lies under becomes a traversal-only directory
//! (mode 0111): the grant is reachable, the rest is not.

use std::path::{Path, PathBuf};

use cordon_policy::{Access, BackendOptions, Env, Limits, Network, Policy, Process};

use crate::helper::{HelperPlan, LandlockPlan, NativeLimits, Relay};
use crate::seccomp::{NetMode, seccomp_plan_for};
use crate::{Backend, PlanError};

/// Where a bind's source comes from. The runner turns each into a host object when the run
/// starts ([`BwrapPlan::argv`] renders the plan with what it made); it decides nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A system path, bound when it exists (bwrap's `-try`): the read-only baseline, which no
    /// rule of the policy makes writable.
    System(PathBuf),
    /// A host object the runner opens one component at a time without following any link
    /// and binds by descriptor (`--bind-fd`/`--ro-bind-fd`): the kernel mounts exactly the
    /// object cordon opened, and a link swapped in since planning refuses the run.
    Pinned(PathBuf),
    /// The runner's empty directory with mode 000: covers a denied directory.
    DenyDir,
    /// The runner's empty file with mode 000: covers a denied file.
    DenyFile,
    /// cordon's helper executable.
    Helper,
    /// The unix socket cordon's proxy listens on for this run.
    ProxySocket,
    /// A `resolv.conf` naming `127.0.0.1` (the relay's DNS stub), made by the runner.
    Resolver,
}

impl Source {
    /// How `--dry-run` and `explain` show it: the runner puts a descriptor number or a path
    /// of the run's scratch directory in its place.
    pub fn placeholder(&self) -> String {
        match self {
            Source::System(p) => s(p),
            Source::Pinned(p) => format!("{{fd:{}}}", s(p)),
            Source::DenyDir => "{deny-dir}".into(),
            Source::DenyFile => "{deny-file}".into(),
            Source::Helper => "{helper}".into(),
            Source::ProxySocket => "{proxy-socket}".into(),
            Source::Resolver => "{resolv.conf}".into(),
        }
    }
}

/// One step of building the sandbox's file tree, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// `source` at `dest`, read-only unless `writable`.
    Bind {
        /// What is bound.
        source: Source,
        /// Where, in the sandbox.
        dest: PathBuf,
        /// Writable.
        writable: bool,
    },
    /// An empty tmpfs; `mode` 0o111 makes a traversal-only directory.
    Tmpfs {
        /// Where.
        dest: PathBuf,
        /// Its permissions, when not bwrap's default.
        mode: Option<u32>,
    },
    /// A symlink.
    Symlink {
        /// What it points to.
        target: PathBuf,
        /// Where it is made.
        link: PathBuf,
    },
    /// A fresh procfs for the sandbox's pid namespace.
    Proc(PathBuf),
    /// A minimal /dev.
    Dev(PathBuf),
}

/// Where the helper (cordon itself) is bound inside the sandbox.
pub const HELPER_PATH: &str = "/run/cordon/helper";

/// `host:port` of a proxy URL (`http://host:port/`).
fn url_authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/').to_string()
}

/// Where the proxy's socket is bound inside the sandbox.
pub const PROXY_SOCKET: &str = "/run/cordon/proxy.sock";
/// The loopback port the relay listens on inside the sandbox.
pub const PROXY_PORT: u16 = 3128;

/// The whole bubblewrap plan: typed, rendered to bwrap's options by [`BwrapPlan::argv`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BwrapPlan {
    /// The host's network namespace is kept (the policy allows all egress); else the sandbox
    /// has an empty one of its own.
    pub share_net: bool,
    /// The sandbox starts with `CAP_NET_ADMIN` and `CAP_NET_BIND_SERVICE` over its own (user
    /// and network) namespaces, so the helper can install the transparent capture; it drops
    /// every capability before the tool starts, and the relay keeps only the second (to
    /// answer a UDP flow from its destination's port below 1024, inside the sandbox).
    pub net_admin: bool,
    /// The tool's process: env, working directory, timeout, output cap.
    pub process: crate::ProcessPlan,
    /// The file tree, shallow to deep.
    pub mounts: Vec<Mount>,
    /// What the helper applies.
    pub helper: HelperPlan,
    /// The rules cordon's proxy decides with (used when `helper.relay` is set).
    pub network: cordon_policy::Network,
    /// Limits over the whole process tree (a cgroup per run, when any is set).
    pub tree: crate::cgroup::TreeLimits,
}

impl BwrapPlan {
    /// bwrap's options, up to (not including) `--`, with each [`Source`] replaced by what
    /// `source` gives for it: the one rendering of a plan, used by the runner (descriptor
    /// numbers, scratch paths) and by `--dry-run` ([`Source::placeholder`]). Variables of
    /// `cordon.env.inherit` are not here: the runner adds their values at the end.
    ///
    /// # Errors
    /// The first error `source` returns.
    pub fn argv<E>(&self, mut source: impl FnMut(&Source) -> Result<String, E>) -> Result<Vec<String>, E> {
        let mut a: Vec<String> = ["--unshare-all", "--unshare-user"].map(String::from).to_vec();
        if self.share_net {
            a.push("--share-net".into());
        }
        a.extend(["--cap-drop", "ALL"].map(String::from));
        if self.net_admin {
            a.extend(["--cap-add", "CAP_NET_ADMIN", "--cap-add", "CAP_NET_BIND_SERVICE"].map(String::from));
        }
        a.extend(["--die-with-parent", "--new-session", "--clearenv"].map(String::from));
        for (k, v) in &self.process.env {
            a.extend(["--setenv".into(), k.clone(), v.clone()]);
        }
        for m in &self.mounts {
            match m {
                Mount::Bind { source: src, dest, writable } => {
                    let flag = match (src, writable) {
                        (Source::System(_), false) => "--ro-bind-try",
                        (Source::System(_), true) => "--bind-try",
                        (Source::Pinned(_), false) => "--ro-bind-fd",
                        (Source::Pinned(_), true) => "--bind-fd",
                        (_, false) => "--ro-bind",
                        (_, true) => "--bind",
                    };
                    a.extend([flag.into(), source(src)?, s(dest)]);
                }
                Mount::Tmpfs { dest, mode } => {
                    if let Some(m) = mode {
                        a.extend(["--perms".into(), format!("{m:04o}")]);
                    }
                    a.extend(["--tmpfs".into(), s(dest)]);
                }
                Mount::Symlink { target, link } => a.extend(["--symlink".into(), s(target), s(link)]),
                Mount::Proc(d) => a.extend(["--proc".into(), s(d)]),
                Mount::Dev(d) => a.extend(["--dev".into(), s(d)]),
            }
        }
        if let Some(cwd) = &self.process.cwd {
            a.extend(["--chdir".into(), s(cwd)]);
        }
        Ok(a)
    }

    /// [`BwrapPlan::argv`] as `--dry-run` shows it.
    pub fn shown_argv(&self) -> Vec<String> {
        self.argv(|src| Ok::<_, std::convert::Infallible>(src.placeholder())).unwrap_or_else(|e| match e {})
    }
}

/// bwrap's options with the values of the policy's variables replaced by `…` (cordon's own,
/// `PATH`, `PWD` and the proxy variables, stay): what `explain`, `--dry-run` and `--debug`
/// print.
pub fn mask_env_values(args: &[String]) -> Vec<String> {
    const OWN: &[&str] =
        &["PATH", "PWD", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--setenv" && i + 2 < args.len() {
            let value = if OWN.contains(&args[i + 1].as_str()) { args[i + 2].clone() } else { "…".to_string() };
            out.extend([args[i].clone(), args[i + 1].clone(), value]);
            i += 3;
        } else {
            out.push(args[i].clone());
            i += 1;
        }
    }
    out
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
pub fn plan(
    policy: &Policy,
    tool: Option<&crate::ToolFacts>,
    facts: &dyn crate::PathFacts,
) -> Result<BwrapPlan, PlanError> {
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
    let Env { vars, inherit, exact: _ } = env; // `exact` in `ProcessPlan::new`
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
        host_networks: _,    // a host fact, read from `facts` below: the proxy and the capture decide with it
    } = network;
    let BackendOptions {
        container_id: _, // a label
        lifecycle,
        fallback: _, // cordon changes no DACL here
        seatbelt: _, // configures macOS Seatbelt only
        process_container,
        lxc,
        experimental,
        extra,
    } = backends;
    crate::mxc::shared_sections(
        Backend::Bubblewrap,
        lifecycle,
        process_container.as_ref(),
        lxc.as_ref(),
        experimental,
        extra,
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
    let ingress_allowed =
        ingress.default == cordon_policy::Action::Allow || ingress.host_loopback == cordon_policy::Action::Allow;
    if ingress_allowed && !share_net {
        // MXC's own wording first, so scripts written against MXC recognise the refusal.
        let which = if ingress.default == cordon_policy::Action::Allow { "default" } else { "hostLoopback" };
        return Err(unenforceable(
            "/network/ingress",
            &format!(
                "network.ingress.{which}='allow' is not supported: a native command's network namespace is private, so inbound and host-loopback traffic cannot reach it; run the tool as wasm"
            ),
        ));
    }

    let mut proc = crate::ProcessPlan::new(process, env, *max_output_bytes, Some(crate::SANDBOX_PATH));
    if let Some(cwd) = cwd {
        proc.env.push(("PWD".into(), s(cwd)));
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
            proc.env.push((k.into(), v.clone()));
        }
    }
    let _ = (vars, inherit, timeout); // in `ProcessPlan::new`

    // System baseline.
    let mut mounts: Vec<Mount> = crate::baseline::SYSTEM_RO
        .iter()
        .map(|p| Mount::Bind { source: Source::System(p.into()), dest: p.into(), writable: false })
        .collect();
    for (target, link) in crate::baseline::LINKS {
        mounts.push(Mount::Symlink { target: target.into(), link: link.into() });
    }
    mounts.extend([
        Mount::Proc("/proc".into()),
        Mount::Dev("/dev".into()),
        Mount::Tmpfs { dest: "/tmp".into(), mode: None },
    ]);

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
                // Missing now: nothing to protect (the deeper rule's path is missing too).
                if facts.kind(host).is_some() {
                    mounts.push(Mount::Bind { source: Source::Pinned(host.into()), dest: dest.into(), writable: true });
                }
                continue;
            }
            Item::Rule(r) => r,
        };
        // A rule outside every grant needs no mount: nothing is there to reach.
        let inside_grant =
            r.path.ancestors().skip(1).any(|p| filesystem.decide(p).is_some_and(|g| g.access != Access::Deny));
        // The read-only system baseline is a grant too: a deny inside it, or around part of
        // it, is covered like any other (MXC masks these as well).
        let on_baseline =
            crate::baseline::SYSTEM_RO.iter().any(|b| r.path.starts_with(b) || Path::new(b).starts_with(&r.path));
        match r.access {
            Access::ReadWrite | Access::ReadOnly => {
                if facts.kind(&r.host).is_none() {
                    return Err(unenforceable(
                        &r.pointer,
                        &format!(
                            "cannot grant {}: it does not exist; create it or remove it from the policy",
                            r.host.display()
                        ),
                    ));
                }
                mounts.push(Mount::Bind {
                    source: Source::Pinned(r.host.clone()),
                    dest: r.path.clone(),
                    writable: r.access == Access::ReadWrite,
                });
                landlock.push((r.path.clone(), r.access));
            }
            Access::Deny => {
                let grants_below = filesystem.rules_below(&r.path).any(|b| b.access != Access::Deny);
                if grants_below {
                    // Traversal only: deeper grants are reachable, this directory is not listable.
                    mounts.push(Mount::Tmpfs { dest: r.path.clone(), mode: Some(0o111) });
                } else if inside_grant || on_baseline {
                    let source = match facts.kind(&r.path) {
                        Some(crate::ObjectKind::Dir) => Source::DenyDir,
                        Some(_) => Source::DenyFile,
                        None => {
                            // The nearest rule above decides whether the tool could create it.
                            let in_writable = filesystem
                                .decide(r.path.parent().unwrap_or(&r.path))
                                .is_some_and(|g| g.access == Access::ReadWrite);
                            if in_writable {
                                return Err(unenforceable(
                                    &r.pointer,
                                    &format!(
                                        "{} does not exist inside a writable grant; bubblewrap cannot keep it from being created. Create it first, or run the tool as wasm",
                                        r.path.display()
                                    ),
                                ));
                            }
                            // Not there and cannot be created: nothing to cover.
                            continue;
                        }
                    };
                    mounts.push(Mount::Bind { source, dest: r.path.clone(), writable: false });
                }
            }
        }
    }
    // The command, when named by path: visible read-only at that path (the file alone),
    // unless the policy denies it.
    let visible = |p: &Path| filesystem.decide(p).is_none_or(|r| r.access != Access::Deny);
    if let Some(t) = tool.filter(|t| visible(&t.path) && visible(&t.host)) {
        // A system command (`/bin/sh`, `/usr/bin/python3`) is already there: the read-only
        // baseline shows the host's own object at that path, and no grant makes it writable.
        // Anything else is opened without following links and bound by descriptor. (A
        // descriptor bind refuses a destination reached through a link, such as `/bin` in
        // the sandbox: that is why a baseline path gets no bind of its own.)
        let writable = |p: &Path| filesystem.decide(p).is_some_and(|r| r.access == Access::ReadWrite);
        let system = |p: &Path| crate::baseline::SYSTEM_RO.iter().any(|b| p.starts_with(b));
        let shown_by_baseline = system(&t.host)
            && (system(&t.path) || crate::baseline::LINKS.iter().any(|(_, link)| t.path.starts_with(link)))
            && !writable(&t.path)
            && !writable(&t.host);
        if !shown_by_baseline {
            mounts.push(Mount::Bind { source: Source::Pinned(t.host.clone()), dest: t.path.clone(), writable: false });
        }
        landlock.push((t.path.clone(), Access::ReadOnly));
    }
    // Transparent capture, with cordon's own proxy deciding (a user's proxy gets only what
    // honours the proxy variables): needs `ip` and `nft` in the sandbox's `/usr`. Without
    // them only proxy-aware tools reach the network, which is narrower, never wider.
    // The rules the proxy and the capture decide with, and the host's own networks;
    // `enforcementMode` is a hint, not part of them.
    let decided = cordon_policy::Network {
        enforcement_mode: None,
        host_networks: crate::host_networks(network, Backend::Bubblewrap, facts)?,
        ..network.clone()
    };
    let tool_at = |names: &[&str]| names.iter().map(PathBuf::from).find(|p| facts.kind(p).is_some());
    let capture = match (
        via_proxy && user_proxy.is_none(),
        tool_at(&["/usr/sbin/ip", "/usr/bin/ip"]),
        tool_at(&["/usr/sbin/nft"]),
    ) {
        (true, Some(ip), Some(nft)) => Some(crate::helper::Capture::new(
            PROXY_PORT,
            ip,
            nft,
            facts.kind(Path::new("/proc/sys/net/ipv6")).is_some(),
            &decided,
        )),
        _ => None,
    };
    if via_proxy {
        // Traffic cordon cannot carry is refused rather than ignored: with the capture TCP
        // and UDP are relayed and decided; without it (a user's proxy, or no `ip`/`nft`)
        // only TCP through the proxy. ICMP never: the sandbox's namespace answers it itself.
        use cordon_policy::net::Protocol;
        let carried = |p: Protocol| match p {
            Protocol::Tcp | Protocol::Any => true,
            Protocol::Udp => capture.is_some(),
            Protocol::Icmp => false,
        };
        for r in &egress.allow {
            if !r.ports.is_empty() && !r.ports.iter().any(|p| carried(p.protocol)) {
                let how = if capture.is_some() {
                    "native commands reach the network through cordon's capture, which carries TCP and UDP; ICMP rules cannot be enforced; run the tool as wasm"
                } else if user_proxy.is_some() {
                    "with your own proxy, native commands reach the network only through it (TCP); UDP and ICMP rules cannot be enforced; run the tool as wasm"
                } else {
                    "native commands reach the network only through cordon's proxy (TCP: HTTP, CONNECT, SOCKS5) when `ip` and `nft` are missing from the sandbox's /usr; UDP and ICMP rules cannot be enforced; install iproute2 and nftables or run the tool as wasm"
                };
                return Err(unenforceable(&r.pointer, how));
            }
        }
    }
    if capture.is_some() {
        // The sandbox's resolver is the relay's DNS stub.
        mounts.push(Mount::Bind { source: Source::Resolver, dest: "/etc/resolv.conf".into(), writable: false });
    }
    mounts.push(Mount::Bind { source: Source::Helper, dest: HELPER_PATH.into(), writable: false });
    if via_proxy {
        mounts.push(Mount::Bind { source: Source::ProxySocket, dest: PROXY_SOCKET.into(), writable: true });
    }

    let mut seccomp = seccomp_plan_for(
        if share_net {
            NetMode::All
        } else if capture.is_some() {
            NetMode::Captured
        } else if via_proxy {
            NetMode::Proxy
        } else {
            NetMode::None
        },
        !share_net,
    );
    // A read-write grant that is a unix socket lets the tool create unix sockets to reach
    // it; abstract unix sockets are then scoped to the sandbox.
    seccomp.sockets.unix =
        rules.iter().any(|r| r.access == Access::ReadWrite && facts.kind(&r.host) == Some(crate::ObjectKind::Socket));
    seccomp.check(Backend::Bubblewrap)?;
    // The captured connections' sockets may go to the relay only if the tool cannot ask the
    // proxy's socket for one itself: it may create no unix socket.
    let capture = capture.map(|c| crate::helper::Capture { handoff: !seccomp.sockets.unix, ..c });

    let native_limits = NativeLimits {
        memory_bytes: *memory_bytes,
        cpu_seconds: cpu.map(|d| d.as_millis().div_ceil(1000) as u64),
        max_processes: *max_processes,
    };
    Ok(BwrapPlan {
        share_net,
        net_admin: capture.is_some(),
        process: proc,
        mounts,
        helper: HelperPlan {
            relay: via_proxy.then(|| Relay {
                port: PROXY_PORT,
                socket: PROXY_SOCKET.into(),
                forward: user_proxy.as_ref().map(|(_, a)| a.clone()),
                capture: capture.clone(),
            }),
            drop_caps: capture.is_some(),
            require_landlock: false,
            scope_abstract_unix: seccomp.sockets.unix,
            seccomp,
            landlock: LandlockPlan { rules: landlock, pinned: Vec::new() },
            limits: native_limits,
        },
        network: decided,
        // bwrap's pid namespace already ends every process with the sandbox: a cgroup only
        // when a limit needs one.
        tree: crate::cgroup::TreeLimits::new(limits, false),
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::seccomp::{AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, SocketFamilies};

    fn plan_none(policy: &Policy) -> Result<BwrapPlan, PlanError> {
        plan(policy, None, &crate::assume_dirs)
    }

    use crate::test_policy as p;

    #[test]
    fn grants_go_shallow_to_deep_and_denies_are_covered() {
        let plan = plan_none(&p(r#"{"filesystem":{"readwritePaths":["/w"],"deniedPaths":["/w/.env","/data"],"readonlyPaths":["/data/pub"]}}"#)).unwrap();
        let joined = plan.shown_argv().join(" ");
        let bind_w = joined.find("--bind-fd {fd:/w} /w").unwrap();
        let deny_env = joined.find("--ro-bind {deny-dir} /w/.env").unwrap();
        assert!(bind_w < deny_env);
        let transit = joined.find("--perms 0111 --tmpfs /data ").unwrap();
        let pub_dir = joined.find("--ro-bind-fd {fd:/data/pub} /data/pub").unwrap();
        assert!(transit < pub_dir, "{joined}");
        assert!(!joined.contains("--share-net"));
        assert!(joined.contains("--cap-drop ALL"));
    }

    #[test]
    fn the_command_is_bound_by_descriptor_unless_the_baseline_already_shows_it() {
        let policy = p(r#"{"filesystem":{"readwritePaths":["/w"],"readonlyPaths":["/r"]}}"#);
        let tool = |path: &str, host: &str| crate::ToolFacts { path: path.into(), host: host.into() };
        let binds = |t: &crate::ToolFacts| {
            plan(&policy, Some(t), &crate::assume_dirs)
                .unwrap()
                .mounts
                .into_iter()
                .filter(|m| matches!(m, Mount::Bind { dest, .. } if *dest == t.path))
                .collect::<Vec<_>>()
        };
        // A system command: the read-only baseline shows the host's object there already.
        assert!(binds(&tool("/bin/sh", "/usr/bin/dash")).is_empty());
        assert!(binds(&tool("/usr/bin/python3", "/usr/bin/python3.11")).is_empty());
        // Anything else is opened without following links: in a writable grant, in a
        // read-only one, or named through a link from elsewhere.
        for t in [tool("/w/run.sh", "/w/run.sh"), tool("/r/run.sh", "/r/run.sh"), tool("/opt/x", "/usr/bin/dash")] {
            assert_eq!(
                binds(&t),
                vec![Mount::Bind { source: Source::Pinned(t.host.clone()), dest: t.path.clone(), writable: false }],
                "{t:?}"
            );
        }
        // A system path a grant makes writable is pinned too.
        let rw_usr = p(r#"{"filesystem":{"readwritePaths":["/usr/local"]}}"#);
        let t = tool("/usr/local/bin/x", "/usr/local/bin/x");
        let m = plan(&rw_usr, Some(&t), &crate::assume_dirs).unwrap().mounts;
        assert!(m.iter().any(|m| matches!(m, Mount::Bind { source: Source::Pinned(h), .. } if *h == t.host)));
    }

    #[test]
    fn partial_network_goes_through_the_proxy_and_uncarried_protocols_are_refused() {
        let via = plan_none(&p(
            r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"10.0.0.0/8"}]}]}}}"#,
        ))
        .unwrap();
        assert!(via.helper.relay.is_some());
        assert!(!via.share_net);
        assert!(via.process.env.iter().any(|(k, _)| k == "ALL_PROXY"));
        // With the capture (`ip` and `nft` in the sandbox) UDP is relayed and decided; ICMP
        // is refused. Without it, UDP is refused too: only TCP goes through the proxy.
        let udp =
            p(r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"ports":[{"protocol":"udp","port":53}]}]}}}"#);
        let captured = plan_none(&udp).unwrap();
        let capture = captured.helper.relay.as_ref().and_then(|r| r.capture.as_ref()).unwrap();
        assert_eq!(capture.udp_port, crate::helper::UDP_PORT);
        assert!(capture.ruleset.contains("tproxy ip to 127.0.0.1:3130"), "{}", capture.ruleset);
        let icmp = p(r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"ports":[{"protocol":"icmp"}]}]}}}"#);
        let err = plan_none(&icmp).unwrap_err();
        assert!(matches!(err, PlanError::Unenforceable { ref rule, .. } if rule == "/network/egress/allow/0"), "{err}");
        let no_nft = |p: &Path| (!p.ends_with("nft")).then_some(crate::ObjectKind::Dir);
        let err = plan(&udp, None, &no_nft).unwrap_err();
        assert!(
            matches!(err, PlanError::Unenforceable { ref rule, ref reason, .. } if rule == "/network/egress/allow/0" && reason.contains("nftables")),
            "{err}"
        );
        let all = plan_none(&p(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#)).unwrap();
        assert!(all.shown_argv().iter().any(|a| a == "--share-net"));
    }

    #[test]
    fn socket_families_are_an_allowlist_by_network_mode() {
        let none = plan_none(&p(r#"{"filesystem":{"readwritePaths":["/w"],"readonlyPaths":["/r"]}}"#)).unwrap();
        let f = &none.helper.seccomp.sockets;
        assert_eq!(f.allowed(), vec![AF_NETLINK], "no network: only route netlink, in the sandbox's own netns");
        // A read-write grant that is a socket lifts AF_UNIX and scopes abstract sockets; a
        // read-only one does not.
        let socket_at = |at: &'static str| {
            move |p: &Path| Some(if p == Path::new(at) { crate::ObjectKind::Socket } else { crate::ObjectKind::Dir })
        };
        let policy = p(r#"{"filesystem":{"readwritePaths":["/w"],"readonlyPaths":["/r"]}}"#);
        let lifted = plan(&policy, None, &socket_at("/w")).unwrap();
        assert_eq!(lifted.helper.seccomp.sockets.allowed(), vec![AF_UNIX, AF_NETLINK]);
        assert!(lifted.helper.scope_abstract_unix);
        let kept = plan(&policy, None, &socket_at("/r")).unwrap();
        assert_eq!(kept.helper.seccomp.sockets.allowed(), vec![AF_NETLINK]);
        assert!(!kept.helper.scope_abstract_unix);
        let proxy = plan_none(&p(
            r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"10.0.0.0/8"}]}]}}}"#,
        ))
        .unwrap();
        assert_eq!(proxy.helper.seccomp.sockets.allowed(), vec![AF_INET, AF_INET6, AF_NETLINK]);
        let all = plan_none(&p(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#)).unwrap();
        assert_eq!(all.helper.seccomp.sockets.allowed(), vec![AF_INET, AF_INET6], "the host's netns: no netlink");
        // The landlock backend shares the host's namespaces: netlink never, unix never.
        let ll =
            crate::landlock::plan(&p(r#"{"filesystem":{"readwritePaths":["/w"]}}"#), None, &socket_at("/w")).unwrap();
        assert!(ll.helper.seccomp.sockets.allowed().is_empty());
        let ll_all = crate::landlock::plan(
            &p(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#),
            None,
            &crate::assume_dirs,
        )
        .unwrap();
        assert_eq!(ll_all.helper.seccomp.sockets.allowed(), vec![AF_INET, AF_INET6]);
        // The default allows nothing.
        assert!(SocketFamilies::default().allowed().is_empty());
    }
}
