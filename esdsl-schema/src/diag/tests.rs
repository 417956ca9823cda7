//! Unit tests of diagnostic rendering: the exact text, and the same text as rendering each
//! diagnostic against the whole source (what it did before it took only the lines it needs).

use annotate_snippets::Renderer;
use proptest::prelude::*;

use super::{Diagnostic, LineIndex, MAX_RENDERED, Report, Span, clamp, line_col};

/// A diagnostic rendered with the whole source handed to the renderer, numbered from line 1:
/// the reference that the excerpts [`Report::render`] hands it must match.
fn whole_source(report: &Report, diagnostic: &Diagnostic, origin: bool) -> String {
    let group = report.group(diagnostic, origin, |_| (0..report.source.len(), 1));
    Renderer::plain().render(&[group])
}

fn report(source: &str, diagnostics: Vec<Diagnostic>) -> Report {
    Report {
        path: "bank.toml".into(),
        source: source.into(),
        diagnostics,
    }
}

const SOURCE: &str = "[aggregates.Account]\nid = \"uuid\"\n\n[events.Opened]\naggregate = \"Acount\"\n\n[events.Opened.v1]\nowner = \"strng\"\nnote = { type = \"string\",\n  default = 3 }\nx = 1\ny = 2\n";

#[test]
fn diagnostics_render_like_rustc_to_the_letter() {
    let owner = SOURCE.find("\"strng\"").expect("in the source");
    let aggregate = SOURCE.find("\"Acount\"").expect("in the source");
    let table = SOURCE.find("{ type").expect("in the source");
    let table_end = SOURCE.find("3 }").expect("in the source") + 3;
    let report = report(
        SOURCE,
        vec![
            Diagnostic::error(
                "unknown_aggregate",
                "event `Opened` belongs to unknown aggregate `Acount`",
            )
            .at(aggregate..aggregate + 8)
            .label("no such aggregate")
            .help("did you mean `Account`?"),
            Diagnostic::error("unknown_type", "unknown type `strng`")
                .at(owner..owner + 7)
                .label("unknown type")
                .help("did you mean `string`?"),
            Diagnostic::warning("invalid_default", "a table across two lines")
                .at(table..table_end)
                .label("here"),
            Diagnostic::error("missing_key", "at the very end").at(SOURCE.len()..SOURCE.len()),
            Diagnostic::error("unknown_key", "no location").help("fix it"),
        ],
    );
    let expected = "\
error[unknown_aggregate]: event `Opened` belongs to unknown aggregate `Acount`
 --> bank.toml:5:13
  |
5 | aggregate = \"Acount\"
  |             ^^^^^^^^ no such aggregate
  |
  = help: did you mean `Account`?

error[unknown_type]: unknown type `strng`
 --> bank.toml:8:9
  |
8 | owner = \"strng\"
  |         ^^^^^^^ unknown type
  |
  = help: did you mean `string`?

warning[invalid_default]: a table across two lines
  --> bank.toml:9:8
   |
 9 |   note = { type = \"string\",
   |  ________^
10 | |   default = 3 }
   | |_______________^ here

error[missing_key]: at the very end
  --> bank.toml:12:7
   |
12 | y = 2
   |      ^

error[unknown_key]: no location
 |
 = help: fix it

error: bank.toml has 4 errors
";
    assert_eq!(report.render(), expected);
    let each = report.render_each();
    assert_eq!(
        each[1],
        "unknown type `strng` [unknown_type]\n --> bank.toml:8:9\n  |\n8 | owner = \"strng\"\n  |         ^^^^^^^ unknown type\n  |\n  = help: did you mean `string`?"
    );
    assert_eq!(
        report.render_diagnostic(&report.diagnostics[4], false),
        "error[unknown_key]: no location\n--> bank.toml\n = help: fix it"
    );
}

/// Whether rendering against the whole source gave a gutter one digit too narrow: an empty
/// span at the start of line 10, 100, ... (annotate-snippets counts the lines before the span's
/// end, and the line it starts is not among them).
fn misaligned_before(source: &str, diagnostic: &Diagnostic) -> bool {
    let Some(span) = diagnostic.span else {
        return false;
    };
    let range = clamp(source, span.range());
    let line = source[..range.start].matches('\n').count() + 1;
    let at_line_start = range.start == 0 || source[..range.start].ends_with('\n');
    let digits = |n: usize| n.to_string().len();
    range.is_empty()
        && at_line_start
        && range.start < source.len()
        && digits(line) != digits(line - 1)
}

#[test]
fn an_empty_span_at_a_line_start_keeps_the_gutter_aligned() {
    let source = "a = 1\n".repeat(9) + "b = 2\n";
    let at = source.find('b').expect("in the source");
    let report = report(&source, vec![Diagnostic::error("e", "an error").at(at..at)]);
    // Against the whole source the gutter was `10| b = 2`, one column short.
    assert_eq!(
        report.render_diagnostic(&report.diagnostics[0], false),
        "error[e]: an error\n  --> bank.toml:10:1\n   |\n10 | b = 2\n   | ^"
    );
}

/// Text that exercises line handling: empty lines, CRLF, tabs, multi-byte characters.
fn source() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just(String::new()),
        Just("a = 1".to_owned()),
        Just("é = \"ü\"".to_owned()),
        Just("\tb = 2\r".to_owned()),
        Just("[events.X.v1]".to_owned()),
        "[a-z =\"<>]{0,12}",
    ];
    (proptest::collection::vec(line, 0..30), any::<bool>()).prop_map(|(lines, newline)| {
        let mut text = lines.join("\n");
        if newline {
            text.push('\n');
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rendering_equals_rendering_against_the_whole_source(
        source in source(),
        spans in proptest::collection::vec((0usize..400, 0usize..40, any::<bool>(), any::<bool>()), 1..5),
    ) {
        let diagnostics: Vec<Diagnostic> = spans
            .iter()
            .map(|&(start, len, labelled, warning)| {
                let start = start % (source.len() + 2);
                let mut d = if warning {
                    Diagnostic::warning("w", "a warning")
                } else {
                    Diagnostic::error("e", "an error")
                };
                d = d.at(start..start + len).help("help");
                if labelled {
                    d = d.label("label");
                }
                d
            })
            .collect();
        let report = report(&source, diagnostics);
        let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
        let index = report.line_index();
        let mut expected = String::new();
        for diagnostic in &report.diagnostics {
            prop_assert_eq!(
                report.render_diagnostic_indexed(diagnostic, false, &index),
                report.render_diagnostic(diagnostic, false)
            );
            let before = whole_source(&report, diagnostic, false);
            let now = report.render_located(&Renderer::plain(), diagnostic, false, &line_of);
            if misaligned_before(&source, diagnostic) {
                // See `an_empty_span_at_a_line_start_keeps_the_gutter_aligned`.
                prop_assert_ne!(&now, &before);
            } else {
                prop_assert_eq!(&now, &before);
                prop_assert_eq!(
                    report.render_diagnostic(diagnostic, false),
                    whole_source(&report, diagnostic, true)
                );
            }
            expected.push_str(&now);
            expected.push_str("\n\n");
        }
        prop_assert!(report.render().starts_with(&expected));
    }
}

proptest! {
    /// An index answers every offset, on a character boundary or not, as a scan does.
    #[test]
    fn a_line_index_locates_like_a_scan(source in "[a\n\u{e9}\u{1F600}]{0,40}") {
        let index = LineIndex::new(&source);
        for offset in 0..=source.len() + 2 {
            prop_assert_eq!(index.line_col(&source, offset), line_col(&source, offset));
        }
    }
}

/// Every rule id this crate reports is documented: an evolution rule, or a schema rule that
/// `cargo esdsl check --explain` prints.
#[test]
fn every_code_the_crate_reports_is_documented() {
    let mut files = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut codes = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("src/ lists")
                    .map(|e| e.expect("entry").path()),
            );
            continue;
        }
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source reads");
        for opening in ["Diagnostic::error(", "Diagnostic::warning("] {
            for (at, _) in text.match_indices(opening) {
                let rest = text[at + opening.len()..].trim_start();
                if let Some(literal) = rest.strip_prefix('"') {
                    let code = &literal[..literal.find('"').expect("a closing quote")];
                    codes.push((code.to_owned(), path.display().to_string()));
                }
            }
        }
    }
    assert!(codes.len() > 30, "{codes:?}");
    for (code, file) in codes {
        assert!(
            crate::evolve::rule(&code).is_some() || super::schema_rule(&code).is_some(),
            "`{code}` ({file}) is not documented in SCHEMA_RULES or RULES"
        );
    }
}

#[test]
fn past_max_rendered_diagnostics_a_line_counts_the_rest() {
    let source = "x\n".repeat(MAX_RENDERED + 7);
    let diagnostics = (0..MAX_RENDERED + 7)
        .map(|n| {
            Diagnostic::error("unknown_key", format!("bad {n}")).at(Span::new(2 * n..2 * n + 1))
        })
        .collect();
    let report = Report {
        path: "many.toml".into(),
        source,
        diagnostics,
    };
    let rendered = report.render();
    assert_eq!(rendered.matches("error[unknown_key]").count(), MAX_RENDERED);
    assert!(
        rendered.contains(
            "7 more diagnostics of `many.toml` not shown (fix these first, or see them all with \
             `cargo esdsl check --format json`)"
        ),
        "{rendered}"
    );
    assert!(rendered.ends_with(&format!(
        "error: many.toml has {} errors\n",
        MAX_RENDERED + 7
    )));
    let each = report.render_each();
    assert_eq!(each.len(), MAX_RENDERED + 1);
    assert!(each[MAX_RENDERED].starts_with("7 more diagnostics"));
}
