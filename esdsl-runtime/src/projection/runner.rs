//! [`StoreRunner`]: a store projection's batches, each applied with its checkpoint in one
//! transaction of the backend (exactly once), with retries, parking, partitions and rebuilds.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::backend::{
    Damaged, Finish, Item, LogEntry, ModelScope, ProjectionStore, ProjectionTxn, StateKey,
};
use super::parked::{self, ParkedEvent, ReplayReport, unpark};
use super::read_model::ReadModel;
use super::{
    Deadline, HandlerError, OnFailure, Partition, ProjectionOptions, StoreProjection, backoff,
    decode, validate_projection_name,
};
use crate::error::{Error, Result};
use crate::store::{EventRef, Filter};

/// Stops running projections from another thread: every runner (and wait) holding a clone of
/// it stops after its current batch.
#[derive(Clone)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

impl Stop {
    /// A stop handle for runners on `store`.
    pub fn new<S: ProjectionStore>(store: &S) -> Stop {
        let store = store.clone();
        Stop {
            flag: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(move || store.wake_waiters()),
        }
    }

    /// Asks the runners holding this handle to stop after their current batch.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        (self.wake)();
    }

    /// Whether a stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Waits until `store`'s log is past `after`, `timeout` passes or a stop is asked,
    /// whichever comes first (a stop asked just before the wait ends it too).
    pub(crate) fn wait_for_commit<S: ProjectionStore>(
        &self,
        store: &S,
        after: u64,
        timeout: Duration,
    ) -> Result<u64> {
        store.wait_for_commit_or_stop(after, timeout, &self.flag)
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

/// Runs a [`StoreProjection`]: its read model and checkpoint change in one transaction of the
/// store, so every event is applied exactly once, even across crashes.
#[derive(Debug)]
pub struct StoreRunner<P, S> {
    store: S,
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
    FailedAt(Item, HandlerError),
    /// A handler failed in a batch applied without a nested transaction per event: nothing
    /// was committed; apply the batch again with them.
    Isolate,
}

/// What one read model write counts toward `max_batch_bytes`: a page, as each write can add a
/// page to the transaction's dirty pages, which a backend like LMDB holds in memory until the
/// commit.
const WRITE_BYTES: usize = 4096;

/// At most this many positions are scanned for one batch, so a filter that matches little
/// does not hold a read over the whole log.
pub(crate) const SCAN_LIMIT: usize = 65_536;

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
    /// Why the walk stopped before the log's end or a bound, when it did.
    ended: Option<Applied>,
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
            ended: None,
        }
    }

    /// Whether the batch reached its size, byte or scan bound.
    fn full(&self, options: &ProjectionOptions) -> bool {
        self.matched >= options.batch_size
            || self.bytes >= options.max_batch_bytes
            || self.scanned >= SCAN_LIMIT
    }

    /// Ends the walk before `position` (the time bound).
    fn stop_before(&mut self, position: u64) -> ControlFlow<()> {
        self.ended = Some(Applied::Until(position));
        ControlFlow::Break(())
    }

    /// Commits what was processed with the checkpoint it reached.
    fn commit(
        self,
        txn: &mut dyn ProjectionTxn,
        name: &str,
        key: StateKey<'_>,
    ) -> Result<Finish<(Applied, u64)>> {
        let (applied, checkpoint) = match self.ended {
            None => (Applied::All(self.reached), self.reached),
            Some(Applied::Isolate) => return Ok(Finish::Abort((Applied::Isolate, 0))),
            Some(Applied::Until(next)) => (Applied::Until(next), next.saturating_sub(1)),
            Some(Applied::FailedAt(failed, error)) => {
                let before = failed.position().saturating_sub(1);
                (Applied::FailedAt(failed, error), before)
            }
            Some(Applied::Stale | Applied::All(_)) => (Applied::All(self.reached), self.reached),
        };
        txn.set_state(key, checkpoint)?;
        unpark(txn, name, &self.applied)?;
        Ok(Finish::Commit((applied, self.handled)))
    }
}

impl<P: StoreProjection, S: ProjectionStore> StoreRunner<P, S> {
    /// A runner for `projection` on `store`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a projection name that is empty, too long or holds `@`, `#`
    /// or a NUL byte.
    pub fn new(store: S, projection: P, options: ProjectionOptions) -> Result<Self> {
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

    fn key(&self, generation: u64) -> StateKey<'_> {
        StateKey::checkpoint(&self.name, generation, self.options.partition)
    }

    /// This partition's checkpoint in the active generation.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn checkpoint(&self) -> Result<u64> {
        let partition = self.options.partition;
        let name = self.name.as_str();
        self.store.read(&mut |read| {
            let generation = read.state(StateKey::Generation(name))?.unwrap_or(0);
            let key = StateKey::checkpoint(name, generation, partition);
            Ok(read.state(key)?.unwrap_or(0))
        })
    }

    /// Processes events until the checkpoint reaches the head of the log.
    ///
    /// # Errors
    ///
    /// [`Error::ProjectionStopped`] when an event was parked under [`OnFailure::Stop`]; storage
    /// errors.
    ///
    /// Called on a tokio runtime's worker thread, it first moves that thread's other tasks
    /// elsewhere (see [`StoreRunner::run`]).
    pub fn run_until_caught_up(&mut self) -> Result<RunReport> {
        crate::task::blocking_loop(|| {
            let mut report = RunReport::default();
            while self.next_batch(&mut report)? {}
            Ok(report)
        })
    }

    /// Catches up, then follows new commits until `stop` is asked; a stop wakes the wait for
    /// the next commit at once, and a batch in progress is finished first.
    ///
    /// This blocks its thread: give it a thread of its own, or in async code
    /// [`StoreRunner::spawn`] it. Called on a worker thread of a multi-threaded tokio runtime
    /// (`tokio::spawn(async move { runner.run(&stop) })`), it hands that worker's other tasks to
    /// a new worker first (`tokio::task::block_in_place`), so it never starves the executor.
    ///
    /// # Errors
    ///
    /// As [`StoreRunner::run_until_caught_up`].
    ///
    /// # Panics
    ///
    /// Called on a current-thread tokio runtime's own thread, where nothing could take over
    /// its other tasks (tokio: "can call blocking only when running on the multi-threaded
    /// runtime"): use [`StoreRunner::spawn`].
    pub fn run(&mut self, stop: &Stop) -> Result<RunReport> {
        let store = self.store.clone();
        follow(&store, stop, |report| self.next_batch(report))
    }

    /// Runs the projection on tokio's blocking pool until `stop` is asked: the task's
    /// [`RunReport`] is the run's. Needs a tokio runtime.
    #[cfg(feature = "tokio")]
    pub fn spawn(mut self, stop: &Stop) -> RunnerTask
    where
        P: 'static,
    {
        spawn_run(stop, move |stop| self.run(stop))
    }

    /// One batch into the active generation; whether the checkpoint moved.
    fn next_batch(&mut self, report: &mut RunReport) -> Result<bool> {
        let generation = self.generation()?;
        self.step(generation, report)
    }

    fn generation(&self) -> Result<u64> {
        let name = self.name.as_str();
        self.store
            .read(&mut |read| Ok(read.state(StateKey::Generation(name))?.unwrap_or(0)))
    }

    /// Processes one batch into `generation`; returns whether the checkpoint moved.
    fn step(&mut self, generation: u64, report: &mut RunReport) -> Result<bool> {
        let key = self.key(generation);
        let (checkpoint, head) = self
            .store
            .read(&mut |read| Ok((read.state(key)?.unwrap_or(0), read.head()?)))?;
        report.checkpoint = checkpoint;
        if head <= checkpoint {
            // Nothing to do: no write transaction taken.
            return Ok(false);
        }
        let (applied, handled) = self.apply_batch(generation, checkpoint)?;
        match applied {
            // `apply_batch` runs an isolated batch again with isolation; it never returns it.
            Applied::Stale | Applied::Isolate => {}
            Applied::All(reached) => {
                report.handled += handled;
                report.checkpoint = reached;
            }
            Applied::Until(next) => {
                report.handled += handled;
                report.checkpoint = next.saturating_sub(1);
            }
            Applied::FailedAt(failed, first_error) => {
                report.handled += handled;
                report.checkpoint = failed.position().saturating_sub(1);
                self.retry_or_park(generation, &failed, first_error, report)?;
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
    fn apply_batch(&mut self, generation: u64, read_from: u64) -> Result<(Applied, u64)> {
        match self.apply_items(generation, read_from, false)? {
            (Applied::Isolate, _) => self.apply_items(generation, read_from, true),
            done => Ok(done),
        }
    }

    /// Applies the events after `read_from` in one write transaction (`isolated`: each in a
    /// nested one, so a failing handler's writes roll back alone) and commits what succeeded
    /// with the checkpoint; without isolation a failing handler rolls everything back
    /// ([`Applied::Isolate`]). The checkpoint is checked inside the transaction: another
    /// runner's batch is not applied twice.
    ///
    /// The backend walks the log beside the transaction, each record handed to the handler
    /// as an `EventRef` where it lies (an owned copy is made only when a handler fails). A
    /// batch ends at the first of `batch_size` events that pass the filter, `max_batch_bytes`
    /// of records applied, [`SCAN_LIMIT`] positions read, and `max_batch_time` spent (checked
    /// before each event, and every 1,024 positions read; a batch always processes at least
    /// one position).
    fn apply_items(
        &mut self,
        generation: u64,
        read_from: u64,
        isolated: bool,
    ) -> Result<(Applied, u64)> {
        let name = self.name.as_str();
        let scope = ModelScope { name, generation };
        let key = StateKey::checkpoint(name, generation, self.options.partition);
        let count = self.options.partition.count.max(1);
        let (filter, partition) = (&self.filter, self.options.partition);
        let target = Target {
            scope,
            filter,
            partition,
        };
        let options = &self.options;
        let projection = &mut self.projection;
        self.store.transact(&mut |txn| {
            let mut deadline = Deadline::start(options.max_batch_time);
            check_partition_count(txn, name, generation, count)?;
            if txn.state(key)?.unwrap_or(0) != read_from {
                return Ok(Finish::Commit((Applied::Stale, 0)));
            }
            let mut batch = Walk::new(read_from);
            txn.walk_log_applying(read_from, filter, &mut |txn, logged| {
                let position = logged.position;
                if batch.full(options) {
                    return Ok(ControlFlow::Break(()));
                }
                if batch.scanned > 0
                    && batch.scanned.is_multiple_of(1024)
                    && deadline.elapsed() >= options.max_batch_time
                {
                    return Ok(batch.stop_before(position));
                }
                batch.scanned += 1;
                // What to apply: an event where it lies, or a damaged record this runner
                // cannot rule out.
                let next: Result<&EventRef<'_>, &Damaged> = match &logged.entry {
                    LogEntry::Skipped => {
                        batch.reached = position;
                        return Ok(ControlFlow::Continue(()));
                    }
                    LogEntry::Event(event) => {
                        batch.matched += 1;
                        if !partition.owns(event.stream()) {
                            batch.reached = position;
                            return Ok(ControlFlow::Continue(()));
                        }
                        Ok(event)
                    }
                    LogEntry::Damaged(damaged) => {
                        batch.matched += 1;
                        if !damaged.wanted(filter, partition) {
                            batch.reached = position;
                            return Ok(ControlFlow::Continue(()));
                        }
                        Err(damaged)
                    }
                };
                if batch.processed > 0 && deadline.passed() {
                    return Ok(batch.stop_before(position));
                }
                let mut writes = 0;
                let mut apply = |projection: &mut P, txn: &mut dyn ProjectionTxn| match next {
                    Ok(event) => apply_one(projection, txn, scope, event, &mut writes),
                    Err(damaged) => apply_damaged(projection, txn, target, damaged, &mut writes),
                };
                let outcome = if isolated {
                    txn.nested(&mut |nested| apply(projection, nested))?
                } else {
                    apply(projection, txn)
                };
                match outcome {
                    Ok(applied) => {
                        batch.handled += u64::from(applied);
                        batch.processed += 1;
                        batch.bytes += logged.bytes + writes.saturating_mul(WRITE_BYTES);
                        batch.applied.push(position);
                        batch.reached = position;
                        Ok(ControlFlow::Continue(()))
                    }
                    Err(error) => {
                        if let Some(storage) = storage_failure::<S>(&error) {
                            return Err(storage);
                        }
                        batch.ended = Some(if isolated {
                            let failed = match next {
                                Ok(event) => Item::Event(event.to_recorded()),
                                Err(damaged) => Item::Damaged(damaged.clone()),
                            };
                            Applied::FailedAt(failed, error)
                        } else {
                            Applied::Isolate
                        });
                        Ok(ControlFlow::Break(()))
                    }
                }
            })?;
            batch.commit(txn, name, key)
        })
    }

    /// Retries one failed item with backoff (a damaged record is read again each time, so a
    /// repaired one goes through); parks it after the last attempt.
    fn retry_or_park(
        &mut self,
        generation: u64,
        failed: &Item,
        first_error: HandlerError,
        report: &mut RunReport,
    ) -> Result<()> {
        let position = failed.position();
        let name = self.name.as_str();
        let scope = ModelScope { name, generation };
        let key = StateKey::checkpoint(name, generation, self.options.partition);
        let target = Target {
            scope,
            filter: &self.filter,
            partition: self.options.partition,
        };
        let mut last_error = first_error;
        for attempt in 2..=self.options.max_attempts {
            std::thread::sleep(backoff(&self.options, attempt - 1));
            let projection = &mut self.projection;
            let outcome = self.store.transact(&mut |txn| {
                if txn.state(key)?.unwrap_or(0) != position.saturating_sub(1) {
                    // Someone else moved past it meanwhile.
                    return Ok(Finish::Commit(Ok(false)));
                }
                let outcome =
                    txn.nested(&mut |nested| apply_item(projection, nested, target, failed))?;
                match outcome {
                    Ok(applied) => {
                        txn.set_state(key, position)?;
                        // Parked by an earlier run under `Stop`: applied now, not to replay.
                        txn.delete_parked(name, position)?;
                        Ok(Finish::Commit(Ok(applied)))
                    }
                    Err(error) => match storage_failure::<S>(&error) {
                        Some(storage) => Err(storage),
                        None => Ok(Finish::Commit(Err(error))),
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
        let parked = ParkedEvent::of(failed, &last_error.to_string(), self.options.max_attempts);
        let skip = self.options.on_failure == OnFailure::Skip;
        let value = parked.encode();
        let current = self.store.transact(&mut |txn| {
            let current = txn.state(key)?.unwrap_or(0);
            if current != position.saturating_sub(1) {
                return Ok(Finish::Commit(current));
            }
            txn.put_parked(name, position, &value)?;
            if skip {
                txn.set_state(key, position)?;
            }
            Ok(Finish::Commit(current))
        })?;
        if current != position.saturating_sub(1) {
            report.checkpoint = current;
            return Ok(());
        }
        report.parked += 1;
        if skip {
            report.checkpoint = position;
            Ok(())
        } else {
            Err(parked.stopped(&self.name, last_error))
        }
    }

    /// The events parked for this projection, oldest first.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn parked(&self) -> Result<Vec<ParkedEvent>> {
        let name = self.name.as_str();
        self.store.read(&mut |read| parked::parked(read, name))
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
        let (store, name) = (self.store.clone(), self.name.clone());
        parked::replay(&store, &name, |entry| {
            let generation = self.generation()?;
            let name = self.name.as_str();
            let scope = ModelScope { name, generation };
            let checkpoint = StateKey::checkpoint(name, generation, self.options.partition);
            let position = entry.position;
            let target = Target {
                scope,
                filter: &self.filter,
                partition: self.options.partition,
            };
            let projection = &mut self.projection;
            store.transact(&mut |txn| {
                if txn.parked_between(name, position, position)?.is_empty() {
                    // Replayed meanwhile by another runner.
                    return Ok(Finish::Commit(true));
                }
                let at = txn.state(checkpoint)?.unwrap_or(0);
                if at < position.saturating_sub(1) {
                    // The runner has not reached it: it will process the event itself.
                    txn.delete_parked(name, position)?;
                    return Ok(Finish::Commit(true));
                }
                let item = txn.read_at(position)?;
                let outcome =
                    txn.nested(&mut |nested| apply_item(projection, nested, target, &item))?;
                match outcome {
                    Ok(_) => {
                        txn.delete_parked(name, position)?;
                        if at == position.saturating_sub(1) {
                            // Parked under `Stop`: the checkpoint waited before it.
                            txn.set_state(checkpoint, position)?;
                        }
                        Ok(Finish::Commit(true))
                    }
                    Err(error) => {
                        storage_failure::<S>(&error).map_or(Ok(Finish::Commit(false)), Err)
                    }
                }
            })
        })
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
        let (replaced, generation) = self.store.transact(&mut |txn| {
            let active = txn.state(StateKey::Generation(&name))?.unwrap_or(0);
            let next = txn
                .state(StateKey::NextGeneration(&name))?
                .unwrap_or(active + 1)
                .max(active + 1);
            txn.set_state(StateKey::NextGeneration(&name), next + 1)?;
            Ok(Finish::Commit((active, next)))
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
        let count = partitions.count.max(1);
        let source = StateKey::checkpoint(&name, generation, Partition::ALL);
        self.store.transact(&mut |txn| {
            let reached = txn.state(source)?.unwrap_or(0);
            for index in 0..count {
                let partition = Partition { index, count };
                txn.set_state(StateKey::checkpoint(&name, generation, partition), reached)?;
            }
            txn.set_state(StateKey::Partitions(&name, generation), u64::from(count))?;
            txn.set_state(StateKey::Generation(&name), generation)?;
            Ok(Finish::Commit(()))
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
        let scope = ModelScope {
            name: &self.name,
            generation,
        };
        while self
            .store
            .transact(&mut |txn| Ok(Finish::Commit(txn.model_clear(scope, 10_000)?)))?
            > 0
        {}
        self.store.transact(&mut |txn| {
            txn.delete_generation_state(&self.name, generation)?;
            Ok(Finish::Commit(()))
        })
    }
}

/// A runner running as a task ([`StoreRunner::spawn`], [`ExternalRunner::spawn`]); its output
/// is the run's.
///
/// [`ExternalRunner::spawn`]: super::ExternalRunner::spawn
#[cfg(feature = "tokio")]
pub type RunnerTask = tokio::task::JoinHandle<Result<RunReport>>;

/// Runs `run` on tokio's blocking pool with a clone of `stop`.
#[cfg(feature = "tokio")]
pub(crate) fn spawn_run(
    stop: &Stop,
    run: impl FnOnce(&Stop) -> Result<RunReport> + Send + 'static,
) -> RunnerTask {
    let stop = stop.clone();
    tokio::task::spawn_blocking(move || run(&stop))
}

/// How long a runner that caught up waits for a commit before it looks again (a commit of this
/// process or a stop wakes it at once).
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// A runner's loop: a step at a time until `stop` is asked, waiting for a commit whenever a
/// step moved nothing. Never on an executor thread (see [`StoreRunner::run`]).
pub(crate) fn follow<S: ProjectionStore>(
    store: &S,
    stop: &Stop,
    mut step: impl FnMut(&mut RunReport) -> Result<bool>,
) -> Result<RunReport> {
    crate::task::blocking_loop(|| {
        let mut report = RunReport::default();
        while !stop.is_stopped() {
            if !step(&mut report)? {
                stop.wait_for_commit(store, report.checkpoint, IDLE_WAIT)?;
            }
        }
        Ok(report)
    })
}

/// The storage failure a handler error carries, which must fail the whole transaction (see
/// [`ProjectionStore::storage_failure`]).
pub(crate) fn storage_failure<S: ProjectionStore>(error: &HandlerError) -> Option<Error> {
    error.downcast_ref::<Error>().and_then(S::storage_failure)
}

/// The first runner of a generation records how many partitions it runs as; a runner with
/// another count (an old worker after a rebuild changed it, a misconfigured one) stops instead
/// of re-applying its share of the log under checkpoints it does not have.
fn check_partition_count(
    txn: &mut dyn ProjectionTxn,
    name: &str,
    generation: u64,
    count: u32,
) -> Result<()> {
    let key = StateKey::Partitions(name, generation);
    match txn.state(key)? {
        None => txn.set_state(key, u64::from(count)),
        Some(runs) if runs == u64::from(count) => Ok(()),
        Some(runs) => Err(Error::InvalidInput(format!(
            "projection `{name}` runs as {runs} partition(s); this runner is one of \
             {count}: stop it, or rebuild with the new count"
        ))),
    }
}

/// Where a runner applies events: its read model, and which events are its own.
#[derive(Clone, Copy)]
struct Target<'a> {
    scope: ModelScope<'a>,
    filter: &'a Filter,
    partition: Partition,
}

/// Applies one item in `txn`: an event, or a damaged record read again (applied if it was
/// repaired and is this runner's, skipped if it was repaired and is not, an error otherwise).
/// `Ok(false)` when there was nothing to apply.
fn apply_item<P: StoreProjection>(
    projection: &mut P,
    txn: &mut dyn ProjectionTxn,
    target: Target<'_>,
    item: &Item,
) -> Result<bool, HandlerError> {
    match item {
        Item::Event(recorded) => apply_one(projection, txn, target.scope, &recorded.into(), &mut 0),
        Item::Damaged(damaged) => apply_damaged(projection, txn, target, damaged, &mut 0),
    }
}

/// Reads a damaged record again and applies it if it was repaired and is this runner's.
fn apply_damaged<P: StoreProjection>(
    projection: &mut P,
    txn: &mut dyn ProjectionTxn,
    target: Target<'_>,
    damaged: &Damaged,
    writes: &mut usize,
) -> Result<bool, HandlerError> {
    match txn.read_at(damaged.position)? {
        Item::Event(recorded) if super::wants(&recorded, target.filter, target.partition) => {
            apply_one(projection, txn, target.scope, &(&recorded).into(), writes)
        }
        Item::Event(_) => Ok(false),
        Item::Damaged(still) => Err(still.error.into()),
    }
}

/// Decodes and applies one event in `txn`; `Ok(false)` for a retired type (nothing to apply).
/// The handler's read model writes are added to `writes`.
fn apply_one<P: StoreProjection>(
    projection: &mut P,
    txn: &mut dyn ProjectionTxn,
    scope: ModelScope<'_>,
    recorded: &EventRef<'_>,
    writes: &mut usize,
) -> Result<bool, HandlerError> {
    let Some(event) = decode::<P::Event>(recorded)? else {
        return Ok(false);
    };
    let mut model = ReadModel::new(txn, scope);
    let applied = projection.apply(&mut model, &event, *recorded);
    *writes += model.writes();
    applied?;
    Ok(true)
}
