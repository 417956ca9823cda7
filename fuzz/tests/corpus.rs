//! Every fuzz target's body over its checked-in corpus (`fuzz/corpus/<target>/`, the cases
//! that once crashed or hung among them) and over random input, on stable Rust: a regression
//! fails `cargo test` without a fuzzer. Run on a 2 MiB thread, as small a stack as a user's.

use std::path::{Path, PathBuf};

use esdsl_runtime::Codec;
use proptest::prelude::*;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 7] = [
    ("schema", esdsl_fuzz::schema),
    ("lock", esdsl_fuzz::lock),
    ("evolution", esdsl_fuzz::evolution),
    ("decode_json", |data| esdsl_fuzz::decode(Codec::Json, data)),
    ("decode_postcard", |data| {
        esdsl_fuzz::decode(Codec::Postcard, data)
    }),
    ("record", esdsl_fuzz::record),
    ("store", esdsl_fuzz::store),
];

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn on_a_2_mib_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawns")
        .join()
        .expect("the body neither panics nor overflows the stack");
}

#[test]
fn every_target_passes_its_corpus() {
    for (target, body) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "`{target}` has a corpus");
        for file in files {
            let data = std::fs::read(&file).expect("reads");
            let name = file.display().to_string();
            std::thread::Builder::new()
                .name(name.clone())
                .stack_size(2 << 20)
                .spawn(move || body(&data))
                .expect("spawns")
                .join()
                .unwrap_or_else(|_| panic!("{name}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cheap_targets_survive_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        for (target, body) in TARGETS {
            if target != "store" {
                let data = data.clone();
                on_a_2_mib_stack(move || body(&data));
            }
        }
    }

    #[test]
    fn text_targets_survive_random_schema_text(text in "(\\[[a-z.A-Z]{1,20}\\]\n|[a-z_]{1,8} = (\"[a-z<>,]{0,30}\"|[0-9]{1,4}|\\[\\]|true)\n|---\n){0,24}") {
        // schema, lock and evolution: the targets that read text.
        for (_, body) in &TARGETS[..3] {
            let (body, data) = (*body, text.clone().into_bytes());
            on_a_2_mib_stack(move || body(&data));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_store_survives_a_random_table_entry(data in proptest::collection::vec(any::<u8>(), 2..96)) {
        on_a_2_mib_stack(move || esdsl_fuzz::store(&data));
    }
}
