//! `cargo esdsl store verify` and `cargo esdsl store backup`.

use crate::cli;
use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata};

#[test]
fn verify_and_backup_a_store_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("live");
    {
        let store = esdsl_runtime::lmdb::LmdbStore::open(&live).expect("opens");
        for n in 0..20 {
            let event = esdsl_runtime::conformance::event("Happened", n);
            store
                .append(
                    &format!("Thing-{}", n % 3),
                    ExpectedVersion::Any,
                    vec![event],
                    &Metadata::default(),
                )
                .expect("appends");
        }
    }
    let live_arg = live.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = cli(&["store", "verify", live_arg]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("20 events, 3 streams, 20 JSON payloads parsed, 0 violation(s)"),
        "{stdout}"
    );

    let (code, stdout, stderr) = cli(&["store", "verify", live_arg, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "events",
            "json_payloads",
            "pages",
            "store",
            "streams",
            "unknown_databases",
            "violations"
        ],
        "{stdout}"
    );
    assert_eq!(json["store"], live_arg);
    assert_eq!(
        (json["events"].as_u64(), json["streams"].as_u64()),
        (Some(20), Some(3))
    );
    assert!(
        json["pages"].as_u64().is_some_and(|pages| pages > 2),
        "{stdout}"
    );
    assert_eq!(json["unknown_databases"], serde_json::json!([]));
    assert_eq!(json["violations"], serde_json::json!([]));
    let (code, stdout, _) = cli(&["store", "verify", live_arg, "-q"]);
    assert_eq!((code, stdout.as_str()), (0, ""));

    let backup = dir.path().join("backup");
    let backup_arg = backup.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = cli(&["store", "backup", live_arg, backup_arg]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("every event up to position 20"), "{stdout}");
    let (code, stdout, _) = cli(&["store", "verify", backup_arg]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("20 events"), "{stdout}");

    let (code, _, stderr) = cli(&["store", "backup", live_arg, backup_arg]);
    assert_eq!(code, 2, "a backup never overwrites: {stderr}");
    let (code, _, stderr) = cli(&["store", "verify", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not an esdsl store"), "{stderr}");
}

/// A store in `dir` holding one event whose JSON payload does not parse: a store that does not
/// verify.
fn store_with_a_broken_payload(dir: &std::path::Path) {
    let store = esdsl_runtime::lmdb::LmdbStore::open(dir).expect("opens");
    let event = esdsl_runtime::store::NewEvent {
        event_type: "Broken".into(),
        schema_version: 1,
        codec: esdsl_runtime::Codec::Json,
        payload: b"{not json".to_vec(),
    };
    store
        .append(
            "Thing-1",
            ExpectedVersion::Any,
            vec![event],
            &Metadata::default(),
        )
        .expect("appends");
}

#[test]
fn verify_prints_violations_on_stderr_or_in_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_dir = dir.path().join("store");
    store_with_a_broken_payload(&store_dir);
    let arg = store_dir.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = cli(&["store", "verify", arg]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.starts_with("error[store_invariant]: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        stdout,
        format!("{arg}: 1 events, 1 streams, 1 JSON payloads parsed, 1 violation(s)\n")
    );

    let (code, stdout, stderr) = cli(&["store", "verify", arg, "--format", "json"]);
    assert_eq!((code, stderr.as_str()), (1, ""));
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["violations"][0]["rule"], "store_invariant");
    assert!(json["violations"][0]["location"].is_string(), "{json}");
    assert!(json["violations"][0]["problem"].is_string(), "{json}");
}

#[test]
fn backup_refuses_a_store_that_does_not_verify_unless_told_and_never_writes_inside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_dir = dir.path().join("store");
    store_with_a_broken_payload(&store_dir);
    let data = store_dir.join("data.mdb");
    let before = std::fs::read(&data).expect("reads");
    let arg = store_dir.to_str().expect("utf-8 path");
    let inside = store_dir.join("backup");
    let (code, _, stderr) = cli(&["store", "backup", arg, inside.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is inside the store directory"), "{stderr}");
    assert!(!inside.exists());

    let copy = dir.path().join("copy");
    let copy_arg = copy.to_str().expect("utf-8 path");
    let (code, _, stderr) = cli(&["store", "backup", arg, copy_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("verify found 1 violation(s), the first at events[1]"),
        "{stderr}"
    );
    assert!(!copy.exists());
    let (code, stdout, stderr) = cli(&["store", "backup", arg, copy_arg, "--no-verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("every event up to position 1"), "{stdout}");
    assert_eq!(
        std::fs::read(&data).expect("reads"),
        before,
        "the source is not written"
    );
}

#[test]
fn every_read_only_command_warns_of_databases_esdsl_does_not_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_dir = dir.path().join("store");
    drop(esdsl_runtime::lmdb::LmdbStore::open(&store_dir).expect("opens"));
    {
        // SAFETY: a closed store, in a temp dir nothing else maps.
        #[allow(unsafe_code)]
        let env =
            unsafe { heed::EnvOpenOptions::new().max_dbs(16).open(&store_dir) }.expect("opens raw");
        env.create_databases_and_commit(env.write_txn().expect("txn"), |opener, txn| {
            opener
                .create_database::<heed::types::Bytes, heed::types::Bytes>(txn, Some("mine"))
                .map(heed::CommitOrAbort::<_, ()>::Commit)
        })
        .expect("creates");
    }
    let arg = store_dir.to_str().expect("utf-8 path");
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");
    let copy = dir.path().join("copy");
    let warning = format!("warning: `{arg}` holds a database esdsl does not use: `mine`\n");
    for args in [
        &["store", "verify", arg][..],
        &["store", "backup", arg, copy.to_str().expect("utf-8 path")],
        &["projections", arg],
        &["check", schemas, "--against-store", arg],
    ] {
        let (code, stdout, stderr) = cli(args);
        assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr, warning, "{args:?}");
    }
    let (code, stdout, _) = cli(&["store", "verify", arg, "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["unknown_databases"], serde_json::json!(["mine"]));
}
