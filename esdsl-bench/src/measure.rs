//! Trials, medians, percentiles, fixed-seed randomness and fresh data directories.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What one trial of one system measured.
#[derive(Debug, Default)]
pub(crate) struct Sample {
    /// Events written or read.
    pub(crate) events: u64,
    /// The time they took (setup excluded).
    pub(crate) elapsed: Duration,
    /// Per-operation latencies in microseconds, where an operation is worth timing alone.
    pub(crate) latencies_us: Vec<f64>,
}

impl Sample {
    pub(crate) fn new(events: u64, elapsed: Duration) -> Sample {
        Sample {
            events,
            elapsed,
            latencies_us: Vec::new(),
        }
    }

    pub(crate) fn with_latencies(mut self, latencies_us: Vec<f64>) -> Sample {
        self.latencies_us = latencies_us;
        self
    }

    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The median over trials.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub(crate) events_per_sec: f64,
    pub(crate) p50_us: Option<f64>,
    pub(crate) p99_us: Option<f64>,
}

/// The median rate of the trials, and the median of each trial's p50 and p99.
pub(crate) fn summarize(samples: Vec<Sample>) -> Measured {
    let mut rates = Vec::with_capacity(samples.len());
    let mut p50s = Vec::with_capacity(samples.len());
    let mut p99s = Vec::with_capacity(samples.len());
    for mut sample in samples {
        rates.push(sample.rate());
        sample.latencies_us.sort_by(f64::total_cmp);
        if let (Some(p50), Some(p99)) = (
            percentile(&sample.latencies_us, 0.5),
            percentile(&sample.latencies_us, 0.99),
        ) {
            p50s.push(p50);
            p99s.push(p99);
        }
    }
    Measured {
        events_per_sec: median(&mut rates).unwrap_or(0.0),
        p50_us: median(&mut p50s),
        p99_us: median(&mut p99s),
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// The value at quantile `q` of sorted values (nearest rank).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(rank).copied()
}

/// Repeats `op` (which returns how many events it handled) until `min_time` has passed and at
/// least `min_iters` ran, timing each run.
pub(crate) fn repeat(
    min_time: Duration,
    min_iters: usize,
    mut op: impl FnMut() -> Result<u64>,
) -> Result<Sample> {
    let mut latencies = Vec::new();
    let mut events = 0;
    let start = Instant::now();
    while latencies.len() < min_iters || start.elapsed() < min_time {
        let began = Instant::now();
        events += op()?;
        latencies.push(micros(began.elapsed()));
    }
    Ok(Sample::new(events, start.elapsed()).with_latencies(latencies))
}

/// Calls `op(n)` for `n` in `0..ops` until `deadline` passes and times each call (µs): the
/// loop of every timed write scenario, on one thread ([`writers`] runs it on several).
pub(crate) fn timed(
    ops: usize,
    deadline: Deadline,
    mut op: impl FnMut(usize) -> Result<()>,
) -> Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(ops);
    for n in 0..ops {
        if deadline.passed() {
            break;
        }
        let began = Instant::now();
        op(n)?;
        latencies.push(micros(began.elapsed()));
    }
    Ok(latencies)
}

/// [`timed`] on this thread as a sample, each call being `events_per_op` events.
pub(crate) fn timed_sample(
    ops: usize,
    events_per_op: usize,
    deadline: Deadline,
    op: impl FnMut(usize) -> Result<()>,
) -> Result<Sample> {
    let start = Instant::now();
    let latencies = timed(ops, deadline, op)?;
    let events = (latencies.len() * events_per_op) as u64;
    Ok(Sample::new(events, start.elapsed()).with_latencies(latencies))
}

/// `writers` threads at once, writer `w` calling `op(&mut state, w, n)` for `n` in
/// `0..per_writer` until `deadline` passes; every call is one event and is timed. `setup`
/// makes a writer's own state (a connection, a channel end) on its thread. The shared loop of
/// every "N writers for T seconds" scenario: the rate is calls done over the time taken.
pub(crate) fn writers<S>(
    writers: usize,
    per_writer: usize,
    deadline: Deadline,
    setup: impl Fn(usize) -> Result<S> + Sync,
    op: impl Fn(&mut S, usize, usize) -> Result<()> + Sync,
) -> Result<Sample> {
    let latencies = std::sync::Mutex::new(Vec::with_capacity(writers * per_writer));
    let start = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (setup, op, latencies) = (&setup, &op, &latencies);
                scope.spawn(move || -> Result<()> {
                    let mut state = setup(w)?;
                    let mine = timed(per_writer, deadline, |n| op(&mut state, w, n))?;
                    latencies
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .extend(mine);
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(())
    })?;
    let elapsed = start.elapsed();
    let latencies = latencies
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(Sample::new(latencies.len() as u64, elapsed).with_latencies(latencies))
}

/// How `items` are shared among at most `threads` writers: (writers, items per writer).
pub(crate) fn share(items: usize, threads: usize) -> (usize, usize) {
    let writers = threads.min(items).max(1);
    (writers, items / writers)
}

pub(crate) fn micros(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e6
}

/// SplitMix64: small, fast and fixed by its seed, so every run writes the same data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_e5d5_1000_0007)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `count` distinct numbers in `0..n` (`count <= n`), in random order.
    pub(crate) fn distinct(&mut self, count: usize, n: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        let count = count.min(n);
        for i in 0..count {
            let j = i + self.below((n - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(count);
        all
    }
}

/// When a timed loop stops starting new operations, so a slow or busy disk cannot stretch a
/// run: rates are events done over the time taken either way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    pub(crate) fn after(budget: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(budget))
    }

    /// For a loop that must finish (an aggregate that must reach its size).
    pub(crate) fn never() -> Deadline {
        Deadline(None)
    }

    pub(crate) fn passed(self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }
}

/// A fresh directory for one trial, removed when dropped.
pub(crate) fn fresh_dir(base: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("trial-")
        .tempdir_in(base)
        .context("creating a trial directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(51.0));
        assert_eq!(percentile(&values, 0.99), Some(99.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn writers_share_the_items_and_time_every_call() {
        assert_eq!(share(16_000, 32), (32, 500));
        assert_eq!(share(10, 32), (10, 1));
        assert_eq!(share(0, 8), (1, 0));
        let calls = std::sync::Mutex::new(Vec::new());
        let sample = writers(
            3,
            4,
            Deadline::never(),
            |w| Ok(w * 10),
            |base, w, n| {
                calls
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(*base + w + n);
                Ok(())
            },
        )
        .expect("runs");
        assert_eq!((sample.events, sample.latencies_us.len()), (12, 12));
        let mut calls = calls.into_inner().expect("not poisoned");
        calls.sort_unstable();
        assert_eq!(calls, [0, 1, 2, 3, 11, 12, 13, 14, 22, 23, 24, 25]);
        let stopped = writers(
            2,
            5,
            Deadline::after(Duration::ZERO),
            |_| Ok(()),
            |_, _, _| Ok(()),
        )
        .expect("runs");
        assert_eq!(stopped.events, 0, "no call starts after the deadline");
    }

    #[test]
    fn the_rng_is_fixed_by_its_seed() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        let picks = Rng::new(1).distinct(10, 20);
        let mut sorted = picks.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
    }
}
