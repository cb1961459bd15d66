//! Network value types: CIDRs, port selectors and domain patterns, each parsed once.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::host::{Host, HostError};

/// An IP network: an address with no host bits set and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// Not an address/prefix.
    Syntax,
    /// Valid except for bits set after the prefix; carries the network meant.
    HostBits(IpNet),
}

impl IpNet {
    /// The network `addr/prefix`, or `None` when the prefix is too long or host bits are set.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let net = Self::truncating(addr, prefix)?;
        (net.addr == addr).then_some(net)
    }

    fn truncating(addr: IpAddr, prefix: u8) -> Option<Self> {
        match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
                Some(Self { addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask)), prefix })
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
                Some(Self { addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)), prefix })
            }
            _ => None,
        }
    }

    /// Parses `a.b.c.d/n` or `x::y/n`; a bare address is a single-host network.
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                    return Err(CidrError::Syntax);
                }
                let addr = IpAddr::from_str(a).map_err(|_| CidrError::Syntax)?;
                let prefix: u8 = p.parse().map_err(|_| CidrError::Syntax)?;
                (addr, prefix)
            }
            None => {
                let addr = IpAddr::from_str(s).map_err(|_| CidrError::Syntax)?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        let net = Self::truncating(addr, prefix).ok_or(CidrError::Syntax)?;
        if net.addr != addr {
            return Err(CidrError::HostBits(net));
        }
        Ok(net.canonical())
    }

    /// An IPv6 network of IPv4-mapped addresses (`::ffff:a.b.c.d/n`, `n` ≥ 96) as the IPv4
    /// network it is (mapped addresses are matched in their IPv4 form, [`canonical_ip`]).
    /// Other networks unchanged — also IPv4-compatible ones (`::a.b.c.d/n`): those are IPv6
    /// addresses of other hosts, so an allow written that way allows them and never the
    /// IPv4 addresses; a deny written that way holds for the IPv4 addresses too
    /// ([`IpNet::compatible_v4`]).
    pub fn canonical(self) -> Self {
        let IpAddr::V6(v6) = self.addr else { return self };
        let bits = u128::from(v6);
        if self.prefix < 96 || bits >> 32 != 0xffff {
            return self;
        }
        Self { addr: IpAddr::V4(Ipv4Addr::from(bits as u32)), prefix: self.prefix - 96 }
    }

    /// For a network of IPv4-compatible addresses (`::a.b.c.d/n`, `n` ≥ 96), the IPv4 network
    /// they carry: what a deny rule written that way also denies.
    pub fn compatible_v4(&self) -> Option<Self> {
        let IpAddr::V6(v6) = self.addr else { return None };
        let bits = u128::from(v6);
        (self.prefix >= 96 && bits >> 32 == 0)
            .then(|| Self { addr: IpAddr::V4(Ipv4Addr::from(bits as u32)), prefix: self.prefix - 96 })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True when `ip` lies in this network. An IPv4-mapped IPv6 address is checked as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Self::truncating(ip, self.prefix).is_some_and(|n| n.addr == self.addr)
            }
            _ => false,
        }
    }

    /// True when `other` lies wholly inside this network.
    pub fn covers(&self, other: &IpNet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is: a dual-stack
/// socket connecting to it sends IPv4 to `a.b.c.d`. Other addresses unchanged — also the
/// deprecated IPv4-compatible form `::a.b.c.d`, which the kernel sends as IPv6 to that IPv6
/// address (a different host): it is decided as the IPv6 address it is, in a local range of
/// its own, with deny rules looking through it ([`carried_v4`]).
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The IPv4 address an IPv6 address carries without being it: IPv4-compatible (`::a.b.c.d`,
/// but `::` and `::1`), NAT64's well-known prefix (`64:ff9b::/96`) and its local-use prefix
/// (`64:ff9b:1::/48`, the last 32 bits). A host with NAT64 reaches that IPv4 address through
/// it, so deny rules and the host's own addresses look through these forms; allow rules
/// never do (the address the tool reaches is the IPv6 one).
pub fn carried_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    let bits = u128::from(v6);
    let s = v6.segments();
    let compatible = bits >> 32 == 0 && bits > 1;
    let nat64 = bits >> 32 == 0x0064_ff9b << 64 || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1);
    (compatible || nat64).then(|| Ipv4Addr::from(bits as u32))
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A domain pattern: a name matched by whole labels, or `*.name` matching one or more labels
/// in front of `name`. Stored lower-case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPattern {
    suffix: String,
    wildcard: bool,
}

impl DomainPattern {
    /// Parses a pattern; the error says why it is refused. The name is read by the same
    /// parser as every host a tool names ([`Host::parse`]): IDNA-mapped, lower-cased, one
    /// trailing dot dropped; an address in any spelling and `localhost` are refused, since
    /// neither is ever matched against domain rules.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (wildcard, rest) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if rest.contains('*') {
            return Err("`*` may only stand alone as the first label, as in *.example.com".into());
        }
        match Host::parse(rest) {
            Ok(Host::Name(suffix)) => Ok(Self { suffix, wildcard }),
            Ok(Host::Ip(_)) => Err("it is an IP address (in one of the forms inet_aton reads); put addresses in network.egress rules".into()),
            Ok(Host::Localhost) => Err("`localhost` names the loopback addresses and is never resolved; name 127.0.0.0/8 or ::1/128 in network.egress rules instead".into()),
            Err(HostError::Empty) => Err("it is empty".into()),
            Err(HostError::BadName { reason, .. }) => Err(reason),
            Err(e) => Err(e.to_string()),
        }
    }

    /// True when `name` matches: case-insensitive, trailing dot ignored, whole labels only.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if self.wildcard {
            name.len() > self.suffix.len() + 1
                && name.ends_with(&self.suffix)
                && name.as_bytes()[name.len() - self.suffix.len() - 1] == b'.'
        } else {
            name == self.suffix
        }
    }

    /// True for `*.name` patterns.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard { write!(f, "*.{}", self.suffix) } else { f.write_str(&self.suffix) }
    }
}

/// Transport protocol of a port selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// Any protocol.
    Any,
}

impl Protocol {
    /// True when a selector of this protocol covers traffic of `proto`.
    pub fn covers(self, proto: Protocol) -> bool {
        self == Protocol::Any || self == proto
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Any => "any",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_refuses_host_bits() {
        assert_eq!(IpNet::parse("10.0.0.0/8").map(|n| n.to_string()), Ok("10.0.0.0/8".into()));
        assert_eq!(
            IpNet::parse("10.0.0.1/8"),
            Err(CidrError::HostBits(IpNet::parse("10.0.0.0/8").unwrap_or_else(|_| unreachable!())))
        );
        assert_eq!(IpNet::parse("10.0.0.0/33"), Err(CidrError::Syntax));
        assert_eq!(IpNet::parse("10.0.0.0/"), Err(CidrError::Syntax));
        assert_eq!(IpNet::parse("example.com/8"), Err(CidrError::Syntax));
        assert!(IpNet::parse("2606:50c0::/32").is_ok());
        // An IPv4-mapped network is the IPv4 network; an IPv4-compatible one is IPv6 (other
        // hosts), carrying the IPv4 network a deny written that way also holds for.
        let v4 = |s: &str| IpNet::parse(s).map(|n| n.to_string());
        assert_eq!(v4("::ffff:203.0.113.0/120"), Ok("203.0.113.0/24".into()));
        assert_eq!(v4("::ffff:203.0.113.5"), Ok("203.0.113.5/32".into()));
        assert_eq!(v4("::203.0.113.5/128"), Ok("::cb00:7105/128".into()));
        let compatible = |s: &str| IpNet::parse(s).ok().and_then(|n| n.compatible_v4()).map(|n| n.to_string());
        assert_eq!(compatible("::203.0.113.0/120").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(compatible("2001:db8::/120"), None);
        assert_eq!(v4("::ffff:0:0/96"), Ok("0.0.0.0/0".into()));
        // Not carrying one IPv4 network: unchanged.
        assert_eq!(v4("::1/128"), Ok("::1/128".into()));
        assert_eq!(v4("::/96"), Ok("::/96".into()));
        assert_eq!(v4("::/0"), Ok("::/0".into()));
        assert_eq!(v4("::fffe:0:0/96"), Ok("::fffe:0:0/96".into()));
        assert!(matches!(IpNet::parse("2606:50c0::1/32"), Err(CidrError::HostBits(_))));
        assert_eq!(IpNet::parse("1.2.3.4").map(|n| n.prefix()), Ok(32));
    }

    #[test]
    fn cidr_contains_checks_mapped_ipv6_as_ipv4() {
        let net = IpNet::parse("127.0.0.0/8").unwrap_or_else(|_| unreachable!());
        assert!(net.contains("127.0.0.1".parse().unwrap_or_else(|_| unreachable!())));
        assert!(net.contains("::ffff:127.0.0.1".parse().unwrap_or_else(|_| unreachable!())));
        assert!(!net.contains("128.0.0.1".parse().unwrap_or_else(|_| unreachable!())));
        assert!(!net.contains("::1".parse().unwrap_or_else(|_| unreachable!())));
        let all = IpNet::parse("0.0.0.0/0").unwrap_or_else(|_| unreachable!());
        assert!(all.contains("8.8.8.8".parse().unwrap_or_else(|_| unreachable!())));
    }

    #[test]
    fn domain_patterns_match_whole_labels() {
        let p = DomainPattern::parse("*.Example.com.").unwrap_or_else(|_| unreachable!());
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.EXAMPLE.com."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("evilexample.com"));
        assert!(!p.matches("example.com.evil"));
        let exact = DomainPattern::parse("example.com").unwrap_or_else(|_| unreachable!());
        assert!(exact.matches("EXAMPLE.com."));
        assert!(!exact.matches("a.example.com"));
        assert!(DomainPattern::parse("a.*.com").is_err());
        assert!(DomainPattern::parse("*").is_err());
        assert!(DomainPattern::parse("10.0.0.1").is_err());
        assert!(DomainPattern::parse("exa mple.com").is_err());
        assert!(DomainPattern::parse("-a.com").is_err());
    }
}
