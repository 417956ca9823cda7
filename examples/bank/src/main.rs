//! The bank example: accounts on the embedded LMDB store, with commands, a domain error, a
//! retried conflict, an old event read through the upcasters, and time travel.
//!
//! ```sh
//! cargo run -p bank                # store in examples/bank/data
//! cargo run -p bank -- /some/dir   # store elsewhere
//! ```

// Amounts are in cents, written `euros_cents` (`100_00` is 100.00).
#![allow(clippy::inconsistent_digit_grouping)]

use std::path::PathBuf;

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{ProjectionOptions, ReadModelView, StoreRunner};
use esdsl_runtime::store::{
    Direction, EventStore, ExpectedVersion, Metadata, NewEvent, stream_name,
};
use esdsl_runtime::{Codec, Decoded, Error, ExecuteError, Repository};

mod account;
mod projection;

mod bank {
    esdsl_runtime::schema!("../../schemas/bank.toml");

    /// `manual_upcasts = [3]`: the v2 -> v3 step of `MoneyDeposited` turns dollars into cents.
    impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
        fn upcast(old: v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

use account::{Account, Command, Refused};
use bank::{AccountEvent, AccountId, Currency};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"));
    let store = LmdbStore::open(&dir)?;
    println!("store: {}", dir.display());
    println!(
        "  holds {} events in {} stream(s) from earlier runs",
        store.head_position()?,
        store.streams()?.len()
    );
    // Two threads will write one stream as fast as they can: allow many retries.
    let accounts = Repository::<Account>::new(store.clone())?.with_max_retries(1_000);

    // Open an account and move money.
    let ada = AccountId::now_v7();
    accounts.execute(
        &ada,
        &Command::Open {
            owner: "Ada".into(),
            currency: Currency::Eur,
        },
    )?;
    accounts.execute(
        &ada,
        &Command::Deposit {
            cents: 100_00,
            memo: Some("salary".into()),
        },
    )?;
    let done = accounts.execute(&ada, &Command::Withdraw { cents: 30_00 })?;
    println!("\nopened account {ada} for Ada");
    println!(
        "  deposited 100.00, withdrew 30.00: balance {}",
        money(done.state.balance_cents)
    );

    // A domain error: the aggregate refuses, nothing is written.
    match accounts.execute(&ada, &Command::Withdraw { cents: 500_00 }) {
        Err(ExecuteError::Domain(refused @ Refused::Overdraft { .. })) => {
            println!("  withdrawing 500.00 is refused: {refused}");
        }
        other => return Err(format!("expected an overdraft, got {other:?}").into()),
    }

    // A conflict: an append that expects an old version fails and writes nothing...
    let stream = stream_name(&ada);
    let stale = NewEvent::encode(
        &AccountEvent::from(bank::MoneyDeposited {
            amount_cents: 1,
            memo: None,
        }),
        Codec::Json,
    )?;
    match store.append(
        &stream,
        ExpectedVersion::Exact(1),
        vec![stale],
        &Metadata::default(),
    ) {
        Err(conflict @ Error::Conflict { .. }) => println!("\nconflict: {conflict}"),
        other => return Err(format!("expected a conflict, got {other:?}").into()),
    }
    // ...and `execute` reloads and retries: two threads deposit into one account at once.
    let retries = std::thread::scope(|scope| -> Result<u32, Box<dyn std::error::Error>> {
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let accounts = &accounts;
                let ada = &ada;
                scope.spawn(move || {
                    (0..25)
                        .map(|n| {
                            let memo = Some(format!("worker {worker}, deposit {n}"));
                            accounts
                                .execute(ada, &Command::Deposit { cents: 1_00, memo })
                                .map(|done| done.retries)
                        })
                        .sum::<Result<u32, _>>()
                })
            })
            .collect();
        let mut retries = 0;
        for worker in workers {
            retries += worker.join().map_err(|_| "a worker panicked")??;
        }
        Ok(retries)
    })?;
    let after = accounts.load(&ada)?;
    println!(
        "  two threads made 50 deposits of 1.00 with {retries} retries after conflicts: balance {}, version {}",
        money(after.state.balance_cents),
        after.version
    );

    // An event written years ago as MoneyDeposited v1 (whole euros, an i32) reads back as v3.
    store.append(
        &stream,
        ExpectedVersion::Exact(after.version),
        vec![NewEvent {
            event_type: "MoneyDeposited".into(),
            schema_version: 1,
            codec: Codec::Json,
            payload: br#"{"amount":40}"#.to_vec(),
        }],
        &Metadata::default(),
    )?;
    let stored = store
        .read_stream(&stream, u64::MAX, Direction::Backward, 1)?
        .next()
        .ok_or("the event just written")??;
    println!(
        "\nstored raw: {} v{} {}",
        stored.event_type,
        stored.schema_version,
        String::from_utf8_lossy(&stored.payload)
    );
    if let Decoded::Event(event) = stored.decode::<AccountEvent>()? {
        println!("  read back through the upcasters as {event:?}");
    }
    let now = accounts.load(&ada)?;
    println!("  balance now {}", money(now.state.balance_cents));

    // Time travel.
    let then = accounts.load_at(&ada, 2)?;
    println!(
        "\nat version 2 the balance was {}; at version {} it is {}",
        money(then.state.balance_cents),
        now.version,
        money(now.state.balance_cents)
    );
    let opened_at = store
        .read_stream(&stream, 1, Direction::Forward, 1)?
        .next()
        .ok_or("the opening event")??
        .recorded_at;
    let first = accounts.load_as_of(&ada, opened_at)?;
    println!(
        "  as of {opened_at} (when it opened): version {}, balance {}",
        first.version,
        money(first.state.balance_cents)
    );
    // A closed account refuses deposits.
    let grace = AccountId::now_v7();
    accounts.execute(
        &grace,
        &Command::Open {
            owner: "Grace".into(),
            currency: Currency::Gbp,
        },
    )?;
    accounts.execute(&grace, &Command::Close)?;
    if let Err(ExecuteError::Domain(refused)) = accounts.execute(
        &grace,
        &Command::Deposit {
            cents: 5_00,
            memo: None,
        },
    ) {
        println!(
            "
Grace's account is closed; a deposit is refused: {refused}"
        );
    }

    // A projection: balances by currency, updated exactly once in the store.
    let mut balances = StoreRunner::new(
        store.clone(),
        projection::BalancesByCurrency,
        ProjectionOptions::default(),
    )?;
    let run = balances.run_until_caught_up()?;
    println!(
        "\nprojection `{}` handled {} new events (checkpoint {}):",
        projection::NAME,
        run.handled,
        run.checkpoint
    );
    for (key, value) in ReadModelView::new(&store, projection::NAME).entries()? {
        if let Some(currency) = key.strip_prefix(b"balance/") {
            let cents: i64 = serde_json::from_slice(&value)?;
            println!(
                "  {}: {}",
                String::from_utf8_lossy(currency).to_uppercase(),
                money(cents).trim_end_matches(" EUR")
            );
        }
    }

    println!(
        "\nthe store now holds {} events in {} stream(s)",
        store.head_position()?,
        store.streams()?.len()
    );
    Ok(())
}

fn money(cents: i64) -> String {
    format!("{}.{:02} EUR", cents / 100, (cents % 100).abs())
}
