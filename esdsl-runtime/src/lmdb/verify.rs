//! Integrity checking and hot backup of an LMDB store.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use heed::{CompactionOption, Env, RoTxn, WithoutTls};

use super::env::ReadOnly;
use super::pages::{self, DATA_FILE, Walk};
use super::record::RecordView;
use super::store::LmdbStore;
use super::tables::lmdb;
use super::tables::{DATABASES, Dbs};
use super::tables::{head_version, last_position, stream_id_value};
use super::tables::{split_catalog_key, u64_from};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::store::category;

/// One broken invariant, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: the database and key, e.g. `events[42]`.
    pub location: String,
    /// What is wrong.
    pub problem: String,
}

/// What [`LmdbStore::verify`] looked at and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Event records read.
    pub events: u64,
    /// Streams checked.
    pub streams: u64,
    /// JSON payloads parsed (postcard payloads need the Rust types and are not parsed).
    pub json_payloads: u64,
    /// Pages of the data file walked (both snapshots LMDB keeps, meta pages included).
    pub pages: u64,
    /// Databases in the store that esdsl does not use (another program's), by name; not a
    /// violation, but worth knowing.
    pub unknown_databases: Vec<String>,
    /// Every broken invariant.
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    /// Whether every invariant holds.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    fn violation(&mut self, location: impl Into<String>, problem: impl Into<String>) {
        self.violations.push(Violation {
            location: location.into(),
            problem: problem.into(),
        });
    }
}

/// What [`LmdbStore::backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The head position of the copy, read from the copy once written: the backup holds every
    /// event up to it and none after it.
    pub head: u64,
    /// The size of the copied data file, in bytes.
    pub bytes: u64,
    /// Databases in the source that esdsl does not use (another program's), by name; the copy
    /// holds them too.
    pub unknown_databases: Vec<String>,
}

/// The record-level checks of [`LmdbStore::verify`], in one read transaction, after the walk
/// of the data file found its structure sound.
fn check_records(txn: &RoTxn<'_, WithoutTls>, dbs: &Dbs, walk: &Walk) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        pages: walk.pages,
        unknown_databases: unknown_databases(walk),
        ..VerifyReport::default()
    };
    // stream name -> (record versions seen, in position order)
    let mut versions: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    // The recount of what the catalog table covers (the tail after it is counted
    // from the log whenever the catalog is read).
    let mut catalog: BTreeMap<(String, String, u32), u64> = BTreeMap::new();
    let last = last_position(txn, dbs)?;
    let catalog_through = match super::catalog::stored_through(txn, dbs) {
        Ok(Some(through)) if through > last => {
            report.violation(
                "meta[catalog_through]",
                format!("{through} is beyond the last position {last}"),
            );
            last
        }
        Ok(Some(through)) => through,
        Ok(None) => last,
        Err(error) => {
            report.violation("meta[catalog_through]", error.to_string());
            last
        }
    };
    // `None`: the last position was u64::MAX, so any record after it is out of place.
    let mut expected_position = Some(1);
    for entry in dbs.events.iter(txn).map_err(lmdb)? {
        let (key, value) = entry.map_err(lmdb)?;
        report.events += 1;
        let Some(position) = u64_from(key) else {
            report.violation(format!("events[{key:?}]"), "key is not an 8-byte position");
            continue;
        };
        let at = format!("events[{position}]");
        match expected_position {
            Some(expected) if position != expected => {
                report.violation(&at, format!("position gap: expected {expected}"));
            }
            Some(_) => {}
            None => report.violation(&at, "a position after u64::MAX"),
        }
        expected_position = position.checked_add(1);
        let view = match RecordView::parse(value) {
            Ok(view) => view,
            Err(reason) => {
                report.violation(&at, format!("unreadable record: {reason}"));
                continue;
            }
        };
        match Codec::from_id(view.codec_id) {
            None => report.violation(&at, format!("unknown codec id {}", view.codec_id)),
            Some(Codec::Json) => {
                report.json_payloads += 1;
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(view.payload) {
                    report.violation(&at, format!("payload is not valid JSON: {e}"));
                }
            }
            Some(_) => {}
        }
        versions
            .entry(view.stream.to_owned())
            .or_default()
            .push((view.version, position));
        if position <= catalog_through {
            *catalog
                .entry((
                    category(view.stream).to_owned(),
                    view.event_type.to_owned(),
                    view.schema_version,
                ))
                .or_default() += 1;
        }
    }

    // Streams: heads, dense versions, index entries pointing at the right records.
    let mut ids: HashMap<u64, String> = HashMap::new();
    for entry in dbs.streams.iter(txn).map_err(lmdb)? {
        let (name, value) = entry.map_err(lmdb)?;
        report.streams += 1;
        let name = String::from_utf8_lossy(name).into_owned();
        let at = format!("streams[{name}]");
        let Some(id) = stream_id_value(value) else {
            report.violation(&at, "value is neither 8 bytes (id) nor 16 (id, version)");
            continue;
        };
        let head = match head_version(txn, dbs, id) {
            Ok(head) => head,
            Err(error) => {
                report.violation(&at, error.to_string());
                continue;
            }
        };
        if let Some(other) = ids.insert(id, name.clone()) {
            report.violation(&at, format!("stream id {id} is also used by `{other}`"));
        }
        let recorded = versions.remove(&name).unwrap_or_default();
        let dense: Vec<u64> = (1..=recorded.len() as u64).collect();
        let seen: Vec<u64> = recorded.iter().map(|(v, _)| *v).collect();
        if seen != dense {
            report.violation(
                &at,
                format!(
                    "versions are not dense from 1 in position order ({} events)",
                    seen.len()
                ),
            );
        }
        if head != recorded.len() as u64 {
            report.violation(
                &at,
                format!(
                    "head version {head}, but {} events are stored",
                    recorded.len()
                ),
            );
        }
        for (version, position) in recorded {
            let key = super::tables::stream_key(id, version);
            match dbs
                .stream_index
                .get(txn, &key)
                .map_err(lmdb)?
                .and_then(u64_from)
            {
                Some(indexed) if indexed == position => {}
                Some(indexed) => report.violation(
                    format!("stream_index[{name}/{version}]"),
                    format!("points at position {indexed}, the record is at {position}"),
                ),
                None => report.violation(format!("stream_index[{name}/{version}]"), "missing"),
            }
        }
    }
    for (name, recorded) in versions {
        report.violation(
            format!("streams[{name}]"),
            format!("{} events but no stream head", recorded.len()),
        );
    }
    let index_entries = dbs.stream_index.len(txn).map_err(lmdb)?;
    if index_entries != report.events {
        report.violation(
            "stream_index",
            format!("{index_entries} entries for {} events", report.events),
        );
    }
    if let Some(next) = dbs
        .meta
        .get(txn, b"next_stream_id")
        .map_err(lmdb)?
        .and_then(u64_from)
        && let Some(max) = ids.keys().max()
        && next <= *max
    {
        report.violation(
            "meta[next_stream_id]",
            format!("{next} is not above the largest stream id {max}"),
        );
    }

    // Catalog counts.
    for entry in dbs.catalog.iter(txn).map_err(lmdb)? {
        let (key, value) = entry.map_err(lmdb)?;
        let Some(parts) = split_catalog_key(key) else {
            report.violation(format!("catalog[{key:?}]"), "unreadable key");
            continue;
        };
        let at = format!("catalog[{}/{}/v{}]", parts.0, parts.1, parts.2);
        let stored = u64_from(value);
        let counted = catalog.remove(&parts).unwrap_or(0);
        if stored != Some(counted) {
            report.violation(at, format!("count {stored:?}, recount {counted}"));
        }
    }
    for ((aggregate, event_type, version), count) in catalog {
        report.violation(
            format!("catalog[{aggregate}/{event_type}/v{version}]"),
            format!("missing, recount {count}"),
        );
    }
    Ok(report)
}

impl LmdbStore {
    /// Checks the store, first LMDB's structure, then esdsl's invariants.
    ///
    /// The data file is walked with plain reads (never the memory map): both meta pages, every
    /// B-tree page of both snapshots LMDB keeps, every overflow run, bounds-checked. Damage
    /// there is an [`Error::Damaged`] naming the file, page and byte offset, never a crash. Then,
    /// in one consistent read: positions dense from 1, every record readable with a known codec
    /// (and JSON payloads valid JSON), stream versions dense from 1, the stream index and
    /// stream heads consistent with the records, the catalog table's counts equal to a recount
    /// of the log up to `meta[catalog_through]`.
    ///
    /// The read transaction stays open for the whole check; on a large store, run it off-peak.
    /// [`LmdbStore::verify_read_only`] checks a store this process does not have open.
    ///
    /// # Errors
    ///
    /// [`Error::Damaged`] when LMDB's structure is damaged; storage errors that stop the check
    /// itself. Broken invariants are reported in the [`VerifyReport`], not as errors.
    pub fn verify(&self) -> Result<VerifyReport> {
        let dir = self.shared().path().to_path_buf();
        self.shared().read(|txn, dbs| {
            // The walk runs inside the read transaction, so no page it reads is reused.
            let walk = pages::walk(&dir)?;
            check_records(txn, dbs, &walk)
        })
    }

    /// [`LmdbStore::verify`] on the store in `dir`, opened read-only: the data file is never
    /// written and may be read-only itself, no database is created, and processes running the
    /// store are not disturbed (`cargo esdsl store verify`).
    ///
    /// ```
    /// use esdsl_runtime::lmdb::LmdbStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// drop(LmdbStore::open(dir.path())?);
    /// let report = LmdbStore::verify_read_only(dir.path())?;
    /// assert!(report.is_ok());
    /// assert!(report.unknown_databases.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoStore`] when `dir` holds no store (no `data.mdb`, or an empty one);
    /// [`Error::Damaged`] when LMDB's structure is damaged; [`Error::AlreadyOpen`] when this
    /// process has the store open (call [`LmdbStore::verify`] on that handle);
    /// [`Error::FormatVersion`] for a store of another format; storage errors.
    pub fn verify_read_only(dir: impl AsRef<Path>) -> Result<VerifyReport> {
        ReadOnly::with(dir.as_ref(), |store| {
            store.in_txn(|txn, dbs| check_records(txn, dbs, store.walk()))
        })
    }

    /// Writes a consistent, compacted copy of the store to the new directory `dest` while
    /// appends go on (LMDB copies one read snapshot), after checking the store with
    /// [`LmdbStore::verify`]. Restore by opening `dest` as a store, or by moving its
    /// `data.mdb` into an empty directory.
    ///
    /// # Errors
    ///
    /// As [`LmdbStore::backup_with`] with the default [`BackupOptions`].
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<BackupReport> {
        self.backup_with(dest, &BackupOptions::default())
    }

    /// [`LmdbStore::backup`] with options: [`BackupOptions::verify`] `false` copies a store
    /// whose invariants are broken (LMDB's structure is walked and must be sound either way:
    /// LMDB's copy follows it blindly).
    ///
    /// ```
    /// use esdsl_runtime::lmdb::{BackupOptions, LmdbStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = LmdbStore::open(dir.path().join("live"))?;
    /// let report = store.backup_with(dir.path().join("copy"), &BackupOptions::new().verify(false))?;
    /// assert_eq!(report.head, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `dest` exists and is not an empty directory, or lies inside
    /// the store's directory; [`Error::Damaged`] when the store is damaged or, unless told not
    /// to verify, breaks an invariant; I/O and LMDB errors (a partial copy is removed).
    pub fn backup_with(
        &self,
        dest: impl AsRef<Path>,
        options: &BackupOptions,
    ) -> Result<BackupReport> {
        let (dir, dest) = (self.shared().path(), dest.as_ref());
        outside_store(dir, dest)?;
        let unknown = if options.verify {
            let report = self.verify()?;
            refuse_violations(dir, &report)?;
            report.unknown_databases
        } else {
            unknown_databases(&self.shared().read(|_, _| pages::walk(dir))?)
        };
        let report = copy(&self.shared().env, dest, || {
            self.shared().gate.read().unwrap_or_else(|p| p.into_inner())
        })?;
        Ok(BackupReport {
            unknown_databases: unknown,
            ..report
        })
    }

    /// [`LmdbStore::backup_with`] from the store in `dir`, opened read-only: the source is
    /// never written and may be read-only itself (`cargo esdsl store backup`).
    ///
    /// # Errors
    ///
    /// As [`LmdbStore::backup_with`]; [`Error::NoStore`] when `dir` holds no store;
    /// [`Error::AlreadyOpen`] when this process has the store open (back up through that
    /// handle).
    pub fn backup_read_only(
        dir: impl AsRef<Path>,
        dest: impl AsRef<Path>,
        options: &BackupOptions,
    ) -> Result<BackupReport> {
        let (dir, dest) = (dir.as_ref(), dest.as_ref());
        pages::check_existing(dir)?;
        outside_store(dir, dest)?;
        ReadOnly::with(dir, |store| {
            if options.verify {
                let report = store.in_txn(|txn, dbs| check_records(txn, dbs, store.walk()))?;
                refuse_violations(dir, &report)?;
            }
            let report = copy(store.env(), dest, || ())?;
            Ok(BackupReport {
                unknown_databases: unknown_databases(store.walk()),
                ..report
            })
        })
    }

    /// The databases in the store in `dir` that esdsl does not use (another program's), by
    /// name, read with the store opened read-only (after the walk of its data file).
    ///
    /// # Errors
    ///
    /// As [`LmdbStore::read_only_catalog`].
    pub fn read_only_unknown_databases(dir: impl AsRef<Path>) -> Result<Vec<String>> {
        ReadOnly::with(dir.as_ref(), |store| Ok(unknown_databases(store.walk())))
    }
}

/// The databases a walk found that esdsl does not use.
fn unknown_databases(walk: &Walk) -> Vec<String> {
    walk.databases
        .iter()
        .filter(|name| !DATABASES.contains(&name.as_str()))
        .cloned()
        .collect()
}

/// How [`LmdbStore::backup_with`] backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupOptions {
    verify: bool,
}

impl Default for BackupOptions {
    fn default() -> BackupOptions {
        BackupOptions { verify: true }
    }
}

impl BackupOptions {
    /// The defaults: verify first.
    pub fn new() -> BackupOptions {
        BackupOptions::default()
    }

    /// Whether to run [`LmdbStore::verify`] first and refuse a store that breaks an invariant
    /// (default `true`). Without it, a store whose records are damaged is copied as it is;
    /// LMDB's own structure is checked either way.
    pub fn verify(mut self, verify: bool) -> BackupOptions {
        self.verify = verify;
        self
    }
}

/// A backup refuses a store whose check found a broken invariant.
fn refuse_violations(dir: &Path, report: &VerifyReport) -> Result<()> {
    let Some(first) = report.violations.first() else {
        return Ok(());
    };
    Err(Error::Damaged {
        file: dir.join(DATA_FILE).display().to_string(),
        page: None,
        offset: None,
        problem: format!(
            "verify found {} violation(s), the first at {}: {}; no backup written (back up \
             without verifying to copy the store as it is)",
            report.violations.len(),
            first.location,
            first.problem
        ),
    })
}

/// Refuses a backup destination inside the store's directory: LMDB would copy into the store
/// it reads, and a restore would nest stores.
fn outside_store(store: &Path, dest: &Path) -> Result<()> {
    let store = std::fs::canonicalize(store)?;
    let dest_resolved = resolve(dest)?;
    if dest_resolved.starts_with(&store) {
        return Err(Error::InvalidInput(format!(
            "backup destination `{}` is inside the store directory `{}`",
            dest.display(),
            store.display()
        )));
    }
    Ok(())
}

/// `path` made absolute with symbolic links resolved as far as it exists, the rest (not
/// created yet) joined lexically.
fn resolve(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let base = loop {
        match std::fs::canonicalize(existing) {
            Ok(base) => break base,
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => break existing.to_path_buf(),
            },
        }
    };
    let mut resolved = base;
    for name in rest.iter().rev() {
        resolved.push(name);
    }
    let mut normal = PathBuf::new();
    for component in resolved.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    Ok(normal)
}

/// Copies `env` (compacted) into the new directory `dest`, holding `guard` during the copy;
/// the report's head is read from the copy itself.
fn copy<G>(env: &Env<WithoutTls>, dest: &Path, guard: impl FnOnce() -> G) -> Result<BackupReport> {
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        return Err(Error::InvalidInput(format!(
            "backup destination `{}` is not empty",
            dest.display()
        )));
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dest)?;
    let path = dest.join(DATA_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true).read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    let copied = {
        let _guard = guard();
        env.copy_to_file(&mut file, CompactionOption::Enabled)
    };
    let written = copied.map_err(lmdb).and_then(|()| {
        file.flush()?;
        file.sync_all()?;
        Ok(file.metadata()?.len())
    });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(error) => {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(error);
        }
    };
    drop(file);
    #[cfg(unix)]
    std::fs::File::open(dest)?.sync_all()?;
    // The copy holds the snapshot LMDB took when the copy started, which may be later than any
    // head read before it: read the head from the copy.
    let head = ReadOnly::read(dest, |txn, dbs| last_position(txn, dbs))?;
    Ok(BackupReport {
        head,
        bytes,
        unknown_databases: Vec::new(),
    })
}
