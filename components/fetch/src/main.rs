//! `fetch`: an agent's HTTP GET, as a WASI 0.2 component using `wasi:http`.
//!
//! Usage: `fetch [-i] URL` prints the response body (`-i`: the status line first).
//!
//! Exit: 0 for a 2xx response, 22 for another status (as `curl -f`), 13 when the host
//! refused the request (`HTTP-request-denied`), 7 when the connection failed, 64 on bad
//! usage.

use std::io::Write as _;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let show_status = args.first().is_some_and(|a| a == "-i");
    if show_status {
        args.remove(0);
    }
    let code = match args.as_slice() {
        [url] => fetch(url, show_status),
        _ => {
            eprintln!("usage: fetch [-i] URL");
            64
        }
    };
    let _ = std::io::stdout().flush();
    wasip2::cli::exit::exit_with_code(code);
}

fn fetch(url: &str, show_status: bool) -> u8 {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", r)) => (Scheme::Http, r),
        Some(("https", r)) => (Scheme::Https, r),
        _ => {
            eprintln!("fetch: {url}: only http:// and https:// URLs");
            return 64;
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    let set = req.set_method(&Method::Get).is_ok()
        && req.set_scheme(Some(&scheme)).is_ok()
        && req.set_authority(Some(authority)).is_ok()
        && req.set_path_with_query(Some(path)).is_ok();
    if !set {
        eprintln!("fetch: {url}: not a valid request URL");
        return 64;
    }
    if let Ok(body) = req.body() {
        let _ = OutgoingBody::finish(body, None);
    }
    let pending = match outgoing_handler::handle(req, None) {
        Ok(p) => p,
        Err(e) => return failed(url, &e),
    };
    let response = loop {
        match pending.get() {
            Some(Ok(Ok(r))) => break r,
            Some(Ok(Err(e))) => return failed(url, &e),
            Some(Err(())) => return failed(url, &ErrorCode::InternalError(None)),
            None => pending.subscribe().block(),
        }
    };
    let status = response.status();
    let mut out = std::io::stdout().lock();
    if show_status {
        let _ = writeln!(out, "HTTP {status}");
    }
    if let Ok(body) = response.consume()
        && let Ok(stream) = body.stream()
    {
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            let _ = out.write_all(&chunk);
        }
    }
    if (200..300).contains(&status) { 0 } else { 22 }
}

fn failed(url: &str, e: &ErrorCode) -> u8 {
    if matches!(e, ErrorCode::HttpRequestDenied) {
        eprintln!("fetch: {url}: request denied by the sandbox");
        13
    } else {
        eprintln!("fetch: {url}: {e:?}");
        7
    }
}
