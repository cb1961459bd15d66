//! cordon's own files out of every tool's reach, on every backend.
//!
//! The compiled-code cache (trusted code and its key) and the audit log are implicit denies
//! that no grant may cover. A grant is compared with a protected path as objects, not as
//! strings: both sides are taken as written and resolved through symlinks, and every
//! existing ancestor is compared by device and inode too, so a trailing `/`, a `/./`, a
//! symlinked ancestor on either side or a bind mount of a parent names the same object.
//!
//! cordon refuses (exit 125) rather than carving the path out: a carve-out below a grant
//! cannot be expressed on landlock, and a tool that can write an ancestor of the cache could
//! replace the whole directory, key included, whatever is masked inside it.

use std::path::{Path, PathBuf};

use cordon_policy::{Access, FsRules, HostEnv as _};

use crate::{RuntimeError, SystemHost};

/// How far a protected path must be out of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// No grant at all (read-only included) may cover it or lie inside it.
    Any,
    /// No read-write grant may cover it.
    Write,
}

/// One of cordon's own paths.
#[derive(Debug, Clone)]
pub(crate) struct Protected {
    /// The path, as cordon uses it.
    pub path: PathBuf,
    /// What it is, for the message (`cordon's compiled-code cache`).
    pub what: &'static str,
    /// What the user can do instead.
    pub hint: &'static str,
    /// How far out of reach it must be.
    pub reach: Reach,
    /// Its forms and object ids, read once ([`Protected::prepared`]) for a tool that is
    /// called many times; read at each check otherwise.
    pub seen: Option<Seen>,
}

/// A protected path's forms (as written, resolved) and the (dev, ino) of it and of every
/// existing ancestor.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    forms: Vec<PathBuf>,
    self_ids: Vec<Id>,
    ancestor_ids: Vec<Id>,
}

impl Seen {
    fn of(path: &Path) -> Self {
        let forms = forms(path);
        let self_ids = forms.iter().filter_map(|f| id(f)).collect();
        let ancestor_ids = forms.iter().flat_map(|f| f.ancestors()).filter_map(id).collect();
        Self { forms, self_ids, ancestor_ids }
    }
}

impl Protected {
    /// The same, with its forms and ids read now: cordon's own paths do not move while it
    /// runs (no tool may reach them), so a library's tool reads them once, not per call;
    /// the grants are still read at every check.
    pub(crate) fn prepared(mut self) -> Self {
        self.seen = Some(Seen::of(&self.path));
        self
    }
}

impl Protected {
    /// The compiled-code cache at `dir`.
    pub(crate) fn cache(dir: &Path) -> Self {
        Self {
            path: dir.to_path_buf(),
            what: "cordon's compiled-code cache (code cordon runs outside every sandbox, and its key)",
            hint: "grant a narrower path, or move the cache outside every grant with CORDON_CACHE_DIR",
            reach: Reach::Any,
            seen: None,
        }
    }

    /// cordon's own process in `/proc` (`/proc/self`, resolved when checked): a wasm tool
    /// runs inside cordon, so there its environment, memory (`/proc/self/mem` is writable by
    /// the process itself) and descriptors are cordon's.
    pub(crate) fn own_process() -> Self {
        Self {
            path: PathBuf::from("/proc/self"),
            what: "cordon's own process (a wasm tool runs inside cordon: its memory, environment and open files)",
            hint: "grant no part of /proc to a wasm tool, or run the tool natively, where /proc is its own",
            reach: Reach::Any,
            seen: None,
        }
    }

    /// The audit log at `file`.
    pub(crate) fn audit(file: &Path) -> Self {
        Self {
            path: file.to_path_buf(),
            what: "the audit log",
            hint: "write the audit log outside every read-write grant (--audit FILE or cordon.audit.path)",
            reach: Reach::Write,
            seen: None,
        }
    }
}

impl Protected {
    /// cordon's own programs: the running executable and the `cordon-helper` beside it (on
    /// the landlock backend the helper is what applies landlock and seccomp, so a tool that
    /// could replace it would run the next time unsandboxed).
    pub(crate) fn program(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            what: "cordon's own program (cordon or cordon-helper, which set up every later sandbox)",
            hint: "grant a narrower path, or install cordon outside every read-write grant",
            reach: Reach::Write,
            seen: None,
        }
    }
}

/// cordon's own paths for one run: the default cache directory (whether or not it exists
/// yet: a tool that could create it could plant a key and entries), the audit log and
/// cordon's own programs. (The empty wasm root in the temporary directory is not: granting
/// `/tmp` is common; it is checked empty and private before every run instead.)
pub(crate) fn for_run(cache: Option<&Path>, audit: Option<&Path>) -> Vec<Protected> {
    let mut out: Vec<Protected> = cache.map(Protected::cache).into_iter().chain(audit.map(Protected::audit)).collect();
    if let Ok(exe) = std::env::current_exe() {
        out.push(Protected::program(&exe.with_file_name("cordon-helper")));
        out.push(Protected::program(&exe));
    }
    out
}

/// Refuses rules that reach a protected path: a grant equal to it or an ancestor of it (for
/// [`Reach::Any`], also one inside it).
///
/// # Errors
/// [`RuntimeError::Grant`] naming the grant's JSON pointer, the protected path and what to do.
pub(crate) fn refuse_reach(rules: &FsRules, protected: &[Protected]) -> Result<(), RuntimeError> {
    for p in protected {
        // (dev, ino) of the protected object and of every existing ancestor of each form.
        let fresh;
        let seen = match &p.seen {
            Some(s) => s,
            None => {
                fresh = Seen::of(&p.path);
                &fresh
            }
        };
        let Seen { forms, self_ids, ancestor_ids } = seen;
        for rule in rules.rules() {
            let applies = match p.reach {
                Reach::Any => rule.access != Access::Deny,
                Reach::Write => rule.access == Access::ReadWrite,
            };
            if !applies {
                continue;
            }
            let grant_forms: Vec<PathBuf> = forms_of_rule(&rule.path, &rule.host);
            let covers = grant_forms.iter().any(|g| {
                forms.iter().any(|f| f.starts_with(g)) || id(g).is_some_and(|gid| ancestor_ids.contains(&gid))
            });
            let inside = p.reach == Reach::Any
                && grant_forms.iter().any(|g| {
                    forms.iter().any(|f| g.starts_with(f))
                        || g.ancestors().filter_map(id).any(|aid| self_ids.contains(&aid))
                });
            if covers || inside {
                let how = if covers { "covers" } else { "lies inside" };
                return Err(RuntimeError::Grant {
                    pointer: rule.pointer.clone(),
                    path: rule.path.clone(),
                    reason: format!(
                        "the {} grant {how} {} at {}, which no tool may reach; {}",
                        rule.access.as_str(),
                        p.what,
                        p.path.display(),
                        p.hint
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Refuses a native command named by a path that reaches a protected path read-only-or-more
/// (bubblewrap binds that file into the sandbox, landlock grants it), and an audit log
/// inside the cache directory (cordon would append to its key or entries).
///
/// # Errors
/// [`RuntimeError::Request`] naming the path.
pub(crate) fn refuse_paths(
    exe: Option<&Path>,
    audit: Option<&Path>,
    protected: &[Protected],
) -> Result<(), RuntimeError> {
    for p in protected.iter().filter(|p| p.reach == Reach::Any) {
        let forms = forms(&p.path);
        let self_ids: Vec<Id> = forms.iter().filter_map(|f| id(f)).collect();
        let inside = |q: &Path| {
            let q_forms = forms_of_rule(q, q);
            q_forms.iter().any(|g| forms.iter().any(|f| g.starts_with(f)))
                || q_forms.iter().any(|g| g.ancestors().filter_map(id).any(|aid| self_ids.contains(&aid)))
        };
        if let Some(exe) = exe.filter(|e| inside(e)) {
            return Err(RuntimeError::Request(format!(
                "the command {} is inside {} at {}; cordon does not run or expose it",
                exe.display(),
                p.what,
                p.path.display()
            )));
        }
        if let Some(audit) = audit.filter(|a| inside(a)) {
            return Err(RuntimeError::Request(format!(
                "the audit log {} is inside {} at {}; write it elsewhere",
                audit.display(),
                p.what,
                p.path.display()
            )));
        }
    }
    Ok(())
}

type Id = (u64, u64);

#[cfg(unix)]
fn id(p: &Path) -> Option<Id> {
    use std::os::unix::fs::MetadataExt as _;
    // Follows symlinks: the object a grant or a path ends up naming.
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn id(_: &Path) -> Option<Id> {
    None
}

/// `p` made absolute and lexically clean, and resolved through symlinks.
fn forms(p: &Path) -> Vec<PathBuf> {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let written = cordon_policy::fs::clean(&abs);
    let resolved = cordon_policy::fs::clean(&SystemHost.resolve(&written));
    dedup(vec![written, resolved])
}

/// A rule's place, its host object, and both resolved now (the policy may have been
/// normalised without resolving symlinks, as with `LexicalHost`).
fn forms_of_rule(path: &Path, host: &Path) -> Vec<PathBuf> {
    let mut v = forms(path);
    v.extend(forms(host));
    dedup(v)
}

fn dedup(mut v: Vec<PathBuf>) -> Vec<PathBuf> {
    v.sort();
    v.dedup();
    v
}
