//! The host's own interface addresses are local addresses on every backend (a planned host
//! fact): a policy that allows every address must not reach a host service listening on all
//! interfaces through the host's public or LAN address, since cordon's wasm host and proxy
//! connect from the host. Each case runs in a network namespace of its own, where the test
//! gives a veth interface the addresses 203.0.113.7 and 2001:db8:7::7 (outside every local
//! range), makes 198.51.100.0/24 local by a route (AnyIP), and runs a
//! service on every interface; cordon runs there too.

use std::path::Path;
use std::process::Command;

use crate::support::{cordon_exe, is_root, require, stderr, stdout};

/// Answers each connection with one line (an HTTP response to a GET), on every IPv4 and IPv6
/// address, port 7007.
const SERVER: &str = r"
import socket, threading
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('::', 7007)); s.listen(16)
def serve(c):
    try:
        data = c.recv(4096)
        if data.startswith(b'GET'):
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nown-host\n')
        else:
            c.sendall(b'own-host\n')
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
ip route add local 198.51.100.0/24 dev lo
python3 -c "$SERVER" </dev/null >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
i=0
until python3 -c 'import socket; socket.create_connection(("203.0.113.7", 7007), 1).close()' 2>/dev/null; do
  i=$((i+1)); [ $i -lt 100 ] || { echo "server did not start" >&2; exit 99; }; sleep 0.05
done
"$@"
"#;

/// The namespaces and the service can be made here (else the test skips, or fails under
/// CORDON_REQUIRE_ALL=1).
fn can_unshare() -> bool {
    require(
        cfg!(target_os = "linux") && Path::new("/usr/bin/unshare").exists() && Path::new("/usr/bin/python3").exists(),
        "unshare (util-linux) or /usr/bin/python3 missing",
    )
}

fn everything(named: bool) -> serde_json::Value {
    let mut to = vec![serde_json::json!({ "cidr": "0.0.0.0/0" }), serde_json::json!({ "cidr": "::/0" })];
    if named {
        to.push(serde_json::json!({ "cidr": "203.0.113.7/32" }));
        to.push(serde_json::json!({ "cidr": "2001:db8:7::7/128" }));
        to.push(serde_json::json!({ "cidr": "198.51.100.0/24" }));
    }
    serde_json::json!({
        "version": "0.8.0-alpha",
        "process": { "timeout": 20000 },
        "network": { "egress": { "allow": [{ "to": to }] } }
    })
}

#[test]
fn the_hosts_own_addresses_are_not_reached_by_allowing_everything() {
    if !can_unshare() {
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
                .args(["+", "connect", "198.51.100.77:7007"])
                // The same through HTTP (wasi:http, the proxy's absolute form, a raw GET), once
                // in a numeric spelling of 203.0.113.7.
                .args(["+", "http", "http://203.0.113.7:7007/", "+", "http", "http://[2001:db8:7::7]:7007/"])
                .args(["+", "http", "http://3405803783:7007/"])
                .env("SERVER", SERVER)
                .env("CORDON_CACHE_DIR", crate::support::cache_dir());
            let out = c.output().unwrap();
            let (text, err) = (stdout(&out), stderr(&out));
            assert_ne!(out.status.code(), Some(99), "{err}");
            let answers = text.lines().filter(|l| l.contains("own-host")).count();
            let denied = text.lines().filter(|l| l.contains(r#""ok":false"#)).count();
            if named {
                // The twin: the rule naming the addresses reaches the service through both.
                assert_eq!(answers, 6, "{backend}, addresses named: {text}\n{err}");
                assert_eq!(out.status.code(), Some(0), "{backend}: {err}");
            } else {
                assert_eq!(
                    (answers, denied),
                    (0, 6),
                    "{backend} reached the host through its own address: {text}\n{err}"
                );
                assert!(err.contains("6 accesses denied"), "{backend}: every refusal is counted: {err}");
            }
        }
    }
}

/// Why each refusal was made is on record: the audit names the host-address rule.
#[test]
fn a_refused_host_address_is_audited_with_its_reason() {
    if !can_unshare() {
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
    assert!(
        log.contains("203.0.113.7:7007") && log.contains("own interfaces or local routes"),
        "{log}\n{}",
        stderr(&out)
    );
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
        shown.contains("this host's own addresses and local routes")
            && shown.contains("203.0.113.7/32")
            && shown.contains("198.51.100.0/24"),
        "{shown}{}",
        stderr(&explain)
    );
}

/// In a network namespace of this test thread's own, an address or local route added or
/// removed after a plan is in the next plan, and a plan made before (or with a closure's
/// facts, which know no host) is refused when run: a server never decides with stale facts.
#[test]
#[allow(unsafe_code, reason = "unshare of this test thread's network namespace")]
fn the_host_facts_follow_the_host_and_a_stale_plan_is_refused() {
    use cordon_plan::PathFacts as _;
    let ip_tool = Path::new("/usr/sbin/ip").exists() || Path::new("/usr/bin/ip").exists();
    if !require(cfg!(target_os = "linux") && ip_tool && is_root(), "needs root and ip (iproute2)") {
        return;
    }
    std::thread::spawn(|| {
        // SAFETY: unshare of the calling thread only; the processes it starts inherit it.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "{}", std::io::Error::last_os_error());
        let ip = |args: &[&str]| assert!(Command::new("ip").args(args).status().unwrap().success(), "ip {args:?}");
        let net = |s: &str| cordon_policy::net::IpNet::parse(s).unwrap();
        let now = || cordon_runtime::SystemFacts.own_networks().unwrap();
        ip(&["link", "set", "lo", "up"]);
        let first = now();
        assert!(!first.contains(&net("203.0.113.7/32")) && first.contains(&net("127.0.0.0/8")), "{first:?}");
        assert_eq!(now(), first, "unchanged: the same answer");
        let everything = cordon_policy::Policy::parse(
            r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow"}}}"#,
            &cordon_policy::LexicalHost::default(),
        )
        .unwrap();
        let plan = || cordon_plan::wasi::plan(&everything, &cordon_runtime::SystemFacts).unwrap();
        let before = plan();
        assert!(cordon_runtime::api::fresh(&before).is_ok());
        ip(&["addr", "add", "203.0.113.7/32", "dev", "lo"]);
        assert!(now().contains(&net("203.0.113.7/32")), "added");
        assert!(cordon_runtime::api::fresh(&before).is_err(), "a plan made before is stale");
        let after = plan();
        assert!(cordon_runtime::api::fresh(&after).is_ok());
        let tcp = cordon_policy::net::Protocol::Tcp;
        assert!(!after.network.check_addr("203.0.113.7".parse().unwrap(), 80, tcp).allowed);
        assert!(before.network.check_addr("203.0.113.7".parse().unwrap(), 80, tcp).allowed, "the twin");
        let blind = cordon_plan::wasi::plan(&everything, &|_: &Path| None).unwrap();
        assert!(cordon_runtime::api::fresh(&blind).is_err(), "a plan without this host's facts");
        ip(&["addr", "del", "203.0.113.7/32", "dev", "lo"]);
        assert!(!now().contains(&net("203.0.113.7/32")), "removed");
        ip(&["-6", "addr", "add", "2001:db8:7::7/128", "dev", "lo"]);
        assert!(now().contains(&net("2001:db8:7::7/128")), "IPv6 added");
        // A whole range made local by a route, in another table too, an address with a
        // prefix on lo (the kernel makes the prefix local), and an anycast address.
        ip(&["route", "add", "local", "192.0.2.0/24", "dev", "lo", "table", "100"]);
        ip(&["-6", "route", "add", "local", "2001:db8:9::/64", "dev", "lo"]);
        ip(&["addr", "add", "198.51.100.1/24", "dev", "lo"]);
        // With IPv6 forwarding on, each prefix's `::` is an anycast address of the host.
        assert!(
            Command::new("sh")
                .args(["-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"])
                .status()
                .unwrap()
                .success()
        );
        ip(&["link", "add", "any0", "type", "veth", "peer", "name", "any1"]);
        ip(&["link", "set", "any1", "up"]);
        ip(&["link", "set", "any0", "up"]);
        ip(&["-6", "addr", "add", "2001:db8:a::7/64", "dev", "any0", "nodad"]);
        let all = now();
        for want in ["192.0.2.0/24", "2001:db8:9::/64", "198.51.100.0/24", "2001:db8:a::/128"] {
            assert!(all.contains(&net(want)), "{want} in {all:?}");
        }
    })
    .join()
    .unwrap();
    // This thread's namespace has its own answer, untouched by the other's routes.
    let mine = cordon_runtime::SystemFacts.own_networks().unwrap();
    assert!(!mine.iter().any(|n| n.contains("192.0.2.77".parse().unwrap())), "{mine:?}");
}
