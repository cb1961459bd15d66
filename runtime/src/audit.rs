//! Audit events (DESIGN §5): one JSON line per denial, and per grant used when the policy
//! says `"allows": true`.

use std::io::Write as _;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use crate::RuntimeError;

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// RFC 3339 UTC time with milliseconds.
    pub time: String,
    /// The backend that decided (`wasm`, …).
    pub backend: &'static str,
    /// `fs`, `net`, `dns`, `http`, `env` or `limit`.
    pub kind: &'static str,
    /// The operation (`open-at`, `connect`, `resolve`, `timeout`, …).
    pub op: String,
    /// What it was about: a path, `address:port`, a name, a variable.
    pub target: String,
    /// `deny` or `allow`.
    pub decision: &'static str,
    /// JSON pointer of the deciding policy entry, or the default that decided.
    pub rule: String,
    /// The MCP tool the event came from (`cordon mcp` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The MCP request id of the call (`cordon mcp` only).
    #[serde(skip_serializing_if = "Option::is_none", rename = "callId")]
    pub call_id: Option<String>,
}

impl AuditEvent {
    /// The same event, decided by another backend.
    pub fn on(mut self, backend: &'static str) -> Self {
        self.backend = backend;
        self
    }

    /// An event at `time`.
    pub fn new(
        time: SystemTime,
        kind: &'static str,
        op: impl Into<String>,
        target: impl Into<String>,
        allowed: bool,
        rule: impl Into<String>,
    ) -> Self {
        Self {
            time: rfc3339(time),
            backend: "wasm",
            kind,
            op: op.into(),
            target: target.into(),
            decision: if allowed { "allow" } else { "deny" },
            rule: rule.into(),
            tool: None,
            call_id: None,
        }
    }
}

/// Appends `events` to the audit file at `path` (created private to the user), one JSON line
/// each. Tool-supplied text is escaped by the JSON encoder, so a tool cannot end a line or
/// forge an event.
///
/// The file is opened with `O_NOFOLLOW|O_APPEND|O_CLOEXEC`: a symlink at the path is an
/// error, never followed. Its directory is checked before the run to lie outside every
/// read-write grant of the policy (see `crate::protect`), so no tool can plant one.
///
/// # Errors
/// When the file cannot be opened (a symlink included) or written.
pub fn append(path: &Path, events: &[AuditEvent]) -> Result<(), RuntimeError> {
    let fail = |e: std::io::Error| RuntimeError::Internal(format!("audit log {}: {e}", path.display()));
    let mut f = open(path)?;
    let mut buf = Vec::new();
    for e in events {
        serde_json::to_writer(&mut buf, e).map_err(|e| fail(std::io::Error::other(e)))?;
        buf.push(b'\n');
    }
    // One write: a concurrent run's lines never interleave with these.
    f.write_all(&buf).map_err(fail)
}

/// Opens (creating) the audit log for appending without following a symlink, and checks it
/// is a regular file. The CLI calls it before the run too, so a bad path fails before the
/// tool runs.
///
/// # Errors
/// When the path is a symlink, not a regular file, or cannot be opened.
pub fn open(path: &Path) -> Result<std::fs::File, RuntimeError> {
    let fail = |why: String| RuntimeError::Internal(format!("audit log {}: {why}", path.display()));
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NONBLOCK: a FIFO at the path must not hang cordon; it is refused below.
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    }
    let f = opts.open(path).map_err(|e| {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            fail(
                "is a symlink; cordon does not follow links at the audit path. Remove it or choose another file".into(),
            )
        } else {
            fail(e.to_string())
        }
    })?;
    let meta = f.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    Ok(f)
}

/// `2026-11-27T10:45:18.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The audit events of one wasm run: every denial, and with `allows` every grant used.
/// `withheld` names the host variables the tool did not get.
pub fn from_outcome(
    o: &crate::wasm::RunOutcome,
    plan: &cordon_plan::wasi::WasiPlan,
    tool: &str,
    withheld: &[String],
    allows: bool,
) -> Vec<AuditEvent> {
    let now = SystemTime::now();
    let mut ev: Vec<AuditEvent> = Vec::new();
    let rule_or = |r: &Option<String>| r.clone().unwrap_or_else(|| "(no rule grants it)".into());
    for d in &o.fs_denials {
        ev.push(AuditEvent::new(d.time, "fs", d.op, d.path.display().to_string(), false, rule_or(&d.rule)));
    }
    if allows {
        for g in &o.fs_grants {
            ev.push(AuditEvent::new(g.time, "fs", g.op, g.path.display().to_string(), true, rule_or(&g.rule)));
        }
    }
    for n in o.net_events.iter().filter(|n| allows || !n.decision.allowed) {
        ev.push(AuditEvent::new(n.time, n.kind, n.op, n.target.clone(), n.decision.allowed, n.decision.rule.clone()));
    }
    if !withheld.is_empty() {
        // One event naming every withheld variable (never a value), not one per variable.
        let mut names = withheld.to_vec();
        names.sort();
        ev.push(AuditEvent::new(
            now,
            "env",
            "withhold",
            names.join(","),
            false,
            "(not in process.env or cordon.env.inherit)",
        ));
    }
    if allows {
        for (k, _) in &plan.env {
            ev.push(AuditEvent::new(now, "env", "pass", k.clone(), true, "/process/env"));
        }
    }
    match o.stop {
        Some(crate::wasm::Stop::Timeout) => {
            ev.push(AuditEvent::new(now, "limit", "timeout", tool, false, "/process/timeout"))
        }
        Some(crate::wasm::Stop::Cpu) => {
            ev.push(AuditEvent::new(now, "limit", "cpu", tool, false, "/cordon/limits/cpuMs"))
        }
        Some(crate::wasm::Stop::Fuel) => {
            ev.push(AuditEvent::new(now, "limit", "fuel", tool, false, "(the call's fuel)"))
        }
        None => {}
    }
    if o.memory_limit_hit {
        ev.push(AuditEvent::new(now, "limit", "memory-grow", tool, false, "/cordon/limits/memoryBytes"));
    }
    if o.discarded_output > 0 {
        ev.push(AuditEvent::new(
            now,
            "limit",
            "output",
            format!("{} bytes discarded", o.discarded_output),
            false,
            "/cordon/limits/maxOutputBytes",
        ));
    }
    ev.sort_by(|a, b| a.time.cmp(&b.time));
    ev
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::rfc3339;

    #[test]
    fn rfc3339_formats_known_instants() {
        let t = std::time::UNIX_EPOCH;
        assert_eq!(rfc3339(t), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(t + Duration::from_millis(1_795_775_118_123)), "2026-11-27T10:25:18.123Z");
        assert_eq!(rfc3339(t + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
    }
}
