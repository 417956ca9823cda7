//! A rolling upgrade, proven with real processes: two programs built from two versions of one
//! schema run on one LMDB store at the same time.
//!
//! - Forward compatible (`old_forward` knows Deposited v1, `new_forward` writes v2, which only
//!   appends a field): the old program keeps executing commands, loading the aggregate and
//!   running a projection while the new one writes v2, in either codec; nothing is refused, no
//!   amount is lost on the old side and no memo on the new side.
//! - Only backward compatible (`old_backward` without a forward promise, `new_breaking` renames a
//!   field): once a v2 is stored, the old program stops at start-up with the typed error naming
//!   the version, exits 3 and writes nothing.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::EventStore;

fn program(name: &str) -> &'static str {
    match name {
        "old_forward" => env!("CARGO_BIN_EXE_old_forward"),
        "new_forward" => env!("CARGO_BIN_EXE_new_forward"),
        "old_backward" => env!("CARGO_BIN_EXE_old_backward"),
        "new_breaking" => env!("CARGO_BIN_EXE_new_breaking"),
        other => panic!("no program `{other}`"),
    }
}

fn command(name: &str, dir: &Path, codec: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program(name));
    command
        .arg(dir)
        .args(args)
        .env("ESDSL_ROLLING_CODEC", codec);
    command
}

fn run(name: &str, dir: &Path, codec: &str, args: &[&str]) -> Output {
    command(name, dir, codec, args)
        .output()
        .unwrap_or_else(|e| panic!("{name} runs: {e}"))
}

/// Runs a program that must succeed; its stdout.
fn ok(name: &str, dir: &Path, codec: &str, args: &[&str]) -> String {
    let output = run(name, dir, codec, args);
    assert!(
        output.status.success(),
        "{name} {args:?}: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn head(dir: &Path) -> u64 {
    LmdbStore::open(dir)
        .and_then(|store| store.head_position())
        .expect("the store opens")
}

fn forward_upgrade(codec: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    ok("old_forward", dir, codec, &["open", "1", "ada"]);
    ok("old_forward", dir, codec, &["deposit", "1", "10"]);

    // Both at once, on one account: each deposit, load and projection run of the old program
    // meets the v2 events the new one is writing.
    let new = command("new_forward", dir, codec, &["work", "1", "20", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("new_forward starts");
    let old = run("old_forward", dir, codec, &["work", "1", "20", "1"]);
    let new = new.wait_with_output().expect("new_forward ends");
    for (name, output) in [("old_forward", &old), ("new_forward", &new)] {
        assert!(
            output.status.success(),
            "{name} ({codec}): {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let old_out = String::from_utf8_lossy(&old.stdout);
    assert!(
        old_out
            .lines()
            .filter(|l| l.starts_with("projected"))
            .count()
            == 20
            && old_out
                .lines()
                .filter(|l| l.starts_with("projected"))
                .all(|l| l.ends_with("parked 0")),
        "{old_out}"
    );

    // 10 + 20 x 1 (old, v1) + 20 x 2 (new, v2): both programs see every amount.
    let expected = "balance 70 deposits 41 version 42\n";
    assert_eq!(ok("old_forward", dir, codec, &["balance", "1"]), expected);
    assert_eq!(ok("new_forward", dir, codec, &["balance", "1"]), expected);
    let projected = ok("old_forward", dir, codec, &["project"]);
    assert!(projected.starts_with("projected 70 "), "{projected}");

    // The old program says which events it read from a newer version...
    let old_events = ok("old_forward", dir, codec, &["events"]);
    assert_eq!(
        old_events
            .lines()
            .filter(|l| *l == "Deposited v2 (newer: v2) amount=2")
            .count(),
        20,
        "{old_events}"
    );
    // ...and the new one reads every memo it wrote, and `None` for the v1 events.
    let new_events = ok("new_forward", dir, codec, &["events"]);
    let memo = "Deposited v2 amount=2 memo=Some(\"from new_forward\")";
    assert_eq!(new_events.lines().filter(|l| *l == memo).count(), 20);
    assert_eq!(
        new_events
            .lines()
            .filter(|l| l.starts_with("Deposited v1 ") && l.ends_with("memo=None"))
            .count(),
        21,
        "{new_events}"
    );
    assert_eq!(head(dir), 42);
}

#[test]
fn a_forward_compatible_change_runs_old_and_new_programs_side_by_side_in_json() {
    forward_upgrade("json");
}

#[test]
fn a_forward_compatible_change_runs_old_and_new_programs_side_by_side_in_postcard() {
    forward_upgrade("postcard");
}

#[test]
fn a_backward_only_change_stops_the_old_program_cleanly_with_a_typed_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    ok("old_backward", dir, "json", &["open", "1", "ada"]);
    ok("old_backward", dir, "json", &["deposit", "1", "10"]);
    ok("new_breaking", dir, "json", &["deposit", "1", "5"]);
    assert_eq!(head(dir), 3);

    // The repository's start-up check refuses the store: exit 3, the versions named.
    let refused = run("old_backward", dir, "json", &["deposit", "1", "3"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("`Deposited` v2 (1 stored; newest known version is 1)"),
        "{stderr}"
    );
    // Reading the log meets the typed decode error.
    let read = run("old_backward", dir, "json", &["events"]);
    let stderr = String::from_utf8_lossy(&read.stderr);
    assert_eq!(read.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot decode `Deposited` v2 at position 3"),
        "{stderr}"
    );
    // Nothing was written, and the new program reads everything.
    assert_eq!(head(dir), 3);
    assert_eq!(
        ok("new_breaking", dir, "json", &["balance", "1"]),
        "balance 15 deposits 2 version 3\n"
    );
}
