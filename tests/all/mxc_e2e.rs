//! MXC's own bubblewrap end-to-end scripts (`../shared/mxc-e2e/run.sh`, MXC's 0.8 line), with
//! cordon installed as `lxc-exec` (the runner links it under that name, so cordon takes MXC's
//! command line). Every script's outcome is pinned: the checks that pass must keep passing,
//! and each check cordon fails on purpose is listed with the reason (docs/policy.md, "Where
//! cordon differs from MXC's executor on purpose"). An outcome that changes either way fails,
//! so an improvement updates this table too.

use std::path::Path;
use std::process::Command;

use crate::support::{cordon_exe, is_root, require, root, stderr, stdout};

/// The programs the scripts call are on PATH (else the test skips, or fails under
/// CORDON_REQUIRE_ALL=1).
fn have_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !Command::new("sh").args(["-c", &format!("command -v {t}")]).output().unwrap().status.success())
        .collect();
    require(missing.is_empty(), &format!("{} missing (tests/setup.sh installs them)", missing.join(", ")))
}

/// `bash ARGS… CORDON` with cordon's test cache: the scripts install cordon as `lxc-exec`.
fn bash_with_cordon(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new("bash")
        .args(args)
        .arg(cordon_exe())
        .env("CORDON_CACHE_DIR", crate::support::cache_dir())
        .output()
        .unwrap()
}

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
    if !have_tools(&tools) {
        return;
    }
    if !require(Path::new("/proc/self/ns/net").exists() && is_root(), "the scripts need root") {
        return;
    }
    let out = bash_with_cordon(&[runner.as_os_str()]);
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

/// The runner above puts its stand-in internet (1.1.1.1, 9.9.9.9) on the scripts' own
/// loopback, where cordon counts them as the host's own addresses and the directional
/// script's unfiltered reachability probe is refused. This runs the directional script with
/// the same anchors behind a router instead (a peer namespace over a veth pair, as the real
/// internet is), so its egress checks run: the CIDR allow, the `except` carve-out, the
/// ruleless deny and the port narrowing must pass; only the proxy-parity check, which
/// fetches https://api.github.com, cannot pass without the internet. Then the firewall
/// script without its first check (pre-0.8 configs on the host's namespace, where cordon
/// differs on purpose): its CIDR allowlist must pass; its deny-wins check needs slirp's
/// alias of the host's loopback and is pinned as failing.
const ROUTED: &str = r#"
set -u
shared=$1 exe=$2
work=$(mktemp -d /tmp/mxc-e2e-routed.XXXX)
ns=mxcr$$ peer=mxcq$$
cleanup() { ip netns pids "$peer" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del "$ns" 2>/dev/null; ip netns del "$peer" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cp -r "$shared/mxc-e2e/tests" "$work/tests"
mkdir -p "$work/src/target/release"
ln -s "$exe" "$work/src/target/release/lxc-exec"
utp=${UNIX_TEST_PROXY:-${XDG_CACHE_HOME:-$HOME/.cache}/mxc-e2e/package/bin/x64/unix-test-proxy}
if [ ! -x "$utp" ] && command -v npm >/dev/null; then
  (cd "$work" && npm pack -q @microsoft/mxc-sdk@1.0.1 >/dev/null 2>&1 && tar xzf microsoft-mxc-sdk-1.0.1.tgz package/bin/x64/unix-test-proxy)
  utp=$work/package/bin/x64/unix-test-proxy
fi
[ -x "$utp" ] || { echo "no unix-test-proxy (MXC's, from the @microsoft/mxc-sdk 1.0.1 npm package)"; exit 3; }
ln -s "$utp" "$work/src/target/release/unix-test-proxy"
ip netns add "$ns" && ip netns add "$peer" || exit 2
ip link add mxcr0 netns "$ns" type veth peer name mxcr1 netns "$peer" || exit 2
ip -n "$ns" link set lo up; ip -n "$peer" link set lo up
ip -n "$ns" addr add 10.203.0.2/24 dev mxcr0; ip -n "$ns" link set mxcr0 up
ip -n "$peer" addr add 10.203.0.1/24 dev mxcr1; ip -n "$peer" link set mxcr1 up
ip -n "$ns" route add default via 10.203.0.1
ip -n "$peer" addr add 1.1.1.1/32 dev lo; ip -n "$peer" addr add 9.9.9.9/32 dev lo
ip netns exec "$peer" python3 "$shared/mxc-e2e/anchors.py" >/dev/null 2>&1 &
i=0
until ip netns exec "$ns" python3 -c 'import socket; socket.create_connection(("9.9.9.9", 80), 1).close()' 2>/dev/null; do
  i=$((i+1)); [ $i -lt 200 ] || { echo "the anchors did not start"; exit 0; }; sleep 0.05
done
export USER=${USER:-root}
timeout 300 ip netns exec "$ns" bash "$work/tests/scripts/run_bwrap_directional_test.sh" 2>&1
echo "rc=$?"
# The firewall script stops at its first check, which expects pre-0.8 configs on the host's
# network namespace (cordon keeps them in a private one, on purpose): run the rest of it.
fw=$work/tests/scripts/run_bwrap_firewall_test.sh
awk '/^echo "Running Bubblewrap firewall test: pre-0.8 is unchanged..."/{skip=1} skip&&/FAIL: pre-0.8 firewall \(exited/{last=1} skip&&last&&/^fi$/{skip=0; last=0; print "echo \"NOT RUN: pre-0.8 firewall\""; next} !skip' "$fw" >"$fw.rest"
grep -q '^echo "NOT RUN: pre-0.8 firewall"' "$fw.rest" || { echo "FAIL: the firewall script changed shape"; exit 0; }
echo "== firewall"
timeout 300 ip netns exec "$ns" bash "$fw.rest" 2>&1
echo "rc=$?"
"#;

#[test]
fn mxc_directional_and_firewall_scripts_pass_their_egress_checks_with_the_anchors_behind_a_router() {
    let shared = root().parent().unwrap().join("shared");
    let what = format!("MXC's end-to-end scripts are not at {} (../shared beside the checkout)", shared.display());
    if !require(shared.join("mxc-e2e/anchors.py").exists(), &what) {
        return;
    }
    let tools = ["bwrap", "ip", "python3", "curl"];
    if !have_tools(&tools) {
        return;
    }
    if !require(is_root(), "the script needs root") {
        return;
    }
    let out = bash_with_cordon(&["-c".as_ref(), ROUTED.as_ref(), "routed".as_ref(), shared.as_os_str()]);
    let text = stdout(&out);
    if !require(!text.contains("no unix-test-proxy"), "MXC's unix-test-proxy is missing (npm could not fetch it)") {
        return;
    }
    let (directional, firewall) = text.split_once("== firewall\n").unwrap_or((&text, ""));
    for check in [
        "directional cidr allow",
        "directional except carve-out",
        "directional ruleless deny",
        "directional port narrowing",
    ] {
        assert!(directional.contains(&format!("PASS: {check}\n")), "{check} did not pass:\n{text}{}", stderr(&out));
    }
    assert!(directional.contains("is reachable when allowed"), "the anchors are reachable unfiltered: {text}");
    // The one failure: the parity check fetches https://api.github.com through the proxy.
    let fails: Vec<&str> = directional.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(fails.iter().all(|l| l.contains("proxy parity")), "{fails:?}\n{text}");
    assert!(directional.contains("PARITY_DIRECT_BLOCKED_OK"), "direct egress is blocked under the proxy: {text}");
    // The firewall script past its pre-0.8 host-namespace check: its CIDR allowlist passes.
    for check in ["cidr allowlist", "firewall mode runs in a private network namespace"] {
        assert!(firewall.contains(&format!("PASS: {check}\n")), "firewall: {check} did not pass:\n{firewall}");
    }
    // Its deny-wins check first connects to 10.0.2.2, slirp4netns's alias of the host's
    // loopback, under `defaultPolicy: allow`: cordon has no such alias, and allowing
    // everything never opens the host's loopback (docs/policy.md). Pinned, so a change shows.
    assert!(
        firewall.contains("OPEN_TERMINAL_UNREACHABLE\nFAIL: denylist deny-wins"),
        "the deny-wins outcome changed:\n{firewall}"
    );
}
