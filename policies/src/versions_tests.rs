//! Schema versions 0.6 to 1.1: which fields each version has, the migration hints for what
//! the 0.9 contract line removed, and what `process.env` means in each. Every refusal has a
//! twin: the same field accepted in a version that has it.
#![expect(clippy::unwrap_used, reason = "tests")]

use serde_json::{Value, json};

use crate::{Containment, LexicalHost, Policy, PolicyErrorKind as K, PolicyErrors};

fn check(v: Value) -> Result<Policy, PolicyErrors> {
    Policy::parse(&v.to_string(), &LexicalHost { home: Some("/home/u".into()), links: vec![] })
}

/// `v` with `"version": version` (no version for `None`).
fn at(version: Option<&str>, mut v: Value) -> Value {
    if let Some(version) = version {
        v["version"] = json!(version);
    }
    v
}

fn problems(v: Value) -> Vec<(String, String)> {
    check(v).unwrap_err().0.into_iter().map(|e| (e.pointer, e.kind.to_string())).collect()
}

const LINE: [&str; 3] = ["0.9.0-alpha", "1.0.0", "1.1.0-alpha"];
const OLD: [Option<&str>; 4] = [None, Some("0.6.0-alpha"), Some("0.7.0-alpha"), Some("0.8.0-alpha")];

#[test]
fn the_contract_line_is_read_by_its_exact_strings() {
    for (text, minor_pair) in [("0.9.0-alpha", (0, 9)), ("1.0.0", (1, 0)), ("1.1.0-alpha", (1, 1))] {
        let p = check(json!({ "version": text })).unwrap();
        let v = p.version.unwrap();
        assert_eq!((v.major, v.minor), minor_pair, "{text}");
        assert!(v.is_contract_line() && v.has_directional_network(), "{text}");
    }
    // Other spellings of the same versions are not the versions MXC registers.
    for v in [" 1.0.0", "1.0.0 ", "v1.0.0", "1.1.0-ALPHA", "0.9.0-Alpha", "1.0.0+build", "01.0.0", "0.9.0-alpha.1"] {
        let e = problems(json!({ "version": v }));
        assert_eq!(e[0].0, "/version", "{v}");
    }
    assert!(!check(json!({ "version": "0.8.0-alpha" })).unwrap().version.unwrap().is_contract_line());
}

#[test]
fn the_legacy_network_fields_are_refused_from_09_with_mxcs_migration_hints() {
    let hints = [
        (json!({ "defaultPolicy": "allow" }), "defaultPolicy", "use network.egress.default ('allow' or 'deny')"),
        (json!({ "enforcementMode": "firewall" }), "enforcementMode", "enforcement is selected by the backend"),
        (json!({ "allowedHosts": ["a.com"] }), "allowedHosts", "hostnames cannot be losslessly converted"),
        (json!({ "blockedHosts": ["1.2.3.4"] }), "blockedHosts", "use network.egress.allow/deny CIDR rules"),
        (
            json!({ "allowLocalNetwork": false }),
            "allowLocalNetwork",
            "use network.ingress.default and network.ingress.hostLoopback",
        ),
        (
            json!({ "proxy": { "url": "http://127.0.0.1:8080" } }),
            "proxy",
            "use runtimeConfig.networkProxy with a proxy URL",
        ),
    ];
    for version in LINE {
        for (network, field, hint) in &hints {
            let e = problems(at(Some(version), json!({ "network": network })));
            assert_eq!(e.len(), 1, "{version} {field}: {e:?}");
            assert_eq!(e[0].0, format!("/network/{field}"), "{version}");
            let mm = if version == "0.9.0-alpha" { "0.9" } else { &version[..3] };
            assert!(e[0].1.contains(&format!("schema {mm} migration: ")) && e[0].1.contains(hint), "{e:?}");
            assert!(e[0].1.contains("removed in schema 0.9"), "{e:?}");
        }
        // Mixed with the directional shape: each legacy field is named, no mix message.
        let e = problems(at(Some(version), json!({ "network": { "defaultPolicy": "block", "egress": {} } })));
        assert_eq!(e.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["/network/defaultPolicy"]);
        // The directional fields beside them are still checked.
        let e =
            problems(at(Some(version), json!({ "network": { "proxy": {}, "egress": { "allow": [{ "to": [] }] } } })));
        assert_eq!(
            e.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["/network/proxy", "/network/egress/allow/0/to"]
        );
        // The twin: the directional shape is the one shape.
        assert!(check(at(Some(version), json!({ "network": { "egress": { "default": "allow" } } }))).is_ok());
    }
    for version in OLD {
        for (network, field, _) in &hints {
            let mut network = network.clone();
            if *field == "proxy" {
                // MXC refuses an external proxy under the legacy default (`block`) on bubblewrap.
                network["defaultPolicy"] = json!("allow");
            }
            assert!(check(at(version, json!({ "network": network }))).is_ok(), "{version:?} {field}");
        }
    }
}

#[test]
fn experimental_is_read_before_09_and_refused_from_09_with_a_hint() {
    for version in LINE {
        let e = problems(json!({ "version": version, "experimental": {} }));
        assert_eq!(e[0].0, "/experimental");
        assert!(e[0].1.contains("removed in schema 0.9") && e[0].1.contains("`telemetry`"), "{e:?}");
    }
    // MXC's parser reads it below 0.8 and with no version too (its corpus has 43 such configs).
    for version in OLD {
        assert!(check(at(version, json!({ "experimental": {} }))).is_ok(), "{version:?}");
    }
}

#[test]
fn seatbelt_launch_method_is_gone_from_09() {
    for version in LINE {
        let e = problems(json!({ "version": version, "seatbelt": { "launchMethod": "exec" } }));
        assert_eq!(e[0].0, "/seatbelt/launchMethod", "{version}");
        // The other seatbelt fields stay.
        assert!(check(json!({ "version": version, "seatbelt": { "nestedPty": false, "guiAccess": false } })).is_ok());
    }
    assert_eq!(
        problems(json!({ "version": "0.9.0-alpha", "macos_sandbox": { "launchMethod": "open" } }))[0].0,
        "/macos_sandbox/launchMethod"
    );
    for version in OLD {
        assert!(check(at(version, json!({ "seatbelt": { "launchMethod": "exec" } }))).is_ok(), "{version:?}");
    }
}

#[test]
fn the_aliases_are_gone_from_10() {
    for version in ["1.0.0", "1.1.0-alpha"] {
        for (doc, ptr, hint) in [
            (json!({ "appContainer": {} }), "/appContainer", "use `processContainer`"),
            (json!({ "macos_sandbox": {} }), "/macos_sandbox", "use `seatbelt`"),
            (json!({ "containment": "appcontainer" }), "/containment", "use containment `processcontainer`"),
            (json!({ "containment": "macos_sandbox" }), "/containment", "use containment `seatbelt`"),
        ] {
            let e = problems(at(Some(version), doc));
            assert_eq!(e[0].0, ptr, "{version}");
            assert!(e[0].1.contains("removed in schema 1.0") && e[0].1.contains(hint), "{e:?}");
        }
        // The twins: the names themselves.
        for doc in [json!({ "processContainer": {} }), json!({ "seatbelt": {} }), json!({ "containment": "seatbelt" })]
        {
            assert!(check(at(Some(version), doc)).is_ok(), "{version}");
        }
    }
    for version in [Some("0.9.0-alpha"), Some("0.8.0-alpha"), Some("0.7.0-alpha")] {
        for doc in
            [json!({ "appContainer": {} }), json!({ "macos_sandbox": {} }), json!({ "containment": "appcontainer" })]
        {
            assert!(check(at(version, doc.clone())).is_ok(), "{version:?} {doc}");
        }
    }
}

#[test]
fn containments_follow_each_versions_list() {
    let all = ["isolation_session", "wslc", "vm", "windows_sandbox", "microvm", "hyperlight"];
    let has = |version: Option<&str>, c: &str| check(at(version, json!({ "containment": c }))).is_ok();
    for c in all {
        // MXC 0.8's parser reads every backend name it knows, whatever the version.
        for version in OLD {
            assert!(has(version, c), "{version:?} {c}");
        }
        assert!(has(Some("1.1.0-alpha"), c), "1.1 {c}");
        let in_09 = matches!(c, "isolation_session" | "wslc");
        assert_eq!(has(Some("0.9.0-alpha"), c), in_09, "0.9 {c}");
        assert_eq!(has(Some("1.0.0"), c), in_09, "1.0 {c}");
    }
    let e = problems(json!({ "version": "1.0.0", "containment": "vm" }));
    assert!(e[0].1.contains("(schema 1.0)") && e[0].1.contains("isolation_session"), "{e:?}");
    for version in [None, Some("0.9.0-alpha"), Some("1.1.0-alpha")] {
        for bad in ["docker", "Bubblewrap", "hyperlight ", ""] {
            assert_eq!(problems(at(version, json!({ "containment": bad })))[0].0, "/containment", "{bad}");
        }
    }
    let p = check(json!({ "version": "1.1.0-alpha", "containment": "windows_sandbox" })).unwrap();
    assert_eq!(p.containment, Some(Containment::WindowsSandbox));
    assert_eq!(p.containment.unwrap().as_str(), "windows_sandbox");
}

#[test]
fn the_new_sections_need_their_version() {
    let cases = [
        (json!({ "telemetry": { "enabled": true } }), "/telemetry", "0.9.0-alpha"),
        (json!({ "wslc": { "image": "alpine" } }), "/wslc", "0.9.0-alpha"),
        (json!({ "process": { "inheritDefaultEnv": true } }), "/process/inheritDefaultEnv", "0.9.0-alpha"),
        (
            json!({ "processContainer": { "filesystem": { "enumeratePaths": ["/x"] } } }),
            "/processContainer/filesystem",
            "0.9.0-alpha",
        ),
        (json!({ "hyperlight": { "runtime": "node" } }), "/hyperlight", "1.1.0-alpha"),
        (json!({ "test": { "message": "m" } }), "/test", "1.1.0-alpha"),
        (json!({ "windowsSandbox": { "idleTimeoutMs": 1 } }), "/windowsSandbox", "1.1.0-alpha"),
    ];
    let order = |v: Option<&str>| match v {
        Some("0.9.0-alpha") => 1,
        Some("1.0.0") => 2,
        Some("1.1.0-alpha") => 3,
        _ => 0,
    };
    let versions = [None, Some("0.8.0-alpha"), Some("0.9.0-alpha"), Some("1.0.0"), Some("1.1.0-alpha")];
    for (doc, ptr, since) in &cases {
        for version in versions {
            let got = check(at(version, doc.clone()));
            if order(version) >= order(Some(since)) {
                assert!(got.is_ok(), "{version:?} {doc}: {got:?}");
            } else {
                let e = got.unwrap_err();
                assert_eq!(e.0[0].pointer, *ptr, "{version:?}");
                assert!(matches!(e.0[0].kind, K::NeedsVersion { .. }), "{e}");
                assert!(e.to_string().contains(since), "{e}");
            }
        }
    }
    // Their fields are MXC's and no others.
    assert_eq!(problems(json!({ "version": "1.0.0", "telemetry": { "enabled": true, "x": 1 } }))[0].0, "/telemetry/x");
    assert_eq!(
        problems(json!({ "version": "1.1.0-alpha", "hyperlight": { "runtime": "ruby" } }))[0].0,
        "/hyperlight/runtime"
    );
}

#[test]
fn process_env_is_verbatim_from_09_and_added_to_the_defaults_before() {
    // (version, process) -> exact
    let env = |version: Option<&str>, process: Value| check(at(version, json!({ "process": process }))).unwrap().env;
    for version in LINE {
        let v = Some(version);
        assert!(!env(v, json!({})).exact, "{version}: omitted is the backend's default environment");
        assert!(env(v, json!({ "env": [] })).exact, "{version}: [] is exactly nothing");
        let e = env(v, json!({ "env": ["A=1"] }));
        assert!(e.exact && e.vars == [("A".to_string(), "1".to_string())], "{version}");
        assert!(!env(v, json!({ "env": ["A=1"], "inheritDefaultEnv": true })).exact, "{version}");
        assert!(env(v, json!({ "env": ["A=1"], "inheritDefaultEnv": false })).exact, "{version}");
        assert!(!env(v, json!({ "inheritDefaultEnv": false })).exact, "{version}: no env, the defaults");
    }
    for version in OLD {
        assert!(!env(version, json!({ "env": [] })).exact, "{version:?}");
        assert!(!env(version, json!({ "env": ["A=1"] })).exact, "{version:?}");
    }
}

#[test]
fn an_empty_command_line_is_refused() {
    for version in LINE {
        for cl in ["", "   "] {
            assert_eq!(
                problems(json!({ "version": version, "process": { "commandLine": cl } }))[0].0,
                "/process/commandLine"
            );
        }
        assert!(check(json!({ "version": version, "process": { "commandLine": "true" } })).is_ok());
    }
    // MXC's parser refuses it before 0.9 too, and with no version.
    for version in OLD {
        let e = problems(at(version, json!({ "process": { "commandLine": "" } })));
        assert_eq!(e[0].0, "/process/commandLine", "{version:?}");
        assert!(check(at(version, json!({ "process": { "commandLine": "true" } }))).is_ok());
    }
}

#[test]
fn the_sections_of_09_and_later_are_typed() {
    let p = check(json!({
        "version": "1.1.0-alpha",
        "telemetry": { "enabled": true },
        "test": { "message": "m" },
        "wslc": { "image": "alpine", "portMappings": [{ "windowsPort": 1, "containerPort": 2 }] },
        "hyperlight": { "runtime": "python-shell" },
        "windowsSandbox": { "daemonPipeName": "p" },
        "processContainer": { "filesystem": { "enumeratePaths": ["/x"] } }
    }))
    .unwrap();
    let e = &p.backends.extra;
    assert_eq!(e.telemetry, Some(Some(true)));
    assert_eq!(e.test.as_deref(), Some("m"));
    let ptrs: Vec<&str> = e.backend_fields.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(ptrs, ["/wslc/image", "/wslc/portMappings", "/hyperlight/runtime", "/windowsSandbox/daemonPipeName"]);
    assert_eq!(p.backends.process_container.unwrap().enumerate_paths, ["/x"]);
    let p = check(json!({ "version": "1.0.0", "telemetry": {} })).unwrap();
    assert_eq!(p.backends.extra.telemetry, Some(None));
    assert_eq!(check(json!({ "version": "1.0.0" })).unwrap().backends.extra.telemetry, None);
}

/// The fixtures under tests/mxc-versions: one per version, written from the SDK's wire types.
#[test]
fn the_version_fixtures_are_valid_with_their_meanings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mxc-versions");
    let load = |name: &str| {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        Policy::parse(&text, &LexicalHost::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let p = load("0.9.0-alpha.json");
    assert!(p.env.exact && p.env.vars.len() == 1);
    assert_eq!(p.backends.extra.telemetry, Some(Some(true)));
    let p = load("1.0.0.json");
    assert!(!p.env.exact && p.env.vars.len() == 1);
    let p = load("1.1.0-alpha.json");
    assert!(!p.env.exact && p.env.vars.is_empty());
    assert!(p.backends.extra.test.is_some());
    assert_eq!(load("1.1.0-alpha-hyperlight.json").containment, Some(Containment::Hyperlight));
    assert_eq!(load("1.0.0-wslc.json").containment, Some(Containment::Wslc));
}
