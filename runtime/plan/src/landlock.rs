//! `Policy` → [`LandlockPlan`](crate::landlock::LandlockBackendPlan): the landlock-only backend for Linux hosts without
//! bubblewrap or user namespaces. landlock + seccomp + rlimits + a cgroup per run, no
//! namespaces: it runs what it can enforce and refuses the rest with the reason.
//!
//! Refused here (enforced by bubblewrap or wasm instead):
//! - a denied path inside a granted one (landlock only grants; it cannot carve out);
//! - a network policy other than none or all (there is no network namespace to force
//!   traffic through cordon's proxy), proxies, and inbound allowances.

use cordon_policy::{Access, BackendOptions, Env, Limits, Network, Policy, Process};

use crate::helper::{HelperPlan, LandlockPlan, NativeLimits};
use crate::seccomp::{NetMode, seccomp_plan_for};
use crate::{Backend, PlanError};

/// The landlock backend's plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LandlockBackendPlan {
    /// What the helper applies before it executes the tool.
    pub helper: HelperPlan,
    /// The tool's process: env, working directory, timeout, output cap.
    pub process: crate::ProcessPlan,
    /// Limits over the whole process tree; the cgroup is always needed here, to find and
    /// kill every process of the tool.
    pub tree: crate::cgroup::TreeLimits,
}

fn refuse(rule: &str, reason: &str) -> PlanError {
    PlanError::Unenforceable { backend: Backend::Landlock, rule: rule.into(), reason: reason.into() }
}

/// Builds the landlock plan.
///
/// # Errors
/// [`PlanError::Unenforceable`] for what landlock alone cannot enforce.
pub fn plan(
    policy: &Policy,
    tool: Option<&crate::ToolFacts>,
    facts: &dyn crate::PathFacts,
) -> Result<LandlockBackendPlan, PlanError> {
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
        egress: _,
        ingress,
        domains: _,
        allow_local_network: _, // part of `allows_all_egress`
        proxy,
        runtime_proxy,
        enforcement_mode: _, // MXC's mechanism; this backend enforces the rules its own way
        host_networks: _,    // read by `allows_all_egress`: none or all here, where they follow the rules
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
        Backend::Landlock,
        lifecycle,
        process_container.as_ref(),
        lxc.as_ref(),
        experimental,
        extra,
    )?;
    crate::mxc::headless_ui(Backend::Landlock, ui)?;
    if let Some(e) = filesystem.foreign().first() {
        return Err(refuse(&e.pointer, "the path is for another operating system"));
    }
    let fs = filesystem;
    for r in fs.rules().iter().filter(|r| r.access != Access::Deny) {
        // A weaker rule below a grant (read-only under read-write, or a deny) would need
        // carving out of it; landlock rules only add access.
        if let Some(inner) = fs.rules_below(&r.path).find(|b| b.access > r.access) {
            return Err(refuse(
                &inner.pointer,
                "landlock can only grant, so a denied or read-only path inside a broader grant cannot be carved out; use --backend bubblewrap or run the tool as wasm",
            ));
        }
    }
    // A deny on (or around) the system baseline cannot be carved out of it either: refused,
    // never shown as denied and then read.
    for r in fs.rules().iter().filter(|r| r.access == Access::Deny) {
        let hits_baseline = crate::baseline::landlock_rules().iter().any(|(b, _)| {
            r.path.starts_with(b) || b.starts_with(&r.path) || r.host.starts_with(b) || b.starts_with(&r.host)
        });
        if hits_baseline {
            return Err(refuse(
                &r.pointer,
                "the path lies in (or holds) the system baseline every native command reads (/usr, /etc/passwd, …), and landlock cannot carve a deny out of it; use --backend bubblewrap or run the tool as wasm",
            ));
        }
    }
    let net = network;
    let mode = if net.allows_all_egress() && proxy.is_none() && runtime_proxy.is_none() {
        NetMode::All
    } else if net.denies_all_egress() && proxy.is_none() && runtime_proxy.is_none() {
        NetMode::None
    } else {
        return Err(refuse(
            "/network",
            "without a network namespace the landlock backend cannot force traffic through cordon's proxy, so only no network or all of it can be enforced; use --backend bubblewrap or run the tool as wasm",
        ));
    };
    let ingress_allowed =
        ingress.default == cordon_policy::Action::Allow || ingress.host_loopback == cordon_policy::Action::Allow;
    if mode == NetMode::None && ingress_allowed {
        return Err(refuse(
            "/network/ingress",
            "with no network, inbound traffic cannot be allowed; use --backend bubblewrap or wasm",
        ));
    }
    let rules = crate::baseline::landlock_rules();
    let mut pinned = Vec::new();
    for r in fs.rules().iter().filter(|r| r.access != Access::Deny) {
        if facts.kind(&r.host).is_none() {
            return Err(refuse(
                &r.pointer,
                &format!(
                    "cannot grant {}: it does not exist; create it or remove it from the policy",
                    r.host.display()
                ),
            ));
        }
        pinned.push((r.host.clone(), r.access));
    }
    // The command, when named by path: readable (to be executed), unless the policy denies it.
    let visible = |p: &std::path::Path| fs.decide(p).is_none_or(|r| r.access != Access::Deny);
    if let Some(t) = tool.filter(|t| visible(&t.path) && visible(&t.host)) {
        pinned.push((t.host.clone(), Access::ReadOnly));
    }
    // No network namespace: netlink would show the host's sockets and addresses, and unix
    // sockets the host's; neither is offered.
    let seccomp = seccomp_plan_for(mode, false);
    seccomp.check(Backend::Landlock)?;
    let _ = (vars, inherit, cwd, timeout, max_output_bytes); // in `ProcessPlan::new`
    Ok(LandlockBackendPlan {
        helper: HelperPlan {
            relay: None,
            drop_caps: true,
            require_landlock: true,
            scope_abstract_unix: true,
            seccomp,
            landlock: LandlockPlan { rules, pinned },
            limits: NativeLimits {
                memory_bytes: *memory_bytes,
                cpu_seconds: cpu.map(|d| d.as_millis().div_ceil(1000) as u64),
                max_processes: *max_processes,
            },
        },
        process: crate::ProcessPlan::new(process, env, *max_output_bytes, Some(crate::SANDBOX_PATH)),
        tree: crate::cgroup::TreeLimits::new(limits, true),
    })
}

#[cfg(test)]
mod tests {
    fn plan_none(policy: &cordon_policy::Policy) -> Result<super::LandlockBackendPlan, crate::PlanError> {
        super::plan(policy, None, &crate::assume_dirs)
    }

    use crate::test_policy as p;

    #[test]
    fn weaker_rules_inside_grants_are_refused_and_stronger_ones_accepted() {
        assert!(plan_none(&p(r#"{"filesystem":{"readwritePaths":["/w"],"readonlyPaths":["/w/ro"]}}"#)).is_err());
        assert!(plan_none(&p(r#"{"filesystem":{"readonlyPaths":["/w"],"deniedPaths":["/w/x"]}}"#)).is_err());
        assert!(plan_none(&p(r#"{"filesystem":{"readonlyPaths":["/w"],"readwritePaths":["/w/out"]}}"#)).is_ok());
        assert!(plan_none(&p(r#"{"filesystem":{"deniedPaths":["/d"],"readonlyPaths":["/d/pub"]}}"#)).is_ok());
    }
}
