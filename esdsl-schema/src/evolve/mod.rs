//! The evolution check: current schemas against a baseline, so that no change strands events
//! already stored.
//!
//! The baseline is a [`Lock`]: the lock file next to the schemas, or one built from the schemas
//! and lock at a git ref. The check runs on [`model::Schema`](crate::model::Schema) values
//! wrapped in [`SchemaFile`]s, whatever produced them: [`SchemaFile::parse`] for TOML text,
//! [`SchemaFile::from_model`] for a model built another way (a derive's descriptor).
//!
//! Each rule has a stable id and a severity; [`RULES`] documents them all (`cargo esdsl check
//! --explain <rule>` prints an entry, [`docs/evolution.md`] holds them all). A [`Finding`] is a
//! [`Diagnostic`] (rule id as its code, `Error` for deny and `Warning` for warn, span into the
//! schema file) plus the file, event, version and field it concerns.
//!
//! - [`check`]: every schema rule against a baseline;
//! - [`lock_out_of_date`]: schemas against the lock file itself;
//! - [`lock_history`]: the lock file against the lock at a git ref;
//! - [`check_store`]: what a store holds against the schemas;
//! - [`check_descriptor`] and [`assert_compatible`]: events declared with derives, from a test.
//!
//! [`docs/evolution.md`]: https://github.com/esdsl/esdsl/blob/main/docs/evolution.md

mod compat;
mod descriptor;
mod events;
mod lock_checks;
mod rules;
mod steps;
mod store;
mod types;

use crate::diag::{Diagnostic, Severity, Span};
use crate::lock::Lock;
use crate::lock::baseline::{Baseline, LockedEvent, Matches};
use crate::lock::canonical;
use crate::model::{Event, Field};

pub use crate::schema_file::SchemaFile;
pub use descriptor::{
    DescriptorCheck, DescriptorError, LockMode, UPDATE_LOCK_VAR, assert_compatible,
    check_descriptor,
};
pub use lock_checks::{lock_history, lock_out_of_date};
pub use rules::{Example, RULES, Rule, markdown as rules_markdown, rule};
pub use store::{StoredVersion, check_store};

/// One thing the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule id (as `code`), severity, message, span, label and help.
    pub diagnostic: Diagnostic,
    /// The file the span points into (a schema or the lock), or the file concerned when there
    /// is no span; `None` when no file is concerned.
    pub path: Option<String>,
    /// The event concerned.
    pub event: Option<String>,
    /// The version concerned.
    pub version: Option<u32>,
    /// The field concerned (or the enum variant).
    pub field: Option<String>,
}

impl Finding {
    /// A finding in a file (a schema file or the lock), or in none.
    pub(crate) fn new(diagnostic: Diagnostic, path: Option<&str>) -> Finding {
        Finding {
            diagnostic,
            path: path.map(str::to_owned),
            event: None,
            version: None,
            field: None,
        }
    }

    /// Whether the finding fails the check.
    pub fn is_deny(&self) -> bool {
        self.diagnostic.severity == Severity::Error
    }

    #[must_use]
    pub(crate) fn event(mut self, event: &str) -> Finding {
        self.event = Some(event.to_owned());
        self
    }

    #[must_use]
    pub(crate) fn version(mut self, version: u32) -> Finding {
        self.version = Some(version);
        self
    }

    #[must_use]
    pub(crate) fn field(mut self, field: &str) -> Finding {
        self.field = Some(field.to_owned());
        self
    }
}

/// Runs every schema rule on `files` against `baseline` (the lock, or a lock built from a git
/// ref): locked versions, events, types and enums kept as they are, every step from a locked
/// version up to the newest one automatic or written by hand, and new versions that read old
/// events without losing data.
///
/// The lock rules (`lock_out_of_date`, `lock_history_rewritten`) and the store rule are
/// separate: [`lock_out_of_date`], [`lock_history`], [`check_store`].
pub fn check(files: &[SchemaFile], baseline: &Lock) -> Vec<Finding> {
    let baseline = baseline.baseline();
    let matches = baseline.match_schemas(files);
    let mut comparison = Comparison {
        files,
        baseline: &baseline,
        matches: &matches,
        findings: Vec::new(),
    };
    events::check(&mut comparison);
    steps::check(&mut comparison);
    types::check(&mut comparison);
    compat::check(&mut comparison);
    let mut findings = comparison.findings;
    sort(files, &mut findings);
    findings
}

/// One run of the schema rules: the current files, the baseline they are compared against, how
/// their items match the locked ones, and the findings so far.
pub(crate) struct Comparison<'a> {
    pub(crate) files: &'a [SchemaFile],
    pub(crate) baseline: &'a Baseline,
    pub(crate) matches: &'a Matches,
    pub(crate) findings: Vec<Finding>,
}

impl<'a> Comparison<'a> {
    /// Every event still written (not retired), with its file's index and the baseline's
    /// entry for it (`None` when it is not locked yet). Borrows the schemas, not the
    /// comparison, so findings can be added along the way.
    pub(crate) fn live_events(
        &self,
    ) -> impl Iterator<Item = (usize, &'a Event, Option<&'a LockedEvent>)> + use<'a> {
        let (files, matches, baseline) = (self.files, self.matches, self.baseline);
        files.iter().enumerate().flat_map(move |(fi, file)| {
            file.schema
                .events
                .iter()
                .enumerate()
                .filter(|(_, event)| !event.retired)
                .map(move |(ei, event)| {
                    let locked = matches.events[fi][ei].map(|bi| &baseline.events[bi]);
                    (fi, event, locked)
                })
        })
    }
}

impl Comparison<'_> {
    /// A finding located in file `fi`, to complete and [`Comparison::add`].
    pub(crate) fn at(&self, fi: usize, diagnostic: Diagnostic) -> Finding {
        in_file(&self.files[fi], diagnostic)
    }

    pub(crate) fn add(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

/// One version of an event in a schema file: where findings about it point.
#[derive(Clone, Copy)]
pub(crate) struct VersionAt<'a> {
    pub(crate) file: &'a SchemaFile,
    pub(crate) event: &'a str,
    pub(crate) version: u32,
}

impl VersionAt<'_> {
    /// A finding about this version: in its file, naming the event and the version.
    pub(crate) fn finding(&self, diagnostic: Diagnostic) -> Finding {
        in_file(self.file, diagnostic)
            .event(self.event)
            .version(self.version)
    }
}

/// How a list of fields differs from the `(name, type)` list it was locked with.
#[derive(Debug, PartialEq)]
pub(crate) enum FieldChange<'a> {
    /// `field` was locked with type `locked` and now has type `now`.
    Retyped {
        field: &'a Field,
        locked: &'a str,
        now: String,
    },
    /// `field` is not in the locked list.
    Added(&'a Field),
    /// The locked field `name`, of type `ty`, is gone.
    Removed { name: &'a str, ty: &'a str },
    /// The same names and types as locked, in another order.
    Reordered,
}

/// What changed between `fields` and the `locked` list: each field retyped or added, in the
/// order of `fields`, then each locked field removed, in the locked order; `[Reordered]` when
/// only the order differs; nothing when they are the same.
fn field_changes<'a>(fields: &'a [Field], locked: &'a [(String, String)]) -> Vec<FieldChange<'a>> {
    let mut changes = Vec::new();
    for field in fields {
        let now = field.ty.to_string();
        match locked.iter().find(|(name, _)| *name == field.name.text) {
            Some((_, ty)) if *ty == now => {}
            Some((_, ty)) => changes.push(FieldChange::Retyped {
                field,
                locked: ty,
                now,
            }),
            None => changes.push(FieldChange::Added(field)),
        }
    }
    for (name, ty) in locked {
        if !fields.iter().any(|f| f.name.text == *name) {
            changes.push(FieldChange::Removed { name, ty });
        }
    }
    if changes.is_empty() && canonical::fields(fields) != locked {
        changes.push(FieldChange::Reordered);
    }
    changes
}

/// A finding for each way `fields` differ from `locked` (see [`field_changes`]): `describe`
/// words the change (message, label, help); the finding points at the field's type when it was
/// retyped, at its name when it was added, and at `whole` (the version or type that holds the
/// fields) when one was removed or they were reordered, and names the field concerned.
pub(crate) fn field_findings(
    at: &VersionAt<'_>,
    fields: &[Field],
    locked: &[(String, String)],
    whole: Span,
    describe: impl Fn(&FieldChange<'_>) -> Diagnostic,
) -> Vec<Finding> {
    field_changes(fields, locked)
        .into_iter()
        .map(|change| {
            let (span, field) = match &change {
                FieldChange::Retyped { field, .. } => (field.ty_span, Some(&*field.name.text)),
                FieldChange::Added(field) => (field.name.span, Some(&*field.name.text)),
                FieldChange::Removed { name, .. } => (whole, Some(*name)),
                FieldChange::Reordered => (whole, None),
            };
            let finding = at.finding(describe(&change).at(span));
            match field {
                Some(field) => finding.field(field),
                None => finding,
            }
        })
        .collect()
}

/// A finding in a schema file; its span is dropped when the schema has no text to point into.
pub(crate) fn in_file(file: &SchemaFile, mut diagnostic: Diagnostic) -> Finding {
    if file.source.is_none() {
        diagnostic.span = None;
    }
    Finding::new(diagnostic, Some(&file.path))
}

/// Orders findings by file (in the order given, other files after), then by position.
pub(crate) fn sort(files: &[SchemaFile], findings: &mut [Finding]) {
    findings.sort_by_key(|f| {
        let file = f
            .path
            .as_deref()
            .and_then(|p| files.iter().position(|s| s.path == p))
            .unwrap_or(files.len());
        (file, f.diagnostic.span.map_or(0, |s| s.start))
    });
}

/// `a`, `b` and `c`.
pub(crate) fn list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{}`", i.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
