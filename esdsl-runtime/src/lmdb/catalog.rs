//! The catalog: how many events the store holds per (aggregate type, event type, schema version).
//!
//! The `catalog` table holds the counts of the log up to a position, `meta[catalog_through]`;
//! the events after it (the *tail*, under [`TAIL_LIMIT`] of them) are counted from the log when
//! the catalog is read. A commit adds its counts to the tail the committer keeps in memory and
//! writes the table only once the tail reaches [`TAIL_LIMIT`] events: most commits leave the
//! `catalog` and `meta` tables alone, so a durable single append writes fewer pages. A store
//! without `catalog_through` (written before the tail existed) has every event in the table.
//!
//! The tail in memory is a cache: it is used only when it ends where the log ended before the
//! commit (so another process's appends, a failed commit or a reopened store make the committer
//! count the tail from the log again, at most [`TAIL_LIMIT`] records).

use std::collections::{BTreeMap, HashMap};

use heed::{RoTxn, RwTxn};

use super::record::{RecordView, readable_envelope};
use super::tables::Dbs;
use super::tables::lmdb;
use super::tables::{catalog_key_into, split_catalog_key, u64_from};
use super::tables::{corrupt, last_position};
use crate::error::Result;
use crate::store::{CatalogEntry, category};

/// The tail is written into the table once it holds this many events.
pub(crate) const TAIL_LIMIT: u64 = 1024;

const THROUGH_KEY: &[u8] = b"catalog_through";

/// Counts per catalog key (see [`catalog_key_into`]).
pub(crate) type Counts = HashMap<Vec<u8>, u64>;

/// The counts of the events after the table's position, as of a log position.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// The table counts the log up to here.
    through: u64,
    /// The counts cover the log from `through` up to here.
    upto: u64,
    counts: Counts,
}

/// Adds the counts of a commit's events (positions `before + 1 ..= last`) to the catalog in
/// `txn`: to the tail, and the tail to the table once it holds [`TAIL_LIMIT`] events. `cached`
/// is the tail the committer kept from its last commit; the returned one is to be kept only if
/// `txn` commits.
///
/// # Errors
///
/// Storage errors; [`crate::Error::Corrupt`] for a bad count or a table position beyond the log.
pub(crate) fn add(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    cached: Option<Tail>,
    before: u64,
    last: u64,
    own: Counts,
) -> Result<Option<Tail>> {
    if last == before {
        return Ok(cached);
    }
    let stored = stored_through(txn, dbs)?;
    // Without a stored position, the table counts everything before this commit.
    let through = stored.unwrap_or(before);
    if through > before {
        return Err(corrupt(
            "meta",
            "catalog_through",
            "is beyond the end of the log",
        ));
    }
    let mut tail = match cached {
        Some(tail) if tail.through == through && tail.upto == before => tail,
        _ => Tail {
            through,
            upto: before,
            counts: count_log(txn, dbs, through, before)?,
        },
    };
    for (key, count) in own {
        let counted = tail.counts.entry(key).or_default();
        *counted = counted.saturating_add(count);
    }
    tail.upto = last;
    if last.saturating_sub(through) >= TAIL_LIMIT {
        for (key, added) in tail.counts.drain() {
            let stored = dbs.catalog.get(txn, &key).map_err(lmdb)?.map(u64_from);
            let count = match stored {
                Some(Some(count)) => count,
                None => 0,
                // A damaged count is counted again from the log (once), rather than failing
                // this and every later commit; `verify` reports it until then.
                Some(None) => count_log(txn, dbs, 0, through)?.remove(&key).unwrap_or(0),
            };
            dbs.catalog
                .put(txn, &key, &count.saturating_add(added).to_be_bytes())
                .map_err(lmdb)?;
        }
        dbs.meta
            .put(txn, THROUGH_KEY, &last.to_be_bytes())
            .map_err(lmdb)?;
        tail.through = last;
    } else if stored.is_none() {
        dbs.meta
            .put(txn, THROUGH_KEY, &through.to_be_bytes())
            .map_err(lmdb)?;
    }
    Ok(Some(tail))
}

/// The catalog as of `txn`: the table plus the tail counted from the log.
///
/// # Errors
///
/// Storage errors; [`crate::Error::Corrupt`] for a bad key or count in the table.
pub(crate) fn entries(txn: &RoTxn<'_>, dbs: &Dbs) -> Result<Vec<CatalogEntry>> {
    let mut counts: BTreeMap<(String, String, u32), u64> = BTreeMap::new();
    for entry in dbs.catalog.iter(txn).map_err(lmdb)? {
        let (key, value) = entry.map_err(lmdb)?;
        let parts =
            split_catalog_key(key).ok_or_else(|| corrupt("catalog", &key_text(key), "bad key"))?;
        let count =
            u64_from(value).ok_or_else(|| corrupt("catalog", &key_text(key), "bad count"))?;
        *counts.entry(parts).or_default() += count;
    }
    if let Some(through) = stored_through(txn, dbs)? {
        for (key, count) in count_log(txn, dbs, through, last_position(txn, dbs)?)? {
            if let Some(parts) = split_catalog_key(&key) {
                *counts.entry(parts).or_default() += count;
            }
        }
    }
    Ok(counts
        .into_iter()
        .map(
            |((aggregate_type, event_type, schema_version), count)| CatalogEntry {
                aggregate_type,
                event_type,
                schema_version,
                count,
            },
        )
        .collect())
}

/// `meta[catalog_through]`, when the store has one.
///
/// # Errors
///
/// Storage errors; [`crate::Error::Corrupt`] for a value that is not 8 bytes.
pub(crate) fn stored_through(txn: &RoTxn<'_>, dbs: &Dbs) -> Result<Option<u64>> {
    dbs.meta
        .get(txn, THROUGH_KEY)
        .map_err(lmdb)?
        .map(|bytes| {
            u64_from(bytes).ok_or_else(|| corrupt("meta", "catalog_through", "not 8 bytes"))
        })
        .transpose()
}

/// Counts the records at positions `after + 1 ..= upto`. A damaged record counts where its
/// readable envelope names its stream, type and version (as it was counted when written), and
/// not at all otherwise; `verify` reports it.
fn count_log(txn: &RoTxn<'_>, dbs: &Dbs, after: u64, upto: u64) -> Result<Counts> {
    let mut counts = Counts::new();
    let (Some(first), true) = (after.checked_add(1), after < upto) else {
        return Ok(counts);
    };
    let (start, end) = (first.to_be_bytes(), upto.to_be_bytes());
    let range = (
        std::ops::Bound::Included(&start[..]),
        std::ops::Bound::Included(&end[..]),
    );
    let mut key = Vec::new();
    for entry in dbs.events.range(txn, &range).map_err(lmdb)? {
        let (_, bytes) = entry.map_err(lmdb)?;
        match RecordView::parse(bytes) {
            Ok(view) => catalog_key_into(
                category(view.stream),
                view.event_type,
                view.schema_version,
                &mut key,
            ),
            Err(_) => {
                let readable = readable_envelope(bytes);
                let (Some(stream), Some(event_type), Some(version)) = (
                    readable.stream.as_deref(),
                    readable.event_type.as_deref(),
                    readable.schema_version,
                ) else {
                    continue;
                };
                catalog_key_into(category(stream), event_type, version, &mut key);
            }
        }
        match counts.get_mut(key.as_slice()) {
            Some(count) => *count += 1,
            None => {
                counts.insert(key.clone(), 1);
            }
        }
    }
    Ok(counts)
}

fn key_text(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}
