//! Unit tests of stage 1: the exact diagnostics for TOML that is not the shape of a schema.

use crate::test_util::{ACCOUNT, d, diagnostics};

#[test]
fn invalid_toml_is_located() {
    assert_eq!(
        diagnostics("[aggregates.Account]\nid = \"uuid\n"),
        [d(
            "invalid_toml",
            "2:11",
            "invalid basic string, expected `\"`",
            "the schema must be valid TOML (https://toml.io/en/v1.0.0)"
        )]
    );
}

#[test]
fn unknown_top_level_key_suggests_the_near_one() {
    assert_eq!(
        diagnostics("[event.Opened]\naggregate = \"Account\"\n"),
        [d(
            "unknown_key",
            "1:2",
            "unknown key `event` at the top level of a schema",
            "did you mean `events`?"
        )]
    );
}

#[test]
fn unknown_event_key_suggests_the_near_one() {
    let source = format!(
        "{ACCOUNT}[events.Opened]\naggregate = \"Account\"\nretird = true\ncolour = 1\n[events.Opened.v1]\n"
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "unknown_key",
                "5:1",
                "unknown key `retird` in event `Opened`",
                "did you mean `retired`?"
            ),
            d(
                "unknown_key",
                "6:1",
                "unknown key `colour` in event `Opened`",
                "expected one of `aggregate`, `doc`, `renamed_from`, `retired`, `manual_upcasts`, `compatibility`, `v1`"
            ),
        ]
    );
}

#[test]
fn malformed_version_keys_are_reported() {
    let source =
        format!("{ACCOUNT}[events.Opened]\naggregate = \"Account\"\n[events.Opened.v01]\n");
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "invalid_version",
                "5:16",
                "`v01` is not a valid version key",
                "versions are written `v1`, `v2`, ... without leading zeros"
            ),
            d(
                "version_gap",
                "3:9",
                "event `Opened` has no versions",
                "declare its first version with `[events.Opened.v1]`"
            ),
        ]
    );
}

#[test]
fn values_of_the_wrong_kind_are_reported() {
    let source = format!(
        "{ACCOUNT}[events.Opened]\naggregate = 3\nretired = \"yes\"\nmanual_upcasts = [\"2\"]\n[events.Opened.v1]\nowner = 5\n"
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "invalid_value",
                "4:13",
                "`aggregate` must be a string, found an integer",
                "write `aggregate` as a string"
            ),
            d(
                "invalid_value",
                "5:11",
                "`retired` must be a boolean, found a string",
                "write `retired` as a boolean"
            ),
            d(
                "invalid_value",
                "6:19",
                "an element of `manual_upcasts` must be an integer, found a string",
                "write an element of `manual_upcasts` as an integer"
            ),
            d(
                "invalid_value",
                "8:9",
                "field `owner` must be a type string or an inline table with `type`, found an integer",
                "write field `owner` as a type string or an inline table with `type`"
            ),
            d(
                "missing_key",
                "3:9",
                "event `Opened` has no `aggregate`",
                "add `aggregate = \"Name\"` naming the aggregate it belongs to"
            ),
        ]
    );
}

#[test]
fn field_tables_need_a_type_and_known_keys() {
    let source = format!(
        "{ACCOUNT}[events.Opened]\naggregate = \"Account\"\n[events.Opened.v1]\nowner = {{ typ = \"string\" }}\nname = {{ type = \"string\", defualt = \"x\" }}\n"
    );
    assert_eq!(
        diagnostics(&source),
        [
            d(
                "unknown_key",
                "6:11",
                "unknown key `typ` in field `owner`",
                "did you mean `type`?"
            ),
            d(
                "missing_key",
                "6:1",
                "field `owner` has no `type`",
                "write `{ type = \"string\", ... }` or just `name = \"string\"`"
            ),
            d(
                "unknown_key",
                "7:27",
                "unknown key `defualt` in field `name`",
                "did you mean `default`?"
            ),
        ]
    );
}

#[test]
fn enums_need_variants() {
    assert_eq!(
        diagnostics("[enums.Currency]\ndoc = \"money\"\n"),
        [d(
            "missing_key",
            "1:8",
            "enum `Currency` has no `variants`",
            "add `variants = [\"first\", \"second\"]`"
        )]
    );
}
