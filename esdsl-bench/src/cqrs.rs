//! The cqrs-es peer: `cqrs-es` with `postgres-es` on a local PostgreSQL, the framework a user
//! would pick for event sourcing on a server database. A tokio runtime lives only here.
//!
//! Tables as in postgres-es's `db/init.sql`, under their own names, recreated for each trial.
//! Every command loads the aggregate by reading its whole history (cqrs-es's event-sourced
//! store), then commits its events in one transaction; with `fsync` and `synchronous_commit`
//! on, the commit is durable when acknowledged, like esdsl's default.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateContext, CqrsFramework, DomainEvent, EventStore};
use postgres_es::PostgresEventRepository;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::domain::{Deposit, deposit};
use crate::measure::{Deadline, Rng, Sample, micros, repeat};

const EVENTS: &str = "esdsl_bench_events";
const SNAPSHOTS: &str = "esdsl_bench_snapshots";

/// The aggregate, folded as esdsl's bench aggregate is.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct PgAccount {
    balance_cents: i64,
    events: u64,
}

/// The same event as `MoneyDeposited` v3, in cqrs-es's serialized form.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum PgEvent {
    MoneyDeposited {
        amount_cents: i64,
        memo: Option<String>,
    },
}

impl DomainEvent for PgEvent {
    fn event_type(&self) -> String {
        "MoneyDeposited".to_owned()
    }

    fn event_version(&self) -> String {
        "3".to_owned()
    }
}

impl cqrs_es::Aggregate for PgAccount {
    const TYPE: &'static str = "Account";
    type Command = Deposit;
    type Event = PgEvent;
    type Error = Infallible;
    type Services = ();

    async fn handle(
        &mut self,
        command: Deposit,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Infallible> {
        let event = PgEvent::MoneyDeposited {
            amount_cents: command.0,
            memo: None,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PgEvent) {
        match event {
            PgEvent::MoneyDeposited { amount_cents, .. } => {
                self.balance_cents = self.balance_cents.wrapping_add(amount_cents);
                self.events += 1;
            }
        }
    }
}

type Store = PersistedEventStore<PostgresEventRepository, PgAccount>;
type Cqrs = CqrsFramework<PgAccount, Store>;

/// A connection pool to the PostgreSQL the peer runs on, with its own runtime.
pub(crate) struct Postgres {
    runtime: tokio::runtime::Runtime,
    pool: PgPool,
    /// `fsync` and `synchronous_commit` as the server reports them.
    pub(crate) settings: String,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects, or says why it cannot.
    pub(crate) fn connect(url: &str) -> Result<Postgres> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting a tokio runtime")?;
        let pool = runtime.block_on(async {
            PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(3))
                .connect(url)
                .await
        });
        let pool = pool.with_context(|| format!("connecting to {url}"))?;
        let settings = runtime.block_on(async {
            let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&pool).await?;
            let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(&pool)
                .await?;
            let version: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&pool)
                .await?;
            Ok::<_, sqlx::Error>(format!(
                "PostgreSQL {version}, fsync={fsync}, synchronous_commit={commit}"
            ))
        })?;
        Ok(Postgres {
            runtime,
            pool,
            settings,
        })
    }

    /// Whether an acknowledged commit is on disk (both settings on).
    pub(crate) fn durable(&self) -> bool {
        self.settings.contains("fsync=on") && self.settings.contains("synchronous_commit=on")
    }

    /// Drops and recreates the tables: a fresh store for a trial.
    fn fresh_tables(&self) -> Result<()> {
        self.runtime.block_on(async {
            for statement in [
                format!("DROP TABLE IF EXISTS {EVENTS}"),
                format!("DROP TABLE IF EXISTS {SNAPSHOTS}"),
                format!(
                    "CREATE TABLE {EVENTS} (
                        aggregate_type text NOT NULL,
                        aggregate_id   text NOT NULL,
                        sequence       bigint CHECK (sequence >= 0) NOT NULL,
                        event_type     text NOT NULL,
                        event_version  text NOT NULL,
                        payload        json NOT NULL,
                        metadata       json NOT NULL,
                        PRIMARY KEY (aggregate_type, aggregate_id, sequence)
                    )"
                ),
                format!(
                    "CREATE TABLE {SNAPSHOTS} (
                        aggregate_type   text NOT NULL,
                        aggregate_id     text NOT NULL,
                        last_sequence    bigint CHECK (last_sequence >= 0) NOT NULL,
                        current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
                        payload          json NOT NULL,
                        PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
                    )"
                ),
            ] {
                sqlx::query(&statement).execute(&self.pool).await?;
            }
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    fn store(&self) -> Store {
        let repository =
            PostgresEventRepository::new(self.pool.clone()).with_tables(EVENTS, SNAPSHOTS);
        PersistedEventStore::new_event_store(repository)
    }

    /// Commands through `CqrsFramework::execute`, `workers` tasks at once, each on fresh
    /// aggregates (`growing` false) or on one aggregate of its own that grows by one event per
    /// command.
    pub(crate) fn commands(
        &self,
        count: usize,
        workers: usize,
        growing: bool,
        budget: Duration,
    ) -> Result<Sample> {
        self.fresh_tables()?;
        // A growing aggregate must reach its size: only fresh aggregates stop at the deadline.
        let deadline = if growing {
            Deadline::never()
        } else {
            Deadline::after(budget)
        };
        let cqrs = Arc::new(Cqrs::new(self.store(), Vec::new(), ()));
        let per_worker = count / workers;
        let latencies = Arc::new(Mutex::new(Vec::with_capacity(count)));
        let start = Instant::now();
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..workers)
                .map(|w| {
                    let cqrs = Arc::clone(&cqrs);
                    let latencies = Arc::clone(&latencies);
                    tokio::spawn(async move {
                        let mut mine = Vec::with_capacity(per_worker);
                        for n in 0..per_worker {
                            if deadline.passed() {
                                break;
                            }
                            let id = if growing {
                                format!("{w}")
                            } else {
                                format!("{}", w * per_worker + n)
                            };
                            let began = Instant::now();
                            cqrs.execute(&id, Deposit(100 + n as i64))
                                .await
                                .map_err(|e| anyhow::anyhow!("cqrs-es: {e}"))?;
                            mine.push(micros(began.elapsed()));
                        }
                        latencies
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?
                            .extend(mine);
                        Ok::<_, anyhow::Error>(())
                    })
                })
                .collect();
            for task in tasks {
                task.await.context("a cqrs-es task panicked")??;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        let elapsed = start.elapsed();
        let latencies =
            std::mem::take(&mut *latencies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
        Ok(Sample::new(latencies.len() as u64, elapsed).with_latencies(latencies))
    }

    /// Loads (`load_aggregate`: select the history, deserialize, apply) of one aggregate of
    /// `count` deposits made from the same seed as esdsl's, repeated for `min_time`.
    pub(crate) fn loads(&self, seed: u64, count: usize, min_time: Duration) -> Result<Sample> {
        self.fresh_tables()?;
        let store = self.store();
        let id = "loaded";
        let mut rng = Rng::new(seed);
        let events: Vec<PgEvent> = (0..count)
            .map(|_| {
                let d = deposit(&mut rng);
                PgEvent::MoneyDeposited {
                    amount_cents: d.amount_cents,
                    memo: d.memo,
                }
            })
            .collect();
        self.runtime
            .block_on(async {
                let context = store.load_aggregate(id).await?;
                store
                    .commit(events, context, Default::default())
                    .await
                    .map(drop)
            })
            .map_err(|e| anyhow::anyhow!("cqrs-es: {e}"))?;
        repeat(min_time, 3, || {
            let mut context = self
                .runtime
                .block_on(store.load_aggregate(id))
                .map_err(|e| anyhow::anyhow!("cqrs-es: {e}"))?;
            let events = context.aggregate().events;
            anyhow::ensure!(events == count as u64, "loaded {events} of {count}");
            Ok(events)
        })
    }
}
