//! A shopping cart declared with derives only: events and their versions in Rust, the
//! aggregate's state bound to them with `#[derive(Aggregate)]`. `src/main.rs` runs it on the
//! embedded LMDB store; `tests/evolution.rs` checks its events against `esdsl.lock`.

use esdsl_runtime::{Aggregate, Enum, Event, Record};
use serde::{Deserialize, Serialize};

/// A customer's cart.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, Aggregate)]
#[aggregate(id = uuid, events = CartEvent, command = Command, error = Refused, snapshot_version = 1)]
pub struct Cart {
    /// Items by SKU, with their quantity.
    pub items: Vec<(String, u64)>,
    /// How the cart was paid, once it was.
    pub paid_with: Option<Payment>,
}

/// What a caller asks of a cart.
#[derive(Debug, Clone)]
pub enum Command {
    /// Add `quantity` of `sku`.
    Add {
        /// The item.
        sku: String,
        /// How many.
        quantity: u64,
        /// A note for the packer.
        note: Option<String>,
    },
    /// Remove every unit of `sku`.
    Remove {
        /// The item.
        sku: String,
    },
    /// Pay and close the cart.
    CheckOut(Payment),
}

/// Why a cart refuses a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    /// Nothing changes in a paid cart.
    #[error("the cart is already paid")]
    AlreadyPaid,
    /// Quantities are positive.
    #[error("quantities must be positive")]
    NoQuantity,
    /// An empty cart cannot be paid.
    #[error("the cart is empty")]
    Empty,
}

impl Cart {
    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::ItemAdded(e) => match self.items.iter_mut().find(|(sku, _)| *sku == e.sku) {
                Some((_, quantity)) => *quantity += e.quantity,
                None => self.items.push((e.sku.clone(), e.quantity)),
            },
            CartEvent::ItemRemoved(e) => self.items.retain(|(sku, _)| *sku != e.sku),
            CartEvent::CheckedOut(e) => self.paid_with = Some(e.payment),
        }
    }

    fn handle(&self, command: &Command) -> Result<Vec<CartEvent>, Refused> {
        if self.paid_with.is_some() {
            return Err(Refused::AlreadyPaid);
        }
        match command {
            Command::Add { quantity: 0, .. } => Err(Refused::NoQuantity),
            Command::Add {
                sku,
                quantity,
                note,
            } => Ok(vec![
                ItemAdded {
                    sku: sku.clone(),
                    quantity: *quantity,
                    note: note.clone(),
                }
                .into(),
            ]),
            Command::Remove { sku } => Ok(vec![ItemRemoved { sku: sku.clone() }.into()]),
            Command::CheckOut(_) if self.items.is_empty() => Err(Refused::Empty),
            Command::CheckOut(payment) => Ok(vec![CheckedOut { payment: *payment }.into()]),
        }
    }
}

/// A cart's events, each at its newest version.
#[derive(Debug, Clone, PartialEq, Event)]
#[event(
    aggregate = "Cart",
    retired(name = "CouponApplied", versions(v1::CouponApplied))
)]
pub enum CartEvent {
    /// Units of an item were added.
    #[event(history(v1::ItemAdded))]
    ItemAdded(ItemAdded),
    /// An item was taken out; stored as `ItemDropped` before it was renamed.
    #[event(renamed_from = "ItemDropped")]
    ItemRemoved(ItemRemoved),
    /// The cart was paid.
    #[event(history(v1::CheckedOut), upcast(v2 = from))]
    CheckedOut(CheckedOut),
}

/// `ItemAdded` v2 (newest): the quantity widened, and a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[record(upcast_from = v1::ItemAdded)]
pub struct ItemAdded {
    /// The item.
    pub sku: String,
    /// Was a `u32` in v1.
    pub quantity: u64,
    /// A note for the packer (none on v1 events).
    #[record(default)]
    pub note: Option<String>,
}

/// `ItemRemoved` v1 (newest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
pub struct ItemRemoved {
    /// The item.
    pub sku: String,
}

/// `CheckedOut` v2 (newest): how the cart was paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
pub struct CheckedOut {
    /// The means of payment.
    pub payment: Payment,
}

/// v1 checkouts predate payment choices: they were all card payments.
impl From<v1::CheckedOut> for CheckedOut {
    fn from(_: v1::CheckedOut) -> Self {
        CheckedOut {
            payment: Payment::Card,
        }
    }
}

/// A means of payment, stored by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
pub enum Payment {
    /// A card.
    Card,
    /// A bank transfer.
    BankTransfer,
}

/// Versions 1 of the events that have a newer one, and of the retired one.
pub mod v1 {
    use esdsl_runtime::Record;
    use serde::{Deserialize, Serialize};

    /// `ItemAdded` v1.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    pub struct ItemAdded {
        /// The item.
        pub sku: String,
        /// How many.
        pub quantity: u32,
    }

    /// `CheckedOut` v1: no payment field.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    pub struct CheckedOut {}

    /// `CouponApplied` v1: retired; stored ones are skipped.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    pub struct CouponApplied {
        /// The coupon's code.
        pub code: String,
    }
}
