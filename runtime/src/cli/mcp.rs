//! `cordon mcp`: serve wasm tools over the Model Context Protocol, each under its policy.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::RuntimeError;
use crate::mcp::{DEFAULT_MAX_IN_FLIGHT, McpServer, ToolSource, ToolSpec};

const MCP_HELP: &str = "\
Each exported function of a tool is one MCP tool named NAME.func (NAME.interface.func inside
an exported interface), its inputSchema from WIT; a component exporting wasi:cli/run is also
one tool NAME taking `args` and `stdin`. Every call runs in a fresh instance under the tool's
policy; a tool given without a policy is granted nothing.

Examples:
  cordon mcp --tool typed=typed.wasm:typed.policy.json --tool grep=search.wasm:docs.json
  cordon mcp --manifest tools.json --max-in-flight 32";

/// Serve wasm tools over MCP (stdio, or streamable HTTP with --http), each call under its
/// tool's policy.
#[derive(Debug, Args)]
#[command(after_help = MCP_HELP)]
pub struct McpCommand {
    /// A tool: NAME=TOOL.wasm, or NAME=TOOL.wasm:POLICY.json (repeatable).
    #[arg(long = "tool", value_name = "NAME=TOOL.wasm[:POLICY]")]
    pub tools: Vec<String>,
    /// A manifest of tools (docs/tool-authors.md).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Calls run at once; further calls wait for a slot, each up to its tool's
    /// process.timeout (then the call is answered "busy").
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Calls that may wait for a slot; one more is answered "busy" at once.
    #[arg(long, value_name = "N", default_value_t = crate::wasm::DEFAULT_MAX_QUEUED)]
    pub max_queued: usize,
    /// Serve streamable HTTP on ADDR (`PORT`, `HOST:PORT`; the host defaults to 127.0.0.1)
    /// instead of stdio. The URL is printed on stderr.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Allow --http on an address that is not loopback (any client that reaches it can run
    /// the tools).
    #[arg(long, requires = "http")]
    pub allow_remote: bool,
    /// Append audit events (tagged with the MCP tool and call id) to FILE; overrides each
    /// policy's `cordon.audit.path`.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
}

/// Parses `NAME=TOOL.wasm[:POLICY]`. The policy is split off at the last `:` when what is
/// before it is an existing file (a wasm path may itself hold `:`).
fn parse_tool(arg: &str) -> Result<ToolSpec, RuntimeError> {
    let bad = |why: &str| RuntimeError::Request(format!("--tool {arg}: {why}; expected NAME=TOOL.wasm[:POLICY.json]"));
    let (name, rest) = arg.split_once('=').ok_or_else(|| bad("no `=`"))?;
    if name.is_empty() {
        return Err(bad("empty NAME"));
    }
    let (path, policy) = match rest.rsplit_once(':') {
        Some((p, pol)) if !pol.is_empty() && Path::new(p).is_file() => (p, Some(pol)),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err(bad("empty TOOL"));
    }
    let policy = match policy {
        None => cordon_policy::Policy::default(),
        Some(p) => crate::PolicySource::from_arg(Path::new(p)).load(&crate::SystemHost)?,
    };
    Ok(ToolSpec { name: name.into(), source: ToolSource::Wasm(path.into()), policy, description: None })
}

/// `PORT` or `HOST:PORT` (an IP); refuses a non-loopback address without `allow_remote`.
fn http_addr(arg: &str, allow_remote: bool) -> Result<std::net::SocketAddr, RuntimeError> {
    let bad = |why: String| RuntimeError::Request(format!("--http {arg}: {why}"));
    let addr: std::net::SocketAddr = match arg.parse::<u16>() {
        Ok(port) => (std::net::Ipv4Addr::LOCALHOST, port).into(),
        Err(_) => {
            let spelled = arg.replacen("localhost:", "127.0.0.1:", 1);
            spelled.parse().map_err(|_| bad("expected PORT or IP:PORT (for example 127.0.0.1:8080)".into()))?
        }
    };
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(bad(format!(
            "{} is not a loopback address; anyone who reaches it could call the tools. Pass --allow-remote to serve it anyway",
            addr.ip()
        )));
    }
    Ok(addr)
}

impl McpCommand {
    /// Serves until the client goes away.
    ///
    /// # Errors
    /// A tool or policy is refused (nothing is served), or the transport fails.
    pub fn execute(self) -> Result<u8, RuntimeError> {
        let McpCommand { tools, manifest, max_in_flight, max_queued, http, allow_remote, audit } = self;
        let pool = u32::try_from(max_in_flight)
            .ok()
            .filter(|n| (1..=1_000).contains(n))
            .ok_or_else(|| RuntimeError::Request("--max-in-flight must be at least 1 (and at most 1000: each slot reserves address space for its memories)".into()))?;
        let http = http.as_deref().map(|a| http_addr(a, allow_remote)).transpose()?;
        let mut specs = Vec::new();
        if let Some(m) = &manifest {
            specs.extend(crate::mcp::manifest::load(m)?);
        }
        for t in &tools {
            specs.push(parse_tool(t)?);
        }
        if specs.is_empty() {
            return Err(RuntimeError::Request(
                "no tools: give --tool NAME=TOOL.wasm[:POLICY] or --manifest FILE".into(),
            ));
        }
        let runtime = crate::api::Runtime::builder().pooling(pool).max_queued(max_queued).build()?;
        if let Some(why) = runtime.cache_problem() {
            eprintln!("cordon: not caching compiled code: {why}");
        }
        let server = McpServer::new(&runtime, &specs, audit.as_deref())?.native_in_flight(max_in_flight);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| RuntimeError::Internal(format!("async runtime: {e}")))?;
        match http {
            None => rt.block_on(server.serve_stdio())?,
            Some(addr) => rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| RuntimeError::Request(format!("--http {addr}: {e}")))?;
                let local = listener.local_addr().map_err(|e| RuntimeError::Internal(e.to_string()))?;
                eprintln!("cordon: serving MCP on http://{local}/mcp");
                server.serve_http(listener).await
            })?,
        }
        rt.shutdown_background();
        Ok(0)
    }
}
