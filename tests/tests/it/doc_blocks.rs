//! The code blocks of `README.md` and `docs/*.md` compile and run. `tests/build.rs` turns each
//! Rust block (and the README's step 4, the block before edited by a `diff` block) into a module
//! of this binary, so a block that stops compiling fails the build of the tests; here each one
//! with a `main` runs, in a fresh directory of its own.

use std::process::Command;

include!(concat!(env!("OUT_DIR"), "/doc_blocks.rs"));

/// A compiled block.
struct Block {
    /// `document:line` of its first line of code.
    source: &'static str,
    /// Its module in this binary.
    module: &'static str,
    /// Its `main`, if it is a program.
    main: Option<fn() -> Result<(), String>>,
}

/// What a block's `main` returned, as a result.
trait Outcome {
    fn into_result(self) -> Result<(), String>;
}

impl Outcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Debug> Outcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

fn outcome(returned: impl Outcome) -> Result<(), String> {
    returned.into_result()
}

/// Which block `run_one_block` runs.
const BLOCK: &str = "ESDSL_DOC_BLOCK";

/// Runs every program among the blocks, each in a fresh directory (the README's programs
/// create a store in `data/`), in a child process of this binary.
#[test]
fn every_program_in_the_docs_runs() {
    let programs: Vec<&Block> = BLOCKS.iter().filter(|b| b.main.is_some()).collect();
    assert!(
        programs.len() >= 4,
        "the README alone has four programs; found {}",
        programs.len()
    );
    let binary = std::env::current_exe().expect("the test binary");
    for block in programs {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = Command::new(&binary)
            .args(["doc_blocks::run_one_block", "--exact", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(BLOCK, block.module)
            .current_dir(dir.path())
            .output()
            .expect("runs the test binary");
        assert!(
            output.status.success(),
            "{}: the program failed\n--- stdout\n{}\n--- stderr\n{}",
            block.source,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// One program, in this process: the one `every_program_in_the_docs_runs` names.
#[test]
#[ignore = "run by `every_program_in_the_docs_runs`, in a directory of its own"]
fn run_one_block() {
    let Ok(module) = std::env::var(BLOCK) else {
        return;
    };
    let block = BLOCKS
        .iter()
        .find(|b| b.module == module)
        .unwrap_or_else(|| panic!("no block `{module}`"));
    let main = block.main.expect("a program");
    if let Err(error) = main() {
        panic!("{}: main returned an error: {error}", block.source);
    }
}

/// Every Rust (and `diff`) block of the README is compiled: counted here independently of
/// `tests/build.rs`, so a block the build script skipped fails this test.
#[test]
fn every_rust_block_of_the_readme_is_compiled() {
    let readme = include_str!("../../../README.md");
    let fences = readme
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with("```rust") || line.starts_with("```diff"))
        .count();
    let compiled = BLOCKS
        .iter()
        .filter(|b| b.source.starts_with("README.md:"))
        .count();
    assert_eq!(
        compiled, fences,
        "README blocks compiled / Rust blocks in the README"
    );
    assert!(compiled >= 4, "the quickstart and the derive section");
}
