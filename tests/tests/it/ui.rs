//! Compile-fail cases: schema errors surface through `schema!` as compile errors, and a missing
//! manual upcaster names the event and both versions.

#[test]
fn compile_fail() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
