//! Record types and enums that locked versions use: `type_modified` and
//! `enum_variant_removed`.
//!
//! Types are not versioned: stored events hold them as they were locked. A type no locked
//! version uses may change freely (the lock records a new revision). An enum used by a locked
//! version may only gain variants at its end: binary payloads (postcard) store a variant by its
//! position.

use crate::diag::Diagnostic;
use crate::lock::canonical;

use super::{Cx, list};

pub(super) fn check(cx: &mut Cx<'_>) {
    let used = cx.baseline.used_types(cx.files, cx.matches);
    for (fi, file) in cx.files.iter().enumerate() {
        for (i, record) in file.schema.types.iter().enumerate() {
            let Some(locked) = cx.matches.records[fi][i].map(|li| &cx.baseline.records[li]) else {
                continue;
            };
            let Some((event, version)) = used[fi].get(&record.name.text) else {
                continue;
            };
            let current = canonical::fields(&record.fields);
            if current == locked.fields {
                continue;
            }
            let name = &record.name.text;
            let user = format!("locked v{version} of event `{event}` uses it");
            let help = format!(
                "stored events hold `{name}` as locked: undo the change and declare a new type \
                 for new versions"
            );
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
                findings.push(
                    cx.at(
                        fi,
                        Diagnostic::error(
                            "type_modified",
                            format!("type `{name}` changed: {what}; {user}"),
                        )
                        .at(at)
                        .label("not as locked")
                        .help(help.clone()),
                    )
                    .event(event)
                    .version(*version)
                    .field(&field.name.text),
                );
            }
            for (locked_name, _) in &locked.fields {
                if !record.fields.iter().any(|f| f.name.text == *locked_name) {
                    findings.push(
                        cx.at(
                            fi,
                            Diagnostic::error(
                                "type_modified",
                                format!("type `{name}` changed: field `{locked_name}` was removed; {user}"),
                            )
                            .at(record.name.span)
                            .label(format!("locked with `{locked_name}`"))
                            .help(help.clone()),
                        )
                        .event(event)
                        .version(*version)
                        .field(locked_name),
                    );
                }
            }
            if findings.is_empty() {
                let order: Vec<&str> = locked.fields.iter().map(|(n, _)| n.as_str()).collect();
                findings.push(
                    cx.at(
                        fi,
                        Diagnostic::error(
                            "type_modified",
                            format!(
                                "type `{name}` changed: its fields were reordered (locked order: \
                                 {}); {user}",
                                list(&order)
                            ),
                        )
                        .at(record.name.span)
                        .label("reordered")
                        .help(format!(
                            "restore the locked order: binary payloads (postcard) store fields \
                             by position. {help}"
                        )),
                    )
                    .event(event)
                    .version(*version),
                );
            }
            cx.findings.extend(findings);
        }

        for (i, enumeration) in file.schema.enums.iter().enumerate() {
            let Some(locked) = cx.matches.enums[fi][i].map(|li| &cx.baseline.enums[li]) else {
                continue;
            };
            let Some((event, version)) = used[fi].get(&enumeration.name.text) else {
                continue;
            };
            let name = &enumeration.name.text;
            let current: Vec<&str> = enumeration
                .variants
                .iter()
                .map(|v| v.text.as_str())
                .collect();
            let user = format!("locked v{version} of event `{event}` uses it");
            let mut findings = Vec::new();
            for variant in &locked.variants {
                if current.contains(&variant.as_str()) {
                    continue;
                }
                findings.push(
                    cx.at(
                        fi,
                        Diagnostic::error(
                            "enum_variant_removed",
                            format!("variant `{variant}` was removed from enum `{name}`; {user}"),
                        )
                        .at(enumeration.name.span)
                        .label(format!("`{variant}` is missing"))
                        .help(format!(
                            "restore \"{variant}\" in `variants`: stored events may hold it \
                             (add new variants at the end instead)"
                        )),
                    )
                    .event(event)
                    .version(*version)
                    .field(variant),
                );
            }
            if findings.is_empty() {
                let moved = locked
                    .variants
                    .iter()
                    .zip(&enumeration.variants)
                    .find(|(locked, now)| **locked != now.text);
                if let Some((expected, now)) = moved {
                    findings.push(
                        cx.at(
                            fi,
                            Diagnostic::error(
                                "type_modified",
                                format!(
                                    "enum `{name}` changed: variant `{}` stands where `{expected}` \
                                     was locked; {user}",
                                    now.text
                                ),
                            )
                            .at(now.span)
                            .label(format!("locked: `{expected}`"))
                            .help(format!(
                                "keep the locked variants in their order ({}) and add new ones \
                                 at the end: binary payloads (postcard) store a variant by its \
                                 position",
                                list(&locked.variants)
                            )),
                        )
                        .event(event)
                        .version(*version)
                        .field(&now.text),
                    );
                }
            }
            cx.findings.extend(findings);
        }
    }
}
