//! Unit tests of stage 2: the exact diagnostics for names, types, defaults, versions and steps.

use crate::model::{Conversion, FieldSource, StepKind, Type, Value};
use crate::test_util::{ACCOUNT, d, diagnostics};

fn event(body: &str) -> String {
    format!("{ACCOUNT}[events.Opened]\naggregate = \"Account\"\n{body}")
}

#[test]
fn the_bank_example_is_accepted_as_is() {
    let source = include_str!("../../tests/fixtures/bank_issue_example.toml");
    let schema = crate::parse_schema("bank.toml", source).expect("bank.toml is valid");
    let deposited = schema.event("MoneyDeposited").expect("declared");
    assert_eq!(deposited.newest(), 3);
    assert_eq!(
        deposited.manual_upcasts.iter().copied().collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(deposited.steps[1].kind, StepKind::Manual);
    let StepKind::Automatic(sources) = &deposited.steps[0].kind else {
        panic!("v1 -> v2 is automatic");
    };
    assert_eq!(
        sources,
        &[
            FieldSource::Previous {
                field: "amount".into(),
                conversion: Conversion::WidenInt
            },
            FieldSource::None
        ]
    );
    let opened = schema.event("AccountOpened").expect("declared");
    let StepKind::Automatic(sources) = &opened.steps[0].kind else {
        panic!("v1 -> v2 is automatic");
    };
    assert_eq!(
        sources[1],
        FieldSource::Default(Value::Variant("eur".into()))
    );
    assert!(schema.event("LegacyAudit").expect("declared").retired);
    assert_eq!(
        schema
            .event("AccountClosed")
            .expect("declared")
            .renamed_from[0]
            .text,
        "AccountShut"
    );
    assert_eq!(
        schema.record("Address").expect("declared").fields[0].ty,
        Type::String
    );
}

#[test]
fn unknown_types_suggest_near_names() {
    let source = format!(
        "{}[events.Opened.v1]\na = \"strng\"\nb = \"lst<i64>\"\nc = \"option<Adress>\"\nd = \"Widget\"\n[types.Address]\nstreet = \"string\"\n",
        event("")
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "unknown_type",
                "6:5",
                "unknown type `strng`",
                "did you mean `string`?"
            ),
            d(
                "unknown_type",
                "7:5",
                "unknown type `lst`",
                "did you mean `list`?"
            ),
            d(
                "unknown_type",
                "8:5",
                "unknown type `Adress`",
                "did you mean `Address`?"
            ),
            d(
                "unknown_type",
                "9:5",
                "unknown type `Widget`",
                "use a scalar type (`string`, `i64`, `bool`, ...) or declare it in `[types.*]` or `[enums.*]`"
            ),
        ]
    );
}

#[test]
fn a_transposed_scalar_name_suggests_the_scalar() {
    let source = event("[events.Opened.v1]\na = \"u46\"\nb = \"list<i23>\"\nc = \"srting\"\n");
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "unknown_type",
                "6:5",
                "unknown type `u46`",
                "did you mean `u64`?"
            ),
            d(
                "unknown_type",
                "7:5",
                "unknown type `i23`",
                "did you mean `i32`?"
            ),
            d(
                "unknown_type",
                "8:5",
                "unknown type `srting`",
                "did you mean `string`?"
            ),
        ]
    );
}

#[test]
fn types_nest_at_most_32_deep() {
    let nested = |depth: usize| format!("{}u32{}", "option<".repeat(depth), ">".repeat(depth));
    let source = event(&format!(
        "[events.Opened.v1]\nok = \"{}\"\ndeep = \"{}\"\n",
        nested(32),
        nested(33)
    ));
    assert_eq!(
        diagnostics(&source),
        [d(
            "type_too_deep",
            "7:8",
            "the type of field `deep` nests generic types more than 32 deep",
            "declare a record type in `[types.*]` for an inner part and use it here: a type nests \
             at most 32 `option`, `list` and `map` types"
        )]
    );
}

#[test]
fn malformed_type_strings_are_reported() {
    let source = event("[events.Opened.v1]\na = \"option<i64\"\nb = \"map<string, i64>\"\n");
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "invalid_type",
                "6:5",
                "`option<i64` is not a valid type: `<` is not closed by a final `>`",
                "write a type like `i64`, `option<string>`, `list<Address>`"
            ),
            d(
                "invalid_type",
                "7:5",
                "`map<string, i64>` is not a valid type: generic types take one argument (`map<T>` has string keys)",
                "write a type like `i64`, `option<string>`, `list<Address>`"
            ),
        ]
    );
}

#[test]
fn duplicate_names_are_reported() {
    let source = format!(
        "{}[events.Opened.v1]\n[events.Closed]\naggregate = \"Account\"\nrenamed_from = [\"Opened\"]\n[events.Closed.v1]\n[types.Opened]\nx = \"i64\"\n[enums.AccountId]\nvariants = [\"a\", \"b\", \"A\"]\n",
        event("")
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "duplicate_name",
                "10:8",
                "type `Opened` is declared twice (also as event)",
                "aggregates, events, types and enums share one namespace: rename one of them"
            ),
            d(
                "duplicate_name",
                "12:8",
                "enum `AccountId` has the name of a generated item",
                "each aggregate `X` generates `XEvent` and `XId`: choose another name"
            ),
            d(
                "duplicate_name",
                "13:23",
                "variant `A` of enum `AccountId` clashes with `a` (both become `A`)",
                "remove or rename one of them"
            ),
            d(
                "duplicate_name",
                "8:17",
                "stored name `Opened` of event `Closed` is already used by event `Opened`",
                "a stored type name can decode as only one event: remove one of them"
            ),
        ]
    );
}

#[test]
fn version_gaps_are_reported() {
    let source = event("[events.Opened.v1]\n[events.Opened.v3]\n");
    assert_eq!(
        diagnostics(&source),
        [d(
            "version_gap",
            "6:16",
            "event `Opened` is missing v2: v1 is followed by v3",
            "versions start at 1 and are contiguous: add `[events.Opened.v2]` or renumber this table"
        )]
    );
    let source = event("[events.Opened.v2]\n");
    assert_eq!(
        diagnostics(&source),
        [d(
            "version_gap",
            "5:16",
            "event `Opened` is missing v1: its first version is v2",
            "versions start at 1 and are contiguous: add `[events.Opened.v1]` or renumber this table"
        )]
    );
    // One gap is one finding, however many versions follow it.
    let source = event("[events.Opened.v1]\n[events.Opened.v4]\n[events.Opened.v5]\n");
    assert_eq!(
        diagnostics(&source),
        [d(
            "version_gap",
            "6:16",
            "event `Opened` is missing v2 to v3: v1 is followed by v4",
            "versions start at 1 and are contiguous: add `[events.Opened.v2]` or renumber this table"
        )]
    );
}

#[test]
fn a_gap_where_locked_versions_were_says_their_events_are_stranded() {
    let locked = event("[events.Opened.v1]\n[events.Opened.v2]\nnote = \"string\"\n");
    let file = crate::SchemaFile::parse("schemas/test.toml", "test.toml", &locked).expect("valid");
    let mut lock = crate::lock::Lock::new();
    lock.update(&[file]);
    let gap = |source: &str| {
        let report = lock
            .schema_file("schemas/test.toml", "test.toml", source)
            .expect_err("a gap is invalid");
        report
            .diagnostics
            .iter()
            .map(|d| (d.message.clone(), d.help.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        gap(&event("[events.Opened.v2]\nnote = \"string\"\n")),
        [(
            "event `Opened` is missing v1, which is locked: its first version is v2".to_owned(),
            "restore `[events.Opened.v1]` as locked: stored v1 events would be stranded, with \
             nothing to decode them"
                .to_owned()
        )]
    );
    assert_eq!(
        gap(&event("[events.Opened.v4]\n")),
        [(
            "event `Opened` is missing v1 to v3 (v1 and v2 locked): its first version is v4"
                .to_owned(),
            "restore `[events.Opened.v1]` and `[events.Opened.v2]` as locked: stored v1 and v2 \
             events would be stranded, with nothing to decode them"
                .to_owned()
        )]
    );
}

#[test]
fn a_name_that_is_not_ascii_says_so() {
    let source = format!(
        "{ACCOUNT}[events.\"Überwiesen\"]\naggregate = \"Account\"\n[events.\"Überwiesen\".v1]\n\"größe\" = \"i64\"\n"
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "invalid_name",
                "3:9",
                "event name `Überwiesen` is not usable: `Ü` is not ASCII, and names are ASCII only",
                "rename it with ASCII letters, digits and `_`"
            ),
            d(
                "invalid_name",
                "6:1",
                "field name `größe` is not usable: `ö` is not ASCII, and names are ASCII only",
                "rename it with ASCII letters, digits and `_`"
            ),
        ]
    );
}

#[test]
fn defaults_must_fit_their_type() {
    let source = format!(
        "{}[events.Opened.v1]\na = {{ type = \"i32\", default = \"zero\" }}\nb = {{ type = \"Currency\", default = \"euro\" }}\nc = {{ type = \"u32\", default = -1 }}\nd = {{ type = \"timestamp\", default = \"yesterday\" }}\n[enums.Currency]\nvariants = [\"eur\", \"usd\"]\n",
        event("")
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "invalid_default",
                "6:31",
                "default of field `a` does not fit type `i32`: found a string",
                "write an integer in range"
            ),
            d(
                "invalid_default",
                "7:36",
                "default of field `b` does not fit type `Currency`: `euro` is not a variant of `Currency` (did you mean `eur`?)",
                "write one of the variants of `Currency`: `eur`, `usd`"
            ),
            d(
                "invalid_default",
                "8:31",
                "default of field `c` does not fit type `u32`: -1 is out of range (0 to 4294967295)",
                "write an integer in range"
            ),
            d(
                "invalid_default",
                "9:37",
                "default of field `d` does not fit type `timestamp`: `yesterday` is not an RFC 3339 timestamp with offset (premature end of input)",
                "write an RFC 3339 timestamp such as `1970-01-01T00:00:00Z`"
            ),
        ]
    );
}

#[test]
fn events_must_name_a_declared_aggregate() {
    let source =
        "[aggregates.Account]\n[events.Opened]\naggregate = \"Acount\"\n[events.Opened.v1]\n";
    assert_eq!(
        diagnostics(source),
        [d(
            "unknown_aggregate",
            "3:13",
            "event `Opened` belongs to unknown aggregate `Acount`",
            "did you mean `Account`?"
        )]
    );
}

#[test]
fn names_must_be_rust_identifiers_in_the_right_case() {
    let source = "[aggregates.Account]\n[events.opened_event]\naggregate = \"Account\"\n[events.opened_event.v1]\ntype = \"string\"\nOwnerName = \"string\"\n\"first-name\" = \"string\"\n[enums.Kind]\nvariants = [\"1st\"]\n";
    assert_eq!(
        diagnostics(source),
        [
            d(
                "invalid_name",
                "2:9",
                "event name `opened_event` is not usable: it is not in UpperCamelCase",
                "rename it, e.g. to `OpenedEvent`"
            ),
            d(
                "invalid_name",
                "9:13",
                "variant `1st` of enum `Kind` does not make a Rust identifier: as `1st`, it does not start with a letter or `_`",
                "a variant is stored as written and named in Rust in UpperCamelCase; start it with a letter and avoid keywords"
            ),
            d(
                "invalid_name",
                "5:1",
                "field name `type` is not usable: it is a Rust keyword",
                "rename it, e.g. to `type_`"
            ),
            d(
                "invalid_name",
                "6:1",
                "field name `OwnerName` is not usable: it is not in snake_case",
                "rename it, e.g. to `owner_name`"
            ),
            d(
                "invalid_name",
                "7:1",
                "field name `first-name` is not usable: it holds characters other than ASCII letters, digits and `_`",
                "rename it, e.g. to `first_name`"
            ),
        ]
    );
}

#[test]
fn renamed_from_must_name_a_field_of_the_previous_version() {
    let source = event(
        "[events.Opened.v1]\nowner = { type = \"string\", renamed_from = \"holder\" }\n[events.Opened.v2]\nname = { type = \"string\", renamed_from = \"ownr\" }\n",
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "unknown_rename_source",
                "6:43",
                "field `owner` is `renamed_from` `holder` but there is no previous version",
                "remove `renamed_from` from the first version"
            ),
            d(
                "unknown_rename_source",
                "8:42",
                "field `name` is `renamed_from` `ownr`, which is not a field of v1",
                "did you mean `owner`?"
            ),
        ]
    );
}

#[test]
fn steps_that_are_neither_automatic_nor_manual_say_why() {
    let source = event(
        "[events.Opened.v1]\nowner = \"string\"\ncount = \"i64\"\n[events.Opened.v2]\nowner = \"string\"\ncount = \"i32\"\nbalance = \"i64\"\n",
    );
    let manual = "add `manual_upcasts = [2]` and implement `esdsl_runtime::Upcast<v1::Opened>` for `v2::Opened`";
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "upcast_missing",
                "10:9",
                "event `Opened` cannot be upcast from v1 to v2 automatically: field `count` changes type from `i64` to `i32`, which is not a widening",
                &format!("keep a type the old one widens to (see the widening table); or {manual}")
            ),
            d(
                "upcast_missing",
                "11:1",
                "event `Opened` cannot be upcast from v1 to v2 automatically: field `balance` is new in v2, required and has no default",
                &format!(
                    "give it a `default`, make it an `option<..>` or name the field it comes from with `renamed_from`; or {manual}"
                )
            ),
        ]
    );
    // Listing the step as manual accepts it.
    let source = source.replace(
        "aggregate = \"Account\"\n",
        "aggregate = \"Account\"\nmanual_upcasts = [2]\n",
    );
    assert_eq!(diagnostics(&source), []);
}

#[test]
fn manual_upcasts_must_name_a_step() {
    let source = event("manual_upcasts = [1, 3]\n[events.Opened.v1]\n[events.Opened.v2]\n");
    let expected = |at: &str, n: u32| {
        d(
            "invalid_manual_upcast",
            at,
            &format!("event `Opened` lists {n} in `manual_upcasts`, but has no step to v{n}"),
            "list the version a step leads to: 2 to 2",
        )
    };
    assert_eq!(
        diagnostics(&source),
        [expected("5:19", 1), expected("5:22", 3)]
    );
}

#[test]
fn records_cannot_contain_themselves_by_value() {
    let source = "[types.Node]\nnext = \"option<Node>\"\n[types.Tree]\nchildren = \"list<Tree>\"\n";
    assert_eq!(
        diagnostics(source),
        [d(
            "recursive_type",
            "1:8",
            "type `Node` contains itself (Node -> Node)",
            "break the cycle with a `list<T>` or `map<T>`"
        )]
    );
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let source = "[aggregates.Account]\nid = \"uid\"\n[events.Opened]\naggregate = \"Acount\"\n[events.Opened.v1]\nowner = \"strng\"\n[events.Opened.v3]\n[enums.E]\nvariants = []\n";
    let codes: Vec<String> = diagnostics(source).into_iter().map(|d| d.0).collect();
    assert_eq!(
        codes,
        [
            "unknown_type",
            "empty_enum",
            "unknown_aggregate",
            "unknown_type",
            "version_gap"
        ]
    );
}

#[test]
fn a_problem_is_reported_once_not_again_as_a_blocked_step() {
    let source =
        event("[events.Opened.v1]\n[events.Opened.v2]\nlimit = { type = \"u32\", default = -1 }\n");
    let codes: Vec<String> = diagnostics(&source).into_iter().map(|d| d.0).collect();
    assert_eq!(codes, ["invalid_default"]);
    let source =
        "[types.Place]\nname = { type = \"string\", renamed_from = \"title\", default = \"x\" }\n";
    assert_eq!(
        diagnostics(source),
        [
            d(
                "unknown_key",
                "2:61",
                "`default` has no meaning in type `Place`",
                "`default` belongs on event fields; record types have no versions"
            ),
            d(
                "unknown_key",
                "2:42",
                "`renamed_from` has no meaning in type `Place`",
                "`renamed_from` belongs on event fields; record types have no versions"
            ),
        ]
    );
}

#[test]
fn an_event_cannot_be_renamed_from_itself_and_variants_cannot_be_keywords() {
    let source = event(
        "renamed_from = [\"Opened\"]\n[events.Opened.v1]\n[enums.Kind]\nvariants = [\"self\"]\n",
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "invalid_name",
                "8:13",
                "variant `self` of enum `Kind` does not make a Rust identifier: as `Self`, it is a Rust keyword",
                "a variant is stored as written and named in Rust in UpperCamelCase; start it with a letter and avoid keywords"
            ),
            d(
                "duplicate_name",
                "5:17",
                "event `Opened` lists its own name in `renamed_from`",
                "`renamed_from` lists the names the event was stored under before"
            ),
        ]
    );
}

#[test]
fn record_fields_have_no_literal_defaults() {
    let source = format!(
        "{}[events.Opened.v1]\nplace = {{ type = \"option<Place>\", default = {{ name = \"x\" }} }}\n[types.Place]\nname = \"string\"\n",
        event("")
    );
    assert_eq!(
        diagnostics(&source),
        [d(
            "invalid_default",
            "6:45",
            "default of field `place` does not fit type `option<Place>`: record type `Place` has no literal defaults",
            "remove the default and declare the field `option<..>`: old events then read `None`"
        )]
    );
}

#[test]
fn compatibility_is_the_file_default_unless_an_event_overrides_it() {
    let source = format!(
        "compatibility = {{ mode = \"forward\", codecs = [\"json\"] }}\n{}compatibility = \"full_transitive\"\n[events.Opened.v1]\n[events.Closed]\naggregate = \"Account\"\n[events.Closed.v1]\n",
        event("")
    );
    let schema = crate::parse_schema("compat.toml", &source).expect("valid");
    let opened = schema.event("Opened").expect("declared").compatibility;
    assert_eq!(
        (opened.name(), opened.json, opened.postcard),
        ("full_transitive", true, true)
    );
    let closed = schema.event("Closed").expect("declared").compatibility;
    assert_eq!(
        (closed.name(), closed.json, closed.postcard),
        ("forward", true, false)
    );
}

#[test]
fn bad_compatibility_values_are_reported() {
    // The value of the wrong kind is a parse error, reported before the file's values.
    let source = format!(
        "compatibility = \"forwrd\"\n{}compatibility = {{ mode = \"backward\", codecs = [\"cbor\"] }}\n[events.Opened.v1]\n[events.Closed]\naggregate = \"Account\"\ncompatibility = 3\n[events.Closed.v1]\n",
        event("")
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "invalid_value",
                "10:17",
                "`compatibility` must be a mode name or a table of `mode` and `codecs`, found an integer",
                "write `compatibility` as a mode name or a table of `mode` and `codecs`"
            ),
            d(
                "invalid_value",
                "1:17",
                "unknown compatibility mode `forwrd`",
                "did you mean `forward`?"
            ),
            d(
                "invalid_value",
                "6:48",
                "unknown codec `cbor`",
                "expected one of `json`, `postcard`"
            ),
            d(
                "invalid_value",
                "6:17",
                "`codecs` only applies to a forward promise",
                "remove `codecs`, or choose `forward` or `full`"
            ),
        ]
    );
}
