//! Where a policy comes from: a file, standard input, or base64 text.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use cordon_policy::{HostEnv, Policy};

use crate::RuntimeError;

/// A policy document's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A file path.
    File(PathBuf),
    /// `-`: standard input.
    Stdin,
    /// `--config-base64`.
    Base64(String),
}

impl PolicySource {
    /// `-` means standard input; anything else is a file.
    pub fn from_arg(arg: &Path) -> Self {
        if arg == Path::new("-") { PolicySource::Stdin } else { PolicySource::File(arg.to_path_buf()) }
    }

    /// Reads the document text.
    ///
    /// # Errors
    /// The file or stdin cannot be read, or base64 does not decode to UTF-8.
    pub fn read(&self) -> Result<String, RuntimeError> {
        match self {
            PolicySource::File(path) => {
                std::fs::read_to_string(path).map_err(|source| RuntimeError::ReadPolicy { path: path.clone(), source })
            }
            PolicySource::Stdin => {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|source| RuntimeError::ReadPolicy { path: PathBuf::from("-"), source })?;
                Ok(s)
            }
            PolicySource::Base64(b64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| RuntimeError::Base64(e.to_string()))?;
                String::from_utf8(bytes).map_err(|e| RuntimeError::Base64(e.to_string()))
            }
        }
    }

    /// Reads, parses, validates and normalises the policy.
    ///
    /// # Errors
    /// As [`PolicySource::read`], or every problem in the policy.
    pub fn load(&self, host: &dyn HostEnv) -> Result<Policy, RuntimeError> {
        Ok(Policy::parse(&self.read()?, host)?)
    }

    /// How to name this source in messages.
    pub fn describe(&self) -> String {
        match self {
            PolicySource::File(p) => p.display().to_string(),
            PolicySource::Stdin => "<stdin>".into(),
            PolicySource::Base64(_) => "<--config-base64>".into(),
        }
    }
}
