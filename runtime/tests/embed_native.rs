//! An embedder's program (this test binary links the library) runs a native command: the
//! sandbox starts `cordon-helper`, never the embedder's own `main`. With the helper missing
//! the call is refused, naming where cordon looked.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};

use cordon_runtime::run::{RunRequest, run_tool};

fn have_bwrap() -> bool {
    let ok = Path::new("/usr/bin/bwrap").exists();
    if !ok {
        assert!(std::env::var_os("CORDON_REQUIRE_ALL").is_none(), "bwrap is missing and CORDON_REQUIRE_ALL is set");
        eprintln!("skipping: bubblewrap is not installed");
    }
    ok
}

fn request<'a>(policy: &'a cordon_policy::Policy, out: &Path, helper: Option<PathBuf>) -> RunRequest<'a> {
    RunRequest {
        policy,
        command: vec!["/bin/sh".into(), "-c".into(), format!("echo from-the-tool > {}", out.display())],
        backend: None,
        dry_run: false,
        notify: None,
        audit: None,
        helper,
        io: Default::default(),
    }
}

#[test]
fn the_native_path_runs_the_helper_not_the_embedder() {
    if !have_bwrap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let text = serde_json::json!({ "filesystem": { "readwritePaths": [d] } }).to_string();
    let policy = cordon_policy::Policy::parse(&text, &cordon_runtime::SystemHost).unwrap();
    let out = d.join("out.txt");

    let helper = PathBuf::from(env!("CARGO_BIN_EXE_cordon-helper"));
    let outcome = run_tool(request(&policy, &out, Some(helper))).unwrap();
    assert_eq!(outcome.code, 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "from-the-tool\n");

    // Missing: by default cordon looks next to the running executable (this test binary,
    // which has no helper beside it), and refuses rather than run something else.
    std::fs::remove_file(&out).unwrap();
    let err = run_tool(request(&policy, &out, None)).unwrap_err();
    assert_eq!(err.exit_code(), 125, "{err}");
    assert!(err.to_string().contains("cordon-helper not found at"), "{err}");
    let missing = d.join("no-such-helper");
    let err = run_tool(request(&policy, &out, Some(missing.clone()))).unwrap_err();
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    assert!(!out.exists(), "nothing ran");
}

/// A grant replaced by a link after the policy loaded (as a concurrent process could do):
/// the run is refused on both native backends, because each opens the grant without
/// following links; the twin with the tree unchanged runs.
#[test]
fn a_grant_swapped_for_a_link_after_loading_is_refused_on_both_backends() {
    if !have_bwrap() {
        return;
    }
    let helper = PathBuf::from(env!("CARGO_BIN_EXE_cordon-helper"));
    for backend in [cordon_plan::Backend::Bubblewrap, cordon_plan::Backend::Landlock] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("g")).unwrap();
        std::fs::write(d.join("g/file"), "granted\n").unwrap();
        std::fs::create_dir_all(d.join("other")).unwrap();
        std::fs::write(d.join("other/file"), "not granted\n").unwrap();
        let text = serde_json::json!({ "filesystem": { "readonlyPaths": [d.join("g")] } }).to_string();
        let policy = cordon_policy::Policy::parse(&text, &cordon_runtime::SystemHost).unwrap();
        let req = |cmd: &str| RunRequest {
            policy: &policy,
            command: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
            backend: Some(backend),
            dry_run: false,
            notify: None,
            audit: None,
            helper: Some(helper.clone()),
            io: Default::default(),
        };
        let read = format!("grep -q '^granted' {}", d.join("g/file").display());
        // The twin: unchanged, the grant is read.
        match run_tool(req(&read)) {
            Ok(o) => assert_eq!(o.code, 0, "{backend}: the unchanged grant is readable"),
            Err(e) if backend == cordon_plan::Backend::Landlock && e.exit_code() == 125 => {
                eprintln!("skipping landlock: {e}");
                continue;
            }
            Err(e) => panic!("{backend}: {e}"),
        }
        // Swapped: `g` is now a link to `other`.
        std::fs::rename(d.join("g"), d.join("g-old")).unwrap();
        std::os::unix::fs::symlink(d.join("other"), d.join("g")).unwrap();
        let swapped = format!("cat {}", d.join("g/file").display());
        let code = match run_tool(req(&swapped)) {
            Ok(o) => o.code,
            Err(e) => {
                assert!(e.to_string().contains("without following links"), "{backend}: {e}");
                e.exit_code()
            }
        };
        assert_eq!(code, 125, "{backend}: a grant that became a link is refused");
    }
}

/// The library says why a run ended, as data: an exit status, or the limit that stopped it
/// (and the twin: the same command with time to spare exits by itself).
#[test]
fn the_outcome_names_the_cause() {
    use cordon_runtime::run::Cause;
    if !have_bwrap() {
        return;
    }
    let helper = PathBuf::from(env!("CARGO_BIN_EXE_cordon-helper"));
    let run = |policy: &str, script: &str| {
        let policy = cordon_policy::Policy::parse(policy, &cordon_runtime::SystemHost).unwrap();
        run_tool(RunRequest {
            policy: &policy,
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            backend: Some(cordon_plan::Backend::Bubblewrap),
            dry_run: false,
            notify: None,
            audit: None,
            helper: Some(helper.clone()),
            io: Default::default(),
        })
        .unwrap()
    };
    let exited = run("{}", "exit 3");
    assert_eq!((exited.code, exited.cause), (3, Cause::Exited(3)));
    let stopped = run(r#"{"process":{"timeout":300}}"#, "sleep 5; exit 0");
    assert_eq!((stopped.code, stopped.cause), (124, Cause::Timeout));
    let in_time = run(r#"{"process":{"timeout":5000}}"#, "sleep 0.1; exit 0");
    assert_eq!((in_time.code, in_time.cause), (0, Cause::Exited(0)));
    let dry = cordon_policy::Policy::parse("{}", &cordon_runtime::SystemHost).unwrap();
    let plan = run_tool(RunRequest {
        policy: &dry,
        command: vec!["/bin/true".into()],
        backend: Some(cordon_plan::Backend::Bubblewrap),
        dry_run: true,
        notify: None,
        audit: None,
        helper: None,
        io: Default::default(),
    })
    .unwrap();
    assert_eq!(plan.cause, Cause::NotRun);
}
