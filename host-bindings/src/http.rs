//! `wasi:http` outgoing requests checked against the policy, then sent by cordon to the
//! address it checked.
//!
//! For a request to `scheme://host:port/…`:
//! 1. the authority is parsed by cordon's one host parser (`cordon_policy::Host`): an
//!    address in any spelling (`2130706433`, `127.1`, `[::ffff:127.0.0.1]`) and
//!    `localhost` are checked like a socket connect and never resolved; a name is checked
//!    against the domain rules first, so a denied name is never resolved; userinfo is
//!    refused;
//! 2. an allowed name is resolved in its normalised form, and each answer is checked (deny
//!    rules, local ranges unless a rule names them); the connection goes to the first
//!    allowed answer, never to a re-resolved one, with exactly one `Host` header: the
//!    authority that was checked;
//! 3. HTTPS is verified against the name (webpki roots).
//!
//! A refused request is the `HTTP-request-denied` error the guest can handle, not a trap.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error, WasiHttpHooks};

use cordon_policy::net::Protocol;
use cordon_policy::{Host, HostCheck, NetDecision};

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

/// Decides where a request may go: the checked addresses, in order. The host was parsed
/// by the one parser every path uses; a name goes to the resolver in its normalised form.
async fn destinations(net: &NetGuard, host: &Host, port: u16, target: &str) -> Result<Vec<SocketAddr>, Error> {
    let answers = match net.network().check_host(host, port, Protocol::Tcp) {
        HostCheck::Addresses(addrs) => {
            let mut allowed = Vec::new();
            for (ip, d) in addrs {
                if net.record_http(target, d) {
                    allowed.push(SocketAddr::new(ip, port));
                }
            }
            return if allowed.is_empty() { Err(Error::HttpRequestDenied) } else { Ok(allowed) };
        }
        HostCheck::Refused(d) => {
            net.record_http(target, d);
            return Err(Error::HttpRequestDenied);
        }
        HostCheck::Resolve(d) => {
            let name = host.to_string();
            let answers: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), port)).await.map_err(|_| Error::DestinationNotFound)?.collect();
            (answers, d)
        }
    };
    let (answers, by_name) = answers;
    let mut allowed = Vec::new();
    for a in answers {
        let d = net.network().check_answer(a.ip(), port, Protocol::Tcp, &by_name);
        if net.record_http(&format!("{target} via {a}"), d) {
            allowed.push(a);
        }
    }
    if allowed.is_empty() { Err(Error::HttpRequestDenied) } else { Ok(allowed) }
}

async fn send(net: &NetGuard, mut request: http::Request<Body>) -> Result<(http::Response<Body>, IoFuture), Error> {
    let uri = request.uri().clone();
    let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?.as_str().to_string();
    let target_of = |host: &str| format!("{}://{host}", if tls { "https" } else { "http" });
    let (host, port) = match Host::parse_authority(&authority, if tls { 443 } else { 80 }) {
        Ok(hp) => hp,
        Err(e) => {
            net.record_http(
                &target_of(&authority),
                NetDecision { allowed: false, rule: format!("(malformed host: {e})") },
            );
            return Err(Error::HttpRequestDenied);
        }
    };
    let target = target_of(&authority);

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
    // Exactly one Host, the authority that was checked.
    let host_header = http::HeaderValue::from_str(&authority).map_err(|_| Error::HttpRequestUriInvalid)?;
    request.headers_mut().remove(http::header::HOST);
    request.headers_mut().insert(http::header::HOST, host_header);

    if tls {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let name = match &host {
            Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
            Host::Localhost | Host::Name(_) => {
                rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| Error::HttpRequestUriInvalid)?
            }
        };
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
