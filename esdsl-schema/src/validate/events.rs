//! Events: the aggregate they belong to, their stored names, contiguous versions, the steps
//! listed in `manual_upcasts`, and an upcast step between each two versions.

use std::collections::BTreeSet;

use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::model::{Event, Name, Step, StepKind, Version};
use crate::parse::RawEvent;
use crate::plan::{Blocker, plan_step};

use super::{Steps, Validator, list};

impl Validator<'_> {
    /// `version_gap`: the versions of `event` between `before` (0: none) and `number` are
    /// missing. A missing version that is locked strands its stored events: the help says so.
    fn version_gap(&self, event: &Name, before: u32, number: u32, at: Span) -> Diagnostic {
        let range = |numbers: &[u32]| match numbers {
            [one] => format!("v{one}"),
            [first, .., last] => format!("v{first} to v{last}"),
            [] => String::new(),
        };
        let missing: Vec<u32> = (before + 1..number).collect();
        let locked: Vec<u32> = missing
            .iter()
            .copied()
            .filter(|&n| self.locked.is_locked(&event.text, n))
            .collect();
        let which = if locked.is_empty() {
            String::new()
        } else if locked.len() < missing.len() {
            format!(" ({} locked)", list_versions(&locked))
        } else if locked.len() == 1 {
            ", which is locked".to_owned()
        } else {
            ", which are locked".to_owned()
        };
        let context = if before == 0 {
            format!("its first version is v{number}")
        } else {
            format!("v{before} is followed by v{number}")
        };
        let help = if locked.is_empty() {
            format!(
                "versions start at 1 and are contiguous: add `[events.{event}.v{}]` or renumber \
                 this table",
                before + 1
            )
        } else {
            let tables: Vec<String> = locked
                .iter()
                .map(|n| format!("`[events.{event}.v{n}]`"))
                .collect();
            format!(
                "restore {} as locked: stored {} events would be stranded, with nothing to \
                 decode them",
                and_list(&tables),
                list_versions(&locked)
            )
        };
        Diagnostic::error(
            "version_gap",
            format!(
                "event `{event}` is missing {}{which}: {context}",
                range(&missing)
            ),
        )
        .at(at)
        .label(format!("expected `v{}` here", before + 1))
        .help(help)
    }

    pub(super) fn event(&mut self, raw: RawEvent, aggregates: &[&str]) -> Event {
        let aggregate = match raw.aggregate {
            Some(aggregate) => {
                if !aggregates.contains(&aggregate.text.as_str()) {
                    let near = did_you_mean(&aggregate.text, aggregates.iter().copied());
                    self.diags.push(
                        Diagnostic::error(
                            "unknown_aggregate",
                            format!(
                                "event `{}` belongs to unknown aggregate `{}`",
                                raw.name, aggregate.text
                            ),
                        )
                        .at(aggregate.span)
                        .label("no such aggregate")
                        .help(match near {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => format!(
                                "declare it with `[aggregates.{}]` or name one of: {}",
                                aggregate.text,
                                list(aggregates.iter().copied())
                            ),
                        }),
                    );
                }
                aggregate
            }
            None => {
                self.diags.push(
                    Diagnostic::error(
                        "missing_key",
                        format!("event `{}` has no `aggregate`", raw.name),
                    )
                    .at(raw.name.span)
                    .help("add `aggregate = \"Name\"` naming the aggregate it belongs to"),
                );
                Name::new("", raw.name.span)
            }
        };
        for old in &raw.renamed_from {
            if old.text.is_empty() {
                self.diags.push(
                    Diagnostic::error("invalid_name", "a stored event name cannot be empty")
                        .at(old.span)
                        .help("remove the empty name from `renamed_from`"),
                );
            }
        }

        let mut raw_versions = raw.versions;
        raw_versions.sort_by_key(|v| v.number);
        if raw_versions.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "version_gap",
                    format!("event `{}` has no versions", raw.name),
                )
                .at(raw.name.span)
                .label("no `v1` table")
                .help(format!(
                    "declare its first version with `[events.{}.v1]`",
                    raw.name
                )),
            );
        }
        let errors_before = self.diags.len();
        let mut versions: Vec<Version> = Vec::new();
        let mut before = 0;
        for version in raw_versions {
            if version.number != before + 1 {
                let gap = self.version_gap(&raw.name, before, version.number, version.key.span);
                self.diags.push(gap);
            }
            before = version.number;
            let previous = versions.last();
            let fields = version
                .fields
                .into_iter()
                .filter_map(|f| self.field(f, previous))
                .collect();
            versions.push(Version {
                number: version.number,
                fields,
                span: version.key.span,
            });
        }

        let newest = versions.last().map_or(0, |v| v.number);
        let mut manual_upcasts = BTreeSet::new();
        for (number, span) in raw.manual_upcasts {
            match u32::try_from(number) {
                Ok(n) if (2..=newest).contains(&n) => {
                    manual_upcasts.insert(n);
                }
                _ => self.diags.push(
                    Diagnostic::error(
                        "invalid_manual_upcast",
                        format!(
                            "event `{}` lists {number} in `manual_upcasts`, but has no step to v{number}",
                            raw.name
                        ),
                    )
                    .at(span)
                    .label("no such step")
                    .help(if newest >= 2 {
                        format!("list the version a step leads to: 2 to {newest}")
                    } else {
                        "an event with one version has no upcast steps".into()
                    }),
                ),
            }
        }

        let (compatibility, compatibility_span) = match &raw.compatibility {
            Some(own) => (crate::compat::resolve(own, self.diags), Some(own.span)),
            None => self.compatibility,
        };
        let mut event = Event {
            compatibility,
            compatibility_span,
            name: raw.name,
            aggregate,
            doc: raw.doc,
            renamed_from: raw.renamed_from,
            retired: raw.retired,
            manual_upcasts,
            versions,
            steps: Vec::new(),
        };
        // A field with a bad type, default or rename source is reported already; the steps it
        // would block would only repeat that.
        let report_steps = self.diags.len() == errors_before;
        event.steps = self.steps(&event, report_steps);
        event
    }

    fn steps(&mut self, event: &Event, report: bool) -> Vec<Step> {
        let mut steps = Vec::new();
        for pair in event.versions.windows(2) {
            let [previous, next] = pair else { continue };
            let to = next.number;
            if event.manual_upcasts.contains(&to) {
                steps.push(Step {
                    to,
                    kind: StepKind::Manual,
                });
                continue;
            }
            match plan_step(previous, next) {
                Ok(sources) => steps.push(Step {
                    to,
                    kind: StepKind::Automatic(sources),
                }),
                Err(blockers) => {
                    if event.retired || !report || self.steps == Steps::Defer {
                        continue;
                    }
                    for Blocker { span, why, fix, .. } in blockers {
                        self.diags.push(
                            Diagnostic::error(
                                "upcast_missing",
                                format!(
                                    "event `{}` cannot be upcast from v{} to v{to} automatically: {why}",
                                    event.name, previous.number
                                ),
                            )
                            .at(span)
                            .label("needs a hand-written step")
                            .help(format!(
                                "{fix}add `manual_upcasts = [{to}]` and implement \
                                 `esdsl_runtime::Upcast<v{}::{name}>` for `v{to}::{name}`",
                                previous.number,
                                name = event.name
                            )),
                        );
                    }
                }
            }
        }
        steps
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `v1`, `v1 and v3`.
fn list_versions(numbers: &[u32]) -> String {
    and_list(&numbers.iter().map(|n| format!("v{n}")).collect::<Vec<_>>())
}
