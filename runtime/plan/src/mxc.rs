//! MXC's backend and container sections as every planner reads them: each field is
//! enforced, a hint that is safe to take as written (documented in docs/policy.md, "MXC
//! backend sections"), or refused with its JSON pointer. cordon never weakens a policy, so
//! a field asking to log instead of deny (`learningMode`, `captureDenials.mode: allow`) is
//! refused on every backend.

use cordon_policy::{CaptureDenials, ExtraSections, Lifecycle, Lxc, ProcessContainer, ProcessContainerUi, Ui};

use crate::{Backend, PlanError};

fn refuse(backend: Backend, rule: impl Into<String>, reason: &str) -> PlanError {
    PlanError::Unenforceable { backend, rule: rule.into(), reason: reason.into() }
}

/// `lifecycle`: every cordon sandbox is torn down when the tool exits and what it applied
/// (scratch objects, ACL entries, cgroup) is removed, so `destroyOnExit: true` and
/// `preservePolicy: false` are what happens anyway; their opposites are refused.
/// The MXC sections every backend treats alike: `lifecycle`, `processContainer`, `lxc`,
/// `experimental` and the sections of 0.9 and later (each planner passes them after
/// destructuring its policy in full).
pub(crate) fn shared_sections(
    backend: Backend,
    lifecycle_: &Lifecycle,
    pc: Option<&ProcessContainer>,
    l: Option<&Lxc>,
    keys: &[(String, String)],
    extra_: &ExtraSections,
) -> Result<(), PlanError> {
    lifecycle(backend, lifecycle_)?;
    process_container(backend, pc)?;
    lxc(backend, l)?;
    experimental(backend, keys)?;
    extra(backend, extra_)
}

/// `telemetry` and `test` change nothing cordon does (cordon sends no telemetry; MXC's
/// placeholder feature has no effect here). A field of `wslc`, `hyperlight` or
/// `windowsSandbox` configures a backend cordon does not have, so it is refused: ignoring
/// `hyperlight.runtime` would run guest source as a shell command.
pub(crate) fn extra(backend: Backend, e: &ExtraSections) -> Result<(), PlanError> {
    let ExtraSections { telemetry: _, test: _, backend_fields } = e;
    if let Some((pointer, _)) = backend_fields.first() {
        let section = pointer.trim_start_matches('/').split('/').next().unwrap_or_default();
        let what = match section {
            "wslc" => "WSLC",
            "hyperlight" => "Hyperlight",
            _ => "Windows Sandbox",
        };
        return Err(refuse(
            backend,
            pointer.clone(),
            &format!(
                "this configures MXC's {what} backend, which cordon does not have; remove it (or the `{section}` section)"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn lifecycle(backend: Backend, l: &Lifecycle) -> Result<(), PlanError> {
    let Lifecycle { destroy_on_exit, preserve_policy } = l;
    if *destroy_on_exit == Some(false) {
        return Err(refuse(
            backend,
            "/lifecycle/destroyOnExit",
            "every cordon sandbox ends with its tool; nothing can be kept for later; remove it or set it to true",
        ));
    }
    if *preserve_policy == Some(true) {
        return Err(refuse(
            backend,
            "/lifecycle/preservePolicy",
            "cordon removes what it applied when the run ends; remove it or set it to false",
        ));
    }
    Ok(())
}

/// `processContainer` / `appContainer`: cordon has no AppContainer backend (its Windows
/// backend is a restricted token). `leastPrivilege` is met by construction (nothing beyond
/// the policy's grants and the documented baseline), `capabilities` grant nothing (the
/// filesystem and network sections are the whole grant), `learningMode: false` and false
/// UI switches are what happens anyway. Everything else is refused, on every backend.
pub(crate) fn process_container(backend: Backend, pc: Option<&ProcessContainer>) -> Result<(), PlanError> {
    let Some(pc) = pc else { return Ok(()) };
    let ProcessContainer {
        pointer,
        least_privilege: _, // met by construction on every backend
        learning_mode,
        capabilities: _, // grant nothing: the filesystem and network sections are the grant
        capture_denials,
        enumerate_paths,
        allowed_proxy_peer,
        ui,
    } = pc;
    if !enumerate_paths.is_empty() {
        return Err(refuse(
            backend,
            format!("{pointer}/filesystem/enumeratePaths"),
            "cordon cannot let a path be listed without letting it be read; grant it in filesystem.readonlyPaths or remove it",
        ));
    }
    if *learning_mode == Some(true) {
        return Err(refuse(
            backend,
            format!("{pointer}/learningMode"),
            "learning mode records denials instead of enforcing them, and cordon never weakens a policy; remove it (record denials with cordon.audit or --audit)",
        ));
    }
    if let Some(c) = capture_denials {
        let CaptureDenials { allow, output_path, retain_etl } = c;
        let field = if *allow == Some(true) {
            "mode"
        } else if output_path.is_some() {
            "outputPath"
        } else if retain_etl.is_some() {
            "retainEtl"
        } else {
            "mode"
        };
        let reason = if *allow == Some(true) {
            "`allow` lets through what the policy denies, and cordon never weakens a policy; remove it"
        } else {
            "cordon records denials in its own audit log, not an AppContainer capture; use cordon.audit.path or --audit instead"
        };
        return Err(refuse(backend, format!("{pointer}/captureDenials/{field}"), reason));
    }
    if allowed_proxy_peer.is_some() {
        return Err(refuse(
            backend,
            format!("{pointer}/network/allowedProxyPeer"),
            "cordon's filtering proxy is its own process, not a package peer; remove it and list destinations in network",
        ));
    }
    if let Some(u) = ui {
        let ProcessContainerUi { isolation, desktop_system_control, system_settings, ime } = u;
        let field = if isolation.is_some() {
            Some("isolation")
        } else if *desktop_system_control == Some(true) {
            Some("desktopSystemControl")
        } else if system_settings.is_some() {
            Some("systemSettings")
        } else if *ime == Some(true) {
            Some("ime")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(refuse(
                backend,
                format!("{pointer}/ui/{field}"),
                "cordon runs headless tools and has no AppContainer UI isolation; remove it",
            ));
        }
    }
    Ok(())
}

/// `lxc`: cordon runs no images; an image named is refused.
pub(crate) fn lxc(backend: Backend, l: Option<&Lxc>) -> Result<(), PlanError> {
    let Some(Lxc { distribution, release }) = l else { return Ok(()) };
    if distribution.is_some() || release.is_some() {
        return Err(refuse(
            backend,
            "/lxc/distribution",
            "cordon has no LXC backend and runs no distribution image; remove the lxc section",
        ));
    }
    Ok(())
}

/// `experimental`: cordon understands no key yet, so every key is refused.
pub(crate) fn experimental(backend: Backend, keys: &[(String, String)]) -> Result<(), PlanError> {
    match keys.first() {
        Some((key, pointer)) => Err(refuse(
            backend,
            pointer.clone(),
            &format!("cordon does not implement the experimental option `{key}`; remove it"),
        )),
        None => Ok(()),
    }
}

/// `ui` on a backend with no display access: the default (disabled, no clipboard, no
/// injection) is what happens; asking for more is refused.
pub(crate) fn headless_ui(backend: Backend, ui: &Ui) -> Result<(), PlanError> {
    let Ui { disable, clipboard, injection } = ui;
    let field = if !*disable {
        Some("disable")
    } else if clipboard != "none" {
        Some("clipboard")
    } else if *injection {
        Some("injection")
    } else {
        None
    };
    match field {
        Some(f) => Err(refuse(
            backend,
            format!("/ui/{f}"),
            "this backend gives the tool no display, clipboard or input access; remove it or use --backend seatbelt on macOS",
        )),
        None => Ok(()),
    }
}
