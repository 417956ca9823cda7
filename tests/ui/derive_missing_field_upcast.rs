use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct OpenedV1 {
    pub owner: String,
}

// `Opened` has no `#[record(upcast_from = OpenedV1)]`, and the step is not marked otherwise.
#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Account")]
pub enum AccountEvent {
    #[event(history(OpenedV1))]
    Opened(Opened),
}
fn main() {}
