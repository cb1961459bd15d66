//! The `wasi:filesystem` host traits for [`CordonFsView`]: check, then delegate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
use wasmtime_wasi::p2::{FsError, FsResult};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use super::resolve::ends_in_dir_marker;
use super::{CordonFsView, HostLinks, Need, pin};
use types::{ErrorCode, HostDescriptor, HostDirectoryEntryStream};

type Fd = Resource<types::Descriptor>;

/// How many times a call resolves and decides again when a symlink turned up where its
/// resolution saw a directory (changed by someone else in between) before it fails.
const RETRIES: usize = 3;

/// Where a decided call is made: a directory descriptor and one name in it (`.` for the
/// directory itself). The directory is the guest's own descriptor or one cordon opened beneath
/// it without following any link ([`pin`]); the call never follows the name.
struct At {
    dir: Fd,
    /// Opened by cordon for this call, removed from the table after it.
    temp: bool,
    name: String,
    /// The guest path the objects on the way show, when it is not the resolved path (taken
    /// by [`CordonFsView::pinned`]).
    canon: Option<PathBuf>,
    /// The identity of the object at the name when it was pinned (`None`: nothing there).
    id: Option<pin::ObjectId>,
}

impl At {
    /// A handle on the directory for one call into wasmtime-wasi (which only looks it up).
    fn dir(&self) -> Fd {
        Resource::new_borrow(self.dir.rep())
    }
}

/// No `symlink-follow`: the name an [`At`] holds is never followed by the kernel.
fn nofollow() -> types::PathFlags {
    types::PathFlags::empty()
}

/// True for the errors a symlink met where a directory was expected gives.
fn is_link_symptom(e: &FsError) -> bool {
    matches!(e.downcast_ref(), Some(ErrorCode::Loop | ErrorCode::NotDirectory))
}

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

    /// What `check` asks of the resolved path `p`, without recording anything.
    fn verdict(&self, p: &Path, check: Check) -> Result<(), super::Refusal> {
        let d = &self.guard.decider;
        match check {
            Check::At(need) => d.check(p, need),
            // A call that adds or removes a name changes the directory holding it too.
            Check::Entry => d.check(p, Need::Write).and_then(|()| d.check(p.parent().unwrap_or(p), Need::Write)),
            // A call that moves or removes the object: nothing below it may have weaker
            // rules than read-write.
            Check::Movable => self.verdict(p, Check::Entry).and_then(|()| d.check_subtree_writable(p)),
        }
    }

    /// Write access on the directory holding `resolved`.
    fn check_parent(&mut self, op: &'static str, resolved: &std::path::Path) -> Result<(), FsError> {
        let parent = resolved.parent().unwrap_or(resolved);
        match self.guard.decider.check(parent, Need::Write) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.guard.deny(op, r)),
        }
    }
}

/// What a call asks of the path it resolves.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `need` on the object.
    At(Need),
    /// Write on the object and on the directory holding its name (adds or removes a name).
    Entry,
    /// As `Entry`, and nothing below the object weaker than read-write (moves or removes it).
    Movable,
}

impl CordonFsView<'_> {
    /// Opens the directory holding `resolved` (a guest path `check` decided on) beneath the
    /// descriptor `fd`, one directory at a time following no link, and returns it with the
    /// last name. A resolved path outside the descriptor's directory is refused, as
    /// wasmtime-wasi refuses `..` above it.
    ///
    /// Every object on the way, and the last name's, is looked at as it is opened: the
    /// returned [`At::canon`] is the guest path the objects show (another name of a rule's
    /// object is that rule's path: [`super::FsGuard::step`]).
    fn pin(&mut self, fd: &Fd, resolved: &Path) -> Result<At, FsError> {
        let base = self.guard.paths.get(&fd.rep()).cloned().ok_or(ErrorCode::BadDescriptor)?;
        let rel = resolved.strip_prefix(&base).map_err(|_| ErrorCode::NotPermitted)?;
        let mut parts = rel.components();
        let name = match parts.next_back() {
            None => ".".to_string(),
            Some(c) => c.as_os_str().to_str().ok_or(ErrorCode::IllegalByteSequence)?.to_string(),
        };
        let parent = parts.as_path();
        let dir = match self.inner.table.get(fd)? {
            Descriptor::Dir(dir) => dir.clone(),
            // A file descriptor as the base: wasmtime-wasi says `not-directory` for a bare name.
            Descriptor::File(_) if parent.as_os_str().is_empty() => {
                return Ok(At { dir: Resource::new_borrow(fd.rep()), temp: false, name, canon: None, id: None });
            }
            Descriptor::File(_) => return Err(ErrorCode::NotDirectory.into()),
        };
        let (handle, parent_canon) =
            self.guard.walk_canon(&dir.dir, &base, parent).map_err(|e| FsError::from(ErrorCode::from(e)))?;
        let (canon, id) = if name == "." {
            (parent_canon, None)
        } else {
            let id = pin::ObjectId::of_name(&handle, name.as_ref()).map_err(ErrorCode::from)?;
            (self.guard.step(&parent_canon, &handle, name.as_ref(), id).map_err(ErrorCode::from)?, id)
        };
        let canon = (canon != resolved).then_some(canon);
        if parent.as_os_str().is_empty() {
            return Ok(At { dir: Resource::new_borrow(fd.rep()), temp: false, name, canon, id });
        }
        let mut dir = dir;
        dir.dir = Arc::new(handle);
        let temp = self.inner.table.push(Descriptor::Dir(dir))?;
        Ok(At { dir: temp, temp: true, name, canon, id })
    }

    /// Resolves `path` from `fd`, decides `check` on it, and pins what it decided on; when
    /// the objects on the way show another guest path (another name of a rule's object),
    /// decides there too, and returns that path. When a link turned up on the way since it
    /// was read, the path is resolved and decided again. A refusal is recorded as a denial.
    fn pinned(
        &mut self,
        op: &'static str,
        fd: &Fd,
        path: &str,
        follow_last: bool,
        check: Check,
    ) -> Result<(PathBuf, At), FsError> {
        match self.pinned_or_refused(op, fd, path, follow_last, check)? {
            Ok(p) => {
                self.guard.granted(op, &p.0);
                Ok(p)
            }
            Err(r) => Err(self.guard.deny(op, r)),
        }
    }

    /// [`Self::pinned`], with a refusal returned (unrecorded) rather than recorded.
    fn pinned_or_refused(
        &mut self,
        op: &'static str,
        fd: &Fd,
        path: &str,
        follow_last: bool,
        check: Check,
    ) -> Result<Result<(PathBuf, At), super::Refusal>, FsError> {
        let mut tries = 0;
        loop {
            let base = self.fd_path(op, fd)?;
            let resolved = match self.guard.decider.resolve(&base, path, follow_last, &HostLinks(self.guard)) {
                Ok(p) => p,
                Err(r) => return Ok(Err(r)),
            };
            if let Err(r) = self.verdict(&resolved, check) {
                return Ok(Err(r));
            }
            match self.pin(fd, &resolved) {
                Ok(mut at) => {
                    let Some(canon) = at.canon.take() else { return Ok(Ok((resolved, at))) };
                    if let Err(r) = self.verdict(&canon, check) {
                        self.unpin(at);
                        return Ok(Err(r));
                    }
                    return Ok(Ok((canon, at)));
                }
                Err(e) if tries < RETRIES && is_link_symptom(&e) => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes a directory [`Self::pin`] opened.
    fn unpin(&mut self, at: At) {
        if at.temp {
            // Ours, pushed by `pin`; it cannot have gone, and a failure leaks nothing.
            let _ = self.inner.table.delete(at.dir);
        }
    }

    /// The name to hand wasmtime-wasi for a call that adds, removes or moves an entry:
    /// with the guest's trailing `/` kept, so the kernel still insists on a directory. An
    /// entry call never follows its last name, trailing `/` or not.
    fn entry_name(at: &At, path: &str) -> String {
        if ends_in_dir_marker(path) && at.name != "." { format!("{}/", at.name) } else { at.name.clone() }
    }

    /// `open-at` on a pinned name: refuses FIFOs, sockets and devices, checks the parent when
    /// the call creates the name, and opens the name without following it.
    async fn open_pinned(
        &mut self,
        at: &At,
        resolved: &Path,
        path: &str,
        mut oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Fd> {
        match self.lstat(at).await {
            // A FIFO (or socket, or device) would block the open or hand the tool a channel
            // to some other program; only files and directories are opened.
            Ok(st) if is_special(st.type_) => return Err(ErrorCode::Unsupported.into()),
            Ok(_) => {}
            // Creating a name changes its directory: a new file needs a writable parent.
            Err(_) if oflags.contains(types::OpenFlags::CREATE) => self.check_parent("open-at", resolved)?,
            Err(_) => {}
        }
        if ends_in_dir_marker(path) {
            // `name/` must be a directory, and one cannot be created by `open`.
            if oflags.contains(types::OpenFlags::CREATE) {
                return Err(ErrorCode::IsDirectory.into());
            }
            oflags |= types::OpenFlags::DIRECTORY;
        }
        self.inner.open_at(at.dir(), nofollow(), at.name.clone(), oflags, flags).await
    }

    /// The identity of the object a descriptor is open on.
    fn opened_id(&mut self, fd: &Fd) -> Option<pin::ObjectId> {
        match self.inner.table.get(fd).ok()? {
            Descriptor::File(f) => pin::ObjectId::of(&f.file).ok(),
            Descriptor::Dir(d) => pin::ObjectId::of(&d.dir).ok(),
        }
    }

    /// Stat of the pinned name, not followed.
    async fn lstat(&mut self, at: &At) -> FsResult<types::DescriptorStat> {
        self.inner.stat_at(at.dir(), nofollow(), at.name.clone()).await
    }
}

/// A FIFO, socket or device: opening it could block or reach another program.
fn is_special(t: types::DescriptorType) -> bool {
    !matches!(
        t,
        types::DescriptorType::RegularFile | types::DescriptorType::Directory | types::DescriptorType::SymbolicLink
    )
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
        // Only cordon's own handles (opened without following links when the run started);
        // wasmtime-wasi's list, which `WasiCtxBuilder::preopened_dir` fills by path, is never
        // handed out.
        let mut dirs = Vec::with_capacity(self.guard.preopens.0.len());
        for (dir, name) in self.guard.preopens.0.clone() {
            let fd = self.inner.table.push(Descriptor::Dir(dir))?;
            let guest = self.guard.aliases.get(&name).cloned().unwrap_or_else(|| PathBuf::from(&name));
            self.guard.paths.insert(fd.rep(), guest);
            dirs.push((fd, name));
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
        let (_, at) = self.pinned("create-directory-at", &fd, &path, false, Check::Entry)?;
        let r = self.inner.create_directory_at(at.dir(), Self::entry_name(&at, &path)).await;
        self.unpin(at);
        r
    }

    async fn stat(&mut self, fd: Fd) -> FsResult<types::DescriptorStat> {
        // A denied directory opened only on the way to a deeper grant shows nothing of
        // itself: not its times, size or link count.
        self.check_fd("stat", &fd, Need::Read)?;
        self.inner.stat(fd).await
    }

    async fn stat_at(&mut self, fd: Fd, flags: types::PathFlags, path: String) -> FsResult<types::DescriptorStat> {
        let (_, at) = self.pinned("stat-at", &fd, &path, follows(flags), Check::At(Need::Read))?;
        let r = self.lstat(&at).await;
        self.unpin(at);
        let st = r?;
        // `dir/` names a directory: the last link was followed to reach it (above).
        if ends_in_dir_marker(&path) && st.type_ != types::DescriptorType::Directory {
            return Err(ErrorCode::NotDirectory.into());
        }
        Ok(st)
    }

    async fn set_times_at(
        &mut self,
        fd: Fd,
        flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        let (_, at) = self.pinned("set-times-at", &fd, &path, follows(flags), Check::At(Need::Write))?;
        let r = async {
            if ends_in_dir_marker(&path) && self.lstat(&at).await?.type_ != types::DescriptorType::Directory {
                return Err(ErrorCode::NotDirectory.into());
            }
            self.inner.set_times_at(at.dir(), nofollow(), at.name.clone(), atim, mtim).await
        }
        .await;
        self.unpin(at);
        r
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
        let (_, old) = self.pinned("link-at", &fd, &old_path, follows(old_flags), Check::At(Need::Write))?;
        let new = match self.pinned("link-at", &new_fd, &new_path, false, Check::Entry) {
            Ok((_, new)) => new,
            Err(e) => {
                self.unpin(old);
                return Err(e);
            }
        };
        // wasmtime-wasi refuses `symlink-follow` here (`invalid`); the flags go through so it
        // still does. The old name was resolved without following (no trailing `/` on a
        // hard link's source makes sense), so nothing is followed either way.
        let r = self
            .inner
            .link_at(old.dir(), old_flags, old.name.clone(), new.dir(), Self::entry_name(&new, &new_path))
            .await;
        self.unpin(old);
        self.unpin(new);
        r
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
        let (resolved, at) = self.pinned("open-at", &fd, &path, follows(path_flags), Check::At(need))?;
        let r = self.open_pinned(&at, &resolved, &path, oflags, flags).await;
        let expected = at.id;
        self.unpin(at);
        let new_fd = r?;
        // Decided on the object the name showed when pinned: the one opened must be it (a
        // name swapped in between by someone else is refused, never served).
        if let Some(expected) = expected
            && self.opened_id(&new_fd) != Some(expected)
        {
            // Dropping a descriptor just opened cannot fail; the error is the refusal anyway.
            let _ = HostDescriptor::drop(&mut self.inner, new_fd);
            return Err(ErrorCode::Busy.into());
        }
        self.guard.paths.insert(new_fd.rep(), resolved);
        Ok(new_fd)
    }

    fn drop(&mut self, fd: Fd) -> wasmtime::Result<()> {
        self.guard.paths.remove(&fd.rep());
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn readlink_at(&mut self, fd: Fd, path: String) -> FsResult<String> {
        let (_, at) = self.pinned("readlink-at", &fd, &path, false, Check::At(Need::Read))?;
        let r = self.inner.readlink_at(at.dir(), at.name.clone()).await;
        self.unpin(at);
        r
    }

    async fn remove_directory_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        let (_, at) = self.pinned("remove-directory-at", &fd, &path, false, Check::Movable)?;
        let r = self.inner.remove_directory_at(at.dir(), Self::entry_name(&at, &path)).await;
        self.unpin(at);
        r
    }

    async fn rename_at(&mut self, fd: Fd, old_path: String, new_fd: Fd, new_path: String) -> FsResult<()> {
        let (from, old) = self.pinned("rename-at", &fd, &old_path, false, Check::Movable)?;
        let (to, new) = match self.pinned("rename-at", &new_fd, &new_path, false, Check::Movable) {
            Ok(p) => p,
            Err(e) => {
                self.unpin(old);
                return Err(e);
            }
        };
        let (old_name, new_name) = (Self::entry_name(&old, &old_path), Self::entry_name(&new, &new_path));
        let r = self.inner.rename_at(old.dir(), old_name, new.dir(), new_name).await;
        self.unpin(old);
        self.unpin(new);
        r?;
        self.guard.renamed(&from, &to);
        Ok(())
    }

    async fn symlink_at(&mut self, fd: Fd, src_path: String, dest_path: String) -> FsResult<()> {
        // The link's target is checked whenever the link is followed, not here.
        let (_, at) = self.pinned("symlink-at", &fd, &dest_path, false, Check::Entry)?;
        let r = self.inner.symlink_at(at.dir(), src_path, Self::entry_name(&at, &dest_path)).await;
        self.unpin(at);
        r
    }

    async fn unlink_file_at(&mut self, fd: Fd, path: String) -> FsResult<()> {
        let (_, at) = self.pinned("unlink-file-at", &fd, &path, false, Check::Entry)?;
        let r = self.inner.unlink_file_at(at.dir(), Self::entry_name(&at, &path)).await;
        self.unpin(at);
        r
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
        let at = match self.pinned_or_refused("metadata-hash-at", &fd, &path, follows(flags), Check::At(Need::Read))? {
            Ok((_, at)) => at,
            Err(super::Refusal::Denied { path, .. }) => return Ok(synthetic_hash(&path)),
            Err(r) => return Err(self.guard.deny("metadata-hash-at", r)),
        };
        let r = self.inner.metadata_hash_at(at.dir(), nofollow(), at.name.clone()).await;
        self.unpin(at);
        r
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
