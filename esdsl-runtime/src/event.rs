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
    /// [`DecodeError::UnknownVersion`] for a version outside `1..=newest` that the event's
    /// [`ReadsAhead`] does not cover, and [`DecodeError::Payload`] when the bytes do not decode
    /// as that version. A newer version that the schema declared forward compatible decodes
    /// as the newest known one, as [`Decoded::Newer`].
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
        } else if version > info.newest_version
            && info.reads_ahead.covers(info.newest_version, version)
        {
            Decodability::Newer {
                newest: info.newest_version,
            }
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
    /// Which versions newer than `newest_version` this program reads anyway, as its newest
    /// (the event's forward compatibility in the schema it was built from).
    pub reads_ahead: ReadsAhead,
}

/// Which stored versions newer than the newest it knows a program reads anyway, by decoding
/// them as its newest version and ignoring what it does not know.
///
/// Generated from the event's `compatibility` in the schema: `backward` reads nothing ahead
/// ([`ReadsAhead::NONE`]), `forward` and `full` one version ahead, their `_transitive` variants
/// any number of versions ahead; `codecs` limits it to the codecs the evolution check proved the
/// promise for (postcard is positional, so it allows fewer changes than JSON).
///
/// ```
/// use esdsl_runtime::{Codec, ReadsAhead};
///
/// let forward_json = ReadsAhead { versions: 1, json: true, postcard: false };
/// assert!(forward_json.allows(2, 3, Codec::Json));
/// assert!(!forward_json.allows(2, 3, Codec::Postcard));
/// assert!(!forward_json.allows(2, 4, Codec::Json)); // two versions ahead
/// assert!(!ReadsAhead::NONE.allows(2, 3, Codec::Json));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadsAhead {
    /// How many versions past the newest known are read: 0 for none, `u32::MAX` for any.
    pub versions: u32,
    /// Whether JSON payloads of those versions are read.
    pub json: bool,
    /// Whether postcard payloads of those versions are read.
    pub postcard: bool,
}

impl ReadsAhead {
    /// Reads nothing newer than the newest version (`compatibility = "backward"`).
    pub const NONE: ReadsAhead = ReadsAhead {
        versions: 0,
        json: false,
        postcard: false,
    };

    /// Whether a stored `version` (newer than `newest`) is read, with some codec.
    pub fn covers(&self, newest: u32, version: u32) -> bool {
        (self.json || self.postcard) && version > newest && version - newest <= self.versions
    }

    /// Whether a stored `version` (newer than `newest`) written with `codec` is read.
    pub fn allows(&self, newest: u32, version: u32, codec: Codec) -> bool {
        let codec_ok = match codec {
            Codec::Json => self.json,
            Codec::Postcard => self.postcard,
        };
        codec_ok && self.covers(newest, version)
    }
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
    /// The stored event was written at a version newer than any this program knows, and the
    /// schema declared the event forward compatible: it was decoded as the newest known
    /// version, ignoring what that version does not have.
    Newer {
        /// The event, as the newest version this program knows.
        event: E,
        /// The version it was stored with.
        stored_version: u32,
    },
    /// The stored event is of a retired type; typed readers skip it.
    Skipped,
}

impl<E> Decoded<E> {
    /// The event (upcast, or read from a newer version), or `None` when it was skipped.
    pub fn into_event(self) -> Option<E> {
        match self {
            Decoded::Event(event) | Decoded::Newer { event, .. } => Some(event),
            Decoded::Skipped => None,
        }
    }

    /// The version the event was stored with when it is newer than this program knows.
    pub fn newer_version(&self) -> Option<u32> {
        match self {
            Decoded::Newer { stored_version, .. } => Some(*stored_version),
            Decoded::Event(_) | Decoded::Skipped => None,
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
    /// The version is newer than the newest known, and the event is declared forward
    /// compatible that far: it reads as the newest known version (for the codecs its
    /// [`ReadsAhead`] names).
    Newer {
        /// The newest version the program knows.
        newest: u32,
    },
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
    /// The stored version is not one this program knows, and the schema it was built from does
    /// not declare the event forward compatible that far (or not for this codec).
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
