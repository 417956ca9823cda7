//! The store contract, reopening, map growth.

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::lmdb::{Durability, StoreOptions};
use esdsl_runtime::store::{Direction, EventStore, ExpectedVersion, Filter, Metadata, NewEvent};
use esdsl_runtime::{Codec, Error, conformance};

#[test]
fn lmdb_keeps_the_event_store_contract() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        dirs.push(dir);
        store
    });
}

#[test]
fn lmdb_keeps_the_projection_engines_contract() {
    let mut dirs = Vec::new();
    conformance::projections::run_all(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        dirs.push(dir);
        store
    });
}

#[test]
fn lmdb_keeps_the_contract_with_relaxed_and_no_sync_durability() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = StoreOptions::default().durability(Durability::Relaxed);
        let store = LmdbStore::open_with(dir.path(), options).expect("opens");
        dirs.push(dir);
        store
    });
    conformance::run_all(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = StoreOptions::default().durability(Durability::NoSync);
        let store = LmdbStore::open_with(dir.path(), options).expect("opens");
        dirs.push(dir);
        store
    });
}

#[test]
fn events_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let events = (0..5).map(|n| conformance::event("E", n)).collect();
        store
            .append(
                "S-1",
                ExpectedVersion::NoStream,
                events,
                &Metadata::default(),
            )
            .expect("appends");
    }
    let store = LmdbStore::open(dir.path()).expect("reopens");
    assert_eq!(store.stream_version("S-1").expect("reads"), Some(5));
    let done = store
        .append(
            "S-1",
            ExpectedVersion::Exact(5),
            vec![conformance::event("E", 6)],
            &Metadata::default(),
        )
        .expect("appends after reopening");
    assert_eq!((done.version, done.first_position), (6, Some(6)));
}

#[test]
fn opening_twice_in_one_process_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _store = LmdbStore::open(dir.path()).expect("opens");
    let again = LmdbStore::open(dir.path());
    assert!(matches!(again, Err(Error::AlreadyOpen(_))), "{again:?}");
}

#[test]
fn the_map_grows_instead_of_failing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions::default()
        .initial_map_size(1 << 20)
        .durability(Durability::NoSync);
    let store = LmdbStore::open_with(dir.path(), options).expect("opens");
    let payload = vec![7u8; 16 * 1024];
    // 8 MiB of payload into a 1 MiB map.
    for batch in 0..16 {
        let events = (0..32)
            .map(|_| NewEvent {
                event_type: "Blob".into(),
                schema_version: 1,
                codec: Codec::Postcard,
                payload: payload.clone(),
            })
            .collect();
        store
            .append(
                &format!("Blob-{batch}"),
                ExpectedVersion::NoStream,
                events,
                &Metadata::default(),
            )
            .expect("a full map grows");
    }
    assert_eq!(store.head_position().expect("reads"), 16 * 32);
    let all = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .collect::<Result<Vec<_>, _>>()
        .expect("reads");
    assert!(all.iter().all(|e| e.payload == payload));
    let last = store
        .read_stream("Blob-15", u64::MAX, Direction::Backward, 1)
        .expect("starts")
        .next()
        .expect("one event")
        .expect("reads");
    assert_eq!(last.version, 32);
}

#[cfg(unix)]
#[test]
fn the_store_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("store");
    let _store = LmdbStore::open(&dir).expect("opens");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("data.mdb")), 0o600);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_await_the_group_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let mut tasks = Vec::new();
    for n in 0..50u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_async(
                    &format!("Async-{}", n % 5),
                    ExpectedVersion::Any,
                    vec![conformance::event("E", n)],
                    &Metadata::default(),
                )
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task runs").expect("appends");
    }
    assert_eq!(store.head_position().expect("reads"), 50);
}

/// A store that keeps `EventStore`'s default `replay_stream` (over `read_stream`) and
/// `replay_all` (over `read_all`), as another backend would. The duration is added to each
/// snapshot write: a disk whose syncs are slow (`asynchronous.rs`).
#[derive(Clone)]
pub(crate) struct DefaultReplay(pub(crate) LmdbStore, pub(crate) std::time::Duration);

impl EventStore for DefaultReplay {
    fn append_multi(
        &self,
        appends: Vec<esdsl_runtime::store::StreamAppend>,
        metadata: &Metadata,
    ) -> esdsl_runtime::Result<Vec<esdsl_runtime::store::AppendResult>> {
        self.0.append_multi(appends, metadata)
    }
    fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> esdsl_runtime::Result<esdsl_runtime::store::Events<'_>> {
        self.0.read_stream(stream, from, direction, limit)
    }
    fn read_all(
        &self,
        from: u64,
        filter: &Filter,
        limit: usize,
    ) -> esdsl_runtime::Result<esdsl_runtime::store::Events<'_>> {
        self.0.read_all(from, filter, limit)
    }
    fn stream_version(&self, stream: &str) -> esdsl_runtime::Result<Option<u64>> {
        self.0.stream_version(stream)
    }
    fn streams(&self) -> esdsl_runtime::Result<Vec<esdsl_runtime::store::StreamInfo>> {
        self.0.streams()
    }
    fn head_position(&self) -> esdsl_runtime::Result<u64> {
        self.0.head_position()
    }
    fn catalog(&self) -> esdsl_runtime::Result<Vec<esdsl_runtime::store::CatalogEntry>> {
        self.0.catalog()
    }
    fn wait_for_commit(
        &self,
        after: u64,
        timeout: std::time::Duration,
    ) -> esdsl_runtime::Result<u64> {
        self.0.wait_for_commit(after, timeout)
    }
    fn load_checkpoint(&self, name: &str) -> esdsl_runtime::Result<Option<u64>> {
        self.0.load_checkpoint(name)
    }
    fn save_checkpoint(&self, name: &str, position: u64) -> esdsl_runtime::Result<()> {
        self.0.save_checkpoint(name, position)
    }
    fn save_snapshot(
        &self,
        snapshot: &esdsl_runtime::store::Snapshot,
    ) -> esdsl_runtime::Result<()> {
        std::thread::sleep(self.1);
        self.0.save_snapshot(snapshot)
    }
    fn load_snapshot(
        &self,
        stream: &str,
        at_most: u64,
    ) -> esdsl_runtime::Result<Option<esdsl_runtime::store::Snapshot>> {
        self.0.load_snapshot(stream, at_most)
    }
}

#[test]
fn the_default_replay_over_read_stream_keeps_the_contract() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        dirs.push(dir);
        DefaultReplay(store, std::time::Duration::ZERO)
    });
}

#[test]
fn the_catalog_counts_runs_of_types_that_come_back_in_one_append() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let at = |event_type: &str, schema_version| NewEvent {
        schema_version,
        ..conformance::event(event_type, 1)
    };
    let events = vec![
        at("A", 1),
        at("B", 1),
        at("A", 1),
        at("A", 1),
        at("B", 2),
        at("A", 1),
    ];
    store
        .append(
            "Cart-9",
            ExpectedVersion::NoStream,
            events,
            &Metadata::default(),
        )
        .expect("appends");
    let appends = ["Cart-8", "Shop-1"]
        .into_iter()
        .map(|stream| esdsl_runtime::store::StreamAppend {
            stream: stream.into(),
            expected: ExpectedVersion::NoStream,
            events: vec![at("A", 1), at("A", 1)],
        })
        .collect();
    store
        .append_multi(appends, &Metadata::default())
        .expect("appends");
    let mut catalog: Vec<(String, String, u32, u64)> = store
        .catalog()
        .expect("reads")
        .into_iter()
        .map(|e| (e.aggregate_type, e.event_type, e.schema_version, e.count))
        .collect();
    catalog.sort();
    assert_eq!(
        catalog,
        [
            ("Cart".into(), "A".into(), 1, 6),
            ("Cart".into(), "B".into(), 1, 1),
            ("Cart".into(), "B".into(), 2, 1),
            ("Shop".into(), "A".into(), 1, 2),
        ]
    );
}

/// What the log holds per (aggregate type, event type, schema version), counted from a read.
fn recount(store: &LmdbStore) -> Vec<(String, String, u32, u64)> {
    let mut counts = std::collections::BTreeMap::new();
    for event in store
        .read_all(0, &Filter::all(), usize::MAX)
        .expect("reads")
    {
        let event = event.expect("reads");
        let key = (
            event.category().to_owned(),
            event.event_type.clone(),
            event.schema_version,
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .map(|((a, t, v), n)| (a, t, v, n))
        .collect()
}

fn catalog_of(store: &LmdbStore) -> Vec<(String, String, u32, u64)> {
    let mut entries: Vec<_> = store
        .catalog()
        .expect("reads")
        .into_iter()
        .map(|e| (e.aggregate_type, e.event_type, e.schema_version, e.count))
        .collect();
    entries.sort();
    entries
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever the appends (single events, batches past the catalog's flush size, several
    /// streams at once) and wherever the store is reopened (which drops the tail the writer
    /// keeps in memory), the catalog equals a recount of the log and `verify` finds nothing.
    #[test]
    fn the_catalog_equals_a_recount_across_flushes_and_reopens(
        appends in proptest::collection::vec(
            (0..3usize, 0..2usize, 1..3u32, prop_oneof_counts(), proptest::prelude::any::<bool>(), 0..8u8),
            1..14,
        ),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let open = || {
            LmdbStore::open_with(dir.path(), StoreOptions::default().durability(Durability::NoSync))
                .expect("opens")
        };
        let mut store = open();
        for (stream, event_type, version, count, two_streams, reopen) in appends {
            let events = |n: usize| -> Vec<NewEvent> {
                (0..n)
                    .map(|i| NewEvent {
                        // Runs of one type, then the other, within an append.
                        event_type: ["Opened", "Moved"][(event_type + i / 7) % 2].into(),
                        schema_version: version,
                        codec: Codec::Json,
                        payload: b"{}".to_vec(),
                    })
                    .collect()
            };
            let name = ["Cart-1", "Cart-2", "Shop-1"][stream];
            let mut batch = vec![esdsl_runtime::store::StreamAppend {
                stream: name.into(),
                expected: ExpectedVersion::Any,
                events: events(count),
            }];
            if two_streams {
                batch.push(esdsl_runtime::store::StreamAppend {
                    stream: "Order-9".into(),
                    expected: ExpectedVersion::Any,
                    events: events(count / 2 + 1),
                });
            }
            store.append_multi(batch, &Metadata::default()).expect("appends");
            if reopen == 0 {
                drop(store);
                store = open();
            }
            proptest::prop_assert_eq!(catalog_of(&store), recount(&store));
        }
        let report = store.verify().expect("verifies");
        proptest::prop_assert!(report.is_ok(), "{:?}", report.violations);
    }
}

/// Mostly single events, sometimes a batch longer than the catalog's flush size.
fn prop_oneof_counts() -> impl proptest::strategy::Strategy<Value = usize> {
    use proptest::strategy::Strategy;
    proptest::prop_oneof![8 => 1..4usize, 2 => 100..700usize, 1 => 1000..1300usize].boxed()
}
