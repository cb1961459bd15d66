//! Path resolution as the kernel does it, in guest paths, and the policy decision on the
//! result. Pure apart from reading symlinks through a [`LinkReader`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use cordon_policy::{Access, FsRules};

/// Most symlinks followed in one resolution (Linux's limit).
const MAX_HOPS: usize = 40;

/// Reads a symlink's target at a guest path; `None` when the path is not a symlink (or does
/// not exist, or lies outside every mount).
pub trait LinkReader {
    /// The link target, as stored in the link.
    fn read_link(&self, guest: &Path) -> Option<PathBuf>;
    /// Whether something is at the guest path and is a directory: `Some(true)`, `Some(false)`
    /// for another object, `None` for nothing there. Asked only before `..` leaves a path
    /// entered by name, which the kernel requires to be a directory (`missing/..` and
    /// `file/..` fail; they do not name the parent).
    fn is_dir(&self, guest: &Path) -> Option<bool>;
}

/// Why a resolution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The policy denies it; carries the path decided on and the deciding rule's pointer
    /// (`None` when no rule covers the path: denied by default).
    Denied {
        /// The guest path the decision is about.
        path: PathBuf,
        /// JSON pointer of the deciding rule.
        rule: Option<String>,
    },
    /// Too many symlinks.
    Loop,
    /// `..` after a name that is not there.
    NoEntry,
    /// `..` after a name that is not a directory.
    NotDirectory,
}

/// What a call needs of its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read its contents, list it, or look at its metadata.
    Read,
    /// Change it, or create or remove it.
    Write,
    /// Open it only to reach something below (a directory on the way to a grant).
    Traverse,
}

/// The policy view the layer decides with.
#[derive(Debug, Clone)]
pub struct Decider {
    rules: FsRules,
}

impl Decider {
    /// Decides with `rules`.
    pub fn new(rules: FsRules) -> Self {
        Self { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &FsRules {
        &self.rules
    }

    /// True when some rule below `dir` grants access: `dir` may be passed through (and
    /// opened as a way there) even if it is itself denied or uncovered.
    pub fn is_transit(&self, dir: &Path) -> bool {
        self.rules.rules_below(dir).any(|r| r.access != Access::Deny)
    }

    /// Checks `need` on `path` (already resolved).
    pub fn check(&self, path: &Path, need: Need) -> Result<(), Refusal> {
        let rule = self.rules.decide(path);
        let access = rule.map_or(Access::Deny, |r| r.access);
        let ok = match need {
            Need::Read => access.can_read(),
            Need::Write => access.can_write(),
            Need::Traverse => access.can_read() || self.is_transit(path),
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::Denied { path: path.to_path_buf(), rule: rule.map(|r| r.pointer.clone()) })
        }
    }

    /// Checks that nothing below `path` has weaker access than read-write, so moving or
    /// replacing `path` cannot carry a denied or read-only object to a new name.
    pub fn check_subtree_writable(&self, path: &Path) -> Result<(), Refusal> {
        match self.rules.rules_below(path).find(|r| r.access != Access::ReadWrite) {
            Some(r) => Err(Refusal::Denied { path: r.path.clone(), rule: Some(r.pointer.clone()) }),
            None => Ok(()),
        }
    }

    /// Resolves `rel` against the directory `base` (a clean absolute guest path):
    /// `.` skipped, `..` to the parent, symlinks followed (the last component only when
    /// `follow_last`), every directory passed through checked for [`Need::Traverse`].
    ///
    /// An absolute `rel` is resolved from `/`, as the kernel would; wasmtime-wasi refuses
    /// such paths anyway, so this only makes the check stricter.
    pub fn resolve(
        &self,
        base: &Path,
        rel: &str,
        follow_last: bool,
        links: &dyn LinkReader,
    ) -> Result<PathBuf, Refusal> {
        // A trailing `/` or `/.` makes the kernel follow a final symlink whatever the flags
        // say (the path must name a directory), so it is followed here too: deciding on the
        // link while the kernel opens its target is the hole this closes.
        let follow_last = follow_last || ends_in_dir_marker(rel);
        let mut cur = base.to_path_buf();
        let mut queue: VecDeque<OsString> = VecDeque::new();
        push_front(&mut queue, Path::new(rel), &mut cur);
        let mut hops = 0;
        // True while `cur` is known to be a directory: the base, `/`, and every parent of
        // one; false once a name was entered whose kind nobody looked at.
        let mut known_dir = true;
        // Set when the last name was a link whose target ends in `/` or `/.`: the kernel then
        // requires the end to be a directory.
        let mut must_be_dir = false;
        while let Some(c) = queue.pop_front() {
            if c == "." {
                continue;
            }
            if c == ".." {
                if !known_dir {
                    match links.is_dir(&cur) {
                        Some(true) => {}
                        Some(false) => return Err(Refusal::NotDirectory),
                        None => return Err(Refusal::NoEntry),
                    }
                }
                cur.pop();
                known_dir = true;
                self.check(&cur, Need::Traverse)?;
                continue;
            }
            let next = cur.join(&c);
            let last = queue.is_empty();
            if (!last || follow_last)
                && let Some(target) = links.read_link(&next)
            {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(Refusal::Loop);
                }
                if last && ends_in_dir_marker(&target.to_string_lossy()) {
                    must_be_dir = true;
                }
                // The link itself lives in `cur`, which was checked on the way here.
                if push_front(&mut queue, &target, &mut cur) {
                    known_dir = true;
                }
                continue;
            }
            if !last {
                self.check(&next, Need::Traverse)?;
            }
            cur = next;
            known_dir = false;
        }
        if must_be_dir && !known_dir {
            match links.is_dir(&cur) {
                Some(true) => {}
                Some(false) => return Err(Refusal::NotDirectory),
                None => return Err(Refusal::NoEntry),
            }
        }
        Ok(cur)
    }
}

/// True when `rel` ends in `/`, `/.` or is `.`: forms `Path::components` drops, after which
/// the last real component must be followed (`..` at the end is a component of its own).
pub(crate) fn ends_in_dir_marker(rel: &str) -> bool {
    let trimmed = rel.trim_end_matches('/');
    trimmed.len() != rel.len() || trimmed == "." || trimmed.ends_with("/.")
}

/// Puts `path`'s components at the front of `queue`; an absolute path restarts from `/`
/// (and then returns true).
fn push_front(queue: &mut VecDeque<OsString>, path: &Path, cur: &mut PathBuf) -> bool {
    let mut parts: Vec<OsString> = Vec::new();
    let mut restarted = false;
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                *cur = PathBuf::from("/");
                parts.clear();
                restarted = true;
            }
            Component::CurDir => {}
            Component::ParentDir => parts.push("..".into()),
            Component::Normal(n) => parts.push(n.to_os_string()),
        }
    }
    for p in parts.into_iter().rev() {
        queue.push_front(p);
    }
    restarted
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;

#[cfg(all(test, target_os = "linux"))]
#[path = "resolve_kernel_tests.rs"]
mod kernel_tests;
