//! Reliability: appends killed mid-flight, two processes on one store, a full disk, hot backup
//! and the integrity check.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::lmdb::{Durability, StoreOptions};
use esdsl_runtime::store::{
    EventStore, ExpectedVersion, Filter, Metadata, NewEvent, StreamAppend, stream_name,
};
use esdsl_runtime::{Codec, Error, Repository};
use uuid::Uuid;

use crate::bank::{Account, AccountId, Command};

const APPEND_JOB: &str = "ESDSL_APPEND_CHILD";
const TWO_PROCESS_JOB: &str = "ESDSL_TWO_PROCESS_CHILD";

/// The payload of event `i` of `n` in batch `batch`: deterministic, so the parent can check
/// the stored bytes exactly.
fn payload(batch: &str, i: usize, n: usize) -> Vec<u8> {
    format!(
        "{{\"batch\":\"{batch}\",\"i\":{i},\"n\":{n},\"pad\":\"{}\"}}",
        "x".repeat(40 + i * 7)
    )
    .into_bytes()
}

fn event(batch: &str, i: usize, n: usize) -> NewEvent {
    NewEvent {
        event_type: "Logged".into(),
        schema_version: 1,
        codec: Codec::Json,
        payload: payload(batch, i, n),
    }
}

/// The child: four threads append single events, multi-event batches and multi-stream batches,
/// and log each acknowledged append, until killed.
#[test]
#[ignore = "run by the crash tests as a child process"]
fn append_child() {
    let Ok(job) = std::env::var(APPEND_JOB) else {
        return;
    };
    let (run, dir) = job.split_once(':').expect("run:dir");
    let store = LmdbStore::open(dir).expect("child opens the store");
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let store = store.clone();
            scope.spawn(move || {
                let mut log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(Path::new(dir).join(format!("acks-{run}-{thread}.log")))
                    .expect("opens the log");
                for seq in 0.. {
                    let batch = format!("{run}-{thread}-{seq}");
                    let appends = match seq % 3 {
                        0 => vec![StreamAppend {
                            stream: format!("Crash-{thread}-{}", seq % 5),
                            expected: ExpectedVersion::Any,
                            events: vec![event(&batch, 0, 1)],
                        }],
                        1 => vec![StreamAppend {
                            stream: format!("Crash-{thread}-{}", seq % 5),
                            expected: ExpectedVersion::Any,
                            events: (0..3).map(|i| event(&batch, i, 3)).collect(),
                        }],
                        _ => vec![
                            StreamAppend {
                                stream: format!("Crash-{thread}-a"),
                                expected: ExpectedVersion::Any,
                                events: (0..2).map(|i| event(&batch, i, 4)).collect(),
                            },
                            StreamAppend {
                                stream: format!("Crash-{}-b", (thread + 1) % 4),
                                expected: ExpectedVersion::Any,
                                events: (2..4).map(|i| event(&batch, i, 4)).collect(),
                            },
                        ],
                    };
                    let results = store
                        .append_multi(appends, &Metadata::default())
                        .expect("appends");
                    let positions: Vec<String> = results
                        .iter()
                        .flat_map(|r| r.first_position.unwrap_or(1)..=r.last_position.unwrap_or(0))
                        .map(|p| p.to_string())
                        .collect();
                    // One line per acknowledged append: batch id, then its positions.
                    writeln!(log, "{batch} {}", positions.join(",")).expect("logs");
                }
            });
        }
    });
}

/// Waits until a child of run `run` has logged an acknowledged append (or has exited).
fn wait_for_an_ack(dir: &Path, run: &str, child: &mut std::process::Child) {
    let prefix = format!("acks-{run}-");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let acked = std::fs::read_dir(dir).expect("lists").any(|entry| {
            let path = entry.expect("entry").path();
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
                && std::fs::read_to_string(&path).is_ok_and(|log| log.contains('\n'))
        });
        if acked || child.try_wait().expect("polls").is_some() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {run} acknowledged nothing in 60 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, spread: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        5 + (self.0 >> 33) % spread
    }
}

fn spawn_child(test: &str, job_var: &str, job: &str) -> std::process::Child {
    Process::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", test, "--test-threads=1"])
        .env(job_var, job)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns the child")
}

/// Checks everything the crash test promises; returns (acknowledged appends, stored events).
fn check_after_crash(dir: &Path) -> (usize, u64) {
    let store = LmdbStore::open(dir).expect("reopens after the kill");
    let report = store.verify().expect("verifies");
    assert!(
        report.is_ok(),
        "integrity violations: {:?}",
        report.violations
    );
    let events: Vec<_> = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("reads");
    // The catalog (its table and the tail counted from the log) counts what is stored.
    let mut counted: BTreeMap<(String, String, u32), u64> = BTreeMap::new();
    for event in &events {
        let key = (
            event.category().to_owned(),
            event.event_type.clone(),
            event.schema_version,
        );
        *counted.entry(key).or_default() += 1;
    }
    let catalog: BTreeMap<(String, String, u32), u64> = store
        .catalog()
        .expect("reads the catalog")
        .into_iter()
        .map(|e| ((e.aggregate_type, e.event_type, e.schema_version), e.count))
        .collect();
    assert_eq!(catalog, counted, "the catalog counts what is stored");
    // No partial batch: every batch seen has all its events.
    let mut batches: BTreeMap<String, (usize, BTreeSet<usize>)> = BTreeMap::new();
    for event in &events {
        let value: serde_json::Value = serde_json::from_slice(&event.payload).expect("json");
        let batch = value["batch"].as_str().expect("batch").to_owned();
        let n = value["n"].as_u64().expect("n") as usize;
        let i = value["i"].as_u64().expect("i") as usize;
        assert_eq!(
            event.payload,
            payload(&batch, i, n),
            "stored bytes are the bytes appended"
        );
        let entry = batches.entry(batch).or_insert((n, BTreeSet::new()));
        assert!(entry.1.insert(i), "event {i} of a batch stored twice");
    }
    for (batch, (n, seen)) in &batches {
        assert_eq!(seen.len(), *n, "batch {batch} is partial");
    }
    // Every acknowledged append is there, at the positions it was given.
    let mut acked = 0;
    for entry in std::fs::read_dir(dir).expect("lists") {
        let path = entry.expect("entry").path();
        if !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("acks-"))
        {
            continue;
        }
        let log = std::fs::read_to_string(&path).expect("reads a log");
        // One log per child and thread: only its last line may be cut by the kill.
        let complete = match log.rfind('\n') {
            Some(end) => &log[..end],
            None => "",
        };
        for line in complete.lines().filter(|l| !l.is_empty()) {
            let (batch, positions) = line.split_once(' ').expect("batch positions");
            for (i, position) in positions.split(',').enumerate() {
                let position: u64 = position.parse().expect("a position");
                let stored = events
                    .get(position as usize - 1)
                    .expect("acknowledged event present");
                let value: serde_json::Value =
                    serde_json::from_slice(&stored.payload).expect("json");
                assert_eq!(
                    value["batch"], batch,
                    "position {position} holds its acknowledged batch"
                );
                assert_eq!(value["i"].as_u64(), Some(i as u64));
            }
            acked += 1;
        }
    }
    (acked, events.len() as u64)
}

#[test]
fn acknowledged_appends_survive_fifty_kills() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut delays = Delays(0xdead_beef);
    let mut killed = 0;
    let mut last = (0, 0);
    for round in 0..50 {
        let mut child = spawn_child(
            "reliability::append_child",
            APPEND_JOB,
            &format!("r{round}:{}", dir.path().display()),
        );
        // Start the clock once the child appends: starting a process and opening the store
        // can take longer than the delay on a loaded machine.
        wait_for_an_ack(dir.path(), &format!("r{round}"), &mut child);
        std::thread::sleep(Duration::from_millis(delays.next_ms(40)));
        if child.try_wait().expect("polls").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        }
        child.wait().expect("reaps");
        last = check_after_crash(dir.path());
    }
    println!(
        "50 rounds, {killed} children killed mid-append, {} acknowledged appends verified, {} events stored",
        last.0, last.1
    );
    assert!(
        killed >= 45,
        "the children must be killed mid-run ({killed})"
    );
    assert!(
        last.0 > 100,
        "the children must have appended ({} acknowledged)",
        last.0
    );
}

/// The child: `executes` deposits into three shared accounts, with optimistic concurrency.
#[test]
#[ignore = "run by the two-process test as a child process"]
fn two_process_child() {
    let Ok(job) = std::env::var(TWO_PROCESS_JOB) else {
        return;
    };
    let (process, dir) = job.split_once(':').expect("process:dir");
    let store = LmdbStore::open(dir).expect("child opens the store");
    let accounts = Repository::<Account>::new(store)
        .expect("opens")
        .with_max_retries(10_000);
    // Together more events than the catalog's tail holds, so each process's commits write the
    // catalog's table after the other's.
    for n in 0..600 {
        let id = AccountId(Uuid::from_u128(n % 3 + 1));
        accounts
            .execute(&id, &Command::Deposit(1, Some(format!("{process}:{n}"))))
            .expect("deposits");
    }
}

#[test]
fn two_processes_append_to_one_store_without_lost_updates() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let accounts = Repository::<Account>::new(store).expect("opens");
        for k in 1..=3 {
            accounts
                .execute(&AccountId(Uuid::from_u128(k)), &Command::Open)
                .expect("opens");
        }
    }
    let children: Vec<_> = ["p1", "p2"]
        .iter()
        .map(|p| {
            spawn_child(
                "reliability::two_process_child",
                TWO_PROCESS_JOB,
                &format!("{p}:{}", dir.path().display()),
            )
        })
        .collect();
    for mut child in children {
        let status = child.wait().expect("reaps");
        assert!(status.success(), "a child failed: {status}");
    }
    let store = LmdbStore::open(dir.path()).expect("opens");
    let report = store.verify().expect("verifies");
    assert!(report.is_ok(), "{:?}", report.violations);
    let deposits = store
        .catalog()
        .expect("reads the catalog")
        .into_iter()
        .find(|e| e.event_type == "MoneyDeposited")
        .map(|e| e.count);
    assert_eq!(
        deposits,
        Some(1200),
        "the catalog counts both processes' deposits"
    );
    let accounts = Repository::<Account>::new(store).expect("opens");
    let mut memos = BTreeSet::new();
    let mut total = 0;
    for k in 1..=3 {
        let loaded = accounts
            .load(&AccountId(Uuid::from_u128(k)))
            .expect("loads");
        total += loaded.state.balance;
        assert_eq!(
            loaded.version,
            loaded.state.memos.len() as u64 + 1,
            "dense versions, one per deposit"
        );
        for memo in loaded.state.memos {
            assert!(memos.insert(memo.clone()), "duplicate deposit {memo}");
        }
    }
    assert_eq!(memos.len(), 1200, "no deposit lost");
    assert_eq!(total, 1200);
}

/// A size-limited tmpfs, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(parent: &Path, megabytes: u32) -> Result<SmallDisk, String> {
        let path = parent.join("small");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let output = Process::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if output.status.success() {
            Ok(SmallDisk { path })
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_is_a_typed_error_and_the_store_recovers() {
    let parent = tempfile::tempdir().expect("temp dir");
    let disk = match SmallDisk::mount(parent.path(), 16) {
        Ok(disk) => disk,
        Err(reason) => {
            println!("skipped: cannot mount a size-limited tmpfs here ({reason})");
            return;
        }
    };
    // Take most of the space with a file we can delete later.
    let filler = disk.path.join("filler");
    std::fs::write(&filler, vec![0u8; 10 << 20]).expect("writes the filler");
    let options = StoreOptions::default()
        .initial_map_size(64 << 20)
        .durability(Durability::Durable);
    let store = LmdbStore::open_with(disk.path.join("store"), options).expect("opens");
    let blob = vec![7u8; 64 * 1024];
    let mut appended = 0u64;
    let error = loop {
        let event = NewEvent {
            event_type: "Blob".into(),
            schema_version: 1,
            codec: Codec::Postcard,
            payload: blob.clone(),
        };
        match store.append(
            "Blob-1",
            ExpectedVersion::Exact(appended),
            vec![event],
            &Metadata::default(),
        ) {
            Ok(_) => appended += 1,
            Err(error) => break error,
        }
        assert!(appended < 1_000, "the disk never filled");
    };
    assert!(
        matches!(error, Error::NoSpace(_)),
        "expected NoSpace, got {error:?}"
    );
    println!("the disk filled after {appended} events of 64 KiB: {error}");
    // Still readable, nothing of the failed append visible.
    assert_eq!(
        store.stream_version("Blob-1").expect("reads"),
        Some(appended)
    );
    let read = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .count();
    assert_eq!(read as u64, appended);
    // Free space: appends succeed again.
    std::fs::remove_file(&filler).expect("frees space");
    let event = NewEvent {
        event_type: "Blob".into(),
        schema_version: 1,
        codec: Codec::Postcard,
        payload: blob,
    };
    store
        .append(
            "Blob-1",
            ExpectedVersion::Exact(appended),
            vec![event],
            &Metadata::default(),
        )
        .expect("appends after space is freed");
    assert!(store.verify().expect("verifies").is_ok());
    drop(store);
}

#[test]
fn a_hot_backup_taken_during_appends_restores_and_verifies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path().join("live")).expect("opens");
    let accounts = Repository::<Account>::new(store.clone()).expect("opens");
    let ids: Vec<AccountId> = (0..4).map(|_| AccountId::now_v7()).collect();
    for id in &ids {
        accounts.execute(id, &Command::Open).expect("opens");
    }
    let backup_dir = dir.path().join("backup");
    let (report, acknowledged) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for n in 0..400 {
                accounts
                    .execute(&ids[n % 4], &Command::Deposit(1, None))
                    .expect("deposits");
            }
        });
        std::thread::sleep(Duration::from_millis(30));
        // Everything acknowledged before the backup starts must be in it.
        let acknowledged = store.head_position().expect("reads");
        let report = store.backup(&backup_dir).expect("backs up");
        writer.join().expect("writer");
        (report, acknowledged)
    });
    assert!(report.head >= acknowledged);
    assert!(
        store.backup(&backup_dir).is_err(),
        "a backup never overwrites"
    );
    // Restore: open the copy as a store.
    let restored = LmdbStore::open(&backup_dir).expect("opens the backup");
    let verify = restored.verify().expect("verifies");
    assert!(verify.is_ok(), "{:?}", verify.violations);
    let head = restored.head_position().expect("reads");
    assert_eq!(head, report.head, "the report names the copy's own head");
    assert!(
        head >= acknowledged,
        "backup holds {head}, {acknowledged} were acknowledged before it"
    );
    let original: Vec<_> = store
        .read_all(1, &Filter::all(), head as usize)
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("reads");
    let copied: Vec<_> = restored
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("reads");
    assert_eq!(
        original, copied,
        "the backup holds the same events, byte for byte"
    );
    println!(
        "backup during appends: {head} events, {} bytes, {acknowledged} acknowledged before it began",
        report.bytes
    );
}

#[test]
fn verify_reports_broken_invariants_with_their_location() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = LmdbStore::open(dir.path()).expect("opens");
        let accounts = Repository::<Account>::new(store.clone()).expect("opens");
        let id = AccountId(Uuid::from_u128(9));
        accounts.execute(&id, &Command::Open).expect("opens");
        accounts
            .execute(&id, &Command::Deposit(5, None))
            .expect("deposits");
        accounts
            .execute(&id, &Command::Deposit(6, None))
            .expect("deposits");
        // Enough events that the catalog's counts reach its table (the last ones are counted
        // from the log when the catalog is read).
        let deposits = (0..1024)
            .map(|_| esdsl_runtime::store::NewEvent {
                event_type: "MoneyDeposited".into(),
                schema_version: 3,
                codec: esdsl_runtime::Codec::Json,
                payload: br#"{"amount_cents":1}"#.to_vec(),
            })
            .collect();
        store
            .append(
                &stream_name(&id),
                ExpectedVersion::Exact(3),
                deposits,
                &Metadata::default(),
            )
            .expect("appends");
        assert!(store.verify().expect("verifies").is_ok());
    }
    // Damage it: remove the middle event and garble the catalog.
    {
        #[allow(unsafe_code)]
        let env =
            unsafe { heed::EnvOpenOptions::new().max_dbs(16).open(dir.path()) }.expect("opens raw");
        let open = |name: &str| -> heed::Database<'static, heed::types::Bytes, heed::types::Bytes> {
            env.open_databases_and_commit(env.read_txn().expect("txn"), |opener, txn| {
                opener
                    .open_database::<heed::types::Bytes, heed::types::Bytes>(txn, Some(name))
                    .map(heed::CommitOrAbort::<_, ()>::Commit)
            })
            .expect("opens")
            .unwrap_commit()
            .expect("exists")
        };
        let events = open("events");
        let catalog = open("catalog");
        let mut txn = env.write_txn().expect("txn");
        events
            .delete(&mut txn, &2u64.to_be_bytes())
            .expect("deletes");
        let key = catalog
            .first(&txn)
            .expect("reads")
            .expect("an entry")
            .0
            .to_vec();
        catalog
            .put(&mut txn, &key, &99u64.to_be_bytes())
            .expect("writes");
        txn.commit().expect("commits");
    }
    let store = LmdbStore::open(dir.path()).expect("opens");
    let report = store.verify().expect("verifies");
    let found: Vec<(&str, &str)> = report
        .violations
        .iter()
        .map(|v| (v.location.as_str(), v.problem.as_str()))
        .collect();
    let stream = format!("Account-{}", Uuid::from_u128(9));
    assert!(
        found.contains(&("events[3]", "position gap: expected 2")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(at, problem)| *at == format!("streams[{stream}]")
                && problem.contains("versions are not dense")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(at, problem)| at.starts_with("catalog[Account/")
                && problem.starts_with("count Some(99)")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(at, _)| *at == "stream_index"),
        "{found:?}"
    );
}
