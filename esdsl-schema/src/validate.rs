//! Stage 2: raw structs to the model, checking everything the parser could not: names, types,
//! defaults, versions and upcast steps. Every problem is collected.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use heck::ToUpperCamelCase;

use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::model::{
    Aggregate, Conversion, EnumType, Event, Field, FieldSource, IdType, Name, RecordType, Schema,
    Step, StepKind, Type, Value, Version,
};
use crate::parse::{RawEvent, RawField, RawSchema, RawValue, RawValueKind};

const KEYWORDS: [&str; 52] = [
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// What a declared top-level name is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Aggregate,
    Event,
    Record,
    Enum,
    Generated,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Aggregate => "aggregate",
            Kind::Event => "event",
            Kind::Record => "type",
            Kind::Enum => "enum",
            Kind::Generated => "generated item",
        }
    }
}

/// Whether validation reports upcast steps that can be neither generated nor are manual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steps {
    /// Report them as `upcast_missing` (generation needs every step).
    Report,
    /// Leave them out of `Event::steps` unreported: the evolution check reports them with rules
    /// that know which versions are locked.
    Defer,
}

pub(crate) fn validate(raw: RawSchema, diags: &mut Vec<Diagnostic>, steps: Steps) -> Schema {
    let mut v = Validator {
        diags,
        steps,
        records: raw.types.iter().map(|t| t.name.text.clone()).collect(),
        enums: BTreeMap::new(),
    };
    v.check_top_level_names(&raw);

    let aggregates = raw
        .aggregates
        .into_iter()
        .map(|a| {
            let id = match &a.id {
                None => IdType::Uuid,
                Some(id) => match IdType::ALL.iter().find(|t| t.as_str() == id.text) {
                    Some(t) => *t,
                    None => {
                        let near = did_you_mean(&id.text, IdType::ALL.map(IdType::as_str));
                        v.diags.push(
                            Diagnostic::error(
                                "unknown_type",
                                format!("`{}` is not an id type", id.text),
                            )
                            .at(id.span)
                            .label("unknown id type")
                            .help(match near {
                                Some(near) => format!("did you mean `{near}`?"),
                                None => "an id is one of `uuid`, `string`, `u64`, `i64`".into(),
                            }),
                        );
                        IdType::Uuid
                    }
                },
            };
            Aggregate {
                name: a.name,
                id,
                doc: a.doc,
            }
        })
        .collect::<Vec<_>>();

    let enums = raw
        .enums
        .into_iter()
        .map(|e| v.enumeration(e.name, e.doc, e.variants))
        .collect::<Vec<_>>();
    for e in &enums {
        let variants = e.variants.iter().map(|n| n.text.clone()).collect();
        v.enums.insert(e.name.text.clone(), variants);
    }

    let types = raw
        .types
        .into_iter()
        .map(|t| {
            let fields = t
                .fields
                .into_iter()
                .filter_map(|f| v.record_field(&t.name, f))
                .collect();
            RecordType {
                name: t.name,
                doc: None,
                fields,
            }
        })
        .collect::<Vec<_>>();
    v.check_recursion(&types);

    let aggregate_names: Vec<&str> = aggregates.iter().map(|a| a.name.text.as_str()).collect();
    let events = raw
        .events
        .into_iter()
        .map(|e| v.event(e, &aggregate_names))
        .collect::<Vec<_>>();
    v.check_event_names(&events);

    Schema {
        aggregates,
        events,
        types,
        enums,
    }
}

struct Validator<'d> {
    diags: &'d mut Vec<Diagnostic>,
    steps: Steps,
    records: BTreeSet<String>,
    /// Enum name to its stored variant names.
    enums: BTreeMap<String, Vec<String>>,
}

impl Validator<'_> {
    fn check_top_level_names(&mut self, raw: &RawSchema) {
        let mut declared: Vec<(&Name, Kind)> = Vec::new();
        declared.extend(raw.aggregates.iter().map(|a| (&a.name, Kind::Aggregate)));
        declared.extend(raw.events.iter().map(|e| (&e.name, Kind::Event)));
        declared.extend(raw.types.iter().map(|t| (&t.name, Kind::Record)));
        declared.extend(raw.enums.iter().map(|e| (&e.name, Kind::Enum)));
        let mut seen: HashMap<String, (Kind, Span)> = HashMap::new();
        for agg in &raw.aggregates {
            for suffix in ["Event", "Id"] {
                let generated = format!("{}{suffix}", agg.name.text);
                seen.insert(generated, (Kind::Generated, agg.name.span));
            }
        }
        for (name, kind) in declared {
            self.type_name(name, kind.as_str());
            if let Some((first_kind, _)) = seen.get(&name.text) {
                let message = if *first_kind == Kind::Generated {
                    format!(
                        "{} `{}` has the name of a generated item",
                        kind.as_str(),
                        name.text
                    )
                } else {
                    format!(
                        "{} `{}` is declared twice (also as {})",
                        kind.as_str(),
                        name.text,
                        first_kind.as_str()
                    )
                };
                let help = if *first_kind == Kind::Generated {
                    "each aggregate `X` generates `XEvent` and `XId`: choose another name"
                } else {
                    "aggregates, events, types and enums share one namespace: rename one of them"
                };
                self.diags.push(
                    Diagnostic::error("duplicate_name", message)
                        .at(name.span)
                        .label("name already taken")
                        .help(help),
                );
            } else {
                seen.insert(name.text.clone(), (kind, name.span));
            }
        }
    }

    /// Stored event names (current and former) must be unique across the schema.
    fn check_event_names(&mut self, events: &[Event]) {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for event in events {
            seen.insert(event.name.text.as_str(), event.name.text.as_str());
        }
        for event in events {
            for old in &event.renamed_from {
                if old.text == event.name.text {
                    self.diags.push(
                        Diagnostic::error(
                            "duplicate_name",
                            format!(
                                "event `{}` lists its own name in `renamed_from`",
                                event.name
                            ),
                        )
                        .at(old.span)
                        .label("its current name")
                        .help("`renamed_from` lists the names the event was stored under before"),
                    );
                } else if let Some(owner) = seen.get(old.text.as_str()) {
                    self.diags.push(
                        Diagnostic::error(
                            "duplicate_name",
                            format!(
                                "stored name `{}` of event `{}` is already used by event `{owner}`",
                                old.text, event.name
                            ),
                        )
                        .at(old.span)
                        .label("name already taken")
                        .help(
                            "a stored type name can decode as only one event: remove one of them",
                        ),
                    );
                } else {
                    seen.insert(old.text.as_str(), event.name.text.as_str());
                }
            }
        }
    }

    /// A type-like name: an identifier in UpperCamelCase that is not a keyword.
    fn type_name(&mut self, name: &Name, what: &str) {
        if let Some(problem) = identifier_problem(&name.text) {
            self.invalid_name(name, what, &problem, &name.text.to_upper_camel_case());
        } else if !is_upper_camel(&name.text) {
            self.invalid_name(
                name,
                what,
                "it is not in UpperCamelCase",
                &name.text.to_upper_camel_case(),
            );
        }
    }

    fn field_name(&mut self, name: &Name) {
        let snake = heck::ToSnakeCase::to_snake_case(name.text.as_str());
        if let Some(problem) = identifier_problem(&name.text) {
            let suggestion = if KEYWORDS.contains(&name.text.as_str()) {
                format!("{}_", name.text)
            } else {
                snake
            };
            self.invalid_name(name, "field", &problem, &suggestion);
        } else if !is_snake(&name.text) {
            self.invalid_name(name, "field", "it is not in snake_case", &snake);
        }
    }

    fn invalid_name(&mut self, name: &Name, what: &str, problem: &str, suggestion: &str) {
        let help = if suggestion.is_empty() || identifier_problem(suggestion).is_some() {
            "use a Rust identifier that is not a keyword".to_owned()
        } else {
            format!("rename it, e.g. to `{suggestion}`")
        };
        self.diags.push(
            Diagnostic::error(
                "invalid_name",
                format!("{what} name `{}` is not usable: {problem}", name.text),
            )
            .at(name.span)
            .label("invalid name")
            .help(help),
        );
    }

    fn enumeration(
        &mut self,
        name: Name,
        doc: Option<String>,
        variants: Option<Vec<Name>>,
    ) -> EnumType {
        let missing = variants.is_none();
        let variants = variants.unwrap_or_default();
        if variants.is_empty() && !missing {
            self.diags.push(
                Diagnostic::error("empty_enum", format!("enum `{name}` has no variants"))
                    .at(name.span)
                    .help("list at least one variant in `variants`"),
            );
        }
        let mut rust_names: HashMap<String, &Name> = HashMap::new();
        for variant in &variants {
            let rust = variant.text.to_upper_camel_case();
            if let Some(problem) = identifier_problem(&rust) {
                self.diags.push(
                    Diagnostic::error(
                        "invalid_name",
                        format!(
                            "variant `{}` of enum `{name}` does not make a Rust identifier: \
                             as `{rust}`, {problem}",
                            variant.text
                        ),
                    )
                    .at(variant.span)
                    .label("invalid variant")
                    .help(
                        "a variant is stored as written and named in Rust in UpperCamelCase; \
                         start it with a letter and avoid keywords",
                    ),
                );
            } else if let Some(first) = rust_names.get(&rust) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate_name",
                        format!(
                            "variant `{}` of enum `{name}` clashes with `{}` (both become `{rust}`)",
                            variant.text, first.text
                        ),
                    )
                    .at(variant.span)
                    .label("duplicate variant")
                    .help("remove or rename one of them"),
                );
            } else {
                rust_names.insert(rust, variant);
            }
        }
        EnumType {
            name,
            doc,
            variants,
        }
    }

    fn record_field(&mut self, record: &Name, mut raw: RawField) -> Option<Field> {
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
    fn field(&mut self, raw: RawField, previous: Option<&Version>) -> Option<Field> {
        self.field_name(&raw.name);
        let ty_name = raw.ty?;
        let ty = self.parse_type(&ty_name)?;
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

    fn parse_type(&mut self, written: &Name) -> Option<Type> {
        match parse_type_expr(&written.text) {
            Ok(expr) => self.resolve(&expr, written),
            Err(problem) => {
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
        }
    }

    fn resolve(&mut self, expr: &TypeExpr, written: &Name) -> Option<Type> {
        match expr {
            TypeExpr::Generic(head, inner) => {
                let inner = Box::new(self.resolve(inner, written)?);
                match head.as_str() {
                    "option" => Some(Type::Option(inner)),
                    "list" => Some(Type::List(inner)),
                    "map" => Some(Type::Map(inner)),
                    other => {
                        let near = did_you_mean(other, ["option", "list", "map"]);
                        self.unknown_type(other, written, near, true);
                        None
                    }
                }
            }
            TypeExpr::Name(name) => {
                if let Some((_, ty)) = Type::SCALARS.iter().find(|(n, _)| n == name) {
                    Some(ty.clone())
                } else if self.records.contains(name) {
                    Some(Type::Record(name.clone()))
                } else if self.enums.contains_key(name) {
                    Some(Type::Enum(name.clone()))
                } else {
                    let mut candidates: Vec<&str> = Type::SCALARS.iter().map(|(n, _)| *n).collect();
                    candidates.extend(["option", "list", "map"]);
                    candidates.extend(self.records.iter().map(String::as_str));
                    candidates.extend(self.enums.keys().map(String::as_str));
                    let near = did_you_mean(name, candidates).map(str::to_owned);
                    self.unknown_type(name, written, near.as_deref(), false);
                    None
                }
            }
        }
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

    fn check_recursion(&mut self, types: &[RecordType]) {
        for record in types {
            let mut path = vec![record.name.text.as_str()];
            if self.reaches(types, record, &record.name.text, &mut path) {
                self.diags.push(
                    Diagnostic::error(
                        "recursive_type",
                        format!(
                            "type `{}` contains itself ({})",
                            record.name,
                            path.join(" -> ")
                        ),
                    )
                    .at(record.name.span)
                    .label("infinite size")
                    .help("break the cycle with a `list<T>` or `map<T>`"),
                );
            }
        }
    }

    /// Whether `record` holds `target` by value, directly or through other records.
    fn reaches<'t>(
        &self,
        types: &'t [RecordType],
        record: &'t RecordType,
        target: &str,
        path: &mut Vec<&'t str>,
    ) -> bool {
        for field in &record.fields {
            let mut ty = &field.ty;
            while let Type::Option(inner) = ty {
                ty = inner;
            }
            let Type::Record(name) = ty else { continue };
            if path.len() > types.len() {
                return false;
            }
            path.push(name.as_str());
            if name == target {
                return true;
            }
            if let Some(next) = types.iter().find(|t| &t.name.text == name)
                && self.reaches(types, next, target, path)
            {
                return true;
            }
            path.pop();
        }
        false
    }

    fn event(&mut self, raw: RawEvent, aggregates: &[&str]) -> Event {
        let aggregate = match raw.aggregate {
            Some(aggregate) => {
                if !aggregates.contains(&aggregate.text.as_str()) {
                    let near = did_you_mean(&aggregate.text, aggregates.iter().copied());
                    self.diags.push(
                        Diagnostic::error(
                            "unknown_aggregate",
                            format!(
                                "event `{}` belongs to unknown aggregate `{}`",
                                raw.name, aggregate.text
                            ),
                        )
                        .at(aggregate.span)
                        .label("no such aggregate")
                        .help(match near {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => format!(
                                "declare it with `[aggregates.{}]` or name one of: {}",
                                aggregate.text,
                                list(aggregates.iter().copied())
                            ),
                        }),
                    );
                }
                aggregate
            }
            None => {
                self.diags.push(
                    Diagnostic::error(
                        "missing_key",
                        format!("event `{}` has no `aggregate`", raw.name),
                    )
                    .at(raw.name.span)
                    .help("add `aggregate = \"Name\"` naming the aggregate it belongs to"),
                );
                Name::new("", raw.name.span)
            }
        };
        for old in &raw.renamed_from {
            if old.text.is_empty() {
                self.diags.push(
                    Diagnostic::error("invalid_name", "a stored event name cannot be empty")
                        .at(old.span)
                        .help("remove the empty name from `renamed_from`"),
                );
            }
        }

        let mut raw_versions = raw.versions;
        raw_versions.sort_by_key(|v| v.number);
        if raw_versions.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "version_gap",
                    format!("event `{}` has no versions", raw.name),
                )
                .at(raw.name.span)
                .label("no `v1` table")
                .help(format!(
                    "declare its first version with `[events.{}.v1]`",
                    raw.name
                )),
            );
        }
        let errors_before = self.diags.len();
        let mut versions: Vec<Version> = Vec::new();
        for (expected, version) in (1u32..).zip(raw_versions) {
            if version.number != expected {
                self.diags.push(
                    Diagnostic::error(
                        "version_gap",
                        format!(
                            "event `{}` skips from v{} to v{}",
                            raw.name,
                            expected - 1,
                            version.number
                        ),
                    )
                    .at(version.key.span)
                    .label(format!("expected `v{expected}` here"))
                    .help("versions start at 1 and are contiguous: rename this table or add the missing ones"),
                );
            }
            let previous = versions.last();
            let fields = version
                .fields
                .into_iter()
                .filter_map(|f| self.field(f, previous))
                .collect();
            versions.push(Version {
                number: version.number,
                fields,
                span: version.key.span,
            });
        }

        let newest = versions.last().map_or(0, |v| v.number);
        let mut manual_upcasts = BTreeSet::new();
        for (number, span) in raw.manual_upcasts {
            match u32::try_from(number) {
                Ok(n) if (2..=newest).contains(&n) => {
                    manual_upcasts.insert(n);
                }
                _ => self.diags.push(
                    Diagnostic::error(
                        "invalid_manual_upcast",
                        format!(
                            "event `{}` lists {number} in `manual_upcasts`, but has no step to v{number}",
                            raw.name
                        ),
                    )
                    .at(span)
                    .label("no such step")
                    .help(if newest >= 2 {
                        format!("list the version a step leads to: 2 to {newest}")
                    } else {
                        "an event with one version has no upcast steps".into()
                    }),
                ),
            }
        }

        let mut event = Event {
            name: raw.name,
            aggregate,
            doc: raw.doc,
            renamed_from: raw.renamed_from,
            retired: raw.retired,
            manual_upcasts,
            versions,
            steps: Vec::new(),
        };
        // A field with a bad type, default or rename source is reported already; the steps it
        // would block would only repeat that.
        let report_steps = self.diags.len() == errors_before;
        event.steps = self.steps(&event, report_steps);
        event
    }

    fn steps(&mut self, event: &Event, report: bool) -> Vec<Step> {
        let mut steps = Vec::new();
        for pair in event.versions.windows(2) {
            let [previous, next] = pair else { continue };
            let to = next.number;
            if event.manual_upcasts.contains(&to) {
                steps.push(Step {
                    to,
                    kind: StepKind::Manual,
                });
                continue;
            }
            match plan_step(previous, next) {
                Ok(sources) => steps.push(Step {
                    to,
                    kind: StepKind::Automatic(sources),
                }),
                Err(blockers) => {
                    if event.retired || !report || self.steps == Steps::Defer {
                        continue;
                    }
                    for Blocker { span, why, fix, .. } in blockers {
                        self.diags.push(
                            Diagnostic::error(
                                "upcast_missing",
                                format!(
                                    "event `{}` cannot be upcast from v{} to v{to} automatically: {why}",
                                    event.name, previous.number
                                ),
                            )
                            .at(span)
                            .label("needs a hand-written step")
                            .help(format!(
                                "{fix}add `manual_upcasts = [{to}]` and implement \
                                 `esdsl_runtime::Upcast<v{}::{name}>` for `v{to}::{name}`",
                                previous.number,
                                name = event.name
                            )),
                        );
                    }
                }
            }
        }
        steps
    }
}

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

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(|i| format!("`{i}`")).collect();
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

/// Why `text` is not a usable Rust identifier, if it is not.
fn identifier_problem(text: &str) -> Option<String> {
    let mut chars = text.chars();
    match chars.next() {
        None => return Some("it is empty".into()),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Some("it does not start with a letter or `_`".into());
        }
        _ => {}
    }
    if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("it holds characters other than ASCII letters, digits and `_`".into());
    }
    if text == "_" {
        return Some("`_` alone is not an identifier".into());
    }
    if KEYWORDS.contains(&text) {
        return Some("it is a Rust keyword".into());
    }
    None
}

/// Why `text` cannot name an aggregate, event, record or enum (as `invalid_name` says).
pub(crate) fn type_name_problem(text: &str) -> Option<String> {
    identifier_problem(text)
        .or_else(|| (!is_upper_camel(text)).then(|| "it is not in UpperCamelCase".to_owned()))
}

/// Why `text` cannot name a field (as `invalid_name` says).
pub(crate) fn field_name_problem(text: &str) -> Option<String> {
    identifier_problem(text)
        .or_else(|| (!is_snake(text)).then(|| "it is not in snake_case".to_owned()))
}

fn is_upper_camel(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_uppercase()) && !text.contains('_')
}

fn is_snake(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A type as written: a name, or a generic head with one argument.
#[derive(Debug, PartialEq)]
enum TypeExpr {
    Name(String),
    Generic(String, Box<TypeExpr>),
}

fn parse_type_expr(text: &str) -> Result<TypeExpr, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".into());
    }
    match text.find('<') {
        None => {
            if text.contains('>') {
                return Err("`>` without `<`".into());
            }
            if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err("a type name holds only letters, digits and `_`".into());
            }
            Ok(TypeExpr::Name(text.to_owned()))
        }
        Some(open) => {
            let Some(inner) = text[open + 1..].strip_suffix('>') else {
                return Err("`<` is not closed by a final `>`".into());
            };
            let head = text[..open].trim();
            if head.is_empty() || !head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err("a generic type is written `option<T>`, `list<T>` or `map<T>`".into());
            }
            if inner.contains(',') {
                return Err("generic types take one argument (`map<T>` has string keys)".into());
            }
            Ok(TypeExpr::Generic(
                head.to_owned(),
                Box::new(parse_type_expr(inner)?),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
