//! The `wasmux` command.

fn main() -> std::process::ExitCode {
    wasmux::cli::main()
}
