//! MXC's cross-section rules (cross.rs), case by case. Each case's verdict is the one MXC's
//! production parser (MXC 7dac1a95, `wxc_common::config_parser::load_request`, built for
//! Linux) gave the same JSON; each refusal has an accepted twin in the table. No
//! `containment` and `process` are bubblewrap on Linux, so the table is Linux's.
#![expect(clippy::unwrap_used, reason = "tests")]

use crate::{LexicalHost, Policy};

/// (case, config, `None` when MXC accepts it, else the pointer cordon names).
#[cfg(target_os = "linux")]
const CASES: &[(&str, &str, Option<&str>)] = &[
    (
        "cap_abs",
        r#"{"containment": "processcontainer", "processContainer": {"captureDenials": {"outputPath": "/tmp/d.json"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "cap_rel",
        r#"{"containment": "processcontainer", "processContainer": {"captureDenials": {"outputPath": "d.json"}}, "process": {"commandLine": "x"}}"#,
        Some("/processContainer/captureDenials/outputPath"),
    ),
    (
        "dir_proxy_allow_rule",
        r#"{"version": "0.8.0-alpha", "network": {"egress": {"allow": [{"to": [{"cidr": "10.0.0.0/8"}]}]}}, "runtimeConfig": {"networkProxy": "http://127.0.0.1:8080"}, "process": {"commandLine": "x"}}"#,
        Some("/runtimeConfig/networkProxy"),
    ),
    (
        "dir_proxy_deny",
        r#"{"version": "0.8.0-alpha", "network": {"egress": {"default": "deny"}}, "runtimeConfig": {"networkProxy": "http://127.0.0.1:8080"}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "dir_proxy_empty_allow",
        r#"{"version": "0.8.0-alpha", "network": {"egress": {"allow": []}}, "runtimeConfig": {"networkProxy": "http://127.0.0.1:8080"}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "exp_macos",
        r#"{"version": "0.8.0-alpha", "experimental": {"macos_sandbox": {}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/macos_sandbox"),
    ),
    (
        "exp_other",
        r#"{"version": "0.7.0-alpha", "experimental": {"telemetry": {}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "exp_sb",
        r#"{"version": "0.8.0-alpha", "experimental": {"seatbelt": {}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/seatbelt"),
    ),
    ("fs_ok", r#"{"process":{"commandLine":"x"},"filesystem":{"readonlyPaths":["/tmp/ab"]}}"#, None),
    (
        "fs_quote",
        r#"{"filesystem": {"readonlyPaths": ["/tmp/a\"b"]}, "process": {"commandLine": "x"}}"#,
        Some("/filesystem/readonlyPaths/0"),
    ),
    (
        "fs_quote_denied",
        r#"{"filesystem": {"deniedPaths": ["/tmp/a\"b"]}, "process": {"commandLine": "x"}}"#,
        Some("/filesystem/deniedPaths/0"),
    ),
    (
        "mix_legacy_rc",
        r#"{"version": "0.8.0-alpha", "network": {"allowLocalNetwork": false}, "runtimeConfig": {"networkProxy": "http://127.0.0.1:8080"}, "process": {"commandLine": "x"}}"#,
        Some("/network"),
    ),
    (
        "mix_legacy_rc_empty",
        r#"{"version": "0.8.0-alpha", "network": {"defaultPolicy": "allow"}, "runtimeConfig": {}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "peer_loopback",
        r#"{"version": "0.8.0-alpha", "containment": "processcontainer", "processContainer": {"network": {"allowedProxyPeer": "mxc-LOOPBACK"}}, "runtimeConfig": {"networkProxy": "http://127.0.0.1:8080"}, "network": {"ingress": {"default": "allow", "hostLoopback": "deny"}}, "process": {"commandLine": "x"}}"#,
        Some("/processContainer/network/allowedProxyPeer"),
    ),
    (
        "peer_noproxy",
        r#"{"version": "0.8.0-alpha", "containment": "processcontainer", "processContainer": {"network": {"allowedProxyPeer": "x"}}, "process": {"commandLine": "x"}}"#,
        Some("/processContainer/network/allowedProxyPeer"),
    ),
    (
        "peer_noproxy_bw",
        r#"{"version": "0.8.0-alpha", "containment": "lxc", "lxc": {}, "network": {}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "peer_ok",
        r#"{"version": "0.8.0-alpha", "containment": "processcontainer", "processContainer": {"network": {"allowedProxyPeer": "Contoso.Proxy"}}, "runtimeConfig": {"networkProxy": "http://127.0.0.1:8080"}, "network": {"ingress": {"default": "allow", "hostLoopback": "deny"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "pm_big",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": [{"windowsPort": 8080, "containerPort": 65536}]}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/wslc/portMappings/0/containerPort"),
    ),
    (
        "pm_dup",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": [{"windowsPort": 8080, "containerPort": 80}, {"windowsPort": 8080, "containerPort": 81}]}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/wslc/portMappings/1"),
    ),
    (
        "pm_float",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": [{"windowsPort": 80.0, "containerPort": 80}]}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/wslc/portMappings/0/windowsPort"),
    ),
    (
        "pm_neg",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": [{"windowsPort": -1, "containerPort": 80}]}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/wslc/portMappings/0/windowsPort"),
    ),
    (
        "pm_notarray",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": {}}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/wslc/portMappings"),
    ),
    (
        "pm_null",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": null}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "pm_null_proto",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": [{"windowsPort": 80, "containerPort": 80, "protocol": null}]}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "pm_ok",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": [{"windowsPort": 8080, "containerPort": 80, "protocol": "tcp"}, {"windowsPort": 8081, "containerPort": 80}]}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "pm_str",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {"portMappings": [{"windowsPort": "80", "containerPort": 80}]}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/wslc/portMappings/0/windowsPort"),
    ),
    (
        "px_builtin_false",
        r#"{"network": {"defaultPolicy": "allow", "proxy": {"builtinTestServer": false}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy/builtinTestServer"),
    ),
    (
        "px_builtin_hosts",
        r#"{"network": {"allowedHosts": ["a.com"], "proxy": {"builtinTestServer": true}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_bw_caps",
        r#"{"network": {"defaultPolicy": "allow", "enforcementMode": "capabilities", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_bw_firewall",
        r#"{"network": {"defaultPolicy": "allow", "enforcementMode": "firewall", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/enforcementMode"),
    ),
    (
        "px_hyper",
        r#"{"containment": "hyperlight", "network": {"defaultPolicy": "allow", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_lh_nodefault",
        r#"{"network": {"proxy": {"localhost": 8080}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_lxc_caps",
        r#"{"containment": "lxc", "network": {"defaultPolicy": "allow", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_lxc_fw",
        r#"{"containment": "lxc", "network": {"defaultPolicy": "allow", "enforcementMode": "firewall", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_lxc_lh",
        r#"{"containment": "lxc", "network": {"defaultPolicy": "allow", "enforcementMode": "firewall", "proxy": {"localhost": 8080}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_pc_block",
        r#"{"containment": "processcontainer", "network": {"defaultPolicy": "block", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_sb_127002_block",
        r#"{"containment": "seatbelt", "network": {"defaultPolicy": "block", "proxy": {"url": "http://127.0.0.2:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy/url"),
    ),
    (
        "px_sb_LH_block",
        r#"{"containment": "seatbelt", "network": {"defaultPolicy": "block", "proxy": {"url": "http://LOCALHOST:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_sb_both",
        r#"{"containment": "seatbelt", "network": {"defaultPolicy": "allow", "enforcementMode": "both", "proxy": {"localhost": 8080}}, "process": {"commandLine": "x"}}"#,
        Some("/network/enforcementMode"),
    ),
    (
        "px_sb_lh_block",
        r#"{"containment": "seatbelt", "network": {"defaultPolicy": "block", "proxy": {"url": "http://localhost:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_sb_remote_allow",
        r#"{"containment": "seatbelt", "network": {"defaultPolicy": "allow", "proxy": {"url": "http://p.example:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_sb_remote_block",
        r#"{"containment": "seatbelt", "network": {"defaultPolicy": "block", "proxy": {"url": "http://p.example:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy/url"),
    ),
    (
        "px_sb_v6_block",
        r#"{"containment": "seatbelt", "network": {"defaultPolicy": "block", "proxy": {"url": "http://[::1]:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy/url"),
    ),
    (
        "px_url_allow",
        r#"{"network": {"defaultPolicy": "allow", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "px_url_block",
        r#"{"network": {"defaultPolicy": "block", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_url_hosts",
        r#"{"network": {"defaultPolicy": "allow", "allowedHosts": ["a.com"], "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_url_nodefault",
        r#"{"network": {"proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_vm",
        r#"{"containment": "vm", "network": {"defaultPolicy": "allow", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_wslc_block",
        r#"{"containment": "wslc", "network": {"defaultPolicy": "block", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_wslc_lh",
        r#"{"containment": "wslc", "network": {"defaultPolicy": "allow", "proxy": {"localhost": 8080}}, "process": {"commandLine": "x"}}"#,
        Some("/network/proxy"),
    ),
    (
        "px_wslc_url",
        r#"{"containment": "wslc", "network": {"defaultPolicy": "allow", "proxy": {"url": "http://p:8080"}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "sec_appc_pc",
        r#"{"containment": "appcontainer", "processContainer": {}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    ("sec_bw_lxc", r#"{"containment": "bubblewrap", "lxc": {}, "process": {"commandLine": "x"}}"#, Some("/lxc")),
    (
        "sec_iso_exp_wslc",
        r#"{"version": "0.8.0-alpha", "containment": "isolation_session", "experimental": {"wslc": {}}, "process": {"commandLine": "x"}}"#,
        Some("/experimental/wslc"),
    ),
    ("sec_lxc_lxc", r#"{"containment": "lxc", "lxc": {}, "process": {"commandLine": "x"}}"#, None),
    (
        "sec_lxc_pc",
        r#"{"containment": "lxc", "processContainer": {}, "process": {"commandLine": "x"}}"#,
        Some("/processContainer"),
    ),
    ("sec_macos_sb", r#"{"containment": "macos_sandbox", "seatbelt": {}, "process": {"commandLine": "x"}}"#, None),
    ("sec_pc_app", r#"{"containment": "processcontainer", "appContainer": {}, "process": {"commandLine": "x"}}"#, None),
    ("sec_process_none", r#"{"containment": "process", "process": {"commandLine": "x"}}"#, None),
    (
        "sec_process_pc",
        r#"{"containment": "process", "processContainer": {}, "process": {"commandLine": "x"}}"#,
        Some("/processContainer"),
    ),
    ("sec_sb_macos", r#"{"containment": "seatbelt", "macos_sandbox": {}, "process": {"commandLine": "x"}}"#, None),
    ("sec_two_none", r#"{"seatbelt": {}, "processContainer": {}, "process": {"commandLine": "x"}}"#, Some("/seatbelt")),
    ("sec_vm_none", r#"{"containment": "vm", "process": {"commandLine": "x"}}"#, None),
    (
        "sec_wslc_exp",
        r#"{"version": "0.8.0-alpha", "containment": "wslc", "experimental": {"wslc": {}}, "process": {"commandLine": "x"}}"#,
        None,
    ),
    (
        "wslc_alln",
        r#"{"containment": "wslc", "network": {"allowLocalNetwork": true}, "process": {"commandLine": "x"}}"#,
        Some("/network/allowLocalNetwork"),
    ),
    (
        "wslc_allow_blocked",
        r#"{"containment": "wslc", "network": {"defaultPolicy": "allow", "blockedHosts": ["a.com"]}, "process": {"commandLine": "x"}}"#,
        Some("/network"),
    ),
    (
        "wslc_block_noallowed",
        r#"{"containment": "wslc", "network": {"defaultPolicy": "block"}, "process": {"commandLine": "x"}}"#,
        None,
    ),
];

#[cfg(target_os = "linux")]
#[test]
fn each_case_gets_mxcs_verdict_and_its_pointer() {
    let mut wrong = Vec::new();
    for (name, json, refused_at) in CASES {
        let got = Policy::parse(json, &LexicalHost::default());
        match (refused_at, &got) {
            (None, Ok(_)) => {}
            (Some(ptr), Err(e)) if e.0.iter().any(|e| e.pointer == *ptr) => {}
            _ => wrong.push(format!("{name}: expected {refused_at:?}, got {got:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Both verdicts are in the table, so a parser that always says one thing fails it.
    assert!(CASES.iter().filter(|c| c.2.is_none()).count() >= 20);
    assert!(CASES.iter().filter(|c| c.2.is_some()).count() >= 30);
}

/// Where cordon is stricter than MXC's parser: a blank command (MXC runs `" "`), and a
/// numeric spelling of 127.0.0.1 as a Seatbelt proxy under `block` (MXC's URL parser makes
/// it 127.0.0.1; cordon takes the loopback names MXC lists, as written).
#[test]
fn stricter_than_mxc() {
    let host = LexicalHost::default();
    let e = Policy::parse(r#"{"process":{"commandLine":" "}}"#, &host).unwrap_err();
    assert_eq!(e.0[0].pointer, "/process/commandLine");
    assert!(Policy::parse(r#"{"process":{"commandLine":"x"}}"#, &host).is_ok());
    let remote =
        r#"{"containment":"seatbelt","network":{"defaultPolicy":"block","proxy":{"url":"http://2130706433:8080"}}}"#;
    assert_eq!(Policy::parse(remote, &host).unwrap_err().0[0].pointer, "/network/proxy/url");
    let named =
        r#"{"containment":"seatbelt","network":{"defaultPolicy":"block","proxy":{"url":"http://LocalHost:8080"}}}"#;
    assert!(Policy::parse(named, &host).is_ok());
}

/// The rules are MXC's words after the pointer.
#[test]
fn refusals_say_mxcs_rule() {
    let e = Policy::parse(r#"{"containment":"lxc","processContainer":{}}"#, &LexicalHost::default()).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(
        e.0[0].to_string(),
        "/processContainer: Multiple containment backends configured: 'containment' is 'lxc' (allows the 'lxc' \
         section), but the config also includes unrelated backend section(s): processContainer. Only one backend \
         section is allowed; remove the unused section(s)."
    );
}

/// MXC's executor rules (`cordon mxc-exec`), beside the parser's: a command from the config,
/// and with no `containment` only the native sandbox's section (none on Linux). Each refusal
/// has its accepted twin, and `Policy::parse` alone (cordon run) accepts both refused shapes.
#[test]
fn the_executor_needs_a_command_and_the_native_section() {
    let host = LexicalHost::default();
    let exec = |json: &str| Policy::parse(json, &host).unwrap().check_for_mxc_executor();
    for missing in [r#"{"process":{}}"#, r#"{"filesystem":{}}"#, r#"{"version":"1.0.0"}"#] {
        let Err(e) = exec(missing) else { panic!("{missing}: the executor needs a command") };
        assert_eq!(e.0[0].pointer, "/process/commandLine", "{missing}");
        assert!(e.0[0].to_string().contains("Missing required field: process.commandLine"), "{e}");
    }
    exec(r#"{"process":{"commandLine":"/bin/true"}}"#).unwrap();

    let (native, other) = if cfg!(windows) {
        ("processContainer", "seatbelt")
    } else if cfg!(target_os = "macos") {
        ("seatbelt", "processContainer")
    } else {
        ("", "processContainer")
    };
    // Each section under each of its spellings, and one inside `experimental`.
    for (section, body) in [
        (other, "{}"),
        ("lxc", "{}"),
        ("appContainer", "{}"),
        ("macos_sandbox", "{}"),
        ("experimental", r#"{"wslc":{}}"#),
    ] {
        let alias_of_native =
            matches!((section, native), ("appContainer", "processContainer") | ("macos_sandbox", "seatbelt"));
        if section == native || alias_of_native {
            continue;
        }
        let json = format!(r#"{{"process":{{"commandLine":"x"}},"{section}":{body}}}"#);
        assert!(Policy::parse(&json, &host).is_ok(), "{json}: cordon run reads it");
        let Err(e) = exec(&json) else { panic!("{json}: MXC's executor refuses it on this host") };
        assert!(e.0[0].to_string().contains("Multiple containment backends configured"), "{e}");
    }
    // With its containment the same section is the executor's, and with none the native one.
    exec(r#"{"containment":"lxc","process":{"commandLine":"x"},"lxc":{}}"#).unwrap();
    if !native.is_empty() {
        exec(&format!(r#"{{"process":{{"commandLine":"x"}},"{native}":{{}}}}"#)).unwrap();
    }
}
