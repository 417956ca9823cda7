//! Expansion snapshots: the formatted code generated for every schema in `schemas/`.
//! Review a changed snapshot like code (`cargo insta review`).

use std::path::Path;

#[test]
fn generated_code_for_every_example_schema() {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&schemas)
        .expect("schemas/ lists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_owned();
        let display = format!("schemas/{stem}.toml");
        let schema = esdsl_schema::load_schema(&path, &display).expect("example schemas are valid");
        let code =
            esdsl_schema::codegen::format_file(esdsl_schema::codegen::generate(&schema), &display)
                .expect("generated code parses");
        insta::assert_snapshot!(stem, code);
        seen += 1;
    }
    assert!(seen >= 2, "found {seen} schemas");
}
