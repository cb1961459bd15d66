//! Opening the directory that holds a resolved path, beneath a descriptor's own handle, with
//! the kernel refusing every symlink on the way.
//!
//! The layer decides on a resolved guest path (no `.`, `..` or symlink left in it). Handing
//! the guest's original string to wasmtime-wasi would make the kernel resolve it a second
//! time, and a symlink swapped in between would be followed. Instead the directory holding
//! the last name is opened here, component by component from the descriptor the guest gave,
//! with no symlink allowed (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, or
//! `openat` with `O_NOFOLLOW | O_DIRECTORY` per component where `openat2` is missing), and the
//! call is made on that handle with the last name alone, never following it.

use std::fs::File;
use std::io;
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags};

/// Flags for each directory on the way: only a handle to look names up in.
fn dir_flags() -> OFlags {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let path = OFlags::PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let path = OFlags::RDONLY;
    path | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens the directory `rel` beneath `base`. `rel` must be relative and made of normal
/// components only (a resolved path); anything else is refused. Every component must be a
/// real directory at the moment it is looked up: a symlink fails with `ELOOP` (`openat2`) or
/// `ENOTDIR` (the walk), never followed.
pub(crate) fn open_dir_beneath(base: &File, rel: &Path) -> io::Result<File> {
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(io::Error::from_raw_os_error(rustix::io::Errno::INVAL.raw_os_error()));
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::ResolveFlags;
        use rustix::io::Errno;
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(base, rel, dir_flags(), Mode::empty(), how) {
            Ok(fd) => return Ok(File::from(fd)),
            // No openat2 (kernel before 5.6, or a seccomp filter refusing it): walk.
            // EAGAIN: the kernel saw a concurrent rename and asks for a retry; the walk
            // does not need one.
            Err(e) if e == Errno::NOSYS || e == Errno::PERM || e == Errno::AGAIN => {}
            Err(e) => return Err(e.into()),
        }
    }
    walk(base, rel)
}

/// `openat(O_NOFOLLOW | O_DIRECTORY)` one component at a time, each from the handle before.
fn walk(base: &File, rel: &Path) -> io::Result<File> {
    let mut cur = base.try_clone()?;
    for c in rel.components() {
        let fd = rustix::fs::openat(&cur, c.as_os_str(), dir_flags(), Mode::empty())?;
        cur = File::from(fd);
    }
    Ok(cur)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_anywhere_on_the_way_is_refused_not_followed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b/c")).unwrap();
        std::fs::create_dir_all(t.path().join("secret/c")).unwrap();
        std::os::unix::fs::symlink("secret", t.path().join("l")).unwrap();
        std::os::unix::fs::symlink("../secret", t.path().join("a/l")).unwrap();
        let base = File::open(t.path()).unwrap();
        for p in ["l", "l/c", "a/l", "a/l/c"] {
            assert!(open_dir_beneath(&base, Path::new(p)).is_err(), "{p}");
            assert!(walk(&base, Path::new(p)).is_err(), "walk {p}");
        }
        for p in ["..", "a/../secret", "/tmp", "./a"] {
            assert!(open_dir_beneath(&base, Path::new(p)).is_err(), "{p}");
        }
        // The twins: real directories open, by either way.
        for p in ["a", "a/b/c", "secret/c"] {
            assert!(open_dir_beneath(&base, Path::new(p)).is_ok(), "{p}");
            assert!(walk(&base, Path::new(p)).is_ok(), "walk {p}");
        }
        // A file on the way is not a directory.
        std::fs::write(t.path().join("a/f"), "x").unwrap();
        assert!(open_dir_beneath(&base, Path::new("a/f")).is_err());
    }
}
