//! `cordon mcp` driven by a real MCP client: the official Python SDK (`mcp` from PyPI, in
//! the venv `tests/setup.sh` makes). Tests that need it skip with a reason when it is
//! absent, and fail when `CORDON_REQUIRE_ALL` is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cordon_tests::components::{PROBE_WASIP2, TYPED_WASIP2};
use serde_json::{Value, json};

use crate::support::{cache_dir, cordon, cordon_exe, require, root, run, stderr};

/// The venv's python, when it has the `mcp` package.
pub(crate) fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("CORDON_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/cordon-tests/venv")
    });
    let py = venv.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import mcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let what = format!("the MCP Python SDK is not installed in {} (run tests/setup.sh)", venv.display());
    require(ok, &what).then_some(py)
}

/// Runs the client with `plan` against `cordon mcp ARGS`; its JSON report.
pub(crate) fn drive(py: &Path, server_args: &[String], steps: Value) -> Value {
    drive_with_cache(py, server_args, steps, &cache_dir())
}

/// [`drive`] with the server's compiled-code cache in `cache`.
pub(crate) fn drive_with_cache(py: &Path, server_args: &[String], steps: Value, cache: &Path) -> Value {
    let mut server = vec![cordon_exe().display().to_string(), "mcp".to_string()];
    server.extend(server_args.iter().cloned());
    let plan = json!({ "server": server, "steps": steps });
    let mut c = Command::new(py);
    c.arg(root().join("tests/mcp/client.py"));
    c.env("CORDON_CACHE_DIR", cache);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(plan.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "client failed: {}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("client output ({e}): {}", stderr(&out)))
}

fn policy_file(dir: &Path, name: &str, policy: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, policy.to_string()).unwrap();
    p
}

fn tool_arg(name: &str, wasm: &str, policy: Option<&Path>) -> String {
    match policy {
        Some(p) => format!("--tool={name}={wasm}:{}", p.display()),
        None => format!("--tool={name}={wasm}"),
    }
}

fn text(r: &Value) -> String {
    r["text"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect::<Vec<_>>().join("\n")
}

#[test]
fn mcp_client_lists_typed_exports_with_schemas_and_calls_them() {
    let Some(py) = python() else { return };
    let steps = json!([
        {"call": "typed.add", "args": {"a": 2, "b": 3}},
        {"call": "typed.kinds.echo-variant", "args": {"v": {"square": {"x": 1, "y": 2}}}},
        {"call": "typed.kinds.echo-flags", "args": {"v": ["write"]}},
        {"call": "typed.greet", "args": {"name": "mcp", "times": 1, "tags": []}},
        {"call": "typed.add", "args": {"a": 2, "b": "three"}},
        {"call": "typed.add", "args": {"a": 2, "b": 3, "c": 4}},
        {"call": "typed.fail", "args": {"code": 9}},
        {"call": "no.such.tool", "args": {}},
        {"call": "typed.nothing", "args": {}},
        {"call": "typed.shout", "args": {"bytes": 100000}},
        {"call": "typed.add", "args": {"a": 0, "b": 0}},
    ]);
    let report = drive(&py, &[tool_arg("typed", TYPED_WASIP2, None)], steps);
    assert_eq!(report["serverName"], "cordon");
    assert!(report["protocolVersion"].as_str().is_some_and(|v| !v.is_empty()), "{report}");
    let tools = report["tools"].as_array().unwrap();
    let by = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap_or_else(|| panic!("no {n}: {report}"));
    let add = by("typed.add");
    assert_eq!(add["inputSchema"]["properties"]["a"]["type"], "integer");
    assert_eq!(add["inputSchema"]["required"], json!(["a", "b"]));
    assert_eq!(add["outputSchema"]["properties"]["result"]["type"], "integer");
    let rec = by("typed.kinds.echo-record");
    assert_eq!(rec["inputSchema"]["properties"]["v"]["required"], json!(["x", "y"]));
    assert!(by("typed.read-file")["description"].as_str().unwrap().contains("read-file"));
    // Functions JSON cannot call (resources) are not listed.
    assert!(!tools.iter().any(|t| t["name"].as_str().unwrap().contains("counter")), "{report}");

    let r = &report["results"];
    assert_eq!(r[0]["isError"], json!(false), "{}", r[0]);
    assert_eq!(r[0]["structured"], json!({"result": 5}));
    assert_eq!(r[1]["structured"], json!({"result": {"square": {"x": 1, "y": 2}}}));
    assert_eq!(r[2]["structured"], json!({"result": ["write"]}));
    assert_eq!(r[3]["structured"], json!({"result": "hello mcp"}));
    // Bad arguments are tool errors naming the parameter, not protocol errors.
    assert_eq!(r[4]["isError"], json!(true));
    assert!(text(&r[4]).contains("parameter `b`") && text(&r[4]).contains("s32"), "{}", r[4]);
    assert_eq!(r[5]["isError"], json!(true));
    assert!(text(&r[5]).contains("unknown parameter `c`"), "{}", r[5]);
    // A result error is isError with E as JSON.
    assert_eq!(r[6]["isError"], json!(true));
    assert_eq!(serde_json::from_str::<Value>(&text(&r[6])).unwrap(), json!({"code": 9, "message": "failed with 9"}));
    assert!(r[7]["protocolError"].as_str().unwrap().contains("no tool named"), "{}", r[7]);
    // The server kept serving after all of that.
    assert_eq!(r[8]["structured"], json!({"result": null}));
    // What a tool prints is captured, never written into the protocol stream on stdout.
    assert_eq!(r[9]["structured"], json!({"result": 100000}), "{}", r[9]);
    assert_eq!(r[10]["structured"], json!({"result": 0}), "{}", r[10]);
}

#[test]
fn mcp_denied_read_is_an_error_with_cordons_message_and_the_granted_twin_succeeds() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap().join("data");
    std::fs::create_dir(&data).unwrap();
    let secret = data.join("secret.txt");
    std::fs::write(&secret, "mcp secret").unwrap();
    let deny = policy_file(
        dir.path(),
        "deny.json",
        &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data], "deniedPaths": [secret]}}),
    );
    let grant = policy_file(
        dir.path(),
        "grant.json",
        &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data]}}),
    );
    let audit = dir.path().join("audit.jsonl");
    let args = json!({"path": secret});
    let steps = json!([
        {"call": "locked.read-file", "args": args},
        {"call": "open.read-file", "args": args},
    ]);
    let server = [
        tool_arg("locked", TYPED_WASIP2, Some(&deny)),
        tool_arg("open", TYPED_WASIP2, Some(&grant)),
        format!("--audit={}", audit.display()),
    ];
    let report = drive(&py, &server, steps);
    let r = &report["results"];
    assert_eq!(r[0]["isError"], json!(true), "{}", r[0]);
    let t = text(&r[0]);
    assert!(t.contains("ermission denied"), "{t}");
    assert!(t.contains(&format!("cordon: denied open-at {}", secret.display())), "{t}");
    assert!(t.contains("/filesystem/deniedPaths/0"), "{t}");
    assert!(!t.contains("mcp secret"));
    assert_eq!(r[1]["isError"], json!(false), "{}", r[1]);
    assert_eq!(r[1]["structured"], json!({"result": "mcp secret"}));
    // The denial is audited with the MCP tool and the call id.
    let log = std::fs::read_to_string(&audit).unwrap();
    let events: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let denial =
        events.iter().find(|e| e["decision"] == "deny" && e["kind"] == "fs").unwrap_or_else(|| panic!("{log}"));
    assert_eq!(denial["tool"], "locked.read-file");
    assert!(denial["callId"].is_string(), "{denial}");
    assert_eq!(denial["target"], secret.display().to_string());
}

#[test]
fn mcp_call_past_its_timeout_is_an_error_and_the_next_call_is_served() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = policy_file(
        dir.path(),
        "t.json",
        &json!({"version": "0.8.0-alpha", "process": {"timeout": 300}, "cordon": {"limits": {"memoryBytes": 33554432}}}),
    );
    let steps = json!([
        {"call": "t.spin", "args": {}},
        {"call": "t.add", "args": {"a": 1, "b": 1}},
        {"call": "t.alloc", "args": {"bytes": 67108864}},
        {"call": "t.add", "args": {"a": 2, "b": 2}},
    ]);
    let report = drive(&py, &[tool_arg("t", TYPED_WASIP2, Some(&p))], steps);
    let r = &report["results"];
    assert_eq!(r[0]["isError"], json!(true), "{}", r[0]);
    assert!(text(&r[0]).contains("after process.timeout (300 ms)"), "{}", r[0]);
    assert_eq!(r[1]["structured"], json!({"result": 2}));
    // Over the memory limit the guest's allocation is refused; cordon says so.
    assert!(text(&r[2]).contains("cordon.limits.memoryBytes"), "{}", r[2]);
    assert_eq!(r[3]["structured"], json!({"result": 4}));
}

#[test]
fn mcp_hundred_concurrent_calls_are_all_answered_correctly() {
    let Some(py) = python() else { return };
    let calls: Vec<Value> = (0..100).map(|i| json!({"call": "c.add", "args": {"a": i, "b": 1000}})).collect();
    let steps = json!([{ "parallel": calls }]);
    let started = std::time::Instant::now();
    let report = drive(&py, &[tool_arg("c", TYPED_WASIP2, None), "--max-in-flight=4".into()], steps);
    eprintln!("100 concurrent calls with 4 in flight, client start to end: {:?}", started.elapsed());
    let results = report["results"][0].as_array().unwrap();
    assert_eq!(results.len(), 100);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["structured"], json!({"result": i + 1000}), "call {i}: {r}");
    }
}

#[test]
fn mcp_calls_past_the_in_flight_bound_wait_for_a_slot() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = policy_file(dir.path(), "t.json", &json!({"version": "0.8.0-alpha", "process": {"timeout": 300}}));
    // Eight calls that each run until their 300 ms timeout.
    let spins: Vec<Value> = (0..8).map(|_| json!({"call": "s.spin", "args": {}})).collect();
    let steps = json!([{ "parallel": spins }, {"call": "s.add", "args": {"a": 1, "b": 2}}]);
    let bounded = drive(&py, &[tool_arg("s", TYPED_WASIP2, Some(&p)), "--max-in-flight=1".into()], steps.clone());
    let open = drive(&py, &[tool_arg("s", TYPED_WASIP2, Some(&p)), "--max-in-flight=8".into()], steps);
    let count = |report: &Value, what: &str| {
        report["results"][0]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["isError"] == json!(true) && text(r).contains(what))
            .count()
    };
    // All eight in flight: each ran until its timeout.
    assert_eq!(count(&open, "after process.timeout"), 8, "{}", open["results"]);
    // One in flight: the first ran until its timeout; a call that waited its whole 300 ms
    // for the slot is answered "busy" (nothing ran), never a trap. Every call is answered.
    let (ran, busy) = (count(&bounded, "after process.timeout"), count(&bounded, "busy: waited"));
    assert!(ran >= 1 && busy >= 1 && ran + busy == 8, "ran {ran}, busy {busy}: {}", bounded["results"]);
    for report in [&bounded, &open] {
        // Waiting is back-pressure, not a failure: the next call is served.
        assert_eq!(report["results"][1]["structured"], json!({"result": 3}));
    }
}

#[test]
fn mcp_a_cancelled_call_frees_its_slot() {
    let Some(py) = python() else { return };
    // No timeout in the policy: the spin would run forever and hold the only slot.
    let steps = json!([
        {"call": "s.spin", "args": {}, "timeout": 1},
        {"call": "s.add", "args": {"a": 4, "b": 5}, "timeout": 20},
    ]);
    let report = drive(&py, &[tool_arg("s", TYPED_WASIP2, None), "--max-in-flight=1".into()], steps);
    let r = &report["results"];
    assert!(r[0]["protocolError"].is_string(), "the spin was answered: {}", r[0]);
    assert_eq!(r[1]["structured"], json!({"result": 9}), "{}", r[1]);
}

#[test]
fn mcp_serves_a_command_component_with_args_and_stdin() {
    let Some(py) = python() else { return };
    let steps = json!([
        {"call": "probe", "args": {"args": ["stdin", "+", "exit", "3"], "stdin": "from the client"}},
        {"call": "probe", "args": {"args": ["print", "hi"]}},
        {"call": "probe", "args": {"args": [1, 2]}},
        {"call": "probe", "args": {"argv": ["x"]}},
        {"call": "probe", "args": {"args": ["read", "/etc/passwd"]}},
    ]);
    let report = drive(&py, &[tool_arg("probe", PROBE_WASIP2, None)], steps);
    let tools = report["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "{report}");
    assert_eq!(tools[0]["inputSchema"]["properties"]["args"]["type"], "array");
    let r = &report["results"];
    assert_eq!(r[0]["structured"]["exitCode"], json!(3), "{}", r[0]);
    assert!(r[0]["structured"]["stdout"].as_str().unwrap().contains("from the client"), "{}", r[0]);
    assert_eq!(r[0]["isError"], json!(true));
    assert_eq!(r[1]["structured"]["exitCode"], json!(0), "{}", r[1]);
    assert_eq!(r[1]["isError"], json!(false));
    // Arguments are argv words, never a shell line; anything else is refused.
    assert!(text(&r[2]).contains("parameter `args` at /0: expected string"), "{}", r[2]);
    assert!(text(&r[3]).contains("unknown parameter `argv`"), "{}", r[3]);
    // Granted nothing: the read is denied, and cordon says so.
    let t = r[4]["structured"]["stdout"].as_str().unwrap();
    assert!(t.contains("\"error\":\"denied\""), "{}", r[4]);
    assert!(text(&r[4]).contains("cordon: denied"), "{}", r[4]);
}

#[test]
fn mcp_manifest_serves_tools_with_file_and_inline_policies() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f.txt"), "manifest file").unwrap();
    policy_file(dir.path(), "p.json", &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data]}}));
    let manifest = dir.path().join("tools.json");
    std::fs::write(
        &manifest,
        json!({"tools": [
            {"name": "filed", "path": TYPED_WASIP2, "policy": "p.json", "description": "Typed tool."},
            {"name": "inline", "path": TYPED_WASIP2,
             "policy": {"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data], "deniedPaths": [data.join("f.txt")]}}},
            {"name": "bare", "path": TYPED_WASIP2}
        ]})
        .to_string(),
    )
    .unwrap();
    let args = json!({"path": data.join("f.txt")});
    let steps = json!([
        {"call": "filed.read-file", "args": args},
        {"call": "inline.read-file", "args": args},
        {"call": "bare.read-file", "args": args},
    ]);
    let report = drive(&py, &[format!("--manifest={}", manifest.display())], steps);
    let filed = report["tools"].as_array().unwrap().iter().find(|t| t["name"] == "filed.add").unwrap().clone();
    assert!(filed["description"].as_str().unwrap().starts_with("Typed tool."), "{filed}");
    let r = &report["results"];
    assert_eq!(r[0]["structured"], json!({"result": "manifest file"}), "{}", r[0]);
    assert_eq!(r[1]["isError"], json!(true), "{}", r[1]);
    assert!(text(&r[1]).contains("/filesystem/deniedPaths/0"), "{}", r[1]);
    assert_eq!(r[2]["isError"], json!(true), "{}", r[2]);
}

/// A native command from the manifest is a tool too: each call runs it on this host's native
/// backend under its policy, its `args` after the command and `stdin` fed to it, the output
/// captured; a read the policy denies fails inside the sandbox (its twin under a granting
/// policy succeeds), a refused connection comes back with cordon's line naming the rule, and
/// a call past its timeout is answered `isError` while the next is served.
#[test]
fn mcp_serves_native_command_tools_under_their_policies() {
    let Some(py) = python() else { return };
    if !std::path::Path::new("/usr/bin/bwrap").exists() {
        assert!(std::env::var_os("CORDON_REQUIRE_ALL").is_none(), "bubblewrap is missing");
        eprintln!("skipped: bubblewrap is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f.txt"), "native file").unwrap();
    std::fs::write(data.join("secret.txt"), "secret").unwrap();
    let manifest = dir.path().join("tools.json");
    let grant = json!({"version": "0.8.0-alpha", "process": {"timeout": 20000},
        "filesystem": {"readonlyPaths": [data], "deniedPaths": [data.join("secret.txt")]}});
    let open =
        json!({"version": "0.8.0-alpha", "process": {"timeout": 20000}, "filesystem": {"readonlyPaths": [data]}});
    std::fs::write(
        &manifest,
        json!({"tools": [
            {"name": "cat", "command": ["/bin/cat"], "policy": grant, "description": "Reads files."},
            {"name": "cat-open", "command": ["/bin/cat"], "policy": open},
            {"name": "net", "command": ["/usr/bin/python3", "-c",
                "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=5)\nexcept OSError as e:\n    print('refused', e.errno)"],
             "policy": {"version": "0.8.0-alpha", "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}]}]}}}},
            {"name": "slow", "command": ["/bin/sleep", "5"], "policy": {"version": "0.8.0-alpha", "process": {"timeout": 300}}}
        ]})
        .to_string(),
    )
    .unwrap();
    let steps = json!([
        {"call": "cat", "args": {"args": [data.join("f.txt")]}},
        {"call": "cat", "args": {"args": [data.join("secret.txt")]}},
        {"call": "cat-open", "args": {"args": [data.join("secret.txt")]}},
        {"call": "cat", "args": {"stdin": "from stdin"}},
        {"call": "net", "args": {}},
        {"call": "slow", "args": {}},
        {"call": "cat", "args": {"args": [data.join("f.txt")]}},
    ]);
    let report = drive(&py, &[format!("--manifest={}", manifest.display())], steps);
    let tools = report["tools"].as_array().unwrap();
    let cat = tools.iter().find(|t| t["name"] == "cat").unwrap();
    assert_eq!(cat["description"], "Reads files.");
    assert!(
        cat["inputSchema"]["properties"]["args"].is_object() && cat["outputSchema"]["required"].is_array(),
        "{cat}"
    );
    let r = &report["results"];
    assert_eq!(r[0]["structured"], json!({"stdout": "native file", "stderr": "", "exitCode": 0}), "{}", r[0]);
    // Denied inside the sandbox: cat fails; the twin under a policy granting it reads it.
    assert_eq!(r[1]["isError"], json!(true), "{}", r[1]);
    assert_ne!(r[1]["structured"]["exitCode"], json!(0), "{}", r[1]);
    assert!(!text(&r[1]).contains("secret\""), "{}", r[1]);
    assert_eq!(r[2]["structured"]["stdout"], "secret", "{}", r[2]);
    assert_eq!(r[3]["structured"]["stdout"], "from stdin", "{}", r[3]);
    assert!(r[4]["structured"]["stdout"].as_str().unwrap().contains("refused 111"), "{}", r[4]);
    assert!(text(&r[4]).contains("192.0.2.1:80") && text(&r[4]).contains("/network/egress/default"), "{}", r[4]);
    assert_eq!(r[5]["isError"], json!(true), "{}", r[5]);
    assert_eq!(r[5]["structured"]["exitCode"], json!(124), "{}", r[5]);
    assert_eq!(r[6]["structured"]["stdout"], "native file", "the server keeps serving: {}", r[6]);
}

/// `cordon mcp` with a bad manifest or tool exits 125 before serving, naming the problem.
fn refused(args: &[&str], wants: &[&str]) {
    let mut c = cordon();
    c.arg("mcp").args(args);
    let out = run(c);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{args:?}: {e}");
    for w in wants {
        assert!(e.contains(w), "{args:?}: `{w}` not in {e}");
    }
}

#[test]
fn mcp_refuses_bad_manifests_and_tools_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let m = |name: &str, v: Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };
    let unknown = m("u.json", json!({"tools": [{"name": "a", "path": TYPED_WASIP2, "polcy": "x"}]}));
    refused(&["--manifest", &unknown], &["u.json", "/tools/0", "unknown field `polcy`"]);
    let neither = m("n.json", json!({"tools": [{"name": "a"}]}));
    refused(&["--manifest", &neither], &["/tools/0", "give `path`"]);
    let empty = m("c.json", json!({"tools": [{"name": "a", "command": []}]}));
    refused(&["--manifest", &empty], &["/tools/0/command", "empty"]);
    let wasm_as_command = m("w.json", json!({"tools": [{"name": "a", "command": [TYPED_WASIP2]}]}));
    refused(&["--manifest", &wasm_as_command], &["tool `a`", "given as `path`"]);
    let badpol = m(
        "b.json",
        json!({"tools": [{"name": "a", "path": TYPED_WASIP2, "policy": {"filesystem": {"readonlyPaths": ["rel"]}}}]}),
    );
    refused(&["--manifest", &badpol], &["/tools/0/policy", "rel"]);
    let dup = m("d.json", json!({"tools": [{"name": "a", "path": TYPED_WASIP2}, {"name": "a", "path": TYPED_WASIP2}]}));
    refused(&["--manifest", &dup], &["two tools are both named `a.add`"]);
    refused(&[&tool_arg("a b", TYPED_WASIP2, None)], &["a tool name may hold only"]);
    refused(&["--tool", "noequals"], &["no `=`"]);
    refused(&[], &["no tools"]);
    refused(&[&tool_arg("a", TYPED_WASIP2, None), "--max-in-flight=0"], &["at least 1"]);
    // A grant that reaches cordon's compiled-code cache is refused for the tool.
    std::fs::create_dir_all(cache_dir()).unwrap();
    let p = dir.path().join("cache.json");
    std::fs::write(&p, json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [cache_dir()]}}).to_string())
        .unwrap();
    let mut c = cordon();
    c.arg("mcp").arg(tool_arg("a", TYPED_WASIP2, Some(&p)));
    let out = run(c);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}

#[test]
fn mcp_manifest_schema_file_is_valid_json_and_names_every_field() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("runtime/schema/mcp-manifest.schema.json")).unwrap())
            .unwrap();
    let props = schema["$defs"]["tool"]["properties"].as_object().unwrap();
    for f in ["name", "path", "command", "policy", "description"] {
        assert!(props.contains_key(f), "{f} missing from the manifest schema");
    }
    let doc = std::fs::read_to_string(root().join("docs/tool-authors.md")).unwrap();
    assert!(doc.contains("mcp-manifest.schema.json"), "docs/tool-authors.md does not point at the schema");
}

/// `cordon mcp --http ARGS…` started in the background; killed when dropped.
struct HttpServer {
    child: std::process::Child,
    url: String,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server and waits for the line naming its URL.
fn http_server(args: &[String]) -> Result<HttpServer, String> {
    use std::io::BufRead as _;
    let mut c = Command::new(cordon_exe());
    c.arg("mcp").args(args).env("CORDON_CACHE_DIR", cache_dir());
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("cordon: serving MCP on ") {
            let url = url.to_string();
            // Keep draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(HttpServer { child, url });
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    Err(format!("exited {status}: {seen}"))
}

fn drive_http(py: &Path, url: &str, steps: Value) -> Value {
    let plan = json!({ "url": url, "steps": steps });
    let mut c = Command::new(py);
    c.arg(root().join("tests/mcp/client.py"));
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(plan.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "client failed: {}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn mcp_over_streamable_http_lists_calls_denies_times_out_and_serves_many() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap().join("data");
    std::fs::create_dir(&data).unwrap();
    let secret = data.join("secret.txt");
    std::fs::write(&secret, "http secret").unwrap();
    let deny = policy_file(
        dir.path(),
        "deny.json",
        &json!({"version": "0.8.0-alpha", "process": {"timeout": 300},
                "filesystem": {"readonlyPaths": [data], "deniedPaths": [secret]}}),
    );
    let grant = policy_file(
        dir.path(),
        "grant.json",
        &json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data]}}),
    );
    let server = http_server(&[
        "--http=0".into(),
        tool_arg("locked", TYPED_WASIP2, Some(&deny)),
        tool_arg("open", TYPED_WASIP2, Some(&grant)),
    ])
    .unwrap();
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    let calls: Vec<Value> = (0..100).map(|i| json!({"call": "open.add", "args": {"a": i, "b": 7}})).collect();
    let args = json!({"path": secret});
    let steps = json!([
        {"call": "open.add", "args": {"a": 20, "b": 22}},
        {"call": "locked.read-file", "args": args},
        {"call": "open.read-file", "args": args},
        {"call": "locked.spin", "args": {}},
        {"call": "locked.add", "args": {"a": 1, "b": 1}},
        {"parallel": calls},
    ]);
    let report = drive_http(&py, &server.url, steps);
    assert_eq!(report["serverName"], "cordon");
    let tools = report["tools"].as_array().unwrap();
    let add = tools.iter().find(|t| t["name"] == "open.add").unwrap();
    assert_eq!(add["inputSchema"]["required"], json!(["a", "b"]));
    let r = &report["results"];
    assert_eq!(r[0]["structured"], json!({"result": 42}), "{}", r[0]);
    assert_eq!(r[1]["isError"], json!(true));
    assert!(text(&r[1]).contains("/filesystem/deniedPaths/0"), "{}", r[1]);
    assert_eq!(r[2]["structured"], json!({"result": "http secret"}), "{}", r[2]);
    assert_eq!(r[3]["isError"], json!(true));
    assert!(text(&r[3]).contains("process.timeout (300 ms)"), "{}", r[3]);
    assert_eq!(r[4]["structured"], json!({"result": 2}));
    let many = r[5].as_array().unwrap();
    assert_eq!(many.len(), 100);
    for (i, m) in many.iter().enumerate() {
        assert_eq!(m["structured"], json!({"result": i + 7}), "call {i}: {m}");
    }
}

#[test]
fn mcp_http_refuses_non_loopback_without_the_flag_and_foreign_hosts() {
    // Refused before serving...
    refused(&["--http=0.0.0.0:0", &tool_arg("a", TYPED_WASIP2, None)], &["not a loopback address", "--allow-remote"]);
    refused(&["--http=nonsense", &tool_arg("a", TYPED_WASIP2, None)], &["expected PORT or IP:PORT"]);
    // ...and served with the flag (the twin).
    let remote = http_server(&["--http=0.0.0.0:0".into(), "--allow-remote".into(), tool_arg("a", TYPED_WASIP2, None)]);
    assert!(remote.is_ok(), "{:?}", remote.err());
    drop(remote);
    // A request whose Host is not loopback (DNS rebinding) is refused; loopback is served.
    let server = http_server(&["--http=0".into(), tool_arg("a", TYPED_WASIP2, None)]).unwrap();
    let addr = server.url.trim_start_matches("http://").trim_end_matches("/mcp").to_string();
    let post = |host: &str| {
        use std::io::{Read as _, Write as _};
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string()
    };
    let foreign = post("attacker.example");
    assert!(!foreign.contains(" 200 "), "a foreign Host was served: {foreign}");
    let local = post(&addr);
    assert!(local.contains(" 200 "), "loopback Host refused: {local}");
}
