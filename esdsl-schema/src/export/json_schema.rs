//! One JSON Schema (draft 2020-12) per event version.
//!
//! The schema accepts every JSON payload esdsl's reader (`serde_json` over the generated types)
//! accepts, and so everything esdsl writes; what it rejects does not decode. Where the reader
//! is more lenient than what esdsl writes, the schema follows the reader, so that a payload the
//! schema rejects is never one esdsl would have read:
//!
//! - a record is written as an object of its fields; the reader ignores properties it does not
//!   know, reads an `option` field that is missing as `None`, and also takes an array of
//!   the fields' values in order (`serde_json`'s sequence form);
//! - an enum variant is written as its stored name; the reader also takes `{"name": null}`;
//! - a `uuid` is written hyphenated in lowercase; the reader takes the simple, braced and URN
//!   forms in either case (the URN prefix in any case from `uuid` 1.29 on, in lowercase with
//!   1.26: the schema takes any, so it rejects nothing either reads);
//! - a `timestamp` is written in RFC 3339 (`chrono`); the schema only asks for a string, as the
//!   reader's grammar (relaxed RFC 3339, checked dates) is more than a pattern can say.

use std::collections::BTreeMap;

use crate::SchemaFile;
use crate::model::{Event, Field, Schema, Type, Version};

use super::json::Json;

/// The JSON Schema of one event version.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EventSchema {
    /// The schema file's name in the lock (`bank.toml`).
    pub schema: String,
    /// The event's stored type name.
    pub event: String,
    /// The version number.
    pub version: u32,
    /// Where to write it, relative to an output directory: `<file>/<Event>.v<N>.schema.json`,
    /// `<file>` being the schema file's name without `.toml`.
    pub path: String,
    /// The JSON Schema, pretty-printed, ending with a newline.
    pub text: String,
}

/// The JSON Schema of every version of every event of `files`, in file, event and version
/// order.
pub fn json_schemas(files: &[SchemaFile]) -> Vec<EventSchema> {
    let slugs = super::slugs(files);
    let mut out = Vec::new();
    for (file, slug) in files.iter().zip(&slugs) {
        for event in &file.schema.events {
            for version in &event.versions {
                out.push(EventSchema {
                    schema: file.key.clone(),
                    event: event.name.text.clone(),
                    version: version.number,
                    path: format!("{slug}/{}.v{}.schema.json", event.name.text, version.number),
                    text: version_schema(&file.key, &file.schema, event, version).pretty(),
                });
            }
        }
    }
    out
}

/// The URI of the JSON Schema dialect the exports use.
pub(crate) const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// An event version's schema, with its records and enums under `$defs`.
pub(crate) fn version_schema(key: &str, schema: &Schema, event: &Event, version: &Version) -> Json {
    let mut pairs = vec![
        ("$schema".to_owned(), Json::str(DIALECT)),
        (
            "title".to_owned(),
            Json::str(format!("{} v{}", event.name.text, version.number)),
        ),
    ];
    if let Some(doc) = &event.doc {
        pairs.push(("description".to_owned(), Json::str(doc.clone())));
    }
    let mut about = vec![
        ("schema", Json::str(key)),
        ("aggregate", Json::str(event.aggregate.text.clone())),
        ("event", Json::str(event.name.text.clone())),
        ("version", Json::Int(i128::from(version.number))),
        ("newest", Json::Bool(version.number == event.newest())),
        ("retired", Json::Bool(event.retired)),
    ];
    if !event.renamed_from.is_empty() {
        let names = event.renamed_from.iter().map(|n| Json::str(n.text.clone()));
        about.push(("renamed_from", Json::Array(names.collect())));
    }
    pairs.push(("x-esdsl".to_owned(), Json::object(about)));
    pairs.extend(record_pairs(&version.fields));
    let defs = definitions(schema, &version.fields);
    if !defs.is_empty() {
        pairs.push(("$defs".to_owned(), Json::Object(defs)));
    }
    Json::Object(pairs)
}

/// The schema of a struct of fields (an event version, a record): an object of the fields
/// (unknown properties allowed, `option` fields optional) or an array of exactly their values.
pub(crate) fn record_schema(fields: &[Field]) -> Json {
    Json::Object(record_pairs(fields))
}

/// The keywords of [`record_schema`].
fn record_pairs(fields: &[Field]) -> Vec<(String, Json)> {
    let properties = fields
        .iter()
        .map(|f| (f.name.text.clone(), field_schema(f)));
    let required = fields
        .iter()
        .filter(|f| !matches!(f.ty, Type::Option(_)))
        .map(|f| Json::str(f.name.text.clone()));
    let count = Json::Int(fields.len() as i128);
    let mut pairs = vec![
        (
            "type",
            Json::Array(vec![Json::str("object"), Json::str("array")]),
        ),
        ("properties", Json::Object(properties.collect())),
        ("required", Json::Array(required.collect())),
    ];
    if !fields.is_empty() {
        let items = fields.iter().map(|f| type_schema(&f.ty));
        pairs.push(("prefixItems", Json::Array(items.collect())));
    }
    pairs.push(("minItems", count.clone()));
    pairs.push(("maxItems", count));
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn field_schema(field: &Field) -> Json {
    let schema = type_schema(&field.ty);
    match &field.doc {
        Some(doc) => match schema {
            Json::Object(mut pairs) => {
                pairs.push(("description".to_owned(), Json::str(doc.clone())));
                Json::Object(pairs)
            }
            other => other,
        },
        None => schema,
    }
}

/// The lowercase and uppercase hex digits.
const HEX: &str = "[0-9a-fA-F]";

/// Every spelling `uuid`'s parser reads: simple, hyphenated, braced, URN (prefix in any case).
pub(crate) fn uuid_pattern() -> String {
    let hyphenated = format!("{HEX}{{8}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{12}}");
    format!(
        "^(?:{HEX}{{32}}|{hyphenated}|\\{{{hyphenated}\\}}|[uU][rR][nN]:[uU][uU][iI][dD]:{hyphenated})$"
    )
}

fn integer(min: i128, max: i128) -> Json {
    Json::object([
        ("type", Json::str("integer")),
        ("minimum", Json::Int(min)),
        ("maximum", Json::Int(max)),
    ])
}

/// The schema of a field type. Types nest at most `MAX_TYPE_DEPTH` deep, which bounds the
/// recursion.
pub(crate) fn type_schema(ty: &Type) -> Json {
    match ty {
        Type::Bool => Json::object([("type", Json::str("boolean"))]),
        Type::I32 => integer(i32::MIN.into(), i32::MAX.into()),
        Type::I64 => integer(i64::MIN.into(), i64::MAX.into()),
        Type::U32 => integer(0, u32::MAX.into()),
        Type::U64 => integer(0, u64::MAX.into()),
        Type::F64 => Json::object([("type", Json::str("number"))]),
        Type::String => Json::object([("type", Json::str("string"))]),
        Type::Bytes => Json::object([("type", Json::str("array")), ("items", integer(0, 255))]),
        Type::Uuid => Json::object([
            ("type", Json::str("string")),
            ("format", Json::str("uuid")),
            ("pattern", Json::str(uuid_pattern())),
        ]),
        Type::Timestamp => Json::object([
            ("type", Json::str("string")),
            ("format", Json::str("date-time")),
        ]),
        Type::Option(inner) => Json::object([(
            "anyOf",
            Json::Array(vec![
                Json::object([("type", Json::str("null"))]),
                type_schema(inner),
            ]),
        )]),
        Type::List(inner) => {
            Json::object([("type", Json::str("array")), ("items", type_schema(inner))])
        }
        Type::Map(inner) => Json::object([
            ("type", Json::str("object")),
            ("additionalProperties", type_schema(inner)),
        ]),
        Type::Record(name) | Type::Enum(name) => {
            Json::object([("$ref", Json::str(format!("#/$defs/{name}")))])
        }
    }
}

/// The record types and enums `fields` use, directly or through other records, by name.
pub(crate) fn definitions(schema: &Schema, fields: &[Field]) -> Vec<(String, Json)> {
    let mut found: BTreeMap<String, Json> = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    for field in fields {
        named_types(&field.ty, &mut pending);
    }
    while let Some(name) = pending.pop() {
        if found.contains_key(&name) {
            continue;
        }
        if let Some(record) = schema.record(&name) {
            for field in &record.fields {
                named_types(&field.ty, &mut pending);
            }
            let mut def = record_schema(&record.fields);
            describe(&mut def, name.clone(), record.doc.as_deref());
            found.insert(name, def);
        } else if let Some(enumeration) = schema.enumeration(&name) {
            let mut def = enum_schema(enumeration.variants.iter().map(|v| v.text.as_str()));
            describe(&mut def, name.clone(), enumeration.doc.as_deref());
            found.insert(name, def);
        }
    }
    found.into_iter().collect()
}

fn describe(def: &mut Json, title: String, doc: Option<&str>) {
    if let Json::Object(pairs) = def {
        pairs.insert(0, ("title".to_owned(), Json::String(title)));
        if let Some(doc) = doc {
            pairs.insert(1, ("description".to_owned(), Json::str(doc)));
        }
    }
}

/// An enum: its stored names, or an object of exactly one stored name mapped to `null`.
pub(crate) fn enum_schema<'a>(variants: impl Iterator<Item = &'a str> + Clone) -> Json {
    let names = || Json::Array(variants.clone().map(Json::str).collect());
    Json::object([(
        "anyOf",
        Json::Array(vec![
            Json::object([("enum", names())]),
            Json::object([
                ("type", Json::str("object")),
                ("minProperties", Json::Int(1)),
                ("maxProperties", Json::Int(1)),
                ("propertyNames", Json::object([("enum", names())])),
                (
                    "additionalProperties",
                    Json::object([("type", Json::str("null"))]),
                ),
            ]),
        ]),
    )])
}

/// The names of the records and enums a type mentions.
fn named_types(ty: &Type, out: &mut Vec<String>) {
    let mut ty = ty;
    loop {
        match ty {
            Type::Option(inner) | Type::List(inner) | Type::Map(inner) => ty = inner,
            Type::Record(name) | Type::Enum(name) => {
                out.push(name.clone());
                return;
            }
            _ => return,
        }
    }
}
