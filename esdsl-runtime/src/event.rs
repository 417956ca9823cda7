//! The traits that generated event code implements.

use std::fmt::{Debug, Display};

use crate::codec::{Codec, CodecError};

/// A family of events that belong to one aggregate type: the enum that the schema generator
/// (`schema!`, `cargo esdsl generate`) or `#[derive(Event)]` produces.
///
/// Each variant is one event type at its newest version. [`Event::decode`] turns any stored
/// (type name, version, payload) into the newest typed event, running the upcasters of every
/// step in between.
pub trait Event: Sized + Debug + Clone + Send + Sync + 'static {
    /// The aggregate type these events belong to, e.g. `"Account"`.
    const AGGREGATE: &'static str;

    /// Every stored type name this family knows, with its versions, renames and retirement.
    const EVENT_TYPES: &'static [EventTypeInfo];

    /// The stored type name of this event, e.g. `"MoneyDeposited"`.
    fn event_type(&self) -> &'static str;

    /// The schema version this event is written with (always the newest).
    fn event_version(&self) -> u32;

    /// Encodes the event's fields with `codec`.
    ///
    /// # Errors
    ///
    /// Fails when the codec cannot encode the payload.
    fn encode(&self, codec: Codec) -> Result<Vec<u8>, CodecError>;

    /// Decodes a stored payload of type `event_type` at `version` and upcasts it to the newest
    /// version.
    ///
    /// Stored names listed in `renamed_from` decode as the event they were renamed to; events
    /// marked `retired` decode as [`Decoded::Skipped`].
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnknownType`] for a type name this family does not know,
    /// [`DecodeError::UnknownVersion`] for a version outside `1..=newest`, and
    /// [`DecodeError::Payload`] when the bytes do not decode as that version.
    fn decode(
        event_type: &str,
        version: u32,
        payload: &[u8],
        codec: Codec,
    ) -> Result<Decoded<Self>, DecodeError>;

    /// Whether a stored (type name, version) is readable by this family, without decoding it.
    fn decodability(event_type: &str, version: u32) -> Decodability {
        let Some(info) = Self::EVENT_TYPES
            .iter()
            .find(|info| info.answers_to(event_type))
        else {
            return Decodability::UnknownType;
        };
        if info.retired {
            Decodability::Skipped
        } else if version == 0 || version > info.newest_version {
            Decodability::UnknownVersion {
                newest: info.newest_version,
            }
        } else {
            Decodability::Decodable
        }
    }
}

/// What a family of events knows about one of its event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypeInfo {
    /// The current stored type name.
    pub name: &'static str,
    /// Older stored names that decode as this event.
    pub renamed_from: &'static [&'static str],
    /// The newest version; versions `1..=newest_version` decode.
    pub newest_version: u32,
    /// Retired events are never written again and are skipped by typed readers.
    pub retired: bool,
}

impl EventTypeInfo {
    /// Whether `stored_name` is this event's name or one of its former names.
    pub fn answers_to(&self, stored_name: &str) -> bool {
        self.name == stored_name || self.renamed_from.contains(&stored_name)
    }
}

/// The outcome of decoding one stored event.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<E> {
    /// The event, upcast to its newest version.
    Event(E),
    /// The stored event is of a retired type; typed readers skip it.
    Skipped,
}

impl<E> Decoded<E> {
    /// The event, or `None` when it was skipped.
    pub fn into_event(self) -> Option<E> {
        match self {
            Decoded::Event(event) => Some(event),
            Decoded::Skipped => None,
        }
    }
}

/// Whether a stored (type name, version) can be read by a family of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decodability {
    /// It decodes (possibly through upcasters).
    Decodable,
    /// It is a retired type: typed readers skip it.
    Skipped,
    /// The type name is not known.
    UnknownType,
    /// The version is newer than the newest known (or zero).
    UnknownVersion {
        /// The newest version the program knows.
        newest: u32,
    },
}

/// A stored payload could not be turned into a typed event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stored type name is not declared for this aggregate.
    #[error("unknown event type `{event_type}` (version {version})")]
    UnknownType {
        /// The stored type name.
        event_type: String,
        /// The stored version.
        version: u32,
    },
    /// The stored version is not one this program knows.
    #[error("event type `{event_type}` has no version {version} (newest known: {newest})")]
    UnknownVersion {
        /// The stored type name.
        event_type: String,
        /// The stored version.
        version: u32,
        /// The newest version this program knows.
        newest: u32,
    },
    /// The payload bytes do not decode as the declared version.
    #[error("payload of `{event_type}` v{version} does not decode")]
    Payload {
        /// The stored type name.
        event_type: String,
        /// The stored version.
        version: u32,
        /// What the codec reported.
        #[source]
        source: CodecError,
    },
}

/// One upcast step: builds a newer version of an event from the version before it.
///
/// The generator implements this for every step it can derive from the schema. For a step
/// listed in `manual_upcasts`, implement it yourself next to the schema:
///
/// ```ignore
/// impl esdsl_runtime::Upcast<bank::v2::MoneyDeposited> for bank::v3::MoneyDeposited {
///     fn upcast(old: bank::v2::MoneyDeposited) -> Self {
///         Self { amount_cents: old.amount * 100, memo: old.memo }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "missing manual upcast from `{From}` to `{Self}`",
    label = "no upcast turns the older version into this one",
    note = "implement `esdsl_runtime::Upcast<{From}>` for `{Self}` (a step listed in \
            `manual_upcasts` or marked `upcast(vN = manual)`), or derive it field by field with \
            `#[record(upcast_from = {From})]`"
)]
pub trait Upcast<From>: Sized {
    /// Converts the previous version into this one.
    fn upcast(previous: From) -> Self;
}

/// An aggregate's identifier type: ties the aggregate's name to its id and its events.
///
/// Generated for each `[aggregates.*]` table, e.g. `AccountId` for `Account`.
pub trait AggregateId: Clone + Debug + Display + Send + Sync + 'static {
    /// The aggregate type name, e.g. `"Account"`.
    const AGGREGATE: &'static str;
    /// The aggregate's family of events.
    type Event: Event;
}
