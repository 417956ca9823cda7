//! The locked state that a lock's entries add up to, how current schemas map onto it, and what
//! `cargo esdsl lock` would append.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::canonical;
use super::{Entry, EnumEntry, EventEntry, RecordEntry, VersionEntry};
use crate::diag::Span;
use crate::model::{Compatibility, Event, Type};
use crate::schema_file::SchemaFile;

/// Every locked event, type and enum.
///
/// Lookups by name go through indexes, so that replaying a lock and matching schemas onto it
/// stay linear in the number of items (a scan per item made `check` quadratic).
#[derive(Debug, Default)]
pub(crate) struct Baseline {
    pub(crate) events: Vec<LockedEvent>,
    pub(crate) records: Vec<LockedRecord>,
    pub(crate) enums: Vec<LockedEnum>,
    /// Event indexes by every name they have had as newest name (check the current one).
    by_name: Index,
    /// Event indexes by every stored name they have (their `names`, which only grow).
    by_stored_name: Index,
    /// Record indexes by name.
    records_by_name: Index,
    /// Enum indexes by name.
    enums_by_name: Index,
}

/// Item indexes by name. A name may list an index more than once, and not in order.
type Index = HashMap<String, Vec<usize>>;

/// The lowest index listed under `name` that `ok` accepts: what a scan from the start for the
/// first item named so that passes `ok` finds.
fn first(index: &Index, name: &str, ok: impl Fn(usize) -> bool) -> Option<usize> {
    index.get(name)?.iter().copied().filter(|&i| ok(i)).min()
}

fn insert(index: &mut Index, name: &str, item: usize) {
    index.entry(name.to_owned()).or_default().push(item);
}

/// An event as locked, through all its renames.
#[derive(Debug)]
pub(crate) struct LockedEvent {
    /// The schema file of its newest revision.
    pub(crate) schema: String,
    /// Its newest name.
    pub(crate) name: String,
    /// Every stored name it has had or claimed, its newest name included.
    pub(crate) names: Vec<String>,
    pub(crate) renamed_from: Vec<String>,
    pub(crate) aggregate: String,
    pub(crate) retired: bool,
    /// The mode of its newest revision.
    pub(crate) compatibility: Compatibility,
    pub(crate) versions: BTreeMap<u32, LockedVersion>,
}

impl LockedEvent {
    /// The newest locked version number.
    pub(crate) fn newest(&self) -> u32 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }
}

/// A version as locked: its shape from its first entry, its upcast inputs from its newest.
#[derive(Debug)]
pub(crate) struct LockedVersion {
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) defaults: Vec<(String, String)>,
    pub(crate) renamed: Vec<(String, String)>,
}

/// A record type at its newest revision.
#[derive(Debug)]
pub(crate) struct LockedRecord {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) fields: Vec<(String, String)>,
}

/// An enum at its newest revision.
#[derive(Debug)]
pub(crate) struct LockedEnum {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) variants: Vec<String>,
}

/// Which locked item each current item continues, by file and then source order.
#[derive(Debug, Default)]
pub(crate) struct Matches {
    pub(crate) events: Vec<Vec<Option<usize>>>,
    pub(crate) records: Vec<Vec<Option<usize>>>,
    pub(crate) enums: Vec<Vec<Option<usize>>>,
}

/// An entry `cargo esdsl lock` would append, with the current item it comes from.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) entry: Entry,
    pub(crate) file: usize,
    pub(crate) span: Span,
    pub(crate) event: Option<String>,
    pub(crate) version: Option<u32>,
    /// Why the lock lacks it, e.g. "version 3 of event `X` is not in the lock".
    pub(crate) why: String,
}

impl Baseline {
    /// Replays the ledger. Returns the problems of entries that do not fit (by entry index):
    /// a version of an unknown event, a revision that changes a locked shape.
    pub(crate) fn build(entries: &[Entry]) -> (Baseline, Vec<(usize, String)>) {
        let mut baseline = Baseline::default();
        let mut problems = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match entry {
                Entry::Event(e) => baseline.add_event(e),
                Entry::Version(v) => {
                    if let Err(problem) = baseline.add_version(v) {
                        problems.push((index, problem));
                    }
                }
                Entry::Record(t) => {
                    let records = &baseline.records;
                    match first(&baseline.records_by_name, &t.name, |i| {
                        records[i].schema == t.schema
                    }) {
                        Some(i) => baseline.records[i].fields.clone_from(&t.fields),
                        None => {
                            insert(&mut baseline.records_by_name, &t.name, records.len());
                            baseline.records.push(LockedRecord {
                                schema: t.schema.clone(),
                                name: t.name.clone(),
                                fields: t.fields.clone(),
                            });
                        }
                    }
                }
                Entry::Enum(e) => {
                    let enums = &baseline.enums;
                    match first(&baseline.enums_by_name, &e.name, |i| {
                        enums[i].schema == e.schema
                    }) {
                        Some(i) => baseline.enums[i].variants.clone_from(&e.variants),
                        None => {
                            insert(&mut baseline.enums_by_name, &e.name, enums.len());
                            baseline.enums.push(LockedEnum {
                                schema: e.schema.clone(),
                                name: e.name.clone(),
                                variants: e.variants.clone(),
                            });
                        }
                    }
                }
            }
        }
        (baseline, problems)
    }

    fn add_event(&mut self, e: &EventEntry) {
        let events = &self.events;
        let found = first(&self.by_stored_name, &e.name, |i| {
            events[i].schema == e.schema
        })
        .or_else(|| first(&self.by_stored_name, &e.name, |_| true))
        .or_else(|| {
            e.renamed_from
                .iter()
                .filter_map(|n| first(&self.by_stored_name, n, |_| true))
                .min()
        });
        let Some(index) = found else {
            let index = self.events.len();
            let mut names = vec![e.name.clone()];
            names.extend(e.renamed_from.iter().cloned());
            insert(&mut self.by_name, &e.name, index);
            for name in &names {
                insert(&mut self.by_stored_name, name, index);
            }
            self.events.push(LockedEvent {
                schema: e.schema.clone(),
                name: e.name.clone(),
                names,
                renamed_from: e.renamed_from.clone(),
                aggregate: e.aggregate.clone(),
                retired: e.retired,
                compatibility: e.compatibility,
                versions: BTreeMap::new(),
            });
            return;
        };
        let locked = &mut self.events[index];
        locked.schema.clone_from(&e.schema);
        if locked.name != e.name {
            locked.name.clone_from(&e.name);
            insert(&mut self.by_name, &e.name, index);
        }
        for name in std::iter::once(&e.name).chain(&e.renamed_from) {
            if !locked.names.contains(name) {
                locked.names.push(name.clone());
                insert(&mut self.by_stored_name, name, index);
            }
        }
        locked.renamed_from.clone_from(&e.renamed_from);
        locked.aggregate.clone_from(&e.aggregate);
        locked.retired = e.retired;
        locked.compatibility = e.compatibility;
    }

    fn add_version(&mut self, v: &VersionEntry) -> Result<(), String> {
        let event = self
            .named(&v.event, |_, b| b.schema == v.schema)
            .map(|i| &mut self.events[i])
            .ok_or_else(|| {
                format!(
                    "version {} of event `{}` comes before any `[[event]]` entry of `{}` in `{}`",
                    v.number, v.event, v.event, v.schema
                )
            })?;
        match event.versions.get_mut(&v.number) {
            Some(locked) if locked.fields != v.fields => Err(format!(
                "this entry changes the fields of version {} of event `{}`, locked as `{}`",
                v.number,
                v.event,
                canonical::fields_form(&locked.fields)
            )),
            Some(locked) => {
                locked.defaults.clone_from(&v.defaults);
                locked.renamed.clone_from(&v.renamed);
                Ok(())
            }
            None => {
                event.versions.insert(
                    v.number,
                    LockedVersion {
                        fields: v.fields.clone(),
                        defaults: v.defaults.clone(),
                        renamed: v.renamed.clone(),
                    },
                );
                Ok(())
            }
        }
    }

    /// The first event whose newest name is `name` and that `ok` accepts.
    fn named(&self, name: &str, ok: impl Fn(usize, &LockedEvent) -> bool) -> Option<usize> {
        first(&self.by_name, name, |i| {
            self.events[i].name == name && ok(i, &self.events[i])
        })
    }

    /// The first event that has `name` among its stored names and that `ok` accepts.
    fn stored_as(&self, name: &str, ok: impl Fn(usize, &LockedEvent) -> bool) -> Option<usize> {
        first(&self.by_stored_name, name, |i| ok(i, &self.events[i]))
    }

    /// The event that has `name` among its stored names without being named so: its owner,
    /// for a new event that would take the name.
    pub(crate) fn owner_of(&self, name: &str) -> Option<&LockedEvent> {
        self.stored_as(name, |_, b| b.name != name)
            .map(|i| &self.events[i])
    }

    /// The first event whose newest name is `name`.
    pub(crate) fn event_named(&self, name: &str) -> Option<&LockedEvent> {
        self.named(name, |_, _| true).map(|i| &self.events[i])
    }

    /// The locked version numbers of each event, by name, as the events of schema file `key`
    /// find them: an event locked in that file, else one of that name locked in another.
    pub(crate) fn locked_versions(&self, key: &str) -> BTreeMap<String, BTreeSet<u32>> {
        let mut out = BTreeMap::new();
        for exact in [true, false] {
            for event in &self.events {
                if exact == (event.schema == key) && !out.contains_key(&event.name) {
                    out.insert(event.name.clone(), event.versions.keys().copied().collect());
                }
            }
        }
        out
    }

    /// Maps current items onto locked ones. Events are matched by schema file and name, then
    /// by name in any file (a moved or renamed file), then by a `renamed_from` name (a renamed
    /// event); record types and enums by file and name, then by name. Each locked item
    /// continues at most one current item.
    pub(crate) fn match_schemas(&self, files: &[SchemaFile]) -> Matches {
        let mut matches = Matches {
            events: files
                .iter()
                .map(|f| vec![None; f.schema.events.len()])
                .collect(),
            records: files
                .iter()
                .map(|f| vec![None; f.schema.types.len()])
                .collect(),
            enums: files
                .iter()
                .map(|f| vec![None; f.schema.enums.len()])
                .collect(),
        };
        let mut taken = vec![false; self.events.len()];
        for pass in [Pass::FileAndName, Pass::Name, Pass::RenamedFrom] {
            for (fi, file) in files.iter().enumerate() {
                for (ei, event) in file.schema.events.iter().enumerate() {
                    if matches.events[fi][ei].is_some() {
                        continue;
                    }
                    let name = event.name.text.as_str();
                    let found = match pass {
                        Pass::FileAndName => {
                            self.named(name, |bi, b| !taken[bi] && b.schema == file.key)
                        }
                        Pass::Name => self.named(name, |bi, _| !taken[bi]),
                        Pass::RenamedFrom => event
                            .renamed_from
                            .iter()
                            .filter_map(|r| self.stored_as(&r.text, |bi, _| !taken[bi]))
                            .min(),
                    };
                    if let Some(bi) = found {
                        taken[bi] = true;
                        matches.events[fi][ei] = Some(bi);
                    }
                }
            }
        }
        let record_keys: Vec<(&str, &str)> = self
            .records
            .iter()
            .map(|r| (r.schema.as_str(), r.name.as_str()))
            .collect();
        let enum_keys: Vec<(&str, &str)> = self
            .enums
            .iter()
            .map(|e| (e.schema.as_str(), e.name.as_str()))
            .collect();
        let record_names: fn(&SchemaFile) -> Vec<String> =
            |f| f.schema.types.iter().map(|t| t.name.text.clone()).collect();
        let enum_names: fn(&SchemaFile) -> Vec<String> =
            |f| f.schema.enums.iter().map(|e| e.name.text.clone()).collect();
        match_named(&record_keys, files, record_names, &mut matches.records);
        match_named(&enum_keys, files, enum_names, &mut matches.enums);
        matches
    }

    /// The named types (records and enums) of each file that locked versions use, directly or
    /// through records, each with the first locked (event, version) that uses it.
    pub(crate) fn used_types(
        &self,
        files: &[SchemaFile],
        matches: &Matches,
    ) -> Vec<BTreeMap<String, (String, u32)>> {
        let mut used = Vec::new();
        for (fi, file) in files.iter().enumerate() {
            let records: HashMap<&str, &crate::model::RecordType> = file
                .schema
                .types
                .iter()
                .map(|t| (t.name.text.as_str(), t))
                .collect();
            let mut names: BTreeMap<String, (String, u32)> = BTreeMap::new();
            let mut queue: Vec<(String, (String, u32))> = Vec::new();
            for (ei, event) in file.schema.events.iter().enumerate() {
                let Some(locked) = matches.events[fi][ei].map(|bi| &self.events[bi]) else {
                    continue;
                };
                for version in &event.versions {
                    if !locked.versions.contains_key(&version.number) {
                        continue;
                    }
                    for field in &version.fields {
                        let user = (event.name.text.clone(), version.number);
                        queue.extend(named(&field.ty).map(|n| (n, user.clone())));
                    }
                }
            }
            while let Some((name, user)) = queue.pop() {
                if names.contains_key(&name) {
                    continue;
                }
                if let Some(record) = records.get(name.as_str()) {
                    for field in &record.fields {
                        queue.extend(named(&field.ty).map(|n| (n, user.clone())));
                    }
                }
                names.insert(name, user);
            }
            used.push(names);
        }
        used
    }

    /// What `cargo esdsl lock` appends for `files`, in the order it appends it: per file, its
    /// enums, its record types, then each event with its versions.
    pub(crate) fn pending(&self, files: &[SchemaFile]) -> Vec<Pending> {
        let matches = self.match_schemas(files);
        let used = self.used_types(files, &matches);
        let mut out = Vec::new();
        for (fi, file) in files.iter().enumerate() {
            for (i, e) in file.schema.enums.iter().enumerate() {
                let variants: Vec<String> = e.variants.iter().map(|v| v.text.clone()).collect();
                let locked = matches.enums[fi][i].map(|bi| &self.enums[bi]);
                let why = match locked {
                    None => format!("enum `{}` is not in the lock", e.name),
                    Some(l) if l.variants == variants && l.schema == file.key => continue,
                    // A used enum may only grow at its end (the rules report anything else).
                    Some(l)
                        if used[fi].contains_key(&e.name.text)
                            && !variants.starts_with(&l.variants) =>
                    {
                        continue;
                    }
                    Some(_) => format!("enum `{}` changed since it was locked", e.name),
                };
                out.push(Pending {
                    entry: Entry::Enum(EnumEntry {
                        schema: file.key.clone(),
                        name: e.name.text.clone(),
                        fingerprint: canonical::fingerprint(&canonical::variants_form(&variants)),
                        variants,
                    }),
                    file: fi,
                    span: e.name.span,
                    event: None,
                    version: None,
                    why,
                });
            }
            for (i, t) in file.schema.types.iter().enumerate() {
                let fields = canonical::fields(&t.fields);
                let locked = matches.records[fi][i].map(|bi| &self.records[bi]);
                let why = match locked {
                    None => format!("type `{}` is not in the lock", t.name),
                    Some(l) if l.fields == fields && l.schema == file.key => continue,
                    // A used record never changes (`type_modified`).
                    Some(l) if l.fields != fields && used[fi].contains_key(&t.name.text) => {
                        continue;
                    }
                    Some(_) => format!("type `{}` changed since it was locked", t.name),
                };
                out.push(Pending {
                    entry: Entry::Record(RecordEntry {
                        schema: file.key.clone(),
                        name: t.name.text.clone(),
                        fingerprint: canonical::fingerprint(&canonical::fields_form(&fields)),
                        fields,
                    }),
                    file: fi,
                    span: t.name.span,
                    event: None,
                    version: None,
                    why,
                });
            }
            for (i, event) in file.schema.events.iter().enumerate() {
                let locked = matches.events[fi][i].map(|bi| &self.events[bi]);
                self.pending_event(fi, file, event, locked, &mut out);
            }
        }
        out
    }

    fn pending_event(
        &self,
        fi: usize,
        file: &SchemaFile,
        event: &Event,
        locked: Option<&LockedEvent>,
        out: &mut Vec<Pending>,
    ) {
        let renamed_from: Vec<String> = event.renamed_from.iter().map(|n| n.text.clone()).collect();
        let entry = Entry::Event(EventEntry {
            schema: file.key.clone(),
            name: event.name.text.clone(),
            aggregate: event.aggregate.text.clone(),
            renamed_from: renamed_from.clone(),
            retired: event.retired,
            compatibility: event.compatibility,
        });
        let revision = match locked {
            None => Some(format!("event `{}` is not in the lock", event.name)),
            Some(l) => {
                let denied = l.aggregate != event.aggregate.text
                    || (l.retired && !event.retired)
                    || !event.compatibility.keeps(&l.compatibility)
                    || l.names
                        .iter()
                        .any(|n| *n != event.name.text && !renamed_from.contains(n));
                let changed = l.schema != file.key
                    || l.name != event.name.text
                    || l.retired != event.retired
                    || l.renamed_from != renamed_from
                    || l.compatibility != event.compatibility;
                (changed && !denied).then(|| {
                    if l.name != event.name.text {
                        format!("event `{}` was renamed from `{}`", event.name, l.name)
                    } else if l.retired != event.retired {
                        format!("event `{}` was retired", event.name)
                    } else if l.compatibility != event.compatibility {
                        format!(
                            "event `{}` is now `{}` compatible",
                            event.name,
                            event.compatibility.describe()
                        )
                    } else {
                        format!("event `{}` changed since it was locked", event.name)
                    }
                })
            }
        };
        if let Some(why) = revision {
            out.push(Pending {
                entry,
                file: fi,
                span: event.name.span,
                event: Some(event.name.text.clone()),
                version: None,
                why,
            });
        }
        for version in &event.versions {
            let fields = canonical::fields(&version.fields);
            let defaults = canonical::defaults(&version.fields);
            let renamed = canonical::renames(&version.fields);
            let why = match locked.and_then(|l| l.versions.get(&version.number)) {
                None => format!(
                    "version {} of event `{}` is not in the lock",
                    version.number, event.name
                ),
                // A locked shape never changes (`version_modified`).
                Some(l) if l.fields != fields => continue,
                Some(l) if l.defaults == defaults && l.renamed == renamed => continue,
                Some(_) => format!(
                    "the defaults or `renamed_from` of version {} of event `{}` changed since it \
                     was locked",
                    version.number, event.name
                ),
            };
            out.push(Pending {
                entry: Entry::Version(VersionEntry {
                    schema: file.key.clone(),
                    event: event.name.text.clone(),
                    number: version.number,
                    fingerprint: canonical::fingerprint(&canonical::fields_form(&fields)),
                    fields,
                    defaults,
                    renamed,
                }),
                file: fi,
                span: version.span,
                event: Some(event.name.text.clone()),
                version: Some(version.number),
                why,
            });
        }
    }
}

/// The passes of event matching, in order: a locked event continues a current one of the same
/// file and name, else of the same name, else one that lists a stored name of it in
/// `renamed_from`.
#[derive(Debug, Clone, Copy)]
enum Pass {
    FileAndName,
    Name,
    RenamedFrom,
}

/// Matches current records or enums onto locked ones: by file and name, then by name.
fn match_named(
    locked: &[(&str, &str)],
    files: &[SchemaFile],
    names: fn(&SchemaFile) -> Vec<String>,
    out: &mut [Vec<Option<usize>>],
) {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (li, (_, name)) in locked.iter().enumerate() {
        by_name.entry(name).or_default().push(li);
    }
    let mut taken = vec![false; locked.len()];
    for exact in [true, false] {
        for (fi, file) in files.iter().enumerate() {
            for (i, name) in names(file).into_iter().enumerate() {
                if out[fi][i].is_some() {
                    continue;
                }
                let found = by_name.get(name.as_str()).and_then(|candidates| {
                    candidates
                        .iter()
                        .copied()
                        .find(|&li| !taken[li] && (!exact || locked[li].0 == file.key))
                });
                if let Some(li) = found {
                    taken[li] = true;
                    out[fi][i] = Some(li);
                }
            }
        }
    }
}

/// The record or enum a field type names, if any (`option<list<Address>>` names `Address`).
pub(crate) fn named(ty: &Type) -> impl Iterator<Item = String> {
    let mut ty = ty;
    while let Type::Option(inner) | Type::List(inner) | Type::Map(inner) = ty {
        ty = inner;
    }
    match ty {
        Type::Record(name) | Type::Enum(name) => Some(name.clone()),
        _ => None,
    }
    .into_iter()
}
