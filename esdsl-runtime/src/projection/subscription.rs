//! Catch-up then live reading of the global log.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

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
#[derive(Debug)]
pub struct Subscription<'s, S: EventStore + ?Sized> {
    store: &'s S,
    filter: Filter,
    /// Every position up to this one has been read (or skipped by the filter).
    position: u64,
    buffer: VecDeque<RecordedEvent>,
}

impl<'s, S: EventStore + ?Sized> Subscription<'s, S> {
    /// A subscription delivering events after `position` (0: from the start) that pass
    /// `filter`.
    pub fn new(store: &'s S, position: u64, filter: Filter) -> Self {
        Subscription {
            store,
            filter,
            position,
            buffer: VecDeque::new(),
        }
    }

    /// The position of the last event delivered or skipped: every position up to it has been
    /// handed out or passed over by the filter, so it can be saved as a checkpoint to resume
    /// from with [`Subscription::new`].
    pub fn position(&self) -> u64 {
        // Events read ahead into the buffer are not delivered yet.
        self.buffer
            .front()
            .map_or(self.position, |next| next.position.saturating_sub(1))
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
            if let Some(event) = self.buffer.pop_front() {
                return Ok(Some(event));
            }
            let head = self.store.head_position()?;
            if head > self.position {
                self.fill(head)?;
                if !self.buffer.is_empty() {
                    continue;
                }
            }
            // Nothing new, or only events the filter skips: wait, within the timeout.
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.store.wait_for_commit(self.position, deadline - now)?;
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
        while let Some(event) = self.buffer.pop_front() {
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
            if head > self.position {
                let (mut last, mut stopped) = (None, false);
                let read = self.store.replay_all(
                    self.position + 1,
                    &self.filter,
                    usize::MAX,
                    &mut |event| {
                        visited += 1;
                        last = Some(event.position());
                        let flow = visit(event);
                        stopped = flow.is_break();
                        Ok(flow)
                    },
                );
                let last = last.unwrap_or(self.position);
                match read {
                    // Without a break the read went to the end of the log, past `head`.
                    Ok(()) => self.position = if stopped { last } else { last.max(head) },
                    Err(error) => {
                        self.position = damaged_at(&error).unwrap_or(last).max(last);
                        return Err(error);
                    }
                }
                if visited > 0 {
                    return Ok(visited);
                }
            }
            // Nothing new, or only events the filter skips: wait, within the timeout.
            let now = Instant::now();
            if now >= deadline {
                return Ok(0);
            }
            self.store.wait_for_commit(self.position, deadline - now)?;
        }
    }

    /// Reads what is committed up to `head` into the buffer.
    fn fill(&mut self, head: u64) -> Result<()> {
        let from = self.position + 1;
        let mut last = self.position;
        for event in self.store.read_all(from, &self.filter, 1024)? {
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
