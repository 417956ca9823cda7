//! An AsyncAPI 3 document of the aggregates' events.
//!
//! Each aggregate is a channel whose address is its streams' name, `Aggregate-{id}`; each
//! event version is a message whose payload is the version's JSON Schema (draft 2020-12,
//! declared with `schemaFormat`; its references to records and enums point into its own
//! `$defs` from the document's root, as AsyncAPI resolves them); one `send` operation per
//! aggregate names the messages esdsl
//! writes (the newest version of each live event), and one `receive` operation names every
//! message a reader can meet in a stream (every version, retired events included).

use crate::SchemaFile;
use crate::model::Event;

use super::json::Json;
use super::json_schema::{DIALECT, version_schema};

/// The `info` object of an AsyncAPI document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncApiInfo {
    /// `info.title`, e.g. the application's name.
    pub title: String,
    /// `info.version`: the version of the application's API, e.g. `1.0.0`.
    pub version: String,
}

impl Default for AsyncApiInfo {
    /// The title `esdsl events` and the version `0.0.0`.
    fn default() -> AsyncApiInfo {
        AsyncApiInfo {
            title: "esdsl events".to_owned(),
            version: "0.0.0".to_owned(),
        }
    }
}

/// The AsyncAPI 3.0.0 document of `files`, as pretty-printed JSON ending with a newline.
///
/// Channels, messages and operations are keyed by name; when two files declare the same
/// aggregate or event name, the later ones are keyed with their file's name in front
/// (`bank.Account`), so no key is lost.
pub fn asyncapi(files: &[SchemaFile], info: &AsyncApiInfo) -> String {
    let slugs = super::slugs(files);
    let mut channels = Vec::new();
    let mut operations = Vec::new();
    let mut messages = Vec::new();
    let mut taken = std::collections::BTreeSet::new();
    for (file, slug) in files.iter().zip(&slugs) {
        let schema = &file.schema;
        for aggregate in &schema.aggregates {
            let name = &aggregate.name.text;
            let channel = unique(&mut taken, "channel", slug, name);
            let events: Vec<&Event> = schema.events_of(name).collect();
            let mut channel_messages = Vec::new();
            let mut sent = Vec::new();
            let mut received = Vec::new();
            for event in &events {
                for version in &event.versions {
                    let id = unique(
                        &mut taken,
                        "message",
                        slug,
                        &format!("{}.v{}", event.name.text, version.number),
                    );
                    let reference = || {
                        Json::object([(
                            "$ref",
                            Json::str(format!("#/channels/{channel}/messages/{id}")),
                        )])
                    };
                    if !event.retired && version.number == event.newest() {
                        sent.push(reference());
                    }
                    received.push(reference());
                    channel_messages.push((
                        id.clone(),
                        Json::object([("$ref", Json::str(format!("#/components/messages/{id}")))]),
                    ));
                    let mut message = vec![
                        ("name", Json::str(event.name.text.clone())),
                        (
                            "title",
                            Json::str(format!("{} v{}", event.name.text, version.number)),
                        ),
                    ];
                    let mut summary = Vec::new();
                    if let Some(doc) = &event.doc {
                        summary.push(doc.clone());
                    }
                    if event.retired {
                        summary.push("Retired: never written again; stored ones remain.".into());
                    }
                    if version.number != event.newest() {
                        summary.push(format!(
                            "An older version: readers upcast it to v{}.",
                            event.newest()
                        ));
                    }
                    if !event.renamed_from.is_empty() {
                        let names: Vec<&str> =
                            event.renamed_from.iter().map(|n| n.text.as_str()).collect();
                        summary.push(format!(
                            "Stored earlier under the type name(s) {}.",
                            names.join(", ")
                        ));
                    }
                    if !summary.is_empty() {
                        message.push(("summary", Json::str(summary.join(" "))));
                    }
                    message.push(("contentType", Json::str("application/json")));
                    message.push((
                        "payload",
                        Json::object([
                            (
                                "schemaFormat",
                                Json::str("application/schema+json;version=2020-12"),
                            ),
                            ("schema", {
                                // A reference is resolved against the whole document: point
                                // into this payload's own `$defs`.
                                let mut payload = version_schema(&file.key, schema, event, version);
                                payload.rebase_refs(
                                    "#/$defs/",
                                    &format!("#/components/messages/{id}/payload/schema/$defs/"),
                                );
                                payload
                            }),
                        ]),
                    ));
                    message.push((
                        "x-esdsl",
                        Json::object([
                            ("schema", Json::str(file.key.clone())),
                            ("event", Json::str(event.name.text.clone())),
                            ("version", Json::Int(i128::from(version.number))),
                        ]),
                    ));
                    messages.push((id, Json::object(message)));
                }
            }
            let mut channel_body = vec![
                ("address", Json::str(format!("{name}-{{id}}"))),
                ("title", Json::str(name.clone())),
            ];
            if let Some(doc) = &aggregate.doc {
                channel_body.push(("description", Json::str(doc.clone())));
            }
            channel_body.push(("messages", Json::Object(channel_messages)));
            channel_body.push((
                "parameters",
                Json::object([(
                    "id",
                    Json::object([(
                        "description",
                        Json::str(format!(
                            "The {name}'s id ({}), as its `{name}Id` displays it.",
                            aggregate.id.as_str()
                        )),
                    )]),
                )]),
            ));
            let channel_ref =
                || Json::object([("$ref", Json::str(format!("#/channels/{channel}")))]);
            operations.push((
                unique(&mut taken, "operation", slug, &format!("append{name}")),
                Json::object([
                    ("action", Json::str("send")),
                    ("channel", channel_ref()),
                    (
                        "summary",
                        Json::str(format!("The events esdsl appends to a {name} stream.")),
                    ),
                    ("messages", Json::Array(sent)),
                ]),
            ));
            operations.push((
                unique(&mut taken, "operation", slug, &format!("read{name}")),
                Json::object([
                    ("action", Json::str("receive")),
                    ("channel", channel_ref()),
                    (
                        "summary",
                        Json::str(format!(
                            "Every event version a reader can find in a {name} stream."
                        )),
                    ),
                    ("messages", Json::Array(received)),
                ]),
            ));
            channels.push((channel, Json::object(channel_body)));
        }
    }
    Json::object([
        ("asyncapi", Json::str("3.0.0")),
        (
            "info",
            Json::object([
                ("title", Json::str(info.title.clone())),
                ("version", Json::str(info.version.clone())),
                (
                    "description",
                    Json::str(format!(
                        "Events of the esdsl schemas {}. Payloads are JSON Schema {DIALECT}.",
                        files
                            .iter()
                            .map(|f| f.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ),
            ]),
        ),
        ("defaultContentType", Json::str("application/json")),
        ("channels", Json::Object(channels)),
        ("operations", Json::Object(operations)),
        (
            "components",
            Json::object([("messages", Json::Object(messages))]),
        ),
    ])
    .pretty()
}

/// `name`, or `slug.name` when a key of this kind already has that name.
fn unique(
    taken: &mut std::collections::BTreeSet<(&'static str, String)>,
    kind: &'static str,
    slug: &str,
    name: &str,
) -> String {
    if taken.insert((kind, name.to_owned())) {
        return name.to_owned();
    }
    let mut key = format!("{slug}.{name}");
    let mut n = 2;
    while !taken.insert((kind, key.clone())) {
        key = format!("{slug}.{name}.{n}");
        n += 1;
    }
    key
}
