//! `cargo run --release -p esdsl-bench -- [--quick] [--json FILE] [--scenario NAME]`
//!
//! Measures esdsl and the limits it works against on the same disk in the same run, and prints
//! a Markdown table. Each scenario runs several trials on fresh directories and reports the
//! median.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use esdsl_runtime::store::{
    Durability, EventStore, ExpectedVersion, Metadata, NewEvent, StoreOptions,
};
use esdsl_runtime::{Codec, LmdbStore};
use heed::types::Bytes;

#[derive(Debug, Parser)]
#[command(about = "esdsl benchmarks: ratios against the sync limit, raw heed and peers")]
struct Args {
    /// Fewer operations and trials (minutes, not tens of minutes).
    #[arg(long)]
    quick: bool,
    /// Also write one JSON object per (scenario, system) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only scenarios whose name contains this.
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Where the fresh data directories go (must be a real disk, not tmpfs).
    #[arg(long, value_name = "DIR", default_value = "target/bench-data")]
    data: PathBuf,
}

/// One measured (scenario, system).
#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    scenario: &'static str,
    system: &'static str,
    events_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_us: Option<f64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data).context("creating the data directory")?;
    let trials = if args.quick { 3 } else { 5 };
    let ops = if args.quick { 500 } else { 2_000 };
    let mut rows = Vec::new();
    let wanted = |name: &str| args.scenario.as_deref().is_none_or(|s| name.contains(s));

    if wanted("durable-append") {
        let scenario = "durable-append";
        rows.push(median(scenario, "fdatasync loop", trials, || {
            fdatasync_loop(&args.data, ops)
        })?);
        rows.push(median(scenario, "raw heed put+commit", trials, || {
            raw_heed_commits(&args.data, ops)
        })?);
        rows.push(median(scenario, "esdsl (json)", trials, || {
            esdsl_appends(&args.data, ops, 1, Codec::Json, Durability::Durable)
        })?);
        rows.push(median(scenario, "esdsl (postcard)", trials, || {
            esdsl_appends(&args.data, ops, 1, Codec::Postcard, Durability::Durable)
        })?);
        rows.push(median(
            scenario,
            "esdsl (json, relaxed: 1 sync)",
            trials,
            || esdsl_appends(&args.data, ops, 1, Codec::Json, Durability::Relaxed),
        )?);
    }
    if wanted("concurrent-append") {
        let scenario = "concurrent-append-32";
        rows.push(median(scenario, "esdsl (json)", trials, || {
            esdsl_appends(&args.data, ops * 4, 32, Codec::Json, Durability::Durable)
        })?);
    }

    if wanted("live-subscription") {
        rows.push(live_subscription(
            &args.data,
            if args.quick { 500 } else { 2_000 },
        )?);
    }

    print_table(&rows);
    if let Some(path) = &args.json {
        let mut file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        for row in &rows {
            serde_json::to_writer(&mut file, row)?;
            writeln!(file)?;
        }
    }
    Ok(())
}

/// Runs `trial` several times and keeps the median rate.
fn median(
    scenario: &'static str,
    system: &'static str,
    trials: usize,
    mut trial: impl FnMut() -> Result<(u64, Duration)>,
) -> Result<Row> {
    let mut rates = Vec::with_capacity(trials);
    for _ in 0..trials {
        let (events, elapsed) = trial()?;
        rates.push(events as f64 / elapsed.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(Row {
        scenario,
        system,
        events_per_sec: rates[rates.len() / 2],
        p50_us: None,
        p99_us: None,
    })
}

fn fresh_dir(base: &Path) -> Result<tempfile::TempDir> {
    tempfile::tempdir_in(base).context("creating a trial directory")
}

/// The physical limit: one small write and one `fdatasync` per acknowledged event.
fn fdatasync_loop(base: &Path, ops: usize) -> Result<(u64, Duration)> {
    let dir = fresh_dir(base)?;
    let mut file = std::fs::File::create(dir.path().join("sync"))?;
    let record = [7u8; 128];
    let start = Instant::now();
    for _ in 0..ops {
        file.write_all(&record)?;
        file.sync_data()?;
    }
    Ok((ops as u64, start.elapsed()))
}

/// The same operation on heed directly: one put and one durable commit per event.
fn raw_heed_commits(base: &Path, ops: usize) -> Result<(u64, Duration)> {
    let dir = fresh_dir(base)?;
    #[allow(unsafe_code)]
    // SAFETY: a fresh directory only this function uses.
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .map_size(1 << 30)
            .max_dbs(1)
            .open(dir.path())?
    };
    let db: heed::Database<'static, Bytes, Bytes> = env
        .create_databases_and_commit(env.write_txn()?, |opener, txn| {
            opener
                .create_database::<Bytes, Bytes>(txn, Some("events"))
                .map(heed::CommitOrAbort::<_, ()>::Commit)
        })?
        .unwrap_commit();
    let payload = [7u8; 128];
    let start = Instant::now();
    for n in 0..ops as u64 {
        let mut txn = env.write_txn()?;
        db.put(&mut txn, &n.to_be_bytes(), &payload)?;
        txn.commit()?;
    }
    Ok((ops as u64, start.elapsed()))
}

/// esdsl: `ops` single-event appends spread over `threads` writers, durable.
fn esdsl_appends(
    base: &Path,
    ops: usize,
    threads: usize,
    codec: Codec,
    durability: Durability,
) -> Result<(u64, Duration)> {
    let dir = fresh_dir(base)?;
    let store = LmdbStore::open_with(dir.path(), StoreOptions::default().durability(durability))?;
    let payload = match codec {
        Codec::Json => br#"{"amount_cents":1250,"memo":"salary"}"#.to_vec(),
        _ => vec![0xe2, 0x13, 1, 6, b's', b'a', b'l', b'a', b'r', b'y'],
    };
    let per_thread = ops / threads;
    let start = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let store = store.clone();
                let payload = payload.clone();
                scope.spawn(move || -> Result<()> {
                    for n in 0..per_thread {
                        let event = NewEvent {
                            event_type: "MoneyDeposited".into(),
                            schema_version: 3,
                            codec,
                            payload: payload.clone(),
                        };
                        store.append(
                            &format!("Account-{t}-{}", n % 16),
                            ExpectedVersion::Any,
                            vec![event],
                            &Metadata::default(),
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(())
    })?;
    Ok(((per_thread * threads) as u64, start.elapsed()))
}

/// Commit-to-handler latency of a live subscription while one writer appends steadily (one
/// durable append every 2 ms). Latency runs from the moment the append is acknowledged to the
/// moment the subscriber has the event (0 when the subscriber had it first).
fn live_subscription(base: &Path, events: usize) -> Result<Row> {
    use std::sync::{Arc, Mutex};

    use esdsl_runtime::projection::Subscription;
    use esdsl_runtime::store::Filter;

    let dir = fresh_dir(base)?;
    let store = LmdbStore::open(dir.path())?;
    let acked: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events + 1]));
    let received: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events + 1]));
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let subscriber = {
            let store = store.clone();
            let received = Arc::clone(&received);
            scope.spawn(move || -> Result<()> {
                let mut subscription = Subscription::new(&store, 0, Filter::all());
                let mut seen = 0;
                while seen < events {
                    if let Some(event) = subscription.next_timeout(Duration::from_secs(10))? {
                        let at = Instant::now();
                        let mut received =
                            received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                        if let Some(slot) = received.get_mut(event.position as usize) {
                            *slot = Some(at);
                        }
                        seen += 1;
                    } else {
                        anyhow::bail!("the subscription stalled");
                    }
                }
                Ok(())
            })
        };
        for n in 0..events {
            let next = started + Duration::from_millis(2 * n as u64);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let event = NewEvent {
                event_type: "Ping".into(),
                schema_version: 1,
                codec: Codec::Json,
                payload: b"{}".to_vec(),
            };
            let done = store.append(
                "Ping-1",
                ExpectedVersion::Any,
                vec![event],
                &Metadata::default(),
            )?;
            let at = Instant::now();
            if let Some(position) = done.first_position {
                let mut acked = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                if let Some(slot) = acked.get_mut(position as usize) {
                    *slot = Some(at);
                }
            }
        }
        subscriber
            .join()
            .map_err(|_| anyhow::anyhow!("the subscriber panicked"))??;
        Ok(())
    })?;
    let elapsed = started.elapsed();
    let acked = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let received = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut latencies: Vec<f64> = acked
        .iter()
        .zip(received.iter())
        .filter_map(|(a, r)| {
            Some(
                r.as_ref()?
                    .saturating_duration_since(*a.as_ref()?)
                    .as_secs_f64()
                    * 1e6,
            )
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    Ok(Row {
        scenario: "live-subscription",
        system: "esdsl (commit to handler)",
        events_per_sec: events as f64 / elapsed.as_secs_f64(),
        p50_us: percentile(0.5),
        p99_us: percentile(0.99),
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "| scenario | system | events/s | p50 µs | p99 µs | ratio to the scenario's first row |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    let mut first: Option<(&str, f64)> = None;
    for row in rows {
        let base = match first {
            Some((scenario, rate)) if scenario == row.scenario => rate,
            _ => {
                first = Some((row.scenario, row.events_per_sec));
                row.events_per_sec
            }
        };
        let micros = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
        println!(
            "| {} | {} | {:.0} | {} | {} | {:.2} |",
            row.scenario,
            row.system,
            row.events_per_sec,
            micros(row.p50_us),
            micros(row.p99_us),
            row.events_per_sec / base
        );
    }
}
