//! A damaged data file never kills the process: seeded random damage of a real store (bit flips
//! in leaf, branch, overflow and meta pages, truncations, zeroed pages, flips anywhere) is
//! either reported (a typed error or a violation) or, where it hit only pages no snapshot uses,
//! verified healthy with every event intact. A signal would end this test binary.

use std::path::Path;

use esdsl_runtime::Error;
use esdsl_runtime::lmdb::{BackupOptions, Durability, LmdbStore, StoreOptions};
use esdsl_runtime::store::{
    EventStore, ExpectedVersion, Filter, Metadata, NewEvent, RecordedEvent,
};

const PAGE: usize = 4096;
/// Cases per run; `ESDSL_DAMAGE_CASES=N` runs N instead.
const CASES: usize = 240;

/// splitmix64: a small seeded generator, so every case can be replayed from its number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A store of 400-odd events in 40 streams in 130 commits (so the file holds pages freed
/// by earlier commits), some with payloads big enough for overflow pages; returns its events.
fn build(dir: &Path) -> Vec<RecordedEvent> {
    let store = LmdbStore::open_with(dir, StoreOptions::default().durability(Durability::NoSync))
        .expect("opens");
    let mut rng = Rng(7);
    let mut n = 0;
    while n < 400 {
        let count = 1 + rng.below(5);
        let stream = format!("Account-{}", rng.below(40));
        let events = (0..count)
            .map(|i| {
                let pad = if (n + i) % 37 == 0 {
                    6_000
                } else {
                    rng.below(120)
                };
                NewEvent {
                    event_type: if i % 2 == 0 { "Deposited" } else { "Withdrawn" }.into(),
                    schema_version: 1,
                    codec: esdsl_runtime::Codec::Json,
                    payload: format!(r#"{{"n":{},"note":"{}"}}"#, n + i, "x".repeat(pad))
                        .into_bytes(),
                }
            })
            .collect();
        store
            .append(&stream, ExpectedVersion::Any, events, &Metadata::default())
            .expect("appends");
        n += count;
    }
    events_of(&store)
}

fn events_of(store: &LmdbStore) -> Vec<RecordedEvent> {
    store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("reads")
        .collect::<Result<_, _>>()
        .expect("every event reads")
}

/// The pages of `bytes` whose header flags have `flag`.
fn pages_with(bytes: &[u8], flag: u16) -> Vec<usize> {
    (2..bytes.len() / PAGE)
        .filter(|page| {
            let at = page * PAGE + 10;
            u16::from_ne_bytes([bytes[at], bytes[at + 1]]) & flag != 0
        })
        .collect()
}

fn flip_bits(bytes: &mut [u8], rng: &mut Rng, start: usize, len: usize, flips: usize) {
    for _ in 0..flips {
        let at = start + rng.below(len);
        bytes[at] ^= 1 << rng.below(8);
    }
}

#[derive(Debug, Default)]
struct Outcomes {
    damaged_errors: usize,
    other_typed_errors: usize,
    violations: usize,
    healthy_intact: usize,
}

#[test]
fn seeded_damage_is_reported_or_harmless_never_a_crash() {
    let root = tempfile::tempdir().expect("temp dir");
    let original_dir = root.path().join("original");
    let originals = build(&original_dir);
    assert!(originals.len() >= 400);
    let original = std::fs::read(original_dir.join("data.mdb")).expect("reads");
    let leaves = pages_with(&original, 0x02);
    let branches = pages_with(&original, 0x01);
    let overflows = pages_with(&original, 0x04);
    assert!(!branches.is_empty() && !overflows.is_empty() && leaves.len() > 10);
    let cases = std::env::var("ESDSL_DAMAGE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    let pages = original.len() / PAGE;
    let mut outcomes = Outcomes::default();
    for case in 0..cases {
        let mut rng = Rng(case as u64 ^ 0xE5D5_1000);
        let mut bytes = original.clone();
        let kind = case % 8;
        let pick = |rng: &mut Rng, list: &[usize]| list[rng.below(list.len())];
        let what = match kind {
            0 => {
                let page = pick(&mut rng, &leaves);
                let flips = 1 + rng.below(8);
                flip_bits(&mut bytes, &mut rng, page * PAGE, PAGE, flips);
                format!("{flips} bit flips in leaf page {page}")
            }
            1 => {
                let page = pick(&mut rng, &branches);
                let flips = 1 + rng.below(4);
                flip_bits(&mut bytes, &mut rng, page * PAGE, PAGE, flips);
                format!("{flips} bit flips in branch page {page}")
            }
            2 => {
                let page = rng.below(2);
                let flips = 1 + rng.below(3);
                flip_bits(&mut bytes, &mut rng, page * PAGE, 152, flips);
                format!("{flips} bit flips in meta page {page}")
            }
            3 => {
                let len = match rng.below(4) {
                    0 => 8 * 1024,
                    1 => original.len() / 2,
                    2 => rng.below(original.len()),
                    _ => original.len() - 1 - rng.below(PAGE),
                };
                bytes.truncate(len);
                format!("truncated to {len} bytes")
            }
            4 => {
                let page = 2 + rng.below(pages - 2);
                bytes[page * PAGE..(page + 1) * PAGE].fill(0);
                format!("page {page} zeroed")
            }
            5 => {
                let len = bytes.len();
                flip_bits(&mut bytes, &mut rng, 0, len, 40);
                "40 bit flips anywhere".to_owned()
            }
            6 => {
                let page = pick(&mut rng, &overflows);
                flip_bits(&mut bytes, &mut rng, page * PAGE, 16, 1);
                format!("a bit flip in the header of overflow page {page}")
            }
            _ => {
                let page = 2 + rng.below(pages - 2);
                let flips = 1 + rng.below(3);
                flip_bits(&mut bytes, &mut rng, page * PAGE, PAGE, flips);
                format!("{flips} bit flips in page {page}")
            }
        };
        let dir = root.path().join(format!("case-{case}"));
        std::fs::create_dir(&dir).expect("creates");
        std::fs::write(dir.join("data.mdb"), &bytes).expect("writes");
        match LmdbStore::verify_read_only(&dir) {
            Err(Error::Damaged {
                file,
                page,
                problem,
                ..
            }) => {
                assert!(file.ends_with("data.mdb"), "case {case} ({what}): {file}");
                assert!(
                    page.is_some() || problem.contains("empty"),
                    "case {case} ({what}): no page in {problem}"
                );
                outcomes.damaged_errors += 1;
            }
            Err(Error::NoStore { .. }) if bytes.is_empty() => outcomes.other_typed_errors += 1,
            Err(
                Error::Corrupt { .. }
                | Error::FormatVersion { .. }
                | Error::Backend(_)
                | Error::InvalidInput(_),
            ) => outcomes.other_typed_errors += 1,
            Err(other) => panic!("case {case} ({what}): unexpected error {other:?}"),
            Ok(report) if !report.is_ok() => outcomes.violations += 1,
            Ok(report) => {
                assert_eq!(
                    report.events,
                    originals.len() as u64,
                    "case {case} ({what})"
                );
                let store = LmdbStore::open(&dir).expect("a healthy store opens");
                // Every record carries a checksum: a store that verifies healthy holds every
                // event exactly as written.
                assert!(
                    events_of(&store) == originals,
                    "case {case} ({what}) verified healthy, but its events changed"
                );
                outcomes.healthy_intact += 1;
            }
        }
    }
    println!("{cases} damages: {outcomes:?}");
    assert!(outcomes.damaged_errors >= cases / 4, "{outcomes:?}");
    assert!(
        outcomes.healthy_intact > 0,
        "no damage hit only free pages: {outcomes:?}"
    );
}

#[test]
fn truncated_stores_are_typed_errors_for_every_open() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("store");
    build(&dir);
    let file = dir.join("data.mdb");
    let len = std::fs::metadata(&file).expect("exists").len();
    for cut in [len / 2, 8 * 1024] {
        let handle = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("opens");
        handle.set_len(cut).expect("truncates");
        drop(handle);
        let damaged = |result: Result<(), Error>, what: &str| match result {
            Err(Error::Damaged {
                page: Some(_),
                offset: Some(_),
                ref problem,
                ..
            }) if problem.contains("truncated") => {}
            other => panic!("{what} at {cut} bytes: {other:?}"),
        };
        damaged(LmdbStore::open(&dir).map(drop), "open");
        damaged(LmdbStore::verify_read_only(&dir).map(drop), "verify");
        damaged(LmdbStore::read_only_status(&dir).map(drop), "status");
        damaged(LmdbStore::read_only_catalog(&dir).map(drop), "catalog");
        damaged(
            LmdbStore::backup_read_only(&dir, root.path().join("copy"), &BackupOptions::new())
                .map(drop),
            "backup",
        );
        assert!(
            !root.path().join("copy").exists(),
            "no backup of a damaged store"
        );
    }
}
