//! The real [`HostEnv`]: home directory and symlink resolution from this machine.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cordon_policy::HostEnv;

/// Reads the home directory ([`home_from`]) and resolves paths through the host's symlinks.
///
/// # Ambient Authority
/// Reads the process environment and the host filesystem's metadata (never file contents).
#[derive(Debug, Clone, Default)]
pub struct SystemHost;

impl HostEnv for SystemHost {
    fn home_dir(&self) -> Option<PathBuf> {
        home_from(&|k| std::env::var_os(k), cfg!(windows)).or_else(dirs::home_dir)
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        // Canonicalise the longest existing prefix and keep the rest as written.
        let mut existing = path.to_path_buf();
        let mut rest: Vec<PathBuf> = Vec::new();
        loop {
            // `dunce`: on Windows the `C:\x` form where it means the same as the verbatim
            // `\\?\C:\x` that `canonicalize` returns (else a deny and its resolved object
            // would be two spellings of one path); elsewhere `std::fs::canonicalize`.
            if let Ok(real) = dunce::canonicalize(&existing) {
                let mut out = real;
                for r in rest.iter().rev() {
                    out.push(r);
                }
                return out;
            }
            match (existing.file_name().map(PathBuf::from), existing.parent().map(Path::to_path_buf)) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent;
                }
                _ => return path.to_path_buf(),
            }
        }
    }

    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() { std::fs::read_link(path).ok() } else { None }
    }

    fn is_windows(&self) -> bool {
        cfg!(windows)
    }
}

/// A variable's value, when set and not empty.
fn set(var: &dyn Fn(&str) -> Option<OsString>, k: &str) -> Option<PathBuf> {
    var(k).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The home directory from the environment `var` reads: `HOME`; on Windows (`windows`)
/// without it, `USERPROFILE`, then `HOMEDRIVE` + `HOMEPATH`. `None` when none is set (the
/// caller then asks the OS: `dirs::home_dir`).
pub fn home_from(var: &dyn Fn(&str) -> Option<OsString>, windows: bool) -> Option<PathBuf> {
    set(var, "HOME").or_else(|| {
        if !windows {
            return None;
        }
        set(var, "USERPROFILE").or_else(|| {
            let drive = set(var, "HOMEDRIVE")?;
            let path = set(var, "HOMEPATH")?;
            let mut s = drive.into_os_string();
            s.push(path.as_os_str());
            Some(PathBuf::from(s))
        })
    })
}

/// The compiled-code cache directory from the environment `var` reads: `CORDON_CACHE_DIR`;
/// else `$XDG_CACHE_HOME/cordon`; on Windows `%LOCALAPPDATA%\\cordon`; else
/// `<home>/.cache/cordon` with the home of [`home_from`]. `None` when none of them is set
/// (the caller then asks the OS: `dirs::cache_dir`).
pub fn cache_dir_from(var: &dyn Fn(&str) -> Option<OsString>, windows: bool) -> Option<PathBuf> {
    if let Some(d) = set(var, "CORDON_CACHE_DIR") {
        return Some(d);
    }
    if let Some(d) = set(var, "XDG_CACHE_HOME") {
        return Some(d.join("cordon"));
    }
    if windows && let Some(d) = set(var, "LOCALAPPDATA") {
        return Some(d.join("cordon"));
    }
    home_from(var, windows).map(|h| h.join(".cache").join("cordon"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn home_follows_the_platform_when_home_is_absent() {
        let win = env(&[("USERPROFILE", "C:\\Users\\me"), ("HOMEDRIVE", "D:"), ("HOMEPATH", "\\u")]);
        assert_eq!(home_from(&win, true), Some(PathBuf::from("C:\\Users\\me")));
        // Not a Windows host: USERPROFILE means nothing there.
        assert_eq!(home_from(&win, false), None);
        assert_eq!(home_from(&env(&[("HOMEDRIVE", "D:"), ("HOMEPATH", "\\u")]), true), Some(PathBuf::from("D:\\u")));
        // HOME wins everywhere; an empty one is unset.
        let both = env(&[("HOME", "/home/me"), ("USERPROFILE", "C:\\Users\\me")]);
        assert_eq!(home_from(&both, true), Some(PathBuf::from("/home/me")));
        assert_eq!(home_from(&env(&[("HOME", ""), ("USERPROFILE", "C:\\U")]), true), Some(PathBuf::from("C:\\U")));
        assert_eq!(home_from(&env(&[]), true), None);
    }

    #[test]
    fn the_cache_follows_the_platform_when_home_is_absent() {
        let win = env(&[("LOCALAPPDATA", "C:\\Users\\me\\AppData\\Local"), ("USERPROFILE", "C:\\Users\\me")]);
        assert_eq!(cache_dir_from(&win, true), Some(PathBuf::from("C:\\Users\\me\\AppData\\Local").join("cordon")));
        assert_eq!(
            cache_dir_from(&env(&[("USERPROFILE", "C:\\U")]), true),
            Some(PathBuf::from("C:\\U").join(".cache").join("cordon"))
        );
        assert_eq!(cache_dir_from(&win, false), None);
        let unix = env(&[("HOME", "/home/me"), ("LOCALAPPDATA", "X")]);
        assert_eq!(cache_dir_from(&unix, false), Some(PathBuf::from("/home/me/.cache/cordon")));
        let all = env(&[("CORDON_CACHE_DIR", "/c"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(cache_dir_from(&all, false), Some(PathBuf::from("/c")));
        assert_eq!(
            cache_dir_from(&env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]), true),
            Some(PathBuf::from("/x/cordon"))
        );
    }
}

/// The real [`cordon_plan::PathFacts`]: what a path is on this host, read when planning.
///
/// # Ambient Authority
/// Reads the host filesystem's metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemFacts;

impl cordon_plan::PathFacts for SystemFacts {
    fn kind(&self, path: &Path) -> Option<cordon_plan::ObjectKind> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            if m.file_type().is_socket() {
                return Some(cordon_plan::ObjectKind::Socket);
            }
        }
        Some(if m.is_dir() { cordon_plan::ObjectKind::Dir } else { cordon_plan::ObjectKind::File })
    }

    /// Every interface's addresses (loopback and down interfaces included) and, on Linux,
    /// every local, broadcast and anycast route, as they are now (kept between plans until
    /// the kernel reports a change: [`crate::own_addrs`]).
    fn own_networks(&self) -> std::io::Result<Vec<cordon_policy::net::IpNet>> {
        crate::own_addrs::current()
    }
}
