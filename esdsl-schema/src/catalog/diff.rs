//! What changed between two consecutive versions of an event, and how the older is upcast.

use crate::model::{Conversion, Event, Field, FieldSource, StepKind, Value, Version};

/// How version `n` is built from version `n - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upcast {
    /// Generated from the schema.
    Automatic,
    /// Listed in `manual_upcasts`: written by hand in Rust.
    Manual,
    /// Neither: `cargo esdsl check` reports why (the catalog still shows the versions).
    Missing,
}

/// One field's change between two versions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change<'a> {
    /// New in the newer version, given this value when older events are upcast.
    Added { field: &'a Field, from: Added<'a> },
    /// In the older version only.
    Removed { field: &'a Field },
    /// Takes its value from a field of another name (maybe converted too).
    Renamed {
        field: &'a Field,
        from: &'a Field,
        conversion: Option<&'a Conversion>,
    },
    /// The same name, converted to a wider type.
    Widened {
        field: &'a Field,
        from: &'a Field,
        conversion: &'a Conversion,
    },
    /// The same name with another type, converted by the hand-written step.
    Retyped { field: &'a Field, from: &'a Field },
}

/// Where an added field's value comes from for older events.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Added<'a> {
    /// The declared default.
    Default(&'a Value),
    /// `None`: the field is optional.
    None,
    /// The hand-written step decides.
    Manual,
}

/// The changes from `older` to `newer` and the kind of upcast, fields in the newer version's
/// order, then the removed ones in the older's.
pub(crate) fn between<'a>(
    event: &'a Event,
    older: &'a Version,
    newer: &'a Version,
) -> (Upcast, Vec<Change<'a>>) {
    let step = event.steps.iter().find(|s| s.to == newer.number);
    match step.map(|s| &s.kind) {
        Some(StepKind::Automatic(sources)) => (Upcast::Automatic, automatic(older, newer, sources)),
        Some(StepKind::Manual) => (Upcast::Manual, by_name(older, newer)),
        None if event.manual_upcasts.contains(&newer.number) => {
            (Upcast::Manual, by_name(older, newer))
        }
        None => (Upcast::Missing, by_name(older, newer)),
    }
}

fn automatic<'a>(
    older: &'a Version,
    newer: &'a Version,
    sources: &'a [FieldSource],
) -> Vec<Change<'a>> {
    let mut changes = Vec::new();
    let mut used = Vec::new();
    for (field, source) in newer.fields.iter().zip(sources) {
        match source {
            FieldSource::Previous {
                field: name,
                conversion,
            } => {
                used.push(name.as_str());
                let Some(from) = older.field(name) else {
                    continue;
                };
                let converted = (*conversion != Conversion::Identity).then_some(conversion);
                if from.name.text != field.name.text {
                    changes.push(Change::Renamed {
                        field,
                        from,
                        conversion: converted,
                    });
                } else if let Some(conversion) = converted {
                    changes.push(Change::Widened {
                        field,
                        from,
                        conversion,
                    });
                }
            }
            FieldSource::Default(value) => changes.push(Change::Added {
                field,
                from: Added::Default(value),
            }),
            FieldSource::None => changes.push(Change::Added {
                field,
                from: Added::None,
            }),
        }
    }
    for field in &older.fields {
        if !used.contains(&field.name.text.as_str()) {
            changes.push(Change::Removed { field });
        }
    }
    changes
}

fn by_name<'a>(older: &'a Version, newer: &'a Version) -> Vec<Change<'a>> {
    let mut changes = Vec::new();
    for field in &newer.fields {
        match older.field(&field.name.text) {
            Some(from) if from.ty != field.ty => changes.push(Change::Retyped { field, from }),
            Some(_) => {}
            None => changes.push(Change::Added {
                field,
                from: Added::Manual,
            }),
        }
    }
    for field in &older.fields {
        if newer.field(&field.name.text).is_none() {
            changes.push(Change::Removed { field });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::{Added, Change, Upcast, between};

    fn names(changes: &[Change<'_>]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Added { field, from } => format!(
                    "+{} {}",
                    field.name,
                    match from {
                        Added::Default(_) => "default",
                        Added::None => "none",
                        Added::Manual => "manual",
                    }
                ),
                Change::Removed { field } => format!("-{}", field.name),
                Change::Renamed { field, from, .. } => format!("{}->{}", from.name, field.name),
                Change::Widened { field, from, .. } => {
                    format!("{} {}->{}", field.name, from.ty, field.ty)
                }
                Change::Retyped { field, from } => {
                    format!("{} {}=>{}", field.name, from.ty, field.ty)
                }
            })
            .collect()
    }

    #[test]
    fn automatic_and_manual_steps_name_every_change() {
        let file = crate::SchemaFile::parse(
            "t.toml",
            "t.toml",
            r#"
            [aggregates.A]
            [events.E]
            aggregate = "A"
            manual_upcasts = [3]
            [events.E.v1]
            a = "i32"
            title = "string"
            gone = "bool"
            [events.E.v2]
            a = "i64"
            name = { type = "string", renamed_from = "title" }
            memo = "option<string>"
            flag = { type = "bool", default = true }
            [events.E.v3]
            a = "string"
            name = "string"
            extra = "u32"
            [events.E.v4]
            a = "string"
            "#,
        )
        .expect("valid");
        let event = &file.schema.events[0];
        let v = |n: usize| &event.versions[n];
        let (upcast, changes) = between(event, v(0), v(1));
        assert_eq!(upcast, Upcast::Automatic);
        assert_eq!(
            names(&changes),
            [
                "a i32->i64",
                "title->name",
                "+memo none",
                "+flag default",
                "-gone"
            ]
        );
        let (upcast, changes) = between(event, v(1), v(2));
        assert_eq!(upcast, Upcast::Manual);
        assert_eq!(
            names(&changes),
            ["a i64=>string", "+extra manual", "-memo", "-flag"]
        );
        let (upcast, changes) = between(event, v(2), v(3));
        assert_eq!(upcast, Upcast::Automatic);
        assert_eq!(names(&changes), ["-name", "-extra"]);
    }
}
