//! The destinations a policy refuses on every path, as address and port ranges: what a
//! packet filter in front of cordon's relay may refuse at once (a reset before any
//! handshake) without asking the relay.
//!
//! Computed from the decision functions themselves ([`Network::check_addr`] and
//! [`Network::check_resolved`]), not from a second reading of the rules: the address and
//! port spaces are cut at every boundary a rule or a local range has, so each cell has one
//! decision, and each cell is decided by asking those functions about one point of it.
//! (The local ranges are those of [`crate::is_local`], and each of the host's own addresses,
//! [`Network::host_networks`], is a cell of its own.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::decide::{LOCAL_V4, LOCAL_V6};
use crate::model::{Action, Network};
use crate::net::{IpNet, Protocol};

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    /// First address.
    pub first: IpAddr,
    /// Last address.
    pub last: IpAddr,
}

impl AddrRange {
    /// True when `ip` (of the same family) is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.first, self.last, ip) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => (a..=b).contains(&x),
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => (a..=b).contains(&x),
            _ => false,
        }
    }
}

/// Destinations refused on every path: `ports` (inclusive ranges) of every address in
/// `addrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The addresses.
    pub addrs: AddrRange,
    /// The ports, merged and sorted.
    pub ports: Vec<(u16, u16)>,
    /// The addresses are loopback (`127.0.0.0/8`, `::1`): in a sandbox with a network
    /// namespace of its own they are the sandbox's own, where a service the tool runs may
    /// answer.
    pub loopback: bool,
}

/// IPv6 ranges (inclusive) whose addresses carry an IPv4 address — compatible (`::a.b.c.d`
/// but `::` and `::1`), mapped, NAT64 —: never in a [`Refusal`]. The relay decides them one
/// by one (for NAT64's local-use prefix the carried address repeats through the range, so
/// no few cuts make its decision constant).
const CARRIERS_V6: &[(u128, u128)] = &[
    (2, 0xffff_ffff),
    (0xffff << 32, (0xffff << 32) | 0xffff_ffff),
    (0x0064_ff9b << 96, (0x0064_ff9b << 96) | 0xffff_ffff),
    ((0x0064_ff9b << 96) | (1 << 80), (0x0064_ff9b << 96) | (1 << 80) | ((1 << 80) - 1)),
];

fn span(base: u128, prefix: u8, bits: u8) -> (u128, u128) {
    let host = bits - prefix;
    let mask = if host >= 128 { u128::MAX } else { (1u128 << host) - 1 };
    let first = base & !mask;
    (first, first | mask)
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn net_span(net: &IpNet, bits_len: u8) -> (u128, u128) {
    span(bits(net.addr()), net.prefix(), bits_len)
}

impl Network {
    /// The destinations of `proto` (TCP or UDP) this policy refuses on every path: given
    /// as an address, and as an answer of any name the policy lets resolve. The IPv6 ranges
    /// that carry an IPv4 address are never listed (the relay decides them); loopback
    /// ranges are listed apart ([`Refusal::loopback`]). Everything not listed may still be
    /// refused, by the relay.
    pub fn refused_everywhere(&self, proto: Protocol) -> Vec<Refusal> {
        let mut out = self.refused_in(proto, 32);
        out.extend(self.refused_in(proto, 128));
        out
    }

    fn refused_in(&self, proto: Protocol, width: u8) -> Vec<Refusal> {
        let v4 = width == 32;
        let max: u128 = if v4 { u128::from(u32::MAX) } else { u128::MAX };
        let family = |n: &IpNet| n.addr().is_ipv4() == v4;
        // Address cuts: each cell [cut_i, cut_{i+1}) has one decision.
        let mut cuts: Vec<u128> = vec![0];
        let mut cut_span = |(a, b): (u128, u128)| {
            cuts.push(a);
            if b < max {
                cuts.push(b + 1);
            }
        };
        let rules = self.egress.allow.iter().chain(&self.egress.deny);
        for r in rules.clone() {
            for p in &r.to {
                for n in std::iter::once(&p.net).chain(&p.except) {
                    if family(n) {
                        cut_span(net_span(n, width));
                    }
                    // A deny in the IPv4-compatible spelling holds for the IPv4 addresses.
                    if let Some(v4) = n.compatible_v4().filter(|_| v4) {
                        cut_span(net_span(&v4, width));
                    }
                }
            }
        }
        let locals: Vec<(u128, u8)> =
            if v4 { LOCAL_V4.iter().map(|&(a, p)| (u128::from(a), p)).collect() } else { LOCAL_V6.to_vec() };
        let skipped: &[(u128, u128)] = if v4 { &[] } else { CARRIERS_V6 };
        for &(a, p) in &locals {
            cut_span(span(a, p, width));
        }
        for own in self.host_networks.iter().map(|n| n.canonical()).filter(|n| family(n)) {
            cut_span(net_span(&own, width));
        }
        for &r in skipped {
            cut_span(r);
        }
        cuts.sort_unstable();
        cuts.dedup();

        // Port cuts.
        let mut pcuts: Vec<u32> = vec![0];
        for r in rules {
            for s in r.ports.iter().filter(|s| s.protocol.covers(proto)) {
                if let Some((a, b)) = s.ports {
                    pcuts.push(u32::from(a));
                    pcuts.push(u32::from(b) + 1);
                }
            }
        }
        pcuts.retain(|&p| p <= 65_535);
        pcuts.sort_unstable();
        pcuts.dedup();

        let names_may_allow = !self.domains.allow.is_empty() || self.egress.default == Action::Allow;
        let to_ip = |x: u128| -> IpAddr {
            if v4 { IpAddr::V4(Ipv4Addr::from(x as u32)) } else { IpAddr::V6(Ipv6Addr::from(x)) }
        };
        let mut out: Vec<Refusal> = Vec::new();
        for (i, &lo) in cuts.iter().enumerate() {
            let hi = cuts.get(i + 1).map_or(max, |next| next - 1);
            if skipped.iter().any(|&(a, b)| lo >= a && hi <= b) {
                continue;
            }
            let ip = to_ip(lo);
            // Cut at 127/8 and at ::1 (local ranges), so a cell is all loopback or none.
            let loopback = ip.is_loopback();
            let mut ports: Vec<(u16, u16)> = Vec::new();
            for (j, &pa) in pcuts.iter().enumerate() {
                let pb = pcuts.get(j + 1).map_or(65_535, |n| n - 1);
                let port = pa as u16;
                let reachable = self.check_addr(ip, port, proto).allowed
                    || (names_may_allow && self.check_resolved(ip, port, proto, "").allowed);
                let refused = !reachable;
                if refused {
                    match ports.last_mut() {
                        Some(last) if u32::from(last.1) + 1 == pa => last.1 = pb as u16,
                        _ => ports.push((port, pb as u16)),
                    }
                }
            }
            if ports.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(prev)
                    if prev.ports == ports
                        && prev.loopback == loopback
                        && bits(prev.addrs.last).checked_add(1) == Some(lo) =>
                {
                    prev.addrs.last = to_ip(hi);
                }
                _ => out.push(Refusal { addrs: AddrRange { first: ip, last: to_ip(hi) }, ports, loopback }),
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "refused_tests.rs"]
mod tests;
