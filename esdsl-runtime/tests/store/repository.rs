//! The repository: replay with upcasting, execute with retries, time travel, catalog checks.

use chrono::Utc;
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata, NewEvent, stream_name};
use esdsl_runtime::testing::given;
use esdsl_runtime::{Aggregate, Codec, Error, ExecuteError, Repository};
use proptest::prelude::*;
use uuid::Uuid;

use crate::bank::{Account, AccountEvent, AccountId, Command, Refused, schema};

fn repository() -> (tempfile::TempDir, Repository<Account>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    (dir, Repository::new(store).expect("empty store"))
}

#[test]
fn execute_appends_and_load_replays() {
    let (_dir, accounts) = repository();
    let id = AccountId::now_v7();
    accounts.execute(&id, &Command::Open).expect("opens");
    accounts
        .execute(&id, &Command::Deposit(1_000, Some("salary".into())))
        .expect("deposits");
    let done = accounts
        .execute(&id, &Command::Withdraw(300))
        .expect("withdraws");
    assert_eq!(
        (done.version, done.state.balance, done.retries),
        (3, 700, 0)
    );
    let refused = accounts.execute(&id, &Command::Withdraw(701));
    assert!(
        matches!(
            refused,
            Err(ExecuteError::Domain(Refused::Overdraft {
                balance: 700,
                amount: 701
            }))
        ),
        "{refused:?}"
    );
    let loaded = accounts.load(&id).expect("loads");
    assert_eq!((loaded.version, loaded.state.balance), (3, 700));
    assert_eq!(loaded.state.memos, ["salary"]);
    // A command that produces nothing appends nothing.
    let again = accounts.execute(&id, &Command::Open).expect("no-op");
    assert_eq!((again.version, again.events.len()), (3, 0));
}

#[test]
fn metadata_reaches_the_stored_envelope() {
    let (_dir, accounts) = repository();
    let id = AccountId::now_v7();
    let metadata = Metadata {
        correlation_id: Some(Uuid::now_v7()),
        causation_id: Some(Uuid::now_v7()),
        user: [("user".to_owned(), "ada".to_owned())].into(),
    };
    accounts
        .execute_with(&id, &Command::Open, &metadata)
        .expect("opens");
    let recorded = accounts
        .store()
        .read_stream(
            &stream_name(&id),
            1,
            esdsl_runtime::store::Direction::Forward,
            1,
        )
        .expect("reads")
        .next()
        .expect("one event")
        .expect("reads");
    assert_eq!(recorded.stream, format!("Account-{id}"));
    assert_eq!(recorded.correlation_id, metadata.correlation_id);
    assert_eq!(recorded.causation_id, metadata.causation_id);
    assert_eq!(recorded.metadata, metadata.user);
}

#[test]
fn old_versions_in_the_store_are_upcast_on_load() {
    let (_dir, accounts) = repository();
    let id = AccountId::now_v7();
    let raw = |event_type: &str, version: u32, payload: &[u8]| NewEvent {
        event_type: event_type.to_owned().into(),
        schema_version: version,
        codec: Codec::Json,
        payload: payload.to_vec(),
    };
    accounts
        .store()
        .append(
            &stream_name(&id),
            ExpectedVersion::NoStream,
            vec![
                raw("AccountOpened", 1, br#"{"owner":"old"}"#),
                raw("MoneyDeposited", 1, br#"{"amount":12}"#),
                raw("MoneyDeposited", 2, br#"{"amount":3,"memo":"tip"}"#),
                raw("LegacyAudit", 1, br#"{"note":"skipped"}"#),
            ],
            &Metadata::default(),
        )
        .expect("appends");
    let loaded = accounts.load(&id).expect("loads through the upcasters");
    assert!(loaded.state.open);
    assert_eq!(loaded.state.balance, 1_500);
    assert_eq!(loaded.state.memos, ["tip"]);
    assert_eq!(
        loaded.version, 4,
        "a skipped retired event still counts in the version"
    );
}

#[test]
fn time_travel_by_version_and_by_time() {
    let (_dir, accounts) = repository();
    let id = AccountId::now_v7();
    accounts.execute(&id, &Command::Open).expect("opens");
    accounts
        .execute(&id, &Command::Deposit(100, None))
        .expect("deposits");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let between = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    accounts
        .execute(&id, &Command::Deposit(50, None))
        .expect("deposits");
    accounts
        .execute(&id, &Command::Withdraw(30))
        .expect("withdraws");

    assert_eq!(
        accounts.load_at(&id, 0).expect("loads").state,
        Account::default()
    );
    let at2 = accounts.load_at(&id, 2).expect("loads");
    assert_eq!((at2.version, at2.state.balance), (2, 100));
    let at3 = accounts.load_at(&id, 3).expect("loads");
    assert_eq!((at3.version, at3.state.balance), (3, 150));
    let beyond = accounts.load_at(&id, 99).expect("loads");
    assert_eq!((beyond.version, beyond.state.balance), (4, 120));

    let then = accounts.load_as_of(&id, between).expect("loads");
    assert_eq!((then.version, then.state.balance), (2, 100));
    let before = accounts
        .load_as_of(&id, between - chrono::Duration::days(1))
        .expect("loads");
    assert_eq!(before.version, 0);
    let now = accounts.load_as_of(&id, Utc::now()).expect("loads");
    assert_eq!(now.version, 4);
}

#[test]
fn a_store_the_program_cannot_read_is_refused_with_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let raw = |event_type: &str, version: u32| NewEvent {
        event_type: event_type.to_owned().into(),
        schema_version: version,
        codec: Codec::Json,
        payload: b"{}".to_vec(),
    };
    let any = ExpectedVersion::Any;
    let none = Metadata::default();
    store
        .append(
            "Account-1",
            any,
            vec![raw("MoneyDeposited", 4), raw("MoneyDeposited", 4)],
            &none,
        )
        .expect("appends");
    store
        .append(
            "Account-2",
            any,
            vec![
                raw("AccountFrozen", 1),
                raw("LegacyAudit", 1),
                raw("AccountShut", 1),
            ],
            &none,
        )
        .expect("appends");
    store
        .append("Cart-1", any, vec![raw("Whatever", 9)], &none)
        .expect("other aggregates do not matter");
    let refused = Repository::<Account>::new(store);
    let Err(Error::Undecodable { aggregate, entries }) = refused else {
        panic!("expected Undecodable, got {refused:?}");
    };
    assert_eq!(aggregate, "Account");
    let found: Vec<(&str, u32, u64, &str)> = entries
        .iter()
        .map(|e| {
            (
                e.event_type.as_str(),
                e.schema_version,
                e.count,
                e.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("AccountFrozen", 1, 1, "unknown event type"),
            ("MoneyDeposited", 4, 2, "newest known version is 3"),
        ]
    );
}

#[test]
fn given_when_then_runs_without_a_store() {
    let opened = AccountEvent::from(schema::AccountOpened {
        owner: "x".into(),
        currency: schema::Currency::Usd,
    });
    let deposited = |cents| {
        AccountEvent::from(schema::MoneyDeposited {
            amount_cents: cents,
            memo: None,
        })
    };
    given::<Account>([opened.clone(), deposited(100)])
        .when(Command::Withdraw(40))
        .then_expect([schema::MoneyWithdrawn {
            amount_cents: 40,
            memo: None,
        }
        .into()]);
    given::<Account>([opened.clone()])
        .when(Command::Withdraw(1))
        .then_error(Refused::Overdraft {
            balance: 0,
            amount: 1,
        });
    given::<Account>([])
        .when(Command::Deposit(1, None))
        .then_error_matches(|e| matches!(e, Refused::NotOpen));
}

#[test]
#[should_panic(expected = "the command produced other events")]
fn given_when_then_fails_on_other_events() {
    given::<Account>([])
        .when(Command::Open)
        .then_expect(Vec::<AccountEvent>::new());
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Open),
        (1i64..500, proptest::option::of("[a-z]{1,4}")).prop_map(|(a, m)| Command::Deposit(a, m)),
        (1i64..500).prop_map(Command::Withdraw),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Loading replays the stored events; it must equal folding the events the commands
    /// produced, for any command sequence (refused commands included).
    #[test]
    fn replaying_equals_folding(commands in proptest::collection::vec(command(), 0..40)) {
        let (_dir, accounts) = repository();
        let id = AccountId::now_v7();
        let mut folded = Account::default();
        let mut produced = 0u64;
        for command in &commands {
            match accounts.execute(&id, command) {
                Ok(done) => {
                    for event in &done.events {
                        folded.apply(event);
                    }
                    produced += done.events.len() as u64;
                }
                Err(ExecuteError::Domain(_)) => {}
                Err(other) => panic!("store error: {other}"),
            }
        }
        let loaded = accounts.load(&id).expect("loads");
        prop_assert_eq!(loaded.version, produced);
        prop_assert_eq!(loaded.state, folded);
    }
}

/// `execute_async` runs the same command loop as `execute`: concurrent commands on one
/// aggregate conflict, retry at the version they reload, and every one lands once.
#[cfg(feature = "tokio")]
#[test]
fn execute_async_retries_conflicts_and_lands_every_command_once() {
    let (_dir, accounts) = repository();
    let accounts = std::sync::Arc::new(accounts.with_max_retries(1_000));
    let id = AccountId::now_v7();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (results, refused) = runtime.block_on(async {
        accounts
            .execute_async(&id, &Command::Open)
            .await
            .expect("opens");
        let tasks: Vec<_> = (1..=16)
            .map(|n| {
                let (accounts, id) = (accounts.clone(), id);
                tokio::spawn(async move {
                    accounts
                        .execute_async(&id, &Command::Deposit(n, None))
                        .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("the task").expect("deposits"));
        }
        let refused = accounts.execute_async(&id, &Command::Withdraw(1_000)).await;
        (results, refused)
    });
    let mut versions: Vec<u64> = results.iter().map(|done| done.version).collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=17).collect::<Vec<_>>(),
        "each at its own version"
    );
    let loaded = accounts.load(&id).expect("loads");
    assert_eq!(
        (loaded.version, loaded.state.balance),
        (17, (1..=16).sum::<i64>())
    );
    assert!(
        matches!(
            refused,
            Err(ExecuteError::Domain(Refused::Overdraft { .. }))
        ),
        "{refused:?}"
    );
}
