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
