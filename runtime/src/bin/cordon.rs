fn main() -> std::process::ExitCode {
    cordon_runtime::cli::main()
}
