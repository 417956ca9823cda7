//! The LMDB store, the repository and time travel, on real environments in temp dirs.

#[cfg(feature = "tokio")]
mod asynchronous;
mod bad_data;
mod bad_input;
mod bank;
mod checksums;
mod concurrency;
mod crash;
mod damage;
mod damaged;
mod projections;
mod read_only;
mod regressions;
mod reliability;
mod repository;
mod snapshots;
mod store;
