//! `cargo esdsl check`: the schemas against a baseline (the lock, a git ref, a store).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use esdsl_schema::evolve::{self, Finding, SchemaFile, StoredVersion};
use esdsl_schema::lock::Lock;

use crate::context::Context;
use crate::files::{self, Loaded};
use crate::git::Git;
use crate::output::{self, Format, Sources};
use crate::{Outcome, explain};

#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// Schema files, or directories whose `*.toml` files are schemas [default: `schemas` in
    /// the package root].
    #[arg(value_name = "SCHEMA_FILE_OR_DIR")]
    paths: Vec<PathBuf>,
    /// The lock file [default: `esdsl.lock` in the first schema directory].
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// Check against the schemas and lock at this git ref (e.g. `origin/main`) instead of the
    /// lock file; also fails when the lock's history was rewritten since that ref.
    #[arg(long, value_name = "GIT_REF")]
    against: Option<String>,
    /// Also check that the schemas declare every (type, version) stored in this LMDB store.
    #[arg(long, value_name = "DIR")]
    against_store: Option<PathBuf>,
    /// How to print findings.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Print the documentation of a rule any command reports (e.g. `version_modified`,
    /// `unknown_type`) and exit.
    #[arg(long, value_name = "RULE")]
    explain: Option<String>,
}

pub(crate) fn run(
    args: &CheckArgs,
    context: &Context,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Outcome> {
    if let Some(id) = &args.explain {
        write!(stdout, "{}", explain::explain(id, context.color)?)?;
        return Ok(Outcome::Success);
    }
    let color = context.color;
    let paths = files::schema_paths(&args.paths, context);
    let loaded = files::load(&paths, args.lock.as_deref(), context, stderr)?;
    let mut sources = Sources::default();
    for file in &loaded.files {
        if let Some(source) = &file.source {
            sources.add(&file.path, source);
        }
    }
    for report in &loaded.invalid {
        sources.add(&report.path, &report.source);
    }
    if let Some((_, text)) = &loaded.lock {
        sources.add(&loaded.lock_display, text);
    }

    let mut findings = Vec::new();
    let mut against = format!("`{}`", loaded.lock_display);
    if loaded.invalid.is_empty() {
        let (baseline, history) = match &args.against {
            Some(rev) => {
                against = format!("`{rev}`");
                against_ref(rev, &paths, &loaded, context, stderr)?
            }
            None => (
                loaded
                    .lock
                    .as_ref()
                    .map(|(lock, _)| lock.clone())
                    .unwrap_or_default(),
                Vec::new(),
            ),
        };
        findings.extend(evolve::check(&loaded.files, &loaded.scope(baseline)));
        let lock = loaded.lock.as_ref().map(|(lock, _)| lock);
        findings.extend(evolve::lock_out_of_date(
            &loaded.files,
            lock,
            &loaded.lock_display,
        ));
        findings.extend(history);
        if let Some(store) = &args.against_store {
            let display = context.display(store);
            against.push_str(&format!(" and store `{display}`"));
            let stored = catalog(store, &display)?;
            crate::store::warn_unknown_in(store, &display, stderr)?;
            findings.extend(evolve::check_store(&loaded.files, &stored, &display));
        }
    } else {
        for report in &loaded.invalid {
            for diagnostic in &report.diagnostics {
                findings.push(Finding {
                    diagnostic: diagnostic.clone(),
                    path: Some(report.path.clone()),
                    event: None,
                    version: None,
                    field: None,
                });
            }
        }
    }
    // A finding about a schema file that no longer exists names it by its key in the lock,
    // relative to the lock's directory.
    let lock_dir = loaded
        .lock_path
        .parent()
        .unwrap_or_else(|| std::path::Path::new(""));
    for finding in &mut findings {
        if let Some(path) = &finding.path
            && !sources.contains(path)
            && *path != loaded.lock_display
        {
            finding.path = Some(context.display(&lock_dir.join(path)));
        }
    }
    sources.sort(&mut findings);

    let deny = findings.iter().filter(|f| f.is_deny()).count();
    let warn = findings.len() - deny;
    match args.format {
        Format::Human => {
            write!(stderr, "{}", output::human(&findings, &sources, color))?;
            let checked = loaded.files.len() + loaded.invalid.len();
            let summary = format!(
                "{checked} schema file{} against {against}",
                if checked == 1 { "" } else { "s" }
            );
            if !loaded.invalid.is_empty() {
                writeln!(
                    stderr,
                    "error: {} of the schema files {} invalid; the evolution rules did not run",
                    loaded.invalid.len(),
                    if loaded.invalid.len() == 1 {
                        "is"
                    } else {
                        "are"
                    }
                )?;
            } else if deny > 0 {
                writeln!(stderr, "error: {} in {summary}", counts(deny, warn))?;
            } else if !context.quiet() {
                let found = if warn > 0 {
                    counts(0, warn)
                } else {
                    "no findings".into()
                };
                writeln!(stdout, "checked {summary}: {found}")?;
            }
        }
        Format::Json => write!(stdout, "{}", output::json(&findings, &sources))?,
        Format::Github => write!(stdout, "{}", output::github(&findings, &sources))?,
        Format::Sarif => write!(stdout, "{}", output::sarif(&findings, &sources))?,
    }
    Ok(if deny > 0 {
        Outcome::Problems
    } else {
        Outcome::Success
    })
}

/// "2 deny findings and 1 warning".
fn counts(deny: usize, warn: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match (deny, warn) {
        (0, w) => plural(w, "warning", "warnings"),
        (d, 0) => plural(d, "deny finding", "deny findings"),
        (d, w) => format!(
            "{} and {}",
            plural(d, "deny finding", "deny findings"),
            plural(w, "warning", "warnings")
        ),
    }
}

/// The baseline at a git ref: its lock, plus what `cargo esdsl lock` would have appended for its
/// schemas; and the `lock_history_rewritten` findings of the working tree's lock against it.
fn against_ref(
    rev: &str,
    paths: &[PathBuf],
    loaded: &Loaded,
    context: &Context,
    stderr: &mut dyn Write,
) -> Result<(Lock, Vec<Finding>)> {
    let color = context.color;
    let first = paths
        .first()
        .map_or_else(|| PathBuf::from("."), Clone::clone);
    let git = Git::discover(&first)?;
    git.verify(rev)?;
    let lock_rel = git.relative(&loaded.lock_path)?;
    let lock_dir = lock_rel.rsplit_once('/').map_or("", |(dir, _)| dir);
    let old_lock = match git.show(rev, &lock_rel)? {
        Some(text) => Some(files::read_lock(
            &format!("{rev}:{lock_rel}"),
            &text,
            stderr,
            color,
        )?),
        None => None,
    };

    let mut names = Vec::new();
    for path in paths {
        let rel = git.relative(path)?;
        if path.is_dir() {
            names.extend(git.toml_files(rev, &rel)?);
        } else {
            names.push(rel);
        }
    }
    let mut seen = BTreeSet::new();
    let mut old_files = Vec::new();
    for name in names {
        if !seen.insert(name.clone()) {
            continue;
        }
        // A schema that does not exist at the ref is new: nothing to compare it with.
        let Some(text) = git.show(rev, &name)? else {
            continue;
        };
        let key = match lock_dir {
            "" => name.clone(),
            dir => name.strip_prefix(&format!("{dir}/")).map_or_else(
                || name.rsplit('/').next().unwrap_or(&name).to_owned(),
                str::to_owned,
            ),
        };
        let display = format!("{rev}:{name}");
        match SchemaFile::parse(&display, &key, &text) {
            Ok(file) => old_files.push(file),
            Err(report) => {
                let text = if color {
                    report.render_styled()
                } else {
                    report.render()
                };
                write!(stderr, "{text}")?;
                bail!("`{display}` is invalid, so there is nothing sound to check against");
            }
        }
    }
    let mut baseline = old_lock.clone().unwrap_or_default();
    baseline.update(&old_files);
    let history = match &old_lock {
        Some(old) => evolve::lock_history(
            old,
            loaded.lock.as_ref().map(|(lock, _)| lock),
            &loaded.lock_display,
        ),
        None => Vec::new(),
    };
    Ok((baseline, history))
}

/// The catalog of the LMDB store in `dir`: what it holds, by (aggregate, type, version).
fn catalog(dir: &std::path::Path, display: &str) -> Result<Vec<StoredVersion>> {
    // Read-only: nothing is written, a missing store is not created, a damaged one is an error.
    let entries = esdsl_runtime::lmdb::LmdbStore::read_only_catalog(dir)
        .with_context(|| format!("cannot read the catalog of `{display}`"))?;
    Ok(entries
        .into_iter()
        .map(|entry| StoredVersion {
            aggregate: entry.aggregate_type,
            event_type: entry.event_type,
            version: entry.schema_version,
            count: entry.count,
        })
        .collect())
}
