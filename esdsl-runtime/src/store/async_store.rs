//! [`AsyncEventStore`]: the store contract for async code.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;

use super::{
    AppendResult, Direction, EventRef, EventStore, ExpectedVersion, Filter, Metadata, NewEvent,
    RecordedEvent, Snapshot,
};
use crate::error::Result;
use crate::task::off_executor;

/// The [`EventStore`] contract for async code: every call leaves the executor thread free.
///
/// Every method has a default that runs the synchronous one on tokio's blocking pool
/// (`spawn_blocking`), so a synchronous backend is async by `impl AsyncEventStore for MyStore {}`.
/// A backend that is async by nature (a database driver with its own async client) overrides
/// the methods with its native calls; [`Repository`](crate::Repository)'s async methods and the
/// async projection API use only this trait, so they run on either kind unchanged.
/// [`LmdbStore`](crate::lmdb::LmdbStore) overrides [`AsyncEventStore::append_async`]: it awaits
/// its group commit without taking a thread.
///
/// The owned results (`Vec<RecordedEvent>`) are the price of leaving the read transaction's
/// thread: use `limit` to bound them, and [`AsyncEventStore::fold_stream_async`] to fold
/// events where they lie.
pub trait AsyncEventStore: EventStore + Clone + 'static {
    /// [`EventStore::append`], awaited.
    ///
    /// # Errors
    ///
    /// As [`EventStore::append`].
    fn append_async(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> impl Future<Output = Result<AppendResult>> + Send {
        let (store, stream, metadata) = (self.clone(), stream.to_owned(), metadata.clone());
        off_executor(move || store.append(&stream, expected, events, &metadata))
    }

    /// [`EventStore::replay_stream`] off the executor, as a fold: `visit` sees each event where
    /// it lies, with `init` to fold it into, which comes back when the replay is done.
    ///
    /// # Errors
    ///
    /// As [`EventStore::replay_stream`].
    fn fold_stream_async<T, F>(
        &self,
        stream: &str,
        from: u64,
        limit: usize,
        init: T,
        mut visit: F,
    ) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: FnMut(&mut T, EventRef<'_>) -> Result<ControlFlow<()>> + Send + 'static,
    {
        let (store, stream) = (self.clone(), stream.to_owned());
        off_executor(move || {
            let mut folded = init;
            store.replay_stream_with(&stream, from, limit, |event| visit(&mut folded, event))?;
            Ok(folded)
        })
    }

    /// [`EventStore::read_stream`], at most `limit` events collected.
    ///
    /// # Errors
    ///
    /// As [`EventStore::read_stream`].
    fn read_stream_async(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + Send {
        let (store, stream) = (self.clone(), stream.to_owned());
        off_executor(move || {
            store
                .read_stream(&stream, from, direction, limit)?
                .collect()
        })
    }

    /// [`EventStore::read_all`], at most `limit` events collected.
    ///
    /// # Errors
    ///
    /// As [`EventStore::read_all`].
    fn read_all_async(
        &self,
        from: u64,
        filter: &Filter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + Send {
        let (store, filter) = (self.clone(), filter.clone());
        off_executor(move || store.read_all(from, &filter, limit)?.collect())
    }

    /// [`EventStore::stream_version`].
    ///
    /// # Errors
    ///
    /// As [`EventStore::stream_version`].
    fn stream_version_async(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<u64>>> + Send {
        let (store, stream) = (self.clone(), stream.to_owned());
        off_executor(move || store.stream_version(&stream))
    }

    /// [`EventStore::head_position`].
    ///
    /// # Errors
    ///
    /// As [`EventStore::head_position`].
    fn head_position_async(&self) -> impl Future<Output = Result<u64>> + Send {
        let store = self.clone();
        off_executor(move || store.head_position())
    }

    /// [`EventStore::wait_for_commit`]: the wait holds a thread of the blocking pool (not an
    /// executor thread) until a commit or `timeout`.
    ///
    /// # Errors
    ///
    /// As [`EventStore::wait_for_commit`].
    fn wait_for_commit_async(
        &self,
        after: u64,
        timeout: Duration,
    ) -> impl Future<Output = Result<u64>> + Send {
        let store = self.clone();
        off_executor(move || store.wait_for_commit(after, timeout))
    }

    /// [`EventStore::load_snapshot`].
    ///
    /// # Errors
    ///
    /// As [`EventStore::load_snapshot`].
    fn load_snapshot_async(
        &self,
        stream: &str,
        at_most: u64,
    ) -> impl Future<Output = Result<Option<Snapshot>>> + Send {
        let (store, stream) = (self.clone(), stream.to_owned());
        off_executor(move || store.load_snapshot(&stream, at_most))
    }

    /// [`EventStore::save_snapshot`]: a write with its sync, so never on the executor.
    ///
    /// # Errors
    ///
    /// As [`EventStore::save_snapshot`].
    fn save_snapshot_async(&self, snapshot: Snapshot) -> impl Future<Output = Result<()>> + Send {
        let store = self.clone();
        off_executor(move || store.save_snapshot(&snapshot))
    }
}
