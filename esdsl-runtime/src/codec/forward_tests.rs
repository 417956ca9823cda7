//! Property: for a random forward-compatible change of a struct, any value of the newer struct,
//! encoded with a codec the change is allowed for, decodes as the older struct (the way the
//! generated decoders read a newer version) to the values of the fields the two share.
//!
//! The changes are the ones the evolution check allows (`esdsl_schema::compat`): postcard and
//! JSON, new fields appended at the end; JSON only, new fields inserted anywhere. The structs are
//! built at run time, so a serializer and a seed stand in for derived code; they drive serde the
//! way `#[derive(Serialize, Deserialize)]` does for a struct with named fields.

use std::fmt;

use proptest::prelude::*;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Codec;

const NAMES: [&str; 12] = [
    "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Bool,
    I64,
    U32,
    Str,
    OptStr,
    ListU32,
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Bool(bool),
    I64(i64),
    U32(u32),
    Str(String),
    OptStr(Option<String>),
    ListU32(Vec<u32>),
}

impl Serialize for Val {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Bool(v) => v.serialize(serializer),
            Val::I64(v) => v.serialize(serializer),
            Val::U32(v) => v.serialize(serializer),
            Val::Str(v) => v.serialize(serializer),
            Val::OptStr(v) => v.serialize(serializer),
            Val::ListU32(v) => v.serialize(serializer),
        }
    }
}

fn value(ty: Ty) -> BoxedStrategy<Val> {
    match ty {
        Ty::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Ty::I64 => any::<i64>().prop_map(Val::I64).boxed(),
        Ty::U32 => any::<u32>().prop_map(Val::U32).boxed(),
        Ty::Str => ".{0,8}".prop_map(Val::Str).boxed(),
        Ty::OptStr => proptest::option::of(".{0,8}").prop_map(Val::OptStr).boxed(),
        Ty::ListU32 => proptest::collection::vec(any::<u32>(), 0..4)
            .prop_map(Val::ListU32)
            .boxed(),
    }
}

fn ty() -> impl Strategy<Value = Ty> {
    prop_oneof![
        Just(Ty::Bool),
        Just(Ty::I64),
        Just(Ty::U32),
        Just(Ty::Str),
        Just(Ty::OptStr),
        Just(Ty::ListU32),
    ]
}

/// A struct value: each field's name and value, in declaration order.
struct Struct<'a>(&'a [(&'static str, Val)]);

impl Serialize for Struct<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Event", self.0.len())?;
        for (name, value) in self.0 {
            out.serialize_field(name, value)?;
        }
        out.end()
    }
}

/// Decodes a struct of the given fields, as derived code does: by position from a sequence
/// (postcard), by name from a map, ignoring keys it does not know (JSON).
struct StructSeed {
    fields: &'static [&'static str],
    types: Vec<Ty>,
}

impl<'de> DeserializeSeed<'de> for StructSeed {
    type Value = Vec<Val>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Val>, D::Error> {
        let fields = self.fields;
        deserializer.deserialize_struct("Event", fields, self)
    }
}

impl<'de> Visitor<'de> for StructSeed {
    type Value = Vec<Val>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Event")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Val>, A::Error> {
        let mut out = Vec::new();
        for (index, ty) in self.types.iter().enumerate() {
            let value = seq
                .next_element_seed(TySeed(*ty))?
                .ok_or_else(|| serde::de::Error::invalid_length(index, &self))?;
            out.push(value);
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Val>, A::Error> {
        let mut out: Vec<Option<Val>> = vec![None; self.types.len()];
        while let Some(key) = map.next_key::<String>()? {
            match self.fields.iter().position(|name| *name == key) {
                Some(index) => out[index] = Some(map.next_value_seed(TySeed(self.types[index]))?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        out.into_iter()
            .zip(self.fields)
            .map(|(value, name)| value.ok_or_else(|| serde::de::Error::missing_field(name)))
            .collect()
    }
}

struct TySeed(Ty);

impl<'de> DeserializeSeed<'de> for TySeed {
    type Value = Val;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Val, D::Error> {
        Ok(match self.0 {
            Ty::Bool => Val::Bool(bool::deserialize(deserializer)?),
            Ty::I64 => Val::I64(i64::deserialize(deserializer)?),
            Ty::U32 => Val::U32(u32::deserialize(deserializer)?),
            Ty::Str => Val::Str(String::deserialize(deserializer)?),
            Ty::OptStr => Val::OptStr(Option::<String>::deserialize(deserializer)?),
            Ty::ListU32 => Val::ListU32(Vec::<u32>::deserialize(deserializer)?),
        })
    }
}

/// An older struct, a forward-compatible newer one and a value of it: the older fields (names
/// `f0..`), then the newer fields, the added ones appended or (`json_only`) inserted anywhere.
/// An older struct's fields and a value of the newer struct.
type Change = (Vec<(&'static str, Ty)>, Vec<(&'static str, Val)>);

fn change(json_only: bool) -> impl Strategy<Value = Change> {
    (
        proptest::collection::vec(ty(), 0..6),
        proptest::collection::vec((ty(), any::<prop::sample::Index>()), 0..4),
    )
        .prop_flat_map(move |(older, added)| {
            let older: Vec<(&'static str, Ty)> = older
                .into_iter()
                .enumerate()
                .map(|(i, t)| (NAMES[i], t))
                .collect();
            let mut newer = older.clone();
            for (offset, (ty, at)) in added.into_iter().enumerate() {
                let field = (NAMES[6 + offset], ty);
                if json_only {
                    newer.insert(at.index(newer.len() + 1), field);
                } else {
                    newer.push(field);
                }
            }
            let values: Vec<_> = newer
                .into_iter()
                .map(|(name, ty)| value(ty).prop_map(move |v| (name, v)))
                .collect();
            (Just(older), values)
        })
}

fn decodes_as_older(
    codec: Codec,
    older: &[(&'static str, Ty)],
    newer: &[(&'static str, Val)],
) -> Result<(), TestCaseError> {
    let bytes = codec.encode(&Struct(newer)).expect("encodes");
    let names: Vec<&'static str> = older.iter().map(|(name, _)| *name).collect();
    let seed = StructSeed {
        // Leaked per case: serde wants the field names for the life of the program.
        fields: Box::leak(names.into_boxed_slice()),
        types: older.iter().map(|(_, ty)| *ty).collect(),
    };
    let decoded = codec.decode_prefix_seed(&bytes, seed);
    let shared: Vec<Val> = older
        .iter()
        .map(|(name, _)| {
            newer
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .expect("the newer struct keeps every older field")
        })
        .collect();
    prop_assert_eq!(decoded.map_err(|e| e.to_string()), Ok(shared), "{}", codec);
    Ok(())
}

proptest! {
    #[test]
    fn an_appended_change_decodes_as_the_older_struct_in_both_codecs(
        (older, newer) in change(false),
    ) {
        for codec in [Codec::Json, Codec::Postcard] {
            decodes_as_older(codec, &older, &newer)?;
        }
    }

    #[test]
    fn an_inserted_change_decodes_as_the_older_struct_in_json(
        (older, newer) in change(true),
    ) {
        decodes_as_older(Codec::Json, &older, &newer)?;
    }
}

#[test]
fn an_inserted_field_breaks_postcard_which_is_why_the_check_denies_it() {
    // What `forward_field_not_appended` prevents: postcard reads by position.
    let newer = [("f0", Val::Str("x".into())), ("f1", Val::U32(7))];
    let seed = StructSeed {
        fields: &["f1"],
        types: vec![Ty::U32],
    };
    let bytes = Codec::Postcard.encode(&Struct(&newer)).expect("encodes");
    let decoded = Codec::Postcard.decode_prefix_seed(&bytes, seed);
    assert_ne!(decoded.ok(), Some(vec![Val::U32(7)]));
}
