//! The lock file itself: `lock_out_of_date` and `lock_history_rewritten`.

use std::collections::{HashMap, HashSet};

use crate::diag::Diagnostic;
use crate::lock::{Entry, Lock};

use super::{Finding, SchemaFile, in_file, sort};

/// `lock_out_of_date`: everything in `files` that the lock at `lock_path` does not hold, one
/// finding per entry `cargo esdsl lock` would append (`lock` is `None` when the file does not
/// exist). What the other rules deny against this lock is not reported here: the lock cannot
/// take it, and the other finding already says what to fix.
pub fn lock_out_of_date(
    files: &[SchemaFile],
    lock: Option<&Lock>,
    lock_path: &str,
) -> Vec<Finding> {
    let help = format!("run `cargo esdsl lock` and commit `{lock_path}`");
    let Some(lock) = lock else {
        return vec![Finding::new(
            Diagnostic::error(
                "lock_out_of_date",
                format!("there is no lock file `{lock_path}`"),
            )
            .help(help),
            Some(lock_path),
        )];
    };
    // The events with a deny finding: on the whole event (`None`) or on some versions.
    let mut denied: HashMap<String, (bool, HashSet<u32>)> = HashMap::new();
    for finding in super::check(files, lock) {
        if let (true, Some(event)) = (finding.is_deny(), finding.event) {
            let (whole, versions) = denied.entry(event).or_default();
            match finding.version {
                Some(version) => {
                    versions.insert(version);
                }
                None => *whole = true,
            }
        }
    }
    let covered = |event: Option<&str>, version: Option<u32>| {
        event
            .and_then(|event| denied.get(event))
            .is_some_and(|(whole, versions)| {
                *whole || version.is_none_or(|v| versions.contains(&v))
            })
    };
    let mut findings: Vec<Finding> = lock
        .baseline()
        .pending(files)
        .into_iter()
        .filter(|pending| !covered(pending.event.as_deref(), pending.version))
        .map(|pending| {
            let mut finding = in_file(
                &files[pending.file],
                Diagnostic::error("lock_out_of_date", pending.why)
                    .at(pending.span)
                    .label("not in the lock")
                    .help(help.clone()),
            );
            finding.event = pending.event;
            finding.version = pending.version;
            finding
        })
        .collect();
    sort(files, &mut findings);
    findings
}

/// `lock_history_rewritten`: the lock at `current_path` (`None` when it was deleted) against
/// the lock at the baseline (`--against <ref>`). Every entry of the baseline's lock must still
/// be there, unchanged and in the same order, before any new entry.
pub fn lock_history(baseline: &Lock, current: Option<&Lock>, current_path: &str) -> Vec<Finding> {
    let help = "restore the baseline's entries as they were (e.g. `git checkout <ref> -- <lock>`), \
                then run `cargo esdsl lock` to append the new ones";
    let Some(current) = current else {
        if baseline.is_empty() {
            return Vec::new();
        }
        return vec![Finding::new(
            Diagnostic::error(
                "lock_history_rewritten",
                format!(
                    "the lock file `{current_path}` was deleted ({} entries at the baseline)",
                    baseline.len()
                ),
            )
            .help(help),
            Some(current_path),
        )];
    };
    let old = baseline.entries();
    let new = current.entries();
    let old_set: HashSet<&Entry> = old.iter().collect();
    let new_set: HashSet<&Entry> = new.iter().collect();
    // The new entries that are not in the old lock, by the item they are about, in order.
    let mut new_by_key: HashMap<_, Vec<usize>> = HashMap::new();
    for (index, entry) in new.iter().enumerate() {
        if !old_set.contains(entry) {
            new_by_key.entry(entry.key()).or_default().push(index);
        }
    }
    let mut findings = Vec::new();
    for entry in old {
        if new_set.contains(entry) {
            continue;
        }
        let edited = new_by_key
            .get(&entry.key())
            .and_then(|indexes| indexes.first().copied());
        let (message, span) = match edited {
            Some(index) => (
                format!("the lock entry for {} was edited", entry.describe()),
                current.span(index),
            ),
            None => (
                format!("the lock entry for {} was removed", entry.describe()),
                None,
            ),
        };
        let mut diagnostic = Diagnostic::error("lock_history_rewritten", message).help(help);
        if let Some(span) = span {
            diagnostic = diagnostic.at(span).label("differs from the baseline");
        }
        findings.push(Finding::new(diagnostic, Some(current_path)));
    }
    if findings.is_empty()
        && let Some(index) = old.iter().zip(new).position(|(o, n)| o != n)
    {
        let mut diagnostic = Diagnostic::error(
            "lock_history_rewritten",
            format!(
                "the lock's entries were reordered: {} stands where the baseline has {}",
                new[index].describe(),
                old[index].describe()
            ),
        )
        .help(
            "new entries go after every entry of the baseline: take the baseline's lock, then \
             run `cargo esdsl lock` to append yours",
        );
        if let Some(span) = current.span(index) {
            diagnostic = diagnostic.at(span).label("out of order");
        }
        findings.push(Finding::new(diagnostic, Some(current_path)));
    }
    findings
}
