//! Integration tests across crates: one binary, one module per area.

mod derive;
mod describe;
mod doc_blocks;
mod evolution;
mod export;
mod forward;
mod generate;
mod hostile;
mod hygiene;
mod projections_cli;
mod store_cli;
mod ui;
mod upcast;

/// Runs the CLI in-process; returns (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("cargo-esdsl").chain(args.iter().copied());
    let code = esdsl_cli::run_with(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("utf-8 stdout"),
        String::from_utf8(err).expect("utf-8 stderr"),
    )
}
