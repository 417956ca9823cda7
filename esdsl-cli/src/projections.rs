//! `cargo esdsl projections <store dir>`: what every projection of a store is doing, read from
//! the store opened read-only, so running writers and runners are not disturbed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use esdsl_runtime::projection::{ProjectionStatus, StoreStatus};

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub(crate) struct ProjectionsArgs {
    /// The store directory (holding `data.mdb`).
    dir: PathBuf,
    /// `human`: a table; `json`: one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

pub(crate) fn run(args: &ProjectionsArgs, stdout: &mut dyn Write) -> Result<Outcome> {
    let status = read(&args.dir)?;
    match args.format {
        Format::Human => human(&args.dir, &status, stdout)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *stdout, &json(&args.dir, &status))?;
            writeln!(stdout)?;
        }
    }
    Ok(Outcome::Success)
}

fn read(dir: &Path) -> Result<StoreStatus> {
    if !dir.join("data.mdb").is_file() {
        anyhow::bail!("`{}` is not an esdsl store (no data.mdb)", dir.display());
    }
    StoreStatus::read_only(dir)
        .with_context(|| format!("cannot read the projections of `{}`", dir.display()))
}

/// The rebuild column: `generation 2 at 600/1234 (48%)`.
fn rebuild(projection: &ProjectionStatus) -> String {
    projection.rebuild.map_or_else(
        || "-".to_owned(),
        |r| {
            format!(
                "generation {} at {}/{} ({:.0}%)",
                r.generation,
                r.checkpoint,
                r.head,
                r.percent()
            )
        },
    )
}

fn human(dir: &Path, status: &StoreStatus, out: &mut dyn Write) -> Result<()> {
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
    let header = [
        "NAME",
        "KIND",
        "GENERATION",
        "PARTITION",
        "CHECKPOINT",
        "LAG",
        "PARKED",
        "REBUILD",
    ]
    .map(str::to_owned);
    let mut rows = vec![header];
    for projection in &status.projections {
        let generation = projection
            .generation
            .map_or_else(|| "-".to_owned(), |g| g.to_string());
        let first = [
            projection.name.clone(),
            projection.kind.as_str().to_owned(),
            generation,
        ];
        if projection.partitions.is_empty() {
            let [name, kind, generation] = first.clone();
            rows.push([
                name,
                kind,
                generation,
                "-".into(),
                "-".into(),
                "-".into(),
                projection.parked.to_string(),
                rebuild(projection),
            ]);
        }
        for (n, partition) in projection.partitions.iter().enumerate() {
            // Parked events and the rebuild belong to the projection: on its first line only.
            let (parked, rebuilding) = if n == 0 {
                (projection.parked.to_string(), rebuild(projection))
            } else {
                (String::new(), String::new())
            };
            let [name, kind, generation] = first.clone();
            rows.push([
                name,
                kind,
                generation,
                format!("{}/{}", partition.index, partition.count),
                partition.checkpoint.to_string(),
                partition.lag.to_string(),
                parked,
                rebuilding,
            ]);
        }
    }
    let widths: Vec<usize> = (0..8)
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

fn json(dir: &Path, status: &StoreStatus) -> serde_json::Value {
    let projections: Vec<serde_json::Value> = status
        .projections
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "kind": p.kind.as_str(),
                "generation": p.generation,
                "partitions": p.partitions.iter().map(|partition| serde_json::json!({
                    "index": partition.index,
                    "count": partition.count,
                    "checkpoint": partition.checkpoint,
                    "lag": partition.lag,
                })).collect::<Vec<_>>(),
                "parked": p.parked,
                "rebuild": p.rebuild.map(|r| serde_json::json!({
                    "generation": r.generation,
                    "checkpoint": r.checkpoint,
                    "head": r.head,
                    "percent": r.percent(),
                })),
            })
        })
        .collect();
    serde_json::json!({
        "store": dir.display().to_string(),
        "head": status.head,
        "projections": projections,
    })
}
