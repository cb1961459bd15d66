//! The cross-section rules of MXC's one-shot parser (`wxc_common::config_parser` at MXC
//! 7dac1a95, what `lxc-exec` runs before any backend): which backend section goes with which
//! `containment`, the legacy proxy's combinations per backend, the directional proxy's, and
//! the mix of the two network shapes. Each refusal is worded as MXC words it, after the JSON
//! pointer of the value it is about. MXC's own configs and its verdicts on them are the corpus
//! in `tests/mxc-corpus/`.

use crate::error::{PolicyError, PolicyErrorKind as K};
use crate::model::Containment;
use crate::raw::{
    RawAction, RawEnforcementMode, RawLegacyDefault, RawNetwork, RawPolicy, RawProcessContainer, RawProxy,
};

fn rule(errors: &mut Vec<PolicyError>, pointer: &str, rule: impl Into<String>) {
    errors.push(PolicyError::new(pointer, K::CrossSection { rule: rule.into() }));
}

/// The backend `containment` names, as MXC resolves it. No `containment` and `process` are the
/// host's native process sandbox (bubblewrap on Linux, Seatbelt on macOS, ProcessContainer on
/// Windows), as MXC's parser built for this host resolves them.
fn resolved(containment: Option<Containment>) -> Containment {
    match containment {
        None | Some(Containment::Process) => native(),
        Some(c) => c,
    }
}

fn native() -> Containment {
    if cfg!(windows) {
        Containment::ProcessContainer
    } else if cfg!(target_os = "macos") {
        Containment::Seatbelt
    } else {
        Containment::Bubblewrap
    }
}

/// The one backend section a containment allows (MXC's `section_path`).
fn section_of(c: Containment) -> Option<&'static str> {
    match c {
        Containment::ProcessContainer => Some("processContainer"),
        Containment::Lxc => Some("lxc"),
        Containment::Seatbelt => Some("seatbelt"),
        Containment::WindowsSandbox => Some("experimental.windows_sandbox"),
        Containment::Wslc => Some("experimental.wslc"),
        Containment::IsolationSession => Some("experimental.isolation_session"),
        Containment::Process
        | Containment::Bubblewrap
        | Containment::Vm
        | Containment::Microvm
        | Containment::Hyperlight => None,
    }
}

/// Checks MXC's cross-section rules; `containment` is the parsed `containment` field.
/// `line`: the schema is 0.9.0-alpha or later.
pub(crate) fn check(raw: &RawPolicy, containment: Option<Containment>, line: bool, errors: &mut Vec<PolicyError>) {
    backend_sections(raw, containment, errors);
    let c = resolved(containment);
    // From 0.9 the legacy fields are refused as removed, with MXC's migration hints.
    if let Some(n) = &raw.network
        && !line
    {
        legacy_proxy(n, c, errors);
    }
    directional(raw, c, errors);
    let (pc, ptr) = match (&raw.process_container, &raw.app_container) {
        (Some(pc), _) => (Some(pc), "/processContainer"),
        (None, Some(ac)) => (Some(ac), "/appContainer"),
        (None, None) => (None, ""),
    };
    if let Some(pc) = pc {
        capture_path(pc, ptr, errors);
    }
    if let Some(exp) = &raw.experimental {
        experimental(exp, errors);
    }
    if let Some(f) = &raw.filesystem {
        let lists = [
            ("readonlyPaths", &f.readonly_paths),
            ("readwritePaths", &f.readwrite_paths),
            ("deniedPaths", &f.denied_paths),
        ];
        for (name, list) in lists {
            for (i, path) in list.iter().flatten().enumerate() {
                if path.contains('"') {
                    rule(
                        errors,
                        &format!("/filesystem/{name}/{i}"),
                        format!("Filesystem path '{}' contains invalid character '\"'", path.escape_debug()),
                    );
                }
            }
        }
    }
}

/// What MXC's parser types inside `experimental` (cordon reads the rest as opaque values that
/// every backend refuses): `seatbelt` moved out, and `wslc.portMappings` (other fields of a
/// mapping are ignored, as MXC ignores them).
fn experimental(exp: &serde_json::Map<String, serde_json::Value>, errors: &mut Vec<PolicyError>) {
    for key in ["seatbelt", "macos_sandbox"] {
        if exp.contains_key(key) {
            rule(
                errors,
                &format!("/experimental/{key}"),
                format!("'experimental.{key}' has moved to the stable section; use top-level 'seatbelt' instead."),
            );
        }
    }
    let Some(mappings) = exp.get("wslc").and_then(|w| w.get("portMappings")).filter(|m| !m.is_null()) else {
        return;
    };
    let base = "/experimental/wslc/portMappings";
    let Some(list) = mappings.as_array() else {
        rule(errors, base, "experimental.wslc.portMappings must be an array of port mappings");
        return;
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in list.iter().enumerate() {
        let ptr = format!("{base}/{i}");
        let Some(obj) = m.as_object() else {
            rule(errors, &ptr, format!("experimental.wslc.portMappings[{i}] must be an object"));
            continue;
        };
        let mut ports = Vec::new();
        for field in ["windowsPort", "containerPort"] {
            match obj.get(field).map(serde_json::Value::as_u64) {
                None => rule(errors, &ptr, format!("experimental.wslc.portMappings[{i}]: missing field `{field}`")),
                Some(Some(0)) => {
                    rule(
                        errors,
                        &format!("{ptr}/{field}"),
                        format!("experimental.wslc.portMappings[{i}]: '{field}' must be > 0"),
                    );
                }
                Some(Some(p)) if p <= 65535 => ports.push(p),
                Some(_) => rule(
                    errors,
                    &format!("{ptr}/{field}"),
                    format!("experimental.wslc.portMappings[{i}].{field}: a port from 1 to 65535"),
                ),
            }
        }
        match obj.get("protocol") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(p)) if p == "tcp" => {}
            Some(other) => rule(
                errors,
                &format!("{ptr}/protocol"),
                format!("experimental.wslc.portMappings[{i}].protocol: unknown variant {other}, expected `tcp`"),
            ),
        }
        if let Some(&windows) = ports.first()
            && !seen.insert(windows)
        {
            rule(
                errors,
                &ptr,
                format!("experimental.wslc.portMappings: duplicate windowsPort {windows} for protocol 'tcp'"),
            );
        }
    }
}

/// One backend section, the containment's own. With no `containment` more than one section
/// is refused (MXC refuses that on every host); a single section is read whatever backend
/// cordon picks at run time (see docs/policy.md, "MXC's config corpus").
fn backend_sections(raw: &RawPolicy, containment: Option<Containment>, errors: &mut Vec<PolicyError>) {
    let mut present: Vec<(&'static str, String)> = Vec::new();
    if raw.process_container.is_some() {
        present.push(("processContainer", "/processContainer".into()));
    } else if raw.app_container.is_some() {
        present.push(("processContainer", "/appContainer".into()));
    }
    if raw.lxc.is_some() {
        present.push(("lxc", "/lxc".into()));
    }
    if raw.seatbelt.is_some() {
        present.push(("seatbelt", "/seatbelt".into()));
    } else if raw.macos_sandbox.is_some() {
        present.push(("seatbelt", "/macos_sandbox".into()));
    }
    if let Some(exp) = &raw.experimental {
        for key in ["windows_sandbox", "wslc", "isolation_session"] {
            if exp.contains_key(key) {
                let name = match key {
                    "windows_sandbox" => "experimental.windows_sandbox",
                    "wslc" => "experimental.wslc",
                    _ => "experimental.isolation_session",
                };
                present.push((name, format!("/experimental/{key}")));
            }
        }
    }
    let Some(containment) = containment else {
        if present.len() > 1 {
            let names: Vec<_> = present.iter().map(|(n, _)| *n).collect();
            rule(
                errors,
                &present[1].1,
                format!(
                    "Multiple containment backends configured: the config includes backend sections {}. \
                     Only one backend section is allowed; remove the unused section(s), or set `containment`",
                    names.join(", ")
                ),
            );
        }
        return;
    };
    let c = resolved(Some(containment));
    let allowed = section_of(c);
    let extras: Vec<_> = present.iter().filter(|(n, _)| Some(*n) != allowed).collect();
    let Some((_, first)) = extras.first() else { return };
    let names: Vec<_> = extras.iter().map(|(n, _)| *n).collect();
    let wire = c.as_str();
    let msg = match allowed {
        Some(name) => format!(
            "Multiple containment backends configured: 'containment' is '{wire}' (allows the '{name}' section), \
             but the config also includes unrelated backend section(s): {}. Only one backend section is allowed; \
             remove the unused section(s).",
            names.join(", ")
        ),
        None => format!(
            "Multiple containment backends configured: 'containment' is '{wire}' (no per-backend section is \
             defined for this backend), but the config includes backend section(s): {}. Only one backend section \
             is allowed; remove the unused section(s).",
            names.join(", ")
        ),
    };
    rule(errors, first, msg);
}

/// The host a proxy URL names, lowercased, without userinfo or port; an IPv6 address keeps
/// its brackets (so `[::1]` is not one of MXC's loopback names, as in MXC).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if hostport.starts_with('[') {
        hostport.split_once(']').map_or(hostport.to_string(), |(h, _)| format!("{h}]"))
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, _)| h).to_string()
    };
    host.to_ascii_lowercase()
}

fn proxy_enabled(p: &RawProxy) -> bool {
    p.builtin_test_server == Some(true) || p.localhost.is_some() || p.url.is_some()
}

/// The legacy `network.proxy` with the rest of the legacy section, per backend.
fn legacy_proxy(n: &RawNetwork, c: Containment, errors: &mut Vec<PolicyError>) {
    let firewall = matches!(n.enforcement_mode, Some(RawEnforcementMode::Firewall | RawEnforcementMode::Both));
    // MXC's legacy default, when `defaultPolicy` is omitted, is `block`.
    let block = n.default_policy != Some(RawLegacyDefault::Allow);
    let allow = n.default_policy == Some(RawLegacyDefault::Allow);
    let allowed = n.allowed_hosts.as_ref().is_some_and(|h| !h.is_empty());
    let blocked = n.blocked_hosts.as_ref().is_some_and(|h| !h.is_empty());
    if c == Containment::Wslc {
        if (allowed && block) || (blocked && allow) {
            rule(
                errors,
                "/network",
                "WSLc: per-host egress filtering (allowedHosts with defaultPolicy='block', or blockedHosts with \
                 defaultPolicy='allow') is not supported",
            );
        }
        if n.allow_local_network == Some(true) {
            rule(
                errors,
                "/network/allowLocalNetwork",
                "WSLc: network.allowLocalNetwork=true is not supported; expose specific ports with \
                 experimental.wslc.portMappings instead",
            );
        }
    }
    let Some(p) = &n.proxy else { return };
    // Not exactly one form: validate's own refusal says so.
    let forms = [p.builtin_test_server.is_some(), p.localhost.is_some(), p.url.is_some()];
    if forms.iter().filter(|f| **f).count() != 1
        || p.url.as_deref().is_some_and(|u| !crate::validate::check_proxy_url(u))
    {
        return;
    }
    if p.builtin_test_server == Some(false) {
        rule(errors, "/network/proxy/builtinTestServer", "network.proxy.builtinTestServer must be true when present");
    }
    if !proxy_enabled(p) {
        return;
    }
    let builtin = p.builtin_test_server == Some(true);
    let ptr = "/network/proxy";
    match c {
        Containment::ProcessContainer
        | Containment::Bubblewrap
        | Containment::Lxc
        | Containment::Seatbelt
        | Containment::Wslc => {}
        _ => {
            rule(
                errors,
                ptr,
                "Network proxy is only supported with the 'processcontainer', 'bubblewrap', 'lxc', 'seatbelt', or \
                 'wslc' containment backends",
            );
            return;
        }
    }
    if c == Containment::Lxc {
        if builtin {
            rule(errors, ptr, "LXC: network.proxy.builtinTestServer is not supported; use network.proxy.url");
        } else if p.localhost.is_some() {
            rule(
                errors,
                ptr,
                "LXC: network.proxy.localhost is not reachable from the container network namespace (127.0.0.1 is \
                 the container loopback); use network.proxy.url with a host routable from inside the container",
            );
        } else if !firewall {
            rule(
                errors,
                ptr,
                "LXC: network.proxy requires network.enforcementMode='firewall' or 'both'; under the default \
                 'capabilities' mode direct egress would stay unrestricted",
            );
        }
    }
    if c == Containment::Wslc {
        if p.url.is_none() {
            rule(
                errors,
                ptr,
                "WSLc: network.proxy must use the 'url' form pointing at a routable proxy (e.g. \"url\": \
                 \"http://proxy.example:8080\")",
            );
        } else if !allow || allowed || blocked {
            rule(
                errors,
                ptr,
                "WSLc: network.proxy requires network.defaultPolicy='allow' and no allowedHosts/blockedHosts",
            );
        }
    }
    if c == Containment::Bubblewrap && firewall {
        rule(
            errors,
            "/network/enforcementMode",
            "Bubblewrap: network.proxy cannot be combined with network.enforcementMode='firewall' or 'both'",
        );
    }
    if c == Containment::Seatbelt && firewall {
        rule(
            errors,
            "/network/enforcementMode",
            "Seatbelt: network.proxy cannot be combined with network.enforcementMode='firewall' or 'both'",
        );
    }
    if c == Containment::Seatbelt
        && block
        && let Some(url) = &p.url
        && !matches!(url_host(url).as_str(), "127.0.0.1" | "::1" | "localhost")
    {
        rule(
            errors,
            "/network/proxy/url",
            "Seatbelt: a remote network.proxy (non-loopback host) cannot be combined with defaultPolicy='block'; \
             use a loopback proxy",
        );
    }
    if c == Containment::Bubblewrap && !builtin && (allowed || blocked || block) {
        rule(
            errors,
            ptr,
            "Bubblewrap: an external network.proxy (url/localhost) cannot be combined with allowedHosts, \
             blockedHosts, or defaultPolicy='block'. The external proxy is expected to enforce its own host \
             policy; remove the host policy (cordon's own domain rules are `cordon.network`)",
        );
    }
}

/// The directional shape's proxy rules, and no mix with the legacy fields.
fn directional(raw: &RawPolicy, c: Containment, errors: &mut Vec<PolicyError>) {
    let n = raw.network.as_ref();
    let legacy = n.is_some_and(|n| {
        n.default_policy.is_some()
            || n.enforcement_mode.is_some()
            || n.allow_local_network.is_some()
            || n.allowed_hosts.is_some()
            || n.blocked_hosts.is_some()
            || n.proxy.is_some()
    });
    let proxy = raw.runtime_config.as_ref().and_then(|r| r.network_proxy.as_ref());
    let pc = raw.process_container.as_ref().or(raw.app_container.as_ref());
    let peer = pc.and_then(|pc| pc.network.as_ref()).and_then(|n| n.allowed_proxy_peer.as_ref());
    // Legacy fields beside `egress`/`ingress` are validate's `MixedNetworkShapes`.
    let shaped = n.is_some_and(|n| n.egress.is_some() || n.ingress.is_some());
    if legacy && !shaped && (proxy.is_some() || peer.is_some()) {
        rule(
            errors,
            "/network",
            "network configuration cannot mix defaultPolicy, enforcementMode, allowLocalNetwork, allowedHosts, \
             blockedHosts, or proxy with egress, ingress, runtimeConfig, or processContainer.network",
        );
        return;
    }
    if proxy.is_some()
        && let Some(e) = n.and_then(|n| n.egress.as_ref())
        && (e.default == Some(RawAction::Allow)
            || e.allow.as_ref().is_some_and(|a| !a.is_empty())
            || e.deny.as_ref().is_some_and(|d| !d.is_empty()))
    {
        rule(
            errors,
            "/runtimeConfig/networkProxy",
            "runtimeConfig.networkProxy requires network.egress.default='deny' with no direct allow or deny rules",
        );
    }
    if c == Containment::ProcessContainer {
        let ptr = if raw.process_container.is_some() { "/processContainer" } else { "/appContainer" };
        if peer.is_some_and(|p| p.eq_ignore_ascii_case("MXC-Loopback")) {
            rule(
                errors,
                &format!("{ptr}/network/allowedProxyPeer"),
                "processContainer.network.allowedProxyPeer must not use the reserved 'MXC-Loopback' identity",
            );
        } else if peer.is_some() && proxy.is_none() {
            rule(
                errors,
                &format!("{ptr}/network/allowedProxyPeer"),
                "processContainer.network.allowedProxyPeer requires runtimeConfig.networkProxy",
            );
        }
    }
}

/// `captureDenials.outputPath` is an absolute path of this host.
fn capture_path(pc: &RawProcessContainer, ptr: &str, errors: &mut Vec<PolicyError>) {
    if let Some(path) = pc.capture_denials.as_ref().and_then(|c| c.output_path.as_ref())
        && !std::path::Path::new(path).is_absolute()
    {
        rule(
            errors,
            &format!("{ptr}/captureDenials/outputPath"),
            format!("processContainer.captureDenials.outputPath must be an absolute path: '{path}'"),
        );
    }
}

#[cfg(test)]
#[path = "cross_tests.rs"]
mod tests;

/// What MXC's executor (`lxc-exec`) requires besides the rules every cordon front end checks:
/// the command comes from the config, and with no `containment` the one backend section given
/// is that of the host's native sandbox (on Linux, bubblewrap has none). `cordon run` and
/// `cordon call` take the command on their own command line and choose the backend per run,
/// so only `cordon mxc-exec` (and `lxc-exec`) apply these.
pub(crate) fn executor(policy: &crate::Policy) -> Result<(), crate::PolicyErrors> {
    let mut errors = Vec::new();
    if policy.process.command_line.as_deref().is_none_or(|c| c.trim().is_empty()) {
        rule(
            &mut errors,
            "/process/commandLine",
            "Missing required field: process.commandLine (MXC's executor runs the config's command line; \
             with `cordon run --policy FILE -- TOOL ARGS…` the command comes from cordon's command line)",
        );
    }
    if policy.containment.is_none() {
        let b = &policy.backends;
        let mut present: Vec<&'static str> = Vec::new();
        if b.process_container.is_some() {
            present.push("processContainer");
        }
        if b.lxc.is_some() {
            present.push("lxc");
        }
        if b.seatbelt.is_some() {
            present.push("seatbelt");
        }
        for (key, _) in &b.experimental {
            match key.as_str() {
                "windows_sandbox" => present.push("experimental.windows_sandbox"),
                "wslc" => present.push("experimental.wslc"),
                "isolation_session" => present.push("experimental.isolation_session"),
                _ => {}
            }
        }
        let c = native();
        let allowed = section_of(c);
        let extras: Vec<_> = present.iter().copied().filter(|n| Some(*n) != allowed).collect();
        // Two or more sections are refused by `check` already, for every front end.
        if present.len() == 1
            && let Some(name) = extras.first()
        {
            rule(
                &mut errors,
                &format!("/{}", name.replace('.', "/")),
                format!(
                    "Multiple containment backends configured: 'containment' is '{}' (no per-backend section is \
                     defined for this backend), but the config includes backend section(s): {name}. Only one \
                     backend section is allowed; remove the unused section(s), or set `containment`.",
                    c.as_str()
                ),
            );
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(crate::PolicyErrors(errors)) }
}
