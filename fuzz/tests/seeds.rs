//! Writes the seed corpus in `fuzz/corpus/`: valid inputs of each target, and the inputs that
//! once crashed or hung (the fuzzing campaign's findings). Run it to make the corpus again:
//!
//! ```sh
//! cargo test -p esdsl-fuzz --test seeds -- --ignored
//! ```

use std::path::{Path, PathBuf};

use esdsl_fuzz::garden;
use esdsl_runtime::store::NewEvent;
use esdsl_runtime::{Codec, Event};

fn dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("creates the corpus folder");
    dir
}

fn write(target: &str, name: &str, data: impl AsRef<[u8]>) {
    std::fs::write(dir(target).join(name), data).expect("writes a seed");
}

fn repo_file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn nested_type(levels: usize) -> String {
    format!(
        "[aggregates.A]\nid = \"uuid\"\n\n[events.E]\naggregate = \"A\"\n\n[events.E.v1]\nx = \"{}u32{}\"\n",
        "list<".repeat(levels),
        ">".repeat(levels)
    )
}

fn planted_v3(value: f64) -> garden::GardenEvent {
    garden::GardenEvent::from(garden::Planted {
        root: garden::Node {
            value,
            label: Some("root".into()),
            children: vec![garden::Node {
                value: -0.0,
                label: None,
                children: Vec::new(),
            }],
        },
        label: "fern".into(),
        weights: [("sun".to_owned(), 1e-300), ("water".to_owned(), 3.5)].into(),
        tags: "green,shade".into(),
        height: 1.1111111111111111e73,
        depth: Some(u64::MAX),
    })
}

fn watered() -> garden::GardenEvent {
    garden::GardenEvent::from(garden::Watered {
        amount: 3,
        unit: garden::Unit::Gallon,
        at: esdsl_runtime::chrono::DateTime::from_timestamp(1_700_000_000, 5).expect("in range"),
        by: Some(esdsl_runtime::uuid::Uuid::from_u128(9)),
        blob: vec![0, 255, 7],
    })
}

#[test]
#[ignore = "writes the corpus; run by hand"]
fn write_the_seed_corpus() {
    // schema: the example schemas, and the findings 1, 2, 3 and 7 of the campaign.
    write("schema", "bank.toml", repo_file("schemas/bank.toml"));
    write(
        "schema",
        "upcasting.toml",
        repo_file("schemas/upcasting.toml"),
    );
    write("schema", "fuzz.toml", repo_file("fuzz/schemas/fuzz.toml"));
    write(
        "schema",
        "finding-1-list-type-8000-deep.toml",
        nested_type(8_000),
    );
    write(
        "schema",
        "finding-2-type-1500-deep.toml",
        nested_type(1_500),
    );
    write(
        "schema",
        "finding-3-type-5000-deep.toml",
        nested_type(5_000),
    );
    let bad_lines: String = (0..5_000).map(|n| format!("bad line {n}\n")).collect();
    write("schema", "finding-7-5000-bad-lines.toml", bad_lines);

    // lock: the repository's locks.
    write("lock", "schemas.lock", repo_file("schemas/esdsl.lock"));
    write(
        "lock",
        "derive-shop.lock",
        repo_file("examples/derive-shop/esdsl.lock"),
    );

    // evolution: a schema against itself, one with a version added, one with a version lost.
    let bank = String::from_utf8(repo_file("schemas/bank.toml")).expect("utf-8");
    write("evolution", "same.txt", format!("{bank}\n---\n{bank}"));
    let fuzz = String::from_utf8(repo_file("fuzz/schemas/fuzz.toml")).expect("utf-8");
    let without_v3 = fuzz
        .split("[events.Planted.v3]")
        .next()
        .expect("a first part")
        .replace("manual_upcasts = [3]\n", "");
    write(
        "evolution",
        "version-added.txt",
        format!("{without_v3}\n---\n{fuzz}"),
    );
    write(
        "evolution",
        "version-lost.txt",
        format!("{fuzz}\n---\n{without_v3}"),
    );

    // decode: each event in both codecs; finding 5 (floats that drifted through JSON); finding
    // 4 (a postcard tree 8,000 deep).
    for (name, event) in [
        ("planted", planted_v3(394_301.338_356_336_75)),
        ("watered", watered()),
    ] {
        for codec in [Codec::Json, Codec::Postcard] {
            let bytes = event.encode(codec).expect("encodes");
            let target = if codec == Codec::Json {
                "decode_json"
            } else {
                "decode_postcard"
            };
            write(target, &format!("{name}.bin"), bytes);
        }
    }
    write(
        "decode_json",
        "finding-5-float-drift.json",
        br#"{"root":{"value":394301.33835633675,"label":null,"children":[]},"label":"x","weights":{"a":1.1111111111111111e+73},"tags":"","height":0.1,"depth":null}"#,
    );
    write(
        "decode_json",
        "planted-v1.json",
        br#"{"root":{"value":1.5,"label":"r","children":[]},"note":"old","weights":{},"tags":["a","b"]}"#,
    );
    let mut tree = Vec::new();
    for _ in 0..8_000 {
        tree.extend_from_slice(&1.5f64.to_le_bytes()); // value
        tree.push(0); // label: None
        tree.push(1); // one child
    }
    tree.extend_from_slice(&0f64.to_le_bytes());
    tree.extend_from_slice(&[0, 0]); // no label, no children
    tree.extend_from_slice(&[1, b'x', 0, 0]); // note "x", no weights, no tags
    write("decode_postcard", "finding-4-tree-8000-deep.bin", tree);

    // record: records as the store writes them.
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = esdsl_runtime::lmdb::LmdbStore::open(dir.path()).expect("opens");
        let metadata = esdsl_runtime::store::Metadata {
            correlation_id: Some(esdsl_runtime::uuid::Uuid::from_u128(3)),
            causation_id: None,
            user: [("tenant".to_owned(), "acme".to_owned())].into(),
        };
        for event in [planted_v3(1.0), watered()] {
            let event = NewEvent::encode(&event, Codec::Postcard).expect("encodes");
            esdsl_runtime::store::EventStore::append(
                &store,
                "Garden-1",
                esdsl_runtime::store::ExpectedVersion::Any,
                vec![event],
                &metadata,
            )
            .expect("appends");
        }
    }
    let records = raw_values(dir.path(), "events");
    for (n, (_, record)) in records.iter().enumerate() {
        write("record", &format!("record-{n}.bin"), record);
    }

    // store: an entry per table, and finding 6 (an events key of u64::MAX).
    let record = &records[0].1;
    let entry = |table: u8, key: &[u8], value: &[u8]| {
        let mut data = vec![table, u8::try_from(key.len()).expect("a short key")];
        data.extend_from_slice(key);
        data.extend_from_slice(value);
        data
    };
    write(
        "store",
        "finding-6-position-u64-max.bin",
        entry(0, &u64::MAX.to_be_bytes(), record),
    );
    write(
        "store",
        "events-overwritten.bin",
        entry(0, &1u64.to_be_bytes(), &record[..record.len() / 2]),
    );
    write(
        "store",
        "stream-index-dangling.bin",
        entry(
            1,
            &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9],
            &77u64.to_be_bytes(),
        ),
    );
    write(
        "store",
        "catalog-short-count.bin",
        entry(3, b"Garden\0Planted\0\0\0\0\x03", b"\x01"),
    );
    write(
        "store",
        "meta-format.bin",
        entry(4, b"format", &[0, 0, 0, 9]),
    );
    write(
        "store",
        "checkpoint-garbage.bin",
        entry(6, b"counter@0#0/1", b"xyz"),
    );
    write(
        "store",
        "parked-garbage.bin",
        entry(7, b"counter\0\0\0\0\0\0\0\0\x02", b"{not json"),
    );
    write(
        "store",
        "snapshot-short.bin",
        entry(8, b"x\0\0\0\0\0\0\0\0\x01", b"\x01\x02"),
    );
}

fn raw_values(dir: &Path, table: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    use heed::types::Bytes;
    #[allow(unsafe_code)]
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(16).open(dir) }.expect("opens raw");
    let db = env
        .open_databases_and_commit(env.read_txn().expect("txn"), |opener, txn| {
            opener
                .open_database::<Bytes, Bytes>(txn, Some(table))
                .map(heed::CommitOrAbort::<_, ()>::Commit)
        })
        .expect("opens")
        .unwrap_commit()
        .expect("exists");
    let txn = env.read_txn().expect("txn");
    db.iter(&txn)
        .expect("iterates")
        .map(|entry| {
            let (key, value) = entry.expect("an entry");
            (key.to_vec(), value.to_vec())
        })
        .collect()
}
