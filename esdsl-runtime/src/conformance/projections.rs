//! The projection engine's contract on a backend: [`run_all`] and the promises it checks, one
//! function each, every one written against [`ProjectionStore`] alone.
//!
//! The suite's projection, [`Ledger`], keeps in its read model how often it applied each
//! position, so a test sees an event applied twice (or not at all), and each stream's balance
//! and last version, so it sees a wrong fold or a stream applied out of order. Its events are
//! `Moved` events (`{"amount": n}`) of `Ledger-<n>` streams, appended by [`seed`].
//!
//! Killing a process mid-batch needs a backend's own test harness; [`damaged_records`] needs the
//! backend to damage a record by its own means first. Both are left to the backend's tests
//! (`esdsl-runtime/tests/store/crash.rs` and `damaged.rs` for LMDB).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::codec::{Codec, CodecError};
use crate::error::Error;
use crate::event::{DecodeError, Decoded, Event, EventTypeInfo};
use crate::projection::backend::ProjectionStore;
use crate::projection::{
    ExternalProjection, ExternalRunner, HandlerError, OnFailure, Projection, ProjectionKind,
    ProjectionOptions, ReadModel, ReadModelView, Stop, StoreProjection, StoreRunner, StoreStatus,
};
use crate::store::{EventRef, EventStore, ExpectedVersion, Filter, Metadata, NewEvent};

/// Runs every projection conformance test, each on a new store from `fresh`.
pub fn run_all<S: ProjectionStore>(mut fresh: impl FnMut() -> S) {
    catch_up_applies_every_event_once(&fresh());
    a_stopped_runner_resumes_where_it_left_off(&fresh());
    a_failing_handler_mid_batch_keeps_what_came_before(&fresh());
    parking_under_stop_and_skip_and_replay(&fresh());
    partitions_build_the_same_model_as_one(&fresh());
    a_rebuild_switches_to_the_new_generation_at_once(&fresh());
    status_reports_checkpoints_lag_and_parked_events(&fresh());
    an_external_runner_delivers_at_least_once_in_order(&fresh());
}

/// The payload of the suite's one event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// The amount moved.
    pub amount: i64,
}

/// The suite's event family: `Moved` v1 of aggregate `Ledger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEvent(pub Moved);

impl Event for LedgerEvent {
    const AGGREGATE: &'static str = "Ledger";
    const EVENT_TYPES: &'static [EventTypeInfo] = &[EventTypeInfo {
        name: "Moved",
        renamed_from: &[],
        newest_version: 1,
        retired: false,
        reads_ahead: crate::ReadsAhead::NONE,
    }];

    fn event_type(&self) -> &'static str {
        "Moved"
    }

    fn event_version(&self) -> u32 {
        1
    }

    fn encode(&self, codec: Codec) -> Result<Vec<u8>, CodecError> {
        codec.encode(&self.0)
    }

    fn decode(
        event_type: &str,
        version: u32,
        payload: &[u8],
        codec: Codec,
    ) -> Result<Decoded<Self>, DecodeError> {
        match (event_type, version) {
            ("Moved", 1) => codec
                .decode(payload)
                .map(|moved| Decoded::Event(LedgerEvent(moved)))
                .map_err(|source| DecodeError::Payload {
                    event_type: event_type.to_owned(),
                    version,
                    source,
                }),
            ("Moved", _) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version,
                newest: 1,
            }),
            _ => Err(DecodeError::UnknownType {
                event_type: event_type.to_owned(),
                version,
            }),
        }
    }
}

/// A failure the suite injects: the handler fails at `position` while `left` is above zero
/// (`u32::MAX`: always), counting down once per failure.
#[derive(Debug, Clone)]
pub struct Poison {
    position: u64,
    left: Arc<AtomicU32>,
}

impl Poison {
    /// Fails at `position` `times` times.
    pub fn at(position: u64, times: u32) -> Poison {
        Poison {
            position,
            left: Arc::new(AtomicU32::new(times)),
        }
    }

    /// Ends the failures (the cause was fixed).
    pub fn cure(&self) {
        self.left.store(0, Ordering::SeqCst);
    }

    fn strikes(&self, position: u64) -> bool {
        position == self.position
            && self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                    0 => None,
                    u32::MAX => Some(u32::MAX),
                    n => Some(n - 1),
                })
                .is_ok()
    }
}

/// The suite's store projection: per position how often it was applied, per stream the balance
/// (amounts times `factor`) and the versions in the order they were applied.
#[derive(Debug, Clone)]
pub struct Ledger {
    name: String,
    factor: i64,
    poison: Option<Poison>,
}

impl Ledger {
    /// A ledger projection named `name`, with amounts counted once.
    pub fn named(name: &str) -> Ledger {
        Ledger {
            name: name.to_owned(),
            factor: 1,
            poison: None,
        }
    }

    /// Amounts counted `factor` times (a changed projection, for a rebuild).
    #[must_use]
    pub fn factor(mut self, factor: i64) -> Ledger {
        self.factor = factor;
        self
    }

    /// Fails as `poison` says.
    #[must_use]
    pub fn poisoned(mut self, poison: &Poison) -> Ledger {
        self.poison = Some(poison.clone());
        self
    }
}

impl Projection for Ledger {
    type Event = LedgerEvent;

    fn name(&self) -> &str {
        &self.name
    }
}

impl StoreProjection for Ledger {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        event: &LedgerEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        if self
            .poison
            .as_ref()
            .is_some_and(|p| p.strikes(recorded.position()))
        {
            return Err(format!("poisoned at {}", recorded.position()).into());
        }
        let applied = format!("applied/{:020}", recorded.position());
        let times: u64 = model.get_json(&applied)?.unwrap_or(0);
        model.put_json(&applied, &(times + 1))?;
        let versions = format!("versions/{}", recorded.stream());
        let mut applied_versions: Vec<u64> = model.get_json(&versions)?.unwrap_or_default();
        applied_versions.push(recorded.version());
        model.put_json(&versions, &applied_versions)?;
        let balance = format!("balance/{}", recorded.stream());
        let sum: i64 = model.get_json(&balance)?.unwrap_or(0);
        model.put_json(&balance, &(sum + event.0.amount * self.factor))?;
        Ok(())
    }
}

/// Appends `per_stream` events to each of `streams` streams `Ledger-0`, `Ledger-1`, ...,
/// interleaved (one event per stream in turn), and one `Other-1` event between rounds that the
/// suite's projections filter out. Returns the head position.
pub fn seed<S: EventStore>(store: &S, streams: usize, per_stream: usize) -> u64 {
    for round in 0..per_stream {
        for stream in 0..streams {
            let amount = i64::try_from(round * 10 + stream + 1).unwrap_or(i64::MAX);
            let event =
                NewEvent::encode(&LedgerEvent(Moved { amount }), Codec::Json).expect("encodes");
            store
                .append(
                    &format!("Ledger-{stream}"),
                    ExpectedVersion::Any,
                    vec![event],
                    &Metadata::default(),
                )
                .expect("appends");
        }
        store
            .append(
                "Other-1",
                ExpectedVersion::Any,
                vec![super::event("Noise", round as u64)],
                &Metadata::default(),
            )
            .expect("appends");
    }
    store.head_position().expect("reads the head")
}

/// What a ledger's read model should hold: the fold of the log's `Ledger` events.
fn fold<S: EventStore>(store: &S, factor: i64, skip: &[u64]) -> BTreeMap<String, i64> {
    let mut balances = BTreeMap::new();
    for event in store
        .read_all(1, &Filter::aggregate("Ledger"), usize::MAX)
        .expect("reads")
    {
        // A damaged record (one of `skip`) is an error item; the read goes on after it.
        let Ok(event) = event else { continue };
        if skip.contains(&event.position) {
            continue;
        }
        let Ok(Decoded::Event(LedgerEvent(moved))) = event.decode::<LedgerEvent>() else {
            panic!(
                "the suite's own event at {} does not decode",
                event.position
            );
        };
        *balances.entry(event.stream.clone()).or_insert(0) += moved.amount * factor;
    }
    balances
}

/// A ledger's read model as its view reads it: balances, and how often each position was
/// applied.
fn ledger<S: ProjectionStore>(
    store: &S,
    name: &str,
) -> (BTreeMap<String, i64>, BTreeMap<u64, u64>) {
    let (mut balances, mut applied) = (BTreeMap::new(), BTreeMap::new());
    for (key, value) in ReadModelView::new(store, name)
        .entries()
        .expect("reads the view")
    {
        let key = String::from_utf8(key).expect("the suite's keys are text");
        let number = || -> i64 { serde_json::from_slice(&value).expect("the suite's values") };
        if let Some(stream) = key.strip_prefix("balance/") {
            balances.insert(stream.to_owned(), number());
        } else if let Some(position) = key.strip_prefix("applied/") {
            let position = position.parse().expect("a position");
            applied.insert(position, u64::try_from(number()).expect("a count"));
        }
    }
    (balances, applied)
}

/// The positions of `Ledger` events, less `skip`.
fn ledger_positions<S: EventStore>(store: &S, skip: &[u64]) -> Vec<u64> {
    store
        .read_all(1, &Filter::aggregate("Ledger"), usize::MAX)
        .expect("reads")
        // A damaged record (one of `skip`) is an error item; the read goes on after it.
        .filter_map(|event| event.ok().map(|event| event.position))
        .filter(|position| !skip.contains(position))
        .collect()
}

/// Asserts that ledger `name` applied each `Ledger` event (less `skip`) exactly once and holds
/// their fold times `factor`.
fn assert_exactly_once<S: ProjectionStore>(store: &S, name: &str, factor: i64, skip: &[u64]) {
    let (balances, applied) = ledger(store, name);
    let expected: BTreeMap<u64, u64> = ledger_positions(store, skip)
        .into_iter()
        .map(|position| (position, 1))
        .collect();
    assert_eq!(
        applied, expected,
        "`{name}` must apply every event exactly once (position -> times)"
    );
    assert_eq!(
        balances,
        fold(store, factor, skip),
        "`{name}`'s read model must equal the fold of the log"
    );
}

/// Asserts that ledger `name` applied each stream's events in version order.
fn assert_stream_order<S: ProjectionStore>(store: &S, name: &str) {
    for (key, value) in ReadModelView::new(store, name)
        .entries()
        .expect("reads the view")
    {
        let key = String::from_utf8(key).expect("the suite's keys are text");
        if let Some(stream) = key.strip_prefix("versions/") {
            let versions: Vec<u64> = serde_json::from_slice(&value).expect("a list");
            assert!(
                versions.windows(2).all(|pair| pair[0] < pair[1]),
                "`{name}` must apply `{stream}` in version order, applied {versions:?}"
            );
        }
    }
}

fn quick() -> ProjectionOptions {
    ProjectionOptions::default()
        .max_attempts(3)
        .backoff(Duration::from_millis(1))
}

/// A runner catching up in small batches applies every event once, reaches the head and
/// counts what it handled.
pub fn catch_up_applies_every_event_once<S: ProjectionStore>(store: &S) {
    let head = seed(store, 5, 20);
    let options = quick().batch_size(7);
    let mut runner =
        StoreRunner::new(store.clone(), Ledger::named("ledger"), options).expect("runner");
    let report = runner.run_until_caught_up().expect("catches up");
    assert_eq!(report.checkpoint, head, "the checkpoint reaches the head");
    assert_eq!(report.handled, 100, "every Ledger event is handled");
    assert_eq!(runner.checkpoint().expect("reads"), head);
    assert_exactly_once(store, "ledger", 1, &[]);
    assert_stream_order(store, "ledger");
    let again = runner.run_until_caught_up().expect("catches up");
    assert_eq!(again.handled, 0, "a caught-up runner has nothing to do");
}

/// A live runner follows new commits; stopped and started again (a new runner, as after a
/// restart), it resumes from its checkpoint and applies nothing twice.
pub fn a_stopped_runner_resumes_where_it_left_off<S: ProjectionStore>(store: &S) {
    seed(store, 3, 10);
    let stop = Stop::new(store);
    let live = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            StoreRunner::new(store, Ledger::named("live"), quick().batch_size(4))
                .expect("runner")
                .run(&stop)
        })
    };
    let head = seed(store, 3, 10);
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = StoreRunner::new(store.clone(), Ledger::named("live"), quick()).expect("runner");
    while view.checkpoint().expect("reads") < head {
        assert!(
            Instant::now() < deadline,
            "a live runner must follow new commits"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let asked = Instant::now();
    stop.stop();
    live.join().expect("the runner thread").expect("runs");
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "a stop must end a waiting runner"
    );
    let head = seed(store, 3, 5);
    let report = StoreRunner::new(store.clone(), Ledger::named("live"), quick())
        .expect("runner")
        .run_until_caught_up()
        .expect("catches up");
    assert_eq!(
        (report.handled, report.checkpoint),
        (15, head),
        "a restarted runner handles only what came after its checkpoint"
    );
    assert_exactly_once(store, "live", 1, &[]);
    assert_stream_order(store, "live");
}

/// A handler that fails once in the middle of a batch: the events before it stay applied, the
/// failing one is retried and applied, nothing is applied twice and nothing is parked.
pub fn a_failing_handler_mid_batch_keeps_what_came_before<S: ProjectionStore>(store: &S) {
    let head = seed(store, 4, 10);
    let poison = Poison::at(13, 1);
    let projection = Ledger::named("flaky").poisoned(&poison);
    let mut runner =
        StoreRunner::new(store.clone(), projection, quick().batch_size(50)).expect("runner");
    let report = runner.run_until_caught_up().expect("catches up");
    assert_eq!((report.parked, report.checkpoint), (0, head));
    assert!(runner.parked().expect("reads").is_empty(), "nothing parked");
    assert_exactly_once(store, "flaky", 1, &[]);
}

/// An event that keeps failing is parked: under `OnFailure::Stop` the runner stops just before
/// it (a typed error with the handler's error as its source); under `OnFailure::Skip` it goes
/// on. Replaying the parked event once its cause is fixed applies it once and unparks it.
pub fn parking_under_stop_and_skip_and_replay<S: ProjectionStore>(store: &S) {
    let head = seed(store, 4, 10);
    let poison = Poison::at(13, u32::MAX);
    let options = quick().max_attempts(2).backoff(Duration::from_millis(1));

    let mut stopping = StoreRunner::new(
        store.clone(),
        Ledger::named("stopping").poisoned(&poison),
        options.clone(),
    )
    .expect("runner");
    match stopping.run_until_caught_up() {
        Err(Error::ProjectionStopped {
            projection,
            position,
            source,
            ..
        }) => {
            assert_eq!((projection.as_str(), position), ("stopping", 13));
            assert_eq!(source.to_string(), "poisoned at 13", "the handler's error");
        }
        other => panic!("a parked event must stop the runner by default, got {other:?}"),
    }
    assert_eq!(
        stopping.checkpoint().expect("reads"),
        12,
        "stopped before it"
    );
    let parked = stopping.parked().expect("reads");
    assert_eq!(parked.len(), 1, "one parked event");
    assert_eq!(
        (parked[0].position, parked[0].attempts, parked[0].damaged),
        (13, 2, false)
    );
    assert_eq!(parked[0].error, "poisoned at 13");
    assert_eq!(parked[0].event_type, "Moved");

    let mut skipping = StoreRunner::new(
        store.clone(),
        Ledger::named("skipping").poisoned(&poison),
        options.on_failure(OnFailure::Skip),
    )
    .expect("runner");
    let report = skipping.run_until_caught_up().expect("skips and goes on");
    assert_eq!((report.parked, report.checkpoint), (1, head));
    assert_exactly_once(store, "skipping", 1, &[13]);

    poison.cure();
    let replayed = skipping.replay_parked().expect("replays");
    assert_eq!((replayed.handled, replayed.failed), (1, 0));
    assert!(skipping.parked().expect("reads").is_empty(), "unparked");
    assert_exactly_once(store, "skipping", 1, &[]);

    let replayed = stopping.replay_parked().expect("replays");
    assert_eq!((replayed.handled, replayed.failed), (1, 0));
    assert_eq!(
        stopping.checkpoint().expect("reads"),
        13,
        "a replayed event parked under Stop moves the checkpoint past it"
    );
    stopping.run_until_caught_up().expect("goes on");
    assert_exactly_once(store, "stopping", 1, &[]);
    assert!(stopping.parked().expect("reads").is_empty());
}

/// Three partitions, each run to the head on its own, build the model one runner builds, each
/// event applied once and each stream in order.
pub fn partitions_build_the_same_model_as_one<S: ProjectionStore>(store: &S) {
    let head = seed(store, 9, 6);
    for index in 0..3 {
        let options = quick().partition(index, 3).batch_size(5);
        let report = StoreRunner::new(store.clone(), Ledger::named("split"), options)
            .expect("runner")
            .run_until_caught_up()
            .expect("catches up");
        assert_eq!(
            report.checkpoint, head,
            "partition {index} reaches the head"
        );
    }
    assert_exactly_once(store, "split", 1, &[]);
    assert_stream_order(store, "split");
    let other_count = quick().partition(0, 2);
    let refused = StoreRunner::new(store.clone(), Ledger::named("split"), other_count)
        .expect("runner")
        .run_until_caught_up();
    assert!(
        matches!(refused, Err(Error::InvalidInput(_))),
        "a runner with another partition count is refused, got {refused:?}"
    );
}

/// A rebuild builds a new generation while the old one serves reads, then switches at once and
/// deletes the old one.
pub fn a_rebuild_switches_to_the_new_generation_at_once<S: ProjectionStore>(store: &S) {
    seed(store, 4, 10);
    StoreRunner::new(store.clone(), Ledger::named("swap"), quick())
        .expect("runner")
        .run_until_caught_up()
        .expect("catches up");
    let old = fold(store, 1, &[]);
    let mut rebuilding = StoreRunner::new(
        store.clone(),
        Ledger::named("swap").factor(2),
        quick().batch_size(8),
    )
    .expect("runner");
    let mut batches = 0;
    let report = rebuilding
        .rebuild(|_| {
            batches += 1;
            let (balances, _) = ledger(store, "swap");
            assert_eq!(
                balances, old,
                "the old generation serves reads during a rebuild"
            );
        })
        .expect("rebuilds");
    assert!(batches > 1, "progress is reported per batch");
    assert_eq!(
        (report.generation, report.replaced, report.handled),
        (1, 0, 40)
    );
    assert_exactly_once(store, "swap", 2, &[]);
    let status = StoreStatus::of(store).expect("status");
    let swap = status
        .projections
        .iter()
        .find(|p| p.name == "swap")
        .expect("listed");
    assert_eq!(swap.generation, Some(1));
    assert_eq!(swap.rebuild, None, "the rebuild has switched");
}

/// The status lists each store projection with its partitions' checkpoints, lag and parked
/// count, external runners and plain named checkpoints.
pub fn status_reports_checkpoints_lag_and_parked_events<S: ProjectionStore>(store: &S) {
    let head = seed(store, 4, 5);
    let poison = Poison::at(7, u32::MAX);
    for index in 0..2 {
        let options = quick()
            .max_attempts(1)
            .backoff(Duration::ZERO)
            .partition(index, 2)
            .on_failure(OnFailure::Skip);
        StoreRunner::new(
            store.clone(),
            Ledger::named("status").poisoned(&poison),
            options,
        )
        .expect("runner")
        .run_until_caught_up()
        .expect("catches up");
    }
    store.save_checkpoint("plain", 3).expect("saves");
    ExternalRunner::new(store.clone(), Sink::named("sink"), quick())
        .expect("runner")
        .run_until_caught_up()
        .expect("catches up");
    let more = seed(store, 1, 2) - head;
    let status = StoreStatus::of(store).expect("status");
    assert_eq!(status.head, head + more);
    let find = |name: &str| {
        status
            .projections
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("`{name}` is listed"))
    };
    let ledger = find("status");
    assert_eq!(ledger.kind, ProjectionKind::Store);
    assert_eq!(ledger.parked, 1, "the poisoned event is parked");
    let checkpoints: Vec<(u32, u32, u64, u64)> = ledger
        .partitions
        .iter()
        .map(|p| (p.index, p.count, p.checkpoint, p.lag))
        .collect();
    assert_eq!(checkpoints, vec![(0, 2, head, more), (1, 2, head, more)]);
    assert_eq!(find("sink").kind, ProjectionKind::External);
    assert_eq!(find("plain").kind, ProjectionKind::Checkpoint);
}

/// The suite's external projection: the positions it was handed, in order.
#[derive(Debug, Clone)]
struct Sink {
    name: String,
    seen: Arc<Mutex<Vec<u64>>>,
    poison: Option<Poison>,
}

impl Sink {
    fn named(name: &str) -> Sink {
        Sink {
            name: name.to_owned(),
            seen: Arc::default(),
            poison: None,
        }
    }

    fn seen(&self) -> Vec<u64> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

impl Projection for Sink {
    type Event = LedgerEvent;

    fn name(&self) -> &str {
        &self.name
    }
}

impl ExternalProjection for Sink {
    fn apply(&mut self, _: &LedgerEvent, recorded: EventRef<'_>) -> Result<(), HandlerError> {
        if self
            .poison
            .as_ref()
            .is_some_and(|p| p.strikes(recorded.position()))
        {
            return Err(format!("poisoned at {}", recorded.position()).into());
        }
        self.seen
            .lock()
            .map_err(|_| "poisoned lock")?
            .push(recorded.position());
        Ok(())
    }
}

/// An external runner hands each event to its handler in position order and saves its
/// checkpoint after; a restarted runner does not deliver them again; a failing event is parked
/// and replayed.
pub fn an_external_runner_delivers_at_least_once_in_order<S: ProjectionStore>(store: &S) {
    let head = seed(store, 3, 8);
    let sink = Sink::named("outbox");
    let mut runner =
        ExternalRunner::new(store.clone(), sink.clone(), quick().batch_size(5)).expect("runner");
    let report = runner.run_until_caught_up().expect("catches up");
    assert_eq!((report.handled, report.checkpoint), (24, head));
    assert_eq!(
        sink.seen(),
        ledger_positions(store, &[]),
        "every event, in order"
    );

    let again = Sink::named("outbox");
    ExternalRunner::new(store.clone(), again.clone(), quick())
        .expect("runner")
        .run_until_caught_up()
        .expect("catches up");
    assert!(
        again.seen().is_empty(),
        "a restarted runner resumes after its checkpoint"
    );

    let head = seed(store, 1, 3);
    // The last Ledger event: `seed` ends each round with an `Other` event.
    let poison = Poison::at(head - 1, u32::MAX);
    let mut failing = Sink::named("outbox");
    failing.poison = Some(poison.clone());
    let mut runner = ExternalRunner::new(
        store.clone(),
        failing.clone(),
        quick().on_failure(OnFailure::Skip),
    )
    .expect("runner");
    let report = runner.run_until_caught_up().expect("skips and goes on");
    assert_eq!((report.parked, report.checkpoint), (1, head));
    assert_eq!(runner.parked().expect("reads").len(), 1);
    poison.cure();
    let replayed = runner.replay_parked().expect("replays");
    assert_eq!((replayed.handled, replayed.failed), (1, 0));
    assert!(runner.parked().expect("reads").is_empty());
    assert!(
        failing.seen().contains(&(head - 1)),
        "the parked event was delivered"
    );
}

/// Damaged records: a record a runner cannot rule out is parked (as damaged) instead of
/// skipped, and every other event is applied once.
///
/// The store must hold [`seed`]`(store, 3, 4)` with the record at `damaged` (a `Ledger` event's
/// position) damaged by the backend's own means (its layout broken, so it cannot be read).
pub fn damaged_records<S: ProjectionStore>(store: &S, damaged: u64) {
    let mut skipping = StoreRunner::new(
        store.clone(),
        Ledger::named("damaged"),
        quick().on_failure(OnFailure::Skip),
    )
    .expect("runner");
    let report = skipping.run_until_caught_up().expect("goes on");
    assert_eq!(report.parked, 1, "the damaged record is parked");
    let parked = skipping.parked().expect("reads");
    assert_eq!(
        (parked[0].position, parked[0].damaged),
        (damaged, true),
        "parked as a damaged record"
    );
    assert_exactly_once(store, "damaged", 1, &[damaged]);
    let stopped = StoreRunner::new(store.clone(), Ledger::named("damaged-stop"), quick())
        .expect("runner")
        .run_until_caught_up();
    assert!(
        matches!(stopped, Err(Error::ProjectionStopped { position, .. }) if position == damaged),
        "under Stop a damaged record stops the runner, got {stopped:?}"
    );
}
