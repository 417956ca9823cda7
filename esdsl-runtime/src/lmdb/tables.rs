//! The tables of a store and the lookups on them shared by reads, the writer and verify.
//!
//! Databases (all keys and integers big-endian):
//!
//! | database | key | value |
//! | --- | --- | --- |
//! | `events` | global position `u64` | the record: envelope then payload (see `record.rs`) |
//! | `stream_index` | stream id `u64`, version `u64` | global position `u64` |
//! | `streams` | stream name | stream id `u64` (format 1: and a head version, no longer read) |
//! | `catalog` | aggregate, NUL, event type, NUL, version `u32` | count `u64` up to `catalog_through` |
//! | `meta` | name | `format` (`u32`), `next_stream_id` (`u64`), `catalog_through` (`u64`) |

use heed::RoTxn;

use crate::error::{Error, Result};
use heed::Database;
use heed::types::Bytes;

/// The store's databases, opened once.
#[derive(Clone, Copy)]
pub(crate) struct Dbs {
    pub(crate) events: Database<'static, Bytes, Bytes>,
    pub(crate) stream_index: Database<'static, Bytes, Bytes>,
    pub(crate) streams: Database<'static, Bytes, Bytes>,
    pub(crate) catalog: Database<'static, Bytes, Bytes>,
    pub(crate) meta: Database<'static, Bytes, Bytes>,
    pub(crate) read_models: Database<'static, Bytes, Bytes>,
    pub(crate) checkpoints: Database<'static, Bytes, Bytes>,
    pub(crate) parked: Database<'static, Bytes, Bytes>,
    pub(crate) snapshots: Database<'static, Bytes, Bytes>,
}

/// The databases of a store, in the order they are created.
pub(crate) const DATABASES: [&str; 9] = [
    "events",
    "stream_index",
    "streams",
    "catalog",
    "meta",
    "read_models",
    "checkpoints",
    "parked",
    "snapshots",
];

impl Dbs {
    /// The databases in the order of [`DATABASES`], each opened or the error why not.
    pub(crate) fn from_array(dbs: [Result<Database<'static, Bytes, Bytes>>; 9]) -> Result<Dbs> {
        let [
            events,
            stream_index,
            streams,
            catalog,
            meta,
            read_models,
            checkpoints,
            parked,
            snapshots,
        ] = dbs;
        Ok(Dbs {
            events: events?,
            stream_index: stream_index?,
            streams: streams?,
            catalog: catalog?,
            meta: meta?,
            read_models: read_models?,
            checkpoints: checkpoints?,
            parked: parked?,
            snapshots: snapshots?,
        })
    }
}

/// LMDB's longest key, in bytes.
pub(crate) const MAX_KEY: usize = 511;

/// The position of the last event in the log, 0 when it is empty.
pub(crate) fn last_position(txn: &RoTxn<'_>, dbs: &Dbs) -> Result<u64> {
    match dbs.events.last(txn).map_err(lmdb)? {
        None => Ok(0),
        Some((key, _)) => position_of(key),
    }
}

/// The global position an `events` key holds.
#[inline]
pub(crate) fn position_of(key: &[u8]) -> Result<u64> {
    match u64_from(key) {
        Some(position) => Ok(position),
        None => Err(bad_position_key(key)),
    }
}

#[cold]
fn bad_position_key(key: &[u8]) -> Error {
    corrupt("events", &format!("{key:?}"), "key is not 8 bytes")
}

/// An LMDB error as the runtime's: a full disk is [`Error::NoSpace`], anything else
/// [`Error::Backend`] with heed's error as the source. (Not a `From` impl: heed's error type
/// stays out of the public API.)
#[cold]
pub(crate) fn lmdb(error: heed::Error) -> Error {
    const ENOSPC: i32 = 28;
    match error {
        heed::Error::Io(io) if io.raw_os_error() == Some(ENOSPC) => Error::NoSpace(io),
        heed::Error::Mdb(heed::MdbError::Other(ENOSPC)) => {
            Error::NoSpace(std::io::Error::from_raw_os_error(ENOSPC))
        }
        other => Error::Backend(Box::new(other)),
    }
}

/// The LMDB error an [`Error::Backend`] carries, if it is one.
pub(crate) fn mdb_error(error: &Error) -> Option<&heed::Error> {
    match error {
        Error::Backend(source) => source.downcast_ref::<heed::Error>(),
        _ => None,
    }
}

/// Whether `error` is LMDB's `MDB_MAP_FULL` or `MDB_MAP_RESIZED`: the map must grow (or be
/// adopted) and the transaction run again.
pub(crate) fn is_map_error(error: &Error) -> bool {
    matches!(
        mdb_error(error),
        Some(heed::Error::Mdb(
            heed::MdbError::MapFull | heed::MdbError::MapResized
        ))
    )
}

/// Whether `error` is LMDB's `code`.
pub(crate) fn is_mdb(error: &Error, code: heed::MdbError) -> bool {
    matches!(mdb_error(error), Some(heed::Error::Mdb(found)) if *found == code)
}

/// An [`Error::Corrupt`] for the record under `key` in database `table`, named in the
/// contract's words.
pub(crate) fn corrupt(table: &'static str, key: &str, reason: &str) -> Error {
    let what = match table {
        "events" => "event",
        "stream_index" => "stream index",
        "streams" => "stream",
        "catalog" => "catalog",
        "meta" => "store metadata",
        "checkpoints" => "checkpoint",
        "parked" => "parked event",
        "snapshots" => "snapshot",
        "read_models" => "read model",
        _ => "store record",
    };
    Error::Corrupt {
        what,
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The stream's id and head version. The `streams` table maps a name to its stream id, written
/// once when the stream is created; the head version is the stream index's last version for
/// that id. So an append to an existing stream leaves the `streams` table alone, and a commit
/// writes one B-tree fewer.
pub(crate) fn stream_head_in(
    txn: &RoTxn<'_>,
    dbs: &Dbs,
    stream: &str,
) -> Result<Option<(u64, u64)>> {
    let Some(id) = stream_id_in(txn, dbs, stream)? else {
        return Ok(None);
    };
    Ok(Some((id, head_version(txn, dbs, id)?)))
}

/// The stream's id.
pub(crate) fn stream_id_in(txn: &RoTxn<'_>, dbs: &Dbs, stream: &str) -> Result<Option<u64>> {
    let Some(value) = dbs.streams.get(txn, stream.as_bytes()).map_err(lmdb)? else {
        return Ok(None);
    };
    stream_id_value(value)
        .map(Some)
        .ok_or_else(|| corrupt("streams", stream, "bad stream id"))
}

/// The stream id in a `streams` value: 8 bytes, or 16 in a store written before heads moved to
/// the stream index (the id, then a head version no longer read).
pub(crate) fn stream_id_value(value: &[u8]) -> Option<u64> {
    match value.len() {
        8 => u64_from(value),
        16 => split_pair(value).map(|(id, _)| id),
        _ => None,
    }
}

/// The last version of stream `id` in the stream index; 0 when it has none.
pub(crate) fn head_version(txn: &RoTxn<'_>, dbs: &Dbs, id: u64) -> Result<u64> {
    let Some((key, _)) = dbs
        .stream_index
        .get_lower_than_or_equal_to(txn, &stream_key(id, u64::MAX))
        .map_err(lmdb)?
    else {
        return Ok(0);
    };
    match split_pair(key) {
        Some((found, version)) if found == id => Ok(version),
        Some(_) => Ok(0),
        None => Err(corrupt("stream_index", &format!("{key:?}"), "bad key")),
    }
}

/// `snapshots` key: stream name, NUL, version.
pub(crate) fn snapshot_key(stream: &str, version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.len() + 9);
    key.extend_from_slice(stream.as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// `stream_index` key: stream id then version.
#[inline]
pub(crate) fn stream_key(stream_id: u64, version: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&stream_id.to_be_bytes());
    key[8..].copy_from_slice(&version.to_be_bytes());
    key
}

/// Splits a 16-byte (id, version) pair.
#[inline]
pub(crate) fn split_pair(bytes: &[u8]) -> Option<(u64, u64)> {
    let bytes: &[u8; 16] = bytes.try_into().ok()?;
    let (a, b) = bytes.split_at(8);
    Some((
        u64::from_be_bytes(a.try_into().ok()?),
        u64::from_be_bytes(b.try_into().ok()?),
    ))
}

#[inline]
pub(crate) fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Writes a `catalog` key into `key`, replacing what it held: aggregate type, NUL, event type,
/// NUL, schema version.
pub(crate) fn catalog_key_into(aggregate: &str, event_type: &str, version: u32, key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(aggregate.as_bytes());
    key.push(0);
    key.extend_from_slice(event_type.as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
}

/// The parts of a `catalog` key.
pub(crate) fn split_catalog_key(key: &[u8]) -> Option<(String, String, u32)> {
    let (names, version) = key.split_at_checked(key.len().checked_sub(4)?)?;
    let names = names.strip_suffix(&[0])?;
    let split = names.iter().position(|b| *b == 0)?;
    let aggregate = std::str::from_utf8(&names[..split]).ok()?;
    let event_type = std::str::from_utf8(&names[split + 1..]).ok()?;
    Some((
        aggregate.to_owned(),
        event_type.to_owned(),
        u32::from_be_bytes(version.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_lmdb_error_is_a_backend_error_with_heeds_error_as_its_source() {
        use std::error::Error as _;
        let error = lmdb(heed::Error::Mdb(heed::MdbError::Panic));
        assert!(matches!(error, Error::Backend(_)));
        assert!(error.source().is_some());
        assert!(is_mdb(&error, heed::MdbError::Panic));
        let full = lmdb(heed::Error::Mdb(heed::MdbError::Other(28)));
        assert!(matches!(full, Error::NoSpace(_)), "ENOSPC is a full disk");
    }

    #[test]
    fn stream_keys_sort_numerically() {
        assert!(stream_key(1, 255) < stream_key(1, 256));
        assert!(stream_key(1, u64::MAX) < stream_key(2, 0));
        assert_eq!(split_pair(&stream_key(7, 9)), Some((7, 9)));
        assert_eq!(split_pair(&[0; 15]), None);
    }

    #[test]
    fn catalog_keys_round_trip() {
        let mut key = vec![9; 40];
        catalog_key_into("Account", "MoneyDeposited", 3, &mut key);
        assert_eq!(
            split_catalog_key(&key),
            Some(("Account".into(), "MoneyDeposited".into(), 3))
        );
        assert_eq!(split_catalog_key(b"x"), None);
        assert_eq!(split_catalog_key(b""), None);
    }
}
