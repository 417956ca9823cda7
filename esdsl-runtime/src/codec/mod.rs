//! Payload codecs: how an event's fields become bytes in the store.

use serde::Serialize;
use serde::de::DeserializeOwned;

mod depth;
#[cfg(test)]
mod forward_tests;

/// How deep a payload may nest containers (records, lists, maps, options, enums) when it is
/// decoded, in either codec. JSON's parser (`serde_json`) stops at 128 itself; postcard has no
/// limit of its own, so [`Codec::decode`] counts for it. A record holding a list of records
/// costs two levels per step, so a recursive record type (a tree) can be about 60 deep.
/// Deeper payloads are [`CodecError::TooDeep`], not a stack overflow.
pub const MAX_DECODE_DEPTH: usize = 128;

/// The encoding of an event payload.
///
/// The codec is recorded next to every stored event, so one store can hold payloads written with
/// different codecs and each is read back with the codec it was written with.
///
/// ```
/// use esdsl_runtime::Codec;
///
/// let bytes = Codec::Json.encode(&vec![1u32, 2, 3])?;
/// assert_eq!(bytes, b"[1,2,3]");
/// let back: Vec<u32> = Codec::Json.decode(&bytes)?;
/// assert_eq!(back, [1, 2, 3]);
/// assert_eq!(Codec::from_id(Codec::Postcard.id()), Some(Codec::Postcard));
/// # Ok::<(), esdsl_runtime::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Codec {
    /// JSON (the default): self-describing, readable without the Rust types by the CLI or by
    /// another language.
    #[default]
    Json,
    /// [postcard](https://docs.rs/postcard): compact binary, faster to write and read. Reading it
    /// needs the Rust types (or the schema) of the exact version it was written with.
    Postcard,
}

impl Codec {
    /// The stable numeric id stored with each event.
    pub const fn id(self) -> u8 {
        match self {
            Codec::Json => 1,
            Codec::Postcard => 2,
        }
    }

    /// The codec with the given stored id, if this version of esdsl knows it.
    pub const fn from_id(id: u8) -> Option<Codec> {
        match id {
            1 => Some(Codec::Json),
            2 => Some(Codec::Postcard),
            _ => None,
        }
    }

    /// A short lowercase name (`json`, `postcard`).
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Postcard => "postcard",
        }
    }

    /// Encodes a value.
    ///
    /// # Errors
    ///
    /// Fails when the value's `Serialize` implementation fails (for example a map with non-string
    /// keys under JSON).
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            Codec::Json => serde_json::to_vec(value).map_err(CodecError::from),
            Codec::Postcard => postcard::to_stdvec(value).map_err(CodecError::from),
        }
    }

    /// Decodes a value from bytes written by [`Codec::encode`] with the same codec.
    ///
    /// Lengths inside the bytes are never trusted to size allocations beyond what the input holds,
    /// and nesting deeper than [`MAX_DECODE_DEPTH`] is an error, not a stack overflow.
    ///
    /// # Errors
    ///
    /// Fails when the bytes are not a valid encoding of `T`: truncated, corrupt, trailing bytes
    /// after the value, nested too deep, or written for another type.
    #[inline]
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).map_err(CodecError::from),
            Codec::Postcard => {
                let depth = depth::Depth::new(MAX_DECODE_DEPTH);
                let mut deserializer = postcard::Deserializer::from_bytes(bytes);
                let value = T::deserialize(depth.limit(&mut deserializer)).map_err(|error| {
                    if depth.exceeded() {
                        CodecError::TooDeep {
                            limit: MAX_DECODE_DEPTH,
                        }
                    } else {
                        CodecError::Postcard(error)
                    }
                })?;
                let rest = deserializer.finalize()?;
                if rest.is_empty() {
                    Ok(value)
                } else {
                    Err(CodecError::TrailingBytes { count: rest.len() })
                }
            }
        }
    }

    /// Decodes a value from the front of bytes written for a newer version of its type that
    /// only added to it: JSON ignores object keys `T` does not have (serde's default), postcard
    /// reads `T`'s fields by position and leaves the bytes after them unread. Nesting is
    /// counted as in [`Codec::decode`].
    ///
    /// # Errors
    ///
    /// Fails when the front of the bytes is not a valid encoding of `T`.
    pub(crate) fn decode_prefix<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        self.decode_prefix_seed(bytes, std::marker::PhantomData::<T>)
    }

    /// [`Codec::decode_prefix`] driven by a seed (the property tests decode types built at run
    /// time).
    pub(crate) fn decode_prefix_seed<'de, S: serde::de::DeserializeSeed<'de>>(
        self,
        bytes: &'de [u8],
        seed: S,
    ) -> Result<S::Value, CodecError> {
        match self {
            Codec::Json => {
                let mut deserializer = serde_json::Deserializer::from_slice(bytes);
                let value = seed.deserialize(&mut deserializer)?;
                deserializer.end()?;
                Ok(value)
            }
            Codec::Postcard => {
                let depth = depth::Depth::new(MAX_DECODE_DEPTH);
                let mut deserializer = postcard::Deserializer::from_bytes(bytes);
                seed.deserialize(depth.limit(&mut deserializer))
                    .map_err(|error| {
                        if depth.exceeded() {
                            CodecError::TooDeep {
                                limit: MAX_DECODE_DEPTH,
                            }
                        } else {
                            CodecError::Postcard(error)
                        }
                    })
            }
        }
    }

    /// [`Codec::decode`] without counting the nesting, for a type whose nesting is bounded
    /// within [`MAX_DECODE_DEPTH`] by construction (the generated decoders of versions whose
    /// schema has no recursive record; JSON's parser counts anyway).
    #[inline]
    pub(crate) fn decode_bounded<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).map_err(CodecError::from),
            Codec::Postcard => {
                let (value, rest) = postcard::take_from_bytes(bytes)?;
                if rest.is_empty() {
                    Ok(value)
                } else {
                    Err(CodecError::TrailingBytes { count: rest.len() })
                }
            }
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The JSON codec failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The postcard codec failed.
    #[error("postcard: {0}")]
    Postcard(#[from] postcard::Error),
    /// The payload nests containers deeper than [`MAX_DECODE_DEPTH`] (JSON reports its own
    /// limit as a [`CodecError::Json`] error).
    #[error("the payload nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The value decoded but bytes were left over.
    #[error("{count} trailing bytes after the payload")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Node {
        children: Vec<Node>,
    }

    /// A postcard `Node` nested `levels` deep: each level a list of one child, the leaf an
    /// empty list.
    fn nested_postcard(levels: usize) -> Vec<u8> {
        let mut bytes = vec![1; levels];
        bytes.push(0);
        bytes
    }

    /// Runs `f` on a thread with a 2 MiB stack, as small as a user's might be.
    fn on_a_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .expect("spawns")
            .join()
            .expect("no stack overflow")
    }

    #[test]
    fn a_deeply_nested_postcard_payload_is_an_error_not_a_stack_overflow() {
        let outcome = on_a_small_stack(|| Codec::Postcard.decode::<Node>(&nested_postcard(30_000)));
        assert!(
            matches!(
                outcome,
                Err(CodecError::TooDeep {
                    limit: MAX_DECODE_DEPTH
                })
            ),
            "{outcome:?}"
        );
        // JSON stops at serde_json's own limit.
        let json = format!(
            "{}{}",
            r#"{"children":["#.repeat(30_000),
            "]}".repeat(30_000)
        );
        let outcome = on_a_small_stack(move || Codec::Json.decode::<Node>(json.as_bytes()));
        assert!(matches!(outcome, Err(CodecError::Json(_))), "{outcome:?}");
    }

    #[test]
    fn payloads_up_to_the_limit_decode_on_a_small_stack() {
        // A level of `Node` is a struct and its list: two levels of the limit (the leaf's
        // empty list counts too, and serde_json stops one level short of its 128).
        let deepest = MAX_DECODE_DEPTH / 2 - 2;
        for codec in [Codec::Postcard, Codec::Json] {
            let decoded = on_a_small_stack(move || {
                let mut node = Node {
                    children: Vec::new(),
                };
                for _ in 0..deepest {
                    node = Node {
                        children: vec![node],
                    };
                }
                let bytes = codec.encode(&node).expect("encodes");
                codec.decode::<Node>(&bytes).map(|back| back == node)
            });
            assert!(decoded.expect("decodes"), "{codec} round trip");
        }
    }

    #[test]
    fn json_floats_round_trip_exactly() {
        for value in [394_301.338_356_336_75_f64, 1.111_111_111_111_111_1e73] {
            let bytes = Codec::Json.encode(&value).expect("encodes");
            let back: f64 = Codec::Json.decode(&bytes).expect("decodes");
            assert_eq!(back.to_bits(), value.to_bits(), "{value:e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_finite_f64_round_trips_through_json(
            value in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL
                | proptest::num::f64::ZERO,
            small in 0.0f64..1e6,
        ) {
            for value in [value, small] {
                let bytes = Codec::Json.encode(&value).expect("encodes");
                let back: f64 = Codec::Json.decode(&bytes).expect("decodes");
                proptest::prop_assert_eq!(back.to_bits(), value.to_bits());
            }
        }
    }
}
