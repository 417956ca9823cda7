//! Fields: a field's name, type and default, and a `renamed_from` that must name a field of
//! the version before.

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, did_you_mean, one_edit_away};
use crate::model::{Field, Name, Type, Value, Version};
use crate::parse::{
    MAX_TYPE_DEPTH, RawField, RawValue, RawValueKind, TypeExpr, TypeExprError, parse_type_expr,
};

use super::{Validator, list};

/// The generic types' heads.
const GENERICS: [&str; 3] = ["option", "list", "map"];

impl Validator<'_> {
    pub(super) fn record_field(&mut self, record: &Name, mut raw: RawField) -> Option<Field> {
        let default = raw.default.take().map(|d| ("default", d.span));
        let renamed = raw.renamed_from.take().map(|r| ("renamed_from", r.span));
        for (key, at) in default.into_iter().chain(renamed) {
            self.diags.push(
                Diagnostic::error(
                    "unknown_key",
                    format!("`{key}` has no meaning in type `{record}`"),
                )
                .at(at)
                .label("not allowed here")
                .help(format!(
                    "`{key}` belongs on event fields; record types have no versions"
                )),
            );
        }
        self.field(raw, None)
    }

    /// Checks a field's name, type and default; `previous` is the version before, if any.
    pub(super) fn field(&mut self, raw: RawField, previous: Option<&Version>) -> Option<Field> {
        self.field_name(&raw.name);
        let ty_name = raw.ty?;
        let ty = self.parse_type(&raw.name, &ty_name)?;
        let default = raw.default.and_then(|d| self.default(&raw.name, &ty, &d));
        if let Some(source) = &raw.renamed_from {
            match previous {
                None => self.diags.push(
                    Diagnostic::error(
                        "unknown_rename_source",
                        format!(
                            "field `{}` is `renamed_from` `{}` but there is no previous version",
                            raw.name, source.text
                        ),
                    )
                    .at(source.span)
                    .label("nothing to rename from")
                    .help("remove `renamed_from` from the first version"),
                ),
                Some(prev) if prev.field(&source.text).is_none() => {
                    let near = did_you_mean(
                        &source.text,
                        prev.fields.iter().map(|f| f.name.text.as_str()),
                    );
                    let help = match near {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!(
                            "`renamed_from` names a field of v{}: {}",
                            prev.number,
                            list(prev.fields.iter().map(|f| f.name.text.as_str()))
                        ),
                    };
                    self.diags.push(
                        Diagnostic::error(
                            "unknown_rename_source",
                            format!(
                                "field `{}` is `renamed_from` `{}`, which is not a field of v{}",
                                raw.name, source.text, prev.number
                            ),
                        )
                        .at(source.span)
                        .label("no such field")
                        .help(help),
                    );
                }
                Some(_) => {}
            }
        }
        Some(Field {
            name: raw.name,
            ty,
            ty_span: ty_name.span,
            default,
            renamed_from: raw.renamed_from,
            doc: raw.doc,
        })
    }

    /// The type written for `field`, resolved, or `None` when it is reported as invalid.
    fn parse_type(&mut self, field: &Name, written: &Name) -> Option<Type> {
        match parse_type_expr(&written.text) {
            Ok(expr) => self.resolve(&expr, written),
            Err(TypeExprError::Invalid(problem)) => {
                self.diags.push(
                    Diagnostic::error(
                        "invalid_type",
                        format!("`{}` is not a valid type: {problem}", written.text),
                    )
                    .at(written.span)
                    .label("invalid type")
                    .help("write a type like `i64`, `option<string>`, `list<Address>`"),
                );
                None
            }
            Err(TypeExprError::TooDeep) => {
                self.diags.push(
                    Diagnostic::error(
                        "type_too_deep",
                        format!(
                            "the type of field `{field}` nests generic types more than \
                             {MAX_TYPE_DEPTH} deep"
                        ),
                    )
                    .at(written.span)
                    .label("nested too deeply")
                    .help(format!(
                        "declare a record type in `[types.*]` for an inner part and use it \
                         here: a type nests at most {MAX_TYPE_DEPTH} `option`, `list` and `map` \
                         types"
                    )),
                );
                None
            }
        }
    }

    /// The model type of an expression: its name first, then each generic around it, inner
    /// first; the first unknown name is reported.
    fn resolve(&mut self, expr: &TypeExpr, written: &Name) -> Option<Type> {
        let mut ty = self.resolve_name(&expr.name, written)?;
        for head in expr.heads.iter().rev() {
            let inner = Box::new(ty);
            ty = match head.as_str() {
                "option" => Type::Option(inner),
                "list" => Type::List(inner),
                "map" => Type::Map(inner),
                other => {
                    let near = did_you_mean(other, GENERICS);
                    self.unknown_type(other, written, near, true);
                    return None;
                }
            };
        }
        Some(ty)
    }

    /// A scalar, record or enum by name.
    fn resolve_name(&mut self, name: &str, written: &Name) -> Option<Type> {
        if let Some((_, ty)) = Type::SCALARS.iter().find(|(n, _)| *n == name) {
            return Some(ty.clone());
        }
        if self.records.contains(name) {
            return Some(Type::Record(name.to_owned()));
        }
        if self.enums.contains_key(name) {
            return Some(Type::Enum(name.to_owned()));
        }
        let near = match self.near_types.get(name) {
            Some(near) => near.clone(),
            None => {
                let near = self.near_type(name);
                self.near_types.insert(name.to_owned(), near.clone());
                near
            }
        };
        self.unknown_type(name, written, near.as_deref(), false);
        None
    }

    /// The declared or scalar type name closest to an unknown one, if any is close enough.
    fn near_type(&self, name: &str) -> Option<String> {
        let mut candidates: Vec<&str> = Type::SCALARS.iter().map(|(n, _)| *n).collect();
        candidates.extend(GENERICS);
        candidates.extend(self.records.iter().map(String::as_str));
        candidates.extend(self.enums.keys().map(String::as_str));
        // Scalar names are short: `u46` is not similar enough to `u64` by score, but one
        // transposition away.
        did_you_mean(name, candidates.iter().copied())
            .or_else(|| one_edit_away(name, candidates.iter().copied()))
            .map(str::to_owned)
    }

    fn unknown_type(&mut self, name: &str, written: &Name, near: Option<&str>, generic: bool) {
        let help = match near {
            Some(near) => format!("did you mean `{near}`?"),
            None if generic => "the generic types are `option<T>`, `list<T>` and `map<T>`".into(),
            None => "use a scalar type (`string`, `i64`, `bool`, ...) or declare it in \
                     `[types.*]` or `[enums.*]`"
                .into(),
        };
        self.diags.push(
            Diagnostic::error("unknown_type", format!("unknown type `{name}`"))
                .at(written.span)
                .label("unknown type")
                .help(help),
        );
    }

    fn default(&mut self, field: &Name, ty: &Type, raw: &RawValue) -> Option<Value> {
        match self.value(ty, raw) {
            Ok(value) => Some(value),
            Err(problem) => {
                self.diags.push(
                    Diagnostic::error(
                        "invalid_default",
                        format!("default of field `{field}` does not fit type `{ty}`: {problem}"),
                    )
                    .at(raw.span)
                    .label(format!("expected a value of type `{ty}`"))
                    .help(default_hint(ty, &self.enums)),
                );
                None
            }
        }
    }

    /// Checks a TOML value against a type, returning why it does not fit.
    fn value(&self, ty: &Type, raw: &RawValue) -> Result<Value, String> {
        let found = || format!("found {}", raw.kind.describe());
        match (ty, &raw.kind) {
            (Type::Bool, RawValueKind::Bool(b)) => Ok(Value::Bool(*b)),
            (Type::I32 | Type::I64 | Type::U32 | Type::U64, RawValueKind::Int(n)) => {
                let (min, max) = match ty {
                    Type::I32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
                    Type::I64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
                    Type::U32 => (0, i128::from(u32::MAX)),
                    _ => (0, i128::from(u64::MAX)),
                };
                if (min..=max).contains(n) {
                    Ok(Value::Int(*n))
                } else {
                    Err(format!("{n} is out of range ({min} to {max})"))
                }
            }
            (Type::F64, RawValueKind::Float(f)) => Ok(Value::Float(*f)),
            (Type::F64, RawValueKind::Int(n)) => Ok(Value::Float(*n as f64)),
            (Type::String, RawValueKind::String(s)) => Ok(Value::String(s.clone())),
            (Type::Bytes, RawValueKind::Array(items)) => items
                .iter()
                .map(|item| match item.kind {
                    RawValueKind::Int(n) => {
                        u8::try_from(n).map_err(|_| format!("byte {n} is out of range (0 to 255)"))
                    }
                    _ => Err(format!(
                        "bytes are integers 0 to 255, found {}",
                        item.kind.describe()
                    )),
                })
                .collect::<Result<Vec<u8>, String>>()
                .map(Value::Bytes),
            (Type::Uuid, RawValueKind::String(s)) => uuid::Uuid::parse_str(s)
                .map(Value::Uuid)
                .map_err(|e| format!("`{s}` is not a UUID ({e})")),
            (Type::Timestamp, RawValueKind::String(s) | RawValueKind::Datetime(s)) => {
                chrono::DateTime::parse_from_rfc3339(s)
                    .map(|t| Value::Timestamp {
                        secs: t.timestamp(),
                        nanos: t.timestamp_subsec_nanos(),
                    })
                    .map_err(|e| format!("`{s}` is not an RFC 3339 timestamp with offset ({e})"))
            }
            (Type::Option(inner), _) => Ok(Value::Some(Box::new(self.value(inner, raw)?))),
            (Type::List(inner), RawValueKind::Array(items)) => items
                .iter()
                .map(|item| self.value(inner, item))
                .collect::<Result<_, _>>()
                .map(Value::List),
            (Type::Map(inner), RawValueKind::Table(entries)) => {
                let mut map = entries
                    .iter()
                    .map(|(k, v)| Ok((k.text.clone(), self.value(inner, v)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                map.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Value::Map(map))
            }
            (Type::Enum(name), RawValueKind::String(s)) => {
                let variants = self.enums.get(name).map(Vec::as_slice).unwrap_or_default();
                if variants.iter().any(|v| v == s) {
                    Ok(Value::Variant(s.clone()))
                } else {
                    let near = did_you_mean(s, variants.iter().map(String::as_str));
                    Err(match near {
                        Some(near) => {
                            format!("`{s}` is not a variant of `{name}` (did you mean `{near}`?)")
                        }
                        None => format!("`{s}` is not a variant of `{name}`"),
                    })
                }
            }
            (Type::Record(name), _) => Err(format!("record type `{name}` has no literal defaults")),
            (_, RawValueKind::Invalid(text)) => {
                Err(format!("`{text}` is not a number Rust can hold"))
            }
            _ => Err(found()),
        }
    }
}

fn default_hint(ty: &Type, enums: &BTreeMap<String, Vec<String>>) -> String {
    match ty {
        Type::Bool => "write `true` or `false`".into(),
        Type::I32 | Type::I64 | Type::U32 | Type::U64 => "write an integer in range".into(),
        Type::F64 => "write a number such as `0.0`".into(),
        Type::String => "write a quoted string".into(),
        Type::Bytes => "write an array of integers 0 to 255, such as `[0, 255]`".into(),
        Type::Uuid => "write a quoted UUID".into(),
        Type::Timestamp => "write an RFC 3339 timestamp such as `1970-01-01T00:00:00Z`".into(),
        Type::Option(inner) => default_hint(inner, enums),
        Type::List(_) => "write an array of elements, such as `[]`".into(),
        Type::Map(_) => "write an inline table, such as `{}`".into(),
        Type::Record(_) => {
            "remove the default and declare the field `option<..>`: old events then read `None`"
                .into()
        }
        Type::Enum(name) => format!(
            "write one of the variants of `{name}`: {}",
            list(enums.get(name).into_iter().flatten().map(String::as_str))
        ),
    }
}
