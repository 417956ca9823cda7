//! Record types and enums that locked versions use: `type_modified` and
//! `enum_variant_removed`.
//!
//! Types are not versioned: stored events hold them as they were locked. A type no locked
//! version uses may change freely (the lock records a new revision). An enum used by a locked
//! version may only gain variants at its end: binary payloads (postcard) store a variant by its
//! position.

use crate::diag::Diagnostic;
use crate::lock::baseline::{LockedEnum, LockedRecord};
use crate::lock::canonical;
use crate::model::{EnumType, RecordType};

use super::{Comparison, Finding, list};

/// The first locked version that uses a type: stored events of it hold the type as locked.
struct User<'a> {
    fi: usize,
    event: &'a str,
    version: u32,
}

impl User<'_> {
    /// "locked v2 of event `X` uses it", for messages.
    fn describe(&self) -> String {
        format!("locked v{} of event `{}` uses it", self.version, self.event)
    }

    /// A finding about the type, in the user's file, naming the user.
    fn finding(&self, comparison: &Comparison<'_>, diagnostic: Diagnostic) -> Finding {
        comparison
            .at(self.fi, diagnostic)
            .event(self.event)
            .version(self.version)
    }
}

pub(super) fn check(comparison: &mut Comparison<'_>) {
    let used = comparison
        .baseline
        .used_types(comparison.files, comparison.matches);
    let mut findings = Vec::new();
    for (fi, file) in comparison.files.iter().enumerate() {
        let user_of = |name: &str| {
            used[fi].get(name).map(|(event, version)| User {
                fi,
                event,
                version: *version,
            })
        };
        for (i, record) in file.schema.types.iter().enumerate() {
            let locked =
                comparison.matches.records[fi][i].map(|li| &comparison.baseline.records[li]);
            if let (Some(locked), Some(user)) = (locked, user_of(&record.name.text)) {
                findings.extend(record_modified(comparison, &user, record, locked));
            }
        }
        for (i, enumeration) in file.schema.enums.iter().enumerate() {
            let locked = comparison.matches.enums[fi][i].map(|li| &comparison.baseline.enums[li]);
            let (Some(locked), Some(user)) = (locked, user_of(&enumeration.name.text)) else {
                continue;
            };
            let removed = enum_variant_removed(comparison, &user, enumeration, locked);
            if removed.is_empty() {
                findings.extend(enum_reordered(comparison, &user, enumeration, locked));
            }
            findings.extend(removed);
        }
    }
    comparison.findings.extend(findings);
}

/// `type_modified` on a record: a field added, removed, retyped, or the fields reordered.
fn record_modified(
    comparison: &Comparison<'_>,
    user: &User<'_>,
    record: &RecordType,
    locked: &LockedRecord,
) -> Vec<Finding> {
    if canonical::fields(&record.fields) == locked.fields {
        return Vec::new();
    }
    let name = &record.name.text;
    let used = user.describe();
    let help = format!(
        "stored events hold `{name}` as locked: undo the change and declare a new type for new \
         versions"
    );
    let modified = |what: String| {
        Diagnostic::error(
            "type_modified",
            format!("type `{name}` changed: {what}; {used}"),
        )
    };
    let mut findings = Vec::new();
    for field in &record.fields {
        let ty = field.ty.to_string();
        let (what, at) = match locked.fields.iter().find(|(n, _)| *n == field.name.text) {
            Some((_, locked_ty)) if *locked_ty == ty => continue,
            Some((_, locked_ty)) => (
                format!(
                    "field `{}` changed type from `{locked_ty}` to `{ty}`",
                    field.name
                ),
                field.ty_span,
            ),
            None => (format!("field `{}` was added", field.name), field.name.span),
        };
        let diagnostic = modified(what)
            .at(at)
            .label("not as locked")
            .help(help.clone());
        findings.push(user.finding(comparison, diagnostic).field(&field.name.text));
    }
    for (locked_name, _) in &locked.fields {
        if !record.fields.iter().any(|f| f.name.text == *locked_name) {
            let diagnostic = modified(format!("field `{locked_name}` was removed"))
                .at(record.name.span)
                .label(format!("locked with `{locked_name}`"))
                .help(help.clone());
            findings.push(user.finding(comparison, diagnostic).field(locked_name));
        }
    }
    if findings.is_empty() {
        let order: Vec<&str> = locked.fields.iter().map(|(n, _)| n.as_str()).collect();
        let diagnostic = modified(format!(
            "its fields were reordered (locked order: {})",
            list(&order)
        ))
        .at(record.name.span)
        .label("reordered")
        .help(format!(
            "restore the locked order: binary payloads (postcard) store fields by position. \
             {help}"
        ));
        findings.push(user.finding(comparison, diagnostic));
    }
    findings
}

/// `enum_variant_removed`: a locked variant is gone, so stored events holding it cannot decode.
fn enum_variant_removed(
    comparison: &Comparison<'_>,
    user: &User<'_>,
    enumeration: &EnumType,
    locked: &LockedEnum,
) -> Vec<Finding> {
    let name = &enumeration.name.text;
    let used = user.describe();
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
            user.finding(comparison, diagnostic).field(variant)
        })
        .collect()
}

/// `type_modified` on an enum: every locked variant is there, but not in the locked order.
fn enum_reordered(
    comparison: &Comparison<'_>,
    user: &User<'_>,
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
            user.describe()
        ),
    )
    .at(now.span)
    .label(format!("locked: `{expected}`"))
    .help(format!(
        "keep the locked variants in their order ({}) and add new ones at the end: binary \
         payloads (postcard) store a variant by its position",
        list(&locked.variants)
    ));
    Some(user.finding(comparison, diagnostic).field(&now.text))
}
