use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::Record;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct DepositedV1 {
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
#[record(upcast_from = DepositedV1)]
pub struct Deposited {
    pub amount: String,
}

fn main() {}
