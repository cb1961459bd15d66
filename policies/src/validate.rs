//! `RawPolicy` → [`Policy`]: every check, every problem reported at once with its pointer.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{PolicyError, PolicyErrorKind as K, PolicyErrors};
use crate::fs::{Access, FsRules, HostEnv, PathEntry, PolicyPath, parse_path};
use crate::host::Host;
use crate::model::*;
use crate::net::{CidrError, DomainPattern, IpNet, Protocol};
use crate::raw::*;

/// Collects problems while walking the document.
struct Ctx {
    errors: Vec<PolicyError>,
}

impl Ctx {
    fn err(&mut self, pointer: impl Into<String>, kind: K) {
        self.errors.push(PolicyError::new(pointer, kind));
    }
}

/// Escapes one JSON-pointer segment (RFC 6901).
fn seg(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Validates and normalises `raw` into a [`Policy`], resolving paths with `host`.
///
/// # Errors
/// Every problem found, each with its JSON pointer and what to do.
pub fn validate(raw: &RawPolicy, host: &dyn HostEnv) -> Result<Policy, PolicyErrors> {
    let mut cx = Ctx { errors: Vec::new() };
    // Every field, no `..`: a new field does not compile until it is checked here.
    let RawPolicy {
        schema: _,  // editor hint, accepted and ignored
        comment: _, // annotation, accepted and ignored
        version,
        container_id,
        containment,
        lifecycle,
        process,
        filesystem,
        fallback,
        network,
        runtime_config,
        ui,
        seatbelt,
        macos_sandbox,
        process_container,
        app_container,
        lxc,
        experimental,
        telemetry,
        wslc,
        hyperlight,
        test,
        windows_sandbox,
        phase,
        sandbox_id,
        cordon,
    } = raw;

    let version = version.as_deref().and_then(|v| parse_version(&mut cx, v));
    let v08 = version.as_ref().is_some_and(SchemaVersion::has_directional_network);
    // The contract line MXC 1.0.1 reads (0.9.0-alpha, 1.0.0, 1.1.0-alpha).
    let line = version.as_ref().filter(|v| v.is_contract_line());
    let at = |major, minor| version.as_ref().is_some_and(|v| v.at_least(major, minor));
    let removed = |cx: &mut Ctx, ptr: &str, field: &'static str, removed_in: &'static str, hint: &'static str| {
        let v = line.map(|v| format!("{}.{}", v.major, v.minor)).unwrap_or_default();
        cx.err(ptr, K::RemovedField { field, removed_in, version: v, hint });
    };
    let needs = |cx: &mut Ctx, present: bool, ptr: &str, field: &'static str, since: &'static str| {
        if present {
            cx.err(ptr, K::NeedsVersion { field, since });
        }
    };

    if phase.is_some() {
        cx.err("/phase", K::StateAwareField { field: "phase" });
    }
    if sandbox_id.is_some() {
        cx.err("/sandboxId", K::StateAwareField { field: "sandboxId" });
    }
    if experimental.is_some() && line.is_some() {
        removed(
            &mut cx,
            "/experimental",
            "experimental",
            "0.9",
            "telemetry settings are the top-level `telemetry` section and WSLC settings the top-level `wslc` section; remove `experimental`",
        );
    }
    // Before 0.9, MXC's parser reads `experimental` at every version (and with none), as 0.8.
    needs(&mut cx, telemetry.is_some() && line.is_none(), "/telemetry", "telemetry", "0.9.0-alpha");
    needs(&mut cx, wslc.is_some() && line.is_none(), "/wslc", "wslc", "0.9.0-alpha");
    needs(&mut cx, hyperlight.is_some() && !at(1, 1), "/hyperlight", "hyperlight", "1.1.0-alpha");
    needs(&mut cx, test.is_some() && !at(1, 1), "/test", "test", "1.1.0-alpha");
    needs(&mut cx, windows_sandbox.is_some() && !at(1, 1), "/windowsSandbox", "windowsSandbox", "1.1.0-alpha");
    if at(1, 0) {
        if app_container.is_some() {
            removed(&mut cx, "/appContainer", "appContainer", "1.0", "use `processContainer`");
        }
        if macos_sandbox.is_some() {
            removed(&mut cx, "/macos_sandbox", "macos_sandbox", "1.0", "use `seatbelt`");
        }
    }
    if line.is_some()
        && let Some(sb) = seatbelt.as_ref().or(macos_sandbox.as_ref())
        && sb.launch_method.is_some()
    {
        let base = if seatbelt.is_some() { "/seatbelt" } else { "/macos_sandbox" };
        removed(
            &mut cx,
            &format!("{base}/launchMethod"),
            "seatbelt.launchMethod",
            "0.9",
            "remove it (the process is always started directly, as `exec` did)",
        );
    }
    if seatbelt.is_some() && macos_sandbox.is_some() {
        cx.err("/macos_sandbox", K::DuplicateAlias { name: "seatbelt", alias: "macos_sandbox" });
    }
    if process_container.is_some() && app_container.is_some() {
        cx.err("/appContainer", K::DuplicateAlias { name: "processContainer", alias: "appContainer" });
    }
    let lxc = lxc.as_ref().map(|l| {
        let RawLxc { distribution, release } = l;
        match (distribution, release) {
            (Some(_), None) => cx.err("/lxc", K::IncompleteLxc { missing: "release" }),
            (None, Some(_)) => cx.err("/lxc", K::IncompleteLxc { missing: "distribution" }),
            _ => {}
        }
        Lxc { distribution: distribution.clone(), release: release.clone() }
    });
    let containment = containment.as_deref().and_then(|c| parse_containment(&mut cx, c, version.as_ref()));
    crate::cross::check(raw, containment, line.is_some(), &mut cx.errors);
    let (pc, pc_ptr) = match (process_container, app_container) {
        (Some(pc), _) => (Some(pc), "/processContainer"),
        (None, Some(ac)) => (Some(ac), "/appContainer"),
        (None, None) => (None, ""),
    };
    if let Some(pc) = pc {
        check_capabilities(&mut cx, pc, pc_ptr);
        needs(
            &mut cx,
            pc.filesystem.is_some() && line.is_none(),
            &format!("{pc_ptr}/filesystem"),
            "processContainer.filesystem",
            "0.9.0-alpha",
        );
    }
    let process_container = pc.map(|pc| typed_process_container(pc, pc_ptr));
    let seatbelt = match (seatbelt, macos_sandbox) {
        (Some(sb), _) => Some(typed_seatbelt(sb, "/seatbelt")),
        (None, Some(sb)) => Some(typed_seatbelt(sb, "/macos_sandbox")),
        (None, None) => None,
    };
    let lifecycle = lifecycle.as_ref().map_or_else(Lifecycle::default, |l| {
        let RawLifecycle { destroy_on_exit, preserve_policy } = l;
        Lifecycle { destroy_on_exit: *destroy_on_exit, preserve_policy: *preserve_policy }
    });
    let fallback = fallback.as_ref().map_or_else(Fallback::default, |f| {
        let RawFallback { allow_dacl_mutation } = f;
        Fallback { allow_dacl_mutation: *allow_dacl_mutation }
    });

    let (process, mut env) = check_process(&mut cx, process.as_ref(), line.is_some());
    let entries = check_filesystem(&mut cx, filesystem.as_ref());
    let mut network = check_network(&mut cx, network.as_ref(), v08, line);
    if let Some(rc) = runtime_config {
        let RawRuntimeConfig { network_proxy } = rc;
        if let Some(proxy) = network_proxy {
            if check_proxy_url(proxy) {
                network.runtime_proxy = Some(proxy.clone());
            } else {
                cx.err("/runtimeConfig/networkProxy", K::BadUrl { value: proxy.clone() });
            }
        }
    }
    let mut limits = Limits::default();
    let mut audit = Audit::default();
    if let Some(c) = cordon {
        check_cordon(&mut cx, c, &mut network, &mut limits, &mut env, &mut audit);
    }
    let ui = ui.as_ref().map_or_else(Ui::default, |u| {
        let RawUi { disable, clipboard, injection } = u;
        Ui {
            disable: disable.unwrap_or(true),
            clipboard: match clipboard {
                None | Some(RawClipboard::None) => "none",
                Some(RawClipboard::Read) => "read",
                Some(RawClipboard::Write) => "write",
                Some(RawClipboard::All) => "all",
            }
            .into(),
            injection: injection.unwrap_or(false),
        }
    });

    let filesystem = match FsRules::normalise(entries, host) {
        Ok(fs) => fs,
        Err(errs) => {
            cx.errors.extend(errs);
            FsRules::default()
        }
    };
    if !cx.errors.is_empty() {
        return Err(PolicyErrors(cx.errors));
    }
    Ok(Policy {
        version,
        containment,
        process,
        filesystem,
        network,
        env,
        limits,
        audit,
        ui,
        backends: BackendOptions {
            container_id: container_id.clone(),
            lifecycle,
            fallback,
            seatbelt,
            process_container,
            lxc,
            experimental: experimental
                .iter()
                .flatten()
                .map(|(k, _)| (k.clone(), format!("/experimental/{}", seg(k))))
                .collect(),
            extra: extra_sections(
                telemetry.as_ref(),
                test.as_ref(),
                wslc.as_ref(),
                hyperlight.as_ref(),
                windows_sandbox.as_ref(),
            ),
        },
    })
}

/// The sections of 0.9 and later, typed as what each field set says; every field read.
fn extra_sections(
    telemetry: Option<&RawTelemetry>,
    test: Option<&RawTest>,
    wslc: Option<&RawWslc>,
    hyperlight: Option<&RawHyperlight>,
    windows_sandbox: Option<&RawWindowsSandbox>,
) -> ExtraSections {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut set = |ptr: &str, v: Option<String>| {
        if let Some(v) = v {
            fields.push((ptr.to_string(), v));
        }
    };
    let text = |v: &Option<String>| v.clone();
    let num = |v: &Option<i64>| v.map(|n| n.to_string());
    if let Some(w) = wslc {
        let RawWslc { cpu_count, gpu, image, image_tar_path, memory_mb, port_mappings, storage_path, target_os } = w;
        set("/wslc/cpuCount", num(cpu_count));
        set("/wslc/gpu", gpu.map(|b| b.to_string()));
        set("/wslc/image", text(image));
        set("/wslc/imageTarPath", text(image_tar_path));
        set("/wslc/memoryMb", num(memory_mb));
        set(
            "/wslc/portMappings",
            port_mappings.as_ref().map(|m| {
                m.iter()
                    .map(|p| {
                        let RawPortMapping { container_port, protocol: _, windows_port } = p;
                        format!("{windows_port}->{container_port}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        );
        set("/wslc/storagePath", text(storage_path));
        set("/wslc/targetOs", text(target_os));
    }
    if let Some(h) = hyperlight {
        let RawHyperlight { runtime } = h;
        set(
            "/hyperlight/runtime",
            runtime.map(|r| {
                match r {
                    RawHyperlightRuntime::Agent => "agent",
                    RawHyperlightRuntime::Python => "python",
                    RawHyperlightRuntime::PythonShell => "python-shell",
                    RawHyperlightRuntime::Node => "node",
                    RawHyperlightRuntime::Bash => "bash",
                    RawHyperlightRuntime::DotnetJit => "dotnet-jit",
                }
                .to_string()
            }),
        );
    }
    if let Some(ws) = windows_sandbox {
        let RawWindowsSandbox { daemon_pipe_name, idle_timeout, idle_timeout_ms } = ws;
        set("/windowsSandbox/daemonPipeName", text(daemon_pipe_name));
        set("/windowsSandbox/idleTimeout", num(idle_timeout));
        set("/windowsSandbox/idleTimeoutMs", num(idle_timeout_ms));
    }
    ExtraSections {
        telemetry: telemetry.map(|t| {
            let RawTelemetry { enabled } = t;
            *enabled
        }),
        test: test.and_then(|t| {
            let RawTest { message } = t;
            message.clone()
        }),
        backend_fields: fields,
    }
}

fn typed_seatbelt(sb: &RawSeatbelt, pointer: &str) -> SeatbeltOptions {
    let RawSeatbelt { profile_override, gui_access, launch_method, nested_pty, keychain_access, extra_mach_lookups } =
        sb;
    SeatbeltOptions {
        pointer: pointer.into(),
        profile_override: profile_override.clone(),
        gui_access: *gui_access,
        launch_method: launch_method.map(|m| match m {
            RawLaunchMethod::Exec => LaunchMethod::Exec,
            RawLaunchMethod::Open => LaunchMethod::Open,
        }),
        nested_pty: *nested_pty,
        keychain_access: *keychain_access,
        extra_mach_lookups: extra_mach_lookups.clone().unwrap_or_default(),
    }
}

fn typed_process_container(pc: &RawProcessContainer, pointer: &str) -> ProcessContainer {
    let RawProcessContainer { least_privilege, learning_mode, capabilities, capture_denials, filesystem, network, ui } =
        pc;
    ProcessContainer {
        enumerate_paths: filesystem
            .as_ref()
            .and_then(|f| {
                let RawProcessContainerFilesystem { enumerate_paths } = f;
                enumerate_paths.clone()
            })
            .unwrap_or_default(),
        pointer: pointer.into(),
        least_privilege: *least_privilege,
        learning_mode: *learning_mode,
        capabilities: capabilities.clone().unwrap_or_default(),
        capture_denials: capture_denials.as_ref().map(|c| {
            let RawCaptureDenials { mode, output_path, retain_etl } = c;
            CaptureDenials {
                allow: mode.map(|m| m == RawCaptureMode::Allow),
                output_path: output_path.clone(),
                retain_etl: *retain_etl,
            }
        }),
        allowed_proxy_peer: network.as_ref().and_then(|n| {
            let RawProcessContainerNetwork { allowed_proxy_peer } = n;
            allowed_proxy_peer.clone()
        }),
        ui: ui.as_ref().map(|u| {
            let RawProcessContainerUi { isolation, desktop_system_control, system_settings, ime } = u;
            ProcessContainerUi {
                isolation: isolation.map(|i| match i {
                    RawUiIsolation::Desktop => "desktop",
                    RawUiIsolation::Handles => "handles",
                    RawUiIsolation::Atoms => "atoms",
                    RawUiIsolation::Container => "container",
                }),
                desktop_system_control: *desktop_system_control,
                system_settings: system_settings.clone(),
                ime: *ime,
            }
        }),
    }
}

fn parse_version(cx: &mut Ctx, v: &str) -> Option<SchemaVersion> {
    // The contract line is matched exactly, as MXC does: `0.9.0`, `1.0` or `1.0.0-alpha` are
    // not versions it registers.
    let exact = match v {
        "0.9.0-alpha" => Some((0, 9)),
        "1.0.0" => Some((1, 0)),
        "1.1.0-alpha" => Some((1, 1)),
        _ => None,
    };
    if let Some((major, minor)) = exact {
        return Some(SchemaVersion { major, minor, text: v.into() });
    }
    let core = v.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.');
    let num = |p: Option<&str>| {
        p.and_then(|s| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten()
        })
    };
    let major = num(parts.next());
    let minor = num(parts.next());
    let patch_ok = parts.next().is_none_or(|p| num(Some(p)).is_some()) && parts.next().is_none();
    match (major, minor) {
        (Some(0), Some(minor @ 6..=8)) if patch_ok => Some(SchemaVersion { major: 0, minor, text: v.into() }),
        _ => {
            cx.err("/version", K::UnsupportedVersion { found: v.into() });
            None
        }
    }
}

/// The containment values each version's parser reads (MXC 0.8's reads every backend name
/// it knows, whatever the config's version; the 0.9 contract line lists them per version).
fn parse_containment(cx: &mut Ctx, c: &str, version: Option<&SchemaVersion>) -> Option<Containment> {
    const PRE_09: &str = "process, bubblewrap, seatbelt, macos_sandbox, processcontainer, appcontainer, lxc, isolation_session, wslc, vm, windows_sandbox, microvm, hyperlight";
    const V09: &str =
        "process, processcontainer, appcontainer, lxc, bubblewrap, seatbelt, macos_sandbox, isolation_session, wslc";
    const V10: &str = "process, processcontainer, lxc, bubblewrap, seatbelt, isolation_session, wslc";
    const V11: &str = "process, processcontainer, lxc, bubblewrap, seatbelt, vm, windows_sandbox, microvm, hyperlight, wslc, isolation_session";
    let (major, minor) = version.filter(|v| v.is_contract_line()).map_or((0, 8), |v| (v.major, v.minor));
    let expected = match (major, minor) {
        (0, 9) => V09,
        (1, 0) => V10,
        (0, _) => PRE_09,
        _ => V11,
    };
    let parsed = match c {
        "process" => Some(Containment::Process),
        "bubblewrap" => Some(Containment::Bubblewrap),
        "seatbelt" | "macos_sandbox" => Some(Containment::Seatbelt),
        "processcontainer" | "appcontainer" => Some(Containment::ProcessContainer),
        "lxc" => Some(Containment::Lxc),
        "isolation_session" => Some(Containment::IsolationSession),
        "wslc" => Some(Containment::Wslc),
        "vm" => Some(Containment::Vm),
        "windows_sandbox" => Some(Containment::WindowsSandbox),
        "microvm" => Some(Containment::Microvm),
        "hyperlight" => Some(Containment::Hyperlight),
        _ => None,
    };
    let known = expected.split(", ").any(|e| e == c);
    if (major, minor) == (1, 0) || (major, minor) == (1, 1) {
        let hint = match c {
            "appcontainer" => Some("use containment `processcontainer`"),
            "macos_sandbox" => Some("use containment `seatbelt`"),
            _ => None,
        };
        if let Some(hint) = hint {
            let version = format!("{major}.{minor}");
            cx.err("/containment", K::RemovedField { field: "containment alias", removed_in: "1.0", version, hint });
            return None;
        }
    }
    match parsed.filter(|_| known) {
        Some(parsed) => Some(parsed),
        None => {
            let version = if major == 0 && minor < 9 { "0.6 to 0.8".to_string() } else { format!("{major}.{minor}") };
            cx.err("/containment", K::BadContainment { value: c.into(), expected, version });
            None
        }
    }
}

fn check_capabilities(cx: &mut Ctx, pc: &RawProcessContainer, base: &str) {
    for (i, cap) in pc.capabilities.iter().flatten().enumerate() {
        let ptr = format!("{base}/capabilities/{i}");
        let lower = cap.to_ascii_lowercase();
        if cap.contains(',') {
            cx.err(
                ptr,
                K::BadCapability {
                    message: format!("capability `{cap}` contains a comma; list one capability per entry"),
                },
            );
        } else if lower == "learningmodelogging" || lower == "permissivelearningmode" {
            cx.err(
                ptr,
                K::BadCapability {
                    message: format!("capability `{cap}` is reserved; use `learningMode` or `--audit` instead"),
                },
            );
        } else if cap.trim().is_empty() {
            cx.err(ptr, K::EmptyString { field: "capabilities[]" });
        }
    }
}

/// `process`. From 0.9 (`line`), `env` given means exactly those variables unless
/// `inheritDefaultEnv`; an empty `commandLine` is refused at every version, as MXC refuses it.
fn check_process(cx: &mut Ctx, p: Option<&RawProcess>, line: bool) -> (Process, Env) {
    let mut process = Process::default();
    let mut env = Env::default();
    let Some(p) = p else { return (process, env) };
    // Every field, no `..`.
    let RawProcess { command_line, cwd, env: env_list, inherit_default_env, timeout } = p;
    if inherit_default_env.is_some() && !line {
        cx.err(
            "/process/inheritDefaultEnv",
            K::NeedsVersion { field: "process.inheritDefaultEnv", since: "0.9.0-alpha" },
        );
    }
    env.exact = line && env_list.is_some() && *inherit_default_env != Some(true);
    // MXC's parser refuses an empty command at every version (a missing one is cordon's
    // command line's to give: `run` and `call` take it there, `mxc-exec` refuses it as MXC).
    if command_line.as_deref().is_some_and(|c| c.trim().is_empty()) {
        cx.err("/process/commandLine", K::EmptyString { field: "process.commandLine" });
    }
    process.command_line = command_line.clone();
    if let Some(cwd) = cwd {
        match parse_path(cwd) {
            Ok(PolicyPath::Absolute(path)) => process.cwd = Some(path),
            Ok(PolicyPath::Windows(w)) => process.cwd = Some(PathBuf::from(w)),
            Ok(PolicyPath::Home(_)) => cx.err("/process/cwd", K::RelativePath { path: cwd.clone() }),
            Err(kind) => cx.err("/process/cwd", kind),
        }
    }
    for (i, kv) in env_list.iter().flatten().enumerate() {
        match kv.split_once('=') {
            Some((k, v)) if valid_env_name(k) && !v.contains('\0') => env.vars.push((k.into(), v.into())),
            _ => cx.err(format!("/process/env/{i}"), K::BadEnv { value: kv.clone() }),
        }
    }
    match *timeout {
        Some(t) if t > u64::from(u32::MAX) => cx.err(
            "/process/timeout",
            K::OutOfRange { value: t, expected: "timeout is 0 (none) to 4294967295 milliseconds" },
        ),
        Some(0) | None => {}
        Some(t) => process.timeout = Some(Duration::from_millis(t)),
    }
    (process, env)
}

fn valid_env_name(k: &str) -> bool {
    !k.is_empty() && !k.contains('=') && !k.contains('\0')
}

fn check_filesystem(cx: &mut Ctx, f: Option<&RawFilesystem>) -> Vec<PathEntry> {
    let mut entries = Vec::new();
    let Some(f) = f else { return entries };
    // Every field, no `..`.
    let RawFilesystem { readonly_paths, readwrite_paths, denied_paths } = f;
    let lists = [
        ("readwritePaths", readwrite_paths, Access::ReadWrite),
        ("readonlyPaths", readonly_paths, Access::ReadOnly),
        ("deniedPaths", denied_paths, Access::Deny),
    ];
    for (name, list, access) in lists {
        for (i, p) in list.iter().flatten().enumerate() {
            let pointer = format!("/filesystem/{name}/{i}");
            match parse_path(p) {
                Ok(path) => entries.push(PathEntry { path, access, pointer }),
                Err(kind) => cx.err(pointer, kind),
            }
        }
    }
    entries
}

/// MXC's migration hint for each legacy network field the 0.9 contract line removed.
const LEGACY_HINTS: [(&str, &str); 6] = [
    ("defaultPolicy", "use network.egress.default ('allow' or 'deny')"),
    ("enforcementMode", "use directional network policy; enforcement is selected by the backend"),
    ("allowedHosts", "use network.egress.allow/deny CIDR rules; hostnames cannot be losslessly converted"),
    ("blockedHosts", "use network.egress.allow/deny CIDR rules; hostnames cannot be losslessly converted"),
    ("allowLocalNetwork", "use network.ingress.default and network.ingress.hostLoopback"),
    ("proxy", "use runtimeConfig.networkProxy with a proxy URL"),
];

fn check_network(cx: &mut Ctx, n: Option<&RawNetwork>, v08: bool, line: Option<&SchemaVersion>) -> Network {
    let mut net = Network::default();
    let Some(n) = n else { return net };
    // Every field, no `..`.
    let RawNetwork {
        default_policy,
        enforcement_mode,
        allowed_hosts,
        blocked_hosts,
        allow_local_network,
        proxy,
        egress,
        ingress,
    } = n;
    let legacy: Vec<&str> = [
        ("defaultPolicy", default_policy.is_some()),
        ("enforcementMode", enforcement_mode.is_some()),
        ("allowedHosts", allowed_hosts.is_some()),
        ("blockedHosts", blocked_hosts.is_some()),
        ("allowLocalNetwork", allow_local_network.is_some()),
        ("proxy", proxy.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    let directional: Vec<&str> = [("egress", egress.is_some()), ("ingress", ingress.is_some())]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
    if let Some(v) = line
        && !legacy.is_empty()
    {
        for field in &legacy {
            let (name, hint) = LEGACY_HINTS.iter().find(|(f, _)| f == field).copied().unwrap_or((field, ""));
            let field: &'static str = match name {
                "defaultPolicy" => "network.defaultPolicy",
                "enforcementMode" => "network.enforcementMode",
                "allowedHosts" => "network.allowedHosts",
                "blockedHosts" => "network.blockedHosts",
                "allowLocalNetwork" => "network.allowLocalNetwork",
                _ => "network.proxy",
            };
            cx.err(
                format!("/network/{name}"),
                K::RemovedField { field, removed_in: "0.9", version: format!("{}.{}", v.major, v.minor), hint },
            );
        }
    }
    // From 0.9 the legacy fields are refused above; the directional ones are still checked.
    let legacy = if line.is_some() { Vec::new() } else { legacy };
    if !directional.is_empty() && !v08 {
        for d in &directional {
            let field = if *d == "egress" { "network.egress" } else { "network.ingress" };
            cx.err(format!("/network/{d}"), K::NeedsVersion08 { field });
        }
    }
    if !legacy.is_empty() && !directional.is_empty() {
        cx.err("/network", K::MixedNetworkShapes { legacy: legacy.join(", "), directional: directional.join(", ") });
    }
    if !directional.is_empty() {
        net.shape = NetworkShape::Directional;
        if let Some(e) = egress {
            net.egress.default = action(e.default);
            net.egress.allow = check_rules(cx, e.allow.as_deref(), "/network/egress/allow");
            net.egress.deny = check_rules(cx, e.deny.as_deref(), "/network/egress/deny");
        }
        if let Some(i) = ingress {
            net.ingress.default = action(i.default);
            net.ingress.host_loopback = action(i.host_loopback);
        }
    } else if !legacy.is_empty() {
        net.shape = NetworkShape::Legacy;
        net.egress.default = match default_policy {
            Some(RawLegacyDefault::Allow) => Action::Allow,
            Some(RawLegacyDefault::Block) | None => Action::Deny,
        };
        net.enforcement_mode = enforcement_mode.map(|m| match m {
            RawEnforcementMode::Capabilities => EnforcementMode::Capabilities,
            RawEnforcementMode::Firewall => EnforcementMode::Firewall,
            RawEnforcementMode::Both => EnforcementMode::Both,
        });
        net.allow_local_network = allow_local_network.unwrap_or(false);
        if net.allow_local_network {
            net.ingress.default = Action::Allow;
            net.ingress.host_loopback = Action::Allow;
        }
        legacy_hosts(
            cx,
            allowed_hosts.as_deref(),
            "/network/allowedHosts",
            &mut net.egress.allow,
            &mut net.domains.allow,
        );
        legacy_hosts(
            cx,
            blocked_hosts.as_deref(),
            "/network/blockedHosts",
            &mut net.egress.deny,
            &mut net.domains.deny,
        );
        if let Some(p) = proxy {
            net.proxy = check_proxy(cx, p);
        }
    }
    net
}

fn action(a: Option<RawAction>) -> Action {
    match a {
        Some(RawAction::Allow) => Action::Allow,
        Some(RawAction::Deny) | None => Action::Deny,
    }
}

fn legacy_hosts(
    cx: &mut Ctx,
    hosts: Option<&[String]>,
    base: &str,
    rules: &mut Vec<NetRule>,
    domains: &mut Vec<(DomainPattern, String)>,
) {
    for (i, h) in hosts.unwrap_or_default().iter().enumerate() {
        let pointer = format!("{base}/{i}");
        // The same parser as every host a tool names: an address in any spelling is an
        // address rule, `localhost` the loopback ranges; neither is a domain pattern.
        let host = if h.contains('/') || h.starts_with("*.") { None } else { Host::parse(h).ok() };
        let single = |ip: IpAddr| IpNet::new(ip, if ip.is_ipv4() { 32 } else { 128 }).map(IpNet::canonical);
        let peers: Option<Vec<IpNet>> = match host {
            Some(Host::Ip(ip)) => single(ip).map(|n| vec![n]),
            Some(Host::Localhost) => Some(
                [IpNet::new(IpAddr::from([127, 0, 0, 0]), 8), single(IpAddr::from(std::net::Ipv6Addr::LOCALHOST))]
                    .into_iter()
                    .flatten()
                    .collect(),
            ),
            Some(Host::Name(_)) | None => None,
        };
        let looks_ip = h.contains('/') && h.split('/').next().is_some_and(|a| a.parse::<IpAddr>().is_ok());
        if let Some(peers) = peers {
            let to = peers.into_iter().map(|net| Peer { net, except: vec![] }).collect();
            rules.push(NetRule { to, ports: vec![], pointer });
        } else if looks_ip {
            match IpNet::parse(h) {
                Ok(net) => rules.push(NetRule { to: vec![Peer { net, except: vec![] }], ports: vec![], pointer }),
                Err(e) => cx.err(pointer, cidr_error(h, e)),
            }
        } else {
            match DomainPattern::parse(h) {
                Ok(p) => domains.push((p, pointer)),
                Err(_) => cx.err(pointer, K::BadHost { value: h.clone() }),
            }
        }
    }
}

fn cidr_error(value: &str, e: CidrError) -> K {
    match e {
        CidrError::Syntax => K::BadCidr { value: value.into() },
        CidrError::HostBits(net) => K::CidrHostBits { value: value.into(), network: net.to_string() },
    }
}

fn check_rules(cx: &mut Ctx, rules: Option<&[RawNetRule]>, base: &str) -> Vec<NetRule> {
    let mut out = Vec::new();
    for (i, r) in rules.unwrap_or_default().iter().enumerate() {
        let rp = format!("{base}/{i}");
        let mut to = Vec::new();
        if let Some(peers) = &r.to {
            if peers.is_empty() {
                cx.err(format!("{rp}/to"), K::EmptyList { field: "to" });
            }
            for (j, peer) in peers.iter().enumerate() {
                let pp = format!("{rp}/to/{j}");
                let net = match IpNet::parse(&peer.cidr) {
                    Ok(net) => Some(net),
                    Err(e) => {
                        cx.err(format!("{pp}/cidr"), cidr_error(&peer.cidr, e));
                        None
                    }
                };
                let mut except = Vec::new();
                for (k, ex) in peer.except.iter().flatten().enumerate() {
                    let ep = format!("{pp}/except/{k}");
                    match IpNet::parse(ex) {
                        Ok(exnet) => match net {
                            Some(net) if !net.covers(&exnet) => {
                                cx.err(ep, K::ExceptOutsidePeer { value: ex.clone(), peer: peer.cidr.clone() })
                            }
                            _ => except.push(exnet),
                        },
                        Err(e) => cx.err(ep, cidr_error(ex, e)),
                    }
                }
                if let Some(net) = net {
                    to.push(Peer { net, except });
                }
            }
        }
        let mut ports = Vec::new();
        if let Some(ps) = &r.ports {
            if ps.is_empty() {
                cx.err(format!("{rp}/ports"), K::EmptyList { field: "ports" });
            }
            for (j, p) in ps.iter().enumerate() {
                if let Some(sel) = check_port(cx, p, &format!("{rp}/ports/{j}")) {
                    ports.push(sel);
                }
            }
        }
        out.push(NetRule { to, ports, pointer: rp });
    }
    out
}

fn check_port(cx: &mut Ctx, p: &RawPort, pp: &str) -> Option<PortSel> {
    let protocol = match p.protocol {
        Some(RawProtocol::Tcp) => Protocol::Tcp,
        Some(RawProtocol::Udp) => Protocol::Udp,
        Some(RawProtocol::Icmp) => Protocol::Icmp,
        Some(RawProtocol::Any) | None => Protocol::Any,
    };
    let before = cx.errors.len();
    if protocol == Protocol::Icmp && (p.port.is_some() || p.end_port.is_some()) {
        cx.err(pp.to_string(), K::IcmpWithPorts);
    }
    let in_range = |v: i64| (1..=65535).contains(&v);
    if let Some(v) = p.port.filter(|v| !in_range(*v)) {
        cx.err(format!("{pp}/port"), K::PortRange { value: v });
    }
    if let Some(v) = p.end_port.filter(|v| !in_range(*v)) {
        cx.err(format!("{pp}/endPort"), K::PortRange { value: v });
    }
    match (p.port, p.end_port) {
        (None, Some(_)) => cx.err(
            format!("{pp}/endPort"),
            K::BadPortRange { message: "endPort needs port; add the first port of the range".into() },
        ),
        (Some(a), Some(b)) if b < a => cx.err(
            format!("{pp}/endPort"),
            K::BadPortRange { message: format!("endPort {b} is below port {a}; the range is port..=endPort") },
        ),
        _ => {}
    }
    if cx.errors.len() != before {
        return None;
    }
    let ports = p.port.map(|a| (a as u16, p.end_port.unwrap_or(a) as u16));
    Some(PortSel { protocol, ports })
}

fn check_proxy(cx: &mut Ctx, p: &RawProxy) -> Option<Proxy> {
    let forms = usize::from(p.localhost.is_some())
        + usize::from(p.builtin_test_server.is_some())
        + usize::from(p.url.is_some());
    if forms != 1 {
        cx.err("/network/proxy", K::ProxyForms { found: forms });
        return None;
    }
    if let Some(port) = p.localhost {
        if !(1..=65535).contains(&port) {
            cx.err("/network/proxy/localhost", K::PortRange { value: port });
            return None;
        }
        return Some(Proxy::Localhost(port as u16));
    }
    if let Some(url) = &p.url {
        if !check_proxy_url(url) {
            cx.err("/network/proxy/url", K::BadUrl { value: url.clone() });
            return None;
        }
        return Some(Proxy::Url(url.clone()));
    }
    p.builtin_test_server.map(|_| Proxy::BuiltinTestServer)
}

/// `scheme://host:port[/]` with a known scheme and a port in range.
pub(crate) fn check_proxy_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    if !matches!(scheme, "http" | "https" | "socks5" | "socks5h") {
        return false;
    }
    let authority = rest.trim_end_matches('/');
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => return false,
    };
    let port_ok = p_u16(port).is_some_and(|p| p != 0);
    // The same host parser as every host a tool names.
    let host_ok = Host::parse(host).is_ok();
    port_ok && host_ok && !authority.contains('/') && !authority.contains('@')
}

fn p_u16(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) { None } else { s.parse().ok() }
}

fn check_cordon(cx: &mut Ctx, c: &RawCordon, net: &mut Network, limits: &mut Limits, env: &mut Env, audit: &mut Audit) {
    // Every field, no `..`.
    let RawCordon { network: c_network, limits: c_limits, env: c_env, audit: c_audit } = c;
    if let Some(n) = c_network {
        for (list, name, out) in [
            (&n.allow_domains, "allowDomains", &mut net.domains.allow),
            (&n.deny_domains, "denyDomains", &mut net.domains.deny),
        ] {
            for (i, d) in list.iter().flatten().enumerate() {
                let pointer = format!("/cordon/network/{name}/{i}");
                match DomainPattern::parse(d) {
                    Ok(p) => out.push((p, pointer)),
                    Err(reason) => cx.err(pointer, K::BadDomain { value: d.clone(), reason }),
                }
            }
        }
    }
    if let Some(l) = c_limits {
        // Every field, no `..`: a new limit does not compile until it is checked here.
        let RawLimits { memory_bytes, cpu_ms, max_output_bytes, max_processes } = l;
        let positive = |cx: &mut Ctx, v: Option<u64>, name: &str, expected: &'static str| match v {
            Some(0) => {
                cx.err(format!("/cordon/limits/{name}"), K::OutOfRange { value: 0, expected });
                None
            }
            other => other,
        };
        limits.memory_bytes =
            positive(cx, *memory_bytes, "memoryBytes", "memoryBytes is at least 1; omit it for no limit");
        limits.cpu =
            positive(cx, *cpu_ms, "cpuMs", "cpuMs is at least 1; omit it for no limit").map(Duration::from_millis);
        limits.max_output_bytes = *max_output_bytes;
        limits.max_processes =
            positive(cx, *max_processes, "maxProcesses", "maxProcesses is at least 1; omit it for no limit");
    }
    if let Some(e) = c_env {
        for (i, name) in e.inherit.iter().flatten().enumerate() {
            if valid_env_name(name) {
                env.inherit.push(name.clone());
            } else {
                cx.err(format!("/cordon/env/inherit/{i}"), K::BadEnvName { value: name.clone() });
            }
        }
    }
    if let Some(a) = c_audit {
        audit.allows = a.allows.unwrap_or(false);
        if let Some(p) = &a.path {
            match parse_path(p) {
                Ok(PolicyPath::Absolute(path)) => audit.path = Some(path),
                Ok(_) => cx.err("/cordon/audit/path", K::RelativePath { path: p.clone() }),
                // A relative audit path is relative to the caller's working directory.
                Err(K::RelativePath { .. }) => audit.path = Some(PathBuf::from(p)),
                Err(kind) => cx.err("/cordon/audit/path", kind),
            }
        }
    }
}

/// Turns a serde path (`a.b[0].c`) into a JSON pointer (`/a/b/0/c`).
pub(crate) fn pointer_from_serde_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for s in path.iter() {
        out.push('/');
        match s {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => out.push_str(&seg(key)),
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "versions_tests.rs"]
mod versions_tests;
