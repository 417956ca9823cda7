//! Stage 1: TOML text to raw, spanned structs.
//!
//! This stage knows the shape of a schema file (which tables and keys exist and what kind of
//! value each holds) and nothing of what the values mean; `validate` does that. Every problem is
//! collected; parsing never stops at the first.

mod types;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::compat::RawCompatibility;
use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::model::Name;

pub use types::MAX_TYPE_DEPTH;
pub(crate) use types::{TypeExpr, TypeExprError, parse_type_expr};

/// The keys an event table may hold besides its version tables.
pub(crate) const EVENT_KEYS: [&str; 6] = [
    "aggregate",
    "doc",
    "renamed_from",
    "retired",
    "manual_upcasts",
    "compatibility",
];
const TOP_KEYS: [&str; 5] = ["aggregates", "events", "types", "enums", "compatibility"];
const COMPATIBILITY_KEYS: [&str; 2] = ["mode", "codecs"];
const AGGREGATE_KEYS: [&str; 2] = ["id", "doc"];
const FIELD_KEYS: [&str; 4] = ["type", "default", "renamed_from", "doc"];
const ENUM_KEYS: [&str; 2] = ["variants", "doc"];

#[derive(Debug, Default)]
pub(crate) struct RawSchema {
    pub(crate) aggregates: Vec<RawAggregate>,
    pub(crate) events: Vec<RawEvent>,
    pub(crate) types: Vec<RawRecord>,
    pub(crate) enums: Vec<RawEnum>,
    /// The file's default `compatibility`.
    pub(crate) compatibility: Option<RawCompatibility>,
}

#[derive(Debug)]
pub(crate) struct RawAggregate {
    pub(crate) name: Name,
    pub(crate) id: Option<Name>,
    pub(crate) doc: Option<String>,
}

#[derive(Debug)]
pub(crate) struct RawEvent {
    pub(crate) name: Name,
    pub(crate) aggregate: Option<Name>,
    pub(crate) doc: Option<String>,
    pub(crate) renamed_from: Vec<Name>,
    pub(crate) retired: bool,
    pub(crate) manual_upcasts: Vec<(i64, Span)>,
    pub(crate) compatibility: Option<RawCompatibility>,
    pub(crate) versions: Vec<RawVersion>,
}

#[derive(Debug)]
pub(crate) struct RawVersion {
    pub(crate) number: u32,
    pub(crate) key: Name,
    pub(crate) fields: Vec<RawField>,
}

#[derive(Debug)]
pub(crate) struct RawField {
    pub(crate) name: Name,
    /// The type as written, located at the string.
    pub(crate) ty: Option<Name>,
    pub(crate) default: Option<RawValue>,
    pub(crate) renamed_from: Option<Name>,
    pub(crate) doc: Option<String>,
}

#[derive(Debug)]
pub(crate) struct RawRecord {
    pub(crate) name: Name,
    pub(crate) fields: Vec<RawField>,
}

#[derive(Debug)]
pub(crate) struct RawEnum {
    pub(crate) name: Name,
    pub(crate) doc: Option<String>,
    /// `None` when the key is missing (reported here).
    pub(crate) variants: Option<Vec<Name>>,
}

/// A TOML value with its location, for defaults.
#[derive(Debug, Clone)]
pub(crate) struct RawValue {
    pub(crate) span: Span,
    pub(crate) kind: RawValueKind,
}

#[derive(Debug, Clone)]
pub(crate) enum RawValueKind {
    Bool(bool),
    Int(i128),
    Float(f64),
    String(String),
    Datetime(String),
    Array(Vec<RawValue>),
    Table(Vec<(Name, RawValue)>),
    /// A number TOML accepted but Rust cannot hold.
    Invalid(String),
}

impl RawValueKind {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            RawValueKind::Bool(_) => "a boolean",
            RawValueKind::Int(_) => "an integer",
            RawValueKind::Float(_) => "a float",
            RawValueKind::String(_) => "a string",
            RawValueKind::Datetime(_) => "a datetime",
            RawValueKind::Array(_) => "an array",
            RawValueKind::Table(_) => "a table",
            RawValueKind::Invalid(_) => "an invalid number",
        }
    }
}

type Entry<'i> = (
    &'i Spanned<toml::de::DeString<'i>>,
    &'i Spanned<DeValue<'i>>,
);

/// Parses a schema's text into raw structs, collecting every problem.
pub(crate) fn parse(source: &str, diags: &mut Vec<Diagnostic>) -> RawSchema {
    let (document, errors) = DeTable::parse_recoverable(source);
    for error in &errors {
        let mut diagnostic = Diagnostic::error("invalid_toml", error.message().trim().to_owned())
            .help("the schema must be valid TOML (https://toml.io/en/v1.0.0)");
        if let Some(span) = error.span() {
            diagnostic = diagnostic.at(span);
        }
        diags.push(diagnostic);
    }
    if !errors.is_empty() {
        // The recovered tree may be missing or misplacing entries; report syntax first.
        return RawSchema::default();
    }
    let mut parser = Parser { diags };
    let mut raw = RawSchema::default();
    for (key, value) in document.get_ref().iter() {
        match key.get_ref().as_ref() {
            "aggregates" => {
                for (name, table) in parser.tables(value, "aggregate") {
                    raw.aggregates.push(parser.aggregate(name, table));
                }
            }
            "events" => {
                for (name, table) in parser.tables(value, "event") {
                    raw.events.push(parser.event(name, table));
                }
            }
            "types" => {
                for (name, table) in parser.tables(value, "type") {
                    let fields = parser.fields(table);
                    raw.types.push(RawRecord { name, fields });
                }
            }
            "enums" => {
                for (name, table) in parser.tables(value, "enum") {
                    raw.enums.push(parser.enumeration(name, table));
                }
            }
            "compatibility" => raw.compatibility = parser.compatibility(value),
            _ => parser.unknown_key(key, &TOP_KEYS, "at the top level of a schema"),
        }
    }
    raw
}

struct Parser<'d> {
    diags: &'d mut Vec<Diagnostic>,
}

impl Parser<'_> {
    /// The named sub-tables of a section such as `[events]`.
    fn tables<'i>(
        &mut self,
        section: &'i Spanned<DeValue<'i>>,
        what: &str,
    ) -> Vec<(Name, &'i DeTable<'i>)> {
        let Some(table) = self.table(section, &format!("the {what} section")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in table.iter() {
            let name = name_of(key);
            if let Some(inner) = self.table(value, &format!("{what} `{}`", name.text)) {
                out.push((name, inner));
            }
        }
        out
    }

    fn aggregate(&mut self, name: Name, table: &DeTable<'_>) -> RawAggregate {
        let mut raw = RawAggregate {
            name,
            id: None,
            doc: None,
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "id" => raw.id = self.string(value, "`id`"),
                "doc" => raw.doc = self.string(value, "`doc`").map(|n| n.text),
                _ => self.unknown_key(
                    key,
                    &AGGREGATE_KEYS,
                    &format!("in aggregate `{}`", raw.name.text),
                ),
            }
        }
        raw
    }

    fn event(&mut self, name: Name, table: &DeTable<'_>) -> RawEvent {
        let mut raw = RawEvent {
            name,
            aggregate: None,
            doc: None,
            renamed_from: Vec::new(),
            retired: false,
            manual_upcasts: Vec::new(),
            compatibility: None,
            versions: Vec::new(),
        };
        for (key, value) in table.iter() {
            let key_text: &str = key.get_ref().as_ref();
            match key_text {
                "aggregate" => raw.aggregate = self.string(value, "`aggregate`"),
                "doc" => raw.doc = self.string(value, "`doc`").map(|n| n.text),
                "renamed_from" => raw.renamed_from = self.strings(value, "`renamed_from`"),
                "retired" => match value.get_ref() {
                    DeValue::Boolean(b) => raw.retired = *b,
                    other => self.wrong_kind(value, other, "`retired`", "a boolean"),
                },
                "manual_upcasts" => raw.manual_upcasts = self.integers(value, "`manual_upcasts`"),
                "compatibility" => raw.compatibility = self.compatibility(value),
                _ => {
                    if let Some(number) = version_number(key_text) {
                        let key = name_of(key);
                        let context = format!("version `{}` of event `{}`", key.text, raw.name);
                        if let Some(fields) = self.table(value, &context) {
                            let fields = self.fields(fields);
                            raw.versions.push(RawVersion {
                                number,
                                key,
                                fields,
                            });
                        }
                    } else if looks_like_version(key_text) {
                        self.diags.push(
                            Diagnostic::error(
                                "invalid_version",
                                format!("`{key_text}` is not a valid version key"),
                            )
                            .at(key.span())
                            .label("not a version")
                            .help("versions are written `v1`, `v2`, ... without leading zeros"),
                        );
                    } else {
                        let mut expected: Vec<&str> = EVENT_KEYS.to_vec();
                        expected.push("v1");
                        self.unknown_key(key, &expected, &format!("in event `{}`", raw.name));
                    }
                }
            }
        }
        raw
    }

    fn enumeration(&mut self, name: Name, table: &DeTable<'_>) -> RawEnum {
        let mut raw = RawEnum {
            name,
            doc: None,
            variants: None,
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "variants" => raw.variants = Some(self.strings(value, "`variants`")),
                "doc" => raw.doc = self.string(value, "`doc`").map(|n| n.text),
                _ => self.unknown_key(key, &ENUM_KEYS, &format!("in enum `{}`", raw.name)),
            }
        }
        if raw.variants.is_none() {
            self.diags.push(
                Diagnostic::error(
                    "missing_key",
                    format!("enum `{}` has no `variants`", raw.name),
                )
                .at(raw.name.span)
                .help("add `variants = [\"first\", \"second\"]`"),
            );
        }
        raw
    }

    /// The fields of a version or record table, in source order.
    fn fields(&mut self, table: &DeTable<'_>) -> Vec<RawField> {
        table.iter().filter_map(|entry| self.field(entry)).collect()
    }

    fn field(&mut self, (key, value): Entry<'_>) -> Option<RawField> {
        let name = name_of(key);
        let mut field = RawField {
            name,
            ty: None,
            default: None,
            renamed_from: None,
            doc: None,
        };
        match value.get_ref() {
            DeValue::String(text) => {
                field.ty = Some(Name::new(text.as_ref(), value.span()));
            }
            DeValue::Table(table) => {
                for (key, value) in table.iter() {
                    match key.get_ref().as_ref() {
                        "type" => field.ty = self.string(value, "`type`"),
                        "default" => field.default = Some(raw_value(value)),
                        "renamed_from" => field.renamed_from = self.string(value, "`renamed_from`"),
                        "doc" => field.doc = self.string(value, "`doc`").map(|n| n.text),
                        _ => self.unknown_key(
                            key,
                            &FIELD_KEYS,
                            &format!("in field `{}`", field.name),
                        ),
                    }
                }
                if field.ty.is_none() {
                    self.diags.push(
                        Diagnostic::error(
                            "missing_key",
                            format!("field `{}` has no `type`", field.name),
                        )
                        .at(field.name.span)
                        .help("write `{ type = \"string\", ... }` or just `name = \"string\"`"),
                    );
                    return None;
                }
            }
            other => {
                self.wrong_kind(
                    value,
                    other,
                    &format!("field `{}`", field.name),
                    "a type string or an inline table with `type`",
                );
                return None;
            }
        }
        Some(field)
    }

    fn table<'i>(
        &mut self,
        value: &'i Spanned<DeValue<'i>>,
        what: &str,
    ) -> Option<&'i DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            other => {
                self.wrong_kind(value, other, what, "a table");
                None
            }
        }
    }

    fn string(&mut self, value: &Spanned<DeValue<'_>>, what: &str) -> Option<Name> {
        match value.get_ref() {
            DeValue::String(text) => Some(Name::new(text.as_ref(), value.span())),
            other => {
                self.wrong_kind(value, other, what, "a string");
                None
            }
        }
    }

    fn strings(&mut self, value: &Spanned<DeValue<'_>>, what: &str) -> Vec<Name> {
        match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| self.string(item, &format!("an element of {what}")))
                .collect(),
            other => {
                self.wrong_kind(value, other, what, "an array of strings");
                Vec::new()
            }
        }
    }

    /// `compatibility = "forward"` or `compatibility = { mode = "forward", codecs = ["json"] }`.
    fn compatibility(&mut self, value: &Spanned<DeValue<'_>>) -> Option<RawCompatibility> {
        let span = Span::new(value.span());
        match value.get_ref() {
            DeValue::String(text) => Some(RawCompatibility {
                span,
                mode: Some(Name::new(text.as_ref(), value.span())),
                codecs: None,
            }),
            DeValue::Table(table) => {
                let mut raw = RawCompatibility {
                    span,
                    mode: None,
                    codecs: None,
                };
                for (key, value) in table.iter() {
                    match key.get_ref().as_ref() {
                        "mode" => raw.mode = self.string(value, "`mode`"),
                        "codecs" => raw.codecs = Some(self.strings(value, "`codecs`")),
                        _ => self.unknown_key(key, &COMPATIBILITY_KEYS, "in `compatibility`"),
                    }
                }
                Some(raw)
            }
            other => {
                self.wrong_kind(
                    value,
                    other,
                    "`compatibility`",
                    "a mode name or a table of `mode` and `codecs`",
                );
                None
            }
        }
    }

    fn integers(&mut self, value: &Spanned<DeValue<'_>>, what: &str) -> Vec<(i64, Span)> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_kind(value, value.get_ref(), what, "an array of integers");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match raw_value(item).kind {
                RawValueKind::Int(n) if i64::try_from(n).is_ok() => {
                    out.push((n as i64, Span::new(item.span())));
                }
                _ => self.wrong_kind(
                    item,
                    item.get_ref(),
                    &format!("an element of {what}"),
                    "an integer",
                ),
            }
        }
        out
    }

    fn wrong_kind(
        &mut self,
        at: &Spanned<DeValue<'_>>,
        found: &DeValue<'_>,
        what: &str,
        expected: &str,
    ) {
        self.diags.push(
            Diagnostic::error(
                "invalid_value",
                format!("{what} must be {expected}, found {}", kind_name(found)),
            )
            .at(at.span())
            .label(format!("expected {expected}"))
            .help(format!("write {what} as {expected}")),
        );
    }

    fn unknown_key(
        &mut self,
        key: &Spanned<toml::de::DeString<'_>>,
        expected: &[&str],
        context: &str,
    ) {
        let text: &str = key.get_ref().as_ref();
        let help = match did_you_mean(text, expected.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "expected one of {}",
                expected
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.diags.push(
            Diagnostic::error("unknown_key", format!("unknown key `{text}` {context}"))
                .at(key.span())
                .label("unknown key")
                .help(help),
        );
    }
}

fn name_of(key: &Spanned<toml::de::DeString<'_>>) -> Name {
    Name::new(key.get_ref().as_ref(), key.span())
}

/// `v1`, `v2`, ...: a `v` and a number without leading zeros.
fn version_number(key: &str) -> Option<u32> {
    let digits = key.strip_prefix('v')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn looks_like_version(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let digits = lower.strip_prefix('v').unwrap_or(&lower);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn kind_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn raw_value(value: &Spanned<DeValue<'_>>) -> RawValue {
    let kind = match value.get_ref() {
        DeValue::Boolean(b) => RawValueKind::Bool(*b),
        DeValue::String(s) => RawValueKind::String(s.as_ref().to_owned()),
        DeValue::Integer(int) => {
            let digits = int.as_str().replace('_', "");
            let digits = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0o"))
                .or_else(|| digits.strip_prefix("0b"))
                .unwrap_or(&digits);
            match i128::from_str_radix(digits.trim_start_matches('+'), int.radix()) {
                Ok(n) => RawValueKind::Int(n),
                Err(_) => RawValueKind::Invalid(int.as_str().to_owned()),
            }
        }
        DeValue::Float(float) => match float.as_str().replace('_', "").parse::<f64>() {
            Ok(f) => RawValueKind::Float(f),
            Err(_) => RawValueKind::Invalid(float.as_str().to_owned()),
        },
        DeValue::Datetime(dt) => RawValueKind::Datetime(dt.to_string()),
        DeValue::Array(items) => RawValueKind::Array(items.iter().map(raw_value).collect()),
        DeValue::Table(table) => RawValueKind::Table(
            table
                .iter()
                .map(|(key, value)| (name_of(key), raw_value(value)))
                .collect(),
        ),
    };
    RawValue {
        span: Span::new(value.span()),
        kind,
    }
}

#[cfg(test)]
mod tests;
