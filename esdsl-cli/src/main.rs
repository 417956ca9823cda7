//! `cargo-esdsl`: the `cargo esdsl` subcommand; everything is in the library (`run`).
fn main() -> std::process::ExitCode {
    esdsl_cli::run(std::env::args_os())
}
