//! Table-driven over the fields of `Policy`: for each backend, a policy setting the field is
//! either visible in the plan (it differs from its twin, the same policy without the field),
//! a documented hint (the plan equals the twin's; docs/policy.md, "MXC backend sections"),
//! or refused naming the field's JSON pointer. The twin always plans.

use crate::{Backend, PlanError, plan, test_policy};

/// What a backend does with the field.
#[derive(Debug, Clone, Copy)]
enum E {
    /// The plan differs from the twin's.
    V,
    /// A documented hint: the plan equals the twin's.
    H,
    /// Refused naming this pointer.
    R(&'static str),
}
use E::*;

/// (what, policy, twin, [wasm, bubblewrap, landlock, seatbelt, windows]).
type Case = (&'static str, &'static str, &'static str, [E; 5]);

const V8: &str = r#""version":"0.8.0-alpha""#;

fn cases() -> Vec<(String, String, String, [E; 5])> {
    let fixed: &[Case] = &[
        ("process.cwd", r#"{"process":{"cwd":"/w"}}"#, "{}", [V, V, V, V, V]),
        ("process.timeout", r#"{"process":{"timeout":1234}}"#, "{}", [V, V, V, V, V]),
        ("process.env", r#"{"process":{"env":["A=zz9"]}}"#, "{}", [V, V, V, V, V]),
        // The command comes from the runtime, not the plan.
        ("process.commandLine", r#"{"process":{"commandLine":"echo"}}"#, "{}", [H, H, H, H, H]),
        ("cordon.env.inherit", r#"{"cordon":{"env":{"inherit":["LANG"]}}}"#, "{}", [V, V, V, V, V]),
        ("filesystem", r#"{"filesystem":{"readonlyPaths":["/data"]}}"#, "{}", [V, V, V, V, V]),
        (
            "cordon.network.allowDomains",
            r#"{"cordon":{"network":{"allowDomains":["a.com"]}}}"#,
            "{}",
            [V, V, R("/network"), R("/network"), R("/network")],
        ),
        (
            "cordon.limits.memoryBytes",
            r#"{"cordon":{"limits":{"memoryBytes":1000000}}}"#,
            "{}",
            [V, V, V, R("/cordon/limits/memoryBytes"), V],
        ),
        ("cordon.limits.cpuMs", r#"{"cordon":{"limits":{"cpuMs":1500}}}"#, "{}", [V, V, V, V, V]),
        (
            "cordon.limits.maxOutputBytes",
            r#"{"cordon":{"limits":{"maxOutputBytes":100}}}"#,
            "{}",
            [V, V, V, R("/cordon/limits/maxOutputBytes"), V],
        ),
        (
            "cordon.limits.maxProcesses",
            r#"{"cordon":{"limits":{"maxProcesses":4}}}"#,
            "{}",
            // wasm: one instance that cannot start processes.
            [H, V, V, R("/cordon/limits/maxProcesses"), V],
        ),
        // The runtime writes the audit log (and refuses it where the runner writes none).
        ("cordon.audit", r#"{"cordon":{"audit":{"path":"/a.jsonl","allows":true}}}"#, "{}", [H, H, H, H, H]),
        ("containment", r#"{"containment":"bubblewrap"}"#, "{}", [H, H, H, H, H]),
        (
            "ui.disable",
            r#"{"ui":{"disable":false}}"#,
            "{}",
            [R("/ui/disable"), R("/ui/disable"), R("/ui/disable"), V, R("/ui/disable")],
        ),
        (
            "ui.clipboard all",
            r#"{"ui":{"clipboard":"all"}}"#,
            "{}",
            [R("/ui/clipboard"), R("/ui/clipboard"), R("/ui/clipboard"), V, R("/ui/clipboard")],
        ),
        ("ui.clipboard read", r#"{"ui":{"clipboard":"read"}}"#, "{}", [R("/ui/clipboard"); 5]),
        ("ui.injection", r#"{"ui":{"injection":true}}"#, "{}", [R("/ui/injection"); 5]),
        ("ui defaults", r#"{"ui":{"disable":true,"clipboard":"none","injection":false}}"#, "{}", [H; 5]),
        ("containerId", r#"{"containerId":"c-1"}"#, "{}", [H; 5]),
        ("lifecycle.destroyOnExit true", r#"{"lifecycle":{"destroyOnExit":true}}"#, "{}", [H; 5]),
        (
            "lifecycle.destroyOnExit false",
            r#"{"lifecycle":{"destroyOnExit":false}}"#,
            "{}",
            [R("/lifecycle/destroyOnExit"); 5],
        ),
        ("lifecycle.preservePolicy false", r#"{"lifecycle":{"preservePolicy":false}}"#, "{}", [H; 5]),
        (
            "lifecycle.preservePolicy true",
            r#"{"lifecycle":{"preservePolicy":true}}"#,
            "{}",
            [R("/lifecycle/preservePolicy"); 5],
        ),
        (
            "network.enforcementMode",
            r#"{"network":{"defaultPolicy":"block","enforcementMode":"firewall"}}"#,
            r#"{"network":{"defaultPolicy":"block"}}"#,
            [H; 5],
        ),
        (
            "fallback.allowDaclMutation false",
            r#"{"filesystem":{"readonlyPaths":["/data"]},"fallback":{"allowDaclMutation":false}}"#,
            r#"{"filesystem":{"readonlyPaths":["/data"]}}"#,
            [H, H, H, H, R("/fallback/allowDaclMutation")],
        ),
        (
            "fallback.allowDaclMutation true",
            r#"{"filesystem":{"readonlyPaths":["/data"]},"fallback":{"allowDaclMutation":true}}"#,
            r#"{"filesystem":{"readonlyPaths":["/data"]}}"#,
            [H; 5],
        ),
        ("seatbelt.keychainAccess", r#"{"seatbelt":{"keychainAccess":true}}"#, "{}", [H, H, H, V, H]),
        ("seatbelt.extraMachLookups", r#"{"seatbelt":{"extraMachLookups":["com.x"]}}"#, "{}", [H, H, H, V, H]),
        ("seatbelt.guiAccess", r#"{"seatbelt":{"guiAccess":true}}"#, "{}", [H, H, H, V, H]),
        (
            "seatbelt.profileOverride",
            r#"{"seatbelt":{"profileOverride":"(version 1)(allow default)"}}"#,
            "{}",
            [H, H, H, R("/seatbelt/profileOverride"), H],
        ),
        (
            "macos_sandbox.profileOverride",
            r#"{"macos_sandbox":{"profileOverride":"(version 1)(allow default)"}}"#,
            "{}",
            [H, H, H, R("/macos_sandbox/profileOverride"), H],
        ),
        ("seatbelt.launchMethod exec", r#"{"seatbelt":{"launchMethod":"exec"}}"#, "{}", [H; 5]),
        (
            "seatbelt.launchMethod open",
            r#"{"seatbelt":{"launchMethod":"open"}}"#,
            "{}",
            [H, H, H, R("/seatbelt/launchMethod"), H],
        ),
        ("seatbelt.nestedPty", r#"{"seatbelt":{"nestedPty":true}}"#, "{}", [H, H, H, R("/seatbelt/nestedPty"), H]),
        ("processContainer.leastPrivilege", r#"{"processContainer":{"leastPrivilege":true}}"#, "{}", [H; 5]),
        ("processContainer.capabilities", r#"{"processContainer":{"capabilities":["internetClient"]}}"#, "{}", [H; 5]),
        ("processContainer.learningMode false", r#"{"processContainer":{"learningMode":false}}"#, "{}", [H; 5]),
        (
            "processContainer.learningMode",
            r#"{"processContainer":{"leastPrivilege":true,"learningMode":true}}"#,
            r#"{"processContainer":{"leastPrivilege":true}}"#,
            [R("/processContainer/learningMode"); 5],
        ),
        (
            "appContainer.learningMode",
            r#"{"appContainer":{"learningMode":true}}"#,
            "{}",
            [R("/appContainer/learningMode"); 5],
        ),
        (
            "processContainer.captureDenials.mode allow",
            r#"{"processContainer":{"captureDenials":{"mode":"allow"}}}"#,
            "{}",
            [R("/processContainer/captureDenials/mode"); 5],
        ),
        (
            "processContainer.captureDenials.outputPath",
            r#"{"processContainer":{"captureDenials":{"mode":"block","outputPath":"/d.json"}}}"#,
            "{}",
            [R("/processContainer/captureDenials/outputPath"); 5],
        ),
        (
            "processContainer.network.allowedProxyPeer",
            r#"{"processContainer":{"network":{"allowedProxyPeer":"peer"}}}"#,
            "{}",
            [R("/processContainer/network/allowedProxyPeer"); 5],
        ),
        (
            "processContainer.ui.isolation",
            r#"{"processContainer":{"ui":{"isolation":"desktop"}}}"#,
            "{}",
            [R("/processContainer/ui/isolation"); 5],
        ),
        (
            "processContainer.ui.ime true",
            r#"{"processContainer":{"ui":{"ime":true}}}"#,
            "{}",
            [R("/processContainer/ui/ime"); 5],
        ),
        ("processContainer.ui.ime false", r#"{"processContainer":{"ui":{"ime":false}}}"#, "{}", [H; 5]),
        ("lxc", r#"{"lxc":{"distribution":"alpine","release":"3.23"}}"#, "{}", [R("/lxc/distribution"); 5]),
    ];
    let mut out: Vec<(String, String, String, [E; 5])> =
        fixed.iter().map(|(w, p, t, e)| (w.to_string(), p.to_string(), t.to_string(), *e)).collect();
    // Cases that need schema 0.8.
    out.push(("version".into(), format!("{{{V8}}}"), "{}".into(), [H; 5]));
    out.push((
        "experimental".into(),
        format!(r#"{{{V8},"experimental":{{"fancy":1}}}}"#),
        format!("{{{V8}}}"),
        [R("/experimental/fancy"); 5],
    ));
    out.push((
        "network.egress".into(),
        format!(
            r#"{{{V8},"network":{{"egress":{{"allow":[{{"to":[{{"cidr":"10.0.0.0/8"}}],"ports":[{{"protocol":"tcp","port":443}}]}}]}}}}}}"#
        ),
        format!("{{{V8}}}"),
        [V, V, R("/network"), R("/network"), R("/network")],
    ));
    out.push((
        "network.ingress".into(),
        format!(r#"{{{V8},"network":{{"ingress":{{"default":"allow"}}}}}}"#),
        format!("{{{V8}}}"),
        [V, R("/network/ingress"), R("/network/ingress"), R("/network/ingress"), R("/network/ingress")],
    ));
    // The 0.9 contract line: `process.env` given is the whole environment (no backend
    // `PATH`; wasm and windows set none anyway), and the sections of 0.9 and later.
    let v10 = r#""version":"1.0.0""#;
    let v11 = r#""version":"1.1.0-alpha""#;
    out.push((
        "process.env exact".into(),
        format!(r#"{{{v10},"process":{{"env":["A=zz9"]}}}}"#),
        format!(r#"{{{v10},"process":{{"env":["A=zz9"],"inheritDefaultEnv":true}}}}"#),
        [H, V, V, V, H],
    ));
    out.push((
        "process.env []".into(),
        format!(r#"{{{v10},"process":{{"env":[]}}}}"#),
        format!("{{{v10}}}"),
        [H, V, V, V, H],
    ));
    out.push((
        "telemetry".into(),
        format!(r#"{{{v10},"telemetry":{{"enabled":true}}}}"#),
        format!("{{{v10}}}"),
        [H; 5],
    ));
    out.push(("test".into(), format!(r#"{{{v11},"test":{{"message":"m"}}}}"#), format!("{{{v11}}}"), [H; 5]));
    for (what, section, ptr) in [
        ("wslc.image", r#""wslc":{"image":"alpine"}"#, "/wslc/image"),
        ("hyperlight.runtime", r#""hyperlight":{"runtime":"python"}"#, "/hyperlight/runtime"),
        ("windowsSandbox.idleTimeoutMs", r#""windowsSandbox":{"idleTimeoutMs":5}"#, "/windowsSandbox/idleTimeoutMs"),
        (
            "processContainer.filesystem.enumeratePaths",
            r#""processContainer":{"filesystem":{"enumeratePaths":["/x"]}}"#,
            "/processContainer/filesystem/enumeratePaths",
        ),
    ] {
        out.push((what.into(), format!("{{{v11},{section}}}"), format!("{{{v11}}}"), [R(ptr); 5]));
    }
    // An empty section asks for nothing.
    out.push(("hyperlight {}".into(), format!(r#"{{{v11},"hyperlight":{{}}}}"#), format!("{{{v11}}}"), [H; 5]));
    out
}

#[test]
fn every_field_is_in_the_plan_a_documented_hint_or_refused_by_its_pointer() {
    let mut failures = Vec::new();
    for (what, json, twin, expect) in cases() {
        let (p, t) = (test_policy(&json), test_policy(&twin));
        for (backend, e) in Backend::ALL.into_iter().zip(expect) {
            let twin_plan = match plan(&t, backend, &crate::assume_dirs) {
                Ok(tp) => tp,
                Err(err) => {
                    failures.push(format!("{what} on {backend}: the twin {twin} does not plan: {err}"));
                    continue;
                }
            };
            let got = plan(&p, backend, &crate::assume_dirs);
            let ok = match (e, &got) {
                (V, Ok(pl)) => *pl != twin_plan,
                (H, Ok(pl)) => *pl == twin_plan,
                (R(ptr), Err(PlanError::Unenforceable { rule, .. })) => rule == ptr,
                _ => false,
            };
            if !ok {
                let got = match &got {
                    Ok(pl) if *pl == twin_plan => "plans, same as the twin".to_string(),
                    Ok(_) => "plans, differs from the twin".to_string(),
                    Err(err) => format!("refused: {err}"),
                };
                failures.push(format!("{what} on {backend}: expected {e:?}, got {got}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
