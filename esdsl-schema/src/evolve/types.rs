//! Record types and enums that locked versions use: `type_modified` and
//! `enum_variant_removed`.
//!
//! Types are not versioned: stored events hold them as they were locked. A type no locked
//! version uses may change freely (the lock records a new revision). An enum used by a locked
//! version may only gain variants at its end: binary payloads (postcard) store a variant by its
//! position.

use crate::diag::Diagnostic;
use crate::lock::baseline::{LockedEnum, LockedRecord};
use crate::model::{EnumType, RecordType};

use super::{Comparison, FieldChange, Finding, VersionAt, field_findings, list};

/// "locked v2 of event `X` uses it", for messages about a type; `user` is the first locked
/// version that uses it: stored events of it hold the type as locked.
fn uses_it(user: &VersionAt<'_>) -> String {
    format!("locked v{} of event `{}` uses it", user.version, user.event)
}

pub(super) fn check(comparison: &mut Comparison<'_>) {
    let used = comparison
        .baseline
        .used_types(comparison.files, comparison.matches);
    let mut findings = Vec::new();
    for (fi, file) in comparison.files.iter().enumerate() {
        let user_of = |name: &str| {
            used[fi].get(name).map(|(event, version)| VersionAt {
                file,
                event,
                version: *version,
            })
        };
        for (i, record) in file.schema.types.iter().enumerate() {
            let locked =
                comparison.matches.records[fi][i].map(|li| &comparison.baseline.records[li]);
            if let (Some(locked), Some(user)) = (locked, user_of(&record.name.text)) {
                findings.extend(record_modified(&user, record, locked));
            }
        }
        for (i, enumeration) in file.schema.enums.iter().enumerate() {
            let locked = comparison.matches.enums[fi][i].map(|li| &comparison.baseline.enums[li]);
            let (Some(locked), Some(user)) = (locked, user_of(&enumeration.name.text)) else {
                continue;
            };
            let removed = enum_variant_removed(&user, enumeration, locked);
            if removed.is_empty() {
                findings.extend(enum_reordered(&user, enumeration, locked));
            }
            findings.extend(removed);
        }
    }
    comparison.findings.extend(findings);
}

/// `type_modified` on a record: a field added, removed, retyped, or the fields reordered.
fn record_modified(
    user: &VersionAt<'_>,
    record: &RecordType,
    locked: &LockedRecord,
) -> Vec<Finding> {
    let name = &record.name.text;
    let used = uses_it(user);
    let help = format!(
        "stored events hold `{name}` as locked: undo the change and declare a new type for new \
         versions"
    );
    let fields = &locked.fields;
    field_findings(user, &record.fields, fields, record.name.span, |change| {
        let (what, label, help) = match change {
            FieldChange::Retyped { field, locked, now } => (
                format!(
                    "field `{}` changed type from `{locked}` to `{now}`",
                    field.name
                ),
                "not as locked".to_owned(),
                help.clone(),
            ),
            FieldChange::Added(field) => (
                format!("field `{}` was added", field.name),
                "not as locked".to_owned(),
                help.clone(),
            ),
            FieldChange::Removed { name: field, .. } => (
                format!("field `{field}` was removed"),
                format!("locked with `{field}`"),
                help.clone(),
            ),
            FieldChange::Reordered => (
                format!(
                    "its fields were reordered (locked order: {})",
                    list(&fields.iter().map(|(n, _)| n).collect::<Vec<_>>())
                ),
                "reordered".to_owned(),
                format!(
                    "restore the locked order: binary payloads (postcard) store fields by \
                     position. {help}"
                ),
            ),
        };
        Diagnostic::error(
            "type_modified",
            format!("type `{name}` changed: {what}; {used}"),
        )
        .label(label)
        .help(help)
    })
}

/// `enum_variant_removed`: a locked variant is gone, so stored events holding it cannot decode.
fn enum_variant_removed(
    user: &VersionAt<'_>,
    enumeration: &EnumType,
    locked: &LockedEnum,
) -> Vec<Finding> {
    let name = &enumeration.name.text;
    let used = uses_it(user);
    locked
        .variants
        .iter()
        .filter(|variant| !enumeration.variants.iter().any(|v| v.text == **variant))
        .map(|variant| {
            let diagnostic = Diagnostic::error(
                "enum_variant_removed",
                format!("variant `{variant}` was removed from enum `{name}`; {used}"),
            )
            .at(enumeration.name.span)
            .label(format!("`{variant}` is missing"))
            .help(format!(
                "restore \"{variant}\" in `variants`: stored events may hold it (add new \
                 variants at the end instead)"
            ));
            user.finding(diagnostic).field(variant)
        })
        .collect()
}

/// `type_modified` on an enum: every locked variant is there, but not in the locked order.
fn enum_reordered(
    user: &VersionAt<'_>,
    enumeration: &EnumType,
    locked: &LockedEnum,
) -> Option<Finding> {
    let (expected, now) = locked
        .variants
        .iter()
        .zip(&enumeration.variants)
        .find(|(locked, now)| **locked != now.text)?;
    let diagnostic = Diagnostic::error(
        "type_modified",
        format!(
            "enum `{}` changed: variant `{}` stands where `{expected}` was locked; {}",
            enumeration.name,
            now.text,
            uses_it(user)
        ),
    )
    .at(now.span)
    .label(format!("locked: `{expected}`"))
    .help(format!(
        "keep the locked variants in their order ({}) and add new ones at the end: binary \
         payloads (postcard) store a variant by its position",
        list(&locked.variants)
    ));
    Some(user.finding(diagnostic).field(&now.text))
}
