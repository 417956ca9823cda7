//! Upcast steps, the path from every stored version to the newest: `upcast_missing`,
//! `field_added_without_default`, `field_type_incompatible`, `field_renamed_without_alias`,
//! `field_type_lossy` and `field_removed`.
//!
//! A stored event of version k is decoded as version k and upcast step by step to the newest,
//! so every locked version reaches the newest exactly when every step after it is automatic or
//! listed in `manual_upcasts`: each failing step is reported once, at the version it leads to.
//! A step to a version that is not locked yet is new: its problems are reported field by field,
//! and only new steps are checked for lossy widenings and dropped fields (locked ones were
//! accepted when they were locked).

use crate::diag::Diagnostic;
use crate::lock::baseline::LockedEvent;
use crate::lock::canonical;
use crate::model::{Conversion, Event, Field, FieldSource, Version};
use crate::plan::{Blocker, BlockerKind, plan_step};

use super::{Comparison, Finding};

pub(super) fn check(comparison: &mut Comparison<'_>) {
    for (fi, file) in comparison.files.iter().enumerate() {
        for (ei, event) in file.schema.events.iter().enumerate() {
            if event.retired {
                continue;
            }
            let locked =
                comparison.matches.events[fi][ei].map(|bi| &comparison.baseline.events[bi]);
            let locked_newest = locked.map_or(0, LockedEvent::newest);
            // A locked version edited in place is reported as `version_modified`; the steps
            // around it would only repeat that.
            let edited = |v: &Version| {
                locked
                    .and_then(|l| l.versions.get(&v.number))
                    .is_some_and(|l| l.fields != canonical::fields(&v.fields))
            };
            for pair in event.versions.windows(2) {
                let [previous, next] = pair else { continue };
                if event.manual_upcasts.contains(&next.number) {
                    continue;
                }
                let new = next.number > locked_newest;
                let findings = match plan_step(previous, next) {
                    Ok(sources) if new => {
                        automatic_step(comparison, fi, event, previous, next, &sources)
                    }
                    Ok(_) => Vec::new(),
                    Err(blockers) if new => {
                        new_step(comparison, fi, event, previous, next, &blockers)
                    }
                    Err(_) if edited(previous) || edited(next) => Vec::new(),
                    Err(blockers) => {
                        vec![missing(comparison, fi, event, previous, next, &blockers)]
                    }
                };
                comparison.findings.extend(findings);
            }
        }
    }
}

/// A failing step to a locked version: stored events of every version before it are stranded.
fn missing(
    comparison: &Comparison<'_>,
    fi: usize,
    event: &Event,
    previous: &Version,
    next: &Version,
    blockers: &[Blocker],
) -> Finding {
    let name = &event.name.text;
    let to = next.number;
    let whys: Vec<&str> = blockers.iter().map(|b| b.why.as_str()).collect();
    let stranded = if previous.number == 1 {
        "stored v1 events".to_owned()
    } else {
        format!("stored v1 to v{} events", previous.number)
    };
    let mut finding = comparison
        .at(
            fi,
            Diagnostic::error(
                "upcast_missing",
                format!(
                    "event `{name}` cannot be upcast from v{} to locked v{to}: {}; {stranded} \
                     cannot reach v{}",
                    previous.number,
                    whys.join("; "),
                    event.newest()
                ),
            )
            .at(next.span)
            .label("no automatic or hand-written step")
            .help(format!(
                "list the step with `manual_upcasts = [{to}]` and implement \
                 `esdsl_runtime::Upcast<v{}::{name}>` for `v{to}::{name}`, or undo the change \
                 that broke it",
                previous.number
            )),
        )
        .event(name)
        .version(to);
    finding.field = blockers.first().map(|b| b.field.clone());
    finding
}

/// A new step that cannot be generated: one finding per field in the way.
fn new_step(
    comparison: &Comparison<'_>,
    fi: usize,
    event: &Event,
    previous: &Version,
    next: &Version,
    blockers: &[Blocker],
) -> Vec<Finding> {
    let name = &event.name.text;
    let to = next.number;
    let from = previous.number;
    let mut dropped = dropped(previous, next);
    let manual = format!("or write the step by hand with `manual_upcasts = [{to}]`");
    let mut out = Vec::new();
    for blocker in blockers {
        let Some(field) = next.field(&blocker.field) else {
            continue;
        };
        let diagnostic = match blocker.kind {
            BlockerKind::NoSource => continue,
            BlockerKind::TypeChange => {
                let old = previous
                    .field(
                        field
                            .renamed_from
                            .as_ref()
                            .map_or(&field.name.text, |r| &r.text),
                    )
                    .map_or_else(String::new, |f| f.ty.to_string());
                Diagnostic::error(
                    "field_type_incompatible",
                    format!(
                        "field `{}` of event `{name}` changes type from `{old}` to `{}` in \
                         v{to}, which is not a widening",
                        field.name, field.ty
                    ),
                )
                .at(field.ty_span)
                .label(format!("`{old}` does not convert to this"))
                .help(format!(
                    "keep a type `{old}` widens to (see the widening table in \
                     docs/schema.md), {manual}"
                ))
            }
            BlockerKind::NewRequired => match take_pair(&mut dropped, field) {
                Some(old) => renamed_without_alias(name, from, to, field, old, &manual),
                None => Diagnostic::error(
                    "field_added_without_default",
                    format!(
                        "field `{}` is new in v{to} of event `{name}`, required and has no \
                         default",
                        field.name
                    ),
                )
                .at(field.name.span)
                .label(format!("stored v{from} events have no value for it"))
                .help(format!(
                    "give it a `default`, make it an `option<..>`, name the field it comes from \
                     with `renamed_from`, {manual}"
                )),
            },
        };
        out.push(
            comparison
                .at(fi, diagnostic)
                .event(name)
                .version(to)
                .field(&field.name.text),
        );
    }
    out
}

/// A new automatic step: lossy widenings, fields that look renamed, fields dropped.
fn automatic_step(
    comparison: &Comparison<'_>,
    fi: usize,
    event: &Event,
    previous: &Version,
    next: &Version,
    sources: &[FieldSource],
) -> Vec<Finding> {
    let name = &event.name.text;
    let to = next.number;
    let from = previous.number;
    let mut dropped = dropped(previous, next);
    let manual = format!("or write the step by hand with `manual_upcasts = [{to}]`");
    let mut out = Vec::new();
    for (field, source) in next.fields.iter().zip(sources) {
        match source {
            FieldSource::Previous {
                field: old,
                conversion,
            } if conversion.is_lossy() => {
                let old_ty = previous
                    .field(old)
                    .map_or_else(String::new, |f| f.ty.to_string());
                out.push(
                    comparison.at(
                        fi,
                        Diagnostic::warning(
                            "field_type_lossy",
                            format!(
                                "field `{}` of event `{name}` widens `{old_ty}` to `{}` in v{to}, \
                                 which can lose precision",
                                field.name, field.ty
                            ),
                        )
                        .at(field.ty_span)
                        .label("not every 64-bit integer is an `f64`")
                        .help(format!(
                            "integers beyond 2^53 are rounded when stored v{from} events are \
                             upcast; keep an integer type unless that is acceptable"
                        )),
                    )
                    .event(name)
                    .version(to)
                    .field(&field.name.text),
                );
            }
            FieldSource::None => {
                if let Some(old) = take_pair(&mut dropped, field) {
                    let diagnostic = renamed_without_alias(name, from, to, field, old, &manual);
                    out.push(
                        comparison
                            .at(fi, diagnostic)
                            .event(name)
                            .version(to)
                            .field(&field.name.text),
                    );
                }
            }
            _ => {}
        }
    }
    for old in dropped {
        out.push(
            comparison.at(
                fi,
                Diagnostic::warning(
                    "field_removed",
                    format!("field `{}` of event `{name}` is dropped in v{to}", old.name),
                )
                .at(next.span)
                .label(format!("no field here takes the value of `{}`", old.name))
                .help(format!(
                    "stored values of `{}` are discarded when v{from} events are upcast; if the \
                     field was renamed, declare the new one with `renamed_from = \"{}\"`",
                    old.name, old.name
                )),
            )
            .event(name)
            .version(to)
            .field(&old.name.text),
        );
    }
    out
}

fn renamed_without_alias(
    event: &str,
    from: u32,
    to: u32,
    field: &Field,
    old: &Field,
    manual: &str,
) -> Diagnostic {
    Diagnostic::error(
        "field_renamed_without_alias",
        format!(
            "field `{}` of event `{event}` replaces `{}` of v{from} in v{to} without \
             `renamed_from`: stored values of `{}` would be lost",
            field.name, old.name, old.name
        ),
    )
    .at(field.name.span)
    .label(format!("looks like `{}` renamed", old.name))
    .help(format!(
        "if it is a rename, write `{} = {{ type = \"{}\", renamed_from = \"{}\" }}`; if it is \
         not, drop `{}` and add `{}` in separate versions, {manual}",
        field.name, field.ty, old.name, old.name, field.name
    ))
}

/// The fields of `previous` that no field of `next` takes its value from.
fn dropped<'v>(previous: &'v Version, next: &Version) -> Vec<&'v Field> {
    previous
        .fields
        .iter()
        .filter(|old| {
            !next.fields.iter().any(|f| {
                f.renamed_from.as_ref().map_or(&f.name.text, |r| &r.text) == &old.name.text
            })
        })
        .collect()
}

/// Takes the first dropped field whose values convert to `field`'s type, preferring the same
/// type.
fn take_pair<'v>(dropped: &mut Vec<&'v Field>, field: &Field) -> Option<&'v Field> {
    let exact = dropped.iter().position(|d| d.ty == field.ty);
    let index = exact.or_else(|| {
        dropped
            .iter()
            .position(|d| Conversion::between(&d.ty, &field.ty).is_some())
    })?;
    Some(dropped.remove(index))
}
