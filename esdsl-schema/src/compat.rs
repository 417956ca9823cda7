//! Compatibility modes: what a schema promises about programs built from other versions of it.
//!
//! `backward` (the default) is what esdsl always enforces: a program reads every version stored
//! before its newest, through upcasters. `forward` adds that a program that knows only the
//! previous version reads events written at the new one, by decoding them as the version it
//! knows; `full` adds to that that the step from the previous version is generated, not written
//! by hand. The `_transitive` variants extend the forward promise from the previous version to
//! every older one. `codecs` names the codecs the forward promise holds for: JSON is
//! self-describing and allows more changes than postcard, which stores fields by position.
//!
//! This module holds the mode (part of the model), reading it from its raw form, and the field
//! comparison the evolution check and the lock use.

use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::model::{Field, Name};

/// The modes, as written in a schema.
pub const MODES: [&str; 6] = [
    "backward",
    "backward_transitive",
    "forward",
    "forward_transitive",
    "full",
    "full_transitive",
];

/// The codecs a forward promise can name, as written in a schema.
pub const CODECS: [&str; 2] = ["json", "postcard"];

/// What a schema promises programs built from an older version of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Newer programs read older events (always enforced).
    Backward,
    /// Also: older programs read newer events.
    Forward,
    /// Forward, and every step to a new version is generated (no `manual_upcasts`).
    Full,
}

/// An event's compatibility mode, resolved from the file's default and its own override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compatibility {
    /// The mode.
    pub mode: Mode,
    /// Whether the forward promise reaches every older version, not only the previous one.
    pub transitive: bool,
    /// Whether the forward promise holds for JSON payloads.
    pub json: bool,
    /// Whether the forward promise holds for postcard payloads.
    pub postcard: bool,
}

impl Default for Compatibility {
    fn default() -> Compatibility {
        Compatibility::BACKWARD
    }
}

impl Compatibility {
    /// `backward`: today's behaviour, the default.
    pub const BACKWARD: Compatibility = Compatibility {
        mode: Mode::Backward,
        transitive: false,
        json: true,
        postcard: true,
    };

    /// The mode written as in a schema, or `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Compatibility> {
        let (mode, transitive) = match name {
            "backward" => (Mode::Backward, false),
            "backward_transitive" => (Mode::Backward, true),
            "forward" => (Mode::Forward, false),
            "forward_transitive" => (Mode::Forward, true),
            "full" => (Mode::Full, false),
            "full_transitive" => (Mode::Full, true),
            _ => return None,
        };
        Some(Compatibility {
            mode,
            transitive,
            ..Compatibility::BACKWARD
        })
    }

    /// The mode's name as written in a schema, e.g. `forward_transitive`.
    pub fn name(&self) -> &'static str {
        match (self.mode, self.transitive) {
            (Mode::Backward, false) => "backward",
            (Mode::Backward, true) => "backward_transitive",
            (Mode::Forward, false) => "forward",
            (Mode::Forward, true) => "forward_transitive",
            (Mode::Full, false) => "full",
            (Mode::Full, true) => "full_transitive",
        }
    }

    /// Whether older programs read newer versions (`forward`, `full` and their variants).
    pub fn is_forward(&self) -> bool {
        self.mode >= Mode::Forward
    }

    /// The codecs the forward promise holds for, as written in a schema.
    pub fn codecs(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.json {
            out.push("json");
        }
        if self.postcard {
            out.push("postcard");
        }
        out
    }

    /// How many versions past its newest a program built with this mode reads: 0, 1, or
    /// `u32::MAX` (transitive).
    pub fn reads_ahead(&self) -> u32 {
        match (self.is_forward(), self.transitive) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => u32::MAX,
        }
    }

    /// Whether this mode promises at least what `locked` promised: the same or a stronger
    /// mode, transitive if it was, and every codec it named.
    pub fn keeps(&self, locked: &Compatibility) -> bool {
        if !locked.is_forward() {
            return true;
        }
        self.mode >= locked.mode
            && (self.transitive || !locked.transitive)
            && (self.json || !locked.json)
            && (self.postcard || !locked.postcard)
    }

    /// The text that describes the mode in messages and in the lock: `forward` or
    /// `forward (json)` when it names only some codecs.
    pub fn describe(&self) -> String {
        if self.is_forward() && !(self.json && self.postcard) {
            format!("{} ({})", self.name(), self.codecs().join(", "))
        } else {
            self.name().to_owned()
        }
    }
}

/// `compatibility` as written: a mode name, or a table of `mode` and `codecs`.
#[derive(Debug, Clone)]
pub(crate) struct RawCompatibility {
    /// The whole value.
    pub(crate) span: Span,
    pub(crate) mode: Option<Name>,
    pub(crate) codecs: Option<Vec<Name>>,
}

/// Reads a `compatibility` value, reporting an unknown mode or codec (`invalid_value`).
pub(crate) fn resolve(raw: &RawCompatibility, diags: &mut Vec<Diagnostic>) -> Compatibility {
    let mut out = Compatibility::BACKWARD;
    match &raw.mode {
        None => diags.push(
            Diagnostic::error("missing_key", "`compatibility` has no `mode`")
                .at(raw.span)
                .label("no mode")
                .help(format!(
                    "add `mode = \"forward\"` (one of {})",
                    quoted(&MODES)
                )),
        ),
        Some(mode) => match Compatibility::from_name(&mode.text) {
            Some(found) => out = found,
            None => diags.push(unknown(mode, "compatibility mode", &MODES)),
        },
    }
    if let Some(codecs) = &raw.codecs {
        if codecs.is_empty() {
            diags.push(
                Diagnostic::error("invalid_value", "`codecs` is empty")
                    .at(raw.span)
                    .label("no codec")
                    .help("name the codecs the promise holds for: `codecs = [\"json\"]`"),
            );
        } else {
            out.json = false;
            out.postcard = false;
            for codec in codecs {
                match codec.text.as_str() {
                    "json" => out.json = true,
                    "postcard" => out.postcard = true,
                    _ => diags.push(unknown(codec, "codec", &CODECS)),
                }
            }
            if !out.json && !out.postcard {
                out.json = true;
                out.postcard = true;
            }
        }
        if !out.is_forward() {
            diags.push(
                Diagnostic::error(
                    "invalid_value",
                    "`codecs` only applies to a forward promise",
                )
                .at(raw.span)
                .label("backward holds for every codec")
                .help("remove `codecs`, or choose `forward` or `full`"),
            );
        }
    }
    if !out.is_forward() {
        out = Compatibility {
            transitive: out.transitive,
            ..Compatibility::BACKWARD
        };
    }
    out
}

fn unknown(name: &Name, what: &str, known: &[&str]) -> Diagnostic {
    let help = match did_you_mean(&name.text, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("expected one of {}", quoted(known)),
    };
    Diagnostic::error("invalid_value", format!("unknown {what} `{}`", name.text))
        .at(name.span)
        .label(format!("not a {what}"))
        .help(help)
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a program that knows an older version cannot read a newer one as it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// A field of the older version is not in the newer one (removed or renamed): the older
    /// program finds nothing for it.
    Removed { name: String, ty: String },
    /// A field has another type in the newer version (even a widening: the older program reads
    /// it with its old type).
    Retyped {
        name: String,
        older: String,
        newer: String,
    },
    /// Postcard only: the older version's fields are not the newer one's first fields, in
    /// order; `first` is the newer version's first field out of place.
    NotAppended { first: String },
}

/// What stops a program that knows the `older` fields (`(name, type)` in order) from reading a
/// payload of the `newer` fields as the older version, with the codecs `compat` names.
///
/// JSON reads fields by name and serde ignores the ones it does not know, so a newer version
/// may add fields anywhere; postcard reads fields by position and the decoder ignores the bytes
/// after the last field it knows, so a newer version may only append. Neither may remove or
/// retype a field the older version has.
pub(crate) fn unreadable(
    older: &[(String, String)],
    newer: &[(String, String)],
    compat: &Compatibility,
) -> Vec<Unreadable> {
    let mut out = Vec::new();
    for (name, ty) in older {
        match newer.iter().find(|(n, _)| n == name) {
            None => out.push(Unreadable::Removed {
                name: name.clone(),
                ty: ty.clone(),
            }),
            Some((_, now)) if now != ty => out.push(Unreadable::Retyped {
                name: name.clone(),
                older: ty.clone(),
                newer: now.clone(),
            }),
            Some(_) => {}
        }
    }
    if compat.postcard && out.is_empty() && !newer.starts_with(older) {
        let first = newer
            .iter()
            .zip(older)
            .find(|(n, o)| n != o)
            .map(|(n, _)| n.0.clone())
            .unwrap_or_default();
        out.push(Unreadable::NotAppended { first });
    }
    out
}

/// The canonical `(name, type)` list of fields.
pub(crate) fn pairs(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| (f.name.text.clone(), f.ty.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect()
    }

    fn mode(name: &str, json: bool, postcard: bool) -> Compatibility {
        Compatibility {
            json,
            postcard,
            ..Compatibility::from_name(name).expect("a mode")
        }
    }

    #[test]
    fn appending_is_forward_for_both_codecs_inserting_only_for_json() {
        let older = fields(&[("a", "i64"), ("b", "string")]);
        let appended = fields(&[("a", "i64"), ("b", "string"), ("c", "bool")]);
        let inserted = fields(&[("a", "i64"), ("c", "bool"), ("b", "string")]);
        let both = mode("forward", true, true);
        let json = mode("forward", true, false);
        assert_eq!(unreadable(&older, &appended, &both), []);
        assert_eq!(unreadable(&older, &inserted, &json), []);
        assert_eq!(
            unreadable(&older, &inserted, &both),
            [Unreadable::NotAppended { first: "c".into() }]
        );
    }

    #[test]
    fn removing_or_retyping_is_never_forward() {
        let older = fields(&[("a", "i32"), ("b", "string")]);
        let newer = fields(&[("a", "i64")]);
        assert_eq!(
            unreadable(&older, &newer, &mode("forward", true, false)),
            [
                Unreadable::Retyped {
                    name: "a".into(),
                    older: "i32".into(),
                    newer: "i64".into()
                },
                Unreadable::Removed {
                    name: "b".into(),
                    ty: "string".into()
                },
            ]
        );
    }

    #[test]
    fn a_mode_keeps_what_it_promised_or_is_weaker() {
        let forward = mode("forward", true, true);
        let cases = [
            ("full", true, true, true),
            ("forward_transitive", true, true, true),
            ("backward", true, true, false),
            ("forward", true, false, false),
        ];
        for (name, json, postcard, keeps) in cases {
            assert_eq!(mode(name, json, postcard).keeps(&forward), keeps, "{name}");
        }
        assert!(!forward.keeps(&mode("forward_transitive", true, true)));
        assert!(Compatibility::BACKWARD.keeps(&Compatibility::BACKWARD));
        for name in MODES {
            assert_eq!(Compatibility::from_name(name).map(|c| c.name()), Some(name));
        }
    }
}
