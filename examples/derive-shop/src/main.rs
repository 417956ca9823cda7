//! The shop example: a cart declared with derives only, on the embedded LMDB store.
//!
//! ```sh
//! cargo run -p derive-shop                # store in examples/derive-shop/data
//! cargo run -p derive-shop -- /some/dir   # store elsewhere
//! ```

use std::path::PathBuf;

use derive_shop::{Cart, CartEvent, CartId, Command, Payment, Refused};
use esdsl_runtime::describe::SchemaDescriptor;
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata, NewEvent, stream_name};
use esdsl_runtime::{Codec, ExecuteError, Repository, SnapshotPolicy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"));
    let store = LmdbStore::open(&dir)?;
    println!("store: {}", dir.display());
    let carts = Repository::<Cart>::new(store.clone())?.with_snapshots(SnapshotPolicy::Every(3));

    let cart = CartId::now_v7();
    let add = |sku: &str, quantity, note: Option<&str>| Command::Add {
        sku: sku.into(),
        quantity,
        note: note.map(Into::into),
    };
    carts.execute(&cart, &add("tea", 2, None))?;
    carts.execute(&cart, &add("cups", 6, Some("fragile")))?;
    carts.execute(&cart, &Command::Remove { sku: "cups".into() })?;
    let paid = carts.execute(&cart, &Command::CheckOut(Payment::BankTransfer))?;
    println!(
        "\ncart {cart}: {:?}, paid with {:?}",
        paid.state.items, paid.state.paid_with
    );

    match carts.execute(&cart, &add("scones", 1, None)) {
        Err(ExecuteError::Domain(refused @ Refused::AlreadyPaid)) => {
            println!("  adding to it is refused: {refused}");
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }

    // Events stored by older versions of the program: `ItemAdded` v1 (a u32 quantity, no note),
    // `ItemDropped` (the old name of `ItemRemoved`), `CheckedOut` v1 and a retired
    // `CouponApplied`. They decode as the newest events through the derived upcasts.
    let old = CartId::now_v7();
    let stored = |event_type: &'static str, version, json: &str| NewEvent {
        event_type: event_type.into(),
        schema_version: version,
        codec: Codec::Json,
        payload: json.as_bytes().to_vec(),
    };
    store.append(
        &stream_name::<CartId>(&old),
        ExpectedVersion::NoStream,
        vec![
            stored("ItemAdded", 1, r#"{"sku":"jam","quantity":3}"#),
            stored("ItemAdded", 1, r#"{"sku":"bread","quantity":1}"#),
            stored("CouponApplied", 1, r#"{"code":"SPRING"}"#),
            stored("ItemDropped", 1, r#"{"sku":"bread"}"#),
            stored("CheckedOut", 1, "{}"),
        ],
        &Metadata::default(),
    )?;
    let loaded = carts.load(&old)?;
    println!(
        "\nan old cart, read through the upcasts: {:?}",
        loaded.state
    );
    let earlier = carts.load_at(&old, 2)?;
    println!("  at version 2 (time travel): {:?}", earlier.state.items);
    if let esdsl_runtime::Decoded::Event(CartEvent::ItemAdded(first)) = store
        .read_stream(
            &stream_name::<CartId>(&old),
            1,
            esdsl_runtime::store::Direction::Forward,
            1,
        )?
        .next()
        .ok_or("the old stream is empty")??
        .decode::<CartEvent>()?
    {
        println!("  its first event as the newest version: {first:?}");
    }

    // What the derives declare, in the schema language: what `esdsl.lock` records.
    println!("\nthe schema these derives declare:\n");
    println!("{}", SchemaDescriptor::of::<Cart>().to_toml());
    Ok(())
}
