//! What every projection of a store is doing: checkpoints, lag, parked events, rebuilds. Read
//! from the store's own records, so it works from outside the process that runs them
//! (`cargo esdsl projections`).

use std::collections::BTreeMap;
use std::path::Path;

use heed::types::Bytes;
use heed::{Database, RoTxn};

use super::runner::{GENERATION_PREFIX, PARTITIONS_PREFIX};
use crate::error::Result;
use crate::lmdb::LmdbStore;
use crate::lmdb::env::ReadOnly;
use crate::lmdb::tables::corrupt;
use crate::lmdb::tables::u64_from;

type Db = Database<'static, Bytes, Bytes>;

/// The projections of a store, and the head of its log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStatus {
    /// The position of the last event in the log.
    pub head: u64,
    /// Every projection (and named checkpoint) found, sorted by name.
    pub projections: Vec<ProjectionStatus>,
}

/// Which runner keeps a projection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProjectionKind {
    /// A [`super::StoreRunner`]: read model and checkpoints in the store, exactly once.
    Store,
    /// An [`super::ExternalRunner`]: checkpoints named `<name>#<index>/<count>`.
    External,
    /// A checkpoint saved with `EventStore::save_checkpoint` under another name.
    Checkpoint,
}

impl ProjectionKind {
    /// `store`, `external` or `checkpoint`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectionKind::Store => "store",
            ProjectionKind::External => "external",
            ProjectionKind::Checkpoint => "checkpoint",
        }
    }
}

/// One projection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProjectionStatus {
    /// The projection's name.
    pub name: String,
    /// Which runner keeps it.
    pub kind: ProjectionKind,
    /// The generation serving reads (store projections; 0 until the first rebuild).
    pub generation: Option<u64>,
    /// The checkpoint of each partition (of the active generation), by index.
    pub partitions: Vec<PartitionStatus>,
    /// How many events are parked.
    pub parked: u64,
    /// A rebuild generation that has not switched yet (store projections).
    pub rebuild: Option<RebuildStatus>,
}

/// One partition's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionStatus {
    /// The partition's index, `0..count`.
    pub index: u32,
    /// How many partitions the projection runs as.
    pub count: u32,
    /// Every position up to this one is processed.
    pub checkpoint: u64,
    /// Positions between the checkpoint and the head (not all of them need be this
    /// projection's events).
    pub lag: u64,
}

/// A rebuild in progress: a generation newer than the active one, with its checkpoint.
///
/// The store cannot tell a running rebuild from one whose process ended before the switch;
/// such a generation is rebuilt afresh (into a newer one) by the next rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RebuildStatus {
    /// The generation being built.
    pub generation: u64,
    /// How far it got.
    pub checkpoint: u64,
    /// The head of the log now.
    pub head: u64,
}

impl RebuildStatus {
    /// `checkpoint` as a percentage of `head` (100 for an empty log), at most 100.
    pub fn percent(&self) -> f64 {
        if self.head == 0 {
            100.0
        } else {
            (self.checkpoint as f64 * 100.0 / self.head as f64).min(100.0)
        }
    }
}

impl StoreStatus {
    /// The status of every projection of an open store.
    ///
    /// # Errors
    ///
    /// Storage errors; a checkpoint that is not 8 bytes is [`Error::Corrupt`].
    pub fn of(store: &LmdbStore) -> Result<StoreStatus> {
        store
            .shared()
            .read(|txn, dbs| collect(txn, dbs.events, dbs.checkpoints, dbs.parked))
    }

    /// The status of every projection of the store in `dir`, opened read-only for one short
    /// read transaction: it writes nothing (not even the map size), takes no write lock and
    /// starts no writer, so processes running the store are not disturbed. LMDB readers of
    /// several processes coexist with the writer; this one registers in the lock file like
    /// any reader.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `dir` holds no store; [`Error::AlreadyOpen`] when this
    /// process has the store open (use [`StoreStatus::of`]); [`Error::FormatVersion`] for a
    /// store of another format; LMDB and I/O errors.
    pub fn read_only(dir: &Path) -> Result<StoreStatus> {
        ReadOnly::read(dir, |txn, dbs| {
            collect(txn, dbs.events, dbs.checkpoints, dbs.parked)
        })
    }
}

/// A store runner's checkpoint key: `<name>@<generation>#<index>/<count>`; an external
/// runner's: `<name>#<index>/<count>` (projection names hold neither `@` nor `#`).
enum Key<'k> {
    Store(&'k str, u64, u32, u32),
    External(&'k str, u32, u32),
    Other(&'k str),
}

fn parse_key(key: &str) -> Key<'_> {
    let partition = key.rsplit_once('#').and_then(|(left, part)| {
        let (index, count) = part.split_once('/')?;
        Some((left, index.parse().ok()?, count.parse().ok()?))
    });
    match partition {
        Some((left, index, count)) => match left.rsplit_once('@') {
            Some((name, generation)) => match generation.parse() {
                Ok(generation) if !name.contains('#') => Key::Store(name, generation, index, count),
                _ => Key::Other(key),
            },
            None => Key::External(left, index, count),
        },
        None => Key::Other(key),
    }
}

fn collect(txn: &RoTxn<'_>, events: Db, checkpoints: Db, parked: Db) -> Result<StoreStatus> {
    let head = match events.last(txn)? {
        None => 0,
        Some((key, _)) => u64_from(key)
            .ok_or_else(|| corrupt("events", &format!("{key:?}"), "key is not 8 bytes"))?,
    };
    let mut active: BTreeMap<String, u64> = BTreeMap::new();
    // (name, generation) -> the partition count its first runner recorded.
    let mut counts: BTreeMap<(String, u64), u32> = BTreeMap::new();
    // (kind, name) -> generation -> (count, index) -> checkpoint
    type Checkpoints = BTreeMap<u64, BTreeMap<(u32, u32), u64>>;
    let mut found: BTreeMap<(ProjectionKind, String), Checkpoints> = BTreeMap::new();
    for entry in checkpoints.iter(txn)? {
        let (key, value) = entry?;
        let text = String::from_utf8_lossy(key);
        if let Some(name) = key.strip_prefix(GENERATION_PREFIX) {
            let generation =
                u64_from(value).ok_or_else(|| corrupt("checkpoints", &text, "not 8 bytes"))?;
            active.insert(String::from_utf8_lossy(name).into_owned(), generation);
            continue;
        }
        if let Some(rest) = key.strip_prefix(PARTITIONS_PREFIX) {
            let rest = String::from_utf8_lossy(rest);
            let count = value.try_into().ok().map(u32::from_be_bytes);
            let parsed = rest
                .rsplit_once('@')
                .and_then(|(name, generation)| Some((name, generation.parse::<u64>().ok()?)));
            if let (Some(count), Some((name, generation))) = (count, parsed) {
                counts.insert((name.to_owned(), generation), count);
            }
            continue;
        }
        if key.starts_with(b"\0") {
            // Other bookkeeping (the next rebuild's generation).
            continue;
        }
        let position =
            u64_from(value).ok_or_else(|| corrupt("checkpoints", &text, "not 8 bytes"))?;
        let (kind, name, generation, index, count) = match parse_key(&text) {
            Key::Store(name, generation, index, count) => {
                (ProjectionKind::Store, name, generation, index, count)
            }
            Key::External(name, index, count) => (ProjectionKind::External, name, 0, index, count),
            Key::Other(name) => (ProjectionKind::Checkpoint, name, 0, 0, 1),
        };
        found
            .entry((kind, name.to_owned()))
            .or_default()
            .entry(generation)
            .or_default()
            .insert((count, index), position);
    }
    let mut parked_counts: BTreeMap<String, u64> = BTreeMap::new();
    for entry in parked.iter(txn)? {
        let (key, _) = entry?;
        let Some(split) = key.len().checked_sub(9).filter(|at| key[*at] == 0) else {
            return Err(corrupt("parked", &String::from_utf8_lossy(key), "bad key"));
        };
        *parked_counts
            .entry(String::from_utf8_lossy(&key[..split]).into_owned())
            .or_default() += 1;
    }

    let mut projections = Vec::new();
    for ((kind, name), generations) in found {
        let generation =
            (kind == ProjectionKind::Store).then(|| active.get(&name).copied().unwrap_or(0));
        let serving = generation.unwrap_or(0);
        // A rebuild that changed the count leaves its single-partition checkpoint behind:
        // show the partitions of the recorded count.
        let recorded = counts.get(&(name.clone(), serving)).copied();
        let partitions = generations
            .get(&serving)
            .map(|checkpoints| {
                checkpoints
                    .iter()
                    .filter(|((count, _), _)| recorded.is_none_or(|r| r == *count))
                    .map(|((count, index), checkpoint)| PartitionStatus {
                        index: *index,
                        count: *count,
                        checkpoint: *checkpoint,
                        lag: head.saturating_sub(*checkpoint),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rebuild = generations
            .range(serving.saturating_add(1)..)
            .next_back()
            .filter(|_| kind == ProjectionKind::Store)
            .map(|(generation, indexes)| RebuildStatus {
                generation: *generation,
                checkpoint: indexes.values().copied().min().unwrap_or(0),
                head,
            });
        let parked = if kind == ProjectionKind::Checkpoint {
            0
        } else {
            parked_counts.remove(&name).unwrap_or(0)
        };
        projections.push(ProjectionStatus {
            name,
            kind,
            generation,
            partitions,
            parked,
            rebuild,
        });
    }
    // Parked events of a name with no checkpoint left.
    for (name, parked) in parked_counts {
        projections.push(ProjectionStatus {
            name,
            kind: ProjectionKind::External,
            generation: None,
            partitions: Vec::new(),
            parked,
            rebuild: None,
        });
    }
    projections.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
    Ok(StoreStatus { head, projections })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_keys_are_told_apart() {
        assert!(matches!(
            parse_key("balances@3#1/4"),
            Key::Store("balances", 3, 1, 4)
        ));
        assert!(matches!(parse_key("sink#0/1"), Key::External("sink", 0, 1)));
        assert!(matches!(
            parse_key("my-consumer"),
            Key::Other("my-consumer")
        ));
        assert!(matches!(parse_key("odd#x/1"), Key::Other("odd#x/1")));
        assert!(matches!(parse_key("a@b#0/1"), Key::Other("a@b#0/1")));
    }

    #[test]
    fn a_rebuild_percentage_is_bounded() {
        let rebuild = |checkpoint, head| RebuildStatus {
            generation: 1,
            checkpoint,
            head,
        };
        assert_eq!(rebuild(25, 100).percent(), 25.0);
        assert_eq!(rebuild(0, 0).percent(), 100.0);
        assert_eq!(rebuild(120, 100).percent(), 100.0);
    }
}
