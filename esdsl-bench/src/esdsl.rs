//! esdsl itself: the store, the repository, snapshots, projections and subscriptions, each
//! measured the way a user calls them.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::lmdb::{Durability, StoreOptions};
use esdsl_runtime::projection::{
    HandlerError, Projection, ProjectionOptions, ReadModel, StoreProjection, StoreRunner,
    Subscription,
};
use esdsl_runtime::store::{
    Direction, EventRef, EventStore, ExpectedVersion, Filter, Metadata, NewEvent, StreamAppend,
    stream_name,
};
use esdsl_runtime::{Aggregate, Codec, Decoded, Repository, RetryPolicy, SnapshotPolicy};

use crate::domain::{Account, AccountEvent, Deposit, account_id, new_event};
use crate::measure::{self, Deadline, Rng, Sample, fresh_dir, micros, repeat, share, timed_sample};

/// A fresh store for one trial; the directory goes when the store does.
pub(crate) struct Store {
    pub(crate) store: LmdbStore,
    _dir: tempfile::TempDir,
}

impl Store {
    pub(crate) fn open(base: &Path, durability: Durability) -> Result<Store> {
        let dir = fresh_dir(base)?;
        let store =
            LmdbStore::open_with(dir.path(), StoreOptions::default().durability(durability))?;
        Ok(Store { store, _dir: dir })
    }

    /// A durable store filled quickly: written without syncs, then synced and reopened with
    /// the default durability, as a store restored from a backup would be.
    fn filled(base: &Path, fill: impl FnOnce(&LmdbStore) -> Result<()>) -> Result<Store> {
        let dir = fresh_dir(base)?;
        {
            let store = LmdbStore::open_with(
                dir.path(),
                StoreOptions::default().durability(Durability::NoSync),
            )?;
            fill(&store)?;
            store.sync()?;
        }
        let store = LmdbStore::open(dir.path())?;
        Ok(Store { store, _dir: dir })
    }
}

fn append(
    store: &LmdbStore,
    stream: &str,
    events: Vec<esdsl_runtime::store::NewEvent>,
) -> Result<()> {
    store.append(stream, ExpectedVersion::Any, events, &Metadata::default())?;
    Ok(())
}

/// Single-event appends spread over `threads` writers (each on its own 16 streams), every one
/// acknowledged after its commit.
pub(crate) fn appends(
    base: &Path,
    payloads: &[Vec<u8>],
    threads: usize,
    codec: Codec,
    durability: Durability,
    budget: Duration,
) -> Result<Sample> {
    let store = Store::open(base, durability)?;
    let (writers, per_writer) = share(payloads.len(), threads);
    measure::writers(
        writers,
        per_writer,
        Deadline::after(budget),
        |_| Ok(()),
        |(), t, n| {
            let payload = &payloads[t * per_writer + n];
            let stream = format!("Account-{t}-{}", n % 16);
            append(&store.store, &stream, vec![new_event(payload, codec, 3)])
        },
    )
}

/// Appends of `payloads.len()` events per call: to one stream, or (`spread`) one event to each
/// of that many streams picked at random among a pool pre-filled with one event each.
pub(crate) fn batches(
    base: &Path,
    payloads: &[Vec<u8>],
    batches: usize,
    spread: Option<usize>,
    codec: Codec,
    seed: u64,
    budget: Duration,
) -> Result<Sample> {
    let store = Store::open(base, Durability::Durable)?;
    let names: Vec<String> = (0..spread.unwrap_or(1))
        .map(|n| format!("Account-{n}"))
        .collect();
    if spread.is_some() {
        for chunk in names.chunks(1000) {
            let appends = chunk
                .iter()
                .map(|stream| StreamAppend {
                    stream: stream.clone(),
                    expected: ExpectedVersion::Any,
                    events: vec![new_event(&payloads[0], codec, 3)],
                })
                .collect();
            store.store.append_multi(appends, &Metadata::default())?;
        }
    }
    let mut rng = Rng::new(seed);
    timed_sample(batches, payloads.len(), Deadline::after(budget), |_| {
        match spread {
            None => append(
                &store.store,
                &names[0],
                payloads.iter().map(|p| new_event(p, codec, 3)).collect(),
            )?,
            Some(pool) => {
                let appends = rng
                    .distinct(payloads.len(), pool)
                    .into_iter()
                    .zip(payloads)
                    .map(|(stream, payload)| StreamAppend {
                        stream: names[stream].clone(),
                        expected: ExpectedVersion::Any,
                        events: vec![new_event(payload, codec, 3)],
                    })
                    .collect();
                store.store.append_multi(appends, &Metadata::default())?;
            }
        }
        Ok(())
    })
}

/// A store holding one aggregate with `payloads` (at `version`) as its events.
pub(crate) fn aggregate_store(
    base: &Path,
    payloads: &[Vec<u8>],
    codec: Codec,
    version: u32,
) -> Result<Store> {
    Store::filled(base, |store| {
        let stream = esdsl_runtime::store::stream_name(&account_id(0));
        for chunk in payloads.chunks(1000) {
            append(
                store,
                &stream,
                chunk.iter().map(|p| new_event(p, codec, version)).collect(),
            )?;
        }
        Ok(())
    })
}

/// `Repository::load` of the aggregate of [`aggregate_store`], repeated for `min_time`.
pub(crate) fn loads(store: &Store, codec: Codec, min_time: Duration) -> Result<Sample> {
    let repository = Repository::<Account>::new(store.store.clone())?.with_codec(codec);
    let id = account_id(0);
    repeat(min_time, 3, || Ok(repository.load(&id)?.state.events))
}

/// `read_stream` over the aggregate of [`aggregate_store`] without decoding: the store's share
/// of a load.
pub(crate) fn reads(store: &Store, min_time: Duration) -> Result<Sample> {
    let stream = esdsl_runtime::store::stream_name(&account_id(0));
    repeat(min_time, 3, || {
        let mut events = 0;
        for recorded in store
            .store
            .read_stream(&stream, 1, Direction::Forward, usize::MAX)?
        {
            std::hint::black_box(recorded?);
            events += 1;
        }
        Ok(events)
    })
}

/// Loads of an aggregate of `payloads.len()` events, full replay (`snapshot_at` `None`) or
/// from a snapshot at `snapshot_at` plus the tail after it. Events/s counts the whole
/// aggregate per load, so the two compare as load times.
pub(crate) fn snapshot_loads(
    base: &Path,
    payloads: &[Vec<u8>],
    snapshot_at: Option<usize>,
    min_time: Duration,
) -> Result<Sample> {
    let codec = Codec::Json;
    let store = Store::open(base, Durability::Durable)?;
    let id = account_id(0);
    let stream = esdsl_runtime::store::stream_name(&id);
    let fill = |from: usize, to: usize| -> Result<()> {
        for chunk in payloads[from..to].chunks(1000) {
            append(
                &store.store,
                &stream,
                chunk.iter().map(|p| new_event(p, codec, 3)).collect(),
            )?;
        }
        Ok(())
    };
    let plain = Repository::<Account>::new(store.store.clone())?.with_codec(codec);
    let snapshots = Repository::<Account>::new(store.store.clone())?
        .with_codec(codec)
        .with_snapshots(SnapshotPolicy::Every(1000));
    match snapshot_at {
        None => fill(0, payloads.len())?,
        Some(at) => {
            fill(0, at)?;
            // A load that replays at least `Every(n)` events writes a snapshot.
            snapshots.load(&id)?;
            fill(at, payloads.len())?;
        }
    }
    let repository = if snapshot_at.is_some() {
        &snapshots
    } else {
        &plain
    };
    let sample = repeat(min_time, 3, || {
        let loaded = repository.load(&id)?;
        anyhow::ensure!(
            loaded.version == payloads.len() as u64,
            "loaded version {}",
            loaded.version
        );
        Ok(loaded.version)
    })?;
    Ok(sample)
}

/// A store of `count` events in 1,000 streams, in appends of 1,000 events to one stream.
pub(crate) fn log_store(base: &Path, payloads: &[Vec<u8>], codec: Codec) -> Result<Store> {
    Store::filled(base, |store| {
        for (n, chunk) in payloads.chunks(1000).enumerate() {
            append(
                store,
                &format!("Account-{}", n % 1000),
                chunk.iter().map(|p| new_event(p, codec, 3)).collect(),
            )?;
        }
        Ok(())
    })
}

/// Counts events and sums deposits: the cheapest handler, so catch-up measures the runner.
#[derive(Debug, Default)]
struct Counting {
    events: u64,
    cents: i64,
}

impl Projection for Counting {
    type Event = AccountEvent;

    fn name(&self) -> &str {
        "bench-count"
    }
}

impl StoreProjection for Counting {
    fn apply(
        &mut self,
        _model: &mut ReadModel<'_>,
        event: &AccountEvent,
        _recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        if let AccountEvent::MoneyDeposited(deposit) = event {
            self.cents = self.cents.wrapping_add(deposit.amount_cents);
        }
        self.events += 1;
        Ok(())
    }
}

/// A `StoreRunner` catching up from 0 over the whole log, with the default options, or those
/// but the batch size.
pub(crate) fn runner_catch_up(
    store: &Store,
    expected: u64,
    batch_size: Option<usize>,
) -> Result<Sample> {
    let start = Instant::now();
    let options = match batch_size {
        Some(size) => ProjectionOptions::default().batch_size(size),
        None => ProjectionOptions::default(),
    };
    let mut runner = StoreRunner::new(store.store.clone(), Counting::default(), options)?;
    let report = runner.run_until_caught_up()?;
    let elapsed = start.elapsed();
    anyhow::ensure!(
        runner.projection().events == expected,
        "handled {} of {expected} (report {report:?})",
        runner.projection().events
    );
    Ok(Sample::new(report.handled, elapsed))
}

/// A `Subscription` visiting the whole log where it lies and decoding each event (no
/// checkpoint).
pub(crate) fn subscription_catch_up(store: &Store, expected: u64) -> Result<Sample> {
    let start = Instant::now();
    let mut subscription = Subscription::new(&store.store, 0, Filter::all());
    let mut state = Account::default();
    let mut failed = None;
    while subscription.visit_timeout(Duration::ZERO, |recorded| {
        match recorded.decode::<AccountEvent>() {
            Ok(Decoded::Event(event)) => esdsl_runtime::Aggregate::apply(&mut state, &event),
            Ok(_) => {}
            Err(error) => {
                failed = Some(error);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })? > 0
    {
        if let Some(error) = failed.take() {
            return Err(error.into());
        }
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(
        state.events == expected,
        "read {} of {expected}",
        state.events
    );
    Ok(Sample::new(state.events, elapsed))
}

/// Commands through `Repository::execute` (load, decide, append with the expected version),
/// `workers` threads at once, each on its own fresh aggregates (`growing` false: one command
/// per aggregate) or on one aggregate of its own that grows by one event per command.
pub(crate) fn commands(
    base: &Path,
    count: usize,
    workers: usize,
    growing: bool,
    codec: Codec,
    budget: Duration,
) -> Result<Sample> {
    let store = Store::open(base, Durability::Durable)?;
    let repository = Repository::<Account>::new(store.store.clone())?.with_codec(codec);
    // A growing aggregate must reach its size: only fresh aggregates stop at the deadline.
    let deadline = if growing {
        Deadline::never()
    } else {
        Deadline::after(budget)
    };
    let (workers, per_worker) = share(count, workers);
    measure::writers(
        workers,
        per_worker,
        deadline,
        |_| Ok(()),
        |(), w, n| {
            let id = if growing {
                account_id(w as u64)
            } else {
                account_id((w * per_worker + n) as u64)
            };
            repository
                .execute(&id, &Deposit(100 + n as i64))
                .context("executing a command")?;
            Ok(())
        },
    )
}

/// Commit-to-handler latency of a live subscription while one writer appends steadily (one
/// durable append every 2 ms). Latency runs from the moment the append is acknowledged to the
/// moment the subscriber has the event (0 when the subscriber had it first: the writer signals
/// subscribers right after the commit, before the appender wakes).
pub(crate) fn live_subscription(base: &Path, events: usize) -> Result<Sample> {
    let store = Store::open(base, Durability::Durable)?;
    let store = &store.store;
    let acked: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events + 1]));
    let received: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events + 1]));
    let payload = br#"{"amount_cents":1250,"memo":"salary"}"#;
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let subscriber = {
            let received = Arc::clone(&received);
            scope.spawn(move || -> Result<()> {
                let mut subscription = Subscription::new(store, 0, Filter::all());
                let mut seen = 0;
                while seen < events {
                    let Some(event) = subscription.next_timeout(Duration::from_secs(10))? else {
                        anyhow::bail!("the subscription stalled");
                    };
                    let at = Instant::now();
                    let mut received = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    if let Some(slot) = received.get_mut(event.position as usize) {
                        *slot = Some(at);
                    }
                    seen += 1;
                }
                Ok(())
            })
        };
        for n in 0..events {
            let next = started + Duration::from_millis(2 * n as u64);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let done = store.append(
                "Account-live",
                ExpectedVersion::Any,
                vec![new_event(payload, Codec::Json, 3)],
                &Metadata::default(),
            )?;
            let at = Instant::now();
            if let Some(position) = done.first_position {
                let mut acked = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                if let Some(slot) = acked.get_mut(position as usize) {
                    *slot = Some(at);
                }
            }
        }
        subscriber
            .join()
            .map_err(|_| anyhow::anyhow!("the subscriber panicked"))??;
        Ok(())
    })?;
    let elapsed = started.elapsed();
    let acked = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let received = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let latencies: Vec<f64> = acked
        .iter()
        .zip(received.iter())
        .filter_map(|(a, r)| Some(micros(r.as_ref()?.saturating_duration_since(*a.as_ref()?))))
        .collect();
    Ok(Sample::new(events as u64, elapsed).with_latencies(latencies))
}

/// How a hot-aggregate trial retries a command after a conflict.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Retrying {
    /// What `execute` did before backoff: retry at once, loading the aggregate in full again
    /// (written here with the public API, as the repository's loop was).
    Before,
    /// `RetryPolicy::immediate()`: at once, replaying only the events missed.
    Immediate,
    /// The default `RetryPolicy`: backoff with jitter, replaying only the events missed.
    Default,
    /// The default, with a snapshot every 50 events (each load starts from one).
    DefaultSnapshots,
}

/// Retries counted over a trial.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Retries {
    pub(crate) total: u64,
    pub(crate) most: u32,
}

/// The aggregates the 64 tasks share.
const HOT_AGGREGATES: u64 = 10;
/// The tasks.
const HOT_TASKS: usize = 64;
/// A command still conflicting after this many retries fails the trial.
const HOT_MAX_RETRIES: u32 = 1_000;

/// `commands` durable commands from 64 tokio tasks (a two-worker runtime, as on this machine)
/// on 10 aggregates, task `t` on aggregate `t % 10`; per-command latency, and the retries.
pub(crate) fn hot_aggregates(
    base: &Path,
    commands: usize,
    retrying: Retrying,
) -> Result<(Sample, Retries)> {
    let store = Store::open(base, Durability::Durable)?;
    let policy = match retrying {
        Retrying::Before | Retrying::Immediate => RetryPolicy::immediate(),
        Retrying::Default | Retrying::DefaultSnapshots => RetryPolicy::default(),
    }
    .with_max_retries(HOT_MAX_RETRIES);
    let snapshots = match retrying {
        Retrying::DefaultSnapshots => SnapshotPolicy::Every(50),
        _ => SnapshotPolicy::Never,
    };
    let repository = Repository::<Account>::new(store.store.clone())?
        .with_retry_policy(policy)
        .with_snapshots(snapshots);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let per_task = commands.div_ceil(HOT_TASKS);
    let started = Instant::now();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..HOT_TASKS)
            .map(|task| {
                let repository = repository.clone();
                tokio::spawn(async move {
                    let id = account_id(task as u64 % HOT_AGGREGATES);
                    let mut out = Vec::with_capacity(per_task);
                    for n in 0..per_task {
                        let command = Deposit(100 + n as i64);
                        let began = Instant::now();
                        let retries = match retrying {
                            Retrying::Before => execute_before(&repository, &id, &command).await?,
                            _ => repository.execute_async(&id, &command).await?.retries,
                        };
                        out.push((micros(began.elapsed()), retries));
                    }
                    anyhow::Ok(out)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(commands);
        for task in tasks {
            all.extend(task.await.context("a command task")??);
        }
        anyhow::Ok(all)
    })?;
    let elapsed = started.elapsed();
    let mut retries = Retries::default();
    for (_, count) in &results {
        retries.total += u64::from(*count);
        retries.most = retries.most.max(*count);
    }
    let latencies = results.iter().map(|(latency, _)| *latency).collect();
    let sample = Sample::new(results.len() as u64, elapsed).with_latencies(latencies);
    Ok((sample, retries))
}

/// A command the way `execute` ran it before backoff: load in full, handle, append at the
/// loaded version; on a conflict, at once from the start again. Returns the retries.
async fn execute_before(
    repository: &Repository<Account>,
    id: &crate::domain::AccountId,
    command: &Deposit,
) -> Result<u32> {
    let stream = stream_name(id);
    let mut retries = 0;
    loop {
        let loaded = repository.load_async(id).await?;
        let events = loaded
            .state
            .handle(command)
            .map_err(|never| match never {})?;
        let new = events
            .iter()
            .map(|event| NewEvent::encode(event, Codec::Json))
            .collect::<esdsl_runtime::Result<Vec<_>>>()?;
        let expected = ExpectedVersion::Exact(loaded.version);
        let appended = repository
            .store()
            .append_async(&stream, expected, new, &Metadata::default())
            .await;
        match appended {
            Ok(_) => return Ok(retries),
            Err(esdsl_runtime::Error::Conflict { .. }) if retries < HOT_MAX_RETRIES => {
                retries += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}
