//! Policy errors. Each names the JSON pointer of the offending value and says what to do.

use std::fmt;

/// One problem in a policy, at one JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {kind}", if pointer.is_empty() { "(document)" } else { pointer.as_str() })]
pub struct PolicyError {
    /// JSON pointer (RFC 6901) of the offending value; empty for the whole document.
    pub pointer: String,
    /// What is wrong.
    pub kind: PolicyErrorKind,
}

impl PolicyError {
    /// A new error at `pointer`.
    pub fn new(pointer: impl Into<String>, kind: PolicyErrorKind) -> Self {
        Self { pointer: pointer.into(), kind }
    }
}

/// What is wrong with a value. The message of each says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// The text is not JSON.
    #[error("not valid JSON: {message}; fix the syntax at line {line}, column {column}")]
    Syntax {
        /// The parser's message.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The document is JSON, but not an object.
    #[error(
        "a policy is a JSON object (`{{ ... }}`), not {found}; start from `{{}}` (which grants nothing) or see `cordon policy schema`"
    )]
    NotAnObject {
        /// What it is instead (`an array`, `null`, …).
        found: &'static str,
    },
    /// A field no supported schema has.
    #[error("unknown field `{field}`; remove it or check its spelling{}", expected_hint(expected))]
    UnknownField {
        /// The field as written.
        field: String,
        /// The fields allowed here.
        expected: String,
    },
    /// A value of the wrong JSON type or an unknown enum value.
    #[error("{message}")]
    Shape {
        /// serde's description.
        message: String,
    },
    /// `version` is not a version cordon reads.
    #[error(
        "schema version `{found}` is not supported; cordon reads MXC schema versions 0.6 to 0.8 (for example \"0.8.0-alpha\") and exactly \"0.9.0-alpha\", \"1.0.0\" and \"1.1.0-alpha\""
    )]
    UnsupportedVersion {
        /// The version as written.
        found: String,
    },
    /// A field that needs a newer schema version.
    #[error(
        "`{field}`: sections like this require schema version 0.8 or later; set \"version\": \"0.8.0-alpha\" or remove it"
    )]
    NeedsVersion08 {
        /// The field.
        field: &'static str,
    },
    /// A field that needs a newer schema version than the config's.
    #[error("`{field}` requires schema version {since} or later; set \"version\": \"{since}\" or remove it")]
    NeedsVersion {
        /// The field, as MXC names it.
        field: &'static str,
        /// The first version that has it, as written there.
        since: &'static str,
    },
    /// A field a newer schema version removed, with MXC's migration hint.
    #[error("`{field}` was removed in schema {removed_in}; schema {version} migration: {hint}")]
    RemovedField {
        /// The field, as MXC names it.
        field: &'static str,
        /// The version that removed it (`0.9`, `1.0`).
        removed_in: &'static str,
        /// The config's version, major.minor.
        version: String,
        /// What to write instead.
        hint: &'static str,
    },
    /// Legacy and directional network fields in one object.
    #[error(
        "legacy network fields ({legacy}) cannot be mixed with 0.8 directional fields ({directional}); use one shape"
    )]
    MixedNetworkShapes {
        /// Legacy fields present.
        legacy: String,
        /// Directional fields present.
        directional: String,
    },
    /// A combination of sections MXC's parser refuses, in MXC's words.
    #[error("{rule}")]
    CrossSection {
        /// MXC's rule, with what to do.
        rule: String,
    },
    /// A field only state-aware requests carry.
    #[error("`{field}` belongs to state-aware requests, not one-shot config files; remove it")]
    StateAwareField {
        /// The field.
        field: &'static str,
    },
    /// A section given under both its name and its alias.
    #[error("`{name}` and its alias `{alias}` are both present; keep one")]
    DuplicateAlias {
        /// Canonical name.
        name: &'static str,
        /// Alias.
        alias: &'static str,
    },
    /// `lxc` with only one of distribution/release.
    #[error("lxc needs both `distribution` and `release`; add `{missing}`")]
    IncompleteLxc {
        /// The missing field.
        missing: &'static str,
    },
    /// A path that is not absolute.
    #[error("path `{path}` is relative; write an absolute path or one starting with `~/`")]
    RelativePath {
        /// The path.
        path: String,
    },
    /// An empty path.
    #[error("path is empty; write an absolute path")]
    EmptyPath,
    /// A path with a NUL byte.
    #[error("path contains a NUL byte; remove it")]
    NulInPath,
    /// A path with a `..` component.
    #[error("path `{path}` contains `..`; write the path it means without `..`")]
    DotDotInPath {
        /// The path.
        path: String,
    },
    /// `~/` with no home directory known.
    #[error("path `{path}` starts with `~` but the home directory is unknown; set HOME or write an absolute path")]
    NoHome {
        /// The path.
        path: String,
    },
    /// A policy path passes through a symlink inside a writable grant: a tool could have
    /// planted it (in an earlier run) to redirect this grant or deny.
    #[error(
        "`{path}` passes through the symlink {link} (-> {target}), which lies inside the writable grant {grant}: a tool could have planted it to redirect this rule, so cordon does not follow it; remove the link or write the rule for the real path"
    )]
    PlantedLink {
        /// The policy path as written (expanded).
        path: String,
        /// The symlink met on the way.
        link: String,
        /// Where it points.
        target: String,
        /// The writable grant's pointer.
        grant: String,
    },
    /// A CIDR that does not parse.
    #[error("`{value}` is not an IPv4 or IPv6 CIDR; write it like 10.0.0.0/8 or 2001:db8::/32")]
    BadCidr {
        /// The value.
        value: String,
    },
    /// A CIDR with bits set after the prefix.
    #[error("CIDR `{value}` has host bits set; did you mean `{network}`?")]
    CidrHostBits {
        /// The value.
        value: String,
        /// The network it probably meant.
        network: String,
    },
    /// An `except` CIDR not inside its peer's CIDR.
    #[error("except `{value}` is not inside `{peer}`; an exception must lie within its peer")]
    ExceptOutsidePeer {
        /// The exception.
        value: String,
        /// The peer CIDR.
        peer: String,
    },
    /// An empty list where omission is the way to say "all".
    #[error("`{field}` is empty; omit it to match everything, or list at least one entry")]
    EmptyList {
        /// The field.
        field: &'static str,
    },
    /// A port outside 1..=65535.
    #[error("port {value} is out of range; ports are 1 to 65535")]
    PortRange {
        /// The value.
        value: i64,
    },
    /// `endPort` below `port`, or without `port`.
    #[error("{message}")]
    BadPortRange {
        /// What is wrong.
        message: String,
    },
    /// `icmp` with ports.
    #[error("protocol icmp has no ports; remove `port`/`endPort` or use tcp/udp")]
    IcmpWithPorts,
    /// A domain pattern cordon cannot match.
    #[error("`{value}` is not a domain pattern: {reason}")]
    BadDomain {
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A host entry in the legacy lists that is neither a name, an address nor a CIDR.
    #[error("`{value}` is not a host name, IP address or CIDR")]
    BadHost {
        /// The value.
        value: String,
    },
    /// A proxy object with zero or several forms.
    #[error("proxy needs exactly one of `localhost`, `builtinTestServer`, `url`; found {found}")]
    ProxyForms {
        /// How many were found.
        found: usize,
    },
    /// A URL cordon cannot use.
    #[error("`{value}` is not a proxy URL of the form http://HOST:PORT")]
    BadUrl {
        /// The value.
        value: String,
    },
    /// An env entry that is not `KEY=VALUE`.
    #[error("`{value}` is not KEY=VALUE with a non-empty KEY without `=` or NUL")]
    BadEnv {
        /// The value.
        value: String,
    },
    /// An env name for inheritance that cannot be a variable name.
    #[error("`{value}` is not an environment variable name")]
    BadEnvName {
        /// The value.
        value: String,
    },
    /// A number out of its range.
    #[error("{value} is out of range; {expected}")]
    OutOfRange {
        /// The value.
        value: u64,
        /// The allowed range.
        expected: &'static str,
    },
    /// An unknown containment value.
    #[error("containment `{value}` is not one of {expected} (schema {version})")]
    BadContainment {
        /// The value.
        value: String,
        /// The values this version has.
        expected: &'static str,
        /// The config's version (`pre-0.9` for 0.6 to 0.8 and no version).
        version: String,
    },
    /// An AppContainer capability entry cordon refuses.
    #[error("{message}")]
    BadCapability {
        /// Why.
        message: String,
    },
    /// A string field that must not be empty.
    #[error("`{field}` is empty; give a value or omit it")]
    EmptyString {
        /// The field.
        field: &'static str,
    },
}

fn expected_hint(expected: &str) -> String {
    if expected.is_empty() { String::new() } else { format!(" (expected one of: {expected})") }
}

/// Every problem found in a policy, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    /// The problems.
    pub fn iter(&self) -> impl Iterator<Item = &PolicyError> {
        self.0.iter()
    }
    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there are none (never for a returned error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<PolicyError> for PolicyErrors {
    fn from(e: PolicyError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "policy has {n} problem{}", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
