fn main() -> std::process::ExitCode {
    esdsl_cli::run(std::env::args_os())
}
