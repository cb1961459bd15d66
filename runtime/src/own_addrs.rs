//! The networks this host delivers to itself, a host fact every plan reads
//! ([`crate::SystemFacts`]): every interface address, and on Linux every route of type
//! local, anycast or broadcast in any routing table (`ip route add local 192.0.2.0/24 dev
//! lo` makes the whole /24 the host's, and IPv6 forwarding makes each prefix's `::` an
//! anycast address of the host).
//!
//! Reading them costs netlink dumps (about 80 µs here), which a server planning every call
//! would pay each time. On Linux they are read again only when the kernel says they
//! changed: an rtnetlink socket subscribed to address and route events *before* the first
//! read is checked (one non-blocking `recv`) on every plan; any event, or an overflowed
//! queue, means read again. One watch per network namespace (a thread may have its own).
//! Elsewhere, and where the subscription fails, they are read on every plan.

use std::io;
use std::net::IpAddr;

use cordon_policy::net::IpNet;

/// The host's own networks as they are now.
pub(crate) fn current() -> io::Result<Vec<IpNet>> {
    #[cfg(target_os = "linux")]
    if let Some(nets) = watch::current() {
        return nets;
    }
    read()
}

fn read() -> io::Result<Vec<IpNet>> {
    let single = |ip: IpAddr| IpNet::new(ip, if ip.is_ipv4() { 32 } else { 128 });
    #[allow(unused_mut, reason = "only Linux adds the routes")]
    let mut all: Vec<IpNet> = if_addrs::get_if_addrs()?.into_iter().filter_map(|i| single(i.ip())).collect();
    #[cfg(target_os = "linux")]
    all.extend(watch::local_routes()?);
    Ok(all)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code, reason = "netlink sockets, their requests and non-blocking recv have no std wrapper")]
mod watch {
    use std::collections::HashMap;
    use std::io;
    use std::net::IpAddr;
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

    use cordon_policy::net::IpNet;
    use std::os::unix::fs::MetadataExt as _;
    use std::sync::Mutex;

    const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    const RTMGRP_IPV4_ROUTE: u32 = 0x40;
    const RTMGRP_IPV6_IFADDR: u32 = 0x100;
    const RTMGRP_IPV6_ROUTE: u32 = 0x400;

    struct Watch {
        sock: OwnedFd,
        addrs: Vec<IpNet>,
    }

    /// The watches, by network namespace (its inode).
    static WATCHES: Mutex<Option<HashMap<u64, Watch>>> = Mutex::new(None);

    /// The addresses from the watch of this thread's network namespace, read again when
    /// they changed; `None` when no watch can be made (the caller reads every time).
    pub(super) fn current() -> Option<io::Result<Vec<IpNet>>> {
        let ns = std::fs::metadata("/proc/thread-self/ns/net").ok()?.ino();
        let mut all = WATCHES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let map = all.get_or_insert_with(HashMap::new);
        if let Some(w) = map.get(&ns)
            && !changed(&w.sock)
        {
            return Some(Ok(w.addrs.clone()));
        }
        let sock = match map.remove(&ns) {
            Some(w) => w.sock,
            None => socket(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE)?,
        };
        // Events queued so far are answered by this read; one arriving during it makes the
        // next plan read again.
        while changed(&sock) {}
        let addrs = match super::read() {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        map.insert(ns, Watch { sock, addrs: addrs.clone() });
        Some(Ok(addrs))
    }

    /// A route netlink socket in this thread's namespace, subscribed to `groups` (and then
    /// non-blocking), or for requests (`groups` 0, blocking).
    fn socket(groups: u32) -> Option<OwnedFd> {
        let nonblock = if groups == 0 { 0 } else { libc::SOCK_NONBLOCK };
        // SAFETY: plain socket creation; the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | nonblock | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; its fields are set below.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        // SAFETY: `addr` is a sockaddr_nl of the size given.
        let bound = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        (bound == 0).then_some(sock)
    }

    const RTM_NEWROUTE: u16 = 24;
    const RTM_GETROUTE: u16 = 26;
    const RTA_DST: u16 = 1;
    const RTN_LOCAL: u8 = 2;
    const RTN_BROADCAST: u8 = 3;
    const RTN_ANYCAST: u8 = 4;

    /// Every route of type local, broadcast or anycast, in every table and both families:
    /// what the host delivers to itself (one `RTM_GETROUTE` dump).
    pub(super) fn local_routes() -> io::Result<Vec<IpNet>> {
        let sock = socket(0).ok_or_else(|| io::Error::other("no route netlink socket"))?;
        // nlmsghdr (16 bytes) + rtmsg (12 bytes, all zero: every family and table).
        let mut req = [0u8; 28];
        req[0..4].copy_from_slice(&28u32.to_ne_bytes());
        req[4..6].copy_from_slice(&RTM_GETROUTE.to_ne_bytes());
        req[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
        req[8..12].copy_from_slice(&1u32.to_ne_bytes());
        // SAFETY: `req` is readable for its length.
        if unsafe { libc::send(sock.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 256 * 1024];
        let mut out = Vec::new();
        loop {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if parse(&buf[..n as usize], &mut out)? {
                return Ok(out);
            }
        }
    }

    /// One datagram of the dump into `out`; `true` at its end.
    fn parse(mut b: &[u8], out: &mut Vec<IpNet>) -> io::Result<bool> {
        let bad = || io::Error::other("a malformed route netlink message");
        let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if len < 16 || len > b.len() {
                return Err(bad());
            }
            let (msg, kind) = (&b[16..len], u16_at(b, 4));
            match kind {
                k if k == libc::NLMSG_DONE as u16 => return Ok(true),
                k if k == libc::NLMSG_ERROR as u16 => {
                    let code = msg.get(..4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).ok_or_else(bad)?;
                    return if code == 0 { Ok(true) } else { Err(io::Error::from_raw_os_error(-code)) };
                }
                RTM_NEWROUTE if msg.len() >= 12 => {
                    let (family, dst_len, kind) = (msg[0], msg[1], msg[7]);
                    if matches!(kind, RTN_LOCAL | RTN_BROADCAST | RTN_ANYCAST) {
                        let mut dst = None;
                        let mut attrs = &msg[12..];
                        while attrs.len() >= 4 {
                            let (alen, atype) = (usize::from(u16_at(attrs, 0)), u16_at(attrs, 2));
                            if alen < 4 || alen > attrs.len() {
                                return Err(bad());
                            }
                            if atype == RTA_DST {
                                dst = Some(attrs[4..alen].to_vec());
                            }
                            attrs = &attrs[((alen + 3) & !3).min(attrs.len())..];
                        }
                        let addr = match (i32::from(family), dst.as_deref()) {
                            (libc::AF_INET, Some(&[a, b, c, d])) => Some(IpAddr::from([a, b, c, d])),
                            (libc::AF_INET, None) => Some(IpAddr::from([0u8; 4])),
                            (libc::AF_INET6, Some(d)) if d.len() == 16 => {
                                <[u8; 16]>::try_from(d).ok().map(IpAddr::from)
                            }
                            (libc::AF_INET6, None) => Some(IpAddr::from([0u8; 16])),
                            _ => None,
                        };
                        if let Some(net) = addr.and_then(|a| IpNet::new(a, dst_len)) {
                            out.push(net);
                        }
                    }
                }
                _ => {}
            }
            b = &b[((len + 3) & !3).min(b.len())..];
        }
        Ok(false)
    }

    /// True when an event (or an error such as an overflowed queue) is waiting: consumes one.
    fn changed(sock: &OwnedFd) -> bool {
        let mut buf = [0u8; 8192];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return true;
        }
        let e = io::Error::last_os_error();
        e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted
    }
}
