//! Flags shared by several subcommands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::{PolicySource, RuntimeError};

/// Error output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormat {
    /// One human-readable line on stderr.
    Human,
    /// MXC's envelope: `{"error":{"code":…,"message":…}}`.
    Json,
}

/// Where the policy comes from: a positional file (`-` for stdin), `--config FILE`, or
/// `--config-base64 B64`, as MXC's CLI accepts them.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Policy file (an MXC config, with an optional `cordon` section); `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Policy file, as MXC's `--config`.
    #[arg(long = "config", value_name = "FILE", conflicts_with_all = ["file", "config_base64"])]
    pub config: Option<PathBuf>,
    /// Policy as base64-encoded JSON, as MXC's `--config-base64`.
    #[arg(long = "config-base64", value_name = "B64", conflicts_with = "file")]
    pub config_base64: Option<String>,
}

impl PolicyArgs {
    /// The one source given.
    ///
    /// # Errors
    /// When none is given.
    pub fn source(&self) -> Result<PolicySource, RuntimeError> {
        if let Some(b) = &self.config_base64 {
            return Ok(PolicySource::Base64(b.clone()));
        }
        match self.file.as_ref().or(self.config.as_ref()) {
            Some(f) => Ok(PolicySource::from_arg(f)),
            None => Err(RuntimeError::Request(
                "no policy given: pass FILE, `-` for stdin, --config FILE or --config-base64 B64".into(),
            )),
        }
    }
}
