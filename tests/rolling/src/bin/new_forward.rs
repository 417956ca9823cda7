//! The new program of a forward-compatible rolling upgrade: built from `new_forward.toml`
//! (Deposited v2 appends `memo`).

mod schema {
    esdsl_runtime::schema!("schemas/new_forward.toml");
}

fn deposited(amount: i64, memo: Option<String>) -> schema::Deposited {
    schema::Deposited { amount, memo }
}

fn amount(deposit: &schema::Deposited) -> i64 {
    deposit.amount
}

fn describe(deposit: &schema::Deposited) -> String {
    format!("amount={} memo={:?}", deposit.amount, deposit.memo)
}

include!("../program.rs");
