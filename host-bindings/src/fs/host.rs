//! The `wasi:filesystem` host traits for [`CordonFsView`]: check, then delegate.

use std::path::PathBuf;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
use wasmtime_wasi::p2::{FsError, FsResult};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use super::{CordonFsView, HostLinks, Need};
use types::{ErrorCode, HostDescriptor, HostDirectoryEntryStream};

type Fd = Resource<types::Descriptor>;

impl CordonFsView<'_> {
    /// The guest path of an open descriptor. Every descriptor the guest holds came from
    /// `get-directories` or `open-at`, which record it; an unknown one fails closed.
    fn fd_path(&mut self, op: &'static str, fd: &Fd) -> Result<PathBuf, FsError> {
        match self.guard.paths.get(&fd.rep()) {
            Some(p) => Ok(p.clone()),
            None => Err(self
                .guard
                .deny(op, super::Refusal::Denied { path: PathBuf::from("<unknown descriptor>"), rule: None })),
        }
    }

    /// Checks `need` on the descriptor's own object.
    fn check_fd(&mut self, op: &'static str, fd: &Fd, need: Need) -> Result<PathBuf, FsError> {
        let path = self.fd_path(op, fd)?;
        match self.guard.decider.check(&path, need) {
            Ok(()) => {
                self.guard.granted(op, &path);
                Ok(path)
            }
            Err(r) => Err(self.guard.deny(op, r)),
        }
    }

    /// Resolves `path` from the descriptor and checks `need` on what it reaches.
    fn check_at(
        &mut self,
        op: &'static str,
        fd: &Fd,
        path: &str,
        follow_last: bool,
        need: Need,
    ) -> Result<PathBuf, FsError> {
        let base = self.fd_path(op, fd)?;
        let resolved = self.guard.decider.resolve(&base, path, follow_last, &HostLinks(self.guard));
        let outcome = resolved.and_then(|p| self.guard.decider.check(&p, need).map(|()| p));
        match outcome {
            Ok(p) => {
                self.guard.granted(op, &p);
                Ok(p)
            }
            Err(r) => Err(self.guard.deny(op, r)),
        }
    }

    /// As [`Self::check_at`] for a call that adds or removes a name: the directory that
    /// holds the name changes too, so it must be writable as well as the object.
    fn check_entry(&mut self, op: &'static str, fd: &Fd, path: &str) -> Result<PathBuf, FsError> {
        let p = self.check_at(op, fd, path, false, Need::Write)?;
        self.check_parent(op, &p)?;
        Ok(p)
    }

    /// Write access on the directory holding `resolved`.
    fn check_parent(&mut self, op: &'static str, resolved: &std::path::Path) -> Result<(), FsError> {
        let parent = resolved.parent().unwrap_or(resolved);
        match self.guard.decider.check(parent, Need::Write) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.guard.deny(op, r)),
        }
    }

    /// As [`Self::check_entry`] for a call that moves or removes the object: nothing below
    /// it may have weaker rules than read-write.
    fn check_movable(&mut self, op: &'static str, fd: &Fd, path: &str) -> Result<PathBuf, FsError> {
        let p = self.check_entry(op, fd, path)?;
        match self.guard.decider.check_subtree_writable(&p) {
            Ok(()) => Ok(p),
            Err(r) => Err(self.guard.deny(op, r)),
        }
    }
}

/// A stable stand-in for a denied object's metadata hash, derived from its guest path only.
fn synthetic_hash(path: &std::path::Path) -> types::MetadataHashValue {
    use std::hash::{Hash as _, Hasher as _};
    let mut lower = std::collections::hash_map::DefaultHasher::new();
    ("cordon-denied", path).hash(&mut lower);
    let mut upper = std::collections::hash_map::DefaultHasher::new();
    (path, "cordon-denied").hash(&mut upper);
    types::MetadataHashValue { lower: lower.finish(), upper: upper.finish() }
}

fn follows(flags: types::PathFlags) -> bool {
    flags.contains(types::PathFlags::SYMLINK_FOLLOW)
}

impl preopens::Host for CordonFsView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let dirs = preopens::Host::get_directories(&mut self.inner)?;
        for (fd, name) in &dirs {
            let guest = self.guard.aliases.get(name).cloned().unwrap_or_else(|| PathBuf::from(name));
            self.guard.paths.insert(fd.rep(), guest);
        }
        Ok(dirs)
    }
}

impl types::Host for CordonFsView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl HostDescriptor for CordonFsView<'_> {
    async fn advise(
        &mut self,
        fd: Fd,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        self.inner.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Fd) -> FsResult<()> {
        self.inner.sync_data(fd).await
    }

    async fn get_flags(&mut self, fd: Fd) -> FsResult<types::DescriptorFlags> {
        self.inner.get_flags(fd).await
    }

    async fn get_type(&mut self, fd: Fd) -> FsResult<types::DescriptorType> {
        self.inner.get_type(fd).await
    }

    async fn set_size(&mut self, fd: Fd, size: types::Filesize) -> FsResult<()> {
        self.check_fd("set-size", &fd, Need::Write)?;
        self.inner.set_size(fd, size).await
    }

    async fn set_times(&mut self, fd: Fd, atim: types::NewTimestamp, mtim: types::NewTimestamp) -> FsResult<()> {
        self.check_fd("set-times", &fd, Need::Write)?;
        self.inner.set_times(fd, atim, mtim).await
    }

    async fn read(&mut self, fd: Fd, len: types::Filesize, offset: types::Filesize) -> FsResult<(Vec<u8>, bool)> {
        self.check_fd("read", &fd, Need::Read)?;
        self.inner.read(fd, len, offset).await
    }

    async fn write(&mut self, fd: Fd, buf: Vec<u8>, offset: types::Filesize) -> FsResult<types::Filesize> {
        self.check_fd("write", &fd, Need::Write)?;
        self.inner.write(fd, buf, offset).await
    }

    async fn read_directory(&mut self, fd: Fd) -> FsResult<Resource<types::DirectoryEntryStream>> {
        self.check_fd("read-directory", &fd, Need::Read)?;
        self.inner.read_directory(fd).await
    }

    async fn sync(&mut self, fd: Fd) -> FsResult<()> {
        self.inner.sync(fd).await
    }

    async fn create_directory_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        self.check_entry("create-directory-at", &fd, &path)?;
        self.inner.create_directory_at(fd, path).await
    }

    async fn stat(&mut self, fd: Fd) -> FsResult<types::DescriptorStat> {
        // A denied directory opened only on the way to a deeper grant shows nothing of
        // itself: not its times, size or link count.
        self.check_fd("stat", &fd, Need::Read)?;
        self.inner.stat(fd).await
    }

    async fn stat_at(&mut self, fd: Fd, flags: types::PathFlags, path: String) -> FsResult<types::DescriptorStat> {
        self.check_at("stat-at", &fd, &path, follows(flags), Need::Read)?;
        self.inner.stat_at(fd, flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Fd,
        flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.check_at("set-times-at", &fd, &path, follows(flags), Need::Write)?;
        self.inner.set_times_at(fd, flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Fd,
        old_flags: types::PathFlags,
        old_path: String,
        new_fd: Fd,
        new_path: String,
    ) -> FsResult<()> {
        // A hard link is a second name for the same object: the tool must be allowed to
        // write the object (or the new name could write what the old one only reads).
        self.check_at("link-at", &fd, &old_path, follows(old_flags), Need::Write)?;
        self.check_entry("link-at", &new_fd, &new_path)?;
        self.inner.link_at(fd, old_flags, old_path, new_fd, new_path).await
    }

    async fn open_at(
        &mut self,
        fd: Fd,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Fd> {
        let writes = flags.intersects(types::DescriptorFlags::WRITE | types::DescriptorFlags::MUTATE_DIRECTORY)
            || oflags.intersects(types::OpenFlags::CREATE | types::OpenFlags::TRUNCATE);
        // Opening without write only reaches the object: reading it or listing it is checked
        // on the new descriptor, so a directory on the way to a deeper grant can be opened.
        let need = if writes { Need::Write } else { Need::Traverse };
        let resolved = self.check_at("open-at", &fd, &path, follows(path_flags), need)?;
        // A FIFO (or socket, or device) would block the open or hand the tool a channel to
        // some other program; only files and directories are opened.
        if self.guard.is_special(&resolved) {
            return Err(ErrorCode::Unsupported.into());
        }
        // Creating a name changes its directory: a new file needs a writable parent.
        if oflags.contains(types::OpenFlags::CREATE) && !self.guard.exists(&resolved) {
            self.check_parent("open-at", &resolved)?;
        }
        let new_fd = self.inner.open_at(fd, path_flags, path, oflags, flags).await?;
        self.guard.paths.insert(new_fd.rep(), resolved);
        Ok(new_fd)
    }

    fn drop(&mut self, fd: Fd) -> wasmtime::Result<()> {
        self.guard.paths.remove(&fd.rep());
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn readlink_at(&mut self, fd: Fd, path: String) -> FsResult<String> {
        self.check_at("readlink-at", &fd, &path, false, Need::Read)?;
        self.inner.readlink_at(fd, path).await
    }

    async fn remove_directory_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        self.check_movable("remove-directory-at", &fd, &path)?;
        self.inner.remove_directory_at(fd, path).await
    }

    async fn rename_at(&mut self, fd: Fd, old_path: String, new_fd: Fd, new_path: String) -> FsResult<()> {
        let from = self.check_movable("rename-at", &fd, &old_path)?;
        let to = self.check_movable("rename-at", &new_fd, &new_path)?;
        self.inner.rename_at(fd, old_path, new_fd, new_path).await?;
        self.guard.renamed(&from, &to);
        Ok(())
    }

    async fn symlink_at(&mut self, fd: Fd, src_path: String, dest_path: String) -> FsResult<()> {
        // The link's target is checked whenever the link is followed, not here.
        self.check_entry("symlink-at", &fd, &dest_path)?;
        self.inner.symlink_at(fd, src_path, dest_path).await
    }

    async fn unlink_file_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        self.check_entry("unlink-file-at", &fd, &path)?;
        self.inner.unlink_file_at(fd, path).await
    }

    fn read_via_stream(&mut self, fd: Fd, offset: types::Filesize) -> FsResult<Resource<DynInputStream>> {
        self.check_fd("read-via-stream", &fd, Need::Read)?;
        self.inner.read_via_stream(fd, offset)
    }

    fn write_via_stream(&mut self, fd: Fd, offset: types::Filesize) -> FsResult<Resource<DynOutputStream>> {
        self.check_fd("write-via-stream", &fd, Need::Write)?;
        self.inner.write_via_stream(fd, offset)
    }

    fn append_via_stream(&mut self, fd: Fd) -> FsResult<Resource<DynOutputStream>> {
        self.check_fd("append-via-stream", &fd, Need::Write)?;
        self.inner.append_via_stream(fd)
    }

    async fn is_same_object(&mut self, a: Fd, b: Fd) -> wasmtime::Result<bool> {
        self.inner.is_same_object(a, b).await
    }

    async fn metadata_hash(&mut self, fd: Fd) -> FsResult<types::MetadataHashValue> {
        let path = self.fd_path("metadata-hash", &fd)?;
        if self.guard.decider.check(&path, Need::Read).is_err() {
            return Ok(synthetic_hash(&path));
        }
        self.inner.metadata_hash(fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Fd,
        flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        // wasi-libc asks for this for every entry it lists (as d_ino). A denied entry's name
        // is visible in its parent's listing, so answer with a hash of its guest path: the
        // listing works and nothing about the denied object itself is revealed.
        let base = self.fd_path("metadata-hash-at", &fd)?;
        let resolved = self.guard.decider.resolve(&base, &path, follows(flags), &HostLinks(self.guard));
        match resolved.and_then(|p| self.guard.decider.check(&p, Need::Read).map(|()| p)) {
            Ok(_) => self.inner.metadata_hash_at(fd, flags, path).await,
            Err(super::Refusal::Denied { path: denied, .. }) => Ok(synthetic_hash(&denied)),
            Err(r) => Err(self.guard.deny("metadata-hash-at", r)),
        }
    }
}

impl HostDirectoryEntryStream for CordonFsView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        self.inner.read_directory_entry(stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}
