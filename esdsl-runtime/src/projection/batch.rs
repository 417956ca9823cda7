//! An external runner's batch: the events a partition handles, copied out of the backend's
//! read into reused buffers, each handed out again as an [`EventRef`] into them.

use std::ops::{ControlFlow, Range};

use super::ProjectionOptions;
use super::backend::{Damaged, Item, LogEntry, ProjectionRead};
use super::runner::SCAN_LIMIT;
use crate::error::Result;
use crate::store::{EventRef, Filter, MetadataEntries, MetadataRef, encode_metadata};

/// A batch read from the log for an [`ExternalRunner`](super::ExternalRunner): the records
/// this partition handles, and how far the read got.
///
/// The events are copied back to back into two buffers (names in one, metadata and payloads
/// in the other), not made into a `RecordedEvent` each: the runner hands each to its handler
/// as an `EventRef` into the buffers ([`Batch::event`]), and reads each batch into the buffers
/// of the one before ([`Batch::read`]), so catching up allocates nothing per event.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    text: String,
    entries: Vec<Entry>,
    /// Every position up to here was read (handled here, or not this runner's).
    pub(crate) reached: u64,
    /// Bytes of the records taken, toward `max_batch_bytes`.
    taken: usize,
}

#[derive(Debug)]
enum Entry {
    Event(Copied),
    Damaged(Damaged),
}

/// An event's fixed fields, and where its strings and bytes are in the batch's buffers.
#[derive(Debug)]
struct Copied {
    position: u64,
    version: u64,
    schema_version: u32,
    codec_id: u8,
    event_id: uuid::Uuid,
    recorded_secs: i64,
    recorded_nanos: u32,
    correlation_id: Option<uuid::Uuid>,
    causation_id: Option<uuid::Uuid>,
    stream: Range<usize>,
    event_type: Range<usize>,
    metadata: Range<usize>,
    metadata_count: u32,
    payload: Range<usize>,
}

impl Batch {
    /// How many items the batch holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn position(&self, index: usize) -> u64 {
        match &self.entries[index] {
            Entry::Event(copied) => copied.position,
            Entry::Damaged(damaged) => damaged.position,
        }
    }

    /// The event at `index`, where it lies in the batch's buffers; a damaged record is
    /// returned as the error.
    pub(crate) fn event(&self, index: usize) -> Result<EventRef<'_>, &Damaged> {
        match &self.entries[index] {
            Entry::Event(copied) => Ok(EventRef {
                stream: &self.text[copied.stream.clone()],
                position: copied.position,
                version: copied.version,
                event_type: &self.text[copied.event_type.clone()],
                schema_version: copied.schema_version,
                codec_id: copied.codec_id,
                event_id: copied.event_id,
                recorded_secs: copied.recorded_secs,
                recorded_nanos: copied.recorded_nanos,
                correlation_id: copied.correlation_id,
                causation_id: copied.causation_id,
                metadata: MetadataRef::stored(MetadataEntries::new(
                    &self.bytes[copied.metadata.clone()],
                    copied.metadata_count,
                )),
                payload: &self.bytes[copied.payload.clone()],
            }),
            Entry::Damaged(damaged) => Err(damaged),
        }
    }

    /// The item at `index`, owned: for a retry or a parked entry.
    pub(crate) fn item(&self, index: usize) -> Item {
        match self.event(index) {
            Ok(event) => Item::Event(event.to_recorded()),
            Err(damaged) => Item::Damaged(damaged.clone()),
        }
    }

    fn push(&mut self, event: EventRef<'_>) {
        let text = |text: &mut String, s: &str| {
            let start = text.len();
            text.push_str(s);
            start..text.len()
        };
        let stream = text(&mut self.text, event.stream());
        let event_type = text(&mut self.text, event.event_type());
        let start = self.bytes.len();
        encode_metadata(event.metadata(), &mut self.bytes);
        let metadata = start..self.bytes.len();
        let start = self.bytes.len();
        self.bytes.extend_from_slice(event.payload());
        let payload = start..self.bytes.len();
        self.entries.push(Entry::Event(Copied {
            position: event.position,
            version: event.version,
            schema_version: event.schema_version,
            codec_id: event.codec_id,
            event_id: event.event_id,
            recorded_secs: event.recorded_secs,
            recorded_nanos: event.recorded_nanos,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            stream,
            event_type,
            metadata,
            metadata_count: u32::try_from(event.metadata().len()).unwrap_or(u32::MAX),
            payload,
        }));
    }

    fn clear(&mut self, reached: u64) {
        self.bytes.clear();
        self.text.clear();
        self.entries.clear();
        self.reached = reached;
        self.taken = 0;
    }

    /// Reads the next batch after `checkpoint` into this one (its buffers reused), in one
    /// read of the backend: at most `batch_size` positions that pass the filter (damaged ones
    /// included), stopping early once the records it took reach `max_batch_bytes` or
    /// [`SCAN_LIMIT`] positions were scanned.
    pub(crate) fn read(
        &mut self,
        read: &dyn ProjectionRead,
        checkpoint: u64,
        filter: &Filter,
        options: &ProjectionOptions,
    ) -> Result<()> {
        self.clear(checkpoint);
        let partition = options.partition;
        let (mut matched, mut scanned) = (0, 0);
        read.walk_log(checkpoint, filter, &mut |logged| {
            self.reached = logged.position;
            scanned += 1;
            match &logged.entry {
                LogEntry::Skipped => {}
                LogEntry::Event(event) => {
                    matched += 1;
                    if partition.owns(event.stream()) {
                        self.taken += logged.bytes;
                        self.push(*event);
                    }
                }
                LogEntry::Damaged(damaged) => {
                    matched += 1;
                    if damaged.wanted(filter, partition) {
                        self.entries.push(Entry::Damaged((*damaged).clone()));
                    }
                }
            }
            let full = matched >= options.batch_size
                || self.taken >= options.max_batch_bytes
                || scanned >= SCAN_LIMIT;
            Ok(if full {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
    }
}
