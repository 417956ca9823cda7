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
