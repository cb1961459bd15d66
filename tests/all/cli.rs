//! The command line as a new user meets it (issue 14): unknown flags are usage errors, help
//! names the backends and exit codes, a run with denials says so in one line (and a clean
//! run says nothing), odd policies get a plain message, errors come as a JSON list on request.

use std::path::PathBuf;

use cordon_tests::components::PROBE_WASIP2;

use crate::support::{cordon, run, stderr, stdout};

fn policy(dir: &std::path::Path, json: &serde_json::Value) -> PathBuf {
    let p = dir.join("policy.json");
    std::fs::write(&p, json.to_string()).unwrap();
    p
}

#[test]
fn unknown_flags_are_usage_errors_not_operands() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), &serde_json::json!({}));
    for args in [
        vec!["run", "--polcy", "x"],
        vec!["run", "--policy", p.to_str().unwrap(), "--env", "A=1", "--", PROBE_WASIP2],
        vec!["run", "--dir", "/tmp"],
    ] {
        let mut c = cordon();
        c.args(&args);
        let out = run(c);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("unexpected argument"), "{args:?}: {}", stderr(&out));
    }
    // clap suggests the flag that was meant.
    let mut c = cordon();
    c.args(["run", "--polcy", "x"]);
    assert!(stderr(&run(c)).contains("--policy"));
    // The twin: flags after the tool are the tool's.
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).args(["--", PROBE_WASIP2, "args", "--env", "A=1"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("--env A=1"), "{}", stdout(&out));
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).args([PROBE_WASIP2, "args", "--quiet"]);
    let out = run(c);
    assert!(stdout(&out).contains("--quiet"), "without `--` too: {}", stdout(&out));
}

#[test]
fn run_help_names_the_backends_and_the_exit_codes() {
    let mut c = cordon();
    c.args(["run", "--help"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for b in cordon_plan::Backend::ALL {
        assert!(help.contains(b.name()), "{} missing from run --help:\n{help}", b.name());
    }
    for code in ["124", "125", "126", "127", "152", "128+N"] {
        assert!(help.contains(code), "exit code {code} missing:\n{help}");
    }
    // An unknown backend is refused by clap with the list.
    let mut c = cordon();
    c.args(["run", "--backend", "docker", "x"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bubblewrap"), "{}", stderr(&out));
}

#[test]
fn a_run_with_denials_ends_with_one_summary_line_and_a_clean_run_with_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::write(d.join("ok.txt"), "fine").unwrap();
    std::fs::write(d.join("secret.txt"), "no").unwrap();
    let p =
        policy(&d, &serde_json::json!({"filesystem": {"readonlyPaths": [d], "deniedPaths": [d.join("secret.txt")]}}));
    let go = |extra: &[&str], ops: &[&str]| {
        let mut c = cordon();
        c.arg("run").args(extra).arg("--policy").arg(&p).arg("--").arg(PROBE_WASIP2).args(ops);
        run(c)
    };
    let secret = d.join("secret.txt");
    let outside = "/etc/hostname";
    // A cold cache adds its "compiling" line; warm it first.
    go(&[], &["exit", "0"]);
    let out = go(&[], &["read", secret.to_str().unwrap(), "+", "read", outside]);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("cordon:")).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].contains("2 accesses denied (fs 2)"), "the read outside every grant counts too: {err}");
    // --debug names each with its rule; the access outside every grant has none.
    let out = go(&["--debug"], &["read", secret.to_str().unwrap(), "+", "read", outside]);
    let err = stderr(&out);
    assert!(err.contains("/filesystem/deniedPaths/0"), "{err}");
    // (refused at /etc, the first directory on the way that no rule covers)
    assert!(err.contains("denied open-at /etc (no rule grants it)"), "{err}");
    // --quiet: nothing of cordon's.
    let out = go(&["--quiet"], &["read", secret.to_str().unwrap()]);
    assert!(!stderr(&out).contains("cordon:"), "{}", stderr(&out));
    // The twin: a granted read leaves stderr empty.
    let out = go(&[], &["read", d.join("ok.txt").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "", "nothing denied, nothing said");
    // A limit reached is in the line too.
    let p = policy(&d, &serde_json::json!({"cordon": {"limits": {"memoryBytes": 16777216}}}));
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).args(["--", PROBE_WASIP2, "alloc", "1073741824"]);
    let err = stderr(&run(c));
    assert!(err.contains("memory limit reached"), "{err}");
}

#[test]
fn a_policy_that_is_not_an_object_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for (text, found) in [("[]", "an array"), ("[1,2]", "an array"), ("null", "null"), ("3", "a number")] {
        let p = dir.path().join("p.json");
        std::fs::write(&p, text).unwrap();
        let mut c = cordon();
        c.args(["policy", "check"]).arg(&p);
        let out = run(c);
        assert_eq!(out.status.code(), Some(125), "{text}");
        let err = stderr(&out);
        assert!(err.contains(&format!("a policy is a JSON object (`{{ ... }}`), not {found}")), "{text}: {err}");
        assert!(!err.contains("RawPolicy") && !err.contains("expected a string"), "{text}: {err}");
    }
    // The twin: `{}` is a valid policy that grants nothing.
    let p = dir.path().join("p.json");
    std::fs::write(&p, "{}").unwrap();
    let mut c = cordon();
    c.args(["policy", "check"]).arg(&p);
    assert_eq!(run(c).status.code(), Some(0));
}

#[test]
fn json_errors_list_every_problem_with_its_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), &serde_json::json!({"filesystem": {"readonlyPaths": ["relative/a", "relative/b"]}}));
    let mut c = cordon();
    c.args(["--error-format", "json", "policy", "check"]).arg(&p);
    let out = run(c);
    assert_eq!(out.status.code(), Some(125));
    let v: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(v["error"]["code"], "policy_validation");
    let problems = v["error"]["problems"].as_array().unwrap();
    let pointers: Vec<&str> = problems.iter().map(|p| p["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/filesystem/readonlyPaths/0", "/filesystem/readonlyPaths/1"], "{v}");
    assert!(problems.iter().all(|p| p["message"].as_str().is_some_and(|m| !m.is_empty())), "{v}");
}

#[test]
fn a_file_named_wasm_that_is_not_webassembly_never_runs_natively() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let fake = d.join("tool.wasm");
    std::fs::write(&fake, "#!/bin/sh\necho RAN_NATIVELY\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = policy(&d, &serde_json::json!({"filesystem": {"readonlyPaths": [d]}}));
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).arg("--").arg(&fake);
    let out = run(c);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("not WebAssembly"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("RAN_NATIVELY"));
    // The twin: a real wasm file of that name runs (as wasm).
    let real = d.join("real.wasm");
    std::fs::copy(PROBE_WASIP2, &real).unwrap();
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).arg("--").arg(&real).args(["args"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn explain_and_dry_run_name_env_variables_never_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), &serde_json::json!({"process": {"env": ["TOKEN=xyz-never-printed"]}}));
    for b in cordon_plan::Backend::ALL {
        let mut c = cordon();
        c.args(["policy", "explain"]).arg(&p).args(["--backend", b.name()]);
        let out = run(c);
        assert!(!stdout(&out).contains("xyz-never-printed"), "{}: {}", b.name(), stdout(&out));
        // The twin: the name is there (where the backend plans at all).
        if out.status.code() == Some(0) {
            assert!(stdout(&out).contains("TOKEN"), "{}: {}", b.name(), stdout(&out));
        }
    }
    let mut c = cordon();
    c.args(["run", "--dry-run", "--policy"]).arg(&p).args(["--", "/bin/true"]);
    let out = run(c);
    assert!(!stdout(&out).contains("xyz-never-printed"), "{}", stdout(&out));
    assert!(stdout(&out).contains("--setenv TOKEN …"), "{}", stdout(&out));
}

#[test]
fn the_library_returns_data_and_only_the_cli_prints() {
    // Every print of cordon's own lives in runtime/src/cli/ (and the binaries); the library
    // returns an Outcome (runtime/src/run.rs) for the caller to word.
    let src = crate::support::root().join("runtime/src");
    let mut offenders = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.ends_with("cli") && !p.ends_with("bin") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let code = line.trim_start();
                    if code.starts_with("//") {
                        continue;
                    }
                    if ["println!(", "eprintln!(", "print!(", "eprint!("].iter().any(|m| code.contains(m)) {
                        offenders.push(format!("{}:{}", p.display(), i + 1));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "library code prints: {offenders:?}");
    // The twin: the scan finds the CLI's prints, so it can see them.
    let cli = std::fs::read_to_string(src.join("cli/run.rs")).unwrap();
    assert!(cli.contains("eprintln!("));
}
