use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Aggregate, Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Account")]
pub enum AccountEvent {
    Opened(Opened),
}

#[derive(Debug, thiserror::Error)]
#[error("refused")]
pub struct Refused;

#[derive(Debug, Default, Aggregate)]
#[aggregate(id = uid)]
pub struct Account {}

// The id type still stands, so this adds no error.
pub fn fresh() -> AccountId {
    AccountId::now_v7()
}

fn main() {}
