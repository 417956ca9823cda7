//! Many threads, few streams: optimistic concurrency with retries loses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::{Direction, EventStore, Filter, stream_name};
use esdsl_runtime::{Codec, Repository};

use crate::bank::{Account, AccountId, Command};

#[test]
fn eight_threads_a_thousand_commands_ten_streams() {
    const THREADS: usize = 8;
    const COMMANDS: usize = 1_000;
    const STREAMS: usize = 10;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let accounts = Arc::new(
        Repository::<Account>::new(store.clone())
            .expect("empty store")
            .with_codec(Codec::Postcard)
            .with_max_retries(10_000),
    );
    let ids: Vec<AccountId> = (0..STREAMS).map(|_| AccountId::now_v7()).collect();
    for id in &ids {
        accounts.execute(id, &Command::Open).expect("opens");
    }
    let retries: u32 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let accounts = Arc::clone(&accounts);
                let ids = &ids;
                scope.spawn(move || {
                    let mut retries = 0;
                    for n in 0..COMMANDS {
                        let id = &ids[(thread * 7 + n * 3) % STREAMS];
                        let memo = format!("{thread}:{n}");
                        let done = accounts
                            .execute(id, &Command::Deposit(1, Some(memo)))
                            .expect("every command lands eventually");
                        retries += done.retries;
                    }
                    retries
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread runs"))
            .sum()
    });
    println!(
        "{} commands, {retries} retries after conflicts",
        THREADS * COMMANDS
    );

    // Every stream's versions are dense from 1; every memo appears exactly once.
    let mut memos = BTreeSet::new();
    let mut total = 0;
    for id in &ids {
        let stream = stream_name(id);
        let events: Vec<_> = store
            .read_stream(&stream, 1, Direction::Forward, usize::MAX)
            .expect("starts")
            .collect::<Result<_, _>>()
            .expect("reads");
        let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
        assert_eq!(
            versions,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "{stream} dense"
        );
        let loaded = accounts.load(id).expect("loads");
        for memo in loaded.state.memos {
            assert!(memos.insert(memo.clone()), "duplicate event {memo}");
        }
        total += events.len();
    }
    assert_eq!(memos.len(), THREADS * COMMANDS, "no command lost");
    assert_eq!(total, THREADS * COMMANDS + STREAMS);

    // The global log is dense and each stream appears in version order.
    let all: Vec<_> = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("reads");
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>());
    let mut last_version: BTreeMap<&str, u64> = BTreeMap::new();
    for event in &all {
        let last = last_version.entry(event.stream.as_str()).or_default();
        assert_eq!(event.version, *last + 1, "global order keeps stream order");
        *last = event.version;
    }
}
