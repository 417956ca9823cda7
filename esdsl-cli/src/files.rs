//! Finding schema files and the lock, and loading them for `check` and `lock`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use esdsl_schema::Report;
use esdsl_schema::evolve::SchemaFile;
use esdsl_schema::lock::{FILE_NAME, Lock};

use crate::context::Context;

/// The schema files named by the arguments: each file as given, and the `*.toml` files of each
/// directory in name order.
pub(crate) fn schema_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut schemas = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list `{}`", path.display()))?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<std::io::Result<_>>()
                .with_context(|| format!("cannot list `{}`", path.display()))?;
            found.retain(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file());
            found.sort();
            if found.is_empty() {
                bail!("no `*.toml` schema files in `{}`", path.display());
            }
            schemas.extend(found);
        } else {
            schemas.push(path.clone());
        }
    }
    Ok(schemas)
}

/// The schema paths named, or `schemas` in the package root.
pub(crate) fn schema_paths(paths: &[PathBuf], context: &Context) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![context.default_path("schemas")]
    } else {
        paths.to_vec()
    }
}

/// The lock file: `--lock`, or `esdsl.lock` in the first schema directory (the directory of
/// the first schema file when a file is named).
pub(crate) fn lock_path(paths: &[PathBuf], lock: Option<&Path>) -> PathBuf {
    if let Some(lock) = lock {
        return lock.to_path_buf();
    }
    let first = paths
        .first()
        .map_or_else(|| PathBuf::from("schemas"), Clone::clone);
    let dir = if first.is_dir() {
        first
    } else {
        first.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    dir.join(FILE_NAME)
}

/// A schema file's name in the lock: its path relative to the lock's directory, with `/`
/// separators; its file name when it is not under that directory.
pub(crate) fn lock_key(schema: &Path, lock: &Path) -> String {
    let dir = lock.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let relative = match (std::fs::canonicalize(schema), std::fs::canonicalize(&dir)) {
        (Ok(schema), Ok(dir)) => schema.strip_prefix(&dir).ok().map(Path::to_path_buf),
        _ => None,
    };
    let relative = relative.unwrap_or_else(|| {
        schema
            .file_name()
            .map_or_else(|| schema.to_path_buf(), PathBuf::from)
    });
    relative.to_string_lossy().replace('\\', "/")
}

/// The schemas and lock of the working tree.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// Whether only some schema files were named: then only their part of a baseline counts
    /// (naming a directory also catches a schema file deleted from it).
    pub(crate) partial: bool,
    /// The valid schemas.
    pub(crate) files: Vec<SchemaFile>,
    /// The reports of the invalid ones.
    pub(crate) invalid: Vec<Report>,
    pub(crate) lock_path: PathBuf,
    pub(crate) lock_display: String,
    /// The lock and its text, when the file exists.
    pub(crate) lock: Option<(Lock, String)>,
}

/// Reads and validates the schemas and reads the lock. An invalid lock is printed and is an
/// error: nothing can be checked against it.
pub(crate) fn load(
    paths: &[PathBuf],
    lock: Option<&Path>,
    context: &Context,
    stderr: &mut dyn Write,
) -> Result<Loaded> {
    let lock_path = lock_path(paths, lock);
    let lock_display = context.display(&lock_path);
    let lock = match std::fs::read_to_string(&lock_path) {
        Ok(text) => Some((
            read_lock(&lock_display, &text, stderr, context.color)?,
            text,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read `{lock_display}`")),
    };
    let empty = Lock::new();
    let locked = lock.as_ref().map_or(&empty, |(lock, _)| lock);
    let mut files = Vec::new();
    let mut invalid = Vec::new();
    for path in schema_files(paths)? {
        let display = context.display(&path);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read schema `{display}`"))?;
        let parsed = esdsl_schema::schema_text(&display, bytes)
            .and_then(|source| locked.schema_file(&display, &lock_key(&path, &lock_path), &source));
        match parsed {
            Ok(file) => files.push(file),
            Err(report) => invalid.push(report),
        }
    }
    Ok(Loaded {
        partial: paths.iter().any(|p| !p.is_dir()),
        files,
        invalid,
        lock_path,
        lock_display,
        lock,
    })
}

impl Loaded {
    /// The part of `baseline` about the loaded schema files when only some files were named,
    /// all of it otherwise.
    pub(crate) fn scope(&self, baseline: Lock) -> Lock {
        if !self.partial {
            return baseline;
        }
        let keys: Vec<&str> = self.files.iter().map(|f| f.key.as_str()).collect();
        baseline.for_schemas(&keys)
    }
}

/// Parses a lock's text, printing its problems when it is invalid.
pub(crate) fn read_lock(
    display: &str,
    text: &str,
    stderr: &mut dyn Write,
    color: bool,
) -> Result<Lock> {
    match Lock::parse(display, text) {
        Ok(lock) => Ok(lock),
        Err(report) => {
            let rendered = if color {
                report.render_styled()
            } else {
                report.render()
            };
            write!(stderr, "{rendered}")?;
            bail!("`{display}` is not a lock this version of cargo-esdsl can read")
        }
    }
}

/// The valid schemas and the lock, or `None` after printing the reports of invalid schemas
/// (the command then exits 1): what `docs` and `export` read. The lock is whole, so that its
/// entries keep their numbers in the file.
#[derive(Debug)]
pub(crate) struct Valid {
    pub(crate) files: Vec<SchemaFile>,
    pub(crate) lock: Option<Lock>,
}

pub(crate) fn load_valid(
    paths: &[PathBuf],
    lock: Option<&Path>,
    context: &Context,
    stderr: &mut dyn Write,
) -> Result<Option<Valid>> {
    let loaded = load(paths, lock, context, stderr)?;
    if !loaded.invalid.is_empty() {
        for report in &loaded.invalid {
            let text = if context.color {
                report.render_styled()
            } else {
                report.render()
            };
            write!(stderr, "{text}")?;
        }
        return Ok(None);
    }
    Ok(Some(Valid {
        files: loaded.files,
        lock: loaded.lock.map(|(lock, _)| lock),
    }))
}
