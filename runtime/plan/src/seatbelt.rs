//! `Policy` → [`SeatbeltPlan`]: an SBPL profile for macOS's `sandbox-exec`, as text plus
//! parameters. Compiled and golden-tested on every OS; run only on macOS.
//!
//! - Deny by default; a read-only system baseline (`seatbelt_base.sbpl`) lets ordinary
//!   programs start.
//! - Grants and denials are emitted shallow to deep. In SBPL the last matching rule wins,
//!   so the most specific path wins, as on every cordon backend (MXC emits denials last, so
//!   there a deny always wins).
//! - Host paths are never spliced into the text: each is a `(param "…")` passed as `-D`.
//! - Network: nothing, or everything when the policy allows all egress. Partial network
//!   needs cordon's filtering proxy and is refused until it exists.
//! - AF_UNIX connects are refused except to sockets inside read-write grants.

use cordon_policy::{Access, BackendOptions, Env, LaunchMethod, Limits, Policy, Process, SeatbeltOptions, Ui};

use crate::{Backend, PlanError};

/// The static part of every profile.
pub const BASE: &str = include_str!("seatbelt_base.sbpl");

/// A profile and the parameters it refers to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeatbeltPlan {
    /// The SBPL text.
    pub profile: String,
    /// `-D` parameters: name and host path (or name).
    pub params: Vec<(String, String)>,
    /// The tool's process: env (`PATH` first), working directory, timeout. (`maxOutputBytes`
    /// is refused on this backend, so never set here.)
    pub process: crate::ProcessPlan,
    /// `cordon.limits.cpuMs` as RLIMIT_CPU, whole seconds rounded up (set by the runner
    /// before sandbox-exec starts; per process, as on Linux without a cgroup).
    pub cpu_seconds: Option<u64>,
}

fn refuse(rule: &str, reason: &str) -> PlanError {
    PlanError::Unenforceable { backend: Backend::Seatbelt, rule: rule.into(), reason: reason.into() }
}

/// Builds the Seatbelt plan.
///
/// # Errors
/// [`PlanError::Unenforceable`] for partial network rules, proxies, Windows paths, limits
/// Seatbelt or its runner cannot set (`memoryBytes`, `maxProcesses`, `maxOutputBytes`) and `seatbelt.profileOverride`
/// (it would replace the rules cordon must enforce).
pub fn plan(policy: &Policy) -> Result<SeatbeltPlan, PlanError> {
    // Every field, no `..`: a new one does not compile until this backend handles or
    // refuses it.
    let Policy {
        version: _,     // read by validation only
        containment: _, // chooses the backend; the runtime reads it before planning
        process,
        filesystem,
        network: _, // none or all: `none_or_all` reads every part of it
        env,
        limits,
        audit: _, // the runtime writes the log (`--audit` can set it too) and refuses it where the runner writes none
        ui,
        backends,
    } = policy;
    let Process { command_line: _ /* the runtime's command */, cwd, timeout } = process;
    let Env { vars, inherit, exact: _ } = env; // `exact` in `ProcessPlan::new`
    let Limits { memory_bytes, cpu, max_output_bytes, max_processes } = limits;
    let BackendOptions {
        container_id: _, // a label
        lifecycle,
        fallback: _, // cordon changes no DACL here
        seatbelt,
        process_container,
        lxc,
        experimental,
        extra,
    } = backends;
    crate::mxc::shared_sections(
        Backend::Seatbelt,
        lifecycle,
        process_container.as_ref(),
        lxc.as_ref(),
        experimental,
        extra,
    )?;
    if let Some(e) = filesystem.foreign().first() {
        return Err(refuse(&e.pointer, "the path is for another operating system"));
    }
    let sb = seatbelt.clone().unwrap_or_default();
    let SeatbeltOptions {
        pointer,
        profile_override,
        gui_access,
        launch_method,
        nested_pty,
        keychain_access,
        extra_mach_lookups,
    } = &sb;
    if profile_override.is_some() {
        return Err(refuse(
            &format!("{pointer}/profileOverride"),
            "it replaces the generated profile, so the policy's filesystem and network rules would not be enforced; remove it",
        ));
    }
    if *launch_method == Some(LaunchMethod::Open) {
        return Err(refuse(
            &format!("{pointer}/launchMethod"),
            "cordon starts the tool with sandbox-exec (`exec`); LaunchServices is not used; remove it or set it to exec",
        ));
    }
    if *nested_pty == Some(true) {
        return Err(refuse(
            &format!("{pointer}/nestedPty"),
            "the macOS runner passes the tool's stdio through and attaches no pty; remove it",
        ));
    }
    let Ui { disable: ui_disabled, clipboard, injection } = ui;
    if clipboard == "read" || clipboard == "write" {
        return Err(refuse(
            "/ui/clipboard",
            "Seatbelt can allow the pasteboard service or not, not one direction of it; use `all` or `none`",
        ));
    }
    if *injection {
        return Err(refuse("/ui/injection", "Seatbelt has no rule for UI injection; remove it"));
    }
    let all_net = crate::none_or_all(policy, Backend::Seatbelt)?;
    if memory_bytes.is_some() {
        return Err(refuse("/cordon/limits/memoryBytes", "macOS does not enforce RLIMIT_AS; run the tool as wasm"));
    }
    if max_output_bytes.is_some() {
        return Err(refuse(
            "/cordon/limits/maxOutputBytes",
            "the macOS runner passes the tool's output straight through and does not count it yet; run the tool as wasm",
        ));
    }
    if max_processes.is_some() {
        return Err(refuse(
            "/cordon/limits/maxProcesses",
            "Seatbelt has no per-sandbox process limit; run the tool as wasm",
        ));
    }

    let mut p = String::from(BASE);
    let mut params: Vec<(String, String)> = Vec::new();
    let mut counters = [0usize; 3];
    p.push_str("\n; --- the policy's paths, shallow to deep: the last matching rule wins\n");
    for r in filesystem.rules() {
        let (kind, n) = match r.access {
            Access::ReadOnly => ("RO", &mut counters[0]),
            Access::ReadWrite => ("RW", &mut counters[1]),
            Access::Deny => ("DENY", &mut counters[2]),
        };
        let name = format!("{kind}_{n}");
        *n += 1;
        let target = format!("(subpath (param \"{name}\"))");
        match r.access {
            Access::ReadOnly => p.push_str(&format!("(allow file-read* {target}) ; {}\n", r.pointer)),
            Access::ReadWrite => {
                p.push_str(&format!("(allow file-read* file-write* {target}) ; {}\n", r.pointer));
                p.push_str(&format!("(allow network-outbound (remote unix-socket {target}))\n"));
            }
            Access::Deny => {
                p.push_str(&format!("(deny file-read* file-write* file-read-metadata {target}) ; {}\n", r.pointer));
                p.push_str(&format!("(deny network-outbound (remote unix-socket {target}))\n"));
            }
        }
        params.push((name, r.host.to_string_lossy().into_owned()));
    }
    p.push_str("\n; --- network\n");
    if all_net {
        p.push_str("(allow network*)\n(deny network-outbound (remote unix-socket)) ; unix sockets only inside read-write grants\n");
        for i in 0..counters[1] {
            p.push_str(&format!("(allow network-outbound (remote unix-socket (subpath (param \"RW_{i}\"))))\n"));
        }
    } else {
        p.push_str("; none: (deny default) covers every socket\n");
    }
    p.push_str("\n; --- MXC seatbelt options and ui\n");
    if *keychain_access == Some(true) {
        p.push_str("(allow mach-lookup (global-name \"com.apple.SecurityServer\") (global-name \"com.apple.securityd.xpc\"))\n");
        p.push_str("(allow file-read* file-write* (subpath (param \"KEYCHAINS\")))\n");
        params.push(("KEYCHAINS".into(), "~/Library/Keychains".into()));
    }
    for (i, name) in extra_mach_lookups.iter().enumerate() {
        p.push_str(&format!("(allow mach-lookup (global-name (param \"MACH_{i}\")))\n"));
        params.push((format!("MACH_{i}"), name.clone()));
    }
    if *gui_access == Some(true) || !*ui_disabled {
        p.push_str("(allow mach-lookup (global-name \"com.apple.windowserver.active\") (global-name \"com.apple.CoreServices.coreservicesd\"))\n");
    }
    if clipboard != "none" {
        p.push_str("(allow mach-lookup (global-name \"com.apple.pasteboard.1\"))\n");
    }
    let _ = (vars, inherit, cwd, timeout); // in `ProcessPlan::new`
    Ok(SeatbeltPlan {
        profile: p,
        params,
        process: crate::ProcessPlan::new(process, env, None, Some("/usr/bin:/bin:/usr/sbin:/sbin")),
        cpu_seconds: cpu.map(|d| d.as_millis().div_ceil(1000) as u64),
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    use crate::test_policy as p;

    #[test]
    fn deeper_rules_come_later_and_paths_are_parameters() {
        let plan = plan(&p(
            r#"{"filesystem":{"readwritePaths":["/w"],"deniedPaths":["/w/.env"],"readonlyPaths":["/w/.env/ok"]}}"#,
        ))
        .unwrap();
        let rw = plan.profile.find("(param \"RW_0\")").unwrap();
        let deny = plan.profile.find("(param \"DENY_0\")").unwrap();
        let ro = plan.profile.find("(param \"RO_0\")").unwrap();
        assert!(rw < deny && deny < ro);
        assert!(!plan.profile.contains("/w/.env"), "host paths never appear in the text");
        assert!(plan.params.contains(&("DENY_0".into(), "/w/.env".into())));
    }

    #[test]
    fn a_deny_policy_never_allows_outbound_network() {
        let plan = plan(&p(r#"{"network":{"defaultPolicy":"block"}}"#)).unwrap();
        assert!(!plan.profile.contains("(allow network-outbound)"));
        assert!(!plan.profile.contains("(allow network*)"));
    }

    #[test]
    fn profile_override_and_partial_network_are_refused() {
        assert!(plan(&p(r#"{"seatbelt":{"profileOverride":"(version 1) (allow default)"}}"#)).is_err());
        assert!(plan(&p(r#"{"cordon":{"network":{"allowDomains":["a.com"]}}}"#)).is_err());
    }

    #[test]
    fn an_output_cap_is_refused_and_the_same_policy_without_it_plans() {
        let err = plan(&p(r#"{"cordon":{"limits":{"maxOutputBytes":100}}}"#)).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("/cordon/limits/maxOutputBytes")));
        // cpuMs is in the plan (RLIMIT_CPU, rounded up to whole seconds), never dropped.
        let cpu = plan(&p(r#"{"cordon":{"limits":{"cpuMs":1500}}}"#)).unwrap();
        assert_eq!(cpu.cpu_seconds, Some(2));
        assert_eq!(plan(&p("{}")).unwrap().cpu_seconds, None);
    }
}
