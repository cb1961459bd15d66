//! The real [`HostEnv`]: home directory and symlink resolution from this machine.

use std::path::{Path, PathBuf};

use cordon_policy::HostEnv;

/// Reads `HOME` and resolves paths through the host's symlinks.
///
/// # Ambient Authority
/// Reads the process environment and the host filesystem's metadata (never file contents).
#[derive(Debug, Clone, Default)]
pub struct SystemHost;

impl HostEnv for SystemHost {
    fn home_dir(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        // Canonicalise the longest existing prefix and keep the rest as written.
        let mut existing = path.to_path_buf();
        let mut rest: Vec<PathBuf> = Vec::new();
        loop {
            if let Ok(real) = std::fs::canonicalize(&existing) {
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
}
