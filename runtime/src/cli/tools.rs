//! `cordon tools`: a wasm tool's exported functions with JSON Schemas from its WIT types.

use std::path::PathBuf;

use clap::Args;

use crate::RuntimeError;

/// Print every exported function of a wasm component (top level and inside exported
/// interfaces) with its input and output JSON Schemas, as JSON.
#[derive(Debug, Args)]
pub struct ToolsCommand {
    /// The tool (a wasm component).
    #[arg(value_name = "TOOL")]
    pub tool: PathBuf,
}

impl ToolsCommand {
    /// Prints the description.
    ///
    /// # Errors
    /// The tool is missing (127) or cannot be linked (126).
    pub fn execute(self) -> Result<u8, RuntimeError> {
        let v = crate::call::describe_tool(&self.tool)?;
        let text = serde_json::to_string_pretty(&v).map_err(|e| RuntimeError::Internal(e.to_string()))?;
        use std::io::Write as _;
        // A closed stdout (`| head`) ends the listing quietly.
        let _ = writeln!(std::io::stdout().lock(), "{text}");
        Ok(0)
    }
}
