//! `cordon compile`: precompile a tool into the cache.

use std::path::PathBuf;

use clap::Args;

use crate::RuntimeError;
use crate::api::Runtime;
use crate::wasm::Source;

/// Compile a wasm tool into the compiled-code cache, so later runs map it.
#[derive(Debug, Args)]
pub struct CompileCommand {
    /// The tool (.wasm, a component or a preview-1 module).
    #[arg(value_name = "TOOL")]
    pub tool: PathBuf,
}

impl CompileCommand {
    /// Compiles and reports where the entry lives.
    ///
    /// # Errors
    /// The tool is missing or not wasm (126/127), or no cache directory is usable (125).
    pub fn execute(self) -> Result<u8, RuntimeError> {
        let runtime = Runtime::new()?;
        let Some(cache) = runtime.cache() else {
            return Err(RuntimeError::Internal(format!(
                "no usable compiled-code cache: {}",
                runtime.cache_problem().unwrap_or("set CORDON_CACHE_DIR or HOME")
            )));
        };
        let dir = cache.dir().display().to_string();
        let tool = runtime.load_file(&self.tool)?;
        match tool.source() {
            Source::Cached => println!("{}: already in the cache ({dir})", self.tool.display()),
            Source::Compiled => println!("{}: compiled into the cache ({dir})", self.tool.display()),
        }
        Ok(0)
    }
}
