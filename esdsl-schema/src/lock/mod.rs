//! The lock file, `esdsl.lock`: the evolution baseline of a set of schemas.
//!
//! The lock is a ledger. `cargo esdsl lock` appends an entry for every event, event version,
//! record type and enum of the schemas that the lock does not hold yet, and a new entry (a
//! revision) when something changes in a way the evolution rules allow: an event renamed or
//! retired, an enum that gained variants, a default edited. Nothing is ever edited or removed,
//! so the file only grows at its end and `git diff` shows exactly what was added;
//! `cargo esdsl check --against <ref>` reports a lock whose history was rewritten
//! (`lock_history_rewritten`).
//!
//! Entries (see [`docs/evolution.md`] for the file format):
//!
//! - `[[event]]`: `schema` (the schema file, relative to the lock), `name`, `aggregate`,
//!   `renamed_from`, `retired` and its compatibility mode (`compatibility`, `codecs`);
//! - `[[version]]`: `schema`, `event`, `number`, `fields` (the canonical form, see below),
//!   `defaults`, `renamed` and `fingerprint`;
//! - `[[type]]`: a record type's `schema`, `name`, `fields` and `fingerprint`;
//! - `[[enum]]`: an enum's `schema`, `name`, `variants` and `fingerprint`.
//!
//! A version's canonical form is `{name:type,...}` over its fields in order; a record's the same;
//! an enum's `["a","b"]`. The fingerprint is the SHA-256 of the canonical form, so a locked item
//! that is edited in place no longer matches its fingerprint.
//!
//! [`docs/evolution.md`]: https://github.com/esdsl/esdsl/blob/main/docs/evolution.md

pub(crate) mod baseline;
pub(crate) mod canonical;
mod file;

use crate::diag::{Report, Span};
use crate::model::Compatibility;
use crate::schema_file::SchemaFile;

pub(crate) use baseline::Baseline;

/// The name of the lock file, written next to the schemas.
pub const FILE_NAME: &str = "esdsl.lock";

/// The lock format this version reads and writes.
pub(crate) const FORMAT: i64 = 1;

/// A lock file: the ordered entries of the ledger. Two locks are equal when their entries are,
/// wherever they were read from.
#[derive(Debug, Clone, Default)]
pub struct Lock {
    entries: Vec<Entry>,
    /// Where each entry stands in the text it was parsed from (empty for a new lock).
    spans: Vec<Span>,
}

impl PartialEq for Lock {
    fn eq(&self, other: &Lock) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Lock {}

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Entry {
    Event(EventEntry),
    Version(VersionEntry),
    Record(RecordEntry),
    Enum(EnumEntry),
}

/// `[[event]]`: an event's identity, or a revision of it (renamed, retired, moved file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EventEntry {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) aggregate: String,
    pub(crate) renamed_from: Vec<String>,
    pub(crate) retired: bool,
    /// Its compatibility mode (`compatibility` and `codecs`, omitted for `backward`).
    pub(crate) compatibility: Compatibility,
}

/// `[[version]]`: the shape of one version of an event, or a revision of its upcast inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct VersionEntry {
    pub(crate) schema: String,
    pub(crate) event: String,
    pub(crate) number: u32,
    pub(crate) fields: Vec<(String, String)>,
    /// Field name to the canonical text of its default.
    pub(crate) defaults: Vec<(String, String)>,
    /// Field name to the field of the previous version it is `renamed_from`.
    pub(crate) renamed: Vec<(String, String)>,
    pub(crate) fingerprint: String,
}

/// `[[type]]`: a record type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RecordEntry {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) fingerprint: String,
}

/// `[[enum]]`: an enum.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EnumEntry {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) variants: Vec<String>,
    pub(crate) fingerprint: String,
}

impl Entry {
    /// How the entry is named in messages: "version 2 of event `X`".
    pub(crate) fn describe(&self) -> String {
        match self {
            Entry::Event(e) => format!("event `{}`", e.name),
            Entry::Version(v) => format!("version {} of event `{}`", v.number, v.event),
            Entry::Record(t) => format!("type `{}`", t.name),
            Entry::Enum(e) => format!("enum `{}`", e.name),
        }
    }

    /// What identifies the item an entry is about, whatever its revision.
    pub(crate) fn key(&self) -> (&'static str, &str, &str, u32) {
        match self {
            Entry::Event(e) => ("event", &e.schema, &e.name, 0),
            Entry::Version(v) => ("version", &v.schema, &v.event, v.number),
            Entry::Record(t) => ("type", &t.schema, &t.name, 0),
            Entry::Enum(e) => ("enum", &e.schema, &e.name, 0),
        }
    }
}

impl Lock {
    /// An empty lock: the baseline of schemas that were never locked.
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Reads a lock file's text; `path` is only used in messages.
    ///
    /// # Errors
    ///
    /// A [`Report`] locating every problem (`invalid_lock`) when the text is not a lock this
    /// version can read: invalid TOML, unknown or missing keys, a fingerprint that does not match
    /// its entry (the lock was edited by hand), a version entry of an event the lock does not
    /// declare. It never panics on bad input.
    pub fn parse(path: &str, text: &str) -> Result<Lock, Report> {
        file::parse(path, text)
    }
    /// Parses and validates a schema's text for the check, as [`SchemaFile::parse`] does; the
    /// problems of an invalid schema also say what they do to what this lock holds for the
    /// file named `key` (a deleted locked version strands its stored events).
    ///
    /// # Errors
    ///
    /// As [`SchemaFile::parse`].
    pub fn schema_file(&self, path: &str, key: &str, source: &str) -> Result<SchemaFile, Report> {
        let locked = crate::validate::Locked::new(|| self.baseline().locked_versions(key));
        SchemaFile::parse_with(path, key, source, &locked)
    }

    /// The lock as TOML text. The same lock always gives the same text.
    pub fn to_toml(&self) -> String {
        file::render(self)
    }

    /// How many entries the lock holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the lock holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry for everything in `files` that the lock does not hold yet, and returns
    /// how many were appended. Changes the evolution rules deny (a locked version edited in
    /// place, a variant removed from a used enum, ...) are not recorded: run the check first
    /// (`cargo esdsl lock` refuses to write while it finds any).
    pub fn update(&mut self, files: &[SchemaFile]) -> usize {
        let baseline = self.baseline();
        let pending = baseline.pending(files);
        let added = pending.len();
        self.entries.extend(pending.into_iter().map(|p| p.entry));
        added
    }

    /// The entries about the given schema files (by their name in the lock): the baseline when
    /// only some of the locked files are checked, so that the others do not look deleted.
    pub fn for_schemas(&self, keys: &[&str]) -> Lock {
        let schema = |entry: &Entry| match entry {
            Entry::Event(e) => e.schema.clone(),
            Entry::Version(v) => v.schema.clone(),
            Entry::Record(t) => t.schema.clone(),
            Entry::Enum(e) => e.schema.clone(),
        };
        let (entries, spans) = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| keys.contains(&schema(entry).as_str()))
            .map(|(i, entry)| {
                (
                    entry.clone(),
                    self.spans.get(i).copied().unwrap_or_default(),
                )
            })
            .unzip();
        Lock { entries, spans }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Where entry `index` stands in the lock's text, when it was parsed from one.
    pub(crate) fn span(&self, index: usize) -> Option<Span> {
        self.spans.get(index).copied()
    }

    /// The locked state: every event with its versions, every type and enum, at their newest
    /// revision.
    pub(crate) fn baseline(&self) -> Baseline {
        Baseline::build(&self.entries).0
    }
}

#[cfg(test)]
mod tests;
