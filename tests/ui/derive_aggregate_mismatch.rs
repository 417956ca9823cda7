use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Aggregate, Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Acount")]
pub enum AccountEvent {
    Opened(Opened),
}

#[derive(Debug, Default, Aggregate)]
#[aggregate(id = uuid, events = AccountEvent)]
pub struct Account {}

fn main() {}
