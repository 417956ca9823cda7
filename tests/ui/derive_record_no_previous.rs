use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::Record;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Deposited {
    pub cents: i64,
    #[record(default)]
    pub memo: Option<String>,
}

fn main() {}
