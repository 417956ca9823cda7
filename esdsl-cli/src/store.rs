//! `cargo esdsl store verify` and `cargo esdsl store backup`: integrity check and hot backup of
//! an LMDB store, opened read-only.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use esdsl_runtime::lmdb::{BackupOptions, LmdbStore};

use crate::Outcome;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Check the store, read-only: LMDB's pages (exit 2 naming the page when damaged), then
    /// its invariants (exit 1 listing every violation when one is broken).
    Verify {
        /// The store directory (holding `data.mdb`).
        dir: PathBuf,
        /// `human`: each violation on stderr, a summary on stdout; `json`: one object with
        /// the counts and every violation on stdout.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Write a consistent, compacted copy of the store to a new directory, while writers run;
    /// the store is verified first and a damaged one refused.
    Backup {
        /// The store directory (holding `data.mdb`).
        dir: PathBuf,
        /// The new, empty directory to write the copy to (not inside the store directory).
        dest: PathBuf,
        /// Copy a store whose invariants are broken (LMDB's pages must still be sound).
        #[arg(long)]
        no_verify: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

/// `store verify --format json`: keys in this order.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    store: &'a str,
    events: u64,
    streams: u64,
    json_payloads: u64,
    pages: u64,
    unknown_databases: &'a [String],
    violations: Vec<JsonViolation<'a>>,
}

#[derive(serde::Serialize)]
struct JsonViolation<'a> {
    rule: &'a str,
    location: &'a str,
    problem: &'a str,
}

pub(crate) fn run(
    args: &StoreArgs,
    context: &Context,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Outcome> {
    match &args.command {
        StoreCommand::Verify { dir, format } => {
            let display = context.display(dir);
            let report = LmdbStore::verify_read_only(dir)
                .with_context(|| format!("cannot verify `{display}`"))?;
            match format {
                Format::Human => {
                    warn_unknown(&display, &report.unknown_databases, stderr)?;
                    for violation in &report.violations {
                        writeln!(
                            stderr,
                            "error[store_invariant]: {}: {}",
                            violation.location, violation.problem
                        )?;
                    }
                    if !context.quiet() {
                        writeln!(
                            stdout,
                            "{display}: {} events, {} streams, {} JSON payloads parsed, {} \
                             violation(s)",
                            report.events,
                            report.streams,
                            report.json_payloads,
                            report.violations.len()
                        )?;
                    }
                }
                Format::Json => {
                    let json = JsonReport {
                        store: &display,
                        events: report.events,
                        streams: report.streams,
                        json_payloads: report.json_payloads,
                        pages: report.pages,
                        unknown_databases: &report.unknown_databases,
                        violations: report
                            .violations
                            .iter()
                            .map(|v| JsonViolation {
                                rule: "store_invariant",
                                location: &v.location,
                                problem: &v.problem,
                            })
                            .collect(),
                    };
                    serde_json::to_writer_pretty(&mut *stdout, &json)?;
                    writeln!(stdout)?;
                }
            }
            Ok(if report.is_ok() {
                Outcome::Success
            } else {
                Outcome::Problems
            })
        }
        StoreCommand::Backup {
            dir,
            dest,
            no_verify,
        } => {
            let (display, dest_display) = (context.display(dir), context.display(dest));
            let options = BackupOptions::new().verify(!no_verify);
            let report = LmdbStore::backup_read_only(dir, dest, &options)
                .with_context(|| format!("cannot back up `{display}` to `{dest_display}`"))?;
            warn_unknown(&display, &report.unknown_databases, stderr)?;
            if !context.quiet() {
                writeln!(
                    stdout,
                    "backed up `{display}` to `{dest_display}`: every event up to position {} \
                     ({} bytes)",
                    report.head, report.bytes
                )?;
            }
            Ok(Outcome::Success)
        }
    }
}

/// A warning on stderr for each database of the store `display` that esdsl does not use.
pub(crate) fn warn_unknown(display: &str, names: &[String], stderr: &mut dyn Write) -> Result<()> {
    for name in names {
        writeln!(
            stderr,
            "warning: `{display}` holds a database esdsl does not use: `{name}`"
        )?;
    }
    Ok(())
}

/// [`warn_unknown`] for the store in `dir`, opened read-only.
pub(crate) fn warn_unknown_in(
    dir: &std::path::Path,
    display: &str,
    stderr: &mut dyn Write,
) -> Result<()> {
    let names = LmdbStore::read_only_unknown_databases(dir)
        .with_context(|| format!("cannot read the databases of `{display}`"))?;
    warn_unknown(display, &names, stderr)
}
