//! Opening a host path without following links: what bubblewrap binds and what the
//! landlock backend's rules are built on is the object the policy was checked against.
#![allow(unsafe_code, reason = "openat and fstat on descriptors this module owns")]

use std::path::Path;

/// Opens `path` (absolute) one component at a time with `O_PATH | O_NOFOLLOW` from `/`,
/// refusing any symlink on the way or at the end, so what is bound is the object the policy
/// resolved when it loaded, not whatever a link swapped in since points at.
pub(crate) fn open_pinned(path: &Path) -> Result<std::os::fd::OwnedFd, String> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    use std::os::unix::ffi::OsStrExt as _;
    let open_at = |dir: libc::c_int, name: &[u8]| -> Result<OwnedFd, String> {
        let c = std::ffi::CString::new(name).map_err(|_| "a NUL in the path".to_string())?;
        // SAFETY: a NUL-terminated name and flags; the result is checked before use.
        let fd = unsafe { libc::openat(dir, c.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let mut cur = open_at(libc::AT_FDCWD, b"/")?;
    for c in path.components() {
        let std::path::Component::Normal(name) = c else {
            if c == std::path::Component::RootDir {
                continue;
            }
            return Err(format!("`{}` in the path", c.as_os_str().to_string_lossy()));
        };
        let next = open_at(cur.as_raw_fd(), name.as_bytes())?;
        // SAFETY: fstat fills a plain struct for a valid descriptor.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(next.as_raw_fd(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(format!("{} is a symlink", name.to_string_lossy()));
        }
        cur = next;
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::open_pinned;

    #[test]
    fn a_grant_is_opened_only_when_no_symlink_lies_on_its_way() {
        let base = std::env::temp_dir().join(format!("cordon-pin-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(base.join("real"), base.join("link")).unwrap();
        // The real path opens; the twin through a link (on the way, or at the end) does not.
        assert!(open_pinned(&base.join("real/sub")).is_ok());
        let err = open_pinned(&base.join("link/sub")).unwrap_err();
        assert!(err.contains("link is a symlink"), "{err}");
        assert!(open_pinned(&base.join("link")).is_err());
        assert!(open_pinned(&base.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
