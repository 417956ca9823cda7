//! The domain: an item in stock, its events, and the read model of every item's stock.

use esdsl_runtime::projection::{HandlerError, Projection, ReadModel, StoreProjection};
use esdsl_runtime::store::EventRef;
use esdsl_runtime::{Aggregate, Event, Record};
use serde::{Deserialize, Serialize};

/// One item (a SKU) in the warehouse.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(id = string, events = ItemEvent, command = Command, error = Refused, snapshot_version = 1)]
pub(crate) struct Item {
    /// Units on hand.
    pub(crate) on_hand: u64,
}

/// What a caller asks of an item.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub(crate) enum Command {
    /// Units arrived.
    Receive { quantity: u64 },
    /// Units left.
    Ship { quantity: u64 },
}

/// Why an item refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Refused {
    /// Quantities are positive.
    #[error("quantities must be positive")]
    NoQuantity,
    /// More shipped than on hand.
    #[error("{on_hand} on hand, {wanted} asked")]
    OutOfStock { on_hand: u64, wanted: u64 },
}

impl Item {
    fn apply(&mut self, event: &ItemEvent) {
        match event {
            ItemEvent::Received(e) => self.on_hand += e.quantity,
            ItemEvent::Shipped(e) => self.on_hand = self.on_hand.saturating_sub(e.quantity),
        }
    }

    fn handle(&self, command: &Command) -> Result<Vec<ItemEvent>, Refused> {
        match *command {
            Command::Receive { quantity: 0 } | Command::Ship { quantity: 0 } => {
                Err(Refused::NoQuantity)
            }
            Command::Receive { quantity } => Ok(vec![Received { quantity }.into()]),
            Command::Ship { quantity } if quantity > self.on_hand => Err(Refused::OutOfStock {
                on_hand: self.on_hand,
                wanted: quantity,
            }),
            Command::Ship { quantity } => Ok(vec![Shipped { quantity }.into()]),
        }
    }
}

/// An item's events.
#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Item")]
pub(crate) enum ItemEvent {
    /// Units arrived.
    Received(Received),
    /// Units left.
    Shipped(Shipped),
}

/// `Received` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
pub(crate) struct Received {
    /// How many.
    pub(crate) quantity: u64,
}

/// `Shipped` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
pub(crate) struct Shipped {
    /// How many.
    pub(crate) quantity: u64,
}

/// A row of the `stock` read model: an item's units on hand and the version they reflect.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stock {
    pub(crate) on_hand: u64,
    pub(crate) version: u64,
}

/// The `stock` read model, kept in the store: exactly once, with its checkpoint.
pub(crate) struct StockProjection;

/// The projection's name: its read model and checkpoint are found by it.
pub(crate) const STOCK: &str = "stock";

impl Projection for StockProjection {
    type Event = ItemEvent;
    fn name(&self) -> &str {
        STOCK
    }
}

impl StoreProjection for StockProjection {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        event: &ItemEvent,
        recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        let sku = recorded
            .stream()
            .strip_prefix("Item-")
            .ok_or("not an item stream")?;
        let mut stock: Stock = model.get_json(sku)?.unwrap_or_default();
        match event {
            ItemEvent::Received(e) => stock.on_hand += e.quantity,
            ItemEvent::Shipped(e) => stock.on_hand = stock.on_hand.saturating_sub(e.quantity),
        }
        stock.version = recorded.version();
        model.put_json(sku, &stock)?;
        Ok(())
    }
}
