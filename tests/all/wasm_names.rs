//! Another name for a rule's object (issue 19): a case variant on a case-insensitive
//! filesystem (`data/SECRET` for a denied `data/secret`), a hard link to a denied file, a bind
//! mount of a denied directory inside a grant. The wasm layer decides on the objects it opens
//! (device and inode), not on spellings. Each denial beside its granted twin.

use std::path::{Path, PathBuf};
use std::process::Command;

use cordon_tests::components::PROBE_WASIP2;

use crate::support::{cordon_exe, require, run, stderr};

fn ok(v: &serde_json::Value) -> bool {
    v["ok"] == true
}

fn denied(v: &serde_json::Value) -> bool {
    v["ok"] == false && v["error"] == "denied"
}

/// Runs the probe with `ops` under `policy` inside a mount namespace of its own, after the
/// shell commands `setup` (mounts made there vanish with it), and returns one JSON value per
/// op.
fn probe_in_ns(setup: &str, policy: &Path, ops: &[&str]) -> Vec<serde_json::Value> {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("set -e; {setup}; set +e; \"$@\"; rc=$?; umount -l {} 2>/dev/null; exit $rc", "\"$MNT\""))
        .arg("sh")
        .arg(cordon_exe())
        .args(["run", "--quiet", "--policy"])
        .arg(policy)
        .arg("--")
        .arg(PROBE_WASIP2)
        .args(ops);
    c.env("CORDON_CACHE_DIR", crate::support::cache_dir());
    c.stdin(std::process::Stdio::null());
    let out = run(c);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}; {}", stderr(&out))))
        .collect()
}

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

fn ops(list: &[&[&str]]) -> Vec<String> {
    let mut v = Vec::new();
    for (i, op) in list.iter().enumerate() {
        if i > 0 {
            v.push("+".to_string());
        }
        v.extend(op.iter().map(|s| (*s).to_string()));
    }
    v
}

#[test]
fn on_a_case_insensitive_filesystem_another_spelling_of_a_rule_is_that_rule() {
    // A real NTFS volume (an image file), mounted case-insensitively by lowntfs-3g, as NTFS
    // is on Windows (and APFS on macOS by default).
    let present = cfg!(target_os = "linux")
        && ["mkntfs", "lowntfs-3g", "unshare"].iter().all(|t| have(t))
        && Path::new("/dev/fuse").exists();
    if !require(present, "ntfs-3g (mkntfs, lowntfs-3g), unshare or /dev/fuse missing (tests/setup.sh installs ntfs-3g)")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let img = root.join("ntfs.img");
    std::fs::File::create(&img).unwrap().set_len(16 << 20).unwrap();
    let mk = Command::new("mkntfs").args(["-q", "-F", "-f"]).arg(&img).output().unwrap();
    assert!(mk.status.success(), "mkntfs: {}", String::from_utf8_lossy(&mk.stderr));
    let m = root.join("mnt");
    std::fs::create_dir(&m).unwrap();
    let p = |rel: &str| m.join(rel).display().to_string();
    let policy = root.join("policy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"filesystem": {
            "readonlyPaths": [p("data"), p("w/ro")],
            "readwritePaths": [p("w")],
            "deniedPaths": [p("data/secret"), p("data/key.txt"), p("w/later")]
        }})
        .to_string(),
    )
    .unwrap();
    // The tree is made inside the namespace, on the mounted volume; the policy is loaded
    // there too (its paths exist then).
    let setup = format!(
        "MNT={mnt}; lowntfs-3g -o ignore_case {img} \"$MNT\"; cd \"$MNT\"; mkdir -p data/secret data/allowed w/ro; \
         echo secret > data/secret/c.txt; echo key > data/key.txt; echo twin > data/allowed/a.txt; \
         echo ro > w/ro/f; cd /",
        mnt = m.display(),
        img = img.display()
    );
    let (sc, sc_up, s_mixed) = (p("data/secret/c.txt"), p("data/SECRET/c.txt"), p("data/Secret"));
    let (key_up, allowed, allowed_up) = (p("data/KEY.TXT"), p("data/allowed/a.txt"), p("data/ALLOWED/a.txt"));
    let (ro_up, ro, other) = (p("w/RO/f"), p("w/ro/g"), p("w/other.txt"));
    let (later_up, later, fresh) = (p("w/LATER"), p("w/later"), p("w/fresh"));
    let (moved, other2, dotdot) = (p("w/moved"), p("w/other2.txt"), p("data/allowed/../SECRET/c.txt"));
    let list = ops(&[
        &["read", &sc],
        &["read", &sc_up],
        &["list", &s_mixed],
        &["read", &key_up],
        &["read", &allowed],
        &["read", &allowed_up],
        &["write", &ro_up, "x"],
        &["write", &ro, "x"],
        &["write", &other, "x"],
        &["mkdir", &later_up],
        &["mkdir", &later],
        &["mkdir", &fresh],
        &["rename", &p("w/RO"), &moved],
        &["rename", &other, &other2],
        &["read", &dotdot],
        &["stat", &p("data/SECRET")],
    ]);
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    let r = probe_in_ns(&setup, &policy, &list);
    assert_eq!(r.len(), 16, "{r:?}");
    assert!(denied(&r[0]), "the rule's own spelling: {}", r[0]);
    assert!(denied(&r[1]), "data/SECRET is the denied directory: {}", r[1]);
    assert!(denied(&r[2]), "data/Secret cannot be listed: {}", r[2]);
    assert!(denied(&r[3]), "data/KEY.TXT is the denied file: {}", r[3]);
    // The twins: the volume really is case-insensitive, and a granted directory reads under
    // either spelling.
    assert_eq!(r[4]["value"], "twin\n", "{}", r[4]);
    assert_eq!(r[5]["value"], "twin\n", "ALLOWED is allowed: {}", r[5]);
    assert!(denied(&r[6]), "w/RO is the read-only w/ro: {}", r[6]);
    assert!(denied(&r[7]), "{}", r[7]);
    assert!(ok(&r[8]), "the twin: w is writable: {}", r[8]);
    // A denied path that does not exist: the tool cannot create it under another spelling
    // either; the twin, another new directory in the same writable grant, is made.
    assert!(denied(&r[9]), "w/LATER would be the denied w/later: {}", r[9]);
    assert!(denied(&r[10]), "{}", r[10]);
    assert!(ok(&r[11]), "the twin: w/fresh: {}", r[11]);
    assert!(denied(&r[12]), "w/RO (read-only) cannot be moved: {}", r[12]);
    assert!(ok(&r[13]), "the twin: a file of w can: {}", r[13]);
    assert!(denied(&r[14]), "through `..` and another spelling: {}", r[14]);
    assert!(denied(&r[15]), "stat of data/SECRET: {}", r[15]);
}

#[test]
fn a_hard_link_to_a_denied_file_is_denied_under_any_name() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let d = root.join("data");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("key.txt"), "key").unwrap();
    std::fs::write(d.join("allowed.txt"), "twin").unwrap();
    // Made outside cordon (a tool cannot make it: `link-at` needs write access to the
    // source); the second name sits in the granted directory.
    std::fs::hard_link(d.join("key.txt"), d.join("copy.txt")).unwrap();
    let policy = root.join("policy.json");
    let s = |p: PathBuf| p.display().to_string();
    std::fs::write(
        &policy,
        serde_json::json!({"filesystem": {"readonlyPaths": [s(d.clone())], "deniedPaths": [s(d.join("key.txt"))]}})
            .to_string(),
    )
    .unwrap();
    let (copy, key, twin) = (s(d.join("copy.txt")), s(d.join("key.txt")), s(d.join("allowed.txt")));
    let list = ops(&[&["read", &copy], &["read", &key], &["read", &twin], &["stat", &copy]]);
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    let mut c = crate::support::cordon();
    c.args(["run", "--quiet", "--policy"]).arg(&policy).arg("--").arg(PROBE_WASIP2).args(&list);
    let out = run(c);
    let r: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(denied(&r[0]), "copy.txt is the denied key.txt: {}", r[0]);
    assert!(denied(&r[1]), "{}", r[1]);
    assert_eq!(r[2]["value"], "twin", "{}", r[2]);
    assert!(denied(&r[3]), "{}", r[3]);
}

#[test]
fn a_bind_mount_of_a_denied_directory_inside_a_grant_is_denied() {
    if !require(cfg!(target_os = "linux") && have("unshare"), "unshare (util-linux) missing") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let d = root.join("data");
    std::fs::create_dir_all(d.join("secret")).unwrap();
    std::fs::create_dir_all(d.join("view")).unwrap();
    std::fs::create_dir_all(d.join("other")).unwrap();
    std::fs::write(d.join("secret/c.txt"), "secret").unwrap();
    std::fs::write(d.join("other/c.txt"), "twin").unwrap();
    let s = |p: PathBuf| p.display().to_string();
    let policy = root.join("policy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"filesystem": {"readonlyPaths": [s(d.clone())], "deniedPaths": [s(d.join("secret"))]}})
            .to_string(),
    )
    .unwrap();
    let setup =
        format!("MNT={view}; mount --bind {secret} \"$MNT\"", view = s(d.join("view")), secret = s(d.join("secret")));
    let (view_c, view, twin) = (s(d.join("view/c.txt")), s(d.join("view")), s(d.join("other/c.txt")));
    let list = ops(&[&["read", &view_c], &["list", &view], &["read", &twin]]);
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    let r = probe_in_ns(&setup, &policy, &list);
    assert!(denied(&r[0]), "view is the denied directory: {}", r[0]);
    assert!(denied(&r[1]), "{}", r[1]);
    assert_eq!(r[2]["value"], "twin", "{}", r[2]);
}
