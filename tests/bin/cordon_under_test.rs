//! The `cordon` CLI, built inside the test crate so integration tests can run it by path
//! (`CARGO_BIN_EXE_cordon-under-test`). Identical to `runtime/src/bin/cordon.rs`.

fn main() -> std::process::ExitCode {
    cordon_runtime::cli::main()
}
