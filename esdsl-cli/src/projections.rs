//! `cargo esdsl projections <store dir>`: what every projection of a store is doing, read from
//! the store opened read-only, so running writers and runners are not disturbed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{ProjectionStatus, StoreStatus};

use crate::Outcome;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub(crate) struct ProjectionsArgs {
    /// The store directory (holding `data.mdb`).
    dir: PathBuf,
    /// `human`: a table; `json`: one JSON object (one per line with `--watch`).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Look again every SECS seconds, with the rate of each partition and rebuild since the
    /// look before (positions per second).
    #[arg(long, value_name = "SECS")]
    watch: Option<f64>,
    /// With `--watch`: stop after this many looks [default: until interrupted].
    #[arg(long, value_name = "N", requires = "watch")]
    times: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

pub(crate) fn run(
    args: &ProjectionsArgs,
    context: &Context,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Outcome> {
    let shown = PathBuf::from(context.display(&args.dir));
    let Some(every) = args.watch else {
        let status = read(&args.dir, &shown)?;
        crate::store::warn_unknown_in(&args.dir, &shown.display().to_string(), stderr)?;
        match args.format {
            Format::Human => human(&shown, &status, None, stdout)?,
            Format::Json => {
                serde_json::to_writer_pretty(&mut *stdout, &json(&shown, &status, None))?;
                writeln!(stdout)?;
            }
        }
        return Ok(Outcome::Success);
    };
    let every = Duration::try_from_secs_f64(every)
        .ok()
        .filter(|d| !d.is_zero())
        .context("`--watch` takes a positive number of seconds")?;
    let mut previous: Option<(Instant, StoreStatus)> = None;
    let mut looks = 0;
    loop {
        let status = read(&args.dir, &shown)?;
        if looks == 0 {
            crate::store::warn_unknown_in(&args.dir, &shown.display().to_string(), stderr)?;
        }
        let now = Instant::now();
        let rates = previous
            .as_ref()
            .map(|(then, before)| Rates::between(before, &status, now.duration_since(*then)));
        match args.format {
            Format::Human => {
                human(&shown, &status, rates.as_ref(), stdout)?;
                writeln!(stdout)?;
            }
            Format::Json => {
                serde_json::to_writer(&mut *stdout, &json(&shown, &status, rates.as_ref()))?;
                writeln!(stdout)?;
            }
        }
        stdout.flush()?;
        looks += 1;
        if args.times.is_some_and(|times| looks >= times) {
            return Ok(Outcome::Success);
        }
        previous = Some((now, status));
        std::thread::sleep(every);
    }
}

/// Positions per second since the look before, by (projection, generation, partition) and by
/// (projection, rebuild generation).
#[derive(Debug, Default, PartialEq)]
struct Rates {
    partitions: BTreeMap<(String, Option<u64>, u32), f64>,
    rebuilds: BTreeMap<(String, u64), f64>,
}

impl Rates {
    fn between(before: &StoreStatus, now: &StoreStatus, elapsed: Duration) -> Rates {
        let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let rate = |was: u64, is: u64| is.saturating_sub(was) as f64 / seconds;
        let mut rates = Rates::default();
        for projection in &now.projections {
            let Some(old) = before
                .projections
                .iter()
                .find(|p| p.name == projection.name)
            else {
                continue;
            };
            if old.generation == projection.generation {
                for partition in &projection.partitions {
                    let same = old
                        .partitions
                        .iter()
                        .find(|p| p.index == partition.index && p.count == partition.count);
                    if let Some(same) = same {
                        rates.partitions.insert(
                            (
                                projection.name.clone(),
                                projection.generation,
                                partition.index,
                            ),
                            rate(same.checkpoint, partition.checkpoint),
                        );
                    }
                }
            }
            if let (Some(was), Some(is)) = (old.rebuild, projection.rebuild)
                && was.generation == is.generation
            {
                rates.rebuilds.insert(
                    (projection.name.clone(), is.generation),
                    rate(was.checkpoint, is.checkpoint),
                );
            }
        }
        rates
    }

    fn partition(&self, projection: &ProjectionStatus, index: u32) -> Option<f64> {
        let key = (projection.name.clone(), projection.generation, index);
        self.partitions.get(&key).copied()
    }

    fn rebuild(&self, projection: &ProjectionStatus) -> Option<f64> {
        let generation = projection.rebuild?.generation;
        self.rebuilds
            .get(&(projection.name.clone(), generation))
            .copied()
    }
}

/// The status of the store in `dir`, named `shown` in messages.
fn read(dir: &Path, shown: &Path) -> Result<StoreStatus> {
    LmdbStore::read_only_status(dir)
        .with_context(|| format!("cannot read the projections of `{}`", shown.display()))
}

/// The rebuild column: `generation 2 at 600/1234 (48%)`, with `, 350/s` when watching.
fn rebuild(projection: &ProjectionStatus, rates: Option<&Rates>) -> String {
    projection.rebuild.map_or_else(
        || "-".to_owned(),
        |r| {
            let rate = rates
                .and_then(|rates| rates.rebuild(projection))
                .map_or_else(String::new, |rate| format!(", {rate:.0}/s"));
            format!(
                "generation {} at {}/{} ({:.0}%){rate}",
                r.generation,
                r.checkpoint,
                r.head,
                r.percent()
            )
        },
    )
}

/// The table; with `rates` (when watching, from the second look on) a RATE column after LAG.
fn human(
    dir: &Path,
    status: &StoreStatus,
    rates: Option<&Rates>,
    out: &mut dyn Write,
) -> Result<()> {
    if status.projections.is_empty() {
        writeln!(
            out,
            "no projections in `{}` (head position {})",
            dir.display(),
            status.head
        )?;
        return Ok(());
    }
    writeln!(out, "`{}`: head position {}", dir.display(), status.head)?;
    let mut header = vec![
        "NAME",
        "KIND",
        "GENERATION",
        "PARTITION",
        "CHECKPOINT",
        "LAG",
    ];
    if rates.is_some() {
        header.push("RATE");
    }
    header.extend(["PARKED", "REBUILD"]);
    let mut rows: Vec<Vec<String>> = vec![header.into_iter().map(str::to_owned).collect()];
    for projection in &status.projections {
        let generation = projection
            .generation
            .map_or_else(|| "-".to_owned(), |g| g.to_string());
        let mut lines: Vec<(String, String, String, Option<f64>)> = projection
            .partitions
            .iter()
            .map(|partition| {
                (
                    format!("{}/{}", partition.index, partition.count),
                    partition.checkpoint.to_string(),
                    partition.lag.to_string(),
                    rates.and_then(|r| r.partition(projection, partition.index)),
                )
            })
            .collect();
        if lines.is_empty() {
            lines.push(("-".into(), "-".into(), "-".into(), None));
        }
        for (n, (partition, checkpoint, lag, rate)) in lines.into_iter().enumerate() {
            let mut row = vec![
                projection.name.clone(),
                projection.kind.as_str().to_owned(),
                generation.clone(),
                partition,
                checkpoint,
                lag,
            ];
            if rates.is_some() {
                row.push(rate.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}/s")));
            }
            // Parked events and the rebuild belong to the projection: on its first line only.
            if n == 0 {
                row.push(projection.parked.to_string());
                row.push(rebuild(projection, rates));
            } else {
                row.extend([String::new(), String::new()]);
            }
            rows.push(row);
        }
    }
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn json(dir: &Path, status: &StoreStatus, rates: Option<&Rates>) -> serde_json::Value {
    let projections: Vec<serde_json::Value> = status
        .projections
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "kind": p.kind.as_str(),
                "generation": p.generation,
                "partitions": p.partitions.iter().map(|partition| {
                    let mut line = serde_json::json!({
                        "index": partition.index,
                        "count": partition.count,
                        "checkpoint": partition.checkpoint,
                        "lag": partition.lag,
                    });
                    if let Some(rates) = rates {
                        line["rate"] = serde_json::json!(rates.partition(p, partition.index));
                    }
                    line
                }).collect::<Vec<_>>(),
                "parked": p.parked,
                "rebuild": p.rebuild.map(|r| {
                    let mut rebuild = serde_json::json!({
                        "generation": r.generation,
                        "checkpoint": r.checkpoint,
                        "head": r.head,
                        "percent": r.percent(),
                    });
                    if let Some(rates) = rates {
                        rebuild["rate"] = serde_json::json!(rates.rebuild(p));
                    }
                    rebuild
                }),
            })
        })
        .collect();
    serde_json::json!({
        "store": dir.display().to_string(),
        "head": status.head,
        "projections": projections,
    })
}

#[cfg(test)]
mod tests {
    use esdsl_runtime::Codec;
    use esdsl_runtime::lmdb::LmdbStore;
    use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata, NewEvent};

    use super::*;

    #[test]
    fn rates_are_positions_per_second_between_two_looks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        let events = (0..8)
            .map(|_| NewEvent {
                event_type: "Ticked".into(),
                schema_version: 1,
                codec: Codec::Json,
                payload: b"{}".to_vec(),
            })
            .collect();
        store
            .append(
                "Clock-1",
                ExpectedVersion::Any,
                events,
                &Metadata::default(),
            )
            .expect("appends");
        store.save_checkpoint("ticks", 2).expect("saves");
        let before = StoreStatus::of(&store).expect("status");
        store.save_checkpoint("ticks", 6).expect("saves");
        let now = StoreStatus::of(&store).expect("status");

        let rates = Rates::between(&before, &now, Duration::from_secs(2));
        let ticks = &now.projections[0];
        assert_eq!(ticks.name, "ticks");
        assert_eq!(rates.partition(ticks, 0), Some(2.0));
        assert_eq!(rates.rebuild(ticks), None);

        let mut out = Vec::new();
        human(dir.path(), &now, Some(&rates), &mut out).expect("writes");
        let table = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].contains("LAG  RATE  PARKED"), "{table}");
        assert!(lines[2].contains("6           2    2/s"), "{table}");
    }
}
