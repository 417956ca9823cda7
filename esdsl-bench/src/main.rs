//! `cargo run --release -p esdsl-bench --features peers -- [--quick] [--json FILE] [--scenario NAME]`
//!
//! Measures esdsl, the limits it works against and the peers a user would pick instead, on the
//! same disk in the same run, and prints a Markdown table and the checklist of the targets of
//! issue 7 (each a ratio of two rows of this run: only ratios are stable on a shared machine).
//! Each scenario runs several trials on fresh directories with fixed seeds and reports the
//! median.
//!
//! - `measure`: trials, medians, percentiles, the seeded generator;
//! - `domain`: the events (`schemas/bank.toml`) and the aggregate every system folds;
//! - `limits`, `esdsl`, `sqlite`, `cqrs`: the systems (the peers `sqlite` and `cqrs` with the
//!   `peers` feature; without it they are left out and so are the targets against them);
//! - `scenarios`: what each scenario runs; `targets`: the checklist; `report`: the output.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

#[cfg(feature = "peers")]
mod cqrs;
mod domain;
mod esdsl;
mod limits;
mod measure;
mod report;
mod scenarios;
#[cfg(feature = "peers")]
mod sqlite;
mod targets;

use scenarios::{Ctx, Sizes};

#[derive(Debug, Parser)]
#[command(about = "esdsl benchmarks: ratios against the limits and the peers, in one run")]
struct Args {
    /// Fewer operations and trials (under 3 minutes; the full run takes under 20).
    #[arg(long)]
    quick: bool,
    /// Also write one JSON object per (scenario, system) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only this scenario (an exact name), or every scenario whose name contains it.
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Where the fresh data directories go (must be a real disk, not tmpfs).
    #[arg(long, value_name = "DIR", default_value = "target/bench-data")]
    data: PathBuf,
    /// The PostgreSQL for the cqrs-es peer (skipped with the reason when unreachable).
    #[cfg(feature = "peers")]
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Run only the systems whose name contains this (to profile one; ratios need the rest).
    #[arg(long, value_name = "NAME")]
    system: Option<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.list {
        for name in scenarios::ALL {
            println!("{name}");
        }
        return Ok(());
    }
    if let Some(filter) = &args.scenario
        && !scenarios::ALL
            .iter()
            .any(|name| name.contains(filter.as_str()))
    {
        anyhow::bail!(
            "no scenario matches `{filter}`; the scenarios are: {}",
            scenarios::ALL.join(", ")
        );
    }
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let started = Instant::now();
    let ctx = Ctx {
        data: args.data.clone(),
        sizes: Sizes::new(args.quick),
        filter: args.scenario.clone(),
        systems: args.system.clone(),
        #[cfg(feature = "peers")]
        postgres: None,
    };
    #[cfg(feature = "peers")]
    let ctx = connect_postgres(ctx, &args.postgres);
    print_header(&ctx, args.quick);

    let mut report = report::Report::default();
    scenarios::durable_append(&ctx, &mut report)?;
    scenarios::concurrent_append(&ctx, &mut report)?;
    scenarios::batches(&ctx, &mut report)?;
    scenarios::loads(&ctx, &mut report)?;
    scenarios::snapshot_load(&ctx, &mut report)?;
    scenarios::catch_up(&ctx, &mut report)?;
    scenarios::upcast(&ctx, &mut report)?;
    scenarios::live(&ctx, &mut report)?;
    scenarios::commands(&ctx, &mut report)?;
    scenarios::hot_aggregates(&ctx, &mut report)?;
    report.compute_ratios();

    println!();
    report.print_table();
    println!();
    report::print_checks(&targets::checks(&report));
    if !cfg!(feature = "peers") {
        println!("\n{PEERS_LEFT_OUT}");
    }
    println!(
        "\nTotal time: {:.0} s; load average at the end: {} (other work on the machine makes \
         every ratio noisier).",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    if let Some(path) = &args.json {
        report.write_json(path)?;
    }
    Ok(())
}

/// Connects to the PostgreSQL of the cqrs-es peer when a chosen scenario runs it.
#[cfg(feature = "peers")]
fn connect_postgres(mut ctx: Ctx, url: &str) -> Ctx {
    let needed = std::iter::once("load-1000")
        .chain(scenarios::COMMANDS.iter().map(|(name, _)| *name))
        .any(|name| ctx.wanted(name))
        && ctx
            .systems
            .as_deref()
            .is_none_or(|system| scenarios::CQRS.contains(system));
    if needed {
        ctx.postgres =
            Some(cqrs::Postgres::connect(url).map_err(|e| format!("no PostgreSQL: {e:#}")));
    }
    ctx
}

/// The 1-minute load average (Linux), to tell a quiet run from a noisy one.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The machine, the sizes and the durability every compared system runs with.
fn print_header(ctx: &Ctx, quick: bool) {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.0} GiB", kib / (1024.0 * 1024.0)))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let filesystem = std::process::Command::new("df")
        .args(["--output=fstype,source"])
        .arg(&ctx.data)
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8(out.stdout).ok()?;
            Some(
                text.lines()
                    .nth(1)?
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" on "),
            )
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let sizes = &ctx.sizes;
    println!(
        "# esdsl benchmarks{}",
        if quick { " (--quick)" } else { "" }
    );
    println!();
    println!(
        "Machine: {cores} cores, {memory}; data in {} ({filesystem}); load average at start: \
         {}.",
        ctx.data.display(),
        load_average()
    );
    println!(
        "Trials: {} per row ({} for catch-up over {} events), fresh directories, fixed seeds, \
         median.",
        sizes.trials, sizes.catch_up_trials, sizes.catch_up_events
    );
    println!(
        "Durability of every write compared: acknowledged only once on disk (survives power \
         loss). esdsl `Durability::Durable` and raw heed: LMDB default flags (data pages, then \
         the meta page, synced per commit); fdatasync loop: one fdatasync per write{}. The one \
         row marked Relaxed is for the reading only.",
        peers(ctx)
    );
    if !cfg!(feature = "peers") {
        println!();
        println!("{PEERS_LEFT_OUT}");
    }
    println!();
}

/// What the run says when it was built without the peers.
const PEERS_LEFT_OUT: &str = "Peers left out: this build has no SQLite and no cqrs-es rows, and \
    the targets that compare with them are not measured. `cargo run --release -p esdsl-bench \
    --features peers` measures them too.";

/// How the peers store their writes.
#[cfg(feature = "peers")]
fn peers(ctx: &Ctx) -> String {
    let postgres = match &ctx.postgres {
        Some(Ok(pg)) => pg.settings.clone(),
        Some(Err(reason)) => reason.clone(),
        None => "not used by these scenarios".to_owned(),
    };
    format!(
        "; SQLite {}: WAL with synchronous=FULL (the WAL synced per commit); cqrs-es: {postgres}",
        rusqlite::version()
    )
}

/// No peers in this build (see [`PEERS_LEFT_OUT`]).
#[cfg(not(feature = "peers"))]
fn peers(_: &Ctx) -> String {
    String::new()
}
