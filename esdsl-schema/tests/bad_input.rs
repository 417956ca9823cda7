//! Randomized bad input: mutated schema TOML never panics the parser, validator or generator,
//! and every failure comes with located diagnostics. `ESDSL_FUZZ_CASES` raises the case count.

use proptest::prelude::*;

const SCHEMAS: [&str; 2] = [
    include_str!("../../schemas/bank.toml"),
    include_str!("../../schemas/upcasting.toml"),
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
