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

use super::{Comparison, Finding, VersionAt};

pub(super) fn check(comparison: &mut Comparison<'_>) {
    let files = comparison.files;
    for (fi, event, locked) in comparison.live_events() {
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
            let at = VersionAt {
                file: &files[fi],
                event: &event.name.text,
                version: next.number,
            };
            let findings = match plan_step(previous, next) {
                Ok(sources) if new => NewStep::new(at, previous, next).automatic(&sources),
                Ok(_) => Vec::new(),
                Err(blockers) if new => NewStep::new(at, previous, next).blocked(&blockers),
                Err(_) if edited(previous) || edited(next) => Vec::new(),
                Err(blockers) => vec![missing(at, event, previous, next, &blockers)],
            };
            comparison.findings.extend(findings);
        }
    }
}

/// A failing step to a locked version: stored events of every version before it are stranded.
fn missing(
    at: VersionAt<'_>,
    event: &Event,
    previous: &Version,
    next: &Version,
    blockers: &[Blocker],
) -> Finding {
    let (name, to) = (at.event, at.version);
    let whys: Vec<&str> = blockers.iter().map(|b| b.why.as_str()).collect();
    let stranded = if previous.number == 1 {
        "stored v1 events".to_owned()
    } else {
        format!("stored v1 to v{} events", previous.number)
    };
    let mut finding = at.finding(
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
    );
    finding.field = blockers.first().map(|b| b.field.clone());
    finding
}

/// A step to a version that is not locked yet: its findings are reported field by field, at
/// the version it leads to.
struct NewStep<'a> {
    at: VersionAt<'a>,
    previous: &'a Version,
    next: &'a Version,
    /// The fields of `previous` that no field of `next` takes its value from, less those
    /// already paired with a new field as a likely rename.
    dropped: Vec<&'a Field>,
    /// The last resort every fix names.
    manual: String,
}

impl<'a> NewStep<'a> {
    fn new(at: VersionAt<'a>, previous: &'a Version, next: &'a Version) -> NewStep<'a> {
        NewStep {
            at,
            previous,
            next,
            dropped: dropped(previous, next),
            manual: format!(
                "or write the step by hand with `manual_upcasts = [{}]`",
                next.number
            ),
        }
    }

    /// A step that cannot be generated: one finding per field in the way.
    fn blocked(mut self, blockers: &[Blocker]) -> Vec<Finding> {
        let (name, from, to) = (self.at.event, self.previous.number, self.at.version);
        let mut out = Vec::new();
        for blocker in blockers {
            let Some(field) = self.next.field(&blocker.field) else {
                continue;
            };
            let diagnostic = match blocker.kind {
                BlockerKind::NoSource => continue,
                BlockerKind::TypeChange => {
                    let old = self
                        .previous
                        .field(source_name(field))
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
                         docs/schema.md), {}",
                        self.manual
                    ))
                }
                BlockerKind::NewRequired => match take_pair(&mut self.dropped, field) {
                    Some(old) => self.renamed_without_alias(field, old),
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
                        "give it a `default`, make it an `option<..>`, name the field it comes \
                         from with `renamed_from`, {}",
                        self.manual
                    )),
                },
            };
            out.push(self.at.finding(diagnostic).field(&field.name.text));
        }
        out
    }

    /// A step that is generated: lossy widenings, fields that look renamed, fields dropped.
    fn automatic(mut self, sources: &[FieldSource]) -> Vec<Finding> {
        let (name, from, to) = (self.at.event, self.previous.number, self.at.version);
        let mut out = Vec::new();
        for (field, source) in self.next.fields.iter().zip(sources) {
            let diagnostic = match source {
                FieldSource::Previous {
                    field: old,
                    conversion,
                } if conversion.is_lossy() => {
                    let old_ty = self
                        .previous
                        .field(old)
                        .map_or_else(String::new, |f| f.ty.to_string());
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
                    ))
                }
                FieldSource::None => match take_pair(&mut self.dropped, field) {
                    Some(old) => self.renamed_without_alias(field, old),
                    None => continue,
                },
                _ => continue,
            };
            out.push(self.at.finding(diagnostic).field(&field.name.text));
        }
        for old in &self.dropped {
            let diagnostic = Diagnostic::warning(
                "field_removed",
                format!("field `{}` of event `{name}` is dropped in v{to}", old.name),
            )
            .at(self.next.span)
            .label(format!("no field here takes the value of `{}`", old.name))
            .help(format!(
                "stored values of `{}` are discarded when v{from} events are upcast; if the \
                 field was renamed, declare the new one with `renamed_from = \"{}\"`",
                old.name, old.name
            ));
            out.push(self.at.finding(diagnostic).field(&old.name.text));
        }
        out
    }

    /// `field_renamed_without_alias`: `field` is new and `old`, dropped, looks like its source.
    fn renamed_without_alias(&self, field: &Field, old: &Field) -> Diagnostic {
        let (event, from, to) = (self.at.event, self.previous.number, self.at.version);
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
            "if it is a rename, write `{} = {{ type = \"{}\", renamed_from = \"{}\" }}`; if it \
             is not, drop `{}` and add `{}` in separate versions, {}",
            field.name, field.ty, old.name, old.name, field.name, self.manual
        ))
    }
}

/// The name of the field of the version before that `field` takes its value from.
fn source_name(field: &Field) -> &str {
    field
        .renamed_from
        .as_ref()
        .map_or(&field.name.text, |r| &r.text)
}

/// The fields of `previous` that no field of `next` takes its value from.
fn dropped<'v>(previous: &'v Version, next: &Version) -> Vec<&'v Field> {
    previous
        .fields
        .iter()
        .filter(|old| !next.fields.iter().any(|f| source_name(f) == old.name.text))
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
