//! The whole linker a cordon tool is instantiated with, in one call: every WASI 0.2
//! interface from `wasmtime-wasi`, except `wasi:filesystem` (cordon's checked layer) and
//! `ip-name-lookup` (cordon's own), with every socket address checked through the
//! context's address check and outgoing HTTP through cordon's hooks.

use wasmtime::component::Linker;
use wasmtime_wasi::WasiView;

use crate::fs::CordonFsView;
use crate::net::CordonNetView;

/// How the host functions reach cordon's state in the store.
#[derive(Debug, Clone, Copy)]
pub struct Views<T: 'static> {
    /// The filesystem layer and wasmtime-wasi's filesystem context.
    pub fs: fn(&mut T) -> CordonFsView<'_>,
    /// The network guard and wasmtime-wasi's sockets context.
    pub net: fn(&mut T) -> CordonNetView<'_>,
    /// `wasi:http` and the store's memory budget, for the calls that make host memory grow.
    pub http: fn(&mut T) -> crate::memory::HttpMemoryView<'_>,
}

/// Adds cordon's WASI host to `linker`. Nothing else needs linking for a WASI 0.2 command.
///
/// # Errors
/// Only when the linker already defines one of the interfaces.
pub fn add_to_linker<T>(linker: &mut Linker<T>, views: Views<T>) -> wasmtime::Result<()>
where
    T: WasiView + wasmtime_wasi_http::WasiHttpView + wasmtime_wasi_io::IoView + Send + 'static,
{
    use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
    use wasmtime_wasi::p2::bindings::{cli, clocks, random, sockets};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};

    let l = linker;
    wasmtime_wasi_io::add_to_linker_async(l)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| wasmtime_wasi::random::WasiRandomView::random(t))?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| wasmtime_wasi::random::WasiRandomView::random(t))?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| wasmtime_wasi::random::WasiRandomView::random(t))?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    // Every socket address goes through the context's address check; name lookup is cordon's.
    sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), T::sockets)?;
    crate::net::add_to_linker::<T>(l, views.net)?;
    // Outgoing HTTP, every request checked by cordon's hooks.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;
    // ...and the calls that make host memory grow charged against `memoryBytes`.
    crate::memory::add_to_linker::<T>(l, views.http)?;
    sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    crate::fs::add_to_linker::<T>(l, views.fs)?;
    Ok(())
}
