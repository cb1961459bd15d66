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
//! 3. HTTPS is verified against the name (webpki roots), with one rustls configuration
//!    built once per process and shared by every request.
//!
//! A refused request is the `HTTP-request-denied` error the guest can handle, not a trap.
//!
//! The guest's `request-options` are honoured as `wasmtime-wasi-http` honours them, with its
//! defaults (600 s each) when unset: the connect timeout bounds name resolution, the TCP
//! connect, the TLS handshake and the HTTP handshake (`connection-timeout`); the first-byte
//! timeout bounds sending the request until the response head arrives
//! (`connection-read-timeout`); the between-bytes timeout bounds each wait for the next
//! frame of the response body (`connection-read-timeout`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error, RequestOptions, WasiHttpHooks};

use cordon_policy::net::Protocol;
use cordon_policy::{Host, HostCheck, NetDecision};

use crate::net::NetGuard;

/// The hooks that route every outgoing request through cordon's checks.
pub struct CordonHttpHooks {
    net: Arc<NetGuard>,
    tls: Arc<rustls::ClientConfig>,
}

impl CordonHttpHooks {
    /// Hooks deciding with `net`.
    pub fn new(net: Arc<NetGuard>) -> Self {
        Self { net, tls: tls_config() }
    }
}

/// How many times the rustls configuration was built (once per process).
static TLS_BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The one rustls client configuration (webpki roots, no client auth), built on first use.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            TLS_BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
            Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
        })
        .clone()
}

/// `wasmtime-wasi-http`'s default for each unset timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The three timeouts of one request, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn of(options: Option<RequestOptions>) -> Self {
        let o = options.unwrap_or_default();
        Self {
            connect: o.connect_timeout.unwrap_or(DEFAULT_TIMEOUT),
            first_byte: o.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT),
            // Tokio's timers treat zero as "already passed"; one nanosecond is as good.
            between_bytes: o.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT).max(Duration::from_nanos(1)),
        }
    }
}

type Body = wasmtime_wasi_http::WasiBody;
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for CordonHttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<Body>, IoFuture), Error>> + Send> {
        let net = self.net.clone();
        let tls = self.tls.clone();
        Box::new(async move { send(&net, &tls, request, Timeouts::of(options)).await })
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        // Bounds what one outgoing body buffers (see `memory`).
        crate::memory::OUTGOING_CHUNK_BYTES
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

async fn send(
    net: &NetGuard,
    tls_config: &Arc<rustls::ClientConfig>,
    mut request: http::Request<Body>,
    timeouts: Timeouts,
) -> Result<(http::Response<Body>, IoFuture), Error> {
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

    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    // Exactly one Host, the authority that was checked.
    let host_header = http::HeaderValue::from_str(&authority).map_err(|_| Error::HttpRequestUriInvalid)?;
    request.headers_mut().remove(http::header::HOST);
    request.headers_mut().insert(http::header::HOST, host_header);

    // Everything up to a usable HTTP connection runs under the connect timeout. A refusal
    // is decided before any connect, so it is never turned into a timeout.
    let connect = async {
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
        if tls {
            let name = match &host {
                Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
                Host::Localhost | Host::Name(_) => rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|_| Error::HttpRequestUriInvalid)?,
            };
            let stream =
                tokio_rustls::TlsConnector::from(tls_config.clone()).connect(name, stream).await.map_err(Error::Tls)?;
            handshake(hyper_util::rt::TokioIo::new(stream)).await
        } else {
            handshake(hyper_util::rt::TokioIo::new(stream)).await
        }
    };
    let (sender, driver) = within(timeouts.connect, Error::ConnectionTimeout, connect).await?;
    exchange(sender, driver, request, timeouts).await
}

/// `fut`, or `on_timeout` once `limit` has passed.
async fn within<T>(
    limit: Duration,
    on_timeout: Error,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, fut).await.unwrap_or(Err(on_timeout))
}

type Sender = hyper::client::conn::http1::SendRequest<Body>;

/// The HTTP/1 handshake; the connection is driven on its own task from here on.
async fn handshake<S>(io: S) -> Result<(Sender, tokio::task::JoinHandle<Result<(), Error>>), Error>
where
    S: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(Error::from)?;
    // The connection must make progress while the request is sent.
    let driver = tokio::spawn(async move { conn.await.map_err(Error::from) });
    Ok((sender, driver))
}

async fn exchange(
    mut sender: Sender,
    driver: tokio::task::JoinHandle<Result<(), Error>>,
    request: http::Request<Body>,
    timeouts: Timeouts,
) -> Result<(http::Response<Body>, IoFuture), Error> {
    // Dropping the driver's handle does not stop the connection task; a request that times
    // out must not leave it running, so it is aborted on every early return.
    let abort = driver.abort_handle();
    let response = match within(timeouts.first_byte, Error::ConnectionReadTimeout, async {
        sender.send_request(request).await.map_err(Error::from)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            abort.abort();
            return Err(e);
        }
    };
    let io: IoFuture = Box::new(async move { driver.await.unwrap_or(Err(Error::ConnectionTerminated)) });
    let between = timeouts.between_bytes;
    Ok((
        response.map(|b| {
            BetweenBytes { inner: b, limit: between, timer: Box::pin(tokio::time::sleep(between)), abort }
                .boxed_unsync()
        }),
        io,
    ))
}

/// A response body whose every wait for the next frame is bounded (`connection-read-timeout`
/// past the limit; the connection is closed then).
struct BetweenBytes {
    inner: hyper::body::Incoming,
    limit: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    abort: tokio::task::AbortHandle,
}

impl hyper::body::Body for BetweenBytes {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.limit;
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.abort.abort();
                    Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_config_is_built_once_and_shared() {
        let net = NetGuard::new(Default::default());
        let a = CordonHttpHooks::new(net.clone());
        let b = CordonHttpHooks::new(net);
        assert!(Arc::ptr_eq(&a.tls, &b.tls), "every hook shares one config");
        assert!(Arc::ptr_eq(&a.tls, &tls_config()));
        assert_eq!(TLS_BUILDS.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn unset_options_take_wasmtimes_defaults() {
        let t = Timeouts::of(None);
        assert_eq!((t.connect, t.first_byte, t.between_bytes), (DEFAULT_TIMEOUT, DEFAULT_TIMEOUT, DEFAULT_TIMEOUT));
        let o = RequestOptions {
            connect_timeout: Some(Duration::from_millis(5)),
            first_byte_timeout: Some(Duration::from_millis(500)),
            between_bytes_timeout: Some(Duration::ZERO),
        };
        let t = Timeouts::of(Some(o));
        assert_eq!(t.connect, Duration::from_millis(5));
        assert_eq!(t.first_byte, Duration::from_millis(500));
        assert_eq!(t.between_bytes, Duration::from_nanos(1));
    }
}
