//! Network decisions: the one place that says whether a name may be resolved and an
//! address reached. Every backend (the wasm socket layer, cordon's proxy) asks these.

use std::net::IpAddr;

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

/// Loopback, private, link-local and other non-public ranges. Denied unless a rule names them.
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
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        }
    }
}

/// The cloud metadata range (169.254.0.0/16, fe80::/10 aside): denied even for allowed
/// names unless a rule names it.
fn is_metadata_range(ip: IpAddr) -> bool {
    matches!(canonical_ip(ip), IpAddr::V4(v4) if v4.is_link_local())
}

fn rule_matches(rule: &NetRule, ip: IpAddr, port: u16, proto: Protocol, explicit_only: bool) -> bool {
    let to_ok = if rule.to.is_empty() {
        !explicit_only
    } else {
        rule.to.iter().any(|p| p.net.contains(ip) && !p.except.iter().any(|e| e.contains(ip)))
    };
    let ports_ok = rule.ports.is_empty()
        || rule.ports.iter().any(|p| {
            p.protocol.covers(proto)
                && match p.ports {
                    None => true,
                    Some((a, b)) => proto != Protocol::Icmp && (a..=b).contains(&port),
                }
        });
    to_ok && ports_ok
}

impl Network {
    /// May the tool reach `ip:port` over `proto`, the address given directly (not from an
    /// allowed name)?
    ///
    /// Deny rules win; then loopback, private and link-local ranges are denied unless an
    /// allow rule names them by CIDR (or legacy `allowLocalNetwork`); then allow rules; then
    /// the default. IPv4-mapped IPv6 is checked as IPv4.
    pub fn check_addr(&self, ip: IpAddr, port: u16, proto: Protocol) -> NetDecision {
        let ip = canonical_ip(ip);
        if let Some(r) = self.egress.deny.iter().find(|r| rule_matches(r, ip, port, proto, false)) {
            return NetDecision::deny(r.pointer.clone());
        }
        if is_local(ip) && !self.allow_local_network {
            return match self.egress.allow.iter().find(|r| rule_matches(r, ip, port, proto, true)) {
                Some(r) => NetDecision::allow(r.pointer.clone()),
                None => NetDecision::deny(
                    "(local range: loopback, private and link-local addresses need a rule that names them)",
                ),
            };
        }
        if let Some(r) = self.egress.allow.iter().find(|r| rule_matches(r, ip, port, proto, false)) {
            return NetDecision::allow(r.pointer.clone());
        }
        self.default_decision()
    }

    /// May the tool reach `ip:port`, an address that an allowed name resolved to?
    ///
    /// Deny rules still win, and the link-local (cloud metadata) range stays denied unless a
    /// rule names it; otherwise the allowed name is the grant.
    pub fn check_resolved(&self, ip: IpAddr, port: u16, proto: Protocol, name_rule: &str) -> NetDecision {
        let ip = canonical_ip(ip);
        if let Some(r) = self.egress.deny.iter().find(|r| rule_matches(r, ip, port, proto, false)) {
            return NetDecision::deny(r.pointer.clone());
        }
        if is_metadata_range(ip) && !self.allow_local_network {
            return match self.egress.allow.iter().find(|r| rule_matches(r, ip, port, proto, true)) {
                Some(r) => NetDecision::allow(r.pointer.clone()),
                None => NetDecision::deny("(link-local range: needs a rule that names it)"),
            };
        }
        NetDecision::allow(name_rule.to_string())
    }

    /// May the tool resolve `name`? A denied name is never sent to a resolver.
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
