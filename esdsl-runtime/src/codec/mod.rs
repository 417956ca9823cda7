//! Payload codecs: how an event's fields become bytes in the store.

use serde::Serialize;
use serde::de::DeserializeOwned;

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
    /// Lengths inside the bytes are never trusted to size allocations beyond what the input holds.
    ///
    /// # Errors
    ///
    /// Fails when the bytes are not a valid encoding of `T`: truncated, corrupt, trailing bytes
    /// after the value, or written for another type.
    #[inline]
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
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
    /// The value decoded but bytes were left over.
    #[error("{count} trailing bytes after the payload")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
}
