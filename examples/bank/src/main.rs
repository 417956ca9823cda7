#![deny(warnings)]
mod bank {
    esdsl_runtime::schema!("../../schemas/bank.toml");
}

impl esdsl_runtime::Upcast<bank::v2::MoneyDeposited> for bank::MoneyDeposited {
    fn upcast(old: bank::v2::MoneyDeposited) -> Self {
        Self {
            amount_cents: old.amount * 100,
            memo: old.memo,
        }
    }
}

fn main() {
    use esdsl_runtime::{Codec, Event};
    let d =
        bank::AccountEvent::decode("MoneyDeposited", 1, br#"{"amount":5}"#, Codec::Json).unwrap();
    println!("{d:?}");
}
