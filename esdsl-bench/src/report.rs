//! Rows, the Markdown table, the JSON lines and the target checklist.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::measure::Measured;

/// What a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// A limit: the same work without esdsl.
    Limit,
    /// esdsl.
    Esdsl,
    /// The SQLite peer.
    Sqlite,
    /// The cqrs-es + postgres-es peer.
    CqrsEs,
    /// For the reading only; not compared.
    Info,
}

/// One measured (scenario, system).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) system: String,
    pub(crate) kind: Kind,
    pub(crate) events_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p99_us: Option<f64>,
    /// The limit row (same scenario) this row is compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ratio_to_limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) vs_sqlite: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) vs_cqrs_es: Option<f64>,
    pub(crate) durability: String,
    pub(crate) trials: usize,
}

/// Collects rows as scenarios run.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) rows: Vec<Row>,
    /// Scenario rows that could not run, with the reason.
    pub(crate) skipped: Vec<(String, String, String)>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        scenario: &str,
        system: &str,
        kind: Kind,
        limit: Option<&str>,
        durability: &str,
        trials: usize,
        measured: Measured,
    ) {
        let row = Row {
            scenario: scenario.to_owned(),
            system: system.to_owned(),
            kind,
            events_per_sec: measured.events_per_sec,
            p50_us: measured.p50_us,
            p99_us: measured.p99_us,
            limit: limit.map(str::to_owned),
            ratio_to_limit: None,
            vs_sqlite: None,
            vs_cqrs_es: None,
            durability: durability.to_owned(),
            trials,
        };
        eprintln!(
            "  {scenario} / {system}: {:.0} events/s{}",
            row.events_per_sec,
            match (row.p50_us, row.p99_us) {
                (Some(p50), Some(p99)) => format!(" (p50 {p50:.0} µs, p99 {p99:.0} µs)"),
                _ => String::new(),
            }
        );
        self.rows.push(row);
    }

    pub(crate) fn skip(&mut self, scenario: &str, system: &str, reason: &str) {
        eprintln!("  {scenario} / {system}: skipped: {reason}");
        self.skipped
            .push((scenario.to_owned(), system.to_owned(), reason.to_owned()));
    }

    /// Compares a row with a limit chosen after the measurement.
    pub(crate) fn set_limit(&mut self, scenario: &str, system: &str, limit: &str) {
        if let Some(row) = self
            .rows
            .iter_mut()
            .find(|row| row.scenario == scenario && row.system == system)
        {
            row.limit = Some(limit.to_owned());
        }
    }

    pub(crate) fn rate(&self, scenario: &str, system: &str) -> Option<f64> {
        self.find(scenario, system).map(|row| row.events_per_sec)
    }

    pub(crate) fn find(&self, scenario: &str, system: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.scenario == scenario && row.system == system)
    }

    fn first_of(&self, scenario: &str, kind: Kind) -> Option<f64> {
        self.rows
            .iter()
            .find(|row| row.scenario == scenario && row.kind == kind)
            .map(|row| row.events_per_sec)
    }

    /// Fills in every ratio once all rows are in.
    pub(crate) fn compute_ratios(&mut self) {
        let ratios: Vec<(Option<f64>, Option<f64>, Option<f64>)> = self
            .rows
            .iter()
            .map(|row| {
                let limit = row
                    .limit
                    .as_deref()
                    .and_then(|limit| self.rate(&row.scenario, limit))
                    .map(|limit| row.events_per_sec / limit);
                let peer = |kind| {
                    (row.kind == Kind::Esdsl)
                        .then(|| self.first_of(&row.scenario, kind))
                        .flatten()
                        .map(|peer| row.events_per_sec / peer)
                };
                (limit, peer(Kind::Sqlite), peer(Kind::CqrsEs))
            })
            .collect();
        for (row, (limit, sqlite, cqrs)) in self.rows.iter_mut().zip(ratios) {
            row.ratio_to_limit = limit;
            row.vs_sqlite = sqlite;
            row.vs_cqrs_es = cqrs;
        }
    }

    pub(crate) fn print_table(&self) {
        println!(
            "| scenario | system | events/s | p50 µs | p99 µs | vs limit | vs SQLite | vs cqrs-es |"
        );
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        let ratio = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        for row in &self.rows {
            let system = match &row.limit {
                Some(limit) => format!("{} (limit: {limit})", row.system),
                None if row.kind == Kind::Limit => format!("{} [limit]", row.system),
                None => row.system.clone(),
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.scenario,
                system,
                rate(row.events_per_sec),
                micros(row.p50_us),
                micros(row.p99_us),
                ratio(row.ratio_to_limit),
                ratio(row.vs_sqlite),
                ratio(row.vs_cqrs_es),
            );
        }
        for (scenario, system, _) in &self.skipped {
            println!("| {scenario} | {system} | skipped | - | - | - | - | - |");
        }
        if !self.skipped.is_empty() {
            println!();
        }
        for (scenario, system, reason) in &self.skipped {
            println!("Skipped {system} in {scenario}: {reason}.");
        }
    }

    pub(crate) fn write_json(&self, path: &Path) -> Result<()> {
        let mut file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        for row in &self.rows {
            serde_json::to_writer(&mut file, row)?;
            writeln!(file)?;
        }
        Ok(())
    }
}

fn rate(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn micros(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// Which way a target's ratio must go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Need {
    AtLeast(f64),
    AtMost(f64),
}

/// One line of the checklist.
#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) target: String,
    pub(crate) measured: Option<f64>,
    pub(crate) need: Need,
    pub(crate) unit: &'static str,
}

impl Check {
    fn verdict(&self) -> &'static str {
        match (self.measured, self.need) {
            (None, _) => "not measured",
            (Some(v), Need::AtLeast(t)) if v >= t => "PASS",
            (Some(v), Need::AtMost(t)) if v <= t => "PASS",
            (Some(_), _) => "MISS",
        }
    }
}

pub(crate) fn print_checks(checks: &[Check]) {
    println!("| target | measured | needed | result |");
    println!("| --- | ---: | ---: | --- |");
    for check in checks {
        let (op, threshold) = match check.need {
            Need::AtLeast(t) => (">=", t),
            Need::AtMost(t) => ("<=", t),
        };
        let measured = check.measured.map_or_else(
            || "-".to_owned(),
            |v| {
                if check.unit == "x" {
                    // Three decimals: a ratio just under its threshold must not print as equal.
                    format!("{v:.3}x")
                } else {
                    format!("{v:.0} {}", check.unit)
                }
            },
        );
        let needed = if check.unit == "x" {
            format!("{op} {threshold}x")
        } else {
            format!("{op} {threshold} {}", check.unit)
        };
        println!(
            "| {} | {measured} | {needed} | {} |",
            check.target,
            check.verdict()
        );
    }
    let passed = checks.iter().filter(|c| c.verdict() == "PASS").count();
    let missed = checks.iter().filter(|c| c.verdict() == "MISS").count();
    println!(
        "\n{passed} passed, {missed} missed, {} not measured",
        checks.len() - passed - missed
    );
}
