//! The helper: runs inside the sandbox as `HELPER_PATH __cordon-helper PLAN -- CMD…`,
//! restricts itself, then executes the command. Landlock and seccomp restrict the calling
//! process and everything it executes, which is why this runs as a separate step inside
//! bubblewrap (landlock forbids the mount changes bubblewrap needs).
#![allow(unsafe_code, reason = "setrlimit, prctl and close_range have no safe std wrappers")]

use std::collections::BTreeMap;
use std::ffi::CString;

use cordon_plan::helper::HelperPlan;
use cordon_plan::seccomp::SeccompPlan;
use cordon_policy::Access;

/// Entry point: `args` are what follows `__cordon-helper`. Never returns on success (the
/// tool replaces the process); returns an exit code on failure (126/127 like a shell).
pub fn helper_main(args: &[String]) -> u8 {
    let Some((plan_json, rest)) = args.split_first() else { return fail("missing plan") };
    let cmd: Vec<&String> = rest.iter().skip_while(|a| *a != "--").skip(1).collect();
    if cmd.is_empty() {
        return fail("missing command");
    }
    let plan: HelperPlan = match serde_json::from_str(plan_json) {
        Ok(p) => p,
        Err(e) => return fail(&format!("bad plan: {e}")),
    };
    let mut udp = Vec::new();
    if let Some(relay) = &plan.relay
        && let Some(capture) = &relay.capture
    {
        // While the helper still holds CAP_NET_ADMIN over the sandbox's namespaces; every
        // capability goes once the relay has forked (which keeps only CAP_NET_BIND_SERVICE),
        // long before the tool starts. The refusal log goes to cordon before the tool can
        // make a connection.
        match install_capture(capture).and_then(|(log, udp)| {
            log.map_or(Ok(()), |fd| hand_over_log(&relay.socket, fd))?;
            Ok(udp)
        }) {
            Ok(got) => udp = got,
            Err(e) => return fail(&e),
        }
    }
    if let Some(relay) = &plan.relay
        && let Err(e) = start_relay(relay, udp)
    {
        return fail(&e);
    }
    if plan.relay.as_ref().is_some_and(|r| r.capture.is_some())
        && let Err(e) = drop_capabilities()
    {
        return fail(&e);
    }
    if let Err(e) = apply(&plan) {
        return fail(&e);
    }
    exec(&cmd)
}

/// Makes every address local to the sandbox's loopback (so a connection anywhere reaches
/// the redirect instead of failing with no route), installs the nftables rules (refusals
/// before any handshake, the redirect of all other TCP to the relay, the diversion of UDP to
/// its transparent socket), binds the NFLOG socket the refusals are logged to and makes the
/// transparent UDP sockets (both need `CAP_NET_ADMIN`). Any failure refuses the run: the
/// plan said every flow is captured and every refusal reported.
#[allow(clippy::type_complexity, reason = "one call site, named at it")]
fn install_capture(
    c: &cordon_plan::helper::Capture,
) -> Result<(Option<std::os::fd::OwnedFd>, Vec<std::net::UdpSocket>), String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let run = |cmd: &mut Command, what: &str, input: Option<&str>| -> Result<(), String> {
        let mut child = cmd
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_clear()
            .spawn()
            .map_err(|e| format!("network capture: {what}: {e}"))?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes()).map_err(|e| format!("network capture: {what}: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("network capture: {what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("network capture: {what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    };
    run(Command::new(&c.ip).args(["link", "set", "lo", "up"]), "ip link set lo up", None)?;
    run(Command::new(&c.ip).args(["route", "add", "local", "0.0.0.0/0", "dev", "lo"]), "ip route", None)?;
    // Planned from the host: a kernel without IPv6 has no `::/0` to route (IPv6 sockets then
    // reach nothing at all).
    if c.ipv6 {
        run(Command::new(&c.ip).args(["-6", "route", "add", "local", "::/0", "dev", "lo"]), "ip -6 route", None)?;
    }
    // The log socket first: nothing is logged before the rules exist.
    let log = (c.log_group != 0).then(|| super::nflog::open(c.log_group)).transpose()?;
    run(Command::new(&c.nft).args(["-f", "-"]), "nft", Some(&c.ruleset))?;
    let mut udp = Vec::new();
    if c.udp_port != 0 {
        for v6 in std::iter::once(false).chain(c.ipv6.then_some(true)) {
            udp.push(
                super::udp_relay::transparent(v6, c.udp_port)
                    .map_err(|e| format!("network capture: the transparent UDP socket: {e}"))?,
            );
        }
    }
    Ok((log, udp))
}

/// The destination a redirected connection was headed for (`SO_ORIGINAL_DST`).
fn original_destination(conn: &std::net::TcpStream) -> Option<std::net::SocketAddr> {
    use std::os::fd::AsRawFd as _;
    const SO_ORIGINAL_DST: libc::c_int = 80;
    let fd = conn.as_raw_fd();
    // SAFETY: an all-zero sockaddr_storage is valid for getsockopt to fill.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let level = if conn.local_addr().ok()?.is_ipv6() { libc::SOL_IPV6 } else { libc::SOL_IP };
    // SAFETY: getsockopt writes at most `len` bytes into `ss`.
    let r = unsafe { libc::getsockopt(fd, level, SO_ORIGINAL_DST, (&raw mut ss).cast(), &mut len) };
    if r != 0 {
        return None;
    }
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: libc::sockaddr_in = unsafe { std::ptr::read((&raw const ss).cast()) };
            Some(std::net::SocketAddr::from((u32::from_be(a.sin_addr.s_addr).to_be_bytes(), u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const ss).cast()) };
            Some(std::net::SocketAddr::from((a.sin6_addr.s6_addr, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

/// Hands the refusal log to cordon: one byte, [`cordon_plan::helper::LOG_HANDOVER`], with
/// the descriptor attached, on the proxy's socket; cordon answers one byte once it holds it.
fn hand_over_log(socket: &str, fd: std::os::fd::OwnedFd) -> Result<(), String> {
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;
    let fail =
        |what: &str, e: std::io::Error| format!("network capture: handing the refusal log to cordon: {what}: {e}");
    let mut up = std::os::unix::net::UnixStream::connect(socket).map_err(|e| fail("connect", e))?;
    super::fdpass::send(up.as_raw_fd(), cordon_plan::helper::LOG_HANDOVER, fd.as_raw_fd())
        .map_err(|e| fail("sendmsg", e))?;
    let mut ack = [0u8; 1];
    up.read_exact(&mut ack).map_err(|e| fail("no answer", e))?;
    if ack[0] != 1 {
        return Err("network capture: cordon refused the refusal log".into());
    }
    Ok(())
}

/// Asks cordon's proxy (SOCKS5, by address) for `dest`: the proxy decides with the policy's
/// rules and audits; `Ok(true)` is an open tunnel through cordon.
fn socks_connect(up: &mut std::os::unix::net::UnixStream, dest: std::net::SocketAddr) -> std::io::Result<bool> {
    socks_request(up, 1, dest)
}

/// Asks cordon's proxy (SOCKS5, by address) for `dest`: the proxy decides with the policy's
/// rules and audits; `Ok(Some)` is the connection cordon opened to the checked address,
/// handed over with the reply.
fn socks_handoff(
    up: &mut std::os::unix::net::UnixStream,
    dest: std::net::SocketAddr,
) -> std::io::Result<Option<std::net::TcpStream>> {
    use std::os::fd::AsRawFd as _;
    socks_send(up, cordon_plan::helper::SOCKS_CONNECT_HANDOFF, dest)?;
    let mut reply = [0u8; 10];
    let (n, fd) = super::fdpass::recv_with(up.as_raw_fd(), &mut reply, 0)?;
    if n < 2 || reply[1] != 0 {
        return Ok(None);
    }
    let Some(fd) = fd else { return Ok(None) };
    let conn = std::net::TcpStream::from(fd);
    // Only a TCP socket: anything else handed over is refused.
    let is_tcp = conn.peer_addr().is_ok() && conn.set_nodelay(true).is_ok();
    Ok(is_tcp.then_some(conn))
}

/// A SOCKS5 request with command `cmd` for `dest` by address; `Ok(true)` when granted.
pub(super) fn socks_request(
    up: &mut std::os::unix::net::UnixStream,
    cmd: u8,
    dest: std::net::SocketAddr,
) -> std::io::Result<bool> {
    use std::io::Read as _;
    socks_send(up, cmd, dest)?;
    let mut reply = [0u8; 10];
    up.read_exact(&mut reply)?;
    Ok(reply[1] == 0)
}

/// The greeting and a SOCKS5 request with command `cmd` for `dest` by address (the reply
/// is the caller's to read).
fn socks_send(up: &mut std::os::unix::net::UnixStream, cmd: u8, dest: std::net::SocketAddr) -> std::io::Result<()> {
    use std::io::{Read as _, Write as _};
    up.write_all(&[5, 1, 0])?;
    let mut hello = [0u8; 2];
    up.read_exact(&mut hello)?;
    if hello != [5, 0] {
        return Err(std::io::Error::other("the proxy refused the SOCKS5 greeting"));
    }
    let mut req = vec![5, cmd, 0];
    match dest.ip() {
        std::net::IpAddr::V4(v4) => {
            req.push(1);
            req.extend_from_slice(&v4.octets());
        }
        std::net::IpAddr::V6(v6) => {
            req.push(4);
            req.extend_from_slice(&v6.octets());
        }
    }
    req.extend_from_slice(&dest.port().to_be_bytes());
    up.write_all(&req)
}

/// The sandbox's resolver: answers each A/AAAA query with what cordon's proxy resolves for
/// the name (SOCKS5 RESOLVE), which refuses a denied name before any lookup: that becomes
/// NXDOMAIN. Other query types get an empty answer.
fn dns_stub(udp: &std::net::UdpSocket, socket: &str) {
    let mut buf = [0u8; 1500];
    while let Ok((n, from)) = udp.recv_from(&mut buf) {
        let (Ok(udp), query, socket) = (udp.try_clone(), buf[..n].to_vec(), socket.to_string()) else { continue };
        std::thread::spawn(move || {
            if let Some(reply) = dns_answer(&query, &socket) {
                let _ = udp.send_to(&reply, from);
            }
        });
    }
}

/// The reply to one DNS query, or `None` for what is not a query.
fn dns_answer(q: &[u8], socket: &str) -> Option<Vec<u8>> {
    // Header (12 bytes), one question: labels, type, class.
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(std::str::from_utf8(q.get(i..i + len)?).ok()?.to_string());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question_end = i + 4;
    q.get(..question_end)?;
    let name = labels.join(".");
    let answer = match qtype {
        1 | 28 => socks_resolve(socket, &name),
        _ => Ok(None),
    };
    let mut r = q[..question_end].to_vec();
    r[2] = 0x80 | (q[2] & 0x01); // a response; recursion desired as asked
    r[3] = 0x80; // recursion available, NOERROR
    r[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    match answer {
        Err(()) => r[3] |= 3, // NXDOMAIN: cordon refused the name (or it does not resolve)
        Ok(Some(ip)) => {
            let rdata: Vec<u8> = match (qtype, ip) {
                (1, std::net::IpAddr::V4(v4)) => v4.octets().to_vec(),
                (28, std::net::IpAddr::V6(v6)) => v6.octets().to_vec(),
                _ => return Some(r),
            };
            r[7] = 1; // one answer
            r.extend_from_slice(&[0xc0, 12]); // the question's name
            r.extend_from_slice(&qtype.to_be_bytes());
            r.extend_from_slice(&[0, 1]); // IN
            r.extend_from_slice(&cordon_plan::helper::DNS_TTL.to_be_bytes());
            r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            r.extend_from_slice(&rdata);
        }
        Ok(None) => {}
    }
    Some(r)
}

/// Asks cordon's proxy to resolve `name` (SOCKS5 RESOLVE): `Err` when it refuses.
fn socks_resolve(socket: &str, name: &str) -> Result<Option<std::net::IpAddr>, ()> {
    use std::io::{Read as _, Write as _};
    let mut up = std::os::unix::net::UnixStream::connect(socket).map_err(|_| ())?;
    let len = u8::try_from(name.len()).map_err(|_| ())?;
    up.write_all(&[5, 1, 0]).map_err(|_| ())?;
    let mut hello = [0u8; 2];
    up.read_exact(&mut hello).map_err(|_| ())?;
    let mut req = vec![5, 0xf0, 0, 3, len];
    req.extend_from_slice(name.as_bytes());
    req.extend_from_slice(&[0, 0]);
    up.write_all(&req).map_err(|_| ())?;
    let mut head = [0u8; 4];
    up.read_exact(&mut head).map_err(|_| ())?;
    if head[1] != 0 {
        return Err(());
    }
    Ok(match head[3] {
        1 => {
            let mut a = [0u8; 4];
            up.read_exact(&mut a).map_err(|_| ())?;
            Some(std::net::IpAddr::from(a))
        }
        4 => {
            let mut a = [0u8; 16];
            up.read_exact(&mut a).map_err(|_| ())?;
            Some(std::net::IpAddr::from(a))
        }
        _ => None,
    })
}

/// Ends `conn` with a reset, so the tool sees the refusal at once (ECONNRESET) instead of
/// a connection that just closes.
fn reset(conn: std::net::TcpStream) {
    use std::os::fd::AsRawFd as _;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt reads a linger struct of the size passed.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    drop(conn);
}

/// A connection to `dest` inside the sandbox, when it is a loopback IPv4 address a process
/// of the sandbox listens on (from `INSIDE_SOURCE`, which the redirect leaves alone).
fn inside_service(dest: std::net::SocketAddr) -> Option<std::net::TcpStream> {
    let std::net::IpAddr::V4(v4) = dest.ip() else { return None };
    if !v4.is_loopback() {
        return None;
    }
    let source: std::net::Ipv4Addr = cordon_plan::helper::INSIDE_SOURCE.parse().ok()?;
    let s = socket2_connect(source, dest)?;
    Some(s)
}

/// `connect` from `source` (bound first, any port).
fn socket2_connect(source: std::net::Ipv4Addr, dest: std::net::SocketAddr) -> Option<std::net::TcpStream> {
    use std::os::fd::FromRawFd as _;
    // SAFETY: socket() takes integers; the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a fresh socket owned by nothing else.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let sin = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let std::net::IpAddr::V4(d) = dest.ip() else { return None };
    let (src, dst) = (sin(source, 0), sin(d, dest.port()));
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: bind and connect read a sockaddr_in of the size passed.
    let ok = unsafe {
        libc::bind(fd, (&raw const src).cast(), len) == 0 && libc::connect(fd, (&raw const dst).cast(), len) == 0
    };
    ok.then_some(stream)
}

/// Two ends of a relayed connection.
trait Duplex: std::io::Read + std::io::Write + std::os::fd::AsRawFd + Send + Sized + 'static {
    fn dup(&self) -> std::io::Result<Self>;
    fn close_write(&self);
}

impl Duplex for std::net::TcpStream {
    fn dup(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Duplex for std::os::unix::net::UnixStream {
    fn dup(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// Copies `from` to `to` until end of file: inside the kernel (`splice`), or where the
/// kernel cannot splice these sockets, 256 KiB at a time (std's copy moves 8 KiB between
/// two sockets, which caps a bulk transfer through the capture).
fn copy<F: std::io::Read + std::os::fd::AsRawFd, T: std::io::Write + std::os::fd::AsRawFd>(from: &mut F, to: &mut T) {
    if super::splice::copy_blocking(from.as_raw_fd(), to.as_raw_fd()).is_ok() {
        return;
    }
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Copies both ways until each side is done.
fn pipe(conn: std::net::TcpStream, up: impl Duplex) {
    let (Ok(mut c2), Ok(mut up2)) = (conn.try_clone(), up.dup()) else { return };
    let (mut c1, mut up1) = (conn, up);
    let t = std::thread::spawn(move || {
        copy(&mut c2, &mut up2);
        up2.close_write();
    });
    copy(&mut up1, &mut c1);
    let _ = c1.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}

/// Listens on loopback inside the sandbox and carries each connection to cordon's proxy
/// through the unix socket bound into the sandbox. Runs in a child forked before any
/// restriction (it needs a unix socket); it dies with the sandbox's pid namespace.
fn start_relay(relay: &cordon_plan::helper::Relay, udp: Vec<std::net::UdpSocket>) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", relay.port)).map_err(|e| format!("relay: {e}"))?;
    // The transparent listeners: bound before the fork, so the tool never starts before them.
    let mut captured = Vec::new();
    let mut dns = None;
    if let Some(c) = &relay.capture {
        dns = Some(std::net::UdpSocket::bind(("127.0.0.1", c.dns_port)).map_err(|e| format!("relay: dns: {e}"))?);
        captured.push(std::net::TcpListener::bind(("127.0.0.1", c.port)).map_err(|e| format!("relay: {e}"))?);
        if c.ipv6 {
            captured.push(std::net::TcpListener::bind(("::1", c.port)).map_err(|e| format!("relay: [::1]: {e}"))?);
        }
    }
    // SAFETY: the helper is single-threaded here, so forking is sound; the child only runs
    // the relay loop below and exits.
    match unsafe { libc::fork() } {
        -1 => Err(format!("relay: fork: {}", std::io::Error::last_os_error())),
        0 => {
            // The relay holds connections cordon opened in the host's network namespace: the
            // tool (same user) must not reach its memory or descriptors (/proc/PID/mem,
            // pidfd_getfd); not dumpable makes both need CAP_SYS_PTRACE, which nothing here has.
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
                // SAFETY: leaving the forked child without running the parent's destructors.
                unsafe { libc::_exit(1) }
            }
            // Of the capture's capabilities the relay keeps one: binding a destination's
            // port below 1024 to answer from it, in the sandbox's own namespace.
            if relay.capture.is_some() && drop_capabilities_but(Some(CAP_NET_BIND_SERVICE)).is_err() {
                // SAFETY: as above.
                unsafe { libc::_exit(1) }
            }
            let socket = relay.socket.clone();
            if let Some(udp) = dns {
                let socket = socket.clone();
                std::thread::spawn(move || dns_stub(&udp, &socket));
            }
            for l in udp {
                let socket = socket.clone();
                std::thread::spawn(move || super::udp_relay::serve(l, socket));
            }
            let handoff = relay.capture.as_ref().is_some_and(|c| c.handoff);
            // The relay's own ports: a connection made straight to one of them (not
            // redirected) reports it as its destination; reaching it again would loop.
            let own: Vec<u16> = relay.capture.as_ref().map(|c| vec![relay.port, c.port]).unwrap_or_default();
            for l in captured {
                let (socket, own) = (socket.clone(), own.clone());
                std::thread::spawn(move || {
                    for conn in l.incoming().flatten() {
                        let (socket, own) = (socket.clone(), own.clone());
                        std::thread::spawn(move || {
                            let Some(dest) = original_destination(&conn) else { return reset(conn) };
                            if dest.ip().is_loopback() && own.contains(&dest.port()) {
                                return reset(conn);
                            }
                            // A loopback service the tool itself runs inside the sandbox is the
                            // sandbox's own: reached there, with no policy involved. Only
                            // when nothing listens inside does loopback mean the host's, under
                            // the policy's rules like every other address.
                            if let Some(inside) = inside_service(dest) {
                                return pipe(conn, inside);
                            }
                            let Ok(mut up) = std::os::unix::net::UnixStream::connect(&socket) else {
                                return reset(conn);
                            };
                            if !handoff {
                                return match socks_connect(&mut up, dest) {
                                    Ok(true) => pipe(conn, up),
                                    _ => reset(conn),
                                };
                            }
                            match socks_handoff(&mut up, dest) {
                                Ok(Some(out)) => pipe(conn, out),
                                _ => reset(conn),
                            }
                        });
                    }
                });
            }
            for conn in listener.incoming().flatten() {
                let socket = socket.clone();
                std::thread::spawn(move || {
                    let Ok(up) = std::os::unix::net::UnixStream::connect(&socket) else { return };
                    pipe(conn, up);
                });
            }
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        _ => Ok(()),
    }
}

fn fail(why: &str) -> u8 {
    eprintln!("cordon helper: {why}");
    125
}

fn apply(plan: &HelperPlan) -> Result<(), String> {
    close_inherited_fds();
    set_limits(plan)?;
    if plan.drop_caps {
        drop_capabilities()?;
    }
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
    }
    landlock(plan)?;
    seccomp(&plan.seccomp)
}

/// Closes every descriptor above stderr: nothing the launcher held leaks to the tool.
fn close_inherited_fds() {
    // SAFETY: close_range takes integers; closing descriptors this process does not use
    // afterwards is sound (the helper holds none open past this point).
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r != 0 {
        for fd in 3..1024 {
            // SAFETY: as above, for kernels without close_range.
            unsafe { libc::close(fd) };
        }
    }
}

/// Drops every capability from the bounding, effective, permitted and inheritable sets, so
/// even a tool started by root holds none (the landlock backend has no user namespace to
/// drop them for it).
fn drop_capabilities() -> Result<(), String> {
    drop_capabilities_but(None)
}

/// `CAP_NET_BIND_SERVICE`: what the capture's relay keeps, to answer a UDP flow from a port
/// below 1024 of its destination inside the sandbox's own network namespace.
const CAP_NET_BIND_SERVICE: u32 = 10;

/// Drops every capability but `keep` from the effective, permitted and inheritable sets,
/// and from the bounding set where the process may (that needs `CAP_SETPCAP`, which
/// bubblewrap does not give: there the bounding set is already cut to the capabilities the
/// plan adds, and `no_new_privs`, set before the tool runs, keeps them from coming back).
fn drop_capabilities_but(keep: Option<u32>) -> Result<(), String> {
    for cap in 0..64 {
        if Some(cap) == keep {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes an integer; an unknown capability number fails
        // with EINVAL, which ends the loop's useful range and is ignored.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header { version: 0x2008_0522, pid: 0 };
    let kept = keep.map_or(0, |c| 1u32 << c);
    let data = [
        Data { effective: kept, permitted: kept, inheritable: 0 },
        Data { effective: 0, permitted: 0, inheritable: 0 },
    ];
    // SAFETY: capset with a valid version-3 header and two data structs, as the ABI requires.
    let r = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    if r != 0 {
        return Err(format!("dropping capabilities: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn set_limits(plan: &HelperPlan) -> Result<(), String> {
    let set = |res: libc::__rlimit_resource_t, soft: u64, hard: u64| {
        let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: `lim` is a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(res, &lim) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().to_string())
        }
    };
    if let Some(b) = plan.limits.memory_bytes {
        set(libc::RLIMIT_AS, b, b).map_err(|e| format!("memoryBytes: {e}"))?;
    }
    if let Some(s) = plan.limits.cpu_seconds {
        set(libc::RLIMIT_CPU, s, s + 1).map_err(|e| format!("cpuMs: {e}"))?;
    }
    // Core dumps could write the tool's memory where it should not.
    set(libc::RLIMIT_CORE, 0, 0).map_err(|e| format!("core limit: {e}"))?;
    Ok(())
}

fn landlock(plan: &HelperPlan) -> Result<(), String> {
    use landlock::{
        ABI, Access as _, AccessFs, CompatLevel, Compatible as _, PathBeneath, Ruleset, RulesetAttr as _,
        RulesetCreatedAttr as _, RulesetStatus, Scope,
    };
    let abi = ABI::V5;
    let all = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let mut base = Ruleset::default().handle_access(all).map_err(|e| format!("landlock: {e}"))?;
    if plan.require_landlock {
        // Signals and abstract unix sockets stay inside the sandbox (landlock ABI 6).
        base = base.scope(Scope::Signal | Scope::AbstractUnixSocket).map_err(|e| format!("landlock: {e}"))?;
    } else if plan.scope_abstract_unix {
        // Unix sockets may be created (a socket file is granted): the host's abstract
        // sockets must stay out of reach, or the run does not start.
        base = base
            .set_compatibility(CompatLevel::HardRequirement)
            .scope(Scope::AbstractUnixSocket)
            .map_err(|e| {
                format!(
                    "a granted unix socket needs abstract unix sockets scoped to the sandbox (landlock ABI 6), \
                     which this kernel cannot do ({e}); remove the socket grant or run on a newer kernel"
                )
            })?
            .set_compatibility(CompatLevel::BestEffort);
    }
    let mut ruleset = base.create().map_err(|e| format!("landlock: {e}"))?;
    for (path, access, pinned) in plan.landlock.all() {
        let rights = match access {
            Access::ReadWrite => all,
            Access::ReadOnly => read,
            Access::Deny => continue,
        };
        let fd: std::os::fd::OwnedFd = if pinned {
            // The policy's grants: opened without following links, and a missing one or a
            // link on the way refuses the run (the object is not the one that was checked).
            super::pin::open_pinned(path).map_err(|why| {
                format!(
                    "landlock rule {}: cannot be opened without following links ({why}); it changed since the policy was loaded",
                    path.display()
                )
            })?
        } else {
            // A baseline path this host does not have (`/lib64`) grants nothing; a path that
            // is there but cannot be opened refuses the run, so what runs is what was planned.
            if std::fs::symlink_metadata(path).is_err() {
                continue;
            }
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                .open(path)
                .map_err(|e| format!("landlock rule {}: {e}", path.display()))?
                .into()
        };
        // A file takes only the rights that apply to files (asked of the opened object).
        let is_dir = std::fs::File::from(fd.try_clone().map_err(|e| format!("landlock rule {}: {e}", path.display()))?)
            .metadata()
            .is_ok_and(|m| m.is_dir());
        let rights = if is_dir { rights } else { rights & AccessFs::from_file(abi) };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(|e| format!("landlock rule {}: {e}", path.display()))?;
    }
    // Best effort by design: bubblewrap's mounts are the first layer; on a kernel without
    // landlock the ruleset is not enforced and `cordon backends` says so.
    let status = ruleset.restrict_self().map_err(|e| format!("landlock: {e}"))?;
    if plan.require_landlock && status.ruleset != RulesetStatus::FullyEnforced {
        return Err(format!(
            "landlock is {:?} on this kernel; the landlock backend needs it fully enforced",
            status.ruleset
        ));
    }
    Ok(())
}

fn seccomp(plan: &SeccompPlan) -> Result<(), String> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
    };
    let arch: TargetArch =
        std::env::consts::ARCH.try_into().map_err(|e| format!("seccomp: unsupported architecture: {e:?}"))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut errno_rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for r in &plan.deny {
        // Fail closed: a rule the filter cannot express stops the run.
        let nr = syscall_number(&r.name).ok_or_else(|| format!("seccomp: unknown syscall `{}` in the plan", r.name))?;
        let target = if r.name == "clone3" { &mut errno_rules } else { &mut rules };
        match r.when {
            None => {
                target.entry(nr).or_default();
            }
            Some((arg, mask, value)) => {
                let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(mask), value)
                    .map_err(|e| format!("seccomp: {e}"))?;
                target.entry(nr).or_default().push(SeccompRule::new(vec![cond]).map_err(|e| format!("seccomp: {e}"))?);
            }
        }
    }
    let eperm = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| format!("seccomp: {e}"))?;
    let enosys = SeccompFilter::new(errno_rules, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), arch)
        .map_err(|e| format!("seccomp: {e}"))?;
    let mut filters = vec![enosys, eperm];
    filters.extend(socket_filters(&plan.sockets, arch)?);
    #[cfg(target_arch = "x86_64")]
    seccompiler::apply_filter(&x32_guard()).map_err(|e| format!("seccomp: x32 guard: {e}"))?;
    for f in filters {
        let prog: seccompiler::BpfProgram = f.try_into().map_err(|e| format!("seccomp: {e}"))?;
        seccompiler::apply_filter(&prog).map_err(|e| format!("seccomp: {e}"))?;
    }
    Ok(())
}

/// On x86-64 the x32 ABI reaches every syscall with bit 30 set in its number, which the
/// rules above (x86-64 numbers) would not match: every such call fails with `ENOSYS`, as on
/// a kernel without x32.
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> seccompiler::BpfProgram {
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let ins = |code: u16, jt: u8, jf: u8, k: u32| seccompiler::sock_filter { code, jt, jf, k };
    let (ld_w_abs, jge_k, ret_k) = (0x20, 0x35, 0x06);
    vec![
        // A = seccomp_data.nr
        ins(ld_w_abs, 0, 0, 0),
        // if A >= X32_SYSCALL_BIT: errno ENOSYS, else allow
        ins(jge_k, 0, 1, X32_SYSCALL_BIT),
        ins(ret_k, 0, 0, 0x0005_0000 | libc::ENOSYS as u32),
        ins(ret_k, 0, 0, 0x7fff_0000),
    ]
}

/// The socket-family allowlist as two filters. A family a policy can grant (`AF_UNIX`,
/// `AF_INET`, `AF_INET6`, `AF_NETLINK`) but this plan does not fails with `EPERM`, as every
/// other policy denial; every other family (`AF_VSOCK`, `AF_PACKET`, `AF_ALG`, …), netlink
/// of a protocol other than `NETLINK_ROUTE`, `socketpair()` of any family but `AF_UNIX`,
/// and (unless `AF_UNIX` is granted) a datagram `socketpair()`, fail with `EAFNOSUPPORT`.
fn socket_filters(
    sockets: &cordon_plan::seccomp::SocketFamilies,
    arch: seccompiler::TargetArch,
) -> Result<Vec<seccompiler::SeccompFilter>, String> {
    use cordon_plan::seccomp::{AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, NETLINK_ROUTE};
    use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};
    let e = |e: seccompiler::BackendError| format!("seccomp: {e}");
    let cond = |arg: u8, op: SeccompCmpOp, v: u32| SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, v.into());
    let grantable = [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK];
    let allowed = sockets.allowed();

    let other_family: Vec<SeccompCondition> =
        grantable.iter().map(|f| cond(0, SeccompCmpOp::Ne, *f)).collect::<Result<_, _>>().map_err(e)?;
    let mut unsupported = vec![SeccompRule::new(other_family).map_err(e)?];
    if allowed.contains(&AF_NETLINK) {
        unsupported.push(
            SeccompRule::new(vec![
                cond(0, SeccompCmpOp::Eq, AF_NETLINK).map_err(e)?,
                cond(2, SeccompCmpOp::Ne, NETLINK_ROUTE).map_err(e)?,
            ])
            .map_err(e)?,
        );
    }
    let mut pair = vec![SeccompRule::new(vec![cond(0, SeccompCmpOp::Ne, AF_UNIX).map_err(e)?]).map_err(e)?];
    if !allowed.contains(&AF_UNIX) {
        // An unbound datagram pair can still `sendto` any socket path it can see (a host
        // daemon's /dev/log, a notify socket): without AF_UNIX granted, only stream and
        // seqpacket pairs, whose sends cannot name a destination.
        pair.push(
            SeccompRule::new(vec![
                SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(0xf), libc::SOCK_DGRAM as u64)
                    .map_err(e)?,
            ])
            .map_err(e)?,
        );
    }
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        [(libc::SYS_socket, unsupported), (libc::SYS_socketpair, pair)].into_iter().collect();
    let eafnosupport =
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EAFNOSUPPORT as u32), arch)
            .map_err(|err| format!("seccomp: {err}"))?;

    let mut denied = Vec::new();
    for f in grantable.iter().filter(|f| !allowed.contains(f)) {
        denied.push(SeccompRule::new(vec![cond(0, SeccompCmpOp::Eq, *f).map_err(e)?]).map_err(e)?);
    }
    if denied.is_empty() {
        return Ok(vec![eafnosupport]);
    }
    let rules: BTreeMap<i64, Vec<SeccompRule>> = [(libc::SYS_socket, denied)].into_iter().collect();
    let eperm = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|err| format!("seccomp: {err}"))?;
    Ok(vec![eafnosupport, eperm])
}

fn syscall_number(name: &str) -> Option<i64> {
    Some(match name {
        "io_uring_setup" => libc::SYS_io_uring_setup,
        "io_uring_enter" => libc::SYS_io_uring_enter,
        "io_uring_register" => libc::SYS_io_uring_register,
        "ptrace" => libc::SYS_ptrace,
        "process_vm_readv" => libc::SYS_process_vm_readv,
        "process_vm_writev" => libc::SYS_process_vm_writev,
        "bpf" => libc::SYS_bpf,
        "userfaultfd" => libc::SYS_userfaultfd,
        "keyctl" => libc::SYS_keyctl,
        "add_key" => libc::SYS_add_key,
        "request_key" => libc::SYS_request_key,
        "perf_event_open" => libc::SYS_perf_event_open,
        "unshare" => libc::SYS_unshare,
        "setns" => libc::SYS_setns,
        "mount" => libc::SYS_mount,
        "umount2" => libc::SYS_umount2,
        "pivot_root" => libc::SYS_pivot_root,
        "init_module" => libc::SYS_init_module,
        "finit_module" => libc::SYS_finit_module,
        "kexec_load" => libc::SYS_kexec_load,
        "clone" => libc::SYS_clone,
        "clone3" => libc::SYS_clone3,
        "ioctl" => libc::SYS_ioctl,
        "socket" => libc::SYS_socket,
        "socketpair" => libc::SYS_socketpair,
        _ => return None,
    })
}

fn exec(cmd: &[&String]) -> u8 {
    let Ok(args) = cmd.iter().map(|a| CString::new(a.as_bytes())).collect::<Result<Vec<_>, _>>() else {
        return fail("argument with a NUL byte");
    };
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `ptrs` is a NULL-terminated array of pointers to NUL-terminated strings that
    // outlive the call; execvp only returns on failure.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    let e = std::io::Error::last_os_error();
    eprintln!("cordon: cannot run {}: {e}", cmd[0]);
    if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }
}
