use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::Enum;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Enum)]
#[serde(crate = "esdsl_runtime::serde")]
pub enum Currency {
    Eur,
    Other(String),
}

fn main() {}
