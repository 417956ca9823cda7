//! `cargo esdsl check` and `cargo esdsl lock`: one fixture per rule that fires and per allowed
//! change, the output formats, the baselines and the docs.
//!
//! Each directory of `tests/fixtures/evolution/` is a case:
//!
//! - `before.toml`: the schema at the baseline, saved as `schemas/events.toml`;
//! - `esdsl.lock`: its lock, exactly what `cargo esdsl lock` writes for it;
//! - `after.toml`: the changed schema, checked;
//! - `after.lock` (optional): the lock of the working tree after the change, as `cargo esdsl
//!   lock` writes it for `after.toml` from scratch;
//! - `expected`: directives, the exit code and every finding, as `rule file:line:column`:
//!   - `against`: `before.toml` and `esdsl.lock` are committed in a git repository and the
//!     check runs with `--against HEAD`, as a pull request's CI would;
//!   - `lock-first`: `cargo esdsl lock` runs (and must succeed) before the check;
//!   - `no-lock`: there is no lock file;
//!   - `store AGGREGATE TYPE VERSION`: the store holds such an event (`--against-store`).
//!
//! `ESDSL_BLESS=1 cargo test -p esdsl-tests evolution` rewrites the locks, the findings of each
//! `expected` and the rules section of `docs/evolution.md`; review the diff like code.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli;
use esdsl_runtime::Codec;
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata, NewEvent};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn fixtures() -> PathBuf {
    workspace().join("tests/fixtures/evolution")
}

fn bless() -> bool {
    std::env::var_os("ESDSL_BLESS").is_some()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn git(root: &Path, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "-c",
            "user.name=esdsl",
            "-c",
            "user.email=esdsl@example.com",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What `cargo esdsl lock` writes for one schema saved as `schemas/events.toml`.
fn lock_of(schema: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let schemas = dir.path().join("schemas");
    write(&schemas.join("events.toml"), schema);
    let (code, out, err) = cli(&["lock", path_str(&schemas)]);
    assert_eq!(code, 0, "{out}{err}");
    read(&schemas.join("esdsl.lock"))
}

/// A finding of `--format json` as `rule file:line:column`, the file relative to `root`.
fn finding_line(finding: &serde_json::Value, root: &Path) -> String {
    let rule = finding["rule"].as_str().expect("rule");
    let file = match finding["file"].as_str() {
        Some(file) => {
            let root = format!("{}/", root.display());
            file.strip_prefix(&root).unwrap_or(file).to_owned()
        }
        None => "-".to_owned(),
    };
    match (finding["line"].as_u64(), finding["column"].as_u64()) {
        (Some(line), Some(column)) => format!("{rule} {file}:{line}:{column}"),
        _ => format!("{rule} {file}"),
    }
}

struct Outcome {
    exit: u8,
    findings: Vec<String>,
    human: String,
}

/// Runs one fixture case in a fresh directory.
fn run_case(case: &Path, directives: &[String]) -> Outcome {
    let has = |d: &str| directives.iter().any(|x| x == d);
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(tmp.path()).expect("canonical temp dir");
    let schemas = root.join("schemas");
    write(
        &schemas.join("events.toml"),
        &read(&case.join("before.toml")),
    );
    if !has("no-lock") {
        write(&schemas.join("esdsl.lock"), &read(&case.join("esdsl.lock")));
    }
    if has("against") {
        git(&root, &["init", "-q"]);
        git(&root, &["add", "."]);
        git(&root, &["commit", "-q", "-m", "baseline"]);
    }
    write(
        &schemas.join("events.toml"),
        &read(&case.join("after.toml")),
    );
    if case.join("after.lock").exists() {
        write(&schemas.join("esdsl.lock"), &read(&case.join("after.lock")));
    }
    if has("lock-first") {
        let (code, out, err) = cli(&["lock", path_str(&schemas)]);
        assert_eq!(
            code,
            0,
            "{}: cargo esdsl lock failed\n{out}{err}",
            case.display()
        );
    }
    let store = root.join("store");
    let stored: Vec<Vec<&str>> = directives
        .iter()
        .filter_map(|d| d.strip_prefix("store "))
        .map(|d| d.split(' ').collect())
        .collect();
    if !stored.is_empty() {
        let db = LmdbStore::open(&store).expect("store opens");
        for (n, row) in stored.iter().enumerate() {
            let [aggregate, event_type, version] = row.as_slice() else {
                panic!("{}: `store AGGREGATE TYPE VERSION`", case.display());
            };
            let event = NewEvent {
                event_type: (*event_type).to_owned().into(),
                schema_version: version.parse().expect("a version number"),
                codec: Codec::Json,
                payload: b"{}".to_vec(),
            };
            let stream = format!("{aggregate}-{n}");
            db.append(
                &stream,
                ExpectedVersion::Any,
                vec![event],
                &Metadata::default(),
            )
            .expect("append");
        }
    }

    let mut args = vec!["check", path_str(&schemas)];
    if has("against") {
        args.extend(["--against", "HEAD"]);
    }
    if !stored.is_empty() {
        args.extend(["--against-store", path_str(&store)]);
    }
    let (exit, json, err) = cli(&[args.as_slice(), &["--format", "json"]].concat());
    let parsed: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{json}{err}", case.display()));
    let findings = parsed
        .as_array()
        .expect("an array of findings")
        .iter()
        .map(|f| finding_line(f, &root))
        .collect();
    let (human_exit, _, human) = cli(&args);
    assert_eq!(human_exit, exit, "every format exits alike");
    Outcome {
        exit,
        findings,
        human,
    }
}

#[test]
fn every_fixture_case_has_its_exit_code_rules_and_locations() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut fired = std::collections::BTreeSet::new();
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        // The committed locks are exactly what `cargo esdsl lock` writes.
        let lock = lock_of(&read(&case.join("before.toml")));
        if bless() {
            write(&case.join("esdsl.lock"), &lock);
            if case.join("after.lock").exists() {
                write(
                    &case.join("after.lock"),
                    &lock_of(&read(&case.join("after.toml"))),
                );
            }
        }
        assert_eq!(
            read(&case.join("esdsl.lock")),
            lock,
            "{name}/esdsl.lock is stale"
        );
        if case.join("after.lock").exists() {
            let after = lock_of(&read(&case.join("after.toml")));
            assert_eq!(
                read(&case.join("after.lock")),
                after,
                "{name}/after.lock is stale"
            );
        }

        let expected = read(&case.join("expected"));
        let lines: Vec<String> = expected
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        let exit_line = lines
            .iter()
            .position(|l| l.starts_with("exit "))
            .unwrap_or_else(|| panic!("{name}/expected has no `exit N` line"));
        let directives = &lines[..exit_line];
        let outcome = run_case(case, directives);
        let actual_exit = format!("exit {}", outcome.exit);
        if bless() {
            let mut text: Vec<String> = directives.to_vec();
            text.push(actual_exit.clone());
            text.extend(outcome.findings.iter().cloned());
            write(&case.join("expected"), &(text.join("\n") + "\n"));
        }
        let expected_findings = &lines[exit_line + 1..];
        if lines[exit_line] != actual_exit || expected_findings != outcome.findings.as_slice() {
            failures.push(format!(
                "{name}: expected\n  {}\n  {}\nfound\n  {actual_exit}\n  {}\n{}",
                lines[exit_line],
                expected_findings.join("\n  "),
                outcome.findings.join("\n  "),
                outcome.human
            ));
        }
        if name.starts_with("allowed_") {
            assert!(
                outcome.exit == 0 && outcome.findings.is_empty(),
                "{name}: an allowed change must pass without findings"
            );
        }
        for finding in &outcome.findings {
            let rule = finding.split(' ').next().unwrap_or_default().to_owned();
            fired.insert(rule);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for rule in esdsl_schema::evolve::RULES {
        assert!(fired.contains(rule.id), "no fixture fires `{}`", rule.id);
    }
    for allowed in [
        "allowed_new_version_optional_field",
        "allowed_new_version_with_default",
        "allowed_widening",
        "allowed_rename_with_alias",
        "allowed_new_event",
        "allowed_new_enum_variant",
        "allowed_retire_event",
        "allowed_manual_upcast",
    ] {
        assert!(
            fixtures().join(allowed).is_dir(),
            "missing fixture {allowed}"
        );
    }
}

/// A temp directory with `schemas/events.toml` (the case's `after.toml`) and the case's
/// `esdsl.lock`.
fn after_with_lock(case: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(tmp.path()).expect("canonical temp dir");
    let dir = fixtures().join(case);
    write(
        &root.join("schemas/events.toml"),
        &read(&dir.join("after.toml")),
    );
    write(
        &root.join("schemas/esdsl.lock"),
        &read(&dir.join("esdsl.lock")),
    );
    (tmp, root)
}

#[test]
fn human_output_is_compiler_style_with_a_caret_into_the_toml() {
    let (_tmp, root) = after_with_lock("version_modified");
    let schemas = root.join("schemas");
    let (code, out, err) = cli(&["check", path_str(&schemas)]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "");
    let file = format!("{}/events.toml", schemas.display());
    let lock = format!("{}/esdsl.lock", schemas.display());
    assert_eq!(
        err,
        format!(
            "error[version_modified]: field `amount` of locked v1 of event `Deposited` changed \
             type from `i64` to `i32`
 --> {file}:8:10
  |
8 | amount = \"i32\"
  |          ^^^^^ locked as `i64`
  |
  = help: stored v1 events were written with the locked fields: undo the change and declare \
             the new shape as a new version (v2)

error: 1 deny finding in 1 schema file against `{lock}`
"
        )
    );
}

#[test]
fn machine_formats_carry_rule_location_and_help() {
    let (_tmp, root) = after_with_lock("field_added_without_default");
    let schemas = root.join("schemas");
    let file = format!("{}/events.toml", schemas.display());

    let (code, out, _) = cli(&["check", path_str(&schemas), "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        json,
        serde_json::json!([{
            "rule": "field_added_without_default",
            "severity": "deny",
            "event": "Deposited",
            "version": 2,
            "field": "currency",
            "message": "field `currency` is new in v2 of event `Deposited`, required and has no default",
            "help": "give it a `default`, make it an `option<..>`, name the field it comes from with \
                     `renamed_from`, or write the step by hand with `manual_upcasts = [2]`",
            "file": file,
            "line": 14,
            "column": 1,
            "end_line": 14,
            "end_column": 9,
        }])
    );

    let (code, out, _) = cli(&["check", path_str(&schemas), "--format", "github"]);
    assert_eq!(code, 1);
    let escaped = file.replace(':', "%3A").replace(',', "%2C");
    assert_eq!(
        out,
        format!(
            "::error file={escaped},line=14,col=1,endLine=14,endColumn=9,title=esdsl \
             field_added_without_default::field `currency` is new in v2 of event `Deposited`, \
             required and has no default%0Ahelp: give it a `default`, make it an `option<..>`, \
             name the field it comes from with `renamed_from`, or write the step by hand with \
             `manual_upcasts = [2]`\n"
        )
    );

    let (code, out, _) = cli(&["check", path_str(&schemas), "--format", "sarif"]);
    assert_eq!(code, 1);
    let sarif: serde_json::Value = serde_json::from_str(&out).expect("sarif is json");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "cargo-esdsl");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), esdsl_schema::evolve::RULES.len());
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "field_added_without_default");
    assert_eq!(result["level"], "error");
    let index = result["ruleIndex"].as_u64().expect("index") as usize;
    assert_eq!(rules[index]["id"], "field_added_without_default");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["region"]["startLine"], 14);
    assert_eq!(location["region"]["startColumn"], 1);
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .is_some_and(|uri| uri.ends_with("schemas/events.toml"))
    );
}

#[test]
fn warnings_alone_pass() {
    // The lossy widening of `field_type_lossy`, checked against a lock that lacks v2, would
    // also be `lock_out_of_date`; once locked, only a `--against` baseline still shows it.
    let (_tmp, root) = after_with_lock("field_type_lossy");
    let schemas = root.join("schemas");
    let (code, out, err) = cli(&["lock", path_str(&schemas)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("warning[field_type_lossy]"), "{err}");
    assert_eq!(
        out,
        format!(
            "wrote {}/esdsl.lock (1 entry added, 3 in all)\n",
            schemas.display()
        )
    );
    let (code, out, err) = cli(&["check", path_str(&schemas)]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        format!(
            "checked 1 schema file against `{}/esdsl.lock`: no findings\n",
            schemas.display()
        )
    );
    let (code, out, _) = cli(&["lock", path_str(&schemas)]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("{}/esdsl.lock is up to date\n", schemas.display())
    );
}

#[test]
fn lock_refuses_a_change_that_strands_stored_events() {
    let (_tmp, root) = after_with_lock("version_modified");
    let schemas = root.join("schemas");
    let before = read(&schemas.join("esdsl.lock"));
    let (code, out, err) = cli(&["lock", path_str(&schemas)]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("error[version_modified]"), "{err}");
    assert!(err.contains("error: not writing"), "{err}");
    assert_eq!(
        read(&schemas.join("esdsl.lock")),
        before,
        "the lock is untouched"
    );

    let (code, out, err) = cli(&["lock", path_str(&schemas), "--format", "json"]);
    assert_eq!((code, err.as_str()), (1, ""));
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json[0]["rule"], "version_modified");
    assert_eq!(json[0]["line"], 8);
    assert_eq!(read(&schemas.join("esdsl.lock")), before);
}

/// A schema with `events` events of one aggregate, two versions each.
fn many_events(events: usize, v1_type: &str) -> String {
    let mut out = String::from("[aggregates.Account]\n");
    for e in 0..events {
        out.push_str(&format!(
            "[events.Event{e}]\naggregate = \"Account\"\n[events.Event{e}.v1]\n\
             count = \"{v1_type}\"\n[events.Event{e}.v2]\ncount = \"i64\"\n"
        ));
    }
    out
}

/// The check of a large schema reports every finding where it is (its time is measured by
/// hand: see esdsl-cli/scripts/large_schema.py).
#[test]
fn a_large_schema_is_checked_finding_by_finding() {
    const EVENTS: usize = 1500;
    let tmp = tempfile::tempdir().expect("temp dir");
    let schemas = tmp.path().join("schemas");
    write(&schemas.join("many.toml"), &many_events(EVENTS, "i32"));
    let (code, out, err) = cli(&["lock", path_str(&schemas)]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(&["check", path_str(&schemas)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with(": no findings\n"), "{out}");

    write(&schemas.join("many.toml"), &many_events(EVENTS, "u32"));
    let (code, out, _) = cli(&["check", path_str(&schemas), "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let findings = json.as_array().expect("array");
    assert_eq!(findings.len(), EVENTS);
    for (e, finding) in findings.iter().enumerate() {
        assert_eq!(finding["rule"], "version_modified");
        assert_eq!(finding["event"], format!("Event{e}"));
        // Each event takes 6 lines after the aggregate's; `count` is the 4th.
        assert_eq!(finding["line"], 2 + 6 * e + 3, "{finding}");
    }
}

#[test]
fn an_invalid_schema_is_reported_and_the_rules_do_not_run() {
    let (_tmp, root) = after_with_lock("version_modified");
    let schemas = root.join("schemas");
    write(
        &schemas.join("events.toml"),
        "[aggregates.Account]\nid = \"uuid\"\n[events.Deposited]\naggregate = \"Acount\"\n[events.Deposited.v1]\n",
    );
    let (code, out, _) = cli(&["check", path_str(&schemas), "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let rules: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert_eq!(rules, ["unknown_aggregate"]);
    let (code, _, err) = cli(&["check", path_str(&schemas)]);
    assert_eq!(code, 1);
    assert!(
        err.ends_with("error: 1 of the schema files is invalid; the evolution rules did not run\n"),
        "{err}"
    );
}

#[test]
fn a_deleted_locked_first_version_says_its_stored_events_are_stranded() {
    let (_tmp, root) = after_with_lock("version_removed");
    let schemas = root.join("schemas");
    write(
        &schemas.join("events.toml"),
        "[aggregates.Account]\nid = \"uuid\"\n[events.Deposited]\naggregate = \"Account\"\n\
         [events.Deposited.v2]\namount = \"i64\"\nmemo = \"option<string>\"\n",
    );
    let (code, _, err) = cli(&["check", path_str(&schemas)]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.replace(path_str(&root), ""),
        "error[version_gap]: event `Deposited` is missing v1, which is locked: its first version \
         is v2\n --> /schemas/events.toml:5:19\n  |\n5 | [events.Deposited.v2]\n  |                   \
         ^^ expected `v1` here\n  |\n  = help: restore `[events.Deposited.v1]` as locked: stored \
         v1 events would be stranded, with nothing to decode them\n\n\
         error: 1 of the schema files is invalid; the evolution rules did not run\n"
    );
}

#[test]
fn the_check_exits_2_when_it_cannot_run() {
    let (_tmp, root) = after_with_lock("version_modified");
    let schemas = root.join("schemas");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--against".into(), "HEAD".into()],
            "is not in a git work tree",
        ),
        (
            vec![
                "--against-store".into(),
                path_str(&root.join("nothing")).into(),
            ],
            "is not an esdsl store (no such directory)",
        ),
        (
            vec!["--against-store".into(), path_str(&schemas).into()],
            "is not an esdsl store (no data.mdb)",
        ),
        (vec!["--format".into(), "xml".into()], "invalid value 'xml'"),
        (
            vec!["--explain".into(), "version_modifed".into()],
            "did you mean `version_modified`?",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["check".to_owned(), path_str(&schemas).to_owned()];
        args.extend(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = cli(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert!(
        !root.join("nothing").exists(),
        "a missing store is not created"
    );

    let (code, _, err) = cli(&["check", path_str(&root.join("missing"))]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");

    git(&root, &["init", "-q"]);
    let (code, _, err) = cli(&["check", path_str(&schemas), "--against", "no-such-ref"]);
    assert_eq!(code, 2);
    assert!(err.contains("`no-such-ref` is not a commit"), "{err}");

    let lock = read(&schemas.join("esdsl.lock"));
    write(
        &schemas.join("esdsl.lock"),
        &lock.replace("amount: i64", "amount: i32"),
    );
    let (code, _, err) = cli(&["check", path_str(&schemas)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("error[invalid_lock]: the fingerprint does not match"),
        "{err}"
    );
    assert!(
        err.contains("is not a lock this version of cargo-esdsl can read"),
        "{err}"
    );
}

#[test]
fn explain_prints_the_documentation_of_every_rule() {
    let ids = esdsl_schema::evolve::RULES
        .iter()
        .map(|r| r.id)
        .chain(esdsl_schema::diag::SCHEMA_RULES.iter().map(|r| r.id))
        .chain(["stale_generated_file", "empty_schema", "store_invariant"]);
    for id in ids {
        let (code, out, err) = cli(&["check", "--explain", id]);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with(&format!("{id} (")), "{out}");
    }
    // For a terminal: no Markdown markers, paragraphs wrapped, code blocks indented.
    let (code, out, _) = cli(&["check", "--explain", "lock_history_rewritten"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "lock_history_rewritten (deny)\n\nLock entries edited or removed compared with \
         `--against`.\n\nEntries are only ever appended, so the lock of a branch starts with \
         every entry of the\nlock at the base ref, unchanged and in order. A lock regenerated \
         from scratch, edited by\nhand or merged badly loses the baseline that protects stored \
         events.\n\nTake the base ref's lock (`git checkout origin/main -- schemas/esdsl.lock`) \
         and run `cargo\nesdsl lock` to append this branch's entries. After a rebase, do the \
         same: entries another\nbranch merged first come before yours.\n"
    );
    let (code, out, _) = cli(&["check", "--explain", "unknown_type", "--color", "always"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("\x1b[1munknown_type (schema error)\x1b[0m\n\nA field type is not a scalar, \x1b[36moption\x1b[0m/"),
        "{out:?}"
    );
    let (code, _, err) = cli(&["check", "--explain", "unknwn_type"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: `unknwn_type` is not a rule (did you mean `unknown_type`?)"),
        "{err}"
    );
}

/// The diagnostics table of `docs/schema.md` lists every schema rule and the CLI's own, in
/// the order of `SCHEMA_RULES`, with their summaries.
#[test]
fn docs_schema_md_lists_every_schema_rule() {
    let doc = read(&workspace().join("docs/schema.md"));
    let section = doc
        .split_once("## Diagnostics")
        .expect("a diagnostics section")
        .1;
    let rows: Vec<(String, String)> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|row| row.split_once("` | "))
        .map(|(id, rest)| (id.to_owned(), rest.trim_end_matches(" |").to_owned()))
        .collect();
    let mut expected: Vec<(String, String)> = esdsl_schema::diag::SCHEMA_RULES
        .iter()
        .map(|r| (r.id.to_owned(), r.summary.to_owned()))
        .collect();
    for id in ["stale_generated_file", "empty_schema"] {
        let row = rows.iter().find(|(r, _)| r == id);
        expected.push(
            row.cloned()
                .unwrap_or_else(|| (id.to_owned(), "(missing)".into())),
        );
    }
    assert_eq!(rows, expected);
}

/// The rules section of `docs/evolution.md` is generated from the rule table.
#[test]
fn docs_evolution_md_documents_every_rule() {
    const BEGIN: &str = "<!-- rules: generated from esdsl-schema/src/evolve/rules.rs -->\n";
    const END: &str = "<!-- end of rules -->";
    let path = workspace().join("docs/evolution.md");
    let doc = read(&path);
    let (start, end) = match (doc.find(BEGIN), doc.find(END)) {
        (Some(start), Some(end)) if start < end => (start + BEGIN.len(), end),
        _ => panic!("docs/evolution.md has no rules markers"),
    };
    let generated = format!("\n{}\n", esdsl_schema::evolve::rules_markdown());
    if bless() && doc[start..end] != generated {
        write(
            &path,
            &format!("{}{generated}{}", &doc[..start], &doc[end..]),
        );
        return;
    }
    assert!(
        doc[start..end] == generated,
        "docs/evolution.md is stale: run `ESDSL_BLESS=1 cargo test -p esdsl-tests evolution`"
    );
    for rule in esdsl_schema::evolve::RULES {
        assert!(doc.contains(&format!("### `{}` (", rule.id)), "{}", rule.id);
    }
}

/// The repository's own schemas are locked (CI also runs `cargo esdsl check schemas`).
#[test]
fn the_repository_schemas_match_their_lock() {
    let schemas = workspace().join("schemas");
    let (code, out, err) = cli(&["check", path_str(&schemas)]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "");
    let expected = lock_of_dir(&schemas);
    assert_eq!(
        read(&schemas.join("esdsl.lock")),
        expected,
        "schemas/esdsl.lock is stale"
    );
}

/// What `cargo esdsl lock` writes, from scratch, for a directory of schemas.
fn lock_of_dir(dir: &Path) -> String {
    let tmp = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(dir).expect("lists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().expect("a name");
            write(&tmp.path().join(name), &read(&path));
        }
    }
    let (code, out, err) = cli(&["lock", path_str(tmp.path())]);
    assert_eq!(code, 0, "{out}{err}");
    read(&tmp.path().join("esdsl.lock"))
}

#[test]
fn naming_a_file_checks_that_file_and_naming_the_directory_catches_a_deleted_one() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(tmp.path()).expect("canonical temp dir");
    let schemas = root.join("schemas");
    for name in ["bank.toml", "upcasting.toml", "esdsl.lock"] {
        write(
            &schemas.join(name),
            &read(&workspace().join("schemas").join(name)),
        );
    }
    let (code, out, err) = cli(&["check", path_str(&schemas.join("bank.toml"))]);
    assert_eq!(code, 0, "{out}{err}");

    std::fs::remove_file(schemas.join("upcasting.toml")).expect("removed");
    let (code, out, _) = cli(&["check", path_str(&schemas), "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let findings: Vec<String> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|f| finding_line(f, &root))
        .collect();
    assert_eq!(
        findings,
        [
            "event_removed schemas/upcasting.toml",
            "event_removed schemas/upcasting.toml",
            "event_removed schemas/upcasting.toml",
        ]
    );
}
