//! `cordon run`: run a tool under a policy.

use std::path::PathBuf;

use clap::Args;
use cordon_plan::Backend;

use super::common::PolicyArgs;
use crate::RuntimeError;
use crate::run::{Outcome, RunRequest, run_tool};

/// Exit codes and backends, printed under `cordon run --help`.
const RUN_HELP: &str = "\
Backends (--backend):
  auto        wasm for WebAssembly files (by their bytes, whatever the name), else this host's native sandbox
  wasm        Wasmtime, in-process: WASI 0.2 components and preview-1 modules
  bubblewrap  Linux: namespaces + seccomp + landlock, network through cordon's proxy
  landlock    Linux without namespaces: landlock + seccomp + rlimits (refuses what it cannot enforce)
  seatbelt    macOS: a generated Seatbelt profile
  windows     Windows: plan only; the runner refuses every policy for now
`cordon backends` says which this host offers and what each enforces.

Exit codes:
  N     the tool's own exit code
  128+N the tool was killed by signal N
  124   process.timeout passed
  152   cordon.limits.cpuMs used up
  134   a wasm tool trapped
  125   policy or cordon error, or a rule the backend cannot enforce (nothing ran)
  126   the tool cannot run (bad wasm, not executable)
  127   the tool was not found
  2     usage error (unknown flag, missing value)

Examples:
  cordon run --policy policy.json -- tool.wasm ARGS...
  cordon run mxc-config.json
  cordon run --policy policy.json --dry-run -- python3 x.py";

/// Run a tool under a policy: `cordon run CONFIG.json`, or
/// `cordon run --policy P.json [--] TOOL ARGS…`.
#[derive(Debug, Args)]
#[command(after_help = RUN_HELP)]
pub struct RunCommand {
    /// The policy, as `--policy FILE`.
    #[arg(long = "policy", value_name = "FILE", conflicts_with_all = ["config", "config_base64"])]
    pub policy: Option<PathBuf>,
    /// The policy, as MXC's `--config FILE`.
    #[arg(long = "config", value_name = "FILE", conflicts_with = "config_base64")]
    pub config: Option<PathBuf>,
    /// The policy as base64-encoded JSON, as MXC's `--config-base64`.
    #[arg(long = "config-base64", value_name = "B64")]
    pub config_base64: Option<String>,
    /// Backend: auto (wasm for wasm files, the host's native sandbox otherwise) or one by name.
    #[arg(long, default_value = "auto", value_name = "BACKEND",
          value_parser = ["auto", "wasm", "bubblewrap", "landlock", "seatbelt", "windows"])]
    pub backend: String,
    /// Append audit events (one JSON line per denial) to FILE; overrides `cordon.audit.path`.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Print the plan and exit without running the tool.
    #[arg(long)]
    pub dry_run: bool,
    /// Print every refused access, with the rule that decided it, when the tool ends.
    #[arg(long, conflicts_with = "quiet")]
    pub debug: bool,
    /// Print nothing of cordon's own after the run (no summary of denials and limits).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Accepted for MXC compatibility; cordon reads only what it understands of `experimental`.
    #[arg(long)]
    pub experimental: bool,
    /// Accepted for MXC compatibility (`lxc-exec --allow-testing-features`): allows MXC's
    /// `builtinTestServer` proxy, which is cordon's own filtering proxy here.
    #[arg(long)]
    pub allow_testing_features: bool,
    /// Without --policy/--config/--config-base64: CONFIG, then the command (optionally after
    /// `--`). With one of them: the command and its arguments.
    /// Anything after the first word is the tool's (an unknown flag before it is a usage
    /// error, exit 2).
    #[arg(trailing_var_arg = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

impl RunCommand {
    /// Runs the tool and returns its exit code.
    ///
    /// # Errors
    /// Policy, plan or tool errors (125, 126, 127).
    pub fn execute(self) -> Result<u8, RuntimeError> {
        let RunCommand {
            policy,
            config,
            config_base64,
            backend,
            audit,
            dry_run,
            debug,
            quiet,
            experimental: _,
            allow_testing_features: _,
            mut args,
        } = self;
        let source = match (policy.or(config), config_base64) {
            (Some(f), _) => PolicyArgs { file: Some(f), config: None, config_base64: None }.source()?,
            (None, Some(b)) => PolicyArgs { file: None, config: None, config_base64: Some(b) }.source()?,
            (None, None) => {
                if args.is_empty() {
                    return Err(RuntimeError::Request(
                        "no policy given: `cordon run CONFIG.json` or `cordon run --policy P.json -- TOOL ARGS…`"
                            .into(),
                    ));
                }
                let first = args.remove(0);
                PolicyArgs { file: Some(first.into()), config: None, config_base64: None }.source()?
            }
        };
        if args.first().is_some_and(|a| a == "--") {
            args.remove(0);
        }
        let backend = match backend.as_str() {
            "auto" => None,
            name => Some(Backend::from_name(name).ok_or_else(|| {
                RuntimeError::Request(format!(
                    "unknown backend `{name}`; one of auto, wasm, bubblewrap, landlock, seatbelt, windows"
                ))
            })?),
        };
        let policy = source.load(&crate::SystemHost)?;
        let notify: crate::run::Notify = std::sync::Arc::new(|line: &str| eprintln!("{line}"));
        let out = run_tool(RunRequest {
            policy: &policy,
            command: args,
            backend,
            dry_run,
            notify: Some(notify),
            audit,
            helper: None,
            io: Default::default(),
        })?;
        Ok(print_outcome(&out, debug, quiet))
    }
}

/// One phrase for `--debug`.
fn describe_cause(cause: &crate::run::Cause) -> String {
    use crate::run::Cause;
    match cause {
        Cause::NotRun => "not run".into(),
        Cause::Exited(c) => format!("exited with {c}"),
        Cause::Signal(s) => format!("signal {s}"),
        Cause::Timeout => "stopped at process.timeout".into(),
        Cause::Cpu => "stopped at cordon.limits.cpuMs".into(),
        Cause::Memory => "stopped at cordon.limits.memoryBytes".into(),
        Cause::Trap(t) => format!("trapped: {t}"),
    }
}

/// Prints what the library returned: the plan of a dry run, cordon's notes, with `--debug`
/// every refusal and its rule, and (unless `--quiet`) the one summary line.
fn print_outcome(out: &Outcome, debug: bool, quiet: bool) -> u8 {
    if let Some(plan) = &out.plan {
        print!("{plan}");
        return 0;
    }
    for line in &out.notes {
        eprintln!("{line}");
    }
    if debug {
        for line in &out.debug {
            eprintln!("{line}");
        }
        let cpu = out.cpu.map_or_else(String::new, |c| format!(", {} ms of CPU", c.as_millis()));
        eprintln!(
            "cordon: ended: {}{cpu}, {} ms wall; exit {}",
            describe_cause(&out.cause),
            out.wall.as_millis(),
            out.code
        );
    }
    if !quiet && let Some(line) = out.summary.line(out.audit.as_deref()) {
        eprintln!("{line}");
    }
    out.code
}
