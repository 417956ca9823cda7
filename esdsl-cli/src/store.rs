//! `cargo esdsl store verify` and `cargo esdsl store backup`: integrity check and hot backup of
//! an LMDB store.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Check the store's invariants; exit 1 and list every violation when one is broken.
    Verify {
        /// The store directory (holding `data.mdb`).
        dir: PathBuf,
    },
    /// Write a consistent, compacted copy of the store to a new directory, while writers run.
    Backup {
        /// The store directory (holding `data.mdb`).
        dir: PathBuf,
        /// The new, empty directory to write the copy to.
        dest: PathBuf,
    },
}

pub(crate) fn run(args: &StoreArgs, stdout: &mut dyn Write) -> Result<Outcome> {
    match &args.command {
        StoreCommand::Verify { dir } => {
            let store = open_existing(dir)?;
            let report = store
                .verify()
                .with_context(|| format!("cannot verify `{}`", dir.display()))?;
            for violation in &report.violations {
                writeln!(
                    stdout,
                    "error[store_invariant]: {}: {}",
                    violation.location, violation.problem
                )?;
            }
            writeln!(
                stdout,
                "{}: {} events, {} streams, {} JSON payloads parsed, {} violation(s)",
                dir.display(),
                report.events,
                report.streams,
                report.json_payloads,
                report.violations.len()
            )?;
            Ok(if report.is_ok() {
                Outcome::Success
            } else {
                Outcome::Problems
            })
        }
        StoreCommand::Backup { dir, dest } => {
            let store = open_existing(dir)?;
            let report = store.backup(dest).with_context(|| {
                format!("cannot back up `{}` to `{}`", dir.display(), dest.display())
            })?;
            writeln!(
                stdout,
                "backed up `{}` to `{}`: every event up to position {} ({} bytes)",
                dir.display(),
                dest.display(),
                report.head,
                report.bytes
            )?;
            Ok(Outcome::Success)
        }
    }
}

/// Opens a store that exists: `LmdbStore::open` would create a missing one.
pub(crate) fn open_existing(dir: &Path) -> Result<esdsl_runtime::lmdb::LmdbStore> {
    if !dir.join("data.mdb").is_file() {
        bail!("`{}` is not an esdsl store (no data.mdb)", dir.display());
    }
    esdsl_runtime::lmdb::LmdbStore::open(dir)
        .with_context(|| format!("cannot open the store `{}`", dir.display()))
}
