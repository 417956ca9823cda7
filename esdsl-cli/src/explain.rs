//! `cargo esdsl check --explain RULE`: the documentation of any rule id the commands print
//! (evolution rules, schema and lock rules, the CLI's own), compiled into the binary and
//! rendered for a terminal.

use anyhow::{Result, bail};
use esdsl_schema::diag::{SCHEMA_RULES, schema_rule};
use esdsl_schema::evolve::{self, RULES};

/// A rule only the CLI reports.
struct CliRule {
    id: &'static str,
    level: &'static str,
    text: &'static str,
}

const CLI_RULES: &[CliRule] = &[
    CliRule {
        id: "stale_generated_file",
        level: "error",
        text: "`cargo esdsl generate --check` only: a generated file is missing, differs from \
               what `cargo esdsl generate` would write, or was generated from a schema file \
               that no longer exists (without `--check` the last is a warning).\n\n\
               Run `cargo esdsl generate` and commit the result; delete a file whose schema is \
               gone, with the `mod` declaration that includes it.",
    },
    CliRule {
        id: "empty_schema",
        level: "warning",
        text: "`cargo esdsl generate`: a schema file declares no aggregate, event, type or \
               enum, so its generated file is empty.\n\n\
               Declare an aggregate and its events, or delete the file.",
    },
    CliRule {
        id: "store_invariant",
        level: "error",
        text: "`cargo esdsl store verify`: an invariant of the store does not hold (versions \
               not dense, an index entry without its event, a payload that does not parse, \
               ...). The location names the database and key.\n\n\
               Restore the store from a backup that verifies; see docs/store.md.",
    },
];

/// Every rule id the commands print, once: `version_gap` and `upcast_missing` are both schema
/// and evolution rules, documented as evolution rules.
pub(crate) fn ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = Vec::new();
    let all = RULES
        .iter()
        .map(|r| r.id)
        .chain(SCHEMA_RULES.iter().map(|r| r.id))
        .chain(CLI_RULES.iter().map(|r| r.id));
    for id in all {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The rule's documentation, for a terminal (`color`) or plain.
pub(crate) fn explain(id: &str, color: bool) -> Result<String> {
    let markdown = if let Some(rule) = evolve::rule(id) {
        rule.explain()
    } else if let Some(rule) = schema_rule(id) {
        rule.explain()
    } else if let Some(rule) = CLI_RULES.iter().find(|r| r.id == id) {
        format!("### `{}` ({})\n\n{}\n", rule.id, rule.level, rule.text)
    } else {
        let ids = ids();
        let near = ids
            .iter()
            .map(|candidate| (strsim::jaro_winkler(id, candidate), *candidate))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        bail!(
            "`{id}` is not a rule{near}; the rules are: {}",
            ids.join(", ")
        )
    };
    Ok(render(&markdown, color))
}

/// Where text wraps.
const WIDTH: usize = 90;

const BOLD: &str = "\x1b[1m";
const CODE: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// The Markdown of a rule's entry for a terminal: the heading without `###`, paragraphs
/// wrapped, links as their text, code blocks indented without their fences; with `color`,
/// the heading bold and code cyan without backticks.
fn render(markdown: &str, color: bool) -> String {
    let mut out = String::new();
    let mut in_block = false;
    for block in paragraphs(markdown) {
        if let Some(heading) = block.strip_prefix("### ") {
            let heading = if color {
                format!("{BOLD}{}{RESET}", heading.replace('`', ""))
            } else {
                heading.replace('`', "")
            };
            out.push_str(&heading);
            out.push_str("\n\n");
            continue;
        }
        for line in block.lines() {
            if line.starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                let line = if color && !line.is_empty() {
                    format!("    {CODE}{line}{RESET}")
                } else if line.is_empty() {
                    String::new()
                } else {
                    format!("    {line}")
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
        if block.starts_with("```") {
            out.push('\n');
            continue;
        }
        let mut in_code = false;
        for line in wrap(&unlink(block), WIDTH) {
            out.push_str(&style_code(&line, color, &mut in_code));
            out.push('\n');
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Blocks separated by blank lines, a fenced code block (blank lines and all) as one block.
fn paragraphs(markdown: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut start = None;
    let mut fenced = false;
    let mut offset = 0;
    for line in markdown.split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        if text.starts_with("```") {
            fenced = !fenced;
        }
        if text.trim().is_empty() && !fenced {
            if let Some(s) = start.take() {
                blocks.push(markdown[s..offset].trim_end_matches('\n'));
            }
        } else if start.is_none() {
            start = Some(offset);
        }
        offset += line.len();
    }
    if let Some(s) = start {
        blocks.push(markdown[s..].trim_end_matches('\n'));
    }
    blocks
}

/// `[text](target)` as `text`.
fn unlink(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Words filled into lines of at most `width` characters (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// With `color`, code spans cyan and their backticks dropped; `in_code` carries a span open at
/// the end of a line to the next.
fn style_code(line: &str, color: bool, in_code: &mut bool) -> String {
    if !color {
        return line.to_owned();
    }
    let mut out = String::new();
    if *in_code {
        out.push_str(CODE);
    }
    for c in line.chars() {
        if c == '`' {
            *in_code = !*in_code;
            out.push_str(if *in_code { CODE } else { RESET });
        } else {
            out.push(c);
        }
    }
    if *in_code {
        out.push_str(RESET);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_explains() {
        for id in ids() {
            let text = explain(id, false).expect("documented");
            assert!(text.starts_with(id), "{text}");
            assert!(!text.contains("```") && !text.contains("###"), "{text}");
        }
        let error = explain("unknwn_type", false).expect_err("no such rule");
        assert!(
            error.to_string().starts_with("`unknwn_type` is not a rule (did you mean `unknown_type`?); the rules are: version_modified, "),
            "{error}"
        );
    }

    #[test]
    fn markdown_renders_for_a_terminal() {
        let markdown = "### `rule` (deny)\n\nSee [`other`](#other) and `a b`.\n\n```toml\n[x]\n\ny = 1\n```\n\nEnd.\n";
        assert_eq!(
            render(markdown, false),
            "rule (deny)\n\nSee `other` and `a b`.\n\n    [x]\n\n    y = 1\n\nEnd.\n"
        );
        assert_eq!(
            render(markdown, true),
            "\x1b[1mrule (deny)\x1b[0m\n\nSee \x1b[36mother\x1b[0m and \x1b[36ma b\x1b[0m.\n\n    \
             \x1b[36m[x]\x1b[0m\n\n    \x1b[36my = 1\x1b[0m\n\nEnd.\n"
        );
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
    }
}
