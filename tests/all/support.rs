//! Helpers shared by the suites.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The cordon binary under test (`cordon-helper` is beside it when the workspace is built).
pub fn cordon_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cordon-under-test"))
}

/// The cordon binary under test.
pub fn cordon() -> Command {
    let mut c = Command::new(cordon_exe());
    c.stdin(Stdio::null());
    // Each test gets the cache it asks for; by default, a fresh one per process tree.
    c.env("CORDON_CACHE_DIR", cache_dir());
    c
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A test's requirement that this machine may lack: `false` (after printing why the test
/// skips) when it is missing, a failure when `CORDON_REQUIRE_ALL` is set (as CI sets it), so
/// a plain clone passes and CI never skips silently.
pub fn require(present: bool, what: &str) -> bool {
    if !present {
        assert!(std::env::var_os("CORDON_REQUIRE_ALL").is_none(), "{what}, and CORDON_REQUIRE_ALL is set");
        eprintln!("skipping: {what}");
    }
    present
}

/// `../shared/mxc-fixtures`, beside the checkout (as laid out for sessions and CI), or `None`
/// (after saying so) on a plain clone.
pub fn mxc_fixtures() -> Option<PathBuf> {
    let dir = root().parent().unwrap().join("shared/mxc-fixtures");
    let what = format!("MXC's fixtures are not at {} (they live in ../shared beside the checkout)", dir.display());
    require(dir.is_dir(), &what).then_some(dir)
}

/// Runs and captures.
pub fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A compiled-code cache shared by this test binary's runs (tests that study the cache set
/// their own).
pub fn cache_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("cordon-test-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    })
    .clone()
}

/// bubblewrap is installed (else the test skips, or fails under CORDON_REQUIRE_ALL=1).
pub fn have_bwrap() -> bool {
    require(std::path::Path::new("/usr/bin/bwrap").exists(), "bubblewrap is not installed")
}

/// A fresh temporary directory and its canonical path (the tests' scratch roots).
pub fn temp_root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
}

/// True when the tests run as root (CI does, and so do sessions here).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
