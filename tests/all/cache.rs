//! The compiled-code cache: filled by `cordon compile`, used by `cordon run`, never trusted
//! blindly, out of every tool's reach; and the audit log, which cordon writes unsandboxed.

use std::path::{Path, PathBuf};
use std::process::Output;

use cordon_tests::components::{FETCH_WASIP2, PROBE_WASIP2, SEARCH_WASIP2};

use crate::support::{cordon, run, stderr, stdout};

fn with_cache(dir: &Path, args: &[&str]) -> Output {
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", dir).args(args);
    run(c)
}

fn entries(dir: &Path, ext: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect()
}

fn only_entry(dir: &Path) -> PathBuf {
    let mut e = entries(dir, "cwasm");
    assert_eq!(e.len(), 1, "{e:?}");
    e.pop().unwrap()
}

fn run_probe(cache: &Path, policy: &Path) -> Output {
    with_cache(cache, &["run", "--debug", "--policy", policy.to_str().unwrap(), "--", PROBE_WASIP2, "exit", "6"])
}

fn empty_policy(dir: &Path) -> PathBuf {
    let policy = dir.join("p.json");
    std::fs::write(&policy, "{}").unwrap();
    policy
}

fn mapped(out: &Output) -> bool {
    stderr(out).contains("mapped from the compiled-code cache")
}

/// An entry's layout: magic (8), tag (32), label length (2, LE), label, code.
fn split(entry: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let len = usize::from(u16::from_le_bytes([entry[40], entry[41]]));
    (&entry[..42], &entry[42..42 + len], &entry[42 + len..])
}

/// `entry` with its code replaced and its tag recomputed as an attacker without the key
/// can: an unkeyed BLAKE3 over what follows the tag.
fn forge(entry: &[u8], code: &[u8]) -> Vec<u8> {
    let (head, label, _) = split(entry);
    let mut body = head[40..42].to_vec();
    body.extend_from_slice(label);
    body.extend_from_slice(code);
    let mut out = head[..8].to_vec();
    out.extend_from_slice(blake3::hash(&body).as_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn compile_fills_the_cache_and_run_maps_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = with_cache(&cache, &["compile", PROBE_WASIP2]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("compiled into the cache"));
    only_entry(&cache);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
        let key = std::fs::symlink_metadata(cache.join("key")).unwrap();
        assert_eq!((key.mode() & 0o777, key.len(), key.nlink()), (0o600, 32, 1));
    }
    let out = with_cache(&cache, &["compile", PROBE_WASIP2]);
    assert!(stdout(&out).contains("already in the cache"), "{}", stdout(&out));
    let out = run_probe(&cache, &empty_policy(dir.path()));
    assert_eq!(out.status.code(), Some(6));
    assert!(mapped(&out), "{}", stderr(&out));
}

#[test]
fn a_forged_entry_is_refused_recompiled_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let policy = empty_policy(dir.path());
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    let entry = only_entry(&cache);
    let honest = std::fs::read(&entry).unwrap();
    // The twin first: the honest entry loads.
    let out = run_probe(&cache, &policy);
    assert_eq!(out.status.code(), Some(6));
    assert!(mapped(&out), "{}", stderr(&out));

    // The attacker's code: real compiled code of another tool (from a cache with another
    // key), planted under the probe's name; then the probe's own code with bytes patched.
    let other = dir.path().join("other");
    assert_eq!(with_cache(&other, &["compile", SEARCH_WASIP2]).status.code(), Some(0));
    let planted = std::fs::read(only_entry(&other)).unwrap();
    let (_, _, planted_code) = split(&planted);
    let (_, _, code) = split(&honest);
    let mut patched = code.to_vec();
    for at in [patched.len() / 3, patched.len() / 2, patched.len() * 2 / 3] {
        patched[at] ^= 0x5a;
    }
    for (what, forged) in [
        ("planted code", forge(&honest, planted_code)),
        ("patched code", forge(&honest, &patched)),
        ("the other cache's whole entry", planted.clone()),
    ] {
        std::fs::write(&entry, &forged).unwrap();
        let out = run_probe(&cache, &policy);
        // The probe's own behaviour: the forged code did not run.
        assert_eq!(out.status.code(), Some(6), "{what}: {}", stderr(&out));
        assert!(!mapped(&out), "{what} must not load: {}", stderr(&out));
        assert!(
            stderr(&out).contains("refused the cached entry") && stderr(&out).contains("does not verify"),
            "{what}: --debug says why: {}",
            stderr(&out)
        );
        assert_ne!(std::fs::read(&entry).unwrap(), forged, "{what}: the entry is rewritten");
        let out = run_probe(&cache, &policy);
        assert!(mapped(&out), "{what}: the rewritten entry loads: {}", stderr(&out));
    }
}

#[test]
fn an_entry_moved_under_another_tools_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let policy = empty_policy(dir.path());
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    let probe_entry = only_entry(&cache);
    assert_eq!(with_cache(&cache, &["compile", SEARCH_WASIP2]).status.code(), Some(0));
    let search_entry = entries(&cache, "cwasm").into_iter().find(|p| *p != probe_entry).unwrap();
    // Tagged with this cache's key, but for another name.
    std::fs::copy(&search_entry, &probe_entry).unwrap();
    let out = run_probe(&cache, &policy);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(!mapped(&out) && stderr(&out).contains("does not verify"), "{}", stderr(&out));
    assert!(mapped(&run_probe(&cache, &policy)));
}

#[test]
fn corrupt_truncated_or_foreign_entries_are_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let policy = empty_policy(dir.path());
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    let code = only_entry(&cache);
    let good = std::fs::read(&code).unwrap();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    // An entry of cordon before keyed tags: bare Wasmtime code.
    let bare = split(&good).2.to_vec();
    for (what, bytes) in
        [("truncated", good[..good.len() / 3].to_vec()), ("corrupt", flipped), ("unkeyed", bare), ("empty", vec![])]
    {
        std::fs::write(&code, &bytes).unwrap();
        let out = run_probe(&cache, &policy);
        assert_eq!(out.status.code(), Some(6), "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(" compiled"), "{what} entry must be recompiled: {}", stderr(&out));
        // And rewritten, so the next run maps it again.
        let out = run_probe(&cache, &policy);
        assert!(mapped(&out), "{what}: {}", stderr(&out));
    }
}

#[test]
fn entries_swapped_by_rename_while_runs_load_never_run_forged_code() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let policy = empty_policy(dir.path());
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    let entry = only_entry(&cache);
    let honest = std::fs::read(&entry).unwrap();
    let other = dir.path().join("other");
    assert_eq!(with_cache(&other, &["compile", SEARCH_WASIP2]).status.code(), Some(0));
    let planted = std::fs::read(only_entry(&other)).unwrap();
    let forged = forge(&honest, split(&planted).2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, entry, dir) = (stop.clone(), entry.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let tmp = dir.join(format!("swap-{i}"));
                std::fs::write(&tmp, if i.is_multiple_of(2) { &forged } else { &honest }).unwrap();
                // A rename into the cache, as a racing writer would.
                let _ = std::fs::rename(&tmp, &entry);
                i += 1;
            }
        })
    };
    for _ in 0..6 {
        let out = run_probe(&cache, &policy);
        assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
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
    only_entry(&cache);
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
    assert!(mapped(&run_probe(&cache, &empty_policy(dir.path()))));
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
    let policy = empty_policy(dir.path());
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

#[cfg(unix)]
#[test]
fn a_key_that_others_can_read_or_with_a_second_name_disables_the_cache() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let policy = empty_policy(dir.path());
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    // The twin: a sound key, the entry loads.
    assert!(mapped(&run_probe(&cache, &policy)));
    // A hard link: the key readable under a name outside the protected directory.
    let stolen = dir.path().join("stolen-key");
    std::fs::hard_link(cache.join("key"), &stolen).unwrap();
    let out = run_probe(&cache, &policy);
    assert_eq!(out.status.code(), Some(6));
    assert!(!mapped(&out) && stderr(&out).contains("hard links"), "{}", stderr(&out));
    std::fs::remove_file(&stolen).unwrap();
    assert!(mapped(&run_probe(&cache, &policy)));
    // Readable by others.
    std::fs::set_permissions(cache.join("key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_probe(&cache, &policy);
    assert!(!mapped(&out) && stderr(&out).contains("readable or writable by others"), "{}", stderr(&out));
    // A symlink in place of the key is not followed.
    std::fs::set_permissions(cache.join("key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(cache.join("key"), dir.path().join("moved-key")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("moved-key"), cache.join("key")).unwrap();
    let out = run_probe(&cache, &policy);
    assert!(!mapped(&out) && stderr(&out).contains("without following links"), "{}", stderr(&out));
}

// ---- cordon's own files out of every grant, on every backend ----

/// A home directory whose default cache is `$HOME/.cache/cordon`.
fn home_run(home: &Path, cache: Option<&Path>, args: &[&str]) -> Output {
    let mut c = cordon();
    c.env_remove("CORDON_CACHE_DIR").env_remove("XDG_CACHE_HOME").env("HOME", home);
    if let Some(cache) = cache {
        c.env("CORDON_CACHE_DIR", cache);
    }
    c.args(args);
    run(c)
}

fn refused_for_cache(out: &Output, pointer: &str) {
    assert_eq!(out.status.code(), Some(125), "{}", stderr(out));
    let err = stderr(out);
    assert!(err.contains(pointer) && err.contains("compiled-code cache") && err.contains("CORDON_CACHE_DIR"), "{err}");
    assert!(stdout(out).is_empty(), "the tool did not run: {}", stdout(out));
}

#[test]
fn a_home_grant_that_holds_the_default_cache_is_refused_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let home = d.join("home");
    std::fs::create_dir_all(home.join(".cache/cordon")).unwrap();
    let elsewhere = d.join("elsewhere-cache");
    for list in ["readwritePaths", "readonlyPaths"] {
        let policy = d.join("p.json");
        std::fs::write(&policy, format!(r#"{{"filesystem":{{"{list}":["~"]}}}}"#)).unwrap();
        let p = policy.to_str().unwrap();
        let mut cases: Vec<Vec<&str>> = vec![vec!["run", "--policy", p, "--", PROBE_WASIP2, "exit", "6"]];
        #[cfg(target_os = "linux")]
        {
            if Path::new("/usr/bin/bwrap").exists() {
                cases.push(vec!["run", "--backend", "bubblewrap", "--policy", p, "--", "/bin/sh", "-c", "exit 6"]);
            }
            cases.push(vec!["run", "--backend", "landlock", "--policy", p, "--", "/bin/sh", "-c", "exit 6"]);
        }
        for args in &cases {
            let out = home_run(&home, None, args);
            refused_for_cache(&out, &format!("/filesystem/{list}/0"));
            // The twin: the same policy with the cache outside the grant runs.
            let out = home_run(&home, Some(&elsewhere), args);
            assert_eq!(out.status.code(), Some(6), "{list} {args:?}: {}", stderr(&out));
        }
    }
    // A tool that could create the cache could plant a key: the refusal holds before the
    // cache exists.
    std::fs::remove_dir_all(home.join(".cache")).unwrap();
    let policy = d.join("p.json");
    std::fs::write(&policy, r#"{"filesystem":{"readwritePaths":["~"]}}"#).unwrap();
    let out = home_run(&home, None, &["run", "--policy", policy.to_str().unwrap(), "--", "/bin/sh", "-c", "exit 6"]);
    refused_for_cache(&out, "/filesystem/readwritePaths/0");
}

#[test]
fn every_spelling_of_the_cache_in_a_grant_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let real = d.join("real");
    let cache = real.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(d.join("data")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&cache, d.join("to-cache")).unwrap();
        std::os::unix::fs::symlink(&real, d.join("to-real")).unwrap();
        std::os::unix::fs::symlink(d.join("data"), d.join("to-data")).unwrap();
    }
    let grant = |list: &str, path: String| -> PathBuf {
        let policy = d.join("p.json");
        std::fs::write(&policy, serde_json::json!({ "filesystem": { list: [path] } }).to_string()).unwrap();
        policy
    };
    let c = cache.display().to_string();
    let r = real.display().to_string();
    for (list, path) in [
        ("readwritePaths", c.clone()),
        ("readwritePaths", format!("{c}/")),
        ("readwritePaths", format!("{r}/./cache")),
        ("readonlyPaths", r.clone()),
        ("readonlyPaths", format!("{c}/key")),
        // A grant inside the cache directory.
        ("readwritePaths", format!("{c}/sub")),
        // A symlink to it, and a symlink to its parent.
        ("readonlyPaths", d.join("to-cache").display().to_string()),
        ("readwritePaths", d.join("to-real").display().to_string()),
        ("readwritePaths", "/".into()),
    ] {
        let out = run_probe(&cache, &grant(list, path.clone()));
        assert_eq!(out.status.code(), Some(125), "{list} {path}: {}", stderr(&out));
        assert!(stderr(&out).contains("compiled-code cache"), "{path}: {}", stderr(&out));
    }
    // A cache named through a symlinked ancestor: a grant of the real parent reaches it,
    // and a grant of the link as written (which a tool could re-point) too.
    let via_link = d.join("to-real/cache");
    for path in [r.clone(), d.join("to-real").display().to_string()] {
        let out = run_probe(&via_link, &grant("readwritePaths", path.clone()));
        assert_eq!(out.status.code(), Some(125), "{path}: {}", stderr(&out));
    }
    // The twins: an unrelated symlink and a sibling directory are fine.
    for path in [d.join("to-data").display().to_string(), d.join("data").display().to_string()] {
        let out = run_probe(&cache, &grant("readwritePaths", path.clone()));
        assert_eq!(out.status.code(), Some(6), "{path}: {}", stderr(&out));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_bind_mount_of_the_caches_parent_is_the_same_object() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let cache = d.join("real/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(d.join("view")).unwrap();
    std::fs::create_dir_all(d.join("other")).unwrap();
    let script = |grant: &Path| {
        let policy = d.join("p.json");
        std::fs::write(&policy, serde_json::json!({"filesystem": {"readwritePaths": [grant]}}).to_string()).unwrap();
        // A private mount namespace, so the bind never leaks onto the host.
        let mut c = std::process::Command::new("unshare");
        c.args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            r#"mount --bind "$1" "$2" && shift 2 && exec "$@""#,
            "sh",
        ]);
        c.arg(d.join("real")).arg(d.join("view")).arg(crate::support::cordon_exe());
        c.env("CORDON_CACHE_DIR", &cache).args(["run", "--policy"]).arg(&policy).args([
            "--",
            PROBE_WASIP2,
            "exit",
            "6",
        ]);
        c.stdin(std::process::Stdio::null());
        c.output().unwrap()
    };
    let out = script(&d.join("view"));
    if stderr(&out).contains("unshare failed") || stderr(&out).contains("mount:") {
        assert!(std::env::var_os("CORDON_REQUIRE_ALL").is_none(), "{}", stderr(&out));
        eprintln!("skipping: cannot bind-mount here: {}", stderr(&out));
        return;
    }
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("compiled-code cache"), "{}", stderr(&out));
    let out = script(&d.join("other"));
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}

// ---- the audit log ----

fn audit_run(audit: &Path, policy: &Path, cmd: &[&str]) -> Output {
    let mut c = cordon();
    c.args(["run", "--audit"]).arg(audit).arg("--policy").arg(policy).arg("--").args(cmd);
    run(c)
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_audit_path_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::write(d.join("target.txt"), "original").unwrap();
    let link = d.join("audit.jsonl");
    std::os::unix::fs::symlink(d.join("target.txt"), &link).unwrap();
    let policy = empty_policy(&d);
    let out = audit_run(&link, &policy, &[PROBE_WASIP2, "read", "/etc/hostname"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("symlink"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "the tool did not run");
    assert_eq!(std::fs::read_to_string(d.join("target.txt")).unwrap(), "original");
    // The twin: a plain file there is appended to.
    std::fs::remove_file(&link).unwrap();
    let out = audit_run(&link, &policy, &[PROBE_WASIP2, "read", "/etc/hostname"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&link).unwrap().contains("\"decision\":\"deny\""));
}

#[test]
fn an_audit_log_inside_a_writable_grant_is_refused_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(d.join("work")).unwrap();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.join("work"), d.join("alias")).unwrap();
    let policy = d.join("p.json");
    std::fs::write(&policy, serde_json::json!({"filesystem": {"readwritePaths": [d.join("work")]}}).to_string())
        .unwrap();
    let mut tools: Vec<Vec<&str>> = vec![vec![PROBE_WASIP2, "exit", "0"]];
    #[cfg(target_os = "linux")]
    if Path::new("/usr/bin/bwrap").exists() {
        tools.push(vec!["/bin/true"]);
    }
    for tool in &tools {
        for inside in [d.join("work/audit.jsonl"), d.join("alias/audit.jsonl")] {
            let out = audit_run(&inside, &policy, tool);
            assert_eq!(out.status.code(), Some(125), "{tool:?} {}: {}", inside.display(), stderr(&out));
            assert!(
                stderr(&out).contains("/filesystem/readwritePaths/0") && stderr(&out).contains("the audit log"),
                "{}",
                stderr(&out)
            );
            assert!(!d.join("work/audit.jsonl").exists());
        }
        // The twin: outside every grant.
        let out = audit_run(&d.join("logs/audit.jsonl"), &policy, tool);
        assert_eq!(out.status.code(), Some(0), "{tool:?}: {}", stderr(&out));
    }
    // Read-only access to the log's directory is fine: the tool cannot plant a link there.
    std::fs::write(&policy, serde_json::json!({"filesystem": {"readonlyPaths": [d.join("work")]}}).to_string())
        .unwrap();
    let out = audit_run(&d.join("work/audit.jsonl"), &policy, &[PROBE_WASIP2, "exit", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn tool_supplied_text_cannot_forge_audit_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let policy = empty_policy(&d);
    let lines = |name: &str| -> (String, Vec<serde_json::Value>) {
        let log = d.join(format!("audit-{}.jsonl", name.len()));
        let out = audit_run(&log, &policy, &[PROBE_WASIP2, "resolve", name]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = std::fs::read_to_string(&log).unwrap();
        let events = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).collect();
        (text, events)
    };
    // A name the tool chose, with a newline and a whole fake event in it.
    let evil = "evil\n{\"kind\":\"fake\",\"decision\":\"allow\"}.example";
    let (text, events) = lines(evil);
    let dns: Vec<_> = events.iter().filter(|e| e["kind"] == "dns").collect();
    assert_eq!(dns.len(), 1, "exactly one line for the one denial: {text}");
    assert_eq!(dns[0]["target"], evil, "{text}");
    assert!(events.iter().all(|e| e["kind"] != "fake"), "{text}");
    assert!(text.lines().all(|l| !l.starts_with("{\"kind\":\"fake\"")), "{text}");
    // The twin: a plain name gives the same number of lines.
    let (_, plain) = lines("plain.example");
    assert_eq!(plain.len(), events.len());
}

// ---- cordon cache list|clean, the cap, the compile notice ----

#[test]
fn cache_list_and_clean_show_and_remove_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = with_cache(&cache, &["cache", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("empty"), "{}", stdout(&out));
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    assert_eq!(with_cache(&cache, &["compile", SEARCH_WASIP2]).status.code(), Some(0));
    let out = with_cache(&cache, &["cache", "list"]);
    let text = stdout(&out);
    assert!(text.contains(&cache.display().to_string()), "{text}");
    assert!(text.contains("probe") && text.contains("search") && text.contains("last used"), "{text}");
    assert!(text.contains("2 entries") && text.contains("of the 1.0 GiB cap"), "{text}");
    let out = with_cache(&cache, &["cache", "clean", "--older-than", "1d"]);
    assert!(stdout(&out).contains("removed 0 entries"), "{}", stdout(&out));
    assert_eq!(entries(&cache, "cwasm").len(), 2);
    let out = with_cache(&cache, &["cache", "clean"]);
    assert!(stdout(&out).contains("removed 2 entries"), "{}", stdout(&out));
    assert!(entries(&cache, "cwasm").is_empty());
    assert!(cache.join("key").exists(), "the key stays");
    assert!(stdout(&with_cache(&cache, &["cache", "list"])).contains("0 entries"));
    assert_eq!(with_cache(&cache, &["cache", "clean", "--older-than", "soon"]).status.code(), Some(2));
}

#[test]
fn the_least_recently_used_entry_is_evicted_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    let probe = only_entry(&cache);
    let one = std::fs::metadata(&probe).unwrap().len();
    // Room for one entry only.
    let capped = |args: &[&str]| {
        let mut c = cordon();
        c.env("CORDON_CACHE_DIR", &cache).env("CORDON_CACHE_MAX_BYTES", (one + one / 2).to_string()).args(args);
        run(c)
    };
    let out = capped(&["cache", "list"]);
    assert!(stdout(&out).contains("1 entry"), "{}", stdout(&out));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(capped(&["compile", SEARCH_WASIP2]).status.code(), Some(0));
    let left = only_entry(&cache);
    assert_ne!(left, probe, "the older entry went, the new one stayed");
    assert!(stdout(&capped(&["cache", "list"])).contains("search"));
    // A use refreshes an entry. With probe and search cached, probe used last, and room for
    // probe and fetch: compiling fetch evicts search.
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    let search = left;
    let sizes = dir.path().join("sizes");
    assert_eq!(with_cache(&sizes, &["compile", FETCH_WASIP2]).status.code(), Some(0));
    let fetch = std::fs::metadata(only_entry(&sizes)).unwrap().len();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(mapped(&run_probe(&cache, &empty_policy(dir.path()))));
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", &cache).env("CORDON_CACHE_MAX_BYTES", (one + fetch + 100).to_string());
    c.args(["compile", FETCH_WASIP2]);
    assert_eq!(run(c).status.code(), Some(0));
    let now = entries(&cache, "cwasm");
    assert!(now.contains(&probe) && !now.contains(&search) && now.len() == 2, "{now:?}");
    // A cap below one entry still keeps the entry just written.
    std::fs::remove_file(&probe).unwrap();
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", &cache).env("CORDON_CACHE_MAX_BYTES", "1").args(["compile", PROBE_WASIP2]);
    assert_eq!(run(c).status.code(), Some(0));
    assert_eq!(only_entry(&cache), probe);
    // A cap that is not a size is an error, not ignored.
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", &cache).env("CORDON_CACHE_MAX_BYTES", "lots").args(["cache", "list"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("CORDON_CACHE_MAX_BYTES"), "{}", stderr(&out));
}

#[test]
fn a_slow_first_compile_says_so_once_and_a_cached_run_says_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let policy = empty_policy(dir.path());
    let timed = || {
        let start = std::time::Instant::now();
        let out = run_probe(&cache, &policy);
        (out, start.elapsed())
    };
    let (cold, cold_took) = timed();
    let (warm, warm_took) = timed();
    assert_eq!((cold.status.code(), warm.status.code()), (Some(6), Some(6)));
    assert!(mapped(&warm));
    assert!(!stderr(&warm).contains("compiling"), "a cache hit says nothing: {}", stderr(&warm));
    let notices = stderr(&cold).matches("(first run, cached for next time)").count();
    assert!(notices <= 1, "{}", stderr(&cold));
    // The compile is the difference between the two runs; well past half a second, the
    // line must be there (the probe takes about a second in a debug build).
    if cold_took.saturating_sub(warm_took) > std::time::Duration::from_millis(900) {
        assert_eq!(notices, 1, "{}", stderr(&cold));
        assert!(stderr(&cold).contains(&format!("cordon: compiling {PROBE_WASIP2} (first run")), "{}", stderr(&cold));
    } else {
        eprintln!("note: the probe compiled in {cold_took:?} here; the notice was not required");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn bubblewrap_scratch_lives_in_the_protected_cache_not_in_a_granted_tmp() {
    if !Path::new("/usr/bin/bwrap").exists() {
        assert!(std::env::var_os("CORDON_REQUIRE_ALL").is_none(), "bwrap is missing");
        return;
    }
    // The cache outside /tmp, so that a policy may grant /tmp.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let cache = dir.path().canonicalize().unwrap().join("cache");
    let policy = dir.path().join("p.json");
    std::fs::write(
        &policy,
        r#"{"filesystem":{"readwritePaths":["/tmp"],"deniedPaths":["/tmp/.cordon-denied-probe"]}}"#,
    )
    .unwrap();
    std::fs::write("/tmp/.cordon-denied-probe", "secret").ok();
    let mut c = cordon();
    c.env("CORDON_CACHE_DIR", &cache).args(["run", "--backend", "bubblewrap", "--policy"]).arg(&policy);
    c.args(["--", "/bin/sh", "-c", "sleep 2; cat /tmp/.cordon-denied-probe"]);
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let name = format!("cordon-{}-0", child.id());
    let (mut in_cache, mut in_tmp) = (false, false);
    for _ in 0..150 {
        in_cache |= cache.join("run").join(&name).is_dir();
        in_tmp |= Path::new("/tmp").join(&name).exists();
        if in_cache {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(in_cache && !in_tmp, "scratch in the cache: {in_cache}, in the granted /tmp: {in_tmp}");
    // The deny objects it holds still work: the denied file reads as nothing.
    assert!(!stdout(&out).contains("secret"), "{}", stdout(&out));
    assert!(!cache.join("run").join(&name).exists(), "removed after the run");
    let _ = std::fs::remove_file("/tmp/.cordon-denied-probe");
}

#[cfg(target_os = "linux")]
#[test]
fn a_command_or_audit_log_inside_the_cache_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let cache = d.join("cache");
    let policy = empty_policy(&d);
    assert_eq!(with_cache(&cache, &["compile", PROBE_WASIP2]).status.code(), Some(0));
    // A native command named by a path in the cache would be bound into the sandbox.
    let key = cache.join("key");
    let out = with_cache(
        &cache,
        &["run", "--backend", "landlock", "--policy", policy.to_str().unwrap(), "--", key.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("compiled-code cache"), "{}", stderr(&out));
    // An audit log there would append to the key or an entry.
    let p = policy.to_str().unwrap();
    let out =
        with_cache(&cache, &["run", "--audit", key.to_str().unwrap(), "--policy", p, "--", PROBE_WASIP2, "exit", "6"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 32, "the key is untouched");
    // The twins.
    let out = with_cache(&cache, &["run", "--backend", "landlock", "--policy", p, "--", "/bin/true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = d.join("audit.jsonl");
    let out =
        with_cache(&cache, &["run", "--audit", log.to_str().unwrap(), "--policy", p, "--", PROBE_WASIP2, "exit", "6"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}

#[cfg(target_os = "linux")]
#[test]
fn a_wasm_tool_is_never_granted_cordons_own_proc_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let policy = d.join("p.json");
    // In-process, /proc/self is cordon: its environment, its memory (writable through
    // /proc/self/mem), its descriptors.
    for grant in ["/proc", "/proc/self", "/proc/self/environ", "/proc/thread-self", "/dev/fd"] {
        for list in ["readonlyPaths", "readwritePaths"] {
            std::fs::write(&policy, serde_json::json!({"filesystem": {list: [grant]}}).to_string()).unwrap();
            let mut c = cordon();
            c.env("CORDON_PROC_PROBE", "cordons-own-env");
            c.args(["run", "--policy"]).arg(&policy).args(["--", PROBE_WASIP2, "read", "/proc/self/environ"]);
            let out = run(c);
            assert_eq!(out.status.code(), Some(125), "{list} {grant}: {}", stderr(&out));
            assert!(stderr(&out).contains("cordon's own process"), "{}", stderr(&out));
            assert!(!stdout(&out).contains("cordons-own-env"));
        }
    }
    // The twin: an ordinary read-only grant runs, and the tool reads what it was granted.
    std::fs::write(&policy, serde_json::json!({"filesystem": {"readonlyPaths": ["/etc"]}}).to_string()).unwrap();
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&policy).args(["--", PROBE_WASIP2, "read", "/etc/hostname"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"ok\":true"), "{}", stdout(&out));
}
