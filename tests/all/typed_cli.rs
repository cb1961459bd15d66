//! `cordon tools` and `cordon call` with the `typed` component: every WIT type kind through
//! JSON, mismatches, result errors, and the policy, limits and timeout held on typed calls.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use cordon_tests::components::{PROBE_WASIP2, TYPED_WASIP2};
use serde_json::{Value, json};

use crate::support::{cordon, run, stderr, stdout};

const KINDS: &str = "cordon:typed/kinds@0.1.0";

fn policy_file(dir: &Path, name: &str, policy: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, policy.to_string()).unwrap();
    p
}

fn call(policy: Option<&Path>, func: &str, args: &str) -> Output {
    let mut c = cordon();
    c.arg("call");
    if let Some(p) = policy {
        c.arg("--policy").arg(p);
    }
    c.arg(TYPED_WASIP2).arg(func).arg(args);
    run(c)
}

fn kind(func: &str) -> String {
    format!("{KINDS}#{func}")
}

/// The call's stdout parsed as JSON, after checking its exit code.
fn json_out(out: &Output, code: i32) -> Value {
    assert_eq!(out.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(out), stderr(out));
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[test]
fn every_wit_type_kind_round_trips_through_json() {
    let cases: Vec<(&str, Value)> = vec![
        ("echo-bool", json!(true)),
        ("echo-bool", json!(false)),
        ("echo-s8", json!(-128)),
        ("echo-u8", json!(255)),
        ("echo-s16", json!(-32768)),
        ("echo-u16", json!(65535)),
        ("echo-s32", json!(-2147483648i64)),
        ("echo-u32", json!(4294967295u64)),
        ("echo-s64", json!(i64::MIN)),
        ("echo-u64", json!(u64::MAX)),
        ("echo-f32", json!(0.1)),
        ("echo-f32", json!("Infinity")),
        ("echo-f64", json!(-2.5e300)),
        ("echo-f64", json!("NaN")),
        ("echo-f64", json!("-Infinity")),
        ("echo-char", json!("é")),
        ("echo-char", json!("🦀")),
        ("echo-string", json!("line\none \"quoted\" \u{0} ünïcode")),
        ("echo-string", json!("")),
        ("echo-list", json!([1, 2, 4294967295u64])),
        ("echo-list", json!([])),
        ("echo-bytes", json!([0, 127, 255])),
        ("echo-record", json!({"x": -1, "y": 2})),
        ("echo-tuple", json!(["a", 7, true])),
        ("echo-variant", json!({"circle": 1.5})),
        ("echo-variant", json!({"square": {"x": 3, "y": 4}})),
        ("echo-variant", json!("empty")),
        ("echo-enum", json!("green")),
        ("echo-flags", json!(["read", "exec"])),
        ("echo-flags", json!([])),
        ("echo-option", json!(null)),
        ("echo-option", json!("some text")),
        ("echo-nested-option", json!(null)),
        ("echo-nested-option", json!({"some": null})),
        ("echo-nested-option", json!({"some": 9})),
        ("echo-results", json!([{"ok": 1}, {"err": "bad"}])),
        ("echo-deep", json!([[null, {"x": 1, "y": 2}], []])),
    ];
    for (func, v) in cases {
        let out = call(None, &kind(func), &json!({ "v": v }).to_string());
        let got = json_out(&out, 0);
        assert_eq!(got, v, "{func}({v}) came back as {got}");
    }
    // A function returning `result` prints its payload: ok exits 0, err exits 1.
    assert_eq!(json_out(&call(None, &kind("echo-unit-result"), r#"{"v": {"ok": null}}"#), 0), Value::Null);
    assert_eq!(json_out(&call(None, &kind("echo-unit-result"), r#"{"v": {"err": null}}"#), 1), Value::Null);
    // Several parameters, by name, in any order; a bare name finds an export once exported.
    let out = call(None, "greet", r#"{"tags": ["x", "y"], "times": 2, "name": "ann"}"#);
    assert_eq!(json_out(&out, 0), json!("hello ann, hello ann #x #y"));
    assert_eq!(json_out(&call(None, "echo-u8", r#"{"v": 3}"#), 0), json!(3));
    // No result prints null; no parameters takes no JSON at all, or `{}`.
    let mut c = cordon();
    c.args(["call", TYPED_WASIP2, "nothing"]);
    assert_eq!(json_out(&run(c), 0), Value::Null);
    assert_eq!(json_out(&call(None, "nothing", "{}"), 0), Value::Null);
}

#[test]
fn mismatched_arguments_exit_2_naming_the_parameter_and_type() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("add", r#"{"a": 1, "b": "x"}"#, &["parameter `b`", "s32", "string \"x\""]),
        ("add", r#"{"a": 1}"#, &["missing parameter `b`", "s32"]),
        ("add", r#"{"a": 1, "b": 2, "c": 3}"#, &["unknown parameter `c`", "a: s32", "b: s32"]),
        ("add", r#"[1, 2]"#, &["JSON object keyed by parameter name", "a: s32"]),
        ("add", r#"{"a": 1.5, "b": 2}"#, &["parameter `a`", "s32"]),
        ("add", r#"{"a": 2147483648, "b": 2}"#, &["parameter `a`", "s32"]),
        ("add", r#"{"a": 1, "#, &["not JSON"]),
        (&kind_s("echo-u8"), r#"{"v": 256}"#, &["parameter `v`", "u8 (integer 0..=255)", "256"]),
        (&kind_s("echo-u8"), r#"{"v": -1}"#, &["parameter `v`", "u8"]),
        (&kind_s("echo-char"), r#"{"v": "ab"}"#, &["parameter `v`", "char"]),
        (&kind_s("echo-record"), r#"{"v": {"x": 1}}"#, &["parameter `v`", "record", "without `y`"]),
        (&kind_s("echo-record"), r#"{"v": {"x": 1, "y": true}}"#, &["parameter `v` at /y", "s32", "boolean"]),
        (&kind_s("echo-record"), r#"{"v": {"x": 1, "y": 2, "z": 3}}"#, &["parameter `v` at /z", "no such field"]),
        (&kind_s("echo-enum"), r#"{"v": "purple"}"#, &["parameter `v`", "\"red\", \"green\", \"blue\""]),
        (&kind_s("echo-flags"), r#"{"v": ["read", "fly"]}"#, &["parameter `v`", "flags"]),
        (&kind_s("echo-variant"), r#"{"v": {"circle": "big"}}"#, &["parameter `v` at /circle", "f64"]),
        (&kind_s("echo-variant"), r#"{"v": "circle"}"#, &["parameter `v`", "variant"]),
        (&kind_s("echo-tuple"), r#"{"v": ["a", 1]}"#, &["parameter `v`", "tuple of 3"]),
        (&kind_s("echo-nested-option"), r#"{"v": 3}"#, &["parameter `v`", "{\"some\": value}"]),
        (&kind_s("echo-results"), r#"{"v": [{"ok": 1, "err": "x"}]}"#, &["parameter `v` at /0", "result"]),
        (&kind_s("echo-deep"), r#"{"v": [[{"x": 1, "y": "2"}]]}"#, &["parameter `v` at /0/0/y", "s32"]),
        ("no-such-function", "{}", &["no exported function `no-such-function`", "add", "greet"]),
    ];
    for (func, args, wants) in cases {
        let out = call(None, func, args);
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{func} {args}: {e}");
        assert!(stdout(&out).is_empty(), "{func} {args} printed {}", stdout(&out));
        for w in *wants {
            assert!(e.contains(w), "{func} {args}: `{w}` not in: {e}");
        }
    }
}

fn kind_s(func: &str) -> String {
    kind(func)
}

#[test]
fn a_result_error_prints_the_error_as_json_and_exits_1() {
    let out = call(None, "fail", r#"{"code": 7}"#);
    assert_eq!(json_out(&out, 1), json!({"code": 7, "message": "failed with 7"}));
    // The twin: ok payloads print as themselves with exit 0.
    assert_eq!(json_out(&call(None, "add", r#"{"a": 2, "b": 3}"#), 0), json!(5));
}

#[test]
fn resources_are_refused_with_a_clear_error() {
    let out = call(None, &kind("make-counter"), r#"{"start": 1}"#);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("the result is a resource handle"), "{}", stderr(&out));
    let out = call(None, &kind("[method]counter.get"), r#"{"self": 1}"#);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("parameter `self` is a resource handle"), "{}", stderr(&out));
}

#[test]
fn a_file_read_the_policy_denies_fails_and_its_granted_twin_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("secret.txt"), "the secret").unwrap();
    std::fs::write(data.join("open.txt"), "open text").unwrap();
    let secret = data.join("secret.txt");
    let args = json!({ "path": secret }).to_string();

    let denying = policy_file(
        dir.path(),
        "deny.json",
        &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data], "deniedPaths": [secret]}}),
    );
    let out = call(Some(&denying), "read-file", &args);
    let err = json_out(&out, 1);
    assert!(err.as_str().unwrap().contains("ermission denied"), "{err}");
    assert!(!stdout(&out).contains("the secret"));
    assert!(stderr(&out).contains("1 access denied"), "{}", stderr(&out));

    // No policy grants nothing.
    let out = call(None, "read-file", &args);
    assert!(json_out(&out, 1).as_str().unwrap().contains("ermission denied"));

    let granting = policy_file(
        dir.path(),
        "grant.json",
        &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data]}}),
    );
    let out = call(Some(&granting), "read-file", &args);
    assert_eq!(json_out(&out, 0), json!("the secret"));
    // Under the denying policy, the other file in the same directory is readable.
    let out = call(Some(&denying), "read-file", &json!({ "path": data.join("open.txt") }).to_string());
    assert_eq!(json_out(&out, 0), json!("open text"));
}

#[test]
fn a_typed_call_is_audited_like_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "x").unwrap();
    let audit = dir.path().join("audit.jsonl");
    let data = dir.path().canonicalize().unwrap();
    let secret = data.join("secret.txt");
    let p = policy_file(
        &data,
        "p.json",
        &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data], "deniedPaths": [secret]}}),
    );
    let mut c = cordon();
    c.args(["call", "--policy"]).arg(&p).arg("--audit").arg(&audit).args([TYPED_WASIP2, "read-file"]);
    c.arg(json!({ "path": secret }).to_string());
    let out = run(c);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains("\"decision\":\"deny\"") && log.contains(secret.to_str().unwrap()), "{log}");
}

#[test]
fn a_typed_call_stops_at_the_timeout_and_the_cpu_limit() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = policy_file(dir.path(), "t.json", &json!({"version": "0.8.0-alpha", "process": {"timeout": 300}}));
    let started = Instant::now();
    let out = call(Some(&timeout), "spin", "{}");
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(stderr(&out).contains("process.timeout (300 ms)"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let cpu =
        policy_file(dir.path(), "c.json", &json!({"version": "0.8.0-alpha", "cordon": {"limits": {"cpuMs": 200}}}));
    let out = call(Some(&cpu), "spin", "{}");
    assert_eq!(out.status.code(), Some(152), "{}", stderr(&out));
    // The twin: a call that ends in time returns.
    assert_eq!(json_out(&call(Some(&timeout), "add", r#"{"a": 1, "b": 1}"#), 0), json!(2));
}

#[test]
fn a_typed_call_holds_the_memory_limit_and_the_output_cap() {
    let dir = tempfile::tempdir().unwrap();
    let limits = policy_file(
        dir.path(),
        "l.json",
        &json!({"version": "0.8.0-alpha", "cordon": {"limits": {"memoryBytes": 33554432, "maxOutputBytes": 1000}}}),
    );
    // 64 MiB past a 32 MiB limit: the guest's allocator is refused.
    let out = call(Some(&limits), "alloc", r#"{"bytes": 67108864}"#);
    assert_eq!(json_out(&out, 0), json!(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("cordon.limits.memoryBytes"), "{}", stderr(&out));
    // The twin: 1 MiB fits.
    assert_eq!(json_out(&call(Some(&limits), "alloc", r#"{"bytes": 1048576}"#), 0), json!(1048576));
    // The tool's own output goes to stderr, capped; the result alone is on stdout.
    let out = call(Some(&limits), "shout", r#"{"bytes": 100000}"#);
    assert_eq!(json_out(&out, 0), json!(100000));
    let e = stderr(&out);
    assert!(e.matches('x').count() <= 1000 + 10, "more than the cap reached stderr");
    assert!(e.contains("maxOutputBytes (1000 bytes); 99000 further bytes were discarded"), "{e}");
    // An argument larger than the memory limit cannot be forced into the guest: lowering a
    // 12 MiB string allocates in guest memory, which an 8 MiB limit refuses (a trap, not a
    // guest memory past the limit).
    let small = policy_file(
        dir.path(),
        "s.json",
        &json!({"version": "0.8.0-alpha", "cordon": {"limits": {"memoryBytes": 8388608}}}),
    );
    let big = "y".repeat(12 << 20);
    let args_file = dir.path().join("args.json");
    std::fs::write(&args_file, json!({ "v": big }).to_string()).unwrap();
    let mut c = cordon();
    c.args(["call", "--policy"]).arg(&small).args([TYPED_WASIP2, &kind("echo-string"), "-"]);
    c.stdin(std::fs::File::open(&args_file).unwrap());
    let out = run(c);
    assert_eq!(out.status.code(), Some(134), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    // A result is lifted into host values (each list element one `Val`): Wasmtime's bound on
    // data copied between host and guest stops a 10 MB list before the host holds ~40x it.
    let out = call(Some(&limits), "zeros", r#"{"n": 10000000}"#);
    assert_eq!(out.status.code(), Some(134), "{}", stderr(&out));
    assert!(stderr(&out).contains("too much data is being copied"), "{}", stderr(&out));
    // The twin: 100 000 bytes come back.
    assert_eq!(json_out(&call(Some(&limits), "zeros", r#"{"n": 100000}"#), 0).as_array().unwrap().len(), 100000);
}

#[test]
fn huge_or_deep_json_arguments_are_refused_before_the_call() {
    // Deeper than serde_json's recursion limit.
    let deep = format!("{{\"v\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("deep.json");
    std::fs::write(&f, &deep).unwrap();
    let mut c = cordon();
    c.args(["call", TYPED_WASIP2, &kind("echo-deep"), "-"]);
    c.stdin(std::fs::File::open(&f).unwrap());
    let out = run(c);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("recursion limit"), "{}", stderr(&out));
    // Past the 16 MiB bound on arguments.
    std::fs::write(&f, json!({ "v": "z".repeat(17 << 20) }).to_string()).unwrap();
    let mut c = cordon();
    c.args(["call", TYPED_WASIP2, &kind("echo-string"), "-"]);
    c.stdin(std::fs::File::open(&f).unwrap());
    let out = run(c);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bound"), "{}", stderr(&out));
    // The twin: 1 MiB of string goes through and back.
    std::fs::write(&f, json!({ "v": "z".repeat(1 << 20) }).to_string()).unwrap();
    let mut c = cordon();
    c.args(["call", TYPED_WASIP2, &kind("echo-string"), "-"]);
    c.stdin(std::fs::File::open(&f).unwrap());
    let out = run(c);
    assert_eq!(json_out(&out, 0).as_str().unwrap().len(), 1 << 20);
}

#[test]
fn a_typed_call_refuses_a_policy_asking_for_a_native_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_file(dir.path(), "p.json", &json!({"version": "0.8.0-alpha", "containment": "bubblewrap"}));
    let out = call(Some(&p), "add", r#"{"a": 1, "b": 1}"#);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("typed calls run only on the wasm backend"), "{}", stderr(&out));
    // The twin: `process` containment is the wasm backend here.
    let p = policy_file(dir.path(), "q.json", &json!({"version": "0.8.0-alpha", "containment": "process"}));
    assert_eq!(json_out(&call(Some(&p), "add", r#"{"a": 1, "b": 1}"#), 0), json!(2));
}

#[test]
fn a_typed_call_cannot_grant_itself_cordons_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = crate::support::cache_dir();
    std::fs::create_dir_all(&cache).unwrap();
    let p =
        policy_file(dir.path(), "p.json", &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [cache]}}));
    let out = call(Some(&p), "read-file", r#"{"path": "/x"}"#);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn tools_lists_every_export_with_schemas() {
    let mut c = cordon();
    c.args(["tools", TYPED_WASIP2]);
    let out = run(c);
    let v = json_out(&out, 0);
    assert_eq!(v["command"], json!(false));
    let funcs = v["functions"].as_array().unwrap();
    let by = |name: &str| funcs.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no {name} in {v}"));
    // Top level and inside the exported interface.
    let add = by("add");
    assert_eq!(add["interface"], Value::Null);
    assert_eq!(add["inputSchema"]["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(add["inputSchema"]["required"], json!(["a", "b"]));
    assert_eq!(add["inputSchema"]["properties"]["a"]["type"], "integer");
    assert_eq!(add["inputSchema"]["additionalProperties"], json!(false));
    assert_eq!(add["outputSchema"]["type"], "integer");
    let greet = by("greet");
    assert_eq!(greet["inputSchema"]["properties"]["tags"], json!({"type": "array", "items": {"type": "string"}}));
    assert_eq!(greet["inputSchema"]["properties"]["times"]["maximum"], json!(255));
    let rec = by(&kind("echo-record"));
    assert_eq!(rec["interface"], KINDS);
    assert_eq!(rec["function"], "echo-record");
    assert_eq!(rec["inputSchema"]["properties"]["v"]["required"], json!(["x", "y"]));
    let e = by(&kind("echo-enum"));
    assert_eq!(e["outputSchema"]["enum"], json!(["red", "green", "blue"]));
    let fail = by("fail");
    assert_eq!(fail["outputSchema"]["type"], "integer");
    assert_eq!(fail["errorSchema"]["required"], json!(["code", "message"]));
    let read = by("read-file");
    assert_eq!(read["outputSchema"]["type"], "string");
    assert_eq!(by("nothing")["outputSchema"]["type"], "null");
    assert!(by(&kind("make-counter"))["unsupported"].as_str().unwrap().contains("resource"));
    assert!(by(&kind("[constructor]counter"))["unsupported"].is_string());
    // Every kind function is listed.
    for f in ["echo-bool", "echo-f32", "echo-variant", "echo-flags", "echo-nested-option", "echo-results"] {
        assert!(by(&kind(f))["inputSchema"].is_object());
    }
    // A command lists its wasi:cli/run export and says it is a command.
    let mut c = cordon();
    c.args(["tools", PROBE_WASIP2]);
    let v = json_out(&run(c), 0);
    assert_eq!(v["command"], json!(true));
    assert!(v["functions"].as_array().unwrap().iter().any(|f| f["function"] == "run"), "{v}");
}

#[test]
fn schemas_accept_what_the_call_accepts() {
    // The schema of each kind, checked against the values that round-trip: the shapes the
    // schema states by hand must be the shapes the conversion takes.
    let mut c = cordon();
    c.args(["tools", TYPED_WASIP2]);
    let v = json_out(&run(c), 0);
    let funcs = v["functions"].as_array().unwrap();
    let schema =
        |f: &str| funcs.iter().find(|x| x["name"] == kind(f)).unwrap()["inputSchema"]["properties"]["v"].clone();
    assert_eq!(
        schema("echo-variant")["oneOf"],
        json!([
            {"type": "object", "properties": {"circle": {"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}], "description": "f64"}}, "required": ["circle"], "additionalProperties": false},
            {"type": "object", "properties": {"square": {"type": "object", "properties": {"x": {"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647, "description": "s32"}, "y": {"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647, "description": "s32"}}, "required": ["x", "y"], "additionalProperties": false}}, "required": ["square"], "additionalProperties": false},
            {"const": "empty"}
        ])
    );
    assert_eq!(
        schema("echo-flags"),
        json!({"type": "array", "items": {"enum": ["read", "write", "exec"]}, "uniqueItems": true})
    );
    assert_eq!(schema("echo-option")["anyOf"], json!([{"type": "null"}, {"type": "string"}]));
    assert_eq!(schema("echo-nested-option")["anyOf"][1]["required"], json!(["some"]));
    assert_eq!(schema("echo-tuple")["prefixItems"].as_array().unwrap().len(), 3);
    assert_eq!(schema("echo-tuple")["items"], json!(false));
    assert_eq!(schema("echo-char")["maxLength"], json!(1));
    assert_eq!(schema("echo-results")["items"]["oneOf"][1]["required"], json!(["err"]));
}

#[test]
fn cordon_run_refuses_a_component_without_wasi_cli_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_file(dir.path(), "p.json", &json!({"version": "0.8.0-alpha"}));
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).args(["--", TYPED_WASIP2]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not export wasi:cli/run"), "{}", stderr(&out));
}
