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
//! - `tables`: the databases, their key encodings and the lookups on them;
//! - `record`: the stored record (envelope + payload) and its bounds-checked parser;
//! - `store`: [`LmdbStore`] and its `EventStore` implementation (snapshots included);
//! - `reads`: replays and paged iterators;
//! - `writer`: group commit;
//! - `catalog`: the counts per (aggregate, type, version);
//! - `verify`: `verify` and `backup`;
//! - `projection`: checkpoints, parked events and read models of the projection engine.

mod catalog;
pub(crate) mod env;
mod options;
mod projection;
pub(crate) mod reads;
pub(crate) mod record;
mod store;
pub(crate) mod tables;
mod verify;
mod writer;

pub use options::{Durability, StoreOptions};
pub use store::LmdbStore;
pub use verify::{BackupReport, VerifyReport, Violation};
