//! A small JSON value with ordered objects and a deterministic pretty printer.
//!
//! The exports and the catalog's search index write JSON whose key order means something (a
//! record's properties in field order) and must not depend on which features of `serde_json`
//! another crate in the build turns on, so they build this instead.

use std::fmt::Write as _;

/// A JSON value whose objects keep their keys in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Bool(bool),
    /// Any integer a schema can name: `u64::MAX` and `i64::MIN` both fit.
    Int(i128),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub(crate) fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub(crate) fn str(text: impl Into<String>) -> Json {
        Json::String(text.into())
    }

    /// Rewrites every `"$ref"` string that starts with `from` to start with `to` instead.
    pub(crate) fn rebase_refs(&mut self, from: &str, to: &str) {
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            match node {
                Json::Array(items) => stack.extend(items.iter_mut()),
                Json::Object(pairs) => {
                    for (key, value) in pairs.iter_mut() {
                        match value {
                            Json::String(text) if key == "$ref" => {
                                if let Some(rest) = text.strip_prefix(from) {
                                    *text = format!("{to}{rest}");
                                }
                            }
                            other => stack.push(other),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Pretty text, two spaces per level, ending with a newline.
    pub(crate) fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0), false);
        out.push('\n');
        out
    }

    /// Compact text for embedding in an HTML `<script>`: `<`, `>` and `&` are written as
    /// `\u003c`-style escapes so the text cannot close the script element.
    pub(crate) fn for_script(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, true);
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>, script: bool) {
        match self {
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::String(s) => string(out, s, script),
            Json::Array(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, indent.map(|n| n + 1));
                    item.write(out, indent.map(|n| n + 1), script);
                }
                newline(out, indent);
                out.push(']');
            }
            Json::Object(pairs) => {
                if pairs.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, indent.map(|n| n + 1));
                    string(out, key, script);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    value.write(out, indent.map(|n| n + 1), script);
                }
                newline(out, indent);
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, indent: Option<usize>) {
    if let Some(level) = indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str("  ");
        }
    }
}

fn string(out: &mut String, text: &str, script: bool) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if script => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            // Line and paragraph separators end a line in older JavaScript.
            '\u{2028}' | '\u{2029}' if script => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::Json;

    #[test]
    fn objects_keep_their_order_and_strings_are_escaped() {
        let value = Json::object([
            ("z", Json::Int(i128::from(u64::MAX))),
            ("a", Json::Array(vec![Json::Bool(false), Json::Bool(true)])),
            ("s", Json::str("q\"\\\n\u{1}</script>")),
            ("e", Json::Object(Vec::new())),
        ]);
        assert_eq!(
            value.pretty(),
            "{\n  \"z\": 18446744073709551615,\n  \"a\": [\n    false,\n    true\n  ],\n  \
             \"s\": \"q\\\"\\\\\\n\\u0001</script>\",\n  \"e\": {}\n}\n"
        );
        assert_eq!(
            Json::str("</script><!--&").for_script(),
            "\"\\u003c/script\\u003e\\u003c!--\\u0026\""
        );
    }
}
