//! What cordon's helper applies inside the sandbox before it executes the tool, on both
//! Linux backends: landlock rules, limits, the proxy relay, the seccomp filter.

use std::path::{Path, PathBuf};

use cordon_policy::Access;
use serde::{Deserialize, Serialize};

use crate::seccomp::SeccompPlan;

/// Landlock rules as data: the second filesystem layer under bubblewrap (in sandbox
/// paths), the only one on the landlock backend (in host paths).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LandlockPlan {
    /// System paths and the access granted beneath them, opened as the system names them
    /// (`/bin` may be a link to `/usr/bin`); one this host lacks grants nothing.
    pub rules: Vec<(PathBuf, Access)>,
    /// The policy's grants, each opened one component at a time without following any link
    /// (a link there is one a tool could have planted: the run is refused), so the rule is
    /// on the object the policy was checked against. Everything else is denied.
    #[serde(default)]
    pub pinned: Vec<(PathBuf, Access)>,
}

impl LandlockPlan {
    /// Every rule, system ones first, with whether it is opened without following links.
    pub fn all(&self) -> impl Iterator<Item = (&Path, Access, bool)> {
        self.rules
            .iter()
            .map(|(p, a)| (p.as_path(), *a, false))
            .chain(self.pinned.iter().map(|(p, a)| (p.as_path(), *a, true)))
    }
}

/// Resource limits the helper sets before the tool runs: per process, a second layer under
/// the whole tree's cgroup ([`TreeLimits`](crate::cgroup::TreeLimits)).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NativeLimits {
    /// RLIMIT_AS, bytes.
    pub memory_bytes: Option<u64>,
    /// RLIMIT_CPU, whole seconds (rounded up from `cpuMs`).
    pub cpu_seconds: Option<u64>,
    /// Processes at once: enforced by the run's cgroup (`pids.max`), not by the helper.
    pub max_processes: Option<u64>,
}

/// The relay that carries the sandbox's proxy traffic out of its empty network namespace:
/// it listens on loopback inside the sandbox and forwards each connection to cordon's proxy
/// through a unix socket bound into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    /// Loopback port inside the sandbox.
    pub port: u16,
    /// Path of the proxy's socket inside the sandbox.
    pub socket: String,
    /// `host:port` of the user's own proxy (`runtimeConfig.networkProxy`, `network.proxy`):
    /// cordon forwards every connection there and reaches nothing else. `None`: cordon's
    /// own filtering proxy decides each destination.
    #[serde(default)]
    pub forward: Option<String>,
    /// Transparent capture, when planned: every TCP connection the tool makes, whether or not
    /// it honours the proxy variables, is redirected inside the sandbox's own network
    /// namespace to the relay, which asks cordon's proxy for its original destination by
    /// address (SOCKS5) — the same check a proxy client gets.
    #[serde(default)]
    pub capture: Option<Capture>,
}

/// Transparent capture of TCP and UDP in the sandbox's network namespace: set up by the helper
/// while it holds `CAP_NET_ADMIN` over that namespace (and drops it, with every other
/// capability, before the relay and the tool start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// The relay's transparent port on `127.0.0.1` and `::1`.
    pub port: u16,
    /// `ip` (iproute2) inside the sandbox: makes every address local to the namespace's
    /// loopback, so a connection to any address reaches the redirect instead of failing
    /// with no route.
    pub ip: PathBuf,
    /// `nft` inside the sandbox.
    pub nft: PathBuf,
    /// The relay's DNS stub on `127.0.0.1` (UDP): the sandbox's resolver, and where every
    /// query to port 53 anywhere is redirected. It asks cordon, which answers a denied name
    /// with NXDOMAIN without any upstream query.
    pub dns_port: u16,
    /// The nftables ruleset (`nft -f -`).
    pub ruleset: String,
    /// The host's kernel has IPv6: `::/0` is routed to loopback too and the relay listens on
    /// `::1` (a host fact read when planning).
    pub ipv6: bool,
    /// The relay's transparent UDP port on `127.0.0.1` and `::1` (nftables `tproxy`): every
    /// UDP datagram but DNS and what stays on the sandbox's own loopback arrives there with
    /// its original destination, and each flow is asked of cordon, which decides it with
    /// the policy's UDP rules and carries it. 0: no UDP is relayed.
    #[serde(default)]
    pub udp_port: u16,
    /// cordon hands each captured TCP connection's socket to the relay (`SCM_RIGHTS`) instead
    /// of carrying its bytes. Planned only when the tool can create no unix socket, so only
    /// the relay can ask for one: a socket cordon opened lives in the host's network namespace
    /// and would let whoever holds it connect or listen anywhere there.
    #[serde(default)]
    pub handoff: bool,
    /// The NFLOG group the refusals before any handshake are logged to. The helper binds a
    /// socket to it while it holds `CAP_NET_ADMIN` and hands it to cordon (over the proxy's
    /// socket, before the tool starts); cordon reads it after the run and records each
    /// refusal naming its rule.
    #[serde(default)]
    pub log_group: u16,
}

/// The NFLOG group of [`Capture::log_group`] (the namespace is the sandbox's own).
pub const LOG_GROUP: u16 = 7;

/// The first byte the helper sends on the proxy's socket to hand over the refusal log (a
/// SOCKS request starts with 5, an HTTP one with a letter).
pub const LOG_HANDOVER: u8 = 0xc0;

/// The TTL, in seconds, of every answer the relay's DNS stub gives: cordon vouches for an
/// answered address for twice as long.
pub const DNS_TTL: u32 = 60;

/// The first byte of the relay's report of UDP datagrams it dropped before asking cordon
/// (more flows at once than it tracks, or a burst its socket's buffer could not hold),
/// followed by their number (big-endian `u64`): cordon records it as one refusal.
pub const UDP_DROPS: u8 = 0xc1;

/// The UDP port of the relay's DNS stub inside the sandbox.
pub const DNS_PORT: u16 = 3153;

/// The source address the relay uses to reach a loopback service the tool runs inside the
/// sandbox (exempt from the redirect, and only towards loopback, which stays inside).
pub const INSIDE_SOURCE: &str = "127.0.0.2";

/// The loopback port of the relay's transparent listener inside the sandbox.
pub const CAPTURE_PORT: u16 = 3129;

/// The loopback port of the relay's transparent UDP socket inside the sandbox.
pub const UDP_PORT: u16 = 3130;

/// The first byte of the relay's request for a UDP flow on the proxy's socket: a SOCKS5
/// request with this command and the flow's destination by address; once granted, each
/// datagram crosses the socket as a big-endian `u16` length and its bytes, both ways.
pub const SOCKS_UDP_FLOW: u8 = 0xf1;

/// The relay's request for a captured TCP connection (SOCKS5 command, destination by
/// address): cordon decides it like a CONNECT, opens the connection to the checked address,
/// and hands the connected socket to the relay with its reply (`SCM_RIGHTS`), so the bytes
/// move between the tool and the destination without passing through cordon.
pub const SOCKS_CONNECT_HANDOFF: u8 = 0xf2;

impl Capture {
    /// The capture for a sandbox whose relay listens on `proxy_port` (left alone) and
    /// `CAPTURE_PORT`, with `ip` and `nft` at those paths. A TCP connection to a destination
    /// `network` refuses on every path ([`cordon_policy::Network::refused_everywhere`]) is
    /// answered with a reset before any handshake (the tool's `connect()` fails with
    /// ECONNREFUSED); every other one reaches the relay, which asks cordon.
    pub fn new(proxy_port: u16, ip: PathBuf, nft: PathBuf, ipv6: bool, network: &cordon_policy::Network) -> Self {
        use cordon_policy::net::Protocol;
        let port = CAPTURE_PORT;
        // Refused on every path, decided by the policy's own decision functions: elsewhere a
        // reset before any handshake; on loopback no redirect, so the sandbox's own loopback
        // answers (a service the tool runs inside, or the kernel's reset). Each first packet
        // is logged, and on loopback the kernel's resets too: cordon reads the log after the
        // run and records each refusal with its rule.
        let (mut refuse, mut own_loopback) = (String::new(), String::new());
        for r in network.refused_everywhere(Protocol::Tcp) {
            let m = refusal_match(&r, Protocol::Tcp);
            if r.loopback {
                refuse.push_str(&format!("    {m} log group {LOG_GROUP}\n"));
                own_loopback.push_str(&format!("    {m} return\n"));
            } else {
                refuse.push_str(&format!("    {m} log group {LOG_GROUP} reject with tcp reset\n"));
            }
        }
        if !own_loopback.is_empty() {
            for lo in ["ip saddr 127.0.0.0/8", "ip6 saddr ::1"] {
                refuse.push_str(&format!("    {lo} tcp flags & rst == rst log group {LOG_GROUP}\n"));
            }
        }
        // UDP: a datagram refused on every path is dropped as it is sent (the tool's `send`
        // fails with EPERM, as a wasm guest's does) and logged — on loopback too: nftables
        // cannot tell at send time whether a socket of the sandbox would take it. Everything
        // else goes to the relay's transparent socket (`tproxy`, as every address is local
        // here) with its destination, and cordon decides each flow; a loopback datagram a
        // socket of the sandbox takes stays inside. Replies (ct direction reply: the relay
        // answering as the destination, the DNS stub) go back.
        let mut udp_refuse = String::new();
        for r in network.refused_everywhere(Protocol::Udp) {
            let m = refusal_match(&r, Protocol::Udp);
            udp_refuse.push_str(&format!("    {m} log group {LOG_GROUP} drop\n"));
        }
        let udp = UDP_PORT;
        let tproxy6 = if ipv6 {
            format!("    meta nfproto ipv6 meta l4proto udp tproxy ip6 to [::1]:{udp} accept\n")
        } else {
            String::new()
        };
        let ruleset = format!(
            "table inet cordon {{\n  chain refuse {{\n    type filter hook output priority -200; policy accept;\n{refuse}  }}\n  chain out {{\n    type nat hook output priority -100; policy accept;\n    ip daddr 127.0.0.1 tcp dport {{ {proxy_port}, {port} }} return\n    ip saddr {INSIDE_SOURCE} ip daddr 127.0.0.0/8 return\n    ip6 daddr ::1 tcp dport {port} return\n{own_loopback}    meta l4proto tcp redirect to :{port}\n    udp dport 53 redirect to :{DNS_PORT}\n  }}\n  chain filter {{\n    type filter hook output priority 0; policy accept;\n    ip daddr 127.0.0.1 udp dport {DNS_PORT} accept\n    ip saddr 127.0.0.1 udp sport {DNS_PORT} accept\n    meta l4proto udp ct direction reply accept\n{udp_refuse}  }}\n  chain divert {{\n    type filter hook prerouting priority mangle; policy accept;\n    meta l4proto != udp return\n    ct direction reply return\n    ip daddr 127.0.0.1 udp dport {DNS_PORT} return\n    ip daddr 127.0.0.0/8 socket transparent 0 return\n    ip6 daddr ::1 socket transparent 0 return\n    meta nfproto ipv4 meta l4proto udp tproxy ip to 127.0.0.1:{udp} accept\n{tproxy6}  }}\n}}\n"
        );
        Self { port, ip, nft, dns_port: DNS_PORT, udp_port: udp, ruleset, ipv6, handoff: false, log_group: LOG_GROUP }
    }
}

/// The nftables match for the first packet (SYN) of a TCP connection to `r`, or any UDP
/// datagram to it. Only the SYN: the reset sent back comes from the refused address too
/// (every address is local in the sandbox), and must reach the tool.
fn refusal_match(r: &cordon_policy::Refusal, proto: cordon_policy::net::Protocol) -> String {
    let (l4, tail) = match proto {
        cordon_policy::net::Protocol::Udp => ("udp", String::new()),
        _ => ("tcp", " tcp flags & (syn | ack) == syn".to_string()),
    };
    let family = if r.addrs.first.is_ipv4() { "ip" } else { "ip6" };
    let addrs = if r.addrs.first == r.addrs.last {
        r.addrs.first.to_string()
    } else {
        format!("{}-{}", r.addrs.first, r.addrs.last)
    };
    let ports = if r.ports == [(0, 65_535)] {
        String::new()
    } else {
        let list: Vec<String> =
            r.ports.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        format!(" {l4} dport {{ {} }}", list.join(", "))
    };
    let l4 = if ports.is_empty() && tail.is_empty() { format!(" meta l4proto {l4}") } else { String::new() };
    format!("{family} daddr {addrs}{l4}{ports}{tail}")
}

/// What the helper applies inside the sandbox before it executes the tool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HelperPlan {
    /// The proxy relay, when the policy allows some destinations but not all.
    pub relay: Option<Relay>,
    /// Drop every capability (the landlock backend, which has no user namespace).
    #[serde(default)]
    pub drop_caps: bool,
    /// Landlock must be fully enforced, and scopes signals and abstract unix sockets to the
    /// sandbox (the landlock backend, where landlock is the only filesystem layer).
    #[serde(default)]
    pub require_landlock: bool,
    /// Abstract unix sockets are scoped to the sandbox, or the run is refused (landlock ABI
    /// 6). Planned when a granted socket file lifts the filter on creating unix sockets: with
    /// the host's network shared, the host's abstract sockets (X11, D-Bus) would otherwise
    /// be reachable.
    #[serde(default)]
    pub scope_abstract_unix: bool,
    /// The seccomp filter.
    pub seccomp: SeccompPlan,
    /// The landlock rules.
    pub landlock: LandlockPlan,
    /// The limits.
    pub limits: NativeLimits,
}
