//! The capture's UDP relay inside the sandbox. Every datagram the tool sends, but DNS and
//! what stays on the sandbox's own loopback, arrives at one transparent socket (nftables
//! `tproxy`; every address is local to the sandbox's loopback) with its original
//! destination. The first datagram of a flow (source, destination) asks cordon for that
//! destination over the proxy's socket; cordon decides it with the policy's UDP rules,
//! records the decision, and carries the flow from a socket of its own. The relay answers as
//! the destination from a socket bound to it and connected to the tool's, which also takes
//! the flow's later datagrams (a connected socket wins the kernel's lookup). A refused flow
//! is dropped here until it idles: one flow, one decision, one audit event.
#![allow(unsafe_code, reason = "IP_TRANSPARENT and the original destination have no std wrappers")]

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd as _, FromRawFd as _};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A flow with no datagram either way for this long is closed (and decided again if the
/// tool sends once more).
const IDLE: Duration = Duration::from_secs(60);

/// Flows open (or refused and not yet idle) at once, per transparent socket; a datagram
/// that would start one more is dropped unasked and unrecorded (a tool spraying ports cannot
/// exhaust the relay's threads). cordon's own cap on carried flows
/// (`proxy::MAX_UDP_FLOWS`) is lower and records each flow it turns away.
const MAX_FLOWS: usize = 1024;

type Flows = Arc<Mutex<HashMap<(SocketAddr, SocketAddr), Sender<Vec<u8>>>>>;

/// The relay's transparent UDP socket on `127.0.0.1:port` (or `[::1]:port`), made while the
/// helper still holds `CAP_NET_ADMIN` (`IP_TRANSPARENT` needs it), reporting each
/// datagram's original destination.
pub fn transparent(v6: bool, port: u16) -> std::io::Result<UdpSocket> {
    let s = socket(v6)?;
    let fd = s.as_raw_fd();
    if v6 {
        setopt(fd, libc::SOL_IPV6, libc::IPV6_V6ONLY)?;
        setopt(fd, libc::SOL_IPV6, libc::IPV6_TRANSPARENT)?;
        setopt(fd, libc::SOL_IPV6, libc::IPV6_RECVORIGDSTADDR)?;
    } else {
        setopt(fd, libc::SOL_IP, libc::IP_TRANSPARENT)?;
        setopt(fd, libc::SOL_IP, libc::IP_RECVORIGDSTADDR)?;
    }
    let at: SocketAddr = if v6 { (std::net::Ipv6Addr::LOCALHOST, port).into() } else { ([127, 0, 0, 1], port).into() };
    bind(&s, at)?;
    Ok(s)
}

/// Datagrams the kernel dropped on `s` so far for want of room (`SO_MEMINFO`, its
/// `SK_MEMINFO_DROPS` entry).
fn kernel_drops(s: &UdpSocket) -> u64 {
    const SO_MEMINFO: libc::c_int = 55;
    let mut info = [0u32; 9];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    let r =
        unsafe { libc::getsockopt(s.as_raw_fd(), libc::SOL_SOCKET, SO_MEMINFO, info.as_mut_ptr().cast(), &mut len) };
    if r == 0 { u64::from(info[8]) } else { 0 }
}

/// Serves `listener` until the sandbox ends, asking cordon at `socket` for each new flow.
/// Datagrams dropped before cordon was asked (past [`MAX_FLOWS`], or by the kernel when a
/// burst overflowed the socket) are reported to cordon, which records them.
pub fn serve(listener: UdpSocket, socket: String) {
    let flows: Flows = Arc::default();
    let dropped = Arc::new(AtomicU64::new(0));
    if let Ok(watched) = listener.try_clone() {
        let (dropped, socket) = (dropped.clone(), socket.clone());
        std::thread::spawn(move || report_drops(&watched, &dropped, &socket));
    }
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, src, dst) = match recv_with_destination(&listener, &mut buf) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::Other) => continue,
            Err(_) => return,
        };
        let datagram = buf[..n].to_vec();
        let Ok(mut map) = flows.lock() else { return };
        if let Some(tx) = map.get(&(src, dst))
            && tx.send(datagram.clone()).is_ok()
        {
            continue;
        }
        if map.len() >= MAX_FLOWS {
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = tx.send(datagram);
        map.insert((src, dst), tx);
        drop(map);
        let (flows, socket, dropped) = (flows.clone(), socket.clone(), dropped.clone());
        std::thread::spawn(move || flow(src, dst, rx, &socket, &flows, &dropped));
    }
}

/// Tells cordon, at most ten times a second, how many datagrams were dropped since the last
/// report: those `serve` and the flows could not ask about, and those the kernel dropped on
/// `listener` for want of room (`SO_MEMINFO`'s drop count, read here so a burst's tail is
/// counted too).
fn report_drops(listener: &UdpSocket, dropped: &AtomicU64, socket: &str) {
    let mut reported = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = dropped.load(Ordering::Relaxed) + kernel_drops(listener);
        if now == reported {
            continue;
        }
        let mut msg = vec![cordon_plan::helper::UDP_DROPS];
        msg.extend_from_slice(&(now - reported).to_be_bytes());
        if let Ok(mut up) = UnixStream::connect(socket)
            && up.write_all(&msg).is_ok()
        {
            let _ = up.read(&mut [0u8; 1]);
            reported = now;
        }
    }
}

/// One flow from the tool's `src` to `dst`: asked of cordon, then carried both ways until
/// it idles.
fn flow(src: SocketAddr, dst: SocketAddr, rx: Receiver<Vec<u8>>, socket: &str, flows: &Flows, dropped: &AtomicU64) {
    let granted = (|| {
        // cordon may be busy (a burst of new flows fills its socket's backlog): a few tries;
        // a flow never asked is counted as dropped, so cordon records it.
        let mut asked = None;
        for wait in [0, 5, 20, 100, 500] {
            std::thread::sleep(Duration::from_millis(wait));
            let Ok(mut up) = UnixStream::connect(socket) else { continue };
            if let Ok(granted) = super::helper::socks_request(&mut up, cordon_plan::helper::SOCKS_UDP_FLOW, dst) {
                asked = Some((up, granted));
                break;
            }
        }
        let Some((up, granted)) = asked else {
            dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let answer = granted.then(|| answering_socket(dst, src).ok()).flatten()?;
        Some((up, answer))
    })();
    let end = || {
        if let Ok(mut map) = flows.lock() {
            map.remove(&(src, dst));
        }
    };
    let Some((up, answer)) = granted else {
        // Refused (cordon recorded it), or the relay could not answer as `dst`: the flow's
        // datagrams are dropped until it idles.
        while rx.recv_timeout(IDLE).is_ok() {}
        return end();
    };
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let touch = {
        let last = last.clone();
        move || last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed)
    };
    let (Ok(writer), Ok(mut reader), Ok(down)) = (up.try_clone(), up.try_clone(), answer.try_clone()) else {
        return end();
    };
    let writer = Arc::new(Mutex::new(writer));
    // cordon → the tool.
    let touch_down = touch.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_535];
        loop {
            let mut len = [0u8; 2];
            if reader.read_exact(&mut len).is_err() {
                return;
            }
            let len = usize::from(u16::from_be_bytes(len));
            if reader.read_exact(&mut buf[..len]).is_err() {
                return;
            }
            touch_down();
            let _ = down.send(&buf[..len]);
        }
    });
    // Datagrams the transparent socket took before the answering socket existed.
    let queued = writer.clone();
    std::thread::spawn(move || {
        while let Ok(d) = rx.recv() {
            if frame(&queued, &d).is_err() {
                return;
            }
        }
    });
    // The tool → cordon, through the answering socket.
    let _ = answer.set_read_timeout(Some(IDLE));
    let mut buf = vec![0u8; 65_535];
    loop {
        match answer.recv(&mut buf) {
            Ok(n) => {
                touch();
                if frame(&writer, &buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                let idle = start.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
                if idle >= IDLE {
                    break;
                }
            }
            // The tool's socket is gone (an ICMP error for an answer), or a signal.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    end();
    if let Ok(w) = writer.lock() {
        let _ = w.shutdown(std::net::Shutdown::Both);
    }
}

/// Sends one datagram to cordon: its length, then its bytes, in one write.
fn frame(writer: &Mutex<UnixStream>, d: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(d.len()).map_err(|_| std::io::Error::other("datagram too long"))?;
    let mut f = Vec::with_capacity(2 + d.len());
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(d);
    writer.lock().map_err(|_| std::io::Error::other("poisoned"))?.write_all(&f)
}

/// A socket that answers the tool as `dst`: bound there (every address is local in the
/// sandbox; several flows may share one destination) and connected to the tool's `src`.
fn answering_socket(dst: SocketAddr, src: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = socket(dst.is_ipv6())?;
    setopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    // Every address is routed to the loopback here, but IPv6 counts only its interface
    // addresses as local for `bind`: bind the destination freely (no privilege needed).
    if dst.is_ipv6() {
        setopt(s.as_raw_fd(), libc::SOL_IPV6, libc::IPV6_V6ONLY)?;
        setopt(s.as_raw_fd(), libc::SOL_IPV6, libc::IPV6_FREEBIND)?;
    } else {
        setopt(s.as_raw_fd(), libc::SOL_IP, libc::IP_FREEBIND)?;
    }
    bind(&s, dst)?;
    s.connect(src)?;
    Ok(s)
}

fn socket(v6: bool) -> std::io::Result<UdpSocket> {
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: socket() takes integers; the result is checked and owned below.
    let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket owned by nothing else.
    Ok(unsafe { UdpSocket::from_raw_fd(fd) })
}

fn setopt(fd: i32, level: libc::c_int, name: libc::c_int) -> std::io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

fn bind(s: &UdpSocket, at: SocketAddr) -> std::io::Result<()> {
    let (ss, len) = to_sockaddr(at);
    // SAFETY: bind reads a sockaddr of the length passed.
    let r = unsafe { libc::bind(s.as_raw_fd(), (&raw const ss).cast(), len) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

fn to_sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&raw mut ss).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut ss).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Reads a `sockaddr_in` or `sockaddr_in6` at `p`.
///
/// # Safety
/// `p` points at `len` readable bytes.
unsafe fn from_sockaddr(p: *const u8, len: usize) -> Option<SocketAddr> {
    if len < std::mem::size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: at least the family is readable (checked above); unaligned reads throughout.
    let family = unsafe { std::ptr::read_unaligned(p.cast::<libc::sa_family_t>()) };
    match libc::c_int::from(family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the length covers a sockaddr_in.
            let a: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(p.cast()) };
            Some(SocketAddr::from((u32::from_be(a.sin_addr.s_addr).to_be_bytes(), u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the length covers a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(p.cast()) };
            Some(SocketAddr::from((a.sin6_addr.s6_addr, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

/// One datagram with its source and its original destination (`IP_ORIGDSTADDR`).
fn recv_with_destination(s: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr, SocketAddr)> {
    // SAFETY: all-zero is valid for these plain C structs.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 16]; // 128 bytes, aligned for cmsghdr
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut name).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` points at a live buffer of the length given.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &raw mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let bad = || std::io::Error::other("a datagram without its addresses");
    // SAFETY: the kernel wrote `msg_namelen` bytes of address into `name`.
    let src = unsafe { from_sockaddr((&raw const name).cast(), msg.msg_namelen as usize) }.ok_or_else(bad)?;
    let mut dst = None;
    // SAFETY: walking the control messages the kernel wrote, with libc's own macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if (level == libc::SOL_IP && kind == libc::IP_ORIGDSTADDR)
                || (level == libc::SOL_IPV6 && kind == libc::IPV6_ORIGDSTADDR)
            {
                let data = libc::CMSG_DATA(c);
                let len = (*c).cmsg_len as usize - (data as usize - c as usize);
                dst = from_sockaddr(data, len);
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok((n as usize, src, dst.ok_or_else(bad)?))
}
