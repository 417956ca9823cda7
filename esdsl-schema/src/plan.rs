//! Upcast step planning: where each field of a newer version takes its value from the version
//! before, or why it cannot without a hand-written step. Validation and the evolution check
//! both plan with it.

use crate::diag::Span;
use crate::model::{Conversion, FieldSource, Type, Version};

/// Why one field blocks an automatic step, and the fix short of a manual step.
pub(crate) struct Blocker {
    /// The field of the newer version that blocks the step.
    pub(crate) field: String,
    pub(crate) kind: BlockerKind,
    pub(crate) span: Span,
    pub(crate) why: String,
    /// A fix that keeps the step automatic, ending in "; or " (empty when there is none).
    pub(crate) fix: String,
}

/// What keeps a field from being filled automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockerKind {
    /// Its type changed to one the old type does not widen to.
    TypeChange,
    /// It is new, required and has no default.
    NewRequired,
    /// Its `renamed_from` names no field of the previous version.
    NoSource,
}

/// Plans an automatic step, or says for each field why it cannot be automatic.
pub(crate) fn plan_step(
    previous: &Version,
    next: &Version,
) -> Result<Vec<FieldSource>, Vec<Blocker>> {
    let mut sources = Vec::new();
    let mut blockers = Vec::new();
    for field in &next.fields {
        let source_name = field.renamed_from.as_ref().map_or(&field.name, |r| r);
        if let Some(source) = previous.field(&source_name.text) {
            match Conversion::between(&source.ty, &field.ty) {
                Some(conversion) => sources.push(FieldSource::Previous {
                    field: source.name.text.clone(),
                    conversion,
                }),
                None => blockers.push(Blocker {
                    field: field.name.text.clone(),
                    kind: BlockerKind::TypeChange,
                    span: field.ty_span,
                    why: format!(
                        "field `{}` changes type from `{}` to `{}`, which is not a widening",
                        field.name, source.ty, field.ty
                    ),
                    fix: "keep a type the old one widens to (see the widening table); or ".into(),
                }),
            }
        } else if field.renamed_from.is_some() {
            // Reported as `unknown_rename_source`; the step is not reported again.
            blockers.push(Blocker {
                field: field.name.text.clone(),
                kind: BlockerKind::NoSource,
                span: field.name.span,
                why: format!("field `{}` has no source", field.name),
                fix: String::new(),
            });
        } else if let Some(default) = &field.default {
            sources.push(FieldSource::Default(default.clone()));
        } else if matches!(field.ty, Type::Option(_)) {
            sources.push(FieldSource::None);
        } else {
            blockers.push(Blocker {
                field: field.name.text.clone(),
                kind: BlockerKind::NewRequired,
                span: field.name.span,
                why: format!(
                    "field `{}` is new in v{}, required and has no default",
                    field.name, next.number
                ),
                fix: "give it a `default`, make it an `option<..>` or name the field it comes \
                      from with `renamed_from`; or "
                    .into(),
            });
        }
    }
    if blockers.is_empty() {
        Ok(sources)
    } else {
        Err(blockers)
    }
}
