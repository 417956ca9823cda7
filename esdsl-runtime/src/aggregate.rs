//! Aggregates and the repository that loads them from a store and runs commands on them.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::event::{AggregateId, Event};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::lmdb::LmdbStore;
use crate::store::{
    AppendResult, EventStore, ExpectedVersion, Metadata, NewEvent, Snapshot, check_decodable,
    stream_name,
};

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
#[derive(Debug, Clone, PartialEq)]
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
    /// The events the command produced (empty: nothing was appended).
    pub events: Vec<A::Event>,
    /// How many times the command was retried after a concurrent write.
    pub retries: u32,
}

/// Why [`Repository::execute`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// The aggregate refused the command.
    #[error(transparent)]
    Domain(E),
    /// Loading or appending failed (including a conflict that outlasted the retries).
    #[error(transparent)]
    Store(#[from] Error),
}

/// Loads aggregates from an [`EventStore`] and runs commands on them with optimistic
/// concurrency.
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
/// accounts.execute(&id, &Deposit(250))?;
/// assert_eq!(accounts.load(&id)?.state.balance, 750);
/// assert_eq!(accounts.load_at(&id, 1)?.state.balance, 500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Repository<A: Aggregate, S: EventStore = LmdbStore> {
    store: S,
    codec: Codec,
    max_retries: u32,
    snapshots: Option<Snapshots<A>>,
    aggregate: PhantomData<fn() -> A>,
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
            max_retries: 10,
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
        self.max_retries = retries;
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
        let (loaded, replayed) = self.replay_counting(id, u64::MAX, None)?;
        if let Some(snapshots) = &self.snapshots
            && replayed >= snapshots.every
        {
            // A snapshot is a cache: failing to write one does not fail the load.
            let _ = self.save_snapshot(id, &loaded);
        }
        Ok(loaded)
    }

    fn save_snapshot(&self, id: &A::Id, loaded: &Loaded<A>) -> Result<()> {
        let Some(snapshots) = &self.snapshots else {
            return Ok(());
        };
        let Some(state) = (snapshots.encode)(&loaded.state) else {
            return Ok(());
        };
        self.store.save_snapshot(&Snapshot {
            stream: stream_name(id),
            version: loaded.version,
            fingerprint: snapshots.fingerprint,
            state,
        })
    }

    /// The snapshot to start from: the newest at or below `up_to` whose fingerprint matches and
    /// whose state decodes.
    fn start_from(&self, stream: &str, up_to: u64) -> Result<Loaded<A>> {
        let fresh = Loaded {
            state: A::default(),
            version: 0,
        };
        let Some(snapshots) = &self.snapshots else {
            return Ok(fresh);
        };
        let Some(snapshot) = self.store.load_snapshot(stream, up_to)? else {
            return Ok(fresh);
        };
        if snapshot.fingerprint != snapshots.fingerprint || snapshot.version > up_to {
            return Ok(fresh);
        }
        Ok(match (snapshots.decode)(&snapshot.state) {
            Some(state) => Loaded {
                state,
                version: snapshot.version,
            },
            None => fresh,
        })
    }

    /// The aggregate as it was at `version` (or at its last version, if it has fewer).
    ///
    /// # Errors
    ///
    /// As [`Repository::load`].
    pub fn load_at(&self, id: &A::Id, version: u64) -> Result<Loaded<A>> {
        self.replay(id, version, None)
    }

    /// The aggregate as it was at `time`: every event recorded at or before it.
    ///
    /// # Errors
    ///
    /// As [`Repository::load`].
    pub fn load_as_of(&self, id: &A::Id, time: DateTime<Utc>) -> Result<Loaded<A>> {
        self.replay(id, u64::MAX, Some(time))
    }

    fn replay(&self, id: &A::Id, up_to: u64, as_of: Option<DateTime<Utc>>) -> Result<Loaded<A>> {
        self.replay_counting(id, up_to, as_of)
            .map(|(loaded, _)| loaded)
    }

    /// Replays up to version `up_to` (and time `as_of`); also returns how many events it read.
    fn replay_counting(
        &self,
        id: &A::Id,
        up_to: u64,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<(Loaded<A>, u64)> {
        let stream = stream_name(id);
        // Snapshots carry no recorded time: time travel by time replays from the start.
        let mut loaded = match as_of {
            None => self.start_from(&stream, up_to)?,
            Some(_) => Loaded {
                state: A::default(),
                version: 0,
            },
        };
        let limit = usize::try_from(up_to.saturating_sub(loaded.version)).unwrap_or(usize::MAX);
        let mut replayed = 0;
        if limit == 0 {
            return Ok((loaded, 0));
        }
        // Decoded where the record lies in the store; `apply` is pure, so running it inside
        // the store's read transaction is fine.
        self.store
            .replay_stream_with(&stream, loaded.version + 1, limit, |recorded| {
                if as_of.is_some_and(|time| recorded.recorded_at() > time) {
                    return Ok(ControlFlow::Break(()));
                }
                if let Some(event) = recorded.decode::<A::Event>()?.into_event() {
                    loaded.state.apply(&event);
                }
                loaded.version = recorded.version();
                replayed += 1;
                Ok(ControlFlow::Continue(()))
            })?;
        Ok((loaded, replayed))
    }

    /// Loads the aggregate, lets it handle `command` and appends the events it produces,
    /// expecting the version it loaded. On a concurrent write it reloads and tries again, up to
    /// the configured number of retries.
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
        let stream = stream_name(id);
        let run = self.run(id, command, |expected, new| {
            std::future::ready(self.store.append(&stream, expected, new, metadata))
        });
        // Every append of this run is a ready future, so the run ends at its first poll.
        poll_once(run).unwrap_or(Err(ExecuteError::Store(Error::WriterStopped)))
    }

    /// The command loop of [`Repository::execute_with`] and `execute_async`, over the append
    /// each makes: attempt, append at the loaded version, settle; again after a conflict.
    async fn run<F, Fut>(
        &self,
        id: &A::Id,
        command: &A::Command,
        mut append: F,
    ) -> Result<Executed<A>, ExecuteError<A::Error>>
    where
        F: FnMut(ExpectedVersion, Vec<NewEvent>) -> Fut,
        Fut: Future<Output = Result<AppendResult>>,
    {
        let mut retries = 0;
        loop {
            let (loaded, events, new) = match self.attempt(id, command, retries)? {
                Attempt::Done(executed) => return Ok(executed),
                Attempt::Append(loaded, events, new) => (loaded, events, new),
            };
            let appended = append(ExpectedVersion::Exact(loaded.version), new).await;
            if let Some(executed) = self.settle(id, appended, loaded, events, &mut retries)? {
                return Ok(executed);
            }
        }
    }

    /// One attempt of a command: loads, handles and encodes (everything but the append).
    /// A command that produces no events is done at once.
    fn attempt(
        &self,
        id: &A::Id,
        command: &A::Command,
        retries: u32,
    ) -> Result<Attempt<A>, ExecuteError<A::Error>> {
        let (loaded, events, new) = self.decide(id, command)?;
        if new.is_empty() {
            return Ok(Attempt::Done(Executed {
                state: loaded.state,
                version: loaded.version,
                events,
                retries,
            }));
        }
        Ok(Attempt::Append(loaded, events, new))
    }

    /// What an attempt's append came to: the executed command (snapshotted when due),
    /// `None` to try again after a conflict within the retries, or the error.
    fn settle(
        &self,
        id: &A::Id,
        appended: Result<AppendResult>,
        loaded: Loaded<A>,
        events: Vec<A::Event>,
        retries: &mut u32,
    ) -> Result<Option<Executed<A>>, ExecuteError<A::Error>> {
        match appended {
            Ok(done) => {
                let before = loaded.version;
                let executed = finish(loaded.state, done.version, events, *retries);
                self.snapshot_if_due(id, before, &executed);
                Ok(Some(executed))
            }
            Err(Error::Conflict { .. }) if *retries < self.max_retries => {
                *retries += 1;
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Writes a snapshot when the version crossed a multiple of the policy's interval.
    fn snapshot_if_due(&self, id: &A::Id, before: u64, executed: &Executed<A>) {
        let Some(snapshots) = &self.snapshots else {
            return;
        };
        if executed.version / snapshots.every > before / snapshots.every {
            let Some(state) = (snapshots.encode)(&executed.state) else {
                return;
            };
            // A snapshot is a cache: failing to write one does not fail the command.
            let _ = self.store.save_snapshot(&Snapshot {
                stream: stream_name(id),
                version: executed.version,
                fingerprint: snapshots.fingerprint,
                state,
            });
        }
    }

    /// Loads, handles and encodes: everything of `execute` but the append.
    #[allow(clippy::type_complexity)]
    fn decide(
        &self,
        id: &A::Id,
        command: &A::Command,
    ) -> Result<(Loaded<A>, Vec<A::Event>, Vec<NewEvent>), ExecuteError<A::Error>> {
        let loaded = self.load(id)?;
        let events = loaded.state.handle(command).map_err(ExecuteError::Domain)?;
        let new = events
            .iter()
            .map(|event| NewEvent::encode(event, self.codec))
            .collect::<Result<Vec<_>>>()?;
        Ok((loaded, events, new))
    }
}

#[cfg(feature = "tokio")]
impl<A: Aggregate> Repository<A, LmdbStore> {
    /// [`Repository::execute_with`] for async code: the load is a short synchronous read of the
    /// memory map; the append awaits its group commit without blocking an executor thread.
    ///
    /// # Errors
    ///
    /// As [`Repository::execute`].
    pub async fn execute_async(
        &self,
        id: &A::Id,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<Executed<A>, ExecuteError<A::Error>> {
        let stream = stream_name(id);
        self.run(id, command, |expected, new| {
            self.store.append_async(&stream, expected, new, metadata)
        })
        .await
    }
}

/// One attempt of a command ([`Repository::execute`]): done without an append, or the events
/// to append at the loaded version.
enum Attempt<A: Aggregate> {
    Done(Executed<A>),
    Append(Loaded<A>, Vec<A::Event>, Vec<NewEvent>),
}

/// Polls `future` once: its output when it is ready then.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

fn finish<A: Aggregate>(
    mut state: A,
    version: u64,
    events: Vec<A::Event>,
    retries: u32,
) -> Executed<A> {
    for event in &events {
        state.apply(event);
    }
    Executed {
        state,
        version,
        events,
        retries,
    }
}
