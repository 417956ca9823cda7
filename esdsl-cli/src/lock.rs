//! `cargo esdsl lock`: append what the schemas add to the lock file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use esdsl_schema::evolve::{self, Finding};

use crate::Outcome;
use crate::context::Context;
use crate::files;
use crate::output::{self, Sources};

#[derive(Debug, clap::Args)]
pub(crate) struct LockArgs {
    /// Schema files, or directories whose `*.toml` files are schemas [default: `schemas` in
    /// the package root].
    #[arg(value_name = "SCHEMA_FILE_OR_DIR")]
    paths: Vec<PathBuf>,
    /// The lock file [default: `esdsl.lock` in the first schema directory].
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// `human`: diagnostics like the compiler's on stderr, a summary on stdout; `json`: one
    /// array of the findings that stopped or accompanied the lock on stdout, as `check
    /// --format json` prints.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

pub(crate) fn run(
    args: &LockArgs,
    context: &Context,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Outcome> {
    let color = context.color;
    let human = args.format == Format::Human;
    let paths = files::schema_paths(&args.paths, context);
    let loaded = files::load(&paths, args.lock.as_deref(), context, stderr)?;
    if !loaded.invalid.is_empty() {
        if human {
            for report in &loaded.invalid {
                let text = if color {
                    report.render_styled()
                } else {
                    report.render()
                };
                write!(stderr, "{text}")?;
            }
            writeln!(
                stderr,
                "error: not writing `{}`: fix the schemas first",
                loaded.lock_display
            )?;
        } else {
            let mut sources = Sources::default();
            let mut findings = Vec::new();
            for report in &loaded.invalid {
                sources.add(&report.path, &report.source);
                findings.extend(report.diagnostics.iter().map(|d| Finding {
                    diagnostic: d.clone(),
                    path: Some(report.path.clone()),
                    event: None,
                    version: None,
                    field: None,
                }));
            }
            write!(stdout, "{}", output::json(&findings, &sources))?;
        }
        return Ok(Outcome::Problems);
    }
    let existed = loaded.lock.is_some();
    let mut lock = loaded
        .lock
        .as_ref()
        .map(|(lock, _)| lock.clone())
        .unwrap_or_default();

    // The lock only takes changes the rules allow: check against it first.
    let mut findings = evolve::check(&loaded.files, &loaded.scope(lock.clone()));
    let mut sources = Sources::default();
    for file in &loaded.files {
        if let Some(source) = &file.source {
            sources.add(&file.path, source);
        }
    }
    sources.sort(&mut findings);
    if human {
        write!(stderr, "{}", output::human(&findings, &sources, color))?;
    } else {
        write!(stdout, "{}", output::json(&findings, &sources))?;
    }
    let deny = findings.iter().filter(|f| f.is_deny()).count();
    if deny > 0 && !human {
        return Ok(Outcome::Problems);
    }
    if deny > 0 {
        writeln!(
            stderr,
            "error: not writing `{}`: {deny} deny finding{} above; a lock only takes changes \
             that keep stored events readable",
            loaded.lock_display,
            if deny == 1 { "" } else { "s" }
        )?;
        return Ok(Outcome::Problems);
    }

    let added = lock.update(&loaded.files);
    if added == 0 && existed {
        if human && !context.quiet() {
            writeln!(stdout, "{} is up to date", loaded.lock_display)?;
        }
        return Ok(Outcome::Success);
    }
    if let Some(parent) = loaded
        .lock_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(&loaded.lock_path, lock.to_toml())
        .with_context(|| format!("cannot write `{}`", loaded.lock_display))?;
    if human && !context.quiet() {
        writeln!(
            stdout,
            "wrote {} ({added} entr{} added, {} in all)",
            loaded.lock_display,
            if added == 1 { "y" } else { "ies" },
            lock.len()
        )?;
    }
    Ok(Outcome::Success)
}
