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

/// Options for [`LmdbStore::open_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Whether appends wait for the disk. Default [`Durability::Durable`].
    pub durability: Durability,
    /// The memory map size to start with, in bytes; it doubles whenever it fills. Default 1 GiB.
    pub initial_map_size: usize,
    /// The most appends one group commit takes. Default 1024.
    pub max_batch: usize,
    /// Unix permission bits for the store directory when it is created. Default `0o700`
    /// (the data files are always created `0o600`).
    pub dir_mode: u32,
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
    /// Sets the durability.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> StoreOptions {
        self.durability = durability;
        self
    }

    /// Sets the initial map size (rounded up to whole pages).
    #[must_use]
    pub fn initial_map_size(mut self, bytes: usize) -> StoreOptions {
        self.initial_map_size = bytes;
        self
    }
}
