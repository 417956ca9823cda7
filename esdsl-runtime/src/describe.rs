//! Schema descriptors: what events declared with derives say about themselves, in the terms of
//! the schema language.
//!
//! `#[derive(Event)]`, `#[derive(Aggregate)]`, `#[derive(Record)]` and `#[derive(Enum)]`
//! implement [`Describe`], [`DescribeFields`] and [`SchemaType`]. [`SchemaDescriptor::of`]
//! collects an aggregate's (or an event family's) descriptor, and
//! [`SchemaDescriptor::to_toml`] writes it as a schema file, which `esdsl-schema` reads with
//! the same parser and validator as a hand-written one: that is how the evolution check
//! (`esdsl_schema::evolve::assert_compatible`) runs on derive-declared events.
//!
//! ```
//! use esdsl_runtime::describe::{FieldType, SchemaDescriptor};
//!
//! #[derive(esdsl_runtime::Enum, serde::Serialize, serde::Deserialize)]
//! #[serde(rename_all = "lowercase")]
//! enum Currency { Eur, Usd }
//!
//! let schema = SchemaDescriptor::new().with_type::<Currency>();
//! assert_eq!(schema.enums[0].variants, ["eur", "usd"]);
//! assert!(schema.to_toml().contains("variants = [\"eur\", \"usd\"]"));
//! # let _ = FieldType::Bool;
//! ```

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// A schema as the derives describe it: aggregates, events with every version's fields, and
/// the record types and enums those fields use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaDescriptor {
    /// Aggregates, in the order they were described.
    pub aggregates: Vec<AggregateDescriptor>,
    /// Events, in the order they were described (an enum's variants, then its retired events).
    pub events: Vec<EventDescriptor>,
    /// Record types (`[types.*]`), in the order they were first used.
    pub records: Vec<RecordDescriptor>,
    /// Enums (`[enums.*]`), in the order they were first used.
    pub enums: Vec<EnumDescriptor>,
    /// The Rust type behind each record name, so that two types of one name are both kept
    /// (and the schema parser reports the clash) instead of one hiding the other.
    record_types: Vec<(String, &'static str)>,
}

/// An aggregate: `[aggregates.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateDescriptor {
    /// The aggregate's name, e.g. `Account`.
    pub name: String,
    /// The schema spelling of its id type: `uuid`, `string`, `u64` or `i64`.
    pub id: &'static str,
    /// Its documentation.
    pub doc: Option<String>,
}

/// An event type with all its versions: `[events.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDescriptor {
    /// The stored type name.
    pub name: String,
    /// The aggregate it belongs to.
    pub aggregate: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// Older stored names that decode as this event.
    pub renamed_from: Vec<String>,
    /// Whether it is retired (never written again, skipped by typed readers).
    pub retired: bool,
    /// Versions whose step from the version before is written by hand (a `From` impl, a named
    /// function or an `Upcast` impl).
    pub manual_upcasts: Vec<u32>,
    /// Its compatibility mode as the schema language writes it (`"backward"`, `"forward"`,
    /// `"full_transitive"`, ...), from `#[event(compatibility = ..)]`.
    pub compatibility: String,
    /// The codecs a forward promise holds for (`"json"`, `"postcard"`); empty for both.
    pub codecs: Vec<String>,
    /// The fields of versions `1..=n`, oldest first.
    pub versions: Vec<Vec<FieldDescriptor>>,
}

/// A field of an event version or a record type.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDescriptor {
    /// The field's (stored) name.
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// The value it takes when upcasting from a version without it, as JSON.
    pub default: Option<serde_json::Value>,
    /// The field of the previous version it takes its value from.
    pub renamed_from: Option<String>,
    /// Its documentation.
    pub doc: Option<String>,
}

/// A record type: `[types.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDescriptor {
    /// The type's name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<FieldDescriptor>,
}

/// An enum: `[enums.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumDescriptor {
    /// The enum's name.
    pub name: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// The variants as stored.
    pub variants: Vec<String>,
}

/// A field type in the schema language's terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `bool`
    Bool,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `f64`
    F64,
    /// `string`
    String,
    /// `bytes` (`Vec<u8>`)
    Bytes,
    /// `uuid`
    Uuid,
    /// `timestamp` (`DateTime<Utc>`)
    Timestamp,
    /// `option<T>`
    Option(Box<FieldType>),
    /// `list<T>` (`Vec<T>`)
    List(Box<FieldType>),
    /// `map<T>` (`BTreeMap<String, T>`)
    Map(Box<FieldType>),
    /// A record type declared with `#[derive(Record)]`.
    Record(String),
    /// An enum declared with `#[derive(Enum)]`.
    Enum(String),
    /// `u8` on its own, which the schema only has inside `bytes`.
    Byte,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scalar = match self {
            FieldType::Bool => "bool",
            FieldType::I32 => "i32",
            FieldType::I64 => "i64",
            FieldType::U32 => "u32",
            FieldType::U64 => "u64",
            FieldType::F64 => "f64",
            FieldType::String => "string",
            FieldType::Bytes => "bytes",
            FieldType::Uuid => "uuid",
            FieldType::Timestamp => "timestamp",
            FieldType::Byte => "u8",
            FieldType::Option(inner) => return write!(f, "option<{inner}>"),
            FieldType::List(inner) => return write!(f, "list<{inner}>"),
            FieldType::Map(inner) => return write!(f, "map<{inner}>"),
            FieldType::Record(name) | FieldType::Enum(name) => name,
        };
        f.write_str(scalar)
    }
}

/// Types that describe their part of a schema: aggregate states (`#[derive(Aggregate)]`) and
/// event families (`#[derive(Event)]`).
pub trait Describe {
    /// Adds this type's aggregates, events and the types they use to `schema`.
    fn describe(schema: &mut SchemaDescriptor);
}

/// Structs whose fields are a version of an event or a record type (`#[derive(Record)]`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not describe its fields",
    note = "add `#[derive(esdsl_runtime::Record)]` to `{Self}`"
)]
pub trait DescribeFields {
    /// The fields, in declaration order; the types they use are added to `schema`.
    fn describe_fields(schema: &mut SchemaDescriptor) -> Vec<FieldDescriptor>;
}

/// Rust types that stand for a schema field type.
///
/// Implemented for `bool`, `i32`, `i64`, `u32`, `u64`, `f64`, `String`, `Vec<u8>` (bytes),
/// `Uuid`, `DateTime<Utc>`, `Option<T>`, `Vec<T>`, `BTreeMap<String, T>`, and the structs and
/// enums that derive `Record` and `Enum`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a schema field type",
    note = "fields are `bool`, `i32`, `i64`, `u32`, `u64`, `f64`, `String`, `Vec<u8>`, `Uuid`, \
            `DateTime<Utc>`, `Option<T>`, `Vec<T>`, `BTreeMap<String, T>`, or a type deriving \
            `esdsl_runtime::Record` or `esdsl_runtime::Enum`"
)]
pub trait SchemaType {
    /// The field type; a record or enum adds its declaration to `schema` the first time.
    fn schema_type(schema: &mut SchemaDescriptor) -> FieldType;
}

macro_rules! scalar_schema_types {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl SchemaType for $ty {
            fn schema_type(_: &mut SchemaDescriptor) -> FieldType {
                FieldType::$variant
            }
        })*
    };
}

scalar_schema_types! {
    bool => Bool,
    i32 => I32,
    i64 => I64,
    u32 => U32,
    u64 => U64,
    f64 => F64,
    String => String,
    u8 => Byte,
    uuid::Uuid => Uuid,
    chrono::DateTime<chrono::Utc> => Timestamp,
}

impl<T: SchemaType> SchemaType for Option<T> {
    fn schema_type(schema: &mut SchemaDescriptor) -> FieldType {
        FieldType::Option(Box::new(T::schema_type(schema)))
    }
}

impl<T: SchemaType> SchemaType for Vec<T> {
    fn schema_type(schema: &mut SchemaDescriptor) -> FieldType {
        match T::schema_type(schema) {
            FieldType::Byte => FieldType::Bytes,
            element => FieldType::List(Box::new(element)),
        }
    }
}

impl<T: SchemaType> SchemaType for BTreeMap<String, T> {
    fn schema_type(schema: &mut SchemaDescriptor) -> FieldType {
        FieldType::Map(Box::new(T::schema_type(schema)))
    }
}

impl SchemaDescriptor {
    /// An empty descriptor.
    pub fn new() -> SchemaDescriptor {
        SchemaDescriptor::default()
    }

    /// The descriptor of an aggregate state (with its events) or of an event family.
    pub fn of<T: Describe>() -> SchemaDescriptor {
        SchemaDescriptor::new().with::<T>()
    }

    /// Adds what `T` describes.
    #[must_use]
    pub fn with<T: Describe>(mut self) -> SchemaDescriptor {
        T::describe(&mut self);
        self
    }

    /// Adds a record type or enum that no event uses yet (used ones are added by themselves).
    #[must_use]
    pub fn with_type<T: SchemaType>(mut self) -> SchemaDescriptor {
        T::schema_type(&mut self);
        self
    }

    /// Declares the record type `T`, named `name`, and returns its field type; `fields` runs
    /// only the first time, so a type used by many fields is described once. A different Rust
    /// type of the same name is declared again, so that reading the descriptor reports the
    /// clash instead of one type hiding the other.
    pub fn record<T: ?Sized>(
        &mut self,
        name: &str,
        fields: impl FnOnce(&mut SchemaDescriptor) -> Vec<FieldDescriptor>,
    ) -> FieldType {
        let rust_type = std::any::type_name::<T>();
        let known = self
            .record_types
            .iter()
            .any(|(n, t)| n == name && *t == rust_type);
        if !known {
            self.record_types.push((name.to_owned(), rust_type));
            let index = self.records.len();
            self.records.push(RecordDescriptor {
                name: name.to_owned(),
                fields: Vec::new(),
            });
            let fields = fields(self);
            self.records[index].fields = fields;
        }
        FieldType::Record(name.to_owned())
    }

    /// Declares an enum and returns its field type; an equal declaration is kept once, a
    /// different one of the same name twice (the parser reports the clash).
    pub fn enumeration(&mut self, name: &str, doc: Option<&str>, variants: &[&str]) -> FieldType {
        let enumeration = EnumDescriptor {
            name: name.to_owned(),
            doc: doc.map(str::to_owned),
            variants: variants.iter().map(|v| (*v).to_owned()).collect(),
        };
        if !self.enums.contains(&enumeration) {
            self.enums.push(enumeration);
        }
        FieldType::Enum(name.to_owned())
    }

    /// Declares an aggregate; an equal declaration is kept once, a different one of the same
    /// name twice (the parser reports the clash).
    pub fn aggregate(&mut self, aggregate: AggregateDescriptor) {
        if !self.aggregates.contains(&aggregate) {
            self.aggregates.push(aggregate);
        }
    }

    /// Declares an event; an equal declaration is kept once, a different one of the same name
    /// twice (the parser reports the clash).
    pub fn event(&mut self, event: EventDescriptor) {
        if !self.events.contains(&event) {
            self.events.push(event);
        }
    }

    /// The descriptor as a schema file in the [schema language].
    ///
    /// Parsing it with `esdsl_schema::parse_schema` gives the same model as the equivalent
    /// hand-written file.
    ///
    /// [schema language]: https://github.com/esdsl/esdsl/blob/main/docs/schema.md
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for aggregate in &self.aggregates {
            let _ = writeln!(out, "[aggregates.{}]", key(&aggregate.name));
            let _ = writeln!(out, "id = {}", string(aggregate.id));
            if let Some(doc) = &aggregate.doc {
                let _ = writeln!(out, "doc = {}", string(doc));
            }
            out.push('\n');
        }
        for event in &self.events {
            let name = key(&event.name);
            let _ = writeln!(out, "[events.{name}]");
            let _ = writeln!(out, "aggregate = {}", string(&event.aggregate));
            if let Some(doc) = &event.doc {
                let _ = writeln!(out, "doc = {}", string(doc));
            }
            if !event.renamed_from.is_empty() {
                let names: Vec<String> = event.renamed_from.iter().map(|n| string(n)).collect();
                let _ = writeln!(out, "renamed_from = [{}]", names.join(", "));
            }
            if event.retired {
                out.push_str("retired = true\n");
            }
            if !event.manual_upcasts.is_empty() {
                let steps: Vec<String> = event.manual_upcasts.iter().map(u32::to_string).collect();
                let _ = writeln!(out, "manual_upcasts = [{}]", steps.join(", "));
            }
            if event.compatibility != "backward" && !event.compatibility.is_empty() {
                let codecs: Vec<String> = event.codecs.iter().map(|c| string(c)).collect();
                let _ = writeln!(
                    out,
                    "compatibility = {{ mode = {}, codecs = [{}] }}",
                    string(&event.compatibility),
                    if codecs.is_empty() {
                        "\"json\", \"postcard\"".to_owned()
                    } else {
                        codecs.join(", ")
                    }
                );
            }
            for (index, fields) in event.versions.iter().enumerate() {
                let _ = writeln!(out, "\n[events.{name}.v{}]", index + 1);
                write_fields(&mut out, fields);
            }
            out.push('\n');
        }
        for record in &self.records {
            let _ = writeln!(out, "[types.{}]", key(&record.name));
            write_fields(&mut out, &record.fields);
            out.push('\n');
        }
        for enumeration in &self.enums {
            let _ = writeln!(out, "[enums.{}]", key(&enumeration.name));
            let variants: Vec<String> = enumeration.variants.iter().map(|v| string(v)).collect();
            let _ = writeln!(out, "variants = [{}]", variants.join(", "));
            if let Some(doc) = &enumeration.doc {
                let _ = writeln!(out, "doc = {}", string(doc));
            }
            out.push('\n');
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }
}

fn write_fields(out: &mut String, fields: &[FieldDescriptor]) {
    for field in fields {
        let ty = string(&field.ty.to_string());
        let mut extra = Vec::new();
        if let Some(default) = &field.default {
            extra.push(format!("default = {}", toml_value(default)));
        }
        if let Some(from) = &field.renamed_from {
            extra.push(format!("renamed_from = {}", string(from)));
        }
        if let Some(doc) = &field.doc {
            extra.push(format!("doc = {}", string(doc)));
        }
        let name = key(&field.name);
        if extra.is_empty() {
            let _ = writeln!(out, "{name} = {ty}");
        } else {
            let _ = writeln!(out, "{name} = {{ type = {ty}, {} }}", extra.join(", "));
        }
    }
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { text.to_owned() } else { string(text) }
}

/// A TOML basic string.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A default value (JSON, as serde wrote it) in TOML syntax.
fn toml_value(value: &serde_json::Value) -> String {
    match value {
        // `None` never reaches here: an optional field without a value has no default.
        serde_json::Value::Null => "\"\"".to_owned(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                let text = f.to_string();
                if text.contains(['.', 'e', 'E', 'n', 'i']) {
                    text
                } else {
                    format!("{text}.0")
                }
            } else {
                n.to_string()
            }
        }
        serde_json::Value::String(s) => string(s),
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(toml_value).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), toml_value(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

/// Builds a default value for a descriptor from the Rust value the derive was given; `None`
/// (an optional field absent before) is no default at all, as in a schema file.
#[doc(hidden)]
pub fn default_value<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Null) | Err(_) => None,
        Ok(value) => Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys_are_escaped() {
        assert_eq!(string("a \"b\"\n\\"), r#""a \"b\"\n\\""#);
        assert_eq!(key("Account"), "Account");
        assert_eq!(key("with space"), "\"with space\"");
    }

    #[test]
    fn defaults_render_as_toml_values() {
        let value = serde_json::json!({"a": [1, 2], "b": 1.5, "c": "x", "d": true});
        assert_eq!(
            toml_value(&value),
            r#"{ a = [1, 2], b = 1.5, c = "x", d = true }"#
        );
        assert_eq!(toml_value(&serde_json::json!(2.0)), "2.0");
        assert_eq!(default_value(&None::<u32>), None);
        assert_eq!(default_value(&Some(3u32)), Some(serde_json::json!(3)));
    }

    #[test]
    fn vec_of_u8_is_bytes() {
        let mut schema = SchemaDescriptor::new();
        assert_eq!(Vec::<u8>::schema_type(&mut schema), FieldType::Bytes);
        assert_eq!(
            Option::<Vec<Vec<u8>>>::schema_type(&mut schema).to_string(),
            "option<list<bytes>>"
        );
    }
}
