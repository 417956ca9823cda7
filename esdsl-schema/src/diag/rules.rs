//! The rule id of every problem a schema or a lock file can have (the evolution rules are in
//! [`crate::evolve::RULES`]): what each means and how to fix it. `cargo esdsl check --explain`
//! prints them, and the diagnostics table of `docs/schema.md` lists them.

/// A schema (or lock file) rule: a problem that makes the file invalid.
#[derive(Debug, Clone, Copy)]
pub struct SchemaRule {
    /// The stable id, e.g. `unknown_type`.
    pub id: &'static str,
    /// What it detects, in one line (Markdown).
    pub summary: &'static str,
    /// How to fix it (Markdown).
    pub fix: &'static str,
}

impl SchemaRule {
    /// The rule's documentation as Markdown, under a `### ` heading, as
    /// [`Rule::explain`](crate::evolve::Rule::explain) gives an evolution rule's.
    pub fn explain(&self) -> String {
        format!(
            "### `{}` (schema error)\n\n{}\n\n{}\n",
            self.id, self.summary, self.fix
        )
    }
}

/// The schema rule with this id.
pub fn schema_rule(id: &str) -> Option<&'static SchemaRule> {
    SCHEMA_RULES.iter().find(|r| r.id == id)
}

/// Every schema rule, in the order `docs/schema.md` lists them.
pub const SCHEMA_RULES: &[SchemaRule] = &[
    SchemaRule {
        id: "invalid_toml",
        summary: "The file is not valid TOML, or not UTF-8 text (TOML files are UTF-8).",
        fix: "Fix the syntax at the caret; when the file is not UTF-8, convert it (e.g. with \
              `iconv -t UTF-8`). Only the syntax errors are reported until the file parses.",
    },
    SchemaRule {
        id: "unknown_key",
        summary: "A key that is not allowed where it stands (top level, aggregate, event, field \
                  table), or `default` / `renamed_from` on a record field.",
        fix: "Remove the key or fix its spelling (the help names the nearest allowed key). \
              `default` and `renamed_from` belong on event fields: record types have no versions.",
    },
    SchemaRule {
        id: "invalid_value",
        summary: "A key holds the wrong kind of value (e.g. `retired = \"yes\"`, a field that is \
                  neither a type string nor an inline table).",
        fix: "Give the key the kind of value it takes: a boolean for `retired`, a type string or \
              `{ type = \"...\" }` for a field, an array of numbers for `manual_upcasts`.",
    },
    SchemaRule {
        id: "missing_key",
        summary: "A required key is missing: an event's `aggregate`, an enum's `variants`, a field \
                  table's `type`.",
        fix: "Add the key, e.g. `aggregate = \"Account\"` in `[events.Deposited]`.",
    },
    SchemaRule {
        id: "invalid_version",
        summary: "A key that looks like a version but is not `v1`, `v2`, ... (`V2`, `v02`, `v0`).",
        fix: "Name versions `v` and a number from 1, without leading zeros.",
    },
    SchemaRule {
        id: "version_gap",
        summary: "An event has no versions, or its versions do not run 1, 2, 3, ... without gaps.",
        fix: "Add the missing versions or renumber the tables. A missing version that is locked \
              was deleted: restore it as locked, or its stored events can no longer be decoded.",
    },
    SchemaRule {
        id: "invalid_name",
        summary: "A name breaks the naming rules (ASCII, UpperCamelCase or snake_case, no \
                  keyword), an enum variant does not make a Rust identifier, or a stored name in \
                  `renamed_from` is empty.",
        fix: "Rename it as the help suggests: `AccountOpened` for events and types, \
              `amount_cents` for fields, `type_` for a keyword.",
    },
    SchemaRule {
        id: "duplicate_name",
        summary: "A name is declared twice, takes a generated `XEvent`/`XId` name, a stored event \
                  name is used by two events, or two enum variants become the same Rust name.",
        fix: "Rename or remove one of the two.",
    },
    SchemaRule {
        id: "unknown_type",
        summary: "A field type is not a scalar, `option`/`list`/`map`, or a declared type or \
                  enum; or an aggregate `id` is not an id type.",
        fix: "Use a scalar (`string`, `i64`, `bool`, ...), declare the type in `[types.*]` or \
              `[enums.*]`, or fix the spelling (the help names the nearest type). Ids are \
              `uuid`, `string`, `u64` or `i64`.",
    },
    SchemaRule {
        id: "invalid_type",
        summary: "A type string is malformed (`map<string, i64>`, `list<i64`, `option<>`).",
        fix: "Write `option<T>`, `list<T>` or `map<T>` (map keys are strings) with one type \
              inside.",
    },
    SchemaRule {
        id: "type_too_deep",
        summary: "A type nests more than 32 `option`, `list` and `map` types.",
        fix: "Nest less, or name an inner part as a record type.",
    },
    SchemaRule {
        id: "invalid_default",
        summary: "A `default` does not fit the field's type.",
        fix: "Give a value of the field's type: a number in range, a declared enum variant, an \
              RFC 3339 timestamp, a UUID.",
    },
    SchemaRule {
        id: "empty_enum",
        summary: "An enum has `variants = []`.",
        fix: "List at least one variant.",
    },
    SchemaRule {
        id: "recursive_type",
        summary: "A record contains itself by value.",
        fix: "Break the cycle with `list<..>` or `map<..>`, or remove the field.",
    },
    SchemaRule {
        id: "unknown_aggregate",
        summary: "An event's `aggregate` names no declared aggregate.",
        fix: "Declare the aggregate with `[aggregates.Name]`, or fix the spelling.",
    },
    SchemaRule {
        id: "unknown_rename_source",
        summary: "A field's `renamed_from` is on a first version (or a record field), or names no \
                  field of the previous version.",
        fix: "Name a field of the version before; remove `renamed_from` from a first version.",
    },
    SchemaRule {
        id: "invalid_manual_upcast",
        summary: "A number in `manual_upcasts` is not a step of the event (must be 2 to the \
                  newest version).",
        fix: "List the versions a step leads to: `manual_upcasts = [3]` is the v2 -> v3 step.",
    },
    SchemaRule {
        id: "upcast_missing",
        summary: "A step not listed in `manual_upcasts` cannot be generated: a field's type \
                  change is not a widening, or a new required field has no default.",
        fix: "Give the new field a `default` (or make it an `option`), keep the type change \
              within the widening table, or list the step in `manual_upcasts` and write it.",
    },
    SchemaRule {
        id: "invalid_lock",
        summary: "The lock file is not a lock this version can read: invalid TOML, unknown or \
                  missing keys, or an entry edited by hand (its fingerprint does not match).",
        fix: "The lock is written by `cargo esdsl lock` and only ever appended to: restore it \
              from git (`git checkout -- schemas/esdsl.lock`) and run `cargo esdsl lock` again.",
    },
];
