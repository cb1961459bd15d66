//! cordon behind MXC's native library: `libmxc_ffi.so`, the C ABI that `@microsoft/mxc-sdk`
//! 1.0.1 loads through koffi (from `$MXC_FFI_DIR`). `run()` and `spawn()` of an unmodified SDK
//! program then run under cordon's bubblewrap backend with cordon's policy semantics.
//!
//! The ABI (learnt from the SDK's `dist/bindings/*.js`): JSON requests in as `const char *`,
//! owned strings out (freed by `mxc_string_free`), results in caller-allocated structs whose
//! strings the matching `*_free` releases, lifecycle through an opaque `MxcSandbox *`.
//! `engine` and `spawn` hold the logic in safe Rust; this file only crosses the boundary,
//! checks every pointer for null, and catches every panic (none may unwind into Node).
//!
//! Commands run through `cordon-helper` (one-shot runs, in process) and `cordon` (spawned
//! runs), both looked for in the directory the library was loaded from and nowhere else: the
//! embedding program is node, so "next to the running executable" would mean node's directory.

//!
//! Linux only for now (the SDK's `mxc_ffi.dll` and `libmxc_ffi.dylib` are not built): on other
//! systems the crate is empty.
#![cfg(target_os = "linux")]
#![allow(unsafe_code, reason = "a C ABI: exported unmangled functions, raw pointers from koffi, dladdr")]

mod engine;
mod spawn;

use std::ffi::{CStr, CString, c_char, c_void};
use std::os::fd::{FromRawFd as _, IntoRawFd as _, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use engine::{Failure, status};
pub use spawn::Sandbox;

/// `MxcNodeJsonErrorDetail`: four owned strings, any of them null.
#[repr(C)]
#[derive(Debug)]
pub struct ErrorDetail {
    message: *mut c_char,
    operation: *mut c_char,
    native_code: *mut c_char,
    remediation: *mut c_char,
}

/// `MxcNodeJsonRunResult`.
#[repr(C)]
#[derive(Debug)]
pub struct RunResult {
    status: i32,
    exit_code: i32,
    timed_out: i32,
    stdout: *mut c_char,
    stderr: *mut c_char,
    error: ErrorDetail,
    output_metadata: *mut c_char,
    warnings: *mut c_char,
}

/// `MxcNodeNativeStdio`: pipe file descriptors, -1 for none.
#[repr(C)]
#[derive(Debug)]
pub struct NativeStdio {
    stdin_handle: isize,
    stdout_handle: isize,
    stderr_handle: isize,
}

/// `MxcNodeStateAwareResult`.
#[repr(C)]
#[derive(Debug)]
pub struct StateAwareResult {
    status: i32,
    response_json_utf8: *mut c_void,
    error: ErrorDetail,
}

/// Runs `f`, turning a panic into `fallback`: nothing unwinds into the caller.
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Every string this library handed out and has not freed. The SDK passes some pointers
/// back through conversions of its own (koffi copies a `char *` argument given as a
/// string), so a free of a pointer not in this set is ignored instead of handed to the
/// allocator: no double free, no free of memory that is not ours.
fn live() -> std::sync::MutexGuard<'static, std::collections::HashSet<usize>> {
    static LIVE: OnceLock<std::sync::Mutex<std::collections::HashSet<usize>>> = OnceLock::new();
    LIVE.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An owned C string (freed by `mxc_string_free`). A NUL inside becomes U+FFFD, invalid
/// UTF-8 is replaced: the SDK decodes these as NUL-terminated UTF-8.
fn owned(bytes: &[u8]) -> *mut c_char {
    let text = String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}");
    let Ok(c) = CString::new(text) else { return std::ptr::null_mut() };
    let p = c.into_raw();
    live().insert(p as usize);
    p
}

/// Frees a string made by [`owned`] and nulls the field; any other pointer is left alone.
fn release(p: &mut *mut c_char) {
    if !p.is_null() && live().remove(&(*p as usize)) {
        // SAFETY: made by CString::into_raw in `owned` and not freed since (it was live).
        drop(unsafe { CString::from_raw(*p) });
    }
    *p = std::ptr::null_mut();
}

fn release_detail(d: &mut ErrorDetail) {
    release(&mut d.message);
    release(&mut d.operation);
    release(&mut d.native_code);
    release(&mut d.remediation);
}

fn empty_detail() -> ErrorDetail {
    ErrorDetail {
        message: std::ptr::null_mut(),
        operation: std::ptr::null_mut(),
        native_code: std::ptr::null_mut(),
        remediation: std::ptr::null_mut(),
    }
}

fn detail(f: &Failure, operation: &str) -> ErrorDetail {
    ErrorDetail {
        message: owned(f.message.as_bytes()),
        operation: owned(operation.as_bytes()),
        native_code: std::ptr::null_mut(),
        remediation: f.remediation.as_deref().map_or(std::ptr::null_mut(), |r| owned(r.as_bytes())),
    }
}

/// The request text.
///
/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn request_text<'a>(p: *const c_char) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::new(status::MALFORMED, "Configuration parse error: the request is null"));
    }
    // SAFETY: the caller passes a NUL-terminated string (koffi's `const char *`).
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|e| {
        Failure::new(status::MALFORMED, format!("Configuration parse error: the request is not UTF-8: {e}"))
    })
}

/// The directory this library was loaded from (where `cordon-helper` and `cordon` must be).
fn lib_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        // SAFETY: Dl_info is plain data; dladdr fills it for an address inside this object.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = mxc_version as *const c_void;
        // SAFETY: `addr` is a function of this library; `info` is a valid out parameter.
        if unsafe { libc::dladdr(addr, &raw mut info) } == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dladdr returned a NUL-terminated path owned by the loader.
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        let path = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.to_bytes()));
        path.canonicalize().ok()?.parent().map(Path::to_path_buf)
    })
    .as_deref()
}

/// The library's version: MXC's ABI version it implements, then cordon's.
#[unsafe(no_mangle)]
pub extern "C" fn mxc_version() -> *const c_char {
    c"1.0.1+cordon.0.1.0".as_ptr()
}

/// `getPlatformSupport`'s facts, as JSON (owned).
#[unsafe(no_mangle)]
pub extern "C" fn mxc_platform_support_json() -> *mut c_char {
    guard(std::ptr::null_mut(), || owned(engine::platform_support_json().as_bytes()))
}

/// The backends here, as MXC's `--available-backends` JSON (owned).
#[unsafe(no_mangle)]
pub extern "C" fn mxc_available_backends_json() -> *mut c_char {
    guard(std::ptr::null_mut(), || owned(engine::available_backends_json().as_bytes()))
}

/// Frees a string this library returned.
///
/// # Safety
/// `s` is null or a string from this library, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_string_free(s: *mut c_char) {
    let mut s = s;
    guard((), || release(&mut s));
}

/// Frees the strings of an error detail (not the struct, which the caller owns).
///
/// # Safety
/// `d` is null or a detail this library filled.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_error_detail_free(d: *mut ErrorDetail) {
    guard((), || {
        // SAFETY: the caller passes a detail struct it owns, or null.
        if let Some(d) = unsafe { d.as_mut() } {
            release_detail(d);
        }
    });
}

/// Writes a failure into a caller's error detail, if it gave one.
///
/// # Safety
/// `out` is null or points to a writable `ErrorDetail`.
unsafe fn fail_into(out: *mut ErrorDetail, f: &Failure, operation: &str) -> i32 {
    if !out.is_null() {
        // SAFETY: per the contract; whatever was there is the caller's (zeroed by koffi).
        unsafe { out.write(detail(f, operation)) };
    }
    f.status
}

/// One-shot run: request JSON in, exit code, output, warnings or error out in `*out`.
///
/// # Safety
/// `request` is a NUL-terminated string; `out` points to a writable `RunResult`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_run_json(request: *const c_char, _experimental: i32, out: *mut RunResult) -> i32 {
    if out.is_null() {
        return status::MALFORMED;
    }
    let result = guard(Err(Failure::new(status::BACKEND_ERROR, "cordon's libmxc_ffi panicked")), || {
        // SAFETY: per the contract.
        let text = unsafe { request_text(request) }?;
        engine::run(text, lib_dir())
    });
    let filled = match result {
        Ok(r) => RunResult {
            status: 0,
            exit_code: r.exit_code,
            timed_out: i32::from(r.timed_out),
            stdout: owned(&r.stdout),
            stderr: owned(&r.stderr),
            error: empty_detail(),
            output_metadata: std::ptr::null_mut(),
            warnings: owned(serde_json::Value::from(r.warnings).to_string().as_bytes()),
        },
        Err(f) => failed_run(&f, "run"),
    };
    let code = filled.status;
    // SAFETY: `out` is writable (checked non-null above).
    unsafe { out.write(filled) };
    code
}

fn failed_run(f: &Failure, operation: &str) -> RunResult {
    RunResult {
        status: f.status,
        exit_code: 0,
        timed_out: 0,
        stdout: std::ptr::null_mut(),
        stderr: std::ptr::null_mut(),
        error: detail(f, operation),
        output_metadata: std::ptr::null_mut(),
        warnings: std::ptr::null_mut(),
    }
}

/// Frees the strings of a run result.
///
/// # Safety
/// `r` is null or a result this library filled.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_run_result_free(r: *mut RunResult) {
    guard((), || {
        // SAFETY: the caller's struct, or null.
        if let Some(r) = unsafe { r.as_mut() } {
            release(&mut r.stdout);
            release(&mut r.stderr);
            release(&mut r.output_metadata);
            release(&mut r.warnings);
            release_detail(&mut r.error);
        }
    });
}

/// Starts a sandboxed process; `*out` gets its handle (free with `mxc_sandbox_free`).
///
/// # Safety
/// `request` is a NUL-terminated string; `out` and `error` point to writable memory or null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_spawn_json(
    request: *const c_char,
    _experimental: i32,
    out: *mut *mut Sandbox,
    error: *mut ErrorDetail,
) -> i32 {
    let result = guard(Err(Failure::new(status::BACKEND_ERROR, "cordon's libmxc_ffi panicked")), || {
        // SAFETY: per the contract.
        let text = unsafe { request_text(request) }?;
        if out.is_null() {
            return Err(Failure::new(status::MALFORMED, "mxc_spawn_json: the handle out-pointer is null"));
        }
        spawn::spawn(text, lib_dir())
    });
    match result {
        Ok(sandbox) => {
            // SAFETY: checked non-null inside the guard.
            unsafe { out.write(Box::into_raw(Box::new(sandbox))) };
            0
        }
        // SAFETY: `error` is null or writable.
        Err(f) => unsafe { fail_into(error, &f, "spawn") },
    }
}

/// The sandbox behind a handle.
///
/// # Safety
/// `s` is null or a live handle from `mxc_spawn_json`.
unsafe fn sandbox<'a>(s: *mut Sandbox) -> Option<&'a Sandbox> {
    // SAFETY: per the contract.
    unsafe { s.as_ref() }
}

/// The process id of cordon running the sandbox.
///
/// # Safety
/// `s` is null or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_id(s: *mut Sandbox) -> u32 {
    // SAFETY: per the contract.
    guard(0, || unsafe { sandbox(s) }.map_or(0, Sandbox::id))
}

/// Hands the stdin, stdout and stderr pipe descriptors to the caller, who owns them after.
///
/// # Safety
/// `s` is null or a live handle; `out` writable or null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_take_native_stdio(s: *mut Sandbox, out: *mut NativeStdio) -> i32 {
    guard(status::BACKEND_ERROR, || {
        // SAFETY: per the contract.
        let Some(sb) = (unsafe { sandbox(s) }) else { return status::MALFORMED };
        if out.is_null() {
            return status::MALFORMED;
        }
        let Some([i, o, e]) = sb.take_stdio() else { return status::BACKEND_ERROR };
        let raw = |fd: Option<OwnedFd>| fd.map_or(-1, |fd| fd.into_raw_fd() as isize);
        let stdio = NativeStdio { stdin_handle: raw(i), stdout_handle: raw(o), stderr_handle: raw(e) };
        // SAFETY: checked non-null.
        unsafe { out.write(stdio) };
        0
    })
}

/// Closes a pipe descriptor `mxc_sandbox_take_native_stdio` handed out and the caller could
/// not use.
#[unsafe(no_mangle)]
pub extern "C" fn mxc_native_pipe_close(fd: isize) {
    guard((), || {
        if let Ok(fd) = i32::try_from(fd)
            && fd >= 0
        {
            // SAFETY: the caller gives back a descriptor it owns from take_native_stdio.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    });
}

/// Writes a status into the caller's three ints.
///
/// # Safety
/// Each pointer is null or writable.
unsafe fn put(p: *mut i32, v: i32) {
    if !p.is_null() {
        // SAFETY: per the contract.
        unsafe { p.write(v) };
    }
}

/// Polls: `*running` 1 while it runs; after, the exit code and whether it timed out.
///
/// # Safety
/// `s` is null or a live handle; the out pointers null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_try_wait(
    s: *mut Sandbox,
    exit: *mut i32,
    running: *mut i32,
    timed_out: *mut i32,
) -> i32 {
    guard(status::BACKEND_ERROR, || {
        // SAFETY: per the contract.
        let Some(sb) = (unsafe { sandbox(s) }) else { return status::MALFORMED };
        match sb.poll() {
            Ok(st) => {
                // SAFETY: per the contract.
                unsafe {
                    put(exit, st.exit_code);
                    put(running, i32::from(st.running));
                    put(timed_out, i32::from(st.timed_out));
                }
                0
            }
            Err(f) => f.status,
        }
    })
}

/// Blocks until the process ends.
///
/// # Safety
/// `s` is null or a live handle; the out pointers null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_wait(s: *mut Sandbox, exit: *mut i32, timed_out: *mut i32) -> i32 {
    guard(status::BACKEND_ERROR, || {
        // SAFETY: per the contract.
        let Some(sb) = (unsafe { sandbox(s) }) else { return status::MALFORMED };
        match sb.wait() {
            Ok(st) => {
                // SAFETY: per the contract.
                unsafe {
                    put(exit, st.exit_code);
                    put(timed_out, i32::from(st.timed_out));
                }
                0
            }
            Err(f) => f.status,
        }
    })
}

/// Kills the sandbox.
///
/// # Safety
/// `s` is null or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_kill(s: *mut Sandbox) -> i32 {
    // SAFETY: per the contract.
    guard(status::BACKEND_ERROR, || {
        unsafe { sandbox(s) }.map_or(status::MALFORMED, |sb| sb.kill(false).map_or_else(|f| f.status, |()| 0))
    })
}

/// Kills the sandbox because its deadline passed: it then reports exit -1, timed out.
///
/// # Safety
/// `s` is null or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_kill_for_timeout(s: *mut Sandbox) -> i32 {
    // SAFETY: per the contract.
    guard(status::BACKEND_ERROR, || {
        unsafe { sandbox(s) }.map_or(status::MALFORMED, |sb| sb.kill(true).map_or_else(|f| f.status, |()| 0))
    })
}

/// Warnings as a JSON array: none, a null string (an empty list to the SDK); cordon's own
/// notes go to the stderr stream.
///
/// # Safety
/// `s` is null or a live handle; `out` null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_warnings_json(s: *mut Sandbox, out: *mut *mut c_char) -> i32 {
    guard(status::BACKEND_ERROR, || {
        // SAFETY: per the contract.
        if unsafe { sandbox(s) }.is_none() || out.is_null() {
            return status::MALFORMED;
        }
        // SAFETY: checked non-null.
        unsafe { out.write(std::ptr::null_mut()) };
        0
    })
}

/// Output metadata (MXC's captureDenials, a Windows feature): none, a null string.
///
/// # Safety
/// `s` is null or a live handle; `out` null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_output_metadata_json(s: *mut Sandbox, out: *mut *mut c_char) -> i32 {
    guard(status::BACKEND_ERROR, || {
        // SAFETY: per the contract.
        if unsafe { sandbox(s) }.is_none() || out.is_null() {
            return status::MALFORMED;
        }
        // SAFETY: checked non-null.
        unsafe { out.write(std::ptr::null_mut()) };
        0
    })
}

/// Frees a handle: a live sandbox is killed and reaped first.
///
/// # Safety
/// `s` is null or a handle from `mxc_spawn_json`, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_sandbox_free(s: *mut Sandbox) {
    guard((), || {
        if !s.is_null() {
            // SAFETY: made by Box::into_raw in mxc_spawn_json.
            drop(unsafe { Box::from_raw(s) });
        }
    });
}

// What cordon does not have: MXC's state-aware lifecycle (provision/start/stop containers),
// PTYs, request probes and telemetry consent. Each symbol the SDK binds exists and refuses
// with MXC's `unsupported_phase` (status 3) and a message saying what to use instead.

fn unsupported(what: &str) -> Failure {
    Failure::new(status::UNSUPPORTED_PHASE, format!("{what} is not supported by cordon's libmxc_ffi"))
}

fn lifecycle_unsupported() -> Failure {
    let mut f = unsupported("the state-aware container lifecycle (provision/start/exec/stop)");
    f.remediation = Some("use run() or spawn(), which create and destroy the sandbox per call".into());
    f
}

/// Refused: state-aware exec.
///
/// # Safety
/// `error` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_exec_state_aware_json(
    _request: *const c_char,
    _experimental: i32,
    _out: *mut *mut Sandbox,
    error: *mut ErrorDetail,
) -> i32 {
    // SAFETY: per the contract.
    guard(status::UNSUPPORTED_PHASE, || unsafe { fail_into(error, &lifecycle_unsupported(), "exec") })
}

/// Refused: state-aware captured exec.
///
/// # Safety
/// `out` is null or a writable `RunResult`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_run_state_aware_exec_json(
    _request: *const c_char,
    _experimental: i32,
    out: *mut RunResult,
) -> i32 {
    guard(status::UNSUPPORTED_PHASE, || {
        if !out.is_null() {
            // SAFETY: per the contract.
            unsafe { out.write(failed_run(&lifecycle_unsupported(), "exec")) };
        }
        status::UNSUPPORTED_PHASE
    })
}

/// Refused: state-aware lifecycle requests.
///
/// # Safety
/// `out` is null or a writable `StateAwareResult`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_run_state_aware_json(
    _request: *const c_char,
    _dry_run: i32,
    _experimental: i32,
    out: *mut StateAwareResult,
) -> i32 {
    guard(status::UNSUPPORTED_PHASE, || {
        if !out.is_null() {
            let f = lifecycle_unsupported();
            let r = StateAwareResult {
                status: f.status,
                response_json_utf8: std::ptr::null_mut(),
                error: detail(&f, "lifecycle"),
            };
            // SAFETY: per the contract.
            unsafe { out.write(r) };
        }
        status::UNSUPPORTED_PHASE
    })
}

/// Frees a state-aware result's strings.
///
/// # Safety
/// `r` is null or a result this library filled.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_state_aware_result_free(r: *mut StateAwareResult) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(r) = unsafe { r.as_mut() } {
            let mut p = r.response_json_utf8.cast::<c_char>();
            release(&mut p);
            release_detail(&mut r.error);
            r.response_json_utf8 = std::ptr::null_mut();
        }
    });
}

fn pty_unsupported() -> Failure {
    let mut f = unsupported("a pseudo-terminal (spawnWithPty)");
    f.remediation = Some("use spawn(), whose stdin/stdout/stderr are pipes".into());
    f
}

/// Refused: PTY spawn.
///
/// # Safety
/// `error` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_spawn_pty_json(
    _request: *const c_char,
    _experimental: i32,
    _rows: u16,
    _columns: u16,
    _out: *mut *mut Sandbox,
    error: *mut ErrorDetail,
) -> i32 {
    // SAFETY: per the contract.
    guard(status::UNSUPPORTED_PHASE, || unsafe { fail_into(error, &pty_unsupported(), "spawnWithPty") })
}

/// Refused: state-aware PTY exec.
///
/// # Safety
/// `error` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_state_aware_exec_pty(
    _request: *const c_char,
    _experimental: i32,
    _rows: u16,
    _columns: u16,
    _out: *mut *mut Sandbox,
    error: *mut ErrorDetail,
) -> i32 {
    // SAFETY: per the contract.
    guard(status::UNSUPPORTED_PHASE, || unsafe { fail_into(error, &lifecycle_unsupported(), "exec") })
}

/// Refused: no sandbox here has a PTY.
#[unsafe(no_mangle)]
pub extern "C" fn mxc_sandbox_pty_resize(_s: *mut Sandbox, _rows: u16, _columns: u16) -> i32 {
    status::UNSUPPORTED_PHASE
}

/// Refused: MXC's request probe.
///
/// # Safety
/// `error` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mxc_probe_request_json_with_error(
    _request: *const c_char,
    _out: *mut *mut c_void,
    error: *mut ErrorDetail,
) -> i32 {
    // SAFETY: per the contract.
    guard(status::UNSUPPORTED_PHASE, || unsafe { fail_into(error, &unsupported("probe()"), "probe") })
}

/// Refused: cordon sends no telemetry, so there is no consent to read.
#[unsafe(no_mangle)]
pub extern "C" fn mxc_telemetry_get_consent_status(_out: *mut *mut c_void) -> i32 {
    status::UNSUPPORTED_PHASE
}

/// Refused: cordon sends no telemetry, so there is no consent to withdraw.
#[unsafe(no_mangle)]
pub extern "C" fn mxc_telemetry_withdraw_consent(_out: *mut *mut c_void) -> i32 {
    status::UNSUPPORTED_PHASE
}

/// Refused: cordon sends no telemetry and asks for no consent.
#[unsafe(no_mangle)]
pub extern "C" fn mxc_telemetry_request_consent(
    _locale: *const c_char,
    _presenter: *mut c_void,
    _context: *mut c_void,
    _out: *mut *mut c_void,
) -> i32 {
    status::UNSUPPORTED_PHASE
}

/// The error message of a run result this library filled, or "" (for the ABI tests).
#[doc(hidden)]
pub fn error_message(r: &RunResult) -> String {
    let p = r.error.message;
    if p.is_null() || !live().contains(&(p as usize)) {
        return String::new();
    }
    // SAFETY: a string of ours, not yet freed.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
