//! Integrity checking and hot backup of an LMDB store.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use heed::CompactionOption;

use super::record::RecordView;
use super::store::LmdbStore;
use super::tables::lmdb;
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
    /// The head position of the copy: every event up to it is in the backup.
    pub head: u64,
    /// The size of the copied data file, in bytes.
    pub bytes: u64,
}

impl LmdbStore {
    /// Checks the store's invariants in one consistent read: positions dense from 1, every
    /// record readable with a known codec (and JSON payloads valid JSON), stream versions dense
    /// from 1, the stream index and stream heads consistent with the records, the catalog
    /// table's counts equal to a recount of the log up to `meta[catalog_through]`.
    ///
    /// The read transaction stays open for the whole check; on a large store, run it off-peak.
    ///
    /// # Errors
    ///
    /// Storage errors that stop the check itself; broken invariants are reported in the
    /// [`VerifyReport`], not as errors.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.shared().read(|txn, dbs| {
            let mut report = VerifyReport::default();
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
                        if let Err(e) =
                            serde_json::from_slice::<serde::de::IgnoredAny>(view.payload)
                        {
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
                        None => {
                            report.violation(format!("stream_index[{name}/{version}]"), "missing")
                        }
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
        })
    }

    /// Writes a consistent, compacted copy of the store to the new directory `dest` while
    /// appends go on (LMDB copies one read snapshot). Restore by opening `dest` as a store, or
    /// by moving its `data.mdb` into an empty directory.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `dest` exists and is not an empty directory; I/O and LMDB
    /// errors (a partial copy is removed).
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<BackupReport> {
        let dest = dest.as_ref();
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
        let path = dest.join("data.mdb");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        // The head the copy holds at least: read before the copy's snapshot is taken.
        let head = self.shared().read(|txn, dbs| last_position(txn, dbs))?;
        let copied = {
            let _shared_gate = self.shared().gate.read().unwrap_or_else(|p| p.into_inner());
            self.shared()
                .env
                .copy_to_file(&mut file, CompactionOption::Enabled)
        };
        if let Err(error) = copied {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(lmdb(error));
        }
        file.flush()?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        #[cfg(unix)]
        std::fs::File::open(dest)?.sync_all()?;
        Ok(BackupReport { head, bytes })
    }
}
