//! Bytes between two sockets without a copy through user space: `splice(2)` from one socket
//! into a pipe and from the pipe into the other. The relay inside the sandbox (blocking
//! threads) and cordon's proxy (tokio, non-blocking sockets) both carry connections this way.

#![allow(unsafe_code, reason = "splice, pipe2 and F_SETPIPE_SZ have no std wrapper")]

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};

/// What one `fill` moves at most.
const CHUNK: usize = 1 << 20;

/// A pipe between two sockets and how many bytes it holds.
pub(crate) struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
    held: usize,
    /// `SPLICE_F_NONBLOCK` on every splice: for sockets tokio drives. Never for blocking
    /// sockets: on a unix socket the flag makes the read itself non-blocking.
    nonblocking: libc::c_uint,
}

fn check(n: libc::ssize_t) -> io::Result<usize> {
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

impl Pipe {
    /// A pipe for blocking sockets or (`nonblocking`) for non-blocking ones, grown to 1 MiB
    /// where the host lets it (else the default 64 KiB).
    pub(crate) fn new(nonblocking: bool) -> io::Result<Self> {
        let mut fds = [0 as libc::c_int; 2];
        let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are open descriptors this process now owns.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETPIPE_SZ on a pipe this process owns; a refusal keeps the default size.
        unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
        Ok(Self { r, w, held: 0, nonblocking: if nonblocking { libc::SPLICE_F_NONBLOCK } else { 0 } })
    }

    /// Bytes waiting in the pipe.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Moves what `from` has (up to 1 MiB) into the pipe: `Ok(0)` at the end of its stream.
    /// Blocks when `from` is a blocking socket with nothing to read; `WouldBlock` otherwise.
    pub(crate) fn fill(&mut self, from: RawFd) -> io::Result<usize> {
        // SAFETY: splice between descriptors the caller keeps open, no offsets.
        let n = check(unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                self.w.as_raw_fd(),
                std::ptr::null_mut(),
                CHUNK,
                libc::SPLICE_F_MOVE | self.nonblocking,
            )
        })?;
        self.held += n;
        Ok(n)
    }

    /// Moves bytes the pipe holds into `to`; returns how many.
    pub(crate) fn drain(&mut self, to: RawFd) -> io::Result<usize> {
        // SAFETY: as in `fill`.
        let n = check(unsafe {
            libc::splice(
                self.r.as_raw_fd(),
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                self.held,
                libc::SPLICE_F_MOVE | self.nonblocking,
            )
        })?;
        self.held -= n;
        Ok(n)
    }
}

/// True when this process ignores SIGPIPE. A splice into a socket whose peer has gone raises
/// SIGPIPE (splice has no `MSG_NOSIGNAL`, which std's and tokio's socket writes pass): Rust's
/// own binaries ignore it (cordon, cordon-helper, the test harness) and so do Node and
/// Python, but a C program embedding cordon may not, so there the copy goes through user
/// space instead.
pub(crate) fn sigpipe_ignored() -> bool {
    // SAFETY: reads the current disposition only (no new action); `old` is written by it.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ok = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &raw mut old) } == 0;
    ok && old.sa_sigaction == libc::SIG_IGN
}

/// Copies `from` to `to` (blocking sockets) until `from` ends or either side fails. `Err`
/// with nothing moved when the kernel cannot splice these descriptors, or SIGPIPE is not
/// ignored ([`sigpipe_ignored`]): the caller copies through user space instead.
pub(crate) fn copy_blocking(from: RawFd, to: RawFd) -> io::Result<u64> {
    if !sigpipe_ignored() {
        return Err(io::Error::other("SIGPIPE is not ignored"));
    }
    let mut pipe = Pipe::new(false)?;
    let mut total: u64 = 0;
    loop {
        match pipe.fill(from) {
            Ok(0) => return Ok(total),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if total == 0 => return Err(e),
            Err(_) => return Ok(total),
        }
        while pipe.held() > 0 {
            match pipe.drain(to) {
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(total),
            }
        }
    }
}

/// Copies `from` to `to` (sockets tokio drives, both non-blocking) until `from` ends; then
/// shuts down `to`'s sending side, as `tokio::io::copy_bidirectional` does.
async fn copy_async<A, B>(from: &A, to: &B) -> io::Result<u64>
where
    A: Ready,
    B: Ready,
{
    let mut pipe = Pipe::new(true)?;
    let mut total: u64 = 0;
    loop {
        if pipe.held() == 0 {
            from.wait(tokio::io::Interest::READABLE).await?;
            match from.attempt(tokio::io::Interest::READABLE, &mut || pipe.fill(from.fd())) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => continue,
                Err(e) => return Err(e),
            }
        }
        while pipe.held() > 0 {
            to.wait(tokio::io::Interest::WRITABLE).await?;
            match to.attempt(tokio::io::Interest::WRITABLE, &mut || pipe.drain(to.fd())) {
                Ok(n) => total += n as u64,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
    }
    // SAFETY: shutdown of a socket the caller keeps open.
    unsafe { libc::shutdown(to.fd(), libc::SHUT_WR) };
    Ok(total)
}

/// A tokio socket as [`copy_async`] drives it.
pub(crate) trait Ready {
    /// Its descriptor.
    fn fd(&self) -> RawFd;
    /// Waits until it may be ready for `interest`.
    fn wait(&self, interest: tokio::io::Interest) -> impl std::future::Future<Output = io::Result<()>>;
    /// Runs `f`, clearing readiness when it says `WouldBlock`.
    fn attempt(&self, interest: tokio::io::Interest, f: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>;
}

macro_rules! ready_socket {
    ($t:ty) => {
        impl Ready for $t {
            fn fd(&self) -> RawFd {
                self.as_raw_fd()
            }
            async fn wait(&self, interest: tokio::io::Interest) -> io::Result<()> {
                self.ready(interest).await.map(|_| ())
            }
            fn attempt(
                &self,
                interest: tokio::io::Interest,
                f: &mut dyn FnMut() -> io::Result<usize>,
            ) -> io::Result<usize> {
                self.try_io(interest, || f())
            }
        }
    };
}
ready_socket!(tokio::net::UnixStream);
ready_socket!(tokio::net::TcpStream);

/// Carries both ways between the sandbox's side `c` and `upstream` until each direction has
/// ended, in the kernel. Like `tokio::io::copy_bidirectional`, it ends when the task is
/// dropped.
pub(crate) async fn carry(c: &tokio::net::UnixStream, upstream: &tokio::net::TcpStream) -> io::Result<(u64, u64)> {
    tokio::try_join!(copy_async(c, upstream), copy_async(upstream, c))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use std::io::{Read as _, Write as _};

    use super::*;

    fn tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (a, l.accept().unwrap().0)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// 8 MiB from a unix socket to a TCP socket arrive whole and in order, and the end of the
    /// stream ends the copy.
    #[test]
    fn blocking_copy_moves_every_byte_in_order() {
        let (mut tool, relay_in) = std::os::unix::net::UnixStream::pair().unwrap();
        let (relay_out, mut server) = tcp_pair();
        let sent = data(8 << 20);
        let want = sent.clone();
        let writer = std::thread::spawn(move || {
            tool.write_all(&sent).unwrap();
            tool.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let copier = std::thread::spawn(move || {
            let n = copy_blocking(relay_in.as_raw_fd(), relay_out.as_raw_fd()).unwrap();
            relay_out.shutdown(std::net::Shutdown::Write).unwrap();
            n
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(copier.join().unwrap(), want.len() as u64);
        assert!(got == want, "{} bytes arrived, {} sent", got.len(), want.len());
    }

    /// Both directions at once through tokio's sockets, each ending on its own (a half-closed
    /// side still receives the answer).
    #[test]
    fn carry_moves_both_ways_and_keeps_half_close() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (tool, c) = tokio::net::UnixStream::pair().unwrap();
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let up = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (mut server, _) = l.accept().await.unwrap();
            let carrier = tokio::spawn(async move { carry(&c, &up).await.unwrap() });
            let request = data(3 << 20);
            let answer: Vec<u8> = data(5 << 20).into_iter().rev().collect();
            let (want_req, want_ans) = (request.clone(), answer.clone());
            let server = tokio::spawn(async move {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut got = Vec::new();
                server.read_to_end(&mut got).await.unwrap(); // the tool half-closed
                server.write_all(&answer).await.unwrap();
                server.shutdown().await.unwrap();
                got
            });
            let (mut rd, mut wr) = tool.into_split();
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            wr.write_all(&request).await.unwrap();
            wr.shutdown().await.unwrap();
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await.unwrap();
            assert!(server.await.unwrap() == want_req, "request arrived changed");
            assert!(got == want_ans, "answer arrived changed: {} of {} bytes", got.len(), want_ans.len());
            assert_eq!(carrier.await.unwrap(), (want_req.len() as u64, want_ans.len() as u64));
        });
    }
}
