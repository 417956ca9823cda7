//! Compile-fail cases: schema errors surface through `schema!` as compile errors, and a missing
//! manual upcaster names the event and both versions.

use std::path::Path;

/// trybuild builds each case in `<target>/tests/trybuild/esdsl-tests`, which becomes the cases'
/// `CARGO_MANIFEST_DIR`; the cases' schemas are copied there so `schema!` finds them wherever
/// the target directory is.
#[test]
fn compile_fail() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory");
    let schemas = target.join("tests/trybuild/esdsl-tests/ui-schemas");
    std::fs::create_dir_all(&schemas).expect("creates the schema directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/schemas");
    for entry in std::fs::read_dir(&source).expect("lists ui/schemas") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("file name");
        std::fs::copy(&path, schemas.join(name)).expect("copies a schema");
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
