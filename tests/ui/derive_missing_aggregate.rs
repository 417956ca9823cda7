use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Event)]
pub enum AccountEvent {
    Opened(Opened),
}

// The fallback impl keeps uses of the enum free of follow-on errors.
pub fn stored_name(event: &AccountEvent) -> &'static str {
    esdsl_runtime::Event::event_type(event)
}
fn main() {}
