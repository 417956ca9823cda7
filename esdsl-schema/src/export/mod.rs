//! Exports of a schema's events for programs written in other languages.
//!
//! - [`json_schemas`]: one JSON Schema (draft 2020-12) per event version, describing the JSON
//!   payloads esdsl writes and reads for it;
//! - [`asyncapi`]: an AsyncAPI 3 document of the aggregates' streams and their events.
//!
//! Both take the validated schemas as [`SchemaFile`]s, so events declared with derives export
//! the same way once their descriptor is parsed (see `docs/catalog.md`). Output is
//! deterministic: the same schemas always give the same text.
//!
//! ```
//! use esdsl_schema::SchemaFile;
//!
//! let file = SchemaFile::parse("bank.toml", "bank.toml", r#"
//!     [aggregates.Account]
//!     [events.AccountOpened]
//!     aggregate = "Account"
//!     [events.AccountOpened.v1]
//!     owner = "string"
//! "#)?;
//! let schemas = esdsl_schema::export::json_schemas(std::slice::from_ref(&file));
//! assert_eq!(schemas[0].path, "bank/AccountOpened.v1.schema.json");
//! assert!(schemas[0].text.contains(r#""required": ["#));
//! # Ok::<(), esdsl_schema::Report>(())
//! ```

mod asyncapi;
pub(crate) mod json;
mod json_schema;

use std::collections::BTreeSet;

pub use asyncapi::{AsyncApiInfo, asyncapi};
pub use json_schema::{EventSchema, json_schemas};

use crate::SchemaFile;

/// A file-system-safe name for each schema file, in the order given: the lock key without its
/// `.toml`, every character outside `[A-Za-z0-9_-]` as `_`, and `-2`, `-3`, ... appended when
/// two keys give the same name.
pub(crate) fn slugs(files: &[SchemaFile]) -> Vec<String> {
    let mut taken = BTreeSet::new();
    files
        .iter()
        .map(|file| {
            let stem = file.key.strip_suffix(".toml").unwrap_or(&file.key);
            let base: String = stem
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let base = if base.is_empty() {
                "schema".to_owned()
            } else {
                base
            };
            let mut slug = base.clone();
            let mut n = 2;
            while !taken.insert(slug.clone()) {
                slug = format!("{base}-{n}");
                n += 1;
            }
            slug
        })
        .collect()
}
