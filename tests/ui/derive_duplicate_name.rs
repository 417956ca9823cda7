use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Closed {}

#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Account")]
pub enum AccountEvent {
    Opened(Opened),
    #[event(renamed_from = "Opened")]
    Closed(Closed),
}
fn main() {}
