//! A test domain on `schemas/bank.toml` (`tests/fixtures/bank.toml` links to it, so the
//! published package holds it).

use esdsl_runtime::Aggregate;

pub(crate) mod schema {
    esdsl_runtime::schema!("tests/fixtures/bank.toml");

    impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
        fn upcast(old: v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

pub(crate) use schema::{AccountEvent, AccountId};

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Account {
    pub(crate) open: bool,
    pub(crate) balance: i64,
    pub(crate) memos: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Command {
    Open,
    Deposit(i64, Option<String>),
    Withdraw(i64),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("the account is not open")]
    NotOpen,
    #[error("overdraft: balance {balance}, withdrawal {amount}")]
    Overdraft { balance: i64, amount: i64 },
}

impl Aggregate for Account {
    type Id = AccountId;
    type Event = AccountEvent;
    type Command = Command;
    type Error = Refused;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountOpened(_) => self.open = true,
            AccountEvent::MoneyDeposited(e) => {
                self.balance += e.amount_cents;
                self.memos.extend(e.memo.clone());
            }
            AccountEvent::MoneyWithdrawn(e) => self.balance -= e.amount_cents,
            AccountEvent::AccountClosed(_) => self.open = false,
        }
    }

    fn handle(&self, command: &Command) -> Result<Vec<AccountEvent>, Refused> {
        match command {
            Command::Open if self.open => Ok(Vec::new()),
            Command::Open => Ok(vec![
                schema::AccountOpened {
                    owner: "test".into(),
                    currency: schema::Currency::Eur,
                }
                .into(),
            ]),
            _ if !self.open => Err(Refused::NotOpen),
            Command::Deposit(amount, memo) => Ok(vec![
                schema::MoneyDeposited {
                    amount_cents: *amount,
                    memo: memo.clone(),
                }
                .into(),
            ]),
            Command::Withdraw(amount) if *amount > self.balance => Err(Refused::Overdraft {
                balance: self.balance,
                amount: *amount,
            }),
            Command::Withdraw(amount) => Ok(vec![
                schema::MoneyWithdrawn {
                    amount_cents: *amount,
                    memo: None,
                }
                .into(),
            ]),
        }
    }
}

impl esdsl_runtime::SnapshotState for Account {}
