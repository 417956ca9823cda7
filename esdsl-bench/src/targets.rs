//! The targets of issue 7, each a ratio of two rows measured in this run.

use esdsl_runtime::Codec;

use crate::report::{Check, Need, Report};
use crate::scenarios::{
    CQRS, ESDSL_JSON, ESDSL_JSON_32, ESDSL_POSTCARD, FULL_REPLAY, LIVE, LOAD_SIZES, RAW_BATCH,
    RAW_GROUP, RAW_LOG_SCAN, RAW_SINGLE, SNAPSHOT_TAIL, SQLITE, SQLITE_32, SQLITE_LOAD,
    decode_only, raw_scan, runner, sqlite_catch_up, upcast_replay,
};

const BATCHES: [&str; 2] = ["batch-1000-one-stream", "batch-1000-spread"];

/// `a / b` as rates of (scenario, system) rows.
fn ratio(report: &Report, a: (&str, &str), b: (&str, &str)) -> Option<f64> {
    Some(report.rate(a.0, a.1)? / report.rate(b.0, b.1)?)
}

fn at_least(target: String, measured: Option<f64>, threshold: f64) -> Check {
    Check {
        target,
        measured,
        need: Need::AtLeast(threshold),
        unit: "x",
    }
}

fn at_most(target: String, measured: Option<f64>, threshold: f64, unit: &'static str) -> Check {
    Check {
        target,
        measured,
        need: Need::AtMost(threshold),
        unit,
    }
}

/// Every target, in the order of the issue.
pub(crate) fn checks(report: &Report) -> Vec<Check> {
    let mut checks = Vec::new();
    let single = "durable-append";
    for system in [ESDSL_JSON, ESDSL_POSTCARD] {
        checks.push(at_least(
            format!("durable single append: {system} / {RAW_SINGLE}"),
            ratio(report, (single, system), (single, RAW_SINGLE)),
            0.9,
        ));
    }
    let concurrent = "concurrent-append-32";
    checks.push(at_least(
        format!("32 appenders: {ESDSL_JSON_32} / {ESDSL_JSON} single writer"),
        ratio(report, (concurrent, ESDSL_JSON_32), (single, ESDSL_JSON)),
        8.0,
    ));
    checks.push(at_least(
        format!("32 appenders: {ESDSL_JSON_32} / {RAW_GROUP}"),
        ratio(report, (concurrent, ESDSL_JSON_32), (concurrent, RAW_GROUP)),
        0.9,
    ));
    for batch in BATCHES {
        checks.push(at_least(
            format!("{batch}: {ESDSL_JSON} / {RAW_BATCH}"),
            ratio(report, (batch, ESDSL_JSON), (batch, RAW_BATCH)),
            0.6,
        ));
    }
    for size in LOAD_SIZES {
        let load = format!("load-{size}");
        for (codec, system) in [(Codec::Json, ESDSL_JSON), (Codec::Postcard, ESDSL_POSTCARD)] {
            checks.push(at_least(
                format!("{load}: {system} / {}", raw_scan(codec)),
                ratio(report, (&load, system), (&load, &raw_scan(codec))),
                0.8,
            ));
        }
    }
    // Time ratios are the inverse of the rates' ratio.
    let snapshot = "snapshot-load-10000";
    checks.push(at_most(
        format!("{snapshot}: time of {SNAPSHOT_TAIL} / {FULL_REPLAY}"),
        ratio(report, (snapshot, FULL_REPLAY), (snapshot, SNAPSHOT_TAIL)),
        0.1,
        "x",
    ));
    let catch_up = "catch-up";
    for codec in [Codec::Json, Codec::Postcard] {
        let slower = [RAW_LOG_SCAN.to_owned(), decode_only(codec)]
            .into_iter()
            .filter_map(|system| report.rate(catch_up, &system))
            .reduce(f64::min);
        checks.push(at_least(
            format!(
                "catch-up: {} / min({RAW_LOG_SCAN}, {})",
                runner(codec),
                decode_only(codec)
            ),
            report
                .rate(catch_up, &runner(codec))
                .zip(slower)
                .map(|(a, b)| a / b),
            0.5,
        ));
    }
    let upcast = "upcast-v1-v3";
    for codec in [Codec::Json, Codec::Postcard] {
        checks.push(at_most(
            format!(
                "upcast: time of {} / {}",
                upcast_replay(codec, 1),
                upcast_replay(codec, 3)
            ),
            ratio(
                report,
                (upcast, &upcast_replay(codec, 3)),
                (upcast, &upcast_replay(codec, 1)),
            ),
            1.2,
            "x",
        ));
    }
    let live = report.find("live-subscription", LIVE);
    checks.push(at_most(
        "live subscription, commit to handler: p50".to_owned(),
        live.and_then(|row| row.p50_us),
        1_000.0,
        "µs",
    ));
    checks.push(at_most(
        "live subscription, commit to handler: p99".to_owned(),
        live.and_then(|row| row.p99_us),
        10_000.0,
        "µs",
    ));
    checks.push(at_least(
        format!("vs SQLite, single durable append: {ESDSL_JSON} / {SQLITE}"),
        ratio(report, (single, ESDSL_JSON), (single, SQLITE)),
        1.0,
    ));
    checks.push(at_least(
        format!("vs SQLite, 32 appenders: {ESDSL_JSON_32} / {SQLITE_32}"),
        ratio(report, (concurrent, ESDSL_JSON_32), (concurrent, SQLITE_32)),
        5.0,
    ));
    for batch in BATCHES {
        checks.push(at_least(
            format!("vs SQLite, {batch}: {ESDSL_JSON} / {SQLITE}"),
            ratio(report, (batch, ESDSL_JSON), (batch, SQLITE)),
            2.0,
        ));
    }
    for size in LOAD_SIZES {
        let load = format!("load-{size}");
        checks.push(at_least(
            format!("vs SQLite, {load} with decode: {ESDSL_JSON} / {SQLITE_LOAD}"),
            ratio(report, (&load, ESDSL_JSON), (&load, SQLITE_LOAD)),
            2.0,
        ));
    }
    checks.push(at_least(
        format!(
            "vs SQLite, catch-up: {} / {}",
            runner(Codec::Json),
            sqlite_catch_up()
        ),
        ratio(
            report,
            (catch_up, &runner(Codec::Json)),
            (catch_up, &sqlite_catch_up()),
        ),
        2.0,
    ));
    for scenario in [
        "commands-sequential",
        "commands-concurrent-8",
        "commands-growing-1000",
        "load-1000",
    ] {
        checks.push(at_least(
            format!("vs cqrs-es, {scenario}: {ESDSL_JSON} / {CQRS}"),
            ratio(report, (scenario, ESDSL_JSON), (scenario, CQRS)),
            5.0,
        ));
    }
    checks
}
