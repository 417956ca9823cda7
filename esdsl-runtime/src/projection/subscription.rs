//! Catch-up then live reading of the global log.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

#[cfg(feature = "tokio")]
use std::future::Future;
#[cfg(feature = "tokio")]
use std::sync::Arc;
#[cfg(feature = "tokio")]
use std::sync::atomic::{AtomicBool, Ordering};

use super::Stop;
#[cfg(feature = "tokio")]
use super::backend::ProjectionStore;
use crate::error::{Error, Result};
use crate::store::{EventRef, EventStore, Filter, RecordedEvent};

/// Reads the global log after a position, then waits for new commits.
///
/// ```
/// use std::time::Duration;
/// use esdsl_runtime::projection::Subscription;
/// use esdsl_runtime::Codec;
/// use esdsl_runtime::store::{EventStore, ExpectedVersion, Filter, Metadata, NewEvent};
///
/// let dir = tempfile::tempdir()?;
/// let store = esdsl_runtime::lmdb::LmdbStore::open(dir.path())?;
/// let mut subscription = Subscription::new(&store, 0, Filter::all());
/// assert!(subscription.next_timeout(Duration::from_millis(10))?.is_none());
/// let event = NewEvent {
///     event_type: "Happened".into(),
///     schema_version: 1,
///     codec: Codec::Json,
///     payload: br#"{"n":1}"#.to_vec(),
/// };
/// store.append("Thing-1", ExpectedVersion::Any, vec![event], &Metadata::default())?;
/// let next = subscription.next_timeout(Duration::from_secs(5))?.expect("the new event");
/// assert_eq!(next.position, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It borrows its store, for a thread of its own; in async code use
/// [`SubscriptionStream`] (feature `tokio`), which owns a handle to the store.
#[derive(Debug)]
pub struct Subscription<'s, S: EventStore + ?Sized> {
    store: &'s S,
    cursor: Cursor,
    /// Ends waits early once asked.
    stop: Option<Stop>,
}

/// Where a subscription stands in the log, and what it read ahead.
#[derive(Debug)]
struct Cursor {
    filter: Filter,
    /// Every position up to this one has been read (or skipped by the filter).
    position: u64,
    buffer: VecDeque<RecordedEvent>,
}

impl Cursor {
    fn new(position: u64, filter: Filter) -> Cursor {
        Cursor {
            filter,
            position,
            buffer: VecDeque::new(),
        }
    }

    /// The position of the last event delivered or skipped.
    fn delivered(&self) -> u64 {
        // Events read ahead into the buffer are not delivered yet.
        self.buffer
            .front()
            .map_or(self.position, |next| next.position.saturating_sub(1))
    }

    /// Reads what is committed after the position into the buffer; returns whether the log
    /// had anything past it (the buffer can stay empty when the filter skips it all).
    fn read_ahead<S: EventStore + ?Sized>(&mut self, store: &S) -> Result<bool> {
        let head = store.head_position()?;
        if head <= self.position {
            return Ok(false);
        }
        self.fill(store, head)?;
        Ok(true)
    }

    /// Reads what is committed up to `head` into the buffer.
    fn fill<S: EventStore + ?Sized>(&mut self, store: &S, head: u64) -> Result<()> {
        let from = self.position + 1;
        let mut last = self.position;
        for event in store.read_all(from, &self.filter, 1024)? {
            match event {
                Ok(event) => {
                    last = event.position;
                    self.buffer.push_back(event);
                }
                Err(error) => {
                    self.position = damaged_at(&error).unwrap_or(last).max(last);
                    return Err(error);
                }
            }
        }
        // Fewer than a page of matches: everything up to `head` was looked at.
        self.position = if self.buffer.len() < 1024 {
            last.max(head)
        } else {
            last
        };
        Ok(())
    }
}

impl<'s, S: EventStore + ?Sized> Subscription<'s, S> {
    /// A subscription delivering events after `position` (0: from the start) that pass
    /// `filter`.
    pub fn new(store: &'s S, position: u64, filter: Filter) -> Self {
        Subscription {
            store,
            cursor: Cursor::new(position, filter),
            stop: None,
        }
    }

    /// Ends the waits of [`Subscription::next_timeout`] and [`Subscription::visit_timeout`]
    /// once `stop` is asked: they return at once with nothing (a wait in progress is woken).
    #[must_use]
    pub fn until(mut self, stop: &Stop) -> Self {
        self.stop = Some(stop.clone());
        self
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(Stop::is_stopped)
    }

    /// The position of the last event delivered or skipped: every position up to it has been
    /// handed out or passed over by the filter, so it can be saved as a checkpoint to resume
    /// from with [`Subscription::new`].
    pub fn position(&self) -> u64 {
        self.cursor.delivered()
    }

    /// The next event, waiting up to `timeout` for one to be committed.
    ///
    /// # Errors
    ///
    /// Storage errors, and [`crate::Error::Corrupt`] for a damaged record (the subscription
    /// moves past it). The error comes as soon as the record is read, before the events ahead
    /// of it that were read into the buffer with it; they follow.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<RecordedEvent>> {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        loop {
            if let Some(event) = self.cursor.buffer.pop_front() {
                return Ok(Some(event));
            }
            if self.cursor.read_ahead(self.store)? && !self.cursor.buffer.is_empty() {
                continue;
            }
            // Nothing new, or only events the filter skips: wait, within the timeout.
            let now = Instant::now();
            if now >= deadline || self.stopped() {
                return Ok(None);
            }
            self.store
                .wait_for_commit(self.cursor.position, deadline - now)?;
        }
    }

    /// Hands the next events to `visit` where they lie in the store, without an owned
    /// [`RecordedEvent`] each, waiting up to `timeout` for one to be committed; returns how
    /// many it visited (0: none within `timeout`).
    ///
    /// One call visits every event committed by the time it reads (a backlog of any length,
    /// in read transactions of at most 1,024 events), unless `visit` returns
    /// [`ControlFlow::Break`]: the subscription then goes on after that event. `visit` runs
    /// while the store may hold a read transaction (see [`EventStore::replay_all`]): keep it
    /// short and do not call the store from it. Events that [`Subscription::next_timeout`] has
    /// read ahead into its buffer come first: a call that finds some visits only those, and the
    /// next call goes on with the log after them.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use std::time::Duration;
    /// use esdsl_runtime::projection::Subscription;
    /// use esdsl_runtime::Codec;
    /// use esdsl_runtime::store::{EventStore, ExpectedVersion, Filter, Metadata, NewEvent};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = esdsl_runtime::lmdb::LmdbStore::open(dir.path())?;
    /// let events = (1..=3)
    ///     .map(|n| NewEvent {
    ///         event_type: "Happened".into(),
    ///         schema_version: 1,
    ///         codec: Codec::Json,
    ///         payload: format!("{{\"n\":{n}}}").into_bytes(),
    ///     })
    ///     .collect();
    /// store.append("Thing-1", ExpectedVersion::Any, events, &Metadata::default())?;
    /// let mut subscription = Subscription::new(&store, 0, Filter::all());
    /// let mut positions = Vec::new();
    /// let visited = subscription.visit_timeout(Duration::ZERO, |event| {
    ///     positions.push(event.position());
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!((visited, positions), (3, vec![1, 2, 3]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Storage errors, and [`crate::Error::Corrupt`] for a damaged record: the events before
    /// it have been visited, and the subscription moves past it. (`next_timeout` returns that
    /// error as soon as it reads the record, before the events ahead of it that it had read
    /// into its buffer; they follow.)
    pub fn visit_timeout(
        &mut self,
        timeout: Duration,
        mut visit: impl FnMut(EventRef<'_>) -> ControlFlow<()>,
    ) -> Result<usize> {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        let mut visited = 0;
        let cursor = &mut self.cursor;
        while let Some(event) = cursor.buffer.pop_front() {
            visited += 1;
            if visit(EventRef::from(&event)).is_break() {
                return Ok(visited);
            }
        }
        if visited > 0 {
            return Ok(visited);
        }
        loop {
            let head = self.store.head_position()?;
            if head > cursor.position {
                let (mut last, mut stopped) = (None, false);
                let read = self.store.replay_all(
                    cursor.position + 1,
                    &cursor.filter,
                    usize::MAX,
                    &mut |event| {
                        visited += 1;
                        last = Some(event.position());
                        let flow = visit(event);
                        stopped = flow.is_break();
                        Ok(flow)
                    },
                );
                let last = last.unwrap_or(cursor.position);
                match read {
                    // Without a break the read went to the end of the log, past `head`.
                    Ok(()) => cursor.position = if stopped { last } else { last.max(head) },
                    Err(error) => {
                        cursor.position = damaged_at(&error).unwrap_or(last).max(last);
                        return Err(error);
                    }
                }
                if visited > 0 {
                    return Ok(visited);
                }
            }
            // Nothing new, or only events the filter skips: wait, within the timeout.
            let now = Instant::now();
            if now >= deadline || self.stop.as_ref().is_some_and(Stop::is_stopped) {
                return Ok(0);
            }
            self.store
                .wait_for_commit(cursor.position, deadline - now)?;
        }
    }
}

/// The position of the damaged record `error` names, to step over it so that the subscription
/// does not stall on it. `None` for any other error, which may be transient: reading goes on
/// after the last event delivered.
fn damaged_at(error: &Error) -> Option<u64> {
    match error {
        Error::Corrupt {
            what: "event", key, ..
        } => key.parse().ok(),
        _ => None,
    }
}

impl<S: EventStore + ?Sized> Iterator for Subscription<'_, S> {
    type Item = Result<RecordedEvent>;

    /// Blocks until the next event.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// A [`Subscription`] for async code: a `futures_core::Stream` of the events after a position
/// that pass a filter, catching up and then following new commits. It owns a handle to its
/// store, so it can be created anywhere and moved into a task.
///
/// Reads and waits run on tokio's blocking pool, never on the executor: a wait for the next
/// commit holds one thread of that pool. The stream ends (`None`) once its [`Stop`] is asked,
/// waking a wait in progress; dropping it ends a wait in progress too.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use esdsl_runtime::Codec;
/// use esdsl_runtime::projection::SubscriptionStream;
/// use esdsl_runtime::store::{AsyncEventStore, ExpectedVersion, Filter, Metadata, NewEvent};
/// use futures_core::Stream;
///
/// let dir = tempfile::tempdir()?;
/// let store = esdsl_runtime::lmdb::LmdbStore::open(dir.path())?;
/// let mut live = SubscriptionStream::new(store.clone(), 0, Filter::all());
/// let stop = live.stop_handle();
/// let event = NewEvent {
///     event_type: "Happened".into(),
///     schema_version: 1,
///     codec: Codec::Json,
///     payload: br#"{"n":1}"#.to_vec(),
/// };
/// store.append_async("Thing-1", ExpectedVersion::Any, vec![event], &Metadata::default()).await?;
/// // `StreamExt::next` from `futures` or `tokio-stream` does the same.
/// let next = poll_fn(|cx| Pin::new(&mut live).poll_next(cx)).await.expect("an event")?;
/// assert_eq!(next.position, 1);
/// stop.stop();
/// assert!(poll_fn(|cx| Pin::new(&mut live).poll_next(cx)).await.is_none());
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct SubscriptionStream<S: ProjectionStore> {
    store: S,
    stop: Stop,
    /// Set when the stream is dropped, to end a wait in progress.
    dropped: Arc<AtomicBool>,
    state: StreamState,
}

#[cfg(feature = "tokio")]
#[derive(Debug)]
enum StreamState {
    /// Serving from the cursor's buffer.
    Idle(Cursor),
    /// Reading or waiting on the blocking pool, which hands the cursor back.
    Reading(tokio::task::JoinHandle<(Cursor, Result<()>)>),
    /// Stopped, or the runtime went away.
    Done,
}

/// How long one wait of a stream lasts before it checks again whether it was dropped.
#[cfg(feature = "tokio")]
const STREAM_WAIT: Duration = Duration::from_secs(1);

#[cfg(feature = "tokio")]
impl<S: ProjectionStore> SubscriptionStream<S> {
    /// A stream of the events after `position` (0: from the start) that pass `filter`.
    pub fn new(store: S, position: u64, filter: Filter) -> Self {
        let stop = Stop::new(&store);
        SubscriptionStream {
            store,
            stop,
            dropped: Arc::new(AtomicBool::new(false)),
            state: StreamState::Idle(Cursor::new(position, filter)),
        }
    }

    /// Ends the stream when `stop` is asked (sharing one [`Stop`] with the runners of a
    /// service stops them all at once).
    #[must_use]
    pub fn until(mut self, stop: &Stop) -> Self {
        self.stop = stop.clone();
        self
    }

    /// A handle that ends this stream (and everything else holding the same [`Stop`]).
    pub fn stop_handle(&self) -> Stop {
        self.stop.clone()
    }

    /// As [`Subscription::position`]; while a read is in progress, 0 (not known yet).
    pub fn position(&self) -> u64 {
        match &self.state {
            StreamState::Idle(cursor) => cursor.delivered(),
            StreamState::Reading(_) | StreamState::Done => 0,
        }
    }

    /// Reads ahead, or waits for a commit until the stream is stopped or dropped.
    fn read(&self, mut cursor: Cursor) -> tokio::task::JoinHandle<(Cursor, Result<()>)> {
        let (store, stop, dropped) = (
            self.store.clone(),
            self.stop.clone(),
            Arc::clone(&self.dropped),
        );
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                while !stop.is_stopped() && !dropped.load(Ordering::SeqCst) {
                    if cursor.read_ahead(&store)? && !cursor.buffer.is_empty() {
                        return Ok(());
                    }
                    stop.wait_for_commit(&store, cursor.position, STREAM_WAIT)?;
                }
                Ok(())
            })();
            (cursor, result)
        })
    }
}

#[cfg(feature = "tokio")]
impl<S: ProjectionStore> Drop for SubscriptionStream<S> {
    fn drop(&mut self) {
        if matches!(self.state, StreamState::Reading(_)) {
            self.dropped.store(true, Ordering::SeqCst);
            self.store.wake_waiters();
        }
    }
}

/// Nothing of the stream is pinned: its state moves freely between polls.
#[cfg(feature = "tokio")]
impl<S: ProjectionStore> Unpin for SubscriptionStream<S> {}

#[cfg(feature = "tokio")]
impl<S: ProjectionStore> futures_core::Stream for SubscriptionStream<S> {
    type Item = Result<RecordedEvent>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, StreamState::Done) {
                StreamState::Done => return Poll::Ready(None),
                StreamState::Idle(mut cursor) => {
                    if let Some(event) = cursor.buffer.pop_front() {
                        this.state = StreamState::Idle(cursor);
                        return Poll::Ready(Some(Ok(event)));
                    }
                    if this.stop.is_stopped() {
                        return Poll::Ready(None);
                    }
                    this.state = StreamState::Reading(this.read(cursor));
                }
                StreamState::Reading(mut reading) => {
                    match std::pin::Pin::new(&mut reading).poll(cx) {
                        Poll::Pending => {
                            this.state = StreamState::Reading(reading);
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok((cursor, result))) => {
                            this.state = StreamState::Idle(cursor);
                            if let Err(error) = result {
                                return Poll::Ready(Some(Err(error)));
                            }
                        }
                        Poll::Ready(Err(error)) if error.is_panic() => {
                            std::panic::resume_unwind(error.into_panic())
                        }
                        Poll::Ready(Err(_)) => return Poll::Ready(Some(Err(Error::Cancelled))),
                    }
                }
            }
        }
    }
}
