//! The runtime's descriptor types (`esdsl_runtime::describe::FieldType`, what the derives
//! describe) and the schema model's types (`esdsl_schema::model::Type`) agree: every type the
//! descriptor renders parses to the model type of the same kind and spelling, and every kind
//! of model type has a descriptor type. The runtime does not link the schema crate, so the
//! proof lives here, where both are linked.

use std::collections::{BTreeMap, BTreeSet};

use esdsl_runtime::chrono::{DateTime, Utc};
use esdsl_runtime::describe::{
    FieldDescriptor, FieldType, RecordDescriptor, SchemaDescriptor, SchemaType,
};
use esdsl_runtime::uuid::Uuid;
use esdsl_schema::model::Type;

/// The descriptor type of a model type. The match is exhaustive: a new kind of model type does
/// not compile here until it says which descriptor type stands for it.
fn field_type(ty: &Type) -> FieldType {
    match ty {
        Type::Bool => FieldType::Bool,
        Type::I32 => FieldType::I32,
        Type::I64 => FieldType::I64,
        Type::U32 => FieldType::U32,
        Type::U64 => FieldType::U64,
        Type::F64 => FieldType::F64,
        Type::String => FieldType::String,
        Type::Bytes => FieldType::Bytes,
        Type::Uuid => FieldType::Uuid,
        Type::Timestamp => FieldType::Timestamp,
        Type::Option(inner) => FieldType::Option(Box::new(field_type(inner))),
        Type::List(inner) => FieldType::List(Box::new(field_type(inner))),
        Type::Map(inner) => FieldType::Map(Box::new(field_type(inner))),
        Type::Record(name) => FieldType::Record(name.clone()),
        Type::Enum(name) => FieldType::Enum(name.clone()),
    }
}

fn ty<T: SchemaType>(descriptor: &mut SchemaDescriptor) -> FieldType {
    T::schema_type(descriptor)
}

/// Every field type the runtime describes, from each Rust type that implements `SchemaType`
/// (and nested ones), with the record and enum they use declared in `descriptor`.
fn runtime_types(descriptor: &mut SchemaDescriptor) -> Vec<FieldType> {
    let address =
        descriptor.record::<RecordMarker>("Address", |_| vec![field("street", FieldType::String)]);
    let currency = descriptor.enumeration("Currency", None, &["eur", "usd"]);
    vec![
        ty::<bool>(descriptor),
        ty::<i32>(descriptor),
        ty::<i64>(descriptor),
        ty::<u32>(descriptor),
        ty::<u64>(descriptor),
        ty::<f64>(descriptor),
        ty::<String>(descriptor),
        ty::<Vec<u8>>(descriptor),
        ty::<Uuid>(descriptor),
        ty::<DateTime<Utc>>(descriptor),
        ty::<Option<i64>>(descriptor),
        ty::<Vec<String>>(descriptor),
        ty::<BTreeMap<String, u32>>(descriptor),
        ty::<Option<Vec<BTreeMap<String, Option<Uuid>>>>>(descriptor),
        ty::<Vec<Vec<u8>>>(descriptor),
        address.clone(),
        currency.clone(),
        FieldType::List(Box::new(address)),
        FieldType::Map(Box::new(FieldType::Option(Box::new(currency)))),
    ]
}

struct RecordMarker;

fn field(name: &str, ty: FieldType) -> FieldDescriptor {
    FieldDescriptor {
        name: name.to_owned(),
        ty,
        default: None,
        renamed_from: None,
        doc: None,
    }
}

/// The model types of a descriptor record `Holder` holding one field per type, through the
/// descriptor's schema text and the schema parser.
fn parsed(mut descriptor: SchemaDescriptor, types: &[FieldType]) -> Vec<Type> {
    let fields = types
        .iter()
        .enumerate()
        .map(|(i, ty)| field(&format!("f{i}"), ty.clone()))
        .collect();
    descriptor.records.push(RecordDescriptor {
        name: "Holder".to_owned(),
        fields,
    });
    let text = descriptor.to_toml();
    let schema = esdsl_schema::parse_schema("descriptor.toml", &text)
        .unwrap_or_else(|report| panic!("{text}\n{report}"));
    let holder = schema.record("Holder").expect("declared");
    holder.fields.iter().map(|f| f.ty.clone()).collect()
}

#[test]
fn every_descriptor_type_parses_to_the_model_type_of_its_kind_and_spelling() {
    let mut descriptor = SchemaDescriptor::new();
    let types = runtime_types(&mut descriptor);
    let model = parsed(descriptor, &types);
    assert_eq!(model.len(), types.len());
    for (described, model) in types.iter().zip(&model) {
        assert_eq!(
            &field_type(model),
            described,
            "`{described}` parsed as `{model}`"
        );
        assert_eq!(model.to_string(), described.to_string());
    }
}

#[test]
fn the_scalars_are_the_same_on_both_sides() {
    let mut descriptor = SchemaDescriptor::new();
    let runtime: BTreeSet<String> = runtime_types(&mut descriptor)
        .iter()
        .filter(|t| {
            !matches!(
                t,
                FieldType::Option(_)
                    | FieldType::List(_)
                    | FieldType::Map(_)
                    | FieldType::Record(_)
                    | FieldType::Enum(_)
            )
        })
        .map(ToString::to_string)
        .collect();
    let model: BTreeSet<String> = Type::SCALARS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(runtime, model);
}

#[test]
fn every_kind_of_model_type_has_a_descriptor_type_of_the_same_spelling() {
    let record = || Type::Record("Address".to_owned());
    let mut kinds: Vec<Type> = Type::SCALARS.iter().map(|(_, ty)| ty.clone()).collect();
    kinds.extend([
        Type::Option(Box::new(Type::I64)),
        Type::List(Box::new(record())),
        Type::Map(Box::new(Type::Enum("Currency".to_owned()))),
        record(),
        Type::Enum("Currency".to_owned()),
    ]);
    let described: Vec<FieldType> = kinds.iter().map(field_type).collect();
    for (model, described) in kinds.iter().zip(&described) {
        assert_eq!(model.to_string(), described.to_string());
    }
    // And the parser reads each back as the same model type.
    let mut descriptor = SchemaDescriptor::new();
    let _ = runtime_types(&mut descriptor);
    assert_eq!(parsed(descriptor, &described), kinds);
}

#[test]
fn a_lone_u8_is_a_descriptor_type_the_schema_language_refuses() {
    let mut descriptor = SchemaDescriptor::new();
    let byte = ty::<u8>(&mut descriptor);
    assert_eq!(byte, FieldType::Byte);
    descriptor.records.push(RecordDescriptor {
        name: "Holder".to_owned(),
        fields: vec![field("small", byte)],
    });
    let report = esdsl_schema::parse_schema("descriptor.toml", &descriptor.to_toml())
        .expect_err("`u8` alone is not a schema type");
    let codes: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["unknown_type"]);
}
