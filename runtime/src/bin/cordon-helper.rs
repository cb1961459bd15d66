//! `cordon-helper`: the small program cordon starts inside a native sandbox. It restricts
//! itself (rlimits, capabilities, no_new_privs, landlock, seccomp; the network relay first
//! when the plan has one) and then executes the tool. It links no Wasmtime. cordon finds it
//! next to its own executable (`cargo install --path runtime` installs both), or where an
//! embedder's `RunRequest::helper` says.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    #[cfg(target_os = "linux")]
    if args.get(1).map(String::as_str) == Some("__cordon-helper") {
        return std::process::ExitCode::from(cordon_native::linux::helper_main(&args[2..]));
    }
    #[cfg(target_os = "linux")]
    if args.get(1).map(String::as_str) == Some("__cordon-supervisor") {
        return std::process::ExitCode::from(cordon_native::linux::supervisor_main(&args[2..]));
    }
    let _ = args;
    eprintln!("cordon-helper: started by cordon inside a sandbox, not by hand (Linux only)");
    std::process::ExitCode::from(125)
}
