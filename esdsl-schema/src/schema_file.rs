//! A schema file as the evolution check and the lock take it: the validated schema with the
//! path shown in messages, its name in the lock and the text findings point into.

use crate::diag::Report;
use crate::model::Schema;

/// One schema file as the evolution check and the lock see it.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The path shown in messages, e.g. `schemas/bank.toml`.
    pub path: String,
    /// The file's name in the lock: its path relative to the lock's directory, e.g. `bank.toml`.
    pub key: String,
    /// The file's text, when the schema came from one; findings then point into it.
    pub source: Option<String>,
    /// The validated schema.
    pub schema: Schema,
}

impl SchemaFile {
    /// Parses and validates a schema's text for the check.
    ///
    /// Unlike [`parse_schema`](crate::parse_schema), an upcast step that can be neither
    /// generated nor is listed in `manual_upcasts` is not an error here: the check reports it
    /// with the rule that fits (`field_added_without_default`, `field_type_incompatible`,
    /// `field_renamed_without_alias` or `upcast_missing`).
    ///
    /// # Errors
    ///
    /// The [`Report`] of every other problem, when the schema is invalid.
    pub fn parse(path: &str, key: &str, source: &str) -> Result<SchemaFile, Report> {
        SchemaFile::parse_with(path, key, source, &crate::validate::Locked::default())
    }

    /// [`SchemaFile::parse`], with what the lock holds for the file (see `Lock::schema_file`).
    pub(crate) fn parse_with(
        path: &str,
        key: &str,
        source: &str,
        locked: &crate::validate::Locked<'_>,
    ) -> Result<SchemaFile, Report> {
        let schema = crate::parse_for_evolution(path, source, locked)?;
        Ok(SchemaFile {
            path: path.to_owned(),
            key: key.to_owned(),
            source: Some(source.to_owned()),
            schema,
        })
    }

    /// Wraps a schema that did not come from a file's text (findings then have no span).
    pub fn from_model(path: &str, key: &str, schema: Schema) -> SchemaFile {
        SchemaFile {
            path: path.to_owned(),
            key: key.to_owned(),
            source: None,
            schema,
        }
    }
}
