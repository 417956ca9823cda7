//! The validated schema model: what the parser and validator hand to code generation and to the
//! evolution check. Nothing here refers to TOML syntax; spans only locate diagnostics.

use std::collections::BTreeSet;
use std::fmt;

pub use crate::compat::{Compatibility, Mode};
use crate::diag::Span;

/// A name as written in the schema, with where it was written.
#[derive(Debug, Clone, Eq)]
pub struct Name {
    /// The text.
    pub text: String,
    /// Where it stands in the source.
    pub span: Span,
}

impl Name {
    /// A name with a location.
    pub fn new(text: impl Into<String>, span: impl Into<Span>) -> Name {
        Name {
            text: text.into(),
            span: span.into(),
        }
    }
}

/// Names compare by text only: where a name was written is not part of what it means.
impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.text == other.text
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One schema file: a namespace of aggregates, events, record types and enums.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// `[aggregates.*]`, in source order.
    pub aggregates: Vec<Aggregate>,
    /// `[events.*]`, in source order.
    pub events: Vec<Event>,
    /// `[types.*]`, in source order.
    pub types: Vec<RecordType>,
    /// `[enums.*]`, in source order.
    pub enums: Vec<EnumType>,
}

impl Schema {
    /// The aggregate with this name.
    pub fn aggregate(&self, name: &str) -> Option<&Aggregate> {
        self.aggregates.iter().find(|a| a.name.text == name)
    }

    /// The event with this name.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name.text == name)
    }

    /// The record type with this name.
    pub fn record(&self, name: &str) -> Option<&RecordType> {
        self.types.iter().find(|t| t.name.text == name)
    }

    /// The enum with this name.
    pub fn enumeration(&self, name: &str) -> Option<&EnumType> {
        self.enums.iter().find(|e| e.name.text == name)
    }

    /// The events of an aggregate, in source order.
    pub fn events_of<'a>(&'a self, aggregate: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events
            .iter()
            .filter(move |e| e.aggregate.text == aggregate)
    }
}

/// An aggregate type: a consistency boundary whose instances each own one stream of events.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The aggregate's name, e.g. `Account`.
    pub name: Name,
    /// The type of its instances' ids.
    pub id: IdType,
    /// Documentation copied into the generated code.
    pub doc: Option<String>,
}

/// The type of an aggregate id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdType {
    /// A UUID.
    Uuid,
    /// A string.
    String,
    /// An unsigned 64-bit integer.
    U64,
    /// A signed 64-bit integer.
    I64,
}

impl IdType {
    /// The spelling in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            IdType::Uuid => "uuid",
            IdType::String => "string",
            IdType::U64 => "u64",
            IdType::I64 => "i64",
        }
    }

    /// Every id type, in the order the docs list them.
    pub const ALL: [IdType; 4] = [IdType::Uuid, IdType::String, IdType::U64, IdType::I64];
}

/// An event type with all its versions.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The stored type name, e.g. `MoneyDeposited`.
    pub name: Name,
    /// The aggregate it belongs to.
    pub aggregate: Name,
    /// Documentation copied into the generated code.
    pub doc: Option<String>,
    /// Older stored type names that decode as this event.
    pub renamed_from: Vec<Name>,
    /// A retired event is never emitted again; typed readers skip stored ones.
    pub retired: bool,
    /// Versions whose step from the version before is written by hand.
    pub manual_upcasts: BTreeSet<u32>,
    /// What the schema promises programs built from other versions of it (the event's own
    /// `compatibility`, else the file's, else `backward`).
    pub compatibility: Compatibility,
    /// Where `compatibility` was written (the event's or the file's), if it was.
    pub compatibility_span: Option<Span>,
    /// Versions `1..=n`, in order.
    pub versions: Vec<Version>,
    /// How each version after the first is built from the one before it.
    pub steps: Vec<Step>,
}

impl Event {
    /// The newest version number.
    pub fn newest(&self) -> u32 {
        self.versions.last().map_or(0, |v| v.number)
    }

    /// The version with this number.
    pub fn version(&self, number: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.number == number)
    }
}

/// One version of an event: its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// The version number, from 1.
    pub number: u32,
    /// Fields in source order.
    pub fields: Vec<Field>,
    /// Where the version table is declared.
    pub span: Span,
}

impl Version {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name.text == name)
    }
}

/// A field of an event version or record type.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name (a Rust identifier in snake case).
    pub name: Name,
    /// Its type.
    pub ty: Type,
    /// Where the type is written.
    pub ty_span: Span,
    /// The value used when upcasting from a version that lacks the field.
    pub default: Option<Value>,
    /// The field of the previous version this one takes its value from.
    pub renamed_from: Option<Name>,
    /// Documentation copied into the generated code.
    pub doc: Option<String>,
}

/// A field type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
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
    /// `bytes`
    Bytes,
    /// `uuid`
    Uuid,
    /// `timestamp`: an instant in UTC.
    Timestamp,
    /// `option<T>`
    Option(Box<Type>),
    /// `list<T>`
    List(Box<Type>),
    /// `map<T>`: string keys, kept sorted.
    Map(Box<Type>),
    /// A `[types.*]` record.
    Record(String),
    /// An `[enums.*]` enum.
    Enum(String),
}

impl Type {
    /// The scalar types by their schema spelling.
    pub const SCALARS: [(&'static str, Type); 10] = [
        ("bool", Type::Bool),
        ("i32", Type::I32),
        ("i64", Type::I64),
        ("u32", Type::U32),
        ("u64", Type::U64),
        ("f64", Type::F64),
        ("string", Type::String),
        ("bytes", Type::Bytes),
        ("uuid", Type::Uuid),
        ("timestamp", Type::Timestamp),
    ];

    /// Whether this is one of the integer types.
    pub fn is_integer(&self) -> bool {
        matches!(self, Type::I32 | Type::I64 | Type::U32 | Type::U64)
    }
}

/// Types display in schema syntax: `option<list<i64>>`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Option(inner) => write!(f, "option<{inner}>"),
            Type::List(inner) => write!(f, "list<{inner}>"),
            Type::Map(inner) => write!(f, "map<{inner}>"),
            Type::Record(name) | Type::Enum(name) => f.write_str(name),
            scalar => {
                let name = Type::SCALARS
                    .iter()
                    .find(|(_, ty)| ty == scalar)
                    .map_or("?", |(name, _)| name);
                f.write_str(name)
            }
        }
    }
}

/// A default value, already checked against its field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// Any integer type (range-checked against it).
    Int(i128),
    /// An `f64`.
    Float(f64),
    /// A string.
    String(String),
    /// `bytes`, written as an array of integers 0-255.
    Bytes(Vec<u8>),
    /// A UUID.
    Uuid(uuid::Uuid),
    /// A timestamp as seconds and nanoseconds since the Unix epoch (UTC).
    Timestamp {
        /// Whole seconds.
        secs: i64,
        /// Nanoseconds within the second.
        nanos: u32,
    },
    /// `Some(value)` of an option.
    Some(Box<Value>),
    /// A list.
    List(Vec<Value>),
    /// A map, sorted by key.
    Map(Vec<(String, Value)>),
    /// A record's fields, in the record's field order.
    Record(Vec<(String, Value)>),
    /// An enum variant, as stored.
    Variant(String),
}

/// A record type from `[types.*]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordType {
    /// The type's name.
    pub name: Name,
    /// Documentation copied into the generated code.
    pub doc: Option<String>,
    /// Fields in source order.
    pub fields: Vec<Field>,
}

/// An enum from `[enums.*]`: a closed set of named variants, stored by name.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumType {
    /// The enum's name.
    pub name: Name,
    /// Documentation copied into the generated code.
    pub doc: Option<String>,
    /// Variants as stored, in source order.
    pub variants: Vec<Name>,
}

/// How version `to` of an event is built from version `to - 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The newer version.
    pub to: u32,
    /// Generated or hand-written.
    pub kind: StepKind,
}

/// Generated or hand-written.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Generated: where each field of the newer version comes from, in its field order.
    Automatic(Vec<FieldSource>),
    /// Listed in `manual_upcasts`: the user implements `Upcast`.
    Manual,
}

/// Where one field of a newer version gets its value during an automatic upcast.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSource {
    /// From a field of the previous version (the same name, or the one named by `renamed_from`),
    /// converted as described.
    Previous {
        /// The previous version's field.
        field: String,
        /// How its value is converted.
        conversion: Conversion,
    },
    /// The field's declared default.
    Default(Value),
    /// `None`: the field is optional and absent before.
    None,
}

/// A lossless or widening conversion between two field types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// The same type.
    Identity,
    /// An integer into a wider integer type.
    WidenInt,
    /// An integer into `f64` (lossy from 64-bit integers).
    IntToFloat {
        /// Whether precision can be lost (`i64`/`u64` to `f64`).
        lossy: bool,
    },
    /// `T` into `option<T>`, converting the value.
    WrapSome(Box<Conversion>),
    /// Element-wise inside an option.
    Option(Box<Conversion>),
    /// Element-wise inside a list.
    List(Box<Conversion>),
    /// Element-wise over a map's values.
    Map(Box<Conversion>),
}

impl Conversion {
    /// Whether some value can lose precision.
    pub fn is_lossy(&self) -> bool {
        match self {
            Conversion::Identity | Conversion::WidenInt => false,
            Conversion::IntToFloat { lossy } => *lossy,
            Conversion::WrapSome(inner)
            | Conversion::Option(inner)
            | Conversion::List(inner)
            | Conversion::Map(inner) => inner.is_lossy(),
        }
    }

    /// The conversion from `from` to `to` that automatic upcasting allows, if any: the same type,
    /// a widening (`i32`->`i64`, `u32`->`u64`, `u32`->`i64`, any integer->`f64`), `T`->`option<T>`,
    /// and the same rules element-wise inside `option`, `list` and `map`.
    pub fn between(from: &Type, to: &Type) -> Option<Conversion> {
        if from == to {
            return Some(Conversion::Identity);
        }
        match (from, to) {
            (Type::I32, Type::I64) | (Type::U32, Type::U64) | (Type::U32, Type::I64) => {
                Some(Conversion::WidenInt)
            }
            (Type::I32 | Type::U32, Type::F64) => Some(Conversion::IntToFloat { lossy: false }),
            (Type::I64 | Type::U64, Type::F64) => Some(Conversion::IntToFloat { lossy: true }),
            (Type::Option(from), Type::Option(to)) => {
                Conversion::between(from, to).map(|c| Conversion::Option(Box::new(c)))
            }
            (from, Type::Option(to)) => {
                Conversion::between(from, to).map(|c| Conversion::WrapSome(Box::new(c)))
            }
            (Type::List(from), Type::List(to)) => {
                Conversion::between(from, to).map(|c| Conversion::List(Box::new(c)))
            }
            (Type::Map(from), Type::Map(to)) => {
                Conversion::between(from, to).map(|c| Conversion::Map(Box::new(c)))
            }
            _ => None,
        }
    }
}
