//! The cart's events keep every stored event readable: checked against `esdsl.lock` with the
//! same rules as `cargo esdsl check`. After a compatible change, update the lock with
//! `ESDSL_UPDATE_LOCK=1 cargo test -p derive-shop` and commit it.

use derive_shop::Cart;
use esdsl_runtime::describe::SchemaDescriptor;

#[test]
fn stored_events_stay_readable() {
    let descriptor = SchemaDescriptor::of::<Cart>().to_toml();
    esdsl_schema::evolve::assert_compatible(
        "derive-shop",
        &descriptor,
        concat!(env!("CARGO_MANIFEST_DIR"), "/esdsl.lock"),
    );
}
