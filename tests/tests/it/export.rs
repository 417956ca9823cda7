//! The exports against what esdsl really writes and reads.
//!
//! For every version of every event of `schemas/bank.toml` and `schemas/upcasting.toml`
//! (together they use every field type the schema language has: each scalar, `option`, `list`,
//! `map`, records and enums):
//!
//! - random values of the generated type, written by the JSON codec, validate against the
//!   exported JSON Schema (checked with the `jsonschema` crate);
//! - random damage to such payloads (fields dropped, replaced by other JSON, added; records in
//!   their array form; enums in their map form): whatever the schema rejects fails to decode;
//! - a `uuid` field validates exactly when the `uuid` crate reads it (but for the case of a URN
//!   prefix, which depends on the `uuid` version);
//! - the AsyncAPI document has the structure AsyncAPI 3.0 requires, and its references resolve.
//!
//! And the CLI writes both, and the catalog, from the same schema files.

use std::collections::BTreeMap;
use std::path::Path;

use esdsl_runtime::__private::{chrono, uuid};
use esdsl_runtime::Codec;
use esdsl_schema::SchemaFile;
use esdsl_schema::model::{Schema, Type};
use esdsl_tests::{bank, upcasting};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::cli;

/// Decodes a payload as the generated type of one event version and writes it again.
type Roundtrip = fn(&[u8]) -> Result<Vec<u8>, String>;

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let value: T = Codec::Json.decode(payload).map_err(|e| e.to_string())?;
    Codec::Json.encode(&value).map_err(|e| e.to_string())
}

/// One row of `VERSIONS`: the schema, the event, the version and its generated type.
macro_rules! version {
    ($schema:ident $event:ident $n:literal $module:ident) => {
        (
            stringify!($schema),
            stringify!($event),
            $n,
            roundtrip::<$schema::$module::$event>,
        )
    };
}

/// Every event version of the example schemas, with its generated type.
const VERSIONS: &[(&str, &str, u32, Roundtrip)] = &[
    version!(bank AccountOpened 1 v1),
    version!(bank AccountOpened 2 v2),
    version!(bank MoneyDeposited 1 v1),
    version!(bank MoneyDeposited 2 v2),
    version!(bank MoneyDeposited 3 v3),
    version!(bank MoneyWithdrawn 1 v1),
    version!(bank AccountClosed 1 v1),
    version!(bank LegacyAudit 1 v1),
    version!(upcasting Reading 1 v1),
    version!(upcasting Reading 2 v2),
    version!(upcasting Reading 3 v3),
    version!(upcasting Reading 4 v4),
    version!(upcasting Reset 1 v1),
    version!(upcasting Posted 1 v1),
];

/// One event version: its model, its exported schema compiled, and its generated type.
struct Case {
    name: String,
    schema: Schema,
    fields: Vec<(String, Type)>,
    validator: jsonschema::Validator,
    roundtrip: Roundtrip,
}

fn files() -> Vec<SchemaFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    ["bank", "upcasting"]
        .iter()
        .map(|stem| {
            let key = format!("{stem}.toml");
            let text = std::fs::read_to_string(root.join(&key)).expect("example schema reads");
            SchemaFile::parse(&key, &key, &text).expect("example schema is valid")
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let files = files();
    let exported = esdsl_schema::export::json_schemas(&files);
    let listed: Vec<String> = VERSIONS
        .iter()
        .map(|(f, e, v, _)| format!("{f}/{e}.v{v}.schema.json"))
        .collect();
    let paths: Vec<&str> = exported.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths, listed,
        "every exported version has its generated type here"
    );
    exported
        .iter()
        .zip(VERSIONS)
        .map(|(export, (stem, _, _, roundtrip))| {
            let file = files
                .iter()
                .find(|f| f.key == format!("{stem}.toml"))
                .expect("its file");
            let event = file.schema.event(&export.event).expect("its event");
            let version = event.version(export.version).expect("its version");
            let schema: Value = serde_json::from_str(&export.text).expect("the export is JSON");
            let validator = jsonschema::draft202012::new(&schema)
                .unwrap_or_else(|e| panic!("{} is a valid JSON Schema: {e}", export.path));
            Case {
                name: export.path.clone(),
                schema: file.schema.clone(),
                fields: version
                    .fields
                    .iter()
                    .map(|f| (f.name.text.clone(), f.ty.clone()))
                    .collect(),
                validator,
                roundtrip: *roundtrip,
            }
        })
        .collect()
}

/// JSON as esdsl writes a value of `ty`, random.
fn written(ty: &Type, schema: &Schema) -> BoxedStrategy<Value> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Value::from).boxed(),
        Type::I32 => any::<i32>().prop_map(Value::from).boxed(),
        Type::I64 => any::<i64>().prop_map(Value::from).boxed(),
        Type::U32 => any::<u32>().prop_map(Value::from).boxed(),
        Type::U64 => any::<u64>().prop_map(Value::from).boxed(),
        // JSON has no NaN or infinity: see the notes in docs/catalog.md.
        Type::F64 => prop_oneof![
            prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
            (-1e6f64..1e6).prop_map(f64::trunc),
        ]
        .prop_map(|f| json!(f))
        .boxed(),
        Type::String => any::<String>().prop_map(Value::from).boxed(),
        Type::Bytes => prop::collection::vec(any::<u8>(), 0..6)
            .prop_map(|b| json!(b))
            .boxed(),
        Type::Uuid => any::<u128>()
            .prop_map(|n| json!(uuid::Uuid::from_u128(n)))
            .boxed(),
        Type::Timestamp => (
            -8_000_000_000_000i64..8_000_000_000_000,
            0u32..1_000_000_000,
        )
            .prop_map(|(secs, nanos)| {
                let at = chrono::DateTime::from_timestamp(secs, nanos).expect("in chrono's range");
                json!(at)
            })
            .boxed(),
        Type::Option(inner) => prop_oneof![Just(Value::Null), written(inner, schema)].boxed(),
        Type::List(inner) => prop::collection::vec(written(inner, schema), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        Type::Map(inner) => prop::collection::btree_map(".{0,4}", written(inner, schema), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        Type::Record(name) => {
            let record = schema.record(name).expect("a declared record");
            let fields: Vec<(String, Type)> = record
                .fields
                .iter()
                .map(|f| (f.name.text.clone(), f.ty.clone()))
                .collect();
            object(&fields, schema)
        }
        Type::Enum(name) => {
            let variants: Vec<Value> = schema
                .enumeration(name)
                .expect("a declared enum")
                .variants
                .iter()
                .map(|v| Value::from(v.text.clone()))
                .collect();
            prop::sample::select(variants).boxed()
        }
    }
}

fn object(fields: &[(String, Type)], schema: &Schema) -> BoxedStrategy<Value> {
    let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
    let values: Vec<BoxedStrategy<Value>> =
        fields.iter().map(|(_, ty)| written(ty, schema)).collect();
    values
        .prop_map(move |values| {
            Value::Object(
                names
                    .iter()
                    .cloned()
                    .zip(values)
                    .collect::<serde_json::Map<_, _>>(),
            )
        })
        .boxed()
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn what_the_generated_types_write_validates_against_the_exported_schema() {
    for case in cases() {
        let strategy = object(&case.fields, &case.schema);
        proptest!(config(48), |(payload in strategy)| {
            let text = serde_json::to_vec(&payload).expect("JSON");
            // The random JSON becomes a value of the generated type; what it writes is checked.
            let written = (case.roundtrip)(&text)
                .map_err(|e| TestCaseError::fail(format!("{}: {e}: {payload}", case.name)))?;
            let written: Value = serde_json::from_slice(&written).expect("esdsl writes JSON");
            prop_assert!(
                case.validator.is_valid(&written),
                "{}: {written} is rejected: {:?}",
                case.name,
                case.validator.iter_errors(&written).map(|e| e.to_string()).collect::<Vec<_>>()
            );
        });
    }
}

/// JSON chosen to sit on the edges of what the types accept.
fn other_json() -> BoxedStrategy<Value> {
    let fixed = vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(255),
        json!(256),
        json!(i64::from(i32::MAX) + 1),
        json!(i64::from(i32::MIN) - 1),
        json!(u64::from(u32::MAX) + 1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(-0.25),
        json!(1e300),
        json!(""),
        json!("eur"),
        json!("celsius"),
        json!("kelvin-scale"),
        json!("KELVIN-SCALE"),
        json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
        json!("67E55044-10B1-426F-9247-BB680E5FE0C8"),
        json!("67e5504410b1426f9247bb680e5fe0c8"),
        json!("{67e55044-10b1-426f-9247-bb680e5fe0c8}"),
        json!("URN:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8"),
        json!("67e55044-10b1-426f-9247-bb680e5fe0c"),
        json!("67e55044-10b1-426f-9247_bb680e5fe0c8"),
        json!("{67e5504410b1426f9247bb680e5fe0c8}"),
        json!("2020-01-02T03:04:05Z"),
        json!("not a date"),
        json!([]),
        json!([1, 2]),
        json!([300]),
        json!({}),
        json!({"eur": null}),
        json!({"celsius": null}),
        json!({"celsius": 1}),
        json!({"celsius": null, "kelvin-scale": null}),
        json!({"lat": 1.0, "lon": 2.0, "tags": {}}),
        json!([1.0, 2.0, {}]),
        json!({"x": "y"}),
    ];
    prop_oneof![
        prop::sample::select(fixed),
        any::<i64>().prop_map(Value::from),
        ".{0,6}".prop_map(Value::from),
    ]
    .boxed()
}

/// A way to damage a payload.
#[derive(Debug, Clone)]
enum Damage {
    /// Replace the value at a random place with other JSON.
    Replace(Value),
    /// Remove a random property of a random object.
    Remove,
    /// Add a property to a random object.
    Add(String, Value),
    /// Turn a random object into the array of its values.
    ToArray,
    /// Turn a random object into the array of its values, one too many or too few.
    ToArrayWrongLength(bool),
    /// Turn a random string into `{"string": null}`.
    ToVariantMap,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        other_json().prop_map(Damage::Replace),
        Just(Damage::Remove),
        (".{0,4}", other_json()).prop_map(|(k, v)| Damage::Add(k, v)),
        Just(Damage::ToArray),
        any::<bool>().prop_map(Damage::ToArrayWrongLength),
        Just(Damage::ToVariantMap),
    ]
}

/// The paths (object keys and array indexes) of every node, root first.
fn paths(value: &Value) -> Vec<Vec<PathStep>> {
    let mut out = Vec::new();
    let mut stack = vec![(Vec::new(), value)];
    while let Some((path, node)) = stack.pop() {
        match node {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(PathStep::Index(i));
                    stack.push((p, item));
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let mut p = path.clone();
                    p.push(PathStep::Key(k.clone()));
                    stack.push((p, v));
                }
            }
            _ => {}
        }
        out.push(path);
    }
    out.sort();
    out
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn get<'a>(value: &'a Value, path: &[PathStep]) -> &'a Value {
    path.iter().fold(value, |node, step| match step {
        PathStep::Key(k) => &node[k.as_str()],
        PathStep::Index(i) => &node[*i],
    })
}

fn at<'a>(value: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(value, |node, step| match (node, step) {
        (Value::Object(map), PathStep::Key(k)) => map.get_mut(k).expect("listed key"),
        (Value::Array(items), PathStep::Index(i)) => &mut items[*i],
        _ => unreachable!("paths lists existing nodes"),
    })
}

/// Applies `damage` at the node `pick` chooses among those it fits; false when none fits.
fn apply(payload: &mut Value, damage: &Damage, pick: usize) -> bool {
    let all = paths(payload);
    let fits = |node: &Value| match damage {
        Damage::Replace(_) => true,
        Damage::Remove => node.as_object().is_some_and(|m| !m.is_empty()),
        Damage::Add(..) | Damage::ToArray | Damage::ToArrayWrongLength(_) => node.is_object(),
        Damage::ToVariantMap => node.is_string(),
    };
    let candidates: Vec<&Vec<PathStep>> = all.iter().filter(|p| fits(get(payload, p))).collect();
    let Some(path) = candidates.get(pick % candidates.len().max(1)) else {
        return false;
    };
    let node = at(payload, path);
    match damage {
        Damage::Replace(other) => *node = other.clone(),
        Damage::Remove => {
            if let Value::Object(map) = node {
                let keys: Vec<String> = map.keys().cloned().collect();
                map.remove(&keys[pick % keys.len()]);
            }
        }
        Damage::Add(key, value) => {
            if let Value::Object(map) = node {
                map.insert(key.clone(), value.clone());
            }
        }
        Damage::ToArray | Damage::ToArrayWrongLength(_) => {
            if let Value::Object(map) = node {
                let mut items: Vec<Value> = map.values().cloned().collect();
                match damage {
                    Damage::ToArrayWrongLength(true) => items.push(Value::Null),
                    Damage::ToArrayWrongLength(false) => {
                        items.pop();
                    }
                    _ => {}
                }
                *node = Value::Array(items);
            }
        }
        Damage::ToVariantMap => {
            if let Value::String(s) = node {
                *node = json!({ s.clone(): null });
            }
        }
    }
    true
}

#[test]
fn payloads_the_schema_rejects_fail_to_decode() {
    let mut seen = BTreeMap::<String, (u32, u32)>::new();
    for case in cases() {
        let strategy = (
            object(&case.fields, &case.schema),
            prop::collection::vec((damage(), any::<usize>()), 1..3),
        );
        let counts = std::cell::Cell::new((0u32, 0u32));
        proptest!(config(96), |((mut payload, damages) in strategy)| {
            for (damage, pick) in &damages {
                apply(&mut payload, damage, *pick);
            }
            let valid = case.validator.is_valid(&payload);
            let text = serde_json::to_vec(&payload).expect("JSON");
            let decodes = (case.roundtrip)(&text).is_ok();
            if !valid {
                prop_assert!(!decodes, "{}: the schema rejects {payload}, esdsl reads it", case.name);
            }
            let (rejected, accepted) = counts.get();
            counts.set(if valid { (rejected, accepted + 1) } else { (rejected + 1, accepted) });
        });
        seen.insert(case.name.clone(), counts.get());
    }
    // The damage is real: most cases end up rejected, and each version saw both outcomes.
    for (name, (rejected, accepted)) in &seen {
        assert!(*rejected > 0, "{name}: no damaged payload was rejected");
        assert!(
            *accepted > 0 || name.contains("Reset"),
            "{name}: every payload was rejected"
        );
    }
}

/// A uuid in each spelling, in random case, then maybe damaged by one character.
fn uuid_text() -> impl Strategy<Value = String> {
    (
        any::<u128>(),
        0..4usize,
        any::<bool>(),
        prop::option::of((any::<usize>(), any::<char>(), any::<bool>())),
    )
        .prop_map(|(n, form, upper, edit)| {
            let id = uuid::Uuid::from_u128(n);
            let mut text = match form {
                0 => id.hyphenated().to_string(),
                1 => id.simple().to_string(),
                2 => id.braced().to_string(),
                _ => id.urn().to_string(),
            };
            if upper {
                text = text.to_uppercase();
            }
            if let Some((at, c, insert)) = edit {
                let mut chars: Vec<char> = text.chars().collect();
                let at = at % chars.len();
                if insert {
                    chars.insert(at, c);
                } else {
                    chars[at] = c;
                }
                text = chars.into_iter().collect();
            }
            text
        })
}

#[test]
fn a_uuid_validates_exactly_when_esdsl_reads_it() {
    let cases = cases();
    let reading = cases
        .iter()
        .find(|c| c.name == "upcasting/Reading.v2.schema.json")
        .expect("Reading v2 has a uuid field");
    let strategy = (object(&reading.fields, &reading.schema), uuid_text());
    proptest!(config(256), |((mut payload, text) in strategy)| {
        payload["site"] = Value::from(text.clone());
        let valid = reading.validator.is_valid(&payload);
        let decodes = (reading.roundtrip)(&serde_json::to_vec(&payload).expect("JSON")).is_ok();
        // `uuid` 1.29 reads a URN prefix in any case, 1.26 only in lowercase: the schema takes
        // any case, so that nothing either version reads is rejected.
        let prefix = text.get(..9).unwrap_or_default();
        let urn_in_another_case = text.len() == 45
            && prefix.eq_ignore_ascii_case("urn:uuid:")
            && prefix != "urn:uuid:";
        if urn_in_another_case {
            let mut lower = payload.clone();
            lower["site"] = Value::from(format!("urn:uuid:{}", &text[9..]));
            let lower = serde_json::to_vec(&lower).expect("JSON");
            prop_assert_eq!(valid, (reading.roundtrip)(&lower).is_ok(), "{}", text);
        } else {
            prop_assert_eq!(valid, decodes, "{}", text);
        }
    });
}

#[test]
fn the_looser_forms_esdsl_reads_are_in_the_schema() {
    let cases = cases();
    let opened = cases
        .iter()
        .find(|c| c.name == "bank/AccountOpened.v2.schema.json")
        .expect("AccountOpened v2");
    let read = |payload: Value| {
        let decodes = (opened.roundtrip)(payload.to_string().as_bytes()).is_ok();
        (opened.validator.is_valid(&payload), decodes)
    };
    // As written; with an unknown property; as an array; the enum as a map: read and valid.
    assert_eq!(read(json!({"owner": "a", "currency": "usd"})), (true, true));
    assert_eq!(
        read(json!({"owner": "a", "currency": "usd", "x": 1})),
        (true, true)
    );
    assert_eq!(read(json!(["a", "usd"])), (true, true));
    assert_eq!(
        read(json!({"owner": "a", "currency": {"gbp": null}})),
        (true, true)
    );
    // Neither.
    assert_eq!(read(json!(["a", "usd", null])), (false, false));
    assert_eq!(read(json!({"owner": "a"})), (false, false));
    assert_eq!(
        read(json!({"owner": "a", "currency": "chf"})),
        (false, false)
    );
    assert_eq!(
        read(json!({"owner": "a", "currency": {"gbp": 1}})),
        (false, false)
    );
    // An `option` field may be missing (it reads as `None`), not another type.
    let deposited = cases
        .iter()
        .find(|c| c.name == "bank/MoneyDeposited.v3.schema.json")
        .expect("MoneyDeposited v3");
    let read = |payload: Value| {
        let decodes = (deposited.roundtrip)(payload.to_string().as_bytes()).is_ok();
        (deposited.validator.is_valid(&payload), decodes)
    };
    assert_eq!(read(json!({"amount_cents": 5})), (true, true));
    assert_eq!(read(json!({"amount_cents": 5, "memo": null})), (true, true));
    assert_eq!(read(json!({"amount_cents": 5, "memo": 3})), (false, false));
    assert_eq!(
        read(json!({"amount_cents": 9223372036854775808u64})),
        (false, false)
    );
}

#[test]
fn the_asyncapi_document_has_what_asyncapi_3_requires_and_its_references_resolve() {
    let text = esdsl_schema::export::asyncapi(&files(), &Default::default());
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let key = |k: &str| {
        k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    let resolve = |reference: &str| {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        let pointer = pointer.replace("~1", "\u{0}").replace('/', "\u{1}");
        let mut node = &doc;
        for part in pointer.split('\u{1}').skip(1) {
            node = &node[part.replace('\u{0}', "/")];
        }
        assert!(!node.is_null(), "{reference} resolves");
        node
    };
    // Every reference in the document resolves in it.
    let mut stack = vec![&doc];
    let mut references = 0;
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    resolve(reference);
                    references += 1;
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(references > 50, "{references}");
    let exported = esdsl_schema::export::json_schemas(&files());
    let channels = doc["channels"].as_object().expect("channels");
    let mut names: Vec<&String> = channels.keys().collect();
    names.sort();
    assert_eq!(names, ["Account", "Counter", "Ledger", "Sensor"]);
    for (name, channel) in channels {
        assert!(key(name));
        assert_eq!(channel["address"], format!("{name}-{{id}}"));
        assert!(channel["parameters"]["id"].is_object());
        for (id, message) in channel["messages"].as_object().expect("messages") {
            assert!(key(id));
            let message = resolve(message["$ref"].as_str().expect("a reference"));
            assert_eq!(message["contentType"], "application/json");
            let payload = &message["payload"];
            assert_eq!(
                payload["schemaFormat"],
                "application/schema+json;version=2020-12"
            );
            // References point into the payload's own `$defs` from the document's root; with
            // them pointed back, the payload is the version's JSON Schema export.
            let own = format!("#/components/messages/{id}/payload/schema/$defs/");
            let standalone: Value =
                serde_json::from_str(&payload["schema"].to_string().replace(&own, "#/$defs/"))
                    .expect("JSON");
            let event = message["x-esdsl"]["event"].as_str().expect("event");
            let version = message["x-esdsl"]["version"].as_u64().expect("version");
            let export = exported
                .iter()
                .find(|s| s.event == event && u64::from(s.version) == version)
                .expect("exported");
            assert_eq!(
                standalone,
                serde_json::from_str::<Value>(&export.text).expect("JSON")
            );
        }
    }
    let operations = doc["operations"].as_object().expect("operations");
    for (name, operation) in operations {
        assert!(key(name));
        let action = operation["action"].as_str().expect("an action");
        assert!(action == "send" || action == "receive");
        let channel = operation["channel"]["$ref"].as_str().expect("a channel");
        resolve(channel);
        for message in operation["messages"].as_array().expect("messages") {
            let reference = message["$ref"].as_str().expect("a reference");
            assert!(
                reference.starts_with(&format!("{channel}/messages/")),
                "{reference}"
            );
            resolve(reference);
        }
    }
    // esdsl appends the newest version of each live event; readers meet every version.
    let sent: Vec<&str> = operations["appendAccount"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            m["$ref"]
                .as_str()
                .expect("ref")
                .rsplit('/')
                .next()
                .expect("id")
        })
        .collect();
    assert_eq!(
        sent,
        [
            "AccountOpened.v2",
            "MoneyDeposited.v3",
            "MoneyWithdrawn.v1",
            "AccountClosed.v1"
        ]
    );
    assert_eq!(
        operations["readAccount"]["messages"]
            .as_array()
            .map(Vec::len),
        Some(8)
    );
}

#[test]
fn the_cli_writes_the_exports_and_the_catalog() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("json");
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let schemas = schemas.to_str().expect("utf-8 path");
    let out_arg = out.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = cli(&[
        "export",
        "--format",
        "json-schema",
        schemas,
        "--out",
        out_arg,
    ]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert_eq!(stdout, "exported 14 file(s), 14 written, 0 unchanged\n");
    let written =
        std::fs::read_to_string(out.join("bank/MoneyDeposited.v3.schema.json")).expect("written");
    let expected = esdsl_schema::export::json_schemas(&files())
        .into_iter()
        .find(|s| s.path == "bank/MoneyDeposited.v3.schema.json")
        .expect("exported");
    assert_eq!(written, expected.text);
    // Current: `--check` passes; stale: it fails and names the file.
    let check = cli(&[
        "export",
        "--format",
        "json-schema",
        schemas,
        "--out",
        out_arg,
        "--check",
    ]);
    assert_eq!(check.0, 0, "{}", check.2);
    std::fs::write(out.join("bank/AccountClosed.v1.schema.json"), "{}").expect("write");
    let check = cli(&[
        "export",
        "--format",
        "json-schema",
        schemas,
        "--out",
        out_arg,
        "--check",
    ]);
    assert_eq!(check.0, 1);
    assert!(
        check
            .2
            .contains("AccountClosed.v1.schema.json` is out of date"),
        "{}",
        check.2
    );
    // A schema no event exports any more (a renamed event's) is reported too.
    std::fs::write(out.join("bank/AccountOpened.v1.schema.json.bak"), "{}").expect("write");
    std::fs::write(out.join("bank/AccountShut.v1.schema.json"), "{}").expect("write");
    let check = cli(&[
        "export",
        "--format",
        "json-schema",
        schemas,
        "--out",
        out_arg,
        "--check",
    ]);
    assert_eq!(check.0, 1);
    assert!(
        check
            .2
            .contains("AccountShut.v1.schema.json` is not an export of these schemas"),
        "{}",
        check.2
    );
    assert!(!check.2.contains(".bak"), "{}", check.2);
    // AsyncAPI to stdout.
    let (code, stdout, _) = cli(&[
        "export",
        "--format",
        "asyncapi",
        schemas,
        "--api-version",
        "2.0.0",
    ]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(doc["info"]["version"], "2.0.0");
    // json-schema needs a directory.
    let (code, _, stderr) = cli(&["export", "--format", "json-schema", schemas]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--out"), "{stderr}");
    // The catalog, with the lock's history.
    let site = dir.path().join("site");
    let (code, stdout, stderr) = cli(&["docs", schemas, "--out", site.to_str().expect("utf-8")]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(
        stdout.starts_with("wrote the event catalog (18 files)"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(site.join("bank/MoneyDeposited.html")).expect("page");
    assert!(page.contains("<h3>From v2 <span class=\"badge manual\">manual step</span></h3>"));
    assert!(page.contains("<tr><td>#9</td><td><a href=\"#v3\">v3</a>: 2 fields</td>"));
    assert!(site.join("search.js").is_file() && site.join("index.html").is_file());
}

#[test]
fn an_invalid_schema_writes_nothing_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = dir.path().join("bad.toml");
    std::fs::write(&schema, "[events.X]\naggregate = \"Nope\"\n[events.X.v1]\n").expect("write");
    let out = dir.path().join("out");
    for command in [
        vec![
            "docs",
            schema.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        vec![
            "export",
            "--format",
            "asyncapi",
            schema.to_str().expect("utf-8"),
        ],
    ] {
        let (code, stdout, stderr) = cli(&command);
        assert_eq!(code, 1, "{command:?}");
        assert_eq!(stdout, "");
        assert!(stderr.contains("error["), "{stderr}");
    }
    assert!(!out.exists());
}

#[test]
fn derive_users_get_the_same_catalog_and_exports_from_their_descriptor() {
    use esdsl_runtime::describe::SchemaDescriptor;
    use esdsl_schema::catalog::Catalog;
    use esdsl_tests::bank_derive;

    let descriptor = SchemaDescriptor::of::<bank_derive::Account>()
        .with_type::<bank_derive::Address>()
        .to_toml();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/esdsl.lock");
    // Named as the schema file is in the lock, the derived events have its history too.
    let derived = Catalog::from_descriptor("bank.toml", &descriptor, &lock)
        .unwrap_or_else(|e| panic!("{e}"))
        .pages();
    let lock_text = std::fs::read_to_string(&lock).expect("the lock reads");
    let bank = files().into_iter().next().expect("bank.toml");
    let from_file = Catalog::new(vec![bank.clone()])
        .with_lock(esdsl_schema::lock::Lock::parse("esdsl.lock", &lock_text).expect("valid"))
        .pages();
    assert_eq!(derived.len(), from_file.len());
    for (derived, file) in derived.iter().zip(&from_file) {
        assert_eq!(derived.path, file.path);
        if derived.path == "index.html" {
            // Only the file's display path differs.
            assert_eq!(
                derived
                    .text
                    .replace("bank.toml (derive descriptor)", "bank.toml"),
                file.text
            );
        } else {
            assert_eq!(derived.text, file.text, "{}", derived.path);
        }
    }
    assert!(from_file[3].text.contains("title=\"lock entry 4\">locked"));
    let file = SchemaFile::parse("shop", "bank.toml", &descriptor).expect("valid descriptor");
    assert_eq!(
        esdsl_schema::export::json_schemas(&[file]),
        esdsl_schema::export::json_schemas(&[bank])
    );
}

#[test]
fn a_non_finite_f64_is_written_as_null_which_neither_the_schema_nor_esdsl_reads() {
    // The one value the JSON codec writes that the schema rejects: JSON has no NaN or
    // infinity, and `serde_json` writes them as `null` (docs/catalog.md says so).
    let cases = cases();
    let reading = cases
        .iter()
        .find(|c| c.name == "upcasting/Reading.v4.schema.json")
        .expect("Reading v4");
    for total in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let event = upcasting::v4::Reading {
            label: "x".into(),
            total,
        };
        let written = Codec::Json.encode(&event).expect("encodes");
        assert_eq!(written, br#"{"label":"x","total":null}"#);
        let value: Value = serde_json::from_slice(&written).expect("JSON");
        assert!(!reading.validator.is_valid(&value));
        assert!((reading.roundtrip)(&written).is_err());
    }
}
