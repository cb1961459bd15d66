//! JSON Schema of the policy file, generated from [`crate::RawPolicy`].

/// The JSON Schema (draft 2020-12) of a cordon policy file, pretty-printed with a trailing
/// newline. `policies/schema/policy.schema.json` holds a committed copy; a test keeps it
/// current.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(crate::RawPolicy);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
