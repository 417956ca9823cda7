//! Given-when-then tests of an aggregate's rules, without a store.
//!
//! ```
//! # mod bank { esdsl_runtime::schema!("tests/fixtures/bank.toml");
//! #   impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
//! #       fn upcast(old: v2::MoneyDeposited) -> Self { Self { amount_cents: old.amount * 100, memo: old.memo } }
//! #   }
//! # }
//! # use esdsl_runtime::Aggregate;
//! # use bank::{AccountEvent, AccountId, MoneyDeposited};
//! # #[derive(Debug, Default)] struct Account { balance: i64 }
//! # struct Deposit(i64);
//! # #[derive(Debug, PartialEq, thiserror::Error)] #[error("not positive")] struct NotPositive;
//! # impl Aggregate for Account {
//! #     type Id = AccountId; type Event = AccountEvent; type Command = Deposit; type Error = NotPositive;
//! #     fn apply(&mut self, e: &AccountEvent) { if let AccountEvent::MoneyDeposited(e) = e { self.balance += e.amount_cents } }
//! #     fn handle(&self, c: &Deposit) -> Result<Vec<AccountEvent>, NotPositive> {
//! #         if c.0 <= 0 { return Err(NotPositive) }
//! #         Ok(vec![MoneyDeposited { amount_cents: c.0, memo: None }.into()]) }
//! # }
//! use esdsl_runtime::testing::given;
//!
//! let deposit = |cents| AccountEvent::from(MoneyDeposited { amount_cents: cents, memo: None });
//! given::<Account>([deposit(100)]).when(Deposit(50)).then_expect([deposit(50)]);
//! given::<Account>([]).when(Deposit(-1)).then_error(NotPositive);
//! ```

use std::fmt::Debug;

use crate::aggregate::Aggregate;

/// Starts a scenario from the events that already happened.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let mut state = A::default();
    for event in events {
        state.apply(&event);
    }
    Given { state }
}

/// A scenario's starting state.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    /// Runs a command against the state.
    pub fn when(self, command: A::Command) -> When<A> {
        let outcome = self.state.handle(&command);
        When { outcome }
    }

    /// The state the given events produced.
    pub fn state(&self) -> &A {
        &self.state
    }
}

/// A scenario's outcome, to assert on.
#[derive(Debug)]
pub struct When<A: Aggregate> {
    outcome: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> When<A> {
    /// Asserts that the command produced exactly these events.
    ///
    /// # Panics
    ///
    /// When the command failed or produced other events.
    #[track_caller]
    pub fn then_expect(self, expected: impl IntoIterator<Item = A::Event>)
    where
        A::Event: PartialEq,
    {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => assert_eq!(events, expected, "the command produced other events"),
            Err(error) => panic!("expected events {expected:?}, the command failed: {error:?}"),
        }
    }

    /// Asserts that the command failed with this error.
    ///
    /// # Panics
    ///
    /// When the command succeeded or failed otherwise.
    #[track_caller]
    pub fn then_error(self, expected: A::Error)
    where
        A::Error: PartialEq,
    {
        match self.outcome {
            Ok(events) => panic!("expected error {expected:?}, the command produced {events:?}"),
            Err(error) => assert_eq!(error, expected, "the command failed otherwise"),
        }
    }

    /// Asserts that the command failed with an error that `check` accepts.
    ///
    /// # Panics
    ///
    /// When the command succeeded or `check` returns false.
    #[track_caller]
    pub fn then_error_matches(self, check: impl FnOnce(&A::Error) -> bool)
    where
        A::Error: Debug,
    {
        match self.outcome {
            Ok(events) => panic!("expected an error, the command produced {events:?}"),
            Err(error) => assert!(check(&error), "unexpected error {error:?}"),
        }
    }

    /// The raw outcome.
    ///
    /// # Errors
    ///
    /// The command's error.
    pub fn outcome(self) -> Result<Vec<A::Event>, A::Error> {
        self.outcome
    }
}
