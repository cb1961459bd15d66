//! cordon as MXC's `lxc-exec` (`cordon mxc-exec …`, or started under the name `lxc-exec`):
//! MXC's command line, exit codes, envelopes and dry-run output, measured against MXC's own
//! 1.0.1 executor (the expected texts below are what it prints). `cordon run` keeps cordon's
//! codes. Also the schema-version fixtures of tests/mxc-versions run end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{cordon, cordon_exe, run, stderr, stdout};

use crate::support::have_bwrap;

struct T {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl T {
    fn new() -> Self {
        let (dir, root) = crate::support::temp_root();
        Self { _dir: dir, root }
    }
    fn config(&self, name: &str, json: serde_json::Value) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, json.to_string()).unwrap();
        p
    }
}

/// `cordon mxc-exec ARGS…`.
fn mxc(args: &[&str]) -> Output {
    let mut c = cordon();
    c.arg("mxc-exec").args(args);
    run(c)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// MXC's four request lines, as its executor logs them.
fn request_lines(len: usize, cwd: &str, timeout: u64, name: &str) -> String {
    format!("Script code length: {len}\nWorking directory: {cwd}\nScript timeout: {timeout}\nContainer name: {name}\n")
}

/// The stdout of a dry run with the `Runner completed in Nms` line checked and dropped.
fn without_runner_line(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let runner = lines.iter().filter(|l| l.starts_with("Runner completed in ") && l.ends_with("ms")).count();
    assert_eq!(runner, 1, "one `Runner completed in Nms` line: {out}");
    lines.iter().filter(|l| !l.starts_with("Runner completed in ")).map(|l| format!("{l}\n")).collect()
}

#[test]
fn dry_run_prints_mxcs_lines_and_validates() {
    let t = T::new();
    let cfg = t.config(
        "c.json",
        serde_json::json!({"version": "1.0.0", "containerId": "box1", "process": {"commandLine": "echo hi", "cwd": "/", "timeout": 1500}}),
    );
    let out = mxc(&["--dry-run", p(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        without_runner_line(&stdout(&out)),
        format!("{}Dry run completed. Result: validation passed\n", request_lines(7, "/", 1500, "box1"))
    );
    assert_eq!(stderr(&out), "");
    // A policy the backend cannot enforce: validation failed, exit 255, the reason on stdout.
    if have_bwrap() {
        let refused = t.config(
            "r.json",
            serde_json::json!({"version": "1.0.0", "containment": "bubblewrap", "process": {"commandLine": "echo hi"}, "network": {"ingress": {"default": "allow"}}}),
        );
        let out = mxc(&["--dry-run", p(&refused)]);
        assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
        let text = without_runner_line(&stdout(&out));
        assert!(text.starts_with(&request_lines(7, "", 0, "")), "{text}");
        assert!(text.contains("Dry run completed. Result: validation failed: ") && text.contains("ingress"), "{text}");
    }
}

#[test]
fn a_config_that_does_not_parse_is_a_request_error_exit_1() {
    let t = T::new();
    for (name, json) in [
        ("bad-version.json", serde_json::json!({"version": "1.0", "process": {"commandLine": "true"}})),
        (
            "legacy.json",
            serde_json::json!({"version": "1.0.0", "process": {"commandLine": "true"}, "network": {"defaultPolicy": "allow"}}),
        ),
        ("no-command.json", serde_json::json!({"version": "1.0.0", "process": {}})),
        ("empty-command.json", serde_json::json!({"version": "0.8.0-alpha", "process": {"commandLine": " "}})),
    ] {
        let cfg = t.config(name, json);
        let out = mxc(&[p(&cfg)]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("Request error\nConfiguration parse error: "), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{name}");
    }
    // One problem: one line with its pointer and MXC's migration hint.
    let out = mxc(&[p(&t.root.join("legacy.json"))]);
    assert_eq!(
        stderr(&out),
        "Request error\nConfiguration parse error: /network/defaultPolicy: `network.defaultPolicy` was removed in schema 0.9; schema 1.0 migration: use network.egress.default ('allow' or 'deny')\n"
    );
    let out = mxc(&[p(&t.root.join("missing.json"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Configuration parse error: Configuration file not found: "), "{}", stderr(&out));
    std::fs::write(t.root.join("garbage.json"), "garbage").unwrap();
    assert_eq!(mxc(&[p(&t.root.join("garbage.json"))]).status.code(), Some(1));
    let out = mxc(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "Error: No config provided. Use a positional path, --config, or --config-base64\n");
    // The twin: the same config with a version MXC registers passes.
    let ok = t.config("ok.json", serde_json::json!({"version": "1.0.0", "process": {"commandLine": "true"}}));
    assert_eq!(mxc(&["--dry-run", p(&ok)]).status.code(), Some(0));
    // MXC resolves no containment to the native sandbox, bubblewrap here, which has no
    // section: a lone processContainer section is refused, and with its containment it is not
    // (parsed, then refused at run time on Linux as a backend this host lacks).
    if cfg!(target_os = "linux") {
        let lone = t.config(
            "lone.json",
            serde_json::json!({"version": "1.0.0", "process": {"commandLine": "true"}, "processContainer": {}}),
        );
        let out = mxc(&["--dry-run", p(&lone)]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("'containment' is 'bubblewrap'"), "{}", stderr(&out));
        let named = t.config(
            "named.json",
            serde_json::json!({"version": "1.0.0", "containment": "processcontainer",
                "process": {"commandLine": "true"}, "processContainer": {}}),
        );
        assert!(!stderr(&mxc(&["--dry-run", p(&named)])).contains("Multiple containment backends"));
    }
}

#[test]
fn extra_words_never_replace_the_command_line() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    std::fs::create_dir(t.root.join("w")).unwrap();
    let marker = t.root.join("w/config-ran");
    let other = t.root.join("w/extra-ran");
    let cfg = t.config(
        "c.json",
        serde_json::json!({"version": "1.0.0", "containment": "bubblewrap",
            "process": {"commandLine": format!("touch {}", marker.display()), "timeout": 20000},
            "filesystem": {"readwritePaths": [t.root.join("w")]}}),
    );
    // MXC's clap takes one CONFIG_PATH; a word after it is a usage error and nothing runs.
    for extra in [vec!["touch", p(&other)], vec!["--", "touch", p(&other)], vec!["/bin/sh"]] {
        let mut args = vec![p(&cfg)];
        args.extend(extra.iter().copied());
        let out = mxc(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("unexpected argument"), "{}", stderr(&out));
        assert!(!marker.exists() && !other.exists(), "{extra:?}: something ran");
    }
    // The twin: alone, the config's own command runs.
    let out = mxc(&[p(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(marker.exists() && !other.exists());
}

#[test]
fn config_sources_follow_mxcs_precedence() {
    if !have_bwrap() {
        return;
    }
    use base64::Engine as _;
    let t = T::new();
    let cfg = |word: &str| serde_json::json!({"version": "1.0.0", "process": {"commandLine": format!("echo {word}")}});
    let a = t.config("a.json", cfg("from-file"));
    let b = t.config("b.json", cfg("from-config"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(cfg("from-base64").to_string());
    assert_eq!(stdout(&mxc(&[p(&a)])), "from-file\n");
    assert_eq!(stdout(&mxc(&["--config", p(&b)])), "from-config\n");
    // --config-base64 first, then --config, then the positional path.
    assert_eq!(stdout(&mxc(&["--config-base64", &b64, "--config", p(&b), p(&a)])), "from-base64\n");
    assert_eq!(stdout(&mxc(&["--config", p(&b), p(&a)])), "from-config\n");
    let out = mxc(&["--config-base64", "%%%"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("Request error\n"), "{}", stderr(&out));
}

#[test]
fn exit_codes_and_envelopes_are_mxcs_and_cordon_run_keeps_its_own() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let timeout = t.config(
        "t.json",
        serde_json::json!({"version": "1.0.0", "containment": "bubblewrap",
            "process": {"commandLine": "echo out; echo err >&2; sleep 30", "timeout": 500}}),
    );
    let out = mxc(&[p(&timeout)]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(
        stderr(&out),
        "err\n{\"error\":{\"code\":\"backend_error\",\"message\":\"script timed out after 500ms\"}}\n"
    );
    let mut c = cordon();
    c.args(["run", "--quiet"]).arg(&timeout);
    assert_eq!(run(c).status.code(), Some(124), "cordon run keeps cordon's timeout code");
    // The twin: given time, the same command ends by itself.
    let quick = t.config(
        "q.json",
        serde_json::json!({"version": "1.0.0", "containment": "bubblewrap",
            "process": {"commandLine": "echo out; exit 7", "timeout": 20000}}),
    );
    let out = mxc(&[p(&quick)]);
    assert_eq!((out.status.code(), stdout(&out), stderr(&out)), (Some(7), "out\n".to_string(), String::new()));
    // A policy the backend cannot enforce: the reason, then the envelope; cordon run: 125.
    let refused = t.config(
        "r.json",
        serde_json::json!({"version": "1.0.0", "containment": "bubblewrap", "process": {"commandLine": "echo RAN"},
            "network": {"ingress": {"default": "allow"}}}),
    );
    let out = mxc(&[p(&refused)]);
    assert_eq!(out.status.code(), Some(255));
    assert!(!stdout(&out).contains("RAN"));
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    let envelope: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(envelope["error"]["code"], "backend_error");
    assert!(envelope["error"]["message"].as_str().unwrap().contains("ingress"), "{envelope}");
    let mut c = cordon();
    c.arg("run").arg(&refused);
    assert_eq!(run(c).status.code(), Some(125));
    // A containment cordon has no backend for: MXC's `error: …`, exit 1, nothing runs.
    let missing = t.config(
        "m.json",
        serde_json::json!({"version": "1.1.0-alpha", "containment": "hyperlight", "process": {"commandLine": "echo RAN"}}),
    );
    let out = mxc(&[p(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .starts_with("error: the 'hyperlight' backend is not available in cordon; backends here: bubblewrap")
    );
    assert!(!stdout(&out).contains("RAN"));
    let mut c = cordon();
    c.arg("run").arg(&missing);
    let out = run(c);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("backends here: wasm, bubblewrap"), "{}", stderr(&out));
}

#[test]
fn mxcs_0_8_scripts_invocations_parse() {
    if !have_bwrap() {
        return;
    }
    // As MXC's tests/scripts call lxc-exec (../shared/mxc-e2e).
    let t = T::new();
    let cfg = t.config(
        "c.json",
        serde_json::json!({"version": "0.8.0-alpha", "containment": "bubblewrap", "process": {"commandLine": "echo SENTINEL_OK"},
            "network": {"egress": {"default": "deny"}}}),
    );
    for flags in [vec!["--experimental"], vec!["--experimental", "--allow-testing-features"], vec![]] {
        let mut args = flags.clone();
        args.push(p(&cfg));
        let out = mxc(&args);
        assert_eq!(
            (out.status.code(), stdout(&out)),
            (Some(0), "SENTINEL_OK\n".to_string()),
            "{flags:?}: {}",
            stderr(&out)
        );
    }
    let log = t.root.join("diag.log");
    let out = mxc(&["--experimental", "--log-file", p(&log), "--debug", p(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Script code length: 16\n") && stdout(&out).contains("SENTINEL_OK\n"));
    assert!(stdout(&out).contains("Exit code: 0 (0x00000000)\n"), "{}", stdout(&out));
}

#[test]
fn the_log_file_is_appended_and_a_link_there_is_not_followed() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let cfg = t.config("c.json", serde_json::json!({"version": "1.0.0", "process": {"commandLine": "true"}}));
    let log = t.root.join("diag.log");
    for _ in 0..2 {
        assert_eq!(mxc(&["--log-file", p(&log), p(&cfg)]).status.code(), Some(0));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("Script code length: 4\n").count(), 2, "appended, not replaced: {text}");
    assert_eq!(text.matches("Exit code: 0 (0x00000000)\n").count(), 2, "{text}");
    // A link planted at the log path is refused, never followed.
    let target = t.root.join("victim");
    std::fs::write(&target, "untouched\n").unwrap();
    let link = t.root.join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = mxc(&["--log-file", p(&link), p(&cfg)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("Warning: could not open log file"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
}

#[test]
fn mxcs_lifecycle_flags_are_refused_clearly() {
    for args in [vec!["--delete", "--containername", "box"], vec!["--delete"], vec!["--containername", "box", "c.json"]]
    {
        let out = mxc(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("cordon keeps no containers"), "{args:?}: {}", stderr(&out));
    }
    for args in [vec!["--setup-hyperlight"], vec!["--setup-hyperlight=python,node", "--force"]] {
        let out = mxc(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("no Hyperlight backend"), "{}", stderr(&out));
    }
    // clap's own usage errors, as MXC's: --force alone, an unknown flag.
    assert_eq!(mxc(&["--force"]).status.code(), Some(2));
    assert_eq!(mxc(&["--bogus", "c.json"]).status.code(), Some(2));
}

#[test]
fn available_backends_is_mxcs_json() {
    let out = mxc(&["--available-backends"]);
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|b| b["backend"].as_str().unwrap()).collect();
    let bwrap = Path::new("/usr/bin/bwrap").exists() || Path::new("/usr/local/bin/bwrap").exists();
    assert_eq!(names, if bwrap { vec!["bubblewrap"] } else { vec![] });
    if bwrap {
        assert_eq!(list[0]["capabilities"], serde_json::json!(["proxyEnforcement"]));
    }
}

#[test]
fn started_as_lxc_exec_cordon_takes_mxcs_command_line() {
    // A directory of its own (no policy here grants it) for the link and the config.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("lxc-exec");
    std::os::unix::fs::symlink(cordon_exe(), &link).unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(
        &cfg,
        serde_json::json!({"version": "1.0.0", "process": {"commandLine": "echo via-link"}}).to_string(),
    )
    .unwrap();
    let lxc = |args: &[&str]| {
        let mut c = Command::new(&link);
        c.env("CORDON_CACHE_DIR", crate::support::cache_dir()).args(args);
        run(c)
    };
    let out = lxc(&["--dry-run", p(&cfg)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("Dry run completed. Result: validation passed\n"), "{}", stdout(&out));
    let out = lxc(&["--help"]);
    assert!(stdout(&out).starts_with("Linux Container Executor") && stdout(&out).contains("[CONFIG_PATH]"));
    let out = lxc(&[p(&cfg), "extra"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: lxc-exec"), "{}", stderr(&out));
    if have_bwrap() {
        let out = lxc(&[p(&cfg)]);
        assert_eq!((out.status.code(), stdout(&out)), (Some(0), "via-link\n".to_string()), "{}", stderr(&out));
    }
    // The twin: under its own name the binary is cordon, and `run` is its subcommand.
    let mut c = cordon();
    c.args(["--dry-run"]).arg(&cfg);
    assert_eq!(run(c).status.code(), Some(2), "cordon itself has no top-level --dry-run");
}

/// The schema fixtures (one per version, written from the SDK 1.0.1 wire types): what each
/// prints under cordon equals what MXC's 1.0.1 executor printed for it, but for `PATH`
/// (cordon's sandbox PATH) and `TERM` (MXC passes the host's; cordon passes no host variable
/// that the policy does not name).
#[test]
fn the_version_fixtures_run_with_each_versions_env() {
    if !have_bwrap() {
        return;
    }
    let dir = crate::support::root().join("tests/mxc-versions");
    let path = format!("PATH={}", cordon_plan::SANDBOX_PATH);
    for (file, expected) in [
        // env given: exactly it (and the PWD the shell sets).
        ("0.9.0-alpha.json", "hello from 0.9\nGREETING=hello from 0.9\nPWD=/\n".to_string()),
        // inheritDefaultEnv: the backend's PATH too; the denied directory stays denied.
        ("1.0.0.json", format!("hello from 1.0\n{path}\nDOC_DENIED\n")),
        // env omitted: the backend's default environment.
        ("1.1.0-alpha.json", format!("{path}\n")),
    ] {
        for entry in ["run", "mxc-exec"] {
            let mut c = cordon();
            c.arg(entry).arg(dir.join(file));
            let out = run(c);
            assert_eq!(out.status.code(), Some(0), "{entry} {file}: {}", stderr(&out));
            assert_eq!(stdout(&out), expected, "{entry} {file}: {}", stderr(&out));
        }
    }
    for file in ["1.1.0-alpha-hyperlight.json", "1.0.0-wslc.json"] {
        let mut c = cordon();
        c.args(["policy", "check"]).arg(dir.join(file));
        assert_eq!(run(c).status.code(), Some(0), "{file} is a valid config");
        let mut c = cordon();
        c.arg("run").arg(dir.join(file));
        let out = run(c);
        assert_eq!(out.status.code(), Some(125), "{file}");
        assert!(stderr(&out).contains("backends here:"), "{file}: {}", stderr(&out));
    }
}

#[test]
fn env_given_from_09_is_the_whole_environment() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let with = |env: serde_json::Value, version: &str| {
        let mut process = serde_json::json!({"commandLine": "env", "cwd": "/"});
        if !env.is_null() {
            process["env"] = env;
        }
        let cfg = t.config("e.json", serde_json::json!({"version": version, "process": process}));
        let out = mxc(&[p(&cfg)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
        lines.sort();
        lines
    };
    let path = format!("PATH={}", cordon_plan::SANDBOX_PATH);
    for version in ["0.9.0-alpha", "1.0.0", "1.1.0-alpha"] {
        assert_eq!(with(serde_json::json!([]), version), ["PWD=/"], "{version}: [] is nothing");
        assert_eq!(with(serde_json::json!(["A=1"]), version), ["A=1", "PWD=/"], "{version}");
        // The twin: omitted is the backend's default environment.
        assert_eq!(with(serde_json::Value::Null, version), [path.clone(), "PWD=/".into()], "{version}");
    }
    // Before 0.9, env adds to the defaults, as it always did.
    assert_eq!(with(serde_json::json!([]), "0.8.0-alpha"), [path.clone(), "PWD=/".into()]);
    assert_eq!(with(serde_json::json!(["A=1"]), "0.8.0-alpha"), ["A=1".to_string(), path, "PWD=/".into()]);
}

#[test]
fn explain_says_telemetry_is_ignored_and_when_env_is_exact() {
    let dir = crate::support::root().join("tests/mxc-versions");
    let explain = |file: &str| {
        let mut c = cordon();
        c.args(["policy", "explain"]).arg(dir.join(file));
        let out = run(c);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
        stdout(&out)
    };
    let text = explain("0.9.0-alpha.json");
    assert!(
        text.contains("telemetry: `telemetry.enabled: true` is read and ignored: cordon sends no telemetry"),
        "{text}"
    );
    assert!(text.contains("environment: exactly process.env"), "{text}");
    let text = explain("1.0.0.json");
    assert!(
        text.contains("telemetry: the `telemetry` section is read and ignored: cordon sends no telemetry"),
        "{text}"
    );
    assert!(text.contains("environment: empty except"), "inheritDefaultEnv: {text}");
    // The twin: without a telemetry section, explain says nothing about it.
    let text = explain("1.0.0-wslc.json");
    assert!(!text.contains("telemetry"), "{text}");
    assert!(text.contains("/wslc/image: alpine:3.20: for an MXC backend cordon does not have"), "{text}");
}
