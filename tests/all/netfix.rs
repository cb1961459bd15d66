//! Local network fixtures for the network cases: TCP servers that answer "pong", a UDP
//! sink, and a DNS stub that answers `*.test` names and counts every query it gets.
//! Started once per test binary; loopback only.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex, OnceLock};

/// Ports and the DNS query counter.
pub struct NetFixtures {
    /// TCP on 127.0.0.1.
    pub pa: u16,
    /// TCP on 127.0.0.2.
    pub pb: u16,
    /// TCP on [::1].
    pub p6: u16,
    /// UDP on 127.0.0.1.
    pub up: u16,
    /// HTTP on 127.0.0.1: answers 200 with `host=<Host header>`.
    pub ph: u16,
    /// Queries seen per name (lower-case, no trailing dot).
    pub queries: Arc<Mutex<HashMap<String, usize>>>,
    /// A resolv.conf that points at the stub.
    pub resolv_conf: std::path::PathBuf,
    /// Why the DNS stub could not start, if it could not.
    pub dns_error: Option<String>,
}

/// Listens on `addr` and handles each connection on its own thread; returns the port.
pub(crate) fn serve(addr: &str, handle: fn(TcpStream)) -> u16 {
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || handle(c));
        }
    });
    port
}

/// Answers `pong` to whatever it is sent.
fn pong(mut c: TcpStream) {
    let mut buf = [0u8; 64];
    let _ = c.read(&mut buf);
    let _ = c.write_all(b"pong\n");
}

/// Reads a request head from `c`, up to its blank line; `None` when the connection ends first.
pub(crate) fn read_head(c: &mut TcpStream) -> Option<Vec<u8>> {
    let (mut req, mut buf) = (Vec::new(), [0u8; 1024]);
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    Some(req)
}

/// Answers 200 with `host=<Host header>`.
fn http_host(mut c: TcpStream) {
    let Some(req) = read_head(&mut c) else { return };
    let text = String::from_utf8_lossy(&req);
    let host =
        text.lines().find_map(|l| l.strip_prefix("host: ").or_else(|| l.strip_prefix("Host: "))).unwrap_or("").trim();
    let body = format!("host={host}");
    let _ = write!(c, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
}

/// The answer the stub gives a name: by the first label's prefix.
fn answer_for(name: &str) -> Option<Ipv4Addr> {
    if !name.ends_with(".test") {
        return None;
    }
    let first = name.split('.').next().unwrap_or("");
    if first.starts_with("meta") {
        Some(Ipv4Addr::new(169, 254, 169, 254))
    } else if first.starts_with("internal") {
        Some(Ipv4Addr::new(10, 9, 0, 1))
    } else {
        Some(Ipv4Addr::LOCALHOST)
    }
}

fn dns_stub(queries: Arc<Mutex<HashMap<String, usize>>>) -> std::io::Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:53")?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let q = &buf[..n];
            if n < 12 {
                continue;
            }
            // Question name.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let len = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..(i + 1 + len).min(n)]).to_ascii_lowercase());
                i += 1 + len;
            }
            let qend = i + 5; // zero byte, qtype, qclass
            if qend > n {
                continue;
            }
            let name = labels.join(".");
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            *queries.lock().unwrap().entry(name.clone()).or_default() += 1;
            let ans = answer_for(&name);
            let mut r = Vec::with_capacity(qend + 16);
            r.extend_from_slice(&q[..2]); // id
            let rcode: u8 = if ans.is_some() { 0 } else { 3 };
            r.extend_from_slice(&[0x81, 0x80 | rcode]);
            let ancount: u16 = if ans.is_some() && qtype == 1 { 1 } else { 0 };
            r.extend_from_slice(&1u16.to_be_bytes());
            r.extend_from_slice(&ancount.to_be_bytes());
            r.extend_from_slice(&[0, 0, 0, 0]);
            r.extend_from_slice(&q[12..qend]);
            if let (Some(ip), 1) = (ans, ancount) {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&ip.octets());
            }
            let _ = sock.send_to(&r, peer);
        }
    });
    Ok(())
}

/// The fixtures, started on first use.
pub fn fixtures() -> &'static NetFixtures {
    static F: OnceLock<NetFixtures> = OnceLock::new();
    F.get_or_init(|| {
        let queries = Arc::new(Mutex::new(HashMap::new()));
        let dns_error =
            dns_stub(queries.clone()).err().map(|e| format!("cannot bind the DNS stub on 127.0.0.1:53: {e}"));
        let resolv_conf = std::env::temp_dir().join(format!("cordon-test-resolv-{}.conf", std::process::id()));
        std::fs::write(&resolv_conf, "nameserver 127.0.0.1\noptions attempts:1 timeout:2\n").unwrap();
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        let up_port = up.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut b = [0u8; 64];
            while up.recv_from(&mut b).is_ok() {}
        });
        NetFixtures {
            pa: serve("127.0.0.1:0", pong),
            pb: serve("127.0.0.2:0", pong),
            p6: serve("[::1]:0", pong),
            up: up_port,
            ph: serve("127.0.0.1:0", http_host),
            queries,
            resolv_conf,
            dns_error,
        }
    })
}

/// How many queries the stub has seen for `name`.
pub fn queries_for(name: &str) -> usize {
    fixtures().queries.lock().unwrap().get(&name.to_ascii_lowercase()).copied().unwrap_or(0)
}
