//! Crash tests: a child process runs a projection and is killed with SIGKILL at random
//! moments, 20 times; the read model must still equal a fold over the log (exactly once), and
//! an external sink must have every event at least once.
//!
//! The child is this same test binary, re-run with `--ignored --exact crash::child` and the
//! job in an environment variable.

use std::io::Write;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use esdsl_runtime::Codec;
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{
    ExternalProjection, ExternalRunner, HandlerError, Projection, ProjectionOptions, StoreRunner,
};
use esdsl_runtime::store::{
    EventRef, EventStore, ExpectedVersion, Metadata, NewEvent, StreamAppend, stream_name,
};

use crate::bank::schema::MoneyDeposited;
use crate::bank::{AccountEvent, AccountId};
use crate::projections::{Balances, fold, populate, view};

const JOB: &str = "ESDSL_CRASH_CHILD";

/// Appends each delivered position to a file, like an external sink would.
struct FileSink {
    file: std::fs::File,
}

impl Projection for FileSink {
    type Event = AccountEvent;
    fn name(&self) -> &str {
        "file-sink"
    }
}

impl ExternalProjection for FileSink {
    fn apply(&mut self, _event: &AccountEvent, recorded: EventRef<'_>) -> Result<(), HandlerError> {
        // One write per line: `writeln!` issues the digits and the newline as separate writes.
        // (A kill can still cut a line short; each child has its own file, so such a line is
        // the unterminated end of that file, which the check drops: its event was not
        // acknowledged, so it is delivered again.)
        let line = format!("{}\n", recorded.position());
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        Ok(())
    }
}

/// The child's side: runs the job named in the environment until killed (or done).
#[test]
#[ignore = "run by the crash tests as a child process"]
fn child() {
    let Ok(job) = std::env::var(JOB) else { return };
    let (kind, dir) = job.split_once(':').expect("kind:dir");
    let store = LmdbStore::open(dir).expect("child opens the store");
    // One event per transaction: many commits, so a kill lands mid-run.
    let options = ProjectionOptions::default().batch_size(1);
    match kind {
        "store" => {
            let mut runner =
                StoreRunner::new(store, Balances::named("crashy"), options).expect("runner");
            runner.run_until_caught_up().expect("runs");
        }
        "external" => {
            // A sink per child: a line a kill cuts short is the last of its own file.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(Path::new(dir).join(format!("sink-{}.txt", std::process::id())))
                .expect("opens the sink");
            let mut runner =
                ExternalRunner::new(store, FileSink { file }, options).expect("runner");
            runner.run_until_caught_up().expect("runs");
        }
        other => panic!("unknown job {other}"),
    }
}

/// A small deterministic generator for kill delays, so a failure can be replayed.
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        5 + (self.0 >> 33) % 60
    }
}

/// Appends `per_stream` deposits to each account in one atomic append.
fn deposit(store: &LmdbStore, ids: &[AccountId], per_stream: usize) {
    let appends = ids
        .iter()
        .map(|id| StreamAppend {
            stream: stream_name(id),
            expected: ExpectedVersion::StreamExists,
            events: (0..per_stream)
                .map(|n| {
                    let event = AccountEvent::from(MoneyDeposited {
                        amount_cents: n as i64 + 1,
                        memo: None,
                    });
                    NewEvent::encode(&event, Codec::Json).expect("encodes")
                })
                .collect(),
        })
        .collect();
    store
        .append_multi(appends, &Metadata::default())
        .expect("appends");
}

/// Starts the child on `job` and kills it after a pseudo-random delay, `rounds` times; before
/// each round, `before_round` adds work. Returns how many children were killed mid-run.
fn kill_repeatedly(job: &str, rounds: usize, seed: u64, mut before_round: impl FnMut()) -> usize {
    let exe = std::env::current_exe().expect("test binary");
    let mut delays = Delays(seed);
    let mut killed = 0;
    for _ in 0..rounds {
        before_round();
        let mut child = Process::new(&exe)
            .args(["--ignored", "--exact", "crash::child", "--test-threads=1"])
            .env(JOB, job)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns the child");
        std::thread::sleep(Duration::from_millis(delays.next_ms()));
        if child.try_wait().expect("polls").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        }
        child.wait().expect("reaps");
    }
    killed
}

#[test]
fn a_store_projection_is_exactly_once_across_kills() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let ids = populate(&store, 8, 0);
    let job = format!("store:{}", dir.path().display());
    let killed = kill_repeatedly(&job, 20, 0x5eed, || deposit(&store, &ids, 40));
    let head = store.head_position().expect("reads");

    let mut runner = StoreRunner::new(
        store.clone(),
        Balances::named("crashy"),
        ProjectionOptions::default(),
    )
    .expect("runner");
    let before = runner.checkpoint().expect("reads");
    runner.run_until_caught_up().expect("finishes");
    println!(
        "{head} events, 20 children started, {killed} killed mid-run, checkpoint {before} before the final run"
    );
    assert!(
        killed >= 10,
        "most children must die mid-run for the test to mean anything ({killed})"
    );
    assert_eq!(
        view(&store, "crashy"),
        fold(&store, 1),
        "read model equals a fold over the log"
    );
}

#[test]
fn an_external_projection_is_at_least_once_across_kills() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let ids = populate(&store, 4, 0);
    let job = format!("external:{}", dir.path().display());
    let killed = kill_repeatedly(&job, 20, 0xfeed, || deposit(&store, &ids, 25));
    let head = store.head_position().expect("reads");

    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("sink-final.txt"))
        .expect("opens the sink");
    let mut runner = ExternalRunner::new(
        store.clone(),
        FileSink { file },
        ProjectionOptions::default(),
    )
    .expect("runner");
    runner.run_until_caught_up().expect("finishes");
    let mut counts = vec![0u32; head as usize + 1];
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("lists") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("sink-"))
        {
            let text = std::fs::read_to_string(&path).expect("reads a sink");
            // Only complete lines: a kill may have cut the last one short.
            let complete = text.rfind('\n').map_or("", |end| &text[..end]);
            lines.extend(complete.lines().map(str::to_owned));
        }
    }
    for line in &lines {
        let position: usize = line.parse().expect("a position per line");
        *counts.get_mut(position).unwrap_or_else(|| {
            panic!("the sink holds position {position}, past the head {head}")
        }) += 1;
    }
    let duplicates: u32 = counts.iter().map(|c| c.saturating_sub(1)).sum();
    println!("{head} events, {killed} children killed, {duplicates} duplicate deliveries");
    assert!(
        counts[1..].iter().all(|c| *c >= 1),
        "every event delivered at least once"
    );
    assert_eq!(runner.checkpoint().expect("reads"), head);
}
