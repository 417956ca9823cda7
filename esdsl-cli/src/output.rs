//! Printing findings: `human` (compiler-style, with caret snippets), `json`, `github`
//! (workflow commands) and `sarif` (SARIF 2.1.0).

use esdsl_schema::evolve::{Finding, RULES};
use esdsl_schema::{LineIndex, Report, Severity};
use serde_json::{Value, json};

/// How `check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Like the compiler: rule id, message, file:line:column, the line with a caret, help.
    Human,
    /// A JSON array, one object per finding.
    Json,
    /// GitHub Actions workflow commands (`::error file=..,line=..::message`).
    Github,
    /// A SARIF 2.1.0 log, for code scanning.
    Sarif,
}

/// The texts findings point into, by the path they are shown under, each with its lines
/// indexed: locating every finding by scanning its text made output quadratic.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    reports: Vec<(Report, LineIndex)>,
}

/// Where a finding is: file, start line and column, end line and column (1-based).
struct Location<'a> {
    file: &'a str,
    region: Option<(usize, usize, usize, usize)>,
}

impl Sources {
    pub(crate) fn add(&mut self, path: &str, source: &str) {
        if !self.contains(path) {
            let report = Report {
                path: path.to_owned(),
                source: source.to_owned(),
                diagnostics: Vec::new(),
            };
            let lines = report.line_index();
            self.reports.push((report, lines));
        }
    }

    /// Whether findings may point into `path`.
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.reports.iter().any(|(r, _)| r.path == path)
    }

    fn report(&self, path: Option<&str>) -> Option<&(Report, LineIndex)> {
        let path = path?;
        self.reports.iter().find(|(r, _)| r.path == path)
    }

    fn location<'f>(&self, finding: &'f Finding) -> Option<Location<'f>> {
        let file = finding.path.as_deref()?;
        let region = match (self.report(Some(file)), finding.diagnostic.span) {
            (Some((report, lines)), Some(span)) => {
                let (line, column) = lines.line_col(&report.source, span.start);
                let (end_line, end_column) = lines.line_col(&report.source, span.end);
                Some((line, column, end_line, end_column))
            }
            _ => None,
        };
        Some(Location { file, region })
    }

    /// The order findings are printed in: by file as added (others after), then position.
    pub(crate) fn sort(&self, findings: &mut [Finding]) {
        findings.sort_by_key(|f| {
            let file = f
                .path
                .as_deref()
                .and_then(|p| self.reports.iter().position(|(r, _)| r.path == p))
                .unwrap_or(self.reports.len());
            (file, f.diagnostic.span.map_or(0, |s| s.start))
        });
    }
}

/// Every finding rendered like rustc, separated by blank lines.
pub(crate) fn human(findings: &[Finding], sources: &Sources, styled: bool) -> String {
    let mut out = String::new();
    for finding in findings {
        let mut diagnostic = finding.diagnostic.clone();
        let rendered = match sources.report(finding.path.as_deref()) {
            Some((report, lines)) => report.render_diagnostic_indexed(&diagnostic, styled, lines),
            None => {
                diagnostic.span = None;
                let report = Report {
                    path: finding.path.clone().unwrap_or_default(),
                    source: String::new(),
                    diagnostics: Vec::new(),
                };
                report.render_diagnostic(&diagnostic, styled)
            }
        };
        out.push_str(&rendered);
        out.push_str("\n\n");
    }
    out
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "deny",
        Severity::Warning => "warn",
    }
}

/// One finding in `--format json`, keys in this order.
#[derive(serde::Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    severity: &'a str,
    event: Option<&'a str>,
    version: Option<u32>,
    field: Option<&'a str>,
    message: &'a str,
    help: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
}

/// A JSON array with one object per finding.
pub(crate) fn json(findings: &[Finding], sources: &Sources) -> String {
    let items: Vec<JsonFinding<'_>> = findings
        .iter()
        .map(|finding| {
            let d = &finding.diagnostic;
            let region = sources.location(finding).and_then(|l| l.region);
            JsonFinding {
                rule: d.code,
                severity: level(d.severity),
                event: finding.event.as_deref(),
                version: finding.version,
                field: finding.field.as_deref(),
                message: &d.message,
                help: d.help.as_deref(),
                file: finding.path.as_deref(),
                line: region.map(|r| r.0),
                column: region.map(|r| r.1),
                end_line: region.map(|r| r.2),
                end_column: region.map(|r| r.3),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_default();
    text.push('\n');
    text
}

/// GitHub Actions workflow commands: one annotation per finding.
pub(crate) fn github(findings: &[Finding], sources: &Sources) -> String {
    let mut out = String::new();
    for finding in findings {
        let d = &finding.diagnostic;
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = Vec::new();
        if let Some(location) = sources.location(finding) {
            properties.push(format!("file={}", property(location.file)));
            if let Some((line, column, end_line, end_column)) = location.region {
                properties.push(format!("line={line}"));
                properties.push(format!("col={column}"));
                properties.push(format!("endLine={end_line}"));
                properties.push(format!("endColumn={end_column}"));
            }
        }
        properties.push(format!("title={}", property(&format!("esdsl {}", d.code))));
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{command} {}::{}\n",
            properties.join(","),
            data(&message)
        ));
    }
    out
}

/// Escapes a workflow command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A SARIF 2.1.0 log with one run of `cargo-esdsl`.
pub(crate) fn sarif(findings: &[Finding], sources: &Sources) -> String {
    let sarif_level = |severity: Severity| match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "shortDescription": { "text": rule.summary },
                "fullDescription": { "text": rule.why },
                "help": { "text": rule.fix, "markdown": rule.explain() },
                "defaultConfiguration": { "level": sarif_level(rule.severity) },
            })
        })
        .collect();
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    let mut results = Vec::new();
    for finding in findings {
        let d = &finding.diagnostic;
        let index = match ids.iter().position(|id| *id == d.code) {
            Some(index) => index,
            None => {
                // A schema error (e.g. `unknown_type`), documented in docs/schema.md.
                ids.push(d.code);
                rules.push(json!({
                    "id": d.code,
                    "shortDescription": { "text": format!("schema error `{}`", d.code) },
                    "defaultConfiguration": { "level": "error" },
                }));
                ids.len() - 1
            }
        };
        let mut text = d.message.clone();
        if let Some(help) = &d.help {
            text.push_str("\nhelp: ");
            text.push_str(help);
        }
        let mut result = json!({
            "ruleId": d.code,
            "ruleIndex": index,
            "level": sarif_level(d.severity),
            "message": { "text": text },
            "properties": {
                "event": finding.event,
                "version": finding.version,
                "field": finding.field,
            },
        });
        if let Some(location) = sources.location(finding) {
            let mut physical = json!({
                "artifactLocation": { "uri": uri(location.file) },
            });
            if let Some((line, column, end_line, end_column)) = location.region {
                physical["region"] = json!({
                    "startLine": line,
                    "startColumn": column,
                    "endLine": end_line,
                    "endColumn": end_column,
                });
            }
            result["locations"] = json!([{ "physicalLocation": physical }]);
        }
        results.push(result);
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "cargo-esdsl",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&log).unwrap_or_default();
    text.push('\n');
    text
}

/// A relative path as a URI reference: `/` separators, other unsafe bytes percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            b'\\' => out.push('/'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(data("50%\na"), "50%25%0Aa");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn uris_are_relative_references() {
        assert_eq!(
            uri("schemas/bank account.toml"),
            "schemas/bank%20account.toml"
        );
        assert_eq!(uri("HEAD:schemas\\a.toml"), "HEAD%3Aschemas/a.toml");
    }
}
