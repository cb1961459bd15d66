#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::{LexicalHost, Policy};

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
fn answers_of_allowed_names_are_reachable_but_not_denied_or_metadata_addresses() {
    let n = net(r#"{"version":"0.8.0-alpha","network":{"egress":{"deny":[{"to":[{"cidr":"10.9.0.0/16"}]}]}},
        "cordon":{"network":{"allowDomains":["svc.test"]}}}"#);
    assert!(n.check_resolved(ip("127.0.0.1"), 80, Protocol::Tcp, "/x").allowed);
    assert!(!n.check_resolved(ip("10.9.1.1"), 80, Protocol::Tcp, "/x").allowed);
    assert!(!n.check_resolved(ip("169.254.169.254"), 80, Protocol::Tcp, "/x").allowed);
    // The same loopback address given directly is not allowed.
    assert!(!n.check_addr(ip("127.0.0.1"), 80, Protocol::Tcp).allowed);
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
