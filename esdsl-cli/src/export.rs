//! `cargo esdsl export`: the schemas' events for other languages (`esdsl_schema::export`):
//! a JSON Schema per event version, or an AsyncAPI 3 document.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use esdsl_schema::export::{self, AsyncApiInfo};

use crate::Outcome;
use crate::context::Context;
use crate::files;

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Schema files, or directories whose `*.toml` files are schemas [default: `schemas` in
    /// the package root].
    #[arg(value_name = "SCHEMA_FILE_OR_DIR")]
    paths: Vec<PathBuf>,
    /// `json-schema`: one JSON Schema (draft 2020-12) per event version, written under
    /// `--out` as `<schema file>/<Event>.v<N>.schema.json`; `asyncapi`: one AsyncAPI 3.0
    /// document (JSON) of the aggregates' streams and events, written to `--out` or stdout.
    #[arg(long, value_enum)]
    format: Format,
    /// The directory (`json-schema`) or file (`asyncapi`) to write.
    #[arg(long, value_name = "PATH", required_if_eq("format", "json-schema"))]
    out: Option<PathBuf>,
    /// Write nothing; exit 1 when a file `--out` should hold is missing or differs, or (for
    /// `json-schema`) `--out` holds a `*.schema.json` these schemas do not export (for CI, when
    /// the exports are committed).
    #[arg(long, requires = "out")]
    check: bool,
    /// `asyncapi`: the document's `info.title`.
    #[arg(long, default_value = "esdsl events")]
    title: String,
    /// `asyncapi`: the document's `info.version`, the version of your events' API.
    #[arg(long, value_name = "VERSION", default_value = "0.0.0")]
    api_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    JsonSchema,
    Asyncapi,
}

pub(crate) fn run(
    args: &ExportArgs,
    context: &Context,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Outcome> {
    let paths = files::schema_paths(&args.paths, context);
    let Some(loaded) = files::load_valid(&paths, None, context, stderr)? else {
        return Ok(Outcome::Problems);
    };
    let outputs: Vec<(PathBuf, String)> = match (args.format, &args.out) {
        (Format::JsonSchema, Some(dir)) => export::json_schemas(&loaded.files)
            .into_iter()
            .map(|schema| (dir.join(&schema.path), schema.text))
            .collect(),
        (Format::JsonSchema, None) => bail!("`--format json-schema` needs `--out DIR`"),
        (Format::Asyncapi, out) => {
            let info = AsyncApiInfo {
                title: args.title.clone(),
                version: args.api_version.clone(),
            };
            let text = export::asyncapi(&loaded.files, &info);
            match out {
                Some(file) => vec![(file.clone(), text)],
                None => {
                    stdout.write_all(text.as_bytes())?;
                    return Ok(Outcome::Success);
                }
            }
        }
    };
    let mut stale = 0;
    let mut written = 0;
    for (path, text) in &outputs {
        let display = context.display(path);
        let current = std::fs::read(path).ok();
        if current.as_deref() == Some(text.as_bytes()) {
            continue;
        }
        if args.check {
            let what = if current.is_none() {
                "is missing"
            } else {
                "is out of date"
            };
            writeln!(stderr, "error: `{display}` {what}")?;
            stale += 1;
            continue;
        }
        write_file(path, text).with_context(|| format!("cannot write `{display}`"))?;
        written += 1;
        if context.verbose() {
            writeln!(stdout, "wrote {display}")?;
        }
    }
    if args.check && args.format == Format::JsonSchema {
        // A schema of an event that was renamed (or a file that was moved) stays behind.
        if let Some(dir) = &args.out {
            for path in leftovers(dir, &outputs)? {
                writeln!(
                    stderr,
                    "error: `{}` is not an export of these schemas",
                    context.display(&path)
                )?;
                stale += 1;
            }
        }
    }
    if args.check {
        if stale > 0 {
            writeln!(
                stderr,
                "help: run `cargo esdsl export` without `--check` and commit the result"
            )?;
            return Ok(Outcome::Problems);
        }
        if !context.quiet() {
            writeln!(stdout, "{} exported files are current", outputs.len())?;
        }
        return Ok(Outcome::Success);
    }
    if !context.quiet() {
        writeln!(
            stdout,
            "exported {} file(s), {written} written, {} unchanged",
            outputs.len(),
            outputs.len() - written
        )?;
    }
    Ok(Outcome::Success)
}

/// The `*.schema.json` files one level under `dir` that are not among `outputs`.
fn leftovers(dir: &Path, outputs: &[(PathBuf, String)]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(found);
    };
    for entry in entries {
        let sub = entry
            .with_context(|| format!("cannot list `{}`", dir.display()))?
            .path();
        if !sub.is_dir() {
            continue;
        }
        for file in
            std::fs::read_dir(&sub).with_context(|| format!("cannot list `{}`", sub.display()))?
        {
            let path = file
                .with_context(|| format!("cannot list `{}`", sub.display()))?
                .path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(".schema.json") && !outputs.iter().any(|(p, _)| *p == path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}
