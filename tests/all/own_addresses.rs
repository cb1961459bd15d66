//! The host's own interface addresses are local addresses on every backend (a planned host
//! fact): a policy that allows every address must not reach a host service listening on all
//! interfaces through the host's public or LAN address, since cordon's wasm host and proxy
//! connect from the host. Each case runs in a network namespace of its own, where the test
//! gives a veth interface the addresses 203.0.113.7 and 2001:db8:7::7 (outside every local
//! range) and runs a service on every interface; cordon runs there too.

use std::path::Path;
use std::process::Command;

use crate::support::{cordon_exe, require, stderr, stdout};

/// Answers each connection with one line, on every IPv4 and IPv6 address, port 7007.
const SERVER: &str = r"
import socket, threading
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('::', 7007)); s.listen(16)
def serve(c):
    try:
        c.recv(64); c.sendall(b'own-host\n')
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
";

/// Sets up the namespace, starts [`SERVER`], waits for it, then runs `"$@"` (the server ends
/// with the script).
const SETUP: &str = r#"
set -e
ip link set lo up
ip link add own0 type veth peer name own1
ip link set own1 up
ip addr add 203.0.113.7/32 dev own0
ip -6 addr add 2001:db8:7::7/128 dev own0 nodad
ip link set own0 up
python3 -c "$SERVER" </dev/null >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
i=0
until python3 -c 'import socket; socket.create_connection(("203.0.113.7", 7007), 1).close()' 2>/dev/null; do
  i=$((i+1)); [ $i -lt 100 ] || { echo "server did not start" >&2; exit 99; }; sleep 0.05
done
"$@"
"#;

fn everything(named: bool) -> serde_json::Value {
    let mut to = vec![serde_json::json!({ "cidr": "0.0.0.0/0" }), serde_json::json!({ "cidr": "::/0" })];
    if named {
        to.push(serde_json::json!({ "cidr": "203.0.113.7/32" }));
        to.push(serde_json::json!({ "cidr": "2001:db8:7::7/128" }));
    }
    serde_json::json!({
        "version": "0.8.0-alpha",
        "process": { "timeout": 20000 },
        "network": { "egress": { "allow": [{ "to": to }] } }
    })
}

#[test]
fn the_hosts_own_addresses_are_not_reached_by_allowing_everything() {
    if !require(
        cfg!(target_os = "linux") && Path::new("/usr/bin/unshare").exists() && Path::new("/usr/bin/python3").exists(),
        "unshare (util-linux) or /usr/bin/python3 missing",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    // The native probe under a name that makes it ignore the proxy variables: its
    // connections then reach cordon through the transparent capture.
    let noproxy = root.join("probe-noproxy");
    std::fs::copy(cordon_tests::components::PROBE_HOST, &noproxy).unwrap();
    let mut probes = vec![("wasm", cordon_tests::components::PROBE_WASIP2.to_string())];
    if crate::support::have_bwrap() {
        probes.push(("bubblewrap, through the proxy", cordon_tests::components::PROBE_HOST.to_string()));
        if require(Path::new("/usr/sbin/nft").exists(), "nftables (/usr/sbin/nft) is not installed") {
            probes.push(("bubblewrap, captured", noproxy.display().to_string()));
        }
    }
    for named in [false, true] {
        let policy = root.join(format!("policy-{named}.json"));
        std::fs::write(&policy, everything(named).to_string()).unwrap();
        for (backend, probe) in &probes {
            let mut c = Command::new("unshare");
            c.args(["--net", "--", "sh", "-c", SETUP, "setup"])
                .arg(cordon_exe())
                .args(["run", "--policy"])
                .arg(&policy)
                .args(["--", probe, "connect", "203.0.113.7:7007", "+", "connect", "[2001:db8:7::7]:7007"])
                .env("SERVER", SERVER)
                .env("CORDON_CACHE_DIR", crate::support::cache_dir());
            let out = c.output().unwrap();
            let (text, err) = (stdout(&out), stderr(&out));
            assert_ne!(out.status.code(), Some(99), "{err}");
            let answers = text.lines().filter(|l| l.contains("own-host")).count();
            let denied = text.lines().filter(|l| l.contains(r#""ok":false"#)).count();
            if named {
                // The twin: the rule naming the addresses reaches the service through both.
                assert_eq!(answers, 2, "{backend}, addresses named: {text}\n{err}");
                assert_eq!(out.status.code(), Some(0), "{backend}: {err}");
            } else {
                assert_eq!(
                    (answers, denied),
                    (0, 2),
                    "{backend} reached the host through its own address: {text}\n{err}"
                );
                assert!(err.contains("denied (net 2)"), "{backend}: both refusals are counted: {err}");
            }
        }
    }
}

/// Why each refusal was made is on record: the audit names the host-address rule.
#[test]
fn a_refused_host_address_is_audited_with_its_reason() {
    if !require(
        cfg!(target_os = "linux") && Path::new("/usr/bin/unshare").exists() && Path::new("/usr/bin/python3").exists(),
        "unshare (util-linux) or /usr/bin/python3 missing",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let policy = root.join("policy.json");
    std::fs::write(&policy, everything(false).to_string()).unwrap();
    let audit = root.join("audit.jsonl");
    let out = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", SETUP, "setup"])
        .arg(cordon_exe())
        .args(["run", "--audit"])
        .arg(&audit)
        .arg("--policy")
        .arg(&policy)
        .args(["--", cordon_tests::components::PROBE_WASIP2, "connect", "203.0.113.7:7007"])
        .env("SERVER", SERVER)
        .env("CORDON_CACHE_DIR", crate::support::cache_dir())
        .output()
        .unwrap();
    let log = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(log.contains("203.0.113.7:7007") && log.contains("this host's own interfaces"), "{log}\n{}", stderr(&out));
    // Planned, and shown before anything runs.
    let explain = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", SETUP, "setup"])
        .arg(cordon_exe())
        .args(["policy", "explain", "--backend", "wasm"])
        .arg(&policy)
        .env("SERVER", SERVER)
        .output()
        .unwrap();
    let shown = stdout(&explain);
    assert!(
        shown.contains("this host's own addresses") && shown.contains("203.0.113.7"),
        "{shown}{}",
        stderr(&explain)
    );
}
