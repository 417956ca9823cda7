//! Reading batches for the runners: the events a partition handles, damaged records included.
//!
//! A damaged record (one whose envelope does not parse) is not an end of the road: what can be
//! read of its envelope decides whether this runner needs it (filter and partition), and a
//! record it needs goes through the same retry and parking as an event whose handler fails.

use std::time::Duration;

use heed::RoTxn;

use super::{HandlerError, Partition, ProjectionOptions};
use crate::error::{Error, Result};
use crate::event::{Decoded, Event};
use crate::store::lmdb::{Dbs, corrupt, record_at};
use crate::store::record::{Readable, readable_envelope};
use crate::store::{EventStore, Filter, LmdbStore, RecordedEvent, category};

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

    fn payload_len(&self) -> usize {
        match self {
            Item::Event(event) => event.payload.len() + event.stream.len(),
            Item::Damaged(_) => 0,
        }
    }
}

/// Whether a runner with `filter` and `partition` handles this event.
pub(crate) fn wants(event: &RecordedEvent, filter: &Filter, partition: Partition) -> bool {
    filter.matches(&event.stream, &event.event_type) && partition.owns(&event.stream)
}

/// Whether a runner with `filter` and `partition` handles this item. A damaged record is
/// handled unless what is readable of it shows it is not the runner's: a record the runner
/// cannot rule out is never dropped silently.
pub(crate) fn wanted(item: &Item, filter: &Filter, partition: Partition) -> bool {
    match item {
        Item::Event(event) => wants(event, filter, partition),
        Item::Damaged(damaged) => {
            let stream = damaged.readable.stream.as_deref();
            let event_type = damaged.readable.event_type.as_deref();
            let other_aggregate = !filter.aggregate_types.is_empty()
                && stream.is_some_and(|s| !filter.aggregate_types.iter().any(|a| a == category(s)));
            let other_type = !filter.event_types.is_empty()
                && event_type.is_some_and(|t| !filter.event_types.iter().any(|x| x == t));
            let other_partition = stream.is_some_and(|s| !partition.owns(s));
            !(other_aggregate || other_type || other_partition)
        }
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

/// A batch read from the log: the items this partition handles, and how far the read got.
pub(crate) struct Batch {
    pub(crate) items: Vec<Item>,
    /// Every position up to here was read (handled here, or not this runner's).
    pub(crate) reached: u64,
}

/// Reads the next batch after `checkpoint`: at most `batch_size` positions that pass the filter
/// (damaged ones included), stopping early once the items hold `max_batch_bytes`.
pub(crate) fn next_batch(
    store: &LmdbStore,
    checkpoint: u64,
    filter: &Filter,
    options: &ProjectionOptions,
) -> Result<Batch> {
    let head = store.head_position()?;
    if head <= checkpoint {
        return Ok(Batch {
            items: Vec::new(),
            reached: checkpoint,
        });
    }
    let mut items = Vec::new();
    let mut last = checkpoint;
    let mut matched = 0;
    let mut bytes = 0;
    let mut full = false;
    for event in store.read_all(checkpoint + 1, filter, options.batch_size)? {
        let item = match event {
            Ok(event) => Item::Event(event),
            Err(Error::Corrupt {
                table: "events",
                key,
                reason,
            }) => {
                let Ok(position) = key.parse::<u64>() else {
                    return Err(Error::Corrupt {
                        table: "events",
                        key,
                        reason,
                    });
                };
                // Read it again to see what of its envelope is readable.
                store
                    .shared()
                    .read(|txn, dbs| read_at(txn, dbs, position))?
            }
            Err(other) => return Err(other),
        };
        matched += 1;
        last = item.position();
        if wanted(&item, filter, options.partition) {
            bytes += item.payload_len();
            items.push(item);
            if bytes >= options.max_batch_bytes {
                full = true;
                break;
            }
        }
    }
    let reached = if matched < options.batch_size && !full {
        last.max(head)
    } else {
        last
    };
    Ok(Batch { items, reached })
}

/// Decodes an event for a projection: `Ok(None)` for a retired type.
pub(crate) fn decode<E: Event>(recorded: &RecordedEvent) -> Result<Option<E>, HandlerError> {
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
    use crate::store::record::tests::full;

    #[test]
    fn a_damaged_record_is_wanted_unless_its_readable_part_rules_it_out() {
        let damaged = |readable: Readable| {
            Item::Damaged(Damaged {
                position: 1,
                readable,
                error: "bad".into(),
            })
        };
        let account = Filter::aggregate("Account");
        assert!(wanted(&damaged(full()), &account, Partition::ALL));
        assert!(!wanted(
            &damaged(full()),
            &Filter::aggregate("Order"),
            Partition::ALL
        ));
        assert!(wanted(
            &damaged(Readable::default()),
            &Filter::aggregate("Order"),
            Partition::ALL
        ));
        let types = Filter {
            aggregate_types: Vec::new(),
            event_types: vec!["MoneyWithdrawn".into()],
        };
        assert!(!wanted(&damaged(full()), &types, Partition::ALL));
        let no_type = Readable {
            event_type: None,
            ..full()
        };
        assert!(wanted(&damaged(no_type), &types, Partition::ALL));
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
        assert!(!wanted(&damaged(full()), &account, other));
        assert!(wanted(&damaged(Readable::default()), &account, other));
    }
}
