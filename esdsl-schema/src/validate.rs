//! Stage 2: raw structs to the model, checking everything the parser could not. Every problem
//! is collected.
//!
//! This file holds the validator and the declarations (aggregates, records, enums); the checks
//! are split by what they look at: [`names`] (identifiers and the namespace), [`fields`] (field
//! types and default values) and [`events`] (versions, renames and upcast steps).

mod events;
mod fields;
mod names;

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::model::{Aggregate, Compatibility, EnumType, IdType, Name, RecordType, Schema, Type};
use crate::parse::{RawAggregate, RawSchema};

pub(crate) use names::{KEYWORDS, field_name_problem, type_name_problem};

/// Whether validation reports upcast steps that can be neither generated nor are manual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steps {
    /// Report them as `upcast_missing` (generation needs every step).
    Report,
    /// Leave them out of `Event::steps` unreported: the evolution check reports them with rules
    /// that know which versions are locked.
    Defer,
}

/// What the lock holds for a schema file, looked up the first time validation needs it (to say
/// what a gap in an event's versions strands).
#[derive(Default)]
pub(crate) struct Locked<'a> {
    /// What the lock holds: the locked version numbers of each event, by name (the lock
    /// module hands this in, so validation does not depend on it).
    lookup: Option<Box<dyn Fn() -> LockedVersions + 'a>>,
    /// `lookup`'s answer, once asked.
    versions: OnceCell<LockedVersions>,
}

/// The locked version numbers of each event, by name.
pub(crate) type LockedVersions = BTreeMap<String, BTreeSet<u32>>;

impl std::fmt::Debug for Locked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locked")
            .field("versions", &self.versions.get())
            .finish_non_exhaustive()
    }
}

impl<'a> Locked<'a> {
    /// The locked versions `lookup` gives, asked for the first time validation needs them.
    pub(crate) fn new(lookup: impl Fn() -> BTreeMap<String, BTreeSet<u32>> + 'a) -> Locked<'a> {
        Locked {
            lookup: Some(Box::new(lookup)),
            versions: OnceCell::new(),
        }
    }

    /// Whether version `number` of event `event` is locked.
    fn is_locked(&self, event: &str, number: u32) -> bool {
        let Some(lookup) = &self.lookup else {
            return false;
        };
        self.versions
            .get_or_init(lookup)
            .get(event)
            .is_some_and(|numbers| numbers.contains(&number))
    }
}

pub(crate) fn validate(
    raw: RawSchema,
    diags: &mut Vec<Diagnostic>,
    steps: Steps,
    locked: &Locked<'_>,
) -> Schema {
    let mut v = Validator {
        diags,
        steps,
        locked,
        records: raw.types.iter().map(|t| t.name.text.clone()).collect(),
        enums: BTreeMap::new(),
        near_types: BTreeMap::new(),
        compatibility: (Compatibility::BACKWARD, None),
    };
    if let Some(compatibility) = &raw.compatibility {
        v.compatibility = (
            crate::compat::resolve(compatibility, v.diags),
            Some(compatibility.span),
        );
    }
    v.check_top_level_names(&raw);

    let aggregates = raw
        .aggregates
        .into_iter()
        .map(|a| v.aggregate(a))
        .collect::<Vec<_>>();

    let enums = raw
        .enums
        .into_iter()
        .map(|e| v.enumeration(e.name, e.doc, e.variants))
        .collect::<Vec<_>>();
    for e in &enums {
        let variants = e.variants.iter().map(|n| n.text.clone()).collect();
        v.enums.insert(e.name.text.clone(), variants);
    }

    let types = raw
        .types
        .into_iter()
        .map(|t| {
            let fields = t
                .fields
                .into_iter()
                .filter_map(|f| v.record_field(&t.name, f))
                .collect();
            RecordType {
                name: t.name,
                doc: None,
                fields,
            }
        })
        .collect::<Vec<_>>();
    v.check_recursion(&types);

    let aggregate_names: Vec<&str> = aggregates.iter().map(|a| a.name.text.as_str()).collect();
    let events = raw
        .events
        .into_iter()
        .map(|e| v.event(e, &aggregate_names))
        .collect::<Vec<_>>();
    v.check_event_names(&events);

    Schema {
        aggregates,
        events,
        types,
        enums,
    }
}

struct Validator<'d> {
    diags: &'d mut Vec<Diagnostic>,
    steps: Steps,
    locked: &'d Locked<'d>,
    records: BTreeSet<String>,
    /// Enum name to its stored variant names.
    enums: BTreeMap<String, Vec<String>>,
    /// The "did you mean" of each unknown type name met so far: a typo repeated in every
    /// event is compared with every declared type once, not once per use.
    near_types: BTreeMap<String, Option<String>>,
    /// The file's `compatibility` and where it was written: every event's default.
    compatibility: (Compatibility, Option<Span>),
}

impl Validator<'_> {
    /// An aggregate: its id type must be one of the id types.
    fn aggregate(&mut self, a: RawAggregate) -> Aggregate {
        let id = match &a.id {
            None => IdType::Uuid,
            Some(id) => match IdType::ALL.iter().find(|t| t.as_str() == id.text) {
                Some(t) => *t,
                None => {
                    let near = did_you_mean(&id.text, IdType::ALL.map(IdType::as_str));
                    self.diags.push(
                        Diagnostic::error(
                            "unknown_type",
                            format!("`{}` is not an id type", id.text),
                        )
                        .at(id.span)
                        .label("unknown id type")
                        .help(match near {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "an id is one of `uuid`, `string`, `u64`, `i64`".into(),
                        }),
                    );
                    IdType::Uuid
                }
            },
        };
        Aggregate {
            name: a.name,
            id,
            doc: a.doc,
        }
    }

    fn enumeration(
        &mut self,
        name: Name,
        doc: Option<String>,
        variants: Option<Vec<Name>>,
    ) -> EnumType {
        let missing = variants.is_none();
        let variants = variants.unwrap_or_default();
        if variants.is_empty() && !missing {
            self.diags.push(
                Diagnostic::error("empty_enum", format!("enum `{name}` has no variants"))
                    .at(name.span)
                    .help("list at least one variant in `variants`"),
            );
        }
        self.variant_names(&name, &variants);
        EnumType {
            name,
            doc,
            variants,
        }
    }

    fn check_recursion(&mut self, types: &[RecordType]) {
        let cyclic = on_a_cycle(types);
        for (record, _) in types.iter().zip(&cyclic).filter(|(_, cyclic)| **cyclic) {
            let mut path = vec![record.name.text.as_str()];
            if self.reaches(types, record, &record.name.text, &mut path) {
                self.diags.push(
                    Diagnostic::error(
                        "recursive_type",
                        format!(
                            "type `{}` contains itself ({})",
                            record.name,
                            path.join(" -> ")
                        ),
                    )
                    .at(record.name.span)
                    .label("infinite size")
                    .help("break the cycle with a `list<T>` or `map<T>`"),
                );
            }
        }
    }

    /// Whether `record` holds `target` by value, directly or through other records; `path`
    /// (which starts with `record`) gets the records in between and `target`. A walk with a
    /// stack of its own, not a recursion: a schema can chain any number of records.
    fn reaches<'t>(
        &self,
        types: &'t [RecordType],
        record: &'t RecordType,
        target: &str,
        path: &mut Vec<&'t str>,
    ) -> bool {
        let by_name: HashMap<&str, &RecordType> =
            types.iter().map(|t| (t.name.text.as_str(), t)).collect();
        // Depth-first, each record once; `parent` leads back to `record` for the path.
        let mut parent: HashMap<&'t str, &'t str> = HashMap::new();
        let mut stack: Vec<&'t str> = held(record).collect::<Vec<_>>().into_iter().rev().collect();
        for name in &stack {
            parent.entry(name).or_insert(record.name.text.as_str());
        }
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(name) = stack.pop() {
            if name == target {
                let mut between = vec![name];
                let mut at = name;
                while let Some(&up) = parent.get(at) {
                    if up == record.name.text.as_str() {
                        break;
                    }
                    between.push(up);
                    at = up;
                }
                path.extend(between.into_iter().rev());
                return true;
            }
            if !seen.insert(name) {
                continue;
            }
            if let Some(next) = by_name.get(name) {
                let mut children: Vec<&'t str> = held(next).collect();
                children.reverse();
                for child in children {
                    if !seen.contains(child) {
                        parent.entry(child).or_insert(name);
                        stack.push(child);
                    }
                }
            }
        }
        false
    }
}

/// The records a record holds by value (through options only), in field order.
fn held(record: &RecordType) -> impl Iterator<Item = &str> {
    record.fields.iter().filter_map(|field| {
        let mut ty = &field.ty;
        while let Type::Option(inner) = ty {
            ty = inner;
        }
        match ty {
            Type::Record(name) => Some(name.as_str()),
            _ => None,
        }
    })
}

/// For each record, whether it is on a cycle of records held by value.
fn on_a_cycle(types: &[RecordType]) -> Vec<bool> {
    let index: HashMap<&str, usize> = types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.text.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = types
        .iter()
        .map(|t| {
            held(t)
                .filter_map(|name| index.get(name).copied())
                .collect()
        })
        .collect();
    crate::graph::on_a_cycle(&edges)
}

/// `a`, `b`, `c`, or `(none)`.
fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(|i| format!("`{i}`")).collect();
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests;
