//! `cordon mxc-exec …`, and cordon installed as `lxc-exec`: MXC's executor command line,
//! exit codes and output, so scripts written for MXC's `lxc-exec` run unchanged.
//!
//! What MXC's `lxc-exec` (0.8 and 1.0.1) does, and this module does the same:
//! - the config comes from `--config-base64`, else `--config`, else `CONFIG_PATH`; a word
//!   after it is a usage error (exit 2): it never replaces `process.commandLine`;
//! - a config that does not parse: `Request error` and `Configuration parse error: …` on
//!   stderr, exit 1; a containment with no backend here: `error: …`, exit 1;
//! - a policy the backend cannot enforce, or a run cordon cannot start: the reason, then
//!   `{"error":{"code":"backend_error","message":…}}` on stderr, exit 255; the same for
//!   `process.timeout` (`script timed out after Nms`);
//! - otherwise the tool's own output and exit code;
//! - `--dry-run` prints MXC's four request lines and `Dry run completed. Result: validation
//!   passed` (or `failed: REASON`, exit 255) on stdout.
//!
//! `cordon run` keeps cordon's own exit codes (125, 124, …); only this entry point speaks
//! MXC's.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser};
use cordon_plan::Backend;
use cordon_policy::{Containment, Policy};

use crate::run::{Cause, RunRequest, run_tool};
use crate::{PolicySource, RuntimeError};

/// MXC's exit code for a request that does not parse, a missing config, an unknown backend.
const REQUEST_ERROR: u8 = 1;
/// MXC's exit code for a backend error: a refused policy, a run that could not start, a timeout.
const BACKEND_ERROR: u8 = 255;

/// cordon as MXC's `lxc-exec`, when installed (or linked) under that name.
#[derive(Debug, Parser)]
#[command(name = "lxc-exec", about = "Linux Container Executor (cordon, with MXC's command line)")]
pub struct LxcExec {
    /// The command line.
    #[command(flatten)]
    pub args: MxcExecCommand,
}

/// Run an MXC config with MXC's `lxc-exec` command line, exit codes and output.
#[derive(Debug, Args)]
pub struct MxcExecCommand {
    /// Path to config JSON file (positional).
    #[arg(value_name = "CONFIG_PATH")]
    pub config_path: Option<String>,
    /// Path to config JSON file.
    #[arg(long = "config")]
    pub config: Option<String>,
    /// Base64-encoded JSON config.
    #[arg(long = "config-base64")]
    pub config_base64: Option<String>,
    /// Print the request, the run's end and cordon's refusal details.
    #[arg(long)]
    pub debug: bool,
    /// MXC's LXC container deletion: refused (cordon keeps no containers).
    #[arg(long)]
    pub delete: bool,
    /// MXC's LXC container name for --delete: refused (cordon keeps no containers).
    #[arg(long = "containername")]
    pub containername: Option<String>,
    /// Accepted: cordon has no experimental backends to enable.
    #[arg(long)]
    pub experimental: bool,
    /// Accepted (MXC 0.8): MXC's `builtinTestServer` proxy is cordon's own filtering proxy.
    #[arg(long = "allow-testing-features")]
    pub allow_testing_features: bool,
    /// Print the backends this host can run, as MXC's JSON, and exit.
    #[arg(long = "available-backends")]
    pub available_backends: bool,
    /// Parse, validate and plan the config, then exit without running it.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Append the diagnostic log (request, end of the run, errors) to this file.
    #[arg(long = "log-file")]
    pub log_file: Option<PathBuf>,
    /// MXC's Hyperlight snapshot install: refused (cordon has no Hyperlight backend).
    #[arg(long = "setup-hyperlight", num_args = 0..=1, default_missing_value = "agent", value_name = "RUNTIMES")]
    pub setup_hyperlight: Option<String>,
    /// With --setup-hyperlight: refused with it.
    #[arg(long, requires = "setup_hyperlight")]
    pub force: bool,
}

/// True when this process was started under the name `lxc-exec`.
pub fn invoked_as_lxc_exec() -> bool {
    std::env::args_os().next().map(PathBuf::from).and_then(|p| p.file_name().map(|n| n == "lxc-exec")).unwrap_or(false)
}

/// `lxc-exec ARGS…`: parses MXC's command line (usage errors exit 2, as clap does for MXC)
/// and runs it.
pub fn main() -> ExitCode {
    ExitCode::from(LxcExec::parse().args.execute())
}

/// MXC's diagnostic log: kept in memory, printed where MXC prints it, appended to
/// `--log-file` through a descriptor opened before the tool runs (so a tool that can write
/// near it cannot swap in a link for cordon to follow afterwards).
struct Log {
    lines: String,
    debug: bool,
    file: Option<std::fs::File>,
}

impl Log {
    fn line(&mut self, text: &str) {
        let _ = writeln!(self.lines, "{text}");
        if self.debug {
            println!("{text}");
        }
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{text}");
        }
    }
}

fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    {
        // A link at the log path is refused, never followed.
        use std::os::unix::fs::OpenOptionsExt as _;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path)
}

impl MxcExecCommand {
    /// Runs the command and returns MXC's exit code for what happened.
    pub fn execute(self) -> u8 {
        let MxcExecCommand {
            config_path,
            config,
            config_base64,
            debug,
            delete,
            containername,
            experimental: _,           // cordon has no experimental backends
            allow_testing_features: _, // builtinTestServer is cordon's own proxy on every run
            available_backends,
            dry_run,
            log_file,
            setup_hyperlight,
            force: _, // only with --setup-hyperlight, refused below
        } = self;
        if setup_hyperlight.is_some() {
            eprintln!("Error: --setup-hyperlight: cordon has no Hyperlight backend; nothing to install");
            return REQUEST_ERROR;
        }
        if available_backends {
            println!("{}", available_backends_json());
            return 0;
        }
        if delete || containername.is_some() {
            eprintln!(
                "Error: --delete/--containername delete MXC's LXC containers; cordon keeps no containers (every sandbox ends with its tool), so there is nothing to delete"
            );
            return REQUEST_ERROR;
        }
        let source = match (config_base64, config, config_path) {
            (Some(b64), _, _) => PolicySource::Base64(b64),
            (None, Some(path), _) | (None, None, Some(path)) => PolicySource::from_arg(std::path::Path::new(&path)),
            (None, None, None) => {
                eprintln!("Error: No config provided. Use a positional path, --config, or --config-base64");
                return REQUEST_ERROR;
            }
        };
        let mut log = Log { lines: String::new(), debug, file: None };
        if let Some(path) = &log_file {
            match open_log(path) {
                Ok(f) => log.file = Some(f),
                Err(e) => eprintln!("Warning: could not open log file '{}': {e}", path.display()),
            }
        }
        let policy = match load(&source) {
            Ok(p) => p,
            Err(message) => {
                // On stderr whatever --debug says, as MXC prints it.
                log.debug = false;
                log.line(&format!("Configuration parse error: {message}"));
                eprint!("Request error\n{}", log.lines);
                return REQUEST_ERROR;
            }
        };
        let command_line = policy.process.command_line.clone().unwrap_or_default();
        log.line(&format!("Script code length: {}", command_line.len()));
        log.line(&format!(
            "Working directory: {}",
            policy.process.cwd.as_ref().map(|c| c.display().to_string()).unwrap_or_default()
        ));
        log.line(&format!("Script timeout: {}", policy.process.timeout.map_or(0, |t| t.as_millis())));
        log.line(&format!("Container name: {}", policy.backends.container_id.clone().unwrap_or_default()));
        if let Some(c) = policy.containment.filter(|c| missing_backend(*c)) {
            let message = format!(
                "the '{}' backend is not available in cordon; backends here: {}",
                c.as_str(),
                mxc_backends().join(", ")
            );
            eprintln!("error: {message}");
            if !debug {
                eprint!("{}", log.lines);
            }
            return REQUEST_ERROR;
        }
        let started = std::time::Instant::now();
        let notify: crate::run::Notify = std::sync::Arc::new(move |line: &str| {
            if debug {
                eprintln!("{line}");
            }
        });
        let result = run_tool(RunRequest {
            policy: &policy,
            command: Vec::new(),
            backend: None,
            dry_run,
            notify: Some(notify),
            audit: None,
            helper: None,
            io: Default::default(),
        });
        log.line(&format!("Runner completed in {}ms", started.elapsed().as_millis()));
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let message = e.to_string();
                if matches!(e, RuntimeError::Unavailable(_)) {
                    // As MXC words a backend this host lacks (`containment: seatbelt` on Linux).
                    eprintln!("error: {message}");
                    return REQUEST_ERROR;
                }
                if dry_run {
                    log.line(&format!("Dry run completed. Result: validation failed: {message}"));
                    if !debug {
                        print!("{}", log.lines);
                    }
                    return BACKEND_ERROR;
                }
                log.line(&format!("Error: {message}"));
                eprintln!("{message}");
                eprintln!("{}", backend_error(&message));
                return BACKEND_ERROR;
            }
        };
        if dry_run {
            if debug && let Some(plan) = &out.plan {
                eprint!("{plan}");
            }
            log.line("Dry run completed. Result: validation passed");
            if !debug {
                print!("{}", log.lines);
            }
            return 0;
        }
        if debug {
            for line in out.notes.iter().chain(&out.debug) {
                eprintln!("{line}");
            }
            if let Some(line) = out.summary.line(out.audit.as_deref()) {
                eprintln!("{line}");
            }
        }
        let timed_out = matches!(out.cause, Cause::Timeout);
        let code = if timed_out { BACKEND_ERROR } else { out.code };
        log.line(&format!("Exit code: {code} (0x{:08X})", u32::from(code)));
        if timed_out {
            let ms = policy.process.timeout.map_or(0, |t| t.as_millis());
            let message = format!("script timed out after {ms}ms");
            log.line(&format!("Error: {message}"));
            eprintln!("{}", backend_error(&message));
        }
        let _ = std::io::stdout().flush();
        code
    }
}

/// Reads and validates the config as MXC's executor needs it: with a command to run.
fn load(source: &PolicySource) -> Result<Policy, String> {
    let policy = source.load(&crate::SystemHost).map_err(|e| match e {
        RuntimeError::ReadPolicy { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            format!("Configuration file not found: {}", path.display())
        }
        // One problem on one line, as MXC words its parse errors; several, one per line.
        RuntimeError::Policy(errors) if errors.len() == 1 => errors.0[0].to_string(),
        other => other.to_string(),
    })?;
    policy.check_for_mxc_executor().map_err(|errors| match errors.0.as_slice() {
        [one] => one.to_string(),
        _ => errors.to_string(),
    })?;
    Ok(policy)
}

/// MXC's envelope for a backend error.
fn backend_error(message: &str) -> String {
    serde_json::json!({ "error": { "code": "backend_error", "message": message } }).to_string()
}

/// Containments MXC has and cordon has no backend for.
fn missing_backend(c: Containment) -> bool {
    match c {
        Containment::Process | Containment::Bubblewrap | Containment::Seatbelt | Containment::ProcessContainer => false,
        Containment::Lxc
        | Containment::IsolationSession
        | Containment::Wslc
        | Containment::Vm
        | Containment::WindowsSandbox
        | Containment::Microvm
        | Containment::Hyperlight => true,
    }
}

/// The backends of this host under MXC's names (cordon's landlock and wasm backends have
/// none; its Windows runner refuses every policy for now, so it is not offered).
fn mxc_backends() -> Vec<&'static str> {
    crate::native::host_backends()
        .into_iter()
        .filter_map(|b| match b {
            Backend::Bubblewrap => Some("bubblewrap"),
            Backend::Seatbelt => Some("seatbelt"),
            Backend::Wasm | Backend::Landlock | Backend::Windows => None,
        })
        .collect()
}

/// `--available-backends`: MXC's JSON, `[{"backend": NAME, "capabilities": [...]}]`. cordon's
/// bubblewrap sends every connection to `runtimeConfig.networkProxy` and nowhere else, which
/// is what MXC's `proxyEnforcement` says.
fn available_backends_json() -> String {
    let list: Vec<serde_json::Value> = mxc_backends()
        .into_iter()
        .map(|b| match b {
            "bubblewrap" => serde_json::json!({ "backend": b, "capabilities": ["proxyEnforcement"] }),
            _ => serde_json::json!({ "backend": b }),
        })
        .collect();
    serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into())
}
