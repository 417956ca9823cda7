//! A depth limit for formats without one: a `Deserializer` adapter that refuses input nesting
//! containers deeper than a limit, so a hostile payload of a recursive type ends in an error
//! instead of overflowing the stack in serde's derived visitors.
//!
//! Every container the wrapped deserializer hands to a visitor (a sequence, a map, an enum, an
//! `Option`'s `Some`, a newtype) costs one level; what is inside it is deserialized through the
//! adapter again with one level less. Past the limit the visit fails with a custom error and
//! [`Depth::exceeded`] says why.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// The limit of one decode, and whether it was hit.
#[derive(Debug)]
pub(crate) struct Depth {
    limit: usize,
    exceeded: Cell<bool>,
}

impl Depth {
    pub(crate) fn new(limit: usize) -> Depth {
        Depth {
            limit,
            exceeded: Cell::new(false),
        }
    }

    /// `deserializer`, limited to this depth.
    pub(crate) fn limit<'a, D>(&'a self, deserializer: D) -> Limited<'a, D> {
        Limited {
            inner: deserializer,
            left: self.limit,
            depth: self,
        }
    }

    /// Whether a decode through [`Depth::limit`] failed because of the limit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.get()
    }

    /// One level less than `left`, or the error when none is left.
    fn enter<E: de::Error>(&self, left: usize) -> Result<usize, E> {
        match left.checked_sub(1) {
            Some(left) => Ok(left),
            None => {
                self.exceeded.set(true);
                Err(E::custom(format_args!(
                    "the payload nests deeper than {} levels",
                    self.limit
                )))
            }
        }
    }
}

/// A deserializer (or visitor, seed, access) with `left` levels of nesting left.
pub(crate) struct Limited<'a, T> {
    inner: T,
    left: usize,
    depth: &'a Depth,
}

impl<'a, T> Limited<'a, T> {
    fn wrap<U>(&self, inner: U, left: usize) -> Limited<'a, U> {
        Limited {
            inner,
            left,
            depth: self.depth,
        }
    }
}

/// The `deserialize_*` methods that take only a visitor.
macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor, self.left);
            self.inner.$method(visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The `visit_*` methods of scalars, handed on as they are.
macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.inner.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Limited<'_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(formatter)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char) visit_str(&str)
        visit_borrowed_str(&'de str) visit_string(String) visit_bytes(&[u8])
        visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        let left = self.depth.enter(self.left)?;
        let deserializer = self.wrap(deserializer, left);
        self.inner.visit_some(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        let left = self.depth.enter(self.left)?;
        let deserializer = self.wrap(deserializer, left);
        self.inner.visit_newtype_struct(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let left = self.depth.enter(self.left)?;
        let seq = self.wrap(seq, left);
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let left = self.depth.enter(self.left)?;
        let map = self.wrap(map, left);
        self.inner.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let left = self.depth.enter(self.left)?;
        let data = self.wrap(data, left);
        self.inner.visit_enum(data)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Limited<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        let deserializer = self.wrap(deserializer, self.left);
        self.inner.deserialize(deserializer)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Limited<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let seed = self.wrap(seed, self.left);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Limited<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.wrap(seed, self.left);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let seed = self.wrap(seed, self.left);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Limited<'a, A> {
    type Error = A::Error;
    type Variant = Limited<'a, A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), A::Error> {
        let (left, depth) = (self.left, self.depth);
        let seed = self.wrap(seed, left);
        let (value, variant) = self.inner.variant_seed(seed)?;
        let variant = Limited {
            inner: variant,
            left,
            depth,
        };
        Ok((value, variant))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Limited<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.wrap(seed, self.left);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor, self.left);
        self.inner.struct_variant(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, serde::Serialize, PartialEq)]
    struct Node {
        children: Vec<Node>,
        label: Option<String>,
    }

    fn nested(depth: usize) -> Node {
        let mut node = Node {
            children: Vec::new(),
            label: Some("leaf".into()),
        };
        for _ in 0..depth {
            node = Node {
                children: vec![node],
                label: None,
            };
        }
        node
    }

    fn decode(bytes: &[u8], limit: usize) -> (Result<Node, postcard::Error>, bool) {
        let depth = Depth::new(limit);
        let mut deserializer = postcard::Deserializer::from_bytes(bytes);
        let node = Node::deserialize(depth.limit(&mut deserializer));
        (node, depth.exceeded())
    }

    #[test]
    fn values_within_the_limit_decode_as_without_it() {
        let node = nested(20);
        let bytes = postcard::to_stdvec(&node).expect("encodes");
        let (decoded, exceeded) = decode(&bytes, 64);
        assert_eq!(decoded.expect("decodes"), node);
        assert!(!exceeded);
    }

    #[test]
    fn a_value_past_the_limit_fails_and_says_so() {
        // Each level is a struct's sequence of children: one struct, one sequence.
        let bytes = postcard::to_stdvec(&nested(40)).expect("encodes");
        let (decoded, exceeded) = decode(&bytes, 64);
        assert!(decoded.is_err());
        assert!(exceeded, "the limit is the reason");
        let (decoded, exceeded) = decode(&[0xff, 0xff, 0xff], 64);
        assert!(decoded.is_err());
        assert!(!exceeded, "a plain format error is not the limit");
    }
}
