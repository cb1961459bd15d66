//! cordon's probe: performs the operations named on its command line, in order, and prints
//! one JSON line per operation. The same source is built for `wasm32-wasip2`,
//! `wasm32-wasip1` and the host, so every backend is measured with the same instrument.
//!
//! Usage: `probe OP ARGS… [+ OP ARGS…]…`
//!
//! Each line is `{"op":…,"arg":…,"ok":true,"value":…}` or
//! `{"op":…,"arg":…,"ok":false,"error":"denied|not-found|exists|loop|not-empty|error","detail":…}`.

use std::fs;
use std::io::{Read as _, Write as _};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // WASI has no initial working directory; take the one cordon passes in PWD (unless
    // PROBE_NO_CHDIR is set: then relative paths go through the `.` preopen, as in a tool
    // that never calls chdir).
    if let Ok(pwd) = std::env::var("PWD")
        && std::env::var_os("PROBE_NO_CHDIR").is_none()
    {
        let _ = std::env::set_current_dir(pwd);
    }
    for op in args.split(|a| a == "+") {
        if let Some((name, rest)) = op.split_first() {
            run(name, rest);
        }
    }
}

/// Reads `path` `n` times and counts each outcome: `CONTENT=COUNT` for reads, `!KIND=COUNT`
/// for errors, sorted, comma-separated. For races: one run, many tries.
fn read_loop(path: &str, n: usize) -> String {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..n {
        let key = match fs::read(path) {
            Ok(b) => String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned(),
            Err(e) => format!("!{:?}", e.kind()),
        };
        *seen.entry(key).or_default() += 1;
    }
    seen.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn run(name: &str, a: &[String]) {
    let arg = a.join(" ");
    let at = |i: usize| a.get(i).map(String::as_str).unwrap_or("");
    let r: Result<String, std::io::Error> = match name {
        "read" => fs::read(at(0)).map(|b| String::from_utf8_lossy(&b[..b.len().min(256)]).into_owned()),
        "readloop" => Ok(read_loop(at(0), at(1).parse().unwrap_or(1))),
        "write" => fs::write(at(0), at(1)).map(|()| String::new()),
        "append" => fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(at(0))
            .and_then(|mut f| f.write_all(at(1).as_bytes()))
            .map(|()| String::new()),
        "list" => fs::read_dir(at(0)).and_then(|rd| {
            let mut names =
                rd.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect::<Result<Vec<_>, _>>()?;
            names.sort();
            Ok(names.join(","))
        }),
        "stat" => fs::metadata(at(0)).map(|m| kind(&m.file_type())),
        "lstat" => fs::symlink_metadata(at(0)).map(|m| kind(&m.file_type())),
        "mkdir" => fs::create_dir(at(0)).map(|()| String::new()),
        "rmdir" => fs::remove_dir(at(0)).map(|()| String::new()),
        "unlink" => fs::remove_file(at(0)).map(|()| String::new()),
        "rename" => fs::rename(at(0), at(1)).map(|()| String::new()),
        "link" => fs::hard_link(at(0), at(1)).map(|()| String::new()),
        "symlink" => symlink(at(0), at(1)).map(|()| String::new()),
        "readlink" => fs::read_link(at(0)).map(|p| p.to_string_lossy().into_owned()),
        "chdir" => std::env::set_current_dir(at(0)).map(|()| String::new()),
        "cwd" => std::env::current_dir().map(|p| p.to_string_lossy().into_owned()),
        "env" => std::env::var(at(0)).map_err(|_| std::io::Error::new(std::io::ErrorKind::NotFound, "unset")),
        "envcount" => Ok(std::env::vars().count().to_string()),
        "envlist" => Ok(std::env::vars().map(|(k, _)| k).collect::<Vec<_>>().join(",")),
        "args" => Ok(std::env::args().collect::<Vec<_>>().join(" ")),
        "stdin" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map(|_| s)
        }
        "print" => {
            let n: usize = at(0).parse().unwrap_or(0);
            let chunk = vec![b'x'; 8192];
            let mut out = std::io::stdout().lock();
            let mut left = n;
            let mut res = Ok(());
            while left > 0 && res.is_ok() {
                let k = left.min(chunk.len());
                res = out.write_all(&chunk[..k]);
                left -= k;
            }
            let _ = out.write_all(b"\n");
            res.map(|()| n.to_string())
        }
        "stderr" => {
            eprintln!("{}", at(0));
            Ok(String::new())
        }
        "connect" => net_connect(at(0)).and_then(|mut c| {
            // Say hello and read what the server answers (the test servers echo a line).
            c.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
            c.write_all(b"ping\n")?;
            let mut buf = [0u8; 64];
            let n = c.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
        }),
        "resolve" if proxy().is_some() => socks_resolve(at(0)),
        "resolve" => {
            use std::net::ToSocketAddrs as _;
            (at(0), 0u16).to_socket_addrs().map(|it| {
                let mut v: Vec<String> = it.map(|a| a.ip().to_string()).collect();
                v.sort();
                v.dedup();
                v.join(",")
            })
        }
        "udp" => std::net::UdpSocket::bind(if at(0).starts_with('[') { "[::]:0" } else { "0.0.0.0:0" })
            .and_then(|u| u.send_to(b"ping", at(0)))
            .map(|n| n.to_string()),
        "listen" => {
            std::net::TcpListener::bind(at(0)).map(|l| l.local_addr().map(|a| a.port().to_string()).unwrap_or_default())
        }
        "http" => http_get(at(0), at(1).parse().ok()),
        "http-follow" => http_follow(at(0)),
        "fields" => fields(at(0).parse().unwrap_or(0), at(1).parse().unwrap_or(0)),
        "alloc" => alloc(at(0).parse().unwrap_or(0)),
        "spin" => spin(),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(at(0).parse().unwrap_or(0)));
            Ok(String::new())
        }
        "panic" => panic!("probe asked to panic"),
        "exit" => {
            let _ = std::io::stdout().flush();
            exit(at(0).parse().unwrap_or(0))
        }
        other => Err(std::io::Error::other(format!("unknown op {other}"))),
    };
    report(name, &arg, r);
}

/// `wasi:http` GET: the value is `STATUS BODY`. A request the host refuses is `denied`.
/// With `first_byte_ms`, the request's first-byte and between-bytes timeouts.
fn http_get(url: &str, first_byte_ms: Option<u64>) -> std::io::Result<String> {
    http_request(url, first_byte_ms).map(|(status, _, body)| format!("{status} {body}"))
}

/// GETs `url` and follows up to five redirects, each a new request of the guest's own; the
/// value is the last `STATUS BODY`.
fn http_follow(url: &str) -> std::io::Result<String> {
    let mut url = url.to_string();
    for _ in 0..5 {
        let (status, location, body) = http_request(&url, None)?;
        match location {
            Some(next) if (300..400).contains(&status) => url = next,
            _ => return Ok(format!("{status} {body}")),
        }
    }
    Err(std::io::Error::other("too many redirects"))
}

/// Holds `count` `wasi:http` `fields` of about `bytes` each, all alive at once; the value is
/// how many were made.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn fields(count: usize, bytes: usize) -> std::io::Result<String> {
    use wasip2::http::types::Fields;
    // Values of at most 8 KiB each, under names h0, h1, ...
    let value = vec![b'v'; bytes.min(8192)];
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let f = Fields::new();
        let mut left = bytes;
        let mut i = 0;
        while left > 0 {
            let k = left.min(value.len());
            f.append(&format!("h{i}"), &value[..k]).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            left -= k;
            i += 1;
        }
        held.push(f);
    }
    Ok(held.len().to_string())
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn fields(_count: usize, _bytes: usize) -> std::io::Result<String> {
    Err(std::io::Error::other("wasi:http only"))
}

/// One `wasi:http` GET: status, `Location` if any, body.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn http_request(url: &str, first_byte_ms: Option<u64>) -> std::io::Result<(u16, Option<String>, String)> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};
    let err = |e: ErrorCode| match e {
        ErrorCode::HttpRequestDenied => {
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "HTTP-request-denied")
        }
        other => std::io::Error::other(format!("{other:?}")),
    };
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", r)) => (Scheme::Https, r),
        Some((_, r)) => (Scheme::Http, r),
        None => return Err(std::io::Error::other("bad url")),
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let req = OutgoingRequest::new(Fields::new());
    let _ = req.set_method(&Method::Get);
    let _ = req.set_scheme(Some(&scheme));
    let _ = req.set_authority(Some(authority));
    let _ = req.set_path_with_query(Some(path));
    if let Ok(body) = req.body() {
        let _ = OutgoingBody::finish(body, None);
    }
    let options = first_byte_ms.map(|ms| {
        let o = RequestOptions::new();
        let _ = o.set_first_byte_timeout(Some(ms * 1_000_000));
        let _ = o.set_between_bytes_timeout(Some(ms * 1_000_000));
        o
    });
    let pending = outgoing_handler::handle(req, options).map_err(err)?;
    let resp = loop {
        match pending.get() {
            Some(Ok(r)) => break r.map_err(err)?,
            Some(Err(())) => return Err(std::io::Error::other("response taken twice")),
            None => pending.subscribe().block(),
        }
    };
    let mut body = Vec::new();
    if let Ok(b) = resp.consume()
        && let Ok(stream) = b.stream()
    {
        loop {
            match stream.blocking_read(65536) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(wasip2::io::streams::StreamError::Closed) => break,
                // A failed read (a between-bytes timeout, say) is the op's error.
                Err(wasip2::io::streams::StreamError::LastOperationFailed(e)) => {
                    // wasmtime-wasi-http gives body errors no error-code; its text names it.
                    let detail = wasip2::http::types::http_error_code(&e)
                        .map_or_else(|| e.to_debug_string(), |c| format!("{c:?}"));
                    return Err(std::io::Error::other(detail));
                }
            }
        }
    }
    let location = resp.headers().get("location").first().map(|v| String::from_utf8_lossy(v).into_owned());
    Ok((resp.status(), location, String::from_utf8_lossy(&body).trim().to_string()))
}

/// Natively: a plain-HTTP GET through the HTTP proxy cordon names in `HTTP_PROXY`.
#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn http_request(url: &str, first_byte_ms: Option<u64>) -> std::io::Result<(u16, Option<String>, String)> {
    let authority = url.trim_start_matches("http://").split('/').next().unwrap_or("");
    let noproxy = std::env::args().next().is_some_and(|a| a.ends_with("-noproxy"));
    let mut c = if noproxy {
        // As a program that knows nothing of proxies: straight to the URL's host.
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        std::net::TcpStream::connect(with_port.as_str())?
    } else {
        let proxy = std::env::var("HTTP_PROXY")
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::NotConnected, "no HTTP_PROXY"))?;
        std::net::TcpStream::connect(proxy.trim_start_matches("http://").trim_end_matches('/'))?
    };
    c.set_read_timeout(Some(std::time::Duration::from_millis(first_byte_ms.unwrap_or(10_000))))?;
    if noproxy {
        let path = url.trim_start_matches("http://").split_once('/').map_or("/".to_string(), |(_, p)| format!("/{p}"));
        write!(c, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    } else {
        write!(c, "GET {url} HTTP/1.1\r\nHost: {authority}\r\n\r\n")?;
    }
    let mut resp = String::new();
    c.read_to_string(&mut resp)?;
    let status: u16 = resp.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if status == 403 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            resp.lines().last().unwrap_or("").to_string(),
        ));
    }
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location").then(|| v.trim().to_string())
    });
    Ok((status, location, body.trim().to_string()))
}

/// The SOCKS5 proxy cordon names in `ALL_PROXY`, if any (native sandboxes only).
fn proxy() -> Option<String> {
    // A probe named `*-noproxy` ignores the proxy variables, as most programs do: the
    // conformance table runs the network cases that way too, through cordon's capture.
    let noproxy = std::env::args().next().is_some_and(|a| a.ends_with("-noproxy"));
    if cfg!(target_os = "wasi") || noproxy {
        return None;
    }
    std::env::var("ALL_PROXY").ok().map(|p| p.trim_start_matches("socks5h://").trim_end_matches('/').to_string())
}

/// Connects to `host:port`, through the SOCKS5 proxy when one is set (a refusal is
/// `PermissionDenied`).
fn net_connect(target: &str) -> std::io::Result<std::net::TcpStream> {
    let Some(proxy) = proxy() else { return std::net::TcpStream::connect(target) };
    let (host, port) = target.rsplit_once(':').ok_or_else(|| std::io::Error::other("host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(std::io::Error::other)?;
    let mut c = std::net::TcpStream::connect(proxy)?;
    socks_request(&mut c, 1, host, port)?;
    Ok(c)
}

/// Resolves a name through the proxy's RESOLVE extension.
fn socks_resolve(name: &str) -> std::io::Result<String> {
    let proxy = proxy().ok_or_else(|| std::io::Error::other("no proxy"))?;
    let mut c = std::net::TcpStream::connect(proxy)?;
    let ip = socks_request(&mut c, 0xf0, name, 0)?;
    Ok(ip)
}

fn socks_request(c: &mut std::net::TcpStream, cmd: u8, host: &str, port: u16) -> std::io::Result<String> {
    c.write_all(&[5, 1, 0])?;
    let mut g = [0u8; 2];
    c.read_exact(&mut g)?;
    let mut req = vec![5, cmd, 0];
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        Ok(std::net::IpAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            req.push(3);
            req.push(host.len() as u8);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    c.write_all(&req)?;
    let mut head = [0u8; 4];
    c.read_exact(&mut head)?;
    if head[1] != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("proxy refused (SOCKS reply {})", head[1]),
        ));
    }
    let addr = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a)?;
            std::net::IpAddr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            c.read_exact(&mut a)?;
            std::net::IpAddr::from(a).to_string()
        }
        _ => String::new(),
    };
    let mut p = [0u8; 2];
    c.read_exact(&mut p)?;
    Ok(addr)
}

fn kind(t: &fs::FileType) -> String {
    if t.is_symlink() {
        "symlink".into()
    } else if t.is_dir() {
        "dir".into()
    } else {
        "file".into()
    }
}

#[cfg(unix)]
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(target_os = "wasi")]
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    // `std::os::wasi::fs::symlink_path` is unstable; wasi-libc has `symlink`.
    unsafe extern "C" {
        fn symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> i32;
    }
    let t = std::ffi::CString::new(target).map_err(std::io::Error::other)?;
    let l = std::ffi::CString::new(link).map_err(std::io::Error::other)?;
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    if unsafe { symlink(t.as_ptr(), l.as_ptr()) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

fn alloc(bytes: usize) -> std::io::Result<String> {
    let mut v: Vec<u8> = Vec::new();
    match v.try_reserve_exact(bytes) {
        Ok(()) => {
            // Touch every page so the memory is really used.
            v.resize(bytes, 1);
            Ok(v.iter().step_by(4096).count().to_string())
        }
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::OutOfMemory, "allocation refused")),
    }
}

fn spin() -> std::io::Result<String> {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod bindings {
    wit_bindgen::generate!({ path: "../../host-bindings/wit", world: "cordon:tools/tool", generate_all });
}

/// Exits with `code`, passing the full code through where the platform allows: on WASI 0.2
/// through `exit-with-code` (std's `process::exit` there reports only success or failure).
fn exit(code: i32) -> ! {
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    bindings::wasi::cli::exit::exit_with_code(code as u8);
    std::process::exit(code)
}

fn report(op: &str, arg: &str, r: std::io::Result<String>) {
    let mut line = format!("{{\"op\":{},\"arg\":{}", json(op), json(arg));
    match r {
        Ok(v) => line.push_str(&format!(",\"ok\":true,\"value\":{}}}", json(&v))),
        Err(e) => {
            use std::io::ErrorKind as K;
            // Ignoring the proxy variables, a program meets cordon's refusals as the capture
            // gives them: a connection refused before any handshake (or reset, where the relay
            // decided after it), or NXDOMAIN from cordon's resolver. (The tests check that
            // cordon recorded each such refusal: a closed port looks the same to the tool.)
            let noproxy = std::env::args().next().is_some_and(|a| a.ends_with("-noproxy"));
            let refused_raw = matches!(e.kind(), K::ConnectionReset | K::ConnectionRefused)
                || e.to_string().contains("failed to lookup address");
            let class = match e.kind() {
                _ if e.raw_os_error() == Some(ELOOP) => "loop",
                _ if noproxy && refused_raw => "denied",
                // A refusal for protection reasons, whichever layer said it: a permission check,
                // a read-only mount, or a protected mount point that cannot be moved.
                K::PermissionDenied | K::ReadOnlyFilesystem | K::ResourceBusy => "denied",
                K::CrossesDevices => "cross-device",
                K::ConnectionRefused | K::NetworkUnreachable | K::HostUnreachable => "no-route",
                K::NotFound => "not-found",
                K::AlreadyExists => "exists",
                K::DirectoryNotEmpty => "not-empty",
                K::OutOfMemory => "out-of-memory",
                _ => "error",
            };
            line.push_str(&format!(",\"ok\":false,\"error\":\"{class}\",\"detail\":{}}}", json(&e.to_string())));
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(target_os = "wasi")]
const ELOOP: i32 = 32;
#[cfg(not(target_os = "wasi"))]
const ELOOP: i32 = 40;

fn json(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
