//! Canonical forms: one spelling for each locked item, so that equal shapes compare equal as text
//! and hash to the same fingerprint on every machine.
//!
//! - an event version or a record type: `{name:type,name:type}`, fields in declaration order
//!   (binary payloads store fields by position), types spelled as in the schema language
//!   (`option<list<i64>>`);
//! - an enum: `["eur","usd"]`, variants in declaration order (binary payloads store a variant by
//!   its position), each quoted with [`quote`];
//! - a default value: see [`value`].
//!
//! A fingerprint is the SHA-256 of the canonical form's UTF-8 bytes, in lowercase hex.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::model::{Field, Value};

/// `(name, type)` pairs of a version's or record's fields, types in schema syntax.
pub(crate) fn fields(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| (f.name.text.clone(), f.ty.to_string()))
        .collect()
}

/// `{name:type,...}`.
pub(crate) fn fields_form(fields: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (name, ty)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push(':');
        out.push_str(ty);
    }
    out.push('}');
    out
}

/// `["a","b"]`.
pub(crate) fn variants_form<S: AsRef<str>>(variants: &[S]) -> String {
    let quoted: Vec<String> = variants.iter().map(|v| quote(v.as_ref())).collect();
    format!("[{}]", quoted.join(","))
}

/// The SHA-256 of a canonical form, in lowercase hex.
pub(crate) fn fingerprint(form: &str) -> String {
    let digest = Sha256::digest(form.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A string in double quotes, with `"` and `\` escaped and control characters as `\u{..}`.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A default value's canonical text: `true`, `-3`, `1.5`, `"text"`, `bytes[1,2]`,
/// `uuid(67e55044-...)`, `timestamp(1577934245,0)`, `some(..)`, `[..]`, `{"key":..}`,
/// `record{field:..}`; an enum variant is its quoted stored name. Floats use Rust's shortest
/// round-trip spelling (`1.5`, `1e300`, `NaN`, `inf`).
pub(crate) fn value(value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::String(s) | Value::Variant(s) => quote(s),
        Value::Bytes(bytes) => {
            let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
            format!("bytes[{}]", items.join(","))
        }
        Value::Uuid(uuid) => format!("uuid({})", uuid.hyphenated()),
        Value::Timestamp { secs, nanos } => format!("timestamp({secs},{nanos})"),
        Value::Some(inner) => format!("some({})", self::value(inner)),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(self::value).collect();
            format!("[{}]", items.join(","))
        }
        Value::Map(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", quote(k), self::value(v)))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::Record(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}:{}", self::value(v)))
                .collect();
            format!("record{{{}}}", fields.join(","))
        }
    }
}

/// The defaults of a version's fields, by field name, as canonical text.
pub(crate) fn defaults(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|f| Some((f.name.text.clone(), value(f.default.as_ref()?))))
        .collect()
}

/// The `renamed_from` sources of a version's fields, by field name.
pub(crate) fn renames(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|f| Some((f.name.text.clone(), f.renamed_from.as_ref()?.text.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_stable() {
        let fields = vec![
            ("amount".to_owned(), "i64".to_owned()),
            ("memo".to_owned(), "option<string>".to_owned()),
        ];
        assert_eq!(fields_form(&fields), "{amount:i64,memo:option<string>}");
        assert_eq!(fields_form(&[]), "{}");
        assert_eq!(
            variants_form(&["eur", "kelvin-scale", "a\"b\\c\n"]),
            r#"["eur","kelvin-scale","a\"b\\c\u{a}"]"#
        );
    }

    #[test]
    fn fingerprints_are_sha256_hex() {
        // The SHA-256 test vector for the empty message and for "abc".
        assert_eq!(
            fingerprint(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Pinned: changing the canonical form of a version changes every lock file.
        assert_eq!(
            fingerprint("{amount:i64,memo:option<string>}"),
            fingerprint(&fields_form(&[
                ("amount".into(), "i64".into()),
                ("memo".into(), "option<string>".into())
            ]))
        );
    }

    #[test]
    fn values_have_one_spelling() {
        let cases = [
            (Value::Bool(true), "true"),
            (Value::Int(-3), "-3"),
            (Value::Float(1.5), "1.5"),
            (Value::Float(3.0), "3.0"),
            (Value::Float(f64::NAN), "NaN"),
            (Value::Float(f64::NEG_INFINITY), "-inf"),
            (Value::String("a \"b\"".into()), r#""a \"b\"""#),
            (Value::Variant("eur".into()), r#""eur""#),
            (Value::Bytes(vec![222, 173]), "bytes[222,173]"),
            (
                Value::Uuid(uuid::Uuid::from_u128(
                    0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8,
                )),
                "uuid(67e55044-10b1-426f-9247-bb680e5fe0c8)",
            ),
            (
                Value::Timestamp {
                    secs: 1_577_934_245,
                    nanos: 7,
                },
                "timestamp(1577934245,7)",
            ),
            (
                Value::Some(Box::new(Value::String("x".into()))),
                r#"some("x")"#,
            ),
            (Value::List(vec![Value::Int(1), Value::Int(2)]), "[1,2]"),
            (
                Value::Map(vec![
                    ("high".into(), Value::Int(9)),
                    ("low".into(), Value::Int(1)),
                ]),
                r#"{"high":9,"low":1}"#,
            ),
        ];
        for (value, text) in cases {
            assert_eq!(self::value(&value), text, "{value:?}");
        }
    }
}
