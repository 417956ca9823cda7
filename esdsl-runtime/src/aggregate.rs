//! Aggregates and the repository that loads them from a store and runs commands on them.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::event::{AggregateId, Decoded, Event};
use crate::store::{
    Direction, EventStore, ExpectedVersion, LmdbStore, Metadata, NewEvent, check_decodable,
    stream_name,
};

/// An aggregate: state rebuilt from its events, and the rules that decide which events a
/// command produces. Keep both free of I/O; the [`Repository`] does the loading and storing.
///
/// ```
/// # mod bank { esdsl_runtime::schema!("../schemas/bank.toml");
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
/// # mod bank { esdsl_runtime::schema!("../schemas/bank.toml");
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
/// use esdsl_runtime::{LmdbStore, Repository};
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
    aggregate: PhantomData<fn() -> A>,
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

    /// Replays the aggregate's events, upcast to their newest versions.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] naming the event that cannot be read; storage errors.
    pub fn load(&self, id: &A::Id) -> Result<Loaded<A>> {
        self.replay(id, u64::MAX, None)
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
        let stream = stream_name(id);
        let limit = usize::try_from(up_to).unwrap_or(usize::MAX);
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
        };
        for recorded in self
            .store
            .read_stream(&stream, 1, Direction::Forward, limit)?
        {
            let recorded = recorded?;
            if as_of.is_some_and(|time| recorded.recorded_at > time) {
                break;
            }
            if let Decoded::Event(event) = recorded.decode::<A::Event>()? {
                loaded.state.apply(&event);
            }
            loaded.version = recorded.version;
        }
        Ok(loaded)
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
        let mut retries = 0;
        loop {
            let (loaded, events, new) = self.decide(id, command)?;
            if new.is_empty() {
                return Ok(Executed {
                    state: loaded.state,
                    version: loaded.version,
                    events,
                    retries,
                });
            }
            match self.store.append(
                &stream,
                ExpectedVersion::Exact(loaded.version),
                new,
                metadata,
            ) {
                Ok(done) => return Ok(finish(loaded.state, done.version, events, retries)),
                Err(Error::Conflict { .. }) if retries < self.max_retries => retries += 1,
                Err(error) => return Err(error.into()),
            }
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
        let mut retries = 0;
        loop {
            let (loaded, events, new) = self.decide(id, command)?;
            if new.is_empty() {
                return Ok(Executed {
                    state: loaded.state,
                    version: loaded.version,
                    events,
                    retries,
                });
            }
            let appended = self
                .store
                .append_async(
                    &stream,
                    ExpectedVersion::Exact(loaded.version),
                    new,
                    metadata,
                )
                .await;
            match appended {
                Ok(done) => return Ok(finish(loaded.state, done.version, events, retries)),
                Err(Error::Conflict { .. }) if retries < self.max_retries => retries += 1,
                Err(error) => return Err(error.into()),
            }
        }
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
