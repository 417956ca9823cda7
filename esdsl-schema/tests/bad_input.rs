//! Bad and hostile input: mutated schema TOML never panics the parser, validator or generator,
//! and every failure comes with located diagnostics (`ESDSL_FUZZ_CASES` raises the case count);
//! input built to exhaust the stack is refused with a diagnostic, on a small thread stack too.

use proptest::prelude::*;

const SCHEMAS: [&str; 2] = [
    include_str!("fixtures/bank.toml"),
    include_str!("fixtures/upcasting.toml"),
];

/// Fragments that make mutations land on meaningful syntax more often than random bytes would.
const FRAGMENTS: [&str; 24] = [
    "[",
    "]",
    "{",
    "}",
    "\"",
    "=",
    ",",
    "\n",
    ".",
    "v1",
    "v0",
    "v99",
    "option<",
    ">",
    "list<",
    "map<",
    "type",
    "default",
    "renamed_from",
    "manual_upcasts = [2]",
    "retired = true",
    "aggregate = \"Nope\"",
    "\u{feff}",
    "é",
];

fn cases() -> u32 {
    std::env::var("ESDSL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, fragment: usize },
    Byte { at: usize, byte: u8 },
    DuplicateLine { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..FRAGMENTS.len())
            .prop_map(|(at, fragment)| Mutation::Insert { at, fragment }),
        (any::<usize>(), 0x20u8..0x7f).prop_map(|(at, byte)| Mutation::Byte { at, byte }),
        any::<usize>().prop_map(|at| Mutation::DuplicateLine { at }),
    ]
}

fn apply(source: &str, mutations: &[Mutation]) -> String {
    let mut text = source.to_owned();
    for mutation in mutations {
        let boundary = |at: usize, text: &str| {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        match mutation {
            Mutation::Delete { at, len } => {
                let start = boundary(*at, &text);
                let end = boundary(start + len, &text).max(start);
                text.replace_range(start..end, "");
            }
            Mutation::Insert { at, fragment } => {
                let at = boundary(*at, &text);
                text.insert_str(at, FRAGMENTS[*fragment]);
            }
            Mutation::Byte { at, byte } => {
                let at = boundary(*at, &text);
                text.insert(at, char::from(*byte));
            }
            Mutation::DuplicateLine { at } => {
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let line = lines[at % lines.len()].to_owned();
                    let at = boundary(*at, &text);
                    text.insert_str(at, &format!("\n{line}\n"));
                }
            }
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn mutated_schemas_never_panic_and_errors_are_located(
        which in 0..SCHEMAS.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let source = apply(SCHEMAS[which], &mutations);
        match esdsl_schema::parse_schema("fuzz.toml", &source) {
            Ok(schema) => {
                let tokens = esdsl_schema::codegen::generate(&schema);
                let file = esdsl_schema::codegen::format_file(tokens, "fuzz.toml");
                prop_assert!(file.is_ok(), "generated code does not parse: {:?}", file.err());
            }
            Err(report) => {
                prop_assert!(!report.diagnostics.is_empty());
                for diagnostic in &report.diagnostics {
                    let span = diagnostic.span.expect("every schema diagnostic is located");
                    prop_assert!(span.start <= span.end && span.end <= source.len(), "span {span:?} outside the text");
                    prop_assert!(diagnostic.help.is_some(), "{} has no help", diagnostic.code);
                }
                let _ = report.render();
            }
        }
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        if let Err(report) = esdsl_schema::parse_schema("random.toml", &text) {
            let _ = report.render();
        }
    }
}

/// The stack a user's thread may have: small enough that unbounded recursion over input shows.
const SMALL_STACK: usize = 2 << 20;

/// Runs `f` on a thread with a 2 MiB stack; a stack overflow aborts the test binary.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("thread starts")
        .join()
        .expect("no panic")
}

/// A schema whose one record field is `list<` nested `depth` deep around `u32`.
fn nested_schema(depth: usize) -> String {
    format!(
        "[types.Deep]\nx = \"{}u32{}\"\n",
        "list<".repeat(depth),
        ">".repeat(depth)
    )
}

#[test]
fn types_nested_beyond_the_limit_are_refused_on_a_small_stack() {
    for depth in [33, 1_500, 30_000] {
        let source = nested_schema(depth);
        let (codes, evolution_codes, rendered) = on_small_stack(move || {
            let report = esdsl_schema::parse_schema("deep.toml", &source)
                .expect_err("nesting beyond the limit is an error");
            let codes: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
            let evolution = esdsl_schema::SchemaFile::parse("deep.toml", "deep.toml", &source)
                .expect_err("the evolution check parses with the same limit");
            let evolution_codes: Vec<&str> = evolution.diagnostics.iter().map(|d| d.code).collect();
            (codes, evolution_codes, report.render())
        });
        assert_eq!(codes, ["type_too_deep"], "depth {depth}");
        assert_eq!(evolution_codes, ["type_too_deep"], "depth {depth}");
        assert!(rendered.contains("error[type_too_deep]"), "{rendered}");
    }
}

#[test]
fn the_deepest_allowed_type_is_generated_and_formatted_on_a_small_stack() {
    let depth = esdsl_schema::MAX_TYPE_DEPTH;
    let source = nested_schema(depth);
    let code = on_small_stack(move || {
        let schema =
            esdsl_schema::parse_schema("deep.toml", &source).expect("at the limit is valid");
        let tokens = esdsl_schema::codegen::generate(&schema);
        esdsl_schema::codegen::format_file(tokens, "deep.toml").expect("the code parses")
    });
    // prettyplease breaks the long type over lines with trailing commas: compare without them.
    let field: String = code
        .split("pub x:")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("the field is generated")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect();
    assert_eq!(
        field,
        format!(
            "{}u32{}",
            "::std::vec::Vec<".repeat(depth),
            ">".repeat(depth)
        )
    );
}

/// A chain of records each holding the next, as long as a hostile file may make it: the
/// recursion check and the generator's depth bound walk it with stacks of their own.
#[test]
fn a_long_chain_of_records_validates_and_generates_on_a_small_stack() {
    let records = 20_000;
    let mut text = String::from("[aggregates.A]\nid = \"uuid\"\n\n");
    for n in 0..records {
        text.push_str(&format!("[types.R{n}]\nnext = \"option<R{}>\"\n\n", n + 1));
    }
    text.push_str(&format!("[types.R{records}]\nend = \"u32\"\n\n"));
    text.push_str("[events.E]\naggregate = \"A\"\n\n[events.E.v1]\nfirst = \"R0\"\n");
    let generated = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let schema = esdsl_schema::parse_schema("chain.toml", &text).expect("valid");
            esdsl_schema::codegen::generate(&schema).to_string().len()
        })
        .expect("spawns")
        .join()
        .expect("no stack overflow");
    assert!(generated > 0);
}

/// An error and its sources as an error chain prints them (`{:#}` in anyhow).
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        out.push_str(": ");
        out.push_str(&next.to_string());
        source = next.source();
    }
    out
}

#[test]
fn a_file_that_is_not_utf8_is_an_invalid_schema_located_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[aggregates.Account]\ndoc = \"Konto f\xfcr\"\n").expect("writes");
    let Err(esdsl_schema::LoadError::Invalid(report)) =
        esdsl_schema::load_schema(&path, "latin1.toml")
    else {
        panic!("not UTF-8 is an invalid schema");
    };
    assert_eq!(
        report.render(),
        "error[invalid_toml]: the file is not UTF-8 text\n \
         --> latin1.toml:2:15\n  |\n2 | doc = \"Konto f\u{fffd}r\"\n  |               ^ not UTF-8\n  |\n  \
         = help: TOML files are UTF-8: convert the file (e.g. with `iconv -t UTF-8`)\n\n\
         error: latin1.toml has 1 error\n"
    );
}

#[test]
fn an_unreadable_schema_names_the_os_error_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file");
    std::fs::write(&file, "").expect("writes");
    let Err(error) = esdsl_schema::load_schema(&file.join("bank.toml"), "file/bank.toml") else {
        panic!("a path under a file cannot be read");
    };
    let text = chain(&error);
    assert!(text.starts_with("cannot read schema `"), "{text}");
    assert_eq!(text.matches("os error 20").count(), 1, "{text}");

    let Err(error) = esdsl_schema::evolve::check_descriptor(
        "cart",
        "[aggregates.Cart]\n",
        &file.join("esdsl.lock"),
        esdsl_schema::evolve::LockMode::Check,
    ) else {
        panic!("a lock under a file cannot be read");
    };
    let text = chain(&error);
    assert!(text.starts_with("cannot access `"), "{text}");
    assert_eq!(text.matches("os error 20").count(), 1, "{text}");
}
