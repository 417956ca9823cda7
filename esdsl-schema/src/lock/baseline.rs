//! The locked state that a lock's entries add up to, how current schemas map onto it, and what
//! `cargo esdsl lock` would append.

use std::collections::BTreeMap;

use super::canonical;
use super::{Entry, EnumEntry, EventEntry, RecordEntry, VersionEntry};
use crate::diag::Span;
use crate::model::{Event, Type};
use crate::schema_file::SchemaFile;

/// Every locked event, type and enum.
#[derive(Debug, Default)]
pub(crate) struct Baseline {
    pub(crate) events: Vec<LockedEvent>,
    pub(crate) records: Vec<LockedRecord>,
    pub(crate) enums: Vec<LockedEnum>,
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
                    match baseline
                        .records
                        .iter_mut()
                        .find(|r| r.schema == t.schema && r.name == t.name)
                    {
                        Some(record) => record.fields.clone_from(&t.fields),
                        None => baseline.records.push(LockedRecord {
                            schema: t.schema.clone(),
                            name: t.name.clone(),
                            fields: t.fields.clone(),
                        }),
                    }
                }
                Entry::Enum(e) => {
                    match baseline
                        .enums
                        .iter_mut()
                        .find(|x| x.schema == e.schema && x.name == e.name)
                    {
                        Some(locked) => locked.variants.clone_from(&e.variants),
                        None => baseline.enums.push(LockedEnum {
                            schema: e.schema.clone(),
                            name: e.name.clone(),
                            variants: e.variants.clone(),
                        }),
                    }
                }
            }
        }
        (baseline, problems)
    }

    fn add_event(&mut self, e: &EventEntry) {
        let found = self
            .events
            .iter()
            .position(|b| b.schema == e.schema && b.names.contains(&e.name))
            .or_else(|| self.events.iter().position(|b| b.names.contains(&e.name)))
            .or_else(|| {
                self.events
                    .iter()
                    .position(|b| b.names.iter().any(|n| e.renamed_from.contains(n)))
            });
        let Some(index) = found else {
            let mut names = vec![e.name.clone()];
            names.extend(e.renamed_from.iter().cloned());
            self.events.push(LockedEvent {
                schema: e.schema.clone(),
                name: e.name.clone(),
                names,
                renamed_from: e.renamed_from.clone(),
                aggregate: e.aggregate.clone(),
                retired: e.retired,
                versions: BTreeMap::new(),
            });
            return;
        };
        let locked = &mut self.events[index];
        locked.schema.clone_from(&e.schema);
        locked.name.clone_from(&e.name);
        for name in std::iter::once(&e.name).chain(&e.renamed_from) {
            if !locked.names.contains(name) {
                locked.names.push(name.clone());
            }
        }
        locked.renamed_from.clone_from(&e.renamed_from);
        locked.aggregate.clone_from(&e.aggregate);
        locked.retired = e.retired;
    }

    fn add_version(&mut self, v: &VersionEntry) -> Result<(), String> {
        let event = self
            .events
            .iter_mut()
            .find(|b| b.schema == v.schema && b.name == v.event)
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
        let passes: [MatchPass<'_>; 3] = [
            &|b, f, e| b.schema == f.key && b.name == e.name.text,
            &|b, _, e| b.name == e.name.text,
            &|b, _, e| e.renamed_from.iter().any(|r| b.names.contains(&r.text)),
        ];
        for pass in passes {
            for (fi, file) in files.iter().enumerate() {
                for (ei, event) in file.schema.events.iter().enumerate() {
                    if matches.events[fi][ei].is_some() {
                        continue;
                    }
                    let found = self
                        .events
                        .iter()
                        .enumerate()
                        .position(|(bi, b)| !taken[bi] && pass(b, file, event));
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
                if let Some(record) = file.schema.record(&name) {
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
        });
        let revision = match locked {
            None => Some(format!("event `{}` is not in the lock", event.name)),
            Some(l) => {
                let denied = l.aggregate != event.aggregate.text
                    || (l.retired && !event.retired)
                    || l.names
                        .iter()
                        .any(|n| *n != event.name.text && !renamed_from.contains(n));
                let changed = l.schema != file.key
                    || l.name != event.name.text
                    || l.retired != event.retired
                    || l.renamed_from != renamed_from;
                (changed && !denied).then(|| {
                    if l.name != event.name.text {
                        format!("event `{}` was renamed from `{}`", event.name, l.name)
                    } else if l.retired != event.retired {
                        format!("event `{}` was retired", event.name)
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

/// One pass of event matching: whether a locked event continues a current one.
type MatchPass<'p> = &'p dyn Fn(&LockedEvent, &SchemaFile, &Event) -> bool;

/// Matches current records or enums onto locked ones: by file and name, then by name.
fn match_named(
    locked: &[(&str, &str)],
    files: &[SchemaFile],
    names: fn(&SchemaFile) -> Vec<String>,
    out: &mut [Vec<Option<usize>>],
) {
    let mut taken = vec![false; locked.len()];
    for exact in [true, false] {
        for (fi, file) in files.iter().enumerate() {
            for (i, name) in names(file).into_iter().enumerate() {
                if out[fi][i].is_some() {
                    continue;
                }
                let found = locked.iter().enumerate().position(|(li, (schema, n))| {
                    !taken[li] && *n == name && (!exact || *schema == file.key)
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
