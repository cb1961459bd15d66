//! `cordon policy explain`: a policy in words a reviewer can read.

use std::fmt::Write as _;

use cordon_plan::Plan;
use cordon_policy::{Action, NetRule, NetworkShape, Policy, PortSel, Proxy, RuleOrigin};

/// The effective policy as text: every path rule (most specific wins), the network posture,
/// the environment and the limits; with a plan, what the backend will do.
pub fn explain(policy: &Policy, plan: Option<&Plan>) -> String {
    let mut out = String::new();
    let w = &mut out;
    match &policy.version {
        Some(v) => wl(w, format_args!("MXC schema {}.{} ({})", v.major, v.minor, v.text)),
        None => wl(w, format_args!("no schema version (pre-0.8 MXC config)")),
    }
    if let Some(c) = policy.containment {
        wl(
            w,
            format_args!(
                "containment requested: {}",
                serde_json::to_value(c).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            ),
        );
    }

    wl(w, format_args!("\nfilesystem: everything not listed is denied; the most specific path wins"));
    if policy.filesystem.rules().is_empty() {
        wl(w, format_args!("  (no paths granted)"));
    }
    let width = policy.filesystem.rules().iter().map(|r| r.path.as_os_str().len()).max().unwrap_or(0);
    for r in policy.filesystem.rules() {
        let mut note = String::new();
        if r.host != r.path {
            let _ = write!(note, "  host object {}", r.host.display());
        }
        match &r.origin {
            RuleOrigin::Written => {}
            RuleOrigin::ResolvedDeny => note.push_str("  (the object a denied symlink points to)"),
            RuleOrigin::ThroughGrant { grant } => {
                let _ = write!(note, "  (the denied object as seen through {grant})");
            }
        }
        // Say what a nested rule overrides, so most-specific-wins is visible.
        let parent = r.path.parent().and_then(|p| policy.filesystem.decide(p));
        if let Some(parent) = parent.filter(|p| p.access != r.access) {
            let _ =
                write!(note, "  overrides {} {} ({})", parent.access.as_str(), parent.path.display(), parent.pointer);
        }
        wl(
            w,
            format_args!(
                "  {:<width$}  {:<10}  {}{}",
                r.path.display(),
                r.access.as_str(),
                r.pointer,
                note,
                width = width
            ),
        );
    }
    for f in policy.filesystem.foreign() {
        let written = match &f.path {
            cordon_policy::PolicyPath::Absolute(p) => p.display().to_string(),
            cordon_policy::PolicyPath::Home(p) => format!("~/{}", p.display()),
            cordon_policy::PolicyPath::Windows(p) => p.clone(),
        };
        wl(w, format_args!("  {written}  not for this OS ({}): a backend here refuses the policy", f.pointer));
    }

    explain_network(w, policy);

    if policy.env.exact {
        wl(w, format_args!("\nenvironment: exactly process.env (schema 0.9 and later; the backend adds no PATH)"));
    } else {
        wl(w, format_args!("\nenvironment: empty except"));
    }
    if policy.env.vars.is_empty() && policy.env.inherit.is_empty() {
        wl(w, format_args!("  (nothing)"));
    }
    for (k, _) in &policy.env.vars {
        // Names only: a plan is printed and logged; values stay in the policy file.
        wl(w, format_args!("  {k} (value from process.env, not shown)"));
    }
    for k in &policy.env.inherit {
        wl(w, format_args!("  {k} (from the host, when set)"));
    }

    wl(w, format_args!("\nprocess and limits:"));
    if let Some(c) = &policy.process.command_line {
        wl(w, format_args!("  command line: {c}"));
    }
    if let Some(c) = &policy.process.cwd {
        wl(w, format_args!("  working directory: {}", c.display()));
    }
    let l = &policy.limits;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "unlimited".into());
    wl(w, format_args!("  timeout: {}", opt(policy.process.timeout.map(|d| format!("{} ms", d.as_millis())))));
    wl(w, format_args!("  cpu time: {}", opt(l.cpu.map(|d| format!("{} ms", d.as_millis())))));
    wl(w, format_args!("  memory: {}", opt(l.memory_bytes.map(|b| format!("{b} bytes")))));
    wl(w, format_args!("  output: {}", opt(l.max_output_bytes.map(|b| format!("{b} bytes of stdout+stderr")))));
    wl(w, format_args!("  processes: {}", opt(l.max_processes.map(|b| b.to_string()))));
    if let Some(p) = &policy.audit.path {
        wl(
            w,
            format_args!(
                "  audit log: {}{}",
                p.display(),
                if policy.audit.allows { " (denials and grants)" } else { " (denials)" }
            ),
        );
    }

    let extra = &policy.backends.extra;
    if let Some(enabled) = extra.telemetry {
        let asked =
            enabled.map_or_else(|| "the `telemetry` section".to_string(), |e| format!("`telemetry.enabled: {e}`"));
        wl(w, format_args!("\ntelemetry: {asked} is read and ignored: cordon sends no telemetry, to anyone"));
    }
    if extra.test.is_some() {
        wl(w, format_args!("\ntest: MXC's placeholder development feature; read and ignored"));
    }
    for (pointer, value) in &extra.backend_fields {
        wl(w, format_args!("\n{pointer}: {value}: for an MXC backend cordon does not have; every backend refuses it"));
    }

    if let Some(plan) = plan {
        explain_plan(w, plan);
    }
    out
}

fn wl(w: &mut String, args: std::fmt::Arguments<'_>) {
    let _ = w.write_fmt(args);
    w.push('\n');
}

fn explain_network(w: &mut String, policy: &Policy) {
    let n = &policy.network;
    let shape = match n.shape {
        NetworkShape::None => "no network section",
        NetworkShape::Legacy => "legacy MXC fields",
        NetworkShape::Directional => "0.8 directional rules",
    };
    wl(w, format_args!("\nnetwork ({shape}): deny beats allow"));
    let act = |a: Action| if a == Action::Allow { "allow" } else { "deny" };
    wl(w, format_args!("  egress default: {}", act(n.egress.default)));
    for r in &n.egress.deny {
        wl(w, format_args!("  deny  {}  {}", rule_text(r), r.pointer));
    }
    for r in &n.egress.allow {
        wl(w, format_args!("  allow {}  {}", rule_text(r), r.pointer));
    }
    for (d, p) in &n.domains.deny {
        wl(w, format_args!("  deny  name {d}  {p}"));
    }
    for (d, p) in &n.domains.allow {
        wl(w, format_args!("  allow name {d}  {p}"));
    }
    if n.allow_local_network {
        wl(
            w,
            format_args!(
                "  loopback, private and link-local ranges, and this host's own addresses, follow the rules (allowLocalNetwork)"
            ),
        );
    } else {
        wl(
            w,
            format_args!(
                "  loopback, private and link-local ranges, and this host's own addresses, denied unless a rule names them"
            ),
        );
    }
    wl(
        w,
        format_args!("  ingress default: {}; host loopback: {}", act(n.ingress.default), act(n.ingress.host_loopback)),
    );
    match &n.proxy {
        Some(Proxy::Localhost(p)) => wl(w, format_args!("  proxy: external on 127.0.0.1:{p}")),
        Some(Proxy::BuiltinTestServer) => wl(w, format_args!("  proxy: MXC built-in test server")),
        Some(Proxy::Url(u)) => wl(w, format_args!("  proxy: {u}")),
        None => {}
    }
    if let Some(p) = &n.runtime_proxy {
        wl(w, format_args!("  user's loopback proxy (runtimeConfig.networkProxy): {p}"));
    }
}

fn rule_text(r: &NetRule) -> String {
    let to = if r.to.is_empty() {
        "any address".to_string()
    } else {
        r.to.iter()
            .map(|p| {
                if p.except.is_empty() {
                    p.net.to_string()
                } else {
                    format!(
                        "{} except {}",
                        p.net,
                        p.except.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ports = if r.ports.is_empty() {
        "any port".to_string()
    } else {
        r.ports.iter().map(port_text).collect::<Vec<_>>().join(", ")
    };
    format!("{to} on {ports}")
}

fn port_text(p: &PortSel) -> String {
    match p.ports {
        None => format!("{} any port", p.protocol),
        Some((a, b)) if a == b => format!("{}/{a}", p.protocol),
        Some((a, b)) => format!("{}/{a}-{b}", p.protocol),
    }
}

/// bwrap's options with the value of every `--setenv` shown as `…`, except the ones cordon
/// itself sets (`PATH`, `PWD`, the proxy variables).
/// One line per landlock rule; the policy's own are opened without following links.
fn landlock_lines(w: &mut String, l: &cordon_plan::helper::LandlockPlan) {
    for (path, access, pinned) in l.all() {
        let how = if pinned { " (opened without following links)" } else { "" };
        wl(w, format_args!("  landlock {} {}{how}", access.as_str(), path.display()));
    }
}

/// One line per refused call, with its condition and the reason.
fn seccomp_lines(w: &mut String, seccomp: &cordon_plan::seccomp::SeccompPlan) {
    wl(w, format_args!("  seccomp refuses (EPERM unless said):"));
    for r in &seccomp.deny {
        wl(w, format_args!("    {r}: {}", r.why));
    }
}

/// The host fact the network decisions were planned with.
fn host_address_line(w: &mut String, n: &cordon_policy::Network) {
    if !n.host_networks.is_empty() {
        let all: Vec<String> = n.host_networks.iter().map(ToString::to_string).collect();
        wl(
            w,
            format_args!(
                "  this host's own addresses and local routes (local: denied unless a rule names them): {}",
                all.join(", ")
            ),
        );
    }
}

fn explain_plan(w: &mut String, plan: &Plan) {
    match plan {
        Plan::Wasm(p) => {
            wl(w, format_args!("\nwasm plan:"));
            for pre in &p.preopens {
                let host =
                    if pre.host != pre.guest { format!(" (host {})", pre.host.display()) } else { String::new() };
                wl(w, format_args!("  preopen {} {}{}", pre.guest.display(), pre.access.as_str(), host));
            }
            if let Some(cwd) = &p.cwd {
                wl(
                    w,
                    format_args!(
                        "  working directory {} (PWD), also preopened as `.` when the rules let the tool read it",
                        cwd.display()
                    ),
                );
            }
            let carved: Vec<_> = p.fs.rules().iter().filter(|r| r.access == cordon_policy::Access::Deny).collect();
            for r in carved {
                wl(w, format_args!("  carve out {} (every path-taking call refused with `access`)", r.path.display()));
            }
            wl(
                w,
                format_args!("  sockets: every connect, send, bind and listen checked against the network rules above"),
            );
            wl(w, format_args!("  name lookup: checked against the domain rules before any resolver is asked"));
            host_address_line(w, &p.network);
        }
        Plan::Seatbelt(p) => {
            wl(w, format_args!("\nseatbelt plan (generated; run by /usr/bin/sandbox-exec on macOS):"));
            for (k, v) in &p.params {
                wl(w, format_args!("  -D{k}={v}"));
            }
            w.push_str(&p.profile);
        }
        Plan::Landlock(p) => {
            wl(w, format_args!("\nlandlock plan (no namespaces):"));
            landlock_lines(w, &p.helper.landlock);
            seccomp_lines(w, &p.helper.seccomp);
            wl(w, format_args!("  socket families: {}", p.helper.seccomp.sockets.describe()));
            wl(
                w,
                format_args!(
                    "  capabilities dropped; signals and abstract unix sockets scoped to the sandbox; a cgroup per run holds every process"
                ),
            );
            for line in p.tree.describe() {
                wl(w, format_args!("  process tree: {line}"));
            }
        }
        Plan::Windows(p) => {
            wl(w, format_args!("\nwindows plan (generated; not yet run on Windows):"));
            w.push_str(&p.render());
        }
        Plan::Bubblewrap(p) => {
            wl(w, format_args!("\nbubblewrap plan:"));
            wl(w, format_args!("  bwrap {}", cordon_plan::bwrap::mask_env_values(&p.shown_argv()).join(" ")));
            if p.helper.relay.is_some() {
                host_address_line(w, &p.network);
            }
            if let Some(r) = &p.helper.relay {
                match (&r.forward, &r.capture) {
                    (Some(up), _) => wl(
                        w,
                        format_args!("  network: through the proxy variables to your proxy at {up}, nothing else"),
                    ),
                    (None, Some(c)) => {
                        wl(
                            w,
                            format_args!(
                                "  network: every TCP connection and UDP flow is captured in the sandbox's own namespace (nftables, by {} and {}): what the policy refuses on every path fails at once (a TCP connect() with ECONNREFUSED, a UDP send with EPERM), the rest is checked by cordon by address (a UDP flow at its first datagram); proxy-aware tools also get HTTP-level checks; DNS goes to cordon's resolver; ICMP never leaves the sandbox; each refusal is logged for the audit",
                                c.ip.display(),
                                c.nft.display()
                            ),
                        );
                        wl(
                            w,
                            format_args!(
                                "  captured TCP: {}",
                                if c.handoff {
                                    "cordon opens each allowed connection and hands its socket to the relay (the tool can create no unix socket to ask for one)"
                                } else {
                                    "cordon carries the bytes of each allowed connection (a granted unix socket lets the tool reach the proxy's socket, so no socket is handed over)"
                                }
                            ),
                        );
                        for line in c.ruleset.lines() {
                            wl(w, format_args!("    {line}"));
                        }
                    }
                    (None, None) => wl(
                        w,
                        format_args!(
                            "  network: only tools that honour the proxy variables reach cordon's proxy (no `ip`/`nft` under /usr to capture the rest); UDP and ICMP are refused"
                        ),
                    ),
                }
            }
            seccomp_lines(w, &p.helper.seccomp);
            wl(w, format_args!("  socket families: {}", p.helper.seccomp.sockets.describe()));
            landlock_lines(w, &p.helper.landlock);
            for line in p.tree.describe() {
                wl(w, format_args!("  process tree (a cgroup per run): {line}"));
            }
        }
    }
}
