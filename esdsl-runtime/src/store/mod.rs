//! The event store contract: [`EventStore`] and the types it speaks in.
//!
//! Every backend implements [`EventStore`]; the embedded one is
//! [`LmdbStore`](crate::lmdb::LmdbStore). `esdsl_runtime::conformance` (feature `testing`)
//! holds the tests of the contract that any backend runs against itself.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::event::{Decoded, Event};

#[cfg(feature = "tokio")]
mod async_store;
mod event_ref;
pub(crate) mod expected;

#[cfg(feature = "tokio")]
pub use async_store::AsyncEventStore;
pub use event_ref::{EventRef, MetadataIter, MetadataRef};
pub(crate) use event_ref::{MetadataEntries, encode_metadata};
pub use expected::ExpectedVersion;

/// The longest stream name, in bytes.
pub const MAX_STREAM_NAME: usize = 400;
/// The longest event type name, in bytes.
pub const MAX_EVENT_TYPE: usize = 255;

/// An event to append: its type, schema version, codec and encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The stored type name: borrowed when it is a `&'static str`, as the generated event
    /// types give it, so an append does not allocate it per event.
    pub event_type: Cow<'static, str>,
    /// The schema version of the payload.
    pub schema_version: u32,
    /// How the payload is encoded.
    pub codec: Codec,
    /// The encoded fields.
    pub payload: Vec<u8>,
}

impl NewEvent {
    /// Encodes a typed event at its newest version.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] when the codec cannot encode the payload.
    pub fn encode<E: Event>(event: &E, codec: Codec) -> Result<NewEvent> {
        let payload = event.encode(codec).map_err(|source| Error::Encode {
            event_type: event.event_type().to_owned(),
            source,
        })?;
        Ok(NewEvent {
            event_type: Cow::Borrowed(event.event_type()),
            schema_version: event.event_version(),
            codec,
            payload,
        })
    }
}

/// Metadata stored with every event of one append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Ties together everything done for one request or workflow.
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one.
    pub causation_id: Option<Uuid>,
    /// Free-form string pairs.
    pub user: BTreeMap<String, String>,
}

/// One stream's part of an atomic append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    /// The stream.
    pub stream: String,
    /// What the stream's version must be.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

/// Where an append's events landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's version after the append (its last event's version).
    pub version: u64,
    /// The global position of the first event appended (`None` when no events were given).
    pub first_position: Option<u64>,
    /// The global position of the last event appended.
    pub last_position: Option<u64>,
}

/// A stored event with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Unique id (UUID v7, time-ordered).
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream: String,
    /// Its version in the stream, from 1.
    pub version: u64,
    /// Its position in the global log, from 1.
    pub position: u64,
    /// When it was committed (UTC; non-decreasing in commit order within one process).
    pub recorded_at: DateTime<Utc>,
    /// The stored type name.
    pub event_type: String,
    /// The schema version of the payload.
    pub schema_version: u32,
    /// The codec id of the payload (see [`Codec::from_id`]).
    pub codec_id: u8,
    /// From the append's [`Metadata`].
    pub correlation_id: Option<Uuid>,
    /// From the append's [`Metadata`].
    pub causation_id: Option<Uuid>,
    /// From the append's [`Metadata`].
    pub metadata: BTreeMap<String, String>,
    /// The encoded payload.
    pub payload: Vec<u8>,
}

impl RecordedEvent {
    /// The aggregate type of the event's stream (see [`category`]).
    pub fn category(&self) -> &str {
        category(&self.stream)
    }

    /// Decodes the payload into the newest version of a typed event, through the upcasters.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCodec`] for a codec id this program does not know, [`Error::Decode`]
    /// (naming stream, position, type and version) for an unknown type or version or a payload
    /// that does not decode.
    pub fn decode<E: Event>(&self) -> Result<Decoded<E>> {
        decode_payload(
            &self.stream,
            self.position,
            self.version,
            &self.event_type,
            self.schema_version,
            self.codec_id,
            &self.payload,
        )
    }
}

/// The decode of [`RecordedEvent::decode`] and [`EventRef::decode`], and its errors. Inlined
/// into a replay's loop; the errors are built out of line.
#[inline]
pub(crate) fn decode_payload<E: Event>(
    stream: &str,
    position: u64,
    stream_version: u64,
    event_type: &str,
    schema_version: u32,
    codec_id: u8,
    payload: &[u8],
) -> Result<Decoded<E>> {
    let Some(codec) = Codec::from_id(codec_id) else {
        return Err(unknown_codec(
            stream,
            position,
            event_type,
            schema_version,
            codec_id,
        ));
    };
    E::decode(event_type, schema_version, payload, codec).map_err(|source| {
        decode_error(
            stream,
            position,
            stream_version,
            event_type,
            schema_version,
            source,
        )
    })
}

#[cold]
fn unknown_codec(
    stream: &str,
    position: u64,
    event_type: &str,
    schema_version: u32,
    codec_id: u8,
) -> Error {
    Error::UnknownCodec {
        stream: stream.to_owned(),
        position,
        event_type: event_type.to_owned(),
        schema_version,
        codec_id,
    }
}

#[cold]
fn decode_error(
    stream: &str,
    position: u64,
    stream_version: u64,
    event_type: &str,
    schema_version: u32,
    source: crate::DecodeError,
) -> Error {
    Error::Decode {
        stream: stream.to_owned(),
        position,
        stream_version,
        event_type: event_type.to_owned(),
        schema_version,
        source,
    }
}

/// Which way to read a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first, from the given version up.
    Forward,
    /// Newest first, from the given version down.
    Backward,
}

/// Which events a read of the global log returns. An empty list means no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events whose stream belongs to one of these aggregate types.
    pub aggregate_types: Vec<String>,
    /// Only events of these stored type names.
    pub event_types: Vec<String>,
}

impl Filter {
    /// Everything.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// Only events of one aggregate type.
    pub fn aggregate(aggregate_type: impl Into<String>) -> Filter {
        Filter {
            aggregate_types: vec![aggregate_type.into()],
            event_types: Vec::new(),
        }
    }

    /// Whether an event of `stream` and `event_type` passes.
    pub fn matches(&self, stream: &str, event_type: &str) -> bool {
        self.matches_stream(stream) && self.matches_type(event_type)
    }

    /// Whether `stream` passes the aggregate types.
    pub(crate) fn matches_stream(&self, stream: &str) -> bool {
        self.aggregate_types.is_empty()
            || self.aggregate_types.iter().any(|a| in_category(stream, a))
    }

    /// Whether `event_type` passes the event types.
    pub(crate) fn matches_type(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

/// A stream and its current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream's name.
    pub name: String,
    /// Its version (its last event's version).
    pub version: u64,
}

/// How many events of one (aggregate type, event type, version) the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The aggregate type (stream category).
    pub aggregate_type: String,
    /// The stored type name.
    pub event_type: String,
    /// The schema version.
    pub schema_version: u32,
    /// How many are stored.
    pub count: u64,
}

/// A lazily read sequence of events. Reads happen in pages, each in its own short read
/// transaction, so iterating never holds the store open for long.
pub type Events<'a> = Box<dyn Iterator<Item = Result<RecordedEvent>> + Send + 'a>;

/// The aggregate type of a stream: the part of its name before the first `-` (the whole name
/// when there is none). Streams written by a repository are named `<Aggregate>-<id>`.
pub fn category(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(head, _)| head)
}

/// Whether `category(stream) == aggregate`, without searching `stream` for its first `-`.
fn in_category(stream: &str, aggregate: &str) -> bool {
    match stream.strip_prefix(aggregate) {
        Some(rest) => (rest.is_empty() || rest.starts_with('-')) && !aggregate.contains('-'),
        None => false,
    }
}

/// The name of the stream of one aggregate instance: `<Aggregate>-<id>`.
pub fn stream_name<I: crate::event::AggregateId>(id: &I) -> String {
    format!("{}-{id}", I::AGGREGATE)
}

/// The contract of an event store. Every method is safe to call from many threads.
///
/// Semantics every backend keeps:
/// - stream versions are dense from 1; global positions are dense from 1 and increase in commit
///   order, so a reader of the global log never misses an event committed before its read began;
/// - an append writes all its events or none, and a multi-stream append all its streams or none;
/// - a failed expected-version check fails only that append, with [`Error::Conflict`];
/// - `Ok` from an append means the events are durable (unless the backend was configured
///   otherwise).
pub trait EventStore: Send + Sync {
    /// Appends events to one stream, atomically.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] when `expected` does not hold; [`Error::InvalidInput`] for an empty
    /// or too long stream or type name; storage errors.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult> {
        let mut results = self.append_multi(
            vec![StreamAppend {
                stream: stream.to_owned(),
                expected,
                events,
            }],
            metadata,
        )?;
        results.pop().ok_or(Error::WriterStopped)
    }

    /// Appends to several streams in one atomic commit, each with its own expected version.
    /// Results are in the order of `appends`.
    ///
    /// # Errors
    ///
    /// As [`EventStore::append`]; a conflict on any stream fails the whole call. A stream named
    /// twice is [`Error::InvalidInput`].
    fn append_multi(
        &self,
        appends: Vec<StreamAppend>,
        metadata: &Metadata,
    ) -> Result<Vec<AppendResult>>;

    /// Reads a stream from `from` (a version; `u64::MAX` reads backward from the end), at most
    /// `limit` events.
    ///
    /// # Errors
    ///
    /// Storage errors when the read starts; each item may be a [`Error::Corrupt`].
    fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Events<'_>>;

    /// Replays a stream forward from version `from`, at most `limit` events, handing each event
    /// to `visit` borrowed from the store, without an owned [`RecordedEvent`] per event: the way
    /// [`crate::Repository`] loads aggregates. `visit` returns [`ControlFlow::Break`] to stop
    /// early; an error from it ends the replay and is returned.
    ///
    /// A backend may call `visit` while it holds a read transaction ([`LmdbStore`](crate::lmdb::LmdbStore) does, one
    /// per 1,024 events): keep `visit` short, never block in it and never call the store from
    /// it. The default implementation reads through [`EventStore::read_stream`].
    ///
    /// # Errors
    ///
    /// Storage errors; [`Error::Corrupt`] for a damaged record or index entry, at its place in
    /// the stream (the events before it have been visited); `visit`'s error.
    fn replay_stream(
        &self,
        stream: &str,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        for event in self.read_stream(stream, from, Direction::Forward, limit)? {
            let event = event?;
            if visit(EventRef::from(&event))?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// [`EventStore::replay_stream`] for a visitor whose type is known, so a backend can compile
    /// it into its read loop instead of calling it through `dyn FnMut` per event. Same
    /// contract and errors; [`crate::Repository`] loads through this. The default calls
    /// [`EventStore::replay_stream`].
    ///
    /// # Errors
    ///
    /// As [`EventStore::replay_stream`].
    fn replay_stream_with<F>(
        &self,
        stream: &str,
        from: u64,
        limit: usize,
        mut visit: F,
    ) -> Result<()>
    where
        F: FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
        Self: Sized,
    {
        self.replay_stream(stream, from, limit, &mut visit)
    }

    /// Reads the global log forward from position `from` (inclusive), keeping events that pass
    /// `filter`, at most `limit` of them.
    ///
    /// # Errors
    ///
    /// Storage errors when the read starts; each item may be a [`Error::Corrupt`].
    fn read_all(&self, from: u64, filter: &Filter, limit: usize) -> Result<Events<'_>>;

    /// Reads the global log forward from position `from` (inclusive) as
    /// [`EventStore::read_all`] does, handing each event that passes `filter` to `visit`
    /// borrowed from the store, at most `limit` of them, without an owned [`RecordedEvent`]
    /// per event: the way [`crate::projection::Subscription::visit_timeout`] reads. It stops
    /// before `limit` only at the end of the log, when `visit` returns [`ControlFlow::Break`]
    /// (after that event), or at an error; an error from `visit` ends the read and is
    /// returned.
    ///
    /// As with [`EventStore::replay_stream`], a backend may call `visit` while it holds a read
    /// transaction: keep `visit` short, never block in it and never call the store from it. The
    /// default implementation reads through [`EventStore::read_all`].
    ///
    /// # Errors
    ///
    /// Storage errors; [`Error::Corrupt`] for a damaged record, keyed by its position in the
    /// `events` table (the events before it have been visited; read again from the position
    /// after it to go on); `visit`'s error.
    fn replay_all(
        &self,
        from: u64,
        filter: &Filter,
        limit: usize,
        visit: &mut dyn FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        for event in self.read_all(from, filter, limit)? {
            let event = event?;
            if visit(EventRef::from(&event))?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// The stream's version, `None` when it does not exist.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn stream_version(&self, stream: &str) -> Result<Option<u64>>;

    /// Every stream with its version, sorted by name.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn streams(&self) -> Result<Vec<StreamInfo>>;

    /// The position of the last committed event, 0 when the store is empty.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn head_position(&self) -> Result<u64>;

    /// How many events of each (aggregate type, event type, version) are stored.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn catalog(&self) -> Result<Vec<CatalogEntry>>;

    /// Blocks until the head position is past `after`, a commit or a stop wakes it, or
    /// `timeout` passes, and returns the head (callers loop until it is past `after`). Woken by
    /// the commit, not by polling, for commits made through this process's store.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64>;

    /// The last position a named consumer recorded as processed (`None`: never).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or too long name; storage errors.
    fn load_checkpoint(&self, name: &str) -> Result<Option<u64>>;

    /// Records the last position a named consumer processed, durably.
    ///
    /// # Errors
    ///
    /// As [`EventStore::load_checkpoint`].
    fn save_checkpoint(&self, name: &str, position: u64) -> Result<()>;

    /// Stores a snapshot of an aggregate's state.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<()>;

    /// The newest snapshot of `stream` at or below version `at_most`.
    ///
    /// # Errors
    ///
    /// Storage errors; a damaged snapshot is not an error but `None` plus the next older one.
    fn load_snapshot(&self, stream: &str, at_most: u64) -> Result<Option<Snapshot>>;
}

/// A stored copy of an aggregate's state at a stream version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The aggregate's stream.
    pub stream: String,
    /// The stream version the state reflects.
    pub version: u64,
    /// Identifies the state type's shape; a snapshot with another fingerprint is ignored.
    pub fingerprint: u64,
    /// The encoded state.
    pub state: Vec<u8>,
}

/// The longest checkpoint or projection name, in bytes.
pub const MAX_CONSUMER_NAME: usize = 200;

pub(crate) fn validate_stream_name(stream: &str) -> Result<()> {
    validate_name("stream name", stream, MAX_STREAM_NAME)
}

pub(crate) fn validate_consumer_name(name: &str) -> Result<()> {
    validate_name("consumer name", name, MAX_CONSUMER_NAME)
}

/// Checks that every event stored for `E`'s aggregate type can be read by `E`.
///
/// A version newer than `E` knows passes when the event is declared forward compatible that
/// far ([`Decodability::Newer`](crate::Decodability::Newer)): a program built from the previous
/// schema keeps running beside one that writes the new version. The catalog does not record
/// codecs, so one written with a codec the promise does not cover still fails, typed, when it
/// is decoded.
///
/// # Errors
///
/// [`Error::Undecodable`] listing each stored (type, version) that `E` does not know, with its
/// count; storage errors.
pub fn check_decodable<E: Event>(store: &dyn EventStore) -> Result<()> {
    use crate::event::Decodability;
    let entries: Vec<crate::error::Undecodable> = store
        .catalog()?
        .into_iter()
        .filter(|entry| entry.aggregate_type == E::AGGREGATE)
        .filter_map(|entry| {
            let reason = match E::decodability(&entry.event_type, entry.schema_version) {
                Decodability::Decodable | Decodability::Skipped | Decodability::Newer { .. } => {
                    return None;
                }
                Decodability::UnknownType => "unknown event type".to_owned(),
                Decodability::UnknownVersion { newest } => {
                    format!("newest known version is {newest}")
                }
            };
            Some(crate::error::Undecodable {
                event_type: entry.event_type,
                schema_version: entry.schema_version,
                count: entry.count,
                reason,
            })
        })
        .collect();
    if entries.is_empty() {
        Ok(())
    } else {
        Err(Error::Undecodable {
            aggregate: E::AGGREGATE.to_owned(),
            entries,
        })
    }
}

pub(crate) fn validate_append(appends: &[StreamAppend]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(appends.len());
    for append in appends {
        validate_name("stream name", &append.stream, MAX_STREAM_NAME)?;
        if !seen.insert(append.stream.as_str()) {
            return Err(Error::InvalidInput(format!(
                "stream `{}` appears twice in one append",
                append.stream
            )));
        }
        for event in &append.events {
            validate_name("event type", &event.event_type, MAX_EVENT_TYPE)?;
            if u32::try_from(event.payload.len()).is_err() {
                return Err(Error::InvalidInput(format!(
                    "payload of `{}` is over 4 GiB",
                    event.event_type
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn validate_metadata(metadata: &Metadata) -> Result<()> {
    for (key, value) in &metadata.user {
        if u32::try_from(key.len()).is_err() || u32::try_from(value.len()).is_err() {
            return Err(Error::InvalidInput("metadata entry over 4 GiB".into()));
        }
    }
    Ok(())
}

fn validate_name(what: &str, name: &str, max: usize) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidInput(format!("{what} is empty")));
    }
    if name.len() > max {
        return Err(Error::InvalidInput(format!(
            "{what} `{}...` is {} bytes, the limit is {max}",
            name.chars().take(20).collect::<String>(),
            name.len()
        )));
    }
    if name.contains('\0') {
        return Err(Error::InvalidInput(format!(
            "{what} `{name}` contains a NUL byte"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn in_category_agrees_with_category(stream in "[Ab-]{0,6}", aggregate in "[Ab-]{0,4}") {
            proptest::prop_assert_eq!(
                in_category(&stream, &aggregate),
                category(&stream) == aggregate
            );
        }
    }

    #[test]
    fn in_category_cases() {
        assert!(in_category("Account-1", "Account"));
        assert!(in_category("Account", "Account"));
        assert!(!in_category("Accounts-1", "Account"));
        assert!(!in_category("Account-1-2", "Account-1"));
        assert!(in_category("", ""));
        assert!(!in_category("-1", "Account"));
        assert!(in_category("-1", ""));
    }
}
