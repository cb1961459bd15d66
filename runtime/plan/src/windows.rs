//! `Policy` → [`WindowsPlan`]: the sandbox identity, ACL entries, firewall rules and job
//! limits for a native command on Windows, as data. Compiled and golden-tested on every OS;
//! not yet run on Windows.
//!
//! # Identity: a restricted token, not an AppContainer
//! The tool runs with a restricted token whose restricting SID is a per-run SID
//! (`S-1-5-21-…` made by the runner, written `{RUN_SID}` here): an access succeeds only
//! when both the user and the run SID are granted, so the ACL entries below are the whole
//! of what the tool can reach beyond the system baseline. AppContainer was not chosen: its
//! network isolation has loopback and capability exemptions that are hard to close, and
//! the strongest peers (Chromium's sandbox, Codex on Windows) chose restricted tokens or a
//! dedicated user for the same reason. Network is enforced by firewall rules bound to the
//! run SID, allowing nothing (or only cordon's proxy once it exists).

use cordon_policy::{Access, BackendOptions, Env, Fallback, Limits, Policy, Process};

use crate::{Backend, PlanError};

/// The sandbox identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A restricted token: the user's groups made deny-only except the run SID, all
    /// privileges removed, integrity level low.
    RestrictedToken {
        /// The restricting SID placeholder.
        run_sid: String,
    },
}

/// One ACL entry the runner adds (and removes afterwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// The path (a Windows path on Windows).
    pub path: String,
    /// `allow-read`, `allow-read-write` or `deny-all`.
    pub rights: &'static str,
    /// Inherited by everything below.
    pub inherit: bool,
    /// JSON pointer of the rule.
    pub pointer: String,
}

/// One firewall rule bound to the run SID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRule {
    /// `block` or `allow`.
    pub action: &'static str,
    /// `outbound` or `inbound`.
    pub direction: &'static str,
    /// What it matches.
    pub remote: String,
}

/// Job object limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobLimits {
    /// JOB_OBJECT_LIMIT_JOB_MEMORY, bytes.
    pub memory_bytes: Option<u64>,
    /// JOB_OBJECT_LIMIT_ACTIVE_PROCESS.
    pub active_processes: Option<u64>,
    /// JOB_OBJECT_LIMIT_JOB_TIME, milliseconds of user time.
    pub cpu_ms: Option<u128>,
    /// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: always on.
    pub kill_on_close: bool,
}

/// The whole Windows plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsPlan {
    /// Who the tool runs as.
    pub identity: Identity,
    /// ACL entries, shallow to deep (deny entries are explicit and win over inherited allows).
    pub acl: Vec<AclEntry>,
    /// Firewall rules.
    pub firewall: Vec<FirewallRule>,
    /// Job limits.
    pub job: JobLimits,
    /// The tool's process: env, working directory (`process.cwd`), timeout, output cap
    /// (`cordon.limits.maxOutputBytes`, stdout plus stderr).
    pub process: crate::ProcessPlan,
}

fn refuse(rule: &str, reason: &str) -> PlanError {
    PlanError::Unenforceable { backend: Backend::Windows, rule: rule.into(), reason: reason.into() }
}

/// Builds the Windows plan.
///
/// # Errors
/// [`PlanError::Unenforceable`] for partial network rules and proxies (this backend does not
/// route through cordon's proxy yet) and for `fallback.allowDaclMutation: false` (granting paths means changing
/// their ACLs for the run).
pub fn plan(policy: &Policy) -> Result<WindowsPlan, PlanError> {
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
    // `ProcessPlan::new` reads every field of both.
    let Process { command_line: _, cwd: _, timeout: _ } = process;
    let Env { vars: _, inherit: _, exact: _ } = env;
    let Limits { memory_bytes, cpu, max_output_bytes, max_processes } = limits;
    let BackendOptions {
        container_id: _, // a label
        lifecycle,
        fallback,
        seatbelt: _, // configures macOS Seatbelt only
        process_container,
        lxc,
        experimental,
        extra,
    } = backends;
    crate::mxc::shared_sections(
        Backend::Windows,
        lifecycle,
        process_container.as_ref(),
        lxc.as_ref(),
        experimental,
        extra,
    )?;
    crate::mxc::headless_ui(Backend::Windows, ui)?;
    let all_net = crate::none_or_all(policy, Backend::Windows)?;
    let Fallback { allow_dacl_mutation } = fallback;
    if *allow_dacl_mutation == Some(false) && !filesystem.rules().is_empty() {
        return Err(refuse(
            "/fallback/allowDaclMutation",
            "a restricted token reaches only what ACLs grant its run SID, and granting means adding ACL entries; allow DACL mutation or run the tool as wasm",
        ));
    }
    let mut acl: Vec<AclEntry> = Vec::new();
    for e in filesystem.rules().iter().map(|r| AclEntry {
        path: r.host.to_string_lossy().into_owned(),
        rights: match r.access {
            Access::ReadOnly => "allow-read",
            Access::ReadWrite => "allow-read-write",
            Access::Deny => "deny-all",
        },
        inherit: true,
        pointer: r.pointer.clone(),
    }) {
        // A deny and the object it resolves to (or sees through a grant) can be one host
        // object: one ACE on it, not one per rule.
        if !acl.iter().any(|a| a.path == e.path && a.rights == e.rights) {
            acl.push(e);
        }
    }
    let firewall = if all_net {
        vec![FirewallRule { action: "allow", direction: "outbound", remote: "any".into() }]
    } else {
        vec![
            FirewallRule { action: "block", direction: "outbound", remote: "any".into() },
            FirewallRule { action: "block", direction: "inbound", remote: "any".into() },
        ]
    };
    Ok(WindowsPlan {
        identity: Identity::RestrictedToken { run_sid: "{RUN_SID}".into() },
        acl,
        firewall,
        job: JobLimits {
            memory_bytes: *memory_bytes,
            active_processes: *max_processes,
            cpu_ms: cpu.map(|d| d.as_millis()),
            kill_on_close: true,
        },
        process: crate::ProcessPlan::new(process, env, *max_output_bytes, None),
    })
}

impl WindowsPlan {
    /// What today's runner cannot apply, as the rule (JSON pointer) and why, naming the first
    /// part of the plan it would drop. It does not create the restricted token yet, and
    /// without the token the tool reaches every file of its user, so there is always one:
    /// the runner refuses every plan.
    pub fn runner_gap(&self) -> (String, &'static str) {
        let Identity::RestrictedToken { .. } = &self.identity;
        if let Some(a) = self.acl.first() {
            (a.pointer.clone(), "the Windows runner does not apply ACL entries yet")
        } else if !self.firewall.iter().any(|f| f.action == "allow") {
            ("/network".into(), "the Windows runner does not install firewall rules yet, so it cannot deny network")
        } else {
            (
                "/filesystem".into(),
                "the Windows runner does not create the restricted token yet, so the tool would reach every file its user can, not only what the policy lists",
            )
        }
    }

    /// The plan as reviewable text (for `explain` and golden files).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Identity::RestrictedToken { run_sid } = &self.identity;
        out.push_str(&format!(
            "identity: restricted token, restricting SID {run_sid}, privileges removed, low integrity\n"
        ));
        for a in &self.acl {
            out.push_str(&format!(
                "acl {} {} {}{}\n",
                a.rights,
                run_sid,
                a.path,
                if a.inherit { " (inherited)" } else { "" }
            ));
        }
        for f in &self.firewall {
            out.push_str(&format!("firewall {} {} {} for {run_sid}\n", f.action, f.direction, f.remote));
        }
        if let Some(cwd) = &self.process.cwd {
            out.push_str(&format!("cwd: {}\n", cwd.display()));
        }
        if let Some(cap) = self.process.max_output_bytes {
            out.push_str(&format!("output cap: {cap} bytes of stdout+stderr\n"));
        }
        let j = &self.job;
        let limit = |v: Option<u128>, unit: &str| v.map_or_else(|| "unlimited".to_string(), |v| format!("{v}{unit}"));
        out.push_str(&format!(
            "job: memory {}, processes {}, cpu {}, kill on close {}\n",
            limit(j.memory_bytes.map(u128::from), " bytes"),
            limit(j.active_processes.map(u128::from), ""),
            limit(j.cpu_ms, " ms"),
            if j.kill_on_close { "yes" } else { "no" }
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_policy;

    fn gap(json: &str) -> String {
        plan(&test_policy(json)).map(|p| p.runner_gap().0).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_runner_gap_names_the_first_part_it_cannot_apply_and_never_is_empty() {
        assert_eq!(gap(r#"{"filesystem": {"readonlyPaths": ["/data"]}}"#), "/filesystem/readonlyPaths/0");
        assert_eq!(gap("{}"), "/network");
        // Nothing listed and all network: still refused, the token is what denies the rest.
        assert_eq!(gap(r#"{"network": {"defaultPolicy": "allow", "allowLocalNetwork": true}}"#), "/filesystem");
    }

    #[test]
    fn one_host_object_gets_one_ace_per_right() {
        // A deny through a symlink is two rules (the path as written and the object it
        // resolves to) on one host object: one deny ACE. (issue 19: with `\\?\` spellings
        // every deny was doubled.)
        let host = cordon_policy::LexicalHost { home: None, links: vec![("/repo/secrets".into(), "/vault".into())] };
        let json = r#"{"filesystem": {"readonlyPaths": ["/repo"], "deniedPaths": ["/repo/secrets"]}}"#;
        let policy = cordon_policy::Policy::parse(json, &host).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(policy.filesystem.rules().iter().filter(|r| r.access == Access::Deny).count(), 2);
        let p = plan(&policy).unwrap_or_else(|e| panic!("{e}"));
        let acl: Vec<(&str, &str)> = p.acl.iter().map(|a| (a.path.as_str(), a.rights)).collect();
        assert_eq!(acl, vec![("/repo", "allow-read"), ("/vault", "deny-all")]);
    }

    #[test]
    fn cwd_and_the_output_cap_are_in_the_plan_never_dropped() {
        let p = plan(&test_policy(r#"{"process":{"cwd":"/w"},"cordon":{"limits":{"maxOutputBytes":100}}}"#))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.process.cwd.as_deref(), p.process.max_output_bytes),
            (Some(std::path::Path::new("/w")), Some(100))
        );
        assert!(p.render().contains("cwd: /w") && p.render().contains("output cap: 100 bytes"));
        // The twin: without them the plan has neither.
        let q = plan(&test_policy("{}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((q.process.cwd, q.process.max_output_bytes), (None, None));
    }
}
