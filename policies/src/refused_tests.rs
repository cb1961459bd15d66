#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::{LexicalHost, Policy};

fn net(json: &str) -> Network {
    Policy::parse(json, &LexicalHost::default()).unwrap().network
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Policies of every shape the refusals must agree with.
const POLICIES: &[&str] = &[
    // Directional: CIDR, except, ports, port ranges, protocols, deny beats allow, loopback.
    r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"deny",
      "allow":[{"to":[{"cidr":"192.0.2.0/24","except":["192.0.2.128/25"]},{"cidr":"2001:db8::/32"}],
                "ports":[{"protocol":"tcp","port":443},{"protocol":"udp","port":30000,"endPort":30100}]},
               {"to":[{"cidr":"127.0.0.1/32"}],"ports":[{"protocol":"tcp","port":8080}]},
               {"to":[{"cidr":"10.1.0.0/16"}]},
               {"to":[{"cidr":"198.51.100.0/24"}]}],
      "deny":[{"to":[{"cidr":"198.51.100.7/32"}]},{"to":[{"cidr":"2001:db8:1::/48"}],"ports":[{"protocol":"tcp","port":22}]}]}}}"#,
    // Default allow with denies (local ranges still denied unless named).
    r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow",
      "deny":[{"to":[{"cidr":"203.0.113.0/24"}],"ports":[{"protocol":"tcp","port":25,"endPort":26}]},{"to":[{"cidr":"8.8.8.8/32"}]}]}}}"#,
    // Domains: names may allow any non-local address, so only denies and local ranges are
    // refused everywhere.
    r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"deny","deny":[{"to":[{"cidr":"1.2.3.0/24"}]}]}},
      "cordon":{"network":{"allowDomains":["*.example.com"]}}}"#,
    // Nothing allowed.
    r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"deny"}}}"#,
    // Legacy allowLocalNetwork.
    r#"{"version":"0.7.0-alpha","network":{"defaultPolicy":"block","allowLocalNetwork":true,"allowedHosts":["10.0.0.0/8"]}}"#,
    // Everything, and one host address named by itself.
    r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"deny",
      "allow":[{"to":[{"cidr":"0.0.0.0/0"},{"cidr":"::/0"}]},{"to":[{"cidr":"203.0.113.9/32"}],"ports":[{"protocol":"tcp","port":8080}]}]}}}"#,
];

/// Host networks the policies are also checked with ([`Network::host_networks`]): inside
/// an allowed network, inside none, inside a local range, IPv6 inside an allowed /32, a
/// local route across an allowed network's edge.
const HOST: &[&str] =
    &["192.0.2.77/32", "203.0.113.9/32", "10.1.2.3/32", "2001:db8::5/128", "2001:db8:ffff::1/128", "198.51.100.0/25"];

fn host() -> Vec<IpNet> {
    HOST.iter().map(|s| IpNet::parse(s).unwrap()).collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Addresses near every edge the policy or a local range has, and random ones.
fn samples(n: &Network, rng: &mut Rng) -> Vec<IpAddr> {
    let mut edges: Vec<IpAddr> = Vec::new();
    let mut add = |base: IpAddr| match base {
        IpAddr::V4(v4) => {
            let x = u32::from(v4);
            for d in [x.wrapping_sub(1), x, x.wrapping_add(1)] {
                edges.push(IpAddr::V4(Ipv4Addr::from(d)));
            }
        }
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            for d in [x.wrapping_sub(1), x, x.wrapping_add(1)] {
                edges.push(IpAddr::V6(Ipv6Addr::from(d)));
            }
        }
    };
    for r in n.egress.allow.iter().chain(&n.egress.deny) {
        for p in &r.to {
            for net in std::iter::once(&p.net).chain(&p.except) {
                let width = if net.addr().is_ipv4() { 32 } else { 128 };
                let (a, b) = net_span(net, width);
                for x in [a, b] {
                    add(if width == 32 { IpAddr::V4(Ipv4Addr::from(x as u32)) } else { IpAddr::V6(Ipv6Addr::from(x)) });
                }
            }
        }
    }
    for &(a, p) in LOCAL_V4 {
        let (x, y) = span(u128::from(a), p, 32);
        add(IpAddr::V4(Ipv4Addr::from(x as u32)));
        add(IpAddr::V4(Ipv4Addr::from(y as u32)));
    }
    for &(a, p) in LOCAL_V6 {
        let (x, y) = span(a, p, 128);
        add(IpAddr::V6(Ipv6Addr::from(x)));
        add(IpAddr::V6(Ipv6Addr::from(y)));
    }
    for &(x, y) in CARRIERS_V6 {
        add(IpAddr::V6(Ipv6Addr::from(x)));
        add(IpAddr::V6(Ipv6Addr::from(y)));
    }
    for s in ["::ffff:10.0.0.1", "::ffff:8.8.8.8", "64:ff9b::a00:1", "64:ff9b::808:808", "::1", "fe80::1"] {
        add(ip(s));
    }
    for own in &n.host_networks {
        let width = if own.addr().is_ipv4() { 32 } else { 128 };
        let (a, b) = net_span(own, width);
        for x in [a, b] {
            add(if width == 32 { IpAddr::V4(Ipv4Addr::from(x as u32)) } else { IpAddr::V6(Ipv6Addr::from(x)) });
        }
    }
    for _ in 0..400 {
        edges.push(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)));
        edges.push(IpAddr::V6(Ipv6Addr::from((u128::from(rng.next()) << 64) | u128::from(rng.next()))));
    }
    edges
}

fn ports(rng: &mut Rng) -> Vec<u16> {
    let mut p = vec![
        0, 1, 21, 22, 23, 24, 25, 26, 27, 80, 442, 443, 444, 8079, 8080, 8081, 29_999, 30_000, 30_100, 30_101, 65_535,
    ];
    p.extend((0..20).map(|_| rng.next() as u16));
    p
}

/// What a refusal promises, checked against the decision functions: a listed destination
/// is refused given as an address and as any allowed name's answer; and with no name able
/// to allow anything, every refused destination outside loopback and the IPv4-carrying
/// IPv6 ranges is listed.
#[test]
fn refusals_agree_with_the_decisions_at_every_edge() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let with_host = |json: &str| Network { host_networks: host(), ..net(json) };
    for n in POLICIES.iter().flat_map(|json| [net(json), with_host(json)]) {
        let json = format!("{:?}", n.host_networks);
        let names_may_allow = !n.domains.allow.is_empty() || n.egress.default == Action::Allow;
        for proto in [Protocol::Tcp, Protocol::Udp] {
            let refused = n.refused_everywhere(proto);
            let listed = |ip: IpAddr, port: u16| {
                refused.iter().any(|r| r.addrs.contains(ip) && r.ports.iter().any(|&(a, b)| (a..=b).contains(&port)))
            };
            let skipped = |ip: IpAddr| match ip {
                IpAddr::V4(_) => false,
                IpAddr::V6(v6) => CARRIERS_V6.iter().any(|&(x, y)| (x..=y).contains(&u128::from(v6))),
            };
            for addr in samples(&n, &mut rng) {
                for port in ports(&mut rng) {
                    let direct = n.check_addr(addr, port, proto).allowed;
                    let by_name = names_may_allow && n.check_resolved(addr, port, proto, "/name").allowed;
                    if listed(addr, port) {
                        assert!(!direct && !by_name, "{json}\n{proto} {addr}:{port} listed but allowed");
                        let r = refused.iter().find(|r| r.addrs.contains(addr)).unwrap();
                        assert_eq!(r.loopback, addr.is_loopback(), "{addr}: loopback is listed apart");
                        assert!(!skipped(addr), "{proto} {addr}:{port} is the relay's to decide");
                    } else if !direct && !by_name && !skipped(addr) {
                        panic!("{json}\n{proto} {addr}:{port} refused everywhere but not listed");
                    }
                }
            }
        }
    }
}

#[test]
fn the_directional_policy_refuses_what_it_names_and_not_its_allowed_twins() {
    let n = net(POLICIES[0]);
    let tcp = n.refused_everywhere(Protocol::Tcp);
    let listed = |s: &str, port: u16| {
        tcp.iter().any(|r| r.addrs.contains(ip(s)) && r.ports.iter().any(|&(a, b)| (a..=b).contains(&port)))
    };
    // Denied: another port, an except range, the deny inside an allowed /24, no rule.
    assert!(listed("192.0.2.10", 80));
    assert!(listed("192.0.2.200", 443));
    assert!(listed("198.51.100.7", 443));
    assert!(listed("203.0.113.5", 443));
    assert!(listed("2001:db8:1::5", 22));
    // Their allowed twins.
    assert!(!listed("192.0.2.10", 443));
    assert!(!listed("198.51.100.8", 443));
    assert!(!listed("10.1.2.3", 5432));
    assert!(!listed("2001:db8:1::5", 443));
    // Loopback is listed apart (the sandbox's own loopback answers there); the named
    // loopback port is not listed.
    assert!(listed("127.0.0.1", 9) && listed("::1", 9));
    assert!(tcp.iter().filter(|r| r.addrs.contains(ip("127.0.0.1"))).all(|r| r.loopback));
    assert!(!listed("127.0.0.1", 8080));
    // An IPv4-carrying IPv6 address is the relay's to decide.
    assert!(!listed("::ffff:203.0.113.5", 443));
}

#[test]
fn with_domain_grants_only_denies_and_local_ranges_are_refused_ahead() {
    let n = net(POLICIES[2]);
    let tcp = n.refused_everywhere(Protocol::Tcp);
    let listed = |s: &str| tcp.iter().any(|r| r.addrs.contains(ip(s)));
    assert!(listed("1.2.3.4"), "a deny rule holds for every path");
    assert!(listed("10.0.0.1") && listed("169.254.169.254"), "an allowed name never vouches for a local address");
    assert!(!listed("93.184.216.34"), "a public address may be an allowed name's answer: the relay decides");
}

#[test]
fn the_hosts_own_addresses_are_refused_unless_a_rule_names_them() {
    let plain = net(POLICIES[5]);
    let n = Network { host_networks: host(), ..plain.clone() };
    let tcp = n.refused_everywhere(Protocol::Tcp);
    let listed = |s: &str, port: u16| {
        tcp.iter().any(|r| r.addrs.contains(ip(s)) && r.ports.iter().any(|&(a, b)| (a..=b).contains(&port)))
    };
    // Inside 0.0.0.0/0 and ::/0, but the host's own: refused on every port but the named one.
    assert!(listed("192.0.2.77", 80) && listed("2001:db8::5", 80) && listed("203.0.113.9", 80));
    assert!(!listed("203.0.113.9", 8080), "the rule naming the address allows it");
    // Their neighbours, not the host's, stay allowed by the wide rule.
    assert!(!listed("192.0.2.76", 80) && !listed("192.0.2.78", 80) && !listed("2001:db8::6", 80));
    // Without the host fact nothing but the local ranges is refused.
    let plain_tcp = plain.refused_everywhere(Protocol::Tcp);
    assert!(!plain_tcp.iter().any(|r| r.addrs.contains(ip("192.0.2.77"))));
}
