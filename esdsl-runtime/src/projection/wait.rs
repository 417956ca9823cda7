//! Read-your-writes: waiting until a store projection has applied a position.

use std::future::{Future, ready};
use std::time::{Duration, Instant};

use super::Partition;
use super::backend::{ProjectionRead, ProjectionStore, StateKey};
use crate::error::{Error, Result};

/// How often a wait reads the checkpoints at first; the pause doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_micros(200);
/// The longest pause between two reads of the checkpoints.
const MAX_POLL: Duration = Duration::from_millis(2);
/// More partitions than this in a checkpoint state is damage, not a configuration.
const MAX_PARTITIONS: u64 = 1 << 16;

/// The position a store projection has applied everything up to: the lowest checkpoint among
/// the partitions of its active generation (0 before it first ran).
///
/// # Errors
///
/// Storage errors; a damaged partition count is [`Error::Corrupt`].
pub fn projection_checkpoint<S: ProjectionStore>(store: &S, name: &str) -> Result<u64> {
    store.read(&mut |read| lowest_checkpoint(read, name))
}

fn lowest_checkpoint(read: &dyn ProjectionRead, name: &str) -> Result<u64> {
    let generation = read.state(StateKey::Generation(name))?.unwrap_or(0);
    let count = read
        .state(StateKey::Partitions(name, generation))?
        .unwrap_or(1)
        .max(1);
    if count > MAX_PARTITIONS {
        return Err(Error::Corrupt {
            what: "checkpoint",
            key: name.to_owned(),
            reason: format!("{count} partitions"),
        });
    }
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    let mut lowest = u64::MAX;
    for index in 0..count {
        let key = StateKey::checkpoint(name, generation, Partition { index, count });
        lowest = lowest.min(read.state(key)?.unwrap_or(0));
    }
    Ok(lowest)
}

/// Waits until the store projection `name` has applied every event up to `position` (in all
/// its partitions), or `timeout` passes; returns whether it got there. With the position of a
/// command ([`Executed::position`](crate::Executed::position)) this is read-your-writes: a
/// read of the projection's read model afterwards sees the command's events.
///
/// The checkpoints are read every 0.2 ms at first, backing off to every 2 ms.
///
/// ```
/// use std::time::Duration;
/// use esdsl_runtime::lmdb::LmdbStore;
/// use esdsl_runtime::projection::wait_for_checkpoint;
///
/// let dir = tempfile::tempdir()?;
/// let store = LmdbStore::open(dir.path())?;
/// // Nothing to wait for at position 0; position 1 is not applied by a projection that never ran.
/// assert!(wait_for_checkpoint(&store, "balances", 0, Duration::ZERO)?);
/// assert!(!wait_for_checkpoint(&store, "balances", 1, Duration::from_millis(5))?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`projection_checkpoint`].
pub fn wait_for_checkpoint<S: ProjectionStore>(
    store: &S,
    name: &str,
    position: u64,
    timeout: Duration,
) -> Result<bool> {
    let read = || ready(projection_checkpoint(store, name));
    let pause = |pause| {
        std::thread::sleep(pause);
        ready(())
    };
    crate::task::run_ready(wait_until(position, timeout, read, pause))
}

/// Reads the checkpoint with `read` until it reaches `position`, pausing with `pause` between
/// reads, until `timeout`: the loop of both waits.
async fn wait_until<R, P>(
    position: u64,
    timeout: Duration,
    mut read: impl FnMut() -> R,
    mut pause: impl FnMut(Duration) -> P,
) -> Result<bool>
where
    R: Future<Output = Result<u64>>,
    P: Future<Output = ()>,
{
    let mut polls = Polls::new(timeout);
    loop {
        if read().await? >= position {
            return Ok(true);
        }
        let Some(next) = polls.next() else {
            return Ok(false);
        };
        pause(next).await;
    }
}

/// [`wait_for_checkpoint`] for async code: the task sleeps between reads (a `tokio::time`
/// sleep, so the runtime needs its timer), and each read of the checkpoints runs on tokio's
/// blocking pool.
///
/// # Errors
///
/// As [`projection_checkpoint`].
#[cfg(feature = "tokio")]
pub async fn wait_for_checkpoint_async<S: ProjectionStore>(
    store: &S,
    name: &str,
    position: u64,
    timeout: Duration,
) -> Result<bool> {
    let read = || {
        let (store, name) = (store.clone(), name.to_owned());
        crate::task::off_executor(move || projection_checkpoint(&store, &name))
    };
    wait_until(position, timeout, read, tokio::time::sleep).await
}

/// The pauses of a wait: doubling from [`FIRST_POLL`] to [`MAX_POLL`], none past its deadline.
struct Polls {
    deadline: Option<Instant>,
    pause: Duration,
}

impl Polls {
    fn new(timeout: Duration) -> Polls {
        Polls {
            deadline: Instant::now().checked_add(timeout),
            pause: FIRST_POLL,
        }
    }
}

impl Iterator for Polls {
    type Item = Duration;

    /// The next pause, cut to the time left; `None` once the deadline has passed.
    fn next(&mut self) -> Option<Duration> {
        let pause = self.pause;
        let left = self
            .deadline
            .map_or(pause, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return None;
        }
        self.pause = (pause * 2).min(MAX_POLL);
        Some(pause.min(left))
    }
}
