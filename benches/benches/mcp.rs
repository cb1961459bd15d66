//! `cordon mcp` and `cordon call` on a trivial typed export (`typed`'s `add`), issue #15's
//! "Speed":
//! - `tools/call` over stdio (a JSON-RPC request to a running `cordon mcp`, its answer read
//!   back) next to a direct library call of the same function plus the JSON encoding of an
//!   MCP result, in the same run (goal: p50 ≤ 1.3×);
//! - `tools/list` of 50 tools on a running server, and a server's start up to its first
//!   `tools/list` answer (goal: < 20 ms);
//! - `cordon call` with a warm compiled-code cache next to `wasmtime run --invoke` of the same
//!   function (goal: ≤ 0.5×), skipped with the reason when `wasmtime` 48 is not on PATH.
//!
//! Run: `cargo bench -p cordon-benches --bench mcp` (add `-- --quick` for a short run).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use cordon_runtime::api::{Runtime, TypedCall};
use cordon_tests::components::{PROBE_WASIP2, TYPED_WASIP2};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const CORDON: &str = env!("CARGO_BIN_EXE_cordon-bench");

/// A running `cordon mcp` on stdio, spoken to with newline-delimited JSON-RPC.
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    fn start(tools: &[String], cache: &Path) -> Self {
        let mut child = Command::new(CORDON)
            .arg("mcp")
            .args(tools)
            .env("CORDON_CACHE_DIR", cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CORDON}: {e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
        let stdout = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("stdout")));
        let mut s = Server { child, stdin, stdout, next_id: 0 };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}),
        );
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, msg: &Value) {
        let mut line = msg.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        self.stdin.flush().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Sends a request and reads lines up to its answer.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).unwrap_or_else(|e| panic!("{e}"));
            assert!(n > 0, "the server closed stdout");
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if v["id"] == json!(id) {
                return v;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("cordon-bench-mcp-{}", std::process::id()));
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let args = json!({"a": 2, "b": 3});

    let mut g = c.benchmark_group("mcp/tools-call add");
    // The direct call: the library, one engine, InstancePre, a fresh instance, and the JSON an
    // MCP result carries (structured `{"result": …}` and the text content).
    let runtime = Runtime::builder().no_cache().build().unwrap_or_else(|e| panic!("{e}"));
    let tool = runtime.load_file(Path::new(TYPED_WASIP2)).unwrap_or_else(|e| panic!("{e}"));
    let policy = cordon_policy::Policy::builder()
        .build(&cordon_policy::LexicalHost::default())
        .unwrap_or_else(|e| panic!("{e}"));
    // Planned once, as `cordon mcp` plans each tool once at start.
    let plan = cordon_plan::wasi::plan(&policy, &cordon_runtime::SystemFacts).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("direct library call + JSON encoding", |b| {
        b.iter(|| {
            let out = rt
                .block_on(tool.call_plan(&plan, TypedCall::new("add", args.clone())))
                .unwrap_or_else(|e| panic!("{e}"));
            let Some(cordon_runtime::wasm::typed::Returned::Ok(v)) = out.returned else {
                panic!("add returned nothing")
            };
            let text = v.to_string();
            json!({"content": [{"type": "text", "text": text}], "structuredContent": {"result": v}, "isError": false})
                .to_string()
        })
    });
    let mut server = Server::start(&[format!("--tool=typed={TYPED_WASIP2}")], &cache);
    let call = json!({"name": "typed.add", "arguments": args});
    let first = server.request("tools/call", call.clone());
    assert_eq!(first["result"]["structuredContent"], json!({"result": 5}), "{first}");
    g.bench_function("tools/call over stdio (cordon mcp)", |b| b.iter(|| server.request("tools/call", call.clone())));
    drop(server);
    g.finish();

    let mut g = c.benchmark_group("mcp/tools-list 50 tools");
    let fifty: Vec<String> = (0..50).map(|i| format!("--tool=p{i}={PROBE_WASIP2}")).collect();
    let mut server = Server::start(&fifty, &cache);
    let listed = server.request("tools/list", json!({}));
    assert_eq!(listed["result"]["tools"].as_array().map(Vec::len), Some(50), "{listed}");
    g.bench_function("tools/list on a running server", |b| b.iter(|| server.request("tools/list", json!({}))));
    drop(server);
    g.sample_size(10);
    g.bench_function("start, initialize, first tools/list (cache warm)", |b| {
        b.iter(|| {
            let mut s = Server::start(&fifty, &cache);
            s.request("tools/list", json!({}))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("cli/call add (cache warm)");
    g.sample_size(10);
    let cordon_call = || {
        let out = Command::new(CORDON)
            .args(["call", TYPED_WASIP2, "add", r#"{"a": 2, "b": 3}"#])
            .env("CORDON_CACHE_DIR", &cache)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
    };
    cordon_call();
    g.bench_function("cordon call", |b| b.iter(cordon_call));
    match wasmtime_48() {
        Some(wasmtime) => {
            let invoke = || {
                let out = Command::new(&wasmtime)
                    .args(["run", "--invoke", "add(2, 3)", TYPED_WASIP2])
                    .output()
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
            };
            invoke();
            g.bench_function("wasmtime run --invoke (baseline)", |b| b.iter(invoke));
        }
        None => eprintln!(
            "skipping `wasmtime run --invoke`: no wasmtime 48 on PATH (benches/compare.sh installs \
             wasmtime-cli 48 into target/bench-tools; put its bin/ on PATH)"
        ),
    }
    g.finish();

    let _ = std::fs::remove_dir_all(&dir);
}

/// `wasmtime` on PATH when it is version 48.
fn wasmtime_48() -> Option<PathBuf> {
    let out = Command::new("wasmtime").arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).starts_with("wasmtime 48.").then(|| PathBuf::from("wasmtime"))
}

criterion_group!(benches, bench);
criterion_main!(benches);
