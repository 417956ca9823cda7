//! `cargo esdsl`: generate Rust code from esdsl schemas and check their evolution.
//!
//! - `generate`: write the code for schema files (the code `schema!` expands to);
//! - `lock`: append what the schemas add to `esdsl.lock`, the evolution baseline;
//! - `check`: compare the schemas with the lock, a git ref or a store ([`docs/evolution.md`]);
//! - `store`: verify or back up a store; `projections`: what each projection of a store is
//!   doing ([`docs/projections.md`]).
//!
//! The binary is a thin wrapper over [`run`], so the whole CLI is testable in-process.
//!
//! Exit codes, for every command: 0 success, 1 the command ran and found problems (an invalid
//! schema, stale generated files, a deny finding), 2 it could not run (bad arguments,
//! unreadable files, an invalid lock, a bad git ref, internal errors).
//!
//! [`docs/evolution.md`]: https://github.com/esdsl/esdsl/blob/main/docs/evolution.md
//! [`docs/projections.md`]: https://github.com/esdsl/esdsl/blob/main/docs/projections.md

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
mod files;
mod generate;
mod git;
mod lock;
mod output;
mod projections;
mod store;

/// `cargo` runs `cargo-esdsl esdsl ARGS...`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::styling::Styles::default())]
enum CargoCli {
    /// Generate Rust code from esdsl schemas and check their evolution.
    Esdsl(EsdslCli),
}

#[derive(Debug, Args)]
#[command(version, about, long_about = None)]
struct EsdslCli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the Rust code for schema files (the same code `schema!` expands to).
    Generate(generate::GenerateArgs),
    /// Check that the schemas keep stored events readable: against the lock file, a git ref
    /// or a store.
    Check(check::CheckArgs),
    /// Append what the schemas add to the lock file (refuses changes `check` denies).
    Lock(lock::LockArgs),
    /// Verify or back up an LMDB event store.
    Store(store::StoreArgs),
    /// Show every projection of a store: checkpoints, lag, parked events, rebuilds (read-only).
    Projections(projections::ProjectionsArgs),
}

/// What a command found, mapped to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: it ran and everything is fine.
    Success,
    /// Exit 1: it ran and found problems.
    Problems,
}

/// Runs `cargo esdsl` with the given arguments (the first is the program name), printing to
/// stdout and stderr, and returns the exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let color = std::io::stderr().is_terminal();
    let stdout = &mut std::io::stdout().lock();
    let stderr = &mut std::io::stderr().lock();
    ExitCode::from(dispatch(args, stdout, stderr, color))
}

/// Like [`run`], writing to the given streams and returning the exit code as a number: 0
/// success, 1 problems found, 2 could not run.
pub fn run_with<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    dispatch(args, stdout, stderr, false)
}

fn dispatch<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write, color: bool) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Run directly as `cargo-esdsl generate ...`, the `esdsl` that cargo inserts is missing.
    if args.get(1).is_none_or(|a| a != "esdsl") {
        args.insert(1.min(args.len()), OsString::from("esdsl"));
    }
    let cli = match CargoCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render();
            return if error.use_stderr() {
                let _ = write!(stderr, "{text}");
                2
            } else {
                let _ = write!(stdout, "{text}");
                0
            };
        }
    };
    let CargoCli::Esdsl(cli) = cli;
    let result = match cli.command {
        Command::Generate(args) => generate::run(&args, stdout, stderr, color),
        Command::Check(args) => check::run(&args, stdout, stderr, color),
        Command::Lock(args) => lock::run(&args, stdout, stderr, color),
        Command::Store(args) => store::run(&args, stdout),
        Command::Projections(args) => projections::run(&args, stdout),
    };
    match result {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::Problems) => 1,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error:#}");
            2
        }
    }
}
