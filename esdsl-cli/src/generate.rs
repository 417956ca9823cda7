//! `cargo esdsl generate`: schema files to formatted Rust files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use esdsl_schema::LoadError;

use crate::Outcome;
use crate::files::{display_path, schema_files};

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Schema files, or directories whose `*.toml` files are schemas.
    #[arg(value_name = "SCHEMA_FILE_OR_DIR", default_value = "schemas")]
    paths: Vec<PathBuf>,
    /// Where to write the generated `.rs` files, one per schema, named after it.
    #[arg(long, value_name = "DIR", default_value = "src/generated")]
    out: PathBuf,
    /// Write nothing; exit 1 when any generated file is missing or stale.
    #[arg(long)]
    check: bool,
}

/// One schema and the file generated from it.
#[derive(Debug)]
struct Job {
    schema: PathBuf,
    output: PathBuf,
}

pub(crate) fn run(
    args: &GenerateArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    color: bool,
) -> Result<Outcome> {
    let jobs = jobs(args)?;
    let mut invalid = 0;
    let mut stale = Vec::new();
    let mut written = 0;
    for job in &jobs {
        let display = display_path(&job.schema);
        let schema = match esdsl_schema::load_schema(&job.schema, &display) {
            Ok(schema) => schema,
            Err(LoadError::Invalid(report)) => {
                let text = if color {
                    report.render_styled()
                } else {
                    report.render()
                };
                write!(stderr, "{text}")?;
                invalid += 1;
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let code =
            esdsl_schema::codegen::format_schema(&schema, &display).map_err(anyhow::Error::msg)?;
        let current = match std::fs::read(&job.output) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read `{}`", job.output.display()));
            }
        };
        if current.as_deref() == Some(code.as_bytes()) {
            continue;
        }
        if args.check {
            stale.push((job, current.is_none()));
            continue;
        }
        if let Some(parent) = job.output.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&job.output, code)
            .with_context(|| format!("cannot write `{}`", job.output.display()))?;
        writeln!(
            stdout,
            "wrote {} (from {display})",
            display_path(&job.output)
        )?;
        written += 1;
    }
    for (job, missing) in &stale {
        let what = if *missing {
            "is missing"
        } else {
            "is not up to date"
        };
        writeln!(
            stderr,
            "error[stale_generated_file]: {} {what} (generated from {})\n  = help: run `cargo esdsl generate` and commit the result",
            display_path(&job.output),
            display_path(&job.schema)
        )?;
    }
    if invalid > 0 || !stale.is_empty() {
        return Ok(Outcome::Problems);
    }
    if args.check {
        writeln!(stdout, "{} generated file(s) up to date", jobs.len())?;
    } else {
        writeln!(
            stdout,
            "{written} file(s) written, {} unchanged",
            jobs.len() - written
        )?;
    }
    Ok(Outcome::Success)
}

/// The schema files named by the arguments, each with its output path.
fn jobs(args: &GenerateArgs) -> Result<Vec<Job>> {
    let schemas = schema_files(&args.paths)?;
    let mut jobs: Vec<Job> = Vec::new();
    for schema in schemas {
        let stem = schema
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("`{}` has no UTF-8 file name", schema.display()))?;
        let module: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let output = args.out.join(format!("{module}.rs"));
        if let Some(other) = jobs.iter().find(|j| j.output == output) {
            bail!(
                "`{}` and `{}` would both generate `{}`",
                other.schema.display(),
                schema.display(),
                output.display()
            );
        }
        jobs.push(Job { schema, output });
    }
    Ok(jobs)
}
