//! The projection engine on LMDB: [`ProjectionStore`] for [`LmdbStore`], and the layout of
//! its state in the `checkpoints`, `parked` and `read_models` databases.
//!
//! | database | key | value |
//! | --- | --- | --- |
//! | `checkpoints` | `<name>@<generation>#<index>/<count>` | a store runner's checkpoint `u64` |
//! | `checkpoints` | `<name>` (any other name) | a named checkpoint `u64` (`save_checkpoint`) |
//! | `checkpoints` | NUL `generation` NUL `<name>` | the generation serving reads `u64` |
//! | `checkpoints` | NUL `next-generation` NUL `<name>` | the next rebuild's generation `u64` |
//! | `checkpoints` | NUL `partitions` NUL `<name>@<generation>` | the partition count `u32` |
//! | `parked` | `<name>` NUL position `u64` | the parked entry (JSON) |
//! | `read_models` | `<name>` NUL generation `u64`, then the model's key | the model's value |

use std::ops::{Bound, ControlFlow};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use heed::{Env, MdbError, RoTxn, RwTxn, WithoutTls};

use super::env::{CROSS_PROCESS_POLL, ReadOnly};
use super::reads::record_at;
use super::record::{RecordView, readable_envelope};
use super::store::LmdbStore;
use super::tables::Dbs;
use super::tables::lmdb;
use super::tables::{MAX_KEY, corrupt, last_position, mdb_error, position_of, u64_from};
use crate::error::{Error, Result};
use crate::projection::backend::{
    ApplyVisitor, Damaged, Finish, Item, LogEntry, Logged, ModelScope, ProjectionRead,
    ProjectionStore, ProjectionTxn, State, StateKey,
};
use crate::projection::{HandlerError, Partition, StoreStatus};
use crate::store::Filter;

const GENERATION_PREFIX: &[u8] = b"\0generation\0";
const NEXT_GENERATION_PREFIX: &[u8] = b"\0next-generation\0";
const PARTITIONS_PREFIX: &[u8] = b"\0partitions\0";

/// The `checkpoints` key of a state entry.
fn state_key(key: StateKey<'_>) -> Vec<u8> {
    match key {
        StateKey::Generation(name) => [GENERATION_PREFIX, name.as_bytes()].concat(),
        StateKey::NextGeneration(name) => [NEXT_GENERATION_PREFIX, name.as_bytes()].concat(),
        StateKey::Partitions(name, generation) => {
            [PARTITIONS_PREFIX, format!("{name}@{generation}").as_bytes()].concat()
        }
        StateKey::Checkpoint {
            name,
            generation,
            partition,
        } => format!(
            "{name}@{generation}#{}/{}",
            partition.index, partition.count
        )
        .into_bytes(),
        StateKey::Consumer(name) => name.as_bytes().to_vec(),
    }
}

/// A state value: a partition count is stored as a `u32`, everything else as a `u64`.
fn state_value(key: StateKey<'_>, value: u64) -> Vec<u8> {
    match key {
        StateKey::Partitions(..) => u32::try_from(value)
            .unwrap_or(u32::MAX)
            .to_be_bytes()
            .to_vec(),
        _ => value.to_be_bytes().to_vec(),
    }
}

fn read_state_value(key: StateKey<'_>, bytes: &[u8]) -> Option<u64> {
    match key {
        StateKey::Partitions(..) => bytes.try_into().ok().map(u32::from_be_bytes).map(u64::from),
        _ => u64_from(bytes),
    }
}

/// The key prefix of a read model generation: name, NUL, generation.
fn model_prefix(scope: ModelScope<'_>) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(scope.name.len() + 9);
    prefix.extend_from_slice(scope.name.as_bytes());
    prefix.push(0);
    prefix.extend_from_slice(&scope.generation.to_be_bytes());
    prefix
}

/// A `parked` key: name, NUL, position.
fn parked_key(name: &str, position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 9);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// The position at the end of a `parked` key.
fn parked_position(key: &[u8]) -> Option<u64> {
    key.len().checked_sub(8).and_then(|at| u64_from(&key[at..]))
}

/// What is readable of the damaged record at `position`, with why it does not parse.
fn damaged(position: u64, bytes: &[u8], reason: &str) -> Damaged {
    let readable = readable_envelope(bytes);
    Damaged {
        position,
        stream: readable.stream,
        event_type: readable.event_type,
        stream_version: readable.stream_version,
        schema_version: readable.schema_version,
        error: corrupt("events", &position.to_string(), reason).to_string(),
    }
}

/// Parses the records of a walk along the log. Runs of records share their stream and type,
/// so each record is parsed with the previous one's names as the known ones
/// ([`RecordView::parse_known`] then hands back that very `&str`, without a UTF-8 check), and
/// a name at the same address keeps the filter's verdict on it.
#[derive(Default)]
struct LogWalker<'t> {
    stream: Option<(&'t str, bool)>,
    event_type: Option<(&'t str, bool)>,
}

impl<'t> LogWalker<'t> {
    /// The record, and whether it passes `filter`.
    #[inline(always)]
    fn parse(
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

/// Walks the log after `after` in `txn`, each record parsed once where it lies. Generic over
/// the visitor, so the adapter `walk_log_applying` wraps around the engine's visitor compiles
/// into the loop (one dynamic call per position, the engine's).
#[inline]
fn walk<F>(txn: &RoTxn<'_>, dbs: &Dbs, after: u64, filter: &Filter, mut visit: F) -> Result<()>
where
    F: FnMut(&Logged<'_>) -> Result<ControlFlow<()>>,
{
    let Some(first) = after.checked_add(1) else {
        return Ok(());
    };
    let start = first.to_be_bytes();
    let range = (Bound::Included(&start[..]), Bound::Unbounded);
    let mut walker = LogWalker::default();
    for entry in dbs.events.range(txn, &range).map_err(lmdb)? {
        let (key, value) = entry.map_err(lmdb)?;
        let position = position_of(key)?;
        let bytes = value.len();
        let flow = match walker.parse(value, filter) {
            Ok((view, true)) => visit(&Logged {
                position,
                bytes,
                entry: LogEntry::Event(view.event_ref(position)),
            })?,
            Ok((_, false)) => visit(&Logged {
                position,
                bytes,
                entry: LogEntry::Skipped,
            })?,
            Err(reason) => {
                let damaged = damaged(position, value, &reason);
                visit(&Logged {
                    position,
                    bytes,
                    entry: LogEntry::Damaged(&damaged),
                })?
            }
        };
        if flow.is_break() {
            break;
        }
    }
    Ok(())
}

/// The engine's reads in an LMDB transaction (read-only or the write transaction's view).
struct Reader<'a> {
    txn: &'a RoTxn<'a>,
    dbs: &'a Dbs,
}

impl ProjectionRead for Reader<'_> {
    fn state(&self, key: StateKey<'_>) -> Result<Option<u64>> {
        let stored = state_key(key);
        self.dbs
            .checkpoints
            .get(self.txn, &stored)
            .map_err(lmdb)?
            .map(|bytes| {
                read_state_value(key, bytes).ok_or_else(|| {
                    corrupt(
                        "checkpoints",
                        &String::from_utf8_lossy(&stored),
                        "not a number",
                    )
                })
            })
            .transpose()
    }

    fn head(&self) -> Result<u64> {
        last_position(self.txn, self.dbs)
    }

    fn read_at(&self, position: u64) -> Result<Item> {
        Ok(
            match self
                .dbs
                .events
                .get(self.txn, &position.to_be_bytes())
                .map_err(lmdb)?
            {
                Some(bytes) => match record_at(position, bytes) {
                    Ok(event) => Item::Event(event),
                    Err(error) => {
                        let readable = readable_envelope(bytes);
                        Item::Damaged(Damaged {
                            position,
                            stream: readable.stream,
                            event_type: readable.event_type,
                            stream_version: readable.stream_version,
                            schema_version: readable.schema_version,
                            error: error.to_string(),
                        })
                    }
                },
                None => Item::Damaged(Damaged::unreadable(
                    position,
                    corrupt("events", &position.to_string(), "the record is missing").to_string(),
                )),
            },
        )
    }

    fn walk_log(
        &self,
        after: u64,
        filter: &Filter,
        visit: &mut dyn FnMut(&Logged<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        walk(self.txn, self.dbs, after, filter, visit)
    }

    fn parked(&self, name: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        let prefix = [name.as_bytes(), &[0]].concat();
        let mut out = Vec::new();
        for entry in self
            .dbs
            .parked
            .prefix_iter(self.txn, &prefix)
            .map_err(lmdb)?
        {
            let (key, value) = entry.map_err(lmdb)?;
            let position =
                u64_from(&key[prefix.len()..]).ok_or_else(|| corrupt("parked", name, "bad key"))?;
            out.push((position, value.to_vec()));
        }
        Ok(out)
    }

    fn parked_between(&self, name: &str, first: u64, last: u64) -> Result<Vec<u64>> {
        let (start, end) = (parked_key(name, first), parked_key(name, last));
        let range = (
            Bound::Included(start.as_slice()),
            Bound::Included(end.as_slice()),
        );
        let mut out = Vec::new();
        for entry in self.dbs.parked.range(self.txn, &range).map_err(lmdb)? {
            let (key, _) = entry.map_err(lmdb)?;
            out.extend(parked_position(key));
        }
        Ok(out)
    }

    fn model_get(&self, scope: ModelScope<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let full = [model_prefix(scope).as_slice(), key].concat();
        if full.len() > MAX_KEY {
            return Ok(None);
        }
        Ok(self
            .dbs
            .read_models
            .get(self.txn, &full)
            .map_err(lmdb)?
            .map(<[u8]>::to_vec))
    }

    fn model_entries(
        &self,
        scope: ModelScope<'_>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = model_prefix(scope);
        let start = match after {
            Some(after) => Bound::Excluded([prefix.as_slice(), after].concat()),
            None => Bound::Included(prefix.clone()),
        };
        let range = (start.as_ref().map(Vec::as_slice), Bound::Unbounded);
        let mut out = Vec::new();
        for entry in self.dbs.read_models.range(self.txn, &range).map_err(lmdb)? {
            let (key, value) = entry.map_err(lmdb)?;
            let Some(model_key) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            if out.len() >= limit {
                break;
            }
            out.push((model_key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    fn max_model_key(&self, scope: ModelScope<'_>) -> usize {
        MAX_KEY.saturating_sub(scope.name.len() + 9)
    }

    fn states(&self) -> Result<Vec<State>> {
        let mut out = Vec::new();
        for entry in self.dbs.checkpoints.iter(self.txn).map_err(lmdb)? {
            let (key, value) = entry.map_err(lmdb)?;
            let text = String::from_utf8_lossy(key);
            let number =
                || u64_from(value).ok_or_else(|| corrupt("checkpoints", &text, "not 8 bytes"));
            if let Some(name) = key.strip_prefix(GENERATION_PREFIX) {
                out.push(State::Generation {
                    name: String::from_utf8_lossy(name).into_owned(),
                    generation: number()?,
                });
            } else if let Some(rest) = key.strip_prefix(PARTITIONS_PREFIX) {
                let rest = String::from_utf8_lossy(rest);
                let count = value.try_into().ok().map(u32::from_be_bytes);
                let parsed = rest
                    .rsplit_once('@')
                    .and_then(|(name, generation)| Some((name, generation.parse().ok()?)));
                if let (Some(count), Some((name, generation))) = (count, parsed) {
                    out.push(State::Partitions {
                        name: name.to_owned(),
                        generation,
                        count,
                    });
                }
            } else if key.starts_with(b"\0") {
                // Other bookkeeping (the next rebuild's generation).
            } else if let Some((name, generation, partition)) = parse_checkpoint(&text) {
                out.push(State::Checkpoint {
                    name: name.to_owned(),
                    generation,
                    partition,
                    position: number()?,
                });
            } else {
                out.push(State::Consumer {
                    name: text.clone().into_owned(),
                    position: number()?,
                });
            }
        }
        Ok(out)
    }

    fn parked_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut counts: Vec<(String, u64)> = Vec::new();
        for entry in self.dbs.parked.iter(self.txn).map_err(lmdb)? {
            let (key, _) = entry.map_err(lmdb)?;
            let Some(split) = key.len().checked_sub(9).filter(|at| key[*at] == 0) else {
                return Err(corrupt("parked", &String::from_utf8_lossy(key), "bad key"));
            };
            let name = String::from_utf8_lossy(&key[..split]);
            match counts.last_mut() {
                Some((last, count)) if *last == name => *count += 1,
                _ => counts.push((name.into_owned(), 1)),
            }
        }
        Ok(counts)
    }
}

/// A store runner's checkpoint key, `<name>@<generation>#<index>/<count>` (projection names
/// hold neither `@` nor `#`).
fn parse_checkpoint(key: &str) -> Option<(&str, u64, Partition)> {
    let (left, part) = key.rsplit_once('#')?;
    let (index, count) = part.split_once('/')?;
    let (name, generation) = left.rsplit_once('@')?;
    if name.contains('#') {
        return None;
    }
    Some((
        name,
        generation.parse().ok()?,
        Partition {
            index: index.parse().ok()?,
            count: count.parse().ok()?,
        },
    ))
}

/// A write transaction of the engine.
struct Writer<'t, 'e, 'a> {
    env: &'a Env<WithoutTls>,
    dbs: &'a Dbs,
    txn: &'t mut RwTxn<'e>,
}

impl Writer<'_, '_, '_> {
    fn reader(&self) -> Reader<'_> {
        Reader {
            txn: self.txn,
            dbs: self.dbs,
        }
    }
}

impl ProjectionRead for Writer<'_, '_, '_> {
    fn state(&self, key: StateKey<'_>) -> Result<Option<u64>> {
        self.reader().state(key)
    }

    fn head(&self) -> Result<u64> {
        self.reader().head()
    }

    fn read_at(&self, position: u64) -> Result<Item> {
        self.reader().read_at(position)
    }

    fn walk_log(
        &self,
        after: u64,
        filter: &Filter,
        visit: &mut dyn FnMut(&Logged<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.reader().walk_log(after, filter, visit)
    }

    fn parked(&self, name: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        self.reader().parked(name)
    }

    fn parked_between(&self, name: &str, first: u64, last: u64) -> Result<Vec<u64>> {
        self.reader().parked_between(name, first, last)
    }

    fn model_get(&self, scope: ModelScope<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.reader().model_get(scope, key)
    }

    fn model_entries(
        &self,
        scope: ModelScope<'_>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.reader().model_entries(scope, after, limit)
    }

    fn max_model_key(&self, scope: ModelScope<'_>) -> usize {
        self.reader().max_model_key(scope)
    }

    fn states(&self) -> Result<Vec<State>> {
        self.reader().states()
    }

    fn parked_counts(&self) -> Result<Vec<(String, u64)>> {
        self.reader().parked_counts()
    }
}

impl ProjectionTxn for Writer<'_, '_, '_> {
    fn set_state(&mut self, key: StateKey<'_>, value: u64) -> Result<()> {
        let (stored, value) = (state_key(key), state_value(key, value));
        self.dbs
            .checkpoints
            .put(self.txn, &stored, &value)
            .map_err(lmdb)?;
        Ok(())
    }

    fn delete_state(&mut self, key: StateKey<'_>) -> Result<()> {
        self.dbs
            .checkpoints
            .delete(self.txn, &state_key(key))
            .map_err(lmdb)?;
        Ok(())
    }

    fn delete_generation_state(&mut self, name: &str, generation: u64) -> Result<()> {
        let checkpoints = format!("{name}@{generation}#").into_bytes();
        let keys: Vec<Vec<u8>> = self
            .dbs
            .checkpoints
            .prefix_iter(self.txn, &checkpoints)
            .map_err(lmdb)?
            .map(|entry| entry.map(|(k, _)| k.to_vec()))
            .collect::<heed::Result<_>>()
            .map_err(lmdb)?;
        for key in &keys {
            self.dbs.checkpoints.delete(self.txn, key).map_err(lmdb)?;
        }
        self.delete_state(StateKey::Partitions(name, generation))
    }

    fn put_parked(&mut self, name: &str, position: u64, entry: &[u8]) -> Result<()> {
        self.dbs
            .parked
            .put(self.txn, &parked_key(name, position), entry)
            .map_err(lmdb)?;
        Ok(())
    }

    fn delete_parked(&mut self, name: &str, position: u64) -> Result<bool> {
        self.dbs
            .parked
            .delete(self.txn, &parked_key(name, position))
            .map_err(lmdb)
    }

    fn walk_log_applying(
        &mut self,
        after: u64,
        filter: &Filter,
        visit: &mut ApplyVisitor<'_>,
    ) -> Result<()> {
        // The log is read in a read transaction of its own, open while the write transaction
        // applies (the environment has no thread-local read slots, so one thread may hold
        // both): each record is parsed once, where it lies in the map.
        let (env, dbs) = (self.env, self.dbs);
        let log = env.read_txn().map_err(lmdb)?;
        walk(&log, dbs, after, filter, |logged| visit(self, logged))
    }

    fn nested(
        &mut self,
        apply: &mut dyn FnMut(&mut dyn ProjectionTxn) -> Result<bool, HandlerError>,
    ) -> Result<Result<bool, HandlerError>> {
        let mut nested = self.env.nested_write_txn(self.txn).map_err(lmdb)?;
        let outcome = apply(&mut Writer {
            env: self.env,
            dbs: self.dbs,
            txn: &mut nested,
        });
        if outcome.is_ok() {
            nested.commit().map_err(lmdb)?;
        }
        Ok(outcome)
    }

    fn model_put(&mut self, scope: ModelScope<'_>, key: &[u8], value: &[u8]) -> Result<()> {
        let full = [model_prefix(scope).as_slice(), key].concat();
        self.dbs
            .read_models
            .put(self.txn, &full, value)
            .map_err(lmdb)?;
        Ok(())
    }

    fn model_delete(&mut self, scope: ModelScope<'_>, key: &[u8]) -> Result<bool> {
        let full = [model_prefix(scope).as_slice(), key].concat();
        if full.len() > MAX_KEY {
            return Ok(false);
        }
        self.dbs.read_models.delete(self.txn, &full).map_err(lmdb)
    }

    fn model_clear(&mut self, scope: ModelScope<'_>, max: usize) -> Result<usize> {
        let prefix = model_prefix(scope);
        let keys: Vec<Vec<u8>> = self
            .dbs
            .read_models
            .prefix_iter(self.txn, &prefix)
            .map_err(lmdb)?
            .take(max)
            .map(|entry| entry.map(|(k, _)| k.to_vec()))
            .collect::<heed::Result<_>>()
            .map_err(lmdb)?;
        for key in &keys {
            self.dbs.read_models.delete(self.txn, key).map_err(lmdb)?;
        }
        Ok(keys.len())
    }
}

impl ProjectionStore for LmdbStore {
    fn transact<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn ProjectionTxn) -> Result<Finish<T>>,
    ) -> Result<T> {
        self.shared()
            .write_or_abort(|env, txn, dbs| f(&mut Writer { env, dbs, txn }))
    }

    fn read<T>(&self, f: &mut dyn FnMut(&dyn ProjectionRead) -> Result<T>) -> Result<T> {
        self.shared().read(|txn, dbs| f(&Reader { txn, dbs }))
    }

    fn wait_for_commit_or_stop(
        &self,
        after: u64,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Result<u64> {
        self.shared()
            .wait_for_commit(after, timeout, CROSS_PROCESS_POLL, Some(stop))
    }

    fn wake_waiters(&self) {
        self.shared().wake_waiters();
    }

    fn storage_failure(error: &Error) -> Option<Error> {
        match mdb_error(error) {
            Some(heed::Error::Mdb(mdb @ (MdbError::MapFull | MdbError::MapResized))) => {
                Some(lmdb(heed::Error::Mdb(*mdb)))
            }
            _ => None,
        }
    }
}

impl LmdbStore {
    /// The status of every projection of the store in `dir`, opened read-only for one short
    /// read transaction: it writes nothing (not even the map size), takes no write lock and
    /// starts no writer, so processes running the store are not disturbed (`cargo esdsl
    /// projections`). For a store this process has open, use
    /// [`StoreStatus::of`](crate::projection::StoreStatus::of).
    ///
    /// # Errors
    ///
    /// [`Error::NoStore`] when `dir` holds no store (no `data.mdb`, or an empty one);
    /// [`Error::Damaged`] when LMDB's structure is damaged (the data file is walked with plain
    /// reads first); [`Error::AlreadyOpen`] when this process has the store open;
    /// [`Error::FormatVersion`] for a store of another format; storage errors.
    pub fn read_only_status(dir: impl AsRef<Path>) -> Result<StoreStatus> {
        ReadOnly::read(dir.as_ref(), |txn, dbs| {
            StoreStatus::from_read(&Reader { txn, dbs })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::projection::Stop;

    #[test]
    fn a_stop_asked_before_the_wait_ends_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        let stop = Stop::new(&store);
        // The stop's wake-up comes before the wait starts, so only the flag can end it.
        stop.stop();
        let started = Instant::now();
        let head = stop
            .wait_for_commit(&store, 0, Duration::from_secs(60))
            .expect("waits");
        assert_eq!(head, 0);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the wait ran to its timeout"
        );
    }

    #[test]
    fn checkpoint_keys_are_told_apart() {
        let partition = |index, count| Partition { index, count };
        assert_eq!(
            parse_checkpoint("balances@3#1/4"),
            Some(("balances", 3, partition(1, 4)))
        );
        assert_eq!(parse_checkpoint("sink#0/1"), None);
        assert_eq!(parse_checkpoint("my-consumer"), None);
        assert_eq!(parse_checkpoint("odd#x/1"), None);
        assert_eq!(parse_checkpoint("a@b#0/1"), None);
    }

    #[test]
    fn state_keys_keep_the_stored_layout() {
        let key = StateKey::Checkpoint {
            name: "balances",
            generation: 3,
            partition: Partition { index: 1, count: 4 },
        };
        assert_eq!(state_key(key), b"balances@3#1/4");
        assert_eq!(
            state_key(StateKey::Generation("b")),
            b"\0generation\0b".to_vec()
        );
        assert_eq!(
            state_key(StateKey::Partitions("b", 2)),
            b"\0partitions\0b@2".to_vec()
        );
        assert_eq!(
            state_value(StateKey::Partitions("b", 2), 4),
            4u32.to_be_bytes()
        );
        assert_eq!(
            model_prefix(ModelScope {
                name: "b",
                generation: 1
            }),
            b"b\0\0\0\0\0\0\0\0\x01"
        );
        assert_eq!(parked_key("b", 7), b"b\0\0\0\0\0\0\0\0\x07");
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
