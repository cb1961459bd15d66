#![expect(clippy::unwrap_used, reason = "tests")]

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{LexicalHost, Policy, PolicyErrorKind as K, PolicyErrors, RawPolicy};

fn check(v: Value) -> Result<Policy, PolicyErrors> {
    Policy::parse(&v.to_string(), &LexicalHost { home: Some("/home/u".into()), links: vec![] })
}

fn pointers(v: Value) -> Vec<String> {
    check(v).unwrap_err().0.into_iter().map(|e| e.pointer).collect()
}

#[test]
fn every_problem_is_reported_at_once_with_its_pointer() {
    let errs = pointers(json!({
        "version": "0.8.0-alpha",
        "filesystem": { "readonlyPaths": ["relative/path", ""], "deniedPaths": ["/ok", "/a/../b"] },
        "network": { "egress": {
            "allow": [
                { "to": [{ "cidr": "10.0.0.1/8" }] },
                { "to": [] },
                { "to": [{ "cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"] }], "ports": [] },
                { "ports": [{ "protocol": "tcp", "port": 65536 }, { "port": 0 }, { "port": 80, "endPort": 79 }, { "protocol": "icmp", "port": 1 }] }
            ]
        }},
        "process": { "env": ["NOEQUALS"], "timeout": 4294967296u64 },
        "cordon": { "network": { "allowDomains": ["*.ok.com", "bad*.com"] }, "env": { "inherit": ["A=B"] }, "limits": { "memoryBytes": 0 } }
    }));
    assert_eq!(
        errs,
        vec![
            "/process/env/0",
            "/process/timeout",
            "/filesystem/readonlyPaths/0",
            "/filesystem/readonlyPaths/1",
            "/filesystem/deniedPaths/1",
            "/network/egress/allow/0/to/0/cidr",
            "/network/egress/allow/1/to",
            "/network/egress/allow/2/to/0/except/0",
            "/network/egress/allow/2/ports",
            "/network/egress/allow/3/ports/0/port",
            "/network/egress/allow/3/ports/1/port",
            "/network/egress/allow/3/ports/2/endPort",
            "/network/egress/allow/3/ports/3",
            "/cordon/network/allowDomains/1",
            "/cordon/limits/memoryBytes",
            "/cordon/env/inherit/0",
        ]
    );
}

#[test]
fn the_same_rules_without_mistakes_are_valid() {
    let p = check(json!({
        "version": "0.8.0-alpha",
        "filesystem": { "readonlyPaths": ["/abs/path", "~/notes"], "deniedPaths": ["/ok", "/a/b"] },
        "network": { "egress": { "allow": [
            { "to": [{ "cidr": "10.0.0.0/8" }] },
            { "to": [{ "cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"] }], "ports": [{ "port": 1 }] },
            { "ports": [{ "protocol": "tcp", "port": 65535 }, { "port": 80, "endPort": 80 }, { "protocol": "icmp" }] }
        ]}},
        "process": { "env": ["A=b=c"], "timeout": 4294967295u64 },
        "cordon": { "network": { "allowDomains": ["*.ok.com", "ok.com"] }, "env": { "inherit": ["PATH"] }, "limits": { "memoryBytes": 1 } }
    }))
    .unwrap();
    assert_eq!(p.env.vars, vec![("A".to_string(), "b=c".to_string())]);
    assert_eq!(p.network.egress.allow.len(), 3);
    assert_eq!(p.network.egress.allow[1].to[0].except.len(), 1);
    assert_eq!(p.filesystem.access(std::path::Path::new("/home/u/notes/x")), crate::Access::ReadOnly);
}

#[test]
fn mixed_network_shapes_are_refused() {
    let e =
        check(json!({ "version": "0.8.0-alpha", "network": { "defaultPolicy": "allow", "egress": {} } })).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].pointer, "/network");
    assert!(matches!(e.0[0].kind, K::MixedNetworkShapes { .. }));
}

#[test]
fn directional_network_needs_version_08() {
    assert_eq!(pointers(json!({ "network": { "egress": {} } })), vec!["/network/egress"]);
    assert_eq!(pointers(json!({ "version": "0.7.0-alpha", "network": { "ingress": {} } })), vec!["/network/ingress"]);
    assert!(check(json!({ "version": "0.8.0-alpha", "network": { "egress": {} } })).is_ok());
    // Absent version is a legacy config: the legacy shape is fine.
    assert!(check(json!({ "network": { "defaultPolicy": "allow" } })).is_ok());
}

#[test]
fn versions_outside_06_to_08_name_the_range() {
    // The 0.9 contract line is matched exactly, as MXC matches it.
    for v in ["0.5.0-alpha", "0.9.0", "0.9.0-dev", "1.0", "1.0.0-alpha", "1.1.0", "1.2.0-alpha", "banana", "0.8.x", ""]
    {
        let e = check(json!({ "version": v })).unwrap_err();
        assert_eq!(e.0[0].pointer, "/version", "{v}");
        assert!(e.to_string().contains("0.6 to 0.8") && e.to_string().contains("\"1.0.0\""), "{e}");
    }
    for v in ["0.6.0-alpha", "0.7.0", "0.8.0-dev", "0.8"] {
        assert!(check(json!({ "version": v })).is_ok(), "{v}");
    }
}

#[test]
fn unknown_fields_are_refused_with_their_pointer() {
    let e = check(json!({ "filesystem": { "readonlyPath": ["/x"] } })).unwrap_err();
    assert_eq!(e.0[0].pointer, "/filesystem/readonlyPath");
    assert!(matches!(&e.0[0].kind, K::UnknownField { field, .. } if field == "readonlyPath"));
    let e = check(json!({ "cordon": { "limits": { "memory": 1 } } })).unwrap_err();
    assert_eq!(e.0[0].pointer, "/cordon/limits/memory");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let e = Policy::parse("{\n  \"version\": ,\n}", &LexicalHost::default()).unwrap_err();
    assert!(matches!(e.0[0].kind, K::Syntax { line: 2, .. }), "{e}");
}

#[test]
fn legacy_hosts_split_into_names_and_addresses() {
    let p = check(json!({ "network": { "defaultPolicy": "block", "allowedHosts": ["api.github.com", "1.2.3.4", "10.0.0.0/8"], "blockedHosts": ["evil.example", "1.2.3.5/32"] } })).unwrap();
    assert_eq!(p.network.domains.allow.len(), 1);
    assert_eq!(p.network.egress.allow.len(), 2);
    assert_eq!(p.network.domains.deny.len(), 1);
    assert_eq!(p.network.egress.deny.len(), 1);
    assert_eq!(
        pointers(json!({ "network": { "allowedHosts": ["1.2.3.4/8", "bad host"] } })),
        vec!["/network/allowedHosts/0", "/network/allowedHosts/1"]
    );
}

#[test]
fn proxy_needs_exactly_one_form() {
    assert_eq!(pointers(json!({ "network": { "proxy": {} } })), vec!["/network/proxy"]);
    assert_eq!(
        pointers(json!({ "network": { "proxy": { "localhost": 1, "url": "http://a:1" } } })),
        vec!["/network/proxy"]
    );
    assert_eq!(pointers(json!({ "network": { "proxy": { "url": "ftp://a" } } })), vec!["/network/proxy/url"]);
    assert!(
        check(json!({ "network": { "defaultPolicy": "allow", "proxy": { "url": "http://proxy.example:8080" } } }))
            .is_ok()
    );
    assert_eq!(
        pointers(json!({ "version": "0.8.0-alpha", "runtimeConfig": { "networkProxy": "nope" } })),
        vec!["/runtimeConfig/networkProxy"]
    );
}

#[test]
fn containment_values_and_aliases() {
    for c in ["process", "bubblewrap", "seatbelt", "macos_sandbox", "processcontainer", "appcontainer", "lxc"] {
        assert!(check(json!({ "containment": c })).is_ok(), "{c}");
    }
    assert_eq!(pointers(json!({ "containment": "docker" })), vec!["/containment"]);
}

#[test]
fn nulls_are_accepted_where_mxc_accepts_them() {
    assert!(
        check(json!({ "version": null, "process": null, "filesystem": { "readonlyPaths": null }, "network": null }))
            .is_ok()
    );
}

// ---- properties ----

fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "version",
        "process",
        "filesystem",
        "network",
        "cordon",
        "readonlyPaths",
        "readwritePaths",
        "deniedPaths",
        "egress",
        "ingress",
        "allow",
        "deny",
        "to",
        "ports",
        "cidr",
        "except",
        "port",
        "endPort",
        "protocol",
        "commandLine",
        "env",
        "timeout",
        "limits",
        "allowDomains",
        "defaultPolicy",
        "allowedHosts",
        "proxy",
        "seatbelt",
        "lxc",
        "experimental",
        "phase",
        "zzz",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![
            "/a",
            "~/b",
            "rel",
            "",
            "0.8.0-alpha",
            "10.0.0.0/8",
            "1.2.3.4/33",
            "*.x.com",
            "tcp",
            "icmp",
            "deny",
            "allow",
            "C:\\x",
            "/a/../b",
            "A=B"
        ])
        .prop_map(Value::from),
        ".*".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn arb_valid_raw() -> impl Strategy<Value = RawPolicy> {
    let path = prop::sample::select(vec!["/a", "/a/b", "/srv/x", "~/c", "/a/b/c", "/tmp"]).prop_map(String::from);
    let cidr = prop::sample::select(vec!["10.0.0.0/8", "192.0.2.0/24", "::/0", "2001:db8::/32", "1.2.3.4"])
        .prop_map(String::from);
    let paths = prop::collection::vec(path, 0..4);
    (
        paths.clone(),
        paths.clone(),
        paths,
        prop::collection::vec(cidr, 0..3),
        prop::option::of(1u64..100_000),
        prop::option::of(1i64..=65535),
    )
        .prop_map(|(ro, rw, deny, cidrs, timeout, port)| {
            let v = json!({
                "version": "0.8.0-alpha",
                "filesystem": { "readonlyPaths": ro, "readwritePaths": rw, "deniedPaths": deny },
                "process": { "commandLine": "tool --flag", "timeout": timeout, "env": ["K=V"] },
                "network": { "egress": { "default": "deny", "allow": [{
                    "to": cidrs.iter().map(|c| json!({ "cidr": c })).collect::<Vec<_>>(),
                    "ports": [{ "protocol": "tcp", "port": port }]
                }] } },
                "cordon": { "network": { "allowDomains": ["*.example.com"] }, "limits": { "cpuMs": 5 } }
            });
            let mut raw: RawPolicy = serde_json::from_value(v).unwrap();
            // An empty `to` is invalid; omit it instead.
            if let Some(e) = raw.network.as_mut().and_then(|n| n.egress.as_mut()) {
                for r in e.allow.iter_mut().flatten() {
                    if r.to.as_ref().is_some_and(Vec::is_empty) {
                        r.to = None;
                    }
                }
            }
            raw
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn validation_never_panics_on_arbitrary_json(v in arb_json()) {
        let _ = check(v);
    }

    #[test]
    fn validation_never_panics_on_arbitrary_text(s in ".{0,200}") {
        let _ = Policy::parse(&s, &LexicalHost::default());
    }

    #[test]
    fn a_valid_policy_survives_serialise_then_parse(raw in arb_valid_raw()) {
        let host = LexicalHost { home: Some("/home/u".into()), links: vec![] };
        let first = Policy::from_raw(&raw, &host).unwrap();
        let text = raw.to_json_pretty();
        let again = RawPolicy::from_json(&text).unwrap();
        prop_assert_eq!(&again, &raw);
        let second = Policy::from_raw(&again, &host).unwrap();
        prop_assert_eq!(first, second);
    }
}

#[test]
fn committed_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/policy.schema.json");
    let fresh = crate::schema_json();
    if std::env::var_os("CORDON_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "policies/schema/policy.schema.json is stale; regenerate it with\n  CORDON_UPDATE_SCHEMA=1 cargo test -p cordon-policy committed_schema_is_current"
    );
}
