//! Catch-up then live reading of the global log.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::store::{EventStore, Filter, RecordedEvent};

/// Reads the global log after a position, then waits for new commits.
///
/// ```
/// use std::time::Duration;
/// use esdsl_runtime::projection::Subscription;
/// use esdsl_runtime::store::{EventStore, ExpectedVersion, Filter, Metadata};
///
/// let dir = tempfile::tempdir()?;
/// let store = esdsl_runtime::LmdbStore::open(dir.path())?;
/// let mut subscription = Subscription::new(&store, 0, Filter::all());
/// assert!(subscription.next_timeout(Duration::from_millis(10))?.is_none());
/// let event = esdsl_runtime::conformance::event("Happened", 1);
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

    /// The position of the last event delivered or skipped.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next event, waiting up to `timeout` for one to be committed.
    ///
    /// # Errors
    ///
    /// Storage errors, and [`crate::Error::Corrupt`] for a damaged record (the subscription
    /// moves past it).
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
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
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
                    // Step over the damaged record so the subscription does not stall on it.
                    let damaged = match &error {
                        crate::Error::Corrupt {
                            table: "events",
                            key,
                            ..
                        } => key.parse().ok(),
                        _ => None,
                    };
                    // Any other error may be transient: deliver from the last event again.
                    self.position = damaged.unwrap_or(last).max(last);
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
