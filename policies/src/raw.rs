//! `RawPolicy`: the exact JSON shape of an MXC config plus cordon's own section.
//!
//! These types know only JSON. They refuse unknown fields and accept `null` wherever MXC's
//! schema does, but they check nothing else: ranges, paths, CIDRs and cross-field rules are
//! checked by [`crate::validate`], which turns a `RawPolicy` into a [`crate::Policy`].
//! Numbers that have a range (ports, timeouts, limits) are read as wide integers here so
//! that validation can name every out-of-range value with its JSON pointer at once.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A policy file as written: an MXC config (schema 0.6 to 0.8, 0.9.0-alpha, 1.0.0 or
/// 1.1.0-alpha) with an optional `cordon` section. One shape holds every version's fields;
/// validation refuses a field the config's version does not have, with MXC's migration hint
/// where a newer version removed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "cordon policy (MXC config 0.6-0.8, 0.9.0-alpha, 1.0.0, 1.1.0-alpha, with a cordon section)")]
pub struct RawPolicy {
    /// Optional JSON Schema reference for editors. Accepted and ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Optional free-form annotation. Accepted and ignored.
    #[serde(rename = "_comment", default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<Value>,
    /// MXC schema version: 0.6 to 0.8 compared by major.minor (for example `0.8.0-alpha`), or
    /// exactly `0.9.0-alpha`, `1.0.0` or `1.1.0-alpha`; absent means a pre-0.8 config (legacy
    /// network shape only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Externally assigned container identifier (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// Requested backend: `process`, `bubblewrap`, `seatbelt`, `processcontainer`, `lxc`,
    /// `isolation_session`, `wslc`, `vm`, `windows_sandbox`, `microvm`, `hyperlight` (which
    /// depends on the version), and the aliases `macos_sandbox`, `appcontainer` (before 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containment: Option<String>,
    /// MXC container lifecycle settings (informational for cordon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<RawLifecycle>,
    /// The process to run and its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<RawProcess>,
    /// Filesystem grants and denials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<RawFilesystem>,
    /// AppContainer DACL-mutation fallback (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<RawFallback>,
    /// Network policy: legacy shape or 0.8 directional shape, never both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<RawNetwork>,
    /// Runtime values supplied beside the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config: Option<RawRuntimeConfig>,
    /// UI isolation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<RawUi>,
    /// macOS Seatbelt options (alias `macos_sandbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seatbelt: Option<RawSeatbelt>,
    /// Alias of `seatbelt`; giving both is an error.
    #[serde(rename = "macos_sandbox", default, skip_serializing_if = "Option::is_none")]
    pub macos_sandbox: Option<RawSeatbelt>,
    /// Windows ProcessContainer options (alias `appContainer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_container: Option<RawProcessContainer>,
    /// Alias of `processContainer`; giving both is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_container: Option<RawProcessContainer>,
    /// LXC options; `distribution` and `release` go together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lxc: Option<RawLxc>,
    /// Experimental options (schema 0.8 only; removed in 0.9). Open; ignored unless cordon
    /// understands them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experimental: Option<serde_json::Map<String, Value>>,
    /// Telemetry settings (0.9 and later). Read and ignored: cordon sends no telemetry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<RawTelemetry>,
    /// WSLC backend settings (0.9 and later); cordon has no WSLC backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wslc: Option<RawWslc>,
    /// Hyperlight backend settings (1.1.0-alpha); cordon has no Hyperlight backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyperlight: Option<RawHyperlight>,
    /// MXC's placeholder development feature (1.1.0-alpha). Read and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<RawTest>,
    /// Windows Sandbox compatibility settings (1.1.0-alpha); cordon has no Windows Sandbox
    /// backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_sandbox: Option<RawWindowsSandbox>,
    /// State-aware request field; refused in one-shot files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Value>,
    /// State-aware request field; refused in one-shot files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_id: Option<Value>,
    /// cordon's own section: domains, limits, env inheritance, audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cordon: Option<RawCordon>,
}

/// `lifecycle`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLifecycle {
    /// Destroy the container when the process exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_on_exit: Option<bool>,
    /// Preserve the applied policy after exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_policy: Option<bool>,
}

/// `process`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProcess {
    /// Command line. On the native path it runs under `/bin/sh -c`; on the wasm path its first
    /// word names the wasm file and shell syntax is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    /// Working directory (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Environment as `KEY=VALUE` strings. Before 0.9 they are added to the backend's default
    /// variables; from 0.9, omitted means the backend's default environment and supplied
    /// (even `[]`) means exactly these, unless `inheritDefaultEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// 0.9 and later: layer `env` on top of the backend's default environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit_default_env: Option<bool>,
    /// Wall-clock timeout in milliseconds (0 to 4294967295; 0 means none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// `filesystem`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFilesystem {
    /// Paths the tool can read but not write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_paths: Option<Vec<String>>,
    /// Paths the tool can read and write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readwrite_paths: Option<Vec<String>>,
    /// Paths the tool can neither read nor write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_paths: Option<Vec<String>>,
}

/// `fallback`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFallback {
    /// Allow the Windows runner to mutate DACLs as a fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_dacl_mutation: Option<bool>,
}

/// `network`: the legacy fields and the 0.8 directional fields share one object in JSON;
/// validation refuses a mix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNetwork {
    /// Legacy: `allow` or `block` when no host rule matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_policy: Option<RawLegacyDefault>,
    /// Legacy: how MXC enforces the policy (`capabilities`, `firewall`, `both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement_mode: Option<RawEnforcementMode>,
    /// Legacy: hosts (names, addresses or CIDRs) explicitly allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Legacy: hosts explicitly blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_hosts: Option<Vec<String>>,
    /// Legacy: allow local-network addresses (loopback, private, link-local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_local_network: Option<bool>,
    /// Legacy: proxy configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<RawProxy>,
    /// 0.8: outbound rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<RawEgress>,
    /// 0.8: inbound rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<RawIngress>,
}

/// Legacy `defaultPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawLegacyDefault {
    /// Allow traffic no rule names.
    Allow,
    /// Block traffic no rule names.
    Block,
}

/// Legacy `enforcementMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawEnforcementMode {
    /// Per-process capability filtering.
    Capabilities,
    /// Host firewall rules.
    Firewall,
    /// Both.
    Both,
}

/// Legacy `proxy`: exactly one of the three forms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProxy {
    /// An external proxy on this loopback port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localhost: Option<i64>,
    /// MXC's built-in test proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin_test_server: Option<bool>,
    /// Proxy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `allow`/`deny` action of the directional shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawAction {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// `network.egress` (0.8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEgress {
    /// Action when no rule matches (default `deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<RawAction>,
    /// Allow rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<RawNetRule>>,
    /// Deny rules; deny beats allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<RawNetRule>>,
}

/// `network.ingress` (0.8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIngress {
    /// Default action for inbound traffic (default `deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<RawAction>,
    /// Host-loopback connectivity in both directions (default `deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_loopback: Option<RawAction>,
}

/// One egress rule: destinations and ports; an omitted list matches everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNetRule {
    /// Destination CIDRs; omitted matches every address, empty is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<RawPeer>>,
    /// Protocols and ports; omitted matches all, empty is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<RawPort>>,
}

/// A CIDR with optional exclusions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPeer {
    /// IPv4 or IPv6 CIDR with no host bits set.
    pub cidr: String,
    /// CIDRs inside `cidr` that the rule does not cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except: Option<Vec<String>>,
}

/// A protocol and destination-port selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPort {
    /// `tcp`, `udp`, `icmp` or `any` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<RawProtocol>,
    /// Destination port, 1 to 65535; omitted matches every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Inclusive end of a port range; needs `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
}

/// Transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (no ports).
    Icmp,
    /// Any protocol.
    Any,
}

/// `runtimeConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRuntimeConfig {
    /// A user's own HTTP(S) proxy on loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_proxy: Option<String>,
}

/// `ui`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawUi {
    /// Disable all UI access (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
    /// Clipboard access: `none`, `read`, `write`, `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipboard: Option<RawClipboard>,
    /// Allow UI injection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injection: Option<bool>,
}

/// Clipboard access level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawClipboard {
    /// No clipboard.
    None,
    /// Read only.
    Read,
    /// Write only.
    Write,
    /// Read and write.
    All,
}

/// `seatbelt` / `macos_sandbox`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSeatbelt {
    /// Replace the generated profile entirely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_override: Option<String>,
    /// Allow WindowServer access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gui_access: Option<bool>,
    /// `exec` or `open` (before 0.9; removed in 0.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_method: Option<RawLaunchMethod>,
    /// Attach a nested pty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested_pty: Option<bool>,
    /// Allow Keychain access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keychain_access: Option<bool>,
    /// Extra Mach services the tool may look up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_mach_lookups: Option<Vec<String>>,
}

/// Seatbelt launch method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawLaunchMethod {
    /// `sandbox_init` then exec.
    Exec,
    /// Through LaunchServices.
    Open,
}

/// `processContainer` / `appContainer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProcessContainer {
    /// Enforce least-privilege mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub least_privilege: Option<bool>,
    /// AppContainer learning mode (deny and record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_mode: Option<bool>,
    /// AppContainer capabilities, one name per entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// Denial capture settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_denials: Option<RawCaptureDenials>,
    /// ProcessContainer filesystem settings (0.9 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<RawProcessContainerFilesystem>,
    /// Container network options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<RawProcessContainerNetwork>,
    /// UI isolation options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<RawProcessContainerUi>,
}

/// `processContainer.captureDenials`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCaptureDenials {
    /// `block` (default) or `allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RawCaptureMode>,
    /// Where the denials file is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
    /// Keep the ETL trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_etl: Option<bool>,
}

/// Denial capture mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawCaptureMode {
    /// Deny and record.
    Block,
    /// Allow and record.
    Allow,
}

/// `processContainer.filesystem` (0.9 and later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProcessContainerFilesystem {
    /// Paths that may be queried or listed without granting reads of file contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enumerate_paths: Option<Vec<String>>,
}

/// `processContainer.network`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProcessContainerNetwork {
    /// Package family or profile allowed to host the loopback proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_proxy_peer: Option<String>,
}

/// `processContainer.ui`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProcessContainerUi {
    /// `desktop`, `handles`, `atoms` or `container`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<RawUiIsolation>,
    /// Desktop system control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_system_control: Option<bool>,
    /// System settings access level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_settings: Option<String>,
    /// Input method editor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ime: Option<bool>,
}

/// UI isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawUiIsolation {
    /// Separate desktop.
    Desktop,
    /// Handle isolation.
    Handles,
    /// Atom isolation.
    Atoms,
    /// Full container.
    Container,
}

/// `lxc`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLxc {
    /// Distribution image, for example `alpine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
    /// Distribution release, for example `3.23`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

/// `telemetry` (0.9 and later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTelemetry {
    /// Whether MXC's telemetry is enabled. cordon sends none either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `wslc` (0.9 and later): one-shot WSLC backend settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWslc {
    /// Requested virtual CPU count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    /// GPU passthrough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<bool>,
    /// Container image reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Local image tarball to import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tar_path: Option<String>,
    /// Memory limit in megabytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<i64>,
    /// Host-to-container TCP port mappings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<RawPortMapping>>,
    /// Storage path override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_path: Option<String>,
    /// Target operating system inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_os: Option<String>,
}

/// One `wslc.portMappings` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPortMapping {
    /// TCP port inside the container.
    pub container_port: i64,
    /// `tcp` (the only transport).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<RawTransport>,
    /// TCP port on the Windows host.
    pub windows_port: i64,
}

/// `wslc.portMappings[].protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawTransport {
    /// TCP.
    Tcp,
}

/// `hyperlight` (1.1.0-alpha).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHyperlight {
    /// The guest runtime `process.commandLine` is source for (MXC's default `agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RawHyperlightRuntime>,
}

/// `hyperlight.runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RawHyperlightRuntime {
    /// `agent`.
    #[serde(rename = "agent")]
    Agent,
    /// `python`.
    #[serde(rename = "python")]
    Python,
    /// `python-shell`.
    #[serde(rename = "python-shell")]
    PythonShell,
    /// `node`.
    #[serde(rename = "node")]
    Node,
    /// `bash`.
    #[serde(rename = "bash")]
    Bash,
    /// `dotnet-jit`.
    #[serde(rename = "dotnet-jit")]
    DotnetJit,
}

/// `test` (1.1.0-alpha): MXC's placeholder development feature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTest {
    /// The feature's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `windowsSandbox` (1.1.0-alpha): one-shot Windows Sandbox compatibility settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWindowsSandbox {
    /// Daemon named-pipe override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_pipe_name: Option<String>,
    /// Legacy idle timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<i64>,
    /// Idle timeout before teardown, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<i64>,
}

/// The `cordon` section: what MXC lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCordon {
    /// Domain allow and deny lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<RawCordonNetwork>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RawLimits>,
    /// Host environment variables passed through by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<RawCordonEnv>,
    /// Audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<RawAudit>,
}

/// `cordon.network`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCordonNetwork {
    /// Domains the tool may resolve and reach (`*.` matches one or more labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_domains: Option<Vec<String>>,
    /// Domains the tool may never resolve or reach; deny beats allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_domains: Option<Vec<String>>,
}

/// `cordon.limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLimits {
    /// Memory ceiling in bytes (wasm linear memory and tables; native address space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// CPU time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Bytes of stdout plus stderr passed through before output is cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// Native processes the tool may have at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
}

/// `cordon.env`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCordonEnv {
    /// Names of host variables passed through when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<Vec<String>>,
}

/// `cordon.audit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAudit {
    /// File that receives one JSON line per event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Also record grants used, not only denials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allows: Option<bool>,
}
