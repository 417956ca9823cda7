//! The catalog's pages, built from the model and the lock.

use std::fmt::Write as _;

use heck::ToUpperCamelCase;

use crate::export::json::Json;
use crate::lock::canonical;
use crate::lock::{Entry, Lock};
use crate::model::{
    Aggregate, Conversion, EnumType, Event, Field, RecordType, Schema, Type, Value,
};
use crate::schema_file::SchemaFile;

use super::diff::{self, Added, Change, Upcast};
use super::html::{doc, esc, page, search_script};
use super::{Page, diagram};

/// One schema file as the pages see it.
struct File<'a> {
    file: &'a SchemaFile,
    slug: &'a str,
    /// Whether a lock was given at all (without one, pages say nothing about locking).
    has_lock: bool,
    lock: Vec<(usize, &'a Entry)>,
}

pub(super) fn build(files: &[SchemaFile], lock: Option<&Lock>, title: &str) -> Vec<Page> {
    let slugs = crate::export::slugs(files);
    let mut pages = Vec::new();
    let mut index = Vec::new();
    let mut body = format!("<h1>{}</h1>\n", esc(title));
    for (file, slug) in files.iter().zip(&slugs) {
        let entries = lock.map_or_else(Vec::new, |lock| {
            lock.entries()
                .iter()
                .enumerate()
                .filter(|(_, entry)| entry.key().1 == file.key)
                .collect()
        });
        let file = File {
            file,
            slug,
            has_lock: lock.is_some(),
            lock: entries,
        };
        index_section(&mut body, &file, lock.is_some());
        let schema = &file.file.schema;
        for aggregate in &schema.aggregates {
            pages.push(file.page(&aggregate.name.text, aggregate_page(&file, aggregate)));
            index.push(entry(
                &aggregate.name.text,
                format!("aggregate, {}", file.file.key),
                file.href(&aggregate.name.text),
                [aggregate.doc.as_deref().unwrap_or("")],
            ));
        }
        for event in &schema.events {
            pages.push(file.page(&event.name.text, event_page(&file, event)));
            let fields = event
                .versions
                .iter()
                .flat_map(|v| v.fields.iter().map(|f| f.name.text.as_str()));
            let renamed = event.renamed_from.iter().map(|n| n.text.as_str());
            let words: Vec<&str> = [event.aggregate.text.as_str()]
                .into_iter()
                .chain(event.doc.as_deref())
                .chain(renamed)
                .chain(fields)
                .collect();
            index.push(entry(
                &event.name.text,
                format!("event of {}, {}", event.aggregate.text, file.file.key),
                file.href(&event.name.text),
                words,
            ));
            if let Some(newest) = event.versions.last() {
                for field in &newest.fields {
                    index.push(entry(
                        &format!("{}.{}", event.name.text, field.name.text),
                        format!("field, {}", field.ty),
                        format!("{}#v{}", file.href(&event.name.text), newest.number),
                        [field.doc.as_deref().unwrap_or("")],
                    ));
                }
            }
        }
        for record in &schema.types {
            pages.push(file.page(&record.name.text, record_page(&file, record)));
            let fields = record.fields.iter().map(|f| f.name.text.as_str());
            index.push(entry(
                &record.name.text,
                format!("record type, {}", file.file.key),
                file.href(&record.name.text),
                fields.chain(record.doc.as_deref()),
            ));
        }
        for enumeration in &schema.enums {
            pages.push(file.page(&enumeration.name.text, enum_page(&file, enumeration)));
            let variants = enumeration.variants.iter().map(|v| v.text.as_str());
            index.push(entry(
                &enumeration.name.text,
                format!("enum, {}", file.file.key),
                file.href(&enumeration.name.text),
                variants.chain(enumeration.doc.as_deref()),
            ));
        }
    }
    if files.is_empty() {
        body.push_str("<p>No schema files.</p>\n");
    }
    let mut all = vec![
        Page {
            path: "index.html".to_owned(),
            text: page(title, "", &body),
        },
        Page {
            path: "search.js".to_owned(),
            text: search_script(&Json::Array(index).for_script()),
        },
    ];
    all.extend(pages);
    all
}

/// A search index entry: its name, what it is, its page and the words it is found by.
fn entry<'a>(
    name: &str,
    kind: String,
    path: String,
    words: impl IntoIterator<Item = &'a str>,
) -> Json {
    let mut keys = name.to_lowercase();
    for word in words {
        keys.push(' ');
        keys.push_str(&word.to_lowercase());
    }
    Json::object([
        ("n", Json::str(name)),
        ("t", Json::String(kind)),
        ("p", Json::String(path)),
        ("k", Json::String(keys)),
    ])
}

impl File<'_> {
    fn schema(&self) -> &Schema {
        &self.file.schema
    }

    /// A page's path from the catalog's top.
    fn href(&self, name: &str) -> String {
        format!("{}/{name}.html", self.slug)
    }

    fn page(&self, name: &str, body: String) -> Page {
        Page {
            path: self.href(name),
            text: page(&format!("{name} \u{2014} {}", self.file.key), "../", &body),
        }
    }

    /// The schema's type as HTML, record and enum names linked to their pages.
    fn type_html(&self, ty: &Type) -> String {
        match ty {
            Type::Option(inner) => format!("option&lt;{}&gt;", self.type_html(inner)),
            Type::List(inner) => format!("list&lt;{}&gt;", self.type_html(inner)),
            Type::Map(inner) => format!("map&lt;{}&gt;", self.type_html(inner)),
            Type::Record(name) | Type::Enum(name) => {
                format!("<a href=\"{0}.html\">{0}</a>", esc(name))
            }
            scalar => esc(&scalar.to_string()),
        }
    }

    fn link(&self, name: &str) -> String {
        format!("<a href=\"{0}.html\">{0}</a>", esc(name))
    }

    /// The lock entries about an event (under its name or a name it was renamed from), in
    /// ledger order.
    fn event_entries<'e>(&'e self, event: &'e Event) -> impl Iterator<Item = (usize, &'e Entry)> {
        let named = move |name: &str| {
            event.name.text == name || event.renamed_from.iter().any(|n| n.text == name)
        };
        self.lock
            .iter()
            .copied()
            .filter(move |(_, entry)| match entry {
                Entry::Event(e) => named(&e.name),
                Entry::Version(v) => named(&v.event),
                _ => false,
            })
    }
}

fn index_section(body: &mut String, file: &File<'_>, locked: bool) {
    let schema = file.schema();
    let _ = writeln!(
        body,
        "<h2>{} <small>{}</small></h2>",
        esc(&file.file.key),
        esc(&file.file.path)
    );
    if locked {
        let _ = writeln!(body, "<p>{} lock entries.</p>", file.lock.len());
    }
    if !schema.aggregates.is_empty() {
        body.push_str("<h3>Aggregates and their events</h3>\n<ul>\n");
        for aggregate in &schema.aggregates {
            let _ = write!(
                body,
                "<li><a href=\"{}\">{}</a>",
                esc(&file.href(&aggregate.name.text)),
                esc(&aggregate.name.text)
            );
            let events: Vec<String> = schema
                .events_of(&aggregate.name.text)
                .map(|e| {
                    format!(
                        "<a href=\"{}\">{}</a> <small>v{}</small>{}",
                        esc(&file.href(&e.name.text)),
                        esc(&e.name.text),
                        e.newest(),
                        if e.retired {
                            " <span class=\"badge retired\">retired</span>"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            if !events.is_empty() {
                let _ = write!(body, ": {}", events.join(", "));
            }
            body.push_str("</li>\n");
        }
        body.push_str("</ul>\n");
    }
    let named: Vec<String> = schema
        .types
        .iter()
        .map(|t| (&t.name.text, "record"))
        .chain(schema.enums.iter().map(|e| (&e.name.text, "enum")))
        .map(|(name, kind)| {
            format!(
                "<li><a href=\"{}\">{}</a> <small>{kind}</small></li>",
                esc(&file.href(name)),
                esc(name)
            )
        })
        .collect();
    if !named.is_empty() {
        let _ = writeln!(body, "<h3>Types</h3>\n<ul>\n{}\n</ul>", named.join("\n"));
    }
}

fn aggregate_page(file: &File<'_>, aggregate: &Aggregate) -> String {
    let schema = file.schema();
    let name = &aggregate.name.text;
    let events: Vec<&Event> = schema.events_of(name).collect();
    let mut body = format!("<h1>{} <small>aggregate</small></h1>\n", esc(name));
    body.push_str(&doc(aggregate.doc.as_deref()));
    let _ = writeln!(
        body,
        "<dl class=\"props\"><dt>Id type</dt><dd><code>{id}</code> (<code>{name}Id</code>)</dd>\
         <dt>Streams</dt><dd><code>{name}-&lt;id&gt;</code></dd>\
         <dt>Events enum</dt><dd><code>{name}Event</code></dd>\
         <dt>Schema</dt><dd>{key}</dd></dl>",
        id = aggregate.id.as_str(),
        name = esc(name),
        key = esc(&file.file.key),
    );
    body.push_str("<h2>Events</h2>\n");
    if events.is_empty() {
        body.push_str("<p>No events yet.</p>\n");
        return body;
    }
    body.push_str(&diagram::aggregate(aggregate, &events, |e| {
        format!("{e}.html")
    }));
    body.push_str(
        "<p><small>Each circle is a version (the newest filled); a solid line is an automatic \
         upcast, a dashed one a manual step, a red dotted one a step still missing.</small></p>\n",
    );
    body.push_str(
        "<table><tr><th>Event</th><th>Versions</th><th>Newest fields</th><th>Notes</th></tr>\n",
    );
    for event in events {
        let fields: Vec<String> = event
            .versions
            .last()
            .map(|v| {
                v.fields
                    .iter()
                    .map(|f| format!("<code>{}</code>", esc(&f.name.text)))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            file.link(&event.name.text),
            event.versions.len(),
            fields.join(", "),
            event_notes(event),
        );
    }
    body.push_str("</table>\n");
    body
}

fn event_notes(event: &Event) -> String {
    let mut notes = Vec::new();
    if event.retired {
        notes.push("<span class=\"badge retired\">retired</span>".to_owned());
    }
    if !event.renamed_from.is_empty() {
        notes.push(format!("renamed from {}", former_names(event)));
    }
    notes.join(" ")
}

/// The stored type names the event was renamed from, as HTML.
fn former_names(event: &Event) -> String {
    let names: Vec<String> = event
        .renamed_from
        .iter()
        .map(|n| format!("<code>{}</code>", esc(&n.text)))
        .collect();
    names.join(", ")
}

fn event_page(file: &File<'_>, event: &Event) -> String {
    let name = &event.name.text;
    let mut body = format!("<h1>{} <small>event</small>", esc(name));
    if event.retired {
        body.push_str(" <span class=\"badge retired\">retired</span>");
    }
    body.push_str("</h1>\n");
    body.push_str(&doc(event.doc.as_deref()));
    let _ = write!(
        body,
        "<dl class=\"props\"><dt>Aggregate</dt><dd>{}</dd>\
         <dt>Stored type name</dt><dd><code>{}</code></dd>\
         <dt>Newest version</dt><dd><a href=\"#v{n}\">v{n}</a></dd>",
        file.link(&event.aggregate.text),
        esc(name),
        n = event.newest(),
    );
    if !event.renamed_from.is_empty() {
        let _ = write!(
            body,
            "<dt>Also read as</dt><dd>{} (older stored type names)</dd>",
            former_names(event)
        );
    }
    if event.retired {
        body.push_str(
            "<dt>Retired</dt><dd>never written again; typed readers skip stored ones</dd>",
        );
    }
    let _ = write!(
        body,
        "<dt>Compatibility</dt><dd><code>{}</code></dd>",
        esc(&event.compatibility.describe())
    );
    // Settings the schema language gains (retention) belong in this list; personal fields get
    // a column in the field tables.
    let _ = writeln!(body, "<dt>Schema</dt><dd>{}</dd></dl>", esc(&file.file.key));
    for (i, version) in event.versions.iter().enumerate().rev() {
        let n = version.number;
        let _ = write!(
            body,
            "<section class=\"version\" id=\"v{n}\">\n<h2>Version {n}"
        );
        if n == event.newest() {
            body.push_str(" <span class=\"badge\">newest</span>");
        }
        body.push_str(&lock_badge(file, event, n, &version.fields));
        body.push_str("</h2>\n");
        body.push_str(&fields_table(file, &version.fields, true));
        if i > 0 {
            let older = &event.versions[i - 1];
            body.push_str(&changes_html(file, event, older, version));
        }
        body.push_str("</section>\n");
    }
    body.push_str(&lock_history(file, event));
    body
}

/// Whether the lock holds this version's shape: its newest entry's fingerprint against the
/// current fields'.
fn lock_badge(file: &File<'_>, event: &Event, number: u32, fields: &[Field]) -> String {
    if !file.has_lock {
        return String::new();
    }
    let current = canonical::fingerprint(&canonical::fields_form(&canonical::fields(fields)));
    let locked = file
        .event_entries(event)
        .filter_map(|(index, entry)| match entry {
            Entry::Version(v) if v.number == number => Some((index, v)),
            _ => None,
        })
        .last();
    match locked {
        Some((index, v)) if v.fingerprint == current => format!(
            " <span class=\"badge auto\" title=\"lock entry {}\">locked</span>",
            index + 1
        ),
        Some((index, _)) => format!(
            " <span class=\"badge missing\" title=\"lock entry {}\">edited since locked</span>",
            index + 1
        ),
        None => " <span class=\"badge manual\">not locked yet</span>".to_owned(),
    }
}

fn fields_table(file: &File<'_>, fields: &[Field], versioned: bool) -> String {
    if fields.is_empty() {
        return "<p>No fields.</p>\n".to_owned();
    }
    let mut out = String::from("<table><tr><th>Field</th><th>Type</th>");
    if versioned {
        out.push_str("<th>Default</th>");
    }
    out.push_str("<th>Description</th></tr>\n");
    for field in fields {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td><code>{}</code></td>",
            esc(&field.name.text),
            file.type_html(&field.ty)
        );
        if versioned {
            let default = field
                .default
                .as_ref()
                .map_or_else(String::new, |v| format!("<code>{}</code>", esc(&shown(v))));
            let _ = write!(out, "<td>{default}</td>");
        }
        let mut description = field.doc.as_deref().map(esc).unwrap_or_default();
        if let Some(from) = &field.renamed_from {
            if !description.is_empty() {
                description.push_str("<br>");
            }
            let _ = write!(
                description,
                "<small>renamed from <code>{}</code></small>",
                esc(&from.text)
            );
        }
        let _ = writeln!(out, "<td class=\"doc\">{description}</td></tr>");
    }
    out.push_str("</table>\n");
    out
}

fn conversion_text(conversion: &Conversion) -> &'static str {
    if conversion.is_lossy() {
        "converted, can lose precision"
    } else {
        "widened"
    }
}

fn changes_html(
    file: &File<'_>,
    event: &Event,
    older: &crate::model::Version,
    newer: &crate::model::Version,
) -> String {
    let (upcast, changes) = diff::between(event, older, newer);
    let mut out = format!("<h3>From v{} ", older.number);
    out.push_str(match upcast {
        Upcast::Automatic => "<span class=\"badge auto\">automatic upcast</span>",
        Upcast::Manual => "<span class=\"badge manual\">manual step</span>",
        Upcast::Missing => "<span class=\"badge missing\">no upcast</span>",
    });
    out.push_str("</h3>\n");
    out.push_str(match upcast {
        Upcast::Automatic => "<p>Generated from the schema: stored older events are read as this version.</p>\n",
        Upcast::Manual => "<p>Written by hand (<code>manual_upcasts</code>): an <code>Upcast</code> implementation in Rust builds this version from the one before.</p>\n",
        Upcast::Missing => "<p>Neither generated nor listed in <code>manual_upcasts</code>: <code>cargo esdsl check</code> says why.</p>\n",
    });
    if changes.is_empty() {
        out.push_str("<p>Same fields.</p>\n");
        return out;
    }
    out.push_str("<ul class=\"changes\">\n");
    let ty = |field: &Field| format!("<code>{}</code>", file.type_html(&field.ty));
    let code = |field: &Field| format!("<code>{}</code>", esc(&field.name.text));
    for change in changes {
        let line = match change {
            Change::Added { field, from } => format!(
                "added {} {}: {}",
                code(field),
                ty(field),
                match from {
                    Added::Default(value) => format!(
                        "older events get the default <code>{}</code>",
                        esc(&shown(value))
                    ),
                    Added::None => "older events get <code>None</code>".to_owned(),
                    Added::Manual => "set by the manual step".to_owned(),
                }
            ),
            Change::Removed { field } => format!("removed {} {}", code(field), ty(field)),
            Change::Renamed {
                field,
                from,
                conversion,
            } => format!(
                "renamed {} to {}{}",
                code(from),
                code(field),
                conversion.map_or_else(String::new, |c| format!(
                    " and {} from {} to {}",
                    conversion_text(c),
                    ty(from),
                    ty(field)
                ))
            ),
            Change::Widened {
                field,
                from,
                conversion,
            } => format!(
                "{} {} from {} to {}",
                conversion_text(conversion),
                code(field),
                ty(from),
                ty(field)
            ),
            Change::Retyped { field, from } => format!(
                "changed {} from {} to {} (by the manual step)",
                code(field),
                ty(from),
                ty(field)
            ),
        };
        let _ = writeln!(out, "<li>{line}</li>");
    }
    out.push_str("</ul>\n");
    out
}

fn lock_history(file: &File<'_>, event: &Event) -> String {
    if !file.has_lock {
        return String::new();
    }
    let mut out = String::from("<h2 id=\"lock\">Lock history</h2>\n");
    let entries: Vec<(usize, &Entry)> = file.event_entries(event).collect();
    if entries.is_empty() {
        out.push_str("<p>Not locked yet: <code>cargo esdsl lock</code> records it.</p>\n");
        return out;
    }
    out.push_str(
        "<p>The lock is a ledger: entries are appended in order, never edited. \
         Entry numbers count from the top of <code>esdsl.lock</code>.</p>\n\
         <table><tr><th>Entry</th><th>Recorded</th><th>Fingerprint</th></tr>\n",
    );
    for (index, entry) in entries {
        let (what, fingerprint) = match entry {
            Entry::Event(e) => {
                let mut what = format!(
                    "event <code>{}</code> of {}",
                    esc(&e.name),
                    esc(&e.aggregate)
                );
                if !e.renamed_from.is_empty() {
                    let _ = write!(
                        what,
                        ", renamed from <code>{}</code>",
                        esc(&e.renamed_from.join(", "))
                    );
                }
                if e.retired {
                    what.push_str(", retired");
                }
                (what, String::new())
            }
            Entry::Version(v) => {
                let mut what = format!(
                    "<a href=\"#v{n}\">v{n}</a>: {} field{}",
                    v.fields.len(),
                    if v.fields.len() == 1 { "" } else { "s" },
                    n = v.number
                );
                if v.event != event.name.text {
                    let _ = write!(what, " (as <code>{}</code>)", esc(&v.event));
                }
                if !v.defaults.is_empty() {
                    let defaults: Vec<String> = v
                        .defaults
                        .iter()
                        .map(|(f, d)| format!("<code>{} = {}</code>", esc(f), esc(d)))
                        .collect();
                    let _ = write!(what, "; defaults {}", defaults.join(", "));
                }
                if !v.renamed.is_empty() {
                    let renamed: Vec<String> = v
                        .renamed
                        .iter()
                        .map(|(f, from)| {
                            format!("<code>{}</code> from <code>{}</code>", esc(f), esc(from))
                        })
                        .collect();
                    let _ = write!(what, "; renamed {}", renamed.join(", "));
                }
                (
                    what,
                    format!(
                        "<span class=\"fp\" title=\"{fp}\">{}</span>",
                        esc(v.fingerprint.get(..16).unwrap_or(&v.fingerprint)),
                        fp = esc(&v.fingerprint)
                    ),
                )
            }
            _ => continue,
        };
        let _ = writeln!(
            out,
            "<tr><td>#{}</td><td>{what}</td><td>{fingerprint}</td></tr>",
            index + 1
        );
    }
    out.push_str("</table>\n");
    out
}

/// Where a named type is used: event versions and records whose fields name it.
fn used_by(file: &File<'_>, name: &str) -> String {
    let schema = file.schema();
    let mut uses = Vec::new();
    for event in &schema.events {
        let versions: Vec<String> = event
            .versions
            .iter()
            .filter(|v| v.fields.iter().any(|f| mentions(&f.ty, name)))
            .map(|v| {
                format!(
                    "<a href=\"{}.html#v{n}\">v{n}</a>",
                    esc(&event.name.text),
                    n = v.number
                )
            })
            .collect();
        if !versions.is_empty() {
            uses.push(format!(
                "{} {}",
                file.link(&event.name.text),
                versions.join(" ")
            ));
        }
    }
    for record in &schema.types {
        if record.fields.iter().any(|f| mentions(&f.ty, name)) {
            uses.push(format!("{} (record)", file.link(&record.name.text)));
        }
    }
    if uses.is_empty() {
        return "<h2>Used by</h2>\n<p>No event uses it.</p>\n".to_owned();
    }
    format!(
        "<h2>Used by</h2>\n<ul>\n<li>{}</li>\n</ul>\n",
        uses.join("</li>\n<li>")
    )
}

fn mentions(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Option(inner) | Type::List(inner) | Type::Map(inner) => mentions(inner, name),
        Type::Record(n) | Type::Enum(n) => n == name,
        _ => false,
    }
}

fn record_page(file: &File<'_>, record: &RecordType) -> String {
    let mut body = format!(
        "<h1>{} <small>record type</small></h1>\n",
        esc(&record.name.text)
    );
    body.push_str(&doc(record.doc.as_deref()));
    body.push_str(
        "<p>Records are not versioned: a change to one changes every event version that uses it \
         (<code>cargo esdsl check</code> guards the locked ones).</p>\n",
    );
    body.push_str(&fields_table(file, &record.fields, false));
    body.push_str(&used_by(file, &record.name.text));
    body
}

fn enum_page(file: &File<'_>, enumeration: &EnumType) -> String {
    let mut body = format!(
        "<h1>{} <small>enum</small></h1>\n",
        esc(&enumeration.name.text)
    );
    body.push_str(&doc(enumeration.doc.as_deref()));
    body.push_str("<table><tr><th>Stored as</th><th>Rust variant</th></tr>\n");
    for variant in &enumeration.variants {
        let _ = writeln!(
            body,
            "<tr><td><code>{}</code></td><td><code>{}::{}</code></td></tr>",
            esc(&variant.text),
            esc(&enumeration.name.text),
            esc(&variant.text.to_upper_camel_case())
        );
    }
    body.push_str("</table>\n");
    body.push_str(&used_by(file, &enumeration.name.text));
    body
}

/// A default as it is written in a schema file: `"m"`, `2024-01-02T03:04:05Z`,
/// `{ low = 1 }`; an `option`'s value as the value itself.
fn shown(value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::String(s) | Value::Variant(s) => canonical::quote(s),
        Value::Bytes(bytes) => {
            let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Uuid(uuid) => format!("\"{}\"", uuid.hyphenated()),
        Value::Timestamp { secs, nanos } => chrono::DateTime::from_timestamp(*secs, *nanos)
            .map_or_else(
                || format!("{secs}s {nanos}ns after 1970-01-01T00:00:00Z"),
                |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ),
        Value::Some(inner) => shown(inner),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(shown).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(entries) | Value::Record(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{} = {}", canonical::quote(k), shown(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}
