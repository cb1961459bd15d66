//! cordon's filtering proxy for native commands: HTTP (absolute-form, Host checked),
//! CONNECT, and SOCKS5 (CONNECT, with remote names; and Tor's RESOLVE extension so a tool can
//! look a name up through the same checks), on one socket, protocol sniffed from the first
//! byte. SOCKS4 is refused.
//!
//! Every destination is parsed by cordon's one host parser ([`cordon_policy::Host`]) and
//! goes through `cordon_policy::Network`, the same decisions the wasm backend makes: an
//! address in any spelling (`2130706433`, `127.1`, `0x7f000001`) and `localhost` are
//! checked as addresses and never resolved; a name is checked before any DNS lookup (a
//! denied name never reaches a resolver), an allowed name is resolved here in its
//! normalised form and every answer is checked (local ranges need a rule that names them);
//! and the connection goes to the address that was checked.
//!
//! HTTP requests are parsed strictly ([`check_request`]): exactly one `Host`, equal to the
//! absolute-form authority; no duplicate or conflicting `Content-Length`, no
//! `Transfer-Encoding` but `chunked` and never with `Content-Length`; no obs-fold; at most
//! [`MAX_HEADERS`] headers in [`MAX_HEAD`] bytes. Each refusal is an event with its rule and
//! a 400, 403 or 431 to the client. A plain-HTTP request is forwarded one per connection
//! (`Connection: close`), its body cut where its `Content-Length` or its last chunk ends,
//! so one connection cannot smuggle a second request.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use cordon_policy::net::Protocol;
use cordon_policy::{Host, HostCheck, NetDecision, Network};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixListener, UnixStream};

/// One decision the proxy made (the same record the wasm backend keeps).
pub use cordon_policy::NetEvent as ProxyEvent;

/// Bytes each direction of a relayed connection moves per read (tokio's default is 8 KiB,
/// which caps a bulk transfer through the capture far below what loopback carries).
pub const RELAY_BUFFER: usize = 256 * 1024;

/// How long an answer cordon gave the sandbox's resolver vouches for its address: twice the
/// TTL the resolver announces ([`cordon_plan::helper::DNS_TTL`]).
pub const REMEMBERED_FOR: std::time::Duration = std::time::Duration::from_secs(2 * cordon_plan::helper::DNS_TTL as u64);

/// UDP flows the proxy carries at once; past them a new flow is refused (and recorded), so
/// a tool cannot exhaust cordon's descriptors.
pub const MAX_UDP_FLOWS: usize = 256;

/// The largest request head the proxy reads, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;

/// The proxy's shared state.
#[derive(Debug)]
pub struct Proxy {
    network: Network,
    events: Mutex<Vec<ProxyEvent>>,
    /// Answers cordon gave the sandbox's resolver for allowed names, with the name's
    /// decision: a later connection to one of these addresses by address alone (a raw
    /// socket after `getaddrinfo`) is decided under the domain rule that produced it, as
    /// Cilium's `toFQDNs` policies work. Kept for [`REMEMBERED_FOR`] after each answer
    /// (twice the TTL the sandbox's resolver announces, so a program that honours it looks
    /// the name up again before the address stops being vouched for).
    remembered: Mutex<std::collections::HashMap<IpAddr, (NetDecision, std::time::Instant)>>,
    /// Captured TCP connections may be handed to the relay as sockets (the plan says the
    /// tool cannot reach the proxy's socket itself: it may create no unix socket). Otherwise
    /// cordon carries their bytes: a tool that could ask for a handoff would get a socket in
    /// the host's network namespace.
    #[cfg_attr(not(target_os = "linux"), expect(dead_code, reason = "only Linux hands sockets over"))]
    handoff: bool,
    /// UDP flows carried now (at most [`MAX_UDP_FLOWS`]).
    udp_flows: std::sync::atomic::AtomicUsize,
    /// The capture's refusal log (NFLOG), handed over by the helper before the tool starts.
    #[cfg(target_os = "linux")]
    refusal_log: Mutex<LogSlot>,
}

/// Where the refusal log stands.
#[cfg(target_os = "linux")]
#[derive(Debug)]
enum LogSlot {
    /// Expected from the helper (the plan has a capture), not yet here.
    Waiting,
    /// Read throughout the run, until it ends.
    Held(crate::linux::nflog::Reader),
    /// Not expected, or already read: any descriptor offered is closed.
    Closed,
}

impl Proxy {
    /// A proxy deciding with `network`.
    pub fn new(network: Network) -> Arc<Self> {
        Self::with_refusal_log(network, false)
    }

    /// As [`Proxy::new`]; with `expect_log`, the first refusal log handed over on the
    /// socket is kept (the helper's, sent before the tool starts) and read by
    /// [`Proxy::record_refusals`]. Otherwise any offered is closed.
    pub fn with_refusal_log(network: Network, expect_log: bool) -> Arc<Self> {
        Self::for_capture(network, expect_log, false)
    }

    /// As [`Proxy::with_refusal_log`]; with `handoff` (planned only when the tool can reach
    /// no unix socket), a captured TCP connection's socket goes to the relay.
    pub fn for_capture(network: Network, expect_log: bool, handoff: bool) -> Arc<Self> {
        #[cfg(not(target_os = "linux"))]
        let _ = expect_log;
        Arc::new(Self {
            handoff,
            network,
            events: Mutex::new(Vec::new()),
            remembered: Mutex::new(Default::default()),
            udp_flows: Default::default(),
            #[cfg(target_os = "linux")]
            refusal_log: Mutex::new(if expect_log { LogSlot::Waiting } else { LogSlot::Closed }),
        })
    }

    /// Every decision so far.
    pub fn events(&self) -> Vec<ProxyEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn record(&self, kind: &'static str, op: &'static str, target: String, decision: NetDecision) -> bool {
        let allowed = decision.allowed;
        if let Ok(mut e) = self.events.lock() {
            e.push(ProxyEvent { time: std::time::SystemTime::now(), kind, op, target, decision });
        }
        allowed
    }

    /// Records every connection the capture refused before any handshake, from its log (all
    /// of it: called after the run, when everything the tool did is in the log).
    #[cfg(target_os = "linux")]
    pub fn record_refusals(&self) {
        let Ok(mut slot) = self.refusal_log.lock() else { return };
        let LogSlot::Held(log) = std::mem::replace(&mut *slot, LogSlot::Closed) else { return };
        drop(slot);
        let (logged, unread, overflowed) = log.finish();
        for (dest, udp) in crate::linux::nflog::refused(&logged) {
            self.refused_ahead(dest.ip(), dest.port(), udp);
        }
        for _ in 0..unread {
            // Logged means refused; only its addresses could not be read (headers cordon does
            // not parse): still one refusal on record.
            self.refused("net", "(a packet cordon could not read)".into(), "(refused by the capture's filter)".into());
        }
        if overflowed {
            self.refused(
                "net",
                "(more connections)".into(),
                "(the capture's refusal log overflowed: some refused connections are not listed)".into(),
            );
        }
    }

    /// Keeps the refusal log the helper handed over: the first one only (the helper's, sent
    /// before the tool starts).
    #[cfg(target_os = "linux")]
    fn keep_refusal_log(&self, fd: std::os::fd::OwnedFd) -> bool {
        match self.refusal_log.lock() {
            Ok(mut slot) if matches!(*slot, LogSlot::Waiting) => {
                *slot = LogSlot::Held(crate::linux::nflog::Reader::start(fd));
                true
            }
            _ => false,
        }
    }

    #[cfg(target_os = "linux")]
    /// A TCP connection to `ip:port` the capture refused before any handshake: recorded with
    /// the rule that refuses it (asked again, of the same decision function).
    fn refused_ahead(&self, ip: IpAddr, port: u16, udp: bool) {
        let shown = if ip.is_ipv6() { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
        let (proto, op) = if udp { (Protocol::Udp, "send") } else { (Protocol::Tcp, "connect") };
        let mut d = self.network.check_addr(ip, port, proto);
        if d.allowed {
            // The filter refused what the policy allows: never expected (the refusals are
            // planned from these decisions); the record says so rather than "allowed".
            d = NetDecision {
                allowed: false,
                rule: format!("(refused by the capture's filter; {} allows it)", d.rule),
            };
        }
        self.record("net", op, shown, d);
    }

    fn refused(&self, kind: &'static str, target: String, rule: String) {
        self.record(kind, "request", target, NetDecision { allowed: false, rule });
    }

    /// The checked addresses for `host:port`, best first; `Err` with the reason when none.
    async fn destinations(
        &self,
        kind: &'static str,
        host: &Host,
        port: u16,
        proto: Protocol,
    ) -> Result<Vec<SocketAddr>, String> {
        let shown = match host {
            Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
            other => format!("{other}:{port}"),
        };
        let op = if proto == Protocol::Udp { "send" } else { "connect" };
        let by_name = match self.network.check_host(host, port, proto) {
            HostCheck::Addresses(addrs) => {
                let mut ok = Vec::new();
                let mut last = String::from("no address");
                for (ip, d) in addrs {
                    // No rule allows the address itself: an answer cordon gave for an allowed
                    // name is decided under that name's rule (local ranges and denies still
                    // win: `check_answer` applies them).
                    let by_name = if d.allowed { None } else { self.vouched(ip) };
                    let d = match by_name {
                        Some(name) => {
                            let again = self.network.check_answer(ip, port, proto, &name);
                            if again.allowed { again } else { d }
                        }
                        None => d,
                    };
                    last = d.rule.clone();
                    if self.record(kind, op, shown.clone(), d) {
                        // The address decided: a mapped IPv6 address as the IPv4 one it is.
                        ok.push(SocketAddr::new(cordon_policy::net::canonical_ip(ip), port));
                    }
                }
                return if ok.is_empty() { Err(last) } else { Ok(ok) };
            }
            HostCheck::Refused(d) => {
                let rule = d.rule.clone();
                self.record("dns", "resolve", host.to_string(), d);
                return Err(rule);
            }
            HostCheck::Resolve(d) => {
                self.record("dns", "resolve", host.to_string(), d.clone());
                d
            }
        };
        let name = host.to_string();
        let answers: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {name}: {e}"))?
            .collect();
        let mut ok = Vec::new();
        let mut last = String::from("no address");
        for a in answers {
            let d = self.network.check_answer(a.ip(), port, proto, &by_name);
            last = d.rule.clone();
            if self.record(kind, op, format!("{shown} via {a}"), d) {
                ok.push(a);
                if kind == "dns"
                    && let Ok(mut m) = self.remembered.lock()
                {
                    m.insert(cordon_policy::net::canonical_ip(a.ip()), (by_name.clone(), std::time::Instant::now()));
                }
            }
        }
        if ok.is_empty() { Err(last) } else { Ok(ok) }
    }

    /// The decision of the allowed name cordon's resolver gave `ip` for, while that answer
    /// still vouches for it ([`REMEMBERED_FOR`]).
    fn vouched(&self, ip: IpAddr) -> Option<NetDecision> {
        let m = self.remembered.lock().ok()?;
        let (d, at) = m.get(&cordon_policy::net::canonical_ip(ip))?;
        (at.elapsed() < REMEMBERED_FOR).then(|| d.clone())
    }

    async fn connect(&self, kind: &'static str, host: &Host, port: u16) -> Result<TcpStream, String> {
        let mut last = String::new();
        for a in self.destinations(kind, host, port, Protocol::Tcp).await? {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = format!("{a}: {e}"),
            }
        }
        Err(last)
    }
}

/// Carries a connection both ways until each side is done: inside the kernel on Linux
/// (`splice` through a pipe, no copy through cordon's memory) when the process ignores
/// SIGPIPE, through 256 KiB buffers otherwise.
async fn carry(c: &mut UnixStream, up: &mut TcpStream) {
    #[cfg(target_os = "linux")]
    if crate::linux::splice::sigpipe_ignored() {
        let _ = crate::linux::splice::carry(c, up).await;
        return;
    }
    let _ = tokio::io::copy_bidirectional_with_sizes(c, up, RELAY_BUFFER, RELAY_BUFFER).await;
}

/// Forwards every connection on `listener` to the user's own proxy at `upstream`: the one
/// destination the sandbox can reach.
pub async fn forward(upstream: String, listener: UnixListener) {
    loop {
        let Some(mut conn) = accept(&listener).await else { continue };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Ok(mut up) = TcpStream::connect(upstream.as_str()).await {
                carry(&mut conn, &mut up).await;
            }
        });
    }
}

/// Serves the proxy on `listener` until the runtime stops.
pub async fn serve(proxy: Arc<Proxy>, listener: UnixListener) {
    loop {
        let Some(conn) = accept(&listener).await else { continue };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let _ = handle(&proxy, conn).await;
        });
    }
}

/// The next connection; `None` after a failed accept (out of descriptors, say), having
/// waited a little: the proxy keeps serving, it never stops for the rest of the run.
async fn accept(listener: &UnixListener) -> Option<UnixStream> {
    match listener.accept().await {
        Ok((c, _)) => Some(c),
        Err(_) => {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            None
        }
    }
}

async fn handle(proxy: &Proxy, mut c: UnixStream) -> std::io::Result<()> {
    let first = first_byte(proxy, &mut c).await?;
    match first {
        // Handled in `first_byte`.
        cordon_plan::helper::LOG_HANDOVER => Ok(()),
        cordon_plan::helper::UDP_DROPS => {
            let n = c.read_u64().await?;
            proxy.refused(
                "net",
                format!("({n} UDP datagrams)"),
                "(dropped by the capture's relay before cordon was asked: more UDP flows at once than it tracks, or a burst faster than it reads; their destinations are not known)".into(),
            );
            c.write_all(&[1]).await
        }
        5 => socks5(proxy, c).await,
        4 => {
            proxy.refused("net", "(SOCKS4 request)".into(), "(proxy: SOCKS4 is not offered; use SOCKS5)".into());
            // SOCKS4 "request rejected or failed".
            c.write_all(&[0, 0x5b, 0, 0, 0, 0, 0, 0]).await
        }
        b => http(proxy, c, b).await,
    }
}

/// Reads the connection's first byte. On Linux it may carry a descriptor: the helper's
/// refusal log, kept (once) and answered with one byte; any other descriptor is closed.
#[cfg(target_os = "linux")]
async fn first_byte(proxy: &Proxy, c: &mut UnixStream) -> std::io::Result<u8> {
    use std::os::fd::AsRawFd as _;
    let (byte, fd) = loop {
        c.readable().await?;
        match c.try_io(tokio::io::Interest::READABLE, || crate::linux::fdpass::recv(c.as_raw_fd())) {
            Ok(got) => break got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    };
    if byte == cordon_plan::helper::LOG_HANDOVER {
        let kept = fd.is_some_and(|fd| proxy.keep_refusal_log(fd));
        c.write_all(&[u8::from(kept)]).await?;
    }
    Ok(byte)
}

#[cfg(not(target_os = "linux"))]
async fn first_byte(_proxy: &Proxy, c: &mut UnixStream) -> std::io::Result<u8> {
    c.read_u8().await
}

async fn socks5(proxy: &Proxy, mut c: UnixStream) -> std::io::Result<()> {
    let n = c.read_u8().await? as usize;
    let mut methods = vec![0u8; n];
    c.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        c.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    c.write_all(&[5, 0]).await?;
    let mut head = [0u8; 4];
    c.read_exact(&mut head).await?;
    let host = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a).await?;
            Ok(Host::Ip(IpAddr::from(a)))
        }
        4 => {
            let mut a = [0u8; 16];
            c.read_exact(&mut a).await?;
            Ok(Host::Ip(IpAddr::from(a)))
        }
        3 => {
            let len = c.read_u8().await? as usize;
            let mut name = vec![0u8; len];
            c.read_exact(&mut name).await?;
            // The one host parser; a name that is not UTF-8 is refused, never repaired.
            match std::str::from_utf8(&name) {
                Ok(s) => Host::parse(s).map_err(|e| (String::from_utf8_lossy(&name).into_owned(), e.to_string())),
                Err(_) => Err((String::from_utf8_lossy(&name).into_owned(), "not UTF-8".into())),
            }
        }
        _ => return reply(&mut c, 8).await,
    };
    let port = c.read_u16().await?;
    let host = match host {
        Ok(h) => h,
        Err((shown, why)) => {
            proxy.refused("net", format!("{shown}:{port}"), format!("(malformed host: {why})"));
            return reply(&mut c, 2).await;
        }
    };
    match head[1] {
        // CONNECT
        1 => match proxy.connect("net", &host, port).await {
            Ok(mut upstream) => {
                reply(&mut c, 0).await?;
                carry(&mut c, &mut upstream).await;
                Ok(())
            }
            Err(_) => reply(&mut c, 2).await,
        },
        // RESOLVE (Tor's extension): answer with the first allowed address.
        0xf0 => match proxy.destinations("dns", &host, 0, Protocol::Tcp).await {
            Ok(addrs) => {
                let Some(ip) = addrs.first().map(|a| a.ip()) else { return reply(&mut c, 2).await };
                let mut r = vec![5, 0, 0];
                match ip {
                    IpAddr::V4(v4) => {
                        r.push(1);
                        r.extend_from_slice(&v4.octets());
                    }
                    IpAddr::V6(v6) => {
                        r.push(4);
                        r.extend_from_slice(&v6.octets());
                    }
                }
                r.extend_from_slice(&[0, 0]);
                c.write_all(&r).await
            }
            Err(_) => reply(&mut c, 2).await,
        },
        // A captured TCP connection (cordon's own command): decided as CONNECT, and the
        // connected socket goes to the relay with the reply.
        #[cfg(target_os = "linux")]
        cordon_plan::helper::SOCKS_CONNECT_HANDOFF => {
            if !proxy.handoff {
                proxy.refused(
                    "net",
                    format!("{host}:{port}"),
                    "(proxy: a socket handoff the plan does not allow: the tool can reach the proxy's socket)".into(),
                );
                return reply(&mut c, 7).await;
            }
            if !matches!(host, Host::Ip(_)) {
                return reply(&mut c, 8).await;
            }
            let Ok(up) = proxy.connect("net", &host, port).await else { return reply(&mut c, 2).await };
            let up = up.into_std()?;
            // The relay's copy shares this file description: it gets a blocking socket.
            up.set_nonblocking(false)?;
            hand_over(&c, &up).await
        }
        // A UDP flow the capture relays (cordon's own command): by address only, decided
        // with the policy's UDP rules (and the names cordon resolved for the sandbox).
        cordon_plan::helper::SOCKS_UDP_FLOW => {
            if !matches!(host, Host::Ip(_)) {
                return reply(&mut c, 8).await;
            }
            use std::sync::atomic::Ordering::SeqCst;
            if proxy.udp_flows.fetch_add(1, SeqCst) >= MAX_UDP_FLOWS {
                proxy.udp_flows.fetch_sub(1, SeqCst);
                let shown = match host {
                    Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
                    other => format!("{other}:{port}"),
                };
                proxy.record(
                    "net",
                    "send",
                    shown,
                    NetDecision { allowed: false, rule: format!("(more than {MAX_UDP_FLOWS} UDP flows at once)") },
                );
                return reply(&mut c, 1).await;
            }
            struct Slot<'a>(&'a std::sync::atomic::AtomicUsize);
            impl Drop for Slot<'_> {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            let _slot = Slot(&proxy.udp_flows);
            let Ok(to) = proxy.destinations("net", &host, port, Protocol::Udp).await else {
                return reply(&mut c, 2).await;
            };
            let Some(&to) = to.first() else { return reply(&mut c, 2).await };
            let local: SocketAddr = if to.is_ipv4() {
                (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let udp = match tokio::net::UdpSocket::bind(local).await {
                Ok(u) if u.connect(to).await.is_ok() => u,
                _ => return reply(&mut c, 1).await,
            };
            reply(&mut c, 0).await?;
            udp_flow(c, udp).await;
            Ok(())
        }
        // BIND and UDP ASSOCIATE are not offered.
        _ => reply(&mut c, 7).await,
    }
}

/// Carries one UDP flow between the relay's stream (each datagram a big-endian `u16`
/// length and its bytes) and `udp`, connected to the checked destination, until the relay
/// closes the stream.
async fn udp_flow(c: UnixStream, udp: tokio::net::UdpSocket) {
    let (mut rd, mut wr) = c.into_split();
    let udp = Arc::new(udp);
    let down = {
        let udp = udp.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                let n = match udp.recv(&mut buf).await {
                    Ok(n) => n,
                    // An ICMP error (port unreachable) ends nothing: the next datagram may
                    // find the service.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                    Err(_) => return,
                };
                let len = (n as u16).to_be_bytes();
                if wr.write_all(&len).await.is_err() || wr.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut buf = vec![0u8; 65_535];
    while let Ok(len) = rd.read_u16().await {
        let d = &mut buf[..usize::from(len)];
        if rd.read_exact(d).await.is_err() {
            break;
        }
        let _ = udp.send(d).await;
    }
    down.abort();
}

/// Sends the SOCKS5 success reply with `conn` attached (`SCM_RIGHTS`) in one message.
#[cfg(target_os = "linux")]
async fn hand_over(c: &UnixStream, conn: &std::net::TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let ok = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    loop {
        c.writable().await?;
        match c.try_io(tokio::io::Interest::WRITABLE, || {
            crate::linux::fdpass::send_with(c.as_raw_fd(), &ok, conn.as_raw_fd())
        }) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

async fn reply(c: &mut UnixStream, code: u8) -> std::io::Result<()> {
    c.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

/// How a forwarded request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: nothing after the head is forwarded.
    None,
    /// `Content-Length`: exactly this many bytes are forwarded.
    Length(u64),
    /// `Transfer-Encoding: chunked`: forwarded as sent up to the end of the last chunk
    /// and its trailers; a malformed chunk stops the forwarding.
    Chunked,
}

/// A request the proxy accepted, before its destination is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CONNECT host:port`.
    Connect {
        /// The target host.
        host: Host,
        /// The target port.
        port: u16,
        /// The target as sent (for messages).
        target: String,
    },
    /// An absolute-form `http://` request.
    Forward {
        /// The host of the URL.
        host: Host,
        /// The port of the URL (80 by default).
        port: u16,
        /// The URL's authority as sent: the one `Host` the server gets.
        authority: String,
        /// The head to send upstream: origin-form target, the tool's end-to-end headers,
        /// `Host`, `Connection: close`.
        head: Vec<u8>,
        /// The body's framing.
        body: Body,
    },
}

/// Why a request was refused: the status for the client, the rule for the event, the
/// message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 403 or 431.
    pub status: u16,
    /// The rule recorded in the event.
    pub rule: String,
    /// The text sent to the client.
    pub message: String,
}

fn refusal(status: u16, rule: &str, message: impl Into<String>) -> Refusal {
    Refusal { status, rule: format!("(proxy: {rule})"), message: message.into() }
}

/// True when a header line of `head` starts with a space or tab (obs-fold).
fn has_obs_fold(head: &[u8]) -> bool {
    head.windows(2).any(|w| w[0] == b'\n' && (w[1] == b' ' || w[1] == b'\t'))
}

/// Parses and checks one request head at the start of `buf`: `Ok(None)` while it is
/// incomplete, else the request and the length of its head, or why it is refused.
///
/// # Errors
/// A [`Refusal`] for a malformed head (400), a head too large (431), a `Host` that
/// differs from the target (403).
pub fn check_request(buf: &[u8]) -> Result<Option<(Request, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(refusal(431, "request head too large", format!("request head larger than {MAX_HEAD} bytes")));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refusal(431, "too many header fields", format!("more than {MAX_HEADERS} header fields")));
        }
        Err(_) if has_obs_fold(buf) => {
            return Err(refusal(400, "obs-fold", "header lines continued with obs-fold are refused"));
        }
        Err(e) => return Err(refusal(400, "malformed request", format!("malformed request: {e}"))),
    };
    if n > MAX_HEAD {
        return Err(refusal(431, "request head too large", format!("request head larger than {MAX_HEAD} bytes")));
    }
    if has_obs_fold(&buf[..n]) {
        return Err(refusal(400, "obs-fold", "header lines continued with obs-fold are refused"));
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(refusal(400, "malformed request", "malformed request line"));
    };
    let all: &[httparse::Header<'_>] = req.headers;
    let named = |name: &'static str| -> Vec<&[u8]> {
        all.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value).collect()
    };
    let hosts = named("host");
    if hosts.len() > 1 {
        return Err(refusal(400, "more than one Host header", "a request may carry one Host header"));
    }
    let host_header = match hosts.first() {
        Some(v) => Some(
            std::str::from_utf8(v)
                .map(str::trim)
                .map_err(|_| refusal(400, "malformed Host header", "the Host header is not text"))?,
        ),
        None => None,
    };
    // The Host header, when there is one, names the same host and port as the target.
    let same_host = |host: &Host, port: u16, default: u16| -> Result<(), Refusal> {
        let Some(h) = host_header else { return Ok(()) };
        match Host::parse_authority(h, default) {
            Ok((hh, hp)) if hh == *host && hp == port => Ok(()),
            _ => Err(Refusal {
                status: 403,
                rule: "(Host header differs from the URL)".into(),
                message: format!("cordon denied a request for {target} carrying Host: {h}"),
            }),
        }
    };

    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = Host::parse_authority(target, 0)
            .map_err(|e| refusal(400, "bad CONNECT target", format!("CONNECT needs host:port ({e})")))?;
        same_host(&host, port, port)?;
        return Ok(Some((Request::Connect { host, port, target: target.to_string() }, n)));
    }

    let lengths = named("content-length");
    let encodings = named("transfer-encoding");
    if lengths.len() > 1 {
        return Err(refusal(400, "more than one Content-Length", "a request may carry one Content-Length"));
    }
    if encodings.len() > 1 {
        return Err(refusal(400, "more than one Transfer-Encoding", "a request may carry one Transfer-Encoding"));
    }
    let body = match (lengths.first(), encodings.first()) {
        (Some(_), Some(_)) => {
            return Err(refusal(
                400,
                "Transfer-Encoding with Content-Length",
                "a request may not carry both Transfer-Encoding and Content-Length",
            ));
        }
        (Some(v), None) => {
            let text = std::str::from_utf8(v).unwrap_or("").trim();
            if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(refusal(400, "malformed Content-Length", "Content-Length must be one decimal number"));
            }
            Body::Length(
                text.parse().map_err(|_| refusal(400, "malformed Content-Length", "Content-Length too large"))?,
            )
        }
        (None, Some(v)) => {
            if version == 0 || !std::str::from_utf8(v).unwrap_or("").trim().eq_ignore_ascii_case("chunked") {
                return Err(refusal(
                    400,
                    "Transfer-Encoding other than chunked",
                    "only Transfer-Encoding: chunked (HTTP/1.1) is forwarded",
                ));
            }
            Body::Chunked
        }
        (None, None) => Body::None,
    };

    // Absolute-form: http://authority[/path][?query].
    let scheme_len = "http://".len();
    if target.len() < scheme_len || !target[..scheme_len].eq_ignore_ascii_case("http://") {
        return Err(refusal(
            400,
            "not an absolute-form http:// request",
            "only absolute-form http:// requests and CONNECT are proxied (https goes through CONNECT)",
        ));
    }
    let after = &target[scheme_len..];
    if after.contains('#') {
        return Err(refusal(400, "fragment in the request target", "a request target may not carry a fragment"));
    }
    let split = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, path) = after.split_at(split);
    let (host, port) = Host::parse_authority(authority, 80)
        .map_err(|e| refusal(400, "bad authority", format!("bad authority `{authority}`: {e}")))?;
    if host_header.is_none() {
        return Err(refusal(400, "no Host header", "an HTTP/1.1 request needs one Host header"));
    }
    same_host(&host, port, 80)?;

    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let mut out = format!("{method} {path} HTTP/1.{version}\r\n").into_bytes();
    for h in all {
        let hop_by_hop =
            ["host", "connection", "proxy-connection", "proxy-authorization", "keep-alive", "upgrade", "te", "trailer"]
                .iter()
                .any(|k| h.name.eq_ignore_ascii_case(k));
        if !hop_by_hop {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("Host: {authority}\r\nConnection: close\r\n\r\n").as_bytes());
    Ok(Some((Request::Forward { host, port, authority: authority.to_string(), head: out, body }, n)))
}

/// The request line of `head`, for events.
fn first_line(head: &[u8]) -> String {
    let end = head.iter().position(|b| *b == b'\r' || *b == b'\n').unwrap_or(head.len()).min(256);
    String::from_utf8_lossy(&head[..end]).into_owned()
}

async fn http(proxy: &Proxy, mut c: UnixStream, first: u8) -> std::io::Result<()> {
    let mut head = vec![first];
    let mut buf = [0u8; 4096];
    let (request, n) = loop {
        match check_request(&head) {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(r) => {
                proxy.refused("http", first_line(&head), r.rule.clone());
                return refuse(&mut c, r.status, &r.message).await;
            }
        }
        let k = c.read(&mut buf).await?;
        if k == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..k]);
    };
    let rest = &head[n..];
    match request {
        Request::Connect { host, port, target } => match proxy.connect("http", &host, port).await {
            Ok(mut upstream) => {
                c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
                upstream.write_all(rest).await?;
                carry(&mut c, &mut upstream).await;
                Ok(())
            }
            Err(why) => refuse(&mut c, 403, &format!("cordon denied CONNECT {target} ({why})")).await,
        },
        Request::Forward { host, port, authority, head: out, body } => match proxy.connect("http", &host, port).await {
            Ok(upstream) => relay(c, upstream, &out, rest, body).await,
            Err(why) => refuse(&mut c, 403, &format!("cordon denied {authority} ({why})")).await,
        },
    }
}

/// Sends the checked head and the body as framed, then the server's answer back, until
/// the server closes. Bytes past the body — a second, pipelined request — are never
/// forwarded.
async fn relay(c: UnixStream, upstream: TcpStream, head: &[u8], rest: &[u8], body: Body) -> std::io::Result<()> {
    let (mut cr, mut cw) = c.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    uw.write_all(head).await?;
    let up = async {
        let _ = forward_body(&mut cr, &mut uw, rest, body).await;
        // Keep the server's side open (no half-close) until it answers.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = up => {}
        _ = tokio::io::copy(&mut ur, &mut cw) => {}
    }
    Ok(())
}

/// Forwards exactly the body `body` frames: `rest` (what came with the head) first, then
/// the client's stream. Stops at the end of the body, or at a malformed chunk.
async fn forward_body<R, W>(from: &mut R, to: &mut W, rest: &[u8], body: Body) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    match body {
        Body::None => Ok(()),
        Body::Length(n) => {
            let now = &rest[..rest.len().min(usize::try_from(n).unwrap_or(usize::MAX))];
            to.write_all(now).await?;
            tokio::io::copy(&mut from.take(n - now.len() as u64), to).await.map(|_| ())
        }
        Body::Chunked => {
            let mut scan = ChunkedEnd::default();
            let mut buf = vec![0u8; 16 * 1024];
            let mut pending = rest.to_vec();
            loop {
                match scan.feed(&pending) {
                    Ok(Some(end)) => return to.write_all(&pending[..end]).await,
                    Ok(None) => to.write_all(&pending).await?,
                    Err(()) => return Err(std::io::Error::other("malformed chunked body")),
                }
                let n = from.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                pending.clear();
                pending.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Finds where a chunked body ends (RFC 9112 §7.1): chunk sizes in hex with optional
/// extensions, each line ended by CRLF, data of that size and CRLF, a zero-size chunk,
/// trailer lines, and an empty line.
#[derive(Debug, Default)]
pub struct ChunkedEnd {
    state: ChunkState,
    size: u64,
    digits: u8,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
}

impl ChunkedEnd {
    /// Feeds the next bytes: `Ok(Some(n))` when the body ends after `n` of them,
    /// `Ok(None)` when all of them belong to it, `Err` when it is malformed.
    #[expect(clippy::result_unit_err, reason = "the only error is: malformed")]
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ()> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                ChunkState::Size => match (b as char).to_digit(16) {
                    Some(d) if self.digits < 15 => {
                        self.size = self.size * 16 + u64::from(d);
                        self.digits += 1;
                    }
                    Some(_) => return Err(()),
                    None if self.digits == 0 => return Err(()),
                    None if b == b';' => self.state = ChunkState::Ext,
                    None if b == b'\r' => self.state = ChunkState::SizeLf,
                    None => return Err(()),
                },
                ChunkState::Ext => match b {
                    b'\r' => self.state = ChunkState::SizeLf,
                    b'\n' => return Err(()),
                    _ => {}
                },
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(());
                    }
                    self.state = if self.size == 0 { ChunkState::TrailerStart } else { ChunkState::Data };
                }
                ChunkState::Data => {
                    let take = (bytes.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    continue;
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(());
                    }
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(());
                    }
                    self.state = ChunkState::Size;
                    self.digits = 0;
                }
                ChunkState::TrailerStart => match b {
                    b'\r' => self.state = ChunkState::EndLf,
                    b'\n' => return Err(()),
                    _ => self.state = ChunkState::Trailer,
                },
                ChunkState::Trailer => match b {
                    b'\r' => self.state = ChunkState::TrailerLf,
                    b'\n' => return Err(()),
                    _ => {}
                },
                ChunkState::TrailerLf => {
                    if b != b'\n' {
                        return Err(());
                    }
                    self.state = ChunkState::TrailerStart;
                }
                ChunkState::EndLf => {
                    return if b == b'\n' { Ok(Some(i + 1)) } else { Err(()) };
                }
            }
            i += 1;
        }
        Ok(None)
    }
}

async fn refuse(c: &mut UnixStream, code: u16, why: &str) -> std::io::Result<()> {
    let body = format!("{why}\n");
    let reason = match code {
        400 => "Bad Request",
        403 => "Forbidden",
        _ => "Request Header Fields Too Large",
    };
    c.write_all(format!("HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
        .await
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
