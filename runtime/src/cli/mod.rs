//! The `cordon` command line: a thin enum of subcommands, one file each.

mod backends;
mod cache;
mod call;
mod common;
mod compile;
mod mcp;
mod mxc_exec;
mod policy;
mod run;
mod tools;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use common::{ErrorFormat, PolicyArgs};

use crate::RuntimeError;

/// Run untrusted agent tools with exactly the access one JSON policy grants.
#[derive(Debug, Parser)]
#[command(name = "cordon", version, about, long_about = None)]
pub struct Cli {
    /// How errors are printed: one human line, or MXC's JSON envelope.
    #[arg(long, value_enum, default_value_t = ErrorFormat::Human, global = true)]
    pub error_format: ErrorFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// cordon's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, explain or describe policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Run a tool under a policy.
    Run(run::RunCommand),
    /// Precompile a wasm tool into the compiled-code cache.
    Compile(compile::CompileCommand),
    /// What this host offers and what each backend enforces.
    Backends(backends::BackendsCommand),
    /// List or clean the compiled-code cache (size-capped, least recently used evicted first).
    Cache(cache::CacheCommand),
    /// Print a wasm tool's exported functions with JSON Schemas of their WIT types.
    Tools(tools::ToolsCommand),
    /// Call one exported function of a wasm tool under a policy; the result as JSON.
    Call(call::CallCommand),
    /// Serve wasm tools over the Model Context Protocol (stdio), each under its policy.
    Mcp(mcp::McpCommand),
    /// Run an MXC config with MXC's `lxc-exec` command line, exit codes and output (also
    /// what cordon does when started as `lxc-exec`).
    MxcExec(mxc_exec::MxcExecCommand),
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    if mxc_exec::invoked_as_lxc_exec() {
        return mxc_exec::main();
    }
    let cli = Cli::parse();
    let format = cli.error_format;
    let result = match cli.command {
        Command::Policy(cmd) => cmd.execute(),
        Command::Run(cmd) => cmd.execute(),
        Command::Compile(cmd) => cmd.execute(),
        Command::Backends(cmd) => cmd.execute(),
        Command::Cache(cmd) => cmd.execute(),
        Command::Tools(cmd) => cmd.execute(),
        Command::Call(cmd) => cmd.execute(),
        Command::Mcp(cmd) => cmd.execute(),
        Command::MxcExec(cmd) => Ok(cmd.execute()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e, format);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints an error the way `--error-format` asks.
pub fn report(e: &RuntimeError, format: ErrorFormat) {
    let mut stderr = std::io::stderr().lock();
    let _ = match format {
        ErrorFormat::Human => writeln!(stderr, "cordon: {e}"),
        ErrorFormat::Json => writeln!(stderr, "{}", envelope(e)),
    };
}

/// MXC's error envelope, with every policy problem also listed on its own:
/// `{"error":{"code","message","problems":[{"pointer","message"}]}}`.
pub fn envelope(e: &RuntimeError) -> serde_json::Value {
    let mut error = serde_json::json!({ "code": e.mxc_code(), "message": e.to_string() });
    let problems: Vec<serde_json::Value> = match e {
        RuntimeError::Policy(errors) => {
            errors.iter().map(|p| serde_json::json!({ "pointer": p.pointer, "message": p.kind.to_string() })).collect()
        }
        RuntimeError::Plan(cordon_plan::PlanError::Unenforceable { rule, reason, .. }) => {
            vec![serde_json::json!({ "pointer": rule, "message": reason })]
        }
        RuntimeError::Grant { pointer, path, reason } => {
            vec![
                serde_json::json!({ "pointer": pointer, "message": format!("cannot grant {}: {reason}", path.display()) }),
            ]
        }
        _ => Vec::new(),
    };
    if !problems.is_empty() {
        error["problems"] = serde_json::Value::Array(problems);
    }
    serde_json::json!({ "error": error })
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
        super::mxc_exec::LxcExec::command().debug_assert();
    }
}
