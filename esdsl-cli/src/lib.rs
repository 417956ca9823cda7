//! `cargo esdsl`: generate Rust code from esdsl schemas and check their evolution.
//!
//! - `generate`: write the code for schema files (the code `schema!` expands to);
//! - `lock`: append what the schemas add to `esdsl.lock`, the evolution baseline;
//! - `check`: compare the schemas with the lock, a git ref or a store ([`docs/evolution.md`]);
//! - `store`: verify or back up a store; `projections`: what each projection of a store is
//!   doing ([`docs/projections.md`]);
//! - `docs`: the static event catalog of the schemas, HTML to browse and search
//!   ([`docs/catalog.md`]); `export`: a JSON Schema per event version or an AsyncAPI 3
//!   document, for other languages;
//! - `completions`: a shell completion script.
//!
//! Like cargo's own commands, each takes `--color`, `--manifest-path`, `-q` and `-v`, resolves
//! its default paths from the package root, prints reports to stdout and diagnostics to
//! stderr, and ends quietly when its reader goes away.
//!
//! The binary is a thin wrapper over [`run`], so the whole CLI is testable in-process.
//!
//! Exit codes, for every command: 0 success, 1 the command ran and found problems (an invalid
//! schema, stale generated files, a deny finding), 2 it could not run (bad arguments,
//! unreadable files, an invalid lock, a bad git ref, internal errors).
//!
//! [`docs/evolution.md`]: https://github.com/esdsl/esdsl/blob/main/docs/evolution.md
//! [`docs/projections.md`]: https://github.com/esdsl/esdsl/blob/main/docs/projections.md
//! [`docs/catalog.md`]: https://github.com/esdsl/esdsl/blob/main/docs/catalog.md

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
mod context;
mod docs;
mod explain;
mod export;
mod files;
mod generate;
mod git;
mod lock;
mod output;
mod projections;
mod store;

use context::{ColorChoice, Context, Verbosity};

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
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// The options every command takes, as cargo's own.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Coloring: auto, always, never [default: `CARGO_TERM_COLOR`, else auto; auto honours
    /// `NO_COLOR`].
    #[arg(long, value_enum, value_name = "WHEN", global = true)]
    color: Option<ColorChoice>,
    /// Path to Cargo.toml: default paths (`schemas`, `src/generated`) are resolved from its
    /// directory [default: the nearest Cargo.toml at or above the current directory].
    #[arg(long, value_name = "PATH", global = true)]
    manifest_path: Option<PathBuf>,
    /// Print reports and diagnostics only, no summary lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print what was looked at and left unchanged.
    #[arg(short, long, global = true)]
    verbose: bool,
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
    /// Write the static event catalog of the schemas: HTML pages to browse and search.
    Docs(docs::DocsArgs),
    /// Export the schemas' events for other languages: JSON Schema or AsyncAPI.
    Export(export::ExportArgs),
    /// Show every projection of a store: checkpoints, lag, parked events, rebuilds (read-only).
    Projections(projections::ProjectionsArgs),
    /// Print a shell completion script for `cargo-esdsl` to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
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
    let terminal = std::io::stderr().is_terminal();
    let stdout = &mut std::io::stdout().lock();
    let stderr = &mut std::io::stderr().lock();
    ExitCode::from(dispatch(args, stdout, stderr, terminal))
}

/// Like [`run`], writing to the given streams and returning the exit code as a number: 0
/// success, 1 problems found, 2 could not run. The streams are not terminals: colors are off
/// unless `--color always` (or `CARGO_TERM_COLOR=always`) asks for them.
pub fn run_with<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    dispatch(args, stdout, stderr, false)
}

fn dispatch<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write, terminal: bool) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Run directly as `cargo-esdsl generate ...`, the `esdsl` that cargo inserts is missing.
    if args.get(1).is_none_or(|a| a != "esdsl") {
        args.insert(1.min(args.len()), OsString::from("esdsl"));
    }
    let env = |name: &str| std::env::var(name).ok();
    let color = |flag: Option<ColorChoice>| {
        ColorChoice::resolve(
            flag,
            env("CARGO_TERM_COLOR").as_deref(),
            env("NO_COLOR").as_deref(),
            terminal,
        )
    };
    let cli = match CargoCli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            // Help and usage errors are colored as diagnostics are: `--color` is read from the
            // arguments, which did not parse as a whole.
            let styled = color(color_flag(&args));
            let text = error.render();
            let text = if styled {
                text.ansi().to_string()
            } else {
                text.to_string()
            };
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
    let verbosity = if cli.global.quiet {
        Verbosity::Quiet
    } else if cli.global.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let result = Context::new(
        color(cli.global.color),
        verbosity,
        cli.global.manifest_path.as_deref(),
    )
    .and_then(|context| match &cli.command {
        Command::Generate(args) => generate::run(args, &context, stdout, stderr),
        Command::Check(args) => check::run(args, &context, stdout, stderr),
        Command::Lock(args) => lock::run(args, &context, stdout, stderr),
        Command::Store(args) => store::run(args, &context, stdout, stderr),
        Command::Projections(args) => projections::run(args, &context, stdout, stderr),
        Command::Docs(args) => docs::run(args, &context, stdout, stderr),
        Command::Export(args) => export::run(args, &context, stdout, stderr),
        Command::Completions { shell } => {
            let mut command = EsdslCli::augment_args(clap::Command::new("cargo-esdsl"));
            // Into a buffer first: `generate` panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "cargo-esdsl", &mut script);
            stdout.write_all(&script)?;
            Ok(Outcome::Success)
        }
    });
    let result = result.and_then(|outcome| {
        stdout.flush()?;
        Ok(outcome)
    });
    match result {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::Problems) => 1,
        // The reader went away (`cargo esdsl check --explain X | head -1`): nothing more to
        // say, and nothing went wrong.
        Err(error) if broken_pipe(&error) => 0,
        Err(error) => {
            let _ = writeln!(stderr, "error: {error:#}");
            2
        }
    }
}

/// `--color WHEN` or `--color=WHEN` among raw arguments.
fn color_flag(args: &[OsString]) -> Option<ColorChoice> {
    let mut value = None;
    let mut iter = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--color" {
            value = iter.next();
        } else if let Some(v) = arg.strip_prefix("--color=") {
            value = Some(v);
        }
    }
    clap::ValueEnum::from_str(value?, true).ok()
}

/// Whether an error comes from writing to a closed pipe.
fn broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
