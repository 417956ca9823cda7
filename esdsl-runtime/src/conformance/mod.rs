//! The contracts as tests any backend runs against itself (feature `testing`).
//!
//! Each function takes a fresh, empty store and panics (with a message naming the broken
//! promise) when the store does not keep the contract.
//!
//! - [`run_all`]: the event store contract ([`EventStore`](crate::store::EventStore));
//! - [`projections::run_all`]: the projection engine on the store
//!   ([`ProjectionStore`](crate::projection::backend::ProjectionStore)).
//!
//! ```
//! let dirs = std::cell::RefCell::new(Vec::new());
//! let fresh = || {
//!     let dir = tempfile::tempdir().expect("temp dir");
//!     let store = esdsl_runtime::lmdb::LmdbStore::open(dir.path()).expect("opens");
//!     dirs.borrow_mut().push(dir);
//!     store
//! };
//! esdsl_runtime::conformance::run_all(fresh);
//! esdsl_runtime::conformance::projections::run_all(fresh);
//! ```
#![allow(clippy::missing_panics_doc)]

pub mod projections;
mod store;

pub use store::{
    catalog_counts, envelope_fields_round_trip, event, expected_version_semantics,
    global_log_reads, global_log_replays, invalid_input_is_rejected,
    multi_event_appends_are_atomic, multi_stream_appends_are_atomic, run_all, stream_reads,
    stream_replays,
};
