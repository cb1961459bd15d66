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
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

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
pub fn open_dir_beneath(base: &File, rel: &Path) -> io::Result<File> {
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

/// Which object a handle or a name is: its device and inode. Every name of one object has
/// the same identity: a hard link, a bind mount, another spelling on a case-insensitive
/// filesystem (`SECRET` for `secret` on ext4 with casefold, APFS, NTFS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectId {
    dev: u64,
    ino: u64,
}

impl ObjectId {
    /// The identity of the object `file` is open on (`fstat`; `O_PATH` handles too).
    ///
    /// # Errors
    /// When `fstat` fails.
    pub fn of(file: &File) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let m = file.metadata()?;
        Ok(Self { dev: m.dev(), ino: m.ino() })
    }

    /// The identity of the object named `name` in the directory `dir`, the name not
    /// followed; `None` when nothing is there.
    ///
    /// # Errors
    /// When `fstatat` fails for another reason than the name being absent.
    pub fn of_name(dir: &File, name: &std::ffi::OsStr) -> io::Result<Option<Self>> {
        use rustix::io::Errno;
        match rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            // `st_dev` is signed on some systems; the bits are what identify the device.
            #[allow(clippy::cast_sign_loss, clippy::unnecessary_cast, reason = "st_dev's type differs by OS")]
            Ok(st) => Ok(Some(Self { dev: st.st_dev as u64, ino: st.st_ino as u64 })),
            Err(e) if e == Errno::NOENT || e == Errno::NOTDIR => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// As [`open_dir_beneath`], one component at a time (`openat(O_NOFOLLOW | O_DIRECTORY)` from
/// the handle before), calling `visit(parent, name, opened)` for every directory opened: the
/// caller sees each object on the way, to decide on what it is rather than what it is called.
///
/// # Errors
/// As [`open_dir_beneath`]; or the first error `visit` returns.
pub fn walk_beneath(
    base: &File,
    rel: &Path,
    visit: &mut dyn FnMut(&File, &std::ffi::OsStr, &File) -> io::Result<()>,
) -> io::Result<File> {
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(io::Error::from_raw_os_error(rustix::io::Errno::INVAL.raw_os_error()));
    }
    let mut cur = base.try_clone()?;
    for c in rel.components() {
        let next = match rustix::fs::openat(&cur, c.as_os_str(), dir_flags(), Mode::empty()) {
            Ok(fd) => File::from(fd),
            // A symlink where a directory was: `ELOOP`, as `openat2(RESOLVE_NO_SYMLINKS)`
            // says, so callers tell a link that turned up from a missing directory.
            Err(e) if e == rustix::io::Errno::NOTDIR && is_symlink_at(&cur, c.as_os_str()) => {
                return Err(rustix::io::Errno::LOOP.into());
            }
            Err(e) => return Err(e.into()),
        };
        visit(&cur, c.as_os_str(), &next)?;
        cur = next;
    }
    Ok(cur)
}

/// True when `name` in `dir` is a symlink (not followed).
fn is_symlink_at(dir: &File, name: &std::ffi::OsStr) -> bool {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

/// Why [`open_ambient_nofollow`] refused a path.
#[derive(Debug)]
pub enum NoFollowError {
    /// A symlink was met where the path, as resolved when the policy loaded, had none: the
    /// tree changed since. Carries the link and, when it could be read, its target.
    Link {
        /// The symlink, an absolute host path.
        link: PathBuf,
        /// What it points to, as stored in the link.
        target: Option<PathBuf>,
    },
    /// `at` (the path up to the component that failed) could not be opened.
    Io {
        /// How far the walk got.
        at: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The path is not absolute and clean (`.`, `..` or a prefix in it).
    NotClean,
}

impl std::fmt::Display for NoFollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoFollowError::Link { link, target: Some(t) } => {
                write!(f, "{} is a symlink (to {})", link.display(), t.display())
            }
            NoFollowError::Link { link, target: None } => write!(f, "{} is a symlink", link.display()),
            NoFollowError::Io { at, source } => write!(f, "{}: {source}", at.display()),
            NoFollowError::NotClean => f.write_str("not an absolute path without `.` or `..`"),
        }
    }
}

impl std::error::Error for NoFollowError {}

/// An object opened by [`open_ambient_nofollow`], and the directory that holds its name.
#[derive(Debug)]
pub struct Walked {
    /// The directory holding the last name (`/` itself for `/`): a real directory, reached
    /// without following any link. `O_PATH` where the OS has it.
    pub parent: File,
    /// The object at the path, not followed: a directory, a file, or something else, but
    /// never a symlink (that is [`NoFollowError::Link`]). `O_PATH` where the OS has it.
    pub object: File,
    /// Its type, from `fstat` of [`Self::object`].
    pub kind: ObjectKind,
}

/// What [`open_ambient_nofollow`] found at the path (never a symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A FIFO, socket or device.
    Special,
}

/// Opens the absolute path `path` from `/`, component by component, following no symlink:
/// `openat2(RESOLVE_NO_SYMLINKS)` for the directories on the way where the kernel has it,
/// else `openat(O_PATH | O_NOFOLLOW)` one component at a time, and the last name with
/// `O_NOFOLLOW`. Every directory on the way must be a real directory at the moment it is
/// looked up, and the object itself must not be a symlink.
///
/// Meant for paths the policy resolved when it loaded (no symlink left in them): a symlink
/// met now means the tree changed since, and it is reported, never followed.
///
/// # Errors
/// [`NoFollowError::Link`] naming the first symlink met; [`NoFollowError::Io`] when a
/// component is missing or not a directory; [`NoFollowError::NotClean`] for a relative path
/// or one with `.` or `..` in it.
///
/// # Ambient Authority
/// Opens a host path from the filesystem root with the process's own rights. Only the code
/// that turns a plan into handles (the wasm context, the native runners) should call it.
pub fn open_ambient_nofollow(path: &Path) -> Result<Walked, NoFollowError> {
    let mut parts = path.components();
    if parts.next() != Some(Component::RootDir) || parts.clone().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(NoFollowError::NotClean);
    }
    let io_at = |at: &Path| {
        let at = at.to_path_buf();
        move |source: io::Error| NoFollowError::Io { at, source }
    };
    let root = File::from(
        rustix::fs::openat(rustix::fs::CWD, "/", dir_flags(), Mode::empty())
            .map_err(|e| io_at(Path::new("/"))(e.into()))?,
    );
    let rel = parts.as_path();
    let Some(name) = rel.file_name() else {
        let object = root.try_clone().map_err(io_at(Path::new("/")))?;
        return Ok(Walked { parent: root, object, kind: ObjectKind::Directory });
    };
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    let parent = if parent_rel.as_os_str().is_empty() {
        root.try_clone().map_err(io_at(Path::new("/")))?
    } else {
        match open_dir_beneath(&root, parent_rel) {
            Ok(dir) => dir,
            // Find which component is the link (or what else failed), for the message.
            Err(_) => walk_reporting(&root, parent_rel)?,
        }
    };
    let object = rustix::fs::openat(&parent, name, object_flags(), Mode::empty()).map_err(|e| io_at(path)(e.into()))?;
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&object).map_err(|e| io_at(path)(e.into()))?.st_mode);
    if kind == FileType::Symlink {
        let target = rustix::fs::readlinkat(&parent, name, Vec::new()).ok().map(|t| {
            use std::os::unix::ffi::OsStringExt as _;
            PathBuf::from(std::ffi::OsString::from_vec(t.into_bytes()))
        });
        return Err(NoFollowError::Link { link: path.to_path_buf(), target });
    }
    let kind = match kind {
        FileType::Directory => ObjectKind::Directory,
        FileType::RegularFile => ObjectKind::File,
        _ => ObjectKind::Special,
    };
    Ok(Walked { parent, object: File::from(object), kind })
}

/// True when the directory `dir` (any handle on it, `O_PATH` included) has no entry but `.`
/// and `..`. Reads the directory it is given, not a path: a check on the object that will be
/// used.
///
/// # Errors
/// When the directory cannot be opened for reading or read.
pub fn is_empty_dir(dir: &File) -> io::Result<bool> {
    let fd = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    for entry in rustix::fs::Dir::read_from(&fd)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Flags for the last name: a handle on the object itself, never its link target.
fn object_flags() -> OFlags {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let path = OFlags::PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let path = OFlags::RDONLY;
    path | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The walk of [`open_ambient_nofollow`] one component at a time, saying which component is
/// a symlink or could not be opened.
fn walk_reporting(root: &File, rel: &Path) -> Result<File, NoFollowError> {
    let mut cur = root.try_clone().map_err(|source| NoFollowError::Io { at: PathBuf::from("/"), source })?;
    let mut at = PathBuf::from("/");
    for c in rel.components() {
        let name = c.as_os_str();
        at.push(name);
        let io = |e: rustix::io::Errno| NoFollowError::Io { at: at.clone(), source: e.into() };
        let next = rustix::fs::openat(&cur, name, object_flags(), Mode::empty()).map_err(io)?;
        match FileType::from_raw_mode(rustix::fs::fstat(&next).map_err(io)?.st_mode) {
            FileType::Directory => cur = File::from(next),
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&cur, name, Vec::new()).ok().map(|t| {
                    use std::os::unix::ffi::OsStringExt as _;
                    PathBuf::from(std::ffi::OsString::from_vec(t.into_bytes()))
                });
                return Err(NoFollowError::Link { link: at, target });
            }
            _ => return Err(io(rustix::io::Errno::NOTDIR)),
        }
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

    #[test]
    fn the_walk_from_root_names_the_first_symlink_and_never_follows_it() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("secret/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("a/l")).unwrap();
        std::os::unix::fs::symlink(root.join("secret"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("b/f", root.join("a/fl")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        // (path, the link it must name, that link's target)
        let abs = root.join("secret");
        let abs = abs.to_str().unwrap();
        let cases = [
            ("a/l", "a/l", "../secret"),
            ("a/l/b", "a/l", "../secret"),
            ("abs/b", "abs", abs),
            ("a/fl", "a/fl", "b/f"),
            ("loop", "loop", "loop"),
            ("loop/x", "loop", "loop"),
        ];
        for (rel, link, target) in cases {
            match open_ambient_nofollow(&root.join(rel)) {
                Err(NoFollowError::Link { link: l, target: t }) => {
                    assert_eq!(l, root.join(link), "{rel}");
                    assert_eq!(t.as_deref(), Some(Path::new(target)), "{rel}");
                }
                other => panic!("{rel}: {other:?}"),
            }
        }
        // The twins: real objects open, with their kind and the directory holding them.
        let w = open_ambient_nofollow(&root.join("a/b")).unwrap();
        assert_eq!(w.kind, ObjectKind::Directory);
        let w = open_ambient_nofollow(&root.join("a/b/f")).unwrap();
        assert_eq!(w.kind, ObjectKind::File);
        let holder = rustix::fs::fstat(&w.parent).unwrap();
        let b = std::fs::metadata(root.join("a/b")).unwrap();
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!((holder.st_dev, holder.st_ino), (b.dev(), b.ino()));
        assert_eq!(open_ambient_nofollow(Path::new("/")).unwrap().kind, ObjectKind::Directory);
        // Missing, a file on the way, and spellings that are not a resolved path.
        assert!(matches!(open_ambient_nofollow(&root.join("a/nope")), Err(NoFollowError::Io { .. })));
        assert!(matches!(open_ambient_nofollow(&root.join("a/b/f/g")), Err(NoFollowError::Io { .. })));
        // `.` and a trailing `/` are dropped by `Path` (the same object); `..` is refused.
        assert_eq!(
            open_ambient_nofollow(Path::new(&format!("{}/a/./b/", root.display()))).unwrap().kind,
            ObjectKind::Directory
        );
        assert!(matches!(open_ambient_nofollow(Path::new("a/b")), Err(NoFollowError::NotClean)));
        assert!(matches!(open_ambient_nofollow(&root.join("a/../secret")), Err(NoFollowError::NotClean)));
    }

    #[test]
    fn the_walk_shows_every_directory_and_calls_a_link_on_the_way_a_loop() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::os::unix::fs::symlink("a", t.path().join("l")).unwrap();
        let base = File::open(t.path()).unwrap();
        let mut seen = Vec::new();
        let end = walk_beneath(&base, Path::new("a/b"), &mut |parent, name, opened| {
            // The name, looked up in its parent without following, is the object opened.
            assert_eq!(ObjectId::of_name(parent, name).unwrap(), Some(ObjectId::of(opened).unwrap()));
            seen.push(name.to_os_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["a", "b"]);
        assert_eq!(ObjectId::of(&end).unwrap(), ObjectId::of(&File::open(t.path().join("a/b")).unwrap()).unwrap());
        let e = walk_beneath(&base, Path::new("l/b"), &mut |_, _, _| Ok(())).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(rustix::io::Errno::LOOP.raw_os_error()));
        let e = walk_beneath(&base, Path::new("nope/b"), &mut |_, _, _| Ok(())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(ObjectId::of_name(&base, "nope".as_ref()).unwrap(), None);
        // Two names of one object have one identity; two objects two.
        std::fs::write(t.path().join("f"), "").unwrap();
        std::fs::hard_link(t.path().join("f"), t.path().join("g")).unwrap();
        let id = |n: &str| ObjectId::of_name(&base, n.as_ref()).unwrap();
        assert_eq!(id("f"), id("g"));
        assert_ne!(id("f"), id("a"));
    }

    #[test]
    fn emptiness_is_read_through_the_handle() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("e")).unwrap();
        let w = open_ambient_nofollow(&root.join("e")).unwrap();
        assert!(is_empty_dir(&w.object).unwrap());
        // Filled after it was opened: the same handle sees it.
        std::fs::write(root.join("e/x"), "").unwrap();
        assert!(!is_empty_dir(&w.object).unwrap());
    }
}
