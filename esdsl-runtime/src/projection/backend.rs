//! The projection engine's backend interface: what a store implements so that the runners,
//! [`StoreStatus`](super::StoreStatus) and [`ReadModelView`](super::ReadModelView) work on it.
//!
//! The engine (retries, parking, partitions, batches and their bounds, rebuilds, status) is
//! written once over these traits; a backend keeps its tables, keys and transactions to
//! itself. [`LmdbStore`](crate::lmdb::LmdbStore) implements them; a new backend implements
//! them and passes `esdsl_runtime::conformance::projections` (feature `testing`) unchanged.
//!
//! - [`ProjectionStore`]: the store handle, with a write transaction ([`ProjectionTxn`]) in
//!   which read model changes, checkpoints and parked entries commit together, and a read
//!   snapshot ([`ProjectionRead`]);
//! - what a walk of the log hands out: [`Logged`] positions, each an event, a position the
//!   filter skips, or a [`Damaged`] record;
//! - the engine's state, in the engine's terms: [`StateKey`] and [`State`].

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{HandlerError, Partition};
use crate::error::{Error, Result};
use crate::store::{EventRef, EventStore, Filter, RecordedEvent, category};

/// How a [`ProjectionStore::transact`] transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish<T> {
    /// Commit what was written, and return the value.
    Commit(T),
    /// Roll back everything written, and return the value.
    Abort(T),
}

/// One of the small integers the engine keeps per projection, named in the engine's terms; a
/// backend decides how to store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateKey<'a> {
    /// The generation of a store projection's read model that serves reads (absent: 0).
    Generation(&'a str),
    /// The generation the next rebuild builds into (absent: the active one plus 1).
    NextGeneration(&'a str),
    /// How many partitions a generation runs as, recorded by its first runner.
    Partitions(&'a str, u64),
    /// A store runner's checkpoint: every position up to it is applied.
    Checkpoint {
        /// The projection.
        name: &'a str,
        /// The read model's generation.
        generation: u64,
        /// The runner's partition.
        partition: Partition,
    },
    /// A named checkpoint, as [`EventStore::save_checkpoint`] keeps it (external runners keep
    /// theirs this way, under `<name>#<index>/<count>`).
    Consumer(&'a str),
}

impl<'a> StateKey<'a> {
    /// A store runner's checkpoint.
    pub fn checkpoint(name: &'a str, generation: u64, partition: Partition) -> StateKey<'a> {
        StateKey::Checkpoint {
            name,
            generation,
            partition,
        }
    }
}

/// A state entry read back for [`StoreStatus`](super::StoreStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// [`StateKey::Generation`] and its value.
    Generation {
        /// The projection.
        name: String,
        /// The generation serving reads.
        generation: u64,
    },
    /// [`StateKey::Partitions`] and its value.
    Partitions {
        /// The projection.
        name: String,
        /// The generation.
        generation: u64,
        /// The partition count.
        count: u32,
    },
    /// [`StateKey::Checkpoint`] and its value.
    Checkpoint {
        /// The projection.
        name: String,
        /// The generation.
        generation: u64,
        /// The partition.
        partition: Partition,
        /// The checkpoint.
        position: u64,
    },
    /// [`StateKey::Consumer`] and its value.
    Consumer {
        /// The checkpoint's name.
        name: String,
        /// The checkpoint.
        position: u64,
    },
}

/// A record a runner needs but cannot read: what is readable of it decides whether the runner
/// handles it, and it goes through the same retries and parking as a failing handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damaged {
    /// Its global position.
    pub position: u64,
    /// Its stream, when readable.
    pub stream: Option<String>,
    /// Its stored type name, when readable.
    pub event_type: Option<String>,
    /// Its version in the stream, when readable.
    pub stream_version: Option<u64>,
    /// Its schema version, when readable.
    pub schema_version: Option<u32>,
    /// Why it cannot be read (an [`Error::Corrupt`] message).
    pub error: String,
}

impl Damaged {
    /// A damaged record at `position` of which nothing is readable.
    pub fn unreadable(position: u64, error: impl Into<String>) -> Damaged {
        Damaged {
            position,
            stream: None,
            event_type: None,
            stream_version: None,
            schema_version: None,
            error: error.into(),
        }
    }

    /// Whether a runner with `filter` and `partition` handles this record: unless what is
    /// readable of it shows it is not the runner's, since a record the runner cannot rule out
    /// is never dropped silently.
    pub fn wanted(&self, filter: &Filter, partition: Partition) -> bool {
        let stream = self.stream.as_deref();
        let event_type = self.event_type.as_deref();
        let other_aggregate = !filter.aggregate_types.is_empty()
            && stream.is_some_and(|s| !filter.aggregate_types.iter().any(|a| a == category(s)));
        let other_type = !filter.event_types.is_empty()
            && event_type.is_some_and(|t| !filter.event_types.iter().any(|x| x == t));
        let other_partition = stream.is_some_and(|s| !partition.owns(s));
        !(other_aggregate || other_type || other_partition)
    }
}

/// One position of the log a runner processes, owned: an event, or a damaged record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An event.
    Event(RecordedEvent),
    /// A record that cannot be read.
    Damaged(Damaged),
}

impl Item {
    /// Its global position.
    pub fn position(&self) -> u64 {
        match self {
            Item::Event(event) => event.position,
            Item::Damaged(damaged) => damaged.position,
        }
    }
}

/// What a walk of the log finds at a position.
#[derive(Debug, Clone, Copy)]
pub enum LogEntry<'a> {
    /// A record the walk's filter does not pass.
    Skipped,
    /// An event that passes the filter, borrowed where it lies.
    Event(EventRef<'a>),
    /// A damaged record (handed out whatever the filter, with what is readable of it).
    Damaged(&'a Damaged),
}

/// One position of a walk of the log.
#[derive(Debug, Clone, Copy)]
pub struct Logged<'a> {
    /// The position.
    pub position: u64,
    /// The record's size in the store, toward a batch's byte bound.
    pub bytes: usize,
    /// What is there.
    pub entry: LogEntry<'a>,
}

/// A read model's key scope: one projection's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelScope<'a> {
    /// The projection.
    pub name: &'a str,
    /// The generation.
    pub generation: u64,
}

/// What the engine reads: inside a [`ProjectionStore::read`] snapshot or a write transaction.
pub trait ProjectionRead {
    /// A state entry (`None`: never written).
    ///
    /// # Errors
    ///
    /// Storage errors; a stored value that is not a number is [`Error::Corrupt`].
    fn state(&self, key: StateKey<'_>) -> Result<Option<u64>>;

    /// The position of the last event in the log (0: empty).
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn head(&self) -> Result<u64>;

    /// The record at `position`: an event, or what is readable of a damaged or missing one.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn read_at(&self, position: u64) -> Result<Item>;

    /// Hands every position after `after` to `visit`, in order, until it breaks or the log
    /// ends: events that pass `filter` as [`LogEntry::Event`], the others as
    /// [`LogEntry::Skipped`], damaged records as [`LogEntry::Damaged`]. `visit` runs while the
    /// backend holds its read view: keep it short.
    ///
    /// # Errors
    ///
    /// Storage errors; `visit`'s error.
    fn walk_log(
        &self,
        after: u64,
        filter: &Filter,
        visit: &mut dyn FnMut(&Logged<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()>;

    /// The parked entries of projection `name` (position, encoded entry), oldest first.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn parked(&self, name: &str) -> Result<Vec<(u64, Vec<u8>)>>;

    /// The positions of the parked entries of `name` from `first` to `last` (inclusive).
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn parked_between(&self, name: &str, first: u64, last: u64) -> Result<Vec<u64>>;

    /// The value under `key` in a read model.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn model_get(&self, scope: ModelScope<'_>, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` entries of a read model after `after` (from the first with `None`), in
    /// key order.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn model_entries(
        &self,
        scope: ModelScope<'_>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// The longest key a read model of this scope can use.
    fn max_model_key(&self, scope: ModelScope<'_>) -> usize;

    /// Every state entry, for status.
    ///
    /// # Errors
    ///
    /// Storage errors; a damaged entry is [`Error::Corrupt`].
    fn states(&self) -> Result<Vec<State>>;

    /// How many entries are parked per projection name.
    ///
    /// # Errors
    ///
    /// Storage errors; a damaged entry is [`Error::Corrupt`].
    fn parked_counts(&self) -> Result<Vec<(String, u64)>>;
}

/// What [`ProjectionTxn::walk_log_applying`] hands each position to, with the transaction to
/// apply it in.
pub type ApplyVisitor<'v> =
    dyn FnMut(&mut dyn ProjectionTxn, &Logged<'_>) -> Result<ControlFlow<()>> + 'v;

/// A write transaction of the engine: read model writes, checkpoints and parked entries made
/// in it commit together, or not at all.
pub trait ProjectionTxn: ProjectionRead {
    /// Sets a state entry.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn set_state(&mut self, key: StateKey<'_>, value: u64) -> Result<()>;

    /// Removes a state entry.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn delete_state(&mut self, key: StateKey<'_>) -> Result<()>;

    /// Removes every checkpoint of a generation (all partitions) and its partition count.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn delete_generation_state(&mut self, name: &str, generation: u64) -> Result<()>;

    /// Parks an entry (encoded by the engine) for `name` at `position`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn put_parked(&mut self, name: &str, position: u64, entry: &[u8]) -> Result<()>;

    /// Removes a parked entry; returns whether it was there.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn delete_parked(&mut self, name: &str, position: u64) -> Result<bool>;

    /// [`ProjectionRead::walk_log`] over the log as committed before this transaction, with
    /// this transaction handed to `visit` to apply each position in.
    ///
    /// # Errors
    ///
    /// Storage errors; `visit`'s error.
    fn walk_log_applying(
        &mut self,
        after: u64,
        filter: &Filter,
        visit: &mut ApplyVisitor<'_>,
    ) -> Result<()>;

    /// Runs `apply` in a nested transaction (a savepoint): kept when it returns `Ok`, rolled
    /// back alone when it returns a handler error.
    ///
    /// # Errors
    ///
    /// Storage errors starting or ending the nested transaction.
    fn nested(
        &mut self,
        apply: &mut dyn FnMut(&mut dyn ProjectionTxn) -> Result<bool, HandlerError>,
    ) -> Result<Result<bool, HandlerError>>;

    /// Sets `key` to `value` in a read model.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn model_put(&mut self, scope: ModelScope<'_>, key: &[u8], value: &[u8]) -> Result<()>;

    /// Removes `key` from a read model; returns whether it was there.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn model_delete(&mut self, scope: ModelScope<'_>, key: &[u8]) -> Result<bool>;

    /// Deletes up to `max` keys of a read model; returns how many it deleted.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn model_clear(&mut self, scope: ModelScope<'_>, max: usize) -> Result<usize>;
}

/// A store the projection engine runs on.
pub trait ProjectionStore: EventStore + Clone + 'static {
    /// Runs `f` in one write transaction, committed or rolled back as `f` says. A backend may
    /// run `f` again (after growing its storage, say): `f` must have no effects outside the
    /// transaction.
    ///
    /// # Errors
    ///
    /// Storage errors; `f`'s error (nothing is committed then).
    fn transact<T>(
        &self,
        f: &mut dyn FnMut(&mut dyn ProjectionTxn) -> Result<Finish<T>>,
    ) -> Result<T>;

    /// Runs `f` in one consistent read snapshot.
    ///
    /// # Errors
    ///
    /// Storage errors; `f`'s error.
    fn read<T>(&self, f: &mut dyn FnMut(&dyn ProjectionRead) -> Result<T>) -> Result<T>;

    /// As [`EventStore::wait_for_commit`], also ending once `stop` is set: checked so that a
    /// stop asked (and [`ProjectionStore::wake_waiters`] called) at any moment before or during
    /// the wait ends it.
    ///
    /// # Errors
    ///
    /// Storage errors.
    fn wait_for_commit_or_stop(
        &self,
        after: u64,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Result<u64>;

    /// Wakes every wait for a commit (to stop a runner, say).
    fn wake_waiters(&self);

    /// When a handler failed with `error`, the storage failure that must end the whole
    /// transaction instead of counting as the handler's (the backend's storage is full and
    /// the transaction will run again, say): `None` for any other error.
    fn storage_failure(error: &Error) -> Option<Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Damaged {
        Damaged {
            position: 1,
            stream: Some("Account-7".into()),
            event_type: Some("MoneyDeposited".into()),
            stream_version: Some(3),
            schema_version: Some(1),
            error: "bad".into(),
        }
    }

    #[test]
    fn a_damaged_record_is_wanted_unless_its_readable_part_rules_it_out() {
        let account = Filter::aggregate("Account");
        assert!(full().wanted(&account, Partition::ALL));
        assert!(!full().wanted(&Filter::aggregate("Order"), Partition::ALL));
        assert!(Damaged::unreadable(1, "bad").wanted(&Filter::aggregate("Order"), Partition::ALL));
        let types = Filter {
            aggregate_types: Vec::new(),
            event_types: vec!["MoneyWithdrawn".into()],
        };
        assert!(!full().wanted(&types, Partition::ALL));
        let no_type = Damaged {
            event_type: None,
            ..full()
        };
        assert!(no_type.wanted(&types, Partition::ALL));
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
        assert!(!full().wanted(&account, other));
        assert!(Damaged::unreadable(1, "bad").wanted(&account, other));
    }
}
