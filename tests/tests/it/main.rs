//! Integration tests across crates: one binary, one module per area.

mod evolution;
mod generate;
mod hygiene;
mod ui;
mod upcast;
