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
