//! A few bytes with one descriptor attached, over a unix stream socket (`SCM_RIGHTS`): how the
//! helper hands the capture's refusal log to cordon, and how cordon hands the relay a
//! connection it opened to a checked destination.
#![allow(unsafe_code, reason = "sendmsg and recvmsg with ancillary data have no std wrapper")]

use std::os::fd::{FromRawFd as _, OwnedFd, RawFd};

/// A message header over `iov` and `control`, ready for `sendmsg` or `recvmsg`.
fn header(iov: &mut libc::iovec, control: &mut [u8]) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the caller's call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    msg
}

fn control_space() -> usize {
    // SAFETY: CMSG_SPACE only computes a size.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize }
}

/// Sends `byte` with `fd` attached on the connected socket `sock`.
///
/// # Errors
/// `sendmsg` fails or sends nothing.
pub fn send(sock: RawFd, byte: u8, fd: RawFd) -> std::io::Result<()> {
    send_with(sock, &[byte], fd)
}

/// Sends `data` (at most a few bytes: one `sendmsg`) with `fd` attached on `sock`.
///
/// # Errors
/// `sendmsg` fails or sends less than `data`.
pub fn send_with(sock: RawFd, data: &[u8], fd: RawFd) -> std::io::Result<()> {
    let mut data = data.to_vec();
    let len = data.len();
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: len };
    let mut control = vec![0u8; control_space()];
    let msg = header(&mut iov, &mut control);
    // SAFETY: the control buffer has room for one header and one descriptor (CMSG_SPACE).
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&raw const msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd);
    }
    // SAFETY: sendmsg reads the message set up above.
    match unsafe { libc::sendmsg(sock, &raw const msg, libc::MSG_NOSIGNAL) } {
        n if n >= 0 && n as usize == len => Ok(()),
        n if n >= 0 => Err(std::io::Error::other("a short sendmsg")),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// One byte from `sock` without waiting, and the first descriptor sent with it, if any
/// (any others are closed).
///
/// # Errors
/// `WouldBlock` when nothing is there yet; `UnexpectedEof` when the peer closed.
pub fn recv(sock: RawFd) -> std::io::Result<(u8, Option<OwnedFd>)> {
    let mut byte = [0u8; 1];
    let (_, fd) = recv_with(sock, &mut byte, libc::MSG_DONTWAIT)?;
    Ok((byte[0], fd))
}

/// Up to `buf.len()` bytes from `sock` (one `recvmsg`, with `flags`), and the first
/// descriptor sent with them, if any (any others are closed).
///
/// # Errors
/// As `recvmsg`; `UnexpectedEof` when the peer closed.
pub fn recv_with(sock: RawFd, buf: &mut [u8], flags: libc::c_int) -> std::io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut control = vec![0u8; control_space()];
    let mut msg = header(&mut iov, &mut control);
    // SAFETY: recvmsg writes into the buffers described by `msg`.
    let n = unsafe { libc::recvmsg(sock, &raw mut msg, libc::MSG_CMSG_CLOEXEC | flags) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let mut got = None;
    // SAFETY: walking the control messages the kernel wrote, within `msg_controllen`.
    unsafe {
        let mut cm = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cm.is_null() {
            if (*cm).cmsg_level == libc::SOL_SOCKET && (*cm).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cm).cast::<libc::c_int>();
                let count = ((*cm).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<libc::c_int>();
                for i in 0..count {
                    // Each descriptor received is ours to own (and to close, past the first).
                    let owned = OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i)));
                    if got.is_none() {
                        got = Some(owned);
                    }
                }
            }
            cm = libc::CMSG_NXTHDR(&raw const msg, cm);
        }
    }
    Ok((n as usize, got))
}
