//! Events and their locked versions: `event_removed`, `event_moved_aggregate`,
//! `retired_name_reused`, `version_modified`, `version_removed`, `version_gap` (renumbered),
//! `default_changed` and `renamed_from_changed`.

use crate::diag::Diagnostic;
use crate::lock::baseline::{LockedEvent, LockedVersion};
use crate::lock::canonical;
use crate::model::{Event, Field, Version};

use super::{Comparison, FieldChange, Finding, VersionAt, field_findings, list};

pub(super) fn check(comparison: &mut Comparison<'_>) {
    let mut matched = vec![false; comparison.baseline.events.len()];
    for (fi, file) in comparison.files.iter().enumerate() {
        for (ei, event) in file.schema.events.iter().enumerate() {
            match comparison.matches.events[fi][ei] {
                Some(bi) => {
                    matched[bi] = true;
                    let locked = &comparison.baseline.events[bi];
                    continued(comparison, fi, event, locked);
                }
                None => new_event(comparison, fi, event),
            }
        }
    }
    for (bi, locked) in comparison.baseline.events.iter().enumerate() {
        if !matched[bi] {
            removed(comparison, locked);
        }
    }
}

/// A locked event that the schemas no longer declare.
fn removed(comparison: &mut Comparison<'_>, locked: &LockedEvent) {
    let path = comparison
        .files
        .iter()
        .find(|f| f.key == locked.schema)
        .map_or(locked.schema.as_str(), |f| f.path.as_str());
    let versions = if locked.versions.len() == 1 {
        "v1 is locked".to_owned()
    } else {
        format!("v1 to v{} are locked", locked.newest())
    };
    let finding = Finding::new(
        Diagnostic::error(
            "event_removed",
            format!(
                "event `{}` of aggregate `{}` was deleted ({versions})",
                locked.name, locked.aggregate
            ),
        )
        .help(format!(
            "restore `[events.{}]` with its versions and mark it `retired = true`: stored `{}` \
             events must stay readable (retired ones are skipped)",
            locked.name, locked.name
        )),
        Some(path),
    )
    .event(&locked.name);
    comparison.add(finding);
}

/// An event that is not in the baseline: its name must not be a stored name of another event
/// (`retired_name_reused`).
fn new_event(comparison: &mut Comparison<'_>, fi: usize, event: &Event) {
    let baseline = comparison.baseline;
    let mut diagnostics = Vec::new();
    if let Some(owner) = baseline.owner_of(&event.name.text) {
        diagnostics.push(
            Diagnostic::error(
                "retired_name_reused",
                format!(
                    "new event `{}` reuses a stored name of event `{}`",
                    event.name, owner.name
                ),
            )
            .at(event.name.span)
            .label("a stored name of another event")
            .help(format!(
                "stored `{}` events are `{}` events: give the new event another name",
                event.name, owner.name
            )),
        );
    }
    for old in &event.renamed_from {
        let claimed = baseline.owner_of(&old.text).or_else(|| {
            baseline
                .event_named(&old.text)
                .filter(|_| old.text != event.name.text)
        });
        if let Some(owner) = claimed {
            diagnostics.push(
                Diagnostic::error(
                    "retired_name_reused",
                    format!(
                        "new event `{}` claims `{}`, a stored name of event `{}`",
                        event.name, old.text, owner.name
                    ),
                )
                .at(old.span)
                .label("a stored name of another event")
                .help(format!(
                    "remove `{}` from `renamed_from`: its stored events belong to `{}`",
                    old.text, owner.name
                )),
            );
        }
    }
    for diagnostic in diagnostics {
        let finding = comparison.at(fi, diagnostic).event(&event.name.text);
        comparison.add(finding);
    }
}

/// A current event that continues a locked one: each rule on the event, then each locked
/// version against the current one.
fn continued(comparison: &mut Comparison<'_>, fi: usize, event: &Event, locked: &LockedEvent) {
    let files = comparison.files;
    let name = event.name.text.as_str();
    let renumbered = renumbered(event, locked);
    let on_event = moved_aggregate(event, locked)
        .into_iter()
        .chain(revived(event, locked))
        .chain(stored_names_dropped(event, locked))
        .map(|diagnostic| (None, diagnostic));
    let on_versions = versions_renumbered(event, locked, &renumbered)
        .into_iter()
        .map(|(version, diagnostic)| (Some(version), diagnostic));
    for (version, diagnostic) in on_event.chain(on_versions).collect::<Vec<_>>() {
        let mut finding = comparison.at(fi, diagnostic).event(name);
        finding.version = version;
        comparison.add(finding);
    }
    for (&number, locked_version) in &locked.versions {
        // A renumbered version is reported once, by `versions_renumbered`.
        if renumbered
            .iter()
            .any(|&(to, from)| to == number || from == number)
        {
            continue;
        }
        let at = VersionAt {
            file: &files[fi],
            event: name,
            version: number,
        };
        let findings = match event.version(number) {
            Some(version) => {
                let kept = KeptVersion {
                    at,
                    event,
                    version,
                    locked: locked_version,
                };
                if canonical::fields(&version.fields) == locked_version.fields {
                    kept.upcast_inputs()
                } else {
                    kept.modified()
                }
            }
            None => vec![at.finding(version_removed(event, number))],
        };
        comparison.findings.extend(findings);
    }
}

/// `event_moved_aggregate`: stored events belong to the locked aggregate's streams.
fn moved_aggregate(event: &Event, locked: &LockedEvent) -> Option<Diagnostic> {
    if event.aggregate.text == locked.aggregate {
        return None;
    }
    Some(
        Diagnostic::error(
            "event_moved_aggregate",
            format!(
                "event `{}` moved from aggregate `{}` to `{}`",
                event.name, locked.aggregate, event.aggregate
            ),
        )
        .at(event.aggregate.span)
        .label(format!("locked under `{}`", locked.aggregate))
        .help(format!(
            "stored `{}` events belong to `{}` streams: keep `aggregate = \"{}\"` and declare a \
             new event for `{}`",
            event.name, locked.aggregate, locked.aggregate, event.aggregate
        )),
    )
}

/// `retired_name_reused`: a retired event declared live again.
fn revived(event: &Event, locked: &LockedEvent) -> Option<Diagnostic> {
    if !locked.retired || event.retired {
        return None;
    }
    let name = &event.name;
    Some(
        Diagnostic::error(
            "retired_name_reused",
            format!("event `{name}` was retired and is declared live again"),
        )
        .at(name.span)
        .label("retired in the lock")
        .help(format!(
            "keep `retired = true` and give the live event another name: stored `{name}` events \
             were written before it was retired"
        )),
    )
}

/// `event_removed`: a stored name of the event is no longer decoded (missing from
/// `renamed_from`).
fn stored_names_dropped(event: &Event, locked: &LockedEvent) -> Vec<Diagnostic> {
    let name = &event.name;
    locked
        .names
        .iter()
        .filter(|n| **n != name.text && !event.renamed_from.iter().any(|r| r.text == **n))
        .map(|old| {
            Diagnostic::error(
                "event_removed",
                format!("event `{name}` no longer decodes its stored name `{old}`"),
            )
            .at(name.span)
            .label(format!("`{old}` is missing from `renamed_from`"))
            .help(format!(
                "add \"{old}\" to `renamed_from`: events stored as `{old}` must stay readable"
            ))
        })
        .collect()
}

/// `version_gap`: versions renumbered (see [`renumbered`]), each with the version concerned.
fn versions_renumbered(
    event: &Event,
    locked: &LockedEvent,
    renumbered: &[(u32, u32)],
) -> Vec<(u32, Diagnostic)> {
    let name = &event.name;
    renumbered
        .iter()
        .filter_map(|&(to, from)| {
            let version = event.version(to)?;
            let diagnostic = Diagnostic::error(
                "version_gap",
                format!(
                    "v{to} of event `{name}` has the fields locked as v{from}: its versions were \
                     renumbered"
                ),
            )
            .at(version.span)
            .label(format!("locked as v{from}"))
            .help(format!(
                "restore the versions as locked (stored events carry their version number) and \
                 declare changes as v{}",
                locked.newest().max(event.newest()) + 1
            ));
            Some((to, diagnostic))
        })
        .collect()
}

/// `version_removed`: locked version `number` is gone from the schema.
fn version_removed(event: &Event, number: u32) -> Diagnostic {
    let name = &event.name;
    let at = event.versions.last().map_or(name.span, |v| v.span);
    Diagnostic::error(
        "version_removed",
        format!("locked version v{number} of event `{name}` was deleted"),
    )
    .at(at)
    .label(format!("v{number} is locked"))
    .help(format!(
        "restore `[events.{name}.v{number}]` as locked: stored v{number} events cannot be \
         decoded without it"
    ))
}

/// `(current number, locked number)` of versions whose fields are those of another locked
/// version while their own locked fields are gone.
fn renumbered(event: &Event, locked: &LockedEvent) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for version in &event.versions {
        let fields = canonical::fields(&version.fields);
        let same_number = locked.versions.get(&version.number);
        if same_number.is_some_and(|l| l.fields == fields) {
            continue;
        }
        let elsewhere = locked.versions.iter().find(|(number, l)| {
            **number != version.number
                && l.fields == fields
                && event
                    .version(**number)
                    .is_none_or(|v| canonical::fields(&v.fields) != l.fields)
        });
        if let Some((from, _)) = elsewhere {
            out.push((version.number, *from));
        }
    }
    out
}

/// A locked version that the schemas still declare, and where findings about it point.
struct KeptVersion<'a> {
    at: VersionAt<'a>,
    event: &'a Event,
    version: &'a Version,
    locked: &'a LockedVersion,
}

impl KeptVersion<'_> {
    /// `version_modified`: the version's fields are not as locked.
    fn modified(&self) -> Vec<Finding> {
        let (name, number) = (self.at.event, self.at.version);
        let help = format!(
            "stored v{number} events were written with the locked fields: undo the change and \
             declare the new shape as a new version (v{})",
            self.event.newest() + 1
        );
        let fields = &self.locked.fields;
        field_findings(
            &self.at,
            &self.version.fields,
            fields,
            self.version.span,
            |change| {
                let (message, label, help) = match change {
                    FieldChange::Retyped { field, locked, now } => (
                        format!(
                            "field `{}` of locked v{number} of event `{name}` changed type \
                             from `{locked}` to `{now}`",
                            field.name
                        ),
                        format!("locked as `{locked}`"),
                        help.clone(),
                    ),
                    FieldChange::Added(field) => (
                        format!(
                            "field `{}` was added to locked v{number} of event `{name}`",
                            field.name
                        ),
                        "not in the locked version".to_owned(),
                        help.clone(),
                    ),
                    FieldChange::Removed { name: field, ty } => (
                        format!(
                            "field `{field}` (`{ty}`) was removed from locked v{number} of \
                             event `{name}`"
                        ),
                        format!("locked with `{field}`"),
                        help.clone(),
                    ),
                    FieldChange::Reordered => (
                        format!(
                            "the fields of locked v{number} of event `{name}` were reordered \
                             (locked order: {})",
                            list(&fields.iter().map(|(n, _)| n).collect::<Vec<_>>())
                        ),
                        "reordered".to_owned(),
                        format!(
                            "restore the locked order: binary payloads (postcard) store fields \
                             by position. {help}"
                        ),
                    ),
                };
                Diagnostic::error("version_modified", message)
                    .label(label)
                    .help(help)
            },
        )
    }

    /// A locked version as locked: its step from the version before must still fill each
    /// field as it did (`renamed_from_changed`, `default_changed`), or older events read
    /// differently.
    fn upcast_inputs(&self) -> Vec<Finding> {
        let KeptVersion {
            at,
            event,
            version,
            locked,
        } = self;
        let (name, number) = (at.event, at.version);
        if number == 1 || event.manual_upcasts.contains(&number) {
            return Vec::new();
        }
        let previous = event.version(number - 1);
        let current_defaults = canonical::defaults(&version.fields);
        let current_renames = canonical::renames(&version.fields);
        let mut findings = Vec::new();
        for field in &version.fields {
            let field_name = field.name.text.as_str();
            let new_rename = lookup(&current_renames, field_name);
            let old_rename = lookup(&locked.renamed, field_name);
            // Only a field absent from the version before is filled from its default.
            let source = new_rename.as_deref().unwrap_or(field_name);
            let diagnostic = if old_rename != new_rename {
                renamed_from_changed(name, number, field, old_rename, new_rename)
            } else if previous.is_some_and(|p| p.field(source).is_some()) {
                None
            } else {
                let old_default = lookup(&locked.defaults, field_name);
                let new_default = lookup(&current_defaults, field_name);
                default_changed(name, number, field, old_default, new_default)
            };
            if let Some(diagnostic) = diagnostic {
                findings.push(at.finding(diagnostic).field(field_name));
            }
        }
        findings
    }
}

/// The value paired with `field` in a lock's `(field, value)` list.
fn lookup(pairs: &[(String, String)], field: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, _)| n == field)
        .map(|(_, v)| v.clone())
}

/// `renamed_from_changed`: in locked v`number` of event `event`, the field of the version
/// before that `field` takes its value from is not the locked one.
fn renamed_from_changed(
    event: &str,
    number: u32,
    field: &Field,
    old_rename: Option<String>,
    new_rename: Option<String>,
) -> Option<Diagnostic> {
    if old_rename == new_rename {
        return None;
    }
    let field_name = &field.name;
    let describe = |r: &Option<String>| {
        r.as_ref()
            .map_or_else(|| "nothing".to_owned(), |r| format!("`{r}`"))
    };
    let diagnostic = Diagnostic::warning(
        "renamed_from_changed",
        format!(
            "`renamed_from` of field `{field_name}` in locked v{number} of event `{event}` \
             changed from {} to {}",
            describe(&old_rename),
            describe(&new_rename)
        ),
    )
    .at(field.name.span)
    .label("changes how older events read")
    .help(format!(
        "stored v{} events now fill `{field_name}` differently when upcast; restore the locked \
         `renamed_from` unless that is intended (then run `cargo esdsl lock`)",
        number - 1
    ));
    Some(diagnostic)
}

/// `default_changed`: in locked v`number` of event `event`, the default that fills `field`
/// (absent from the version before) is not the locked one.
fn default_changed(
    event: &str,
    number: u32,
    field: &Field,
    old_default: Option<String>,
    new_default: Option<String>,
) -> Option<Diagnostic> {
    let field_name = &field.name;
    let message = match (&old_default, &new_default) {
        (Some(old), Some(new)) if old == new => return None,
        (Some(old), Some(new)) => format!("changed from `{old}` to `{new}`"),
        (None, Some(new)) => format!("was added (`{new}`)"),
        (Some(old), None) => format!("was removed (it was `{old}`)"),
        (None, None) => return None,
    };
    let diagnostic = Diagnostic::warning(
        "default_changed",
        format!(
            "the default of field `{field_name}` in locked v{number} of event `{event}` {message}"
        ),
    )
    .at(field.name.span)
    .label("changes how older events read")
    .help(format!(
        "stored v{} events read `{field_name}` as {} until now; restore the locked default \
         unless the change is intended (then run `cargo esdsl lock`)",
        number - 1,
        old_default.map_or_else(|| "`None`".to_owned(), |d| format!("`{d}`"))
    ));
    Some(diagnostic)
}
