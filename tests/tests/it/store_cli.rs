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
    assert_eq!(
        stdout,
        format!(
            "{{\n  \"store\": \"{live_arg}\",\n  \"events\": 20,\n  \"streams\": 3,\n  \
             \"json_payloads\": 20,\n  \"violations\": []\n}}\n"
        )
    );
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

#[test]
fn verify_prints_violations_on_stderr_or_in_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_dir = dir.path().join("store");
    {
        let store = esdsl_runtime::lmdb::LmdbStore::open(&store_dir).expect("opens");
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
