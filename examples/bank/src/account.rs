//! The account aggregate: its state, commands and rules.

use esdsl_runtime::Aggregate;

use crate::bank::{
    AccountClosed, AccountEvent, AccountId, AccountOpened, Currency, MoneyDeposited, MoneyWithdrawn,
};

/// An account's state, rebuilt from its events.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Account {
    pub(crate) owner: Option<String>,
    pub(crate) currency: Option<Currency>,
    pub(crate) balance_cents: i64,
    pub(crate) closed: bool,
}

/// What a caller can ask of an account.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Open { owner: String, currency: Currency },
    Deposit { cents: i64, memo: Option<String> },
    Withdraw { cents: i64 },
    Close,
}

/// Why an account refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("the account is already open")]
    AlreadyOpen,
    #[error("the account is not open")]
    NotOpen,
    #[error("amounts must be positive")]
    NotPositive,
    #[error("overdraft: the balance is {balance_cents} cents, the withdrawal {requested_cents}")]
    Overdraft {
        balance_cents: i64,
        requested_cents: i64,
    },
}

impl Aggregate for Account {
    type Id = AccountId;
    type Event = AccountEvent;
    type Command = Command;
    type Error = Refused;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountOpened(e) => {
                self.owner = Some(e.owner.clone());
                self.currency = Some(e.currency);
            }
            AccountEvent::MoneyDeposited(e) => self.balance_cents += e.amount_cents,
            AccountEvent::MoneyWithdrawn(e) => self.balance_cents -= e.amount_cents,
            AccountEvent::AccountClosed(_) => self.closed = true,
        }
    }

    fn handle(&self, command: &Command) -> Result<Vec<AccountEvent>, Refused> {
        let open = self.owner.is_some() && !self.closed;
        match command {
            Command::Open { .. } if self.owner.is_some() => Err(Refused::AlreadyOpen),
            Command::Open { owner, currency } => Ok(vec![
                AccountOpened {
                    owner: owner.clone(),
                    currency: *currency,
                }
                .into(),
            ]),
            _ if !open => Err(Refused::NotOpen),
            Command::Deposit { cents, .. } | Command::Withdraw { cents } if *cents <= 0 => {
                Err(Refused::NotPositive)
            }
            Command::Deposit { cents, memo } => Ok(vec![
                MoneyDeposited {
                    amount_cents: *cents,
                    memo: memo.clone(),
                }
                .into(),
            ]),
            Command::Withdraw { cents } if *cents > self.balance_cents => Err(Refused::Overdraft {
                balance_cents: self.balance_cents,
                requested_cents: *cents,
            }),
            Command::Withdraw { cents } => Ok(vec![
                MoneyWithdrawn {
                    amount_cents: *cents,
                    memo: None,
                }
                .into(),
            ]),
            Command::Close => Ok(vec![AccountClosed {}.into()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use esdsl_runtime::testing::given;

    use super::*;

    fn opened() -> AccountEvent {
        AccountOpened {
            owner: "Ada".into(),
            currency: Currency::Eur,
        }
        .into()
    }

    #[test]
    fn withdrawing_more_than_the_balance_is_refused() {
        given::<Account>([opened()])
            .when(Command::Withdraw { cents: 1 })
            .then_error(Refused::Overdraft {
                balance_cents: 0,
                requested_cents: 1,
            });
    }

    #[test]
    fn a_deposit_records_its_memo() {
        given::<Account>([opened()])
            .when(Command::Deposit {
                cents: 250,
                memo: Some("gift".into()),
            })
            .then_expect([MoneyDeposited {
                amount_cents: 250,
                memo: Some("gift".into()),
            }
            .into()]);
    }
}
