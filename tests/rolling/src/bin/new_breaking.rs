//! The new program of an upgrade that is only backward compatible: built from
//! `new_breaking.toml` (Deposited v2 renames `amount` to `cents`).

mod schema {
    esdsl_runtime::schema!("schemas/new_breaking.toml");
}

fn deposited(cents: i64, memo: Option<String>) -> schema::Deposited {
    schema::Deposited { cents, memo }
}

fn amount(deposit: &schema::Deposited) -> i64 {
    deposit.cents
}

fn describe(deposit: &schema::Deposited) -> String {
    format!("cents={} memo={:?}", deposit.cents, deposit.memo)
}

include!("../program.rs");
