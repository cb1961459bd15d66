//! The validated [`Policy`]: meaning only, no JSON shape. Every backend consumes this.

use std::path::PathBuf;
use std::time::Duration;

use crate::fs::FsRules;
use crate::net::{DomainPattern, IpNet, Protocol};

/// A validated, normalised policy. Build one with [`Policy::parse`] or [`Policy::from_raw`].
///
/// `Policy::default()` grants nothing:
/// - no filesystem paths,
/// - no network (egress default deny, ingress deny, no domains),
/// - no environment variables,
/// - no process command, no timeout, no limits beyond the backend's own,
/// - no audit log, UI disabled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    /// The MXC schema version, when given.
    pub version: Option<SchemaVersion>,
    /// The backend the config asks for, when given.
    pub containment: Option<Containment>,
    /// The process to run.
    pub process: Process,
    /// Effective filesystem rules.
    pub filesystem: FsRules,
    /// Network posture.
    pub network: Network,
    /// Environment passed to the tool.
    pub env: Env,
    /// Resource limits.
    pub limits: Limits,
    /// Audit log settings.
    pub audit: Audit,
    /// UI rules (used by desktop backends; nothing to do for headless tools).
    pub ui: Ui,
    /// MXC's backend and container sections, typed. Every planner reads each of them and
    /// enforces or refuses it (docs/policy.md, "MXC backend sections").
    pub backends: BackendOptions,
}

/// MXC schema version: 0.6 to 0.8 compared by major.minor, and the exact strings
/// `0.9.0-alpha` (0.9), `1.0.0` (1.0) and `1.1.0-alpha` (1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// As written.
    pub text: String,
}

impl SchemaVersion {
    /// True for 0.8 and later.
    pub fn has_directional_network(&self) -> bool {
        self.at_least(0, 8)
    }

    /// True from `major.minor` on.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// True for the contract line that begins at 0.9.0-alpha (MXC 1.0.1 reads only this
    /// line): no legacy network fields, no `experimental`, `process.env` taken verbatim.
    pub fn is_contract_line(&self) -> bool {
        self.at_least(0, 9)
    }
}

/// The backend an MXC config asks for. Those cordon has no backend for are read (as MXC's
/// parser reads them) and refused when a run asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Containment {
    /// `process`: the host's native process sandbox.
    Process,
    /// `bubblewrap`.
    Bubblewrap,
    /// `seatbelt` or `macos_sandbox`.
    Seatbelt,
    /// `processcontainer` or `appcontainer`.
    ProcessContainer,
    /// `lxc` (cordon has no LXC backend; refused at run time).
    Lxc,
    /// `isolation_session` (Windows; no cordon backend).
    #[serde(rename = "isolation_session")]
    IsolationSession,
    /// `wslc` (Windows WSL containers; no cordon backend).
    Wslc,
    /// `vm` (no cordon backend).
    Vm,
    /// `windows_sandbox` (no cordon backend).
    #[serde(rename = "windows_sandbox")]
    WindowsSandbox,
    /// `microvm` (no cordon backend).
    Microvm,
    /// `hyperlight` (no cordon backend).
    Hyperlight,
}

impl Containment {
    /// The name as MXC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Containment::Process => "process",
            Containment::Bubblewrap => "bubblewrap",
            Containment::Seatbelt => "seatbelt",
            Containment::ProcessContainer => "processcontainer",
            Containment::Lxc => "lxc",
            Containment::IsolationSession => "isolation_session",
            Containment::Wslc => "wslc",
            Containment::Vm => "vm",
            Containment::WindowsSandbox => "windows_sandbox",
            Containment::Microvm => "microvm",
            Containment::Hyperlight => "hyperlight",
        }
    }
}

/// `process`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Process {
    /// The command line, if the policy names one.
    pub command_line: Option<String>,
    /// Working directory inside the sandbox.
    pub cwd: Option<PathBuf>,
    /// Wall-clock timeout; `None` means no timeout.
    pub timeout: Option<Duration>,
}

/// Environment given to the tool. By default it is empty but for the backend's own
/// defaults (`PATH` on the native backends).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Env {
    /// `process.env`, in order, as (name, value).
    pub vars: Vec<(String, String)>,
    /// `cordon.env.inherit`: host variables passed through when set.
    pub inherit: Vec<String>,
    /// `process.env` is the whole environment: the backend adds none of its defaults
    /// (schema 0.9 and later, `env` given, `inheritDefaultEnv` not set). `cordon.env.inherit`
    /// still applies: it is a grant written in the same policy.
    pub exact: bool,
}

/// `cordon.limits`. By default nothing beyond the backend's own ceilings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Limits {
    /// Memory ceiling in bytes.
    pub memory_bytes: Option<u64>,
    /// CPU time.
    pub cpu: Option<Duration>,
    /// stdout plus stderr bytes passed through before output is cut.
    pub max_output_bytes: Option<u64>,
    /// Processes at once (native backends).
    pub max_processes: Option<u64>,
}

/// `cordon.audit`. By default no audit log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audit {
    /// Where events go.
    pub path: Option<PathBuf>,
    /// Also record grants used.
    pub allows: bool,
}

/// `ui`. By default UI access is disabled.
#[derive(Debug, Clone, PartialEq)]
pub struct Ui {
    /// All UI access disabled.
    pub disable: bool,
    /// Clipboard: `none`, `read`, `write` or `all`.
    pub clipboard: String,
    /// UI injection allowed.
    pub injection: bool,
}

impl Default for Ui {
    fn default() -> Self {
        Self { disable: true, clipboard: "none".into(), injection: false }
    }
}

/// MXC's backend and container sections, typed. `None` means the section (or field) is absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackendOptions {
    /// `containerId`: an external label.
    pub container_id: Option<String>,
    /// `lifecycle`.
    pub lifecycle: Lifecycle,
    /// `fallback`.
    pub fallback: Fallback,
    /// `seatbelt` / `macos_sandbox`.
    pub seatbelt: Option<SeatbeltOptions>,
    /// `processContainer` / `appContainer`.
    pub process_container: Option<ProcessContainer>,
    /// `lxc`.
    pub lxc: Option<Lxc>,
    /// `experimental` keys, as (key, JSON pointer); cordon understands none of them yet.
    pub experimental: Vec<(String, String)>,
    /// The sections of schema 0.9 and later that configure a backend cordon does not have,
    /// or nothing cordon does.
    pub extra: ExtraSections,
}

/// `telemetry`, `wslc`, `hyperlight`, `windowsSandbox` and `test` (schema 0.9 and later).
/// Each set field is listed as (JSON pointer, value as written).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtraSections {
    /// The `telemetry` section, when given, with its `enabled` value: read and ignored
    /// (cordon sends no telemetry).
    pub telemetry: Option<Option<bool>>,
    /// `test.message` (MXC's placeholder development feature): read and ignored.
    pub test: Option<String>,
    /// Fields set in `wslc`, `hyperlight` and `windowsSandbox`: options of backends cordon
    /// does not have, as (pointer, value).
    pub backend_fields: Vec<(String, String)>,
}

/// `lifecycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifecycle {
    /// `destroyOnExit`.
    pub destroy_on_exit: Option<bool>,
    /// `preservePolicy`.
    pub preserve_policy: Option<bool>,
}

/// `fallback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fallback {
    /// `allowDaclMutation`.
    pub allow_dacl_mutation: Option<bool>,
}

/// `seatbelt` / `macos_sandbox`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeatbeltOptions {
    /// JSON pointer of the section (`/seatbelt` or `/macos_sandbox`).
    pub pointer: String,
    /// `profileOverride`.
    pub profile_override: Option<String>,
    /// `guiAccess`.
    pub gui_access: Option<bool>,
    /// `launchMethod`.
    pub launch_method: Option<LaunchMethod>,
    /// `nestedPty`.
    pub nested_pty: Option<bool>,
    /// `keychainAccess`.
    pub keychain_access: Option<bool>,
    /// `extraMachLookups`.
    pub extra_mach_lookups: Vec<String>,
}

/// Seatbelt `launchMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchMethod {
    /// `exec`: `sandbox_init` then exec (what `sandbox-exec` does).
    Exec,
    /// `open`: through LaunchServices.
    Open,
}

/// `processContainer` / `appContainer`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessContainer {
    /// JSON pointer of the section (`/processContainer` or `/appContainer`).
    pub pointer: String,
    /// `leastPrivilege`.
    pub least_privilege: Option<bool>,
    /// `learningMode`.
    pub learning_mode: Option<bool>,
    /// `capabilities`.
    pub capabilities: Vec<String>,
    /// `captureDenials`, when given.
    pub capture_denials: Option<CaptureDenials>,
    /// `filesystem.enumeratePaths` (0.9 and later), as written.
    pub enumerate_paths: Vec<String>,
    /// `network.allowedProxyPeer`.
    pub allowed_proxy_peer: Option<String>,
    /// `ui`, when given.
    pub ui: Option<ProcessContainerUi>,
}

/// `processContainer.captureDenials`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaptureDenials {
    /// `mode`: `Some(true)` for `allow` (allow and record), `Some(false)` for `block`.
    pub allow: Option<bool>,
    /// `outputPath`.
    pub output_path: Option<String>,
    /// `retainEtl`.
    pub retain_etl: Option<bool>,
}

/// `processContainer.ui`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessContainerUi {
    /// `isolation`, as written (`desktop`, `handles`, `atoms`, `container`).
    pub isolation: Option<&'static str>,
    /// `desktopSystemControl`.
    pub desktop_system_control: Option<bool>,
    /// `systemSettings`.
    pub system_settings: Option<String>,
    /// `ime`.
    pub ime: Option<bool>,
}

/// `lxc`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lxc {
    /// `distribution`.
    pub distribution: Option<String>,
    /// `release`.
    pub release: Option<String>,
}

/// Legacy `network.enforcementMode`: how MXC would enforce the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnforcementMode {
    /// Per-process capability filtering.
    Capabilities,
    /// Host firewall rules.
    Firewall,
    /// Both.
    Both,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Allow.
    Allow,
    /// Deny (the default everywhere).
    #[default]
    Deny,
}

/// Which network shape the policy was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkShape {
    /// No network section.
    #[default]
    None,
    /// MXC's legacy fields.
    Legacy,
    /// 0.8 directional `egress`/`ingress`.
    Directional,
}

/// The effective network posture, the same for every shape.
///
/// By default all egress and ingress is denied, no name resolves, and loopback, private and
/// link-local ranges are denied unless a rule names them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Network {
    /// The shape it was written in.
    pub shape: NetworkShape,
    /// Outbound rules.
    pub egress: Egress,
    /// Inbound rules.
    pub ingress: Ingress,
    /// Domain rules (`cordon.network` plus host names in legacy lists).
    pub domains: DomainRules,
    /// Legacy `allowLocalNetwork`: local ranges follow the rules instead of being denied.
    pub allow_local_network: bool,
    /// Legacy `proxy`, when given.
    pub proxy: Option<Proxy>,
    /// `runtimeConfig.networkProxy`, when given.
    pub runtime_proxy: Option<String>,
    /// Legacy `enforcementMode`, when given.
    pub enforcement_mode: Option<EnforcementMode>,
    /// A host fact, not policy: the networks this machine delivers to itself (IPv4 and
    /// IPv6, canonical), read when planning: its interface addresses and every local,
    /// anycast or broadcast route (Linux's local table, `ip route add local …`). Each is
    /// decided as a local range: a service on the host that listens on every interface is
    /// reachable through them from cordon's side (the proxy and the wasm host connect from
    /// the host), so "allow everything" must not reach it. Only a rule lying inside one
    /// (`203.0.113.7/32` for an interface address) allows it, or a local range rule when it
    /// lies in one, or `allowLocalNetwork`. Empty in a parsed policy; set by planning.
    pub host_networks: Vec<crate::net::IpNet>,
}

impl Network {
    /// True when every destination is allowed: default allow and no deny rule of any kind.
    pub fn allows_all_egress(&self) -> bool {
        self.egress.default == Action::Allow
            && self.egress.deny.is_empty()
            && self.domains.deny.is_empty()
            && self.allow_local_network
    }

    /// True when nothing at all is allowed out.
    pub fn denies_all_egress(&self) -> bool {
        self.egress.default == Action::Deny && self.egress.allow.is_empty() && self.domains.allow.is_empty()
    }
}

/// Outbound rules: deny beats allow; `default` applies when none matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Egress {
    /// Action when no rule matches.
    pub default: Action,
    /// Allow rules.
    pub allow: Vec<NetRule>,
    /// Deny rules.
    pub deny: Vec<NetRule>,
}

/// Inbound rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ingress {
    /// Inbound default.
    pub default: Action,
    /// Host loopback, both directions.
    pub host_loopback: Action,
}

/// One address rule. An empty `to` matches every address; empty `ports` every port.
#[derive(Debug, Clone, PartialEq)]
pub struct NetRule {
    /// Destinations.
    pub to: Vec<Peer>,
    /// Protocols and ports.
    pub ports: Vec<PortSel>,
    /// JSON pointer of the rule.
    pub pointer: String,
}

/// A destination network minus exceptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    /// The network.
    pub net: IpNet,
    /// Sub-networks not covered.
    pub except: Vec<IpNet>,
}

/// A protocol and an inclusive port range (`None` = every port).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PortSel {
    /// Protocol.
    pub protocol: Protocol,
    /// Inclusive range.
    pub ports: Option<(u16, u16)>,
}

/// Domain allow and deny lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DomainRules {
    /// Allowed patterns with their pointers.
    pub allow: Vec<(DomainPattern, String)>,
    /// Denied patterns with their pointers; deny beats allow.
    pub deny: Vec<(DomainPattern, String)>,
}

/// Legacy `network.proxy`.
#[derive(Debug, Clone, PartialEq)]
pub enum Proxy {
    /// An external proxy on a loopback port.
    Localhost(u16),
    /// MXC's built-in test proxy.
    BuiltinTestServer,
    /// A proxy URL.
    Url(String),
}
