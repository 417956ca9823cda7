//! Unit tests of the lock file: its canonical text, pinned fingerprints, and every problem a
//! damaged lock is reported with.

use super::{Entry, Lock};
use crate::evolve::SchemaFile;
use crate::test_util::ACCOUNT;

fn file(source: &str) -> SchemaFile {
    match SchemaFile::parse("schemas/test.toml", "test.toml", source) {
        Ok(file) => file,
        Err(report) => panic!("invalid test schema:\n{}", report.render()),
    }
}

fn locked(source: &str) -> Lock {
    let mut lock = Lock::new();
    lock.update(&[file(source)]);
    lock
}

/// Every problem of a lock text as (line:column, message).
fn problems(text: &str) -> Vec<(String, String)> {
    let Err(report) = Lock::parse("esdsl.lock", text) else {
        return Vec::new();
    };
    report
        .diagnostics
        .iter()
        .map(|d| {
            assert_eq!(d.code, "invalid_lock");
            let at = d.span.map_or_else(String::new, |s| {
                let (line, column) = report.line_col(s.start);
                format!("{line}:{column}")
            });
            (at, d.message.clone())
        })
        .collect()
}

const SMALL: &str = r#"[aggregates.Account]
[events.Opened]
aggregate = "Account"
renamed_from = ["Created"]
[events.Opened.v1]
owner = "string"
[events.Opened.v2]
owner = "string"
currency = { type = "Currency", default = "eur" }
tags = { type = "list<string>", default = ["a \"b\""] }
[types.Address]
street = "string"
[enums.Currency]
variants = ["eur", "usd"]
"#;

#[test]
fn a_lock_is_written_in_one_canonical_layout() {
    let text = locked(SMALL).to_toml();
    let expected = r#"# esdsl.lock: the evolution baseline of the schemas beside it, written by `cargo esdsl lock`.
# Commit it. Entries are only ever appended: `cargo esdsl check` compares the schemas with it,
# and `cargo esdsl check --against <ref>` also fails when entries were edited or removed.
format = 1

[[enum]]
schema = "test.toml"
name = "Currency"
variants = ["eur", "usd"]
fingerprint = "FP_ENUM"

[[type]]
schema = "test.toml"
name = "Address"
fields = ["street: string"]
fingerprint = "FP_ADDRESS"

[[event]]
schema = "test.toml"
name = "Opened"
aggregate = "Account"
renamed_from = ["Created"]

[[version]]
schema = "test.toml"
event = "Opened"
number = 1
fields = ["owner: string"]
fingerprint = "FP_V1"

[[version]]
schema = "test.toml"
event = "Opened"
number = 2
fields = ["owner: string", "currency: Currency", "tags: list<string>"]
defaults = { currency = '"eur"', tags = '["a \"b\""]' }
fingerprint = "FP_V2"
"#;
    let fp = super::canonical::fingerprint;
    let expected = expected
        .replace("FP_ENUM", &fp(r#"["eur","usd"]"#))
        .replace("FP_ADDRESS", &fp("{street:string}"))
        .replace("FP_V1", &fp("{owner:string}"))
        .replace(
            "FP_V2",
            &fp("{owner:string,currency:Currency,tags:list<string>}"),
        );
    assert_eq!(text, expected);
}

#[test]
fn fingerprints_are_pinned() {
    // Changing the canonical form or the hash would invalidate every committed lock.
    assert_eq!(
        super::canonical::fingerprint("{owner:string}"),
        "9aa15cf04ea7fa37d21b9b97a66dd135743f958de1ed82eb123fbbe6c6b82b98"
    );
}

#[test]
fn a_lock_reads_back_as_written() {
    let lock = locked(SMALL);
    let text = lock.to_toml();
    let read = Lock::parse("esdsl.lock", &text).expect("a written lock reads back");
    assert_eq!(read.entries(), lock.entries());
    assert_eq!(read.to_toml(), text);
    // Every entry knows where it stands, for messages.
    let (line, _) = crate::diag::line_col(&text, read.span(2).expect("parsed").start);
    assert_eq!(text.lines().nth(line - 1), Some("[[event]]"));
}

#[test]
fn locking_again_appends_nothing() {
    let mut lock = locked(SMALL);
    let before = lock.len();
    assert_eq!(lock.update(&[file(SMALL)]), 0);
    assert_eq!(lock.len(), before);
}

#[test]
fn changes_are_appended_as_revisions() {
    let mut lock = locked(SMALL);
    let before = lock.to_toml();
    let changed = SMALL
        .replace("default = \"eur\"", "default = \"usd\"")
        .replace("[\"eur\", \"usd\"]", "[\"eur\", \"usd\", \"gbp\"]")
        .replace("[events.Opened]", "[events.Created]")
        .replace("[events.Opened.", "[events.Created.")
        .replace(
            "renamed_from = [\"Created\"]",
            "renamed_from = [\"Opened\"]",
        );
    assert_eq!(lock.update(&[file(&changed)]), 3);
    let after = lock.to_toml();
    assert!(after.starts_with(&before), "entries are only appended");
    let added: Vec<String> = lock.entries()[5..].iter().map(Entry::describe).collect();
    assert_eq!(
        added,
        [
            "enum `Currency`",
            "event `Created`",
            "version 2 of event `Created`"
        ]
    );
    let baseline = lock.baseline();
    assert_eq!(
        baseline.events.len(),
        1,
        "a rename continues the same event"
    );
    let event = &baseline.events[0];
    assert_eq!(event.name, "Created");
    assert_eq!(event.names, ["Opened", "Created"]);
    assert_eq!(
        event.versions[&2].defaults[0],
        ("currency".to_owned(), "\"usd\"".to_owned())
    );
    assert_eq!(baseline.enums[0].variants, ["eur", "usd", "gbp"]);
    assert_eq!(lock.update(&[file(&changed)]), 0);
}

#[test]
fn a_shape_change_is_never_locked() {
    let mut lock = locked(SMALL);
    let edited = SMALL.replace(
        "owner = \"string\"\n[events.Opened.v2]",
        "owner = \"i64\"\n[events.Opened.v2]",
    );
    assert_eq!(lock.update(&[file(&edited)]), 0);
}

#[test]
fn hand_edits_are_caught() {
    let text = locked(&format!(
        "{ACCOUNT}[events.Opened]\naggregate = \"Account\"\n[events.Opened.v1]\nowner = \"string\"\n"
    ))
    .to_toml();
    let edited = text.replace("owner: string", "owner: i64");
    assert_eq!(
        problems(&edited),
        [(
            "16:15".to_owned(),
            "the fingerprint does not match the entry (`{owner:i64}`)".to_owned()
        )]
    );
}

#[test]
fn malformed_locks_are_reported_with_locations() {
    assert_eq!(
        problems("format = 2\n"),
        [(
            "1:10".to_owned(),
            "this lock format is not supported (this cargo-esdsl reads format 1)".to_owned()
        )]
    );
    assert_eq!(
        problems("[[event]]\nname = \"X\"\n"),
        [
            ("1:1".to_owned(), "this entry has no `schema`".to_owned()),
            ("1:1".to_owned(), "the lock has no `format`".to_owned()),
        ]
    );
    assert_eq!(
        problems(
            "format = 1\nextra = 1\n[[version]]\nschema = \"a.toml\"\nevent = \"X\"\nnumber = 0\n"
        ),
        [
            ("2:1".to_owned(), "unknown key `extra` in a lock".to_owned()),
            (
                "6:10".to_owned(),
                "`number` must be a version number from 1".to_owned()
            ),
        ]
    );
    let orphan = format!(
        "format = 1\n[[version]]\nschema = \"a.toml\"\nevent = \"X\"\nnumber = 1\nfields = []\n\
         fingerprint = \"{}\"\n",
        super::canonical::fingerprint("{}")
    );
    assert_eq!(
        problems(&orphan),
        [(
            "2:1".to_owned(),
            "version 1 of event `X` comes before any `[[event]]` entry of `X` in `a.toml`"
                .to_owned()
        )]
    );
    assert_eq!(problems("format = 1\n[[event]\n").len(), 1, "invalid TOML");
}

#[test]
fn a_lock_narrows_to_some_schema_files() {
    let mut lock = locked(SMALL);
    let other = SchemaFile::parse(
        "schemas/other.toml",
        "other.toml",
        &format!("{ACCOUNT}[events.Other]\naggregate = \"Account\"\n[events.Other.v1]\n"),
    )
    .expect("valid");
    assert_eq!(lock.update(&[other]), 2);
    assert_eq!(lock.for_schemas(&["test.toml"]), locked(SMALL));
    assert_eq!(lock.for_schemas(&["other.toml"]).len(), 2);
    assert!(lock.for_schemas(&[]).is_empty());
}
