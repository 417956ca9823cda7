//! Corrupt payloads, unknown types and versions, unknown codecs and damaged records: each is a
//! typed error naming where it is, and the store keeps serving everything else.

use std::ops::ControlFlow;
use std::time::Duration;

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::Subscription;
use esdsl_runtime::store::{
    Direction, EventStore, ExpectedVersion, Filter, Metadata, NewEvent, stream_name,
};
use esdsl_runtime::{Codec, DecodeError, Error, Repository};
use heed::types::Bytes;

use crate::bank::{Account, AccountId, Command};

fn raw(event_type: &str, version: u32, codec: Codec, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_type: event_type.to_owned().into(),
        schema_version: version,
        codec,
        payload: payload.to_vec(),
    }
}

/// Runs `f` on the raw `events` database of the (closed) store in `dir`, in one committed
/// write transaction: to damage it behind esdsl's back.
pub(crate) fn raw_events<T>(
    dir: &std::path::Path,
    f: impl FnOnce(&mut heed::RwTxn<'_>, heed::Database<'static, Bytes, Bytes>) -> T,
) -> T {
    raw_table(dir, "events", f)
}

/// Opens one table of a closed store with heed directly and runs `f` in a write transaction.
pub(crate) fn raw_table<T>(
    dir: &std::path::Path,
    table: &str,
    f: impl FnOnce(&mut heed::RwTxn<'_>, heed::Database<'static, Bytes, Bytes>) -> T,
) -> T {
    #[allow(unsafe_code)]
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(16).open(dir) }.expect("opens raw");
    let events: heed::Database<'static, Bytes, Bytes> = env
        .open_databases_and_commit(env.read_txn().expect("txn"), |opener, txn| {
            opener
                .open_database::<Bytes, Bytes>(txn, Some(table))
                .map(heed::CommitOrAbort::<_, ()>::Commit)
        })
        .expect("opens")
        .unwrap_commit()
        .expect("exists");
    let mut txn = env.write_txn().expect("txn");
    let out = f(&mut txn, events);
    txn.commit().expect("commits");
    out
}

/// Gives a record of the current format the checksum of its changed bytes: a record written
/// this way by another program (a newer codec, say), not damage.
pub(crate) fn reseal(record: &mut [u8]) {
    let body = record.len() - 4;
    let checksum = crc32fast::hash(&record[..body]);
    record[body..].copy_from_slice(&checksum.to_be_bytes());
}

#[test]
fn undecodable_events_are_typed_errors_naming_their_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let accounts = Repository::<Account>::new(store.clone()).expect("empty store");
    let healthy = AccountId::now_v7();
    accounts.execute(&healthy, &Command::Open).expect("opens");

    type Check = fn(&DecodeError) -> bool;
    let cases: [(NewEvent, Check); 3] = [
        (
            raw(
                "MoneyDeposited",
                3,
                Codec::Json,
                b"{\"amount_cents\": \"lots\"}",
            ),
            |e| matches!(e, DecodeError::Payload { .. }),
        ),
        (raw("MoneyMinted", 1, Codec::Json, b"{}"), |e| {
            matches!(e, DecodeError::UnknownType { .. })
        }),
        (raw("MoneyDeposited", 9, Codec::Json, b"{}"), |e| {
            matches!(e, DecodeError::UnknownVersion { newest: 3, .. })
        }),
    ];
    for (event, expected) in cases {
        let id = AccountId::now_v7();
        let stream = stream_name(&id);
        let event_type = event.event_type.clone();
        let version = event.schema_version;
        let done = store
            .append(
                &stream,
                ExpectedVersion::NoStream,
                vec![event],
                &Metadata::default(),
            )
            .expect("the store takes any payload");
        let position = done.last_position.expect("one event");
        match accounts.load(&id) {
            Err(Error::Decode {
                stream: s,
                position: p,
                stream_version,
                event_type: t,
                schema_version,
                source,
            }) => {
                assert_eq!(
                    (s.as_str(), p, stream_version),
                    (stream.as_str(), position, 1)
                );
                assert_eq!((t.as_str(), schema_version), (event_type.as_ref(), version));
                assert!(expected(&source), "{source:?}");
            }
            other => panic!("expected a decode error for {event_type} v{version}, got {other:?}"),
        }
    }
    // Everything else still works.
    assert!(accounts.load(&healthy).expect("loads").state.open);
    accounts
        .execute(&healthy, &Command::Deposit(5, None))
        .expect("appends");
    let all = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .count();
    assert_eq!(all, 5);
}

#[test]
fn damaged_records_on_disk_are_typed_errors_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let victim = AccountId::now_v7();
    let healthy = AccountId::now_v7();
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let accounts = Repository::<Account>::new(store).expect("empty store");
        accounts.execute(&victim, &Command::Open).expect("opens"); // position 1
        accounts.execute(&healthy, &Command::Open).expect("opens"); // position 2
        accounts
            .execute(&victim, &Command::Deposit(1, None))
            .expect("deposits"); // position 3
    }
    // Damage the disk behind esdsl's back: an unknown codec at 1, a truncated record at 3.
    raw_events(dir.path(), |txn, events| {
        let mut first = events
            .get(txn, &1u64.to_be_bytes())
            .expect("reads")
            .expect("exists")
            .to_vec();
        first[1] = 99;
        reseal(&mut first);
        events
            .put(txn, &1u64.to_be_bytes(), &first)
            .expect("writes");
        events
            .put(txn, &3u64.to_be_bytes(), &[1, 1, 0])
            .expect("writes");
    });
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let accounts = Repository::<Account>::new(store.clone()).expect("the catalog is intact");
    let stream = stream_name(&victim);
    match accounts.load(&victim) {
        Err(Error::UnknownCodec {
            stream: s,
            position: 1,
            event_type,
            schema_version: 2,
            codec_id: 99,
        }) => {
            assert_eq!(s, stream);
            assert_eq!(event_type, "AccountOpened");
        }
        other => panic!("expected UnknownCodec, got {other:?}"),
    }
    let items: Vec<_> = store
        .read_stream(&stream, 1, Direction::Forward, 10)
        .expect("starts")
        .collect();
    assert_eq!(items.len(), 2, "a damaged record does not end the read");
    assert!(
        matches!(&items[1], Err(Error::Corrupt { what: "event", key, .. }) if key == "3"),
        "{:?}",
        items[1]
    );
    let all: Vec<_> = store
        .read_all(1, &Filter::all(), 10)
        .expect("starts")
        .collect();
    assert_eq!(all.len(), 3);
    assert!(all[1].is_ok() && all[2].is_err());
    // The healthy stream loads and takes appends.
    assert!(accounts.load(&healthy).expect("loads").state.open);
    accounts
        .execute(&healthy, &Command::Deposit(7, None))
        .expect("appends");
    assert_eq!(store.head_position().expect("reads"), 4);
    // A subscription visiting where records lie reports the damaged record at its place,
    // after the events before it, and goes on after it.
    let mut subscription = Subscription::new(&store, 0, Filter::all());
    let mut seen = Vec::new();
    let mut visit = |subscription: &mut Subscription<'_, LmdbStore>| {
        subscription.visit_timeout(Duration::ZERO, |event| {
            seen.push(event.position());
            ControlFlow::Continue(())
        })
    };
    match visit(&mut subscription) {
        Err(Error::Corrupt {
            what: "event", key, ..
        }) => assert_eq!(key, "3"),
        other => panic!("expected the damaged record at 3, got {other:?}"),
    }
    assert_eq!(visit(&mut subscription).expect("reads on"), 1);
    assert_eq!(visit(&mut subscription).expect("caught up"), 0);
    assert_eq!(seen, [1, 2, 4], "every readable event once");
    // A filter cannot rule out a record whose envelope is unreadable: a subscription to other
    // events gets the same error, as `read_all` does, then goes on.
    let mut other = Subscription::new(&store, 0, Filter::aggregate("Nope"));
    let mut none = |_: esdsl_runtime::store::EventRef<'_>| ControlFlow::Continue(());
    assert!(
        matches!(
            other.visit_timeout(Duration::ZERO, &mut none),
            Err(Error::Corrupt { what: "event", ref key, .. }) if key == "3"
        ),
        "the damaged record is reported whatever the filter"
    );
    assert_eq!(
        other
            .visit_timeout(Duration::ZERO, &mut none)
            .expect("reads on"),
        0
    );
    assert_eq!(other.position(), 4);
}

/// A load walks the log from record to record while they are the stream's next versions: a
/// damaged or missing record met that way fails the load with the same error, at the same
/// place, as a read through the stream index.
#[test]
fn damage_met_while_walking_the_log_is_reported_as_a_read_reports_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let truncated = AccountId::now_v7();
    let gap = AccountId::now_v7();
    let deposit = || raw("MoneyDeposited", 3, Codec::Json, br#"{"amount_cents": 5}"#);
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let accounts = Repository::<Account>::new(store.clone()).expect("empty store");
        for id in [&truncated, &gap] {
            accounts.execute(id, &Command::Open).expect("opens");
            store
                .append(
                    &stream_name(id),
                    ExpectedVersion::Exact(1),
                    (0..5).map(|_| deposit()).collect(),
                    &Metadata::default(),
                )
                .expect("appends");
        }
        // Positions: `truncated` at 1 (open) and 2-6, `gap` at 7 and 8-12.
    }
    raw_events(dir.path(), |txn, events| {
        events
            .put(txn, &4u64.to_be_bytes(), &[1, 1, 0])
            .expect("writes");
        events.delete(txn, &10u64.to_be_bytes()).expect("deletes");
    });
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let accounts = Repository::<Account>::new(store.clone()).expect("the catalog is intact");
    let first_error = |stream: &str| {
        store
            .read_stream(stream, 1, Direction::Forward, usize::MAX)
            .expect("starts")
            .find_map(Result::err)
    };

    let loaded = accounts.load(&truncated);
    match &loaded {
        Err(Error::Corrupt { what, key, reason }) => {
            assert_eq!((*what, key.as_str()), ("event", "4"));
            assert_eq!(reason, "truncated: needs 16 more bytes, 1 left");
        }
        other => panic!("expected the damaged record at 4, got {other:?}"),
    }
    assert_eq!(
        format!("{:?}", loaded.err()),
        format!("{:?}", first_error(&stream_name(&truncated)))
    );

    let loaded = accounts.load(&gap);
    match &loaded {
        Err(Error::Corrupt { what, key, reason }) => {
            assert_eq!((*what, key.as_str()), ("stream index", "2/4"));
            assert_eq!(reason, "points at missing position 10");
        }
        other => panic!("expected the missing record at 10, got {other:?}"),
    }
    assert_eq!(
        format!("{:?}", loaded.err()),
        format!("{:?}", first_error(&stream_name(&gap)))
    );
    // Up to the damage, time travel still works.
    assert_eq!(accounts.load_at(&truncated, 2).expect("loads").version, 2);
    assert_eq!(accounts.load_at(&gap, 3).expect("loads").version, 3);
}

#[test]
fn a_store_whose_streams_table_holds_head_versions_reads_and_appends_as_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let id = AccountId(uuid::Uuid::from_u128(3));
    let stream = stream_name(&id);
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let accounts = Repository::<Account>::new(store.clone()).expect("opens");
        accounts.execute(&id, &Command::Open).expect("opens");
        for n in 0..3 {
            accounts
                .execute(&id, &Command::Deposit(n + 1, None))
                .expect("deposits");
        }
    }
    // Earlier builds kept (stream id, head version) in `streams` and updated it on each append;
    // a stale version there must not matter.
    raw_table(dir.path(), "streams", |txn, streams| {
        let value = streams
            .get(txn, stream.as_bytes())
            .expect("reads")
            .expect("the stream")
            .to_vec();
        assert_eq!(value.len(), 8, "the stream id alone");
        let old = [value.as_slice(), &1u64.to_be_bytes()].concat();
        streams.put(txn, stream.as_bytes(), &old).expect("writes");
    });
    let format = |version: Option<u32>| {
        raw_table(dir.path(), "meta", |txn, meta| {
            if let Some(version) = version {
                meta.put(txn, b"format", &version.to_be_bytes())
                    .expect("writes");
            }
            meta.get(txn, b"format")
                .expect("reads")
                .map(|bytes| u32::from_be_bytes(bytes.try_into().expect("4 bytes")))
        })
    };
    // A program that knows only format 1 refuses the store once this one has opened it.
    format(Some(1));
    drop(LmdbStore::open(dir.path()).expect("opens a format 1 store"));
    assert_eq!(
        format(None),
        Some(3),
        "opening upgrades the format in place"
    );
    format(Some(4));
    assert!(matches!(
        LmdbStore::open(dir.path()),
        Err(Error::FormatVersion {
            found: 4,
            supported: 3
        })
    ));
    format(Some(1));
    let store = LmdbStore::open(dir.path()).expect("opens");
    assert_eq!(store.stream_version(&stream).expect("reads"), Some(4));
    let listed = store.streams().expect("lists");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 4);
    store
        .append(
            &stream,
            ExpectedVersion::Exact(4),
            vec![raw(
                "MoneyDeposited",
                3,
                Codec::Json,
                br#"{"amount_cents":5}"#,
            )],
            &Metadata::default(),
        )
        .expect("appends at the index's head");
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    assert_eq!(accounts.load(&id).expect("loads").version, 5);
    assert!(store.verify().expect("verifies").is_ok());
}

#[test]
fn a_damaged_catalog_is_reported_and_repaired_by_the_next_flush_without_stopping_appends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let deposits = |n: usize| -> Vec<NewEvent> {
        (0..n)
            .map(|_| raw("MoneyDeposited", 3, Codec::Json, br#"{"amount_cents":1}"#))
            .collect()
    };
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        store
            .append(
                "Account-1",
                ExpectedVersion::Any,
                deposits(1024),
                &Metadata::default(),
            )
            .expect("appends");
    }
    // A count cut to 3 bytes, and a table position past the log's end.
    raw_table(dir.path(), "catalog", |txn, catalog| {
        let key = catalog
            .first(txn)
            .expect("reads")
            .expect("an entry")
            .0
            .to_vec();
        catalog.put(txn, &key, b"abc").expect("writes");
    });
    raw_table(dir.path(), "meta", |txn, meta| {
        meta.put(txn, b"catalog_through", &5_000u64.to_be_bytes())
            .expect("writes");
    });
    let store = LmdbStore::open(dir.path()).expect("opens");
    let report = store.verify().expect("verifies");
    let locations: Vec<&str> = report
        .violations
        .iter()
        .map(|v| v.location.as_str())
        .collect();
    assert!(
        locations.contains(&"meta[catalog_through]"),
        "{locations:?}"
    );
    assert!(
        locations
            .iter()
            .any(|at| at.starts_with("catalog[Account/")),
        "{locations:?}"
    );
    drop(store);
    raw_table(dir.path(), "meta", |txn, meta| {
        meta.put(txn, b"catalog_through", &1_024u64.to_be_bytes())
            .expect("writes");
    });
    // Appends go on; the flush at 1,024 more events counts the damaged entry again.
    let store = LmdbStore::open(dir.path()).expect("opens");
    for _ in 0..2 {
        store
            .append(
                "Account-1",
                ExpectedVersion::Any,
                deposits(600),
                &Metadata::default(),
            )
            .expect("appends despite the damaged count");
    }
    let report = store.verify().expect("verifies");
    assert!(report.is_ok(), "{:?}", report.violations);
    let counts: Vec<u64> = store
        .catalog()
        .expect("reads")
        .into_iter()
        .map(|e| e.count)
        .collect();
    assert_eq!(counts, vec![2_224]);
}

/// A position of `u64::MAX` on disk (a damaged or hostile store) leaves no position after
/// it: `verify` reports it and an append is a typed error, neither an overflow panic (these
/// tests run with overflow checks on); reads and the events before it are unaffected.
#[test]
fn a_last_position_of_u64_max_is_reported_and_refused_not_overflowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copied = {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let event = raw("Opened", 1, Codec::Json, br#"{"owner":"ada"}"#);
        store
            .append(
                "Account-1",
                ExpectedVersion::NoStream,
                vec![event],
                &Metadata::default(),
            )
            .expect("appends");
        store
            .read_all(1, &Filter::all(), 1)
            .expect("reads")
            .next()
            .expect("one")
    }
    .expect("an event");
    let record = raw_events(dir.path(), |txn, events| {
        events
            .get(txn, &1u64.to_be_bytes())
            .expect("reads")
            .map(<[u8]>::to_vec)
    })
    .expect("the record");
    raw_events(dir.path(), |txn, events| {
        events
            .put(txn, &u64::MAX.to_be_bytes(), &record)
            .expect("writes");
    });
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let report = store.verify().expect("verifies");
    assert!(!report.is_ok(), "the out-of-place position is reported");
    assert_eq!(store.head_position().expect("reads"), u64::MAX);
    let appended = store.append(
        "Account-2",
        ExpectedVersion::NoStream,
        vec![raw("Opened", 1, Codec::Json, b"{}")],
        &Metadata::default(),
    );
    assert!(
        matches!(&appended, Err(Error::Corrupt { what: "event", .. })),
        "{appended:?}"
    );
    let first = store.read_all(1, &Filter::all(), 1).expect("reads").next();
    assert_eq!(first.expect("one").expect("the event"), copied);
}
