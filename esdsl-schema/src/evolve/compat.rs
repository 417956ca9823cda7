//! Compatibility modes: `forward_field_removed`, `forward_field_retyped`,
//! `forward_field_not_appended`, `forward_enum_extended`, `full_upcast_manual` and
//! `compatibility_weakened`.
//!
//! A forward-compatible event promises that a program built from an older schema reads events
//! written at a newer version by decoding them as the version it knows (see
//! [`crate::compat::unreadable`] for what each codec tolerates). Each version the baseline does
//! not have yet is compared with the version before it, or with every older version when the
//! mode is transitive; an enum the event uses must not grow, since an older program does not
//! know the new variant; and the mode itself may only get stronger.

use std::collections::{BTreeMap, BTreeSet};

use crate::compat::{Mode, Unreadable, pairs, unreadable};
use crate::diag::Diagnostic;
use crate::lock::baseline::{LockedEvent, named};
use crate::model::{Event, Schema};

use super::{Comparison, VersionAt, list};

pub(super) fn check(comparison: &mut Comparison<'_>) {
    let files = comparison.files;
    for (fi, event, locked) in comparison.live_events() {
        if let Some(locked) = locked {
            weakened(comparison, fi, event, locked);
        }
        if !event.compatibility.is_forward() {
            continue;
        }
        let locked_newest = locked.map_or(0, LockedEvent::newest);
        for version in event.versions.iter().filter(|v| v.number > locked_newest) {
            let at = VersionAt {
                file: &files[fi],
                event: &event.name.text,
                version: version.number,
            };
            new_version(comparison, &at, event, version.number);
        }
        extended_enums(comparison, fi, event);
    }
}

/// `compatibility_weakened`: the event promises less than it was locked with.
fn weakened(comparison: &mut Comparison<'_>, fi: usize, event: &Event, locked: &LockedEvent) {
    if event.compatibility.keeps(&locked.compatibility) {
        return;
    }
    let span = event.compatibility_span.unwrap_or(event.name.span);
    let finding = comparison
        .at(
            fi,
            Diagnostic::error(
                "compatibility_weakened",
                format!(
                    "event `{}` was locked `{}` compatible and is now `{}`",
                    event.name,
                    locked.compatibility.describe(),
                    event.compatibility.describe()
                ),
            )
            .at(span)
            .label(format!("locked as `{}`", locked.compatibility.describe()))
            .help(
                "programs built from the locked schema read newer events on that promise: keep \
                 the mode (a stronger one is fine)",
            ),
        )
        .event(&event.name.text);
    comparison.add(finding);
}

/// The forward rules and `full_upcast_manual` for one version the baseline does not have.
fn new_version(comparison: &mut Comparison<'_>, at: &VersionAt<'_>, event: &Event, number: u32) {
    let compat = &event.compatibility;
    let Some(newer) = event.version(number) else {
        return;
    };
    if number >= 2 && compat.mode == Mode::Full && event.manual_upcasts.contains(&number) {
        comparison.add(
            at.finding(
                Diagnostic::error(
                    "full_upcast_manual",
                    format!(
                        "event `{}` is `full` compatible, but the step to its v{number} is \
                         written by hand",
                        event.name
                    ),
                )
                .at(newer.span)
                .label("listed in `manual_upcasts`")
                .help(
                    "`full` promises that the step is generated: give new fields a default or \
                     an `option<..>` type, or declare the event `forward`",
                ),
            ),
        );
    }
    let newer_fields = pairs(&newer.fields);
    let older_versions: Vec<u32> = if compat.transitive {
        (1..number).collect()
    } else {
        number
            .checked_sub(1)
            .filter(|&n| n >= 1)
            .into_iter()
            .collect()
    };
    // Each problem once, with every older version it concerns.
    let mut problems: BTreeMap<(u8, String), (Unreadable, Vec<u32>)> = BTreeMap::new();
    for older_number in older_versions {
        let Some(older) = event.version(older_number) else {
            continue;
        };
        for problem in unreadable(&pairs(&older.fields), &newer_fields, compat) {
            let key = match &problem {
                Unreadable::Removed { name, .. } => (0, name.clone()),
                Unreadable::Retyped { name, .. } => (1, name.clone()),
                Unreadable::NotAppended { first } => (2, first.clone()),
            };
            problems
                .entry(key)
                .or_insert_with(|| (problem, Vec::new()))
                .1
                .push(older_number);
        }
    }
    for (problem, olders) in problems.into_values() {
        let programs = readers(&olders);
        let mode = compat.describe();
        let (diagnostic, field) = match &problem {
            Unreadable::Removed { name, ty } => (
                Diagnostic::error(
                    "forward_field_removed",
                    format!(
                        "event `{}` is `{mode}` compatible, but its v{number} has no field \
                         `{name}` ({ty}) that {programs} need",
                        event.name
                    ),
                )
                .at(newer.span)
                .label(format!("no `{name}`"))
                .help(format!(
                    "keep `{name}: {ty}` in v{number} (add fields instead of removing or \
                     renaming them), or ship this change as only backward compatible (see \
                     \"Rolling upgrades\" in docs/evolution.md)"
                )),
                name,
            ),
            Unreadable::Retyped {
                name,
                older,
                newer: now,
            } => (
                Diagnostic::error(
                    "forward_field_retyped",
                    format!(
                        "event `{}` is `{mode}` compatible, but field `{name}` of its v{number} \
                         is `{now}` where {programs} read `{older}`",
                        event.name
                    ),
                )
                .at(field_span(newer_field(event, number, name)).unwrap_or(newer.span))
                .label(format!("was `{older}`"))
                .help(format!(
                    "keep `{name}` as `{older}` and add the new type as a new field",
                )),
                name,
            ),
            Unreadable::NotAppended { first } => (
                Diagnostic::error(
                    "forward_field_not_appended",
                    format!(
                        "event `{}` is `{mode}` compatible for postcard, but its v{number} \
                         does not start with the fields {programs} read, in order",
                        event.name
                    ),
                )
                .at(field_span(newer_field(event, number, first)).unwrap_or(newer.span))
                .label(format!("`{first}` stands where an older field was"))
                .help(
                    "postcard reads fields by position: keep the older fields first, in order, \
                     and add new ones at the end (or limit the promise to JSON with \
                     `codecs = [\"json\"]`)",
                ),
                first,
            ),
        };
        comparison.add(at.finding(diagnostic).field(field));
    }
}

/// "programs that know only v2" / "programs that know v1 to v3".
fn readers(olders: &[u32]) -> String {
    match olders {
        [one] => format!("programs that know only v{one}"),
        [first, .., last] => format!("programs that know v{first} to v{last}"),
        [] => "older programs".to_owned(),
    }
}

fn newer_field<'e>(event: &'e Event, number: u32, name: &str) -> Option<&'e crate::model::Field> {
    event.version(number)?.field(name)
}

fn field_span(field: Option<&crate::model::Field>) -> Option<crate::diag::Span> {
    field.map(|f| f.ty_span)
}

/// `forward_enum_extended`: an enum the event uses gained variants since it was locked.
fn extended_enums(comparison: &mut Comparison<'_>, fi: usize, event: &Event) {
    let file = &comparison.files[fi];
    let used = used_enums(&file.schema, event);
    for (index, enumeration) in file.schema.enums.iter().enumerate() {
        if !used.contains(&enumeration.name.text) {
            continue;
        }
        let Some(locked) =
            comparison.matches.enums[fi][index].map(|bi| &comparison.baseline.enums[bi])
        else {
            continue;
        };
        let added: Vec<&str> = enumeration
            .variants
            .iter()
            .map(|v| v.text.as_str())
            .filter(|v| !locked.variants.iter().any(|l| l == v))
            .collect();
        if added.is_empty() {
            continue;
        }
        let mode = event.compatibility.describe();
        let finding = comparison
            .at(
                fi,
                Diagnostic::error(
                    "forward_enum_extended",
                    format!(
                        "event `{}` is `{mode}` compatible, but enum `{}`, which it uses, gained \
                         {}",
                        event.name,
                        enumeration.name,
                        list(&added)
                    ),
                )
                .at(enumeration.name.span)
                .label("new variants")
                .help(
                    "programs built before the change fail on a variant they do not know: add \
                     a new enum and a new field for the new values, or ship this as a backward \
                     compatible change (docs/evolution.md, \"Rolling upgrades\")",
                ),
            )
            .event(&event.name.text)
            .field(added.first().copied().unwrap_or_default());
        comparison.add(finding);
    }
}

/// The enums any version of `event` uses, directly or through records.
fn used_enums(schema: &Schema, event: &Event) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = event
        .versions
        .iter()
        .flat_map(|v| v.fields.iter().flat_map(|f| named(&f.ty)))
        .collect();
    let mut enums = BTreeSet::new();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(record) = schema.record(&name) {
            stack.extend(record.fields.iter().flat_map(|f| named(&f.ty)));
        } else if schema.enumeration(&name).is_some() {
            enums.insert(name);
        }
    }
    enums
}
