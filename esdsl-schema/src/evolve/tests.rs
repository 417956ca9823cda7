//! Unit tests of the evolution check: the exact findings of each rule, and the rules' docs.

use super::{Finding, RULES, SchemaFile, StoredVersion, check, check_store, lock_history};
use crate::diag::Severity;
use crate::lock::Lock;

fn file(source: &str) -> SchemaFile {
    match SchemaFile::parse("schemas/test.toml", "test.toml", source) {
        Ok(file) => file,
        Err(report) => panic!("invalid test schema:\n{}\n{source}", report.render()),
    }
}

fn lock_of(source: &str) -> Lock {
    let mut lock = Lock::new();
    lock.update(&[file(source)]);
    lock
}

/// A finding as (rule, "line:column", message).
fn show(findings: &[Finding], source: &str) -> Vec<(String, String, String)> {
    findings
        .iter()
        .map(|f| {
            let at = f.diagnostic.span.map_or_else(String::new, |s| {
                let (line, column) = crate::diag::line_col(source, s.start);
                format!("{line}:{column}")
            });
            (
                f.diagnostic.code.to_owned(),
                at,
                f.diagnostic.message.clone(),
            )
        })
        .collect()
}

fn evolve(locked: &str, current: &str) -> Vec<(String, String, String)> {
    show(&check(&[file(current)], &lock_of(locked)), current)
}

fn f(rule: &str, at: &str, message: &str) -> (String, String, String) {
    (rule.into(), at.into(), message.into())
}

#[test]
fn every_rule_example_does_what_its_docs_say() {
    for rule in RULES {
        let Some(example) = rule.example else {
            continue;
        };
        let lock = lock_of(example.locked);
        let bad = check(&[file(example.bad)], &lock);
        assert!(
            bad.iter().any(|f| f.diagnostic.code == rule.id),
            "{}: the bad example does not trigger it: {:#?}",
            rule.id,
            show(&bad, example.bad)
        );
        for finding in &bad {
            let found = super::rule(finding.diagnostic.code).map(|r| r.severity);
            assert_eq!(found, Some(finding.diagnostic.severity), "{finding:?}");
        }
        let good = check(&[file(example.good)], &lock);
        assert!(
            good.is_empty(),
            "{}: the good example has findings: {:#?}",
            rule.id,
            show(&good, example.good)
        );
    }
}

#[test]
fn rule_ids_are_unique_and_documented() {
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len());
    for rule in RULES {
        let text = rule.explain();
        assert!(text.starts_with(&format!("### `{}` ({})", rule.id, rule.level())));
        assert!(!rule.summary.is_empty() && !rule.why.is_empty() && !rule.fix.is_empty());
    }
    let deny = |id: &str| super::rule(id).map(|r| r.severity);
    assert_eq!(deny("field_type_lossy"), Some(Severity::Warning));
    assert_eq!(deny("field_removed"), Some(Severity::Warning));
    assert_eq!(deny("default_changed"), Some(Severity::Warning));
    assert_eq!(deny("version_modified"), Some(Severity::Error));
    assert_eq!(deny("nope"), None);
}

const LOCKED: &str = r#"[aggregates.Account]
[events.Deposited]
aggregate = "Account"
[events.Deposited.v1]
amount = "i32"
memo = "string"
[events.Deposited.v2]
amount = "i64"
memo = "string"
"#;

#[test]
fn an_unchanged_schema_has_no_findings() {
    assert_eq!(evolve(LOCKED, LOCKED), []);
    let bank = include_str!("../../tests/fixtures/bank.toml");
    assert_eq!(evolve(bank, bank), []);
    let upcasting = include_str!("../../tests/fixtures/upcasting.toml");
    assert_eq!(evolve(upcasting, upcasting), []);
}

#[test]
fn a_version_edited_in_place_is_reported_field_by_field() {
    let current = LOCKED.replace(
        "amount = \"i32\"\nmemo = \"string\"",
        "amount = \"i64\"\nnote = \"string\"",
    );
    assert_eq!(
        evolve(LOCKED, &current),
        [
            f(
                "version_modified",
                "4:19",
                "field `memo` (`string`) was removed from locked v1 of event `Deposited`"
            ),
            f(
                "version_modified",
                "5:10",
                "field `amount` of locked v1 of event `Deposited` changed type from `i32` to `i64`"
            ),
            f(
                "version_modified",
                "6:1",
                "field `note` was added to locked v1 of event `Deposited`"
            ),
        ]
    );
    let reordered = LOCKED.replace(
        "amount = \"i32\"\nmemo = \"string\"",
        "memo = \"string\"\namount = \"i32\"",
    );
    assert_eq!(
        evolve(LOCKED, &reordered),
        [f(
            "version_modified",
            "4:19",
            "the fields of locked v1 of event `Deposited` were reordered (locked order: `amount` \
             and `memo`)"
        )]
    );
}

#[test]
fn every_locked_version_must_reach_the_newest() {
    // v3 is written by hand; dropping `manual_upcasts` strands stored v1 and v2 events.
    let locked = format!(
        "{}[events.Deposited.v3]\ncents = \"i64\"\n",
        LOCKED.replace(
            "aggregate = \"Account\"\n",
            "aggregate = \"Account\"\nmanual_upcasts = [3]\n"
        )
    );
    let current = locked.replace("manual_upcasts = [3]\n", "");
    assert_eq!(
        evolve(&locked, &current),
        [f(
            "upcast_missing",
            "10:19",
            "event `Deposited` cannot be upcast from v2 to locked v3: field `cents` is new in v3, \
             required and has no default; stored v1 to v2 events cannot reach v3"
        )]
    );
}

#[test]
fn new_steps_are_checked_field_by_field() {
    let current = format!(
        "{LOCKED}[events.Deposited.v3]\namount = \"f64\"\ntext = \"string\"\nfee = \"u32\"\n"
    );
    assert_eq!(
        evolve(LOCKED, &current),
        [
            f(
                "field_renamed_without_alias",
                "12:1",
                "field `text` of event `Deposited` replaces `memo` of v2 in v3 without \
                 `renamed_from`: stored values of `memo` would be lost"
            ),
            f(
                "field_added_without_default",
                "13:1",
                "field `fee` is new in v3 of event `Deposited`, required and has no default"
            ),
        ],
        "a step that cannot be generated reports what blocks it, not lossy widenings"
    );
    let automatic = format!("{LOCKED}[events.Deposited.v3]\namount = \"f64\"\n");
    assert_eq!(
        evolve(LOCKED, &automatic),
        [
            f(
                "field_removed",
                "10:19",
                "field `memo` of event `Deposited` is dropped in v3"
            ),
            f(
                "field_type_lossy",
                "11:10",
                "field `amount` of event `Deposited` widens `i64` to `f64` in v3, which can lose \
                 precision"
            ),
        ]
    );
    let narrowed = format!("{LOCKED}[events.Deposited.v3]\namount = \"i32\"\nmemo = \"string\"\n");
    assert_eq!(
        evolve(LOCKED, &narrowed),
        [f(
            "field_type_incompatible",
            "11:10",
            "field `amount` of event `Deposited` changes type from `i64` to `i32` in v3, which \
             is not a widening"
        )]
    );
    // The same schema without a lock: every step is new.
    assert_eq!(evolve("", &narrowed).len(), 1);
}

#[test]
fn events_keep_their_names_aggregate_and_versions() {
    let locked = format!(
        "{LOCKED}[aggregates.Ledger]\n[events.Closed]\naggregate = \"Account\"\nrenamed_from = \
         [\"Shut\"]\n[events.Closed.v1]\n[events.Old]\naggregate = \"Account\"\nretired = \
         true\n[events.Old.v1]\n"
    );
    let current = locked
        .replace(
            "[events.Deposited.v2]\namount = \"i64\"\nmemo = \"string\"\n",
            "",
        )
        .replace(
            "aggregate = \"Account\"\nrenamed_from = [\"Shut\"]",
            "aggregate = \"Ledger\"",
        )
        .replace("retired = true\n", "")
        + "[events.Shut]\naggregate = \"Account\"\n[events.Shut.v1]\n";
    assert_eq!(
        evolve(&locked, &current),
        [
            f(
                "version_removed",
                "4:19",
                "locked version v2 of event `Deposited` was deleted"
            ),
            f(
                "event_removed",
                "8:9",
                "event `Closed` no longer decodes its stored name `Shut`"
            ),
            f(
                "event_moved_aggregate",
                "9:13",
                "event `Closed` moved from aggregate `Account` to `Ledger`"
            ),
            f(
                "retired_name_reused",
                "11:9",
                "event `Old` was retired and is declared live again"
            ),
            f(
                "retired_name_reused",
                "14:9",
                "new event `Shut` reuses a stored name of event `Closed`"
            ),
        ]
    );
    let deleted = LOCKED.to_owned();
    assert_eq!(
        evolve(&locked, &deleted),
        [
            f(
                "event_removed",
                "",
                "event `Closed` of aggregate `Account` was deleted (v1 is locked)"
            ),
            f(
                "event_removed",
                "",
                "event `Old` of aggregate `Account` was deleted (v1 is locked)"
            ),
        ]
    );
}

#[test]
fn a_renamed_event_keeps_its_locked_versions() {
    let current = LOCKED
        .replace("[events.Deposited]", "[events.Paid]")
        .replace("[events.Deposited.", "[events.Paid.")
        .replace(
            "aggregate = \"Account\"\n",
            "aggregate = \"Account\"\nrenamed_from = [\"Deposited\"]\n",
        );
    assert_eq!(evolve(LOCKED, &current), []);
    let edited = current.replace("amount = \"i32\"", "amount = \"u32\"");
    assert_eq!(evolve(LOCKED, &edited)[0].0, "version_modified");
}

#[test]
fn renumbered_versions_are_a_gap() {
    let locked =
        format!("{LOCKED}[events.Deposited.v3]\namount = \"i64\"\nmemo = \"option<string>\"\n");
    let current = locked.replace(
        "[events.Deposited.v2]\namount = \"i64\"\nmemo = \"string\"\n[events.Deposited.v3]",
        "[events.Deposited.v2]",
    );
    assert_eq!(
        evolve(&locked, &current),
        [f(
            "version_gap",
            "7:19",
            "v2 of event `Deposited` has the fields locked as v3: its versions were renumbered"
        )]
    );
}

#[test]
fn types_used_by_locked_versions_keep_their_shape() {
    let locked = r#"[aggregates.Account]
[events.Opened]
aggregate = "Account"
[events.Opened.v1]
home = "option<list<Address>>"
[types.Address]
street = "string"
city = "City"
[types.City]
name = "string"
[enums.Kind]
variants = ["a", "b"]
[enums.Unit]
variants = ["x", "y"]
"#;
    let current = locked
        .replace("name = \"string\"", "name = \"string\"\nzip = \"string\"")
        .replace("[\"a\", \"b\"]", "[\"b\", \"a\", \"c\"]")
        .replace("[\"x\", \"y\"]", "[\"y\"]");
    // `City` is used through `Address`; `Kind` and `Unit` are used by nothing.
    assert_eq!(
        evolve(locked, &current),
        [f(
            "type_modified",
            "11:1",
            "type `City` changed: field `zip` was added; locked v1 of event `Opened` uses it"
        )]
    );
    let used = locked.replace(
        "home = \"option<list<Address>>\"",
        "home = \"option<list<Address>>\"\nkind = \"Kind\"\nunit = \"Unit\"",
    );
    let current = used
        .replace("[\"a\", \"b\"]", "[\"b\", \"a\", \"c\"]")
        .replace("[\"x\", \"y\"]", "[\"y\"]");
    assert_eq!(
        evolve(&used, &current),
        [
            f(
                "type_modified",
                "14:13",
                "enum `Kind` changed: variant `b` stands where `a` was locked; locked v1 of \
                 event `Opened` uses it"
            ),
            f(
                "enum_variant_removed",
                "15:8",
                "variant `x` was removed from enum `Unit`; locked v1 of event `Opened` uses it"
            ),
        ]
    );
    let appended = used.replace("[\"a\", \"b\"]", "[\"a\", \"b\", \"c\"]");
    assert_eq!(evolve(&used, &appended), []);
}

#[test]
fn a_used_record_reports_each_field_change_like_a_locked_version() {
    let locked = r#"[aggregates.Sensor]
[events.Placed]
aggregate = "Sensor"
[events.Placed.v1]
at = "Location"
[types.Location]
lat = "f64"
lon = "f64"
label = "string"
"#;
    let current = locked
        .replace("lon = \"f64\"", "lon = \"i64\"")
        .replace("label = \"string\"", "name = \"string\"");
    assert_eq!(
        evolve(locked, &current),
        [
            f(
                "type_modified",
                "6:8",
                "type `Location` changed: field `label` was removed; locked v1 of event `Placed` \
                 uses it"
            ),
            f(
                "type_modified",
                "8:7",
                "type `Location` changed: field `lon` changed type from `f64` to `i64`; locked \
                 v1 of event `Placed` uses it"
            ),
            f(
                "type_modified",
                "9:1",
                "type `Location` changed: field `name` was added; locked v1 of event `Placed` \
                 uses it"
            ),
        ]
    );
    let reordered = locked.replace("lat = \"f64\"\nlon", "lon = \"f64\"\nlat");
    assert_eq!(
        evolve(locked, &reordered),
        [f(
            "type_modified",
            "6:8",
            "type `Location` changed: its fields were reordered (locked order: `lat`, `lon` and \
             `label`); locked v1 of event `Placed` uses it"
        )]
    );
}

#[test]
fn defaults_and_renames_of_locked_versions_warn() {
    let locked = r#"[aggregates.Account]
[events.Opened]
aggregate = "Account"
[events.Opened.v1]
title = "string"
[events.Opened.v2]
name = { type = "string", renamed_from = "title" }
level = { type = "i32", default = 1 }
title = { type = "string", default = "x" }
"#;
    let current = locked
        .replace("default = 1", "default = 2")
        .replace("default = \"x\"", "default = \"y\"");
    assert_eq!(
        evolve(locked, &current),
        [f(
            "default_changed",
            "8:1",
            "the default of field `level` in locked v2 of event `Opened` changed from `1` to `2`"
        )],
        "a default of a field the previous version has is never used"
    );
    let current = locked.replace("renamed_from = \"title\" }", "default = \"\" }");
    assert_eq!(
        evolve(locked, &current),
        [f(
            "renamed_from_changed",
            "7:1",
            "`renamed_from` of field `name` in locked v2 of event `Opened` changed from `title` \
             to nothing"
        )]
    );
}

#[test]
fn the_store_must_hold_only_declared_versions() {
    let current = file(LOCKED);
    let row = |event_type: &str, version| StoredVersion {
        aggregate: "Account".into(),
        event_type: event_type.into(),
        version,
        count: 3,
    };
    let findings = check_store(
        &[current],
        &[
            row("Deposited", 1),
            row("Deposited", 3),
            row("Gone", 1),
            StoredVersion {
                aggregate: "Other".into(),
                ..row("Deposited", 1)
            },
        ],
        "data",
    );
    assert_eq!(
        show(&findings, LOCKED),
        [
            f(
                "stored_version_undeclared",
                "1:13",
                "`data` holds 3 `Gone` v1 events of aggregate `Account`, but no schema declares \
                 that event"
            ),
            f(
                "stored_version_undeclared",
                "2:9",
                "`data` holds 3 `Deposited` v3 events of aggregate `Account`, but event \
                 `Deposited` declares v1 to v2"
            ),
            f(
                "stored_version_undeclared",
                "",
                "`data` holds 3 `Deposited` v1 events of aggregate `Other`, but no schema \
                 declares that event"
            ),
        ]
    );
}

#[test]
fn lock_history_is_append_only() {
    let old = lock_of(LOCKED);
    let mut grown = old.clone();
    grown.update(&[file(&format!(
        "{LOCKED}[events.Deposited.v3]\namount = \"i64\"\n"
    ))]);
    assert_eq!(lock_history(&old, Some(&grown), "esdsl.lock"), []);
    assert_eq!(lock_history(&Lock::new(), None, "esdsl.lock"), []);

    let text = old.to_toml();
    let (first, rest) = text.split_at(text.find("[[version]]").expect("a version"));
    let (v1, v2) = rest.split_at(rest[1..].find("[[version]]").expect("v2") + 1);
    let swapped = Lock::parse("esdsl.lock", &format!("{first}{v2}\n{v1}")).expect("valid");
    let codes = |findings: Vec<Finding>| -> Vec<String> {
        findings
            .iter()
            .map(|f| f.diagnostic.message.clone())
            .collect()
    };
    assert_eq!(
        codes(lock_history(&old, Some(&swapped), "esdsl.lock")),
        [
            "the lock's entries were reordered: version 2 of event `Deposited` stands where the \
          baseline has version 1 of event `Deposited`"
        ]
    );
    let fresh = lock_of(&LOCKED.replace(
        "memo = \"string\"\n[events.Deposited.v2]",
        "[events.Deposited.v2]",
    ));
    assert_eq!(
        codes(lock_history(&old, Some(&fresh), "esdsl.lock")),
        ["the lock entry for version 1 of event `Deposited` was edited"]
    );
    assert_eq!(
        codes(lock_history(&old, None, "esdsl.lock")),
        ["the lock file `esdsl.lock` was deleted (3 entries at the baseline)"]
    );
}

#[test]
fn a_version_inserted_before_locked_ones_is_a_gap() {
    let current = LOCKED.replace(
        "[events.Deposited.v2]",
        "[events.Deposited.v2]\namount = \"i64\"\nmemo = \"option<string>\"\n[events.Deposited.v3]",
    );
    assert_eq!(
        evolve(LOCKED, &current),
        [
            f(
                "version_gap",
                "10:19",
                "v3 of event `Deposited` has the fields locked as v2: its versions were renumbered"
            ),
            // The new step v2 -> v3 is still checked.
            f(
                "field_type_incompatible",
                "12:8",
                "field `memo` of event `Deposited` changes type from `option<string>` to \
                 `string` in v3, which is not a widening"
            )
        ]
    );
}

/// The seam for events declared without a schema file (derives): the same rules on a model,
/// findings without spans.
#[test]
fn a_model_without_text_is_checked_by_the_same_rules() {
    let current = LOCKED.replace("amount = \"i32\"", "amount = \"u32\"");
    let schema = crate::parse_schema("derive", &current).expect("valid");
    let findings = check(
        &[SchemaFile::from_model("AccountEvent", "test.toml", schema)],
        &lock_of(LOCKED),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].diagnostic.code, "version_modified");
    assert_eq!(findings[0].diagnostic.span, None);
    assert_eq!(findings[0].path.as_deref(), Some("AccountEvent"));
    assert_eq!(
        (
            findings[0].event.as_deref(),
            findings[0].version,
            findings[0].field.as_deref()
        ),
        (Some("Deposited"), Some(1), Some("amount"))
    );
}

mod bad_input {
    //! Mutated schemas and locks never panic the check, and what it reports is located inside
    //! the text.

    use proptest::prelude::*;

    use super::{SchemaFile, check, lock_of};
    use crate::evolve::lock_out_of_date;
    use crate::lock::Lock;

    const BANK: &str = include_str!("../../tests/fixtures/bank.toml");
    const FRAGMENTS: [&str; 12] = [
        "\n",
        "\"",
        "=",
        "]",
        "v1",
        "v9",
        "i32",
        "option<",
        "retired = true\n",
        "renamed_from",
        "[events.X.v2]\n",
        "'",
    ];

    /// `source` with some byte ranges deleted and fragments inserted.
    fn mutate(source: &str, edits: &[(usize, usize, usize)]) -> String {
        let mut text = source.to_owned();
        for &(at, len, fragment) in edits {
            let mut start = at % (text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len % 8).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(start..end.max(start), FRAGMENTS[fragment % FRAGMENTS.len()]);
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn mutated_schemas_are_checked_without_panicking(
            edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..5),
        ) {
            let lock = lock_of(BANK);
            let source = mutate(BANK, &edits);
            if let Ok(file) = SchemaFile::parse("bank.toml", "test.toml", &source) {
                let files = [file];
                let mut findings = check(&files, &lock);
                findings.extend(lock_out_of_date(&files, Some(&lock), "esdsl.lock"));
                for finding in findings {
                    prop_assert!(finding.diagnostic.help.is_some());
                    if let Some(span) = finding.diagnostic.span {
                        prop_assert!(span.start <= span.end && span.end <= source.len());
                    }
                }
                let mut grown = lock.clone();
                grown.update(&files);
                prop_assert!(Lock::parse("esdsl.lock", &grown.to_toml()).is_ok());
            }
        }

        #[test]
        fn mutated_locks_never_panic_and_errors_are_located(
            edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..5),
        ) {
            let text = mutate(&lock_of(BANK).to_toml(), &edits);
            match Lock::parse("esdsl.lock", &text) {
                Ok(lock) => {
                    // What reads back also writes and reads back the same.
                    let again = Lock::parse("esdsl.lock", &lock.to_toml());
                    prop_assert_eq!(again.ok(), Some(lock));
                }
                Err(report) => {
                    prop_assert!(!report.diagnostics.is_empty());
                    for d in &report.diagnostics {
                        prop_assert_eq!(d.code, "invalid_lock");
                        if let Some(span) = d.span {
                            prop_assert!(span.start <= span.end && span.end <= text.len());
                        }
                    }
                    let _ = report.render();
                }
            }
        }
    }
}
