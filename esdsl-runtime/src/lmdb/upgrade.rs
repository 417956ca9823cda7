//! Upgrades of an older store's contents in place, run by an open for writing: to format 3,
//! which puts a checksum on every event record and snapshot.
//!
//! The open that finds an older format writes format 3 and a `meta` `checksum_from` position
//! in one transaction, so a program that knows only format 2 refuses the store from then on.
//! Records are then rewritten with their checksum in transactions of at most [`CHUNK`]
//! positions, each moving `checksum_from` on; the last one deletes it. An open interrupted
//! half way (a crash, a full disk) leaves records of both formats, which read the same, and
//! the next open for writing carries on where it stopped.

use std::ops::Bound;

use heed::RwTxn;

use super::record;
use super::tables::{Dbs, corrupt, lmdb, position_of, u64_from};
use crate::error::Result;

/// The `meta` key naming the first position whose record may still lack a checksum: present
/// from the open that starts the upgrade until the last record has its checksum.
pub(crate) const CHECKSUM_FROM: &[u8] = b"checksum_from";

/// The positions one transaction of the upgrade looks at: bounds its dirty pages (LMDB holds a
/// write transaction's pages in memory) at a few tens of MiB for records of a few KiB.
const CHUNK: usize = 16_384;

/// Starts the upgrade of a store of format 1 or 2 in `txn`, the transaction that writes
/// format 3: snapshots written without a checksum are dropped (they are a cache, rebuilt by
/// the next loads), and every record from position 0 is marked to be rewritten.
pub(crate) fn begin(txn: &mut RwTxn<'_>, dbs: &Dbs) -> Result<()> {
    dbs.snapshots.clear(txn).map_err(lmdb)?;
    dbs.meta
        .put(txn, CHECKSUM_FROM, &0u64.to_be_bytes())
        .map_err(lmdb)
}

/// Adds the checksum to the records of one [`CHUNK`] from `checksum_from` on; returns whether
/// records are left for another transaction (`false` when it reached the log's end and deleted
/// `checksum_from`, or when no upgrade is under way). The open runs it until it returns `false`.
///
/// A record that does not parse keeps its bytes and gets no checksum that would vouch for
/// them: reads and `verify` go on reporting it as damaged.
pub(crate) fn checksum_chunk(txn: &mut RwTxn<'_>, dbs: &Dbs) -> Result<bool> {
    let Some(from) = dbs.meta.get(txn, CHECKSUM_FROM).map_err(lmdb)? else {
        return Ok(false);
    };
    let from = u64_from(from).ok_or_else(|| {
        corrupt(
            "meta",
            "checksum_from",
            &format!("{} bytes instead of 8", from.len()),
        )
    })?;
    let start = from.to_be_bytes();
    let range = (Bound::Included(&start[..]), Bound::Unbounded);
    let mut records = Vec::new();
    let mut resume = None;
    for (scanned, entry) in dbs.events.range(txn, &range).map_err(lmdb)?.enumerate() {
        let (key, value) = entry.map_err(lmdb)?;
        let position = position_of(key)?;
        if scanned == CHUNK {
            resume = Some(position);
            break;
        }
        if let Some(checked) = record::with_checksum(value) {
            records.push((position, checked));
        }
    }
    for (position, value) in &records {
        dbs.events
            .put(txn, &position.to_be_bytes(), value)
            .map_err(lmdb)?;
    }
    match resume {
        Some(position) => dbs
            .meta
            .put(txn, CHECKSUM_FROM, &position.to_be_bytes())
            .map_err(lmdb)?,
        None => {
            dbs.meta.delete(txn, CHECKSUM_FROM).map_err(lmdb)?;
        }
    }
    Ok(resume.is_some())
}
