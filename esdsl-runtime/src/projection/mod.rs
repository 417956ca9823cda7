//! Subscriptions and projections: read models derived from the global log.
//!
//! - [`Subscription`] reads the global log from a position, then follows new commits as they
//!   land (woken by the commit).
//! - A [`StoreProjection`] keeps its read model in the store itself and updates it and its
//!   checkpoint in one transaction: **exactly once**, even across crashes. Run it with a
//!   [`StoreRunner`].
//! - An [`ExternalProjection`] writes elsewhere (a file, a SQL table, an HTTP call) and gets
//!   **at least once** delivery: its checkpoint advances only after the handler succeeded, and
//!   the event's global position is its idempotency key. Run it with an [`ExternalRunner`].
//!
//! Both runners can run as N partitions (threads or processes), retry failing handlers with
//! backoff and park events that keep failing, and damaged records they cannot rule out.
//! [`StoreStatus`] shows what every projection of a store is doing (`cargo esdsl
//! projections`). See [`docs/projections.md`].
//!
//! [`docs/projections.md`]: https://github.com/esdsl/esdsl/blob/main/docs/projections.md
//!
//! The engine is written once over [`ProjectionStore`](backend::ProjectionStore), the
//! interface a backend implements
//! ([`backend`]); nothing here knows how a backend stores its state.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::store::{EventRef, Filter, RecordedEvent, validate_consumer_name};

pub mod backend;
mod batch;
mod external;
mod parked;
mod read_model;
mod runner;
mod status;
mod subscription;
mod wait;

pub use external::ExternalRunner;
pub use parked::{ParkedEvent, ReplayReport};
pub use read_model::{Page, ReadModel, ReadModelView};
#[cfg(feature = "tokio")]
pub use runner::RunnerTask;
pub use runner::{Progress, RebuildReport, RunReport, Stop, StoreRunner};
pub use status::{PartitionStatus, ProjectionKind, ProjectionStatus, RebuildStatus, StoreStatus};
pub use subscription::Subscription;
#[cfg(feature = "tokio")]
pub use subscription::SubscriptionStream;
#[cfg(feature = "tokio")]
pub use wait::wait_for_checkpoint_async;
pub use wait::{projection_checkpoint, wait_for_checkpoint};

/// What a handler returns on failure: any error.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What every projection declares: its name, its events and which of them it wants.
pub trait Projection: Send {
    /// The family of events the projection reads (events of other aggregates are filtered out).
    type Event: Event;

    /// A stable name: checkpoints, read models and parked events are kept under it.
    fn name(&self) -> &str;

    /// Which events to deliver; applied to the envelope before decoding. By default, every
    /// event of `Self::Event`'s aggregate type.
    fn filter(&self) -> Filter {
        Filter::aggregate(<Self::Event as Event>::AGGREGATE)
    }
}

/// A projection whose read model lives in the store, updated exactly once.
///
/// Keep all of the read model in the [`ReadModel`]: `apply` may run again for the same event
/// when a transaction is rolled back (a failure, a full map), and only the `ReadModel`'s writes
/// are rolled back with it.
pub trait StoreProjection: Projection {
    /// Applies one event to the read model.
    ///
    /// # Errors
    ///
    /// Any error fails the event: the runner retries it and, if it keeps failing, parks it.
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        event: &Self::Event,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError>;
}

/// A projection whose read model lives outside the store, delivered at least once.
///
/// An event can be delivered again after a crash or a failed batch; use
/// `recorded.position()` as the idempotency key.
pub trait ExternalProjection: Projection {
    /// Handles one event.
    ///
    /// # Errors
    ///
    /// Any error fails the event: the runner retries it and, if it keeps failing, parks it.
    fn apply(&mut self, event: &Self::Event, recorded: EventRef<'_>) -> Result<(), HandlerError>;
}

/// What a runner does with an event that still fails after its last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Park the event and stop the runner with an error (the default): nothing after it is
    /// processed until the cause is fixed.
    #[default]
    Stop,
    /// Park the event and go on with the next one.
    Skip,
}

/// One of `count` workers of a projection. Events are assigned by a hash of their stream name,
/// so all events of a stream go to the same worker, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// This worker's index, `0..count`.
    pub index: u32,
    /// How many workers share the projection.
    pub count: u32,
}

impl Partition {
    /// The only partition of an unpartitioned projection.
    pub const ALL: Partition = Partition { index: 0, count: 1 };

    /// Whether this partition handles events of `stream`.
    pub fn owns(self, stream: &str) -> bool {
        self.count <= 1 || stream_hash(stream) % u64::from(self.count) == u64::from(self.index)
    }
}

/// FNV-1a: stable across builds and platforms, so partitions stay put between releases.
fn stream_hash(stream: &str) -> u64 {
    stream.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Calls at most this many apart, the clock is read for `max_batch_time`.
const MAX_CLOCK_STRIDE: u32 = 16;

/// The time bound of a batch, asked between events. Reading the clock costs about as much as
/// a small handler call (40 ns on a VM), so while calls are fast it is read every few calls:
/// the stride doubles, up to [`MAX_CLOCK_STRIDE`], while the calls since the last reading
/// took under 1/1024 of the bound, and drops to 1 once they take longer. A batch therefore
/// runs over by one call, or by up to 15 if handlers that were fast turn slow within it.
pub(crate) struct Deadline {
    started: Instant,
    limit: Duration,
    /// The time at the last reading.
    read: Duration,
    stride: u32,
    /// Calls left before the next reading.
    skip: u32,
}

impl Deadline {
    pub(crate) fn start(limit: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            limit,
            read: Duration::ZERO,
            stride: 1,
            skip: 0,
        }
    }

    /// Whether the batch has used its time; called before each call but the first.
    #[inline]
    pub(crate) fn passed(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        let now = self.started.elapsed();
        if now >= self.limit {
            return true;
        }
        let fast = now.saturating_sub(self.read) < self.limit / 1024;
        self.stride = if fast {
            (self.stride * 2).min(MAX_CLOCK_STRIDE)
        } else {
            1
        };
        self.skip = self.stride - 1;
        self.read = now;
        false
    }

    /// The time since the batch started, read now.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// How a runner processes events: set with one builder method per option, each documented
/// with its default.
///
/// A batch is one write transaction (store projections) or one checkpoint save (external
/// projections). It ends at whichever bound comes first: [`batch_size`] events,
/// [`max_batch_bytes`] of records read (and, for a store runner, of read model writes), or
/// [`max_batch_time`] spent applying (checked between events, so a batch applies at least one).
/// While a store runner applies a batch it holds the store's write transaction (LMDB has one
/// writer), so appends wait for it: `max_batch_time` bounds that wait, plus one handler call.
/// (The clock is read every few events while handlers take under 1/1024 of `max_batch_time`;
/// a handler that turns slow within a batch of fast ones can add up to 15 calls.)
///
/// ```
/// use std::time::Duration;
/// use esdsl_runtime::projection::{OnFailure, ProjectionOptions};
///
/// let options = ProjectionOptions::default()
///     .partition(1, 4)
///     .max_attempts(3)
///     .backoff(Duration::from_millis(50))
///     .on_failure(OnFailure::Skip);
/// ```
///
/// [`batch_size`]: ProjectionOptions::batch_size
/// [`max_batch_bytes`]: ProjectionOptions::max_batch_bytes
/// [`max_batch_time`]: ProjectionOptions::max_batch_time
#[derive(Debug, Clone)]
pub struct ProjectionOptions {
    pub(crate) batch_size: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) max_batch_time: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) on_failure: OnFailure,
    pub(crate) partition: Partition,
}

impl Default for ProjectionOptions {
    fn default() -> ProjectionOptions {
        ProjectionOptions {
            batch_size: ProjectionOptions::DEFAULT_BATCH_SIZE,
            max_batch_bytes: 16 << 20,
            max_batch_time: Duration::from_millis(100),
            max_attempts: 5,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
            on_failure: OnFailure::Stop,
            partition: Partition::ALL,
        }
    }
}

impl ProjectionOptions {
    /// The default [`ProjectionOptions::batch_size`].
    pub const DEFAULT_BATCH_SIZE: usize = 65_536;

    /// At most this many events (that pass the filter) per batch, at least 1. Default 65,536:
    /// catching up commits once per batch, each durable commit costs the store's syncs, and
    /// with a fast handler a batch of this size takes a few milliseconds (see
    /// [`docs/projections.md`] for the measurements); `max_batch_time` ends a slower batch
    /// sooner.
    ///
    /// [`docs/projections.md`]: https://github.com/esdsl/esdsl/blob/main/docs/projections.md#batches
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> ProjectionOptions {
        self.batch_size = batch_size.max(1);
        self
    }

    /// A batch ends once the records it took (envelopes and payloads) reach this many bytes
    /// (at least 1): an external runner holds them in memory, so large events do not make its
    /// memory unbounded; a store runner reads them where they lie, and counts 4 KiB more per
    /// read model put or delete, as each can add a page that the store holds in memory until
    /// the commit (a handler writing once per event commits about every 4,000 events).
    /// Default 16 MiB.
    #[must_use]
    pub fn max_batch_bytes(mut self, bytes: usize) -> ProjectionOptions {
        self.max_batch_bytes = bytes.max(1);
        self
    }

    /// A batch stops applying (and commits what it applied) once it has run this long.
    /// Default 100 ms.
    #[must_use]
    pub fn max_batch_time(mut self, time: Duration) -> ProjectionOptions {
        self.max_batch_time = time;
        self
    }

    /// Attempts per event before it is parked, at least 1. Default 5.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> ProjectionOptions {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry; it doubles up to `max_backoff`. Default 10 ms.
    #[must_use]
    pub fn backoff(mut self, backoff: Duration) -> ProjectionOptions {
        self.backoff = backoff;
        self
    }

    /// The longest wait between retries. Default 1 s.
    #[must_use]
    pub fn max_backoff(mut self, max_backoff: Duration) -> ProjectionOptions {
        self.max_backoff = max_backoff;
        self
    }

    /// What happens after parking: stop or skip. Default [`OnFailure::Stop`].
    #[must_use]
    pub fn on_failure(mut self, on_failure: OnFailure) -> ProjectionOptions {
        self.on_failure = on_failure;
        self
    }

    /// Which worker this runner is: `index` of `count` (see [`Partition`]). Default
    /// [`Partition::ALL`].
    #[must_use]
    pub fn partition(mut self, index: u32, count: u32) -> ProjectionOptions {
        self.partition = Partition { index, count };
        self
    }
}

/// Whether a runner with `filter` and `partition` handles this event.
pub(crate) fn wants(event: &RecordedEvent, filter: &Filter, partition: Partition) -> bool {
    filter.matches(&event.stream, &event.event_type) && partition.owns(&event.stream)
}

/// Decodes an event for a projection: `Ok(None)` for a retired type; a newer version the
/// event is forward compatible to reads as the newest known.
pub(crate) fn decode<E: Event>(recorded: &EventRef<'_>) -> Result<Option<E>, HandlerError> {
    match recorded.decode::<E>() {
        Ok(decoded) => Ok(decoded.into_event()),
        Err(error) => Err(Box::new(error)),
    }
}

/// The wait before retry `attempt` (from 1): `backoff` doubling up to `max_backoff`.
pub(crate) fn backoff(options: &ProjectionOptions, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    options
        .backoff
        .saturating_mul(factor)
        .min(options.max_backoff)
}

/// Checks a projection name: a valid checkpoint name without `@` or `#`, which the engine's
/// checkpoint names use as separators.
pub(crate) fn validate_projection_name(name: &str) -> Result<()> {
    validate_consumer_name(name)?;
    if name.contains(['@', '#']) {
        return Err(Error::InvalidInput(format!(
            "projection name `{name}` contains `@` or `#`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_split_streams_and_cover_all() {
        let streams: Vec<String> = (0..1000).map(|n| format!("Account-{n}")).collect();
        let mut counts = [0; 4];
        for stream in &streams {
            let owners: Vec<u32> = (0..4)
                .filter(|i| {
                    Partition {
                        index: *i,
                        count: 4,
                    }
                    .owns(stream)
                })
                .collect();
            assert_eq!(owners.len(), 1, "{stream} has exactly one owner");
            counts[owners[0] as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c > 150), "{counts:?}");
        assert!(Partition::ALL.owns("anything"));
    }

    #[test]
    fn a_deadline_reads_the_clock_less_often_only_while_calls_are_fast() {
        let mut fast = Deadline::start(Duration::from_secs(3600));
        for _ in 0..100 {
            assert!(!fast.passed());
        }
        assert_eq!(
            fast.stride, MAX_CLOCK_STRIDE,
            "fast calls: every 16th call reads"
        );
        // Calls that take more than 1/1024 of the bound (here 1 ms of 1 s) read at each one.
        let mut slowing = Deadline::start(Duration::from_secs(1));
        // Until the stride is at its widest: a preempted call on a loaded machine resets it.
        let mut calls = 0;
        while slowing.stride < MAX_CLOCK_STRIDE {
            assert!(!slowing.passed());
            calls += 1;
            assert!(calls < 100_000, "fast calls never widened the stride");
        }
        assert_eq!(slowing.stride, MAX_CLOCK_STRIDE);
        for _ in 0..MAX_CLOCK_STRIDE {
            std::thread::sleep(Duration::from_millis(2));
            assert!(!slowing.passed());
        }
        assert_eq!(
            slowing.stride, 1,
            "a slow stretch brings the stride back to 1"
        );
    }

    #[test]
    fn a_deadline_passes_within_one_slow_call_of_its_bound() {
        let bound = Duration::from_millis(30);
        let mut deadline = Deadline::start(bound);
        let mut calls = 0;
        while !deadline.passed() {
            std::thread::sleep(Duration::from_millis(2));
            calls += 1;
            assert!(calls < 10_000, "the deadline never passed");
        }
        let elapsed = deadline.elapsed();
        assert!(elapsed >= bound, "passed early, after {elapsed:?}");
        // Slow calls read the clock each time: the bound is crossed by the last call only.
        // (The sleeps can take longer on a loaded machine: what is checked is that it did not
        // go on for another stride of calls after crossing.)
        assert!(
            calls <= (elapsed.as_millis() / 2) as usize + 1,
            "{calls} calls in {elapsed:?}"
        );
        assert!(
            Deadline::start(Duration::ZERO).passed(),
            "a zero bound passes at once"
        );
    }

    #[test]
    fn the_stream_hash_is_fnv_1a() {
        assert_eq!(stream_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stream_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
