//! [`pin`](super::pin) where cordon has no handle walk yet (Windows): every function fails
//! with `unsupported`, so a run that needs one is refused (a grant cannot be opened: exit 125)
//! rather than served by path. The types are those of the Unix module.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "cordon cannot yet open paths on this OS without following links (no handle walk here)",
    )
}

/// Which object a handle or a name is. Never made here: [`ObjectId::of`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectId {
    dev: u64,
    ino: u64,
}

impl ObjectId {
    /// Fails: no file identity read here yet.
    ///
    /// # Errors
    /// Always.
    pub fn of(_file: &File) -> io::Result<Self> {
        Err(unsupported())
    }

    /// Fails: no file identity read here yet.
    ///
    /// # Errors
    /// Always.
    pub fn of_name(_dir: &File, _name: &std::ffi::OsStr) -> io::Result<Option<Self>> {
        Err(unsupported())
    }
}

/// Fails: no handle walk here yet.
///
/// # Errors
/// Always.
pub fn open_dir_beneath(_base: &File, _rel: &Path) -> io::Result<File> {
    Err(unsupported())
}

/// Fails: no handle walk here yet.
///
/// # Errors
/// Always.
pub fn walk_beneath(
    _base: &File,
    _rel: &Path,
    _visit: &mut dyn FnMut(&File, &std::ffi::OsStr, &File) -> io::Result<()>,
) -> io::Result<File> {
    Err(unsupported())
}

/// Why [`open_ambient_nofollow`] refused a path.
#[derive(Debug)]
pub enum NoFollowError {
    /// A symlink was met (never here).
    Link {
        /// The symlink.
        link: PathBuf,
        /// What it points to.
        target: Option<PathBuf>,
    },
    /// `at` could not be opened (here: always, `unsupported`).
    Io {
        /// How far the walk got.
        at: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The path is not absolute and clean.
    NotClean,
}

impl std::fmt::Display for NoFollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoFollowError::Link { link, .. } => write!(f, "{} is a symlink", link.display()),
            NoFollowError::Io { at, source } => write!(f, "{}: {source}", at.display()),
            NoFollowError::NotClean => f.write_str("not an absolute path without `.` or `..`"),
        }
    }
}

impl std::error::Error for NoFollowError {}

/// An object opened by [`open_ambient_nofollow`] (never here).
#[derive(Debug)]
pub struct Walked {
    /// The directory holding the last name.
    pub parent: File,
    /// The object at the path.
    pub object: File,
    /// Its type.
    pub kind: ObjectKind,
}

/// What [`open_ambient_nofollow`] found at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A FIFO, socket or device.
    Special,
}

/// Fails: no handle walk here yet, so no grant is opened by path instead.
///
/// # Errors
/// Always [`NoFollowError::Io`] with `unsupported`.
pub fn open_ambient_nofollow(path: &Path) -> Result<Walked, NoFollowError> {
    Err(NoFollowError::Io { at: path.to_path_buf(), source: unsupported() })
}

/// Fails: no handle walk here yet.
///
/// # Errors
/// Always.
pub fn is_empty_dir(_dir: &File) -> io::Result<bool> {
    Err(unsupported())
}
