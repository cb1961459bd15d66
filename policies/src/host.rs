//! One parser for every host a tool names: a URL authority, a CONNECT target, a SOCKS5
//! name, a WASI name lookup. Every path that decides where a tool may go parses with
//! [`Host::parse`] (or [`Host::parse_authority`]) once, decides on the result, and connects
//! to what it decided on; no path hands the tool's string to another parser.
//!
//! What a host is, in this order:
//! - `[v6]` or a bare IPv6 literal (a zone, `%eth0` or `%25eth0` in brackets, is checked
//!   and dropped: a zoned address is decided, and reached, by its address alone);
//! - the name is mapped by IDNA (UTS 46, as browsers do: case folded, full-width dots and
//!   digits mapped, Unicode to punycode; invalid punycode refused) and one trailing dot
//!   dropped;
//! - when its last label is a number (all digits, or `0x` and hex digits) it is an IPv4
//!   address in any form `inet_aton` accepts — 1 to 4 parts, each decimal, octal (leading
//!   `0`) or hex (`0x`): `127.1`, `0x7f.1`, `2130706433`, `017700000001`, `0` — or it is
//!   refused. A numeric form is an address, never a name, so it never reaches a resolver
//!   or a domain rule;
//! - `localhost` and every `*.localhost` are [`Host::Localhost`]: the loopback addresses,
//!   never resolved (RFC 6761);
//! - anything else must be a host name: labels of letters, digits, `-` and `_`, 1 to 63
//!   characters, 253 in all. Everything else is refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host as a tool named it, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An address: an IP literal or a numeric IPv4 form.
    Ip(IpAddr),
    /// `localhost` or a name under `.localhost`: the loopback addresses, never resolved.
    Localhost,
    /// A DNS name: lower-case ASCII (punycode), no trailing dot, valid labels.
    Name(String),
}

/// Why a host was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// Nothing to parse.
    #[error("the host is empty")]
    Empty,
    /// Looks like an IPv6 literal but is not one.
    #[error("`{0}` is not a valid IPv6 address")]
    BadIpv6(String),
    /// Its last label is a number but the whole is not an IPv4 address.
    #[error("`{0}` ends in a number but is not an IPv4 address")]
    BadIpv4(String),
    /// IDNA refused it (invalid punycode or forbidden code points).
    #[error("`{0}` is not a valid internationalised domain name")]
    BadIdna(String),
    /// Not a valid host name.
    #[error("`{value}` is not a valid host name: {reason}")]
    BadName {
        /// The host as written.
        value: String,
        /// Why.
        reason: String,
    },
    /// An authority carried userinfo (`user@host`).
    #[error("`{0}` carries userinfo (`user@`), which cordon refuses")]
    Userinfo(String),
    /// The port of an authority is missing, not a number, or 0.
    #[error("`{0}` has no valid port")]
    BadPort(String),
}

impl Host {
    /// Parses a host as a tool sent it (no port). IPv6 may be bracketed or bare.
    ///
    /// # Errors
    /// [`HostError`] saying why the host is refused.
    pub fn parse(s: &str) -> Result<Host, HostError> {
        if s.is_empty() {
            return Err(HostError::Empty);
        }
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(|| HostError::BadIpv6(s.into()))?;
            return parse_ipv6(inner, true).map(Host::Ip).ok_or_else(|| HostError::BadIpv6(s.into()));
        }
        if s.contains(':') {
            return parse_ipv6(s, false).map(Host::Ip).ok_or_else(|| HostError::BadIpv6(s.into()));
        }
        let mapped = idna::domain_to_ascii_cow(s.as_bytes(), idna::AsciiDenyList::URL)
            .map_err(|_| HostError::BadIdna(s.into()))?;
        let name = mapped.strip_suffix('.').unwrap_or(&mapped);
        if name.is_empty() {
            return Err(HostError::Empty);
        }
        if ends_in_number(name) {
            return parse_ipv4(name).map(|a| Host::Ip(IpAddr::V4(a))).ok_or_else(|| HostError::BadIpv4(s.into()));
        }
        if name == "localhost" || name.ends_with(".localhost") {
            // Still a valid name: `a..localhost` is refused, not loopback.
            check_name(name).map_err(|reason| HostError::BadName { value: s.into(), reason })?;
            return Ok(Host::Localhost);
        }
        check_name(name).map_err(|reason| HostError::BadName { value: s.into(), reason })?;
        Ok(Host::Name(name.to_string()))
    }

    /// Parses `host[:port]` (`[v6][:port]`), as in an HTTP authority, a CONNECT target or a
    /// `Host` header; `default_port` applies when no port is given. Userinfo is refused.
    ///
    /// # Errors
    /// [`HostError`] saying why the authority is refused.
    pub fn parse_authority(s: &str, default_port: u16) -> Result<(Host, u16), HostError> {
        if s.contains('@') {
            return Err(HostError::Userinfo(s.into()));
        }
        let (host, port) = if s.starts_with('[') {
            match s.find(']') {
                Some(i) => (&s[..=i], &s[i + 1..]),
                None => return Err(HostError::BadIpv6(s.into())),
            }
        } else {
            match s.rfind(':') {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, ""),
            }
        };
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => default_port,
            None => return Err(HostError::BadPort(s.into())),
            Some(p) => parse_port(p).ok_or_else(|| HostError::BadPort(s.into()))?,
        };
        if port == 0 {
            return Err(HostError::BadPort(s.into()));
        }
        if host.contains(':') && !host.starts_with('[') {
            // A bare IPv6 address in an authority is ambiguous with its port.
            return Err(HostError::BadIpv6(s.into()));
        }
        Ok((Host::parse(host)?, port))
    }

    /// The addresses this host is without a lookup: the address itself, or for
    /// `localhost` 127.0.0.1 and ::1. A name has none.
    pub fn addresses(&self) -> Vec<IpAddr> {
        match self {
            Host::Ip(ip) => vec![*ip],
            Host::Localhost => vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
            Host::Name(_) => Vec::new(),
        }
    }
}

impl fmt::Display for Host {
    /// The host in canonical form: an address as `std` prints it (IPv6 unbracketed),
    /// `localhost`, or the normalised name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Localhost => f.write_str("localhost"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// An IPv6 literal, optionally with a zone (`%zone`; `%25zone` too when `bracketed`).
fn parse_ipv6(s: &str, bracketed: bool) -> Option<IpAddr> {
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) => (a, Some(if bracketed { z.strip_prefix("25").unwrap_or(z) } else { z })),
        None => (s, None),
    };
    if let Some(z) = zone
        && (z.is_empty() || !z.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)))
    {
        return None;
    }
    addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// True when the last label is a number as the WHATWG URL standard defines it: all
/// digits, or `0x`/`0X` followed by hex digits. Such a host is an IPv4 address or nothing.
fn ends_in_number(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    match last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")) {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// IPv4 as glibc's `inet_aton` reads it: 1 to 4 parts separated by `.`, each decimal,
/// octal (leading `0`) or hex (`0x`/`0X`, at least one digit); every part but the last at
/// most 255, the last filling the remaining bytes. No sign, no whitespace, no trailing dot
/// (unlike `inet_aton`, trailing whitespace and what follows it are not ignored).
pub fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        vals.push(parse_ipv4_part(p)?);
    }
    let last = vals.pop()?;
    if vals.iter().any(|v| *v > 0xff) {
        return None;
    }
    let bits = 8 * (4 - vals.len() as u32);
    if bits < 32 && last >> bits != 0 {
        return None;
    }
    let mut n: u32 = 0;
    for (i, v) in vals.iter().enumerate() {
        n |= (*v as u32) << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(n | last as u32))
}

/// One part, as `strtoul(…, 0)` reads it, refused above 0xffffffff or with anything left over.
fn parse_ipv4_part(p: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)? as u64;
        v = v * radix as u64 + d;
        if v > 0xffff_ffff {
            return None;
        }
    }
    Some(v)
}

/// Checks a lower-case host name without a trailing dot.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("it is longer than 253 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label".into());
        }
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(format!("label `{label}` has characters other than letters, digits, `-` and `_`"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with `-`"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
