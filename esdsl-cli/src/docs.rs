//! `cargo esdsl docs`: the static event catalog of the schemas (`esdsl_schema::catalog`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use esdsl_schema::catalog::Catalog;

use crate::Outcome;
use crate::context::Context;
use crate::files;

#[derive(Debug, clap::Args)]
pub(crate) struct DocsArgs {
    /// Schema files, or directories whose `*.toml` files are schemas [default: `schemas` in
    /// the package root].
    #[arg(value_name = "SCHEMA_FILE_OR_DIR")]
    paths: Vec<PathBuf>,
    /// The directory to write the catalog into; files the catalog does not write are left
    /// alone [default: `target/esdsl-docs` in the package root].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The lock file whose history the pages show [default: `esdsl.lock` in the first schema
    /// directory; none when it does not exist].
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// The index page's title.
    #[arg(long, default_value = "Event catalog")]
    title: String,
}

pub(crate) fn run(
    args: &DocsArgs,
    context: &Context,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Outcome> {
    let paths = files::schema_paths(&args.paths, context);
    let Some(loaded) = files::load_valid(&paths, args.lock.as_deref(), context, stderr)? else {
        return Ok(Outcome::Problems);
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| context.default_path("target/esdsl-docs"));
    let display = context.display(&out);
    let mut catalog = Catalog::new(loaded.files).with_title(&args.title);
    if let Some(lock) = loaded.lock {
        catalog = catalog.with_lock(lock);
    }
    let written = catalog
        .write_to(&out)
        .with_context(|| format!("cannot write the catalog into `{display}`"))?;
    if !context.quiet() {
        writeln!(
            stdout,
            "wrote the event catalog ({written} files) into {display}; open {}",
            context.display(&out.join("index.html"))
        )?;
    }
    Ok(Outcome::Success)
}
