//! Soak test: sustained mixed load for a set time, then an integrity check.
//!
//! ```sh
//! cargo run --release -p soak -- --seconds 600
//! ```
//!
//! Writers run commands through a `Repository` (with retries on conflict), readers load
//! aggregates, and a `StoreRunner` follows the log live. Every interval it prints commands/s,
//! loads/s, the projection's lag, the process's resident memory and the store's size; at the end
//! it stops the projection, checks it equals the log, and runs `LmdbStore::verify`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{
    HandlerError, Projection, ProjectionOptions, ReadModel, ReadModelView, Stop, StoreProjection,
    StoreRunner,
};
use esdsl_runtime::store::{EventRef, EventStore};
use esdsl_runtime::{Aggregate, Repository, SnapshotPolicy, SnapshotState};

mod bank {
    esdsl_runtime::schema!("../../schemas/bank.toml");

    impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
        fn upcast(old: v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

use bank::{AccountEvent, AccountId};

#[derive(Debug, Parser)]
#[command(about = "Sustained mixed load on the esdsl LMDB store")]
struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds between reports.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Writer threads.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Accounts the writers share (fewer means more conflicts).
    #[arg(long, default_value_t = 200)]
    accounts: u128,
    /// Store directory (a fresh temporary one by default).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Account {
    balance: i64,
    events: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("refused")]
struct Refused;

impl Aggregate for Account {
    type Id = AccountId;
    type Event = AccountEvent;
    type Command = i64;
    type Error = Refused;

    fn apply(&mut self, event: &AccountEvent) {
        self.events += 1;
        match event {
            AccountEvent::MoneyDeposited(e) => self.balance += e.amount_cents,
            AccountEvent::MoneyWithdrawn(e) => self.balance -= e.amount_cents,
            _ => {}
        }
    }

    fn handle(&self, cents: &i64) -> Result<Vec<AccountEvent>, Refused> {
        Ok(vec![
            bank::MoneyDeposited {
                amount_cents: *cents,
                memo: None,
            }
            .into(),
        ])
    }
}

impl SnapshotState for Account {}

/// Counts events and sums deposits, in the store.
struct Totals;

impl Projection for Totals {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "soak-totals"
    }
}

impl StoreProjection for Totals {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        event: &AccountEvent,
        _recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        let events: u64 = model.get_json("events")?.unwrap_or(0);
        model.put_json("events", &(events + 1))?;
        if let AccountEvent::MoneyDeposited(e) = event {
            let sum: i64 = model.get_json("sum")?.unwrap_or(0);
            model.put_json("sum", &(sum + e.amount_cents))?;
        }
        Ok(())
    }
}

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1 << 20) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().join("store"));
    let store = LmdbStore::open(&dir)?;
    let accounts = Arc::new(
        Repository::<Account>::new(store.clone())?
            .with_max_retries(10_000)
            .with_snapshots(SnapshotPolicy::Every(100)),
    );
    let ids: Arc<Vec<AccountId>> = Arc::new(
        (1..=args.accounts)
            .map(|k| AccountId(uuid_from(k)))
            .collect(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let commands = Arc::new(AtomicU64::new(0));
    let loads = Arc::new(AtomicU64::new(0));
    let stop = Stop::new(&store);
    println!(
        "soak: {} s on {}, {} writers, {} accounts",
        args.seconds,
        dir.display(),
        args.writers,
        args.accounts
    );
    println!("| t (s) | commands/s | loads/s | projection lag | RSS MiB | data.mdb MiB |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");

    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error>> {
        let projection = {
            let store = store.clone();
            let stop = stop.clone();
            scope.spawn(move || {
                StoreRunner::new(store, Totals, ProjectionOptions::default())
                    .and_then(|mut runner| runner.run(&stop))
            })
        };
        for writer in 0..args.writers {
            let (accounts, ids, done, commands) = (
                Arc::clone(&accounts),
                Arc::clone(&ids),
                Arc::clone(&done),
                Arc::clone(&commands),
            );
            scope.spawn(move || {
                let mut n = writer;
                while !done.load(Ordering::Relaxed) {
                    n = n.wrapping_mul(31).wrapping_add(7);
                    if accounts.execute(&ids[n % ids.len()], &1).is_ok() {
                        commands.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        {
            let (accounts, ids, done, loads) = (
                Arc::clone(&accounts),
                Arc::clone(&ids),
                Arc::clone(&done),
                Arc::clone(&loads),
            );
            scope.spawn(move || {
                let mut n = 0usize;
                while !done.load(Ordering::Relaxed) {
                    n = n.wrapping_add(13);
                    if accounts.load(&ids[n % ids.len()]).is_ok() {
                        loads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let mut last = (0, 0);
        let view = ReadModelView::new(&store, "soak-totals");
        while started.elapsed() < Duration::from_secs(args.seconds) {
            std::thread::sleep(Duration::from_secs(args.interval.max(1)));
            let (c, l) = (
                commands.load(Ordering::Relaxed),
                loads.load(Ordering::Relaxed),
            );
            let head = store.head_position()?;
            let projected: u64 = view.get_json("events")?.unwrap_or(0);
            let size = std::fs::metadata(dir.join("data.mdb"))?.len() as f64 / (1 << 20) as f64;
            println!(
                "| {} | {:.0} | {:.0} | {} | {:.1} | {:.1} |",
                started.elapsed().as_secs(),
                (c - last.0) as f64 / args.interval as f64,
                (l - last.1) as f64 / args.interval as f64,
                head.saturating_sub(projected),
                resident_mib(),
                size
            );
            last = (c, l);
        }
        done.store(true, Ordering::Relaxed);
        stop.stop();
        projection.join().map_err(|_| "the projection panicked")??;
        Ok(())
    })?;

    // Integrity: the projection equals the log, and the store's invariants hold.
    let mut runner = StoreRunner::new(store.clone(), Totals, ProjectionOptions::default())?;
    runner.run_until_caught_up()?;
    let head = store.head_position()?;
    let projected: u64 = ReadModelView::new(&store, "soak-totals")
        .get_json("events")?
        .unwrap_or(0);
    let report = store.verify()?;
    println!(
        "\n{} commands, {} loads, {head} events stored",
        commands.load(Ordering::Relaxed),
        loads.load(Ordering::Relaxed)
    );
    println!("projection: {projected} events (log: {head})");
    println!(
        "verify: {} events, {} streams, {} violations",
        report.events,
        report.streams,
        report.violations.len()
    );
    for violation in &report.violations {
        println!("  {}: {}", violation.location, violation.problem);
    }
    if projected != head || !report.is_ok() {
        return Err("integrity check failed".into());
    }
    println!("integrity check passed");
    Ok(())
}

fn uuid_from(k: u128) -> esdsl_runtime::uuid::Uuid {
    esdsl_runtime::uuid::Uuid::from_u128(k)
}
