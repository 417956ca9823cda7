//! The formatted code generated for every schema in `schemas/` is the checked-in golden file
//! `tests/generated/<name>.rs`, to the byte: the golden files are the one record of what the
//! generator writes (CI also runs `cargo esdsl generate --check` over them, and the `esdsl-tests`
//! crate checks that the CLI and the `schema!` macro write the same code). Review a changed
//! golden file like code.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("esdsl-schema/ is inside the workspace")
        .to_path_buf()
}

/// The stems of the files in `dir` with extension `ext`, sorted.
fn stems(dir: &Path, ext: &str) -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} lists: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_owned()
        })
        .collect();
    stems.sort();
    stems
}

#[test]
fn generated_code_for_every_example_schema_is_its_golden_file() {
    if !workspace().join("tests/generated").is_dir() {
        // The published package: the example schemas and golden files stay in the repository.
        eprintln!("no workspace around esdsl-schema: the golden files are not here to compare");
        return;
    }
    let schemas = stems(&workspace().join("schemas"), "toml");
    let golden = stems(&workspace().join("tests/generated"), "rs");
    assert_eq!(
        schemas, golden,
        "one golden file in tests/generated/ per schema in schemas/"
    );
    assert!(schemas.len() >= 2, "found {schemas:?}");
    for stem in &schemas {
        let display = format!("schemas/{stem}.toml");
        let schema = esdsl_schema::load_schema(&workspace().join(&display), &display)
            .expect("example schemas are valid");
        let code =
            esdsl_schema::codegen::format_file(esdsl_schema::codegen::generate(&schema), &display)
                .expect("generated code parses");
        let piecewise =
            esdsl_schema::codegen::format_schema(&schema, &display).expect("generated code parses");
        assert!(
            piecewise == code,
            "format_schema and format_file differ for {display}"
        );
        let path = workspace().join(format!("tests/generated/{stem}.rs"));
        let expected = std::fs::read_to_string(&path).expect("golden file reads");
        if code != expected {
            let line = code
                .lines()
                .zip(expected.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| code.lines().count().min(expected.lines().count()));
            panic!(
                "tests/generated/{stem}.rs differs from the code generated for {display} from \
                 line {}:\n  generated: {:?}\n  golden:    {:?}\nif the change is intended, run \
                 `cargo run -p esdsl-cli -- generate schemas --out tests/generated` and review \
                 the diff",
                line + 1,
                code.lines().nth(line),
                expected.lines().nth(line),
            );
        }
    }
}

/// A schema with `events` events over aggregates of 50, every third with three versions, every
/// fifth using a record type and an enum (the shape of `esdsl-cli/scripts/large_schema.py`).
fn many_events(events: usize) -> String {
    let mut out = String::new();
    for a in 0..events.div_ceil(50) {
        out.push_str(&format!("[aggregates.Agg{a}]\nid = \"uuid\"\n"));
    }
    for t in 0..(events / 50).max(1) {
        out.push_str(&format!(
            "[types.Rec{t}]\nstreet = \"string\"\nnumber = \"u32\"\n"
        ));
        out.push_str(&format!(
            "[enums.Kind{t}]\nvariants = [\"alpha\", \"beta\"]\n"
        ));
    }
    for e in 0..events {
        let (a, t) = (e / 50, e / 250);
        let used = if e % 5 == 0 {
            format!("where_ = \"Rec{t}\"\nkind = \"Kind{t}\"\n")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "[events.Event{e}]\naggregate = \"Agg{a}\"\ndoc = \"Event {e}.\"\n\
             [events.Event{e}.v1]\nname = \"string\"\ncount = \"i32\"\n{used}"
        ));
        if e % 3 == 0 {
            out.push_str(&format!(
                "[events.Event{e}.v2]\nname = \"string\"\ncount = \"i64\"\n\
                 note = \"option<string>\"\n{used}\
                 [events.Event{e}.v3]\nname = \"string\"\ncount = \"i64\"\n\
                 note = \"option<string>\"\nweight = {{ type = \"u32\", default = 1 }}\n{used}"
            ));
        }
    }
    out
}

/// `format_schema` formats a few items at a time; the file is the one formatting all the tokens
/// at once gives, also where modules and runs of items span many batches.
#[test]
fn formatting_piecewise_writes_the_same_file() {
    let schema = esdsl_schema::parse_schema("many.toml", &many_events(400)).expect("valid");
    let whole =
        esdsl_schema::codegen::format_file(esdsl_schema::codegen::generate(&schema), "many.toml")
            .expect("parses");
    let piecewise = esdsl_schema::codegen::format_schema(&schema, "many.toml").expect("parses");
    assert!(piecewise == whole, "the two files differ");
    assert_eq!(whole.matches("pub mod v").count(), 3);
    assert_eq!(whole.matches("    pub struct Event").count(), 400 + 2 * 134);
    assert_eq!(whole.matches("pub enum Agg").count(), 8);
}
