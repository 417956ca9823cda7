//! How a store is opened: durability, map size, batch and directory mode.

/// How durable an acknowledged append is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The default: `append` returns `Ok` only after the commit is synced to disk. Acknowledged
    /// events survive a process crash, an OS crash and a power loss.
    #[default]
    Durable,
    /// One sync per commit instead of two (LMDB's `MDB_NOMETASYNC`: data pages are synced, the
    /// meta page is written but not synced). Acknowledged events survive a process crash; an OS
    /// crash or power loss can undo the most recent commits, but the store stays consistent and
    /// reopens at an earlier commit.
    Relaxed,
    /// No sync at all (LMDB's `MDB_NOSYNC`). Acknowledged events survive a process crash, but
    /// LMDB documents that an OS crash or power loss can lose recent commits **or corrupt the
    /// store**. Use only for data you can rebuild: tests, caches, scratch stores.
    NoSync,
}

/// Options for [`LmdbStore::open_with`](super::LmdbStore::open_with): one builder method per
/// option, each documented with its default.
///
/// ```
/// use esdsl_runtime::lmdb::{Durability, LmdbStore, StoreOptions};
///
/// let dir = tempfile::tempdir()?;
/// let options = StoreOptions::default()
///     .durability(Durability::Relaxed)
///     .initial_map_size(64 << 20);
/// let store = LmdbStore::open_with(dir.path(), options)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub(crate) durability: Durability,
    pub(crate) initial_map_size: usize,
    pub(crate) max_batch: usize,
    pub(crate) dir_mode: u32,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            durability: Durability::Durable,
            initial_map_size: 1 << 30,
            max_batch: 1024,
            dir_mode: 0o700,
        }
    }
}

impl StoreOptions {
    /// Whether appends wait for the disk. Default [`Durability::Durable`].
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> StoreOptions {
        self.durability = durability;
        self
    }

    /// The memory map size to start with, in bytes (rounded up to whole pages); it doubles
    /// whenever it fills. Default 1 GiB.
    #[must_use]
    pub fn initial_map_size(mut self, bytes: usize) -> StoreOptions {
        self.initial_map_size = bytes;
        self
    }

    /// The most appends one group commit takes, at least 1. Default 1,024.
    #[must_use]
    pub fn max_batch(mut self, appends: usize) -> StoreOptions {
        self.max_batch = appends.max(1);
        self
    }

    /// Unix permission bits for the store directory when it is created. Default `0o700` (the
    /// data files are always created `0o600`).
    #[must_use]
    pub fn dir_mode(mut self, mode: u32) -> StoreOptions {
        self.dir_mode = mode;
        self
    }
}
