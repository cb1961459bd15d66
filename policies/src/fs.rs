//! Filesystem rules: paths as written, and the effective rule set every backend consumes.
//!
//! Normalisation turns the three lists of a policy into [`FsRules`]:
//! - `~/` is expanded with the home directory of [`HostEnv`];
//! - every path is resolved through symlinks (by [`HostEnv::resolve`]); a grant keeps the
//!   path as written as its place in the sandbox and the resolved path as its host object;
//! - a deny covers the path as written, the object it resolves to, and that object wherever
//!   a grant makes it visible under another name;
//! - the same path in several lists keeps the strongest: deny > read-only > read-write;
//! - nested paths are left to [`FsRules::decide`], where the most specific path wins.
//!
//! This module never touches the filesystem itself: all host knowledge comes through
//! [`HostEnv`], so tests use a fake one.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Access a rule grants. The order is the conflict order: `Deny` > `ReadOnly` > `ReadWrite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read and write.
    ReadWrite,
    /// Read, list and execute; no writes.
    ReadOnly,
    /// Nothing: every access fails with a permission error.
    Deny,
}

impl Access {
    /// True when this access allows reading.
    pub fn can_read(self) -> bool {
        matches!(self, Access::ReadOnly | Access::ReadWrite)
    }
    /// True when this access allows writing.
    pub fn can_write(self) -> bool {
        matches!(self, Access::ReadWrite)
    }
    /// The word used in explanations and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadWrite => "read-write",
            Access::ReadOnly => "read-only",
            Access::Deny => "denied",
        }
    }
}

/// A path as written in a policy, after syntax checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyPath {
    /// An absolute POSIX path, lexically clean (no `.`, no trailing `/`).
    Absolute(PathBuf),
    /// `~` or `~/rest`: relative to the home directory.
    Home(PathBuf),
    /// A Windows absolute path (`C:\…`, `\\server\share`); applies on Windows only.
    Windows(String),
}

/// One entry of `filesystem.*Paths`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    /// The path.
    pub path: PolicyPath,
    /// The list it came from.
    pub access: Access,
    /// Its JSON pointer.
    pub pointer: String,
}

/// Why a rule exists: written in the policy, or derived from a written deny.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RuleOrigin {
    /// The path as written (with `~/` expanded).
    Written,
    /// The object a written deny resolves to through symlinks.
    ResolvedDeny,
    /// A denied object seen through a grant that reaches it under another name.
    ThroughGrant {
        /// Pointer of that grant.
        grant: String,
    },
}

/// One effective rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FsRule {
    /// Where the rule applies inside the sandbox.
    pub path: PathBuf,
    /// The host object it refers to (the path resolved through symlinks).
    pub host: PathBuf,
    /// Access granted.
    pub access: Access,
    /// JSON pointer of the policy entry that decided.
    pub pointer: String,
    /// Why the rule exists.
    pub origin: RuleOrigin,
}

/// What the host knows that normalisation needs. The policy crate never asks the OS itself.
pub trait HostEnv {
    /// The home directory for `~/`, when known.
    fn home_dir(&self) -> Option<PathBuf>;
    /// `path` resolved through symlinks. A path that does not exist (wholly or in part)
    /// resolves its longest existing prefix and keeps the rest as written.
    fn resolve(&self, path: &Path) -> PathBuf;
    /// The target of the symlink at `path` (not followed), or `None` when `path` is not a
    /// symlink (or does not exist).
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
    /// True when Windows paths are this host's own.
    fn is_windows(&self) -> bool {
        false
    }
}

/// A [`HostEnv`] that resolves nothing: paths are their own objects. For checks that must
/// not depend on the machine, and for tests.
#[derive(Debug, Clone, Default)]
pub struct LexicalHost {
    /// The home directory to expand `~/` with.
    pub home: Option<PathBuf>,
    /// Symlinks to pretend exist: (link path, target path), both absolute.
    pub links: Vec<(PathBuf, PathBuf)>,
}

impl HostEnv for LexicalHost {
    fn home_dir(&self) -> Option<PathBuf> {
        self.home.clone()
    }
    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        self.links.iter().find(|(link, _)| link == path).map(|(_, target)| target.clone())
    }
    fn resolve(&self, path: &Path) -> PathBuf {
        // Longest matching link prefix, applied once per step until nothing changes.
        let mut current = path.to_path_buf();
        for _ in 0..40 {
            let hit = self
                .links
                .iter()
                .filter(|(link, _)| current.starts_with(link))
                .max_by_key(|(link, _)| link.components().count());
            match hit {
                Some((link, target)) => {
                    let rest = current.strip_prefix(link).map(Path::to_path_buf).unwrap_or_default();
                    current = if rest.as_os_str().is_empty() { target.clone() } else { target.join(rest) };
                }
                None => break,
            }
        }
        current
    }
}

/// The effective filesystem rules of a policy.
///
/// By default there are none, and every path is denied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FsRules {
    entries: Vec<PathEntry>,
    rules: Vec<FsRule>,
    index: HashMap<PathBuf, usize>,
    foreign: Vec<PathEntry>,
}

impl FsRules {
    /// Normalises written entries against `host`. Errors name the entry's pointer.
    pub(crate) fn normalise(entries: Vec<PathEntry>, host: &dyn HostEnv) -> Result<Self, Vec<crate::PolicyError>> {
        let mut errors = Vec::new();
        let mut foreign = Vec::new();
        // (written path, resolved path, entry)
        let mut local: Vec<(PathBuf, PathBuf, &PathEntry)> = Vec::new();
        for entry in &entries {
            let written = match &entry.path {
                PolicyPath::Absolute(p) if !host.is_windows() => p.clone(),
                PolicyPath::Home(rest) => match host.home_dir() {
                    Some(home) => clean(&home.join(rest)),
                    None => {
                        errors.push(crate::PolicyError::new(
                            entry.pointer.clone(),
                            crate::PolicyErrorKind::NoHome { path: format!("~/{}", rest.display()) },
                        ));
                        continue;
                    }
                },
                // This host's own form: one spelling of each path, so a deny and the object
                // it resolves to are one rule, not two (`\\?\C:\x` beside `C:\x`).
                PolicyPath::Windows(p) if host.is_windows() => PathBuf::from(windows_form(p)),
                PolicyPath::Absolute(_) | PolicyPath::Windows(_) => {
                    foreign.push(entry.clone());
                    continue;
                }
            };
            let resolved = clean(&host.resolve(&written));
            // Resolution on Windows may answer in another form (`\\?\Z:\x`, and under Wine
            // `Z:/x`): the one form again, so equal objects are equal paths.
            let resolved =
                if host.is_windows() { PathBuf::from(windows_form(&resolved.to_string_lossy())) } else { resolved };
            local.push((written, resolved, entry));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // A symlink on the way to any rule, inside a writable grant, may have been planted
        // by a tool (in an earlier run) to redirect the rule: refused, never followed.
        let writable: Vec<(&Path, &str)> = local
            .iter()
            .filter(|(_, _, e)| e.access == Access::ReadWrite)
            .map(|(_, resolved, e)| (resolved.as_path(), e.pointer.as_str()))
            .collect();
        for (written, _, entry) in &local {
            if let Some((link, target, grant)) = planted_link(written, &writable, host) {
                errors.push(crate::PolicyError::new(
                    entry.pointer.clone(),
                    crate::PolicyErrorKind::PlantedLink {
                        path: written.display().to_string(),
                        link: link.display().to_string(),
                        target: target.display().to_string(),
                        grant: grant.to_string(),
                    },
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut candidates: Vec<FsRule> = Vec::new();
        for (written, resolved, entry) in &local {
            candidates.push(FsRule {
                path: written.clone(),
                host: resolved.clone(),
                access: entry.access,
                pointer: entry.pointer.clone(),
                origin: RuleOrigin::Written,
            });
            if entry.access != Access::Deny {
                continue;
            }
            if resolved != written {
                candidates.push(FsRule {
                    path: resolved.clone(),
                    host: resolved.clone(),
                    access: Access::Deny,
                    pointer: entry.pointer.clone(),
                    origin: RuleOrigin::ResolvedDeny,
                });
            }
            // The denied object seen through every grant whose object contains it.
            for (g_written, g_resolved, grant) in &local {
                if grant.access == Access::Deny || g_written == g_resolved {
                    continue;
                }
                if let Ok(rest) = resolved.strip_prefix(g_resolved) {
                    let seen = if rest.as_os_str().is_empty() { g_written.clone() } else { g_written.join(rest) };
                    candidates.push(FsRule {
                        path: seen,
                        host: resolved.clone(),
                        access: Access::Deny,
                        pointer: entry.pointer.clone(),
                        origin: RuleOrigin::ThroughGrant { grant: grant.pointer.clone() },
                    });
                }
            }
        }

        // Same path in several lists: the strongest access wins (deny > ro > rw); among
        // equals, the first written keeps its pointer.
        let mut rules: Vec<FsRule> = Vec::new();
        let mut index: HashMap<PathBuf, usize> = HashMap::new();
        for rule in candidates {
            match index.get(&rule.path) {
                Some(&i) => {
                    if rule.access > rules[i].access {
                        rules[i] = rule;
                    }
                }
                None => {
                    index.insert(rule.path.clone(), rules.len());
                    rules.push(rule);
                }
            }
        }
        // Shallow to deep, then by path: the order bind mounts and SBPL rules are emitted in.
        rules.sort_by(|a, b| depth(&a.path).cmp(&depth(&b.path)).then_with(|| a.path.cmp(&b.path)));
        let index = rules.iter().enumerate().map(|(i, r)| (r.path.clone(), i)).collect();
        Ok(Self { entries, rules, index, foreign })
    }

    /// The entries as written, in document order.
    pub fn entries(&self) -> &[PathEntry] {
        &self.entries
    }

    /// The effective rules, shallow to deep.
    pub fn rules(&self) -> &[FsRule] {
        &self.rules
    }

    /// Entries that apply to another OS (Windows paths on Unix and the reverse). A backend
    /// must refuse a policy that has any: it cannot enforce them here.
    pub fn foreign(&self) -> &[PathEntry] {
        &self.foreign
    }

    /// The rule that decides `path` (absolute, lexically clean): the most specific rule at
    /// the path or one of its ancestors. `None` means no rule covers it: denied by default.
    pub fn decide(&self, path: &Path) -> Option<&FsRule> {
        path.ancestors().find_map(|p| self.index.get(p)).map(|&i| &self.rules[i])
    }

    /// Effective access to `path`: the deciding rule's, or `Deny` when none covers it.
    pub fn access(&self, path: &Path) -> Access {
        self.decide(path).map_or(Access::Deny, |r| r.access)
    }

    /// Rules strictly below `dir`, shallow to deep.
    pub fn rules_below<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a FsRule> + 'a {
        self.rules.iter().filter(move |r| r.path != dir && r.path.starts_with(dir))
    }
}

/// The first symlink met while walking `written` component by component (following honest
/// links, which lie outside every writable grant) whose location lies strictly inside a
/// writable grant's object: (link, its target, the grant's pointer).
fn planted_link<'a>(
    written: &Path,
    writable: &[(&Path, &'a str)],
    host: &dyn HostEnv,
) -> Option<(PathBuf, PathBuf, &'a str)> {
    let mut cur = PathBuf::new();
    for c in written.components() {
        // The root (and on Windows the drive or share before it) is never a link.
        if !matches!(c, Component::Normal(_)) {
            cur.push(c);
            continue;
        }
        let next = cur.join(c);
        match host.read_link(&next) {
            Some(target) => {
                if let Some((_, grant)) = writable.iter().find(|(w, _)| next.starts_with(w) && next != *w) {
                    return Some((next, target, grant));
                }
                cur = clean(&host.resolve(&next));
            }
            None => cur = next,
        }
    }
    None
}

fn depth(p: &Path) -> usize {
    p.components().count()
}

/// Lexically cleans an absolute path: drops `.` and trailing separators; `..` pops (used
/// only on paths cordon built itself, never on paths the policy wrote).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(p) => out.push(p.as_os_str()),
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

/// A Windows path in the one form cordon uses for it: `\` separators, repeated ones
/// collapsed, no trailing one (except after the drive's root), the drive letter upper case,
/// and the verbatim prefix `\\?\` (which `canonicalize` adds) dropped: `\\?\c:\a//b\`
/// and `C:/a/b` are both `C:\a\b`; `\\?\UNC\srv\share\x` is `\\srv\share\x`.
pub fn windows_form(path: &str) -> String {
    let s = path.replace('/', "\\");
    let (unc, rest) = if let Some(r) = s.strip_prefix("\\\\?\\UNC\\") {
        (true, r.to_string())
    } else if let Some(r) = s.strip_prefix("\\\\?\\") {
        (false, r.to_string())
    } else if let Some(r) = s.strip_prefix("\\\\") {
        (true, r.to_string())
    } else {
        (false, s)
    };
    let parts: Vec<&str> = rest.split('\\').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut out = String::new();
    if unc {
        out.push_str("\\\\");
        out.push_str(&parts.join("\\"));
        return out;
    }
    match parts.split_first() {
        Some((drive, tail)) if drive.len() == 2 && drive.ends_with(':') => {
            out.push_str(&drive.to_ascii_uppercase());
            out.push('\\');
            out.push_str(&tail.join("\\"));
        }
        _ => out.push_str(&parts.join("\\")),
    }
    out
}

/// Parses a written path. Windows absolute paths are recognised on every OS.
pub(crate) fn parse_path(s: &str) -> Result<PolicyPath, crate::PolicyErrorKind> {
    use crate::PolicyErrorKind as K;
    if s.is_empty() {
        return Err(K::EmptyPath);
    }
    if s.contains('\0') {
        return Err(K::NulInPath);
    }
    let b = s.as_bytes();
    let drive = b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/');
    if drive || s.starts_with("\\\\") {
        if s.split(['\\', '/']).any(|c| c == "..") {
            return Err(K::DotDotInPath { path: s.into() });
        }
        return Ok(PolicyPath::Windows(s.into()));
    }
    let (home, rest) = if s == "~" {
        (true, "")
    } else if let Some(rest) = s.strip_prefix("~/") {
        (true, rest)
    } else if s.starts_with('/') {
        (false, s)
    } else {
        return Err(K::RelativePath { path: s.into() });
    };
    if Path::new(rest).components().any(|c| c == Component::ParentDir) {
        return Err(K::DotDotInPath { path: s.into() });
    }
    if home {
        let cleaned: PathBuf = Path::new(rest).components().filter(|c| matches!(c, Component::Normal(_))).collect();
        Ok(PolicyPath::Home(cleaned))
    } else {
        Ok(PolicyPath::Absolute(clean(Path::new(rest))))
    }
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
