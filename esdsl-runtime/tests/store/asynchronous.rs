//! The async API in a tokio runtime: nothing blocks an executor thread, loads and time travel
//! agree with the sync API, and a retry after a conflict stays correct.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::future::Future;
use std::ops::ControlFlow;

use esdsl_runtime::lmdb::{Durability, LmdbStore, StoreOptions};
use esdsl_runtime::store::{
    AppendResult, AsyncEventStore, CatalogEntry, Direction, EventRef, EventStore, Events,
    ExpectedVersion, Filter, Metadata, NewEvent, Snapshot, StreamAppend, StreamInfo, stream_name,
};
use esdsl_runtime::{Repository, SnapshotPolicy};

use crate::bank::{Account, AccountId, Command};

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
/// machine's scheduler, so a real slow disk is stood in for). Everything else is the store's.
#[derive(Clone)]
struct SlowDisk(LmdbStore);

impl EventStore for SlowDisk {
    fn append_multi(
        &self,
        appends: Vec<StreamAppend>,
        metadata: &Metadata,
    ) -> esdsl_runtime::Result<Vec<AppendResult>> {
        self.0.append_multi(appends, metadata)
    }
    fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> esdsl_runtime::Result<Events<'_>> {
        self.0.read_stream(stream, from, direction, limit)
    }
    fn replay_stream(
        &self,
        stream: &str,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(EventRef<'_>) -> esdsl_runtime::Result<ControlFlow<()>>,
    ) -> esdsl_runtime::Result<()> {
        self.0.replay_stream(stream, from, limit, visit)
    }
    fn read_all(&self, from: u64, filter: &Filter, limit: usize) -> esdsl_runtime::Result<Events<'_>> {
        self.0.read_all(from, filter, limit)
    }
    fn replay_all(
        &self,
        from: u64,
        filter: &Filter,
        limit: usize,
        visit: &mut dyn FnMut(EventRef<'_>) -> esdsl_runtime::Result<ControlFlow<()>>,
    ) -> esdsl_runtime::Result<()> {
        self.0.replay_all(from, filter, limit, visit)
    }
    fn stream_version(&self, stream: &str) -> esdsl_runtime::Result<Option<u64>> {
        self.0.stream_version(stream)
    }
    fn streams(&self) -> esdsl_runtime::Result<Vec<StreamInfo>> {
        self.0.streams()
    }
    fn head_position(&self) -> esdsl_runtime::Result<u64> {
        self.0.head_position()
    }
    fn catalog(&self) -> esdsl_runtime::Result<Vec<CatalogEntry>> {
        self.0.catalog()
    }
    fn wait_for_commit(&self, after: u64, timeout: Duration) -> esdsl_runtime::Result<u64> {
        self.0.wait_for_commit(after, timeout)
    }
    fn load_checkpoint(&self, name: &str) -> esdsl_runtime::Result<Option<u64>> {
        self.0.load_checkpoint(name)
    }
    fn save_checkpoint(&self, name: &str, position: u64) -> esdsl_runtime::Result<()> {
        self.0.save_checkpoint(name, position)
    }
    fn save_snapshot(&self, snapshot: &Snapshot) -> esdsl_runtime::Result<()> {
        std::thread::sleep(SYNC);
        self.0.save_snapshot(snapshot)
    }
    fn load_snapshot(&self, stream: &str, at_most: u64) -> esdsl_runtime::Result<Option<Snapshot>> {
        self.0.load_snapshot(stream, at_most)
    }
}

/// A synchronous backend made async by the trait's defaults, but for the append: LMDB's own,
/// which awaits the group commit.
impl AsyncEventStore for SlowDisk {
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
    let store = SlowDisk(LmdbStore::open_with(dir.path(), options).expect("opens"));
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
        accounts.execute_async(&id, &Command::Open).await.expect("opens");
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

        assert_eq!(accounts.load_async(&id).await.expect("loads"), accounts.load(&id).expect("loads"));
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
        assert_eq!(store.stream_version_async(&stream).await.expect("reads"), Some(9));
        assert_eq!(store.head_position_async().await.expect("reads"), 9);
    });
}

