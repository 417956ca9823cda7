//! Checksums on records and snapshots: a flipped bit is a `Corrupt` error naming its place
//! (never a wrong value), and a store written before checksums gets them in place.

use std::path::Path;

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::{Direction, EventStore, Filter, RecordedEvent, stream_name};
use esdsl_runtime::{Error, Repository, SnapshotPolicy};

use crate::bad_data::{raw_events, raw_table};
use crate::bank::{Account, AccountId, Command};

/// Every record of the log with its raw bytes, read with heed behind the store's back.
fn raw_records(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    raw_events(dir, |txn, events| {
        events
            .iter(txn)
            .expect("iterates")
            .map(|entry| {
                let (key, value) = entry.expect("reads");
                let position = u64::from_be_bytes(key.try_into().expect("8 bytes"));
                (position, value.to_vec())
            })
            .collect()
    })
}

/// Rewrites the record at `position` with `bytes`.
fn put_raw(dir: &Path, position: u64, bytes: &[u8]) {
    raw_events(dir, |txn, events| {
        events
            .put(txn, &position.to_be_bytes(), bytes)
            .expect("writes")
    });
}

/// The meta value under `key`, written first when `value` is given.
fn meta(dir: &Path, key: &str, value: Option<&[u8]>) -> Option<Vec<u8>> {
    raw_table(dir, "meta", |txn, meta| {
        if let Some(value) = value {
            meta.put(txn, key.as_bytes(), value).expect("writes");
        }
        meta.get(txn, key.as_bytes())
            .expect("reads")
            .map(<[u8]>::to_vec)
    })
}

/// A record as the format before checksums wrote it: format byte 1, no checksum at the end.
fn without_checksum(record: &[u8]) -> Vec<u8> {
    let mut old = record[..record.len() - 4].to_vec();
    old[0] = 1;
    old
}

fn all_events(store: &LmdbStore) -> Vec<RecordedEvent> {
    store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("every event reads")
}

/// Two accounts with a few deposits each; returns their ids.
fn populate(dir: &Path) -> [AccountId; 2] {
    let store = LmdbStore::open(dir).expect("opens");
    let accounts = Repository::<Account>::new(store)
        .expect("opens")
        .with_snapshots(SnapshotPolicy::Every(4));
    let ids = [AccountId::now_v7(), AccountId::now_v7()];
    for id in &ids {
        accounts.execute(id, &Command::Open).expect("opens");
    }
    for n in 0..5 {
        for id in &ids {
            accounts
                .execute(id, &Command::Deposit(n + 5, None))
                .expect("deposits");
        }
    }
    ids
}

#[test]
fn a_flipped_bit_in_a_payload_is_a_corrupt_error_not_a_wrong_balance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [victim, healthy] = populate(dir.path());
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let before = accounts.load(&healthy).expect("loads");
    let position = store
        .read_stream(&stream_name(&victim), u64::MAX, Direction::Backward, 1)
        .expect("starts")
        .next()
        .expect("an event")
        .expect("reads")
        .position;
    drop((accounts, store));

    // The victim's last deposit of 9 cents: turn the JSON digit '9' (0x39) into '8' (0x38),
    // one bit, which without a checksum would load as a balance one cent short.
    let (_, mut record) = raw_records(dir.path())
        .into_iter()
        .find(|(at, _)| *at == position)
        .expect("the victim's last event");
    let digit = record
        .windows(2)
        .rposition(|pair| pair == b":9")
        .expect("the amount 9 in the payload")
        + 1;
    record[digit] ^= 1;
    put_raw(dir.path(), position, &record);

    let store = LmdbStore::open(dir.path()).expect("reopens");
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    match accounts.load(&victim) {
        Err(Error::Corrupt { what, key, reason }) => {
            assert_eq!(
                (what, key.as_str()),
                ("event", position.to_string().as_str())
            );
            assert!(reason.starts_with("checksum mismatch"), "{reason}");
        }
        other => panic!("expected a checksum error at {position}, got {other:?}"),
    }
    let items: Vec<_> = store
        .read_stream(&stream_name(&victim), 1, Direction::Forward, 100)
        .expect("starts")
        .collect();
    assert_eq!(items.len(), 6);
    assert!(items[..5].iter().all(Result::is_ok));
    assert!(matches!(&items[5], Err(Error::Corrupt { key, .. }) if *key == position.to_string()));
    let report = store.verify().expect("verifies");
    assert!(!report.is_ok());
    assert!(
        format!("{report:?}").contains("checksum mismatch"),
        "{report:?}"
    );
    // Nothing else is touched.
    assert_eq!(accounts.load(&healthy).expect("loads"), before);
}

#[test]
fn a_store_written_before_checksums_gets_them_in_place_when_opened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = populate(dir.path());
    let (events, states) = {
        let store = LmdbStore::open(dir.path()).expect("reopens");
        let accounts = Repository::<Account>::new(store.clone()).expect("opens");
        let states: Vec<_> = ids
            .iter()
            .map(|id| accounts.load(id).expect("loads"))
            .collect();
        (all_events(&store), states)
    };
    // Make it a store of format 2, as the previous version wrote it: records without
    // checksums, one of them damaged (it must not get a checksum vouching for its bytes).
    let records = raw_records(dir.path());
    assert_eq!(records.len(), 12);
    for (position, record) in &records {
        assert_eq!(record[0], 2, "written with a checksum");
        put_raw(dir.path(), *position, &without_checksum(record));
    }
    let damaged = without_checksum(&records[11].1)[..30].to_vec();
    put_raw(dir.path(), 12, &damaged);
    meta(dir.path(), "format", Some(&2u32.to_be_bytes()));

    drop(LmdbStore::open(dir.path()).expect("opens and upgrades"));
    assert_eq!(
        meta(dir.path(), "format", None),
        Some(3u32.to_be_bytes().to_vec())
    );
    assert_eq!(meta(dir.path(), "checksum_from", None), None, "finished");
    let upgraded = raw_records(dir.path());
    for (position, record) in &upgraded[..11] {
        assert_eq!(
            record,
            &records[*position as usize - 1].1,
            "position {position}: the same bytes as a record written with its checksum"
        );
    }
    assert_eq!(upgraded[11].1, damaged, "a damaged record keeps its bytes");
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let read: Vec<_> = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .collect();
    assert_eq!(read.len(), 12);
    for (event, expected) in read[..11].iter().zip(&events) {
        assert_eq!(event.as_ref().expect("reads"), expected);
    }
    assert!(matches!(&read[11], Err(Error::Corrupt { key, .. }) if key == "12"));
    // Snapshots written without a checksum were dropped; loads replay and write new ones.
    let accounts = Repository::<Account>::new(store.clone())
        .expect("opens")
        .with_snapshots(SnapshotPolicy::Every(4));
    assert_eq!(accounts.load(&ids[0]).expect("loads"), states[0]);
    assert!(
        store
            .load_snapshot(&stream_name(&ids[0]), u64::MAX)
            .expect("reads")
            .is_some(),
        "a load past the policy writes one again"
    );
}

#[test]
fn an_interrupted_upgrade_carries_on_at_the_next_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    populate(dir.path());
    let events = all_events(&LmdbStore::open(dir.path()).expect("reopens"));
    let records = raw_records(dir.path());
    // Stopped half way: format 3 written, positions 1..=5 done, 6.. still without checksums.
    for (position, record) in &records[5..] {
        put_raw(dir.path(), *position, &without_checksum(record));
    }
    meta(dir.path(), "format", Some(&3u32.to_be_bytes()));
    meta(dir.path(), "checksum_from", Some(&6u64.to_be_bytes()));
    {
        // Records of both formats read the same meanwhile.
        let store = LmdbStore::open(dir.path()).expect("opens and finishes");
        assert_eq!(all_events(&store), events);
    }
    assert_eq!(meta(dir.path(), "checksum_from", None), None);
    assert_eq!(raw_records(dir.path()), records);
}

#[test]
fn a_snapshot_with_a_flipped_bit_is_passed_over_for_the_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [id, _] = populate(dir.path());
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let plain = Repository::<Account>::new(store.clone()).expect("opens");
    let expected = plain.load(&id).expect("loads");
    drop((plain, store));
    let stream = stream_name(&id);
    // Flip the lowest bit of every byte of the newest snapshot's state in turn would be slow;
    // one in the balance is enough to make a wrong state without the checksum.
    raw_table(dir.path(), "snapshots", |txn, snapshots| {
        let (key, mut value) = snapshots
            .rev_prefix_iter(txn, stream.as_bytes())
            .expect("iterates")
            .next()
            .expect("a snapshot")
            .map(|(key, value)| (key.to_vec(), value.to_vec()))
            .expect("reads");
        value[9] ^= 1;
        snapshots.put(txn, &key, &value).expect("writes");
    });
    let store = LmdbStore::open(dir.path()).expect("reopens");
    let accounts = Repository::<Account>::new(store)
        .expect("opens")
        .with_snapshots(SnapshotPolicy::Every(4));
    assert_eq!(accounts.load(&id).expect("loads"), expected);
}

/// How long `open` takes to give a million records of format 1 their checksums (the figure in
/// docs/store.md): `cargo test --release -p esdsl-runtime --all-features --test store --
/// --ignored --nocapture the_upgrade_of_a_million_events`.
#[test]
#[ignore = "a measurement: a million events, run in release"]
fn the_upgrade_of_a_million_events() {
    use esdsl_runtime::Codec;
    use esdsl_runtime::store::{ExpectedVersion, Metadata, NewEvent};
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let payload = br#"{"amount_cents":1250,"memo":"a deposit of twelve fifty"}"#;
        for stream in 0..1_000 {
            let events = (0..1_000)
                .map(|_| NewEvent {
                    event_type: "MoneyDeposited".into(),
                    schema_version: 3,
                    codec: Codec::Json,
                    payload: payload.to_vec(),
                })
                .collect();
            store
                .append(
                    &format!("Account-{stream}"),
                    ExpectedVersion::NoStream,
                    events,
                    &Metadata::default(),
                )
                .expect("appends");
        }
    }
    raw_events(dir.path(), |txn, events| {
        let records: Vec<(Vec<u8>, Vec<u8>)> = events
            .iter(txn)
            .expect("iterates")
            .map(|entry| {
                let (key, value) = entry.expect("reads");
                (key.to_vec(), without_checksum(value))
            })
            .collect();
        for (key, value) in records {
            events.put(txn, &key, &value).expect("writes");
        }
    });
    meta(dir.path(), "format", Some(&2u32.to_be_bytes()));
    let bytes = std::fs::metadata(dir.path().join("data.mdb"))
        .expect("data.mdb")
        .len();
    let start = std::time::Instant::now();
    let store = LmdbStore::open(dir.path()).expect("opens and upgrades");
    let took = start.elapsed();
    println!(
        "upgraded 1,000,000 records ({} MiB store) in {took:.2?}",
        bytes >> 20
    );
    assert_eq!(store.head_position().expect("reads"), 1_000_000);
    assert!(store.verify().expect("verifies").is_ok());
}
