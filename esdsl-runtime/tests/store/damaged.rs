//! Damaged records in the log and projection runners: a runner whose filter (or partition)
//! rules a damaged record out skips it; one that needs it retries, parks it and stops or skips
//! as configured, exactly like a failing handler; once the record is repaired, replaying it
//! applies it exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{
    ExternalProjection, ExternalRunner, HandlerError, OnFailure, Partition, Projection,
    ProjectionOptions, StoreRunner,
};
use esdsl_runtime::store::{EventRef, EventStore, ExpectedVersion, Filter, Metadata};
use esdsl_runtime::{Error, Repository};

use crate::bad_data::raw_events;
use crate::bank::{Account, AccountEvent, AccountId, Command};
use crate::projections::{Balances, Line, populate, view};

fn record(dir: &Path, position: u64) -> Vec<u8> {
    raw_events(dir, |txn, events| {
        events
            .get(txn, &position.to_be_bytes())
            .expect("reads")
            .expect("exists")
            .to_vec()
    })
}

fn put_record(dir: &Path, position: u64, bytes: &[u8]) {
    raw_events(dir, |txn, events| {
        events
            .put(txn, &position.to_be_bytes(), bytes)
            .expect("writes")
    });
}

/// Where the event type ends in a record (`store/record.rs`: fixed fields to the flags at 42,
/// the optional ids, then the stream and type names with u16 lengths).
fn names_end(bytes: &[u8]) -> usize {
    let flags = bytes[42];
    let mut at = 43 + 16 * (usize::from(flags & 1) + usize::from((flags >> 1) & 1));
    for _ in 0..2 {
        at += 2 + usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
    }
    at
}

/// Cuts the record after its names (inside the metadata count): it no longer parses, but its
/// stream, type and versions are readable. Returns the original bytes.
fn damage_tail(dir: &Path, position: u64) -> Vec<u8> {
    let original = record(dir, position);
    put_record(dir, position, &original[..names_end(&original) + 2]);
    original
}

/// Breaks the record's format byte: nothing of its envelope is readable. Returns the original.
fn damage_head(dir: &Path, position: u64) -> Vec<u8> {
    let original = record(dir, position);
    let mut bytes = original.clone();
    bytes[0] = 7;
    put_record(dir, position, &bytes);
    original
}

/// The read model a projection should hold: a fold over the account events of the log up to
/// `until`, leaving out the positions in `damaged` (which must be exactly the unreadable ones).
fn fold_readable(store: &LmdbStore, until: u64, damaged: &[u64]) -> BTreeMap<String, Line> {
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for recorded in store
        .read_all(1, &Filter::aggregate("Account"), usize::MAX)
        .expect("starts")
    {
        let recorded = match recorded {
            Ok(recorded) => recorded,
            Err(Error::Corrupt {
                what: "event", key, ..
            }) => {
                unreadable.push(key.parse::<u64>().expect("a position"));
                continue;
            }
            Err(other) => panic!("unexpected {other:?}"),
        };
        if recorded.position > until || damaged.contains(&recorded.position) {
            continue;
        }
        let line = lines.entry(recorded.stream.clone()).or_default();
        match recorded
            .decode::<AccountEvent>()
            .expect("decodes")
            .into_event()
        {
            Some(AccountEvent::MoneyDeposited(e)) => line.balance += e.amount_cents,
            Some(AccountEvent::MoneyWithdrawn(e)) => line.balance -= e.amount_cents,
            _ => {}
        }
        line.events += 1;
        line.last_version = recorded.version;
    }
    assert_eq!(
        unreadable, damaged,
        "the damaged records are the expected ones"
    );
    lines
}

/// Balance and event count per stream (the last version differs after a replay under `Skip`).
fn totals(lines: &BTreeMap<String, Line>) -> BTreeMap<String, (i64, u64)> {
    lines
        .iter()
        .map(|(stream, line)| (stream.clone(), (line.balance, line.events)))
        .collect()
}

/// Receives every event of the log (no filter), as an external sink.
struct CatchAll {
    deliveries: Arc<Mutex<Vec<u64>>>,
}

impl Projection for CatchAll {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "catch-all"
    }
    fn filter(&self) -> Filter {
        Filter::all()
    }
}

impl ExternalProjection for CatchAll {
    fn apply(&mut self, _: &AccountEvent, recorded: EventRef<'_>) -> Result<(), HandlerError> {
        self.deliveries
            .lock()
            .expect("lock")
            .push(recorded.position());
        Ok(())
    }
}

fn quick() -> ProjectionOptions {
    ProjectionOptions::default()
        .max_attempts(2)
        .backoff(Duration::from_millis(1))
}

#[test]
fn a_damaged_record_outside_the_filter_is_skipped_and_one_inside_is_parked() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let ids = populate(&store, 2, 3); // positions 1..=8
        let order = esdsl_runtime::conformance::event("Placed", 1);
        store
            .append(
                "Order-1",
                ExpectedVersion::NoStream,
                vec![order],
                &Metadata::default(),
            )
            .expect("appends"); // position 9
        Repository::<Account>::new(store.clone())
            .expect("opens")
            .execute(&ids[0], &Command::Deposit(100, None))
            .expect("deposits"); // position 10
    }
    damage_tail(dir.path(), 9);
    let store = LmdbStore::open(dir.path()).expect("reopens");

    // The account projection's filter rules out `Order-1`, readable in the damaged envelope.
    let mut balances =
        StoreRunner::new(store.clone(), Balances::named("balances"), quick()).expect("runner");
    let report = balances.run_until_caught_up().expect("not stopped");
    assert_eq!(
        (report.handled, report.parked, report.checkpoint),
        (9, 0, 10)
    );
    assert!(balances.parked().expect("lists").is_empty());
    assert_eq!(view(&store, "balances"), fold_readable(&store, 10, &[9]));

    // A projection of every event needs it: parked (with what is readable), then skipped.
    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let sink = CatchAll {
        deliveries: Arc::clone(&deliveries),
    };
    let mut catch_all =
        ExternalRunner::new(store.clone(), sink, quick().on_failure(OnFailure::Skip))
            .expect("runner");
    let report = catch_all.run_until_caught_up().expect("skips");
    assert_eq!(
        (report.handled, report.parked, report.checkpoint),
        (9, 1, 10)
    );
    assert_eq!(
        *deliveries.lock().expect("lock"),
        [1, 2, 3, 4, 5, 6, 7, 8, 10]
    );
    let parked = catch_all.parked().expect("lists");
    assert_eq!(parked.len(), 1);
    let parked = &parked[0];
    assert_eq!(
        (
            parked.position,
            parked.stream.as_str(),
            parked.event_type.as_str(),
            parked.stream_version,
            parked.schema_version,
            parked.damaged,
            parked.attempts,
        ),
        (9, "Order-1", "Placed", Some(1), Some(1), true, 2)
    );
    assert!(
        parked
            .error
            .starts_with("corrupt event at 9: checksum mismatch"),
        "{}",
        parked.error
    );
}

#[test]
fn a_damaged_record_a_runner_needs_stops_it_until_repaired_then_applies_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = {
        let store = LmdbStore::open(dir.path()).expect("opens");
        populate(&store, 2, 3) // positions 1..=8; 5 is the first stream's deposit of 2
    };
    let original = damage_head(dir.path(), 5);
    {
        let store = LmdbStore::open(dir.path()).expect("reopens");
        let mut runner =
            StoreRunner::new(store.clone(), Balances::named("stop"), quick()).expect("runner");
        for run in 0..2 {
            let stopped = runner.run_until_caught_up();
            let Err(Error::ProjectionStopped {
                projection,
                position,
                stream,
                event_type,
                source,
            }) = stopped
            else {
                panic!("expected a stop, got {stopped:?}");
            };
            assert_eq!(
                (
                    projection.as_str(),
                    position,
                    stream.as_str(),
                    event_type.as_str()
                ),
                ("stop", 5, "", ""),
                "run {run}: nothing of the envelope is readable"
            );
            assert_eq!(
                source.to_string(),
                "corrupt event at 5: unknown record format 7"
            );
            assert_eq!(runner.checkpoint().expect("reads"), 4, "run {run}");
        }
        let parked = runner.parked().expect("lists");
        assert_eq!(parked.len(), 1);
        assert_eq!(
            (
                parked[0].position,
                parked[0].damaged,
                parked[0].stream_version,
                parked[0].schema_version,
                parked[0].attempts
            ),
            (5, true, None, None, 2)
        );
        assert_eq!(view(&store, "stop"), fold_readable(&store, 4, &[5]));

        // The store stays usable: the other stream takes a deposit (position 9).
        Repository::<Account>::new(store.clone())
            .expect("opens")
            .execute(&ids[1], &Command::Deposit(50, None))
            .expect("deposits");
        let replay = runner.replay_parked().expect("replays");
        assert_eq!((replay.handled, replay.failed), (0, 1), "still damaged");
        assert_eq!(runner.checkpoint().expect("reads"), 4);
    }

    // Restored (from a backup, say): the replay applies it and moves the checkpoint past it.
    put_record(dir.path(), 5, &original);
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let mut runner =
        StoreRunner::new(store.clone(), Balances::named("stop"), quick()).expect("runner");
    let replay = runner.replay_parked().expect("replays");
    assert_eq!((replay.handled, replay.failed), (1, 0));
    assert!(runner.parked().expect("lists").is_empty());
    assert_eq!(runner.checkpoint().expect("reads"), 5);
    let report = runner.run_until_caught_up().expect("runs");
    assert_eq!((report.handled, report.checkpoint), (4, 9));
    // Strict per-stream order and equal counts: every event applied exactly once.
    assert_eq!(view(&store, "stop"), fold_readable(&store, 9, &[]));
    assert_eq!(runner.run_until_caught_up().expect("runs").handled, 0);
}

#[test]
fn under_skip_only_the_owning_partition_parks_it_and_the_replay_applies_it_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stream = {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let ids: Vec<AccountId> = populate(&store, 4, 3); // 1..=4 opens, 5..=16 deposits
        format!("Account-{}", ids[0]) // its deposit `d1` (version 3) is at position 9
    };
    let original = damage_tail(dir.path(), 9);
    let owner = (0..2)
        .find(|index| {
            Partition {
                index: *index,
                count: 2,
            }
            .owns(&stream)
        })
        .expect("one owner");
    let options = |index| {
        quick()
            .partition(index, 2)
            .on_failure(OnFailure::Skip)
            .batch_size(5)
    };
    let projection = || Balances {
        strict_order: false,
        ..Balances::named("halves")
    };
    {
        let store = LmdbStore::open(dir.path()).expect("reopens");
        for index in 0..2 {
            let mut runner =
                StoreRunner::new(store.clone(), projection(), options(index)).expect("runner");
            let report = runner.run_until_caught_up().expect("skips");
            assert_eq!(
                report.parked,
                u64::from(index == owner),
                "partition {index}"
            );
            assert_eq!(report.checkpoint, 16);
        }
        let runner = StoreRunner::new(store.clone(), projection(), options(owner)).expect("runner");
        let parked = runner.parked().expect("lists");
        assert_eq!(parked.len(), 1);
        assert_eq!(
            (
                parked[0].position,
                parked[0].stream.as_str(),
                parked[0].event_type.as_str(),
                parked[0].stream_version,
                parked[0].schema_version,
                parked[0].damaged,
            ),
            (9, stream.as_str(), "MoneyDeposited", Some(3), Some(3), true)
        );
        assert_eq!(
            totals(&view(&store, "halves")),
            totals(&fold_readable(&store, 16, &[9]))
        );
        for index in 0..2 {
            let mut runner =
                StoreRunner::new(store.clone(), projection(), options(index)).expect("runner");
            assert_eq!(runner.run_until_caught_up().expect("runs").handled, 0);
        }
    }
    put_record(dir.path(), 9, &original);
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let mut runner = StoreRunner::new(store.clone(), projection(), options(owner)).expect("runner");
    let replay = runner.replay_parked().expect("replays");
    assert_eq!((replay.handled, replay.failed), (1, 0));
    assert_eq!(
        runner.checkpoint().expect("reads"),
        16,
        "Skip moved it already"
    );
    assert_eq!(
        totals(&view(&store, "halves")),
        totals(&fold_readable(&store, 16, &[]))
    );
    for index in 0..2 {
        let mut runner =
            StoreRunner::new(store.clone(), projection(), options(index)).expect("runner");
        assert_eq!(runner.run_until_caught_up().expect("runs").handled, 0);
    }
    assert_eq!(
        runner.replay_parked().expect("replays"),
        Default::default(),
        "nothing left to replay"
    );
}

#[test]
fn the_projection_conformance_suite_parks_a_damaged_lmdb_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        esdsl_runtime::conformance::projections::seed(&store, 3, 4);
    }
    // Position 5 is `Ledger-0` v2; a format byte the program does not know makes it unreadable.
    damage_head(dir.path(), 5);
    let store = LmdbStore::open(dir.path()).expect("reopens");
    esdsl_runtime::conformance::projections::damaged_records(&store, 5);
}
