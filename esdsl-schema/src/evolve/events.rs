//! Events and their locked versions: `event_removed`, `event_moved_aggregate`,
//! `retired_name_reused`, `version_modified`, `version_removed`, `version_gap` (renumbered),
//! `default_changed` and `renamed_from_changed`.

use crate::diag::Diagnostic;
use crate::lock::baseline::{LockedEvent, LockedVersion};
use crate::lock::canonical;
use crate::model::{Event, Version};

use super::{Cx, Finding, list};

pub(super) fn check(cx: &mut Cx<'_>) {
    let mut matched = vec![false; cx.baseline.events.len()];
    for (fi, file) in cx.files.iter().enumerate() {
        for (ei, event) in file.schema.events.iter().enumerate() {
            match cx.matches.events[fi][ei] {
                Some(bi) => {
                    matched[bi] = true;
                    let locked = &cx.baseline.events[bi];
                    continued(cx, fi, event, locked);
                }
                None => new_event(cx, fi, event),
            }
        }
    }
    for (bi, locked) in cx.baseline.events.iter().enumerate() {
        if !matched[bi] {
            removed(cx, locked);
        }
    }
}

/// A locked event that the schemas no longer declare.
fn removed(cx: &mut Cx<'_>, locked: &LockedEvent) {
    let path = cx
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
    cx.add(finding);
}

/// An event that is not in the baseline: its name must not be a stored name of another event.
fn new_event(cx: &mut Cx<'_>, fi: usize, event: &Event) {
    let owner_of = |name: &str| {
        cx.baseline
            .events
            .iter()
            .find(|b| b.name != name && b.names.iter().any(|n| n == name))
    };
    let mut findings = Vec::new();
    if let Some(owner) = owner_of(&event.name.text) {
        findings.push(
            cx.at(
                fi,
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
            )
            .event(&event.name.text),
        );
    }
    for old in &event.renamed_from {
        if let Some(owner) = owner_of(&old.text).or_else(|| {
            cx.baseline
                .events
                .iter()
                .find(|b| b.name == old.text && b.name != event.name.text)
        }) {
            findings.push(
                cx.at(
                    fi,
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
                )
                .event(&event.name.text),
            );
        }
    }
    cx.findings.extend(findings);
}

/// A current event that continues a locked one.
fn continued(cx: &mut Cx<'_>, fi: usize, event: &Event, locked: &LockedEvent) {
    let name = event.name.text.as_str();
    if event.aggregate.text != locked.aggregate {
        let finding = cx
            .at(
                fi,
                Diagnostic::error(
                    "event_moved_aggregate",
                    format!(
                        "event `{name}` moved from aggregate `{}` to `{}`",
                        locked.aggregate, event.aggregate
                    ),
                )
                .at(event.aggregate.span)
                .label(format!("locked under `{}`", locked.aggregate))
                .help(format!(
                    "stored `{name}` events belong to `{}` streams: keep `aggregate = \"{}\"` \
                     and declare a new event for `{}`",
                    locked.aggregate, locked.aggregate, event.aggregate
                )),
            )
            .event(name);
        cx.add(finding);
    }
    if locked.retired && !event.retired {
        let finding = cx
            .at(
                fi,
                Diagnostic::error(
                    "retired_name_reused",
                    format!("event `{name}` was retired and is declared live again"),
                )
                .at(event.name.span)
                .label("retired in the lock")
                .help(format!(
                    "keep `retired = true` and give the live event another name: stored `{name}` \
                     events were written before it was retired"
                )),
            )
            .event(name);
        cx.add(finding);
    }
    let dropped: Vec<&String> = locked
        .names
        .iter()
        .filter(|n| **n != name && !event.renamed_from.iter().any(|r| r.text == **n))
        .collect();
    for old in dropped {
        let finding = cx
            .at(
                fi,
                Diagnostic::error(
                    "event_removed",
                    format!("event `{name}` no longer decodes its stored name `{old}`"),
                )
                .at(event.name.span)
                .label(format!("`{old}` is missing from `renamed_from`"))
                .help(format!(
                    "add \"{old}\" to `renamed_from`: events stored as `{old}` must stay readable"
                )),
            )
            .event(name);
        cx.add(finding);
    }

    let renumbered = renumbered(event, locked);
    for &(to, from) in &renumbered {
        let Some(version) = event.version(to) else {
            continue;
        };
        let finding = cx
            .at(
                fi,
                Diagnostic::error(
                    "version_gap",
                    format!(
                        "v{to} of event `{name}` has the fields locked as v{from}: its versions \
                         were renumbered"
                    ),
                )
                .at(version.span)
                .label(format!("locked as v{from}"))
                .help(format!(
                    "restore the versions as locked (stored events carry their version number) \
                     and declare changes as v{}",
                    locked.newest().max(event.newest()) + 1
                )),
            )
            .event(name)
            .version(to);
        cx.add(finding);
    }
    for (&number, locked_version) in &locked.versions {
        // A renumbered version is reported once, above.
        if renumbered
            .iter()
            .any(|&(to, from)| to == number || from == number)
        {
            continue;
        }
        match event.version(number) {
            Some(version) => compare_version(cx, fi, event, version, locked_version),
            None => {
                let at = event.versions.last().map_or(event.name.span, |v| v.span);
                let finding = cx
                    .at(
                        fi,
                        Diagnostic::error(
                            "version_removed",
                            format!("locked version v{number} of event `{name}` was deleted"),
                        )
                        .at(at)
                        .label(format!("v{number} is locked"))
                        .help(format!(
                            "restore `[events.{name}.v{number}]` as locked: stored v{number} \
                             events cannot be decoded without it"
                        )),
                    )
                    .event(name)
                    .version(number);
                cx.add(finding);
            }
        }
    }
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

/// A locked version that still exists: its fields must be as locked; defaults and renames that
/// change how older events read are reported as warnings.
fn compare_version(
    cx: &mut Cx<'_>,
    fi: usize,
    event: &Event,
    version: &Version,
    locked: &LockedVersion,
) {
    let name = event.name.text.as_str();
    let number = version.number;
    let current = canonical::fields(&version.fields);
    if current == locked.fields {
        upcast_inputs(cx, fi, event, version, locked);
        return;
    }
    let help = format!(
        "stored v{number} events were written with the locked fields: undo the change and \
         declare the new shape as a new version (v{})",
        event.newest() + 1
    );
    let modified = |message: String| Diagnostic::error("version_modified", message);
    let mut findings = Vec::new();
    for field in &version.fields {
        let ty = field.ty.to_string();
        let diagnostic = match locked.fields.iter().find(|(n, _)| *n == field.name.text) {
            Some((_, locked_ty)) if *locked_ty == ty => continue,
            Some((_, locked_ty)) => modified(format!(
                "field `{}` of locked v{number} of event `{name}` changed type from \
                 `{locked_ty}` to `{ty}`",
                field.name
            ))
            .at(field.ty_span)
            .label(format!("locked as `{locked_ty}`")),
            None => modified(format!(
                "field `{}` was added to locked v{number} of event `{name}`",
                field.name
            ))
            .at(field.name.span)
            .label("not in the locked version"),
        };
        findings.push(
            cx.at(fi, diagnostic.help(help.clone()))
                .event(name)
                .version(number)
                .field(&field.name.text),
        );
    }
    for (locked_name, locked_ty) in &locked.fields {
        if version.field(locked_name).is_none() {
            findings.push(
                cx.at(
                    fi,
                    modified(format!(
                        "field `{locked_name}` (`{locked_ty}`) was removed from locked \
                         v{number} of event `{name}`"
                    ))
                    .at(version.span)
                    .label(format!("locked with `{locked_name}`"))
                    .help(help.clone()),
                )
                .event(name)
                .version(number)
                .field(locked_name),
            );
        }
    }
    if findings.is_empty() {
        let locked_order: Vec<&str> = locked.fields.iter().map(|(n, _)| n.as_str()).collect();
        findings.push(
            cx.at(
                fi,
                modified(format!(
                    "the fields of locked v{number} of event `{name}` were reordered (locked \
                     order: {})",
                    list(&locked_order)
                ))
                .at(version.span)
                .label("reordered")
                .help(format!(
                    "restore the locked order: binary payloads (postcard) store fields by \
                     position. {help}"
                )),
            )
            .event(name)
            .version(number),
        );
    }
    cx.findings.extend(findings);
}

/// `default_changed` and `renamed_from_changed`: a locked version whose step from the version
/// before now fills a field differently. Only fields absent from the version before are filled
/// from a default, so only those are reported.
fn upcast_inputs(
    cx: &mut Cx<'_>,
    fi: usize,
    event: &Event,
    version: &Version,
    locked: &LockedVersion,
) {
    let name = event.name.text.as_str();
    let number = version.number;
    if number == 1 || event.manual_upcasts.contains(&number) {
        return;
    }
    let previous = event.version(number - 1);
    let lookup = |pairs: &[(String, String)], field: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == field)
            .map(|(_, v)| v.clone())
    };
    let current_defaults = canonical::defaults(&version.fields);
    let current_renames = canonical::renames(&version.fields);
    let mut findings = Vec::new();
    for field in &version.fields {
        let field_name = field.name.text.as_str();
        let old_rename = lookup(&locked.renamed, field_name);
        let new_rename = lookup(&current_renames, field_name);
        if old_rename != new_rename {
            let describe = |r: &Option<String>| {
                r.as_ref()
                    .map_or_else(|| "nothing".to_owned(), |r| format!("`{r}`"))
            };
            findings.push(
                cx.at(
                    fi,
                    Diagnostic::warning(
                        "renamed_from_changed",
                        format!(
                            "`renamed_from` of field `{field_name}` in locked v{number} of event \
                             `{name}` changed from {} to {}",
                            describe(&old_rename),
                            describe(&new_rename)
                        ),
                    )
                    .at(field.name.span)
                    .label("changes how older events read")
                    .help(format!(
                        "stored v{} events now fill `{field_name}` differently when upcast; \
                         restore the locked `renamed_from` unless that is intended (then run \
                         `cargo esdsl lock`)",
                        number - 1
                    )),
                )
                .event(name)
                .version(number)
                .field(field_name),
            );
            continue;
        }
        let source = new_rename.as_deref().unwrap_or(field_name);
        if previous.is_some_and(|p| p.field(source).is_some()) {
            continue;
        }
        let old_default = lookup(&locked.defaults, field_name);
        let new_default = lookup(&current_defaults, field_name);
        if old_default == new_default {
            continue;
        }
        let message = match (&old_default, &new_default) {
            (Some(old), Some(new)) => format!("changed from `{old}` to `{new}`"),
            (None, Some(new)) => format!("was added (`{new}`)"),
            (Some(old), None) => format!("was removed (it was `{old}`)"),
            (None, None) => continue,
        };
        findings.push(
            cx.at(
                fi,
                Diagnostic::warning(
                    "default_changed",
                    format!(
                        "the default of field `{field_name}` in locked v{number} of event \
                         `{name}` {message}"
                    ),
                )
                .at(field.name.span)
                .label("changes how older events read")
                .help(format!(
                    "stored v{} events read `{field_name}` as {} until now; restore the locked \
                     default unless the change is intended (then run `cargo esdsl lock`)",
                    number - 1,
                    old_default.map_or_else(|| "`None`".to_owned(), |d| format!("`{d}`"))
                )),
            )
            .event(name)
            .version(number)
            .field(field_name),
        );
    }
    cx.findings.extend(findings);
}
