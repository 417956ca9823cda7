use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Account", compatibility = "forwards", codecs("cbor"))]
pub enum AccountEvent {
    Opened(Opened),
}

fn main() {}
