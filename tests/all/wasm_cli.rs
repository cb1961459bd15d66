//! `cordon run` with wasm tools, end to end: the search tool, exit codes, limits, errors.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use cordon_tests::components::{PROBE_WASIP2, SEARCH_WASIP2};

use crate::support::{cordon, root, run, stderr, stdout};

fn policy_file(dir: &Path, json: &str) -> std::path::PathBuf {
    let p = dir.join("policy.json");
    std::fs::write(&p, json).unwrap();
    p
}

fn run_with(policy: &Path, tool: &str, args: &[&str]) -> Output {
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(policy).arg("--").arg(tool).args(args);
    run(c)
}

#[test]
fn search_tool_finds_matches_in_sources_and_none_under_git() {
    let repo = root();
    let git = repo.join(".git");
    // A `git worktree` checkout has a `.git` file pointing elsewhere, not the directory.
    let what = format!("{} is not a directory (a git worktree?); this test needs a plain clone", git.display());
    if !crate::support::require(git.is_dir(), &what) {
        return;
    }
    // `.git/config` always holds this word, and so does this file: a match under .git
    // would be found if .git were readable.
    let needle = "repositoryformatversion";
    assert!(std::fs::read_to_string(git.join("config")).unwrap().contains(needle));
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        &serde_json::json!({
            "version": "0.8.0-alpha",
            "filesystem": {
                "readonlyPaths": [repo],
                "deniedPaths": [git, repo.join("target"), repo.join("components/target")]
            }
        })
        .to_string(),
    );
    let out = run_with(&policy, SEARCH_WASIP2, &[needle, repo.to_str().unwrap()]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert!(o.lines().any(|l| l.contains("tests/all/wasm_cli.rs:")), "no match in sources:\n{o}");
    assert!(!o.contains("/.git/"), "matched under .git:\n{o}");
    assert!(e.contains(&format!("cannot read {}: permission denied", git.display())), "{e}");

    // The twin: with .git granted, the same search finds the match in .git/config.
    let granted = policy_file(
        dir.path(),
        &serde_json::json!({
            "version": "0.8.0-alpha",
            "filesystem": { "readonlyPaths": [git] }
        })
        .to_string(),
    );
    let out = run_with(&granted, SEARCH_WASIP2, &[needle, git.to_str().unwrap()]);
    assert!(stdout(&out).contains("/.git/config:"), "{}", stdout(&out));
}

#[test]
fn search_tool_exit_codes_follow_grep() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "alpha\nbeta\n").unwrap();
    let d = dir.path().to_str().unwrap();
    let policy = policy_file(dir.path(), &format!(r#"{{"filesystem":{{"readonlyPaths":["{d}"]}}}}"#));
    let found = run_with(&policy, SEARCH_WASIP2, &["-i", "BETA", d]);
    assert_eq!(found.status.code(), Some(0));
    assert!(stdout(&found).contains("a.txt:2:beta"), "{}", stdout(&found));
    assert_eq!(run_with(&policy, SEARCH_WASIP2, &["gamma", d]).status.code(), Some(1));
    assert_eq!(run_with(&policy, SEARCH_WASIP2, &["gamma", "/etc"]).status.code(), Some(2));
    assert_eq!(run_with(&policy, SEARCH_WASIP2, &["("]).status.code(), Some(64));
}

#[test]
fn infinite_loop_under_one_second_timeout_exits_124() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), r#"{"process":{"timeout":1000}}"#);
    let start = Instant::now();
    let out = run_with(&policy, PROBE_WASIP2, &["spin"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(stderr(&out).contains("process.timeout (1000 ms)"));
    // A guard against a hang, not a speed test: the run must end on its own.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    eprintln!("timeout run took {took:?}");
}

#[test]
fn memory_bomb_fails_inside_the_tool_and_cordon_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), r#"{"cordon":{"limits":{"memoryBytes":16777216}}}"#);
    let out = run_with(&policy, PROBE_WASIP2, &["alloc", "1073741824", "+", "exit", "3"]);
    assert_eq!(out.status.code(), Some(3), "cordon must survive and pass the tool's own code");
    assert!(stdout(&out).contains("\"error\":\"out-of-memory\""), "{}", stdout(&out));
    assert!(stderr(&out).contains("memoryBytes"), "{}", stderr(&out));
    let free = policy_file(dir.path(), r#"{}"#);
    let out = run_with(&free, PROBE_WASIP2, &["alloc", "67108864"]);
    assert!(stdout(&out).contains("\"ok\":true"), "the same allocation succeeds without the limit");
}

#[test]
fn mxc_config_runs_its_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::write(d.join("in.txt"), "from config").unwrap();
    let cfg = serde_json::json!({
        "version": "0.8.0-alpha",
        "process": { "commandLine": format!("{PROBE_WASIP2} read '{}' + exit 5", d.join("in.txt").display()) },
        "filesystem": { "readonlyPaths": [d] }
    });
    let file = policy_file(&d, &cfg.to_string());
    let mut c = cordon();
    c.arg("run").arg(&file);
    let out = run(c);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stdout(&out).contains("from config"));
}

#[test]
fn shell_syntax_in_command_line_is_refused_for_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({ "process": { "commandLine": format!("{PROBE_WASIP2} read /x | cat") } });
    let file = policy_file(dir.path(), &cfg.to_string());
    let mut c = cordon();
    c.arg("run").arg(&file);
    let out = run(c);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("process.commandLine") && stderr(&out).contains("needs a shell"), "{}", stderr(&out));
}

#[test]
fn tool_errors_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), "{}");
    // 127: not there.
    let out = run_with(&policy, "/nonexistent/tool.wasm", &[]);
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("/nonexistent/tool.wasm"));
    // 126: wasm magic, garbage after it.
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0garbage").unwrap();
    let out = run_with(&policy, bad.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.wasm"));
    // Wasm by bytes, not by name: the probe under another name runs.
    let renamed = dir.path().join("tool.bin");
    std::fs::copy(PROBE_WASIP2, &renamed).unwrap();
    assert_eq!(run_with(&policy, renamed.to_str().unwrap(), &["exit", "4"]).status.code(), Some(4));
    // Not wasm: it goes to the native backend (a `.wasm` name that is not wasm is refused:
    // cli::a_file_named_wasm_that_is_not_webassembly_never_runs_natively).
    let script = dir.path().join("tool.sh");
    std::fs::write(&script, "#!/bin/sh\necho native fallback\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_with(&policy, script.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "native fallback\n");
}

#[test]
fn missing_granted_path_is_refused_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), r#"{"filesystem":{"readonlyPaths":["/nonexistent/cordon-grant"]}}"#);
    let out = run_with(&policy, PROBE_WASIP2, &["exit", "0"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("/filesystem/readonlyPaths/0"), "{}", stderr(&out));
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let policy = policy_file(&d, &format!(r#"{{"filesystem":{{"readwritePaths":["{}"]}}}}"#, d.display()));
    let mut c = cordon();
    c.args(["run", "--dry-run", "--policy"]).arg(&policy).arg("--").arg(PROBE_WASIP2).args([
        "write",
        d.join("x").to_str().unwrap(),
        "y",
    ]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("preopen"), "{}", stdout(&out));
    assert!(!d.join("x").exists());
}

#[test]
fn debug_lists_refused_accesses_with_their_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::create_dir(d.join("secret")).unwrap();
    std::fs::write(d.join("secret/k"), "k").unwrap();
    let policy = policy_file(
        &d,
        &format!(r#"{{"filesystem":{{"readonlyPaths":["{0}"],"deniedPaths":["{0}/secret"]}}}}"#, d.display()),
    );
    let mut c = cordon();
    c.args(["run", "--debug", "--policy"])
        .arg(&policy)
        .arg("--")
        .arg(PROBE_WASIP2)
        .args(["read", d.join("secret/k").to_str().unwrap()]);
    let out = run(c);
    assert!(
        stderr(&out).contains("cordon: denied open-at") && stderr(&out).contains("/filesystem/deniedPaths/0"),
        "{}",
        stderr(&out)
    );
}

/// Every guest component has host-side tests: add a component here only with its tests.
#[test]
fn every_component_has_a_host_test() {
    // component → the test that exercises it
    let tested = [
        ("fetch", "wasm_cli::fetch_tool_gets_a_granted_url_and_is_refused_a_denied_one"),
        ("probe", "conformance::conformance_table_passes_on_wasm_p2"),
        ("search", "wasm_cli::search_tool_finds_matches_in_sources_and_none_under_git"),
        ("typed", "typed_cli::every_wit_type_kind_round_trips_through_json"),
    ];
    let mut found: Vec<String> = std::fs::read_dir(root().join("components"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut known: Vec<String> = tested.iter().map(|(c, _)| c.to_string()).collect();
    known.sort();
    assert_eq!(found, known, "a component without a host test (or a test for a component that is gone)");
}

#[test]
fn audit_writes_one_well_formed_line_per_denial_of_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::create_dir(d.join("secret")).unwrap();
    std::fs::write(d.join("secret/k"), "k").unwrap();
    std::fs::write(d.join("ok.txt"), "ok").unwrap();
    let policy = policy_file(
        &d,
        &serde_json::json!({
            "version": "0.8.0-alpha",
            "filesystem": { "readonlyPaths": [d], "deniedPaths": [d.join("secret")] },
            "cordon": { "limits": { "memoryBytes": 16777216, "maxOutputBytes": 4000 } }
        })
        .to_string(),
    );
    let log = d.join("audit.jsonl");
    let mut c = cordon();
    c.args(["run", "--audit"]).arg(&log).arg("--policy").arg(&policy).arg("--").arg(PROBE_WASIP2);
    c.args(["read", d.join("secret/k").to_str().unwrap(), "+", "read", d.join("ok.txt").to_str().unwrap()]);
    c.args([
        "+",
        "connect",
        "127.0.0.1:9",
        "+",
        "resolve",
        "denied.example",
        "+",
        "http",
        "http://127.0.0.1:9/x",
        "+",
        "alloc",
        "1073741824",
        "+",
        "print",
        "10000",
    ]);
    c.env("CORDON_TEST_SECRET", "never-passed");
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for e in &events {
        for field in ["time", "backend", "kind", "op", "target", "decision", "rule"] {
            assert!(e[field].is_string(), "{field} missing in {e}");
        }
        assert_eq!(e["decision"], "deny", "without allows only denials are logged: {e}");
        let rule = e["rule"].as_str().unwrap();
        assert!(rule.starts_with('/') || rule.starts_with('('), "rule is a pointer or a named default: {e}");
    }
    let has = |kind: &str, op: &str, target: &str, rule: &str| {
        events.iter().any(|e| {
            e["kind"] == kind
                && e["op"] == op
                && e["target"].as_str().unwrap().contains(target)
                && e["rule"].as_str().unwrap().contains(rule)
        })
    };
    assert!(has("fs", "open-at", "secret", "/filesystem/deniedPaths/0"), "{text}");
    assert!(!text.contains("ok.txt"), "a granted read is not a denial: {text}");
    assert!(has("net", "connect", "127.0.0.1:9", "local range"), "{text}");
    assert!(has("dns", "resolve", "denied.example", "(no network section"), "{text}");
    assert!(has("http", "request", "http://127.0.0.1:9", "local range"), "{text}");
    assert!(has("env", "withhold", "CORDON_TEST_SECRET", ""), "{text}");
    assert!(has("limit", "memory-grow", "", "/cordon/limits/memoryBytes"), "{text}");
    assert!(has("limit", "output", "", "/cordon/limits/maxOutputBytes"), "{text}");
    // One line per denial: the fs and network denials appear exactly once each.
    assert_eq!(events.iter().filter(|e| e["kind"] == "fs").count(), 1, "{text}");
    assert_eq!(events.iter().filter(|e| e["kind"] == "net").count(), 1, "{text}");
    assert_eq!(events.iter().filter(|e| e["kind"] == "dns").count(), 1, "{text}");
    assert_eq!(events.iter().filter(|e| e["kind"] == "http").count(), 1, "{text}");
    // Withheld host variables are one event naming them all, never their values.
    assert_eq!(events.iter().filter(|e| e["kind"] == "env").count(), 1, "{text}");
    assert!(!text.contains("never-passed"), "{text}");

    // The allowed twin: with `allows`, the granted read is logged too.
    let policy = policy_file(
        &d,
        &serde_json::json!({
            "filesystem": { "readonlyPaths": [d] },
            "cordon": { "audit": { "path": d.join("allows.jsonl"), "allows": true } }
        })
        .to_string(),
    );
    let out = run_with(&policy, PROBE_WASIP2, &["read", d.join("ok.txt").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(d.join("allows.jsonl")).unwrap();
    assert!(
        text.lines().any(|l| l.contains("\"decision\":\"allow\"")
            && l.contains("ok.txt")
            && l.contains("/filesystem/readonlyPaths/0")),
        "{text}"
    );
}

#[test]
fn audit_records_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let log = d.join("a.jsonl");
    let policy = policy_file(
        &d,
        &format!(r#"{{"process":{{"timeout":300}},"cordon":{{"audit":{{"path":"{}"}}}}}}"#, log.display()),
    );
    let out = run_with(&policy, PROBE_WASIP2, &["spin"]);
    assert_eq!(out.status.code(), Some(124));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"kind\":\"limit\"") && text.contains("\"rule\":\"/process/timeout\""), "{text}");
}

#[test]
fn fetch_tool_gets_a_granted_url_and_is_refused_a_denied_one() {
    let port = crate::netfix::fixtures().ph;
    let url = format!("http://127.0.0.1:{port}/page");
    let dir = tempfile::tempdir().unwrap();
    let granted = policy_file(
        dir.path(),
        r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"127.0.0.1/32"}]}]}}}"#,
    );
    let out = run_with(&granted, cordon_tests::components::FETCH_WASIP2, &["-i", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("HTTP 200\nhost=127.0.0.1:{port}"));
    let denied =
        policy_file(dir.path(), r#"{"version":"0.8.0-alpha","cordon":{"network":{"allowDomains":["example.org"]}}}"#);
    let out = run_with(&denied, cordon_tests::components::FETCH_WASIP2, &[&url]);
    assert_eq!(out.status.code(), Some(13), "{}", stderr(&out));
    assert!(stderr(&out).contains("request denied by the sandbox"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

/// A preview-1 command whose `_start` grows one funcref table by a million entries `rounds`
/// times and calls `proc_exit(1)` as soon as a growth is refused.
fn table_bomb(rounds: i32) -> Vec<u8> {
    use wasm_encoder::{
        BlockType, CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection, HeapType,
        ImportSection, Instruction as I, MemorySection, MemoryType, Module, RefType, TableSection, TableType,
        TypeSection, ValType,
    };
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], []);
    types.ty().function([], []);
    m.section(&types);
    let mut imports = ImportSection::new();
    imports.import("wasi_snapshot_preview1", "proc_exit", EntityType::Function(0));
    m.section(&imports);
    let mut funcs = FunctionSection::new();
    funcs.function(1);
    m.section(&funcs);
    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: 0,
        maximum: None,
        shared: false,
    });
    m.section(&tables);
    let mut mems = MemorySection::new();
    mems.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
    m.section(&mems);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("_start", ExportKind::Func, 1);
    m.section(&exports);
    let mut f = Function::new([(1, ValType::I32)]);
    for ins in [
        I::Loop(BlockType::Empty),
        I::RefNull(HeapType::FUNC),
        I::I32Const(1_000_000),
        I::TableGrow(0),
        I::I32Const(-1),
        I::I32Eq,
        I::If(BlockType::Empty),
        I::I32Const(1),
        I::Call(0),
        I::End,
        I::LocalGet(0),
        I::I32Const(1),
        I::I32Add,
        I::LocalTee(0),
        I::I32Const(rounds),
        I::I32LtU,
        I::BrIf(0),
        I::End,
        I::End,
    ] {
        f.instruction(&ins);
    }
    let mut code = CodeSection::new();
    code.function(&f);
    m.section(&code);
    m.finish()
}

#[test]
fn a_table_bomb_fails_inside_the_tool_at_memory_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("tables.wasm");
    std::fs::write(&bomb, table_bomb(5)).unwrap();
    // Five million entries are 40 MB of references: past a 16 MiB budget...
    let small = policy_file(dir.path(), r#"{"cordon":{"limits":{"memoryBytes":16777216}}}"#);
    let out = run_with(&small, bomb.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(1), "the growth fails inside the tool: {}", stderr(&out));
    assert!(stderr(&out).contains("memory limit reached"), "{}", stderr(&out));
    // ...and within a 256 MiB one: the twin grows every time and exits 0.
    let large = policy_file(dir.path(), r#"{"cordon":{"limits":{"memoryBytes":268435456}}}"#);
    let out = run_with(&large, bomb.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_tool_larger_than_the_bound_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), "{}");
    let mut c = cordon();
    c.env("CORDON_MAX_WASM_BYTES", "1000");
    c.args(["run", "--policy"]).arg(&policy).args(["--", PROBE_WASIP2, "args"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("1000-byte bound"), "{}", stderr(&out));
    // The twin: under the default bound the same tool runs.
    let out = run_with(&policy, PROBE_WASIP2, &["args"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A preview-1 command with `funcs` functions of long arithmetic chains: slow to compile.
fn slow_to_compile(funcs: u32) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction as I, MemorySection, MemoryType,
        Module, TypeSection, ValType,
    };
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    types.ty().function([ValType::I32], [ValType::I32]);
    m.section(&types);
    let mut fs = FunctionSection::new();
    fs.function(0);
    for _ in 0..funcs {
        fs.function(1);
    }
    m.section(&fs);
    let mut mems = MemorySection::new();
    mems.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
    m.section(&mems);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("_start", ExportKind::Func, 0);
    m.section(&exports);
    let mut code = CodeSection::new();
    let mut start = Function::new([]);
    start.instruction(&I::End);
    code.function(&start);
    for n in 0..funcs {
        let mut f = Function::new([]);
        f.instruction(&I::LocalGet(0));
        for k in 0..400 {
            f.instruction(&I::I32Const((n as i32) ^ k));
            f.instruction(if k % 3 == 0 { &I::I32Mul } else { &I::I32Add });
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32Xor);
        }
        f.instruction(&I::End);
        code.function(&f);
    }
    m.section(&code);
    m.finish()
}

#[test]
fn compiling_counts_against_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.wasm");
    std::fs::write(&slow, slow_to_compile(500)).unwrap();
    let tight = policy_file(dir.path(), r#"{"process":{"timeout":100}}"#);
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", dir.path().join("cache"));
    c.args(["run", "--policy"]).arg(&tight).arg("--").arg(&slow);
    let start = Instant::now();
    let out = run(c);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(stderr(&out).contains("stopped compiling"), "{}", stderr(&out));
    // The twin: with room to compile, it runs (and exits 0).
    let roomy = policy_file(dir.path(), r#"{"process":{"timeout":120000}}"#);
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", dir.path().join("cache2"));
    c.args(["run", "--policy"]).arg(&roomy).arg("--").arg(&slow);
    let start = Instant::now();
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(start.elapsed() > took, "the compile really takes longer than the tight run waited");
}

/// Listens on 127.0.0.1 and hands each connection to `handle` on its own thread.
fn loopback_server(handle: impl Fn(std::net::TcpStream) + Send + Sync + 'static) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let h = handle.clone();
            std::thread::spawn(move || h(c));
        }
    });
    port
}

/// Reads a request head from `c` (up to the blank line).
fn read_head(c: &mut std::net::TcpStream) {
    let _ = crate::netfix::read_head(c);
}

const LOOPBACK_POLICY: &str = r#"{"version":"0.8.0-alpha","process":{"timeout":20000},"network":{"egress":{"allow":[{"to":[{"cidr":"127.0.0.0/8"}]}]}}}"#;

#[test]
fn a_first_byte_timeout_ends_a_request_to_a_silent_server() {
    // Accepts, reads the request, and never answers (holds the connection for a minute).
    let silent = loopback_server(|mut c| {
        read_head(&mut c);
        std::thread::sleep(Duration::from_secs(60));
    });
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), LOOPBACK_POLICY);
    let url = format!("http://127.0.0.1:{silent}/");
    let start = Instant::now();
    let out = run_with(&policy, PROBE_WASIP2, &["http", &url, "500"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "the request ends, not the run: {}", stderr(&out));
    assert!(stdout(&out).contains("ConnectionReadTimeout"), "{}", stdout(&out));
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(5), "{took:?}");

    // A server that sends the head and stalls in the body: the between-bytes timeout.
    let stalls = loopback_server(|mut c| {
        use std::io::Write as _;
        read_head(&mut c);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf");
        std::thread::sleep(Duration::from_secs(60));
    });
    let url = format!("http://127.0.0.1:{stalls}/");
    let start = Instant::now();
    let out = run_with(&policy, PROBE_WASIP2, &["http", &url, "500"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // wasmtime-wasi-http reports a body error without an error-code; its text names it.
    assert!(stdout(&out).contains("connection read timeout"), "{}", stdout(&out));
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(5), "{took:?}");

    // The twin: a server that answers is reached within the same timeout.
    let port = crate::netfix::fixtures().ph;
    let url = format!("http://127.0.0.1:{port}/page");
    let out = run_with(&policy, PROBE_WASIP2, &["http", &url, "500"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!(r#""value":"200 host=127.0.0.1:{port}""#)), "{}", stdout(&out));
}

#[test]
fn a_redirect_the_tool_follows_is_checked_again() {
    use std::io::Write as _;
    let allowed = crate::netfix::fixtures().ph;
    let redirect = |to: String| {
        loopback_server(move |mut c| {
            read_head(&mut c);
            let _ = write!(c, "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        })
    };
    let dir = tempfile::tempdir().unwrap();
    // Only 127.0.0.1 is allowed; 127.0.0.2 is loopback no rule names.
    let policy = policy_file(
        dir.path(),
        r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"127.0.0.1/32"}]}]}}}"#,
    );
    let to_denied = redirect(format!("http://127.0.0.2:{}/", crate::netfix::fixtures().pb));
    let out = run_with(&policy, PROBE_WASIP2, &["http-follow", &format!("http://127.0.0.1:{to_denied}/")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(r#""error":"denied""#), "{}", stdout(&out));
    assert!(stderr(&out).contains("denied"), "the summary counts the refused hop: {}", stderr(&out));

    // The twin: a redirect to an allowed address is followed to its answer.
    let to_allowed = redirect(format!("http://127.0.0.1:{allowed}/page"));
    let out = run_with(&policy, PROBE_WASIP2, &["http-follow", &format!("http://127.0.0.1:{to_allowed}/")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!(r#""value":"200 host=127.0.0.1:{allowed}""#)), "{}", stdout(&out));
}

#[test]
fn wasi_http_fields_past_memory_bytes_stop_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    // 400 fields of 100 KB are about 40 MB of host memory: past a 16 MiB budget...
    let small = policy_file(dir.path(), r#"{"cordon":{"limits":{"memoryBytes":16777216}}}"#);
    let out = run_with(&small, PROBE_WASIP2, &["fields", "400", "100000"]);
    assert_eq!(out.status.code(), Some(134), "{}", stderr(&out));
    assert!(stderr(&out).contains("memory limit reached"), "{}", stderr(&out));
    assert!(!stdout(&out).contains(r#""value":"400""#), "{}", stdout(&out));
    // ...and within a 256 MiB one: the twin holds all of them and exits 0.
    let large = policy_file(dir.path(), r#"{"cordon":{"limits":{"memoryBytes":268435456}}}"#);
    let out = run_with(&large, PROBE_WASIP2, &["fields", "400", "100000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(r#""value":"400""#), "{}", stdout(&out));
}

#[test]
fn live_resources_past_the_cap_stop_the_tool_without_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), "{}");
    // Empty fields cost almost nothing each, but more than 100,000 live ones are refused...
    let out = run_with(&policy, PROBE_WASIP2, &["fields", "120000", "0"]);
    assert_eq!(out.status.code(), Some(134), "{}", stderr(&out));
    assert!(stderr(&out).contains("100000 live host resources"), "{}", stderr(&out));
    assert!(stderr(&out).contains("memory limit reached"), "{}", stderr(&out));
    // ...and the twin, well under the cap, holds all of them.
    let out = run_with(&policy, PROBE_WASIP2, &["fields", "50000", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(r#""value":"50000""#), "{}", stdout(&out));
}
