//! The `simgate` binary: everything lives in the library; see `simgate::cli`.

fn main() -> std::process::ExitCode {
    simgate::cli::main()
}
