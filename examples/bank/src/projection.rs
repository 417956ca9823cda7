//! A read model: the total balance per currency, kept in the store (exactly once).

use esdsl_runtime::projection::{HandlerError, Projection, ReadModel, StoreProjection};
use esdsl_runtime::store::EventRef;

use crate::bank::AccountEvent;

/// Sums balances by the currency each account was opened in.
pub(crate) struct BalancesByCurrency;

pub(crate) const NAME: &str = "balances-by-currency";

impl Projection for BalancesByCurrency {
    type Event = AccountEvent;

    fn name(&self) -> &str {
        NAME
    }
}

impl StoreProjection for BalancesByCurrency {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        event: &AccountEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        let account = format!("account/{}", recorded.stream());
        let delta = match event {
            AccountEvent::AccountOpened(opened) => {
                model.put_json(&account, opened.currency.as_str())?;
                return Ok(());
            }
            AccountEvent::MoneyDeposited(deposit) => deposit.amount_cents,
            AccountEvent::MoneyWithdrawn(withdrawal) => -withdrawal.amount_cents,
            AccountEvent::AccountClosed(_) => return Ok(()),
        };
        let currency: String = model
            .get_json(&account)?
            .ok_or_else(|| format!("{} has money before it was opened", recorded.stream()))?;
        let key = format!("balance/{currency}");
        let total: i64 = model.get_json(&key)?.unwrap_or(0);
        model.put_json(&key, &(total + delta))?;
        Ok(())
    }
}
