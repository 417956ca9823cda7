//! The esdsl schema language: TOML text to a validated model to Rust code.
//!
//! The pipeline has one function per stage, shared by the `schema!` macro and by
//! `cargo esdsl generate`, so both produce the same code:
//!
//! 1. `parse`: TOML to raw structs that keep spans (and a field's type text to a type
//!    expression),
//! 2. `validate`: raw structs to the [`model`], collecting every error with a location and a fix
//!    (`plan` works out each upcast step),
//! 3. [`codegen`]: the model to Rust tokens.
//!
//! Beside it, [`evolve`] checks a schema's evolution against a baseline, the [`lock`] file that
//! `cargo esdsl lock` writes: no change may strand events already stored. Both take schemas as
//! [`SchemaFile`]s. [`derive`](mod@derive) declares the same in Rust, and [`diag`] reports problems.
//!
//! ```
//! let schema = esdsl_schema::parse_schema("bank.toml", r#"
//!     [aggregates.Account]
//!     id = "uuid"
//!
//!     [events.AccountOpened]
//!     aggregate = "Account"
//!     [events.AccountOpened.v1]
//!     owner = "string"
//! "#)?;
//! assert_eq!(schema.events[0].newest(), 1);
//! let code = esdsl_schema::codegen::format_file(esdsl_schema::codegen::generate(&schema), "bank.toml")?;
//! assert!(code.contains("pub enum AccountEvent"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod catalog;
pub mod codegen;
pub mod compat;
pub mod derive;
pub mod diag;
pub mod evolve;
pub mod export;
mod graph;
pub mod lock;
pub mod model;
mod parse;
mod plan;
mod schema_file;
mod validate;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, LineIndex, Report, Severity, Span};
pub use model::Schema;
pub use parse::MAX_TYPE_DEPTH;
pub use schema_file::SchemaFile;

/// Parses and validates a schema's text. `path` is only used in messages.
///
/// # Errors
///
/// Returns a [`Report`] holding every problem found, each located in the text, when the schema
/// has any error. It never panics on bad input.
pub fn parse_schema(path: &str, source: &str) -> Result<Schema, Report> {
    parse_with(path, source, validate::Steps::Report, &Default::default())
}

/// Parses and validates like [`parse_schema`], leaving steps that cannot be generated to the
/// evolution check (they are missing from `Event::steps`); `locked` names the locked versions
/// of its events, for messages.
pub(crate) fn parse_for_evolution(
    path: &str,
    source: &str,
    locked: &validate::Locked<'_>,
) -> Result<Schema, Report> {
    parse_with(path, source, validate::Steps::Defer, locked)
}

fn parse_with(
    path: &str,
    source: &str,
    steps: validate::Steps,
    locked: &validate::Locked<'_>,
) -> Result<Schema, Report> {
    let mut diagnostics = Vec::new();
    let raw = parse::parse(source, &mut diagnostics);
    let schema = validate::validate(raw, &mut diagnostics, steps, locked);
    let report = Report {
        path: path.to_owned(),
        source: source.to_owned(),
        diagnostics,
    };
    if report.has_errors() {
        Err(report)
    } else {
        Ok(schema)
    }
}

/// Why a schema file could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file was read but the schema is invalid.
    Invalid(Report),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The OS error is the source: printing it here too made error chains repeat it.
            LoadError::Io { path, .. } => write!(f, "cannot read schema `{}`", path.display()),
            LoadError::Invalid(report) => f.write_str(&report.render()),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            LoadError::Invalid(_) => None,
        }
    }
}

/// Reads, parses and validates a schema file; `display` is the path shown in messages.
///
/// # Errors
///
/// [`LoadError::Io`] when the file cannot be read, [`LoadError::Invalid`] with every problem
/// found when the schema is invalid (a file that is not UTF-8 is invalid TOML).
pub fn load_schema(path: &Path, display: &str) -> Result<Schema, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let source = schema_text(display, bytes).map_err(LoadError::Invalid)?;
    parse_schema(display, &source).map_err(LoadError::Invalid)
}

/// A schema file's bytes as text; `path` is only used in messages.
///
/// # Errors
///
/// TOML text is UTF-8: other bytes are an `invalid_toml` [`Report`] located at the first byte
/// that is not, like any other invalid schema.
pub fn schema_text(path: &str, bytes: Vec<u8>) -> Result<String, Report> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(error) => {
            let at = error.utf8_error().valid_up_to();
            // The lossy text keeps every byte before the first invalid one where it was.
            let source = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let replacement = '\u{FFFD}'.len_utf8();
            Err(Report {
                path: path.to_owned(),
                source,
                diagnostics: vec![
                    Diagnostic::error("invalid_toml", "the file is not UTF-8 text")
                        .at(at..at + replacement)
                        .label("not UTF-8")
                        .help(
                            "TOML files are UTF-8: convert the file (e.g. with `iconv -t UTF-8`)",
                        ),
                ],
            })
        }
    }
}

/// What the `schema!` macro expands to: the generated items plus an `include_str!` of the
/// schema file, so that cargo rebuilds the crate when the file changes.
///
/// `manifest_dir` is the crate's `CARGO_MANIFEST_DIR`; `relative` is the path literal.
///
/// # Errors
///
/// The messages to show as compile errors: one per diagnostic (file, line, column, caret,
/// help), or why the file could not be read.
pub fn expand_schema_macro(
    manifest_dir: &Path,
    relative: &str,
) -> Result<proc_macro2::TokenStream, Vec<String>> {
    let path = manifest_dir.join(relative);
    let schema = match load_schema(&path, relative) {
        Ok(schema) => schema,
        Err(LoadError::Invalid(report)) => return Err(report.render_each()),
        Err(LoadError::Io { source, .. }) => {
            return Err(vec![format!(
                "cannot read schema `{relative}` (relative to the crate's Cargo.toml): {source}"
            )]);
        }
    };
    let items = codegen::generate(&schema);
    let absolute = path.to_string_lossy().into_owned();
    Ok(quote::quote! {
        #items
        const _: &str = ::core::include_str!(#absolute);
    })
}

#[cfg(test)]
pub(crate) mod test_util {
    /// Every diagnostic of a schema as (rule, "line:column", message, help).
    pub(crate) fn diagnostics(source: &str) -> Vec<(String, String, String, String)> {
        let report = match crate::parse_schema("test.toml", source) {
            Ok(_) => return Vec::new(),
            Err(report) => report,
        };
        report
            .diagnostics
            .iter()
            .map(|d| {
                let at = d.span.map_or_else(String::new, |span| {
                    let (line, column) = report.line_col(span.start);
                    format!("{line}:{column}")
                });
                (
                    d.code.to_owned(),
                    at,
                    d.message.clone(),
                    d.help.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Shorthand for one expected diagnostic.
    pub(crate) fn d(
        code: &str,
        at: &str,
        message: &str,
        help: &str,
    ) -> (String, String, String, String) {
        (code.into(), at.into(), message.into(), help.into())
    }

    pub(crate) const ACCOUNT: &str = "[aggregates.Account]\nid = \"uuid\"\n";
}
