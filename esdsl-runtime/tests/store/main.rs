//! The LMDB store, the repository and time travel, on real environments in temp dirs.

mod bad_data;
mod bad_input;
#[cfg(feature = "tokio")]
mod asynchronous;
mod bank;
mod concurrency;
mod crash;
mod damaged;
mod projections;
mod regressions;
mod reliability;
mod repository;
mod snapshots;
mod store;
