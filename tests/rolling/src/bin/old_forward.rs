//! The old program of a forward-compatible rolling upgrade: built from `old_forward.toml`
//! (Deposited v1, `compatibility = "forward"`).

mod schema {
    esdsl_runtime::schema!("schemas/old_forward.toml");
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
