//! Review probes: each test demonstrates a suspected bug (a failing test = bug confirmed).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::lmdb::{Durability, StoreOptions};
use esdsl_runtime::projection::{
    HandlerError, OnFailure, Projection, ProjectionOptions, ReadModel, Stop, StoreProjection,
    StoreRunner, Subscription,
};
use esdsl_runtime::store::{
    AppendResult, CatalogEntry, Direction, EventRef, EventStore, Events, ExpectedVersion, Filter,
    Metadata, NewEvent, Snapshot, StreamAppend, StreamInfo,
};
use esdsl_runtime::{Codec, Error, Result};

use crate::bank::AccountEvent;
use crate::projections::{Balances, fold, populate, view};

fn fresh() -> (tempfile::TempDir, LmdbStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    (dir, store)
}

fn ev(event_type: &str) -> NewEvent {
    NewEvent {
        event_type: event_type.to_owned().into(),
        schema_version: 1,
        codec: Codec::Json,
        payload: b"{}".to_vec(),
    }
}

/// A 400-byte stream name and a 255-byte type name both pass validation, but the catalog key
/// (category + NUL + type + NUL + u32) is 661 bytes, over LMDB's 511-byte key limit.
#[test]
fn names_at_their_limits_are_stored_or_refused_before_the_writer() {
    let (_dir, store) = fresh();
    // A 400-byte stream with a short category and a 255-byte type fit every key.
    let stream = format!("S-{}", "s".repeat(398));
    let result = store.append(
        &stream,
        ExpectedVersion::Any,
        vec![ev(&"T".repeat(255))],
        &Metadata::default(),
    );
    assert!(result.is_ok(), "valid names refused: {result:?}");
    // A 400-byte category with a 255-byte type would make a 661-byte catalog key.
    let result = store.append(
        &"S".repeat(400),
        ExpectedVersion::Any,
        vec![ev(&"T".repeat(255))],
        &Metadata::default(),
    );
    assert!(matches!(result, Err(Error::InvalidInput(_))), "{result:?}");
    assert!(store.verify().expect("verifies").is_ok());
}

/// ...and because the writer fails the whole group commit, it fails innocent appends batched
/// with it.
#[test]
fn one_bad_append_does_not_fail_others_in_its_batch() {
    let (_dir, store) = fresh();
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let innocent_failures = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            let failures = Arc::clone(&innocent_failures);
            scope.spawn(move || {
                barrier.wait();
                for n in 0..300 {
                    let r = store.append(
                        &format!("Good-{t}"),
                        ExpectedVersion::Any,
                        vec![ev("E")],
                        &Metadata::default(),
                    );
                    if let Err(e) = r {
                        if n < 3 {
                            eprintln!("innocent append failed: {e}");
                        }
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        let store = store.clone();
        let barrier = Arc::clone(&barrier);
        scope.spawn(move || {
            barrier.wait();
            for _ in 0..300 {
                let _ = store.append(
                    &"S".repeat(400),
                    ExpectedVersion::Any,
                    vec![ev(&"T".repeat(255))],
                    &Metadata::default(),
                );
            }
        });
    });
    let failed = innocent_failures.load(Ordering::SeqCst);
    assert_eq!(
        failed, 0,
        "{failed} innocent appends failed with the bad one's error"
    );
}

/// A store projection whose writes fill the map: the map should grow (docs: "MDB_MAP_FULL
/// never reaches callers", "a handler can run again ... when the map grows").
struct Fat;

impl Projection for Fat {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "fat"
    }
}

impl StoreProjection for Fat {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        _event: &AccountEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        model.put(
            recorded.position().to_string().as_bytes(),
            &vec![1u8; 256 * 1024],
        )?;
        Ok(())
    }
}

#[test]
fn a_full_map_in_a_store_projection_grows_instead_of_parking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions::default()
        .initial_map_size(2 << 20)
        .durability(Durability::NoSync);
    let store = LmdbStore::open_with(dir.path(), options).expect("opens");
    populate(&store, 2, 10);
    let mut runner = StoreRunner::new(
        store.clone(),
        Fat,
        ProjectionOptions::default()
            .max_attempts(2)
            .backoff(Duration::from_millis(1)),
    )
    .expect("runner");
    let result = runner.run_until_caught_up();
    assert!(result.is_ok(), "{result:?}");
}

/// Default `OnFailure::Stop`: the runner parks the event and leaves the checkpoint before it.
/// `replay_parked` applies it and removes it from the parked list, but does not move the
/// checkpoint: the next run applies it a second time.
#[test]
fn replaying_a_parked_event_under_stop_applies_it_once() {
    let (_dir, store) = fresh();
    populate(&store, 1, 3);
    let poisoned = Arc::new(AtomicBool::new(true));
    let projection = Balances {
        poison: Some(("d1".into(), Arc::clone(&poisoned))),
        strict_order: false,
        ..Balances::named("stop-replay")
    };
    let options = ProjectionOptions::default()
        .max_attempts(2)
        .backoff(Duration::from_millis(1));
    let mut runner = StoreRunner::new(store.clone(), projection, options).expect("runner");
    assert!(matches!(
        runner.run_until_caught_up(),
        Err(Error::ProjectionStopped { position: 3, .. })
    ));
    poisoned.store(false, Ordering::SeqCst);
    let replay = runner.replay_parked().expect("replays");
    assert_eq!(replay.handled, 1);
    runner.run_until_caught_up().expect("runs after the fix");
    assert_eq!(
        view(&store, "stop-replay"),
        fold(&store, 1),
        "event 3 applied twice"
    );
}

/// Partitioned workers with the old count, still running when a rebuild switches to a new
/// count, find no checkpoint of theirs in the new generation and re-apply their share of the
/// whole log (not only "their share of new events", as docs/projections.md says).
#[test]
fn an_old_worker_after_a_rebuild_does_not_reapply_history() {
    let (_dir, store) = fresh();
    populate(&store, 6, 5);
    let named = || Balances {
        strict_order: false,
        ..Balances::named("resize")
    };
    for index in 0..2 {
        StoreRunner::new(
            store.clone(),
            named(),
            ProjectionOptions::default().partition(index, 2),
        )
        .expect("runner")
        .run_until_caught_up()
        .expect("runs");
    }
    assert_eq!(view(&store, "resize"), fold(&store, 1));
    StoreRunner::new(store.clone(), named(), ProjectionOptions::default())
        .expect("runner")
        .rebuild(|_| {})
        .expect("rebuilds to one worker");
    assert_eq!(view(&store, "resize"), fold(&store, 1));
    // An old worker takes one more step after the switch (no new events at all): it must
    // stop, not re-apply its share of the log.
    let stray = StoreRunner::new(
        store.clone(),
        named(),
        ProjectionOptions::default().partition(0, 2),
    )
    .expect("runner")
    .run_until_caught_up();
    assert!(matches!(stray, Err(Error::InvalidInput(_))), "{stray:?}");
    assert_eq!(
        view(&store, "resize"),
        fold(&store, 1),
        "history applied twice"
    );
}

/// A store whose `read_all` iterator fails once, transiently, after the first event.
struct Flaky {
    inner: LmdbStore,
    fail_once: AtomicBool,
}

impl EventStore for Flaky {
    fn append_multi(&self, a: Vec<StreamAppend>, m: &Metadata) -> Result<Vec<AppendResult>> {
        self.inner.append_multi(a, m)
    }
    fn read_stream(&self, s: &str, f: u64, d: Direction, l: usize) -> Result<Events<'_>> {
        self.inner.read_stream(s, f, d, l)
    }
    fn read_all(&self, from: u64, filter: &Filter, limit: usize) -> Result<Events<'_>> {
        let mut events = self.inner.read_all(from, filter, limit)?;
        if self.fail_once.swap(false, Ordering::SeqCst) {
            let first = events.next();
            let error = Error::Io(std::io::Error::other("transient"));
            Ok(Box::new(
                first.into_iter().chain(std::iter::once(Err(error))),
            ))
        } else {
            Ok(events)
        }
    }
    fn stream_version(&self, s: &str) -> Result<Option<u64>> {
        self.inner.stream_version(s)
    }
    fn streams(&self) -> Result<Vec<StreamInfo>> {
        self.inner.streams()
    }
    fn head_position(&self) -> Result<u64> {
        self.inner.head_position()
    }
    fn catalog(&self) -> Result<Vec<CatalogEntry>> {
        self.inner.catalog()
    }
    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64> {
        self.inner.wait_for_commit(after, timeout)
    }
    fn load_checkpoint(&self, n: &str) -> Result<Option<u64>> {
        self.inner.load_checkpoint(n)
    }
    fn save_checkpoint(&self, n: &str, p: u64) -> Result<()> {
        self.inner.save_checkpoint(n, p)
    }
    fn save_snapshot(&self, s: &Snapshot) -> Result<()> {
        self.inner.save_snapshot(s)
    }
    fn load_snapshot(&self, s: &str, a: u64) -> Result<Option<Snapshot>> {
        self.inner.load_snapshot(s, a)
    }
}

#[test]
fn a_transient_read_error_does_not_make_a_subscription_skip_an_event() {
    let (_dir, store) = fresh();
    for n in 0..5 {
        store
            .append(
                "T-1",
                ExpectedVersion::Any,
                vec![ev("E")],
                &Metadata::default(),
            )
            .expect("appends");
        let _ = n;
    }
    let flaky = Flaky {
        inner: store.clone(),
        fail_once: AtomicBool::new(true),
    };
    let mut subscription = Subscription::new(&flaky, 0, Filter::all());
    let mut seen = Vec::new();
    loop {
        match subscription.next_timeout(Duration::from_millis(20)) {
            Ok(Some(event)) => seen.push(event.position),
            Ok(None) => break,
            Err(error) => eprintln!("error (retrying): {error}"),
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5], "an event was skipped");
}

#[test]
fn wait_for_commit_with_a_huge_timeout_does_not_panic() {
    let (_dir, store) = fresh();
    store
        .append(
            "T-1",
            ExpectedVersion::Any,
            vec![ev("E")],
            &Metadata::default(),
        )
        .expect("appends");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.wait_for_commit(0, Duration::MAX)
    }));
    assert!(
        outcome.is_ok(),
        "wait_for_commit(.., Duration::MAX) panicked"
    );
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut s = Subscription::new(&store, 1, Filter::all());
        // nothing after 1: would wait forever; only check the deadline arithmetic
        let _ = std::thread::spawn({
            let store = store.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                let _ = store.append(
                    "T-1",
                    ExpectedVersion::Any,
                    vec![ev("E")],
                    &Metadata::default(),
                );
            }
        });
        s.next_timeout(Duration::MAX).map(|e| e.map(|e| e.position))
    }));
    assert!(outcome.is_ok(), "next_timeout(Duration::MAX) panicked");
}

#[test]
fn stop_is_prompt() {
    let (_dir, store) = fresh();
    populate(&store, 1, 1);
    let stop = Stop::new(&store);
    let worker = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut runner = StoreRunner::new(
                store,
                Balances::named("stopper"),
                ProjectionOptions::default().on_failure(OnFailure::Skip),
            )
            .expect("runner");
            runner.run(&stop).expect("runs")
        })
    };
    // Caught up and idle, waiting for a commit (a wait times out after 500 ms).
    let deadline = Instant::now() + Duration::from_secs(60);
    while view(&store, "stopper") != fold(&store, 1) {
        assert!(Instant::now() < deadline, "the runner never caught up");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    let asked = Instant::now();
    stop.stop();
    worker.join().expect("joins");
    let took = asked.elapsed();
    println!("stop took {took:?}");
    // Well under the wait's 500 ms: the stop woke it.
    assert!(took < Duration::from_millis(300), "stop took {took:?}");
}

/// A store projection whose handler appends (a process manager, say): the handler runs inside
/// the runner's LMDB write transaction, the writer thread waits for that lock, the handler
/// waits for the writer: deadlock.
struct Emitter {
    store: LmdbStore,
}

impl Projection for Emitter {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "emitter"
    }
}

impl StoreProjection for Emitter {
    fn apply(
        &mut self,
        _model: &mut ReadModel<'_>,
        _event: &AccountEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        self.store.append(
            &format!("Audit-{}", recorded.position()),
            ExpectedVersion::Any,
            vec![ev("Seen")],
            &Metadata::default(),
        )?;
        Ok(())
    }
}

#[test]
fn a_handler_that_appends_does_not_deadlock() {
    let (_dir, store) = fresh();
    populate(&store, 1, 0);
    let (done, finished) = std::sync::mpsc::channel();
    {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut runner = StoreRunner::new(
                store.clone(),
                Emitter { store },
                ProjectionOptions::default(),
            )
            .expect("runner");
            let _ = done.send(runner.run_until_caught_up().map(|r| r.handled));
        });
    }
    let outcome = finished.recv_timeout(Duration::from_secs(30));
    assert!(outcome.is_ok(), "the runner is deadlocked: {outcome:?}");
}

/// One damaged record of an aggregate this projection does not even read stops it for good.
struct LongKeys(String);

impl Projection for LongKeys {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        &self.0
    }
}

impl StoreProjection for LongKeys {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        _event: &AccountEvent,
        _recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        let longest = vec![b'k'; model.max_key_len()];
        model.put(&longest, b"v")?;
        let refused = model.put(&[longest.as_slice(), b"k"].concat(), b"v");
        if !matches!(refused, Err(esdsl_runtime::Error::InvalidInput(_))) {
            return Err(format!("a key over the limit was not refused: {refused:?}").into());
        }
        Ok(())
    }
}

#[test]
fn the_longest_read_model_key_is_accepted_and_a_longer_one_refused() {
    let (_dir, store) = fresh();
    populate(&store, 1, 0);
    let mut runner = StoreRunner::new(
        store,
        LongKeys("p".repeat(200)),
        ProjectionOptions::default()
            .max_attempts(1)
            .backoff(Duration::from_millis(1)),
    )
    .expect("a 200-byte name is valid");
    let result = runner.run_until_caught_up();
    assert!(result.is_ok(), "{result:?}");
}

const GROW_JOB: &str = "ESDSL_REVIEW_GROW_CHILD";

#[test]
#[ignore = "child"]
fn grow_child() {
    let Ok(dir) = std::env::var(GROW_JOB) else {
        return;
    };
    let options = StoreOptions::default()
        .initial_map_size(1 << 20)
        .durability(Durability::NoSync);
    let store = LmdbStore::open_with(&dir, options).expect("child opens");
    for batch in 0..16 {
        let events = (0..32)
            .map(|_| NewEvent {
                payload: format!("\"{}\"", "x".repeat(16 * 1024)).into_bytes(),
                ..ev("Blob")
            })
            .collect();
        store
            .append(
                &format!("Blob-{batch}"),
                ExpectedVersion::Any,
                events,
                &Metadata::default(),
            )
            .expect("child appends");
    }
}

#[test]
fn another_process_growing_the_map_is_adopted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions::default()
        .initial_map_size(1 << 20)
        .durability(Durability::NoSync);
    let store = LmdbStore::open_with(dir.path(), options).expect("opens");
    store
        .append(
            "P-1",
            ExpectedVersion::Any,
            vec![ev("E")],
            &Metadata::default(),
        )
        .expect("appends");
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--ignored",
            "--exact",
            "regressions::grow_child",
            "--test-threads=1",
        ])
        .env(GROW_JOB, dir.path())
        .status()
        .expect("runs child");
    assert!(status.success());
    let all = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .count();
    assert_eq!(all, 1 + 16 * 32);
    store
        .append(
            "P-1",
            ExpectedVersion::Any,
            vec![ev("E")],
            &Metadata::default(),
        )
        .expect("appends after growth");
    let report = store.verify().expect("verifies");
    assert!(
        report.is_ok(),
        "{:?}",
        &report.violations[..report.violations.len().min(3)]
    );
    println!(
        "map after: {:?}",
        std::fs::metadata(dir.path().join("data.mdb")).map(|m| m.len())
    );
}

/// `save_snapshot` does not validate the stream name; a name with a NUL lands inside another
/// stream's key range, and `load_snapshot` hands it out with a version above `at_most`.
#[test]
fn load_snapshot_never_returns_another_streams_snapshot() {
    use crate::bank::{Account, AccountId, Command};
    use esdsl_runtime::store::stream_name;
    use esdsl_runtime::{Repository, SnapshotPolicy, state_fingerprint};
    let (_dir, store) = fresh();
    let accounts = Repository::<Account>::new(store.clone())
        .expect("opens")
        .with_snapshots(SnapshotPolicy::Every(100));
    let id = AccountId::now_v7();
    accounts.execute(&id, &Command::Open).expect("opens");
    let stream = stream_name(&id);
    let mut forged = stream.clone().into_bytes();
    forged.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let refused = store.save_snapshot(&Snapshot {
        stream: String::from_utf8(forged).expect("utf-8"),
        version: 7,
        fingerprint: state_fingerprint::<Account>(),
        state: postcard::to_stdvec(&Account {
            open: true,
            balance: 999,
            memos: vec![],
        })
        .expect("encodes"),
    });
    assert!(
        matches!(refused, Err(Error::InvalidInput(_))),
        "a NUL in a snapshot's stream name: {refused:?}"
    );
    // A snapshot above `at_most` is never returned.
    store
        .save_snapshot(&Snapshot {
            stream: stream.clone(),
            version: 7,
            fingerprint: state_fingerprint::<Account>(),
            state: postcard::to_stdvec(&Account {
                open: true,
                balance: 999,
                memos: vec![],
            })
            .expect("encodes"),
        })
        .expect("writes");
    let got = store.load_snapshot(&stream, 1).expect("reads");
    println!("load_snapshot({stream}, at_most 1) = {got:?}");
    let loaded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| accounts.load_at(&id, 1)));
    assert!(
        got.is_none(),
        "another stream's snapshot, version above at_most; load_at panicked: {}",
        loaded.is_err()
    );
}
