//! The bodies of esdsl's fuzz targets. Each takes arbitrary bytes and must neither panic nor
//! overflow the stack; some also check a property (a decoded event encodes and decodes back to
//! itself). `fuzz/targets/fuzz_targets/*.rs` hand them libFuzzer's input (`cargo fuzz run`,
//! see `fuzz/README.md`); `fuzz/tests/corpus.rs` runs them over the checked-in corpus
//! (`fuzz/corpus/`) and random input on stable Rust, so a regression fails `cargo test`
//! without a nightly toolchain.
//!
//! | target | body |
//! | --- | --- |
//! | `schema` | [`schema`]: parse and validate a schema, then generate and format its code or render its diagnostics |
//! | `lock` | [`lock`]: parse a lock file and write it back |
//! | `evolution` | [`evolution`]: two schemas, the first locked, the second checked against it |
//! | `decode_json`, `decode_postcard` | [`decode`]: every event type and version of `schemas/fuzz.toml` |
//! | `record` | [`record`]: the LMDB record parser |
//! | `store` | [`store`]: a real store with one table entry replaced, read through the public API |

use std::ops::ControlFlow;

use esdsl_runtime::lmdb::{Durability, LmdbStore, StoreOptions};
use esdsl_runtime::projection::{
    HandlerError, Projection, ProjectionOptions, ReadModel, StoreProjection, StoreRunner,
    StoreStatus,
};
use esdsl_runtime::store::{Direction, EventRef, EventStore, ExpectedVersion, Filter, Metadata};
use esdsl_runtime::{Codec, Decoded, Event, Repository, uuid};
use esdsl_schema::evolve;
use esdsl_schema::lock::Lock;
use esdsl_schema::{SchemaFile, codegen};

/// The decoder targets' event family, generated from `schemas/fuzz.toml`.
#[allow(missing_docs, unreachable_pub)]
pub mod garden {
    esdsl_runtime::schema!("schemas/fuzz.toml");

    impl esdsl_runtime::Upcast<v2::Planted> for v3::Planted {
        fn upcast(old: v2::Planted) -> Self {
            Self {
                root: old.root,
                label: old.label,
                weights: old.weights,
                tags: old.tags.join(","),
                height: old.height,
                depth: old.depth.map(u64::from),
            }
        }
    }
}

/// The text of `data`, as a file would be read (invalid UTF-8 replaced).
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Parses and validates `data` as a schema; generates and formats its code when it is valid,
/// renders every diagnostic when it is not.
pub fn schema(data: &[u8]) {
    let source = text(data);
    match esdsl_schema::parse_schema("fuzz.toml", &source) {
        Ok(schema) => {
            let tokens = codegen::generate(&schema);
            let _ = codegen::format_file(tokens, "fuzz.toml");
        }
        Err(report) => {
            let _ = report.render();
        }
    }
}

/// Parses `data` as a lock file; a lock that parses is written back and must parse again to
/// the same entries.
pub fn lock(data: &[u8]) {
    let source = text(data);
    match Lock::parse("esdsl.lock", &source) {
        Ok(lock) => {
            let written = lock.to_toml();
            let again = Lock::parse("esdsl.lock", &written).expect("a written lock parses");
            assert_eq!(again.len(), lock.len(), "a written lock keeps its entries");
        }
        Err(report) => {
            let _ = report.render();
        }
    }
}

/// Two schemas separated by a line `---`: the first is locked, the second is checked against
/// that lock (and, when it passes, locked on top of it).
pub fn evolution(data: &[u8]) {
    let source = text(data);
    let (old, new) = source.split_once("\n---\n").unwrap_or((&source, ""));
    let Ok(old) = SchemaFile::parse("schemas/fuzz.toml", "fuzz.toml", old) else {
        return;
    };
    let mut lock = Lock::new();
    lock.update(std::slice::from_ref(&old));
    let Ok(new) = SchemaFile::parse("schemas/fuzz.toml", "fuzz.toml", new) else {
        return;
    };
    let findings = evolve::check(std::slice::from_ref(&new), &lock);
    if !findings.iter().any(evolve::Finding::is_deny) {
        lock.update(std::slice::from_ref(&new));
    }
}

/// Decodes `data` with `codec` as every event type and version the fuzz schema knows; an
/// event that decodes must encode and decode back to itself (at its newest version), so a
/// decode never changes a value that a later re-encode would store.
pub fn decode(codec: Codec, data: &[u8]) {
    for info in garden::GardenEvent::EVENT_TYPES {
        let names = std::iter::once(info.name).chain(info.renamed_from.iter().copied());
        for name in names {
            for version in 0..=info.newest_version + 1 {
                let Ok(Decoded::Event(event)) =
                    garden::GardenEvent::decode(name, version, data, codec)
                else {
                    continue;
                };
                let bytes = event.encode(codec).expect("a decoded event encodes");
                let again = garden::GardenEvent::decode(
                    event.event_type(),
                    event.event_version(),
                    &bytes,
                    codec,
                );
                match again {
                    Ok(Decoded::Event(again)) => assert_eq!(
                        format!("{again:?}"),
                        format!("{event:?}"),
                        "{name} v{version} decodes back to itself"
                    ),
                    other => {
                        panic!("{name} v{version}: an encoded event does not decode: {other:?}")
                    }
                }
            }
        }
    }
}

/// Reads `data` as an LMDB record.
pub fn record(data: &[u8]) {
    esdsl_runtime::lmdb::fuzzing::record(data);
}

/// The tables the `store` target damages, picked by the input's first byte.
const TABLES: [&str; 9] = esdsl_runtime::lmdb::fuzzing::TABLES;

/// A store of a few events, a projection and a snapshot; then one entry of one table set to
/// what `data` says (its first byte picks the table, the next byte the key's length, then the
/// key and the value); then every read of the public API, each of which must return (an error
/// is fine) and leave the store usable.
pub fn store(data: &[u8]) {
    let Some((&table, rest)) = data.split_first() else {
        return;
    };
    let Some((&key_len, rest)) = rest.split_first() else {
        return;
    };
    let (key, value) = rest.split_at(usize::from(key_len).min(rest.len()));
    if key.is_empty() || key.len() > 511 {
        return;
    }
    let table = TABLES[usize::from(table) % TABLES.len()];
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let options = StoreOptions::default()
        .durability(Durability::NoSync)
        .initial_map_size(1 << 20);
    {
        let Ok(store) = LmdbStore::open_with(dir.path(), options.clone()) else {
            return;
        };
        seed(&store);
    }
    if put_raw(dir.path(), table, key, value).is_err() {
        return;
    }
    let Ok(store) = LmdbStore::open_with(dir.path(), options) else {
        return;
    };
    read_everything(&store);
    // Still usable: an append goes through or is refused, and reads answer.
    let event = planted(9);
    let _ = store.append(
        "Garden-new",
        ExpectedVersion::Any,
        vec![event],
        &Metadata::default(),
    );
    let _ = store.head_position();
    drop(store);
    let _ = LmdbStore::read_only_status(dir.path());
}

fn planted(n: u32) -> esdsl_runtime::store::NewEvent {
    let event = garden::GardenEvent::from(garden::Planted {
        root: garden::Node {
            value: f64::from(n) / 3.0,
            label: None,
            children: vec![garden::Node {
                value: 1.0,
                label: Some("leaf".into()),
                children: Vec::new(),
            }],
        },
        label: format!("plant {n}"),
        weights: [("sun".to_owned(), 0.25)].into(),
        tags: "a,b".into(),
        height: 1.5,
        depth: Some(u64::from(n)),
    });
    esdsl_runtime::store::NewEvent::encode(&event, Codec::Postcard).expect("encodes")
}

/// The two gardens the store target writes.
const GARDENS: [garden::GardenId; 2] = [
    garden::GardenId(uuid::Uuid::from_u128(1)),
    garden::GardenId(uuid::Uuid::from_u128(2)),
];

/// A few events in two streams, a checkpoint, a projection's state and a snapshot.
fn seed(store: &LmdbStore) {
    let metadata = Metadata {
        user: [("k".to_owned(), "v".to_owned())].into(),
        ..Metadata::default()
    };
    for n in 0..4 {
        let stream = esdsl_runtime::store::stream_name(&GARDENS[n as usize % 2]);
        let _ = store.append(&stream, ExpectedVersion::Any, vec![planted(n)], &metadata);
    }
    let _ = store.save_checkpoint("consumer", 2);
    if let Ok(mut runner) = StoreRunner::new(store.clone(), Counter, ProjectionOptions::default()) {
        let _ = runner.run_until_caught_up();
    }
    let _ = store.save_snapshot(&esdsl_runtime::store::Snapshot {
        stream: esdsl_runtime::store::stream_name(&GARDENS[0]),
        version: 1,
        fingerprint: 7,
        state: b"state".to_vec(),
    });
}

/// Writes `key` = `value` into `table` of the closed store in `dir`, with heed directly.
fn put_raw(dir: &std::path::Path, table: &str, key: &[u8], value: &[u8]) -> heed::Result<()> {
    use heed::types::Bytes;
    // SAFETY: the store in `dir` is closed and no other process uses it; no unsafe flags.
    #[allow(unsafe_code)]
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(16).open(dir) }?;
    let db = env
        .open_databases_and_commit(env.read_txn()?, |opener, txn| {
            opener
                .open_database::<Bytes, Bytes>(txn, Some(table))
                .map(heed::CommitOrAbort::<_, ()>::Commit)
        })?
        .unwrap_commit();
    let mut txn = env.write_txn()?;
    if let Some(db) = db {
        db.put(&mut txn, key, value)?;
    }
    txn.commit()
}

/// Every read of the public API, results ignored: what must not happen is a panic.
fn read_everything(store: &LmdbStore) {
    let _ = store.verify();
    let _ = store.head_position();
    let _ = store.catalog();
    let streams = store.streams().unwrap_or_default();
    let known = GARDENS.map(|id| esdsl_runtime::store::stream_name(&id));
    for stream in streams
        .iter()
        .map(|s| s.name.as_str())
        .chain(known.iter().map(String::as_str))
    {
        for direction in [Direction::Forward, Direction::Backward] {
            let from = if direction == Direction::Forward {
                1
            } else {
                u64::MAX
            };
            if let Ok(events) = store.read_stream(stream, from, direction, 100) {
                for event in events.take(100).flatten() {
                    let _ = event.decode::<garden::GardenEvent>();
                }
            }
        }
        let _ = store.replay_stream(stream, 1, 100, &mut |event| {
            let _ = event.decode::<garden::GardenEvent>();
            Ok(ControlFlow::Continue(()))
        });
        let _ = store.stream_version(stream);
        let _ = store.load_snapshot(stream, u64::MAX);
    }
    if let Ok(events) = store.read_all(0, &Filter::all(), 100) {
        for event in events.take(100) {
            let _ = event.map(|e| e.decode::<garden::GardenEvent>());
        }
    }
    let _ = store.replay_all(0, &Filter::all(), 100, &mut |event| {
        let _ = event.decode::<garden::GardenEvent>();
        Ok(ControlFlow::Continue(()))
    });
    let _ = store.load_checkpoint("consumer");
    let _ = StoreStatus::of(store);
    if let Ok(mut runner) = StoreRunner::new(
        store.clone(),
        Counter,
        ProjectionOptions::default().max_attempts(1),
    ) {
        let _ = runner.run_until_caught_up();
        let _ = runner.parked();
        let _ = runner.replay_parked();
    }
    if let Ok(repository) = Repository::<Garden>::new(store.clone()) {
        let repository = repository.with_snapshots(esdsl_runtime::SnapshotPolicy::Every(1));
        for id in &GARDENS {
            let _ = repository.load(id);
            let _ = repository.load_at(id, 1);
        }
    }
}

/// A projection counting the events it applies.
#[derive(Debug)]
struct Counter;

impl Projection for Counter {
    type Event = garden::GardenEvent;

    fn name(&self) -> &str {
        "counter"
    }
}

impl StoreProjection for Counter {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        _: &garden::GardenEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        let count: u64 = model.get_json("count")?.unwrap_or(0);
        model.put_json("count", &(count + 1))?;
        model.put(
            recorded.stream().as_bytes(),
            &recorded.version().to_be_bytes(),
        )?;
        Ok(())
    }
}

/// The fuzz schema's aggregate, so loads (and snapshots) go through a repository.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Garden {
    plants: u64,
}

impl esdsl_runtime::SnapshotState for Garden {}

impl esdsl_runtime::Aggregate for Garden {
    type Id = garden::GardenId;
    type Event = garden::GardenEvent;
    type Command = ();
    type Error = std::convert::Infallible;

    fn apply(&mut self, _: &garden::GardenEvent) {
        self.plants += 1;
    }

    fn handle(&self, (): &()) -> Result<Vec<garden::GardenEvent>, std::convert::Infallible> {
        Ok(Vec::new())
    }
}
