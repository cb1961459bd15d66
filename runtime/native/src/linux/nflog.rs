//! The NFLOG socket cordon learns about refusals before any handshake from: the capture's
//! nftables rules log each refused TCP connection's first packet (and, on loopback, the
//! kernel's reset) to one group.
//!
//! The helper opens and binds the socket inside the sandbox while it holds `CAP_NET_ADMIN`
//! over the sandbox's network namespace, and hands it to cordon over the proxy's unix
//! socket before the tool starts. cordon reads it after the run: every packet logged before
//! the tool ended is there, so no refusal is lost to the sandbox's teardown.
#![allow(unsafe_code, reason = "netlink sockets have no std wrapper")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_ULOG: u16 = 4;
const NFULNL_MSG_PACKET: u16 = NFNL_SUBSYS_ULOG << 8;
const NFULNL_MSG_CONFIG: u16 = (NFNL_SUBSYS_ULOG << 8) | 1;
const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULA_CFG_QTHRESH: u16 = 5;
const NFULNL_CFG_CMD_BIND: u8 = 1;
const NFULNL_COPY_PACKET: u8 = 2;
const NFULA_PAYLOAD: u16 = 9;
/// Bytes of each packet copied: an IPv4 header with the most options (60 bytes) or an IPv6
/// header with extension headers, and the TCP header's ports, flags and numbers.
const COPY_RANGE: u32 = 512;

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut a = Vec::with_capacity(len + 3);
    a.extend_from_slice(&(len as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(value);
    a.resize(len.next_multiple_of(4), 0);
    a
}

/// One configuration message for `group`, asking for an acknowledgement.
fn config(group: u16, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&NFULNL_MSG_CONFIG.to_ne_bytes());
    m.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family (any), version 0, the group as the resource id (big-endian).
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    m.extend_from_slice(&group.to_be_bytes());
    m.extend_from_slice(attrs);
    m
}

/// Opens a netlink socket bound to NFLOG `group`, copying the start of each packet.
///
/// # Errors
/// The socket cannot be opened or the kernel refuses the binding (no `nfnetlink_log`, or no
/// `CAP_NET_ADMIN`).
pub fn open(group: u16) -> Result<OwnedFd, String> {
    // SAFETY: socket() takes integers; the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_NETFILTER) };
    if fd < 0 {
        return Err(format!("nflog: socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_nl is valid (the kernel picks the port id).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: bind reads a sockaddr_nl of the size passed.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    } != 0
    {
        return Err(format!("nflog: bind: {}", std::io::Error::last_os_error()));
    }
    // Room for many refusals. Inside the sandbox's user namespace SO_RCVBUFFORCE is refused
    // (it asks for CAP_NET_ADMIN over the whole host); cordon asks again when it holds the
    // socket ([`Reader::start`]) and reads it throughout the run either way.
    grow_buffer(&fd);
    let mut mode = COPY_RANGE.to_be_bytes().to_vec();
    mode.extend_from_slice(&[NFULNL_COPY_PACKET, 0]);
    // Each packet is sent at once (the default batches up to 100 for up to a second).
    let qthresh = attr(NFULA_CFG_QTHRESH, &1u32.to_be_bytes());
    let configs = [(1, attr(NFULA_CFG_CMD, &[NFULNL_CFG_CMD_BIND])), (2, attr(NFULA_CFG_MODE, &mode)), (3, qthresh)];
    for (seq, attrs) in configs {
        let msg = config(group, seq, &attrs);
        // SAFETY: send reads `msg.len()` bytes from `msg`.
        if unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
            return Err(format!("nflog: send: {}", std::io::Error::last_os_error()));
        }
        let mut ack = [0u8; 256];
        // SAFETY: recv writes at most `ack.len()` bytes into `ack`.
        let n = unsafe { libc::recv(fd.as_raw_fd(), ack.as_mut_ptr().cast(), ack.len(), 0) };
        if n < 20 {
            return Err(format!("nflog: no acknowledgement: {}", std::io::Error::last_os_error()));
        }
        let code = i32::from_ne_bytes([ack[16], ack[17], ack[18], ack[19]]);
        if u16::from_ne_bytes([ack[4], ack[5]]) == libc::NLMSG_ERROR as u16 && code != 0 {
            return Err(format!("nflog: group {group}: {}", std::io::Error::from_raw_os_error(-code)));
        }
    }
    Ok(fd)
}

/// Asks for a 16 MiB receive buffer on `fd` (SO_RCVBUFFORCE where the caller may, else as
/// much as SO_RCVBUF gives); the kernel keeps what it allows.
fn grow_buffer(fd: &OwnedFd) {
    let size: libc::c_int = 16 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt reads an int of the size passed.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

/// The most distinct packets [`Reader`] keeps; past them the log counts as overflowed (a
/// tool spraying refused destinations cannot grow cordon's memory without bound).
const MAX_KEPT: usize = 65_536;

/// The refusal log as cordon reads it: drained by a thread for the whole run, not only
/// after it, so a tool cannot fill the socket's buffer with refusals to hide a later one.
/// Each distinct packet is kept once (a retransmitted SYN, a repeated datagram: once).
#[derive(Debug)]
pub struct Reader {
    shared: std::sync::Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    fd: OwnedFd,
    state: std::sync::Mutex<Kept>,
    stop: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Kept {
    packets: Vec<Logged>,
    seen: std::collections::HashSet<Logged>,
    unread: usize,
    overflowed: bool,
}

impl Shared {
    /// Reads what is there now; how many packets it read.
    fn pump(&self) -> usize {
        let Ok(mut k) = self.state.lock() else { return 0 };
        let (got, overflowed) = drain(&self.fd);
        k.overflowed |= overflowed;
        for p in &got {
            match p {
                None => k.unread = (k.unread + 1).min(MAX_KEPT),
                Some(p) if k.seen.contains(p) => {}
                Some(_) if k.seen.len() >= MAX_KEPT => k.overflowed = true,
                Some(p) => {
                    k.seen.insert(*p);
                    k.packets.push(*p);
                }
            }
        }
        got.len()
    }
}

impl Reader {
    /// Starts reading `fd` (the helper's NFLOG socket) until [`Reader::finish`].
    pub fn start(fd: OwnedFd) -> Self {
        grow_buffer(&fd);
        let shared = std::sync::Arc::new(Shared { fd, state: Default::default(), stop: Default::default() });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("cordon-refusal-log".into())
            .spawn(move || {
                while !s.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut pfd = libc::pollfd { fd: s.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                    // SAFETY: poll reads and writes the one pollfd passed.
                    let ready = unsafe { libc::poll(&raw mut pfd, 1, 100) };
                    if ready > 0 && s.pump() == 0 {
                        // Readable yet nothing to read (an error is pending): do not spin.
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            })
            .ok();
        Self { shared, thread }
    }

    /// Everything logged during the run (read once more now), each distinct packet once;
    /// how many logged packets could not be read; whether some were lost (the socket's
    /// buffer overflowed, or more than [`MAX_KEPT`] distinct ones).
    pub fn finish(mut self) -> (Vec<Logged>, usize, bool) {
        self.stop();
        self.shared.pump();
        let Ok(mut k) = self.shared.state.lock() else { return (Vec::new(), 0, true) };
        (std::mem::take(&mut k.packets), k.unread, k.overflowed)
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One logged TCP or UDP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Logged {
    /// UDP (else TCP).
    pub udp: bool,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// SYN set and ACK clear: a connection's first packet.
    pub syn: bool,
    /// RST set.
    pub rst: bool,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
}

/// Every packet logged so far on `fd`, without waiting; `true` when the kernel dropped
/// some for want of room in the socket's buffer.
pub fn drain(fd: &OwnedFd) -> (Vec<Option<Logged>>, bool) {
    let (mut out, mut overflowed) = (Vec::new(), false);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: recv writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n > 0 {
            out.extend(packets(&buf[..n as usize]));
            continue;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::ENOBUFS) => overflowed = true,
            _ => return (out, overflowed),
        }
    }
}

/// The TCP and UDP packets of the NFLOG packet messages in one netlink datagram; a logged
/// packet that cannot be read is `None` (it was still refused: every logged packet is).
pub fn packets(buf: &[u8]) -> Vec<Option<Logged>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        if len < 16 || off + len > buf.len() {
            break;
        }
        if kind == NFULNL_MSG_PACKET {
            out.push(packet(&buf[off + 16..off + len]));
        }
        off += len.next_multiple_of(4);
    }
    out
}

/// The packet in one packet message (after its netlink header).
fn packet(msg: &[u8]) -> Option<Logged> {
    let mut off = 4; // nfgenmsg
    while off + 4 <= msg.len() {
        let len = u16::from_ne_bytes([msg[off], msg[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]) & 0x3fff;
        if len < 4 || off + len > msg.len() {
            return None;
        }
        if kind == NFULA_PAYLOAD {
            return tcp(&msg[off + 4..off + len]);
        }
        off += len.next_multiple_of(4);
    }
    None
}

/// The addresses (and for TCP the flags) of an IPv4 or IPv6 packet carrying TCP or UDP.
/// IPv4 options and IPv6 extension headers are skipped (a tool may add them to its packets).
fn tcp(p: &[u8]) -> Option<Logged> {
    let (src, dst, t, proto): (IpAddr, IpAddr, usize, u8) = match p.first()? >> 4 {
        4 => {
            let h = p.get(..20)?;
            let ihl = usize::from(h[0] & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
            let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
            (src.into(), dst.into(), ihl, h[9])
        }
        6 => {
            let h = p.get(..40)?;
            let src: [u8; 16] = h[8..24].try_into().ok()?;
            let dst: [u8; 16] = h[24..40].try_into().ok()?;
            let (mut next, mut at) = (h[6], 40usize);
            // Hop-by-hop, routing, destination options: (length + 1) × 8 bytes; fragment: 8;
            // authentication: (length + 2) × 4.
            for _ in 0..8 {
                let len = match next {
                    0 | 43 | 60 => (usize::from(*p.get(at + 1)?) + 1) * 8,
                    44 => 8,
                    51 => (usize::from(*p.get(at + 1)?) + 2) * 4,
                    _ => break,
                };
                next = *p.get(at)?;
                at += len;
            }
            (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into(), at, next)
        }
        _ => return None,
    };
    if !matches!(proto, 6 | 17) {
        return None;
    }
    let ports = p.get(t..t + 4)?;
    let src = SocketAddr::new(src, u16::from_be_bytes([ports[0], ports[1]]));
    let dst = SocketAddr::new(dst, u16::from_be_bytes([ports[2], ports[3]]));
    if proto == 17 {
        return Some(Logged { udp: true, src, dst, syn: false, rst: false, seq: 0, ack: 0 });
    }
    let h = p.get(t..t + 14)?;
    let flags = h[13];
    Some(Logged {
        udp: false,
        src,
        dst,
        syn: flags & 0x12 == 0x02,
        rst: flags & 0x04 != 0,
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
    })
}

/// The destinations of refused connections among `logged`: every SYN to an address that is
/// not loopback (the filter reset it), and a SYN to loopback the kernel reset (nothing of
/// the sandbox listened there; a service the tool runs inside is its own, not a refusal).
/// The kernel's answer to a SYN for a closed port is the reset with sequence 0 that
/// acknowledges exactly the SYN; a service that accepted and later reset the connection
/// sends its own sequence number.
///
/// Every UDP datagram logged was dropped (refused on every path): one refusal
/// per flow (source and destination), however many datagrams it sent.
pub fn refused(logged: &[Logged]) -> Vec<(SocketAddr, bool)> {
    // The kernel's resets, by (from, to, acknowledged number).
    let resets: std::collections::HashSet<(SocketAddr, SocketAddr, u32)> =
        logged.iter().filter(|r| !r.udp && r.rst && r.seq == 0).map(|r| (r.src, r.dst, r.ack)).collect();
    let closed = |syn: &Logged| resets.contains(&(syn.dst, syn.src, syn.seq.wrapping_add(1)));
    // One flow is one refusal, however often its SYN was sent (a retransmission repeats the
    // source port and the sequence number), or its datagrams.
    let mut seen = std::collections::HashSet::new();
    logged
        .iter()
        .filter(|p| (p.udp || p.syn) && seen.insert((p.udp, p.src, p.dst, p.seq)))
        .filter(|p| p.udp || !p.dst.ip().is_loopback() || closed(p))
        .map(|p| (p.dst, p.udp))
        .collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn packet_message(payload: &[u8]) -> Vec<u8> {
        let mut body = vec![libc::AF_INET as u8, 0, 0, 7];
        body.extend(attr(10, b"x\0")); // a prefix attribute first, skipped
        body.extend(attr(NFULA_PAYLOAD, payload));
        let len = 16 + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&NFULNL_MSG_PACKET.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend(body);
        m
    }

    fn v4(src: [u8; 4], dst: [u8; 4], ports: (u16, u16), flags: u8, seq: u32, ack: u32) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&ports.0.to_be_bytes());
        p.extend_from_slice(&ports.1.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[0x50, flags]);
        p
    }

    fn parsed(buf: &[u8]) -> Vec<Logged> {
        packets(buf).into_iter().flatten().collect()
    }

    #[test]
    fn logged_ipv4_and_ipv6_packets_are_read() {
        let syn = v4([192, 0, 2, 7], [192, 0, 2, 7], (40960, 443), 0x02, 77, 0);
        let mut v6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        v6.extend_from_slice(&"2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&"2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&[0xa0, 0x00, 0x00, 0x16, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02]);
        let mut both = packet_message(&syn);
        both.extend(packet_message(&v6));
        let got = parsed(&both);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].dst, got[0].syn, got[0].rst), ("192.0.2.7:443".parse().unwrap(), true, false));
        assert_eq!(got[1].dst, "[2001:db8::5]:22".parse().unwrap());
        // UDP: one refusal per flow, however many datagrams.
        let mut udp = syn.clone();
        udp[9] = 17;
        let datagrams = parsed(&[packet_message(&udp), packet_message(&udp)].concat());
        assert!(datagrams.iter().all(|d| d.udp && d.dst == "192.0.2.7:443".parse().unwrap()));
        assert_eq!(refused(&datagrams), vec![("192.0.2.7:443".parse().unwrap(), true)]);
        // Neither TCP nor UDP, truncated: nothing.
        let mut icmp = syn.clone();
        icmp[9] = 1;
        // Neither TCP nor UDP, or truncated: logged, so refused, but unread.
        assert_eq!(packets(&packet_message(&icmp)), vec![None]);
        assert_eq!(packets(&packet_message(&syn[..30])), vec![None]);
        assert_eq!(packets(&packet_message(&syn[..15])), vec![None], "short payloads never panic");
        // IPv4 options (a tool may set IP_OPTIONS) and IPv6 extension headers are skipped.
        let mut opts = syn[..20].to_vec();
        opts[0] = 0x4f; // 60-byte header
        opts.extend_from_slice(&[1; 40]);
        opts.extend_from_slice(&syn[20..]);
        assert_eq!(parsed(&packet_message(&opts))[0].dst, "192.0.2.7:443".parse().unwrap());
        let mut routed = v6[..40].to_vec();
        routed[6] = 43; // a routing header, then TCP
        routed.extend_from_slice(&[6, 2, 0, 0, 0, 0, 0, 0]);
        routed.extend_from_slice(&[0; 16]);
        routed.extend_from_slice(&v6[40..]);
        let got = parsed(&packet_message(&routed));
        assert_eq!((got[0].dst, got[0].syn), ("[2001:db8::5]:22".parse().unwrap(), true));
    }

    #[test]
    fn a_loopback_syn_is_a_refusal_only_when_the_kernel_reset_it() {
        let lo = [127, 0, 0, 1];
        let at = |ports, flags, seq, ack| parsed(&packet_message(&v4(lo, lo, ports, flags, seq, ack)));
        // Closed: the kernel's reset (sequence 0) acknowledges the SYN.
        let refused_syn = at((50000, 9), 0x02, 1000, 0);
        let reset = at((9, 50000), 0x14, 0, 1001);
        // Served inside: the service accepted, then reset the connection with its own
        // sequence number (it had unread data when the tool exited).
        let served_syn = at((50001, 8080), 0x02, 5000, 0);
        let served_reset = at((8080, 50001), 0x14, 987_654, 5001);
        let elsewhere = parsed(&packet_message(&v4([10, 0, 0, 1], [10, 0, 0, 1], (50002, 443), 0x02, 1, 0)));
        let retransmitted = elsewhere.clone();
        let all: Vec<Logged> = [refused_syn, reset, served_syn, served_reset, elsewhere, retransmitted].concat();
        assert_eq!(
            refused(&all),
            vec![("127.0.0.1:9".parse().unwrap(), false), ("10.0.0.1:443".parse().unwrap(), false)]
        );
        // A SYN-ACK is not a first packet.
        let synack = parsed(&packet_message(&v4([10, 0, 0, 1], lo, (443, 50002), 0x12, 1, 2)));
        assert!(refused(&synack).is_empty());
    }
}
