//! Snapshots: used when valid, ignored when their fingerprint or bytes are wrong, and snapshot
//! plus tail always equals a full replay.

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::{EventStore, Snapshot, stream_name};
use esdsl_runtime::{ExecuteError, Repository, SnapshotPolicy, state_fingerprint};
use proptest::prelude::*;

use crate::bank::{Account, AccountId, Command};

fn repositories() -> (tempfile::TempDir, Repository<Account>, Repository<Account>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let plain = Repository::<Account>::new(store.clone()).expect("opens");
    let snapshotting = Repository::<Account>::new(store)
        .expect("opens")
        .with_snapshots(SnapshotPolicy::Every(10));
    (dir, plain, snapshotting)
}

#[test]
fn snapshots_are_written_every_n_events_and_used_on_load() {
    let (_dir, plain, accounts) = repositories();
    let id = AccountId::now_v7();
    accounts.execute(&id, &Command::Open).expect("opens");
    for n in 0..24 {
        accounts
            .execute(&id, &Command::Deposit(n + 1, None))
            .expect("deposits");
    }
    let stream = stream_name(&id);
    let snapshot = accounts
        .store()
        .load_snapshot(&stream, u64::MAX)
        .expect("reads")
        .expect("written");
    assert_eq!(snapshot.version, 20);
    assert_eq!(snapshot.fingerprint, state_fingerprint::<Account>());
    assert_eq!(
        accounts.load(&id).expect("loads"),
        plain.load(&id).expect("loads")
    );

    // Prove the snapshot is read: plant one with the right fingerprint but a wrong balance.
    let mut planted: Account = plain.load_at(&id, 20).expect("loads").state;
    planted.balance = 1_000_000;
    accounts
        .store()
        .save_snapshot(&Snapshot {
            stream: stream.clone(),
            version: 20,
            fingerprint: state_fingerprint::<Account>(),
            state: postcard::to_stdvec(&planted).expect("encodes"),
        })
        .expect("writes");
    // Versions 21..=25 are the deposits of 20..=24.
    let tail: i64 = (20..=24).sum();
    assert_eq!(
        accounts.load(&id).expect("loads").state.balance,
        1_000_000 + tail
    );
    // Time travel below the snapshot ignores it; by time it replays from the start.
    assert_eq!(
        accounts.load_at(&id, 10).expect("loads"),
        plain.load_at(&id, 10).expect("loads")
    );
    assert_eq!(
        accounts.load_as_of(&id, chrono::Utc::now()).expect("loads"),
        plain.load(&id).expect("loads")
    );
}

#[test]
fn a_snapshot_with_another_fingerprint_or_bad_bytes_is_ignored() {
    let (_dir, plain, accounts) = repositories();
    let id = AccountId::now_v7();
    accounts.execute(&id, &Command::Open).expect("opens");
    for _ in 0..5 {
        accounts
            .execute(&id, &Command::Deposit(7, None))
            .expect("deposits");
    }
    let stream = stream_name(&id);
    let expected = plain.load(&id).expect("loads");
    for (fingerprint, state) in [
        (
            state_fingerprint::<Account>() ^ 1,
            postcard::to_stdvec(&Account {
                balance: 99,
                ..Account::default()
            })
            .expect("encodes"),
        ),
        (state_fingerprint::<Account>(), vec![0xff, 0xff, 0xff]),
    ] {
        accounts
            .store()
            .save_snapshot(&Snapshot {
                stream: stream.clone(),
                version: 6,
                fingerprint,
                state,
            })
            .expect("writes");
        assert_eq!(
            accounts
                .load(&id)
                .expect("an invalid snapshot is not an error"),
            expected
        );
    }
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        1 => Just(Command::Open),
        6 => (1i64..100).prop_map(|a| Command::Deposit(a, None)),
        3 => (1i64..100).prop_map(Command::Withdraw),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn snapshot_plus_tail_equals_full_replay(
        commands in proptest::collection::vec(command(), 1..60),
        every in 1u64..8,
        at in 0u64..70,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        let plain = Repository::<Account>::new(store.clone()).expect("opens");
        let accounts = Repository::<Account>::new(store).expect("opens").with_snapshots(SnapshotPolicy::Every(every));
        let id = AccountId::now_v7();
        for command in &commands {
            match accounts.execute(&id, command) {
                Ok(_) | Err(ExecuteError::Domain(_)) => {}
                Err(other) => panic!("store error: {other}"),
            }
        }
        prop_assert_eq!(accounts.load(&id).expect("loads"), plain.load(&id).expect("loads"));
        prop_assert_eq!(accounts.load_at(&id, at).expect("loads"), plain.load_at(&id, at).expect("loads"));
    }
}
