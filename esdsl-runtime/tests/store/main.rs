//! The LMDB store, the repository and time travel, on real environments in temp dirs.

mod bad_data;
mod bank;
mod concurrency;
mod repository;
mod store;
