//! Decoders of forward-compatible events: a version newer than the program knows reads as its
//! newest, as far ahead and in the codecs the schema's mode promises, and says so
//! (`Decoded::Newer`); anything else stays a typed `DecodeError` naming the versions.

use esdsl_runtime::{Codec, Decodability, DecodeError, Decoded, Event, ReadsAhead};
use serde::Serialize;

mod shop {
    esdsl_runtime::schema!("fixtures/forward/forward.toml");
}

use shop::{Priced, ShopEvent};

/// `Priced` v2 as a newer program writes it: v1's fields, then a new one.
#[derive(Serialize)]
struct PricedV2 {
    sku: &'static str,
    cents: i64,
    currency: Option<&'static str>,
}

const V2: PricedV2 = PricedV2 {
    sku: "tea",
    cents: 250,
    currency: Some("EUR"),
};

fn priced() -> ShopEvent {
    ShopEvent::Priced(Priced {
        sku: "tea".into(),
        cents: 250,
    })
}

#[test]
fn a_newer_version_reads_as_the_newest_in_both_codecs() {
    for codec in [Codec::Json, Codec::Postcard] {
        let payload = codec.encode(&V2).expect("encodes");
        let decoded = ShopEvent::decode("Priced", 2, &payload, codec).expect("decodes");
        assert_eq!(decoded.newer_version(), Some(2), "{codec}");
        assert_eq!(
            decoded,
            Decoded::Newer {
                event: priced(),
                stored_version: 2
            },
            "{codec}"
        );
    }
}

#[test]
fn plain_forward_reads_one_version_ahead_transitive_any() {
    let payload = Codec::Json.encode(&V2).expect("encodes");
    let error = ShopEvent::decode("Priced", 3, &payload, Codec::Json).expect_err("too far");
    assert!(
        matches!(
            &error,
            DecodeError::UnknownVersion { event_type, version: 3, newest: 1 } if event_type == "Priced"
        ),
        "{error:?}"
    );
    assert_eq!(
        ShopEvent::decodability("Priced", 3),
        Decodability::UnknownVersion { newest: 1 }
    );
    let count = br#"{"count":4,"extra":[1,2]}"#;
    let far = ShopEvent::decode("Counted", 40, count, Codec::Json).expect("decodes");
    assert_eq!(far.newer_version(), Some(40));
    assert_eq!(
        ShopEvent::decodability("Counted", 40),
        Decodability::Newer { newest: 1 }
    );
}

#[test]
fn a_promise_for_json_only_refuses_postcard_and_backward_refuses_all() {
    let note = br#"{"note":"hi","by":"ada"}"#;
    let read = ShopEvent::decode("Noted", 2, note, Codec::Json).expect("decodes");
    assert_eq!(read.newer_version(), Some(2));
    let postcard = Codec::Postcard.encode(&("hi", "ada")).expect("encodes");
    let error = ShopEvent::decode("Noted", 2, &postcard, Codec::Postcard).expect_err("postcard");
    assert!(
        matches!(
            error,
            DecodeError::UnknownVersion {
                version: 2,
                newest: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let error = ShopEvent::decode("Closed", 2, b"{}", Codec::Json).expect_err("backward");
    assert!(
        matches!(
            error,
            DecodeError::UnknownVersion {
                version: 2,
                newest: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        ShopEvent::decodability("Closed", 2),
        Decodability::UnknownVersion { newest: 1 }
    );
}

#[test]
fn a_newer_payload_that_does_not_hold_the_known_fields_is_a_payload_error() {
    // The newer version dropped `cents` (what the forward rules forbid): a typed error, never
    // a made-up value.
    let error = ShopEvent::decode("Priced", 2, br#"{"sku":"tea"}"#, Codec::Json)
        .expect_err("missing field");
    assert!(
        matches!(error, DecodeError::Payload { version: 2, .. }),
        "{error:?}"
    );
    let error = ShopEvent::decode("Priced", 2, &[3, b't'], Codec::Postcard).expect_err("truncated");
    assert!(
        matches!(error, DecodeError::Payload { version: 2, .. }),
        "{error:?}"
    );
}

#[test]
fn the_event_types_carry_each_mode() {
    let ahead = |name: &str| {
        ShopEvent::EVENT_TYPES
            .iter()
            .find(|info| info.name == name)
            .map(|info| info.reads_ahead)
    };
    let both = ReadsAhead {
        versions: 1,
        json: true,
        postcard: true,
    };
    assert_eq!(ahead("Priced"), Some(both));
    assert_eq!(
        ahead("Noted"),
        Some(ReadsAhead {
            postcard: false,
            ..both
        })
    );
    assert_eq!(
        ahead("Counted"),
        Some(ReadsAhead {
            versions: u32::MAX,
            ..both
        })
    );
    assert_eq!(ahead("Closed"), Some(ReadsAhead::NONE));
}

/// The derive equivalent: `#[event(compatibility = ..)]` on the enum, `codecs(..)` and an
/// override on a variant.
mod derived {
    use esdsl_runtime::{Event, Record};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub(super) struct Added {
        pub(super) sku: String,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub(super) struct Removed {
        pub(super) sku: String,
    }

    #[derive(Debug, Clone, PartialEq, Event)]
    #[event(
        aggregate = "Cart",
        compatibility = "forward_transitive",
        codecs("json")
    )]
    pub(super) enum CartEvent {
        Added(Added),
        #[event(compatibility = "backward")]
        Removed(Removed),
    }
}

#[test]
fn a_derived_family_declares_its_modes_in_attributes() {
    use derived::{Added, CartEvent};
    use esdsl_runtime::describe::SchemaDescriptor;

    let payload = br#"{"sku":"tea","quantity":3}"#;
    let decoded = CartEvent::decode("Added", 5, payload, Codec::Json).expect("decodes");
    assert_eq!(
        decoded,
        Decoded::Newer {
            event: CartEvent::Added(Added { sku: "tea".into() }),
            stored_version: 5
        }
    );
    let postcard = Codec::Postcard.encode(&("tea", 3u32)).expect("encodes");
    assert!(CartEvent::decode("Added", 2, &postcard, Codec::Postcard).is_err());
    assert!(CartEvent::decode("Removed", 2, payload, Codec::Json).is_err());

    // The descriptor carries the modes, so the evolution check of a derive sees them.
    // (Only the events: the aggregate is declared by `#[derive(Aggregate)]`, not here.)
    let text = format!(
        "[aggregates.Cart]\n{}",
        SchemaDescriptor::of::<CartEvent>().to_toml()
    );
    let schema = esdsl_schema::parse_schema("derive", &text).expect("valid");
    let added = schema.event("Added").expect("declared").compatibility;
    assert_eq!(
        (added.name(), added.json, added.postcard),
        ("forward_transitive", true, false)
    );
    let removed = schema.event("Removed").expect("declared").compatibility;
    assert_eq!(removed, esdsl_schema::model::Compatibility::BACKWARD);
}
