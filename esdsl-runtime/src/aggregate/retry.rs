//! [`RetryPolicy`]: how a command is tried again after a concurrent write.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How [`Repository::execute`](crate::Repository::execute) tries a command again after a
/// concurrent write to its aggregate (an [`Error::Conflict`](crate::Error::Conflict)).
///
/// Before retry `n` it waits a random time between zero and `first_backoff × 2ⁿ⁻¹`, capped at
/// `max_backoff` ("full jitter"): writers that collided spread out instead of colliding again
/// in step. The retry then replays only the events after the version it had loaded. The
/// default: 10 retries, backoff from 1 ms up to 50 ms. In async code the wait is a
/// `tokio::time::sleep`, so the runtime needs its timer (`enable_time`, or `enable_all` as
/// `#[tokio::main]` does).
///
/// ```
/// use std::time::Duration;
/// use esdsl_runtime::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .with_max_retries(50)
///     .with_backoff(Duration::from_millis(2), Duration::from_millis(200));
/// assert_eq!(patient.max_retries(), 50);
/// assert!(patient.delay(1) <= Duration::from_millis(2));
/// assert!(patient.delay(30) <= Duration::from_millis(200));
/// assert_eq!(RetryPolicy::immediate().delay(3), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    first_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 10,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(50),
        }
    }
}

impl RetryPolicy {
    /// Retries at once, without waiting (10 of them): what a retry did before backoff existed.
    pub fn immediate() -> Self {
        RetryPolicy::default().with_backoff(Duration::ZERO, Duration::ZERO)
    }

    /// At most `retries` retries (default 10); a conflict after the last one is returned.
    #[must_use]
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The backoff's first bound and its cap (default 1 ms and 50 ms); zero turns it off.
    #[must_use]
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// The most retries.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The wait before retry `retry` (1 for the first): random, at most the bound for it.
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        let bound = self
            .first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random() % (nanos + 1))
    }
}

/// A random number for jitter: std's per-process random hash keys, a fresh pair per call.
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_stays_within_its_doubling_bound_and_the_cap() {
        let policy =
            RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(8));
        for retry in 1..=40 {
            let bound = Duration::from_millis(1 << (retry - 1).min(3));
            for _ in 0..50 {
                assert!(policy.delay(retry) <= bound, "retry {retry}");
            }
        }
    }

    #[test]
    fn the_delay_is_spread_not_fixed() {
        let policy = RetryPolicy::default();
        let delays: std::collections::HashSet<_> = (0..64).map(|_| policy.delay(5)).collect();
        assert!(delays.len() > 32, "{} distinct delays of 64", delays.len());
    }

    #[test]
    fn immediate_never_waits() {
        assert!((1..=20).all(|retry| RetryPolicy::immediate().delay(retry).is_zero()));
    }
}
