//! The async API in a tokio runtime: nothing blocks an executor thread, loads and time travel
//! agree with the sync API, and a retry after a conflict stays correct.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::future::Future;

use esdsl_runtime::lmdb::{Durability, LmdbStore, StoreOptions};
use esdsl_runtime::projection::{
    ExternalRunner, ProjectionOptions, ReadModelView, RunnerTask, Stop, StoreRunner, StoreStatus,
    Subscription, SubscriptionStream, projection_checkpoint, wait_for_checkpoint,
    wait_for_checkpoint_async,
};
use esdsl_runtime::store::{
    AppendResult, AsyncEventStore, Direction, EventStore, ExpectedVersion, Filter, Metadata,
    NewEvent, RecordedEvent, stream_name,
};
use esdsl_runtime::{Repository, SnapshotPolicy};
use futures_core::Stream;

use crate::bank::{Account, AccountId, Command};
use crate::projections::{Balances, Envelopes, Line};
use crate::store::DefaultReplay;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// For each command, the largest gap between the ticks of a task that only yields: on a
/// current-thread runtime any synchronous store work inside a command stops the ticker for its
/// whole length, while the time spent awaiting work done elsewhere leaves it ticking.
async fn ticker_gaps(commands: usize, mut command: impl AsyncFnMut(usize)) -> Vec<Duration> {
    let largest = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let done = Arc::new(AtomicBool::new(false));
    let ticker = tokio::spawn({
        let (largest, done) = (Arc::clone(&largest), Arc::clone(&done));
        async move {
            let mut last = Instant::now();
            while !done.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
                let now = Instant::now();
                let mut largest = largest.lock().expect("not poisoned");
                *largest = (*largest).max(now - last);
                last = now;
            }
        }
    });
    let mut gaps = Vec::with_capacity(commands);
    for n in 0..commands {
        // Let the ticker run first, so that its gaps start with the command.
        tokio::task::yield_now().await;
        *largest.lock().expect("not poisoned") = Duration::ZERO;
        command(n).await;
        // And after: a stall at the command's end shows at the ticker's next tick.
        tokio::task::yield_now().await;
        gaps.push(*largest.lock().expect("not poisoned"));
    }
    done.store(true, Ordering::SeqCst);
    ticker.await.expect("the ticker");
    gaps.sort_unstable();
    gaps
}

/// How long a snapshot's write takes on [`SlowDisk`].
const SYNC: Duration = Duration::from_millis(200);

/// The LMDB store on a disk whose syncs are slow: a snapshot's write takes [`SYNC`] longer
/// (this machine's disk syncs in well under a millisecond, below the noise of a shared
/// machine's scheduler, so a slow disk is stood in for). A synchronous backend made async by
/// the trait's defaults, but for the append: LMDB's own, which awaits the group commit.
type SlowDisk = DefaultReplay;

impl AsyncEventStore for DefaultReplay {
    fn append_async(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> impl Future<Output = esdsl_runtime::Result<AppendResult>> + Send {
        self.0.append_async(stream, expected, events, metadata)
    }
}

/// With a snapshot every event and durable commits, each `execute_async` awaits a group
/// commit and then writes a snapshot (a write transaction with its syncs, [`SYNC`] long on
/// [`SlowDisk`]). Done on the executor thread, that write would stop the ticker for all of it;
/// done off it, the ticker only ever waits for the aggregate's own work and the machine's
/// scheduler. (With the snapshot written on the executor, as `execute_async` did before, this
/// test fails: the typical gap is then about [`SYNC`].)
#[test]
fn execute_async_never_blocks_the_executor_even_when_it_snapshots_and_syncs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions::default().durability(Durability::Durable);
    let store: SlowDisk = DefaultReplay(
        LmdbStore::open_with(dir.path(), options).expect("opens"),
        SYNC,
    );
    let accounts = Repository::<Account, SlowDisk>::new(store)
        .expect("opens")
        .with_snapshots(SnapshotPolicy::Every(1));
    let id = AccountId::now_v7();
    let gaps = current_thread().block_on(ticker_gaps(8, async |n| {
        let command = match n {
            0 => Command::Open,
            n => Command::Deposit(i64::try_from(n).expect("small"), None),
        };
        let done = accounts
            .execute_async(&id, &command)
            .await
            .expect("executes");
        assert_eq!(done.position, u64::try_from(n).expect("small") + 1);
    }));
    let typical = gaps[gaps.len() / 2];
    assert!(
        typical < SYNC / 3,
        "the executor stalled {typical:?} in a typical command (all: {gaps:?})"
    );
    // Every command landed and every snapshot was written.
    let loaded = accounts.load(&id).expect("loads");
    assert_eq!((loaded.version, loaded.state.balance), (8, 28));
    let snapshot = accounts
        .store()
        .load_snapshot(&stream_name(&id), u64::MAX)
        .expect("reads")
        .expect("written");
    assert_eq!(snapshot.version, 8);
}

/// Loads, time travel and stream reads off the executor give what the sync API gives.
#[test]
fn async_loads_and_reads_agree_with_the_sync_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let accounts = Repository::<Account>::new(store)
        .expect("opens")
        .with_snapshots(SnapshotPolicy::Every(3));
    let id = AccountId::now_v7();
    current_thread().block_on(async {
        accounts
            .execute_async(&id, &Command::Open)
            .await
            .expect("opens");
        for n in 1..=7 {
            accounts
                .execute_async(&id, &Command::Deposit(n, None))
                .await
                .expect("deposits");
        }
        let middle = chrono::Utc::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        accounts
            .execute_async(&id, &Command::Withdraw(10))
            .await
            .expect("withdraws");
        let refused = accounts
            .execute_async(&id, &Command::Withdraw(1_000))
            .await
            .expect_err("overdraft");
        assert!(refused.is_refused() && !refused.is_conflict(), "{refused}");

        assert_eq!(
            accounts.load_async(&id).await.expect("loads"),
            accounts.load(&id).expect("loads")
        );
        let at = accounts.load_at_async(&id, 4).await.expect("loads");
        assert_eq!(at, accounts.load_at(&id, 4).expect("loads"));
        assert_eq!((at.version, at.state.balance), (4, 6));
        let then = accounts.load_as_of_async(&id, middle).await.expect("loads");
        assert_eq!((then.version, then.state.balance), (8, 28));

        let store = accounts.store();
        let stream = stream_name(&id);
        let read = store
            .read_stream_async(&stream, 1, Direction::Forward, 100)
            .await
            .expect("reads");
        let sync: Vec<_> = store
            .read_stream(&stream, 1, Direction::Forward, 100)
            .expect("reads")
            .collect::<Result<_, _>>()
            .expect("reads");
        assert_eq!(read, sync);
        assert_eq!(
            store.stream_version_async(&stream).await.expect("reads"),
            Some(9)
        );
        assert_eq!(store.head_position_async().await.expect("reads"), 9);
    });
}

fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The next item of a stream (what `StreamExt::next` does).
async fn next<T: Stream + Unpin>(stream: &mut T) -> Option<T::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// A runner of the bank's `balances` projection.
fn balances(store: &LmdbStore) -> StoreRunner<Balances, LmdbStore> {
    StoreRunner::new(
        store.clone(),
        Balances::named("balances"),
        ProjectionOptions::default(),
    )
    .expect("runner")
}

/// The `balances` projection, spawned as a task.
fn spawn_balances(store: &LmdbStore, stop: &Stop) -> RunnerTask {
    balances(store).spawn(stop)
}

/// The next event of a subscription stream, which must have one.
async fn next_event(stream: &mut SubscriptionStream<LmdbStore>) -> RecordedEvent {
    next(stream).await.expect("an event").expect("reads")
}

fn nosync_store() -> (tempfile::TempDir, LmdbStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions::default().durability(Durability::NoSync);
    let store = LmdbStore::open_with(dir.path(), options).expect("opens");
    (dir, store)
}

/// Read-your-writes under load: 1,000 commands from 16 tasks while the projection runs as a
/// task; after each, a wait for the command's position, then a read of the read model, which
/// must show the command's version of its account. Without the wait some reads are stale.
#[test]
fn read_your_writes_under_load_with_the_wait_is_never_stale() {
    let (_dir, store) = nosync_store();
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let view = ReadModelView::new(&store, "balances");
    let stop = Stop::new(&store);
    let (stale, stale_without_wait) = multi_thread(2).block_on(async {
        let runner = spawn_balances(&store, &stop);
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let (accounts, view) = (accounts.clone(), view.clone());
                tokio::spawn(async move {
                    let id = AccountId::now_v7();
                    let (mut stale, mut stale_without_wait) = (0, 0);
                    for n in 0..63 {
                        let command = if n == 0 {
                            Command::Open
                        } else {
                            Command::Deposit(n, None)
                        };
                        let done = accounts
                            .execute_async(&id, &command)
                            .await
                            .expect("executes");
                        let stream = stream_name(&id);
                        // Every fourth command reads before waiting, to show what the wait is for.
                        if (n + task) % 4 == 0 {
                            let line: Option<Line> =
                                view.get_json_async(&stream).await.expect("reads");
                            if line.is_none_or(|line| line.last_version < done.version) {
                                stale_without_wait += 1;
                            }
                        }
                        let reached = wait_for_checkpoint_async(
                            accounts.store(),
                            "balances",
                            done.position,
                            Duration::from_secs(10),
                        )
                        .await
                        .expect("waits");
                        assert!(reached, "the projection reached {}", done.position);
                        let line: Option<Line> = view.get_json_async(&stream).await.expect("reads");
                        if line.is_none_or(|line| line.last_version < done.version) {
                            stale += 1;
                        }
                    }
                    (stale, stale_without_wait)
                })
            })
            .collect();
        let (mut stale, mut stale_without_wait) = (0, 0);
        for task in tasks {
            let (s, w) = task.await.expect("the task");
            stale += s;
            stale_without_wait += w;
        }
        stop.stop();
        runner.await.expect("the runner").expect("runs");
        (stale, stale_without_wait)
    });
    assert_eq!(store.head_position().expect("reads"), 16 * 63);
    assert_eq!(stale, 0, "stale reads of 1,008 after the wait");
    eprintln!("reads before the wait that were stale: {stale_without_wait} of 252");
}

/// The sync wait, from a thread, against a runner on another thread.
#[test]
fn the_sync_wait_sees_the_runner_reach_a_position() {
    let (_dir, store) = nosync_store();
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let id = AccountId::now_v7();
    let done = accounts.execute(&id, &Command::Open).expect("opens");
    assert!(
        !wait_for_checkpoint(&store, "balances", done.position, Duration::from_millis(20))
            .expect("waits")
    );
    let stop = Stop::new(&store);
    let runner = std::thread::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        move || balances(&store).run(&stop)
    });
    for n in 1..=20 {
        let done = accounts
            .execute(&id, &Command::Deposit(n, None))
            .expect("deposits");
        assert!(
            wait_for_checkpoint(&store, "balances", done.position, Duration::from_secs(10))
                .expect("waits")
        );
        let line: Line = ReadModelView::new(&store, "balances")
            .get_json(&stream_name(&id))
            .expect("reads")
            .expect("written");
        assert_eq!(line.last_version, done.version);
    }
    assert_eq!(
        projection_checkpoint(&store, "balances").expect("reads"),
        21
    );
    stop.stop();
    runner.join().expect("the runner").expect("runs");
}

/// Asked to stop, an idle runner task (store and external), a waiting subscription stream and a
/// dropped one end within 50 ms, though their waits would last 10 s: the stop wakes them.
#[test]
fn runners_and_subscriptions_stop_within_50_ms_of_being_asked() {
    let (_dir, store) = nosync_store();
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    accounts
        .execute(&AccountId::now_v7(), &Command::Open)
        .expect("opens");
    let stop = Stop::new(&store);
    multi_thread(2).block_on(async {
        let store_runner = spawn_balances(&store, &stop);
        let external = ExternalRunner::new(
            store.clone(),
            Envelopes(Vec::new()),
            ProjectionOptions::default(),
        )
        .expect("runner")
        .spawn(&stop);
        let mut live = SubscriptionStream::new(store.clone(), 0, Filter::all()).until(&stop);
        assert_eq!(next_event(&mut live).await.position, 1);
        let subscriber = tokio::spawn(async move { next(&mut live).await.is_none() });
        // Everyone is caught up and waiting.
        assert!(
            wait_for_checkpoint_async(&store, "balances", 1, Duration::from_secs(10))
                .await
                .expect("waits")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;

        // And a synchronous subscription, on a thread of its own.
        let blocking = std::thread::spawn({
            let (store, stop) = (store.clone(), stop.clone());
            move || {
                let mut subscription = Subscription::new(&store, 1, Filter::all()).until(&stop);
                let next = subscription.next_timeout(Duration::from_secs(10));
                (next.expect("reads").is_none(), Instant::now())
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;

        let asked = Instant::now();
        stop.stop();
        store_runner.await.expect("the task").expect("runs");
        external.await.expect("the task").expect("runs");
        assert!(subscriber.await.expect("the task"), "the stream ended");
        let took = asked.elapsed();
        assert!(took < Duration::from_millis(50), "stopped after {took:?}");
        let (ended, at) = blocking.join().expect("the thread");
        assert!(ended, "the subscription returned nothing");
        let took = at - asked;
        assert!(
            took < Duration::from_millis(50),
            "the subscription stopped after {took:?}"
        );

        // A stream dropped while it waits ends its wait on the blocking pool too: the
        // runtime's shutdown below would otherwise wait for it.
        let mut dropped = SubscriptionStream::new(store.clone(), 1, Filter::all());
        let waiting = tokio::time::timeout(Duration::from_millis(20), next(&mut dropped)).await;
        assert!(waiting.is_err(), "nothing new to read");
        drop(dropped);
    });
}

/// `tokio::spawn(async move { runner.run(&stop) })` on a multi-threaded runtime does not take
/// the worker: the runner moves itself off it, and other tasks keep running.
#[test]
fn a_blocking_run_on_a_worker_thread_moves_itself_off_the_executor() {
    let (_dir, store) = nosync_store();
    let stop = Stop::new(&store);
    let ticks = multi_thread(1).block_on(async {
        let runner = tokio::spawn({
            let (store, stop) = (store.clone(), stop.clone());
            async move { balances(&store).run(&stop) }
        });
        let ticker = tokio::spawn(async {
            let mut ticks = 0;
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks += 1;
            }
            ticks
        });
        let ticks = tokio::time::timeout(Duration::from_secs(5), ticker)
            .await
            .expect("the ticker was not starved")
            .expect("the ticker");
        stop.stop();
        runner.await.expect("the task").expect("runs");
        ticks
    });
    assert_eq!(ticks, 20);
}

/// A subscription stream catches up, then follows commits, in order, and pages of a read model
/// come back typed.
#[test]
fn a_subscription_stream_catches_up_then_follows_and_read_models_page() {
    let (_dir, store) = nosync_store();
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let ids: Vec<AccountId> = (0..5).map(|_| AccountId::now_v7()).collect();
    for id in &ids {
        accounts.execute(id, &Command::Open).expect("opens");
    }
    multi_thread(2).block_on(async {
        let mut live = SubscriptionStream::new(store.clone(), 0, Filter::all());
        for position in 1..=5 {
            assert_eq!(next_event(&mut live).await.position, position);
        }
        let writer = tokio::spawn({
            let (accounts, id) = (accounts.clone(), ids[0]);
            async move {
                for n in 1..=3 {
                    accounts
                        .execute_async(&id, &Command::Deposit(n, None))
                        .await
                        .expect("deposits");
                }
            }
        });
        for position in 6..=8 {
            let event = next_event(&mut live).await;
            assert_eq!(
                (event.position, event.event_type.as_ref()),
                (position, "MoneyDeposited")
            );
        }
        writer.await.expect("the writer");
        assert_eq!(live.position(), 8);

        let mut runner = balances(&store);
        tokio::task::spawn_blocking(move || runner.run_until_caught_up())
            .await
            .expect("the task")
            .expect("runs");
        let view = ReadModelView::new(&store, "balances");
        let first = view.page_json_async::<Line>(None, 3).await.expect("reads");
        assert_eq!(first.entries.len(), 3);
        let rest = view
            .page_json_async::<Line>(first.next.as_deref(), 3)
            .await
            .expect("reads");
        assert_eq!((rest.entries.len(), rest.next), (2, None));
        let total: i64 = first
            .entries
            .iter()
            .chain(&rest.entries)
            .map(|(_, line)| line.balance)
            .sum();
        assert_eq!(total, 6);
        let status = StoreStatus::of_async(&store).await.expect("reads");
        assert_eq!(status.head, 8);
    });
}
