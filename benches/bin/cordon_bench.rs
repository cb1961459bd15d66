//! The `cordon` CLI, built inside the bench crate so benches can run it by path.

fn main() -> std::process::ExitCode {
    cordon_runtime::cli::main()
}
