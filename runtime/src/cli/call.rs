//! `cordon call`: call one typed export of a wasm tool, result as JSON on stdout.

use std::io::Read as _;
use std::path::PathBuf;

use clap::Args;

use super::common::PolicyArgs;
use crate::RuntimeError;
use crate::call::{CallOutcome, CallRequest, call_tool};
use crate::wasm::typed::{CallError, MAX_ARGS_BYTES, Returned};

const CALL_HELP: &str = "\
Arguments are one JSON object keyed by the function's WIT parameter names (`-` reads it
from stdin); `cordon tools TOOL` prints each function's input schema.

Exit codes:
  0     the function returned; its result is printed as JSON on stdout
  1     the function returned the error case of its result<_, E>; E is printed as JSON
  2     bad JSON, an unknown function, or an argument that does not match its type
  124   process.timeout passed; 152 cordon.limits.cpuMs used up; 134 the tool trapped
  125   policy or cordon error; 126 the tool cannot run (or the function takes a resource)
  127   the tool was not found

Examples:
  cordon call tool.wasm add '{\"a\": 1, \"b\": 2}'
  cordon call --policy p.json tool.wasm 'my:pkg/iface#read-file' '{\"path\": \"/data/x\"}'";

/// Call one exported function of a wasm tool under a policy; the result is printed as JSON.
#[derive(Debug, Args)]
#[command(after_help = CALL_HELP)]
pub struct CallCommand {
    /// The policy file (`-` reads stdin). Without one the tool is granted nothing.
    #[arg(long = "policy", value_name = "FILE", conflicts_with = "config_base64")]
    pub policy: Option<PathBuf>,
    /// The policy as base64-encoded JSON.
    #[arg(long = "config-base64", value_name = "B64")]
    pub config_base64: Option<String>,
    /// Append audit events (one JSON line per denial) to FILE; overrides `cordon.audit.path`.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Print every refused access, with the rule that decided it, when the call ends.
    #[arg(long)]
    pub debug: bool,
    /// The tool (a wasm component).
    #[arg(value_name = "TOOL")]
    pub tool: PathBuf,
    /// The function: `name`, or `interface#name` for a function in an exported interface.
    #[arg(value_name = "FUNC")]
    pub func: String,
    /// The arguments as a JSON object (`-`: read from stdin); none for a function without
    /// parameters.
    #[arg(value_name = "JSON")]
    pub args: Option<String>,
}

impl CallCommand {
    /// Makes the call and prints the result.
    ///
    /// # Errors
    /// As `cordon run`, and exit 2 for arguments that do not fit.
    pub fn execute(self) -> Result<u8, RuntimeError> {
        let CallCommand { policy, config_base64, audit, debug, tool, func, args } = self;
        let policy = match (policy, config_base64) {
            (Some(f), _) => {
                PolicyArgs { file: Some(f), config: None, config_base64: None }.source()?.load(&crate::SystemHost)?
            }
            (None, Some(b)) => {
                PolicyArgs { file: None, config: None, config_base64: Some(b) }.source()?.load(&crate::SystemHost)?
            }
            (None, None) => cordon_policy::Policy::default(),
        };
        let text = match args.as_deref() {
            None => "null".to_string(),
            Some("-") => {
                let mut buf = String::new();
                std::io::stdin()
                    .take(MAX_ARGS_BYTES as u64 + 1)
                    .read_to_string(&mut buf)
                    .map_err(|e| CallError::Json(format!("reading stdin: {e}")))?;
                buf
            }
            Some(s) => s.to_string(),
        };
        let args = crate::wasm::typed::parse_args(&text)?;
        let notify: crate::run::Notify = std::sync::Arc::new(|line: &str| eprintln!("{line}"));
        let out = call_tool(CallRequest { policy: &policy, tool: &tool, func, args, notify: Some(notify), audit })?;
        Ok(print_outcome(&out, debug))
    }
}

fn print_outcome(out: &CallOutcome, debug: bool) -> u8 {
    for line in &out.notes {
        eprintln!("{line}");
    }
    if debug {
        for line in &out.debug {
            eprintln!("{line}");
        }
    }
    if let Some(line) = out.summary.line(out.audit.as_deref()) {
        eprintln!("{line}");
    }
    match &out.returned {
        Some(Returned::Ok(v) | Returned::Err(v)) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout().lock(), "{v}");
        }
        None => {}
    }
    out.code
}
