//! `wasi:sockets` checked against the policy's network rules.
//!
//! - Every socket address passes [`NetGuard::check_addr`] (installed as wasmtime-wasi's
//!   `socket_addr_check`): connects and sends by the egress rules, binds and listens by the
//!   ingress rules.
//! - `ip-name-lookup` is cordon's ([`add_to_linker`]): the name is parsed by cordon's one
//!   host parser (`cordon_policy::Host`) and checked before anything is resolved, so a
//!   denied name never reaches a resolver; an address in any spelling (`2130706433`,
//!   `127.1`) and `localhost` are not names and answer the address itself (127.0.0.1 for
//!   `localhost`); an allowed name goes to the resolver in its normalised form; the answers
//!   of an allowed name are remembered, and connecting to them is allowed as the name is,
//!   local ranges excepted (they need a rule that names them).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use cordon_policy::net::{Protocol, canonical_ip};
use cordon_policy::{Host as ParsedHost, HostCheck, NetDecision, Network};
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::SocketError;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, Host, HostResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress, Network as NetworkRes};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsCtxView};
use wasmtime_wasi_io::poll::DynPollable;

pub use cordon_policy::NetEvent;

/// The network posture of one run, shared by the address check and the name lookup.
#[derive(Debug)]
pub struct NetGuard {
    network: Network,
    /// Addresses allowed names resolved to, with the pointer of the name rule.
    resolved: Mutex<HashMap<IpAddr, String>>,
    events: Mutex<Vec<NetEvent>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl NetGuard {
    /// A guard for `network`.
    pub fn new(network: Network) -> Arc<Self> {
        Arc::new(Self { network, resolved: Mutex::new(HashMap::new()), events: Mutex::new(Vec::new()) })
    }

    /// The rules this guard decides with.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Records an HTTP decision; returns whether it allows.
    pub fn record_http(&self, target: &str, decision: NetDecision) -> bool {
        self.record("http", "request", target.to_string(), decision)
    }

    /// Every decision so far (denials and grants), in order.
    pub fn events(&self) -> Vec<NetEvent> {
        lock(&self.events).clone()
    }

    fn record(&self, kind: &'static str, op: &'static str, target: String, decision: NetDecision) -> bool {
        let allowed = decision.allowed;
        lock(&self.events).push(NetEvent { time: std::time::SystemTime::now(), kind, op, target, decision });
        allowed
    }

    /// The check wasmtime-wasi asks for every socket address.
    pub fn check_addr(&self, addr: SocketAddr, use_: SocketAddrUse) -> bool {
        let ip = canonical_ip(addr.ip());
        let port = addr.port();
        let (op, decision) = match use_ {
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => ("bind", self.network.check_bind(ip, port)),
            SocketAddrUse::TcpListen => ("listen", self.network.check_bind(ip, port)),
            // A peer connecting in: the listener was allowed already; accept by ingress.
            SocketAddrUse::TcpAccept | SocketAddrUse::UdpReceive => ("accept", self.ingress_from(ip)),
            SocketAddrUse::TcpConnect => ("connect", self.egress(ip, port, Protocol::Tcp)),
            SocketAddrUse::UdpSend => ("send", self.egress(ip, port, Protocol::Udp)),
        };
        // The implicit bind before every connect is not worth an event.
        if decision.rule == "(implicit bind)" {
            return true;
        }
        self.record("net", op, addr.to_string(), decision)
    }

    fn egress(&self, ip: IpAddr, port: u16, proto: Protocol) -> NetDecision {
        let direct = self.network.check_addr(ip, port, proto);
        if direct.allowed {
            return direct;
        }
        match lock(&self.resolved).get(&ip) {
            Some(rule) => self.network.check_resolved(ip, port, proto, rule),
            None => direct,
        }
    }

    fn ingress_from(&self, ip: IpAddr) -> NetDecision {
        if ip.is_loopback() {
            self.network.check_bind(ip, 1)
        } else {
            self.network.check_bind(IpAddr::from([0, 0, 0, 1]), 1)
        }
    }

    /// Decides a name lookup before anything is resolved, with the one host parser every
    /// path uses ([`ParsedHost::parse`], `cordon_policy::Host`). Returns what to hand the resolver and the rule to
    /// remember its answers under (`None` for an address or `localhost`: those are not
    /// names, their lookup returns the address itself, and the address check decides the
    /// connection), or `Err` when the lookup is refused (recorded).
    fn check_lookup(&self, name: &str) -> Result<(String, Option<String>), ErrorCode> {
        let host = match ParsedHost::parse(name) {
            Ok(h) => h,
            Err(e) => {
                self.record(
                    "dns",
                    "resolve",
                    name.to_string(),
                    NetDecision { allowed: false, rule: format!("(malformed host: {e})") },
                );
                return Err(ErrorCode::InvalidArgument);
            }
        };
        // The port does not matter for a lookup; the connection is checked with its own.
        match self.network.check_host(&host, 0, Protocol::Tcp) {
            // `localhost` is never resolved: its lookup answers 127.0.0.1.
            HostCheck::Addresses(a) => match a.first() {
                Some((ip, _)) => Ok((ip.to_string(), None)),
                None => Err(ErrorCode::InvalidArgument),
            },
            HostCheck::Resolve(d) => {
                let rule = d.rule.clone();
                self.record("dns", "resolve", name.to_string(), d);
                // The normalised name, never the guest's spelling, goes to the resolver.
                Ok((host.to_string(), Some(rule)))
            }
            HostCheck::Refused(d) => {
                self.record("dns", "resolve", name.to_string(), d);
                Err(ErrorCode::AccessDenied)
            }
        }
    }
}

/// `HasData` marker for [`add_to_linker`].
pub struct CordonNet;

impl HasData for CordonNet {
    type Data<'a> = CordonNetView<'a>;
}

/// What the lookup host functions borrow: wasmtime-wasi's sockets context and the guard.
pub struct CordonNetView<'a> {
    /// wasmtime-wasi's sockets context.
    pub inner: WasiSocketsCtxView<'a>,
    /// The run's network guard.
    pub guard: &'a NetGuard,
    /// Name rule per lookup stream, to remember the answers under.
    pub streams: &'a mut HashMap<u32, String>,
}

/// Adds cordon's `wasi:sockets/ip-name-lookup` to `linker`. Link the other socket
/// interfaces from wasmtime-wasi, with `allow_ip_name_lookup(true)` (this layer decides).
///
/// # Errors
/// When the linker already defines the interface.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CordonNetView<'_>,
) -> wasmtime::Result<()> {
    ip_name_lookup::add_to_linker::<T, CordonNet>(linker, get)
}

impl wasmtime_wasi::p2::bindings::sockets::network::Host for CordonNetView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        wasmtime_wasi::p2::bindings::sockets::network::Host::convert_error_code(&mut self.inner, error)
    }

    fn network_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        wasmtime_wasi::p2::bindings::sockets::network::Host::network_error_code(&mut self.inner, err)
    }
}

impl wasmtime_wasi::p2::bindings::sockets::network::HostNetwork for CordonNetView<'_> {
    fn drop(&mut self, this: Resource<NetworkRes>) -> wasmtime::Result<()> {
        wasmtime_wasi::p2::bindings::sockets::network::HostNetwork::drop(&mut self.inner, this)
    }
}

impl Host for CordonNetView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<NetworkRes>,
        name: String,
    ) -> Result<Resource<ip_name_lookup::ResolveAddressStream>, SocketError> {
        // Refused before any resolver is asked.
        let (name, rule) = self.guard.check_lookup(&name)?;
        let stream = Host::resolve_addresses(&mut self.inner, network, name)?;
        if let Some(rule) = rule {
            self.streams.insert(stream.rep(), rule);
        }
        Ok(stream)
    }
}

impl HostResolveAddressStream for CordonNetView<'_> {
    fn resolve_next_address(
        &mut self,
        res: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        let rep = res.rep();
        let next = HostResolveAddressStream::resolve_next_address(&mut self.inner, res)?;
        if let (Some(addr), Some(rule)) = (&next, self.streams.get(&rep)) {
            let ip: IpAddr = match *addr {
                IpAddress::Ipv4((a, b, c, d)) => IpAddr::from([a, b, c, d]),
                IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::from([a, b, c, d, e, f, g, h]),
            };
            lock(&self.guard.resolved).insert(canonical_ip(ip), rule.clone());
        }
        Ok(next)
    }

    fn subscribe(
        &mut self,
        res: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        HostResolveAddressStream::subscribe(&mut self.inner, res)
    }

    fn drop(&mut self, res: Resource<ip_name_lookup::ResolveAddressStream>) -> wasmtime::Result<()> {
        self.streams.remove(&res.rep());
        HostResolveAddressStream::drop(&mut self.inner, res)
    }
}
