//! The conformance table (`tests/conformance/cases.json`) run on every backend present.
//!
//! A case is a file tree, a policy, probe operations and the outcome expected of them, the
//! same on every backend. Backends today: `wasm-p2` (the probe as a WASI 0.2 component) and
//! `wasm-p1` (the same probe as a preview-1 module, through the same checked layer).

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::support::{cordon, root};

fn table() -> Value {
    let text = std::fs::read_to_string(root().join("tests/conformance/cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn cases(t: &Value) -> &Vec<Value> {
    t["cases"].as_array().unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

#[test]
fn table_is_complete_every_denial_has_an_allowed_twin() {
    let t = table();
    let cases = cases(&t);
    let by_name: BTreeMap<&str, &Value> = cases.iter().map(|c| (s(c, "name"), c)).collect();
    assert_eq!(by_name.len(), cases.len(), "case names must be unique");
    let denials = cases.iter().filter(|c| s(c, "kind") == "deny").count();
    assert!(cases.len() >= 40, "the table needs at least 40 cases, has {}", cases.len());
    assert!(denials * 2 >= cases.len() - 4, "about half the cases must be denials: {denials} of {}", cases.len());
    for c in cases {
        match s(c, "kind") {
            "allow" => {}
            "deny" => {
                let twin = by_name
                    .get(s(c, "twin"))
                    .unwrap_or_else(|| panic!("{}: twin `{}` missing", s(c, "name"), s(c, "twin")));
                assert_eq!(s(twin, "kind"), "allow", "{}: its twin must be an allow case", s(c, "name"));
            }
            other => panic!("{}: kind `{other}`", s(c, "name")),
        }
    }
}

/// A backend the table runs on: its name and the probe it runs.
struct Backend {
    name: &'static str,
    probe: &'static str,
    /// `--backend` to force, when the backend is not the default for the probe.
    force: Option<&'static str>,
}

fn backends() -> Vec<Backend> {
    vec![
        Backend { name: "wasm-p2", probe: cordon_tests::components::PROBE_WASIP2, force: None },
        Backend { name: "wasm-p1", probe: cordon_tests::components::PROBE_WASIP1, force: None },
        Backend { name: "bubblewrap", probe: cordon_tests::components::PROBE_HOST, force: None },
        Backend { name: "landlock", probe: cordon_tests::components::PROBE_HOST, force: Some("landlock") },
    ]
}

fn subst(v: &Value, root: &str, probe: &str) -> Value {
    match v {
        Value::String(s) => Value::String(net_subst(&s.replace("$ROOT", root).replace("$PROBE", probe), probe)),
        Value::Array(a) => Value::Array(a.iter().map(|x| subst(x, root, probe)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), subst(x, root, probe))).collect()),
        other => other.clone(),
    }
}

/// Network placeholders: the fixture ports and `$B`, a label unique to the backend.
fn net_subst(s: &str, probe: &str) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let f = crate::netfix::fixtures();
    let b = if probe.contains("wasip1") {
        "p1"
    } else if probe.contains("wasip2") {
        "p2"
    } else if probe.contains("noproxy") {
        "raw"
    } else {
        "nat"
    };
    s.replace("$PA", &f.pa.to_string())
        .replace("$PB", &f.pb.to_string())
        .replace("$P6", &f.p6.to_string())
        .replace("$UP", &f.up.to_string())
        .replace("$PH", &f.ph.to_string())
        .replace("$B", b)
}

/// The network and DNS denials in cordon's summary line (`… denied (fs 1, net 2, dns 1)`).
fn net_denials(stderr: &str) -> usize {
    let Some(line) = stderr.lines().rev().find(|l| l.contains(" denied (")) else { return 0 };
    let inner = line.split_once(" denied (").and_then(|(_, r)| r.split_once(')')).map_or("", |(i, _)| i);
    inner
        .split(", ")
        .filter_map(|kv| kv.split_once(' '))
        .filter(|(k, _)| matches!(*k, "net" | "dns" | "http"))
        .filter_map(|(_, v)| v.parse::<usize>().ok())
        .sum()
}

fn build_tree(t: &Value, case: &Value, dir: &Path) {
    let entries: Vec<Value> = match &case["tree"] {
        Value::String(name) => t["trees"][name].as_array().unwrap().clone(),
        Value::Array(a) => a.clone(),
        _ => vec![],
    };
    let root = dir.to_str().unwrap();
    for e in entries {
        let e = e.as_str().unwrap().replace("$ROOT", root);
        let (kind, rest) = e.split_once(':').unwrap();
        match kind {
            "dir" => std::fs::create_dir_all(dir.join(rest)).unwrap(),
            "file" => {
                let (p, content) = rest.split_once('=').unwrap();
                let p = dir.join(p);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, content).unwrap();
            }
            "link" => {
                let (p, target) = rest.split_once("->").unwrap();
                let p = dir.join(p);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(target, p).unwrap();
            }
            other => panic!("tree entry kind `{other}`"),
        }
    }
}

/// Runs one case on one backend; returns the mismatches.
fn run_case(t: &Value, case: &Value, b: &Backend) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let rootdir = dir.path().canonicalize().unwrap();
    let root = rootdir.to_str().unwrap();
    build_tree(t, case, &rootdir);
    let policy = match &case["policy"] {
        Value::String(name) => t["policies"][name].clone(),
        other => other.clone(),
    };
    let policy = subst(&policy, root, b.probe);
    let policy_file = rootdir.join("policy.json");
    std::fs::write(&policy_file, policy.to_string()).unwrap();
    let probe_args: Vec<String> = subst(&case["probe"], root, b.probe)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();

    let mut cmd = if case["dns"].as_bool() == Some(true) {
        // Name cases resolve through the stub: cordon runs in a mount namespace where
        // /etc/resolv.conf points at it.
        let f = crate::netfix::fixtures();
        if let Some(e) = &f.dns_error {
            return vec![e.clone()];
        }
        let mut c = std::process::Command::new("unshare");
        c.args(["--mount", "--", "sh", "-c", "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\""])
            .arg(&f.resolv_conf)
            .arg(env!("CARGO_BIN_EXE_cordon-under-test"));
        c
    } else {
        cordon()
    };
    cmd.arg("run");
    if let Some(f) = b.force {
        cmd.args(["--backend", f]);
    }
    cmd.args(["--policy"]).arg(&policy_file).arg("--").arg(b.probe).args(&probe_args);
    cmd.env_remove("CORDON_TEST_SECRET").env_remove("CORDON_TEST_OTHER");
    if let Some(env) = case["host_env"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap());
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(case["stdin"].as_str().unwrap_or("").as_bytes());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

    let mut bad = Vec::new();
    if b.force == Some("landlock") && out.status.code() == Some(125) {
        // The landlock backend refuses what it cannot enforce; the table lists which.
        return vec![format!("REFUSED {}", stderr.trim())];
    }
    let want_exit =
        case["differs"].get(b.name).and_then(|d| d["exit"].as_i64()).or(case["exit"].as_i64()).unwrap_or(0) as i32;
    if out.status.code() != Some(want_exit) {
        bad.push(format!("exit {:?}, want {want_exit}; stderr: {}", out.status.code(), stderr.trim()));
    }
    let lines: Vec<Value> =
        stdout.lines().filter(|l| l.starts_with("{\"op\"")).filter_map(|l| serde_json::from_str(l).ok()).collect();
    let expect = match case["differs"].get(b.name) {
        Some(d) => {
            assert!(!s(d, "why").is_empty(), "{}: a difference on {} must say why", s(case, "name"), b.name);
            subst(&d["expect"], root, b.probe)
        }
        None => subst(&case["expect"], root, b.probe),
    };
    for (i, want) in expect.as_array().unwrap().iter().enumerate() {
        let Some(got) = lines.get(i) else {
            bad.push(format!("op {i}: no output line; want {want}"));
            continue;
        };
        if want["ok"] != got["ok"] {
            bad.push(format!("op {i}: got {got}, want {want}"));
            continue;
        }
        if let Some(v) = want.get("value")
            && got["value"] != *v
        {
            bad.push(format!("op {i}: value {}, want {v}", got["value"]));
        }
        if let Some(e) = want["error"].as_str() {
            let class = got["error"].as_str().unwrap_or("");
            let fits = if e == "unreachable" { class == "denied" || class == "not-found" } else { class == e };
            if !fits {
                bad.push(format!("op {i}: error {class} ({}), want {e}", got["detail"]));
            }
        }
    }
    // The capture's refusals look to the tool like closed ports (or resets): each such
    // denial the probe saw must be one cordon recorded (its summary counts them).
    if b.probe.contains("noproxy") {
        let refused = lines
            .iter()
            .filter(|g| g["error"] == "denied")
            .filter(|g| g["detail"].as_str().is_some_and(|d| d.contains("refused") || d.contains("reset")))
            .count();
        let counted = net_denials(&stderr);
        if counted < refused {
            bad.push(format!(
                "cordon recorded {counted} network denials, the probe saw {refused} refused: {}",
                stderr.trim()
            ));
        }
    }
    if let Some(needle) = case["stderr_contains"].as_str()
        && !stderr.contains(needle)
    {
        bad.push(format!("stderr lacks `{needle}`: {}", stderr.trim()));
    }
    if let Some(min) = case["stdout_min_bytes"].as_u64()
        && (out.stdout.len() as u64) < min
    {
        bad.push(format!("stdout {} bytes, want at least {min}", out.stdout.len()));
    }
    if let Some(max) = case["stdout_max_bytes"].as_u64()
        && (out.stdout.len() as u64) > max
    {
        bad.push(format!("stdout {} bytes, want at most {max}", out.stdout.len()));
    }
    for (name, want) in subst(&case["dns_queries"], root, b.probe).as_object().into_iter().flatten() {
        let name = net_subst(name, b.probe);
        let got = crate::netfix::queries_for(&name);
        let fits = match want.as_i64() {
            Some(-1) => got > 0,
            Some(n) => got as i64 == n,
            None => false,
        };
        if !fits {
            bad.push(format!("dns: {got} queries for {name}, want {want} (-1: at least one)"));
        }
    }
    for check in subst(&case["after"], root, b.probe).as_array().into_iter().flatten() {
        if let Some(f) = check["file"].as_str() {
            let got = std::fs::read_to_string(f).unwrap_or_else(|e| format!("<{e}>"));
            if got != s(check, "content") {
                bad.push(format!("after: {f} holds {got:?}, want {:?}", s(check, "content")));
            }
        }
        if let Some(f) = check["absent"].as_str()
            && std::fs::symlink_metadata(f).is_ok()
        {
            bad.push(format!("after: {f} exists, want absent"));
        }
        if let Some(f) = check["dir"].as_str()
            && !Path::new(f).is_dir()
        {
            bad.push(format!("after: {f} is not a directory"));
        }
    }
    bad
}

fn run_table(backend: &Backend) {
    run_table_where(backend, |_| true);
}

fn run_table_where(backend: &Backend, only: impl Fn(&Value) -> bool) {
    let network_only = !only(&serde_json::json!({"name": "fs-"}));
    let t = table();
    let mut failures = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut ran = 0;
    for case in cases(&t) {
        if let Some(only) = case["backends"].as_array()
            && !only.iter().any(|x| x == backend.name)
        {
            continue;
        }
        if !only(case) {
            continue;
        }
        ran += 1;
        for why in run_case(&t, case, backend) {
            if why.starts_with("REFUSED ") {
                refused.push(s(case, "name").to_string());
            } else {
                failures.push(format!("[{}] {}: {why}", backend.name, s(case, "name")));
            }
        }
    }
    let failed: HashSet<&str> = failures.iter().map(|f| f.split(':').next().unwrap_or("")).collect();
    eprintln!("conformance on {}: {ran} cases, {} failed", backend.name, failed.len());
    assert!(ran >= if network_only { 10 } else { 40 }, "only {ran} cases ran on {}", backend.name);
    assert!(failures.is_empty(), "conformance failures:\n{}", failures.join("\n"));
    if backend.force == Some("landlock") {
        let doc = std::fs::read_to_string(root().join("docs/native-linux.md")).unwrap();
        let listed: Vec<String> = doc
            .split("<!-- landlock-refused -->")
            .nth(1)
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.strip_prefix("- `").and_then(|r| r.split('`').next()).map(String::from))
            .collect();
        refused.sort();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort();
        assert_eq!(
            refused, listed_sorted,
            "the cases the landlock backend refuses must be exactly those listed in docs/native-linux.md"
        );
        assert!(ran - refused.len() >= 15, "landlock accepted only {} cases", ran - refused.len());
    }
}

#[test]
fn conformance_table_passes_on_wasm_p2() {
    run_table(&backends()[0]);
}

#[test]
fn conformance_table_passes_on_wasm_p1() {
    run_table(&backends()[1]);
}

#[test]
fn conformance_table_passes_on_bubblewrap() {
    run_table(&backends()[2]);
}

/// The network cases on bubblewrap with a probe that ignores the proxy variables (named
/// `*-noproxy`): every connection reaches cordon through the capture, with the same
/// outcomes as through the proxy.
#[test]
fn network_cases_pass_on_bubblewrap_with_no_proxy_variables() {
    if !crate::support::require(Path::new("/usr/sbin/nft").exists(), "nftables (/usr/sbin/nft) is not installed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().canonicalize().unwrap().join("probe-noproxy");
    std::fs::copy(cordon_tests::components::PROBE_HOST, &probe).unwrap();
    let probe: &'static str = Box::leak(probe.to_string_lossy().into_owned().into_boxed_str());
    run_table_where(&Backend { name: "bubblewrap", probe, force: None }, |case| s(case, "name").starts_with("net-"));
}

#[test]
fn conformance_table_passes_on_landlock_for_every_case_it_accepts() {
    run_table(&backends()[3]);
}
