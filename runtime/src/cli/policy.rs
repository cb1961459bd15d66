//! `cordon policy check|explain|schema`.

use clap::Subcommand;
use cordon_plan::Backend;

use super::common::PolicyArgs;
use crate::{RuntimeError, SystemHost};

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy; list every problem with its JSON pointer (exit 125) or say it is valid.
    Check(PolicyArgs),
    /// Print the effective grants, network posture, env and limits, and a backend's plan.
    Explain {
        /// The policy.
        #[command(flatten)]
        policy: PolicyArgs,
        /// Also print this backend's plan.
        #[arg(long, value_name = "BACKEND")]
        backend: Option<String>,
    },
    /// Print the JSON Schema of policy files.
    Schema,
}

impl PolicyCommand {
    /// Runs the subcommand.
    ///
    /// # Errors
    /// The policy is invalid or unreadable, or the backend cannot plan it.
    pub fn execute(self) -> Result<u8, RuntimeError> {
        match self {
            PolicyCommand::Check(args) => {
                let source = args.source()?;
                let policy = source.load(&SystemHost)?;
                let version = policy
                    .version
                    .as_ref()
                    .map_or("no version (pre-0.8)".to_string(), |v| format!("MXC schema {}.{}", v.major, v.minor));
                println!(
                    "{}: valid ({version}; {} filesystem rule(s), {} network rule(s))",
                    source.describe(),
                    policy.filesystem.rules().len(),
                    policy.network.egress.allow.len()
                        + policy.network.egress.deny.len()
                        + policy.network.domains.allow.len()
                        + policy.network.domains.deny.len()
                );
                Ok(0)
            }
            PolicyCommand::Explain { policy, backend } => {
                let policy = policy.source()?.load(&SystemHost)?;
                let plan = match backend {
                    Some(name) => {
                        let backend = Backend::from_name(&name).ok_or_else(|| {
                            RuntimeError::Request(format!(
                                "unknown backend `{name}`; one of wasm, bubblewrap, landlock, seatbelt, windows"
                            ))
                        })?;
                        Some(cordon_plan::plan(&policy, backend, &crate::host_env::SystemFacts)?)
                    }
                    None => None,
                };
                print!("{}", crate::explain::explain(&policy, plan.as_ref()));
                Ok(0)
            }
            PolicyCommand::Schema => {
                print!("{}", cordon_policy::schema_json());
                Ok(0)
            }
        }
    }
}
