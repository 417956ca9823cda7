//! The events every system stores: `MoneyDeposited` from `schemas/bank.toml`, with the same
//! payload bytes for every system, and a small aggregate that folds them.

use std::convert::Infallible;

use anyhow::Result;
use esdsl_runtime::store::NewEvent;
use esdsl_runtime::{Aggregate, Codec, SnapshotState};

use crate::measure::Rng;

/// The bank schema, typed. Only `MoneyDeposited` is written here; the rest of the generated
/// items are unused by the harness.
#[allow(dead_code, unreachable_pub)]
pub(crate) mod bank {
    esdsl_runtime::schema!("../schemas/bank.toml");

    /// `manual_upcasts = [3]`: the v2 -> v3 step of `MoneyDeposited` turns dollars into cents.
    impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
        fn upcast(old: v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

pub(crate) use bank::{AccountEvent, AccountId};

pub(crate) const EVENT_TYPE: &str = "MoneyDeposited";

/// The state every load rebuilds: kept small so a snapshot is cheap and a load measures the
/// replay, not the state.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Account {
    pub(crate) balance_cents: i64,
    pub(crate) events: u64,
}

impl Account {
    /// The fold every system's load runs, so decoding plus applying costs the same everywhere.
    pub(crate) fn deposit(&mut self, amount_cents: i64) {
        self.balance_cents = self.balance_cents.wrapping_add(amount_cents);
        self.events += 1;
    }
}

/// Deposit this many cents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deposit(pub(crate) i64);

impl Aggregate for Account {
    type Id = AccountId;
    type Event = AccountEvent;
    type Command = Deposit;
    type Error = Infallible;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::MoneyDeposited(e) => self.deposit(e.amount_cents),
            AccountEvent::MoneyWithdrawn(e) => self.deposit(-e.amount_cents),
            AccountEvent::AccountOpened(_) | AccountEvent::AccountClosed(_) => self.events += 1,
        }
    }

    fn handle(&self, command: &Deposit) -> Result<Vec<AccountEvent>, Infallible> {
        Ok(vec![
            bank::MoneyDeposited {
                amount_cents: command.0,
                memo: None,
            }
            .into(),
        ])
    }
}

impl SnapshotState for Account {}

/// A deposit with a varied amount and, every other time, a memo: about 40 bytes of JSON.
pub(crate) fn deposit(rng: &mut Rng) -> bank::v3::MoneyDeposited {
    let amount_cents = 100 + rng.below(1_000_000) as i64;
    bank::v3::MoneyDeposited {
        amount_cents,
        memo: (amount_cents % 2 == 0).then(|| "salary".to_owned()),
    }
}

/// The encoded payloads of `count` deposits at version 3.
pub(crate) fn payloads(seed: u64, count: usize, codec: Codec) -> Result<Vec<Vec<u8>>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| Ok(codec.encode(&deposit(&mut rng))?))
        .collect()
}

/// The encoded payloads of `count` deposits at version 1 (whole dollars, no memo).
pub(crate) fn payloads_v1(seed: u64, count: usize, codec: Codec) -> Result<Vec<Vec<u8>>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let old = bank::v1::MoneyDeposited {
                amount: 1 + rng.below(10_000) as i32,
            };
            Ok(codec.encode(&old)?)
        })
        .collect()
}

/// An esdsl event around a payload of `MoneyDeposited` at `version`.
pub(crate) fn new_event(payload: &[u8], codec: Codec, version: u32) -> NewEvent {
    NewEvent {
        event_type: EVENT_TYPE.into(),
        schema_version: version,
        codec,
        payload: payload.to_vec(),
    }
}

/// Decodes a version-3 payload and applies it: the work a load does per event, without the
/// store.
pub(crate) fn decode_apply(codec: Codec, payload: &[u8], state: &mut Account) -> Result<()> {
    let event: bank::v3::MoneyDeposited = codec.decode(payload)?;
    state.deposit(event.amount_cents);
    Ok(())
}

/// The id of the `n`th aggregate of a trial: fixed, so runs are repeatable.
pub(crate) fn account_id(n: u64) -> AccountId {
    AccountId(uuid::Uuid::from_u64_pair(0x0190_0000_0000_7000, n))
}
