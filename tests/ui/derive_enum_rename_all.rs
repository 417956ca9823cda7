use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::Enum;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Enum)]
#[serde(crate = "esdsl_runtime::serde", rename_all = "lower_case")]
pub enum Currency {
    Eur,
    Usd,
}

fn main() {}
