//! The embedded backend: the event store on an LMDB environment in a directory.
//!
//! [`LmdbStore`] implements the [`EventStore`](crate::store::EventStore) contract and the
//! projection engine's [`ProjectionStore`](crate::projection::backend::ProjectionStore) interface. The
//! layout on disk is in [`docs/store.md`].
//!
//! [`docs/store.md`]: https://github.com/esdsl/esdsl/blob/main/docs/store.md
//!
//! - `env`: opening the environment (databases, format check and upgrade, read-only opens)
//!   and the read, write and wait primitives every handle shares;
//! - `pages`: the data file checked with plain reads before LMDB maps it (meta pages, length,
//!   a bounds-checked walk of every B-tree);
//! - `tables`: the databases, their key encodings and the lookups on them;
//! - `record`: the stored record (envelope, payload, checksum) and its bounds-checked parser;
//! - `store`: [`LmdbStore`] and its `EventStore` implementation (snapshots included);
//! - `reads`: replays and paged iterators;
//! - `writer`: group commit;
//! - `catalog`: the counts per (aggregate, type, version);
//! - `upgrade`: upgrades of an older store's contents in place (checksums, format 3);
//! - `verify`: `verify` and `backup`;
//! - `projection`: checkpoints, parked events and read models of the projection engine.

mod catalog;
pub(crate) mod env;
mod options;
mod pages;
mod projection;
pub(crate) mod reads;
pub(crate) mod record;
mod store;
pub(crate) mod tables;
mod upgrade;
mod verify;
mod writer;

pub use options::{Durability, StoreOptions};
pub use store::LmdbStore;
pub use verify::{BackupOptions, BackupReport, VerifyReport, Violation};

/// Not public API: the record parser, for the fuzz targets in `fuzz/` (feature `testing`).
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod fuzzing {
    use super::record::{RecordView, readable_envelope};

    /// The databases of a store, in the order they are created.
    pub const TABLES: [&str; 9] = super::tables::DATABASES;

    /// Reads `bytes` as a stored record every way the store does: the parser (and, when it
    /// accepts the bytes, the event and its metadata), and the lenient reader of a damaged
    /// record's envelope. Never panics on any input; panics if a parse that succeeded gives
    /// an event whose fields disagree with it.
    pub fn record(bytes: &[u8]) {
        let readable = readable_envelope(bytes);
        let Ok(view) = RecordView::parse(bytes) else {
            return;
        };
        let event = view.event_ref(1);
        let recorded = view.to_recorded(1);
        assert_eq!(recorded.stream, view.stream);
        assert_eq!(recorded.event_type, event.event_type());
        assert_eq!(recorded.payload, event.payload());
        assert_eq!(recorded.metadata, event.metadata().to_map());
        assert_eq!(readable.stream.as_deref(), Some(view.stream));
        assert_eq!(readable.event_type.as_deref(), Some(view.event_type));
        let known = RecordView::parse_known(bytes, Some(view.stream), Some(view.event_type));
        assert!(
            known.is_ok(),
            "parses again with its own names as the known ones"
        );
    }
}
