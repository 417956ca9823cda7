//! Every evolution rule: id, severity and documentation, in one place. `cargo esdsl check
//! --explain <rule>` prints an entry; the rules section of `docs/evolution.md` is generated from
//! this table ([`markdown`]) and a test keeps it current. The examples are checked too: the bad
//! one must trigger its rule against the locked one, the good one must not fail.

use crate::diag::Severity;

/// One evolution rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The stable id, e.g. `version_modified`.
    pub id: &'static str,
    /// `Error` for deny (fails the check), `Warning` for warn (reported).
    pub severity: Severity,
    /// What it detects, in one line.
    pub summary: &'static str,
    /// Why it matters (Markdown).
    pub why: &'static str,
    /// A locked schema, a change that triggers the rule and one that does not.
    pub example: Option<Example>,
    /// How to fix it, and other cases (Markdown).
    pub fix: &'static str,
}

/// A rule's example: three complete schemas.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// The schema as locked (`cargo esdsl lock` was run on it).
    pub locked: &'static str,
    /// A change that triggers the rule.
    pub bad: &'static str,
    /// A change that reaches the same goal without failing the check.
    pub good: &'static str,
}

impl Rule {
    /// `deny` or `warn`.
    pub fn level(&self) -> &'static str {
        match self.severity {
            Severity::Error => "deny",
            Severity::Warning => "warn",
        }
    }

    /// The rule's documentation as Markdown, under a `### ` heading.
    pub fn explain(&self) -> String {
        let mut out = format!(
            "### `{}` ({})\n\n{}\n\n{}\n",
            self.id,
            self.level(),
            self.summary,
            self.why.trim()
        );
        if let Some(example) = &self.example {
            for (title, schema) in [
                ("Locked:", example.locked),
                ("Bad:", example.bad),
                ("Good:", example.good),
            ] {
                out.push_str(&format!("\n{title}\n\n```toml\n{}\n```\n", schema.trim()));
            }
        }
        if !self.fix.trim().is_empty() {
            out.push_str(&format!("\n{}\n", self.fix.trim()));
        }
        out
    }
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The rules section of `docs/evolution.md`: a table of every rule, then each rule's entry.
pub fn markdown() -> String {
    let mut out = String::from("| rule | severity | detects |\n| --- | --- | --- |\n");
    for rule in RULES {
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} |\n",
            rule.id,
            rule.id,
            rule.level(),
            rule.summary.trim_end_matches('.')
        ));
    }
    for rule in RULES {
        out.push('\n');
        out.push_str(&rule.explain());
    }
    out
}

/// An example schema that opens with an aggregate and one of its events:
/// `example_schema!(Account.Deposited r#"..."#)` is `[aggregates.Account]`, `[events.Deposited]`
/// and `aggregate = "Account"`, then the text given (the rest of the event's table and what
/// follows, as written).
macro_rules! example_schema {
    ($aggregate:ident . $event:ident $rest:literal) => {
        concat!(
            "\n[aggregates.",
            stringify!($aggregate),
            "]\n[events.",
            stringify!($event),
            "]\naggregate = \"",
            stringify!($aggregate),
            "\"",
            $rest
        )
    };
}

const DEPOSITED_V1: &str = example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
"#);

const DEPOSITED_V1_V2: &str = example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i32"
[events.Deposited.v2]
amount = "i64"
"#);

const DEPOSITED_V1_TO_V3: &str = example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i32"
[events.Deposited.v2]
amount = "i64"
[events.Deposited.v3]
amount = "i64"
memo = "option<string>"
"#);

/// Every evolution rule, in the order the docs list them.
pub const RULES: &[Rule] = &[
    Rule {
        id: "version_modified",
        severity: Severity::Error,
        summary: "A locked version's fields or types changed in place.",
        why: "Events of a locked version are stored as they were written: each version struct \
              decodes them field by field (by name in JSON, by position in postcard). A field \
              added, removed, renamed, retyped or moved in a locked version makes those \
              payloads fail to decode, or decode into the wrong fields. Even an optional \
              field added in place breaks binary payloads, which have no room for it.",
        example: Some(Example {
            locked: DEPOSITED_V1,
            bad: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
memo = "option<string>"   # added in place: "it is optional, so it is harmless"
"#),
            good: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"            # as locked
[events.Deposited.v2]
amount = "i64"
memo = "option<string>"   # the new shape is a new version: v1 events read `None`
"#),
        }),
        fix: "Undo the change and declare the new shape as a new version. Documentation (`doc`) \
              may change freely; defaults and `renamed_from` have their own rules \
              ([`default_changed`](#default_changed), \
              [`renamed_from_changed`](#renamed_from_changed)).",
    },
    Rule {
        id: "version_removed",
        severity: Severity::Error,
        summary: "A locked version was deleted.",
        why: "Stored events carry their version number. Without the version's table there is \
              no struct to decode them with, and the program refuses to start on such a store \
              (`Repository::new` checks the catalog).",
        example: Some(Example {
            locked: DEPOSITED_V1_V2,
            bad: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i32"
"#),
            good: DEPOSITED_V1_V2,
        }),
        fix: "Keep every locked version. Old versions cost nothing at run time: they are only \
              decoded when such an event is read, then upcast.",
    },
    Rule {
        id: "event_removed",
        severity: Severity::Error,
        summary: "An event with locked versions was deleted instead of marked `retired = true`, \
                  or a stored name was dropped from its `renamed_from`.",
        why: "Events of that type are in the store. A type name no schema knows makes decoding \
              fail (`DecodeError::UnknownType`) and the repository refuse to start. A retired \
              event stays known: typed readers skip it (`Decoded::Skipped`).",
        example: Some(Example {
            locked: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
[events.Audited]
aggregate = "Account"
[events.Audited.v1]
note = "string"
"#),
            bad: DEPOSITED_V1,
            good: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
[events.Audited]
aggregate = "Account"
retired = true            # never written again, skipped when read
[events.Audited.v1]
note = "string"
"#),
        }),
        fix: "Keep the event and its versions and add `retired = true`. For a renamed event, \
              keep every former name in `renamed_from`.",
    },
    Rule {
        id: "version_gap",
        severity: Severity::Error,
        summary: "Versions are not contiguous, or locked versions were renumbered.",
        why: "Versions run 1, 2, 3 without gaps (the schema itself fails with `version_gap` \
              otherwise), and a stored event's version number means the version it was written \
              with. Deleting a version and moving the later ones down makes stored events \
              decode with the wrong struct.",
        example: Some(Example {
            locked: DEPOSITED_V1_TO_V3,
            bad: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i32"
[events.Deposited.v2]      # was v3: v2 "looked unused"
amount = "i64"
memo = "option<string>"
"#),
            good: DEPOSITED_V1_TO_V3,
        }),
        fix: "Restore the versions with their locked numbers; declare changes as the next \
              version.",
    },
    Rule {
        id: "upcast_missing",
        severity: Severity::Error,
        summary: "A step between locked versions is neither automatic nor in `manual_upcasts`.",
        why: "A stored event of version k is decoded as k and upcast step by step to the newest \
              version, so one missing step strands every version before it: the check is \
              transitive. Steps to new versions are reported field by field \
              ([`field_added_without_default`](#field_added_without_default), \
              [`field_type_incompatible`](#field_type_incompatible), \
              [`field_renamed_without_alias`](#field_renamed_without_alias)); this rule \
              reports a step to a locked version that no longer works, typically because its \
              `manual_upcasts` entry was removed.",
        example: Some(Example {
            locked: example_schema!(Account.Deposited r#"
manual_upcasts = [2]
[events.Deposited.v1]
amount = "i32"
[events.Deposited.v2]
amount_cents = "i64"
"#),
            bad: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i32"
[events.Deposited.v2]
amount_cents = "i64"
"#),
            good: example_schema!(Account.Deposited r#"
manual_upcasts = [2]      # the step is written in Rust
[events.Deposited.v1]
amount = "i32"
[events.Deposited.v2]
amount_cents = "i64"
"#),
        }),
        fix: "List the step in `manual_upcasts` and implement \
              `esdsl_runtime::Upcast<v1::Deposited> for v2::Deposited`, or undo the change that \
              broke it.",
    },
    Rule {
        id: "field_added_without_default",
        severity: Severity::Error,
        summary: "A new required field has no default and no rename source.",
        why: "Stored events of the previous version have no value for the field, so the step \
              to the new version cannot be generated.",
        example: Some(Example {
            locked: DEPOSITED_V1,
            bad: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
[events.Deposited.v2]
amount = "i64"
currency = "string"
"#),
            good: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
[events.Deposited.v2]
amount = "i64"
currency = { type = "string", default = "EUR" }
"#),
        }),
        fix: "Give the field a `default`, make it `option<..>` (old events read `None`), name \
              the field it comes from with `renamed_from`, or write the step by hand \
              (`manual_upcasts`).",
    },
    Rule {
        id: "field_type_incompatible",
        severity: Severity::Error,
        summary: "A field's type changes outside the widening table.",
        why: "Automatic steps only convert without loss of meaning: the same type, `i32` -> \
              `i64`, `u32` -> `u64` or `i64`, integers -> `f64`, `T` -> `option<T>`, and the \
              same inside `option`, `list` and `map` (the table is in docs/schema.md). Anything \
              else (narrowing, signedness, `string` -> an enum) needs code.",
        example: Some(Example {
            locked: DEPOSITED_V1,
            bad: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
[events.Deposited.v2]
amount = "string"
"#),
            good: example_schema!(Account.Deposited r#"
manual_upcasts = [2]      # implement Upcast<v1::Deposited> for v2::Deposited
[events.Deposited.v1]
amount = "i64"
[events.Deposited.v2]
amount = "string"
"#),
        }),
        fix: "Keep a type the old one widens to, or write the step by hand.",
    },
    Rule {
        id: "field_type_lossy",
        severity: Severity::Warning,
        summary: "A widening that can lose precision (`i64` -> `f64`, `u64` -> `f64`).",
        why: "An `f64` holds integers exactly only up to 2^53; larger stored values are \
              rounded when old events are upcast.",
        example: Some(Example {
            locked: DEPOSITED_V1,
            bad: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
[events.Deposited.v2]
amount = "f64"
"#),
            good: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
[events.Deposited.v2]
amount = "i64"
rate = "option<f64>"
"#),
        }),
        fix: "Keep an integer type, or accept the rounding (the warning does not fail the \
              check).",
    },
    Rule {
        id: "field_removed",
        severity: Severity::Warning,
        summary: "A field of the previous version is dropped in a new version.",
        why: "Its stored values are discarded when old events are upcast. That is often \
              intended, but it is also what a rename without `renamed_from` looks like.",
        example: Some(Example {
            locked: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
memo = "bool"
"#),
            bad: DEPOSITED_V1_V2_DROPS_MEMO,
            good: example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
memo = "bool"
[events.Deposited.v2]
amount = "i64"
memo = "bool"
note = "option<string>"
"#),
        }),
        fix: "Keep the field, or accept that old values are dropped (the warning does not fail \
              the check). A renamed field takes its value with `renamed_from`.",
    },
    Rule {
        id: "field_renamed_without_alias",
        severity: Severity::Error,
        summary: "A field is removed and one of the same (or a wider) type added, without \
                  `renamed_from`.",
        why: "The new field would start empty (or fail the step) while the old field's stored \
              values are dropped: almost always a rename that forgot `renamed_from`.",
        example: Some(Example {
            locked: example_schema!(Account.Opened r#"
[events.Opened.v1]
title = "string"
"#),
            bad: example_schema!(Account.Opened r#"
[events.Opened.v1]
title = "string"
[events.Opened.v2]
name = "string"
"#),
            good: example_schema!(Account.Opened r#"
[events.Opened.v1]
title = "string"
[events.Opened.v2]
name = { type = "string", renamed_from = "title" }
"#),
        }),
        fix: "Add `renamed_from`. If the fields are really unrelated, drop the old one and add \
              the new one in separate versions, or write the step by hand.",
    },
    Rule {
        id: "enum_variant_removed",
        severity: Severity::Error,
        summary: "A variant was removed from an enum that a locked version uses.",
        why: "Stored events may hold the variant; without it they no longer decode.",
        example: Some(Example {
            locked: OPENED_WITH_CURRENCY,
            bad: example_schema!(Account.Opened r#"
[events.Opened.v1]
currency = "Currency"
[enums.Currency]
variants = ["eur", "usd"]
"#),
            good: example_schema!(Account.Opened r#"
[events.Opened.v1]
currency = "Currency"
[enums.Currency]
variants = ["eur", "usd", "gbp", "chf"]   # new variants go at the end
"#),
        }),
        fix: "Restore the variant. Adding variants at the end is always allowed.",
    },
    Rule {
        id: "type_modified",
        severity: Severity::Error,
        summary: "A record type or enum that a locked version uses changed incompatibly.",
        why: "Records and enums are not versioned: stored events hold them as they were \
              locked. A record's fields may not change at all; an enum may only gain variants \
              at its end, because binary payloads (postcard) store a variant by its position, \
              so a variant inserted before the end, or reordered, changes what stored events \
              mean. Types no locked version uses may change freely.",
        example: Some(Example {
            locked: example_schema!(Sensor.Placed r#"
[events.Placed.v1]
location = "Location"
[types.Location]
lat = "f64"
lon = "f64"
"#),
            bad: example_schema!(Sensor.Placed r#"
[events.Placed.v1]
location = "Location"
[types.Location]
lat = "f64"
lon = "f64"
altitude = "f64"
"#),
            good: example_schema!(Sensor.Placed r#"
[events.Placed.v1]
location = "Location"
[events.Placed.v2]
location = "Location"
altitude = "option<f64>"
[types.Location]
lat = "f64"
lon = "f64"
"#),
        }),
        fix: "Leave the type as locked: add the data to a new event version, or declare a new \
              type for new versions.",
    },
    Rule {
        id: "event_moved_aggregate",
        severity: Severity::Error,
        summary: "An event moved to another aggregate.",
        why: "Stored events live in the streams of the aggregate they were written for \
              (`Account-<id>`); the other aggregate's event enum would never see them, and the \
              first one could no longer decode them.",
        example: Some(Example {
            locked: r#"
[aggregates.Account]
[aggregates.Customer]
[events.Renamed]
aggregate = "Account"
[events.Renamed.v1]
name = "string"
"#,
            bad: r#"
[aggregates.Account]
[aggregates.Customer]
[events.Renamed]
aggregate = "Customer"
[events.Renamed.v1]
name = "string"
"#,
            good: r#"
[aggregates.Account]
[aggregates.Customer]
[events.Renamed]
aggregate = "Account"
retired = true
[events.Renamed.v1]
name = "string"
[events.CustomerRenamed]
aggregate = "Customer"
[events.CustomerRenamed.v1]
name = "string"
"#,
        }),
        fix: "Keep the event in its aggregate (retire it if it is no longer written) and \
              declare a new event in the other one.",
    },
    Rule {
        id: "retired_name_reused",
        severity: Severity::Error,
        summary: "A retired or `renamed_from` name is reused for a new event.",
        why: "A stored name identifies what was stored. Events stored under a retired name, or \
              under an event's former name, would decode as the new event. This also covers \
              declaring a retired event live again: retiring is final.",
        example: Some(Example {
            locked: example_schema!(Account.Audited r#"
retired = true
[events.Audited.v1]
note = "string"
"#),
            bad: example_schema!(Account.Audited r#"
[events.Audited.v1]
note = "string"
"#),
            good: example_schema!(Account.Audited r#"
retired = true
[events.Audited.v1]
note = "string"
[events.AuditNoted]
aggregate = "Account"
[events.AuditNoted.v1]
note = "string"
"#),
        }),
        fix: "Give the new event a name never stored before.",
    },
    Rule {
        id: "default_changed",
        severity: Severity::Warning,
        summary: "A default edited in a locked version (it changes how old events read).",
        why: "A default fills a field for events of the previous version when they are upcast. \
              Changing it changes what every such stored event reads as, which may be a fix \
              or a surprise.",
        example: Some(Example {
            locked: OPENED_V2_DEFAULT_EUR,
            bad: example_schema!(Account.Opened r#"
[events.Opened.v1]
owner = "string"
[events.Opened.v2]
owner = "string"
currency = { type = "string", default = "USD" }
"#),
            good: OPENED_V2_DEFAULT_EUR,
        }),
        fix: "Restore the locked default, or keep the change on purpose: `cargo esdsl lock` \
              records it and the warning goes away.",
    },
    Rule {
        id: "renamed_from_changed",
        severity: Severity::Warning,
        summary: "A field's `renamed_from` edited in a locked version (it changes how old events \
                  read).",
        why: "`renamed_from` says which field of the previous version fills this one when \
              stored events are upcast; changing it changes what they read as.",
        example: Some(Example {
            locked: OPENED_V2_RENAMED,
            bad: example_schema!(Account.Opened r#"
[events.Opened.v1]
title = "string"
label = "string"
[events.Opened.v2]
name = { type = "string", renamed_from = "label" }
"#),
            good: OPENED_V2_RENAMED,
        }),
        fix: "Restore the locked `renamed_from`, or keep the change on purpose: `cargo esdsl \
              lock` records it.",
    },
    Rule {
        id: "forward_field_removed",
        severity: Severity::Error,
        summary: "A new version of a forward-compatible event drops or renames a field older programs read.",
        why: "An event declared `forward` or `full` (`compatibility`, in the file or on the \
              event) promises that a program built from the previous schema reads events \
              written at the new version, by decoding them as the version it knows. That \
              program needs every field it knows, under the same name, in either codec. The \
              `_transitive` modes compare the new version with every older one, not only the \
              previous.",
        example: Some(Example {
            locked: FORWARD_V1,
            bad: example_schema!(Account.Deposited r#"
compatibility = "forward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "i64"
"#),
            good: example_schema!(Account.Deposited r#"
compatibility = "forward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "i64"
memo = "string"
reference = "option<string>"
"#),
        }),
        fix: "Keep the field and add new ones. A change that must drop a field is only backward \
              compatible: ship it in two deploys (see [Rolling upgrades](#rolling-upgrades)).",
    },
    Rule {
        id: "forward_field_retyped",
        severity: Severity::Error,
        summary: "A new version of a forward-compatible event changes a field's type.",
        why: "Older programs decode the field with the type they know. Even a widening \
              (`i32` -> `i64`) breaks them: a value that no longer fits is an error, and postcard \
              encodes the two types differently.",
        example: Some(Example {
            locked: FORWARD_V1,
            bad: example_schema!(Account.Deposited r#"
compatibility = "forward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "f64"
memo = "string"
"#),
            good: example_schema!(Account.Deposited r#"
compatibility = "forward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "i64"
memo = "string"
exact_amount = { type = "f64", default = 0.0 }
"#),
        }),
        fix: "Keep the field's type and add the new type as a new field.",
    },
    Rule {
        id: "forward_field_not_appended",
        severity: Severity::Error,
        summary: "A new version of an event forward compatible for postcard does not only append fields.",
        why: "Postcard is not self-describing: it stores fields by position, without names. An \
              older program reads a newer postcard payload by decoding its own fields from the \
              front and ignoring the bytes after them, so the new version must start with the \
              older fields, in the same order, and add fields only at the end. JSON stores names \
              and ignores keys it does not know, so a promise limited to JSON \
              (`compatibility = { mode = \"forward\", codecs = [\"json\"] }`) allows new fields \
              anywhere.",
        example: Some(Example {
            locked: FORWARD_V1,
            bad: example_schema!(Account.Deposited r#"
compatibility = "forward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "i64"
currency = { type = "string", default = "EUR" }
memo = "string"
"#),
            good: example_schema!(Account.Deposited r#"
compatibility = "forward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "i64"
memo = "string"
currency = { type = "string", default = "EUR" }
"#),
        }),
        fix: "Move the new fields to the end, or, when every payload of the event is JSON, \
              write `codecs = [\"json\"]`.",
    },
    Rule {
        id: "forward_enum_extended",
        severity: Severity::Error,
        summary: "An enum a forward-compatible event uses gained variants.",
        why: "Adding variants at the end is backward compatible, but a program built before the \
              change fails on a payload holding a variant it does not know, in either codec.",
        example: Some(Example {
            locked: FORWARD_OPENED,
            bad: example_schema!(Account.Opened r#"
compatibility = "forward"
[events.Opened.v1]
currency = "Currency"
[enums.Currency]
variants = ["eur", "usd", "gbp"]
"#),
            good: example_schema!(Account.Opened r#"
compatibility = "forward"
[events.Opened.v1]
currency = "Currency"
[enums.Currency]
variants = ["eur", "usd"]
"#),
        }),
        fix: "Keep the enum as locked and carry new values in a new field (of a new enum), or \
              ship the change as only backward compatible, in two deploys.",
    },
    Rule {
        id: "full_upcast_manual",
        severity: Severity::Error,
        summary: "The step to a new version of a `full` event is written by hand.",
        why: "`full` is `forward` plus a promise about the other direction: newer programs \
              read older events through a generated step (new fields have a default or are \
              `option<..>`), so no hand-written code decides what old events mean.",
        example: Some(Example {
            locked: FULL_V1,
            bad: example_schema!(Account.Deposited r#"
compatibility = "full"
manual_upcasts = [2]
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "i64"
memo = "string"
currency = "string"
"#),
            good: example_schema!(Account.Deposited r#"
compatibility = "full"
[events.Deposited.v1]
amount = "i64"
memo = "string"
[events.Deposited.v2]
amount = "i64"
memo = "string"
currency = { type = "string", default = "EUR" }
"#),
        }),
        fix: "Give the new fields defaults (or `option<..>` types) so the step is generated, or \
              declare the event `forward`.",
    },
    Rule {
        id: "compatibility_weakened",
        severity: Severity::Error,
        summary: "An event's compatibility mode promises less than it was locked with.",
        why: "Programs built from the locked schema already run on its promise: a `forward` \
              event's decoders read one version ahead. Weakening the mode (`forward` to \
              `backward`, a transitive mode to a plain one, fewer `codecs`) would let the next \
              version break them. Strengthening is fine, and recorded in the lock.",
        example: Some(Example {
            locked: FORWARD_V1,
            bad: example_schema!(Account.Deposited r#"
compatibility = "backward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
"#),
            good: example_schema!(Account.Deposited r#"
compatibility = "full"
[events.Deposited.v1]
amount = "i64"
memo = "string"
"#),
        }),
        fix: "Keep the mode. If no program built with the promise runs any more, the promise \
              can only be dropped by starting a new event type.",
    },
    Rule {
        id: "lock_out_of_date",
        severity: Severity::Error,
        summary: "Versions or types in the schemas that the lock does not have.",
        why: "The lock is the baseline the next change is checked against: a version missing \
              from it could later be edited in place unnoticed. New events, versions, types \
              and enums, new enum variants, renames, retirements and edited defaults all need \
              a lock entry. Also reported when the lock file does not exist.",
        example: None,
        fix: "Run `cargo esdsl lock` and commit the lock with the schema change. It refuses \
              to write while the check finds any other deny finding, so an incompatible \
              change cannot be locked in.\n\n\
              ```text\n\
              error[lock_out_of_date]: version 2 of event `Deposited` is not in the lock\n \
              --> schemas/bank.toml:6:1\n  \
              |\n\
              6 | [events.Deposited.v2]\n  \
              | ^^^^^^^^^^^^^^^^^^^^^ not in the lock\n  \
              |\n  \
              = help: run `cargo esdsl lock` and commit `schemas/esdsl.lock`\n\
              ```",
    },
    Rule {
        id: "lock_history_rewritten",
        severity: Severity::Error,
        summary: "Lock entries edited or removed compared with `--against`.",
        why: "Entries are only ever appended, so the lock of a branch starts with every entry \
              of the lock at the base ref, unchanged and in order. A lock regenerated from \
              scratch, edited by hand or merged badly loses the baseline that protects stored \
              events.",
        example: None,
        fix: "Take the base ref's lock (`git checkout origin/main -- schemas/esdsl.lock`) and \
              run `cargo esdsl lock` to append this branch's entries. After a rebase, do the \
              same: entries another branch merged first come before yours.",
    },
    Rule {
        id: "stored_version_undeclared",
        severity: Severity::Error,
        summary: "The store holds a (type, version) the schemas cannot decode.",
        why: "`--against-store <dir>` reads the store's catalog: every (aggregate, event type, \
              version) stored must belong to an event of that aggregate (by name or \
              `renamed_from`) that declares the version, or a newer version the event is \
              forward compatible to (`compatibility`). Otherwise the repository refuses to \
              start on that store.",
        example: None,
        fix: "Declare the missing version or event as it was written (retired if it is never \
              written again), or point the check at the right store.\n\n\
              ```text\n\
              error[stored_version_undeclared]: `data` holds 12 `Deposited` v3 events of \
              aggregate `Account`, but event `Deposited` declares v1 to v2\n\
              ```",
    },
];

const FORWARD_V1: &str = example_schema!(Account.Deposited r#"
compatibility = "forward"
[events.Deposited.v1]
amount = "i64"
memo = "string"
"#);

const FULL_V1: &str = example_schema!(Account.Deposited r#"
compatibility = "full"
[events.Deposited.v1]
amount = "i64"
memo = "string"
"#);

const FORWARD_OPENED: &str = example_schema!(Account.Opened r#"
compatibility = "forward"
[events.Opened.v1]
currency = "Currency"
[enums.Currency]
variants = ["eur", "usd"]
"#);

const DEPOSITED_V1_V2_DROPS_MEMO: &str = example_schema!(Account.Deposited r#"
[events.Deposited.v1]
amount = "i64"
memo = "bool"
[events.Deposited.v2]
amount = "i64"
"#);

const OPENED_WITH_CURRENCY: &str = example_schema!(Account.Opened r#"
[events.Opened.v1]
currency = "Currency"
[enums.Currency]
variants = ["eur", "usd", "gbp"]
"#);

const OPENED_V2_DEFAULT_EUR: &str = example_schema!(Account.Opened r#"
[events.Opened.v1]
owner = "string"
[events.Opened.v2]
owner = "string"
currency = { type = "string", default = "EUR" }
"#);

const OPENED_V2_RENAMED: &str = example_schema!(Account.Opened r#"
[events.Opened.v1]
title = "string"
label = "string"
[events.Opened.v2]
name = { type = "string", renamed_from = "title" }
"#);
