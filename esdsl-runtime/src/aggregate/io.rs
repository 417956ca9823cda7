//! The I/O a repository makes, blocking or async: loads, commands and snapshots are written
//! once over [`Io`], and the synchronous API runs them with [`Blocking`], whose futures are
//! all ready at their first poll.

use std::future::{Future, ready};
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Aggregate, Loaded};
use crate::error::Result;
use crate::store::{
    AppendResult, EventRef, EventStore, ExpectedVersion, Metadata, NewEvent, Snapshot,
};

/// A replay in progress: the state, and how many events it applied.
pub(super) struct Fold<A> {
    pub(super) loaded: Loaded<A>,
    /// Events recorded after this time end the replay (time travel).
    as_of: Option<DateTime<Utc>>,
    pub(super) replayed: u64,
}

impl<A: Aggregate> Fold<A> {
    pub(super) fn new(loaded: Loaded<A>, as_of: Option<DateTime<Utc>>) -> Fold<A> {
        Fold {
            loaded,
            as_of,
            replayed: 0,
        }
    }

    /// Applies one event where it lies in the store; `apply` is pure, so running it inside the
    /// store's read transaction is fine. (Inlined into the store's replay loop: called once
    /// per event.)
    #[inline(always)]
    pub(super) fn visit(&mut self, recorded: EventRef<'_>) -> Result<ControlFlow<()>> {
        if self.as_of.is_some_and(|time| recorded.recorded_at() > time) {
            return Ok(ControlFlow::Break(()));
        }
        if let Some(event) = recorded.decode::<A::Event>()?.into_event() {
            self.loaded.state.apply(&event);
        }
        self.loaded.version = recorded.version();
        self.replayed += 1;
        Ok(ControlFlow::Continue(()))
    }
}

/// A command's append: its events, at the version the command loaded.
pub(super) struct AppendAt<'a> {
    pub(super) stream: &'a str,
    pub(super) version: u64,
    pub(super) events: Vec<NewEvent>,
    pub(super) metadata: &'a Metadata,
}

impl AppendAt<'_> {
    fn expected(&self) -> ExpectedVersion {
        ExpectedVersion::Exact(self.version)
    }
}

/// What a repository asks of its store, as futures.
pub(super) trait Io<A: Aggregate> {
    /// The newest snapshot of `stream` at or below `up_to`.
    fn load_snapshot(
        &self,
        stream: &str,
        up_to: u64,
    ) -> impl Future<Output = Result<Option<Snapshot>>>;

    /// Replays at most `limit` events of `stream` after the fold's version into it.
    fn replay(
        &self,
        stream: &str,
        fold: Fold<A>,
        limit: usize,
    ) -> impl Future<Output = Result<Fold<A>>>;

    /// Appends events expecting the stream at a version.
    fn append(&self, append: AppendAt<'_>) -> impl Future<Output = Result<AppendResult>>;

    /// Stores a snapshot.
    fn save_snapshot(&self, snapshot: Snapshot) -> impl Future<Output = Result<()>>;

    /// Waits before a retry.
    fn pause(&self, delay: Duration) -> impl Future<Output = ()>;
}

/// The synchronous store calls, each a ready future.
pub(super) struct Blocking<'s, S>(pub(super) &'s S);

impl<A: Aggregate, S: EventStore> Io<A> for Blocking<'_, S> {
    fn load_snapshot(
        &self,
        stream: &str,
        up_to: u64,
    ) -> impl Future<Output = Result<Option<Snapshot>>> {
        ready(self.0.load_snapshot(stream, up_to))
    }

    fn replay(
        &self,
        stream: &str,
        mut fold: Fold<A>,
        limit: usize,
    ) -> impl Future<Output = Result<Fold<A>>> {
        let from = fold.loaded.version + 1;
        let replayed = self
            .0
            .replay_stream_with(stream, from, limit, |event| fold.visit(event));
        ready(replayed.map(|()| fold))
    }

    fn append(&self, at: AppendAt<'_>) -> impl Future<Output = Result<AppendResult>> {
        ready(
            self.0
                .append(at.stream, at.expected(), at.events, at.metadata),
        )
    }

    fn save_snapshot(&self, snapshot: Snapshot) -> impl Future<Output = Result<()>> {
        ready(self.0.save_snapshot(&snapshot))
    }

    fn pause(&self, delay: Duration) -> impl Future<Output = ()> {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        ready(())
    }
}

/// The async store calls: nothing blocks the executor thread.
#[cfg(feature = "tokio")]
pub(super) struct Async<'s, S>(pub(super) &'s S);

#[cfg(feature = "tokio")]
impl<A: Aggregate, S: crate::store::AsyncEventStore> Io<A> for Async<'_, S> {
    fn load_snapshot(
        &self,
        stream: &str,
        up_to: u64,
    ) -> impl Future<Output = Result<Option<Snapshot>>> {
        self.0.load_snapshot_async(stream, up_to)
    }

    fn replay(
        &self,
        stream: &str,
        fold: Fold<A>,
        limit: usize,
    ) -> impl Future<Output = Result<Fold<A>>> {
        let from = fold.loaded.version + 1;
        self.0
            .fold_stream_async(stream, from, limit, fold, |fold, event| fold.visit(event))
    }

    fn append(&self, at: AppendAt<'_>) -> impl Future<Output = Result<AppendResult>> {
        let expected = at.expected();
        self.0
            .append_async(at.stream, expected, at.events, at.metadata)
    }

    fn save_snapshot(&self, snapshot: Snapshot) -> impl Future<Output = Result<()>> {
        self.0.save_snapshot_async(snapshot)
    }

    async fn pause(&self, delay: Duration) {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}
