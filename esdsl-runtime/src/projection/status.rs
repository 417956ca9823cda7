//! What every projection of a store is doing: checkpoints, lag, parked events, rebuilds. Read
//! from the store's own records, so it works from outside the process that runs them
//! (`cargo esdsl projections`).

use std::collections::BTreeMap;

use super::backend::{ProjectionRead, ProjectionStore, State};
use crate::error::Result;

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
    /// The status of every projection of a store.
    ///
    /// # Errors
    ///
    /// Storage errors; a damaged checkpoint is [`Error::Corrupt`](crate::Error::Corrupt).
    pub fn of<S: ProjectionStore>(store: &S) -> Result<StoreStatus> {
        store.read(&mut |read| StoreStatus::from_read(read))
    }

    /// [`StoreStatus::of`] for async code: the read runs on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`StoreStatus::of`].
    #[cfg(feature = "tokio")]
    pub async fn of_async<S: ProjectionStore>(store: &S) -> Result<StoreStatus> {
        let store = store.clone();
        crate::task::off_executor(move || StoreStatus::of(&store)).await
    }

    /// The status read from a backend's read snapshot (see
    /// [`LmdbStore::read_only_status`](crate::lmdb::LmdbStore::read_only_status) for a store
    /// opened read-only from another process).
    ///
    /// # Errors
    ///
    /// As [`StoreStatus::of`].
    pub fn from_read(read: &dyn ProjectionRead) -> Result<StoreStatus> {
        collect(read.head()?, read.states()?, read.parked_counts()?)
    }
}

/// A named checkpoint of an external runner: `<name>#<index>/<count>` (projection names hold
/// neither `@` nor `#`).
fn external_checkpoint(name: &str) -> Option<(&str, u32, u32)> {
    let (left, part) = name.rsplit_once('#')?;
    let (index, count) = part.split_once('/')?;
    if left.contains(['@', '#']) {
        return None;
    }
    Some((left, index.parse().ok()?, count.parse().ok()?))
}

fn collect(head: u64, states: Vec<State>, parked: Vec<(String, u64)>) -> Result<StoreStatus> {
    let mut active: BTreeMap<String, u64> = BTreeMap::new();
    // (name, generation) -> the partition count its first runner recorded.
    let mut counts: BTreeMap<(String, u64), u32> = BTreeMap::new();
    // (kind, name) -> generation -> (count, index) -> checkpoint
    type Checkpoints = BTreeMap<u64, BTreeMap<(u32, u32), u64>>;
    let mut found: BTreeMap<(ProjectionKind, String), Checkpoints> = BTreeMap::new();
    for state in states {
        let (kind, name, generation, index, count, position) = match state {
            State::Generation { name, generation } => {
                active.insert(name, generation);
                continue;
            }
            State::Partitions {
                name,
                generation,
                count,
            } => {
                counts.insert((name, generation), count);
                continue;
            }
            State::Checkpoint {
                name,
                generation,
                partition,
                position,
            } => (
                ProjectionKind::Store,
                name,
                generation,
                partition.index,
                partition.count,
                position,
            ),
            State::Consumer { name, position } => match external_checkpoint(&name) {
                Some((external, index, count)) => (
                    ProjectionKind::External,
                    external.to_owned(),
                    0,
                    index,
                    count,
                    position,
                ),
                None => (ProjectionKind::Checkpoint, name, 0, 0, 1, position),
            },
        };
        found
            .entry((kind, name))
            .or_default()
            .entry(generation)
            .or_default()
            .insert((count, index), position);
    }
    let mut parked_counts: BTreeMap<String, u64> = parked.into_iter().collect();

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
    fn external_checkpoints_are_told_apart() {
        assert_eq!(external_checkpoint("sink#0/1"), Some(("sink", 0, 1)));
        assert_eq!(external_checkpoint("my-consumer"), None);
        assert_eq!(external_checkpoint("odd#x/1"), None);
        assert_eq!(external_checkpoint("a@b#0/1"), None);
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
