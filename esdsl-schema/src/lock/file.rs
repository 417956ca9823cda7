//! The lock's text: TOML written in one canonical layout, and read back with every problem
//! located.

use std::fmt::Write as _;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::baseline::Baseline;
use super::{Entry, EnumEntry, EventEntry, FORMAT, Lock, RecordEntry, VersionEntry, canonical};
use crate::diag::{Diagnostic, Report, Span};
use crate::model::Compatibility;

const HEADER: &str = "\
# esdsl.lock: the evolution baseline of the schemas beside it, written by `cargo esdsl lock`.
# Commit it. Entries are only ever appended: `cargo esdsl check` compares the schemas with it,
# and `cargo esdsl check --against <ref>` also fails when entries were edited or removed.
";

/// The lock as TOML: a header, `format`, then each entry in ledger order.
pub(super) fn render(lock: &Lock) -> String {
    let mut out = String::from(HEADER);
    let _ = writeln!(out, "format = {FORMAT}");
    for entry in &lock.entries {
        out.push('\n');
        match entry {
            Entry::Event(e) => {
                out.push_str("[[event]]\n");
                key(&mut out, "schema", &string(&e.schema));
                key(&mut out, "name", &string(&e.name));
                key(&mut out, "aggregate", &string(&e.aggregate));
                if !e.renamed_from.is_empty() {
                    key(&mut out, "renamed_from", &strings(&e.renamed_from));
                }
                if e.retired {
                    key(&mut out, "retired", "true");
                }
                if e.compatibility != Compatibility::BACKWARD {
                    key(&mut out, "compatibility", &string(e.compatibility.name()));
                }
                if e.compatibility.is_forward()
                    && !(e.compatibility.json && e.compatibility.postcard)
                {
                    let codecs: Vec<String> = e
                        .compatibility
                        .codecs()
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                    key(&mut out, "codecs", &strings(&codecs));
                }
            }
            Entry::Version(v) => {
                out.push_str("[[version]]\n");
                key(&mut out, "schema", &string(&v.schema));
                key(&mut out, "event", &string(&v.event));
                key(&mut out, "number", &v.number.to_string());
                key(&mut out, "fields", &field_list(&v.fields));
                if !v.defaults.is_empty() {
                    key(&mut out, "defaults", &inline_table(&v.defaults));
                }
                if !v.renamed.is_empty() {
                    key(&mut out, "renamed", &inline_table(&v.renamed));
                }
                key(&mut out, "fingerprint", &string(&v.fingerprint));
            }
            Entry::Record(t) => {
                out.push_str("[[type]]\n");
                key(&mut out, "schema", &string(&t.schema));
                key(&mut out, "name", &string(&t.name));
                key(&mut out, "fields", &field_list(&t.fields));
                key(&mut out, "fingerprint", &string(&t.fingerprint));
            }
            Entry::Enum(e) => {
                out.push_str("[[enum]]\n");
                key(&mut out, "schema", &string(&e.schema));
                key(&mut out, "name", &string(&e.name));
                key(&mut out, "variants", &strings(&e.variants));
                key(&mut out, "fingerprint", &string(&e.fingerprint));
            }
        }
    }
    out
}

fn key(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key} = {value}");
}

/// A TOML string: a literal string ('...') when the text holds `"` but nothing a literal string
/// cannot hold, a basic string ("...") otherwise.
fn string(text: &str) -> String {
    let literal_ok = !text.contains('\'') && !text.chars().any(char::is_control);
    if text.contains('"') && literal_ok {
        return format!("'{text}'");
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strings(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| string(i)).collect();
    format!("[{}]", items.join(", "))
}

fn field_list(fields: &[(String, String)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(name, ty)| string(&format!("{name}: {ty}")))
        .collect();
    format!("[{}]", items.join(", "))
}

/// `{ a = "x", b = "y" }`; keys are field names, bare unless they need quotes.
fn inline_table(pairs: &[(String, String)]) -> String {
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let key = if bare(k) { k.clone() } else { string(k) };
            format!("{key} = {}", string(v))
        })
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// Reads a lock, collecting every problem.
pub(super) fn parse(path: &str, text: &str) -> Result<Lock, Report> {
    let mut reader = Reader {
        diags: Vec::new(),
        found: Vec::new(),
    };
    match DeTable::parse(text) {
        Ok(document) => reader.document(document.get_ref()),
        Err(error) => {
            let mut d = Diagnostic::error("invalid_lock", error.message().trim().to_owned())
                .help("the lock must be valid TOML; restore it from git");
            if let Some(span) = error.span() {
                d = d.at(span);
            }
            reader.diags.push(d);
        }
    }
    let mut found = reader.found;
    found.sort_by_key(|(span, _)| span.start);
    let (spans, entries): (Vec<Span>, Vec<Entry>) = found.into_iter().unzip();
    let mut diags = reader.diags;
    if diags.is_empty() {
        for (index, problem) in Baseline::build(&entries).1 {
            diags.push(
                Diagnostic::error("invalid_lock", problem)
                    .at(spans[index])
                    .label("does not fit the entries before it")
                    .help("the lock was edited by hand: restore it from git"),
            );
        }
    }
    if diags.is_empty() {
        Ok(Lock { entries, spans })
    } else {
        Err(Report {
            path: path.to_owned(),
            source: text.to_owned(),
            diagnostics: diags,
        })
    }
}

struct Reader {
    diags: Vec<Diagnostic>,
    found: Vec<(Span, Entry)>,
}

type Item<'i> = Spanned<DeValue<'i>>;

impl Reader {
    fn document(&mut self, table: &DeTable<'_>) {
        let mut format = None;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref().as_ref();
            match name {
                "format" => format = Some(value),
                "event" | "version" | "type" | "enum" => {
                    let DeValue::Array(items) = value.get_ref() else {
                        self.problem(value.span(), format!("`{name}` must be an array of tables"));
                        continue;
                    };
                    for item in items.iter() {
                        self.entry(name, item);
                    }
                }
                other => self.problem(key.span(), format!("unknown key `{other}` in a lock")),
            }
        }
        match format.map(|f| (f, f.get_ref())) {
            Some((_, DeValue::Integer(n))) if n.as_str() == FORMAT.to_string() => {}
            Some((at, _)) => self.problem(
                at.span(),
                format!(
                    "this lock format is not supported (this cargo-esdsl reads format {FORMAT})"
                ),
            ),
            None => self.problem(0..0, "the lock has no `format`".to_owned()),
        }
    }

    fn entry(&mut self, kind: &str, item: &Item<'_>) {
        let DeValue::Table(table) = item.get_ref() else {
            self.problem(item.span(), format!("`{kind}` must be an array of tables"));
            return;
        };
        let span = Span::new(item.span());
        let mut fields = Fields {
            table,
            span,
            reader: self,
        };
        let entry = match kind {
            "event" => fields.event(),
            "version" => fields.version(),
            "type" => fields.record(),
            _ => fields.enumeration(),
        };
        if let Some(entry) = entry {
            self.found.push((span, entry));
        }
    }

    fn problem(&mut self, at: impl Into<Span>, message: String) {
        self.diags.push(
            Diagnostic::error("invalid_lock", message)
                .at(at)
                .help("the lock is written by `cargo esdsl lock`: restore it from git"),
        );
    }
}

/// The keys of one entry table.
struct Fields<'t, 'i> {
    table: &'t DeTable<'i>,
    span: Span,
    reader: &'t mut Reader,
}

impl<'t, 'i> Fields<'t, 'i> {
    fn check_keys(&mut self, allowed: &[&str]) {
        for (key, _) in self.table.iter() {
            let name: &str = key.get_ref().as_ref();
            if !allowed.contains(&name) {
                self.reader
                    .problem(key.span(), format!("unknown key `{name}` in a lock entry"));
            }
        }
    }

    fn get(&self, key: &str) -> Option<&'t Item<'i>> {
        let table: &'t DeTable<'i> = self.table;
        table
            .iter()
            .find(|(k, _)| {
                let name: &str = k.get_ref().as_ref();
                name == key
            })
            .map(|(_, v)| v)
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key).map(|v| (v.span(), v.get_ref())) {
            Some((_, DeValue::String(s))) => Some(s.as_ref().to_owned()),
            Some((span, _)) => {
                self.reader
                    .problem(span, format!("`{key}` must be a string"));
                None
            }
            None => {
                self.reader
                    .problem(self.span, format!("this entry has no `{key}`"));
                None
            }
        }
    }

    fn strings(&mut self, key: &str, required: bool) -> Option<Vec<String>> {
        let value = match self.get(key).map(|v| (v.span(), v.get_ref())) {
            Some((span, DeValue::Array(items))) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(s.as_ref().to_owned()),
                        _ => {
                            self.reader
                                .problem(span, format!("`{key}` must be an array of strings"));
                            return None;
                        }
                    }
                }
                out
            }
            Some((span, _)) => {
                self.reader
                    .problem(span, format!("`{key}` must be an array of strings"));
                return None;
            }
            None if required => {
                self.reader
                    .problem(self.span, format!("this entry has no `{key}`"));
                return None;
            }
            None => Vec::new(),
        };
        Some(value)
    }

    /// `["name: type", ...]` as pairs.
    fn field_list(&mut self, key: &str) -> Option<Vec<(String, String)>> {
        let items = self.strings(key, true)?;
        let mut out = Vec::new();
        for item in items {
            match item.split_once(": ") {
                Some((name, ty)) if !name.is_empty() && !ty.is_empty() => {
                    out.push((name.to_owned(), ty.to_owned()));
                }
                _ => {
                    let at = self.get(key).map_or(self.span, |v| Span::new(v.span()));
                    self.reader
                        .problem(at, format!("`{item}` is not a field written `name: type`"));
                    return None;
                }
            }
        }
        Some(out)
    }

    /// An inline table of strings, as pairs in written order.
    fn pairs(&mut self, key: &str) -> Option<Vec<(String, String)>> {
        let Some(value) = self.get(key) else {
            return Some(Vec::new());
        };
        let span = value.span();
        let DeValue::Table(table) = value.get_ref() else {
            self.reader
                .problem(span, format!("`{key}` must be a table of strings"));
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in table.iter() {
            match v.get_ref() {
                DeValue::String(s) => {
                    out.push((k.get_ref().as_ref().to_owned(), s.as_ref().to_owned()));
                }
                _ => {
                    self.reader
                        .problem(v.span(), format!("`{key}` must be a table of strings"));
                    return None;
                }
            }
        }
        Some(out)
    }

    fn fingerprint(&mut self, form: &str) -> Option<String> {
        let written = self.string("fingerprint")?;
        let expected = canonical::fingerprint(form);
        if written != expected {
            let at = self
                .get("fingerprint")
                .map_or(self.span, |v| Span::new(v.span()));
            self.reader.diags.push(
                Diagnostic::error(
                    "invalid_lock",
                    format!("the fingerprint does not match the entry (`{form}`)"),
                )
                .at(at)
                .label(format!("expected `{expected}`"))
                .help("the lock was edited by hand: restore it from git"),
            );
            return None;
        }
        Some(written)
    }

    fn event(&mut self) -> Option<Entry> {
        self.check_keys(&[
            "schema",
            "name",
            "aggregate",
            "renamed_from",
            "retired",
            "compatibility",
            "codecs",
        ]);
        let retired = match self.get("retired").map(|v| (v.span(), v.get_ref())) {
            None => false,
            Some((_, DeValue::Boolean(b))) => *b,
            Some((span, _)) => {
                self.reader
                    .problem(span, "`retired` must be a boolean".into());
                return None;
            }
        };
        Some(Entry::Event(EventEntry {
            schema: self.string("schema")?,
            name: self.string("name")?,
            aggregate: self.string("aggregate")?,
            renamed_from: self.strings("renamed_from", false)?,
            retired,
            compatibility: self.compatibility()?,
        }))
    }

    /// An event's `compatibility` (default `backward`) and `codecs` (default both).
    fn compatibility(&mut self) -> Option<Compatibility> {
        let mut compatibility = match self.get("compatibility") {
            None => Compatibility::BACKWARD,
            Some(value) => {
                let name = self.string("compatibility")?;
                let Some(found) = Compatibility::from_name(&name) else {
                    self.reader
                        .problem(value.span(), format!("unknown compatibility mode `{name}`"));
                    return None;
                };
                found
            }
        };
        let codecs = self.strings("codecs", false)?;
        if !codecs.is_empty() {
            compatibility.json = codecs.iter().any(|c| c == "json");
            compatibility.postcard = codecs.iter().any(|c| c == "postcard");
            if let Some(unknown) = codecs.iter().find(|c| *c != "json" && *c != "postcard") {
                let span = self.span;
                self.reader
                    .problem(span, format!("unknown codec `{unknown}` in `codecs`"));
                return None;
            }
        }
        Some(compatibility)
    }

    fn version(&mut self) -> Option<Entry> {
        self.check_keys(&[
            "schema",
            "event",
            "number",
            "fields",
            "defaults",
            "renamed",
            "fingerprint",
        ]);
        let number = match self.get("number").map(|v| (v.span(), v.get_ref())) {
            Some((span, DeValue::Integer(n))) => match u32::from_str_radix(n.as_str(), n.radix()) {
                Ok(n) if n >= 1 => n,
                _ => {
                    self.reader
                        .problem(span, "`number` must be a version number from 1".into());
                    return None;
                }
            },
            Some((span, _)) => {
                self.reader
                    .problem(span, "`number` must be an integer".into());
                return None;
            }
            None => {
                self.reader
                    .problem(self.span, "this entry has no `number`".into());
                return None;
            }
        };
        let schema = self.string("schema")?;
        let event = self.string("event")?;
        let fields = self.field_list("fields")?;
        let defaults = self.pairs("defaults")?;
        let renamed = self.pairs("renamed")?;
        let fingerprint = self.fingerprint(&canonical::fields_form(&fields))?;
        Some(Entry::Version(VersionEntry {
            schema,
            event,
            number,
            fields,
            defaults,
            renamed,
            fingerprint,
        }))
    }

    fn record(&mut self) -> Option<Entry> {
        self.check_keys(&["schema", "name", "fields", "fingerprint"]);
        let schema = self.string("schema")?;
        let name = self.string("name")?;
        let fields = self.field_list("fields")?;
        let fingerprint = self.fingerprint(&canonical::fields_form(&fields))?;
        Some(Entry::Record(RecordEntry {
            schema,
            name,
            fields,
            fingerprint,
        }))
    }

    fn enumeration(&mut self) -> Option<Entry> {
        self.check_keys(&["schema", "name", "variants", "fingerprint"]);
        let schema = self.string("schema")?;
        let name = self.string("name")?;
        let variants = self.strings("variants", true)?;
        let fingerprint = self.fingerprint(&canonical::variants_form(&variants))?;
        Some(Entry::Enum(EnumEntry {
            schema,
            name,
            variants,
            fingerprint,
        }))
    }
}
