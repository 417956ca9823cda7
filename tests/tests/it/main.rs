//! Integration tests across crates: one binary, one module per area.

mod derive;
mod evolution;
mod generate;
mod hygiene;
mod store_cli;
mod ui;
mod upcast;
