//! `schemas/bank.toml`, declared with derives instead of TOML. `tests/it/derive.rs` checks that
//! both store the same bytes, upcast stored payloads alike and describe the same schema.

use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::{Aggregate, Enum, Event, Record};

/// A customer's bank account.
#[derive(Debug, Default, Clone, PartialEq, Aggregate)]
#[aggregate(id = uuid, events = AccountEvent, command = Command, error = Refused)]
pub struct Account {
    pub balance_cents: i64,
    pub closed: bool,
}

/// What the account is asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Open it.
    Open(String),
    /// Deposit cents.
    Deposit(i64),
    /// Close it.
    Close,
}

/// Why the account refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the account is closed")]
pub struct Refused;

impl Account {
    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountOpened(_) => {}
            AccountEvent::MoneyDeposited(e) => self.balance_cents += e.amount_cents,
            AccountEvent::MoneyWithdrawn(e) => self.balance_cents -= e.amount_cents,
            AccountEvent::AccountClosed(_) => self.closed = true,
        }
    }

    fn handle(&self, command: &Command) -> Result<Vec<AccountEvent>, Refused> {
        if self.closed {
            return Err(Refused);
        }
        Ok(vec![match command {
            Command::Open(owner) => v2::AccountOpened {
                owner: owner.clone(),
                currency: Currency::Usd,
            }
            .into(),
            Command::Deposit(cents) => v3::MoneyDeposited {
                amount_cents: *cents,
                memo: None,
            }
            .into(),
            Command::Close => v1::AccountClosed {}.into(),
        }])
    }
}

/// The account's events, each at its newest version.
#[derive(Debug, Clone, PartialEq, Event)]
#[event(
    aggregate = "Account",
    retired(name = "LegacyAudit", versions(v1::LegacyAudit))
)]
pub enum AccountEvent {
    /// An account was opened.
    #[event(history(v1::AccountOpened))]
    AccountOpened(v2::AccountOpened),
    #[event(
        version = 3,
        history(v1::MoneyDeposited, v2::MoneyDeposited),
        upcast(v3 = manual)
    )]
    MoneyDeposited(v3::MoneyDeposited),
    MoneyWithdrawn(v1::MoneyWithdrawn),
    #[event(renamed_from = "AccountShut")]
    AccountClosed(v1::AccountClosed),
}

/// Version 1 of every event that has one.
pub mod v1 {
    use super::*;

    /// `AccountOpened` v1.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct AccountOpened {
        pub owner: String,
    }

    /// `MoneyDeposited` v1.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct MoneyDeposited {
        pub amount: i32,
    }

    /// `MoneyWithdrawn` v1 (newest).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct MoneyWithdrawn {
        pub amount_cents: i64,
        pub memo: Option<String>,
    }

    /// `AccountClosed` v1 (newest).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct AccountClosed {}

    /// `LegacyAudit` v1 (retired).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct LegacyAudit {
        pub note: String,
    }
}

/// Version 2 of every event that has one.
pub mod v2 {
    use super::*;

    /// `AccountOpened` v2 (newest).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    #[record(upcast_from = super::v1::AccountOpened)]
    pub struct AccountOpened {
        pub owner: String,
        /// ISO currency of the account
        #[record(default = Currency::Eur)]
        pub currency: Currency,
    }

    /// `MoneyDeposited` v2.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    #[record(upcast_from = super::v1::MoneyDeposited)]
    pub struct MoneyDeposited {
        pub amount: i64,
        #[record(default)]
        pub memo: Option<String>,
    }
}

/// Version 3 of every event that has one.
pub mod v3 {
    use super::*;

    /// `MoneyDeposited` v3 (newest).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct MoneyDeposited {
        pub amount_cents: i64,
        pub memo: Option<String>,
    }

    /// The hand-written v2 -> v3 step: dollars to cents.
    impl esdsl_runtime::Upcast<super::v2::MoneyDeposited> for MoneyDeposited {
        fn upcast(old: super::v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

/// A postal address (a record type no event uses yet, as in the schema file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Address {
    pub street: String,
    pub city: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(crate = "esdsl_runtime::serde", rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Currency {
    Eur,
    Usd,
    Gbp,
}
