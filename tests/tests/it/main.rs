//! Integration tests across crates: one binary, one module per area.

mod derive;
mod evolution;
mod generate;
mod hygiene;
mod projections_cli;
mod store_cli;
mod ui;
mod upcast;
