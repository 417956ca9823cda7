//! The scenarios of issue 7: each runs every system on the same payloads, on fresh
//! directories, several trials each, and adds one row per system.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use esdsl_runtime::Codec;
use esdsl_runtime::lmdb::Durability;
use esdsl_runtime::projection::ProjectionOptions;

#[cfg(feature = "peers")]
use crate::cqrs::Postgres;
use crate::domain::{payloads, payloads_v1};
use crate::measure::{Sample, summarize};
use crate::report::{Kind, Report};
#[cfg(feature = "peers")]
use crate::sqlite;
use crate::{esdsl, limits};

/// Every scenario, in the order they run.
pub(crate) const ALL: &[&str] = &[
    "durable-append",
    "concurrent-append-32",
    "batch-1000-one-stream",
    "batch-1000-spread",
    "load-10",
    "load-100",
    "load-1000",
    "load-10000",
    "snapshot-load-10000",
    "catch-up",
    "upcast-v1-v3",
    "live-subscription",
    "commands-sequential",
    "commands-concurrent-8",
    "commands-growing-1000",
    "hot-aggregates-64",
];

/// Operation counts: `--quick` or full.
#[derive(Debug, Clone)]
pub(crate) struct Sizes {
    pub(crate) trials: usize,
    /// The most time one trial of a write loop takes before it stops starting operations.
    pub(crate) write_budget: Duration,
    pub(crate) single_appends: usize,
    pub(crate) concurrent_appends: usize,
    pub(crate) batches: usize,
    pub(crate) spread_pool: usize,
    pub(crate) load_time: Duration,
    pub(crate) catch_up_events: usize,
    pub(crate) catch_up_trials: usize,
    pub(crate) live_events: usize,
    pub(crate) commands: usize,
    pub(crate) concurrent_commands: usize,
    /// Commands per trial of `hot-aggregates-64` (64 tasks on 10 aggregates).
    pub(crate) hot_commands: usize,
}

impl Sizes {
    pub(crate) fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                trials: 3,
                write_budget: Duration::from_millis(1_500),
                single_appends: 1_000,
                concurrent_appends: 6_400,
                batches: 10,
                spread_pool: 10_000,
                load_time: Duration::from_millis(150),
                catch_up_events: 200_000,
                catch_up_trials: 3,
                live_events: 500,
                commands: 400,
                concurrent_commands: 800,
                hot_commands: 1_280,
            }
        } else {
            Sizes {
                trials: 5,
                write_budget: Duration::from_secs(4),
                single_appends: 4_000,
                concurrent_appends: 16_000,
                batches: 30,
                spread_pool: 10_000,
                load_time: Duration::from_millis(500),
                catch_up_events: 1_000_000,
                catch_up_trials: 5,
                live_events: 2_000,
                commands: 1_000,
                concurrent_commands: 2_000,
                hot_commands: 3_200,
            }
        }
    }
}

/// What every scenario needs.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) data: PathBuf,
    pub(crate) sizes: Sizes,
    pub(crate) filter: Option<String>,
    /// Run only the systems whose name contains this (for profiling one of them).
    pub(crate) systems: Option<String>,
    /// The PostgreSQL peer, or why it is not there (`None`: not needed by the chosen
    /// scenarios).
    #[cfg(feature = "peers")]
    pub(crate) postgres: Option<std::result::Result<Postgres, String>>,
}

/// Stated on every row of the systems it applies to.
pub(crate) const DURABLE: &str = "durable: acknowledged after fsync";
const READ_ONLY: &str = "read-only (durable store)";
const IN_MEMORY: &str = "in memory";

impl Ctx {
    /// Whether `scenario` was asked for: the one named exactly, else every one containing the
    /// filter.
    pub(crate) fn wanted(&self, scenario: &str) -> bool {
        match self.filter.as_deref() {
            None => true,
            Some(filter) if ALL.contains(&filter) => scenario == filter,
            Some(filter) => scenario.contains(filter),
        }
    }

    #[cfg(feature = "peers")]
    fn postgres(&self) -> std::result::Result<&Postgres, String> {
        match &self.postgres {
            Some(Ok(pg)) if pg.durable() => Ok(pg),
            Some(Ok(pg)) => Err(format!(
                "not durable like the others ({}); skipped",
                pg.settings
            )),
            Some(Err(reason)) => Err(reason.clone()),
            None => Err("not connected".to_owned()),
        }
    }
}

/// One trial of one system: its seed in, what it measured out.
type Trial<'a> = Box<dyn FnMut(u64) -> Result<Sample> + 'a>;

/// A system waiting to be measured.
struct System<'a> {
    name: String,
    kind: Kind,
    limit: Option<String>,
    durability: &'static str,
    trial: Trial<'a>,
}

/// One scenario's systems, measured together: trial 1 of every system, then trial 2, and so
/// on, so a machine that slows down for a while slows every system alike and the ratios hold.
struct Scenario<'a> {
    name: &'a str,
    trials: usize,
    filter: Option<&'a str>,
    systems: Vec<System<'a>>,
    skipped: Vec<(String, String)>,
}

impl<'a> Scenario<'a> {
    fn new(ctx: &'a Ctx, name: &'a str, trials: usize) -> Scenario<'a> {
        Scenario {
            name,
            trials,
            filter: ctx.systems.as_deref(),
            systems: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn wanted(&self, system: &str) -> bool {
        self.filter.is_none_or(|wanted| system.contains(wanted))
    }

    /// Adds a system (unless `--system` leaves it out).
    fn measure(
        &mut self,
        system: &str,
        kind: Kind,
        limit: Option<&str>,
        durability: &'static str,
        trial: impl FnMut(u64) -> Result<Sample> + 'a,
    ) {
        if self.wanted(system) {
            self.systems.push(System {
                name: system.to_owned(),
                kind,
                limit: limit.map(str::to_owned),
                durability,
                trial: Box::new(trial),
            });
        }
    }

    /// Records that `system` cannot run, and why.
    #[cfg(feature = "peers")]
    fn skip(&mut self, system: &str, reason: &str) {
        if self.wanted(system) {
            self.skipped.push((system.to_owned(), reason.to_owned()));
        }
    }

    /// Runs the trials round-robin and adds one row per system.
    fn run(mut self, report: &mut Report) -> Result<()> {
        let mut samples: Vec<Vec<Sample>> = self.systems.iter().map(|_| Vec::new()).collect();
        for seed in 0..self.trials.max(1) as u64 {
            eprintln!("{}: trial {} of {}", self.name, seed + 1, self.trials);
            for (system, samples) in self.systems.iter_mut().zip(&mut samples) {
                let sample = (system.trial)(seed)
                    .with_context(|| format!("{} / {}", self.name, system.name))?;
                samples.push(sample);
            }
        }
        for (system, samples) in self.systems.iter().zip(samples) {
            report.add(
                self.name,
                &system.name,
                system.kind,
                system.limit.as_deref(),
                system.durability,
                self.trials,
                summarize(samples),
            );
        }
        for (system, reason) in &self.skipped {
            report.skip(self.name, system, reason);
        }
        Ok(())
    }
}

pub(crate) const FDATASYNC: &str = "fdatasync loop, appending";
pub(crate) const RAW_SINGLE: &str = "raw heed put+commit";
pub(crate) const ESDSL_JSON: &str = "esdsl (json)";
pub(crate) const ESDSL_POSTCARD: &str = "esdsl (postcard)";
pub(crate) const SQLITE: &str = "SQLite (WAL, synchronous=FULL)";
pub(crate) const CQRS: &str = "cqrs-es + postgres-es";

fn codecs() -> [(Codec, &'static str); 2] {
    [(Codec::Json, ESDSL_JSON), (Codec::Postcard, ESDSL_POSTCARD)]
}

pub(crate) fn durable_append(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let name = "durable-append";
    if !ctx.wanted(name) {
        return Ok(());
    }
    let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
    let (base, ops, budget) = (&ctx.data, ctx.sizes.single_appends, ctx.sizes.write_budget);
    s.measure(FDATASYNC, Kind::Limit, None, DURABLE, move |_| {
        limits::fdatasync_loop(base, ops, false, budget)
    });
    let system = "fdatasync loop, in place (no file growth)";
    s.measure(system, Kind::Limit, None, DURABLE, move |_| {
        limits::fdatasync_loop(base, ops, true, budget)
    });
    s.measure(RAW_SINGLE, Kind::Limit, None, DURABLE, move |seed| {
        limits::heed_single_commits(base, &payloads(seed, ops, Codec::Json)?, budget)
    });
    for (codec, system) in codecs() {
        s.measure(
            system,
            Kind::Esdsl,
            Some(RAW_SINGLE),
            DURABLE,
            move |seed| {
                let payloads = payloads(seed, ops, codec)?;
                esdsl::appends(base, &payloads, 1, codec, Durability::Durable, budget)
            },
        );
    }
    #[cfg(feature = "peers")]
    s.measure(SQLITE, Kind::Sqlite, None, DURABLE, move |seed| {
        sqlite::appends(base, &payloads(seed, ops, Codec::Json)?, 1, budget)
    });
    s.measure(
        "esdsl (json, Relaxed: 1 sync, not compared)",
        Kind::Info,
        Some(RAW_SINGLE),
        "relaxed: data synced, meta page not",
        move |seed| {
            let payloads = payloads(seed, ops, Codec::Json)?;
            esdsl::appends(base, &payloads, 1, Codec::Json, Durability::Relaxed, budget)
        },
    );
    s.run(report)
}

pub(crate) const RAW_GROUP: &str = "raw heed group commit, 32 threads";
pub(crate) const ESDSL_JSON_32: &str = "esdsl (json), 32 threads";
pub(crate) const SQLITE_32: &str = "SQLite, 32 connections";

pub(crate) fn concurrent_append(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let name = "concurrent-append-32";
    if !ctx.wanted(name) {
        return Ok(());
    }
    let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
    let (base, ops, budget) = (
        &ctx.data,
        ctx.sizes.concurrent_appends,
        ctx.sizes.write_budget,
    );
    s.measure(RAW_GROUP, Kind::Limit, None, DURABLE, move |seed| {
        limits::heed_group_commit(base, &payloads(seed, ops, Codec::Json)?, 32, false, budget)
    });
    // What placing each event in its stream costs a commit of 32 appends.
    let system = "raw heed group commit, log only (not compared)";
    s.measure(system, Kind::Info, None, DURABLE, move |seed| {
        limits::heed_group_commit(base, &payloads(seed, ops, Codec::Json)?, 32, true, budget)
    });
    for (codec, system) in [
        (Codec::Json, ESDSL_JSON_32),
        (Codec::Postcard, "esdsl (postcard), 32 threads"),
    ] {
        s.measure(system, Kind::Esdsl, Some(RAW_GROUP), DURABLE, move |seed| {
            let payloads = payloads(seed, ops, codec)?;
            esdsl::appends(base, &payloads, 32, codec, Durability::Durable, budget)
        });
    }
    #[cfg(feature = "peers")]
    s.measure(SQLITE_32, Kind::Sqlite, None, DURABLE, move |seed| {
        sqlite::appends(base, &payloads(seed, ops, Codec::Json)?, 32, budget)
    });
    s.run(report)
}

pub(crate) const RAW_BATCH: &str = "raw heed batch";

pub(crate) fn batches(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let (base, count, pool) = (&ctx.data, ctx.sizes.batches, ctx.sizes.spread_pool);
    let budget = ctx.sizes.write_budget;
    for (name, spread) in [
        ("batch-1000-one-stream", None),
        ("batch-1000-spread", Some(pool)),
    ] {
        if !ctx.wanted(name) {
            continue;
        }
        let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
        s.measure(RAW_BATCH, Kind::Limit, None, DURABLE, move |seed| {
            let payloads = payloads(seed, 1000, Codec::Json)?;
            limits::heed_batches(base, &payloads, count, spread, seed, budget)
        });
        for (codec, system) in codecs() {
            s.measure(system, Kind::Esdsl, Some(RAW_BATCH), DURABLE, move |seed| {
                let payloads = payloads(seed, 1000, codec)?;
                esdsl::batches(base, &payloads, count, spread, codec, seed, budget)
            });
        }
        #[cfg(feature = "peers")]
        s.measure(SQLITE, Kind::Sqlite, None, DURABLE, move |seed| {
            let payloads = payloads(seed, 1000, Codec::Json)?;
            sqlite::batches(base, &payloads, count, spread, seed, budget)
        });
        s.run(report)?;
    }
    Ok(())
}

pub(crate) fn raw_scan(codec: Codec) -> String {
    format!("raw heed scan + {codec} decode")
}

pub(crate) fn decode_only(codec: Codec) -> String {
    format!("{codec} decode only")
}

pub(crate) const LOAD_SIZES: [usize; 4] = [10, 100, 1_000, 10_000];
pub(crate) const SQLITE_LOAD: &str = "SQLite (json)";

pub(crate) fn loads(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let (base, time) = (&ctx.data, ctx.sizes.load_time);
    for size in LOAD_SIZES {
        let name = format!("load-{size}");
        if !ctx.wanted(&name) {
            continue;
        }
        let mut s = Scenario::new(ctx, &name, ctx.sizes.trials);
        for (codec, system) in codecs() {
            let raw = raw_scan(codec);
            s.measure(&raw, Kind::Limit, None, READ_ONLY, move |seed| {
                limits::heed_scan_decode(base, &payloads(seed, size, codec)?, codec, time)
            });
            s.measure(
                &decode_only(codec),
                Kind::Limit,
                None,
                IN_MEMORY,
                move |seed| limits::decode_only(&payloads(seed, size, codec)?, codec, time),
            );
            s.measure(system, Kind::Esdsl, Some(&raw), READ_ONLY, move |seed| {
                let store = esdsl::aggregate_store(base, &payloads(seed, size, codec)?, codec, 3)?;
                esdsl::loads(&store, codec, time)
            });
        }
        if size == 1_000 {
            // The store's share of a load: the events read, not decoded.
            let system = "esdsl read_stream without decode (json, not compared)";
            s.measure(
                system,
                Kind::Info,
                Some(&raw_scan(Codec::Json)),
                READ_ONLY,
                move |seed| {
                    let payloads = payloads(seed, size, Codec::Json)?;
                    esdsl::reads(
                        &esdsl::aggregate_store(base, &payloads, Codec::Json, 3)?,
                        time,
                    )
                },
            );
        }
        #[cfg(feature = "peers")]
        s.measure(SQLITE_LOAD, Kind::Sqlite, None, READ_ONLY, move |seed| {
            sqlite::loads(base, &payloads(seed, size, Codec::Json)?, Codec::Json, time)
        });
        #[cfg(feature = "peers")]
        if size == 1_000 {
            match ctx.postgres() {
                Ok(pg) => s.measure(CQRS, Kind::CqrsEs, None, READ_ONLY, move |seed| {
                    pg.loads(seed, size, time)
                }),
                Err(reason) => s.skip(CQRS, &reason),
            }
        }
        s.run(report)?;
    }
    Ok(())
}

pub(crate) const FULL_REPLAY: &str = "esdsl full replay (json)";
pub(crate) const SNAPSHOT_TAIL: &str = "esdsl snapshot at 9,500 + 500-event tail (json)";

pub(crate) fn snapshot_load(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let name = "snapshot-load-10000";
    if !ctx.wanted(name) {
        return Ok(());
    }
    let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
    let (base, time) = (&ctx.data, ctx.sizes.load_time);
    s.measure(FULL_REPLAY, Kind::Esdsl, None, READ_ONLY, move |seed| {
        esdsl::snapshot_loads(base, &payloads(seed, 10_000, Codec::Json)?, None, time)
    });
    s.measure(
        SNAPSHOT_TAIL,
        Kind::Esdsl,
        Some(FULL_REPLAY),
        READ_ONLY,
        move |seed| {
            let payloads = payloads(seed, 10_000, Codec::Json)?;
            esdsl::snapshot_loads(base, &payloads, Some(9_500), time)
        },
    );
    s.run(report)
}

pub(crate) const RAW_LOG_SCAN: &str = "raw heed cursor scan";
/// The runner's default batch: the SQLite peer commits its checkpoint as often.
fn default_batch() -> usize {
    ProjectionOptions::DEFAULT_BATCH_SIZE
}

pub(crate) fn sqlite_catch_up() -> String {
    format!("SQLite (json, checkpoint per {})", default_batch())
}
const SUBSCRIPTION: &str = "esdsl Subscription::visit_timeout + decode (json, no checkpoint)";
/// The runner with a smaller batch than its default: what the checkpoint commits cost.
const SMALL_BATCH: usize = 4096;
const RUNNER_SMALL: &str = "esdsl StoreRunner, batch_size 4096 (json, not compared)";

pub(crate) fn runner(codec: Codec) -> String {
    format!(
        "esdsl StoreRunner, counting ({codec}, default batch of {})",
        default_batch()
    )
}

pub(crate) fn catch_up(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let name = "catch-up";
    if !ctx.wanted(name) {
        return Ok(());
    }
    let mut s = Scenario::new(ctx, name, ctx.sizes.catch_up_trials);
    let (base, count, time) = (&ctx.data, ctx.sizes.catch_up_events, ctx.sizes.load_time);
    eprintln!("catch-up over {count} events");
    s.measure(RAW_LOG_SCAN, Kind::Limit, None, READ_ONLY, move |seed| {
        let raw = limits::heed_log(base, &payloads(seed, count, Codec::Json)?)?;
        limits::heed_log_scan(&raw)
    });
    for codec in [Codec::Json, Codec::Postcard] {
        s.measure(
            &decode_only(codec),
            Kind::Limit,
            None,
            IN_MEMORY,
            move |seed| {
                // One pass over the whole log per repetition: its latency says nothing.
                let sample = limits::decode_only(&payloads(seed, count, codec)?, codec, time)?;
                Ok(sample.with_latencies(Vec::new()))
            },
        );
        s.measure(&runner(codec), Kind::Esdsl, None, DURABLE, move |seed| {
            let store = esdsl::log_store(base, &payloads(seed, count, codec)?, codec)?;
            esdsl::runner_catch_up(&store, count as u64, None)
        });
    }
    // How much of the runner's time goes to the durable checkpoint commit per batch.
    s.measure(RUNNER_SMALL, Kind::Info, None, DURABLE, move |seed| {
        let store = esdsl::log_store(base, &payloads(seed, count, Codec::Json)?, Codec::Json)?;
        esdsl::runner_catch_up(&store, count as u64, Some(SMALL_BATCH))
    });
    s.measure(SUBSCRIPTION, Kind::Esdsl, None, READ_ONLY, move |seed| {
        let store = esdsl::log_store(base, &payloads(seed, count, Codec::Json)?, Codec::Json)?;
        esdsl::subscription_catch_up(&store, count as u64)
    });
    #[cfg(feature = "peers")]
    s.measure(
        &sqlite_catch_up(),
        Kind::Sqlite,
        None,
        DURABLE,
        move |seed| {
            let db = sqlite::log(base, &payloads(seed, count, Codec::Json)?)?;
            sqlite::catch_up(&db, Codec::Json, count as u64, default_batch())
        },
    );
    s.run(report)?;
    // The target compares with the slower of the two limits.
    for codec in [Codec::Json, Codec::Postcard] {
        let decode = decode_only(codec);
        let rate = |system: &str| report.rate(name, system).unwrap_or(f64::INFINITY);
        let slower = if rate(&decode) < rate(RAW_LOG_SCAN) {
            decode
        } else {
            RAW_LOG_SCAN.to_owned()
        };
        let systems = match codec {
            Codec::Json => vec![
                runner(codec),
                RUNNER_SMALL.to_owned(),
                SUBSCRIPTION.to_owned(),
            ],
            _ => vec![runner(codec)],
        };
        for system in systems {
            report.set_limit(name, &system, &slower);
        }
    }
    Ok(())
}

pub(crate) fn upcast_replay(codec: Codec, version: u32) -> String {
    if version == 3 {
        format!("esdsl replay of v3 ({codec})")
    } else {
        format!("esdsl replay of v1, upcast to v3 ({codec})")
    }
}

pub(crate) fn upcast(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let name = "upcast-v1-v3";
    if !ctx.wanted(name) {
        return Ok(());
    }
    let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
    let (base, time) = (&ctx.data, ctx.sizes.load_time);
    for codec in [Codec::Json, Codec::Postcard] {
        let direct = upcast_replay(codec, 3);
        s.measure(&direct, Kind::Esdsl, None, READ_ONLY, move |seed| {
            let store = esdsl::aggregate_store(base, &payloads(seed, 10_000, codec)?, codec, 3)?;
            esdsl::loads(&store, codec, time)
        });
        s.measure(
            &upcast_replay(codec, 1),
            Kind::Esdsl,
            Some(&direct),
            READ_ONLY,
            move |seed| {
                let payloads = payloads_v1(seed, 10_000, codec)?;
                let store = esdsl::aggregate_store(base, &payloads, codec, 1)?;
                esdsl::loads(&store, codec, time)
            },
        );
    }
    s.run(report)
}

pub(crate) const LIVE: &str = "esdsl (commit to handler)";

pub(crate) fn live(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let name = "live-subscription";
    if !ctx.wanted(name) {
        return Ok(());
    }
    let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
    let (base, events) = (&ctx.data, ctx.sizes.live_events);
    s.measure(LIVE, Kind::Esdsl, None, DURABLE, move |_| {
        esdsl::live_subscription(base, events)
    });
    s.run(report)
}

pub(crate) const COMMANDS: [(&str, usize); 3] = [
    ("commands-sequential", 1),
    ("commands-concurrent-8", 8),
    ("commands-growing-1000", 1),
];

pub(crate) fn commands(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let (base, budget) = (&ctx.data, ctx.sizes.write_budget);
    for (name, workers) in COMMANDS {
        if !ctx.wanted(name) {
            continue;
        }
        let growing = name.contains("growing");
        let count = match workers {
            _ if growing => 1_000,
            1 => ctx.sizes.commands,
            _ => ctx.sizes.concurrent_commands,
        };
        let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
        for (codec, system) in codecs() {
            s.measure(system, Kind::Esdsl, None, DURABLE, move |_| {
                esdsl::commands(base, count, workers, growing, codec, budget)
            });
        }
        #[cfg(feature = "peers")]
        match ctx.postgres() {
            Ok(pg) => s.measure(CQRS, Kind::CqrsEs, None, DURABLE, move |_| {
                pg.commands(count, workers, growing, budget)
            }),
            Err(reason) => s.skip(CQRS, &reason),
        }
        s.run(report)?;
    }
    Ok(())
}

/// How `hot-aggregates-64` retries a command that lost a race, one system each.
pub(crate) const HOT: [(&str, esdsl::Retrying); 4] = [
    (
        "esdsl: immediate retry, full replay (before)",
        esdsl::Retrying::Before,
    ),
    (
        "esdsl: immediate retry, catch-up",
        esdsl::Retrying::Immediate,
    ),
    (
        "esdsl: backoff + jitter, catch-up (default)",
        esdsl::Retrying::Default,
    ),
    (
        "esdsl: default, snapshot every 50",
        esdsl::Retrying::DefaultSnapshots,
    ),
];

/// 64 tasks sending commands to 10 aggregates through `execute_async`, durable: the conflicts
/// of a hot spot. Each trial also prints its retries per command (not a column of the table).
pub(crate) fn hot_aggregates(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let name = "hot-aggregates-64";
    if !ctx.wanted(name) {
        return Ok(());
    }
    let (base, commands) = (&ctx.data, ctx.sizes.hot_commands);
    let mut s = Scenario::new(ctx, name, ctx.sizes.trials);
    for (system, retrying) in HOT {
        s.measure(system, Kind::Esdsl, None, DURABLE, move |_| {
            let (sample, retries) = esdsl::hot_aggregates(base, commands, retrying)?;
            println!(
                "{name} / {system}: {} retries in {commands} commands ({:.2} per command, at \
                 most {} for one), {:.0} commands/s",
                retries.total,
                retries.total as f64 / commands as f64,
                retries.most,
                commands as f64 / sample.elapsed.as_secs_f64().max(1e-9),
            );
            Ok(sample)
        });
    }
    s.run(report)
}
