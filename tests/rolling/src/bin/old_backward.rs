//! The old program of an upgrade that is only backward compatible: built from `old_backward.toml`
//! (Deposited v1, no forward promise).

mod schema {
    esdsl_runtime::schema!("schemas/old_backward.toml");
}

fn deposited(amount: i64, _memo: Option<String>) -> schema::Deposited {
    schema::Deposited { amount }
}

fn amount(deposit: &schema::Deposited) -> i64 {
    deposit.amount
}

fn describe(deposit: &schema::Deposited) -> String {
    format!("amount={}", deposit.amount)
}

include!("../program.rs");
