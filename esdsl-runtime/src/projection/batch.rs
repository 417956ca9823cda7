//! Reading batches for the runners: the events a partition handles, damaged records included.
//!
//! A damaged record (one whose envelope does not parse) is not an end of the road: what can be
//! read of its envelope decides whether this runner needs it (filter and partition), and a
//! record it needs goes through the same retry and parking as an event whose handler fails.

use std::ops::{Bound, Range};
use std::time::Duration;

use heed::RoTxn;

use super::{HandlerError, Partition, ProjectionOptions};
use crate::error::Result;
use crate::event::{Decoded, Event};
use crate::lmdb::LmdbStore;
use crate::lmdb::env::Dbs;
use crate::lmdb::reads::record_at;
use crate::lmdb::record::{Readable, RecordView, readable_envelope};
use crate::lmdb::tables::corrupt;
use crate::lmdb::tables::u64_from;
use crate::store::{EventRef, Filter, RecordedEvent, category};

/// Parses the records of a walk along the log. Runs of records share their stream and type,
/// so each record is parsed with the previous one's names as the known ones
/// ([`RecordView::parse_known`] then hands back that very `&str`, without a UTF-8 check), and
/// a name at the same address keeps the filter's verdict on it.
#[derive(Default)]
pub(crate) struct LogWalker<'t> {
    stream: Option<(&'t str, bool)>,
    event_type: Option<(&'t str, bool)>,
}

impl<'t> LogWalker<'t> {
    /// The record, and whether it passes `filter`.
    #[inline]
    pub(crate) fn parse(
        &mut self,
        bytes: &'t [u8],
        filter: &Filter,
    ) -> Result<(RecordView<'t>, bool), String> {
        let known = |name: Option<(&'t str, bool)>| name.map(|(name, _)| name);
        let view = RecordView::parse_known(bytes, known(self.stream), known(self.event_type))?;
        let stream = kept(&mut self.stream, view.stream, |s| filter.matches_stream(s));
        let event_type = kept(&mut self.event_type, view.event_type, |t| {
            filter.matches_type(t)
        });
        Ok((view, stream && event_type))
    }
}

/// The verdict kept in `slot` when it is for `name` itself (the same address), else `judge`'s,
/// kept for `name`.
#[inline]
fn kept<'t>(
    slot: &mut Option<(&'t str, bool)>,
    name: &'t str,
    judge: impl FnOnce(&str) -> bool,
) -> bool {
    match *slot {
        Some((kept, verdict)) if std::ptr::eq(kept, name) => verdict,
        _ => {
            let verdict = judge(name);
            *slot = Some((name, verdict));
            verdict
        }
    }
}

/// A record this runner needs but cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damaged {
    pub(crate) position: u64,
    pub(crate) readable: Readable,
    /// The `Error::Corrupt` message.
    pub(crate) error: String,
}

/// One position of the log a runner has to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    Event(RecordedEvent),
    Damaged(Damaged),
}

impl Item {
    pub(crate) fn position(&self) -> u64 {
        match self {
            Item::Event(event) => event.position,
            Item::Damaged(damaged) => damaged.position,
        }
    }

    /// The stream, empty when unreadable.
    pub(crate) fn stream(&self) -> &str {
        match self {
            Item::Event(event) => &event.stream,
            Item::Damaged(damaged) => damaged.readable.stream.as_deref().unwrap_or_default(),
        }
    }

    /// The stored type name, empty when unreadable.
    pub(crate) fn event_type(&self) -> &str {
        match self {
            Item::Event(event) => &event.event_type,
            Item::Damaged(damaged) => damaged.readable.event_type.as_deref().unwrap_or_default(),
        }
    }

    pub(crate) fn stream_version(&self) -> Option<u64> {
        match self {
            Item::Event(event) => Some(event.version),
            Item::Damaged(damaged) => damaged.readable.stream_version,
        }
    }

    pub(crate) fn schema_version(&self) -> Option<u32> {
        match self {
            Item::Event(event) => Some(event.schema_version),
            Item::Damaged(damaged) => damaged.readable.schema_version,
        }
    }
}

/// Whether a runner with `filter` and `partition` handles this event.
pub(crate) fn wants(event: &RecordedEvent, filter: &Filter, partition: Partition) -> bool {
    filter.matches(&event.stream, &event.event_type) && partition.owns(&event.stream)
}

impl Damaged {
    /// Whether a runner with `filter` and `partition` handles this damaged record: unless
    /// what is readable of it shows it is not the runner's, since a record the runner cannot
    /// rule out is never dropped silently.
    pub(crate) fn wanted(&self, filter: &Filter, partition: Partition) -> bool {
        let stream = self.readable.stream.as_deref();
        let event_type = self.readable.event_type.as_deref();
        let other_aggregate = !filter.aggregate_types.is_empty()
            && stream.is_some_and(|s| !filter.aggregate_types.iter().any(|a| a == category(s)));
        let other_type = !filter.event_types.is_empty()
            && event_type.is_some_and(|t| !filter.event_types.iter().any(|x| x == t));
        let other_partition = stream.is_some_and(|s| !partition.owns(s));
        !(other_aggregate || other_type || other_partition)
    }
}

/// The record at `position`, read in `txn`: an event, or what is readable of a damaged (or
/// missing) record.
pub(crate) fn read_at(txn: &RoTxn<'_>, dbs: &Dbs, position: u64) -> Result<Item> {
    Ok(match dbs.events.get(txn, &position.to_be_bytes())? {
        Some(bytes) => match record_at(position, bytes) {
            Ok(event) => Item::Event(event),
            Err(error) => Item::Damaged(Damaged {
                position,
                readable: readable_envelope(bytes),
                error: error.to_string(),
            }),
        },
        None => Item::Damaged(Damaged {
            position,
            readable: Readable::default(),
            error: corrupt("events", &position.to_string(), "the record is missing").to_string(),
        }),
    })
}

/// At most this many positions are scanned for one batch, so a filter that matches little
/// does not hold a read transaction over the whole log.
pub(crate) const SCAN_LIMIT: usize = 65_536;

/// A batch read from the log for an [`ExternalRunner`](super::ExternalRunner) (a store runner
/// reads the log in a read transaction beside its write transaction instead): the records
/// this partition handles, and how far the read got.
///
/// The records are copied back to back into one buffer, not decoded into a `RecordedEvent`
/// each: the runner hands each to its handler as an `EventRef` into the buffer
/// ([`Batch::event`]), and reads each batch into the buffers of the one before
/// ([`next_batch`]), so catching up allocates nothing per event. Stream names and types,
/// checked for UTF-8 when the batch is read, are kept as text, so parsing a record again
/// only compares them.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    records: Vec<u8>,
    text: String,
    entries: Vec<Entry>,
    /// Every position up to here was read (handled here, or not this runner's).
    pub(crate) reached: u64,
}

#[derive(Debug)]
enum Entry {
    /// A record whose envelope parsed: its bytes are `records[bytes]`, its stream name
    /// `text[text_start..stream_end]` and its type `text[stream_end..type_end]`.
    Record {
        position: u64,
        bytes: Range<usize>,
        text_start: usize,
        stream_end: usize,
        type_end: usize,
    },
    Damaged(Damaged),
}

impl Batch {
    /// How many items the batch holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn position(&self, index: usize) -> u64 {
        match &self.entries[index] {
            Entry::Record { position, .. } => *position,
            Entry::Damaged(damaged) => damaged.position,
        }
    }

    /// The event at `index`, where it lies in the batch's buffer; a damaged record is returned
    /// as the error.
    pub(crate) fn event(&self, index: usize) -> Result<EventRef<'_>, Damaged> {
        match &self.entries[index] {
            Entry::Record {
                position,
                bytes,
                text_start,
                stream_end,
                type_end,
            } => {
                let bytes = &self.records[bytes.clone()];
                let stream = self.text.get(*text_start..*stream_end);
                let event_type = self.text.get(*stream_end..*type_end);
                match RecordView::parse_known(bytes, stream, event_type) {
                    Ok(view) => Ok(view.event_ref(*position)),
                    // Parsed when the batch was read; the same bytes cannot fail now, but if
                    // they did, the record goes the way of every damaged one.
                    Err(reason) => Err(damaged(*position, bytes, &reason)),
                }
            }
            Entry::Damaged(damaged) => Err(damaged.clone()),
        }
    }

    /// The item at `index`, owned: for a retry or a parked entry.
    pub(crate) fn item(&self, index: usize) -> Item {
        match self.event(index) {
            Ok(event) => Item::Event(event.to_recorded()),
            Err(damaged) => Item::Damaged(damaged),
        }
    }

    fn clear(&mut self, reached: u64) {
        self.records.clear();
        self.text.clear();
        self.entries.clear();
        self.reached = reached;
    }
}

/// What is readable of the damaged record at `position`, with why it does not parse.
pub(crate) fn damaged(position: u64, bytes: &[u8], reason: &str) -> Damaged {
    Damaged {
        position,
        readable: readable_envelope(bytes),
        error: corrupt("events", &position.to_string(), reason).to_string(),
    }
}

/// Reads the next batch after `checkpoint` into `batch` (its buffers reused), in one read
/// transaction: at most `batch_size` positions that pass the filter (damaged ones included),
/// stopping early once the records it holds reach `max_batch_bytes` or [`SCAN_LIMIT`]
/// positions were scanned.
pub(crate) fn next_batch(
    store: &LmdbStore,
    checkpoint: u64,
    filter: &Filter,
    options: &ProjectionOptions,
    batch: &mut Batch,
) -> Result<()> {
    batch.clear(checkpoint);
    let Some(first) = checkpoint.checked_add(1) else {
        return Ok(());
    };
    let partition = options.partition;
    store.shared().read(|txn, dbs| {
        let start = first.to_be_bytes();
        let range = (Bound::Included(&start[..]), Bound::Unbounded);
        let (mut matched, mut scanned) = (0, 0);
        let mut walker = LogWalker::default();
        for entry in dbs.events.range(txn, &range)? {
            let (key, value) = entry?;
            let position = u64_from(key)
                .ok_or_else(|| corrupt("events", &format!("{key:?}"), "key is not 8 bytes"))?;
            batch.reached = position;
            scanned += 1;
            match walker.parse(value, filter) {
                Ok((view, wanted)) => {
                    if wanted {
                        matched += 1;
                        if partition.owns(view.stream) {
                            let start = batch.records.len();
                            batch.records.extend_from_slice(value);
                            let text_start = batch.text.len();
                            batch.text.push_str(view.stream);
                            let stream_end = batch.text.len();
                            batch.text.push_str(view.event_type);
                            batch.entries.push(Entry::Record {
                                position,
                                bytes: start..batch.records.len(),
                                text_start,
                                stream_end,
                                type_end: batch.text.len(),
                            });
                        }
                    }
                }
                Err(reason) => {
                    matched += 1;
                    let damaged = damaged(position, value, &reason);
                    if damaged.wanted(filter, partition) {
                        batch.entries.push(Entry::Damaged(damaged));
                    }
                }
            }
            if matched >= options.batch_size
                || batch.records.len() >= options.max_batch_bytes
                || scanned >= SCAN_LIMIT
            {
                break;
            }
        }
        Ok(())
    })
}

/// Decodes an event for a projection: `Ok(None)` for a retired type.
pub(crate) fn decode<E: Event>(recorded: &EventRef<'_>) -> Result<Option<E>, HandlerError> {
    match recorded.decode::<E>() {
        Ok(Decoded::Event(event)) => Ok(Some(event)),
        Ok(Decoded::Skipped) => Ok(None),
        Err(error) => Err(Box::new(error)),
    }
}

pub(crate) fn backoff(options: &ProjectionOptions, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    options
        .backoff
        .saturating_mul(factor)
        .min(options.max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lmdb::record::tests::full;

    #[test]
    fn a_damaged_record_is_wanted_unless_its_readable_part_rules_it_out() {
        let damaged = |readable: Readable| Damaged {
            position: 1,
            readable,
            error: "bad".into(),
        };
        let account = Filter::aggregate("Account");
        assert!(damaged(full()).wanted(&account, Partition::ALL));
        assert!(!damaged(full()).wanted(&Filter::aggregate("Order"), Partition::ALL));
        assert!(damaged(Readable::default()).wanted(&Filter::aggregate("Order"), Partition::ALL));
        let types = Filter {
            aggregate_types: Vec::new(),
            event_types: vec!["MoneyWithdrawn".into()],
        };
        assert!(!damaged(full()).wanted(&types, Partition::ALL));
        let no_type = Readable {
            event_type: None,
            ..full()
        };
        assert!(damaged(no_type).wanted(&types, Partition::ALL));
        let owner = (0..2)
            .find(|i| {
                Partition {
                    index: *i,
                    count: 2,
                }
                .owns("Account-7")
            })
            .expect("one owner");
        let other = Partition {
            index: 1 - owner,
            count: 2,
        };
        assert!(!damaged(full()).wanted(&account, other));
        assert!(damaged(Readable::default()).wanted(&account, other));
    }

    /// A record of `stream` and `event_type`.
    fn record(stream: &str, event_type: &str) -> Vec<u8> {
        let metadata = std::collections::BTreeMap::new();
        let envelope = crate::lmdb::record::Envelope {
            event_id: uuid::Uuid::from_u128(1),
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            stream,
            version: 1,
            event_type,
            schema_version: 1,
            codec: crate::Codec::Json,
            correlation_id: None,
            causation_id: None,
            metadata: &metadata,
        };
        let mut out = Vec::new();
        crate::lmdb::record::encode(&envelope, b"{}", &mut out);
        out
    }

    proptest::proptest! {
        /// Whatever runs of names a walk meets, the walker's verdict is the filter's, and it
        /// hands out the record's own names.
        #[test]
        fn a_walker_keeps_the_filters_verdict(
            names in proptest::collection::vec((0..4usize, 0..3usize), 1..40),
            aggregates in proptest::collection::vec(0..3usize, 0..3),
            types in proptest::collection::vec(0..3usize, 0..3),
        ) {
            const STREAMS: [&str; 4] = ["Account-1", "Account-2", "Order-1", "Account"];
            const TYPES: [&str; 3] = ["Opened", "Closed", "Renamed"];
            let filter = Filter {
                aggregate_types: aggregates.iter().map(|a| ["Account", "Order", "Acc"][*a].to_owned()).collect(),
                event_types: types.iter().map(|t| TYPES[*t].to_owned()).collect(),
            };
            let records: Vec<(usize, usize, Vec<u8>)> = names
                .iter()
                .map(|(s, t)| (*s, *t, record(STREAMS[*s], TYPES[*t])))
                .collect();
            let mut walker = LogWalker::default();
            for (s, t, bytes) in &records {
                let (view, wanted) = walker.parse(bytes, &filter).expect("parses");
                proptest::prop_assert_eq!(view.stream, STREAMS[*s]);
                proptest::prop_assert_eq!(view.event_type, TYPES[*t]);
                proptest::prop_assert_eq!(wanted, filter.matches(STREAMS[*s], TYPES[*t]));
            }
        }
    }
}
