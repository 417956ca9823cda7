//! Running an [`ExternalProjection`]: at-least-once delivery, the checkpoint saved after the
//! handler succeeded.

use super::backend::{Finish, Item, ProjectionStore, StateKey};
use super::batch::Batch;
use super::parked::{self, ParkedEvent, ReplayReport, unpark};
use super::{
    Deadline, ExternalProjection, HandlerError, OnFailure, ProjectionOptions, RunReport, Stop,
    backoff, decode, validate_projection_name, wants,
};
use crate::error::Result;
use crate::store::{EventRef, Filter};

/// Runs an [`ExternalProjection`]: events are delivered at least once, and the checkpoint
/// advances only after the handler succeeded.
#[derive(Debug)]
pub struct ExternalRunner<P, S> {
    store: S,
    projection: P,
    options: ProjectionOptions,
    filter: Filter,
    name: String,
    batch: Batch,
}

impl<P: ExternalProjection, S: ProjectionStore> ExternalRunner<P, S> {
    /// A runner for `projection` on `store`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidInput`] for a bad projection name.
    pub fn new(store: S, projection: P, options: ProjectionOptions) -> Result<Self> {
        let name = projection.name().to_owned();
        validate_projection_name(&name)?;
        let filter = projection.filter();
        Ok(ExternalRunner {
            store,
            projection,
            options,
            filter,
            name,
            batch: Batch::default(),
        })
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    fn checkpoint_name(&self) -> String {
        let partition = self.options.partition;
        format!("{}#{}/{}", self.name, partition.index, partition.count)
    }

    /// This partition's checkpoint.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn checkpoint(&self) -> Result<u64> {
        Ok(self
            .store
            .load_checkpoint(&self.checkpoint_name())?
            .unwrap_or(0))
    }

    /// Processes events until the checkpoint reaches the head of the log.
    ///
    /// # Errors
    ///
    /// [`crate::Error::ProjectionStopped`] when an event was parked under [`OnFailure::Stop`];
    /// storage errors.
    pub fn run_until_caught_up(&mut self) -> Result<RunReport> {
        crate::task::blocking_loop(|| {
            let mut report = RunReport::default();
            while self.step(&mut report)? {}
            Ok(report)
        })
    }

    /// Catches up, then follows new commits until `stop` is asked; off the executor as
    /// [`StoreRunner::run`](super::StoreRunner::run) is.
    ///
    /// # Errors
    ///
    /// As [`ExternalRunner::run_until_caught_up`].
    ///
    /// # Panics
    ///
    /// As [`StoreRunner::run`](super::StoreRunner::run).
    pub fn run(&mut self, stop: &Stop) -> Result<RunReport> {
        let store = self.store.clone();
        super::runner::follow(&store, stop, |report| self.step(report))
    }

    /// Runs the projection on tokio's blocking pool until `stop` is asked. Needs a tokio
    /// runtime.
    #[cfg(feature = "tokio")]
    pub fn spawn(mut self, stop: &Stop) -> super::RunnerTask
    where
        P: 'static,
    {
        super::runner::spawn_run(stop, move |stop| self.run(stop))
    }

    fn step(&mut self, report: &mut RunReport) -> Result<bool> {
        // The buffers of the last batch hold the next one.
        let mut batch = std::mem::take(&mut self.batch);
        let moved = self.step_with(&mut batch, report);
        self.batch = batch;
        moved
    }

    fn step_with(&mut self, batch: &mut Batch, report: &mut RunReport) -> Result<bool> {
        let name = self.checkpoint_name();
        let checkpoint = self.store.load_checkpoint(&name)?.unwrap_or(0);
        report.checkpoint = checkpoint;
        let (filter, options) = (&self.filter, &self.options);
        self.store
            .read(&mut |read| batch.read(read, checkpoint, filter, options))?;
        if batch.reached <= checkpoint {
            return Ok(false);
        }
        let mut deadline = Deadline::start(self.options.max_batch_time);
        let mut delivered = Vec::new();
        for index in 0..batch.len() {
            let position = batch.position(index);
            if index > 0 && deadline.passed() {
                // Save what is done, so a crash repeats at most `max_batch_time` of work.
                let done = position.saturating_sub(1);
                self.unpark(&delivered)?;
                self.store.save_checkpoint(&name, done)?;
                report.checkpoint = done;
                return Ok(true);
            }
            let mut attempt = 1;
            loop {
                match self.handle(batch, index) {
                    Ok(applied) => {
                        report.handled += u64::from(applied);
                        delivered.push(position);
                        break;
                    }
                    Err(error) if attempt >= self.options.max_attempts => {
                        // Everything before this event is done: keep that.
                        self.unpark(&std::mem::take(&mut delivered))?;
                        let before = position.saturating_sub(1);
                        self.store.save_checkpoint(&name, before)?;
                        report.checkpoint = before;
                        self.park(&batch.item(index), error, report)?;
                        report.checkpoint = position;
                        break;
                    }
                    Err(_) => {
                        std::thread::sleep(backoff(&self.options, attempt));
                        attempt += 1;
                    }
                }
            }
        }
        self.unpark(&delivered)?;
        self.store.save_checkpoint(&name, batch.reached)?;
        report.checkpoint = batch.reached;
        Ok(true)
    }

    /// Removes the parked entries of events just delivered (parked by an earlier run under
    /// [`OnFailure::Stop`], delivered now that the cause is fixed): they are not replayed again.
    fn unpark(&self, delivered: &[u64]) -> Result<()> {
        let (Some(first), Some(last)) = (delivered.first(), delivered.last()) else {
            return Ok(());
        };
        let name = self.name.as_str();
        let any = self
            .store
            .read(&mut |read| Ok(!read.parked_between(name, *first, *last)?.is_empty()))?;
        if any {
            self.store.transact(&mut |txn| {
                unpark(txn, name, delivered)?;
                Ok(Finish::Commit(()))
            })?;
        }
        Ok(())
    }

    /// Delivers the item at `index` of `batch`.
    fn handle(&mut self, batch: &Batch, index: usize) -> Result<bool, HandlerError> {
        match batch.event(index) {
            Ok(event) => self.deliver(event),
            Err(damaged) => self.handle_item(&Item::Damaged(damaged.clone())),
        }
    }

    /// Delivers one item; a damaged record is read again first (so a repaired one goes
    /// through, and one that turns out not to be this runner's is skipped).
    fn handle_item(&mut self, item: &Item) -> Result<bool, HandlerError> {
        let reread;
        let recorded = match item {
            Item::Event(recorded) => recorded,
            Item::Damaged(damaged) => {
                let position = damaged.position;
                reread = self.store.read(&mut |read| read.read_at(position))?;
                match &reread {
                    Item::Event(recorded)
                        if wants(recorded, &self.filter, self.options.partition) =>
                    {
                        recorded
                    }
                    Item::Event(_) => return Ok(false),
                    Item::Damaged(still) => return Err(still.error.clone().into()),
                }
            }
        };
        self.deliver(EventRef::from(recorded))
    }

    /// Decodes and delivers one event; `Ok(false)` for a retired type.
    fn deliver(&mut self, recorded: EventRef<'_>) -> Result<bool, HandlerError> {
        let Some(event) = decode::<P::Event>(&recorded)? else {
            return Ok(false);
        };
        self.projection.apply(&event, recorded)?;
        Ok(true)
    }

    fn park(&mut self, item: &Item, error: HandlerError, report: &mut RunReport) -> Result<()> {
        let parked = ParkedEvent::of(item, &error.to_string(), self.options.max_attempts);
        let value = parked.encode();
        let skip = self.options.on_failure == OnFailure::Skip;
        let checkpoint = self.checkpoint_name();
        let name = self.name.as_str();
        self.store.transact(&mut |txn| {
            txn.put_parked(name, parked.position, &value)?;
            if skip {
                txn.set_state(StateKey::Consumer(&checkpoint), parked.position)?;
            }
            Ok(Finish::Commit(()))
        })?;
        report.parked += 1;
        if skip {
            Ok(())
        } else {
            Err(parked.stopped(&self.name, error))
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

    /// Delivers every parked event again (each record read again, so a repaired damaged record
    /// goes through); successes leave the parked list.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn replay_parked(&mut self) -> Result<ReplayReport> {
        let store = self.store.clone();
        let name = self.name.clone();
        parked::replay(&store, &name, |entry| {
            let position = entry.position;
            let item = store.read(&mut |read| read.read_at(position))?;
            if self.handle_item(&item).is_err() {
                return Ok(false);
            }
            store.transact(&mut |txn| {
                txn.delete_parked(&name, position)?;
                Ok(Finish::Commit(()))
            })?;
            Ok(true)
        })
    }
}
