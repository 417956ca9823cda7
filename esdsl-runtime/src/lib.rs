//! esdsl runtime: typed, versioned events with upcasting, and the codecs that store them.
//!
//! Declare events in a TOML schema and expand it with [`schema!`]:
//!
//! ```ignore
//! esdsl_runtime::schema!("schemas/bank.toml");
//! ```
//!
//! or in Rust with the derives `Event`, `Record`, `Enum` and `Aggregate` ([`docs/derive.md`]):
//!
//! ```
//! use esdsl_runtime::{Codec, Event, Record};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
//! struct AddedV1 { sku: String, quantity: u32 }
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
//! #[record(upcast_from = AddedV1)]
//! struct Added { sku: String, quantity: u64 }
//!
//! #[derive(Debug, Clone, PartialEq, Event)]
//! #[event(aggregate = "Cart")]
//! enum CartEvent {
//!     #[event(name = "ItemAdded", history(AddedV1))]
//!     Added(Added),
//! }
//!
//! let stored = br#"{"sku":"tea","quantity":2}"#; // written as v1
//! let event = CartEvent::decode("ItemAdded", 1, stored, Codec::Json)?.into_event();
//! assert_eq!(event, Some(CartEvent::Added(Added { sku: "tea".into(), quantity: 2 })));
//! # Ok::<(), esdsl_runtime::DecodeError>(())
//! ```
//!
//! Either way the event enums implement [`Event`]; each step between two versions implements
//! [`Upcast`].
//!
//! [`docs/derive.md`]: https://github.com/esdsl/esdsl/blob/main/docs/derive.md
#![warn(missing_docs)]

mod aggregate;
mod codec;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod describe;
mod error;
mod event;
pub mod lmdb;
pub mod projection;
pub mod store;
mod task;
#[cfg(feature = "testing")]
pub mod testing;
mod widen;

pub use aggregate::{
    Aggregate, ExecuteError, Executed, Loaded, Repository, RetryPolicy, SnapshotPolicy,
    SnapshotState, state_fingerprint,
};
/// The `chrono` crate, whose `DateTime<Utc>` is the schema's `timestamp` type.
pub use chrono;
pub use codec::{Codec, CodecError, MAX_DECODE_DEPTH};
pub use error::{Error, Result, Undecodable};
pub use esdsl_macros::{Aggregate, Enum, Event, Record, schema};
pub use event::{
    AggregateId, Decodability, DecodeError, Decoded, Event, EventTypeInfo, ReadsAhead, Upcast,
};
/// The `serde` crate, for `#[derive(Serialize, Deserialize)]` on derive-declared events without
/// a dependency of your own: add `#[serde(crate = "esdsl_runtime::serde")]`.
pub use serde;
/// The `uuid` crate, whose `Uuid` is the schema's `uuid` type and the inner type of uuid ids.
pub use uuid;

/// Not public API: what generated code refers to.
#[doc(hidden)]
pub mod __private {
    pub use chrono;
    pub use serde;
    pub use uuid;

    pub use crate::describe::default_value;
    pub use crate::widen::{FieldUpcast, Widen, WidenInto};

    use crate::{Codec, DecodeError};

    /// How a generated decoder reads one version's payload.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Read {
        /// Counting its nesting against [`MAX_DECODE_DEPTH`](crate::MAX_DECODE_DEPTH).
        Counted,
        /// A version whose schema bounds its nesting within `MAX_DECODE_DEPTH`: no count of
        /// it is needed.
        Bounded,
        /// A payload stored at a version newer than the newest one `T` this program knows, as
        /// `T`: JSON ignores fields `T` does not have, postcard reads `T`'s fields from the
        /// front and ignores the bytes after them. Only for versions the event's `ReadsAhead`
        /// covers, that is, that the evolution check proved readable this way.
        Newer,
    }

    /// Decodes one version's payload as `read` says, attaching the type and version to any
    /// error. (`read` is a constant in generated code, so the match folds away.)
    #[inline]
    pub fn decode_payload<T: serde::de::DeserializeOwned>(
        read: Read,
        codec: Codec,
        payload: &[u8],
        event_type: &str,
        version: u32,
    ) -> Result<T, DecodeError> {
        match read {
            Read::Counted => codec.decode(payload),
            Read::Bounded => codec.decode_bounded(payload),
            Read::Newer => codec.decode_prefix(payload),
        }
        .map_err(|source| payload_error(event_type, version, source))
    }

    /// The error of a payload that did not decode, built out of the decode's way.
    #[cold]
    fn payload_error(event_type: &str, version: u32, source: crate::CodecError) -> DecodeError {
        DecodeError::Payload {
            event_type: event_type.to_owned(),
            version,
            source,
        }
    }

    /// The error for a stored version this program does not know.
    pub fn unknown_version(event_type: &str, version: u32, newest: u32) -> DecodeError {
        DecodeError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
            newest,
        }
    }

    /// The error for a stored type name this program does not know.
    pub fn unknown_type(event_type: &str, version: u32) -> DecodeError {
        DecodeError::UnknownType {
            event_type: event_type.to_owned(),
            version,
        }
    }

    /// Whether two strings are equal, at compile time (the derives assert names agree).
    pub const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Whether `names` holds `name`, at compile time.
    pub const fn contains(names: &[&str], name: &str) -> bool {
        let mut i = 0;
        while i < names.len() {
            if str_eq(names[i], name) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// The field names of a struct deriving `Record`, for compile-time checks of the upcast
    /// from it.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` does not describe its fields",
        note = "add `#[derive(esdsl_runtime::Record)]` to `{Self}`"
    )]
    pub trait FieldNames {
        /// The names, in declaration order.
        const FIELD_NAMES: &'static [&'static str];
    }

    /// A UTC timestamp from seconds and nanoseconds since the Unix epoch, for schema defaults.
    pub fn timestamp(secs: i64, nanos: u32) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default()
    }
}
