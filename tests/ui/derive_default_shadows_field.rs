use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::Record;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct AddedV1 {
    pub sku: String,
    pub note: Option<String>,
}

// Copied from v1 with its attributes: `note` exists before, so `default` would drop it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
#[record(upcast_from = AddedV1)]
pub struct Added {
    pub sku: String,
    #[record(default)]
    pub note: Option<String>,
}

fn main() {}
