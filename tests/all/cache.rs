//! The compiled-code cache: filled by `cordon compile`, used by `cordon run`, never trusted
//! blindly.

use std::path::Path;
use std::process::Output;

use cordon_tests::components::{PROBE_WASIP2, SEARCH_WASIP2};

use crate::support::{cordon, run, stderr, stdout};

fn with_cache(dir: &Path, args: &[&str]) -> Output {
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", dir).args(args);
    run(c)
}

fn entries(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect()
}

fn run_probe(cache: &Path, policy: &Path) -> Output {
    with_cache(cache, &["run", "--debug", "--policy", policy.to_str().unwrap(), "--", PROBE_WASIP2, "exit", "6"])
}

#[test]
fn compile_fills_the_cache_and_run_maps_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = with_cache(&cache, &["compile", PROBE_WASIP2]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("compiled into the cache"));
    assert_eq!(entries(&cache, "cwasm").len(), 1);
    assert_eq!(entries(&cache, "b3").len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    }
    let out = with_cache(&cache, &["compile", PROBE_WASIP2]);
    assert!(stdout(&out).contains("already in the cache"), "{}", stdout(&out));
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, "{}").unwrap();
    let out = run_probe(&cache, &policy);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("mapped from the compiled-code cache"), "{}", stderr(&out));
}

#[test]
fn corrupt_truncated_or_foreign_entries_are_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, "{}").unwrap();
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    let code = entries(&cache, "cwasm").pop().unwrap();
    let good = std::fs::read(&code).unwrap();
    // A foreign entry: valid compiled code of another tool, under this tool's key.
    assert_eq!(with_cache(&dir.path().join("other"), &["compile", SEARCH_WASIP2]).status.code(), Some(0));
    let foreign = std::fs::read(entries(&dir.path().join("other"), "cwasm").pop().unwrap()).unwrap();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    for (what, bytes) in
        [("truncated", good[..good.len() / 3].to_vec()), ("corrupt", flipped), ("foreign", foreign), ("empty", vec![])]
    {
        std::fs::write(&code, &bytes).unwrap();
        let out = run_probe(&cache, &policy);
        assert_eq!(out.status.code(), Some(6), "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(" compiled"), "{what} entry must be recompiled: {}", stderr(&out));
        // And rewritten, so the next run maps it again.
        let out = run_probe(&cache, &policy);
        assert!(stderr(&out).contains("mapped from the compiled-code cache"), "{what}: {}", stderr(&out));
    }
}

#[test]
fn concurrent_runs_filling_one_entry_are_safe() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut c = cordon();
            c.env("CORDON_CACHE_DIR", &cache).args(["compile", PROBE_WASIP2]);
            c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for ch in children {
        let out = ch.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(entries(&cache, "cwasm").len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, "{}").unwrap();
    assert!(stderr(&run_probe(&cache, &policy)).contains("mapped from the compiled-code cache"));
}

#[test]
fn an_unsafe_cache_directory_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, "{}").unwrap();
    let out = run_probe(&cache, &policy);
    assert_eq!(out.status.code(), Some(6), "the tool still runs, compiled in memory");
    assert!(
        stderr(&out).contains("not caching compiled code") && stderr(&out).contains("others can write it"),
        "{}",
        stderr(&out)
    );
    assert!(entries(&cache, "cwasm").is_empty());
    assert_ne!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
}

#[test]
fn a_policy_that_could_write_the_cache_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let cache = d.join("cache");
    let policy = d.join("p.json");
    std::fs::write(&policy, format!(r#"{{"filesystem":{{"readwritePaths":["{}"]}}}}"#, d.display())).unwrap();
    let out = run_probe(&cache, &policy);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("compiled-code cache") && stderr(&out).contains("/filesystem/readwritePaths/0"),
        "{}",
        stderr(&out)
    );
    // The twin: read-only access to the same tree is fine.
    std::fs::write(&policy, format!(r#"{{"filesystem":{{"readonlyPaths":["{}"]}}}}"#, d.display())).unwrap();
    assert_eq!(run_probe(&cache, &policy).status.code(), Some(6));
}
