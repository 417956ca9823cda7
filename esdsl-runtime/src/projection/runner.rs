//! Running projections: batches, checkpoints, retries, parking, partitions and rebuilds.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use heed::RoTxn;

use super::batch::{
    Damaged, Item, LogWalker, SCAN_LIMIT, backoff, damaged, decode, read_at, wants,
};
use super::read_model::ReadModel;
use super::{Deadline, HandlerError, OnFailure, Partition, ProjectionOptions, StoreProjection};
use crate::error::{Error, Result};
use crate::lmdb::LmdbStore;
use crate::lmdb::env::{CROSS_PROCESS_POLL, Dbs, Finish};
use crate::lmdb::tables::u64_from;
use crate::lmdb::tables::{corrupt, last_position};
use crate::store::{EventRef, EventStore, Filter, validate_consumer_name};

/// Stops a running projection from another thread.
#[derive(Debug, Clone)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    store: LmdbStore,
}

impl Stop {
    /// A stop handle for runners on `store`.
    pub fn new(store: &LmdbStore) -> Stop {
        Stop {
            flag: Arc::new(AtomicBool::new(false)),
            store: store.clone(),
        }
    }

    /// Asks the runners holding this handle to stop after their current batch.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.store.shared().wake_waiters();
    }

    /// Whether a stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Waits until `store`'s log is past `after`, `timeout` passes or a stop is asked,
    /// whichever comes first (a stop asked just before the wait ends it too).
    pub(crate) fn wait_for_commit(
        &self,
        store: &LmdbStore,
        after: u64,
        timeout: Duration,
    ) -> Result<u64> {
        store
            .shared()
            .wait_for_commit(after, timeout, CROSS_PROCESS_POLL, Some(&self.flag))
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Events handled successfully.
    pub handled: u64,
    /// Events parked after their last failed attempt.
    pub parked: u64,
    /// The checkpoint when the run ended.
    pub checkpoint: u64,
}

/// An event that failed every attempt, or a damaged record the runner could not rule out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParkedEvent {
    /// Its global position.
    pub position: u64,
    /// Its stream (empty when the record is damaged and its stream name unreadable).
    pub stream: String,
    /// Its stored type name (empty when the record is damaged and its type unreadable).
    pub event_type: String,
    /// Its version in the stream (`None`: unreadable in a damaged record).
    pub stream_version: Option<u64>,
    /// Its schema version (`None`: unreadable in a damaged record).
    pub schema_version: Option<u32>,
    /// Whether the record itself was damaged (an [`Error::Corrupt`] read), rather than a
    /// handler or decoding failure.
    pub damaged: bool,
    /// The last error.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}

/// What replaying parked events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Parked events handled successfully now (and removed from the parked list).
    pub handled: u64,
    /// Parked events that failed again (and stay parked).
    pub failed: u64,
}

/// A rebuild's progress, reported after each batch.
///
/// Its `Display` is a progress line: `1200/5000 positions (24%), 3400/s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Positions processed so far.
    pub done: u64,
    /// The head position when the rebuild started (it can grow while the rebuild runs).
    pub total: u64,
    /// Positions per second so far.
    pub rate: f64,
}

impl Progress {
    /// `done` as a percentage of `total` (100 for an empty log), at most 100.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            (self.done as f64 * 100.0 / self.total as f64).min(100.0)
        }
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} positions ({:.0}%), {:.0}/s",
            self.done,
            self.total,
            self.percent(),
            self.rate
        )
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// The generation that now serves reads.
    pub generation: u64,
    /// The generation it replaced.
    pub replaced: u64,
    /// Events handled into the new generation.
    pub handled: u64,
}

// Keys in the `checkpoints` and `read_models` databases.

pub(crate) const GENERATION_PREFIX: &[u8] = b"\0generation\0";
pub(crate) const PARTITIONS_PREFIX: &[u8] = b"\0partitions\0";

fn generation_key(name: &str) -> Vec<u8> {
    [GENERATION_PREFIX, name.as_bytes()].concat()
}

fn next_generation_key(name: &str) -> Vec<u8> {
    [b"\0next-generation\0".as_slice(), name.as_bytes()].concat()
}

pub(crate) fn checkpoint_key(name: &str, generation: u64, partition: Partition) -> Vec<u8> {
    format!(
        "{name}@{generation}#{}/{}",
        partition.index, partition.count
    )
    .into_bytes()
}

pub(crate) fn model_prefix(name: &str, generation: u64) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(name.len() + 9);
    prefix.extend_from_slice(name.as_bytes());
    prefix.push(0);
    prefix.extend_from_slice(&generation.to_be_bytes());
    prefix
}

pub(crate) fn parked_key(name: &str, position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 9);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

pub(crate) fn read_u64(
    txn: &RoTxn<'_>,
    db: heed::Database<'static, heed::types::Bytes, heed::types::Bytes>,
    table: &'static str,
    key: &[u8],
) -> Result<Option<u64>> {
    db.get(txn, key)?
        .map(|bytes| {
            u64_from(bytes)
                .ok_or_else(|| corrupt(table, &String::from_utf8_lossy(key), "not 8 bytes"))
        })
        .transpose()
}

pub(crate) fn active_generation(txn: &RoTxn<'_>, dbs: &Dbs, name: &str) -> Result<u64> {
    Ok(read_u64(txn, dbs.checkpoints, "checkpoints", &generation_key(name))?.unwrap_or(0))
}

/// The parked entry for `item`, after `attempts` attempts that ended with `error`.
pub(crate) fn park_item(item: &Item, error: &str, attempts: u32) -> ParkedEvent {
    ParkedEvent {
        position: item.position(),
        stream: item.stream().to_owned(),
        event_type: item.event_type().to_owned(),
        stream_version: item.stream_version(),
        schema_version: item.schema_version(),
        damaged: matches!(item, Item::Damaged(_)),
        error: error.to_owned(),
        attempts,
        parked_at: Utc::now(),
    }
}

/// The error a runner stops with after parking `parked` under [`OnFailure::Stop`].
pub(crate) fn stopped(projection: &str, parked: &ParkedEvent) -> Error {
    Error::ProjectionStopped {
        projection: projection.to_owned(),
        position: parked.position,
        stream: parked.stream.clone(),
        event_type: parked.event_type.clone(),
        error: parked.error.clone(),
    }
}

pub(crate) fn encode_parked(parked: &ParkedEvent) -> Vec<u8> {
    serde_json::json!({
        "stream": parked.stream,
        "event_type": parked.event_type,
        "stream_version": parked.stream_version,
        "schema_version": parked.schema_version,
        "damaged": parked.damaged,
        "error": parked.error,
        "attempts": parked.attempts,
        "parked_at": parked.parked_at.to_rfc3339(),
    })
    .to_string()
    .into_bytes()
}

fn decode_parked(position: u64, bytes: &[u8]) -> Result<ParkedEvent> {
    let bad = |reason: &str| corrupt("parked", &position.to_string(), reason);
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
    let text = |field: &str| {
        value[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad(field))
    };
    Ok(ParkedEvent {
        position,
        stream: text("stream")?,
        event_type: text("event_type")?,
        // Absent in entries parked before these fields existed.
        stream_version: value["stream_version"].as_u64(),
        schema_version: value["schema_version"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok()),
        damaged: value["damaged"].as_bool().unwrap_or(false),
        error: text("error")?,
        attempts: value["attempts"]
            .as_u64()
            .and_then(|a| u32::try_from(a).ok())
            .ok_or_else(|| bad("attempts"))?,
        parked_at: DateTime::parse_from_rfc3339(&text("parked_at")?)
            .map_err(|e| bad(&e.to_string()))?
            .with_timezone(&Utc),
    })
}

/// Runs a [`StoreProjection`]: its read model and checkpoint change in one LMDB transaction,
/// so every event is applied exactly once, even across crashes.
#[derive(Debug)]
pub struct StoreRunner<P> {
    store: LmdbStore,
    projection: P,
    options: ProjectionOptions,
    filter: Filter,
    name: String,
}

enum Applied {
    /// The checkpoint moved since it was read (another runner, or a write that this
    /// process's earlier read did not see yet): nothing was applied; read again.
    Stale,
    /// Every position up to this one was processed.
    All(u64),
    /// The batch held the write transaction for `max_batch_time`: the positions before this
    /// one were processed and committed, the rest is left to the next batch.
    Until(u64),
    /// This item failed; the positions before it were processed.
    FailedAt(Item, String),
    /// A handler failed in a batch applied without a nested transaction per event: nothing
    /// was committed; apply the batch again with them.
    Isolate,
}

/// What one read model write counts toward `max_batch_bytes`: a page, as each write can add a
/// page to the transaction's dirty pages, which LMDB holds in memory until the commit.
const WRITE_BYTES: usize = 4096;

/// The progress of one batch through the log.
struct Walk {
    /// Positions read.
    scanned: usize,
    /// Positions that passed the filter (other partitions' and damaged ones included).
    matched: usize,
    /// Positions handed to the handler (or found to be retired types).
    processed: usize,
    /// Bytes of the records processed, and [`WRITE_BYTES`] per read model write.
    bytes: usize,
    /// Events the handler applied.
    handled: u64,
    /// The positions processed, in order (their parked entries are removed).
    applied: Vec<u64>,
    /// Every position up to here is done.
    reached: u64,
}

impl Walk {
    fn new(read_from: u64) -> Walk {
        Walk {
            scanned: 0,
            matched: 0,
            processed: 0,
            bytes: 0,
            handled: 0,
            applied: Vec::new(),
            reached: read_from,
        }
    }

    /// Whether the batch reached its size, byte or scan bound.
    fn full(&self, options: &ProjectionOptions) -> bool {
        self.matched >= options.batch_size
            || self.bytes >= options.max_batch_bytes
            || self.scanned >= SCAN_LIMIT
    }

    /// Commits what was processed before `next` (the time bound).
    fn commit_until(
        &self,
        txn: &mut heed::RwTxn<'_>,
        dbs: &Dbs,
        name: &str,
        key: &[u8],
        next: u64,
    ) -> Result<Finish<(Applied, u64)>> {
        dbs.checkpoints.put(txn, key, &(next - 1).to_be_bytes())?;
        unpark_applied(txn, dbs, name, &self.applied)?;
        Ok(Finish::Commit((Applied::Until(next), self.handled)))
    }

    /// Commits what was processed before `failed`.
    fn commit_failed(
        &self,
        txn: &mut heed::RwTxn<'_>,
        dbs: &Dbs,
        name: &str,
        key: &[u8],
        failed: Item,
        error: String,
    ) -> Result<Finish<(Applied, u64)>> {
        dbs.checkpoints
            .put(txn, key, &(failed.position() - 1).to_be_bytes())?;
        unpark_applied(txn, dbs, name, &self.applied)?;
        Ok(Finish::Commit((
            Applied::FailedAt(failed, error),
            self.handled,
        )))
    }
}

impl<P: StoreProjection> StoreRunner<P> {
    /// A runner for `projection` on `store`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a projection name that is empty, too long or holds `@`, `#`
    /// or a NUL byte.
    pub fn new(store: LmdbStore, projection: P, options: ProjectionOptions) -> Result<Self> {
        let name = projection.name().to_owned();
        validate_projection_name(&name)?;
        let filter = projection.filter();
        Ok(StoreRunner {
            store,
            projection,
            options,
            filter,
            name,
        })
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// This partition's checkpoint in the active generation.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn checkpoint(&self) -> Result<u64> {
        let partition = self.options.partition;
        self.store.shared().read(|txn, dbs| {
            let generation = active_generation(txn, dbs, &self.name)?;
            Ok(read_u64(
                txn,
                dbs.checkpoints,
                "checkpoints",
                &checkpoint_key(&self.name, generation, partition),
            )?
            .unwrap_or(0))
        })
    }

    /// Processes events until the checkpoint reaches the head of the log.
    ///
    /// # Errors
    ///
    /// [`Error::ProjectionStopped`] when an event was parked under [`OnFailure::Stop`]; storage
    /// errors.
    pub fn run_until_caught_up(&mut self) -> Result<RunReport> {
        let mut report = RunReport::default();
        loop {
            let generation = self.generation()?;
            let progressed = self.step(generation, &mut report)?;
            if !progressed {
                return Ok(report);
            }
        }
    }

    /// Catches up, then follows new commits until `stop` is asked.
    ///
    /// # Errors
    ///
    /// As [`StoreRunner::run_until_caught_up`].
    pub fn run(&mut self, stop: &Stop) -> Result<RunReport> {
        let mut report = RunReport::default();
        while !stop.is_stopped() {
            let generation = self.generation()?;
            if !self.step(generation, &mut report)? {
                stop.wait_for_commit(&self.store, report.checkpoint, Duration::from_millis(500))?;
            }
        }
        Ok(report)
    }

    fn generation(&self) -> Result<u64> {
        self.store
            .shared()
            .read(|txn, dbs| active_generation(txn, dbs, &self.name))
    }

    /// Processes one batch into `generation`; returns whether the checkpoint moved.
    fn step(&mut self, generation: u64, report: &mut RunReport) -> Result<bool> {
        let key = checkpoint_key(&self.name, generation, self.options.partition);
        let (checkpoint, head) = self.store.shared().read(|txn, dbs| {
            let checkpoint = read_u64(txn, dbs.checkpoints, "checkpoints", &key)?.unwrap_or(0);
            Ok((checkpoint, last_position(txn, dbs)?))
        })?;
        report.checkpoint = checkpoint;
        if head <= checkpoint {
            // Nothing to do: no write lock taken.
            return Ok(false);
        }
        let prefix = model_prefix(&self.name, generation);
        let (applied, handled) = self.apply_batch(generation, &key, checkpoint)?;
        match applied {
            // `apply_batch` runs an isolated batch again with isolation; it never returns it.
            Applied::Stale | Applied::Isolate => {}
            Applied::All(reached) => {
                report.handled += handled;
                report.checkpoint = reached;
            }
            Applied::Until(next) => {
                report.handled += handled;
                report.checkpoint = next - 1;
            }
            Applied::FailedAt(failed, first_error) => {
                report.handled += handled;
                report.checkpoint = failed.position() - 1;
                self.retry_or_park(&failed, &prefix, &key, first_error, report)?;
            }
        }
        Ok(true)
    }

    /// Applies a batch and commits what succeeded with the checkpoint, in one transaction.
    ///
    /// First every event goes straight into that transaction. When a handler fails, the
    /// transaction is rolled back and the batch runs again with a nested transaction per
    /// event, so that the events before the failure are kept and only the failing handler's
    /// writes are undone: handlers then see those events twice, which the
    /// [`StoreProjection`] contract allows (only the read model's writes count).
    fn apply_batch(
        &mut self,
        generation: u64,
        key: &[u8],
        read_from: u64,
    ) -> Result<(Applied, u64)> {
        match self.apply_items(generation, key, read_from, false)? {
            (Applied::Isolate, _) => self.apply_items(generation, key, read_from, true),
            done => Ok(done),
        }
    }

    /// Applies the events after `read_from` in one write transaction (`isolated`: each in a
    /// nested one, so a failing handler's writes roll back alone) and commits what succeeded
    /// with the checkpoint; without isolation a failing handler rolls everything back
    /// ([`Applied::Isolate`]). The checkpoint is checked inside the transaction: another
    /// runner's batch is not applied twice.
    ///
    /// The log is read in a read transaction of its own, open while the write transaction
    /// applies (the environment has no thread-local read slots, so one thread may hold both):
    /// each record is parsed once, where it lies in the map, and handed to the handler as an
    /// `EventRef` into it (an owned copy is made only when a handler fails). A batch ends at the first of `batch_size` events
    /// that pass the filter, `max_batch_bytes` of records applied, [`SCAN_LIMIT`] positions
    /// read, and `max_batch_time` spent (checked before each event, and every 1,024
    /// positions read; a batch always processes at least one position).
    fn apply_items(
        &mut self,
        generation: u64,
        key: &[u8],
        read_from: u64,
        isolated: bool,
    ) -> Result<(Applied, u64)> {
        let prefix = &model_prefix(&self.name, generation);
        let name = self.name.as_str();
        let count = self.options.partition.count.max(1);
        let (filter, partition) = (&self.filter, self.options.partition);
        let options = &self.options;
        let projection = &mut self.projection;
        self.store.shared().write_or_abort(|env, txn, dbs| {
            let mut deadline = Deadline::start(options.max_batch_time);
            check_partition_count(txn, dbs, name, generation, count)?;
            if stored_checkpoint(txn, dbs, key)? != read_from {
                return Ok(Finish::Commit((Applied::Stale, 0)));
            }
            let Some(first) = read_from.checked_add(1) else {
                return Ok(Finish::Commit((Applied::All(read_from), 0)));
            };
            let log = env.read_txn()?;
            let start = first.to_be_bytes();
            let range = (Bound::Included(&start[..]), Bound::Unbounded);
            let mut batch = Walk::new(read_from);
            let mut walker = LogWalker::default();
            for entry in dbs.events.range(&log, &range)? {
                let (k, value) = entry?;
                let position = u64_from(k)
                    .ok_or_else(|| corrupt("events", &format!("{k:?}"), "key is not 8 bytes"))?;
                if batch.full(options) {
                    break;
                }
                if batch.scanned > 0
                    && batch.scanned.is_multiple_of(1024)
                    && deadline.elapsed() >= options.max_batch_time
                {
                    return batch.commit_until(txn, dbs, name, key, position);
                }
                batch.scanned += 1;
                // What to apply: an event where it lies in the map, or a damaged record this
                // runner cannot rule out.
                let next: Result<EventRef<'_>, Damaged> = match walker.parse(value, filter) {
                    Ok((view, wanted)) => {
                        if !wanted {
                            batch.reached = position;
                            continue;
                        }
                        batch.matched += 1;
                        if !partition.owns(view.stream) {
                            batch.reached = position;
                            continue;
                        }
                        if batch.processed > 0 && deadline.passed() {
                            return batch.commit_until(txn, dbs, name, key, position);
                        }
                        Ok(view.event_ref(position))
                    }
                    Err(reason) => {
                        batch.matched += 1;
                        let damaged = damaged(position, value, &reason);
                        if !damaged.wanted(filter, partition) {
                            batch.reached = position;
                            continue;
                        }
                        if batch.processed > 0 && deadline.passed() {
                            return batch.commit_until(txn, dbs, name, key, position);
                        }
                        Err(damaged)
                    }
                };
                let mut writes = 0;
                let mut apply = |projection: &mut P, txn: &mut heed::RwTxn<'_>| match &next {
                    Ok(event) => apply_one(projection, txn, dbs, prefix, event, &mut writes),
                    Err(damaged) => apply_item(
                        projection,
                        txn,
                        dbs,
                        prefix,
                        &Item::Damaged(damaged.clone()),
                        filter,
                        partition,
                        &mut writes,
                    ),
                };
                let outcome = if isolated {
                    let mut nested = env.nested_write_txn(txn)?;
                    let outcome = apply(projection, &mut nested);
                    if outcome.is_ok() {
                        nested.commit()?;
                    }
                    outcome
                } else {
                    apply(projection, txn)
                };
                match outcome {
                    Ok(applied) => {
                        batch.handled += u64::from(applied);
                        batch.processed += 1;
                        batch.bytes += value.len() + writes.saturating_mul(WRITE_BYTES);
                        batch.applied.push(position);
                        batch.reached = position;
                    }
                    Err(error) => {
                        if let Some(storage) = storage_error(&error) {
                            return Err(storage);
                        }
                        if !isolated {
                            return Ok(Finish::Abort((Applied::Isolate, 0)));
                        }
                        let failed = match next {
                            Ok(event) => Item::Event(event.to_recorded()),
                            Err(damaged) => Item::Damaged(damaged),
                        };
                        return batch.commit_failed(txn, dbs, name, key, failed, error.to_string());
                    }
                }
            }
            let reached = batch.reached;
            dbs.checkpoints.put(txn, key, &reached.to_be_bytes())?;
            unpark_applied(txn, dbs, name, &batch.applied)?;
            Ok(Finish::Commit((Applied::All(reached), batch.handled)))
        })
    }

    /// Retries one failed item with backoff (a damaged record is read again each time, so a
    /// repaired one goes through); parks it after the last attempt.
    fn retry_or_park(
        &mut self,
        failed: &Item,
        prefix: &[u8],
        key: &[u8],
        first_error: String,
        report: &mut RunReport,
    ) -> Result<()> {
        let position = failed.position();
        let (filter, partition) = (&self.filter, self.options.partition);
        let parked_at = parked_key(&self.name, position);
        let mut last_error = first_error;
        for attempt in 2..=self.options.max_attempts {
            std::thread::sleep(backoff(&self.options, attempt - 1));
            let projection = &mut self.projection;
            let outcome = self.store.shared().write(|env, txn, dbs| {
                if stored_checkpoint(txn, dbs, key)? != position - 1 {
                    // Someone else moved past it meanwhile.
                    return Ok(Ok(false));
                }
                let mut nested = env.nested_write_txn(txn)?;
                match apply_item(
                    projection,
                    &mut nested,
                    dbs,
                    prefix,
                    failed,
                    filter,
                    partition,
                    &mut 0,
                ) {
                    Ok(applied) => {
                        nested.commit()?;
                        dbs.checkpoints.put(txn, key, &position.to_be_bytes())?;
                        // Parked by an earlier run under `Stop`: applied now, not to replay.
                        dbs.parked.delete(txn, &parked_at)?;
                        Ok(Ok(applied))
                    }
                    Err(error) => match storage_error(&error) {
                        Some(storage) => Err(storage),
                        None => Ok(Err(error.to_string())),
                    },
                }
            })?;
            match outcome {
                Ok(applied) => {
                    report.handled += u64::from(applied);
                    report.checkpoint = position;
                    return Ok(());
                }
                Err(error) => last_error = error,
            }
        }
        let parked = park_item(failed, &last_error, self.options.max_attempts);
        let skip = self.options.on_failure == OnFailure::Skip;
        let parked_key = parked_key(&self.name, position);
        let value = encode_parked(&parked);
        let current = self.store.shared().write(|_, txn, dbs| {
            let current = stored_checkpoint(txn, dbs, key)?;
            if current != position - 1 {
                return Ok(current);
            }
            dbs.parked.put(txn, &parked_key, &value)?;
            if skip {
                dbs.checkpoints.put(txn, key, &position.to_be_bytes())?;
            }
            Ok(current)
        })?;
        if current != position - 1 {
            report.checkpoint = current;
            return Ok(());
        }
        report.parked += 1;
        if skip {
            report.checkpoint = position;
            Ok(())
        } else {
            Err(stopped(&self.name, &parked))
        }
    }

    /// The events parked for this projection, oldest first.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn parked(&self) -> Result<Vec<ParkedEvent>> {
        parked(&self.store, &self.name)
    }

    /// Runs the handler again on every parked event, in position order, into the active
    /// generation; successes leave the parked list. Each record is read again, so a damaged
    /// record that was repaired (restored from a backup, say) is applied now, and one that is
    /// still damaged stays parked. Under [`OnFailure::Stop`] a replayed event also moves the
    /// checkpoint past it.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn replay_parked(&mut self) -> Result<ReplayReport> {
        let mut report = ReplayReport::default();
        for parked in self.parked()? {
            let generation = self.generation()?;
            let prefix = model_prefix(&self.name, generation);
            let key = parked_key(&self.name, parked.position);
            let checkpoint = checkpoint_key(&self.name, generation, self.options.partition);
            let position = parked.position;
            let (filter, partition) = (&self.filter, self.options.partition);
            let projection = &mut self.projection;
            let ok = self.store.shared().write(|env, txn, dbs| {
                if dbs.parked.get(txn, &key)?.is_none() {
                    // Replayed meanwhile by another runner.
                    return Ok(true);
                }
                let at = stored_checkpoint(txn, dbs, &checkpoint)?;
                if at < position - 1 {
                    // The runner has not reached it: it will process the event itself.
                    dbs.parked.delete(txn, &key)?;
                    return Ok(true);
                }
                let item = read_at(txn, dbs, position)?;
                let mut nested = env.nested_write_txn(txn)?;
                match apply_item(
                    projection,
                    &mut nested,
                    dbs,
                    &prefix,
                    &item,
                    filter,
                    partition,
                    &mut 0,
                ) {
                    Ok(_) => {
                        nested.commit()?;
                        dbs.parked.delete(txn, &key)?;
                        if at == position - 1 {
                            // Parked under `Stop`: the checkpoint waited before it.
                            dbs.checkpoints
                                .put(txn, &checkpoint, &position.to_be_bytes())?;
                        }
                        Ok(true)
                    }
                    Err(error) => storage_error(&error).map_or(Ok(false), Err),
                }
            })?;
            if ok {
                report.handled += 1;
            } else {
                report.failed += 1;
            }
        }
        Ok(report)
    }

    /// Rebuilds the read model from position 0 into a new generation while the current one
    /// keeps serving reads (and keeps being updated by running workers), then switches reads
    /// to the new generation in one transaction and deletes the old one. `progress` is called
    /// after each batch.
    ///
    /// The new generation gets a checkpoint for each of `options.partition.count` partitions,
    /// so this is also how the number of workers changes: rebuild with the new count, then
    /// start that many workers.
    ///
    /// # Errors
    ///
    /// As [`StoreRunner::run_until_caught_up`].
    pub fn rebuild(&mut self, mut progress: impl FnMut(&Progress)) -> Result<RebuildReport> {
        let name = self.name.clone();
        let next_key = next_generation_key(&name);
        let (replaced, generation) = self.store.shared().write(|_, txn, dbs| {
            let active = active_generation(txn, dbs, &name)?;
            let next = read_u64(txn, dbs.checkpoints, "checkpoints", &next_key)?
                .unwrap_or(active + 1)
                .max(active + 1);
            dbs.checkpoints
                .put(txn, &next_key, &(next + 1).to_be_bytes())?;
            Ok((active, next))
        })?;
        let total = self.store.head_position()?;
        let started = Instant::now();
        let partitions = self.options.partition;
        self.options.partition = Partition::ALL;
        let mut report = RunReport::default();
        let result: Result<()> = (|| {
            loop {
                let progressed = self.step(generation, &mut report)?;
                let elapsed = started.elapsed().as_secs_f64().max(1e-9);
                progress(&Progress {
                    done: report.checkpoint,
                    total,
                    rate: report.checkpoint as f64 / elapsed,
                });
                if !progressed {
                    return Ok(());
                }
            }
        })();
        self.options.partition = partitions;
        result?;

        // Switch: the new generation serves, with a checkpoint for every partition.
        let source = checkpoint_key(&name, generation, Partition::ALL);
        self.store.shared().write(|_, txn, dbs| {
            let reached = read_u64(txn, dbs.checkpoints, "checkpoints", &source)?.unwrap_or(0);
            for index in 0..partitions.count.max(1) {
                let partition = Partition {
                    index,
                    count: partitions.count.max(1),
                };
                dbs.checkpoints.put(
                    txn,
                    &checkpoint_key(&name, generation, partition),
                    &reached.to_be_bytes(),
                )?;
            }
            dbs.checkpoints.put(
                txn,
                &partitions_key(&name, generation),
                &partitions.count.max(1).to_be_bytes(),
            )?;
            dbs.checkpoints
                .put(txn, &generation_key(&name), &generation.to_be_bytes())?;
            Ok(())
        })?;
        self.delete_generation(replaced)?;
        Ok(RebuildReport {
            generation,
            replaced,
            handled: report.handled,
        })
    }

    /// Deletes a generation's read model and checkpoints, a chunk per transaction.
    fn delete_generation(&self, generation: u64) -> Result<()> {
        let prefix = model_prefix(&self.name, generation);
        loop {
            let deleted = self.store.shared().write(|_, txn, dbs| {
                let keys: Vec<Vec<u8>> = dbs
                    .read_models
                    .prefix_iter(txn, &prefix)?
                    .take(10_000)
                    .map(|entry| entry.map(|(k, _)| k.to_vec()))
                    .collect::<heed::Result<_>>()?;
                for key in &keys {
                    dbs.read_models.delete(txn, key)?;
                }
                Ok(keys.len())
            })?;
            if deleted == 0 {
                break;
            }
        }
        let checkpoints = format!("{}@{generation}#", self.name).into_bytes();
        self.store.shared().write(|_, txn, dbs| {
            let keys: Vec<Vec<u8>> = dbs
                .checkpoints
                .prefix_iter(txn, &checkpoints)?
                .map(|entry| entry.map(|(k, _)| k.to_vec()))
                .collect::<heed::Result<_>>()?;
            for key in &keys {
                dbs.checkpoints.delete(txn, key)?;
            }
            dbs.checkpoints
                .delete(txn, &partitions_key(&self.name, generation))?;
            Ok(())
        })
    }
}

/// A handler error that is the store's map filling up (or another process growing it): the
/// write transaction must fail with it, so it grows the map and runs again.
/// Removes the parked entries of the items this runner has just applied (`applied`, in
/// position order): an event parked under [`OnFailure::Stop`] and applied by a later run, once
/// its cause was fixed, must not be applied again by `replay_parked`. One range lookup per
/// batch; other partitions' parked entries in the range are left alone.
pub(crate) fn unpark_applied(
    txn: &mut heed::RwTxn<'_>,
    dbs: &Dbs,
    name: &str,
    applied: &[u64],
) -> Result<()> {
    let (Some(first), Some(last)) = (applied.first(), applied.last()) else {
        return Ok(());
    };
    let (start, end) = (parked_key(name, *first), parked_key(name, *last));
    let range = (
        std::ops::Bound::Included(start.as_slice()),
        std::ops::Bound::Included(end.as_slice()),
    );
    let keys: Vec<Vec<u8>> = dbs
        .parked
        .range(txn, &range)?
        .map(|entry| entry.map(|(key, _)| key.to_vec()))
        .collect::<heed::Result<_>>()?;
    for key in keys {
        let position = key.len().checked_sub(8).and_then(|at| u64_from(&key[at..]));
        if position.is_some_and(|p| applied.binary_search(&p).is_ok()) {
            dbs.parked.delete(txn, &key)?;
        }
    }
    Ok(())
}

pub(crate) fn storage_error(error: &HandlerError) -> Option<Error> {
    match error.downcast_ref::<Error>() {
        Some(Error::Lmdb(heed::Error::Mdb(
            mdb @ (heed::MdbError::MapFull | heed::MdbError::MapResized),
        ))) => Some(Error::Lmdb(heed::Error::Mdb(*mdb))),
        _ => None,
    }
}

fn partitions_key(name: &str, generation: u64) -> Vec<u8> {
    format!("\0partitions\0{name}@{generation}").into_bytes()
}

/// The first runner of a generation records how many partitions it runs as; a runner with
/// another count (an old worker after a rebuild changed it, a misconfigured one) stops instead
/// of re-applying its share of the log under checkpoints it does not have.
fn check_partition_count(
    txn: &mut heed::RwTxn<'_>,
    dbs: &Dbs,
    name: &str,
    generation: u64,
    count: u32,
) -> Result<()> {
    let key = partitions_key(name, generation);
    match dbs.checkpoints.get(txn, &key)? {
        None => {
            dbs.checkpoints.put(txn, &key, &count.to_be_bytes())?;
            Ok(())
        }
        Some(bytes) if bytes == count.to_be_bytes() => Ok(()),
        Some(bytes) => {
            let runs = bytes.try_into().map(u32::from_be_bytes).unwrap_or(0);
            Err(Error::InvalidInput(format!(
                "projection `{name}` runs as {runs} partition(s); this runner is one of \
                 {count}: stop it, or rebuild with the new count"
            )))
        }
    }
}

fn stored_checkpoint(txn: &heed::RwTxn<'_>, dbs: &Dbs, key: &[u8]) -> Result<u64> {
    Ok(read_u64(txn, dbs.checkpoints, "checkpoints", key)?.unwrap_or(0))
}

/// Applies one item in `txn`: an event, or a damaged record read again (applied if it was
/// repaired and is this runner's, skipped if it was repaired and is not, an error otherwise).
/// `Ok(false)` when there was nothing to apply. The handler's read model writes are added to
/// `writes`.
#[allow(clippy::too_many_arguments)]
fn apply_item<P: StoreProjection>(
    projection: &mut P,
    txn: &mut heed::RwTxn<'_>,
    dbs: &Dbs,
    prefix: &[u8],
    item: &Item,
    filter: &Filter,
    partition: Partition,
    writes: &mut usize,
) -> Result<bool, HandlerError> {
    match item {
        Item::Event(recorded) => apply_one(projection, txn, dbs, prefix, &recorded.into(), writes),
        Item::Damaged(damaged) => match read_at(txn, dbs, damaged.position)? {
            Item::Event(recorded) if wants(&recorded, filter, partition) => {
                apply_one(projection, txn, dbs, prefix, &(&recorded).into(), writes)
            }
            Item::Event(_) => Ok(false),
            Item::Damaged(still) => Err(still.error.into()),
        },
    }
}

/// Decodes and applies one event in `txn`; `Ok(false)` for a retired type (nothing to apply).
/// The handler's read model writes are added to `writes`.
fn apply_one<P: StoreProjection>(
    projection: &mut P,
    txn: &mut heed::RwTxn<'_>,
    dbs: &Dbs,
    prefix: &[u8],
    recorded: &EventRef<'_>,
    writes: &mut usize,
) -> Result<bool, HandlerError> {
    let Some(event) = decode::<P::Event>(recorded)? else {
        return Ok(false);
    };
    let mut model = ReadModel {
        txn,
        dbs,
        prefix,
        writes: 0,
    };
    let applied = projection.apply(&mut model, &event, *recorded);
    *writes += model.writes;
    applied?;
    Ok(true)
}

pub(crate) fn parked(store: &LmdbStore, name: &str) -> Result<Vec<ParkedEvent>> {
    let prefix = [name.as_bytes(), &[0]].concat();
    store.shared().read(|txn, dbs| {
        let mut out = Vec::new();
        for entry in dbs.parked.prefix_iter(txn, &prefix)? {
            let (key, value) = entry?;
            let position =
                u64_from(&key[prefix.len()..]).ok_or_else(|| corrupt("parked", name, "bad key"))?;
            out.push(decode_parked(position, value)?);
        }
        Ok(out)
    })
}

pub(crate) fn validate_projection_name(name: &str) -> Result<()> {
    validate_consumer_name(name)?;
    if name.contains(['@', '#']) {
        return Err(Error::InvalidInput(format!(
            "projection name `{name}` contains `@` or `#`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
