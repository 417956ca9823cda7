//! Name rules: what may name an aggregate, event, type, enum, field or variant (a Rust
//! identifier in the right case, not a keyword), and one namespace for them all.

use std::collections::HashMap;

use heck::ToUpperCamelCase;

use crate::diag::{Diagnostic, Span};
use crate::model::{Event, Name};
use crate::parse::RawSchema;

use super::Validator;

pub(crate) const KEYWORDS: [&str; 52] = [
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// What a declared top-level name is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Aggregate,
    Event,
    Record,
    Enum,
    Generated,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Aggregate => "aggregate",
            Kind::Event => "event",
            Kind::Record => "type",
            Kind::Enum => "enum",
            Kind::Generated => "generated item",
        }
    }
}

impl Validator<'_> {
    pub(super) fn check_top_level_names(&mut self, raw: &RawSchema) {
        let mut declared: Vec<(&Name, Kind)> = Vec::new();
        declared.extend(raw.aggregates.iter().map(|a| (&a.name, Kind::Aggregate)));
        declared.extend(raw.events.iter().map(|e| (&e.name, Kind::Event)));
        declared.extend(raw.types.iter().map(|t| (&t.name, Kind::Record)));
        declared.extend(raw.enums.iter().map(|e| (&e.name, Kind::Enum)));
        let mut seen: HashMap<String, (Kind, Span)> = HashMap::new();
        for agg in &raw.aggregates {
            for suffix in ["Event", "Id"] {
                let generated = format!("{}{suffix}", agg.name.text);
                seen.insert(generated, (Kind::Generated, agg.name.span));
            }
        }
        for (name, kind) in declared {
            self.type_name(name, kind.as_str());
            if let Some((first_kind, _)) = seen.get(&name.text) {
                let message = if *first_kind == Kind::Generated {
                    format!(
                        "{} `{}` has the name of a generated item",
                        kind.as_str(),
                        name.text
                    )
                } else {
                    format!(
                        "{} `{}` is declared twice (also as {})",
                        kind.as_str(),
                        name.text,
                        first_kind.as_str()
                    )
                };
                let help = if *first_kind == Kind::Generated {
                    "each aggregate `X` generates `XEvent` and `XId`: choose another name"
                } else {
                    "aggregates, events, types and enums share one namespace: rename one of them"
                };
                self.diags.push(
                    Diagnostic::error("duplicate_name", message)
                        .at(name.span)
                        .label("name already taken")
                        .help(help),
                );
            } else {
                seen.insert(name.text.clone(), (kind, name.span));
            }
        }
    }

    /// Stored event names (current and former) must be unique across the schema.
    pub(super) fn check_event_names(&mut self, events: &[Event]) {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for event in events {
            seen.insert(event.name.text.as_str(), event.name.text.as_str());
        }
        for event in events {
            for old in &event.renamed_from {
                if old.text == event.name.text {
                    self.diags.push(
                        Diagnostic::error(
                            "duplicate_name",
                            format!(
                                "event `{}` lists its own name in `renamed_from`",
                                event.name
                            ),
                        )
                        .at(old.span)
                        .label("its current name")
                        .help("`renamed_from` lists the names the event was stored under before"),
                    );
                } else if let Some(owner) = seen.get(old.text.as_str()) {
                    self.diags.push(
                        Diagnostic::error(
                            "duplicate_name",
                            format!(
                                "stored name `{}` of event `{}` is already used by event `{owner}`",
                                old.text, event.name
                            ),
                        )
                        .at(old.span)
                        .label("name already taken")
                        .help(
                            "a stored type name can decode as only one event: remove one of them",
                        ),
                    );
                } else {
                    seen.insert(old.text.as_str(), event.name.text.as_str());
                }
            }
        }
    }

    /// A type-like name: an identifier in UpperCamelCase that is not a keyword.
    fn type_name(&mut self, name: &Name, what: &str) {
        if let Some(problem) = identifier_problem(&name.text) {
            self.invalid_name(name, what, &problem, &name.text.to_upper_camel_case());
        } else if !is_upper_camel(&name.text) {
            self.invalid_name(
                name,
                what,
                "it is not in UpperCamelCase",
                &name.text.to_upper_camel_case(),
            );
        }
    }

    pub(super) fn field_name(&mut self, name: &Name) {
        let snake = heck::ToSnakeCase::to_snake_case(name.text.as_str());
        if let Some(problem) = identifier_problem(&name.text) {
            let suggestion = if KEYWORDS.contains(&name.text.as_str()) {
                format!("{}_", name.text)
            } else {
                snake
            };
            self.invalid_name(name, "field", &problem, &suggestion);
        } else if !is_snake(&name.text) {
            self.invalid_name(name, "field", "it is not in snake_case", &snake);
        }
    }

    fn invalid_name(&mut self, name: &Name, what: &str, problem: &str, suggestion: &str) {
        let help = if !name.text.is_ascii() {
            "rename it with ASCII letters, digits and `_`".to_owned()
        } else if suggestion.is_empty() || identifier_problem(suggestion).is_some() {
            "use a Rust identifier that is not a keyword".to_owned()
        } else {
            format!("rename it, e.g. to `{suggestion}`")
        };
        self.diags.push(
            Diagnostic::error(
                "invalid_name",
                format!("{what} name `{}` is not usable: {problem}", name.text),
            )
            .at(name.span)
            .label("invalid name")
            .help(help),
        );
    }

    /// Enum variants are stored as written and named in Rust in UpperCamelCase: each must make
    /// an identifier, and no two the same one.
    pub(super) fn variant_names(&mut self, name: &Name, variants: &[Name]) {
        let mut rust_names: HashMap<String, &Name> = HashMap::new();
        for variant in variants {
            let rust = variant.text.to_upper_camel_case();
            if let Some(problem) = identifier_problem(&rust) {
                self.diags.push(
                    Diagnostic::error(
                        "invalid_name",
                        format!(
                            "variant `{}` of enum `{name}` does not make a Rust identifier: \
                             as `{rust}`, {problem}",
                            variant.text
                        ),
                    )
                    .at(variant.span)
                    .label("invalid variant")
                    .help(
                        "a variant is stored as written and named in Rust in UpperCamelCase; \
                         start it with a letter and avoid keywords",
                    ),
                );
            } else if let Some(first) = rust_names.get(&rust) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate_name",
                        format!(
                            "variant `{}` of enum `{name}` clashes with `{}` (both become `{rust}`)",
                            variant.text, first.text
                        ),
                    )
                    .at(variant.span)
                    .label("duplicate variant")
                    .help("remove or rename one of them"),
                );
            } else {
                rust_names.insert(rust, variant);
            }
        }
    }
}

/// Why `text` is not a usable Rust identifier, if it is not.
fn identifier_problem(text: &str) -> Option<String> {
    // Names are ASCII (the naming rules in docs/schema.md): say so, rather than that `É` is
    // not a letter.
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return Some(format!("`{c}` is not ASCII, and names are ASCII only"));
    }
    let mut chars = text.chars();
    match chars.next() {
        None => return Some("it is empty".into()),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Some("it does not start with a letter or `_`".into());
        }
        _ => {}
    }
    if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("it holds characters other than ASCII letters, digits and `_`".into());
    }
    if text == "_" {
        return Some("`_` alone is not an identifier".into());
    }
    if KEYWORDS.contains(&text) {
        return Some("it is a Rust keyword".into());
    }
    None
}

/// Why `text` cannot name an aggregate, event, record or enum (as `invalid_name` says).
pub(crate) fn type_name_problem(text: &str) -> Option<String> {
    identifier_problem(text)
        .or_else(|| (!is_upper_camel(text)).then(|| "it is not in UpperCamelCase".to_owned()))
}

/// Why `text` cannot name a field (as `invalid_name` says).
pub(crate) fn field_name_problem(text: &str) -> Option<String> {
    identifier_problem(text)
        .or_else(|| (!is_snake(text)).then(|| "it is not in snake_case".to_owned()))
}

fn is_upper_camel(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_uppercase()) && !text.contains('_')
}

fn is_snake(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
