//! Stored events borrowed where they lie: what replays and projection handlers receive.

use std::collections::{BTreeMap, btree_map};
use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{RecordedEvent, decode_payload};
use crate::codec::Codec;
use crate::error::Result;
use crate::event::{Decoded, Event};

/// A stored event borrowed from the store: what the visitor of
/// [`EventStore::replay_stream`](super::EventStore::replay_stream) and projection handlers
/// receive. The stream name, the type name, the metadata and the payload point into the
/// store's pages, so nothing is copied or allocated per event. Copy out what must outlive the
/// call, or make a [`RecordedEvent`] of it with [`EventRef::to_recorded`].
///
/// ```
/// use std::ops::ControlFlow;
/// use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata, NewEvent};
/// use esdsl_runtime::Codec;
/// use esdsl_runtime::lmdb::LmdbStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = LmdbStore::open(dir.path())?;
/// let event = NewEvent {
///     event_type: "Opened".into(),
///     schema_version: 1,
///     codec: Codec::Json,
///     payload: b"{}".to_vec(),
/// };
/// let mut metadata = Metadata::default();
/// metadata.user.insert("tenant".into(), "acme".into());
/// store.append("Account-1", ExpectedVersion::NoStream, vec![event], &metadata)?;
/// store.replay_stream("Account-1", 1, usize::MAX, &mut |event| {
///     assert_eq!((event.stream(), event.version()), ("Account-1", 1));
///     assert_eq!(event.metadata().get("tenant"), Some("acme"));
///     Ok(ControlFlow::Continue(()))
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub(crate) stream: &'a str,
    pub(crate) position: u64,
    pub(crate) version: u64,
    pub(crate) event_type: &'a str,
    pub(crate) schema_version: u32,
    pub(crate) codec_id: u8,
    pub(crate) event_id: Uuid,
    pub(crate) recorded_secs: i64,
    pub(crate) recorded_nanos: u32,
    pub(crate) correlation_id: Option<Uuid>,
    pub(crate) causation_id: Option<Uuid>,
    pub(crate) metadata: MetadataRef<'a>,
    pub(crate) payload: &'a [u8],
}

impl<'a> EventRef<'a> {
    /// The stream it belongs to.
    pub fn stream(&self) -> &'a str {
        self.stream
    }

    /// The aggregate type of the event's stream (see [`category`](super::category)).
    pub fn category(&self) -> &'a str {
        super::category(self.stream)
    }

    /// Its position in the global log, from 1: the idempotency key of an external projection.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Its version in the stream, from 1.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The stored type name.
    pub fn event_type(&self) -> &'a str {
        self.event_type
    }

    /// The schema version of the payload.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The codec id of the payload (see [`Codec::from_id`]).
    pub fn codec_id(&self) -> u8 {
        self.codec_id
    }

    /// Unique id (UUID v7, time-ordered).
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }

    /// When it was committed (UTC; non-decreasing in commit order within one process).
    pub fn recorded_at(&self) -> DateTime<Utc> {
        recorded_at(self.recorded_secs, self.recorded_nanos)
    }

    /// From the append's [`Metadata`](super::Metadata).
    pub fn correlation_id(&self) -> Option<Uuid> {
        self.correlation_id
    }

    /// From the append's [`Metadata`](super::Metadata).
    pub fn causation_id(&self) -> Option<Uuid> {
        self.causation_id
    }

    /// The user metadata of the append ([`Metadata::user`](super::Metadata::user)).
    pub fn metadata(&self) -> MetadataRef<'a> {
        self.metadata
    }

    /// The encoded payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Decodes the payload into the newest version of a typed event, through the upcasters,
    /// with the same errors as [`RecordedEvent::decode`].
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCodec`](crate::Error::UnknownCodec) for a codec id this program does
    /// not know, [`Error::Decode`](crate::Error::Decode) (naming stream, position, type and
    /// version) for an unknown type or version or a payload that does not decode.
    #[inline]
    pub fn decode<E: Event>(&self) -> Result<Decoded<E>> {
        decode_payload(
            self.stream,
            self.position,
            self.version,
            self.event_type,
            self.schema_version,
            self.codec_id,
            self.payload,
        )
    }

    /// The event as an owned [`RecordedEvent`] (its strings, metadata and payload copied).
    pub fn to_recorded(&self) -> RecordedEvent {
        RecordedEvent {
            event_id: self.event_id,
            stream: self.stream.to_owned(),
            version: self.version,
            position: self.position,
            recorded_at: self.recorded_at(),
            event_type: self.event_type.to_owned(),
            schema_version: self.schema_version,
            codec_id: self.codec_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            metadata: self.metadata.to_map(),
            payload: self.payload.to_vec(),
        }
    }

    /// The codec of the payload, when this program knows its id.
    pub fn codec(&self) -> Option<Codec> {
        Codec::from_id(self.codec_id)
    }
}

impl<'a> From<&'a RecordedEvent> for EventRef<'a> {
    fn from(event: &'a RecordedEvent) -> EventRef<'a> {
        EventRef {
            stream: &event.stream,
            position: event.position,
            version: event.version,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            codec_id: event.codec_id,
            event_id: event.event_id,
            recorded_secs: event.recorded_at.timestamp(),
            recorded_nanos: event.recorded_at.timestamp_subsec_nanos(),
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            metadata: MetadataRef(Entries::Map(&event.metadata)),
            payload: &event.payload,
        }
    }
}

/// The user metadata of an [`EventRef`], borrowed: keys are unique and come in sorted order,
/// as in [`Metadata::user`](super::Metadata::user).
#[derive(Clone, Copy)]
pub struct MetadataRef<'a>(Entries<'a>);

#[derive(Clone, Copy)]
enum Entries<'a> {
    /// As the record stores them.
    Stored(MetadataEntries<'a>),
    /// A [`RecordedEvent`]'s.
    Map(&'a BTreeMap<String, String>),
}

impl<'a> MetadataRef<'a> {
    /// Entries as a backend stores them (see [`MetadataEntries`]).
    #[inline]
    pub(crate) fn stored(entries: MetadataEntries<'a>) -> MetadataRef<'a> {
        MetadataRef(Entries::Stored(entries))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        match self.0 {
            // Keys are stored unique; were one stored twice, the last wins, as in `to_map`.
            Entries::Stored(entries) => entries.filter(|(k, _)| *k == key).last().map(|e| e.1),
            Entries::Map(map) => map.get(key).map(String::as_str),
        }
    }

    /// The entries, in key order.
    pub fn iter(&self) -> MetadataIter<'a> {
        MetadataIter(match self.0 {
            Entries::Stored(entries) => Iter::Stored(entries),
            Entries::Map(map) => Iter::Map(map.iter()),
        })
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        match self.0 {
            Entries::Stored(entries) => entries.len(),
            Entries::Map(map) => map.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries as an owned map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    }
}

impl fmt::Debug for MetadataRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for MetadataRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for MetadataRef<'_> {}

impl<'a> IntoIterator for MetadataRef<'a> {
    type Item = (&'a str, &'a str);
    type IntoIter = MetadataIter<'a>;

    fn into_iter(self) -> MetadataIter<'a> {
        self.iter()
    }
}

/// The entries of a [`MetadataRef`], in key order.
#[derive(Debug, Clone)]
pub struct MetadataIter<'a>(Iter<'a>);

#[derive(Debug, Clone)]
enum Iter<'a> {
    Stored(MetadataEntries<'a>),
    Map(btree_map::Iter<'a, String, String>),
}

impl<'a> Iterator for MetadataIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        match &mut self.0 {
            Iter::Stored(entries) => entries.next(),
            Iter::Map(map) => map.next().map(|(k, v)| (k.as_str(), v.as_str())),
        }
    }
}

/// Metadata entries encoded back to back, each a `u32` length and UTF-8 key, then a `u32`
/// length and UTF-8 value (big-endian), in key order: how the LMDB record stores them, and how
/// a copied batch keeps them. The encoder ([`encode_metadata`]) and a parser that checked the
/// entries come first; this only walks them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetadataEntries<'a> {
    bytes: &'a [u8],
    left: u32,
}

impl<'a> MetadataEntries<'a> {
    /// `count` entries in `bytes`.
    #[inline]
    pub(crate) fn new(bytes: &'a [u8], count: u32) -> MetadataEntries<'a> {
        MetadataEntries { bytes, left: count }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.left as usize
    }

    fn str32(&mut self) -> Option<&'a str> {
        let (len, rest) = self.bytes.split_first_chunk::<4>()?;
        let (text, rest) = rest.split_at_checked(u32::from_be_bytes(*len) as usize)?;
        self.bytes = rest;
        std::str::from_utf8(text).ok()
    }
}

impl<'a> Iterator for MetadataEntries<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.left == 0 {
            return None;
        }
        // The parse checked every entry; bytes that do not read end the entries.
        let entry = self.str32().zip(self.str32());
        self.left = if entry.is_some() { self.left - 1 } else { 0 };
        entry
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// Appends `entries` to `out` in the layout [`MetadataEntries`] reads. Each key and value is
/// at most `u32::MAX` bytes (checked when the append was validated).
pub(crate) fn encode_metadata<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    out: &mut Vec<u8>,
) {
    for (key, value) in entries {
        for text in [key, value] {
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// A time from seconds and nanoseconds since the epoch, as a backend stores it. Backends
/// check the time when they read a record; were one out of range, this gives the epoch rather
/// than panic on bytes from the disk.
#[inline]
pub(crate) fn recorded_at(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, nanos).unwrap_or_default()
}
