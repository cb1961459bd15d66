#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::{Host, LexicalHost, Policy};

fn net(json: &str) -> Network {
    Policy::parse(json, &LexicalHost::default()).unwrap().network
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const DIRECTIONAL: &str = r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"deny",
  "allow":[{"to":[{"cidr":"192.0.2.0/24","except":["192.0.2.128/25"]},{"cidr":"2001:db8::/32"}],
            "ports":[{"protocol":"tcp","port":443},{"protocol":"udp","port":30000,"endPort":30100}]},
           {"to":[{"cidr":"127.0.0.1/32"}],"ports":[{"protocol":"tcp","port":8080}]},
           {"to":[{"cidr":"198.51.100.0/24"}]}],
  "deny":[{"to":[{"cidr":"198.51.100.7/32"}]}]}}}"#;

#[test]
fn cidr_port_and_protocol_must_all_match() {
    let n = net(DIRECTIONAL);
    assert!(n.check_addr(ip("192.0.2.10"), 443, Protocol::Tcp).allowed);
    assert!(!n.check_addr(ip("192.0.2.10"), 80, Protocol::Tcp).allowed);
    assert!(!n.check_addr(ip("192.0.2.10"), 443, Protocol::Udp).allowed);
    assert!(n.check_addr(ip("192.0.2.10"), 30050, Protocol::Udp).allowed);
    assert!(!n.check_addr(ip("192.0.2.10"), 30101, Protocol::Udp).allowed);
    assert!(!n.check_addr(ip("192.0.3.10"), 443, Protocol::Tcp).allowed);
}

#[test]
fn except_carves_out_of_its_peer() {
    let n = net(DIRECTIONAL);
    assert!(n.check_addr(ip("192.0.2.127"), 443, Protocol::Tcp).allowed);
    assert!(!n.check_addr(ip("192.0.2.128"), 443, Protocol::Tcp).allowed);
}

#[test]
fn deny_beats_allow() {
    let n = net(DIRECTIONAL);
    assert!(n.check_addr(ip("198.51.100.6"), 1, Protocol::Tcp).allowed);
    let d = n.check_addr(ip("198.51.100.7"), 1, Protocol::Tcp);
    assert!(!d.allowed);
    assert_eq!(d.rule, "/network/egress/deny/0");
}

#[test]
fn local_ranges_need_a_rule_that_names_them() {
    let n = net(DIRECTIONAL);
    assert!(n.check_addr(ip("127.0.0.1"), 8080, Protocol::Tcp).allowed);
    assert!(!n.check_addr(ip("127.0.0.1"), 8081, Protocol::Tcp).allowed);
    assert!(!n.check_addr(ip("10.1.2.3"), 443, Protocol::Tcp).allowed);
    // Even with default allow, an empty `to` does not name local ranges.
    let open = net(r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow"}}}"#);
    assert!(open.check_addr(ip("8.8.8.8"), 53, Protocol::Udp).allowed);
    for local in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00::1",
        "100.64.0.1",
        "0.0.0.0",
    ] {
        assert!(!open.check_addr(ip(local), 80, Protocol::Tcp).allowed, "{local}");
    }
    // Legacy allowLocalNetwork lets them follow the rules.
    let legacy = net(r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#);
    assert!(legacy.check_addr(ip("10.0.0.1"), 80, Protocol::Tcp).allowed);
}

#[test]
fn mapped_ipv6_is_checked_as_ipv4() {
    let n = net(DIRECTIONAL);
    assert!(n.check_addr(ip("::ffff:192.0.2.10"), 443, Protocol::Tcp).allowed);
    assert!(!n.check_addr(ip("::ffff:198.51.100.7"), 1, Protocol::Tcp).allowed);
    assert!(!n.check_addr(ip("::ffff:127.0.0.1"), 9, Protocol::Tcp).allowed);
    assert!(n.check_addr(ip("2001:db8::5"), 443, Protocol::Tcp).allowed);
}

#[test]
fn names_follow_domain_rules_then_the_default() {
    let n = net(
        r#"{"version":"0.8.0-alpha","cordon":{"network":{"allowDomains":["*.example.com","example.org"],"denyDomains":["bad.example.com"]}}}"#,
    );
    assert!(n.check_name("api.example.com").allowed);
    assert!(n.check_name("API.Example.COM.").allowed);
    assert!(!n.check_name("example.com").allowed);
    assert!(!n.check_name("evilexample.com").allowed);
    assert!(!n.check_name("example.com.evil").allowed);
    assert!(!n.check_name("bad.example.com").allowed);
    assert_eq!(n.check_name("bad.example.com").rule, "/cordon/network/denyDomains/0");
    assert!(n.check_name("example.org").allowed);
    assert!(!n.check_name("other.net").allowed);
    let legacy = net(r#"{"network":{"defaultPolicy":"allow","blockedHosts":["blocked.example"]}}"#);
    assert!(legacy.check_name("anything.net").allowed);
    assert!(!legacy.check_name("blocked.example").allowed);
}

#[test]
fn answers_of_allowed_names_are_reachable_unless_denied_or_local() {
    let n = net(r#"{"version":"0.8.0-alpha","network":{"egress":{"deny":[{"to":[{"cidr":"10.9.0.0/16"}]}]}},
        "cordon":{"network":{"allowDomains":["svc.test"]}}}"#);
    assert!(n.check_resolved(ip("93.184.216.34"), 80, Protocol::Tcp, "/x").allowed);
    assert_eq!(n.check_resolved(ip("93.184.216.34"), 80, Protocol::Tcp, "/x").rule, "/x");
    assert!(!n.check_resolved(ip("10.9.1.1"), 80, Protocol::Tcp, "/x").allowed);
    // An allowed name never vouches for a local address (DNS rebinding).
    for local in [
        "127.0.0.1",
        "::1",
        "10.0.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "100.64.0.1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
    ] {
        assert!(!n.check_resolved(ip(local), 80, Protocol::Tcp, "/x").allowed, "{local}");
    }
    // The twin: a rule that names the range lets the answer through.
    let named = net(r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"127.0.0.0/8"}]}]}},
        "cordon":{"network":{"allowDomains":["svc.test"]}}}"#);
    assert!(named.check_resolved(ip("127.0.0.1"), 80, Protocol::Tcp, "/x").allowed);
    assert!(!named.check_resolved(ip("10.0.0.1"), 80, Protocol::Tcp, "/x").allowed);
}

#[test]
fn hosts_in_numeric_or_localhost_spellings_are_decided_as_addresses() {
    let open = net(r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow"}}}"#);
    for s in [
        "localhost",
        "LOCALHOST.",
        "foo.localhost",
        "2130706433",
        "127.1",
        "0x7f000001",
        "017700000001",
        "0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "0177.1",
        "127.0.0.1.",
    ] {
        let h = Host::parse(s).unwrap();
        match open.check_host(&h, 80, Protocol::Tcp) {
            HostCheck::Addresses(a) => assert!(a.iter().all(|(_, d)| !d.allowed), "{s}: {a:?}"),
            other => panic!("{s}: {other:?}"),
        }
    }
    assert!(matches!(open.check_host(&Host::parse("example.com").unwrap(), 80, Protocol::Tcp), HostCheck::Resolve(_)));
    // The twin: a rule naming 127.0.0.0/8 reaches every IPv4 spelling; ::1 needs its own.
    let lo = net(
        r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow","allow":[{"to":[{"cidr":"127.0.0.0/8"}]}]}}}"#,
    );
    for s in ["localhost", "2130706433", "127.1", "0x7f000001", "[::ffff:127.0.0.1]"] {
        let HostCheck::Addresses(a) = lo.check_host(&Host::parse(s).unwrap(), 80, Protocol::Tcp) else { panic!("{s}") };
        assert!(a.iter().any(|(ip, d)| d.allowed && canonical_ip(*ip).is_ipv4()), "{s}: {a:?}");
    }
    // A denied name is refused; a numeric form never reaches the domain rules.
    let names = net(r#"{"version":"0.8.0-alpha","cordon":{"network":{"allowDomains":["*.example.com"]}}}"#);
    assert!(matches!(names.check_host(&Host::parse("evil.test").unwrap(), 80, Protocol::Tcp), HostCheck::Refused(_)));
    assert!(matches!(
        names.check_host(&Host::parse("A.Example.com.").unwrap(), 80, Protocol::Tcp),
        HostCheck::Resolve(_)
    ));
}

#[test]
fn domain_rules_refuse_addresses_and_localhost_in_every_spelling() {
    for bad in ["2130706433", "127.1", "0x7f.1", "localhost", "*.localhost", "a.localhost", "[::1]"] {
        let json = format!(r#"{{"version":"0.8.0-alpha","cordon":{{"network":{{"allowDomains":["{bad}"]}}}}}}"#);
        assert!(Policy::parse(&json, &LexicalHost::default()).is_err(), "{bad}");
    }
    // Legacy host lists: a numeric form is an address rule, localhost the loopback ranges.
    let legacy = net(
        r#"{"network":{"defaultPolicy":"allow","allowLocalNetwork":true,"blockedHosts":["2130706433","localhost"]}}"#,
    );
    assert!(!legacy.check_addr(ip("127.0.0.1"), 80, Protocol::Tcp).allowed);
    assert!(!legacy.check_addr(ip("127.0.0.2"), 80, Protocol::Tcp).allowed);
    assert!(!legacy.check_addr(ip("::1"), 80, Protocol::Tcp).allowed);
    assert!(legacy.check_addr(ip("10.0.0.1"), 80, Protocol::Tcp).allowed);
}

#[test]
fn binds_follow_ingress() {
    let closed = net(r#"{"version":"0.8.0-alpha","network":{"ingress":{"default":"deny","hostLoopback":"deny"}}}"#);
    assert!(closed.check_bind(ip("0.0.0.0"), 0).allowed);
    assert!(!closed.check_bind(ip("127.0.0.1"), 8080).allowed);
    assert!(!closed.check_bind(ip("0.0.0.0"), 8080).allowed);
    let lo = net(r#"{"version":"0.8.0-alpha","network":{"ingress":{"hostLoopback":"allow"}}}"#);
    assert!(lo.check_bind(ip("127.0.0.1"), 8080).allowed);
    assert!(!lo.check_bind(ip("0.0.0.0"), 8080).allowed);
}

/// "Allow everything" names no local range: `0.0.0.0/0`, `::/0` and wide networks contain
/// loopback, private networks and cloud metadata but do not open them; a network inside a
/// local range does.
#[test]
fn a_wide_network_does_not_name_the_local_ranges_inside_it() {
    let all = |cidr: &str| {
        net(&format!(
            r#"{{"version":"0.8.0-alpha","network":{{"egress":{{"allow":[{{"to":[{{"cidr":"{cidr}"}}]}}]}}}}}}"#
        ))
    };
    let tcp = |n: &Network, a: &str| n.check_addr(ip(a), 80, Protocol::Tcp).allowed;
    let v4 = all("0.0.0.0/0");
    for local in [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "192.168.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "168.63.129.16",
        "192.0.0.192",
    ] {
        assert!(!tcp(&v4, local), "0.0.0.0/0 opened {local}");
    }
    assert!(tcp(&v4, "8.8.8.8"), "the public twin");
    assert!(!tcp(&all("8.0.0.0/5"), "10.1.2.3"), "a network around 10/8 does not name it");
    assert!(tcp(&all("10.0.0.0/8"), "10.1.2.3") && tcp(&all("10.1.2.3/32"), "10.1.2.3"));
    assert!(tcp(&all("127.0.0.1/32"), "127.0.0.1") && tcp(&all("169.254.169.254/32"), "169.254.169.254"));
    let v6 = all("::/0");
    for local in ["::1", "fd00:ec2::254", "fe80::1", "::ffff:127.0.0.1", "64:ff9b::a00:1"] {
        assert!(!tcp(&v6, local), "::/0 opened {local}");
    }
    assert!(tcp(&v6, "2001:db8::1"), "the public twin");
    assert!(tcp(&all("fd00::/8"), "fd00:ec2::254") && tcp(&all("::1/128"), "::1"));
    assert!(tcp(&all("64:ff9b::a00:0/104"), "64:ff9b::a00:1"), "a NAT64 network inside 10/8 names it");
    assert!(!tcp(&all("64:ff9b::/96"), "64:ff9b::a00:1"), "all of NAT64 does not");
}

/// The host's own interface addresses are local: "allow everything" (by CIDR or by default)
/// and allowed names do not reach a host service listening on every interface through them;
/// a rule naming the address itself does (its twin), as `allowLocalNetwork` does.
#[test]
fn the_hosts_own_addresses_need_a_rule_that_names_them() {
    let own: Vec<IpNet> = ["203.0.113.9/32", "2001:db8::5/128", "10.0.2.15/32", "198.51.100.0/24"]
        .iter()
        .map(|s| IpNet::parse(s).unwrap())
        .collect();
    let with = |json: &str| Network { host_networks: own.clone(), ..net(json) };
    let allow = |cidrs: &[&str]| {
        let to: Vec<String> = cidrs.iter().map(|c| format!(r#"{{"cidr":"{c}"}}"#)).collect();
        with(&format!(
            r#"{{"version":"0.8.0-alpha","network":{{"egress":{{"allow":[{{"to":[{}]}}]}}}}}}"#,
            to.join(",")
        ))
    };
    let tcp = |n: &Network, a: &str| n.check_addr(ip(a), 80, Protocol::Tcp);
    let everything = allow(&["0.0.0.0/0", "::/0"]);
    let by_default = with(r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow"}}}"#);
    let legacy = with(r#"{"version":"0.7.0-alpha","network":{"defaultPolicy":"allow"}}"#);
    for n in [&everything, &by_default, &legacy] {
        for spelling in [
            "203.0.113.9",
            "::ffff:203.0.113.9",
            "::ffff:cb00:7109",
            "64:ff9b::cb00:7109",
            "2001:db8::5",
            "198.51.100.200",
        ] {
            let d = tcp(n, spelling);
            assert!(!d.allowed, "{spelling} reached");
            assert!(d.rule.contains("this host's own interfaces or local routes"), "{spelling}: {}", d.rule);
        }
        assert!(!tcp(n, "10.0.2.15").allowed, "a host address in a local range stays a local range");
        // Its neighbours are not the host's: the wide rule allows them.
        assert!(tcp(n, "203.0.113.8").allowed && tcp(n, "203.0.113.10").allowed && tcp(n, "2001:db8::6").allowed);
        // An allowed name's answer does not vouch for it either.
        assert!(!n.check_resolved(ip("203.0.113.9"), 443, Protocol::Tcp, "/name").allowed);
        assert!(n.check_resolved(ip("203.0.113.8"), 443, Protocol::Tcp, "/name").allowed);
    }
    // A network around the address does not name it; the address itself does.
    assert!(!tcp(&allow(&["203.0.113.0/24"]), "203.0.113.9").allowed);
    assert!(tcp(&allow(&["203.0.113.9/32"]), "203.0.113.9").allowed);
    assert!(tcp(&allow(&["2001:db8::5/128"]), "2001:db8::5").allowed);
    assert!(
        tcp(&allow(&["::ffff:203.0.113.9/128"]), "203.0.113.9").allowed,
        "a mapped spelling of the rule names it too"
    );
    assert!(tcp(&allow(&["10.0.0.0/8"]), "10.0.2.15").allowed, "a local range rule names a host address inside it");
    // A local route (`ip route add local 198.51.100.0/24`) is named by a network inside it.
    assert!(tcp(&allow(&["198.51.100.0/24"]), "198.51.100.200").allowed);
    assert!(tcp(&allow(&["198.51.100.200/32"]), "198.51.100.200").allowed);
    assert!(!tcp(&allow(&["198.51.100.200/32"]), "198.51.100.201").allowed, "only what the rule names");
    assert!(!tcp(&allow(&["198.51.0.0/16"]), "198.51.100.200").allowed, "a network around it does not");
    // allowLocalNetwork lets local addresses follow the rules, the host's included.
    let local_ok = with(r#"{"version":"0.7.0-alpha","network":{"defaultPolicy":"allow","allowLocalNetwork":true}}"#);
    assert!(tcp(&local_ok, "203.0.113.9").allowed);
    // Deny rules still win over a rule naming the address.
    let both = with(
        r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"203.0.113.9/32"}]}],"deny":[{"to":[{"cidr":"203.0.113.0/24"}]}]}}}"#,
    );
    assert!(!tcp(&both, "203.0.113.9").allowed);
    // Without the host fact the same address is an ordinary public one.
    assert!(
        net(r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"allow"}}}"#)
            .check_addr(ip("203.0.113.9"), 80, Protocol::Tcp)
            .allowed
    );
}

/// The local ranges listed as networks are exactly what `is_local` says (but NAT64's
/// local-use prefix, which no network names).
#[test]
fn the_local_networks_agree_with_is_local() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut samples: Vec<IpAddr> = Vec::new();
    for &(a, p) in LOCAL_V4 {
        let last = a | u32::MAX.checked_shr(u32::from(p)).unwrap_or(0);
        for v in [a.wrapping_sub(1), a, last, last.wrapping_add(1)] {
            samples.push(IpAddr::V4(v.into()));
        }
    }
    for _ in 0..20_000 {
        samples.push(IpAddr::V4((next() as u32).into()));
        samples.push(IpAddr::V6(((u128::from(next()) << 64) | u128::from(next())).into()));
        samples.push(IpAddr::V6(((0x0064_ff9b_u128 << 96) | u128::from(next() as u32)).into()));
        samples.push(IpAddr::V6(((0xffff_u128 << 32) | u128::from(next() as u32)).into()));
        samples.push(IpAddr::V6(((u128::from(next() as u16 & 0xfe00 | 0xfc00)) << 112 | 1).into()));
    }
    for a in samples {
        if let IpAddr::V6(v6) = a
            && v6.segments()[..3] == [0x64, 0xff9b, 1]
        {
            continue;
        }
        assert_eq!(is_local(a), local_net_of(a).is_some(), "{a}");
        if let Some(n) = local_net_of(a) {
            assert!(n.contains(a) || canonical_ip(a) != a, "{a} not in {n}");
        }
    }
}

/// A rule written with an IPv4-mapped or -compatible IPv6 network holds for the IPv4
/// address in every spelling (it was accepted and never matched), and an IPv4 deny holds for
/// the NAT64 spelling too.
#[test]
fn rules_in_ipv6_spellings_of_ipv4_hold_for_every_spelling() {
    let deny = |cidr: &str| {
        net(&format!(
            r#"{{"version":"0.8.0-alpha","network":{{"egress":{{"default":"allow","deny":[{{"to":[{{"cidr":"{cidr}"}}]}}]}}}}}}"#
        ))
    };
    let tcp = |n: &Network, a: &str| n.check_addr(ip(a), 80, Protocol::Tcp).allowed;
    for rule in ["::ffff:203.0.113.0/120", "::203.0.113.0/120", "203.0.113.0/24"] {
        let n = deny(rule);
        for spelling in
            ["203.0.113.5", "::ffff:203.0.113.5", "::203.0.113.5", "64:ff9b::cb00:7105", "64:ff9b:1::cb00:7105"]
        {
            assert!(!tcp(&n, spelling), "{rule} did not deny {spelling}");
            assert!(!n.check_resolved(ip(spelling), 80, Protocol::Tcp, "/name").allowed, "{rule} by name: {spelling}");
        }
        assert!(tcp(&n, "198.51.100.5"), "{rule}: the twin outside the rule is reached");
    }
    let legacy =
        net(r#"{"version":"0.7.0-alpha","network":{"defaultPolicy":"allow","blockedHosts":["::ffff:203.0.113.5"]}}"#);
    assert!(!tcp(&legacy, "203.0.113.5") && tcp(&legacy, "203.0.113.6"));
    // NAT64 does not widen an allow: a rule allowing 8.8.8.8 does not allow its NAT64 form.
    let allow = net(r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"8.8.8.8/32"}]}]}}}"#);
    assert!(tcp(&allow, "8.8.8.8") && !tcp(&allow, "64:ff9b::808:808") && !tcp(&allow, "64:ff9b:1::808:808"));
}

/// The IPv4-compatible form `::a.b.c.d` is an IPv6 address the kernel sends to as IPv6 (a
/// different host, routed by the IPv6 table): an allow for `a.b.c.d` never reaches it, it is
/// a local range of its own under "allow everything", and a deny for `a.b.c.d` still holds
/// for it. The mapped form `::ffff:a.b.c.d` is the IPv4 address itself (the twin).
#[test]
fn an_ipv4_compatible_address_is_not_the_ipv4_address_it_carries() {
    let tcp = |n: &Network, a: &str| n.check_addr(ip(a), 80, Protocol::Tcp).allowed;
    let udp = |n: &Network, a: &str| n.check_addr(ip(a), 80, Protocol::Udp).allowed;
    for (cidr, v4, compatible) in
        [("127.0.0.1/32", "127.0.0.1", "::7f00:1"), ("203.0.113.5/32", "203.0.113.5", "::cb00:7105")]
    {
        let allow = net(&format!(
            r#"{{"version":"0.8.0-alpha","network":{{"egress":{{"allow":[{{"to":[{{"cidr":"{cidr}"}}]}}]}}}}}}"#
        ));
        assert!(tcp(&allow, v4) && udp(&allow, v4), "{cidr}: the address itself");
        assert!(tcp(&allow, &format!("::ffff:{v4}")), "{cidr}: its mapped form is the same address");
        assert!(!tcp(&allow, compatible) && !udp(&allow, compatible), "{cidr} reached {compatible}");
        assert!(!allow.check_resolved(ip(compatible), 80, Protocol::Tcp, "/name").allowed, "{compatible} by name");
    }
    // An allow written in the compatible spelling allows that IPv6 address, never the IPv4
    // one (here: the host's loopback).
    let written = net(r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"::7f00:1/128"}]}]}}}"#);
    assert!(!tcp(&written, "127.0.0.1") && !udp(&written, "127.0.0.1") && !tcp(&written, "::ffff:127.0.0.1"));
    assert!(tcp(&written, "::7f00:1"), "the address it names");
    let open = net(
        r#"{"version":"0.8.0-alpha","network":{"egress":{"allow":[{"to":[{"cidr":"0.0.0.0/0"},{"cidr":"::/0"}]}]}}}"#,
    );
    assert!(!tcp(&open, "::cb00:7105"), "::/96 is a local range: allowing everything does not name it");
    assert!(tcp(&open, "2001:db8::5") && tcp(&open, "203.0.113.5"), "the twins outside it");
}
