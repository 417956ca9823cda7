//! The read-only tools stay read-only (`verify_read_only`, `backup_read_only`'s source,
//! `read_only_status`, `read_only_catalog`), and backups: where they may go, what they refuse,
//! the head they report.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use esdsl_runtime::conformance::event;
use esdsl_runtime::lmdb::{BackupOptions, LmdbStore};
use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata, NewEvent};
use esdsl_runtime::{Codec, Error};
use heed::types::Bytes;

fn append(store: &LmdbStore, stream: &str, events: Vec<NewEvent>) {
    store
        .append(stream, ExpectedVersion::Any, events, &Metadata::default())
        .expect("appends");
}

/// A store of 30 events in 3 streams.
fn filled(dir: &Path) {
    let store = LmdbStore::open(dir).expect("opens");
    for n in 0..30 {
        append(
            &store,
            &format!("Thing-{}", n % 3),
            vec![event("Happened", n)],
        );
    }
}

/// A database esdsl does not use, added with heed directly.
fn add_foreign_database(dir: &Path) {
    #[allow(unsafe_code)]
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(16).open(dir) }.expect("opens raw");
    let extra: heed::Database<'static, Bytes, Bytes> = env
        .create_databases_and_commit(env.write_txn().expect("txn"), |opener, txn| {
            opener
                .create_database::<Bytes, Bytes>(txn, Some("someone-else"))
                .map(heed::CommitOrAbort::<_, ()>::Commit)
        })
        .expect("creates")
        .unwrap_commit();
    let mut txn = env.write_txn().expect("txn");
    extra.put(&mut txn, b"k", b"v").expect("puts");
    txn.commit().expect("commits");
}

/// What must not change: the data file's bytes, length, mode and modification time.
fn fingerprint(file: &Path) -> (Vec<u8>, u64, u32, SystemTime) {
    let meta = std::fs::metadata(file).expect("exists");
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
    #[cfg(not(unix))]
    let mode = u32::from(meta.permissions().readonly());
    (
        std::fs::read(file).expect("reads"),
        meta.len(),
        mode,
        meta.modified().expect("mtime"),
    )
}

fn read_only(file: &Path) {
    let mut permissions = std::fs::metadata(file).expect("exists").permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(file, permissions).expect("chmod");
}

#[test]
fn the_read_only_tools_leave_a_read_only_store_byte_identical() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("store");
    filled(&dir);
    add_foreign_database(&dir);
    let expected_catalog = LmdbStore::open(&dir)
        .expect("opens")
        .catalog()
        .expect("reads");
    let file = dir.join("data.mdb");
    read_only(&file);
    let before = fingerprint(&file);
    // Root ignores file modes, so the fingerprint (bytes and mtime) is what proves it.

    let report = LmdbStore::verify_read_only(&dir).expect("verifies");
    assert!(report.is_ok(), "{:?}", report.violations);
    assert_eq!((report.events, report.streams), (30, 3));
    assert!(report.pages > 2, "{report:?}");
    assert_eq!(report.unknown_databases, ["someone-else"]);

    let status = LmdbStore::read_only_status(&dir).expect("reads");
    assert_eq!(status.head, 30);
    assert_eq!(
        LmdbStore::read_only_catalog(&dir).expect("reads"),
        expected_catalog
    );
    let backup = LmdbStore::backup_read_only(&dir, root.path().join("copy"), &BackupOptions::new())
        .expect("backs up");
    assert_eq!(backup.head, 30);
    assert_eq!(backup.unknown_databases, ["someone-else"]);
    assert_eq!(
        LmdbStore::read_only_unknown_databases(&dir).expect("reads"),
        ["someone-else"]
    );
    assert!(
        LmdbStore::verify_read_only(root.path().join("copy"))
            .expect("verifies")
            .is_ok()
    );

    assert!(before == fingerprint(&file), "data.mdb changed");
}

#[test]
fn no_data_file_or_an_empty_one_is_no_store_and_stays_so() {
    let root = tempfile::tempdir().expect("temp dir");
    let missing = root.path().join("missing");
    let bare = root.path().join("bare");
    std::fs::create_dir(&bare).expect("creates");
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("creates");
    std::fs::write(empty.join("data.mdb"), b"").expect("writes");
    for (dir, reason) in [
        (&missing, "no such directory"),
        (&bare, "no data.mdb"),
        (&empty, "data.mdb is empty"),
    ] {
        let no_store = |result: Result<(), Error>, what: &str| match result {
            Err(Error::NoStore { reason: found, .. }) if found == reason => {}
            other => panic!("{what} on {}: {other:?}", dir.display()),
        };
        no_store(LmdbStore::verify_read_only(dir).map(drop), "verify");
        no_store(LmdbStore::read_only_status(dir).map(drop), "status");
        no_store(LmdbStore::read_only_catalog(dir).map(drop), "catalog");
        let copy: PathBuf = root.path().join("copy");
        no_store(
            LmdbStore::backup_read_only(dir, &copy, &BackupOptions::new()).map(drop),
            "backup",
        );
        assert!(!copy.exists());
    }
    assert!(!missing.exists(), "nothing created");
    assert!(!bare.join("data.mdb").exists(), "nothing created");
    assert_eq!(std::fs::read(empty.join("data.mdb")).expect("reads"), b"");
    let message = LmdbStore::verify_read_only(&empty)
        .expect_err("no store")
        .to_string();
    assert!(message.starts_with("no store here: "), "{message}");
}

#[test]
fn a_store_without_esdsl_databases_is_refused_and_none_is_created() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("plain");
    std::fs::create_dir(&dir).expect("creates");
    add_foreign_database(&dir);
    let before = fingerprint(&dir.join("data.mdb"));
    let error = LmdbStore::verify_read_only(&dir).expect_err("not esdsl's");
    assert!(
        matches!(&error, Error::InvalidInput(m) if m.contains("no `events` database")),
        "{error:?}"
    );
    assert!(
        before == fingerprint(&dir.join("data.mdb")),
        "data.mdb changed"
    );
}

#[test]
fn a_backup_goes_outside_the_store_and_refuses_a_store_that_does_not_verify() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("store");
    let store = LmdbStore::open(&dir).expect("opens");
    append(&store, "Thing-1", vec![event("Happened", 1)]);
    for inside in [
        dir.join("backup"),
        dir.join("a/b"),
        root.path().join("x/../store/c"),
    ] {
        let error = store.backup(&inside).expect_err("inside the store");
        assert!(
            matches!(&error, Error::InvalidInput(m) if m.contains("inside the store directory")),
            "{}: {error:?}",
            inside.display()
        );
        assert!(!inside.exists(), "{}", inside.display());
    }
    let broken = NewEvent {
        event_type: "Broken".into(),
        schema_version: 1,
        codec: Codec::Json,
        payload: b"{not json".to_vec(),
    };
    append(&store, "Thing-2", vec![broken]);
    let refused = root.path().join("refused");
    match store.backup(&refused) {
        Err(Error::Damaged { problem, .. }) => {
            assert!(problem.contains("verify found 1 violation(s)"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!refused.exists(), "nothing written");
    let report = store
        .backup_with(
            root.path().join("anyway"),
            &BackupOptions::new().verify(false),
        )
        .expect("copies when told to");
    assert_eq!(report.head, 2);
    drop(store);
    assert!(matches!(
        LmdbStore::backup_read_only(&dir, root.path().join("refused-too"), &BackupOptions::new()),
        Err(Error::Damaged { .. })
    ));
    let report = LmdbStore::backup_read_only(
        &dir,
        root.path().join("anyway-too"),
        &BackupOptions::new().verify(false),
    )
    .expect("copies when told to");
    assert_eq!(report.head, 2);
}

#[test]
fn backups_during_appends_report_the_head_of_their_copy() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(root.path().join("live")).expect("opens");
    append(&store, "Thing-0", vec![event("Happened", 0)]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let heads = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut n = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                append(
                    &store,
                    &format!("Thing-{}", n % 5),
                    vec![event("Happened", n)],
                );
                n += 1;
            }
        });
        let heads: Vec<(u64, u64)> = (0..8)
            .map(|round| {
                let dest = root.path().join(format!("copy-{round}"));
                let report = store.backup(&dest).expect("backs up");
                let copy = LmdbStore::read_only_status(&dest).expect("reads the copy");
                (report.head, copy.head)
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
        heads
    });
    for (reported, copied) in &heads {
        assert_eq!(reported, copied, "{heads:?}");
    }
    println!("backups during appends, (reported, copy's own) heads: {heads:?}");
}
