//! Projections: exactly-once read models, at-least-once sinks, partitions, rebuilds, parking.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{
    ExternalProjection, ExternalRunner, HandlerError, OnFailure, Progress, Projection,
    ProjectionKind, ProjectionOptions, ProjectionStatus, ReadModel, ReadModelView, Stop,
    StoreProjection, StoreRunner, StoreStatus, Subscription,
};
use esdsl_runtime::store::{EventRef, EventStore, Filter, Metadata, RecordedEvent};
use esdsl_runtime::{Error, Repository};

use crate::bank::{Account, AccountEvent, AccountId, Command};

/// Per stream: balance, events seen, last version (to check per-stream order).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Line {
    pub(crate) balance: i64,
    pub(crate) events: u64,
    pub(crate) last_version: u64,
}

/// Balances per stream, kept in the store: exactly once.
pub(crate) struct Balances {
    pub(crate) name: String,
    /// Multiplies amounts (a rebuild with another factor shows which generation serves).
    pub(crate) factor: i64,
    /// Fails on deposits with this memo while set.
    pub(crate) poison: Option<(String, Arc<AtomicBool>)>,
    /// Fails an event that does not follow the last one of its stream.
    pub(crate) strict_order: bool,
    /// Sleeps in the first `apply` (inside the write transaction), to widen races.
    pub(crate) slow_start: Option<Duration>,
    /// Sleeps in every `apply`.
    pub(crate) slow_each: Option<Duration>,
    /// Fails once at this position, after writing to the read model (then cleared).
    pub(crate) fail_once_at: Option<u64>,
}

impl Balances {
    pub(crate) fn named(name: &str) -> Balances {
        Balances {
            name: name.into(),
            factor: 1,
            poison: None,
            strict_order: true,
            slow_start: None,
            slow_each: None,
            fail_once_at: None,
        }
    }
}

impl Projection for Balances {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        &self.name
    }
}

impl StoreProjection for Balances {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        event: &AccountEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        if let Some(pause) = self.slow_start.take().or(self.slow_each) {
            std::thread::sleep(pause);
        }
        if self.fail_once_at == Some(recorded.position()) {
            self.fail_once_at = None;
            model.put_json("failed-write", &true)?;
            return Err("transient".into());
        }
        let mut line: Line = model.get_json(recorded.stream())?.unwrap_or_default();
        if self.strict_order && recorded.version() != line.last_version + 1 {
            return Err(format!(
                "{} out of order: v{} after v{}",
                recorded.stream(),
                recorded.version(),
                line.last_version
            )
            .into());
        }
        match event {
            AccountEvent::MoneyDeposited(e) => {
                if let Some((memo, active)) = &self.poison
                    && active.load(Ordering::SeqCst)
                    && e.memo.as_deref() == Some(memo.as_str())
                {
                    // Write first, then fail: the write must roll back.
                    model.put_json("poisoned-write", &true)?;
                    return Err("poisoned deposit".into());
                }
                line.balance += e.amount_cents * self.factor;
            }
            AccountEvent::MoneyWithdrawn(e) => line.balance -= e.amount_cents * self.factor,
            _ => {}
        }
        line.events += 1;
        line.last_version = recorded.version();
        model.put_json(recorded.stream(), &line)?;
        Ok(())
    }
}

/// The read model a projection should hold: a fold over the log.
pub(crate) fn fold(store: &LmdbStore, factor: i64) -> BTreeMap<String, Line> {
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for recorded in store
        .read_all(1, &Filter::aggregate("Account"), usize::MAX)
        .expect("starts")
    {
        let recorded = recorded.expect("reads");
        let line = lines.entry(recorded.stream.clone()).or_default();
        if let Some(event) = recorded
            .decode::<AccountEvent>()
            .expect("decodes")
            .into_event()
        {
            match event {
                AccountEvent::MoneyDeposited(e) => line.balance += e.amount_cents * factor,
                AccountEvent::MoneyWithdrawn(e) => line.balance -= e.amount_cents * factor,
                _ => {}
            }
        }
        line.events += 1;
        line.last_version = recorded.version;
    }
    lines
}

pub(crate) fn view(store: &LmdbStore, name: &str) -> BTreeMap<String, Line> {
    ReadModelView::new(store, name)
        .entries()
        .expect("reads")
        .into_iter()
        .filter(|(key, _)| key.starts_with(b"Account-"))
        .map(|(key, value)| {
            (
                String::from_utf8(key).expect("utf-8"),
                serde_json::from_slice(&value).expect("json"),
            )
        })
        .collect()
}

/// Appends `streams` accounts with `deposits` deposits each; returns the ids.
pub(crate) fn populate(store: &LmdbStore, streams: usize, deposits: usize) -> Vec<AccountId> {
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let ids: Vec<AccountId> = (0..streams).map(|_| AccountId::now_v7()).collect();
    for id in &ids {
        accounts.execute(id, &Command::Open).expect("opens");
    }
    for n in 0..deposits {
        for id in &ids {
            accounts
                .execute(id, &Command::Deposit(n as i64 + 1, Some(format!("d{n}"))))
                .expect("deposits");
        }
    }
    ids
}

fn fresh() -> (tempfile::TempDir, LmdbStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    (dir, store)
}

#[test]
fn a_store_projection_equals_a_fold_over_the_log() {
    let (_dir, store) = fresh();
    populate(&store, 5, 20);
    let mut runner = StoreRunner::new(
        store.clone(),
        Balances::named("balances"),
        ProjectionOptions::default().batch_size(7),
    )
    .expect("runner");
    let report = runner.run_until_caught_up().expect("runs");
    assert_eq!(report.handled, 5 * 21);
    assert_eq!(report.checkpoint, store.head_position().expect("reads"));
    assert_eq!(view(&store, "balances"), fold(&store, 1));
    // Running again handles nothing: exactly once.
    assert_eq!(runner.run_until_caught_up().expect("runs").handled, 0);
    assert_eq!(view(&store, "balances"), fold(&store, 1));
}

/// Keeps every envelope a handler is handed, owned.
pub(crate) struct Envelopes(pub(crate) Vec<RecordedEvent>);

impl Projection for Envelopes {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "envelopes"
    }
}

impl StoreProjection for Envelopes {
    fn apply(
        &mut self,
        _model: &mut ReadModel<'_>,
        _event: &AccountEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        self.0.push(recorded.to_recorded());
        Ok(())
    }
}

impl ExternalProjection for Envelopes {
    fn apply(&mut self, _event: &AccountEvent, recorded: EventRef<'_>) -> Result<(), HandlerError> {
        self.0.push(recorded.to_recorded());
        Ok(())
    }
}

#[test]
fn handlers_see_the_whole_envelope_that_a_read_returns() {
    let (_dir, store) = fresh();
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let ids: Vec<AccountId> = (0..3).map(|_| AccountId::now_v7()).collect();
    for (n, id) in ids.iter().enumerate() {
        accounts.execute(id, &Command::Open).expect("opens");
        let metadata = Metadata {
            correlation_id: (n != 1).then(|| uuid::Uuid::from_u128(n as u128 + 1)),
            causation_id: (n != 2).then(|| uuid::Uuid::from_u128(n as u128 + 100)),
            user: (0..n)
                .map(|k| (format!("key-{k}"), format!("value {n}/{k}")))
                .collect(),
        };
        let deposit = Command::Deposit(5, Some("salary".into()));
        accounts
            .execute_with(id, &deposit, &metadata)
            .expect("deposits");
    }
    let log: Vec<RecordedEvent> = store
        .read_all(0, &Filter::all(), usize::MAX)
        .expect("reads")
        .map(|event| event.expect("reads"))
        .collect();
    assert!(log.iter().any(|event| event.metadata.len() == 2));
    let mut runner = StoreRunner::new(
        store.clone(),
        Envelopes(Vec::new()),
        ProjectionOptions::default(),
    )
    .expect("runner");
    runner.run_until_caught_up().expect("runs");
    assert_eq!(runner.projection().0, log, "store runner");
    let mut external = ExternalRunner::new(
        store.clone(),
        Envelopes(Vec::new()),
        ProjectionOptions::default(),
    )
    .expect("runner");
    external.run_until_caught_up().expect("runs");
    assert_eq!(external.projection().0, log, "external runner");
    let event = EventRef::from(&log[5]);
    assert_eq!(event.metadata().get("key-1"), Some("value 2/1"));
    assert_eq!(event.metadata().get("key-2"), None);
    assert_eq!(event.metadata().len(), 2);
    assert_eq!(event.to_recorded(), log[5]);
}

#[test]
fn two_runners_on_one_partition_still_apply_each_event_once() {
    let (_dir, store) = fresh();
    populate(&store, 6, 40);
    // Several rounds, so the runners' start order varies and the race is hit.
    for round in 0..6 {
        let name = format!("twice-{round}");
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let store = store.clone();
                let name = name.clone();
                scope.spawn(move || {
                    let options = ProjectionOptions::default().batch_size(3);
                    // The first runner to write holds the write lock while the other reads the
                    // same checkpoint and batch; the second must notice the checkpoint moved.
                    // No order check: a double application must show as a wrong count.
                    let projection = Balances {
                        slow_start: Some(Duration::from_millis(50)),
                        strict_order: false,
                        ..Balances::named(&name)
                    };
                    let mut runner = StoreRunner::new(store, projection, options).expect("runner");
                    let report = runner.run_until_caught_up().expect("runs");
                    assert_eq!(report.parked, 0);
                });
            }
        });
        assert_eq!(view(&store, &name), fold(&store, 1), "round {round}");
    }
}

#[test]
fn a_live_runner_follows_new_commits() {
    let (_dir, store) = fresh();
    let ids = populate(&store, 1, 1);
    let stop = Stop::new(&store);
    let worker = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut runner =
                StoreRunner::new(store, Balances::named("live"), ProjectionOptions::default())
                    .expect("runner");
            runner.run(&stop).expect("runs")
        })
    };
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    for n in 0..20 {
        accounts
            .execute(&ids[0], &Command::Deposit(10, Some(format!("live{n}"))))
            .expect("deposits");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while view(&store, "live") != fold(&store, 1) {
        assert!(
            Instant::now() < deadline,
            "the live runner did not catch up"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.stop();
    let report = worker.join().expect("joins");
    assert_eq!(report.handled, 22);
}

/// Opens one more account from another thread, 50 ms from now.
fn open_an_account_soon(store: &LmdbStore) -> std::thread::JoinHandle<()> {
    let store = store.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        populate(&store, 1, 0);
    })
}

#[test]
fn a_subscription_catches_up_then_is_woken_by_commits() {
    let (_dir, store) = fresh();
    populate(&store, 2, 3);
    let mut subscription = Subscription::new(&store, 0, Filter::all());
    let mut seen = Vec::new();
    while let Some(event) = subscription
        .next_timeout(Duration::from_millis(50))
        .expect("reads")
    {
        seen.push(event.position);
    }
    assert_eq!(seen, (1..=8).collect::<Vec<_>>());
    let writer = open_an_account_soon(&store);
    let started = Instant::now();
    let next = subscription
        .next_timeout(Duration::from_secs(60))
        .expect("reads")
        .expect("an event");
    assert_eq!(next.position, 9);
    // Woken by the commit, not by the timeout.
    assert!(started.elapsed() < Duration::from_secs(30));
    writer.join().expect("joins");
}

/// Positions a subscription hands to `visit_timeout` until a call visits nothing in 50 ms,
/// breaking after `stop_at`.
fn visited_positions(
    subscription: &mut Subscription<'_, LmdbStore>,
    stop_at: Option<u64>,
) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        let visited = subscription
            .visit_timeout(Duration::from_millis(50), |event| {
                seen.push(event.position());
                if Some(event.position()) == stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .expect("reads");
        if visited == 0 || stop_at.is_some_and(|at| seen.last() == Some(&at)) {
            return seen;
        }
    }
}

#[test]
fn a_visiting_subscription_sees_what_a_copying_one_gets_and_resumes_after_a_break() {
    let (_dir, store) = fresh();
    // 2 streams of 1 open + 1,500 deposits: more than one read transaction of the log.
    populate(&store, 2, 1500);
    let filter = Filter {
        aggregate_types: vec!["Account".into()],
        event_types: vec!["MoneyDeposited".into()],
    };
    let mut copying = Subscription::new(&store, 0, filter.clone());
    let mut copied = Vec::new();
    while let Some(event) = copying.next_timeout(Duration::ZERO).expect("reads") {
        copied.push(event);
    }
    assert_eq!(copied.len(), 3000);
    let mut visiting = Subscription::new(&store, 0, filter.clone());
    let mut visited = Vec::new();
    let count = visiting
        .visit_timeout(Duration::ZERO, |event| {
            visited.push(event.to_recorded());
            ControlFlow::Continue(())
        })
        .expect("reads");
    assert_eq!(count, 3000, "one call visits everything committed");
    assert_eq!(visited, copied, "the same events, envelope and payload");
    assert_eq!(visiting.position(), copying.position());
    // A break ends the call after that event; the next call goes on after it.
    let mut broken = Subscription::new(&store, 0, filter);
    let first = visited_positions(&mut broken, Some(copied[999].position));
    assert_eq!(first.len(), 1000);
    assert_eq!(broken.position(), copied[999].position);
    let rest = visited_positions(&mut broken, None);
    let positions: Vec<u64> = copied.iter().map(|e| e.position).collect();
    assert_eq!(
        [first, rest].concat(),
        positions,
        "nothing skipped or repeated"
    );
    // Events a `next_timeout` took into the buffer are visited first, then the log after them.
    let mut mixed = Subscription::new(&store, 0, Filter::all());
    let taken = mixed
        .next_timeout(Duration::ZERO)
        .expect("reads")
        .expect("an event");
    assert_eq!(taken.position, 1);
    assert_eq!(mixed.position(), 1, "read ahead is not delivered");
    // A call that finds the buffer (positions 2 to 1,024, read with the first) visits only
    // it; a break in it leaves the position at the event it broke after.
    let mut buffered = Vec::new();
    let count = mixed
        .visit_timeout(Duration::ZERO, |event| {
            buffered.push(event.position());
            if event.position() == 500 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .expect("reads");
    assert_eq!((count, mixed.position()), (499, 500));
    let buffer_rest = mixed
        .visit_timeout(Duration::ZERO, |event| {
            buffered.push(event.position());
            ControlFlow::Continue(())
        })
        .expect("reads");
    assert_eq!(
        (buffer_rest, mixed.position()),
        (524, 1024),
        "the buffer only"
    );
    let mut after = visited_positions(&mut mixed, None);
    after.splice(0..0, buffered);
    after.insert(0, taken.position);
    assert_eq!(after, (1..=3002).collect::<Vec<_>>());
    // Caught up, a call waits for the next commit and is woken by it.
    let writer = open_an_account_soon(&store);
    let started = Instant::now();
    let mut woken = Vec::new();
    let count = mixed
        .visit_timeout(Duration::from_secs(60), |event| {
            woken.push(event.position());
            ControlFlow::Continue(())
        })
        .expect("reads");
    assert_eq!((count, woken), (1, vec![3003]));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "woken by the commit"
    );
    writer.join().expect("joins");
}

#[test]
fn four_partitions_build_the_same_model_as_one_and_keep_stream_order() {
    let (_dir, store) = fresh();
    populate(&store, 12, 15);
    let mut single = StoreRunner::new(
        store.clone(),
        Balances::named("one"),
        ProjectionOptions::default(),
    )
    .expect("runner");
    single.run_until_caught_up().expect("runs");
    std::thread::scope(|scope| {
        for index in 0..4 {
            let store = store.clone();
            scope.spawn(move || {
                let options = ProjectionOptions::default()
                    .partition(index, 4)
                    .batch_size(5);
                let mut runner =
                    StoreRunner::new(store, Balances::named("four"), options).expect("runner");
                let report = runner.run_until_caught_up().expect("runs");
                assert_eq!(
                    report.parked, 0,
                    "no out-of-order event in partition {index}"
                );
            });
        }
    });
    let expected = fold(&store, 1);
    assert_eq!(view(&store, "one"), expected);
    assert_eq!(view(&store, "four"), expected);
}

#[test]
fn a_rebuild_serves_the_old_model_until_it_switches() {
    let (_dir, store) = fresh();
    populate(&store, 3, 30);
    let mut live = StoreRunner::new(
        store.clone(),
        Balances::named("swap"),
        ProjectionOptions::default(),
    )
    .expect("runner");
    live.run_until_caught_up().expect("runs");
    let before = view(&store, "swap");
    assert_eq!(before, fold(&store, 1));

    let mut rebuilder = StoreRunner::new(
        store.clone(),
        Balances {
            factor: 2,
            ..Balances::named("swap")
        },
        ProjectionOptions::default().batch_size(10),
    )
    .expect("runner");
    let mut reports = Vec::new();
    let report = rebuilder
        .rebuild(|progress| {
            // While the rebuild runs, readers still see the old generation.
            assert_eq!(view(&store, "swap"), before);
            reports.push(*progress);
        })
        .expect("rebuilds");
    assert_eq!((report.replaced, report.generation), (0, 1));
    assert!(reports.len() > 3, "progress after each batch");
    let last = reports.last().expect("progress");
    assert_eq!((last.done, last.total), (93, 93));
    assert!(last.rate > 0.0);
    assert_eq!(
        view(&store, "swap"),
        fold(&store, 2),
        "the switch shows the rebuilt model"
    );

    // The live runner continues in the new generation from its checkpoint.
    populate(&store, 1, 2);
    live.run_until_caught_up().expect("runs");
    let mut expected = fold(&store, 2);
    // `live` applies factor 1 to the new stream's events.
    let new_stream = expected
        .keys()
        .find(|k| !before.contains_key(*k))
        .cloned()
        .expect("new stream");
    expected.get_mut(&new_stream).expect("line").balance /= 2;
    assert_eq!(view(&store, "swap"), expected);
}

#[test]
fn failing_events_are_retried_then_parked_and_can_be_replayed() {
    let (_dir, store) = fresh();
    populate(&store, 2, 3);
    let poisoned = Arc::new(AtomicBool::new(true));
    // Skipping breaks a stream's sequence, so this projection does not insist on it.
    let projection = Balances {
        poison: Some(("d1".into(), Arc::clone(&poisoned))),
        strict_order: false,
        ..Balances::named("parking")
    };
    let options = ProjectionOptions::default()
        .max_attempts(3)
        .backoff(Duration::from_millis(1))
        .on_failure(OnFailure::Skip);
    let mut runner = StoreRunner::new(store.clone(), projection, options).expect("runner");
    let report = runner.run_until_caught_up().expect("skips");
    assert_eq!(report.parked, 2, "one poisoned deposit per stream");
    let parked = runner.parked().expect("lists");
    assert_eq!(parked.len(), 2);
    assert!(parked.iter().all(|p| p.error == "poisoned deposit"
        && p.attempts == 3
        && p.event_type == "MoneyDeposited"));
    assert_eq!(
        parked.iter().map(|p| p.position).collect::<Vec<_>>(),
        [5, 6]
    );
    let skipped = fold(&store, 1);
    let model = view(&store, "parking");
    for (stream, line) in &model {
        assert_eq!(
            line.balance,
            skipped[stream].balance - 2,
            "the parked deposit of 2 is missing"
        );
    }
    assert_eq!(
        ReadModelView::new(&store, "parking")
            .get(b"poisoned-write")
            .expect("reads"),
        None,
        "a failed handler's writes roll back"
    );

    poisoned.store(false, Ordering::SeqCst);
    let replay = runner.replay_parked().expect("replays");
    assert_eq!((replay.handled, replay.failed), (2, 0));
    assert!(runner.parked().expect("lists").is_empty());
    let replayed = view(&store, "parking");
    for (stream, line) in &replayed {
        assert_eq!(
            line.balance, skipped[stream].balance,
            "the replayed deposit is applied"
        );
    }
}

#[test]
fn a_handler_failing_mid_batch_keeps_the_events_before_it_and_applies_each_once() {
    let (_dir, store) = fresh();
    populate(&store, 3, 10);
    let head = store.head_position().expect("reads");
    // One batch holds the whole log: the failure lands in its middle.
    let projection = Balances {
        fail_once_at: Some(head / 2),
        ..Balances::named("transient")
    };
    let options = ProjectionOptions::default()
        .max_attempts(3)
        .backoff(Duration::from_millis(1));
    let mut runner = StoreRunner::new(store.clone(), projection, options).expect("runner");
    let report = runner.run_until_caught_up().expect("recovers");
    assert_eq!((report.handled, report.parked), (head, 0));
    assert_eq!(
        runner.projection().fail_once_at,
        None,
        "the handler did fail once"
    );
    // `Balances` checks each stream's versions arrive in order: an event applied twice to
    // the read model would have failed it for good.
    assert_eq!(view(&store, "transient"), fold(&store, 1));
    assert_eq!(
        ReadModelView::new(&store, "transient")
            .get(b"failed-write")
            .expect("reads"),
        None,
        "the failed attempt's writes roll back"
    );
}

#[test]
fn a_parked_event_stops_the_runner_by_default() {
    let (_dir, store) = fresh();
    populate(&store, 1, 3);
    let projection = Balances {
        poison: Some(("d1".into(), Arc::new(AtomicBool::new(true)))),
        ..Balances::named("stopping")
    };
    let options = ProjectionOptions::default()
        .max_attempts(2)
        .backoff(Duration::from_millis(1));
    let mut runner = StoreRunner::new(store.clone(), projection, options).expect("runner");
    let stopped = runner.run_until_caught_up();
    let Err(Error::ProjectionStopped {
        projection,
        position,
        event_type,
        ..
    }) = stopped
    else {
        panic!("expected a stop, got {stopped:?}");
    };
    assert_eq!(
        (projection.as_str(), position, event_type.as_str()),
        ("stopping", 3, "MoneyDeposited")
    );
    assert_eq!(
        runner.checkpoint().expect("reads"),
        2,
        "the checkpoint stays before the parked event"
    );
}

/// Records every delivery in memory, like an external table would; fails some at first.
struct Sink {
    deliveries: Arc<Mutex<Vec<u64>>>,
    fail_first: Arc<Mutex<BTreeMap<u64, u32>>>,
}

impl Projection for Sink {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "sink"
    }
}

impl ExternalProjection for Sink {
    fn apply(&mut self, _event: &AccountEvent, recorded: EventRef<'_>) -> Result<(), HandlerError> {
        let mut failures = self.fail_first.lock().expect("lock");
        if let Some(left) = failures.get_mut(&recorded.position())
            && *left > 0
        {
            *left -= 1;
            return Err("the sink is down".into());
        }
        self.deliveries
            .lock()
            .expect("lock")
            .push(recorded.position());
        Ok(())
    }
}

#[test]
fn an_external_projection_gets_every_event_at_least_once_in_order() {
    let (_dir, store) = fresh();
    populate(&store, 3, 10);
    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let fail_first = Arc::new(Mutex::new(BTreeMap::from([(5, 2), (17, 1)])));
    let sink = Sink {
        deliveries: Arc::clone(&deliveries),
        fail_first,
    };
    let options = ProjectionOptions::default()
        .max_attempts(5)
        .backoff(Duration::from_millis(1))
        .batch_size(4);
    let mut runner = ExternalRunner::new(store.clone(), sink, options).expect("runner");
    let report = runner.run_until_caught_up().expect("runs");
    assert_eq!(report.parked, 0);
    let head = store.head_position().expect("reads");
    assert_eq!(
        *deliveries.lock().expect("lock"),
        (1..=head).collect::<Vec<_>>(),
        "transient failures retried in place"
    );
    assert_eq!(runner.checkpoint().expect("reads"), head);
    assert_eq!(
        store.load_checkpoint("sink#0/1").expect("reads"),
        Some(head)
    );
}

/// Every distinct checkpoint of `name` seen while `run` runs, polled from another thread.
fn checkpoints_seen(store: &LmdbStore, name: &str, run: impl FnOnce()) -> Vec<u64> {
    let done = AtomicBool::new(false);
    let ready = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let poller = scope.spawn(|| {
            let probe = StoreRunner::new(
                store.clone(),
                Balances::named(name),
                ProjectionOptions::default(),
            )
            .expect("runner");
            let mut seen = vec![0];
            ready.wait();
            while !done.load(Ordering::SeqCst) {
                let checkpoint = probe.checkpoint().expect("reads");
                if seen.last() != Some(&checkpoint) {
                    seen.push(checkpoint);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            seen.push(probe.checkpoint().expect("reads"));
            seen.dedup();
            seen
        });
        // The run starts once the poller is polling.
        ready.wait();
        run();
        done.store(true, Ordering::SeqCst);
        poller.join().expect("joins")
    })
}

#[test]
fn a_batch_commits_early_at_its_byte_and_time_bounds() {
    let (_dir, store) = fresh();
    populate(&store, 2, 9); // 20 events
    let slow = |name: &str| Balances {
        slow_each: Some(Duration::from_millis(4)),
        ..Balances::named(name)
    };
    // The default batch size and byte bound take all 20 events in one transaction: one
    // commit. (The time bound is raised: 20 sleeps of 4 ms can outlast the default 100 ms on
    // a loaded machine.)
    let seen = checkpoints_seen(&store, "whole", || {
        let options = ProjectionOptions::default()
            .max_batch_bytes(16 << 20)
            .max_batch_time(Duration::from_secs(60));
        let mut runner = StoreRunner::new(store.clone(), slow("whole"), options).expect("runner");
        assert_eq!(runner.run_until_caught_up().expect("runs").handled, 20);
    });
    assert_eq!(seen, [0, 20]);
    // One byte: each batch reads one event.
    let seen = checkpoints_seen(&store, "bytes", || {
        let options = ProjectionOptions::default()
            .max_batch_bytes(1)
            .max_batch_time(Duration::from_secs(60));
        let mut runner = StoreRunner::new(store.clone(), slow("bytes"), options).expect("runner");
        assert_eq!(runner.run_until_caught_up().expect("runs").handled, 20);
    });
    // 20 commits at least 4 ms apart; a poller starved now and then still sees several.
    assert!(seen.len() > 3, "{seen:?}");
    // 10 ms: a transaction applies about three events, then commits them.
    let seen = checkpoints_seen(&store, "time", || {
        let options = ProjectionOptions::default()
            .max_batch_bytes(1 << 30)
            .max_batch_time(Duration::from_millis(10));
        let mut runner = StoreRunner::new(store.clone(), slow("time"), options).expect("runner");
        assert_eq!(runner.run_until_caught_up().expect("runs").handled, 20);
    });
    assert!(seen.len() > 3, "{seen:?}");
    for name in ["whole", "bytes", "time"] {
        assert_eq!(view(&store, name), fold(&store, 1), "{name}");
    }
}

/// The checkpoint after each batch of a rebuild, which reports its progress once per batch.
fn rebuild_batches<P: StoreProjection>(runner: &mut StoreRunner<P, LmdbStore>) -> Vec<u64> {
    let mut done = Vec::new();
    runner
        .rebuild(|progress| done.push(progress.done))
        .expect("rebuilds");
    done
}

#[test]
fn read_model_writes_count_toward_a_batchs_byte_bound() {
    let (_dir, store) = fresh();
    populate(&store, 2, 9); // 20 events, each record well under 1 KiB
    let options = ProjectionOptions::default()
        .max_batch_bytes(3 * 4096)
        .max_batch_time(Duration::from_secs(60));
    let mut writing = StoreRunner::new(store.clone(), Balances::named("writing"), options.clone())
        .expect("runner");
    // One write per event counts a page (4 KiB) with its record: three events fill a batch.
    let written = rebuild_batches(&mut writing);
    assert_eq!(
        written,
        [3, 6, 9, 12, 15, 18, 20, 20],
        "batches of 3 events"
    );
    assert_eq!(view(&store, "writing"), fold(&store, 1));
    // Without writes the same bound takes the 20 records in one batch.
    let mut reading =
        StoreRunner::new(store.clone(), Envelopes(Vec::new()), options).expect("runner");
    let read = rebuild_batches(&mut reading);
    assert_eq!(
        read,
        [20, 20],
        "one batch, then the step that finds nothing left"
    );
    assert_eq!(reading.projection().0.len(), 20);
}

#[test]
fn progress_prints_as_a_line() {
    let progress = Progress {
        done: 1200,
        total: 5000,
        rate: 3400.4,
    };
    assert_eq!(progress.to_string(), "1200/5000 positions (24%), 3400/s");
    assert_eq!(progress.percent(), 24.0);
    let empty = Progress {
        done: 0,
        total: 0,
        rate: 0.0,
    };
    assert_eq!(empty.to_string(), "0/0 positions (100%), 0/s");
}

type Row = (
    String,
    ProjectionKind,
    Option<u64>,
    Vec<(u32, u32, u64, u64)>,
    u64,
    Option<(u64, u64, u64)>,
);

fn rows(status: &StoreStatus) -> Vec<Row> {
    status
        .projections
        .iter()
        .map(|p: &ProjectionStatus| {
            (
                p.name.clone(),
                p.kind,
                p.generation,
                p.partitions
                    .iter()
                    .map(|q| (q.index, q.count, q.checkpoint, q.lag))
                    .collect(),
                p.parked,
                p.rebuild.map(|r| (r.generation, r.checkpoint, r.head)),
            )
        })
        .collect()
}

/// Builds a store with a projection of each kind and state; returns the directory.
pub(crate) fn store_with_projections() -> tempfile::TempDir {
    let (dir, store) = fresh();
    populate(&store, 2, 3); // 1..=8; 5 is a deposit `d1`
    let mut balances = StoreRunner::new(
        store.clone(),
        Balances::named("balances"),
        ProjectionOptions::default(),
    )
    .expect("runner");
    balances.run_until_caught_up().expect("runs");
    for index in 0..2 {
        let options = ProjectionOptions::default().partition(index, 2);
        StoreRunner::new(store.clone(), Balances::named("halves"), options)
            .expect("runner")
            .run_until_caught_up()
            .expect("runs");
    }
    populate(&store, 1, 0); // 9
    let options = ProjectionOptions::default().partition(0, 2);
    StoreRunner::new(store.clone(), Balances::named("halves"), options)
        .expect("runner")
        .run_until_caught_up()
        .expect("runs");
    let sink = Sink {
        deliveries: Arc::new(Mutex::new(Vec::new())),
        fail_first: Arc::new(Mutex::new(BTreeMap::from([(3, 9)]))),
    };
    let options = ProjectionOptions::default()
        .max_attempts(2)
        .backoff(Duration::from_millis(1))
        .on_failure(OnFailure::Skip);
    let report = ExternalRunner::new(store.clone(), sink, options)
        .expect("runner")
        .run_until_caught_up()
        .expect("skips");
    assert_eq!(report.parked, 1);
    // A rebuild that stopped at the poisoned deposit: its generation has not switched.
    let poisoned = Balances {
        poison: Some(("d1".into(), Arc::new(AtomicBool::new(true)))),
        ..Balances::named("balances")
    };
    let options = ProjectionOptions::default()
        .max_attempts(1)
        .backoff(Duration::from_millis(1));
    let mut rebuilder = StoreRunner::new(store.clone(), poisoned, options).expect("runner");
    let stopped = rebuilder.rebuild(|_| {});
    assert!(
        matches!(stopped, Err(Error::ProjectionStopped { position: 5, .. })),
        "{stopped:?}"
    );
    store.save_checkpoint("reporting", 7).expect("saves");
    dir
}

#[test]
fn the_status_shows_checkpoints_lag_parked_events_and_an_unfinished_rebuild() {
    let dir = store_with_projections();
    let expected: Vec<Row> = vec![
        (
            "balances".into(),
            ProjectionKind::Store,
            Some(0),
            vec![(0, 1, 8, 1)],
            1,
            Some((1, 4, 9)),
        ),
        (
            "halves".into(),
            ProjectionKind::Store,
            Some(0),
            vec![(0, 2, 9, 0), (1, 2, 8, 1)],
            0,
            None,
        ),
        (
            "reporting".into(),
            ProjectionKind::Checkpoint,
            None,
            vec![(0, 1, 7, 2)],
            0,
            None,
        ),
        (
            "sink".into(),
            ProjectionKind::External,
            None,
            vec![(0, 1, 9, 0)],
            1,
            None,
        ),
    ];
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let status = StoreStatus::of(&store).expect("reads");
        assert_eq!(status.head, 9);
        assert_eq!(rows(&status), expected);
        assert!(
            matches!(
                LmdbStore::read_only_status(dir.path()),
                Err(Error::AlreadyOpen(_))
            ),
            "one environment per process"
        );
    }
    // Read-only, with the store closed: the same, and the data file is not touched.
    let data = std::fs::read(dir.path().join("data.mdb")).expect("reads");
    let status = LmdbStore::read_only_status(dir.path()).expect("reads");
    assert_eq!((status.head, rows(&status)), (9, expected));
    assert_eq!(
        std::fs::read(dir.path().join("data.mdb")).expect("reads"),
        data,
        "a read-only look writes nothing"
    );

    let empty = tempfile::tempdir().expect("temp dir");
    drop(LmdbStore::open(empty.path()).expect("creates"));
    let status = LmdbStore::read_only_status(empty.path()).expect("reads");
    assert_eq!((status.head, status.projections.len()), (0, 0));
    let missing = empty.path().join("nothing-here");
    assert!(matches!(
        LmdbStore::read_only_status(&missing),
        Err(Error::NoStore { reason, .. }) if reason == "no such directory"
    ));
    assert!(!missing.exists(), "a look does not create a store");
}

const STATUS_JOB: &str = "ESDSL_STATUS_CHILD";

/// The child: appends deposits and runs the `balances` projection after each.
#[test]
#[ignore = "run by the read-only status test as a child process"]
fn status_writer_child() {
    let Ok(dir) = std::env::var(STATUS_JOB) else {
        return;
    };
    let store = LmdbStore::open(&dir).expect("child opens the store");
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let id = AccountId::now_v7();
    accounts.execute(&id, &Command::Open).expect("opens");
    let mut runner = StoreRunner::new(
        store.clone(),
        Balances::named("balances"),
        ProjectionOptions::default(),
    )
    .expect("runner");
    for n in 0..300 {
        accounts
            .execute(&id, &Command::Deposit(1, Some(format!("c{n}"))))
            .expect("deposits");
        runner.run_until_caught_up().expect("runs");
    }
}

#[test]
fn a_read_only_status_does_not_disturb_a_writer_in_another_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(LmdbStore::open(dir.path()).expect("creates"));
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "projections::status_writer_child",
            "--test-threads=1",
        ])
        .env(STATUS_JOB, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns the child");
    let mut looks = 0;
    let mut last_head = 0;
    let status = loop {
        let status =
            LmdbStore::read_only_status(dir.path()).expect("a look while the child writes");
        assert!(status.head >= last_head, "the head never goes back");
        last_head = status.head;
        for projection in &status.projections {
            for partition in &projection.partitions {
                assert!(partition.checkpoint <= status.head);
            }
        }
        looks += 1;
        if let Some(exit) = child.try_wait().expect("polls") {
            assert!(exit.success(), "the child failed: {exit}");
            break LmdbStore::read_only_status(dir.path()).expect("a last look");
        }
    };
    assert!(looks > 10, "looked {looks} times while the child ran");
    assert_eq!(
        rows(&status),
        vec![(
            "balances".to_owned(),
            ProjectionKind::Store,
            Some(0),
            vec![(0, 1, 301, 0)],
            0,
            None
        )]
    );
    let store = LmdbStore::open(dir.path()).expect("opens");
    assert!(store.verify().expect("verifies").is_ok());
    assert_eq!(view(&store, "balances"), fold(&store, 1));
}

#[test]
fn an_event_parked_under_stop_then_applied_by_a_later_run_is_not_replayed_again() {
    let (_dir, store) = fresh();
    populate(&store, 2, 3); // 5 is a deposit `d1`
    let poisoned = Arc::new(AtomicBool::new(true));
    let options = ProjectionOptions::default()
        .max_attempts(2)
        .backoff(Duration::from_millis(1));
    let projection = Balances {
        poison: Some(("d1".into(), Arc::clone(&poisoned))),
        ..Balances::named("rerun")
    };
    let mut runner = StoreRunner::new(store.clone(), projection, options.clone()).expect("runner");
    assert!(matches!(
        runner.run_until_caught_up(),
        Err(Error::ProjectionStopped { position: 5, .. })
    ));
    assert_eq!(runner.parked().expect("lists").len(), 1);
    // The cause is fixed and the runner simply runs again (no replay).
    poisoned.store(false, Ordering::SeqCst);
    let report = runner.run_until_caught_up().expect("runs");
    assert_eq!((report.handled, report.parked), (4, 0));
    assert!(
        runner.parked().expect("lists").is_empty(),
        "applied, so no longer parked"
    );
    assert_eq!(runner.replay_parked().expect("replays"), Default::default());
    assert_eq!(view(&store, "rerun"), fold(&store, 1), "applied once");

    // The same for an external runner.
    let sink = Sink {
        deliveries: Arc::new(Mutex::new(Vec::new())),
        fail_first: Arc::new(Mutex::new(BTreeMap::from([(5, 2)]))),
    };
    let deliveries = Arc::clone(&sink.deliveries);
    let mut runner = ExternalRunner::new(store.clone(), sink, options).expect("runner");
    assert!(matches!(
        runner.run_until_caught_up(),
        Err(Error::ProjectionStopped { position: 5, .. })
    ));
    assert_eq!(runner.parked().expect("lists").len(), 1);
    runner.run_until_caught_up().expect("runs");
    assert!(runner.parked().expect("lists").is_empty());
    assert_eq!(runner.replay_parked().expect("replays"), Default::default());
    assert_eq!(
        *deliveries.lock().expect("lock"),
        (1..=8).collect::<Vec<_>>()
    );
}
