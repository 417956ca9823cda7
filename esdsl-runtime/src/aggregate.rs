//! Aggregates and the repository that loads them from a store and runs commands on them.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::event::{AggregateId, Event};
use crate::lmdb::LmdbStore;
use crate::store::{EventStore, Metadata, NewEvent, Snapshot, check_decodable, stream_name};

mod io;
mod retry;

use crate::task::run_ready;
use io::{AppendAt, Blocking, Fold, Io};
pub use retry::RetryPolicy;

/// An aggregate: state rebuilt from its events, and the rules that decide which events a
/// command produces. Keep both free of I/O; the [`Repository`] does the loading and storing.
///
/// ```
/// # mod bank { esdsl_runtime::schema!("tests/fixtures/bank.toml");
/// #   impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
/// #       fn upcast(old: v2::MoneyDeposited) -> Self { Self { amount_cents: old.amount * 100, memo: old.memo } }
/// #   }
/// # }
/// use esdsl_runtime::Aggregate;
/// use bank::{AccountEvent, AccountId, MoneyDeposited};
///
/// #[derive(Debug, Default)]
/// struct Account {
///     balance: i64,
/// }
///
/// enum Command {
///     Deposit(i64),
/// }
///
/// #[derive(Debug, PartialEq, thiserror::Error)]
/// #[error("deposits must be positive")]
/// struct NotPositive;
///
/// impl Aggregate for Account {
///     type Id = AccountId;
///     type Event = AccountEvent;
///     type Command = Command;
///     type Error = NotPositive;
///
///     fn apply(&mut self, event: &AccountEvent) {
///         if let AccountEvent::MoneyDeposited(e) = event {
///             self.balance += e.amount_cents;
///         }
///     }
///
///     fn handle(&self, command: &Command) -> Result<Vec<AccountEvent>, NotPositive> {
///         match command {
///             Command::Deposit(cents) if *cents > 0 => {
///                 Ok(vec![MoneyDeposited { amount_cents: *cents, memo: None }.into()])
///             }
///             Command::Deposit(_) => Err(NotPositive),
///         }
///     }
/// }
/// ```
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The id type; it names the aggregate and its stream.
    type Id: AggregateId<Event = Self::Event>;
    /// The aggregate's events.
    type Event: Event;
    /// What callers ask the aggregate to do.
    type Command;
    /// Why a command is refused.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Changes the state by one event. Must not fail: the event already happened.
    fn apply(&mut self, event: &Self::Event);

    /// Decides which events a command produces, or refuses it.
    ///
    /// # Errors
    ///
    /// The domain's reason to refuse the command.
    fn handle(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
}

/// An aggregate's state at a version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Loaded<A> {
    /// The state after applying every event up to `version`.
    pub state: A,
    /// The stream version the state reflects (0: no events).
    pub version: u64,
}

/// The outcome of a command that was accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed<A: Aggregate> {
    /// The state after the new events.
    pub state: A,
    /// The stream version after the new events.
    pub version: u64,
    /// The global position of the last event appended (0 when the command appended nothing):
    /// wait for a projection to reach it to read your own write
    /// ([`wait_for_checkpoint`](crate::projection::wait_for_checkpoint)).
    pub position: u64,
    /// The events the command produced (empty: nothing was appended).
    pub events: Vec<A::Event>,
    /// How many times the command was retried after a concurrent write.
    pub retries: u32,
}

/// Why [`Repository::execute`] failed.
///
/// A request handler maps it without matching the store's errors: [`ExecuteError::is_refused`]
/// (the domain said no: 409 or 422), [`ExecuteError::is_conflict`] (the retries ran out on a
/// hot aggregate: 409 or 503 with `Retry-After`), anything else is a server error.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// The aggregate refused the command.
    #[error(transparent)]
    Domain(E),
    /// Loading or appending failed (including a conflict that outlasted the retries).
    #[error(transparent)]
    Store(#[from] Error),
}

impl<E: std::error::Error + 'static> ExecuteError<E> {
    /// Whether the aggregate refused the command (a business rule, not a failure).
    pub fn is_refused(&self) -> bool {
        matches!(self, ExecuteError::Domain(_))
    }

    /// The aggregate's reason to refuse the command, if it did.
    pub fn refusal(&self) -> Option<&E> {
        match self {
            ExecuteError::Domain(error) => Some(error),
            ExecuteError::Store(_) => None,
        }
    }

    /// Whether concurrent writes to the aggregate outlasted the retries: the command may
    /// succeed if sent again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ExecuteError::Store(Error::Conflict { .. }))
    }

    /// Whether the store refused the input (a name or metadata over its limits): the caller's
    /// fault, not the server's.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, ExecuteError::Store(Error::InvalidInput(_)))
    }
}

/// Loads aggregates from an [`EventStore`] and runs commands on them with optimistic
/// concurrency. Cheap to clone (when the store is, as [`LmdbStore`] is): clones share the
/// store, so one can go into each request handler.
///
/// ```
/// # mod bank { esdsl_runtime::schema!("tests/fixtures/bank.toml");
/// #   impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
/// #       fn upcast(old: v2::MoneyDeposited) -> Self { Self { amount_cents: old.amount * 100, memo: old.memo } }
/// #   }
/// # }
/// # use esdsl_runtime::Aggregate;
/// # use bank::{AccountEvent, AccountId, MoneyDeposited};
/// # #[derive(Debug, Default)] struct Account { balance: i64 }
/// # struct Deposit(i64);
/// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
/// # impl Aggregate for Account {
/// #     type Id = AccountId; type Event = AccountEvent; type Command = Deposit; type Error = No;
/// #     fn apply(&mut self, e: &AccountEvent) { if let AccountEvent::MoneyDeposited(e) = e { self.balance += e.amount_cents } }
/// #     fn handle(&self, c: &Deposit) -> Result<Vec<AccountEvent>, No> { Ok(vec![MoneyDeposited { amount_cents: c.0, memo: None }.into()]) }
/// # }
/// use esdsl_runtime::Repository;
/// use esdsl_runtime::lmdb::LmdbStore;
///
/// let dir = tempfile::tempdir()?;
/// let accounts = Repository::<Account>::new(LmdbStore::open(dir.path())?)?;
/// let id = AccountId::now_v7();
/// accounts.execute(&id, &Deposit(500))?;
/// let done = accounts.execute(&id, &Deposit(250))?;
/// assert_eq!((done.version, done.position), (2, 2));
/// assert_eq!(accounts.load(&id)?.state.balance, 750);
/// assert_eq!(accounts.load_at(&id, 1)?.state.balance, 500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Repository<A: Aggregate, S: EventStore = LmdbStore> {
    store: S,
    codec: Codec,
    retry: RetryPolicy,
    snapshots: Option<Snapshots<A>>,
    aggregate: PhantomData<fn() -> A>,
}

impl<A: Aggregate, S: EventStore + Clone> Clone for Repository<A, S> {
    fn clone(&self) -> Self {
        Repository {
            store: self.store.clone(),
            codec: self.codec,
            retry: self.retry,
            snapshots: self.snapshots,
            aggregate: PhantomData,
        }
    }
}

/// Aggregate state that can be stored as a snapshot.
///
/// The snapshot's fingerprint combines the type's name and `STATE_VERSION`: bump the version
/// whenever the state's fields change meaning, and old snapshots are ignored (the aggregate is
/// replayed in full and a new snapshot written). A snapshot that fails to decode is ignored
/// the same way, never an error.
pub trait SnapshotState: Aggregate + Serialize + DeserializeOwned {
    /// The version of the state's shape.
    const STATE_VERSION: u32 = 1;
}

/// When a repository writes snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotPolicy {
    /// Never (the default): every load replays the whole stream.
    #[default]
    Never,
    /// Whenever the stream's version crosses a multiple of this many events.
    Every(u64),
}

/// Snapshot settings, with the encoding of the state erased so `load` needs no extra bounds.
struct Snapshots<A> {
    every: u64,
    fingerprint: u64,
    encode: fn(&A) -> Option<Vec<u8>>,
    decode: fn(&[u8]) -> Option<A>,
}

impl<A> Clone for Snapshots<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for Snapshots<A> {}

impl<A> std::fmt::Debug for Snapshots<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("every", &self.every)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The fingerprint of a snapshot state type: FNV-1a of its name and `STATE_VERSION`.
pub fn state_fingerprint<A: SnapshotState>() -> u64 {
    let text = format!("{}:{}", std::any::type_name::<A>(), A::STATE_VERSION);
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<A: SnapshotState, S: EventStore> Repository<A, S> {
    /// Writes snapshots by `policy`; loads start from the newest valid one.
    #[must_use]
    pub fn with_snapshots(mut self, policy: SnapshotPolicy) -> Self {
        self.snapshots = match policy {
            SnapshotPolicy::Never => None,
            SnapshotPolicy::Every(every) => Some(Snapshots {
                every: every.max(1),
                fingerprint: state_fingerprint::<A>(),
                encode: |state| postcard::to_stdvec(state).ok(),
                // A snapshot is read from the disk: decoded with the depth limit.
                decode: |bytes| Codec::Postcard.decode(bytes).ok(),
            }),
        };
        self
    }
}

impl<A: Aggregate, S: EventStore> Repository<A, S> {
    /// A repository over `store`, after checking that every event the store holds for this
    /// aggregate type can be decoded by `A::Event`.
    ///
    /// # Errors
    ///
    /// [`Error::Undecodable`] listing each stored (type, version) the program cannot read, with
    /// its count; storage errors.
    pub fn new(store: S) -> Result<Self> {
        check_decodable::<A::Event>(&store)?;
        Ok(Repository {
            store,
            codec: Codec::default(),
            retry: RetryPolicy::default(),
            snapshots: None,
            aggregate: PhantomData,
        })
    }

    /// Writes new events with `codec` (default JSON).
    #[must_use]
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Retries a command at most this many times after a concurrent write (default 10).
    #[must_use]
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.retry = self.retry.with_max_retries(retries);
        self
    }

    /// How a command is retried after a concurrent write: how many times, and the backoff with
    /// jitter between tries (see [`RetryPolicy`] for the default).
    #[must_use]
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Replays the aggregate's events, upcast to their newest versions, starting from the
    /// newest valid snapshot when snapshots are on (and writing a new one when the replay was
    /// long).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] naming the event that cannot be read; storage errors.
    pub fn load(&self, id: &A::Id) -> Result<Loaded<A>> {
        run_ready(self.load_with(&Blocking(&self.store), &stream_name(id), u64::MAX, None))
    }

    /// The aggregate as it was at `version` (or at its last version, if it has fewer).
    ///
    /// # Errors
    ///
    /// As [`Repository::load`].
    pub fn load_at(&self, id: &A::Id, version: u64) -> Result<Loaded<A>> {
        run_ready(self.load_with(&Blocking(&self.store), &stream_name(id), version, None))
    }

    /// The aggregate as it was at `time`: every event recorded at or before it.
    ///
    /// # Errors
    ///
    /// As [`Repository::load`].
    pub fn load_as_of(&self, id: &A::Id, time: DateTime<Utc>) -> Result<Loaded<A>> {
        let io = Blocking(&self.store);
        run_ready(self.load_with(&io, &stream_name(id), u64::MAX, Some(time)))
    }

    /// Loads the aggregate, lets it handle `command` and appends the events it produces,
    /// expecting the version it loaded. On a concurrent write it waits a random backoff,
    /// replays the events it missed and tries again, within the [`RetryPolicy`].
    ///
    /// # Errors
    ///
    /// [`ExecuteError::Domain`] when the aggregate refuses the command; [`ExecuteError::Store`]
    /// for storage errors and for a conflict that outlasts the retries.
    pub fn execute(
        &self,
        id: &A::Id,
        command: &A::Command,
    ) -> Result<Executed<A>, ExecuteError<A::Error>> {
        self.execute_with(id, command, &Metadata::default())
    }

    /// [`Repository::execute`] with correlation, causation and user metadata on the events.
    ///
    /// # Errors
    ///
    /// As [`Repository::execute`].
    pub fn execute_with(
        &self,
        id: &A::Id,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<Executed<A>, ExecuteError<A::Error>> {
        run_ready(self.run(&Blocking(&self.store), id, command, metadata))
    }

    /// Loads `stream` up to version `up_to` (and time `as_of`), from the newest valid snapshot
    /// when there is no `as_of` (snapshots carry no recorded time). A plain load (the newest
    /// state) that replayed at least a snapshot interval writes a snapshot.
    async fn load_with<I: Io<A>>(
        &self,
        io: &I,
        stream: &str,
        up_to: u64,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Loaded<A>> {
        let start = match as_of {
            None => self.start_from(io, stream, up_to).await?,
            Some(_) => Loaded::default(),
        };
        let limit = usize::try_from(up_to.saturating_sub(start.version)).unwrap_or(usize::MAX);
        if limit == 0 {
            return Ok(start);
        }
        let fold = io.replay(stream, Fold::new(start, as_of), limit).await?;
        if let Some(snapshots) = &self.snapshots
            && up_to == u64::MAX
            && as_of.is_none()
            && fold.replayed >= snapshots.every
            && let Some(snapshot) = self.snapshot_of(stream, &fold.loaded)
        {
            // A snapshot is a cache: failing to write one does not fail the load.
            let _ = io.save_snapshot(snapshot).await;
        }
        Ok(fold.loaded)
    }

    /// The snapshot to start from: the newest at or below `up_to` whose fingerprint matches and
    /// whose state decodes.
    async fn start_from<I: Io<A>>(&self, io: &I, stream: &str, up_to: u64) -> Result<Loaded<A>> {
        let Some(snapshots) = &self.snapshots else {
            return Ok(Loaded::default());
        };
        let Some(snapshot) = io.load_snapshot(stream, up_to).await? else {
            return Ok(Loaded::default());
        };
        if snapshot.fingerprint != snapshots.fingerprint || snapshot.version > up_to {
            return Ok(Loaded::default());
        }
        Ok(match (snapshots.decode)(&snapshot.state) {
            Some(state) => Loaded {
                state,
                version: snapshot.version,
            },
            None => Loaded::default(),
        })
    }

    /// The snapshot of `loaded`, when snapshots are on and the state encodes.
    fn snapshot_of(&self, stream: &str, loaded: &Loaded<A>) -> Option<Snapshot> {
        let snapshots = self.snapshots.as_ref()?;
        Some(Snapshot {
            stream: stream.to_owned(),
            version: loaded.version,
            fingerprint: snapshots.fingerprint,
            state: (snapshots.encode)(&loaded.state)?,
        })
    }

    /// The command loop of every `execute`: load, handle, append at the loaded version; after
    /// a conflict, back off, replay what was missed and try again. A command that produces no
    /// events is done at once, and one whose version crossed a snapshot interval writes one.
    async fn run<I: Io<A>>(
        &self,
        io: &I,
        id: &A::Id,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<Executed<A>, ExecuteError<A::Error>> {
        let stream = stream_name(id);
        let mut loaded = self.load_with(io, &stream, u64::MAX, None).await?;
        let mut retries = 0;
        loop {
            let events = loaded.state.handle(command).map_err(ExecuteError::Domain)?;
            let new = events
                .iter()
                .map(|event| NewEvent::encode(event, self.codec))
                .collect::<Result<Vec<_>>>()?;
            if new.is_empty() {
                let Loaded { state, version } = loaded;
                return Ok(Executed {
                    state,
                    version,
                    position: 0,
                    events,
                    retries,
                });
            }
            let before = loaded.version;
            let append = AppendAt {
                stream: &stream,
                version: before,
                events: new,
                metadata,
            };
            match io.append(append).await {
                Ok(done) => {
                    let mut state = loaded.state;
                    for event in &events {
                        state.apply(event);
                    }
                    let after = Loaded {
                        state,
                        version: done.version,
                    };
                    if let Some(snapshots) = &self.snapshots
                        && after.version / snapshots.every > before / snapshots.every
                        && let Some(snapshot) = self.snapshot_of(&stream, &after)
                    {
                        // A snapshot is a cache: failing to write one does not fail the command.
                        let _ = io.save_snapshot(snapshot).await;
                    }
                    return Ok(Executed {
                        state: after.state,
                        version: after.version,
                        position: done.last_position.unwrap_or(0),
                        events,
                        retries,
                    });
                }
                Err(Error::Conflict { .. }) if retries < self.retry.max_retries() => {
                    retries += 1;
                    io.pause(self.retry.delay(retries)).await;
                    // The state at `before` is still right: only what came after it is replayed.
                    loaded = io
                        .replay(&stream, Fold::new(loaded, None), usize::MAX)
                        .await?
                        .loaded;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// The async API: the same operations as the synchronous one, with the same names and an
/// `_async` suffix, none of them blocking an executor thread. On [`LmdbStore`] appends await
/// the group commit; reads, replays and snapshot writes run on tokio's blocking pool (see
/// [`AsyncEventStore`](crate::store::AsyncEventStore)); the aggregate's `handle` and `apply`
/// run on the task (keep them free of I/O).
#[cfg(feature = "tokio")]
impl<A: Aggregate, S: crate::store::AsyncEventStore> Repository<A, S> {
    /// [`Repository::load`] for async code.
    ///
    /// # Errors
    ///
    /// As [`Repository::load`].
    pub async fn load_async(&self, id: &A::Id) -> Result<Loaded<A>> {
        let io = io::Async(&self.store);
        self.load_with(&io, &stream_name(id), u64::MAX, None).await
    }

    /// [`Repository::load_at`] for async code.
    ///
    /// # Errors
    ///
    /// As [`Repository::load`].
    pub async fn load_at_async(&self, id: &A::Id, version: u64) -> Result<Loaded<A>> {
        let io = io::Async(&self.store);
        self.load_with(&io, &stream_name(id), version, None).await
    }

    /// [`Repository::load_as_of`] for async code.
    ///
    /// # Errors
    ///
    /// As [`Repository::load`].
    pub async fn load_as_of_async(&self, id: &A::Id, time: DateTime<Utc>) -> Result<Loaded<A>> {
        let io = io::Async(&self.store);
        self.load_with(&io, &stream_name(id), u64::MAX, Some(time))
            .await
    }

    /// [`Repository::execute`] for async code: snapshot reads and writes included, nothing
    /// blocks the executor thread; the backoff between retries is a `tokio::time::sleep`.
    ///
    /// # Errors
    ///
    /// As [`Repository::execute`].
    pub async fn execute_async(
        &self,
        id: &A::Id,
        command: &A::Command,
    ) -> Result<Executed<A>, ExecuteError<A::Error>> {
        self.execute_with_async(id, command, &Metadata::default())
            .await
    }

    /// [`Repository::execute_with`] for async code.
    ///
    /// # Errors
    ///
    /// As [`Repository::execute`].
    pub async fn execute_with_async(
        &self,
        id: &A::Id,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<Executed<A>, ExecuteError<A::Error>> {
        self.run(&io::Async(&self.store), id, command, metadata)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ExpectedVersion;

    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("no")]
    struct No;

    #[test]
    fn execute_errors_say_what_a_handler_maps_them_to() {
        let refused = ExecuteError::Domain(No);
        assert!(refused.is_refused() && !refused.is_conflict() && !refused.is_invalid_input());
        assert_eq!(refused.refusal(), Some(&No));

        let conflict = ExecuteError::<No>::Store(Error::Conflict {
            stream: "Account-1".into(),
            expected: ExpectedVersion::Exact(3),
            actual: Some(4),
        });
        assert!(conflict.is_conflict() && !conflict.is_refused());
        assert_eq!(conflict.refusal(), None);

        let invalid = ExecuteError::<No>::Store(Error::InvalidInput("too long".into()));
        assert!(invalid.is_invalid_input() && !invalid.is_conflict());
        let failed = ExecuteError::<No>::Store(Error::WriterStopped);
        assert!(!failed.is_refused() && !failed.is_conflict() && !failed.is_invalid_input());
    }
}
