use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct OpenedV0 {
    pub owner: String,
}

impl From<OpenedV0> for Opened {
    fn from(old: OpenedV0) -> Self {
        Self { owner: old.owner }
    }
}

#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Account")]
pub enum AccountEvent {
    #[event(history(OpenedV0), upcast(v2 = frm))]
    Opened(Opened),
}
fn main() {}
