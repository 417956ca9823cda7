//! `cargo esdsl projections`: every projection of a store, read-only.

use std::time::Duration;

use crate::cli;
use esdsl_runtime::Codec;
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{
    ExternalProjection, ExternalRunner, HandlerError, OnFailure, Projection, ProjectionOptions,
    ReadModel, StoreProjection, StoreRunner,
};
use esdsl_runtime::store::{EventRef, EventStore, ExpectedVersion, Metadata, NewEvent};
use esdsl_tests::bank::{AccountEvent, AccountOpened, Currency, MoneyDeposited};

/// Counts events per stream in the store; fails on the event at `fail_at`.
struct Counts {
    fail_at: Option<u64>,
}

impl Projection for Counts {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "counts"
    }
}

impl StoreProjection for Counts {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        _: &AccountEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        if self.fail_at == Some(recorded.position()) {
            return Err("refused".into());
        }
        let count: u64 = model.get_json(recorded.stream())?.unwrap_or(0);
        model.put_json(recorded.stream(), &(count + 1))?;
        Ok(())
    }
}

/// An external sink that fails on the event at position 4.
struct Sink;

impl Projection for Sink {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "sink"
    }
}

impl ExternalProjection for Sink {
    fn apply(&mut self, _: &AccountEvent, recorded: EventRef<'_>) -> Result<(), HandlerError> {
        if recorded.position() == 4 {
            return Err("the sink is down".into());
        }
        Ok(())
    }
}

fn append(store: &LmdbStore, stream: &str, event: AccountEvent) {
    let event = NewEvent::encode(&event, Codec::Json).expect("encodes");
    store
        .append(
            stream,
            ExpectedVersion::Any,
            vec![event],
            &Metadata::default(),
        )
        .expect("appends");
}

fn deposits(store: &LmdbStore, count: usize) {
    for n in 0..count {
        let deposit = MoneyDeposited {
            amount_cents: 100,
            memo: None,
        };
        append(store, &format!("Account-{}", n % 2), deposit.into());
    }
}

fn quick() -> ProjectionOptions {
    ProjectionOptions::default()
        .max_attempts(1)
        .backoff(Duration::from_millis(1))
}

#[test]
fn projections_shows_each_projection_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store");
    let arg = path.to_str().expect("utf-8 path");
    drop(LmdbStore::open(&path).expect("creates"));
    let (code, stdout, stderr) = cli(&["projections", arg]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!("no projections in `{arg}` (head position 0)\n")
    );
    let (code, stdout, _) = cli(&["projections", arg, "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"store": arg, "head": 0, "projections": []})
    );

    {
        let store = LmdbStore::open(&path).expect("opens");
        for n in 0..2 {
            let opened = AccountOpened {
                owner: format!("owner {n}"),
                currency: Currency::Eur,
            };
            append(&store, &format!("Account-{n}"), opened.into());
        }
        deposits(&store, 4); // positions 1..=6
        StoreRunner::new(store.clone(), Counts { fail_at: None }, quick())
            .expect("runner")
            .run_until_caught_up()
            .expect("runs");
        deposits(&store, 2); // 7, 8: the store projection lags by 2
        let skip = quick().on_failure(OnFailure::Skip);
        let report = ExternalRunner::new(store.clone(), Sink, skip)
            .expect("runner")
            .run_until_caught_up()
            .expect("skips");
        assert_eq!(report.parked, 1);
        // A rebuild that stopped at position 3: generation 1 has not switched.
        let mut rebuilder =
            StoreRunner::new(store.clone(), Counts { fail_at: Some(3) }, quick()).expect("runner");
        assert!(rebuilder.rebuild(|_| {}).is_err());
    }
    let (code, stdout, stderr) = cli(&["projections", arg]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "`{arg}`: head position 8\n\
             NAME    KIND      GENERATION  PARTITION  CHECKPOINT  LAG  PARKED  REBUILD\n\
             counts  store     0           0/1        6           2    1       generation 1 at 2/8 (25%)\n\
             sink    external  -           0/1        8           0    1       -\n"
        )
    );
    let (code, stdout, _) = cli(&["projections", arg, "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "store": arg,
            "head": 8,
            "projections": [
                {
                    "name": "counts",
                    "kind": "store",
                    "generation": 0,
                    "partitions": [{"index": 0, "count": 1, "checkpoint": 6, "lag": 2}],
                    "parked": 1,
                    "rebuild": {"generation": 1, "checkpoint": 2, "head": 8, "percent": 25.0},
                },
                {
                    "name": "sink",
                    "kind": "external",
                    "generation": null,
                    "partitions": [{"index": 0, "count": 1, "checkpoint": 8, "lag": 0}],
                    "parked": 1,
                    "rebuild": null,
                },
            ],
        })
    );

    // Watching: the second look has each partition's and rebuild's rate (nothing moves here).
    let (code, stdout, stderr) = cli(&["projections", arg, "--watch", "0.01", "--times", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let looks: Vec<&str> = stdout.split("\n\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(looks.len(), 2, "{stdout}");
    assert!(!looks[0].contains("RATE"), "{stdout}");
    assert!(
        looks[1].contains("LAG  RATE  PARKED")
            && looks[1].contains("generation 1 at 2/8 (25%), 0/s"),
        "{stdout}"
    );
    let (code, stdout, _) = cli(&[
        "projections",
        arg,
        "--watch",
        "0.01",
        "--times",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let looks: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    assert_eq!(looks.len(), 2);
    assert_eq!(looks[1]["projections"][0]["partitions"][0]["rate"], 0.0);
    assert_eq!(looks[1]["projections"][0]["rebuild"]["rate"], 0.0);
    let (code, _, stderr) = cli(&["projections", arg, "--watch", "0"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("positive number of seconds"), "{stderr}");

    let (code, _, stderr) = cli(&["projections", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not an esdsl store"), "{stderr}");
}
