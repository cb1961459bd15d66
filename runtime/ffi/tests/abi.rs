//! The ABI's edges, called as the SDK calls them: null and foreign pointers, bad requests.
#![cfg(target_os = "linux")]
#![allow(unsafe_code, reason = "calling the C ABI")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::ffi::CStr;

#[test]
fn version_is_a_static_string() {
    let v = unsafe { CStr::from_ptr(mxc_ffi::mxc_version()) };
    assert!(v.to_str().unwrap().starts_with("1.0.1+cordon"));
}

#[test]
fn freeing_a_pointer_the_library_did_not_hand_out_is_ignored() {
    let foreign = c"not ours".as_ptr().cast_mut();
    unsafe { mxc_ffi::mxc_string_free(foreign) };
    unsafe { mxc_ffi::mxc_string_free(std::ptr::null_mut()) };
    // A string it did hand out, freed twice: the second is ignored too.
    let s = mxc_ffi::mxc_available_backends_json();
    assert!(!s.is_null());
    unsafe { mxc_ffi::mxc_string_free(s) };
    unsafe { mxc_ffi::mxc_string_free(s) };
}

fn run(request: Option<&CStr>) -> (i32, String) {
    let mut out = std::mem::MaybeUninit::<mxc_ffi::RunResult>::zeroed();
    let p = request.map_or(std::ptr::null(), CStr::as_ptr);
    let status = unsafe { mxc_ffi::mxc_run_json(p, 0, out.as_mut_ptr()) };
    let mut out = unsafe { out.assume_init() };
    let message = mxc_ffi::error_message(&out);
    unsafe { mxc_ffi::mxc_run_result_free(&raw mut out) };
    (status, message)
}

#[test]
fn bad_requests_are_malformed_with_a_reason() {
    assert_eq!(run(None), (1, "Configuration parse error: the request is null".into()));
    let (s, m) = run(Some(c"not json"));
    assert_eq!(s, 1);
    assert!(m.contains("not JSON"), "{m}");
    let (s, m) = run(Some(c"{\"version\": \"0.0.1\", \"process\": {\"commandLine\": \"true\"}}"));
    assert_eq!(s, 1);
    assert!(m.contains("version"), "{m}");
    // MXC's loader's executor rules: a command, and no lone section of another backend.
    let (s, m) = run(Some(c"{\"version\": \"1.0.0\", \"process\": {}}"));
    assert_eq!(s, 1);
    assert!(m.contains("Missing required field: process.commandLine"), "{m}");
    if cfg!(target_os = "linux") {
        let (s, m) =
            run(Some(c"{\"version\": \"1.0.0\", \"process\": {\"commandLine\": \"true\"}, \"processContainer\": {}}"));
        assert_eq!(s, 1);
        assert!(m.contains("'containment' is 'bubblewrap'"), "{m}");
    }
}

#[test]
fn containments_cordon_lacks_are_unsupported_naming_the_backends_here() {
    let (s, m) =
        run(Some(c"{\"version\": \"1.0.0\", \"containment\": \"lxc\", \"process\": {\"commandLine\": \"true\"}}"));
    assert_eq!(s, 2, "{m}");
    assert!(m.contains("containment 'lxc' is not supported by cordon"), "{m}");
    // Any spelling.
    let (s, _) =
        run(Some(c"{\"version\": \"1.0.0\", \"containment\": \"WSLC\", \"process\": {\"commandLine\": \"true\"}}"));
    assert_eq!(s, 2);
}

#[test]
fn lifecycle_calls_are_unsupported() {
    let mut err = std::mem::MaybeUninit::<mxc_ffi::ErrorDetail>::zeroed();
    let mut handle: *mut mxc_ffi::Sandbox = std::ptr::null_mut();
    let s = unsafe { mxc_ffi::mxc_exec_state_aware_json(c"{}".as_ptr(), 0, &raw mut handle, err.as_mut_ptr()) };
    assert_eq!(s, 3);
    assert!(handle.is_null());
    let mut err = unsafe { err.assume_init() };
    unsafe { mxc_ffi::mxc_error_detail_free(&raw mut err) };
}
