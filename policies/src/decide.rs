//! Network decisions: the one place that says whether a name may be resolved and an
//! address reached. Every backend (the wasm socket layer, cordon's proxy) asks these.

use std::net::{IpAddr, Ipv4Addr};

use crate::host::Host;
use crate::model::{Action, NetRule, Network};
use crate::net::{IpNet, Protocol, canonical_ip};

/// A decision and what made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDecision {
    /// Allowed or not.
    pub allowed: bool,
    /// JSON pointer of the deciding rule, or a description of the default that decided
    /// (`"/network/egress/default"`, `"(local range)"`…).
    pub rule: String,
}

impl NetDecision {
    fn allow(rule: impl Into<String>) -> Self {
        Self { allowed: true, rule: rule.into() }
    }
    fn deny(rule: impl Into<String>) -> Self {
        Self { allowed: false, rule: rule.into() }
    }
}

/// One network decision a backend took, for `--debug` and audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetEvent {
    /// When it happened.
    pub time: std::time::SystemTime,
    /// `dns` for name lookups, `net` for addresses, `http` for HTTP requests.
    pub kind: &'static str,
    /// The operation: `resolve`, `connect`, `send`, `bind`, `listen`, `accept`, `request`.
    pub op: &'static str,
    /// The name, `address:port` or URL.
    pub target: String,
    /// The decision.
    pub decision: NetDecision,
}

/// Why an address is being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrUse {
    /// Outbound: connect or send.
    Connect,
    /// Binding or listening on a local address.
    Bind,
}

/// Loopback, private, link-local and other non-public ranges. Denied unless a rule names
/// them, whether the tool gives the address or an allowed name resolves to it.
///
/// IPv4: 0.0.0.0/8 (unspecified), 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16 (link-local,
/// cloud metadata at 169.254.169.254), 172.16/12, 192.0.0.0/24 (IETF assignments; Oracle
/// Cloud's metadata at 192.0.0.192), 168.63.129.16 (Azure's WireServer), 192.168/16, 224/4
/// (multicast), 240/4 and the broadcast address. IPv6: `::`, `::1`, `::/96` (IPv4-compatible,
/// deprecated: the kernel sends it as IPv6, so it is a local range of its own), fc00::/7
/// (unique local, AWS metadata at fd00:ec2::254), fe80::/10 (link-local), fec0::/10
/// (site-local), ff00::/8 (multicast); an IPv4-mapped or NAT64 (64:ff9b::/96,
/// 64:ff9b:1::/48) address is local when the IPv4 address it carries is.
pub fn is_local(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared address space
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 (Oracle Cloud metadata at .192)
                || o == [168, 63, 129, 16] // Azure's WireServer
                || o[0] == 0
                || o[0] >= 240 // 240.0.0.0/4 reserved
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1);
            v6.is_loopback()
                || v6.is_unspecified()
                || s[..6] == [0; 6] // IPv4-compatible ::/96
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (nat64 && is_local(IpAddr::V4(Ipv4Addr::from(u128::from(v6) as u32))))
        }
    }
}

/// The first step of reaching a host a tool named: what [`Network::check_host`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCheck {
    /// The host is its own addresses (an IP in any spelling, or `localhost`), each decided
    /// as an address given directly. Nothing is resolved.
    Addresses(Vec<(IpAddr, NetDecision)>),
    /// A name that may be resolved. Check every answer with [`Network::check_answer`] and
    /// this decision before connecting to it.
    Resolve(NetDecision),
    /// A name that may not be resolved: it is never sent to a resolver.
    Refused(NetDecision),
}

/// IPv4 local ranges ([`is_local`]) as networks.
pub(crate) const LOCAL_V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),
    (0x0a00_0000, 8),
    (0x6440_0000, 10),
    (0x7f00_0000, 8),
    (0xa9fe_0000, 16),
    (0xac10_0000, 12),
    (0xc0a8_0000, 16),
    (0xc000_0000, 24),
    (0xa83f_8110, 32),
    (0xe000_0000, 4),
    (0xf000_0000, 4),
];

/// IPv6 local ranges ([`is_local`]) without an IPv4 address inside, as networks.
pub(crate) const LOCAL_V6: &[(u128, u8)] =
    &[(0, 128), (1, 128), (0, 96), (0xfc00 << 112, 7), (0xfe80 << 112, 10), (0xfec0 << 112, 10), (0xff00 << 112, 8)];

/// The local range `ip` is in (for an IPv4-mapped address, the IPv4 one; `::/96` for an
/// IPv4-compatible one;
/// for a NAT64 address of `64:ff9b::/96`, that prefix with the IPv4 range inside), if any.
/// NAT64's local-use prefix `64:ff9b:1::/48` carries its IPv4 address in its last 32 bits
/// with other bits between: no network of it names a local range.
fn local_net_of(ip: IpAddr) -> Option<IpNet> {
    let v4 = |x: u32| {
        LOCAL_V4
            .iter()
            .find(|&&(a, p)| p == 0 || (x >> (32 - p)) == (a >> (32 - p)))
            .and_then(|&(a, p)| IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), p))
    };
    match canonical_ip(ip) {
        IpAddr::V4(x) => v4(u32::from(x)),
        IpAddr::V6(x) => {
            let bits = u128::from(x);
            if bits >> 32 == 0x0064_ff9b << 64 {
                let inner = v4(bits as u32)?;
                let IpAddr::V4(a) = inner.addr() else { return None };
                return IpNet::new(
                    IpAddr::V6(((bits >> 32 << 32) | u128::from(u32::from(a))).into()),
                    96 + inner.prefix(),
                );
            }
            LOCAL_V6
                .iter()
                .find(|&&(a, p)| (bits >> (128 - u32::from(p))) == (a >> (128 - u32::from(p))))
                .and_then(|&(a, p)| IpNet::new(IpAddr::V6(a.into()), p))
        }
    }
}

/// True when `net` names the local address `ip`: it lies wholly inside the local range of
/// `ip`. `10.0.0.0/8` and `127.0.0.1/32` name local addresses; `0.0.0.0/0`, `::/0` or
/// `8.0.0.0/5` contain some but name none, so "allow everything" never opens loopback,
/// private networks or cloud metadata. An address the host delivers to itself outside
/// every local range is named by a network inside that host network (for an interface
/// address, the address itself).
fn names_local(net: &IpNet, ip: IpAddr, host_networks: &[IpNet]) -> bool {
    match local_net_of(ip) {
        Some(range) => range.covers(net),
        None => host_networks.iter().any(|own| own.contains(ip) && own.covers(net)),
    }
}

/// True when the host delivers `ip` to itself ([`Network::host_networks`]), in any
/// spelling (IPv4-mapped, -compatible, or NAT64, which a host with NAT64 reaches through its
/// gateway).
fn is_host(ip: IpAddr, host_networks: &[IpNet]) -> bool {
    host_networks.iter().any(|own| own.contains(ip) || nat64_v4(ip).is_some_and(|v4| own.contains(v4)))
}

/// The IPv4 address an IPv4-compatible or NAT64 address carries ([`carried_v4`]).
fn nat64_v4(ip: IpAddr) -> Option<IpAddr> {
    crate::net::carried_v4(ip).map(IpAddr::V4)
}

/// A deny rule matches the address, or the IPv4 address an IPv4-compatible or NAT64
/// address carries (a host with NAT64 reaches that IPv4 address through it); a deny written
/// in the compatible spelling (`::a.b.c.d/n`) holds for those IPv4 addresses too. Only
/// denies look through these forms: they never widen an allow.
fn denies(rule: &NetRule, ip: IpAddr, port: u16, proto: Protocol) -> bool {
    let v4 = match canonical_ip(ip) {
        IpAddr::V4(v4) => Some(v4),
        other => crate::net::carried_v4(other),
    };
    let compatible_rule = || {
        v4.is_some_and(|v4| {
            rule.to.iter().any(|p| {
                p.net.compatible_v4().is_some_and(|n| n.contains(IpAddr::V4(v4)))
                    && !p.except.iter().any(|e| e.compatible_v4().is_some_and(|e| e.contains(IpAddr::V4(v4))))
            }) && ports_match(rule, port, proto)
        })
    };
    rule_matches(rule, ip, port, proto, None)
        || v4.is_some_and(|v4| rule_matches(rule, IpAddr::V4(v4), port, proto, None))
        || compatible_rule()
}

/// `explicit` (when set): the host's own networks, and the rule must name `ip` as a local
/// address ([`names_local`]), not merely contain it.
fn rule_matches(rule: &NetRule, ip: IpAddr, port: u16, proto: Protocol, explicit: Option<&[IpNet]>) -> bool {
    let to_ok = if rule.to.is_empty() {
        explicit.is_none()
    } else {
        rule.to.iter().any(|p| {
            p.net.contains(ip)
                && !p.except.iter().any(|e| e.contains(ip))
                && explicit.is_none_or(|own| names_local(&p.net, ip, own))
        })
    };
    to_ok && ports_match(rule, port, proto)
}

/// The rule's ports and protocols cover `port` over `proto`.
fn ports_match(rule: &NetRule, port: u16, proto: Protocol) -> bool {
    rule.ports.is_empty()
        || rule.ports.iter().any(|p| {
            p.protocol.covers(proto)
                && match p.ports {
                    None => true,
                    Some((a, b)) => proto != Protocol::Icmp && (a..=b).contains(&port),
                }
        })
}

/// The refusal of a host address no rule names.
const HOST_ADDRESS: &str =
    "(local range: an address of this host's own interfaces or local routes, which needs a rule that names it)";

impl Network {
    /// True when `ip` (in any spelling) is local: in a local range ([`is_local`]) or one of
    /// the host's own networks ([`Network::host_networks`]).
    pub fn is_local(&self, ip: IpAddr) -> bool {
        is_local(ip) || is_host(ip, &self.host_networks)
    }

    /// The allow rule that names the local address `ip`, or the refusal `why`.
    fn local_decision(&self, ip: IpAddr, port: u16, proto: Protocol, why: &str) -> NetDecision {
        match self.egress.allow.iter().find(|r| rule_matches(r, ip, port, proto, Some(&self.host_networks))) {
            Some(r) => NetDecision::allow(r.pointer.clone()),
            None if is_local(ip) => NetDecision::deny(why),
            None => NetDecision::deny(HOST_ADDRESS),
        }
    }

    /// May the tool reach `ip:port` over `proto`, the address given directly (not from an
    /// allowed name)?
    ///
    /// Deny rules win; then local addresses (loopback, private and link-local ranges, the
    /// host's own addresses) are denied unless an allow rule names them by CIDR (or legacy
    /// `allowLocalNetwork`); then allow rules; then the default. IPv4-mapped IPv6 is checked
    /// as IPv4.
    pub fn check_addr(&self, ip: IpAddr, port: u16, proto: Protocol) -> NetDecision {
        let ip = canonical_ip(ip);
        if let Some(r) = self.egress.deny.iter().find(|r| denies(r, ip, port, proto)) {
            return NetDecision::deny(r.pointer.clone());
        }
        if self.is_local(ip) && !self.allow_local_network {
            return self.local_decision(
                ip,
                port,
                proto,
                "(local range: loopback, private and link-local addresses need a rule that names them)",
            );
        }
        if let Some(r) = self.egress.allow.iter().find(|r| rule_matches(r, ip, port, proto, None)) {
            return NetDecision::allow(r.pointer.clone());
        }
        self.default_decision()
    }

    /// May the tool reach `ip:port`, an address that an allowed name resolved to?
    ///
    /// Deny rules still win, and local addresses ([`Network::is_local`]: loopback, private,
    /// link-local, CGNAT, metadata, the host's own addresses…) stay denied unless an allow rule names them by CIDR (or legacy
    /// `allowLocalNetwork`): a name's answers are chosen by whoever serves its DNS, so an
    /// allowed name never vouches for a local address. Otherwise the allowed name is the
    /// grant.
    pub fn check_resolved(&self, ip: IpAddr, port: u16, proto: Protocol, name_rule: &str) -> NetDecision {
        let ip = canonical_ip(ip);
        if let Some(r) = self.egress.deny.iter().find(|r| denies(r, ip, port, proto)) {
            return NetDecision::deny(r.pointer.clone());
        }
        if self.is_local(ip) && !self.allow_local_network {
            return self.local_decision(
                ip,
                port,
                proto,
                "(local range: an allowed name resolved to a loopback, private or link-local address, which needs a rule that names it)",
            );
        }
        NetDecision::allow(name_rule.to_string())
    }

    /// [`Network::check_resolved`] for an answer of the name that `name` allowed.
    pub fn check_answer(&self, ip: IpAddr, port: u16, proto: Protocol, name: &NetDecision) -> NetDecision {
        self.check_resolved(ip, port, proto, &name.rule)
    }

    /// The first decision on a host a tool named, parsed by [`Host::parse`]: an address in
    /// any spelling and `localhost` are decided as addresses ([`Network::check_addr`]; never
    /// resolved, never matched against domain rules), a name against the domain rules
    /// ([`Network::check_name`]).
    pub fn check_host(&self, host: &Host, port: u16, proto: Protocol) -> HostCheck {
        match host {
            Host::Ip(_) | Host::Localhost => HostCheck::Addresses(
                host.addresses().into_iter().map(|ip| (ip, self.check_addr(ip, port, proto))).collect(),
            ),
            Host::Name(n) => {
                let d = self.check_name(n);
                if d.allowed { HostCheck::Resolve(d) } else { HostCheck::Refused(d) }
            }
        }
    }

    /// May the tool resolve `name`? A denied name is never sent to a resolver.
    ///
    /// `name` must be a parsed [`Host::Name`]: a tool's host goes through
    /// [`Network::check_host`], which never asks this for an address or `localhost`.
    ///
    /// Deny patterns win, then allow patterns; with no pattern matching, a name resolves
    /// only when egress defaults to allow.
    pub fn check_name(&self, name: &str) -> NetDecision {
        if let Some((_, ptr)) = self.domains.deny.iter().find(|(p, _)| p.matches(name)) {
            return NetDecision::deny(ptr.clone());
        }
        if let Some((_, ptr)) = self.domains.allow.iter().find(|(p, _)| p.matches(name)) {
            return NetDecision::allow(ptr.clone());
        }
        self.default_decision()
    }

    /// May the tool bind or listen on `ip:port`? Binding the wildcard address to port 0 (the
    /// implicit bind before a connect) is always allowed; anything else follows ingress:
    /// loopback needs `hostLoopback: allow`, other addresses `ingress.default: allow`.
    pub fn check_bind(&self, ip: IpAddr, port: u16) -> NetDecision {
        let ip = canonical_ip(ip);
        if ip.is_unspecified() && port == 0 {
            return NetDecision::allow("(implicit bind)");
        }
        if ip.is_loopback() {
            return if self.ingress.host_loopback == Action::Allow {
                NetDecision::allow("/network/ingress/hostLoopback")
            } else {
                NetDecision::deny("/network/ingress/hostLoopback")
            };
        }
        if self.ingress.default == Action::Allow {
            NetDecision::allow("/network/ingress/default")
        } else {
            NetDecision::deny("/network/ingress/default")
        }
    }

    fn default_decision(&self) -> NetDecision {
        let ptr = match self.shape {
            crate::NetworkShape::Legacy => "/network/defaultPolicy",
            crate::NetworkShape::Directional => "/network/egress/default",
            crate::NetworkShape::None => "(no network section: deny)",
        };
        if self.egress.default == Action::Allow { NetDecision::allow(ptr) } else { NetDecision::deny(ptr) }
    }
}

/// True when `net` lies in a local range (for explanations).
pub fn net_is_local(net: &IpNet) -> bool {
    is_local(net.addr())
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
