//! MXC's own bubblewrap end-to-end scripts (`../shared/mxc-e2e/run.sh`, MXC's 0.8 line), with
//! cordon installed as `lxc-exec` (the runner links it under that name, so cordon takes MXC's
//! command line). Every script's outcome is pinned: the checks that pass must keep passing,
//! and each check cordon fails on purpose is listed with the reason (docs/policy.md, "Where
//! cordon differs from MXC's executor on purpose"). An outcome that changes either way fails,
//! so an improvement updates this table too.

use std::path::Path;
use std::process::Command;

use crate::support::{cordon_exe, is_root, require, root, stderr, stdout};

/// (script, passes, fails, exit code, why it is not all passes).
const EXPECTED: &[(&str, u32, u32, i32, &str)] = &[
    ("basic", 0, 0, 0, ""),
    ("filesystem", 1, 0, 0, ""),
    (
        "denied_masking",
        4,
        1,
        1,
        "a denied symlink inside a writable grant is refused (a tool could have re-pointed it in an earlier run); the script stops there",
    ),
    ("most_specific", 2, 0, 0, ""),
    ("filesystem_object", 1, 0, 0, ""),
    ("network", 2, 0, 0, ""),
    (
        "localnet",
        0,
        1,
        1,
        "pre-0.8 defaultPolicy allow runs in a private namespace with local ranges denied, where MXC shares the host's and refuses allowLocalNetwork=false",
    ),
    ("inbound_deny", 0, 1, 1, "pre-0.8 configs stay in a private namespace (MXC: the host's)"),
    (
        "directional",
        3,
        0,
        77,
        "the runner puts its stand-in internet (1.1.1.1, 9.9.9.9) on the namespace's loopback, where they are the host's own addresses: its unfiltered reachability probe is refused, so the script skips",
    ),
    ("firewall", 0, 1, 1, "pre-0.8 configs stay in a private namespace (MXC: the host's)"),
];

#[test]
fn mxc_end_to_end_scripts_give_the_pinned_outcome_with_cordon_as_lxc_exec() {
    let runner = root().parent().unwrap().join("shared/mxc-e2e/run.sh");
    let what = format!("MXC's end-to-end scripts are not at {} (../shared beside the checkout)", runner.display());
    if !require(runner.exists(), &what) {
        return;
    }
    let tools = ["bwrap", "sudo", "iptables", "slirp4netns", "ip", "python3"];
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !Command::new("sh").args(["-c", &format!("command -v {t}")]).output().unwrap().status.success())
        .collect();
    if !require(missing.is_empty(), &format!("{} missing (tests/setup.sh installs them)", missing.join(", "))) {
        return;
    }
    if !require(Path::new("/proc/self/ns/net").exists() && is_root(), "the scripts need root") {
        return;
    }
    let out = Command::new("bash")
        .arg(&runner)
        .arg(cordon_exe())
        .env("CORDON_CACHE_DIR", crate::support::cache_dir())
        .output()
        .unwrap();
    let text = stdout(&out);
    let mut wrong = Vec::new();
    for &(script, passes, fails, rc, why) in EXPECTED {
        let want = format!("{script}: {passes} passes, {fails} fails, rc={rc}");
        match text.lines().find(|l| l.starts_with(&format!("{script}:"))) {
            Some(line) if line.starts_with(&want) => {}
            Some(line) => {
                wrong.push(format!("{line}\n    expected {want} ({})", if why.is_empty() { "all pass" } else { why }))
            }
            None => wrong.push(format!("{script}: no outcome")),
        }
    }
    assert!(wrong.is_empty(), "{}\n\nwhole run:\n{text}\n{}", wrong.join("\n"), stderr(&out));
}
