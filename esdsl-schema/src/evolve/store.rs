//! What a store holds against the schemas: `stored_version_undeclared`.

use std::collections::HashMap;

use crate::diag::Diagnostic;
use crate::model::Event;

use super::{Finding, SchemaFile, in_file, sort};

/// How many events of one (aggregate type, event type, version) a store holds: a row of its
/// catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The aggregate type (the stream category).
    pub aggregate: String,
    /// The stored event type name.
    pub event_type: String,
    /// The stored schema version.
    pub version: u32,
    /// How many such events are stored.
    pub count: u64,
}

/// `stored_version_undeclared`: every (type, version) the store holds must be decodable by the
/// schemas: an event of that aggregate, named so or listing the name in `renamed_from`, with
/// that version (retired events are skipped, so any of their versions is fine), or a newer
/// version the event is forward compatible to. `store` names the store in messages.
pub fn check_store(files: &[SchemaFile], stored: &[StoredVersion], store: &str) -> Vec<Finding> {
    // Each (aggregate, stored name) to the first event that decodes it, by file then order.
    let mut decoders: HashMap<(&str, &str), (usize, &Event)> = HashMap::new();
    for (fi, file) in files.iter().enumerate() {
        for event in &file.schema.events {
            for name in std::iter::once(&event.name).chain(&event.renamed_from) {
                decoders
                    .entry((event.aggregate.text.as_str(), name.text.as_str()))
                    .or_insert((fi, event));
            }
        }
    }
    let mut findings = Vec::new();
    for row in stored {
        let declared = decoders
            .get(&(row.aggregate.as_str(), row.event_type.as_str()))
            .copied();
        let plural = if row.count == 1 { "" } else { "s" };
        let what = format!(
            "`{store}` holds {} `{}` v{} event{plural} of aggregate `{}`",
            row.count, row.event_type, row.version, row.aggregate
        );
        let finding = match declared {
            Some((_, event)) if event.retired => continue,
            Some((_, event)) if (1..=event.newest()).contains(&row.version) => continue,
            // A program built from these schemas reads it as its newest (forward compatible);
            // the catalog has no codecs, so one the promise does not name fails when decoded,
            // as `Repository::new` does.
            Some((_, event))
                if row.version > event.newest()
                    && row.version - event.newest() <= event.compatibility.reads_ahead() =>
            {
                continue;
            }
            Some((fi, event)) => in_file(
                &files[fi],
                Diagnostic::error(
                    "stored_version_undeclared",
                    format!(
                        "{what}, but event `{}` declares v1 to v{}",
                        event.name,
                        event.newest()
                    ),
                )
                .at(event.name.span)
                .label(format!("no v{}", row.version))
                .help(format!(
                    "declare v{} as it was stored (a program that wrote it has the schema), or \
                     check that this is the right store",
                    row.version
                )),
            )
            .event(&event.name.text)
            .version(row.version),
            None => {
                let aggregate = files.iter().enumerate().find_map(|(fi, f)| {
                    f.schema
                        .aggregate(&row.aggregate)
                        .map(|a| (fi, a.name.span))
                });
                let diagnostic = Diagnostic::error(
                    "stored_version_undeclared",
                    format!("{what}, but no schema declares that event"),
                )
                .help(format!(
                    "declare event `{}` (or list `{}` in the `renamed_from` of the event it \
                     became), and mark it `retired = true` if it is never written again",
                    row.event_type, row.event_type
                ));
                match aggregate {
                    Some((fi, span)) => in_file(
                        &files[fi],
                        diagnostic.at(span).label("stored events of this aggregate"),
                    ),
                    None => Finding::new(diagnostic, None),
                }
                .event(&row.event_type)
                .version(row.version)
            }
        };
        findings.push(finding);
    }
    sort(files, &mut findings);
    findings
}
