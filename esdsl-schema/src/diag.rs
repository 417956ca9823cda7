//! Diagnostics: what is wrong with a schema, where, and how to fix it.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

mod rules;

pub use rules::{SCHEMA_RULES, SchemaRule, schema_rule};

/// At most this many diagnostics of one file are rendered by [`Report::render`],
/// [`Report::render_styled`] and [`Report::render_each`]; a last line counts the rest. (Each
/// rendering handles the lines its span touches: a hostile file with thousands of diagnostics
/// on one long line would otherwise take seconds to render.)
pub const MAX_RENDERED: usize = 100;

/// A byte range in a schema's source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from a byte range.
    pub fn new(range: Range<usize>) -> Span {
        Span {
            start: range.start,
            end: range.end,
        }
    }

    /// The span as a byte range.
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

impl From<Range<usize>> for Span {
    fn from(range: Range<usize>) -> Span {
        Span::new(range)
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Reported; does not fail.
    Warning,
    /// Fails the schema or check.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// A stable rule id in snake case, e.g. `unknown_key`.
    pub code: &'static str,
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// Where, when it can be located.
    pub span: Option<Span>,
    /// A short label under the caret.
    pub label: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a rule id and message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: None,
            help: None,
        }
    }

    /// A warning with a rule id and message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Locates the diagnostic.
    #[must_use]
    pub fn at(mut self, span: impl Into<Span>) -> Diagnostic {
        self.span = Some(span.into());
        self
    }

    /// Adds a label under the caret.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Adds a help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

/// A schema's source text with the diagnostics found in it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The path shown in messages (as the user named the file).
    pub path: String,
    /// The schema's text.
    pub source: String,
    /// What was found, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The 1-based line and column of a byte offset (columns count characters).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.source, offset)
    }

    /// Renders every diagnostic like rustc does, without colors.
    pub fn render(&self) -> String {
        self.render_with(&Renderer::plain())
    }

    /// Renders every diagnostic with terminal colors.
    pub fn render_styled(&self) -> String {
        self.render_with(&Renderer::styled())
    }

    /// Renders each diagnostic on its own, for a compiler that prints the severity itself:
    /// the first line is the message and rule id, the rest the location, snippet and help.
    pub fn render_each(&self) -> Vec<String> {
        let renderer = Renderer::plain();
        let lines = LineIndex::new(&self.source);
        self.diagnostics
            .iter()
            .take(MAX_RENDERED)
            .map(|diagnostic| {
                let full = self.render_located(&renderer, diagnostic, false, &|o| lines.line_of(o));
                let rest = full.split_once('\n').map_or("", |(_, rest)| rest);
                format!("{} [{}]\n{rest}", diagnostic.message, diagnostic.code)
            })
            .chain(self.not_rendered())
            .collect()
    }

    /// The line that stands for the diagnostics past [`MAX_RENDERED`], if there are any.
    fn not_rendered(&self) -> Option<String> {
        let more = self.diagnostics.len().checked_sub(MAX_RENDERED)?;
        (more > 0).then(|| {
            format!(
                "{more} more diagnostic{} of `{}` not shown (fix these first, or see them all \
                 with `cargo esdsl check --format json`)",
                if more == 1 { "" } else { "s" },
                self.path
            )
        })
    }

    /// Renders one diagnostic like rustc does, with colors when `styled`, and without the
    /// closing count. Unlike [`Report::render`], a diagnostic without a span still names the
    /// file (` --> path`), unless the path is empty.
    pub fn render_diagnostic(&self, diagnostic: &Diagnostic, styled: bool) -> String {
        // One diagnostic: counting the newlines before it is cheaper than indexing every line.
        let line_of = |offset: usize| bytecount_newlines(&self.source[..offset]) + 1;
        self.render_one(diagnostic, styled, &line_of)
    }

    /// Like [`Report::render_diagnostic`], with the report's [`LineIndex`]: for rendering many
    /// diagnostics of one text in time linear in their number.
    pub fn render_diagnostic_indexed(
        &self,
        diagnostic: &Diagnostic,
        styled: bool,
        lines: &LineIndex,
    ) -> String {
        self.render_one(diagnostic, styled, &|offset| lines.line_of(offset))
    }

    /// Where each line of the report's text starts, for [`Report::render_diagnostic_indexed`]
    /// and [`LineIndex::line_col`].
    pub fn line_index(&self) -> LineIndex {
        LineIndex::new(&self.source)
    }

    fn render_one(
        &self,
        diagnostic: &Diagnostic,
        styled: bool,
        line_of: &dyn Fn(usize) -> usize,
    ) -> String {
        let renderer = if styled {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        self.render_located(&renderer, diagnostic, !self.path.is_empty(), line_of)
    }

    fn render_with(&self, renderer: &Renderer) -> String {
        let mut out = String::new();
        let lines = LineIndex::new(&self.source);
        for diagnostic in self.diagnostics.iter().take(MAX_RENDERED) {
            out.push_str(&self.render_located(renderer, diagnostic, false, &|o| lines.line_of(o)));
            out.push_str("\n\n");
        }
        if let Some(more) = self.not_rendered() {
            out.push_str(&more);
            out.push_str("\n\n");
        }
        let errors = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        if errors > 0 {
            let plural = if errors == 1 { "" } else { "s" };
            out.push_str(&format!(
                "error: {} has {errors} error{plural}\n",
                self.path
            ));
        }
        out
    }

    /// `origin`: name the file when the diagnostic has no span; `line_of`: the 1-based line
    /// number of a byte offset at the start of a line.
    ///
    /// The renderer is handed only the lines the span touches, numbered from where they stand:
    /// handing it the whole source made rendering every diagnostic of a file quadratic.
    fn render_located(
        &self,
        renderer: &Renderer,
        diagnostic: &Diagnostic,
        origin: bool,
        line_of: &dyn Fn(usize) -> usize,
    ) -> String {
        let group = self.group(diagnostic, origin, |range| {
            let lines = excerpt(&self.source, range);
            let first_line = line_of(lines.start);
            (lines, first_line)
        });
        renderer.render(&[group])
    }

    /// The renderer's group for `diagnostic`: its title, the part of the source `window`
    /// chooses for its (clamped) span with the span annotated, or the file when it has no span
    /// and `origin` is set, then its help. `window` gives a range of whole lines holding the
    /// span and the 1-based number of its first line.
    fn group<'a>(
        &'a self,
        diagnostic: &'a Diagnostic,
        origin: bool,
        window: impl FnOnce(Range<usize>) -> (Range<usize>, usize),
    ) -> Group<'a> {
        let level = match diagnostic.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = level
            .primary_title(diagnostic.message.as_str())
            .id(diagnostic.code);
        let mut group = match diagnostic.span {
            Some(span) => {
                let range = clamp(&self.source, span.range());
                let (lines, first_line) = window(range.clone());
                let mut annotation = AnnotationKind::Primary
                    .span(range.start - lines.start..range.end - lines.start);
                if let Some(label) = &diagnostic.label {
                    annotation = annotation.label(label.as_str());
                }
                Group::with_title(title).element(
                    Snippet::source(&self.source[lines])
                        .line_start(first_line)
                        .path(self.path.as_str())
                        .fold(true)
                        .annotation(annotation),
                )
            }
            None if origin => Group::with_title(title).element(Origin::path(self.path.as_str())),
            None => Group::with_title(title),
        };
        if let Some(help) = &diagnostic.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        group
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Report {}

#[cfg(test)]
mod tests;

/// Where each line of a text starts, found once for all the diagnostics rendered from it.
#[derive(Debug, Clone)]
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    /// Indexes the lines of `source`.
    pub fn new(source: &str) -> LineIndex {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex(starts)
    }

    /// The 1-based number of the line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }

    /// The 1-based line and column of byte `offset` of `source`, the text this index was built
    /// from (columns count characters), as [`Report::line_col`] gives.
    pub fn line_col(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = clamp(source, offset..offset).start;
        let line = self.line_of(offset);
        let line_start = self.0.get(line - 1).copied().unwrap_or(0).min(offset);
        let column = source[line_start..offset].chars().count() + 1;
        (line, column)
    }
}

fn bytecount_newlines(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count()
}

/// The whole lines that a (clamped) span touches, with the newline that ends the last one.
///
/// A span at the very end of a text that ends with a newline is shown at the end of the last
/// line, as the renderer does with the whole text.
fn excerpt(source: &str, range: Range<usize>) -> Range<usize> {
    let anchor = if range.start == source.len() && source.ends_with('\n') {
        range.start - 1
    } else {
        range.start
    };
    let start = source[..anchor].rfind('\n').map_or(0, |i| i + 1);
    let end = source[range.end..]
        .find('\n')
        .map_or(source.len(), |i| range.end + i + 1);
    start..end
}

/// Keeps a span inside the text and on character boundaries.
fn clamp(source: &str, range: Range<usize>) -> Range<usize> {
    let mut start = range.start.min(source.len());
    let mut end = range.end.clamp(start, source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = clamp(source, offset..offset).start;
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

/// An error and its sources, `: `-separated, each once.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(error) = source {
        out.push_str(": ");
        out.push_str(&error.to_string());
        source = error.source();
    }
    out
}

/// The closest of `candidates` to `name`, if any is close enough to suggest.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// The first of `candidates` one edit from `name` (a character added, removed, replaced, or two
/// neighbours swapped), for short names whose similarity scores say too little.
pub(crate) fn one_edit_away<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .find(|candidate| strsim::osa_distance(name, candidate) == 1)
}
