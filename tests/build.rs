//! Turns the code blocks of `README.md` and `docs/*.md` into Rust the `it` test binary
//! compiles (`tests/it/doc_blocks.rs`), so a block that stops compiling fails `cargo test`.
//!
//! A document is read top to bottom, as a reader follows it:
//!
//! - a ```` ```toml ```` block right after `<!-- file: PATH ... -->` is appended to file `PATH`
//!   (the README's quickstart writes `schemas/shop.toml` in step 2 and adds a version in step 4);
//! - a ```` ```rust ```` block is a program: it becomes a module of the test binary, and runs if it
//!   has a `main` (`no_run`: compiled only). `schema!("PATH")` in it reads `PATH` as the document
//!   has built it so far, or else the repository's own file (`schemas/bank.toml`);
//! - a ```` ```diff ```` block edits the program before it (the README's step 4); the result
//!   is compiled and run too;
//! - ```` ```rust,ignore ```` marks a fragment that cannot compile on its own (and
//!   `compile_fail` is not checked). The docs have some; the README may not: each of its Rust
//!   blocks is a program a reader can paste.
//!
//! Each block's file in `$OUT_DIR/doc_blocks/` keeps the block's line numbers: an error at
//! `readme_md_75.rs:80` is at line 80 of `README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let blocks_dir = out.join("doc_blocks");
    std::fs::create_dir_all(&blocks_dir)
        .unwrap_or_else(|e| panic!("creating {}: {e}", blocks_dir.display()));
    println!("cargo::rerun-if-changed=../README.md");
    println!("cargo::rerun-if-changed=../docs");

    let mut documents = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap_or_else(|e| panic!("listing docs/: {e}"))
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| Path::new("docs").join(path.file_name().expect("a file name")))
        .collect();
    docs.sort();
    documents.extend(docs);

    let mut programs = Vec::new();
    for document in &documents {
        let text = std::fs::read_to_string(root.join(document))
            .unwrap_or_else(|e| panic!("reading {}: {e}", document.display()));
        programs.extend(programs_of(document, &text, &root, &blocks_dir));
    }
    std::fs::write(out.join("doc_blocks.rs"), table(&programs))
        .unwrap_or_else(|e| panic!("writing doc_blocks.rs: {e}"));
}

/// A fenced block: its first line of code (1-based), info string and code (indentation of the
/// fence removed).
struct Fence {
    line: usize,
    info: String,
    code: Vec<String>,
    /// `PATH` of a `<!-- file: PATH ... -->` line right before the fence.
    file: Option<String>,
}

/// A program to compile: where it comes from, its module name, whether it runs.
struct Program {
    module: String,
    source: String,
    runs: bool,
}

fn fences(text: &str) -> Vec<Fence> {
    let lines: Vec<&str> = text.lines().collect();
    let mut fences = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let Some(info) = line.trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let file = lines[..i]
            .iter()
            .rev()
            .find(|line| !line.trim().is_empty())
            .and_then(|line| line.trim().strip_prefix("<!-- file:"))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        let mut code = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != "```" {
            let line = lines[i];
            let strip = indent.min(line.len() - line.trim_start().len());
            code.push(line[strip..].to_owned());
            i += 1;
        }
        fences.push(Fence {
            line: i - code.len() + 1,
            info: info.trim().to_owned(),
            code,
            file,
        });
        i += 1;
    }
    fences
}

fn programs_of(document: &Path, text: &str, root: &Path, out: &Path) -> Vec<Program> {
    let name = document.display().to_string();
    let stem = name.replace(['/', '.', '-'], "_").to_lowercase();
    let is_readme = name == "README.md";
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut previous: Option<Vec<String>> = None;
    let mut programs = Vec::new();
    for fence in fences(text) {
        let mut words = fence.info.split([',', ' ']).filter(|w| !w.is_empty());
        let language = words.next().unwrap_or("");
        let attributes: Vec<&str> = words.collect();
        let (code, first_line) = match language {
            "toml" => {
                if let Some(path) = &fence.file {
                    let file = files.entry(path.clone()).or_default();
                    if !file.is_empty() {
                        file.push('\n');
                    }
                    for line in &fence.code {
                        file.push_str(line);
                        file.push('\n');
                    }
                }
                continue;
            }
            // rustdoc's `compile_fail` cannot be checked here: like `ignore`, not compiled.
            "rust" if attributes.contains(&"ignore") || attributes.contains(&"compile_fail") => {
                assert!(
                    !is_readme,
                    "README.md:{}: a README block is compiled by the tests; make it a whole \
                     program instead of marking it `{}`",
                    fence.line,
                    attributes.join(",")
                );
                continue;
            }
            "rust" => (fence.code.clone(), Some(fence.line)),
            "diff" => {
                let Some(before) = &previous else {
                    panic!(
                        "{name}:{}: a `diff` block edits the Rust block before it, and there is none",
                        fence.line
                    );
                };
                (apply(&name, fence.line, before, &fence.code), None)
            }
            _ => continue,
        };
        previous = Some(code.clone());
        let module = format!("{stem}_{}", fence.line);
        let mut file = match first_line {
            // Blank lines up to the block's first line: errors name the document's lines.
            Some(line) => {
                let mut header = format!("// {name}:{line}, generated by tests/build.rs");
                header.push_str(&"\n".repeat(line - 1));
                header
            }
            None => format!(
                "// {name}:{}: the block before, edited by this diff\n",
                fence.line
            ),
        };
        let dir = out.join(&module);
        for line in &code {
            file.push_str(&with_schema_paths(line, &files, root, &dir));
            file.push('\n');
        }
        std::fs::write(out.join(format!("{module}.rs")), file)
            .unwrap_or_else(|e| panic!("writing {module}.rs: {e}"));
        programs.push(Program {
            runs: !attributes.contains(&"no_run") && code.iter().any(|l| l.contains("fn main(")),
            source: format!("{name}:{}", fence.line),
            module,
        });
    }
    programs
}

/// `before` with the diff applied: its ` ` and `-` lines, found once in `before`, become its
/// ` ` and `+` lines.
fn apply(name: &str, line: usize, before: &[String], diff: &[String]) -> Vec<String> {
    let mut old = Vec::new();
    let mut new = Vec::new();
    for text in diff {
        match text.split_at_checked(1) {
            Some(("-", rest)) => old.push(rest),
            Some(("+", rest)) => new.push(rest),
            Some((" ", rest)) => {
                old.push(rest);
                new.push(rest);
            }
            _ if text.is_empty() => {
                old.push("");
                new.push("");
            }
            _ => panic!("{name}:{line}: a diff line starts with ` `, `-` or `+`: {text:?}"),
        }
    }
    let starts: Vec<usize> = (0..before.len())
        .filter(|&at| {
            before.len() - at >= old.len() && before[at..at + old.len()].iter().eq(old.iter())
        })
        .collect();
    let [at] = starts[..] else {
        panic!(
            "{name}:{line}: the diff's old lines appear {} times in the Rust block before it, \
             not once",
            starts.len()
        );
    };
    let mut after = before[..at].to_vec();
    after.extend(new.iter().map(|line| (*line).to_owned()));
    after.extend_from_slice(&before[at + old.len()..]);
    after
}

/// `line` with each `schema!("PATH")` reading the file the document built at `PATH` (written
/// under `dir`), or else the repository's `PATH`, by absolute path.
fn with_schema_paths(
    line: &str,
    files: &BTreeMap<String, String>,
    root: &Path,
    dir: &Path,
) -> String {
    const MACRO: &str = "schema!(\"";
    let Some(start) = line.find(MACRO).map(|at| at + MACRO.len()) else {
        return line.to_owned();
    };
    let Some(len) = line[start..].find('"') else {
        return line.to_owned();
    };
    let path = &line[start..start + len];
    let absolute = match files.get(path) {
        Some(content) => {
            let file = dir.join(path);
            let parent = file.parent().expect("a file in a directory");
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
            std::fs::write(&file, content)
                .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
            file
        }
        None => root.join(path),
    };
    let absolute = absolute.to_str().expect("a UTF-8 path").replace('\\', "/");
    format!("{}{absolute}{}", &line[..start], &line[start + len..])
}

/// The modules, and the table `doc_blocks.rs` gives the tests.
fn table(programs: &[Program]) -> String {
    let mut code = String::from("// @generated by tests/build.rs from README.md and docs/*.md\n");
    for program in programs {
        let Program {
            module,
            source,
            runs,
        } = program;
        let _ = write!(
            code,
            "\n/// `{source}`.\n#[allow(dead_code, unreachable_pub, missing_debug_implementations)]\n\
             mod {module} {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/doc_blocks/{module}.rs\"));\n"
        );
        if *runs {
            code.push_str(
                "\n    pub(super) fn __run_doc_block() -> Result<(), String> {\n        \
                 super::outcome(main())\n    }\n",
            );
        }
        code.push_str("}\n");
    }
    code.push_str("\n/// Every compiled block, in document order.\nconst BLOCKS: &[Block] = &[\n");
    for program in programs {
        let Program {
            module,
            source,
            runs,
        } = program;
        let main = if *runs {
            format!("Some({module}::__run_doc_block)")
        } else {
            "None".to_owned()
        };
        let _ = writeln!(
            code,
            "    Block {{ source: {source:?}, module: {module:?}, main: {main} }},"
        );
    }
    code.push_str("];\n");
    code
}
