//! `wasi:http` outgoing requests checked against the policy, then sent by cordon to the
//! address it checked.
//!
//! For a request to `scheme://host:port/…`:
//! 1. an IP literal host is checked like a socket connect; a name is checked against the
//!    domain rules first, so a denied name is never resolved;
//! 2. an allowed name is resolved, and each answer is checked (deny rules, the metadata
//!    range); the connection goes to the first allowed answer, never to a re-resolved one;
//! 3. HTTPS is verified against the name (webpki roots).
//!
//! A refused request is the `HTTP-request-denied` error the guest can handle, not a trap.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error, WasiHttpHooks};

use crate::net::NetGuard;

/// The hooks that route every outgoing request through cordon's checks.
pub struct CordonHttpHooks {
    net: Arc<NetGuard>,
}

impl CordonHttpHooks {
    /// Hooks deciding with `net`.
    pub fn new(net: Arc<NetGuard>) -> Self {
        Self { net }
    }
}

type Body = wasmtime_wasi_http::WasiBody;
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for CordonHttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<Body>, IoFuture), Error>> + Send> {
        let net = self.net.clone();
        Box::new(async move { send(&net, request).await })
    }
}

/// Decides where a request may go: the checked addresses, in order.
async fn destinations(net: &NetGuard, host: &str, port: u16, target: &str) -> Result<Vec<SocketAddr>, Error> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        let d = net.network().check_addr(ip, port, cordon_policy::net::Protocol::Tcp);
        return if net.record_http(target, d) {
            Ok(vec![SocketAddr::new(ip, port)])
        } else {
            Err(Error::HttpRequestDenied)
        };
    }
    let by_name = net.network().check_name(host);
    let rule = by_name.rule.clone();
    if !net.record_http(target, by_name) {
        return Err(Error::HttpRequestDenied);
    }
    let answers: Vec<SocketAddr> =
        tokio::net::lookup_host((host, port)).await.map_err(|_| Error::DestinationNotFound)?.collect();
    let mut allowed = Vec::new();
    for a in answers {
        let d = net.network().check_resolved(a.ip(), port, cordon_policy::net::Protocol::Tcp, &rule);
        if net.record_http(&format!("{target} via {a}"), d) {
            allowed.push(a);
        }
    }
    if allowed.is_empty() { Err(Error::HttpRequestDenied) } else { Ok(allowed) }
}

async fn send(net: &NetGuard, mut request: http::Request<Body>) -> Result<(http::Response<Body>, IoFuture), Error> {
    let uri = request.uri().clone();
    let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let target = format!("{}://{host}:{port}", if tls { "https" } else { "http" });

    let mut last_err = Error::DestinationUnavailable;
    let mut stream = None;
    for addr in destinations(net, &host, port, &target).await? {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = Error::Connect(e),
        }
    }
    let stream = stream.ok_or(last_err)?;

    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    if tls {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
                .map_err(|_| Error::HttpRequestUriInvalid)?;
        let stream =
            tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream).await.map_err(Error::Tls)?;
        exchange(hyper_util::rt::TokioIo::new(stream), request).await
    } else {
        exchange(hyper_util::rt::TokioIo::new(stream), request).await
    }
}

async fn exchange<S>(io: S, request: http::Request<Body>) -> Result<(http::Response<Body>, IoFuture), Error>
where
    S: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(Error::from)?;
    let driver: IoFuture = Box::new(async move { conn.await.map_err(Error::from) });
    // The connection must make progress while the request is sent.
    let driver = tokio::spawn(Box::into_pin(driver));
    let response = sender.send_request(request).await.map_err(Error::from)?;
    let io: IoFuture = Box::new(async move { driver.await.unwrap_or(Err(Error::ConnectionTerminated)) });
    Ok((response.map(|b| b.map_err(Error::from).map_frame(|f: hyper::body::Frame<Bytes>| f).boxed_unsync()), io))
}
