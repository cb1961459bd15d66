//! cordon's filtering proxy for native commands: HTTP (absolute-form, Host checked),
//! CONNECT, and SOCKS5 (CONNECT, with remote names; and Tor's RESOLVE extension so a tool can
//! look a name up through the same checks), on one socket, protocol sniffed from the first
//! byte.
//!
//! Every destination goes through `cordon_policy::Network`, the same decisions the wasm
//! backend makes: a name is checked before any DNS lookup (a denied name never reaches a
//! resolver), an allowed name is resolved here and every answer is checked, an IP literal is
//! checked against the CIDR rules and the local-range default, and the connection goes to
//! the address that was checked. Plain-HTTP requests are forwarded one per connection
//! (`Connection: close`), so one connection cannot smuggle a second request to another host.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use cordon_policy::net::Protocol;
use cordon_policy::{NetDecision, Network};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixListener, UnixStream};

/// One decision the proxy made (the same record the wasm backend keeps).
pub use cordon_policy::NetEvent as ProxyEvent;

/// The proxy's shared state.
#[derive(Debug)]
pub struct Proxy {
    network: Network,
    events: Mutex<Vec<ProxyEvent>>,
}

impl Proxy {
    /// A proxy deciding with `network`.
    pub fn new(network: Network) -> Arc<Self> {
        Arc::new(Self { network, events: Mutex::new(Vec::new()) })
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

    /// The checked addresses for `host:port`, best first; `Err` with the reason when none.
    async fn destinations(&self, kind: &'static str, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let d = self.network.check_addr(ip, port, Protocol::Tcp);
            let why = d.rule.clone();
            return if self.record(kind, "connect", format!("{host}:{port}"), d) {
                Ok(vec![SocketAddr::new(ip, port)])
            } else {
                Err(why)
            };
        }
        let by_name = self.network.check_name(host);
        let rule = by_name.rule.clone();
        if !self.record("dns", "resolve", host.to_string(), by_name) {
            return Err(rule);
        }
        let answers: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
        let mut ok = Vec::new();
        let mut last = String::from("no address");
        for a in answers {
            let d = self.network.check_resolved(a.ip(), port, Protocol::Tcp, &rule);
            last = d.rule.clone();
            if self.record(kind, "connect", format!("{host}:{port} via {a}"), d) {
                ok.push(a);
            }
        }
        if ok.is_empty() { Err(last) } else { Ok(ok) }
    }

    async fn connect(&self, kind: &'static str, host: &str, port: u16) -> Result<TcpStream, String> {
        let mut last = String::new();
        for a in self.destinations(kind, host, port).await? {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = format!("{a}: {e}"),
            }
        }
        Err(last)
    }
}

/// Forwards every connection on `listener` to the user's own proxy at `upstream`: the one
/// destination the sandbox can reach.
pub async fn forward(upstream: String, listener: UnixListener) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Ok(mut up) = TcpStream::connect(upstream.as_str()).await {
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
            }
        });
    }
}

/// Serves the proxy on `listener` until the runtime stops.
pub async fn serve(proxy: Arc<Proxy>, listener: UnixListener) {
    while let Ok((conn, _)) = listener.accept().await {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let _ = handle(&proxy, conn).await;
        });
    }
}

async fn handle(proxy: &Proxy, mut c: UnixStream) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    c.read_exact(&mut first).await?;
    if first[0] == 5 { socks5(proxy, c).await } else { http(proxy, c, first[0]).await }
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
            IpAddr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            c.read_exact(&mut a).await?;
            IpAddr::from(a).to_string()
        }
        3 => {
            let len = c.read_u8().await? as usize;
            let mut name = vec![0u8; len];
            c.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return reply(&mut c, 8).await,
    };
    let port = c.read_u16().await?;
    match head[1] {
        // CONNECT
        1 => match proxy.connect("net", &host, port).await {
            Ok(mut upstream) => {
                reply(&mut c, 0).await?;
                let _ = tokio::io::copy_bidirectional(&mut c, &mut upstream).await;
                Ok(())
            }
            Err(_) => reply(&mut c, 2).await,
        },
        // RESOLVE (Tor's extension): answer with the first allowed address.
        0xf0 => match proxy.destinations("dns", &host, 0).await {
            Ok(addrs) => {
                let ip = addrs[0].ip();
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
        // BIND and UDP ASSOCIATE are not offered.
        _ => reply(&mut c, 7).await,
    }
}

async fn reply(c: &mut UnixStream, code: u8) -> std::io::Result<()> {
    c.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

async fn http(proxy: &Proxy, mut c: UnixStream, first: u8) -> std::io::Result<()> {
    let mut head = vec![first];
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return refuse(&mut c, 431, "request head too large").await;
        }
        let n = c.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n").map_or(head.len(), |p| p + 4);
    let (head_bytes, rest) = head.split_at(end);
    let text = String::from_utf8_lossy(head_bytes).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target, version) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or("HTTP/1.1"));
    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();

    if method.eq_ignore_ascii_case("CONNECT") {
        let Some((host, port)) = split_host_port(target, 443) else {
            return refuse(&mut c, 400, "CONNECT needs host:port").await;
        };
        return match proxy.connect("http", &host, port).await {
            Ok(mut upstream) => {
                c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
                upstream.write_all(rest).await?;
                let _ = tokio::io::copy_bidirectional(&mut c, &mut upstream).await;
                Ok(())
            }
            Err(why) => refuse(&mut c, 403, &format!("cordon denied CONNECT {target} ({why})")).await,
        };
    }
    // Absolute-form: http://host[:port]/path.
    let Some(after) = target.strip_prefix("http://") else {
        return refuse(&mut c, 400, "only absolute-form http:// requests and CONNECT are proxied").await;
    };
    let (authority, path) = after.find('/').map_or((after, "/"), |i| (&after[..i], &after[i..]));
    let Some((host, port)) = split_host_port(authority, 80) else { return refuse(&mut c, 400, "bad authority").await };
    // The Host header must name the same host the URL does: the server routes by it.
    if let Some(h) = headers
        .iter()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("host")).map(|(_, v)| v.trim()))
        && split_host_port(h, port).is_none_or(|(hh, hp)| !hh.eq_ignore_ascii_case(&host) || hp != port)
    {
        proxy.record(
            "http",
            "request",
            format!("{authority} with Host {h}"),
            NetDecision { allowed: false, rule: "(Host header differs from the URL)".into() },
        );
        return refuse(&mut c, 403, &format!("cordon denied a request for {authority} carrying Host: {h}")).await;
    }
    match proxy.connect("http", &host, port).await {
        Ok(mut upstream) => {
            let mut out = format!("{method} {path} {version}\r\n");
            for h in headers.iter().filter(|l| {
                let k = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
                !matches!(k.as_str(), "connection" | "proxy-connection" | "proxy-authorization" | "keep-alive")
            }) {
                out.push_str(h);
                out.push_str("\r\n");
            }
            if !headers.iter().any(|l| l.to_ascii_lowercase().starts_with("host:")) {
                out.push_str(&format!("Host: {authority}\r\n"));
            }
            out.push_str("Connection: close\r\n\r\n");
            upstream.write_all(out.as_bytes()).await?;
            upstream.write_all(rest).await?;
            let _ = tokio::io::copy_bidirectional(&mut c, &mut upstream).await;
            Ok(())
        }
        Err(why) => refuse(&mut c, 403, &format!("cordon denied {authority} ({why})")).await,
    }
}

fn split_host_port(s: &str, default: u16) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => default,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((s.to_string(), default)),
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
mod tests {
    use super::split_host_port;

    #[test]
    fn host_and_port_split_like_http_authorities() {
        assert_eq!(split_host_port("a.test:8080", 80), Some(("a.test".into(), 8080)));
        assert_eq!(split_host_port("a.test", 80), Some(("a.test".into(), 80)));
        assert_eq!(split_host_port("[::1]:443", 80), Some(("::1".into(), 443)));
        assert_eq!(split_host_port("[::1]", 80), Some(("::1".into(), 80)));
        assert_eq!(split_host_port("::1", 80), None);
        assert_eq!(split_host_port("a.test:x", 80), None);
    }
}
